/**
 * @file pool.h  The instance's lease in a pool of instances on Redis
 * (docs/pool.md): renewed on the wheel; at its deadline without a
 * confirmed renewal, all SIP stops (sipua_halt()).
 */
#ifndef MOB_POOL_H
#define MOB_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool;
struct store;
struct sipua;
struct wheel;

enum {
	POOL_LEASE_MS = 10000,  /* T: the lease in Redis                  */
	POOL_RENEW_MS = 2500,   /* T/4: one renewal each                  */
	POOL_MARGIN_MS = 2000,  /* clock drift + the time to stop         */
	POOL_INSTANCE_MAX = 300 /* bytes of an instance id, NUL included   */
};

/** The lease lapsed: SIP stopped for n sessions (once). */
typedef void(pool_lost_h)(uint32_t n, void *arg);

/**
 * Hold the lease of instance inst: renew it now and every
 * POOL_RENEW_MS; if POOL_LEASE_MS - POOL_MARGIN_MS pass from the
 * sending of the confirmed renewal before the last without another
 * confirmed one, halt ua, count mobility_pool_lease_lost_total, log it,
 * call lost_h, and renew no more (the sessions lapse for others).
 *
 * @param st, ua, w Borrowed; outlive the pool
 * @param inst      Copied
 */
int pool_alloc(struct pool **pp, struct store *st, struct sipua *ua,
	       struct wheel *w, const char *inst, pool_lost_h *lost_h,
	       void *arg);

/** The instance id (borrowed from p). */
const char *pool_instance(const struct pool *p);

/** True once the lease was lost and SIP stopped. */
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
