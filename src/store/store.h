/**
 * @file store.h  Durable state of mobility sessions, backend-neutral
 *
 * What a session needs to survive a crash or move to another instance:
 *
 *  - session records     one opaque value per session id
 *  - tokens              token hash -> user, expiry
 *  - event logs          per session, ordered by a 64-bit sequence number:
 *                        append, read a range, delete up to the client's ack
 *  - HA1                 one value per user + realm (never the password)
 *  - subscriptions       per session, one value per subscription id
 *  - history             per session, one value per history entry id
 *                        (listed in the byte order of the ids)
 *
 * Values are opaque byte strings: the caller encodes them.
 *
 * Everything is called on the loop thread, and every completion runs on the
 * loop thread, never from inside the call that started it.
 *
 * Durability contract: a write's completion handler runs only after the
 * write is durably committed (LMDB: the write transaction holding it has
 * been committed and synced). The caller may then acknowledge upstream
 * (SIP 200 OK to a MESSAGE, 201 to a client). Writes complete in the
 * order they were issued, so a completion also means every earlier write
 * is durable. The writes of one session (its record, log, subscriptions,
 * history) issued in one loop turn are atomic together: all of them are
 * applied or none (but for single writes refused with ENOSPC); writes of
 * other sessions, tokens and HA1 may be committed apart (a backend may
 * commit one loop turn at once; lmdb does). A read sees what was
 * committed when it runs: a write is visible to reads at the latest when
 * its completion has run.
 *
 * Cancellation: every call takes an optional handle (opp). Dropping the
 * handle (mem_deref) cancels the callback: it never runs after. A write
 * whose handle is dropped is still committed (it may already be in a
 * transaction); only its completion is not called. Dropping the store
 * cancels every callback; writes already issued are still committed before
 * the store's destructor returns.
 *
 * Keys of the Redis backend (one hash tag per session, so that
 * Redis Cluster keeps all keys of a session in one slot and a session's
 * writes of a loop turn are one Lua script):
 *
 *   session        mob:{SID}:s            STRING value
 *   event log      mob:{SID}:ev           STREAM, entry id "SEQ-0", field v;
 *                                         read XRANGE SEQ +, ack XTRIM MINID
 *   subscriptions  mob:{SID}:sub          HASH subscription id -> value
 *   history        mob:{SID}:hist         HASH entry id -> value (HGETALL,
 *                                         sorted by the backend)
 *   token          mob:tok:{HASH}         STRING expiry+until+user (purged
 *                                         by store_token_purge, SCAN steps)
 *   HA1            mob:ha1:{USER}         HASH realm -> value
 *   owner          mob:{SID}:o            STRING "EPOCH INSTANCE" (INSTANCE
 *                                         empty once released)
 *   instance lease mob:lease:{INSTANCE}   STRING, expires (PX) unless renewed
 *   owned sessions mob:own:{INSTANCE}     SET of session ids (mob:free: the
 *                                         released ones); mob:instances SET
 *   doorbell       mob:{SID}:bell         pub/sub channel, message = seq
 *   instance URL   mob:url:{INSTANCE}     STRING, where peers forward to
 *
 * Sessions are loaded at start-up with SCAN MATCH mob:{*}:s.
 * See docs/store.md.
 */
#ifndef MOB_STORE_H
#define MOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Named limits; a call over one returns EOVERFLOW, an empty id EINVAL.
 * A write that would take the writes not yet completed over
 * STORE_QUEUE_MAX or STORE_QUEUE_BYTES_MAX returns ENOBUFS (back-pressure:
 * the store is asked for more than it can commit). */
enum {
	STORE_ID_MAX = 128,           /**< session / subscription id bytes */
	STORE_USER_MAX = 255,         /**< user (SIP URI) bytes            */
	STORE_REALM_MAX = 128,        /**< digest realm bytes              */
	STORE_TOKEN_HASH_MAX = 64,    /**< token hash bytes                */
	STORE_VALUE_MAX = 256 * 1024, /**< value bytes                     */
	STORE_READ_MAX = 1024,        /**< events in one range read        */
	STORE_PURGE_MAX = 100000,     /**< token records in one purge step */
	STORE_QUEUE_MAX = 65536,      /**< writes not yet completed        */
	STORE_QUEUE_BYTES_MAX = 64 << 20, /**< their key and value bytes   */
	STORE_URL_MAX = 512, /**< an instance's URL bytes         */
};

