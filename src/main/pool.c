/**
 * @file pool.c  The instance's lease and the takeover of sessions
 * (docs/pool.md)
 *
 * One lease per instance in Redis, renewed every T/4. The deadline is
 * counted on our monotonic clock from when the confirmed renewal BEFORE
 * the last one was sent: Redis starts T when it receives a renewal
 * (later than we sent it), and a Sentinel switch may lose the last one
 * (asynchronous replication), so the key cannot expire before our
 * deadline + margin. Past the deadline another instance may soon take
 * our sessions: all SIP stops, sending nothing, and every session is
 * forgotten; the lease is ended (its sessions released) and a fresh one
 * is tried every T/4 until the store answers: then we rejoin.
 *
 * Every POOL_POLL_MS, while the lease is alive, the sessions released or
 * held by an instance whose lease lapsed are listed (at random, so that
 * instances taking over at once pick different ones) and taken over at
 * a paced rate (a token bucket): acquire (epoch + 1), read the record,
 * bring it back (ucwa_take: REGISTER with the same +sip.instance and
 * reg-id, SUBSCRIBE and PUBLISH again).
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store.h"
#include "sipua.h"
#include "ucwa.h"
#include "pool.h"

/* A batch: the sessions of one lapsed listing, for its log line. Held
 * by the listing (p->batch) and by each of its takes: whichever goes
 * last frees it, in any order. */
struct batch {
	struct pool *p;
	uint64_t t0;
	uint32_t listed, left;
	uint32_t taken, busy, failed;
	bool listing; /* the listing's done handler not called yet */
};

/* Someone waiting for a take (pool_take()). */
struct waiter {
	struct le le;
	pool_take_h *h;
	void *arg;
};

/* One session being taken over. */
struct take {
	struct le le; /* in p->takes */
	struct pool *p;
	struct store_op *op;
	struct batch *b;     /* its batch (a reference), or NULL */
	struct list waiters; /* struct waiter                     */
	struct tmr tmr;      /* an answer from the loop           */
	bool ready_wait;     /* ucwa brings it back               */
	int err;             /* for the answer from the loop      */
	char sid[STORE_ID_MAX + 1];
};

struct pool {
	struct store *st;            /* borrowed                          */
	struct sipua *ua;            /* borrowed                          */
	struct wheel *w;             /* borrowed                          */
	struct ucwa *u;              /* borrowed, or NULL: no takeover    */
	struct wheel_entry renew;    /* the next renewal (or retry)       */
	struct wheel_entry deadline; /* SIP stops when it fires           */
	struct wheel_entry poll;     /* the takeover poller               */
	struct store_op *op;         /* the renewal or drop in flight     */
	struct store_op *lapsed_op;  /* the lapsed listing in flight      */
	struct batch *batch;         /* ... its batch                     */
	struct list takes;           /* struct take                       */
	uint64_t sent;               /* when the one in flight was sent   */
	uint64_t last;               /* sending of the last confirmed (0) */
	uint64_t tokens;             /* of the bucket, in 1/1000 session  */
	uint64_t filled;             /* when the bucket was last filled   */
	uint32_t rate;               /* sessions per second               */
	bool dropped;                /* the lease of our name was ended   */
	bool lost;                   /* SIP stopped, not rejoined yet     */
	bool draining;
	struct tmr losetmr;   /* the send guard's lose(), deferred  */
	uint64_t deadline_at; /* when the deadline is due (jiffies) */
	bool ended;           /* pool_end(): left the pool (drain)  */
	pool_ended_h *endh;
	void *endarg;
	pool_lost_h *losth;
	pool_rejoin_h *rejoinh;
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

static struct metric *m_takeovers(void)
{
	return metrics_get(METRIC_COUNTER, "mobility_pool_takeovers_total",
			   NULL,
			   "sessions taken over from a lapsed or released "
			   "lease, registered again here");
}

static void renew_fire(void *arg);
static void take_finish(struct take *t, int err);

/*
 * Takes
 */

/* The listing is over and its last take ended: the batch's line. */
static void batch_log(struct batch *b)
{
	if (b->listing || b->left || !b->listed)
		return;
	log_notice("pool: took over %u sessions in %llu ms (%u held by "
		   "another instance, %u failed)",
		   b->taken, (unsigned long long)(tmr_jiffies() - b->t0),
		   b->busy, b->failed);
}

static void take_destructor(void *arg)
{
	struct take *t = arg;

	tmr_cancel(&t->tmr);
	list_unlink(&t->le);
	mem_deref(t->op);
	list_flush(&t->waiters);
	mem_deref(t->b);
}

static struct take *take_find(struct pool *p, const char *sid)
{
	struct le *le;

