/**
 * @file pool.c  The instance's lease (docs/pool.md)
 *
 * One lease per instance in Redis, renewed every T/4. The deadline is
 * counted on our monotonic clock from when the confirmed renewal BEFORE
 * the last one was sent: Redis starts T when it receives a renewal
 * (later than we sent it), and a Sentinel switch may lose the last one
 * (asynchronous replication), so the key cannot expire before our
 * deadline + margin. Past the deadline another instance may soon take
 * our sessions: all SIP stops, sending nothing.
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store.h"
#include "sipua.h"
#include "pool.h"

struct pool {
	struct store *st;            /* borrowed                          */
	struct sipua *ua;            /* borrowed                          */
	struct wheel *w;             /* borrowed                          */
	struct wheel_entry renew;    /* the next renewal              */
	struct wheel_entry deadline; /* SIP stops when it fires       */
	struct store_op *op;         /* the renewal in flight, or NULL    */
	struct tmr losetmr;          /* the send guard's lose(), deferred */
	uint64_t deadline_at;        /* when the deadline is due (jiffies) */
	uint64_t sent;               /* when the one in flight was sent   */
	uint64_t last;               /* sending of the last confirmed (0) */
	bool lost;
	bool ended; /* pool_end(): left the pool (drain)      */
	pool_ended_h *endh;
	void *endarg;
	pool_lost_h *losth;
	void *arg;
	char inst[POOL_INSTANCE_MAX];
};

static struct metric *m_lost(void)
{
	return metrics_get(METRIC_COUNTER, "mobility_pool_lease_lost_total",
			   NULL,
			   "times the instance's pool lease lapsed and all its "
			   "SIP was stopped");
}

static void destructor(void *arg)
{
	struct pool *p = arg;

	wheel_cancel(&p->renew);
	wheel_cancel(&p->deadline);
	tmr_cancel(&p->losetmr);
	sipua_set_guard(p->ua, NULL, NULL);
	mem_deref(p->op);
}

static void dropped(int err, void *arg)
{
	struct pool *p = arg;

	p->op = mem_deref(p->op);
	if (err && err != ENOENT)
		log_warn("pool: cannot end the lapsed lease: %m", err);
	else
		log_notice("pool: lease of instance %s ended", p->inst);
}

static void lose(struct pool *p, const char *why)
{
	uint32_t n;
	int err;

	if (p->lost || p->ended)
		return;
	p->lost = true;
	tmr_cancel(&p->losetmr);
	wheel_cancel(&p->renew);
	wheel_cancel(&p->deadline);
	p->op = mem_deref(p->op);
	n = sipua_halt(p->ua);
	metric_add(m_lost(), 1);
	log_error("pool: lease lapsed (%s), SIP stopped for %u sessions of "
		  "instance %s",
		  why, n, p->inst);
	/* a renewal sent before may still reach the store when it
	 * answers again and make the lease live T more: end it after that
	 * one (same connection, in order), so that our sessions are taken
	 * over at once */
	err = store_lease_drop(p->st, p->inst, dropped, p, &p->op);
	if (err)
		log_warn("pool: cannot end the lapsed lease: %m", err);
	if (p->losth)
		p->losth(n, p->arg);
}

static void deadline_fire(void *arg)
{
	lose(arg, "no renewal confirmed in time");
}

static void guard_lose(void *arg)
{
	lose(arg, "deadline passed before a send");
}

/* Asked by sipua before every send: after SIGSTOP/SIGCONT the refresh
 * timers and sockets may run before the deadline entry; past the
 * deadline nothing leaves. The halt itself waits for the loop: the
 * caller is inside a send of the ua being halted */
static bool guard(void *arg)
{
	struct pool *p = arg;

	if (p->lost || p->ended)
		return false;
	if (tmr_jiffies() < p->deadline_at)
		return true;
	if (!tmr_isrunning(&p->losetmr))
		tmr_start(&p->losetmr, 0, guard_lose, p);
	return false;
}