struct store;
struct store_op;

/** A write (or a load) is finished: 0 (committed), ENOSPC (the store is
 * full: this write does not fit, short of the reserve kept for acks and
 * deletes; the other writes of its transaction are committed), EEXIST
 * (event sequence already taken), ENOENT (nothing to delete), EIO (the
 * transaction failed: nothing of it was written), ESTALE (a backend
 * shared by several instances: another instance has taken the session
 * over, nothing of this write was applied; lmdb never returns it). Any
 * other value is a failure too: the write may not have been applied. */
typedef void(store_done_h)(int err, void *arg);

/** A value was read. val is borrowed: valid only during the call.
 * err is ENOENT when there is no such record. */
typedef void(store_get_h)(int err, const uint8_t *val, size_t len, void *arg);

/** A token was read: user (borrowed, not NUL-terminated), the expiry
 * and the limit its renewals may not pass (0: none stored), both in the
 * caller's clock (e.g. seconds since the epoch). */
typedef void(store_token_h)(int err, const uint8_t *user, size_t ulen,
			    uint64_t expires, uint64_t until, void *arg);

/** One event of a log (val borrowed). */
struct store_event {
	uint64_t seq;
	const uint8_t *val;
	size_t len;
};

/** Events were read: evv[0..n) in sequence order (borrowed), more is true
 * when events after the last one exist. No events: err 0, n 0. */
typedef void(store_events_h)(int err, const struct store_event *evv, size_t n,
			     bool more, void *arg);

/** One record of an iteration: key and value borrowed. Return true to stop
 * the iteration (its done handler then gets ECANCELED). */
typedef bool(store_rec_h)(const uint8_t *key, size_t klen, const uint8_t *val,
			  size_t len, void *arg);

/** Where and how to open a store; a field the backend does not use is
 * ignored. Borrowed by store_open(). */
struct store_conf {
	/** "lmdb" or "redis" (NULL: "lmdb"); see store_backend_known() */
	const char *backend;
	/** lmdb: directory of the environment (must exist); several
	 * processes may open the same one */
	const char *path;
	/** the most data the store may hold, MiB (> 0; lmdb) */
	size_t size_mb;
	/** redis: host:port of the server (NULL: 127.0.0.1:6379) */
	const char *redis_address;
	/** redis: AUTH password (NULL or empty: none) */
	const char *redis_password;
	/** redis: database number (SELECT; 0 default) */
	unsigned redis_db;
	/** redis: Sentinels, "host:port" separated by commas or spaces (NULL
	 * or empty: none; redis_address is then the primary) */
	const char *redis_sentinels;
	/** redis: the primary's name at the Sentinels (with redis_sentinels) */
	const char *redis_master_name;
	/** redis: AUTH password of the Sentinels (NULL or empty: none) */
	const char *redis_sentinel_password;
	/** redis: replicas a turn's writes must reach (WAIT) before they
	 * complete; 0: the primary's answer is enough */
	unsigned redis_wait_replicas;
	/** redis: how long WAIT waits, ms (0: 1000) */
	unsigned redis_wait_ms;
};

/**
 * Open a store with the backend c->backend names.
 *
 * @param sp Returns a new reference
 * @param c  The backend and its settings (borrowed)
 *
 * @return 0, EINVAL, ENOTSUP (no such backend in this build), ENOMEM, or
 *         the errno of opening the backend (lmdb: of the environment)
 */
int store_open(struct store **sp, const struct store_conf *c);

/** The longest redis_address (host:port) store_open() takes. */
enum { STORE_REDIS_ADDRESS_MAX = 255 };

/** The most Sentinels redis_sentinels may list. */
enum { STORE_SENTINELS_MAX = 8 };

