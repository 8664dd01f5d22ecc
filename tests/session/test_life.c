/**
 * @file test_life.c  Session lifetimes (src/session/life.c) on the real loop
 * and timer wheel, with lifetimes of a few hundred milliseconds: the
 * short and the long class, a request moving the end, a parked P-GET as
 * contact until it ends, a change of class, the stored contact written
 * at most once per step, and the wall-clock contact of a stored record.
 *
 * life.c is compiled in; the application's save and delete (app.c) are
 * stand-ins that record what was asked.
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "conf.h"
#include "evchan.h"
#include "ucwa.h"
#include "ucwa_int.h"
#include "check.h"
#include "../../src/session/life.c"

/* SLACK: how late the loop may run on a busy machine; every bound still
 * tells the classes apart (SHORT_MS + 150 + SLACK < LONG_MS) */
enum { SHORT_MS = 200, LONG_MS = 800, SLACK = 400 };

static unsigned saves, deletes;
static uint64_t deleted_at;

int ucwa_app_save(struct app *app, struct web_req *req, ucwa_saved_h *h)
{
	(void)req;
	(void)h;
	/* as app.c does: what the record now says */
	app->contact_saved_ms = ucwa_life_last(app);
	++saves;
	return 0;
}

void ucwa_app_delete(struct app *app, struct web_req *req)
{
	(void)req;
	app->closing = true;
	++deletes;
	deleted_at = tmr_jiffies();
	re_cancel();
}

static struct conf conf;
static struct ucwa u;
static struct app app;
static struct tmr tmr, stop_tmr;
static uint64_t t0;

static void stop(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Run the loop until the session ends or limit_ms passed. */
static void run(uint64_t limit_ms)
{
	tmr_start(&stop_tmr, limit_ms, stop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&stop_tmr);
}

static char user[] = "alice@example.test";

/* life.c only asks whether there is one */
static struct pushreg reg;

static void start(bool push)
{
	memset(&app, 0, sizeof(app));
	app.u = &u;
	(void)re_snprintf(app.id, sizeof(app.id), "life-test");
	app.user = user;
	app.push = push ? &reg : NULL;
	CHECK(!evchan_alloc(&app.ev, u.wheel, "/a/1/events"));
	t0 = app.contact_ms = tmr_jiffies();
	app.contact_saved_ms = app.contact_ms;
	deletes = saves = 0;
	ucwa_life_update(&app);
}

static void finish(void)
{
	wheel_cancel(&app.life);
	app.ev = mem_deref(app.ev);
}

static void touch(void *arg)
{
	(void)arg;
	ucwa_life_contact(&app);
}

static void test_classes(void)
{
	/* without push: ends after the short lifetime */
	start(false);
	run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= SHORT_MS &&
	      deleted_at - t0 < SHORT_MS + SLACK);
	finish();

	/* with push: outlives the short one, ends after the long one */
	start(true);
	run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= LONG_MS && deleted_at - t0 < LONG_MS + SLACK);
	finish();
}

static void test_contact_moves_the_end(void)
{
	start(false);
	tmr_start(&tmr, 150, touch, NULL);
	run(LONG_MS * 2);
	CHECK(deletes == 1);
	CHECK(deleted_at - t0 >= 150 + SHORT_MS &&
	      deleted_at - t0 < 150 + SHORT_MS + SLACK);
	finish();
}

static void drop_push(void *arg)
{
	(void)arg;
	app.push = NULL;
	ucwa_life_update(&app);
}

static void test_change_of_class(void)
{
	/* silent for longer than the short lifetime, then the registration
	 * goes: the end comes at once, not after the long lifetime */
	start(true);
	tmr_start(&tmr, SHORT_MS + 100, drop_push, NULL);
	run(LONG_MS * 2);
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
		ucwa_life_contact(&app);
	}
	elapsed = tmr_jiffies() - t0;
	/* one per step that passed (100 ms at least each), not 40 */
	CHECK(saves >= 3 && saves <= elapsed / 100 + 1 && saves < 20);
	finish();
}

static void test_stored_contact(void)
{
	uint64_t wall = (uint64_t)time(NULL) * 1000;

	start(false);
	/* the record's contact is the epoch form of the last contact */
	CHECK(ucwa_life_contact_wall(&app) + 1000 >= wall &&
	      ucwa_life_contact_wall(&app) <= wall + 1000);

	/* restored 5 s after its last contact: already over */
	ucwa_life_set_contact(&app, wall - 5000);
	CHECK(ucwa_life_over(&app));
	/* restored 100 ms after: 100 ms left */
	ucwa_life_set_contact(&app, wall);
	CHECK(!ucwa_life_over(&app));
	/* none recorded, or in the future (the clock went back): from now */
	ucwa_life_set_contact(&app, 0);
	CHECK(!ucwa_life_over(&app));
	ucwa_life_set_contact(&app, wall + 3600 * 1000);
	CHECK(!ucwa_life_over(&app));
	CHECK(app.contact_ms <= tmr_jiffies());
	finish();
}

int main(void)
{
	int err;

	err = libre_init();
	if (err)
		return 1;
	conf.session_short_expiration_ms = SHORT_MS;
	conf.session_expiration_ms = LONG_MS;
	u.conf = &conf;
	u.m_expired = metrics_get(METRIC_COUNTER, "test_expired", NULL, "");
	CHECK(!wheel_alloc(&u.wheel, 10, 256, true));

	test_classes();
	test_contact_moves_the_end();
	test_change_of_class();
	test_saves_are_rate_limited();
	test_stored_contact();
	CHECK(metric_value(u.m_expired) == 4);

	mem_deref(u.wheel);
	metrics_close();
	libre_close();
	return check_done("life");
}
