/**
 * @file forward.h  Any instance serves any request: a request for an
 * application another instance of the pool owns is forwarded there
 * (docs/pool.md "Forwarding")
 *
 * The API (ucwa_set_remote) hands over the requests for applications not
 * in this process. The owner is looked up in the store (owner key, its
 * lease alive?, its URL; cached per session for FORWARD_CACHE_MS), then:
 * the owner alive and another instance: forwarded to its URL (src/fwd)
 * and the answer relayed; no owner alive (lapsed, released) or this
 * instance: taken over here (the take handler), then served here; no
 * such session: 404. A request that was itself forwarded (Mob-Forwarded-By)
 * is never forwarded again: 503, Retry-After: 1, Mob-Not-Owner: 1. After
 * such an answer, or a connection that could not be made, the request is
 * looked up afresh and sent once more.
 */
#ifndef MOB_FORWARD_H
#define MOB_FORWARD_H

#include <stdint.h>

struct forward;
struct store;
struct ucwa;

enum {
	FORWARD_CACHE_MS = 2000,       /* a looked-up owner's URL is reused */
	FORWARD_CACHE_MAX = 65536,     /* sessions in that cache           */
	FORWARD_URL_RETRY_MS = 2000,   /* publishing the URL failed: again */
	FORWARD_URL_REFRESH_MS = 30000 /* published again (a switch lost it) */
};

/** A takeover is done: 0 (the session is now here), EBUSY (another
 * instance holds it alive), ENOENT (no such session), an errno. */
typedef void(forward_took_h)(int err, void *arg);
/** Take session sid over now (pool_take()); 0 or an errno (then h is
 * not called). */
typedef int(forward_take_h)(void *take_arg, const char *sid, forward_took_h *h,
			    void *arg);

/**
 * Start forwarding for this instance: set the API's remote handler and
 * publish url (if not NULL) as where the peers reach this instance.
 *
 * @param fp   Returns a new reference
 * @param st   Store (borrowed; outlives the forwarder)
 * @param u    API (borrowed; outlives the forwarder)
 * @param inst This instance's name (copied)
 * @param url  http://host:port of this instance, or NULL (copied)
 */
int forward_alloc(struct forward **fp, struct store *st, struct ucwa *u,
		  const char *inst, const char *url);

/** Take over a session whose owner is not alive through h (borrowed
 * take_arg); unset, such a request answers 503 with Retry-After. */
void forward_set_take(struct forward *f, forward_take_h *h, void *take_arg);

#endif
