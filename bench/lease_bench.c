/**
 * @file lease_bench.c  Lease benchmark on the Redis backend
 *
 * One instance holding N sessions (default 30,000): Redis memory per idle
 * session (INFO memory before and after: the owner key and the instance's
 * set alone, then with an idle session record of RECORD bytes), the time
 * to acquire all of them (one instance taking over a dead one's sessions,
 * unpaced), the renewal of the instance's one lease, and what renewing a
 * lease per session would cost instead (the same renewal script once per
 * session, each a write in the AOF). Prints figures, not a test. Built and run
 * by bench/lease_bench.sh.
 *
 *   lease_bench HOST:PORT REDIS_CLI_PORT [SESSIONS] [RECORD]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "core.h"
#include "store.h"

enum { TURN = 1000 }; /* operations issued in one loop turn */

static struct store *st;
static unsigned pending, nsess, port;
static int failed;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned long long used_memory(void)
{
	char cmd[128], line[128];
	unsigned long long v = 0;
	FILE *f;

	re_snprintf(cmd, sizeof(cmd),
		    "redis-cli -p %u INFO memory | grep ^used_memory:", port);
	f = popen(cmd, "r");
	if (f && fgets(line, sizeof(line), f))
		(void)sscanf(line, "used_memory:%llu", &v);
	if (f)
		pclose(f);
	return v;
}

static void one_done(int err)
{
	if (err && err != ENOENT)
		failed = err;
	if (!--pending)
		re_cancel();
}

static void done_h(int err, void *arg)
{
	(void)arg;
	one_done(err);
}

static void lease_h(int err, uint64_t epoch, void *arg)
{
	(void)epoch;
	(void)arg;
	one_done(err);
}

/* Run op for sessions [0, nsess) in turns of TURN; returns µs taken. */
static uint64_t each_session(int (*op)(unsigned i, const char *sid))
{
	uint64_t t0 = now_us();
	unsigned i, j;
	char sid[32];

	for (i = 0; i < nsess; i += TURN) {
		for (j = i; j < nsess && j < i + TURN; j++) {
			re_snprintf(sid, sizeof(sid), "bench-%08u", j);
			if (!op(j, sid))
				++pending;
		}
		if (pending)
			(void)re_main(NULL);
	}
	return now_us() - t0;
}

static int op_acquire(unsigned i, const char *sid)
{
	(void)i;
	return store_lease_acquire(st, sid, "bench", lease_h, NULL, NULL);
}

static uint8_t *record;
static size_t record_len;

static int op_put(unsigned i, const char *sid)
{
	(void)i;
	return store_session_put(st, sid, record, record_len, done_h, NULL,
				 NULL);
}

static int op_renew(unsigned i, const char *sid)
{
	(void)i;
	return store_lease_renew(st, sid, 30000, done_h, NULL, NULL);
}

static uint64_t renew_once(void)
{
	uint64_t t0 = now_us();

	pending = 1;
	if (store_lease_renew(st, "bench", 30000, done_h, NULL, NULL))
		return 0;
	(void)re_main(NULL);
	return now_us() - t0;
}

int main(int argc, char *argv[])
{
	struct store_conf c = {.backend = "redis"};
	unsigned long long m0, m1, m2;
	uint64_t us, r_us = 0;
	int i;

	if (argc < 3)
		return 2;
	c.redis_address = argv[1];
	port = (unsigned)atoi(argv[2]);
	nsess = argc > 3 ? (unsigned)atoi(argv[3]) : 30000;
	record_len = argc > 4 ? (size_t)atoi(argv[4]) : 512;
	record = calloc(1, record_len);
	if (!record || libre_init())
		return 1;
	memset(record, 'r', record_len);
	if (store_open(&st, &c))
		return 1;

	(void)renew_once();
	m0 = used_memory();
	us = each_session(op_acquire);
	m1 = used_memory();
	printf("lease_bench: %u sessions, one instance, Redis %s\n", nsess,
	       argv[1]);
	printf("acquire all (takeover, unpaced): %.0f ms, %.0f/s\n",
	       us / 1000.0, nsess * 1e6 / (double)us);
	printf("Redis memory per session, lease alone (owner key + set "
	       "member): %.0f bytes\n",
	       (double)(m1 - m0) / nsess);
	us = each_session(op_put);
	m2 = used_memory();
	printf("Redis memory per idle session with a %zu-byte record: %.0f "
	       "bytes\n",
	       record_len, (double)(m2 - m0) / nsess);
	for (i = 0; i < 100; i++)
		r_us += renew_once();
	printf("renewal, lease per instance: 1 command per period, %.0f us "
	       "round trip (mean of 100)\n",
	       r_us / 100.0);
	/* a lease per session: one renewal script per session (the
	 * first pass makes the leases, the second is a period's renewal) */
	(void)each_session(op_renew);
	us = each_session(op_renew);
	printf("renewal, were it a lease per session: %u renewals per "
	       "period, %.0f ms of Redis and round trips\n",
	       nsess, us / 1000.0);
	if (failed)
		printf("failed: %d\n", failed);

	mem_deref(st);
	free(record);
	libre_close();
	return failed ? 1 : 0;
}
