/**
 * @file refresh.h  The refresh machine of REGISTER, PUBLISH and
 * SUBSCRIBE (private to src/sipua)
 *
 * What a registration (reg.c), a publication (pub.c) and a subscription
 * (sub.c) have in common lives here once: when the next request goes
 * (the first one, a refresh before what was granted runs out, a retry
 * after a failure), the turn it takes on the one flow to the Front End
 * (ua.c), the requested expiry and RFC 3261 10.2.8 423 Min-Expires, the
 * back-off, the end of the ua (orphaning) and the loss of the flow. What
 * differs stays with the user, declared in a struct sipua_refresh_class:
 * the method, how a request is built and sent (headers, body, dialog),
 * what a 2xx means and which failures are final.
 *
 * States of one machine (sipua_refresh_state() tells which):
 *
 *   IDLE     nothing scheduled: before the first start, after a final
 *            answer until the user decides, or after a refusal that is
 *            not retried (REGISTER with bad credentials)
 *   WAITING  the wheel entry runs; at its expiry the request is due
 *   QUEUED   due, waiting for a turn on the flow (REGISTERs ahead); the
 *            turn comes back to the same place as the wheel
 *   BUSY     the class's send_h sent a request, which holds the turn
 *            until sipua_refresh_done() (a digest answer keeps it)
 *   CLOSED   ended for good (sipua_refresh_close()): nothing is sent
 *   ORPHAN   the ua went first (sipua_refresh_orphan()): the owner's
 *            object stays valid and does nothing more
 *
 *   IDLE    --start/now/retry-->           WAITING
 *   WAITING --expiry, no turn-->           QUEUED --turn--> (due)
 *   WAITING --expiry, turn held--> send_h  BUSY (or, send_h failing:
 *                                          WAITING at the back-off)
 *   BUSY    --done-->                      IDLE, then the user calls one
 *           of: granted (2xx: WAITING at 50-90% of the grant, failures
 *           forgotten), min_expires (423 taken: WAITING at 0, once in a
 *           row), retry_later (WAITING at the back-off, 1 s doubling to
 *           60 s, 50-100%), close (CLOSED), or nothing (IDLE)
 *   any but CLOSED/ORPHAN --flow lost--> WAITING at i * 20 ms (spread
 *           over a minute at most), except the BUSY ones of a class
 *           whose requests outlive the flow (REGISTER: left alone; its
 *           QUEUED ones keep their place in line)
 *
 * A retry (back-off, 423, flow lost) first forgets the request in
 * flight: the machine's own (treq, for the users that send through
 * treq.c: REGISTER, PUBLISH), then what the class's drop_h holds (a
 * dialog); the next request starts afresh. Loop thread only.
 */
#ifndef MOB_SIPUA_REFRESH_H
#define MOB_SIPUA_REFRESH_H

#include "sipua_int.h"

enum {
	SIPUA_EXPIRES_DEFAULT_S = 600, /* asked when the caller gives 0  */
	SIPUA_EXPIRES_MIN_S = 10,      /* the least we ask               */
	SIPUA_EXPIRES_MAX_S = 86400,   /* the most we ask or take        */
	SIPUA_FLOW_STEP_MS = 20,       /* flow lost: one request per step */
	SIPUA_FLOW_SPREAD_MS = 60000,  /* ... over at most a minute      */
};

/*
 * Timing: refresh at 50-90% of what was granted (RFC 3261 10.2.4 leaves
 * the margin to us; a random point spreads many sessions over time), and
 * after a failure back off 1 s doubling up to a minute, at 50-100% of the
 * step (the RFC 5626 4.5 shape, with a short base: a gateway has one
 * Front End and many users waiting).
 */
enum {
	SIPUA_REFRESH_MIN_PCT = 50,
	SIPUA_REFRESH_MAX_PCT = 90,
	SIPUA_RETRY_BASE_MS = 1000,
	SIPUA_RETRY_MAX_MS = 60000,
};

enum sipua_refresh_state {
	SIPUA_RF_IDLE,
	SIPUA_RF_WAITING,
	SIPUA_RF_QUEUED,
	SIPUA_RF_BUSY,
	SIPUA_RF_CLOSED,
	SIPUA_RF_ORPHAN,
};

/* The request is due and holds a turn: send it (0: BUSY until done) */
typedef int(sipua_refresh_send_h)(void *arg);
/* send_h failed with err; the back-off is already scheduled */
typedef void(sipua_refresh_fail_h)(int err, void *arg);
/* Forget the request in flight (and what it made, e.g. a dialog) */
typedef void(sipua_refresh_drop_h)(void *arg);
/* The flow was lost; a new request is scheduled */
typedef void(sipua_refresh_lost_h)(void *arg);
/* Forget the request in flight, keep what it made (the dialog) */
typedef void(sipua_refresh_stop_h)(void *arg);
/* Drain, with a turn held: send the removal (expiry 0) whose answer
 * calls sipua_refresh_removed(); ENOENT: nothing to remove */
typedef int(sipua_refresh_remove_h)(void *arg);

/** What differs between REGISTER, PUBLISH and SUBSCRIBE. */
struct sipua_refresh_class {
	const char *method;
	bool first;         /**< its turns go ahead (REGISTER)          */
	bool keep_on_loss;  /**< flow lost: BUSY ones go on, QUEUED keep */
	uint32_t floor_ms;  /**< a refresh never sooner than this        */
	uint32_t offset_ms; /**< added to the refresh point              */
	sipua_refresh_send_h *sendh; /**< required                      */
	sipua_refresh_fail_h *failh; /**< or NULL                       */
	sipua_refresh_drop_h *droph; /**< or NULL                       */
	sipua_refresh_lost_h *losth; /**< or NULL                       */
	sipua_refresh_stop_h *stoph; /**< drain: forget what the user holds in
					flight (NULL: only treq) */
	sipua_refresh_remove_h *removeh; /**< or NULL: never drained    */
};