/**
 * Split a Redis address: host:port, or [IPv6]:port (the brackets are
 * dropped). NULL or empty: 127.0.0.1:6379.
 *
 * @param addr  The address (borrowed)
 * @param host  Returns the host, NUL-terminated
 * @param hsize Size of host
 * @param port  Returns the port (1..65535)
 *
 * @return 0 or EINVAL
 */
int store_redis_address_parse(const char *addr, char *host, size_t hsize,
			      int *port);

/** True if this build has the backend name ("lmdb", "redis"). */
bool store_backend_known(const char *name);

/**
 * True while the store is full: a write was refused with ENOSPC, or a
 * value of the largest size (STORE_VALUE_MAX) would no longer fit short
 * of the reserve the backend keeps for acks and deletes, as its last
 * commit found. Each such refusal counts in
 * mobility_store_full_total and logs an error line (at most one each
 * STORE_FULL_LOG_MS, with the number refused meanwhile).
 *
 * @param s The store (borrowed; NULL: false)
 */
bool store_full(const struct store *s);

enum { STORE_FULL_LOG_MS = 10000 };

/*
 * Every operation below takes the same arguments:
 *
 *   s      the store (borrowed)
 *   ids    sid, subid, user, realm: NUL-terminated strings, borrowed and
 *          copied before the call returns; hash: hlen bytes, copied
 *   val    len bytes, borrowed and copied before the call returns
 *   h/arg  the completion; NULL for a write whose result does not matter
 *          (a read needs its handler)
 *   opp    optional: returns a new reference to a handle; dropping it
 *          cancels the callback (the caller drops it in any case)
 *
 * and returns 0 when the operation was queued (its handler will run from
 * the loop later), or at once EINVAL/EOVERFLOW (see the limits), ENOBUFS
 * (writes only: too many not completed) or ENOMEM, and then no handler
 * runs.
 */

/* Sessions */

/** Store the session record of sid (create or replace). */
int store_session_put(struct store *s, const char *sid, const uint8_t *val,
		      size_t len, store_done_h *h, void *arg,
		      struct store_op **opp);
/** Read the session record of sid (ENOENT if none). */
int store_session_get(struct store *s, const char *sid, store_get_h *h,
		      void *arg, struct store_op **opp);
/** Delete a session with its event log, subscriptions and history (one
 * commit). */
int store_session_del(struct store *s, const char *sid, store_done_h *h,
		      void *arg, struct store_op **opp);
/** Iterate over every session record (start-up): recordh once per session
 * (key = session id), then doneh. */
int store_session_load(struct store *s, store_rec_h *recordh,
		       store_done_h *doneh, void *arg, struct store_op **opp);

/* Tokens, by the hash of the token (never the token itself). */

/** Store a token: its hash maps to user until expires (in the caller's
 * clock; the store does not compare it). */
int store_token_put(struct store *s, const uint8_t *hash, size_t hlen,
		    const char *user, uint64_t expires, store_done_h *h,
		    void *arg, struct store_op **opp);
/** Same, with the time its renewals may not pass (until, 0: none). */
int store_token_put_until(struct store *s, const uint8_t *hash, size_t hlen,
			  const char *user, uint64_t expires, uint64_t until,
			  store_done_h *h, void *arg, struct store_op **opp);
/** Purge expired tokens, a bounded step of a sweep: look at the next
 * max (1..STORE_PURGE_MAX) token records after those the previous call
 * looked at (from the first again after the last) and delete those whose
 * expiry is <= now. Counted in mobility_store_tokens_purged_total. */
int store_token_purge(struct store *s, uint64_t now, uint32_t max,
		      store_done_h *h, void *arg, struct store_op **opp);
/** Read a token: its user and expiry (ENOENT if none). */
int store_token_get(struct store *s, const uint8_t *hash, size_t hlen,
		    store_token_h *h, void *arg, struct store_op **opp);
/** Delete a token (ENOENT if none). */
int store_token_del(struct store *s, const uint8_t *hash, size_t hlen,
		    store_done_h *h, void *arg, struct store_op **opp);

/* Event logs. */

