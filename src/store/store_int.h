/**
 * @file store_int.h  Between the generic front of the store and a backend
 *
 * store.c checks limits, copies arguments into a request, keeps the handles
 * that cancel callbacks and finds the end of a loop turn. A backend gets
 * the writes of a turn as one batch and commits them together, and runs
 * reads; it sees requests, never the public handles.
 */
#ifndef MOB_STORE_INT_H
#define MOB_STORE_INT_H

#include <re.h>
#include "store.h"

/** What a backend found of the room left (store_full()). */
enum store_space {
	SPACE_UNKNOWN,
	SPACE_ROOMY, /**< a value of the largest size still fits      */
	SPACE_FULL,  /**< a write was refused, or that no longer fits */
};

enum store_kind {
	/* writes */
	SK_SESSION_PUT,
	SK_SESSION_DEL,
	SK_TOKEN_PUT,
	SK_TOKEN_DEL,
	SK_TOKEN_PURGE,
	SK_EVENT_APPEND,
	SK_EVENT_ACK,
	SK_HA1_PUT,
	SK_HA1_DEL,
	SK_SUB_PUT,
	SK_SUB_DEL,
	SK_HIST_PUT,
	SK_HIST_DEL,
	/* reads */
	SK_SESSION_GET,
	SK_SESSION_LOAD,
	SK_TOKEN_GET,
	SK_EVENT_READ,
	SK_HA1_GET,
	SK_SUB_GET,
	SK_SUB_LIST,
	SK_HIST_LIST,
	/* leases (run as reads: at once, after the turn's writes) */
	SK_LEASE_RENEW,
	SK_LEASE_DROP,
	SK_LEASE_ACQUIRE,
	SK_LEASE_RELEASE,
	SK_LEASE_LAPSED,
	SK_LEASE_OWNER, /* who owns a session, alive, where (forwarding) */
	SK_INSTANCE_URL,
};

/**
 * One operation. Allocated and freed on the loop thread. While a write is
 * with a backend's worker thread, the worker reads the key and value fields
 * and sets err; the loop thread touches only the handler fields (cancel).
 */
struct store_req {
	struct le le;
	enum store_kind kind;
	struct store *s; /**< borrowed                                  */
	uint8_t *a;      /**< first key part: session id, user, hash    */
	size_t alen;
	uint8_t *b; /**< second key part: subscription id, realm,
			 token user                                */
	size_t blen;
	uint64_t n;     /**< sequence, ack, first sequence, expiry, now */
	uint64_t n2;    /**< token: renewal limit (0: none)            */
	uint64_t epoch; /**< session writes: the epoch this handle holds
			     (0: none, unchecked)                       */
	uint32_t max;   /**< events in a range read; tokens to look at
			     in a purge, then the number deleted        */
	uint8_t *val;   /**< value of a put                            */
	size_t vlen;
	int err;   /**< result, set by the backend                */
	bool skip; /**< left out of the transaction (ENOSPC), backend */
	int space; /**< enum store_space, set by the backend       */

	/* Handlers; all NULL once cancelled. */
	store_done_h *doneh;
	store_get_h *geth;
	store_token_h *tokenh;
	store_events_h *eventsh;
	store_rec_h *rech;
	store_lease_h *leaseh;
	store_owner_h *ownerh;
	void *arg;
	struct store_op *op; /**< the caller's handle, or NULL (borrowed) */
};

/**
 * What a backend provides: one entry of the backend table in store.c,
 * chosen by name ([store] backend). A backend sees requests, never the
 * callers; everything it reports goes through the request (err, space)
 * and the functions below, so that the callers never learn which backend
 * they use.
 */
struct store_be {
	const char *name; /**< as [store] backend names it */

	/** Open: store_alloc() with this table, then store_set_backend()
	 * with the backend's state. c is checked for NULL already. */
	int (*open)(struct store **sp, const struct store_conf *c);

	/** What the operator does about a full store (the error line). */
	const char *full_hint;

	/**
	 * Take a batch of writes (moved out of batch, in issue order) and
	 * commit them, at least each session's writes of the batch
	 * together; later, on the loop thread and never from inside this
	 * call, hand them back through store_complete() in issue order
	 * with err (and space) set in each.
	 */
	void (*submit)(void *bed, struct list *batch);

	/**
	 * Run one read: call its handler on the loop thread unless
	 * store_req_live() is false, now or later. A backend answering
	 * later (over a connection) takes a reference to r (mem_ref) and
	 * drops it when done; its destructor drops those it holds. A read
	 * sees every write whose completion has run.
	 */
	void (*read)(void *bed, struct store_req *r);

	/**
	 * Run one lease operation (SK_LEASE_*), as read(): answer through
	 * store_lease_done() (acquire, renew, drop, release) or rech and
	 * doneh (lapsed), store_owner_done() (owner), doneh (instance
	 * URL). NULL: a single instance, always the owner.
	 */
	void (*lease)(void *bed, struct store_req *r);

	/**
	 * Start (on) or stop listening for the doorbell of sid; rings come
	 * back through store_bell_ring(). NULL: rings in this process after
	 * each append's completion.
	 */
	int (*bell)(void *bed, const char *sid, bool on);
};

/** The backends of this build. */
extern const struct store_be store_lmdb_be;
extern const struct store_be store_redis_be;

/** Allocate the generic front; the backend sets s->bed afterwards. */
int store_alloc(struct store **sp, const struct store_be *be);

/** Attach the backend's state (a mem object, takes the reference). */
void store_set_backend(struct store *s, void *bed);

/** Writes came back from the backend (loop thread): call their
 * completions in order and free them. done is emptied. */
void store_complete(struct store *s, struct list *done);

/** Commit statistics for the metrics: transactions committed and failed
 * since the last call, duration of the last one and of all of them. */
void store_commit_stats(struct store *s, uint64_t ncommit, uint64_t nfail,
			uint64_t last_us, uint64_t total_us);

/** A lease operation is done: remembers (acquire) or forgets (release)
 * the epoch for the fencing of later writes, then calls the handler. */
void store_lease_done(struct store_req *r, int err, uint64_t epoch);

/** An owner lookup is done (inst and url borrowed, NUL-terminated). */
void store_owner_done(struct store_req *r, int err, const char *inst,
		      const char *url, bool alive);

/** The doorbell of sid rang (backend, loop thread, never from inside a
 * store call). */
void store_bell_ring(struct store *s, const char *sid, uint64_t seq);

/** Every session watched (a backend subscribing again). */
void store_bell_each(struct store *s, void (*fn)(const char *sid, void *arg),
		     void *arg);

/** True if the request's handlers have not been cancelled and the store
 * is still held by its owner. */
bool store_req_live(const struct store_req *r);

#endif
