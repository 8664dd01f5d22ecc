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
 * What the session needs of the layer above (its record written, its
 * end, the event channel's parked P-GET) goes through ctx->ops.
 *
 * The last contact is in the application's stored record, written with
 * the record's other saves and, when it has grown older than
 * life_step() (an eighth of the lifetime, at most
 * SESSION_CONTACT_SAVE_MAX_MS), with a save of its own: one commit per
 * session per step at most, never one per request. After a crash the
 * stored contact is at most one step behind the real one, so a restored
 * session ends at most one step early, never late.
 */
#include <time.h>
#include <re.h>
#include "conf.h"
#include "session.h"

static uint64_t lifetime(const struct session *s)
{
	const struct conf *c = s->ctx->conf;

	return s->push ? c->session_expiration_ms
		       : c->session_short_expiration_ms;
}

/* How stale the stored contact may grow before it is written again. */
static uint64_t life_step(const struct session *s)
{
	uint64_t step = lifetime(s) / 8;

	return step < SESSION_CONTACT_SAVE_MAX_MS ? step
						  : SESSION_CONTACT_SAVE_MAX_MS;
}

static uint64_t session_life_last(const struct session *s)
{
	uint64_t pget = s->ctx->ops->last_parked(s);

	return pget > s->contact_ms ? pget : s->contact_ms;
}

uint64_t session_life_contact_wall(const struct session *s)
{
	uint64_t now = tmr_jiffies(), last = session_life_last(s);
	uint64_t wall = (uint64_t)time(NULL) * 1000;
	uint64_t ago = now > last ? now - last : 0;

	/* the loop's clock is monotonic; the record needs the epoch */
	return wall > ago ? wall - ago : 0;
}

void session_life_set_contact(struct session *s, uint64_t wall_ms)
{
	uint64_t now = tmr_jiffies();
	uint64_t wall = (uint64_t)time(NULL) * 1000;
	uint64_t ago = wall > wall_ms ? wall - wall_ms : 0;

	/* none recorded (a record older than lifetimes): from now; a
	 * contact "in the future" (the clock was set back): now as well */
	if (!wall_ms)
		ago = 0;
	s->contact_ms = now > ago ? now - ago : 0;
}

bool session_life_over(const struct session *s)
{
	return session_life_last(s) + lifetime(s) <= tmr_jiffies();
}

void session_life_ended(struct session *s, const char *why)
{
	uint64_t now = tmr_jiffies(), last = session_life_last(s);

	log_info("ucwa: application %s of %s expired %s: no contact for "
		 "%llu s (lifetime %llu s, %s)",
		 s->ctx->ops->id(s), s->ctx->ops->user(s), why,
		 (unsigned long long)((now > last ? now - last : 0) / 1000),
		 (unsigned long long)(lifetime(s) / 1000),
		 s->push ? "push" : "no push");
	metric_add(s->ctx->m_expired, 1);
}

static void life_handler(void *arg);

/* The stored contact is too old: write the record again (the write has
 * no one to answer; a failure is logged by the save). */
static void save_contact(struct session *s)
{
	uint64_t last = session_life_last(s);

	if (last < s->contact_saved_ms + life_step(s))
		return;
	(void)s->ctx->ops->save(s);
}

static void arm(struct session *s)
{
	uint64_t now = tmr_jiffies();
	uint64_t end = session_life_last(s) + lifetime(s);
	uint64_t delay = end > now ? end - now : 0;

	/* while a P-GET is parked its end is unknown: look again each
	 * step, saving the contact as it grows */
	if (s->ctx->ops->last_parked(s) >= now && delay > life_step(s))
		delay = life_step(s);
	wheel_start(s->ctx->wheel, &s->life, delay, life_handler, s);
}

static void life_handler(void *arg)
{
	struct session *s = arg;

	if (s->closing)
		return;
	if (session_life_over(s)) {
		session_life_ended(s, "by its lifetime");
		/* the layer above un-REGISTERs, ends its subscriptions and
		 * publication, answers a waiting request 404, deletes its
		 * records */
		s->ctx->ops->end(s);
		return;
	}
	if (!s->loading)
		save_contact(s);
	arm(s);
}

void session_life_contact(struct session *s)
{
	s->contact_ms = tmr_jiffies();
	if (!s->loading && !s->ctx->ops->creating(s))
		save_contact(s);
}

void session_life_saved(struct session *s)
{
	s->contact_saved_ms = session_life_last(s);
}

void session_life_update(struct session *s)
{
	if (!s->closing)
		arm(s);
}
