/**
 * @file pool.h  An instance in a pool of instances on Redis
 * (docs/pool.md): its lease, renewed on the wheel; at its deadline
 * without a confirmed renewal, all SIP stops (sipua_halt()), every
 * session is forgotten, and the instance rejoins once the store answers
 * again. The sessions whose owner's lease lapsed (or that were released)
 * are taken over at a paced rate.
 */
#ifndef MOB_POOL_H
#define MOB_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool;
struct store;
struct sipua;
struct wheel;
struct ucwa;

enum {
	POOL_LEASE_MS = 10000,   /* T: the lease in Redis                  */
	POOL_RENEW_MS = 2500,    /* T/4: one renewal each                  */
	POOL_MARGIN_MS = 2000,   /* clock drift + the time to stop         */
	POOL_INSTANCE_MAX = 300, /* bytes of an instance id, NUL included   */
	POOL_POLL_MS = 500,      /* the takeover poller's period           */
	POOL_TAKEOVER_RATE_DEFAULT = 2000, /* sessions/s ([store]) */
};

/** The lease lapsed: SIP stopped for n sessions (once per loss). */
typedef void(pool_lost_h)(uint32_t n, void *arg);

/** The lease is alive again after a loss: the instance is back in the
 * pool (it takes sessions over and may create them again). */
typedef void(pool_rejoin_h)(void *arg);

/**
 * Hold the lease of instance inst: end the lease of a previous process
 * of that name first (store_lease_drop: its sessions are released, to
 * be taken over), then renew it now and every POOL_RENEW_MS; if
 * POOL_LEASE_MS - POOL_MARGIN_MS pass from the sending of the confirmed
 * renewal before the last without another confirmed one, halt ua,
 * forget every session (ucwa_forget_all()), count
 * mobility_pool_lease_lost_total, log it, call lost_h, end the lease,
 * then try a fresh one every POOL_RENEW_MS until the store answers:
 * then SIP is resumed and rejoin_h (pool_set_rejoin_handler) is called.
 *
 * @param st, ua, w Borrowed; outlive the pool
 * @param inst      Copied
 */
int pool_alloc(struct pool **pp, struct store *st, struct sipua *ua,
	       struct wheel *w, const char *inst, pool_lost_h *lost_h,
	       void *arg);

/** Be told of a rejoin (with pool_alloc()'s arg). */
void pool_set_rejoin_handler(struct pool *p, pool_rejoin_h *h);

/**
 * Take sessions over into u (borrowed; outlives the pool, or call with
 * NULL first): every POOL_POLL_MS while the lease is alive and the pool
 * is not draining, list lapsed or released sessions
 * (store_lease_lapsed) at most rate (> 0) per second (a token bucket),
 * and for each: acquire, read, ucwa_take(). Counted in
 * mobility_pool_takeovers_total, one log line per batch.
 */
void pool_set_ucwa(struct pool *p, struct ucwa *u, uint32_t rate);

/** A session is in memory and routable (err 0), or: EBUSY (another
 * instance holds it alive), ENOENT (no such session), or an errno. */
typedef void(pool_take_h)(int err, void *arg);

/**
 * Take session sid (copied) over now, unpaced (a request came for it
 * and its owner's lease lapsed, or it was released). h is called once,
 * from the loop, never inside this call.
 *
 * @return 0 (h will be called), EINVAL, ENOLCK (no lease alive here),
 *         ESHUTDOWN (draining), ENOMEM
 */
int pool_take(struct pool *p, const char *sid, pool_take_h *h, void *arg);

/** Draining: take nothing over any more. */
void pool_drain(struct pool *p);

/** The instance id (borrowed from p). */
const char *pool_instance(const struct pool *p);

/** True while the lease is lost (SIP stopped, not rejoined yet). */
bool pool_lost(const struct pool *p);

/** The lease was ended by pool_end() (err 0, or the store's error). */
typedef void(pool_ended_h)(int err, void *arg);

/**
 * Leave the pool (the drain, once the sessions were handed over): no
 * renewal, no deadline, no takeover any more, the send guard refuses
 * everything, and the instance's lease is ended (store_lease_drop());
 * then h once. Not after the lease was lost (EALREADY).
 */
int pool_end(struct pool *p, pool_ended_h *h, void *arg);

/** True once pool_end() was called. */
bool pool_ended(const struct pool *p);

#endif