/* From base (a sending time): the deadline */
static void deadline_set(struct pool *p, uint64_t base)
{
	uint64_t now = tmr_jiffies();
	uint64_t at = base + POOL_LEASE_MS - POOL_MARGIN_MS;

	p->deadline_at = at;
	wheel_start(p->w, &p->deadline, at > now ? at - now : 0, deadline_fire,
		    p);
}

static void renewed(int err, void *arg)
{
	struct pool *p = arg;
	uint64_t prev = p->last;

	p->op = mem_deref(p->op);
	/* ENOENT: no lease was alive. The first time, that is the start;
	 * later, Redis lost it (a switch lost renewals): ours may be
	 * taken already */
	if (err == ENOENT && prev) {
		lose(p, "the store had no lease any more");
		return;
	}
	if (err && err != ENOENT) {
		log_warn("pool: lease renewal failed: %m", err);
		return;
	}
	p->last = p->sent;
	/* the first: one renewal earlier than it, as if one was lost */
	deadline_set(p, prev ? prev : p->last - POOL_RENEW_MS);
}

static void renew_fire(void *arg)
{
	struct pool *p = arg;
	int err;

	wheel_start(p->w, &p->renew, POOL_RENEW_MS, renew_fire, p);
	/* one at a time: a late one still counts from its sending */
	if (p->op)
		return;
	p->sent = tmr_jiffies();
	err = store_lease_renew(p->st, p->inst, POOL_LEASE_MS, renewed, p,
				&p->op);
	if (err)
		log_warn("pool: cannot renew the lease: %m", err);
}

int pool_alloc(struct pool **pp, struct store *st, struct sipua *ua,
	       struct wheel *w, const char *inst, pool_lost_h *lost_h,
	       void *arg)
{
	struct pool *p;

	if (!pp || !st || !ua || !w || !inst || !*inst ||
	    strlen(inst) >= POOL_INSTANCE_MAX)
		return EINVAL;

	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;
	p->st = st;
	p->ua = ua;
	p->w = w;
	p->losth = lost_h;
	p->arg = arg;
	str_ncpy(p->inst, inst, sizeof(p->inst));
	(void)m_lost();
	sipua_set_guard(ua, guard, p);
	/* a session moved away (drain, takeover): the Front End keeps a
	 * MESSAGE for the next owner */
	sipua_set_moved_answer(ua, true);

	/* no renewal confirmed from the start on: stop as the first
	 * confirmed one would have it */
	deadline_set(p, tmr_jiffies() - POOL_RENEW_MS);
	renew_fire(p);
	log_info("pool: instance %s, lease %u ms renewed every %u ms", p->inst,
		 POOL_LEASE_MS, POOL_RENEW_MS);
	*pp = p;
	return 0;
}

const char *pool_instance(const struct pool *p)
{
	return p ? p->inst : NULL;
}

bool pool_lost(const struct pool *p)
{
	return p && p->lost;
}

static void ended(int err, void *arg)
{
	struct pool *p = arg;

	p->op = mem_deref(p->op);
	if (err && err != ENOENT)
		log_warn("pool: cannot end the lease: %m", err);
	else
		log_notice("pool: instance %s left the pool", p->inst);
	if (p->endh)
		p->endh(err, p->endarg);
}

int pool_end(struct pool *p, pool_ended_h *h, void *arg)
{
	int err;

	if (!p)
		return EINVAL;
	if (p->lost || p->ended)
		return EALREADY;
	p->ended = true;
	p->endh = h;
	p->endarg = arg;
	wheel_cancel(&p->renew);
	wheel_cancel(&p->deadline);
	tmr_cancel(&p->losetmr);
	/* behind a renewal possibly in flight, on the same connection: it
	 * cannot make the lease live again after the drop */
	p->op = mem_deref(p->op);
	err = store_lease_drop(p->st, p->inst, ended, p, &p->op);
	if (err)
		log_warn("pool: cannot end the lease: %m", err);
	return err;
}

bool pool_ended(const struct pool *p)
{
	return p && p->ended;
}
