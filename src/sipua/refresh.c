/**
 * @file refresh.c  The refresh machine of REGISTER, PUBLISH and SUBSCRIBE
 *
 * States and transitions are in refresh.h. One wheel entry per machine
 * and no libre timer: refreshes fall at 50-90% of the granted time, so a
 * crowd of sessions started together spreads out by itself; each request
 * holds a turn on the flow (ua.c) from its sending to its final answer.
 */
#include <stddef.h>
#include "refresh.h"

static void fire(void *arg);

/* A random point between min_pct and max_pct percent of ms. */
static uint64_t sipua_jitter(uint64_t ms, unsigned min_pct, unsigned max_pct)
{
	unsigned pct = min_pct + rand_u32() % (max_pct - min_pct + 1);

	return ms * pct / 100;
}

/* When to refresh what was granted for s seconds. */
static uint64_t sipua_refresh_ms(uint32_t s)
{
	return sipua_jitter((uint64_t)s * 1000, SIPUA_REFRESH_MIN_PCT,
			    SIPUA_REFRESH_MAX_PCT);
}

/* The next back-off delay after *failc failures so far (counted up). */
static uint64_t sipua_backoff_ms(uint32_t *failc)
{
	uint64_t ms = SIPUA_RETRY_BASE_MS;
	uint32_t i;

	for (i = 0; i < *failc && ms < SIPUA_RETRY_MAX_MS; i++)
		ms *= 2;
	if (ms > SIPUA_RETRY_MAX_MS)
		ms = SIPUA_RETRY_MAX_MS;
	++*failc;
	return sipua_jitter(ms, 50, 100);
}

static uint32_t clamp_expires(uint32_t s)
{
	if (!s)
		return SIPUA_EXPIRES_DEFAULT_S;
	if (s < SIPUA_EXPIRES_MIN_S)
		return SIPUA_EXPIRES_MIN_S;
	return s > SIPUA_EXPIRES_MAX_S ? SIPUA_EXPIRES_MAX_S : s;
}

void sipua_refresh_init(struct sipua_refresh *rf, struct sipua *ua,
			struct list *l, const struct sipua_refresh_class *cls,
			uint32_t expires, void *arg)
{
	rf->ua = ua;
	rf->cls = cls;
	rf->arg = arg;
	rf->expires = clamp_expires(expires);
	list_append(l, &rf->le, arg);
}

void sipua_refresh_stop(struct sipua_refresh *rf)
{
	/* the owner goes during the drain: its removal counts as ended */
	if (rf->removing && rf->ua) {
		rf->removing = false;
		sipua_drain_count(rf->ua, ECANCELED);
	}
	wheel_cancel(&rf->we);
	list_unlink(&rf->le);
	sipua_turn_done(rf->ua, &rf->turn);
	rf->busy = false;
	rf->treq = mem_deref(rf->treq);
}

void sipua_refresh_orphan(struct sipua_refresh *rf)
{
	rf->removing = false;
	/* the ua goes first (an owner's mistake): nothing more is sent */
	rf->treq = mem_deref(rf->treq);
	wheel_cancel(&rf->we);
	sipua_turn_done(NULL, &rf->turn);
	list_unlink(&rf->le);
	rf->busy = false;
	rf->ua = NULL;
}

void sipua_refresh_now(struct sipua_refresh *rf)
{
	if (rf->ua && !rf->closed)
		wheel_start(rf->ua->wheel, &rf->we, 0, fire, rf);
}

void sipua_refresh_done(struct sipua_refresh *rf)
{
	rf->busy = false;
	sipua_turn_done(rf->ua, &rf->turn);
}

uint32_t sipua_refresh_treq_done(struct sipua_refresh *rf)
{
	uint32_t cseq = sipua_treq_cseq(rf->treq) + 1;

	rf->treq = mem_deref(rf->treq);
	sipua_refresh_done(rf);
	return cseq;
}

/* Forget the request in flight: its turn, the machine's request and
 * what the user holds */
static void drop(struct sipua_refresh *rf)
{
	sipua_refresh_done(rf);
	rf->treq = mem_deref(rf->treq);
	if (rf->cls->droph)
		rf->cls->droph(rf->arg);
}

void sipua_refresh_retry(struct sipua_refresh *rf, uint64_t delay_ms)
{
	drop(rf);
	wheel_start(rf->ua->wheel, &rf->we, delay_ms, fire, rf);
}

void sipua_refresh_retry_later(struct sipua_refresh *rf)
{
	sipua_refresh_retry(rf, sipua_backoff_ms(&rf->failc));
}

void sipua_refresh_close(struct sipua_refresh *rf)
{
	wheel_cancel(&rf->we);
	sipua_refresh_done(rf);
	rf->closed = true;
}

