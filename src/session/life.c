/**
 * @file life.c  How long a mobility session lives (PROTOCOL.md "Mobility
 * session lifetimes")
 *
 * A session with a push registration lives session_expiration after the
 * client's last contact (the app can be woken, so it may sleep for days);
 * one without lives session_short_expiration. Contact is any
 * authenticated request on the application; a parked P-GET is contact
 * for as long as it is parked, so its end is what counts.
 *
 * One wheel entry per application. A request does not move it (that
 * would be a wheel operation per request): the entry fires at the end
 * computed last, and the handler looks again; the session ends only if no
 * contact came since. A change of class (registration added, removed or
 * dropped) moves the entry at once, as it may shorten the life.
 *
 * The last contact is in the application's stored record, written with
 * the record's other saves and, when it has grown older than
 * life_step() (an eighth of the lifetime, at most
 * UCWA_CONTACT_SAVE_MAX_MS), with a save of its own: one commit per
 * session per step at most, never one per request. After a crash the
 * stored contact is at most one step behind the real one, so a restored
 * session ends at most one step early, never late.
 */
#include <time.h>
#include <re.h>
#include "conf.h"
#include "evchan.h"
#include "ucwa.h"
#include "ucwa_int.h"

static uint64_t lifetime(const struct app *app)
{
	const struct conf *c = app->u->conf;

	return app->push ? c->session_expiration_ms
			 : c->session_short_expiration_ms;
}

/* How stale the stored contact may grow before it is written again. */
static uint64_t life_step(const struct app *app)
{
	uint64_t step = lifetime(app) / 8;

	return step < UCWA_CONTACT_SAVE_MAX_MS ? step
					       : UCWA_CONTACT_SAVE_MAX_MS;
}

uint64_t ucwa_life_last(const struct app *app)
{
	uint64_t pget = evchan_last_parked(app->ev);

	return pget > app->contact_ms ? pget : app->contact_ms;
}

uint64_t ucwa_life_contact_wall(const struct app *app)
{
	uint64_t now = tmr_jiffies(), last = ucwa_life_last(app);
	uint64_t wall = (uint64_t)time(NULL) * 1000;
	uint64_t ago = now > last ? now - last : 0;

	/* the loop's clock is monotonic; the record needs the epoch */
	return wall > ago ? wall - ago : 0;
}

void ucwa_life_set_contact(struct app *app, uint64_t wall_ms)
{
	uint64_t now = tmr_jiffies();
	uint64_t wall = (uint64_t)time(NULL) * 1000;
	uint64_t ago = wall > wall_ms ? wall - wall_ms : 0;

	/* none recorded (a record older than lifetimes): from now; a
	 * contact "in the future" (the clock was set back): now as well */
	if (!wall_ms)
		ago = 0;
	app->contact_ms = now > ago ? now - ago : 0;
}

bool ucwa_life_over(const struct app *app)
{
	return ucwa_life_last(app) + lifetime(app) <= tmr_jiffies();
}

void ucwa_life_ended(struct app *app, const char *why)
{
	uint64_t now = tmr_jiffies(), last = ucwa_life_last(app);

	log_info("ucwa: application %s of %s expired %s: no contact for "
		 "%llu s (lifetime %llu s, %s)",
		 app->id, app->user, why,
		 (unsigned long long)((now > last ? now - last : 0) / 1000),
		 (unsigned long long)(lifetime(app) / 1000),
		 app->push ? "push" : "no push");
	metric_add(app->u->m_expired, 1);
}

static void life_handler(void *arg);

/* The stored contact is too old: write the record again (the write has
 * no one to answer; a failure is logged by the save). */
static void save_contact(struct app *app)
{
	uint64_t last = ucwa_life_last(app);

	if (last < app->contact_saved_ms + life_step(app))
		return;
	(void)ucwa_app_save(app, NULL, NULL);
}

static void arm(struct app *app)
{
	uint64_t now = tmr_jiffies();
	uint64_t end = ucwa_life_last(app) + lifetime(app);
	uint64_t delay = end > now ? end - now : 0;

	/* while a P-GET is parked its end is unknown: look again each
	 * step, saving the contact as it grows */
	if (evchan_last_parked(app->ev) >= now && delay > life_step(app))
		delay = life_step(app);
	wheel_start(app->u->wheel, &app->life, delay, life_handler, app);
}

static void life_handler(void *arg)
{
	struct app *app = arg;

	if (app->closing)
		return;
	if (ucwa_life_over(app)) {
		ucwa_life_ended(app, "by its lifetime");
		/* un-REGISTERs, ends its subscriptions and publication,
		 * answers a waiting request 404, deletes its records */
		ucwa_app_delete(app, NULL);
		return;
	}
	if (!app->loading)
		save_contact(app);
	arm(app);
}

void ucwa_life_contact(struct app *app)
{
	app->contact_ms = tmr_jiffies();
	if (!app->loading && !app->pending)
		save_contact(app);
}

void ucwa_life_update(struct app *app)
{
	if (!app->closing)
		arm(app);
}
