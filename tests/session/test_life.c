/**
 * @file test_life.c  Session lifetimes (src/session/life.c) on the real loop
 * and timer wheel, with lifetimes of a few hundred milliseconds: the
 * short and the long class, a request moving the end, a parked P-GET as
 * contact until it ends, a change of class, the stored contact written
 * at most once per step, and the wall-clock contact of a stored record.
 *
 * The session is the real one; what it asks of the layer above (its
 * record written, its end) is recorded by the ops of this test.
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "fixture.h"

/* SLACK: how late the loop may run on a busy machine; every bound still
 * tells the classes apart (SHORT_MS + 150 + SLACK < LONG_MS) */
enum { SHORT_MS = 200, LONG_MS = 800, SLACK = 400 };

static unsigned deletes;
static uint64_t deleted_at;

static void op_end(struct session *s)
{
	s->closing = true;
	++deletes;
	deleted_at = tmr_jiffies();
	re_cancel();
}

static const char *op_id(const struct session *s)
{
	(void)s;
	return "life-test";
}

static const struct session_ops ops = {
    .id = op_id,
    .user = fixture_alice,
    .save = fixture_save,
    .end = op_end,
    .creating = fixture_not_creating,
    .last_parked = fixture_none_parked,
};

static struct session sess;
static struct tmr tmr;
static uint64_t t0;

/* life.c only asks whether there is one */
static struct pushreg reg;

static void start(bool push)
{
	memset(&sess, 0, sizeof(sess));
	session_init(&sess, &ctx);
	sess.push = push ? &reg : NULL;
	t0 = sess.contact_ms = tmr_jiffies();
	sess.contact_saved_ms = sess.contact_ms;
	deletes = fixture_saves = 0;
	session_life_update(&sess);
}

static void finish(void)
{
	wheel_cancel(&sess.life);
}

static void touch(void *arg)
{
	(void)arg;
	session_life_contact(&sess);
}

static void test_classes(void)
{
	/* without push: ends after the short lifetime */
	start(false);
	fixture_run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= SHORT_MS &&
	      deleted_at - t0 < SHORT_MS + SLACK);
	finish();

	/* with push: outlives the short one, ends after the long one */
	start(true);
	fixture_run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= LONG_MS && deleted_at - t0 < LONG_MS + SLACK);
	finish();
}

static void test_contact_moves_the_end(void)
{
	start(false);
	tmr_start(&tmr, 150, touch, NULL);
	fixture_run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= 150 + SHORT_MS &&
	      deleted_at - t0 < 150 + SHORT_MS + SLACK);
	finish();
}

static void drop_push(void *arg)
{
	(void)arg;
	sess.push = NULL;
	session_life_update(&sess);
}

static void test_change_of_class(void)
{
	/* silent for longer than the short lifetime, then the registration
	 * goes: the end comes at once, not after the long lifetime */
	start(true);
	tmr_start(&tmr, SHORT_MS + 100, drop_push, NULL);
	fixture_run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= SHORT_MS + 100 &&
	      deleted_at - t0 < SHORT_MS + 100 + SLACK);
	finish();
}

/* A P-GET parked on the channel through a real request is heavy to make
 * here; the channel's own test checks evchan_last_parked(). What life.c
 * does with it: a later "last parked" is a later contact. */
static void test_saves_are_rate_limited(void)
{
	uint64_t elapsed;
	unsigned i;

	start(true);
	/* a request every 10 ms for 400 ms: one save per step (100 ms),
	 * not one per request */
	for (i = 0; i < 40; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		session_life_contact(&sess);
	}
	elapsed = tmr_jiffies() - t0;
	/* one per step that passed (100 ms at least each), not 40 */
	CHECK(fixture_saves >= 3 && fixture_saves <= elapsed / 100 + 1 &&
	      fixture_saves < 20);
	finish();
}

static void test_stored_contact(void)
{
	uint64_t wall = (uint64_t)time(NULL) * 1000;

	start(false);
	/* the record's contact is the epoch form of the last contact */
	CHECK(session_life_contact_wall(&sess) + 1000 >= wall &&
	      session_life_contact_wall(&sess) <= wall + 1000);

	/* restored 5 s after its last contact: already over */
	session_life_set_contact(&sess, wall - 5000);
	CHECK(session_life_over(&sess));
	/* restored 100 ms after: 100 ms left */
	session_life_set_contact(&sess, wall);
	CHECK(!session_life_over(&sess));
	/* none recorded, or in the future (the clock went back): from now */
	session_life_set_contact(&sess, 0);
	CHECK(!session_life_over(&sess));
	session_life_set_contact(&sess, wall + 3600 * 1000);
	CHECK(!session_life_over(&sess));
	CHECK(sess.contact_ms <= tmr_jiffies());
	finish();
}

int main(void)
{
	conf.session_short_expiration_ms = SHORT_MS;
	conf.session_expiration_ms = LONG_MS;
	if (fixture_open(&ops, NULL))
		return 1;

	test_classes();
	test_contact_moves_the_end();
	test_change_of_class();
	test_saves_are_rate_limited();
	test_stored_contact();
	CHECK(metric_value(ctx.m_expired) == 4);
	return fixture_close("life");
}
