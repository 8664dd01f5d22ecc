/**
 * @file ucwa.h  The mobility API: /ucwa/oauth/v1/applications/...
 *
 * Every request carries a bearer token from the token service; every
 * resource is visible to its owner only (another user's application id
 * answers 404, exactly as an id that does not exist).
 *
 *   POST   applications         create (one per device: endpointId)
 *   GET    applications/<id>    the application resource
 *   DELETE applications/<id>    end it (un-REGISTER, forget its events)
 *   GET    applications/<id>/events?ack=N   the event channel
 *   PUT    applications/<id>/pushRegistration  where to wake the app
 *
 * A session lives session_expiration ([service]) after the client's last
 * request when it has a push registration, session_short_expiration when
 * it has none; then it ends as a DELETE would.
 */
#ifndef MOB_UCWA_H
#define MOB_UCWA_H

#include "core.h"
#include "session.h"
#include "web.h"

struct conf;
struct sipua;
struct store;
struct auth;

/** Named limits. */
enum {
	UCWA_APPS_PER_USER = 10, /* applications of one user              */
	UCWA_FIELD_MAX = SESSION_FIELD_MAX, /* culture, endpointId, userAgent */
	UCWA_ID_LEN = 22,    /* application id: 128 random bits, b64url */
	UCWA_NOTE_MAX = 500, /* characters of a presence note         */
	UCWA_URI_MAX =
	    SESSION_URI_MAX,      /* bytes of a SIP URI given by a client */
	UCWA_MESSAGE_MAX = 16384, /* bytes of one instant message          */
	UCWA_CONVS_MAX = 100,     /* live conversations of one application  */
	UCWA_CONVS_KEPT = 16,     /* ended ones still readable (history: all) */
	UCWA_LOCATION_MAX = 60,   /* characters of a location (PROTOCOL.md) */
	UCWA_INACTIVE_DEFAULT = 5, /* minutes to Idle (makeMeAvailable) */
	UCWA_INACTIVE_MAX = 1440,  /* minutes                             */
	UCWA_PSUBS_MAX = 32,       /* presence subscriptions of one app   */
	UCWA_WATCHED_MAX = 300,    /* contacts one app follows at once    */
	UCWA_PSUB_URIS_MAX = 100,  /* URIs in one subscribe request       */
	/* contacts in one presence subscription: its store record (about
	 * 260 bytes each) stays under REPR_IN_MAX_BYTES to be read back */
	UCWA_PSUB_MEMBERS_MAX = 200,
	UCWA_CALLS_MAX = 4,   /* incoming calls ringing at once, each app */
	UCWA_CALLS_KEPT = 16, /* ended calls still readable, each app     */
	UCWA_PSUB_MINUTES_MIN = 10, /* presence subscription duration     */
	UCWA_PSUB_MINUTES_MAX = 30,
	/* history (conversationLogs): entries kept per application, their
	 * age, and the bytes of a message's text kept with them */
	UCWA_HIST_CONVS_MAX = SESSION_HIST_CONVS_MAX,
	UCWA_HIST_MISSED_MAX = SESSION_HIST_MISSED_MAX,
	UCWA_HIST_TEXT_MAX = SESSION_HIST_TEXT_MAX,
	/* messages of one application whose 200 may not have reached the
	 * Front End, kept to recognise its offline store's copy (conv.c) */
	UCWA_REDELIVERY_MAX = SESSION_REDELIVERY_MAX,
	/* the copy's Date (when the Front End stored it) is this close to
	 * the message's arrival here */
	UCWA_REDELIVERY_WINDOW_MS = SESSION_REDELIVERY_WINDOW_MS,
	/* a 200 later than this after the MESSAGE came may be too late for
	 * the Front End's transaction (Kamailio's fr_timer: 10 s here) */
	UCWA_ANSWER_LATE_MS = 5000,
	/* a session brought back after a crash registers once more this
	 * long after: past SIP's Timer F (32 s), every transaction the
	 * Front End had toward the dead process has ended, and the messages
	 * it stored from them are handed over on that REGISTER */
	UCWA_RESTORED_REREGISTER_MS = 40000,
	/* a push registration: bytes of a device token (APNs: hex; FCM
	 * registration tokens are about 160) and of an APNs topic (a
	 * bundle id, ".voip" is added for calls) or an FCM project id */
	UCWA_PUSH_TOKEN_MAX = 512,
	UCWA_PUSH_TOPIC_MAX = 155,
};