	for (le = p->takes.head; le; le = le->next) {
		struct take *t = le->data;

		if (!strcmp(t->sid, sid))
			return t;
	}
	return NULL;
}

/* The answer to everyone waiting, then the take goes. */
static void take_finish(struct take *t, int err)
{
	struct batch *b = mem_ref(t->b);
	struct le *le;

	t->op = mem_deref(t->op);
	list_unlink(&t->le);
	if (!err && t->ready_wait)
		metric_add(m_takeovers(), 1);
	if (b) {
		--b->left;
		if (!err)
			++b->taken;
		else if (err == EBUSY)
			++b->busy;
		else if (err != ENOENT)
			++b->failed;
	}
	if (err && err != EBUSY && err != ENOENT)
		log_warn("pool: session %s not taken over: %m", t->sid, err);
	/* a waiter may call pool_take() again: t is out of the list */
	while ((le = list_head(&t->waiters))) {
		struct waiter *wt = le->data;

		list_unlink(&wt->le);
		if (wt->h)
			wt->h(err, wt->arg);
		mem_deref(wt);
	}
	mem_deref(t);
	if (b)
		batch_log(b);
	mem_deref(b);
}

static void take_later(void *arg)
{
	struct take *t = arg;

	take_finish(t, t->err);
}

/* The record is read: bring the session back; ready() finishes. */
static void take_got(int err, const uint8_t *val, size_t len, void *arg)
{
	struct take *t = arg;

	t->op = mem_deref(t->op);
	if (err == ENOENT) {
		/* listed, never stored (a create that failed): its owner
		 * key and listing go, under the epoch just acquired */
		(void)store_session_del(t->p->st, t->sid, NULL, NULL, NULL);
		take_finish(t, ENOENT);
		return;
	}
	if (!err) {
		err = ucwa_take(t->p->u, val, len);
		if (err == EALREADY)
			err = 0; /* here already */
		else if (!err) {
			t->ready_wait = true;
			return;
		}
	}
	take_finish(t, err);
}

static void take_acquired(int err, uint64_t epoch, void *arg)
{
	struct take *t = arg;

	(void)epoch;
	t->op = mem_deref(t->op);
	if (!err)
		err = store_session_get(t->p->st, t->sid, take_got, t, &t->op);
	if (err)
		take_finish(t, err);
}

/* ucwa: a session brought back is routable (or failed). */
static void ready(const char *id, int err, void *arg)
{
	struct take *t = take_find(arg, id);

	if (t && t->ready_wait)
		take_finish(t, err);
}

static struct take *take_alloc(struct pool *p, const char *sid)
{
	struct take *t = mem_zalloc(sizeof(*t), take_destructor);