/** Append event seq to a session's log; EEXIST if seq is taken. */
int store_event_append(struct store *s, const char *sid, uint64_t seq,
		       const uint8_t *val, size_t len, store_done_h *h,
		       void *arg, struct store_op **opp);
/** Read at most max (1..STORE_READ_MAX) events with seq >= from. */
int store_event_read(struct store *s, const char *sid, uint64_t from,
		     uint32_t max, store_events_h *h, void *arg,
		     struct store_op **opp);
/** Delete every event with seq <= upto (the client's ack). */
int store_event_ack(struct store *s, const char *sid, uint64_t upto,
		    store_done_h *h, void *arg, struct store_op **opp);

/* HA1 per user and realm. */

/** Store, read, delete the HA1 of user in realm. */
int store_ha1_put(struct store *s, const char *user, const char *realm,
		  const uint8_t *val, size_t len, store_done_h *h, void *arg,
		  struct store_op **opp);
int store_ha1_get(struct store *s, const char *user, const char *realm,
		  store_get_h *h, void *arg, struct store_op **opp);
int store_ha1_del(struct store *s, const char *user, const char *realm,
		  store_done_h *h, void *arg, struct store_op **opp);

/* Subscriptions per session, by subscription id. */

/** Store, read, delete one subscription of session sid. */
int store_sub_put(struct store *s, const char *sid, const char *subid,
		  const uint8_t *val, size_t len, store_done_h *h, void *arg,
		  struct store_op **opp);
int store_sub_get(struct store *s, const char *sid, const char *subid,
		  store_get_h *h, void *arg, struct store_op **opp);
int store_sub_del(struct store *s, const char *sid, const char *subid,
		  store_done_h *h, void *arg, struct store_op **opp);
/** Iterate over a session's subscriptions (key = subscription id). */
int store_sub_list(struct store *s, const char *sid, store_rec_h *recordh,
		   store_done_h *doneh, void *arg, struct store_op **opp);

/* History per session (conversations and missed events), by entry id:
 * the same operations as subscriptions, in a set of its own so that
 * neither has to skip the other's records. Deleted with the session. */

/** Store, delete one history entry of session sid. */
int store_hist_put(struct store *s, const char *sid, const char *hid,
		   const uint8_t *val, size_t len, store_done_h *h, void *arg,
		   struct store_op **opp);
int store_hist_del(struct store *s, const char *sid, const char *hid,
		   store_done_h *h, void *arg, struct store_op **opp);
/** Iterate over a session's history entries in the byte order of their
 * ids (key = entry id). */
int store_hist_list(struct store *s, const char *sid, store_rec_h *recordh,
		    store_done_h *doneh, void *arg, struct store_op **opp);

/* Ownership of a session's SIP side (docs/pool.md): one lease per
 * instance, renewed as one command, with the sessions listed under it;
 * each session has a fencing epoch, incremented on every change of owner.
 * The store remembers the epoch each acquire returned (per handle) and
 * every later write of that session from this handle carries it: the
 * backend refuses the whole write with ESTALE when the session's epoch
 * has moved on (another instance took it over). A session this handle
 * holds no epoch for is written unchecked (a single instance; lmdb).
 *
 * Lease operations take the common arguments below and run as reads:
 * after the writes issued before them in the same loop turn.
 *
 * lmdb (one instance): every acquire succeeds with epoch 1, renewals and
 * releases succeed, nothing ever lapses. */

enum { STORE_LAPSED_MAX = 1000 }; /**< sessions in one lapsed listing */

/** A lease was acquired: epoch of the session now held (err 0), or
 * EBUSY (another instance's lease is alive), ENOLCK (this instance's own
 * lease is not alive: renew it first). */
typedef void(store_lease_h)(int err, uint64_t epoch, void *arg);

/** Renew the lease of instance inst for ms (> 0) milliseconds from when
 * the store receives it: 0, or ENOENT when there was none alive (the
 * first one, or it lapsed: it exists again now, but the instance must
 * acquire again every session it held, as another may have taken them).
 * The instance stops all SIP for its sessions when a renewal has not
 * been confirmed well before ms after it was sent (docs/pool.md). */