/** One machine, embedded in its user's object. */
struct sipua_refresh {
	struct le le;           /**< in the ua's list of the class       */
	struct sipua *ua;       /**< borrowed; NULL once orphaned        */
	struct wheel_entry we;  /**< next request                        */
	struct sipua_turn turn; /**< on the flow (ua.c)                  */
	const struct sipua_refresh_class *cls; /**< borrowed (static)   */
	void *arg;        /**< the user's object, given to the hooks   */
	uint32_t expires; /**< requested seconds                       */
	uint32_t failc;   /**< failures since the last 2xx             */
	bool busy;        /**< a request in flight holds the turn      */
	bool closed;      /**< ended for good                          */
	bool min_expires_retried; /**< a 423 was taken since the last 2xx */
	bool removing; /**< drain: removal queued or in flight (drain.c) */
	bool rm_sent;  /**< drain: the removal went out                 */

	/** the request in flight, for the users that send through treq.c
	 * (REGISTER, PUBLISH); forgotten by the machine, or NULL */
	struct sipua_treq *treq;
};

/**
 * Set up a machine (IDLE) and append it to l (a list of the ua; its
 * entries' data is arg). expires 0: SIPUA_EXPIRES_DEFAULT_S; clamped to
 * [SIPUA_EXPIRES_MIN_S, SIPUA_EXPIRES_MAX_S].
 */
void sipua_refresh_init(struct sipua_refresh *rf, struct sipua *ua,
			struct list *l, const struct sipua_refresh_class *cls,
			uint32_t expires, void *arg);
/** The owner's destructor: cancel, give back the turn, unlink, the
 * request in flight (treq) forgotten. */
void sipua_refresh_stop(struct sipua_refresh *rf);
/** The ua goes first: the request in flight (treq) forgotten, cancel,
 * give back the turn, unlink, ORPHAN. */
void sipua_refresh_orphan(struct sipua_refresh *rf);

/** Due now, from the wheel (never inside this call). */
void sipua_refresh_now(struct sipua_refresh *rf);
/** Due now: take a turn and send inside this call if one is free,
 * else QUEUED. Returns send_h's error (nothing is retried). */
int sipua_refresh_send(struct sipua_refresh *rf);

/** The request's final answer came (or it was dropped): the turn goes
 * to the next, BUSY -> IDLE. */
void sipua_refresh_done(struct sipua_refresh *rf);

/** The final answer to the request in flight (treq) came: it is
 * forgotten and the machine is done (sipua_refresh_done()).
 * @return the CSeq the next request of the dialog takes */
uint32_t sipua_refresh_treq_done(struct sipua_refresh *rf);

/**
 * A 2xx granted exp seconds: failures are forgotten and the refresh
 * falls at 50-90% of exp (plus the class offset, at least its floor;
 * cap_ms, if not 0, is the latest). Returns exp capped at
 * SIPUA_EXPIRES_MAX_S.
 */
uint32_t sipua_refresh_granted(struct sipua_refresh *rf, uint32_t exp,
			       uint64_t cap_ms);
/** The next refresh at 50-90% of exp, as the peer counts it (a
 * NOTIFY's expires), failures not forgotten. */
void sipua_refresh_schedule(struct sipua_refresh *rf, uint32_t exp);

/**
 * RFC 3261 10.2.8: a 423 with a Min-Expires above what we asked and not
 * above SIPUA_EXPIRES_MAX_S is taken once in a row (until the next 2xx):
 * the expiry asked becomes it and the request goes again at once.
 * @return true when taken (the request is scheduled), false otherwise
 */
bool sipua_refresh_min_expires(struct sipua_refresh *rf,
			       const struct sip_msg *msg);

/** A failure to retry: drop, then WAITING at the next back-off. */
void sipua_refresh_retry_later(struct sipua_refresh *rf);
/** Drop, then WAITING at delay_ms (failures not counted). */
void sipua_refresh_retry(struct sipua_refresh *rf, uint64_t delay_ms);
/** Ended for good: cancel, give back the turn, CLOSED. */
void sipua_refresh_close(struct sipua_refresh *rf);

/**
 * The flow to the Front End was lost (RFC 5626 4.4.1): every machine of
 * l (entries set up by sipua_refresh_init) goes again, one every
 * SIPUA_FLOW_STEP_MS (spread over SIPUA_FLOW_SPREAD_MS at most).
 */
void sipua_refresh_flow_lost(struct list *l);

/**
 * Drain (drain.c): end the machine (CLOSED: no refresh any more, the
 * request in flight forgotten: the machine's treq and what the class's
 * stoph drops) and queue its removal, which goes with a turn like any
 * bulk request, so that at most SIPUA_INFLIGHT_MAX removals are
 * outstanding. Counted in the drain.
 */
void sipua_refresh_remove(struct sipua_refresh *rf);
/** The removal's final answer came (err 0: removed): turn given back,
 * counted in the drain. */
void sipua_refresh_removed(struct sipua_refresh *rf, int err);
/**
 * For the owner's destructor: true when a detached removal is still to
 * be sent (the drain did not send it and did not give up).
 */
bool sipua_refresh_unremoved(const struct sipua_refresh *rf);

/**
 * Forget one machine (its session moves to another instance): stopped
 * where it is as sipua_halt() stops all, and its owner's destructor
 * sends no removal.
 */
void sipua_refresh_forget(struct sipua_refresh *rf);

/** The state of a machine, for tests and logs. */
enum sipua_refresh_state sipua_refresh_state(const struct sipua_refresh *rf);

#endif