/** History entries older than this are dropped: 30 days. */
#define UCWA_HIST_AGE_MS SESSION_HIST_AGE_MS

#define UCWA_BASE "/ucwa/oauth/v1/applications"

struct ucwa;

/**
 * Allocate the API.
 *
 * @param up   Returns a new reference
 * @param conf Configuration (takes a reference)
 * @param w    Timer wheel (takes a reference)
 * @param ua   SIP user agent (takes a reference)
 * @param st   Store (takes a reference)
 * @param a    Token service (takes a reference)
 */
int ucwa_alloc(struct ucwa **up, struct conf *conf, struct wheel *w,
	       struct sipua *ua, struct store *st, struct auth *a);

struct push;

/**
 * Wake sleeping apps through this push service (their push registration)
 * and accept registrations for the providers it has credentials for.
 *
 * @param u    The API
 * @param push Push service (takes a reference), or NULL for none
 */
void ucwa_set_push(struct ucwa *u, struct push *push);

/**
 * Bring back every application kept in the store (start-up, after a
 * restart or a crash): each registers again with its own instance.
 */
int ucwa_load(struct ucwa *u);

/**
 * Take over one session (a pool instance that acquired its lease:
 * docs/pool.md): its stored record rec (borrowed) is brought back as at
 * start-up: its events read, registered again with the same
 * +sip.instance and reg-id (the Front End replaces the old flow),
 * subscribed and published again. The ready handler is called once it
 * is routable, or failed.
 *
 * @return 0, EALREADY (it is here already), ENOENT (its lifetime was
 *         over: ended and deleted, no ready call), or an error
 */
int ucwa_take(struct ucwa *u, const uint8_t *rec, size_t len);

/** An application brought back (ucwa_load, ucwa_take) is routable: its
 * events are back and its REGISTER is sent (err 0); or it failed. id is
 * borrowed. */
typedef void(ucwa_ready_h)(const char *id, int err, void *arg);

/** Set the one ready handler (NULL: none). */
void ucwa_set_ready_handler(struct ucwa *u, ucwa_ready_h *h, void *arg);

/** True when application id (NUL-terminated) is in memory here and
 * routable (not being brought back). */
bool ucwa_holds(struct ucwa *u, const char *id);

/**
 * Drop every application from this instance's memory (the pool lease
 * was lost: docs/pool.md), sending no SIP and leaving the store as it
 * is: the next owners take the sessions over from it. Parked P-GETs are
 * answered 503 with Retry-After: 1.
 *
 * @return Applications forgotten
 */
uint32_t ucwa_forget_all(struct ucwa *u);

/**
 * A request for application id, not held by this process (a pool: it
 * may be another instance's), authenticated as user. Return true to
 * take the request (answer it now or later), false to answer 404.
 *
 * @param req  The request (borrowed; take a reference to keep it)
 * @param id   The application id, as in the path (borrowed)
 * @param user The authenticated user (borrowed for the call)
 */
typedef bool(ucwa_remote_h)(struct web_req *req, const struct pl *id,
			    const char *user, void *arg);

/** Set (h NULL: clear) the handler of requests for applications not
 * here (docs/pool.md "Forwarding"). */
void ucwa_set_remote(struct ucwa *u, ucwa_remote_h *h, void *arg);

/**
 * Route a request already authenticated as user here, never to the
 * remote handler: an application not here answers 404 (after a takeover
 * brought it here, or when the store says there is none).
 */
void ucwa_route_here(struct ucwa *u, struct web_req *req, const char *user);

/** An application's id (borrowed, valid during the call). */
typedef void(ucwa_id_h)(const char *id, void *arg);

/** Call fn with the id of every application held here (the drain of a
 * pool instance lists what it hands over). fn must not forget any. */
void ucwa_each_id(struct ucwa *u, ucwa_id_h *fn, void *arg);

/**
 * Forget one application as ucwa_forget_all() does (no SIP sent, the
 * store left to the next owner).
 *
 * @return 0, or ENOENT when it is not held here (any more)
 */
int ucwa_forget_id(struct ucwa *u, const char *id);

/** Handle a request under UCWA_BASE; false if the path is not ours. */
bool ucwa_handle(struct ucwa *u, struct web_req *req);

#endif