	if (!t)
		return NULL;
	t->p = p;
	str_ncpy(t->sid, sid, sizeof(t->sid));
	list_append(&p->takes, &t->le, t);
	return t;
}

static int take_start(struct take *t)
{
	return store_lease_acquire(t->p->st, t->sid, t->p->inst, take_acquired,
				   t, &t->op);
}

/* Every take ends (the lease is lost, or the pool goes). */
static void takes_cancel(struct pool *p, int err)
{
	struct le *le;

	while ((le = list_head(&p->takes)))
		take_finish(le->data, err);
}

/*
 * The poller
 */

static bool lapsed_rec(const uint8_t *key, size_t klen, const uint8_t *val,
		       size_t len, void *arg)
{
	struct pool *p = arg;
	struct batch *b = p->batch;
	char sid[STORE_ID_MAX + 1];
	struct take *t;

	(void)val;
	(void)len;
	if (!klen || klen > STORE_ID_MAX || p->tokens < 1000)
		return false;
	memcpy(sid, key, klen);
	sid[klen] = '\0';
	/* being taken already (a request for it, or the last listing) */
	if (take_find(p, sid) || ucwa_holds(p->u, sid))
		return false;
	t = take_alloc(p, sid);
	if (!t)
		return true;
	p->tokens -= 1000;
	t->b = mem_ref(b);
	++b->listed;
	++b->left;
	if (take_start(t)) {
		t->op = NULL;
		take_finish(t, EIO);
	}
	return false;
}

static void lapsed_done(int err, void *arg)
{
	struct pool *p = arg;
	struct batch *b = p->batch;

	p->lapsed_op = mem_deref(p->lapsed_op);
	p->batch = NULL;
	if (err && err != ECANCELED)
		log_warn("pool: cannot list the sessions to take over: %m",
			 err);
	if (b) {
		b->listing = false;
		batch_log(b);
		mem_deref(b);
	}
}

/* Tokens for the time since the last fill, at most one period's worth
 * (at least one session): a pause does not make a burst. */
static void bucket_fill(struct pool *p)
{
	uint64_t now = tmr_jiffies();
	uint64_t cap = (uint64_t)p->rate * POOL_POLL_MS;

	if (cap < 1000)
		cap = 1000;
	p->tokens += (now - p->filled) * p->rate;
	if (p->tokens > cap)
		p->tokens = cap;
	p->filled = now;
}

static void poll_fire(void *arg)
{
	struct pool *p = arg;
	uint64_t max;
	int err;

	wheel_start(p->w, &p->poll, POOL_POLL_MS, poll_fire, p);
	bucket_fill(p);
	if (p->lost || p->draining || !p->u || !p->last || p->lapsed_op)
		return;
	max = p->tokens / 1000;
	if (max > STORE_LAPSED_MAX)
		max = STORE_LAPSED_MAX;
	if (!max)
		return;
	p->batch = mem_zalloc(sizeof(*p->batch), NULL);
	if (!p->batch)
		return;
	p->batch->p = p;
	p->batch->t0 = tmr_jiffies();
	p->batch->listing = true;
	err = store_lease_lapsed(p->st, (uint32_t)max, lapsed_rec, lapsed_done,
				 p, &p->lapsed_op);
	if (err) {
		p->batch = mem_deref(p->batch);
		log_warn("pool: cannot list the sessions to take over: %m",
			 err);
	}
}

/*
 * The lease
 */

static void destructor(void *arg)
{
	struct pool *p = arg;

	wheel_cancel(&p->renew);
	wheel_cancel(&p->deadline);
	wheel_cancel(&p->poll);
	tmr_cancel(&p->losetmr);
	sipua_set_guard(p->ua, NULL, NULL);
	mem_deref(p->op);
	if (p->u)
		ucwa_set_ready_handler(p->u, NULL, NULL);
	takes_cancel(p, ECANCELED);
	p->lapsed_op = mem_deref(p->lapsed_op);
	p->batch = mem_deref(p->batch);
}

static void renewed(int err, void *arg);

static void renew_now(struct pool *p)
{
	int err;

	p->sent = tmr_jiffies();
	err = store_lease_renew(p->st, p->inst, POOL_LEASE_MS, renewed, p,
				&p->op);
	if (err)
		log_warn("pool: cannot renew the lease: %m", err);
}

static void dropped(int err, void *arg)
{
	struct pool *p = arg;

	p->op = mem_deref(p->op);
	if (err && err != ENOENT) {
		log_warn("pool: cannot end the lease of instance %s: %m",
			 p->inst, err);
		return; /* again at the next tick */
	}
	p->dropped = true;
	log_notice("pool: lease of instance %s ended, its sessions released",
		   p->inst);
	/* at start-up, or the store answers again: a fresh lease now */
	renew_now(p);
}

static void drop_now(struct pool *p)
{
	int err = store_lease_drop(p->st, p->inst, dropped, p, &p->op);

	if (err)
		log_warn("pool: cannot end the lease of instance %s: %m",
			 p->inst, err);
}

static void lose(struct pool *p, const char *why)
{
	uint32_t n, nf;

	if (p->lost || p->ended)
		return;
	p->lost = true;
	tmr_cancel(&p->losetmr);
	wheel_cancel(&p->deadline);
	p->op = mem_deref(p->op);
	n = sipua_halt(p->ua);
	metric_add(m_lost(), 1);
	log_error("pool: lease lapsed (%s), SIP stopped for %u sessions of "
		  "instance %s",
		  why, n, p->inst);
	/* no take goes on, and every session leaves memory: the next
	 * owners read them from the store */
	takes_cancel(p, ENOLCK);
	p->lapsed_op = mem_deref(p->lapsed_op);
	p->batch = mem_deref(p->batch);
	nf = ucwa_forget_all(p->u);
	if (nf)
		log_notice("pool: %u sessions forgotten", nf);
	/* a renewal sent before may still reach the store when it
	 * answers again and make the lease live T more: end it after that
	 * one (same connection, in order), so that our sessions are taken
	 * over at once; then a fresh lease, tried every T/4 (renew_fire) */
	p->dropped = false;
	drop_now(p);
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

/* The store answered a fresh lease after a loss: SIP again, takes
 * again, as at start-up. */
static void rejoin(struct pool *p)
{
	p->lost = false;
	p->last = p->sent;
	sipua_resume(p->ua);
	deadline_set(p, p->last - POOL_RENEW_MS);
	log_notice("pool: lease of instance %s alive again, back in the pool",
		   p->inst);
	if (p->rejoinh)
		p->rejoinh(p->arg);
}

static void renewed(int err, void *arg)
{
	struct pool *p = arg;
	uint64_t prev = p->last;

	p->op = mem_deref(p->op);
	if (p->lost) {
		if (!err || err == ENOENT)
			rejoin(p);
		return; /* still unreachable: again at the next tick */
	}
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

	wheel_start(p->w, &p->renew, POOL_RENEW_MS, renew_fire, p);
	/* one at a time: a late one still counts from its sending */
	if (p->op)
		return;
	/* the lease of our name ended first (start-up, a loss), then
	 * renewed; lost, each renewal is a try for a fresh one */
	if (!p->dropped)
		drop_now(p);
	else
		renew_now(p);
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
	p->rate = POOL_TAKEOVER_RATE_DEFAULT;
	p->filled = tmr_jiffies();
	str_ncpy(p->inst, inst, sizeof(p->inst));
	(void)m_lost();
	sipua_set_guard(ua, guard, p);
	/* a session moved away (drain, takeover): the Front End keeps a
	 * MESSAGE for the next owner */
	sipua_set_moved_answer(ua, true);
	(void)m_takeovers();

	/* no renewal confirmed from the start on: stop as the first
	 * confirmed one would have it */
	deadline_set(p, tmr_jiffies() - POOL_RENEW_MS);
	/* a previous process of this name: its lease ends first and its
	 * sessions are released (taken over by the poller, here or
	 * elsewhere); then our lease (dropped()) */
	wheel_start(p->w, &p->renew, POOL_RENEW_MS, renew_fire, p);
	drop_now(p);
	log_info("pool: instance %s, lease %u ms renewed every %u ms", p->inst,
		 POOL_LEASE_MS, POOL_RENEW_MS);
	*pp = p;
	return 0;
}

void pool_set_rejoin_handler(struct pool *p, pool_rejoin_h *h)
{
	if (p)
		p->rejoinh = h;
}

void pool_set_ucwa(struct pool *p, struct ucwa *u, uint32_t rate)
{
	if (!p)
		return;
	if (p->u)
		ucwa_set_ready_handler(p->u, NULL, NULL);
	p->u = u;
	p->rate = rate ? rate : POOL_TAKEOVER_RATE_DEFAULT;
	if (!u) {
		wheel_cancel(&p->poll);
		takes_cancel(p, ECANCELED);
		p->lapsed_op = mem_deref(p->lapsed_op);
		p->batch = mem_deref(p->batch);
		return;
	}
	ucwa_set_ready_handler(u, ready, p);
	log_info("pool: taking sessions over at up to %u/s, polled every "
		 "%u ms",
		 p->rate, POOL_POLL_MS);
	wheel_start(p->w, &p->poll, POOL_POLL_MS, poll_fire, p);
}

int pool_take(struct pool *p, const char *sid, pool_take_h *h, void *arg)
{
	struct waiter *wt;
	struct take *t;
	int err = 0;

	if (!p || !sid || !*sid || strlen(sid) > STORE_ID_MAX || !p->u)
		return EINVAL;
	if (p->draining)
		return ESHUTDOWN;
	if (p->lost || !p->last)
		return ENOLCK;

	wt = mem_zalloc(sizeof(*wt), NULL);
	if (!wt)
		return ENOMEM;
	wt->h = h;
	wt->arg = arg;
	t = take_find(p, sid);
	if (t) {
		list_append(&t->waiters, &wt->le, wt);
		return 0;
	}
	t = take_alloc(p, sid);
	if (!t) {
		mem_deref(wt);
		return ENOMEM;
	}
	list_append(&t->waiters, &wt->le, wt);
	/* here already: answered from the loop all the same */
	if (ucwa_holds(p->u, sid))
		tmr_start(&t->tmr, 0, take_later, t);
	else
		err = take_start(t);
	if (err) {
		t->op = NULL;
		t->err = err;
		tmr_start(&t->tmr, 0, take_later, t);
	}
	return 0;
}

void pool_drain(struct pool *p)
{
	if (!p)
		return;
	p->draining = true;
	wheel_cancel(&p->poll);
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
	p->draining = true;
	p->endh = h;
	p->endarg = arg;
	wheel_cancel(&p->renew);
	wheel_cancel(&p->deadline);
	wheel_cancel(&p->poll);
	tmr_cancel(&p->losetmr);
	/* nothing taken over any more (it would come after the hand-over);
	 * the takes before their batch, as when the lease is lost */
	takes_cancel(p, ESHUTDOWN);
	p->lapsed_op = mem_deref(p->lapsed_op);
	p->batch = mem_deref(p->batch);
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