int sipua_refresh_send(struct sipua_refresh *rf)
{
	int err;

	/* waiting: fire() runs when its turn comes */
	if (!sipua_turn_take(rf->ua, &rf->turn, rf->cls->first, fire, rf))
		return 0;

	err = rf->cls->sendh(rf->arg);
	if (!err)
		rf->busy = true;
	return err;
}

/* The wheel entry expired, or a turn was granted */
static void fire(void *arg)
{
	struct sipua_refresh *rf = arg;
	int err;

	if (rf->busy || rf->closed || !rf->ua)
		return;

	err = sipua_refresh_send(rf);
	if (!err)
		return;

	/* the handler may drop the owner: schedule first */
	sipua_refresh_done(rf);
	sipua_refresh_retry_later(rf);
	if (rf->cls->failh)
		rf->cls->failh(err, rf->arg);
}

/* When a 2xx granting exp refreshes: 50-90% of it, capped at cap_ms (if
 * not 0), plus the class offset, at least its floor. */
static uint64_t sipua_refresh_delay(const struct sipua_refresh *rf,
				    uint32_t exp, uint64_t cap_ms)
{
	uint64_t delay = sipua_refresh_ms(exp);

	if (cap_ms && delay > cap_ms)
		delay = cap_ms;
	delay += rf->cls->offset_ms;

	/* at least floor_ms apart, whatever the peer grants */
	return delay < rf->cls->floor_ms ? rf->cls->floor_ms : delay;
}

void sipua_refresh_schedule(struct sipua_refresh *rf, uint32_t exp)
{
	wheel_start(rf->ua->wheel, &rf->we, sipua_refresh_delay(rf, exp, 0),
		    fire, rf);
}

uint32_t sipua_refresh_granted(struct sipua_refresh *rf, uint32_t exp,
			       uint64_t cap_ms)
{
	if (exp > SIPUA_EXPIRES_MAX_S)
		exp = SIPUA_EXPIRES_MAX_S;

	rf->failc = 0;
	rf->min_expires_retried = false;
	wheel_start(rf->ua->wheel, &rf->we,
		    sipua_refresh_delay(rf, exp, cap_ms), fire, rf);
	return exp;
}

bool sipua_refresh_min_expires(struct sipua_refresh *rf,
			       const struct sip_msg *msg)
{
	const struct sip_hdr *me;
	uint32_t min;

	if (!msg || msg->scode != 423 || rf->min_expires_retried)
		return false;

	/* RFC 3261 10.2.8 (RFC 3903 4.1.5, RFC 6665 4.1.2.1): ask again
	 * with at least Min-Expires; once, so that a peer that keeps
	 * asking more cannot make us loop */
	me = sip_msg_hdr(msg, SIP_HDR_MIN_EXPIRES);
	min = me ? pl_u32(&me->val) : 0;
	if (min <= rf->expires || min > SIPUA_EXPIRES_MAX_S)
		return false;

	rf->expires = min;
	rf->min_expires_retried = true;
	sipua_refresh_retry(rf, 0);
	return true;
}

void sipua_refresh_flow_lost(struct list *l)
{
	uint32_t n = list_count(l), step = SIPUA_FLOW_STEP_MS, i = 0;
	struct le *le;

	if (n && (uint64_t)n * step > SIPUA_FLOW_SPREAD_MS)
		step = SIPUA_FLOW_SPREAD_MS / n;

	/* RFC 5626 4.4.1: what was made over the lost flow is gone (the
	 * bindings, the NOTIFYs' way back); make it again, one after the
	 * other, not all in one burst */
	for (le = l->head; le; le = le->next) {
		struct sipua_refresh *rf =
		    (struct sipua_refresh *)(void *)((char *)le -
						     offsetof(
							 struct sipua_refresh,
							 le));
		uint64_t delay;

		if (rf->closed)
			continue;
		if (rf->cls->keep_on_loss && rf->busy)
			continue;

		delay = (uint64_t)i++ * step + rand_u32() % (step + 1);
		if (rf->cls->losth)
			rf->cls->losth(rf->arg);
		/* a QUEUED one keeps its place in the line */
		if (rf->cls->keep_on_loss)
			wheel_start(rf->ua->wheel, &rf->we, delay, fire, rf);
		else
			sipua_refresh_retry(rf, delay);
	}
}

enum sipua_refresh_state sipua_refresh_state(const struct sipua_refresh *rf)
{
	if (!rf->ua)
		return SIPUA_RF_ORPHAN;
	if (rf->closed)
		return SIPUA_RF_CLOSED;
	if (rf->busy)
		return SIPUA_RF_BUSY;
	if (rf->turn.le.list)
		return SIPUA_RF_QUEUED;
	return wheel_isrunning(&rf->we) ? SIPUA_RF_WAITING : SIPUA_RF_IDLE;
}
