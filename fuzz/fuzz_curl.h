/**
 * @file fuzz_curl.h  What the drivers of answers read through libcurl
 *                    (fuzz_fwd, fuzz_push) share: header lines handed
 *                    over as curl does
 */
#ifndef MOB_FUZZ_CURL_H
#define MOB_FUZZ_CURL_H

#include <stdlib.h>
#include <string.h>

/* A CURLOPT_HEADERFUNCTION. */
typedef size_t(fuzz_curl_header_h)(char *p, size_t size, size_t n, void *arg);

/*
 * Each header line of p (up to and with its LF) to hdrh in a buffer of
 * its own size, as curl hands it over, so that a read past the line is
 * seen by ASan. Aborts if hdrh does not take the whole line.
 */
static inline void fuzz_curl_headers(fuzz_curl_header_h *hdrh, void *arg,
				     const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t l = nl ? (size_t)(nl - p) + 1 : n;
		char *line = malloc(l);

		if (!line)
			return;
		memcpy(line, p, l);
		if (hdrh(line, 1, l, arg) != l)
			abort();
		free(line);
		p += l;
		n -= l;
	}
}

#endif
