/**
 * @file store_bench.c  Store benchmark: group commit on LMDB or Redis
 *
 * For each batch size B: issue B event appends (256-byte values) in one
 * loop turn, wait for every completion, repeat (closed loop) for a fixed
 * number of writes. Prints writes/s, commits/s, the latency of a write
 * from issue to completion and the commit latency (begin to synced, from
 * the store's metric), p50 and p99. A command that prints figures, not a
 * test. Built and run by bench/store_bench.sh.
 *
 *   store_bench DIR [WRITES]            LMDB environment in DIR
 *   store_bench redis=HOST:PORT [WRITES] the Redis backend (one script per
 *                                        session: the writes of a batch
 *                                        go to one session's log)
 *
 * STORE_BENCH_WAIT=N (Redis): a turn completes once N replicas have it
 * ([store] redis_wait_replicas).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "core.h"
#include "store.h"

static struct store *st;
static uint32_t batch; /* writes per loop turn        */
static uint64_t total; /* writes to issue for a size  */
static uint64_t issued, completed, seq;
static unsigned pending;    /* of the current batch        */
static uint64_t batch_t0;   /* when the batch was issued   */
static uint64_t *lat_write; /* µs, one per write           */
static uint64_t *lat_commit;
static size_t nlat_write, nlat_commit;
static int failed;
static struct tmr t_next;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void issue_batch(void *arg);

static void done_h(int err, void *arg)
{
	uint64_t t = now_us();
	(void)arg;

	if (err)
		failed = err;
	lat_write[nlat_write++] = t - batch_t0;
	++completed;

	if (--pending)
		return;

	/* One batch is one commit: sample the store's commit latency. */
	lat_commit[nlat_commit++] = (uint64_t)metric_value(metrics_get(
	    METRIC_GAUGE, "mobility_store_commit_latency_us", NULL, NULL));

	if (failed || issued >= total)
		re_cancel();
	else
		tmr_start(&t_next, 0, issue_batch, NULL);
}

/* STORE_BENCH_SESSIONS: the writes go round that many sessions' logs
 * (default 1: on Redis one script a batch; more: one per session) */
static uint32_t nsessions = 1;

static void issue_batch(void *arg)
{
	static uint8_t val[256];
	char sid[32];
	uint32_t i;
	(void)arg;

	memset(val, 'e', sizeof(val));
	batch_t0 = now_us();
	for (i = 0; i < batch && issued < total; i++) {
		int err;

		re_snprintf(sid, sizeof(sid), "bench-session-%u",
			    (unsigned)(seq % nsessions));
		err = store_event_append(st, sid, ++seq, val, sizeof(val),
					 done_h, NULL, NULL);
		if (err) {
			failed = err;
			re_cancel();
			return;
		}
		++issued;
		++pending;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, unsigned p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(n - 1) * p / 100];
}

int main(int argc, char *argv[])
{
	static const uint32_t sizes[] = {1, 10, 100, 1000};
	uint64_t writes = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000;
	size_t i;
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: store_bench DIR [WRITES]\n");
		return 2;
	}

	if (getenv("STORE_BENCH_SESSIONS"))
		nsessions =
		    (uint32_t)strtoul(getenv("STORE_BENCH_SESSIONS"), NULL, 10);
	if (!nsessions)
		nsessions = 1;

	libre_init();
	if (!strncmp(argv[1], "redis=", 6))
		err = store_open(
		    &st, &(struct store_conf){
			     .backend = "redis",
			     .redis_address = argv[1] + 6,
			     .redis_wait_replicas =
				 getenv("STORE_BENCH_WAIT")
				     ? (unsigned)strtoul(
					   getenv("STORE_BENCH_WAIT"), NULL, 10)
				     : 0});
	else
		err = store_open(&st, &(struct store_conf){.backend = "lmdb",
							   .path = argv[1],
							   .size_mb = 4096});
	if (err) {
		fprintf(stderr, "store_bench: cannot open %s: %s\n", argv[1],
			strerror(err));
		return 1;
	}

	lat_write = calloc(writes + 1000, sizeof(*lat_write));
	lat_commit = calloc(writes + 1000, sizeof(*lat_commit));
	if (!lat_write || !lat_commit)
		return 1;

	printf("%-6s %10s %10s %12s %12s %12s %12s\n", "batch", "writes/s",
	       "commits/s", "write p50us", "write p99us", "commit p50us",
	       "commit p99us");

	for (i = 0; i < ARRAY_SIZE(sizes) && !failed; i++) {
		uint64_t t0, el;
		size_t ncommit;

		batch = sizes[i];
		/* a batch of 1 commits once per write: fewer of them */
		total = batch == 1 ? writes / 10 : writes;
		issued = completed = 0;
		nlat_write = nlat_commit = 0;

		t0 = now_us();
		tmr_start(&t_next, 0, issue_batch, NULL);
		(void)re_main(NULL);
		el = now_us() - t0;
		ncommit = nlat_commit;

		printf("%-6u %10.0f %10.0f %12llu %12llu %12llu %12llu\n",
		       batch, completed * 1e6 / (double)el,
		       ncommit * 1e6 / (double)el,
		       (unsigned long long)pct(lat_write, nlat_write, 50),
		       (unsigned long long)pct(lat_write, nlat_write, 99),
		       (unsigned long long)pct(lat_commit, nlat_commit, 50),
		       (unsigned long long)pct(lat_commit, nlat_commit, 99));

		/* keep the log small: acknowledge everything written */
		(void)store_event_ack(st, "bench-session", seq, NULL, NULL,
				      NULL);
	}

	if (failed)
		fprintf(stderr, "store_bench: a write failed: %s\n",
			strerror(failed));

	st = mem_deref(st);
	free(lat_write);
	free(lat_commit);
	metrics_close();
	libre_close();
	return failed ? 1 : 0;
}