int store_lease_renew(struct store *s, const char *inst, uint32_t ms,
		      store_done_h *h, void *arg, struct store_op **opp);
/** End the lease of instance inst at once (drain, a lost lease, the
 * start of an instance of that name) and release every session still
 * listed under it, in one step: they are listed for takeover from now
 * on, also once inst holds a new lease (a released session is listed
 * whoever's lease is alive). 0 or ENOENT (no lease was alive; the
 * sessions are released all the same). */
int store_lease_drop(struct store *s, const char *inst, store_done_h *h,
		     void *arg, struct store_op **opp);
/** Make instance inst the owner of session sid: unowned, released, or
 * its owner's lease lapsed (epoch + 1), or already inst (same epoch). */
int store_lease_acquire(struct store *s, const char *sid, const char *inst,
			store_lease_h *h, void *arg, struct store_op **opp);
/** Release session sid held by inst, for another instance to take it
 * (the epoch stays; the next owner's is one more): 0 or ESTALE (inst
 * does not hold it). This handle's writes of sid are no longer fenced. */
int store_lease_release(struct store *s, const char *sid, const char *inst,
			store_done_h *h, void *arg, struct store_op **opp);
/** List at most max (1..STORE_LAPSED_MAX) sessions to take over:
 * released, or owned by an instance whose lease lapsed, picked at random
 * so that several instances taking over spread out. recordh once per
 * session (key = session id, value = the lapsed owner, empty if
 * released), then doneh. A listed session stays listed until acquired. */
int store_lease_lapsed(struct store *s, uint32_t max, store_rec_h *recordh,
		       store_done_h *doneh, void *arg, struct store_op **opp);

/* Forwarding (docs/pool.md "Forwarding"): a request for a session held
 * by another instance is sent to that instance's URL. */

/** The owner of a session: inst ("" once released), the URL it
 * published ("" if none), alive (its lease is). err ENOENT: the session
 * has no owner key; ENOTSUP: lmdb (one instance). inst and url are
 * borrowed for the call, NUL-terminated. */
typedef void(store_owner_h)(int err, const char *inst, const char *url,
			    bool alive, void *arg);

/** Look up the owner of session sid (one script: owner key, its lease,
 * its URL). */
int store_lease_owner(struct store *s, const char *sid, store_owner_h *h,
		      void *arg, struct store_op **opp);
/** Publish url (at most STORE_URL_MAX bytes) as where instance inst is
 * reached by its peers (at start; no expiry). lmdb: ENOTSUP. */
int store_instance_url_set(struct store *s, const char *inst, const char *url,
			   store_done_h *h, void *arg, struct store_op **opp);

/** A write of session sid (borrowed, NUL-terminated) from a handle that
 * holds it under an epoch was refused with ESTALE: another instance owns
 * it now. Called once per refused write, before the write's own
 * completion (also for writes issued without one: acks, history). It
 * must not drop the store. */
typedef void(store_fenced_h)(const char *sid, void *arg);

/** Set (h NULL: clear) the one handler of refused (fenced) writes. */
void store_fenced_listen(struct store *s, store_fenced_h *h, void *arg);

/* The doorbell: an event appended to a session's log rings the instances
 * watching that session (redis: PUBLISH on mob:{SID}:bell by the write
 * script, SUBSCRIBE on a second connection; lmdb: in this process, after
 * the append's completion). A ring may be lost (a connection lost, a
 * switch of primary): a watcher re-reads on a timer as well. */

/** The doorbell rang for sid (borrowed, NUL-terminated): the event seq
 * was appended, or seq 0: events may have been missed (the doorbell's
 * connection was made again); read the log. */
typedef void(store_bell_h)(const char *sid, uint64_t seq, void *arg);

/** Set (h NULL: clear) the one doorbell handler of this store. */
void store_bell_listen(struct store *s, store_bell_h *h, void *arg);
/** Watch, unwatch session sid (counted: as many unwatches as watches).
 * Returns 0, EINVAL, EOVERFLOW or ENOMEM. */
int store_bell_watch(struct store *s, const char *sid);
void store_bell_unwatch(struct store *s, const char *sid);

#endif
