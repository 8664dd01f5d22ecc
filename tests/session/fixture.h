/**
 * @file fixture.h  What the session tests share: a session's configuration
 * and context on the real loop and timer wheel (and, for the tests that
 * need one, a real LMDB store in a temporary directory), the loop run for
 * a bounded time, a session made fresh, and the ops every test answers
 * alike.
 *
 * A test sets the fields of conf it needs, calls fixture_open() with its
 * ops, and returns fixture_close()'s verdict from main().
 */
#ifndef MOB_TEST_SESSION_FIXTURE_H
#define MOB_TEST_SESSION_FIXTURE_H

#include <string.h>
#include <re.h>
#include "conf.h"
#include "session.h"
#include "check.h"
#include "tmpstore.h"

static struct conf conf;
static struct session_ctx ctx;
static struct tmr fixture_stop_tmr;
static char fixture_dir[64];   /* the store's directory, if there is one */
static unsigned fixture_saves; /* records written by fixture_save() */

static inline void fixture_stop(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Run the loop until a handler calls re_cancel() or limit_ms passed. */
static inline void fixture_run(uint64_t limit_ms)
{
	tmr_start(&fixture_stop_tmr, limit_ms, fixture_stop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&fixture_stop_tmr);
}

/* The session closed and initialised again, as new. */
static inline void fixture_fresh(struct session *s)
{
	session_close(s);
	memset(s, 0, sizeof(*s));
	session_init(s, &ctx);
}

/* The ops the tests answer alike: the record written at once (counted),
 * no session is being created, no P-GET is ever parked, and the user is
 * Alice. */
static inline int fixture_save(struct session *s)
{
	/* as the UCWA layer does once written: what the record now says */
	session_life_saved(s);
	++fixture_saves;
	return 0;
}

static inline bool fixture_not_creating(const struct session *s)
{
	(void)s;
	return false;
}

static inline uint64_t fixture_none_parked(const struct session *s)
{
	(void)s;
	return 0;
}

static inline const char *fixture_alice(const struct session *s)
{
	(void)s;
	return "alice@example.test";
}

/* libre, the context with ops and the wheel; with store_name, a store of
 * 16 MiB in /tmp/mob_<store_name>_XXXXXX as ctx.st. */
static inline int fixture_open(const struct session_ops *ops,
			       const char *store_name)
{
	int err = libre_init();

	if (err)
		return err;
	ctx.conf = &conf;
	ctx.ops = ops;
	ctx.m_expired = metrics_get(METRIC_COUNTER, "test_expired", NULL, "");
	if (store_name) {
		err = tmpstore_open(&ctx.st, fixture_dir, sizeof(fixture_dir),
				    store_name, 16);
		if (err)
			return err;
	}
	return wheel_alloc(&ctx.wheel, 10, 256, true);
}

/* Everything fixture_open() made, released; main()'s exit code. */
static inline int fixture_close(const char *name)
{
	ctx.wheel = mem_deref(ctx.wheel);
	if (ctx.st) {
		ctx.st = mem_deref(ctx.st);
		tmpstore_remove(fixture_dir);
	}
	metrics_close();
	libre_close();
	return check_done(name);
}

#endif
