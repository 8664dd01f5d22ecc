/**
 * @file compress_bench.c  CPU cost of compressing answers
 *
 * For each file (an answer body), compresses it ROUNDS times with
 * web_compress() in gzip and in deflate (zlib) format and prints the size
 * before and after and the CPU time per answer (process CPU clock). A
 * command that prints figures, not a test. Built and run by
 * bench/compress_bench.sh.
 *
 *   compress_bench ROUNDS FILE...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "web_compress.h"

enum {
	BODY_MAX = 1 << 20,
};

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* one file, one format: prints a line; 0 or an errno code */
static int bench(const char *name, const uint8_t *p, size_t len, bool gzip,
		 long rounds, uint8_t *out, size_t outsize)
{
	double t0, t1;
	size_t n = 0;
	long i;
	int err;

	t0 = cpu_us();
	for (i = 0; i < rounds; i++) {
		n = outsize;
		err = web_compress(gzip, p, len, out, &n);
		if (err)
			return err;
	}
	t1 = cpu_us();
	printf("%-22s %-7s %7zu -> %6zu bytes (%3.0f%%)  %7.2f us/answer\n",
	       name, gzip ? "gzip" : "deflate", len, n, 100.0 * n / len,
	       (t1 - t0) / rounds);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t in[BODY_MAX], out[BODY_MAX + 1024];
	long rounds;
	int i, err = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: compress_bench ROUNDS FILE...\n");
		return 2;
	}
	rounds = strtol(argv[1], NULL, 10);
	if (rounds < 1)
		rounds = 1;

	for (i = 2; i < argc && !err; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t len;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		len = fread(in, 1, sizeof(in), f);
		fclose(f);
		err = bench(argv[i], in, len, true, rounds, out, sizeof(out));
		if (!err)
			err = bench(argv[i], in, len, false, rounds, out,
				    sizeof(out));
	}
	if (err)
		fprintf(stderr, "compress_bench: error %d\n", err);
	return err ? 1 : 0;
}
