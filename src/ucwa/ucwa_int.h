/**
 * @file ucwa_int.h  Private declarations of the mobility API
 */
#ifndef MOB_UCWA_INT_H
#define MOB_UCWA_INT_H

#include "ucwa.h"
#include "auth.h"
#include "push.h"
#include "web_route.h"
#include "session.h"
#include "hist.h"

struct sipua_id;
struct sipua_sreq;
struct xcap_client;
struct repr;
struct repr_in;
struct sipua_inmsg;

struct ucwa {
	struct conf *conf;
	struct wheel *wheel;
	struct sipua *ua;
	struct store *st;
	struct auth *auth;
	struct hash *apps;   /* struct app by id                 */
	struct hash *users;  /* struct uapps by user              */
	struct list closing; /* struct app closed, not yet freed */
	size_t n;
	struct metric *m_apps;
	struct metric *m_expired; /* sessions ended by their lifetime */
	struct push *push;        /* NULL: no provider available      */
	struct session_ctx sctx;  /* what the sessions share          */
	/* a pool instance ([store] redis_instance): sessions are acquired
	 * under its lease; NULL otherwise */
	const char *inst;
	ucwa_ready_h *readyh; /* a session brought back is routable */
	void *ready_arg;
	ucwa_remote_h *remote; /* applications not here (a pool)   */
	void *remote_arg;
	struct ucwa_fence *fence; /* sessions taken over (fence.c)    */
};

/* The applications of one user. */
struct uapps {
	struct le he;
	struct list apps; /* struct app */
	char user[AUTH_USER_MAX + 1];
};

/* What the user chose (POST presence); the reported value also depends
 * on activity (idle, away). */
enum avail {
	AVAIL_ONLINE,
	AVAIL_BUSY,
	AVAIL_DND,
	AVAIL_BRB,
	AVAIL_AWAY,
	AVAIL_OFFWORK,
};

enum activity {
	ACTIVE,
	IDLE,     /* no reportMyActivity for inactiveTimeout      */
	INACTIVE, /* ... for twice that: Away                       */
};

/* The user's own presence in this application (me.c). */
struct me {
	bool available; /* makeMeAvailable done          */
	enum avail avail;
	enum activity activity;
	uint32_t inactive_ms; /* inactiveTimeout               */
	struct wheel_entry idle;
	/* NULL or a string of at most 4 * UCWA_NOTE_MAX and 4 *
	 * UCWA_LOCATION_MAX bytes: most sessions set neither, and two
	 * buffers took 2.2 KiB of every session */
	char *note, *location;
	/* a new note or location whose record write is not committed
	 * yet: stored records carry it, the app and the Front End see it
	 * only once committed (a 503 leaves the old one) */
	char *note_new, *location_new;
	bool note_saving, location_saving;
};

/* One conversation of an application (conv.c): IM in page mode, each
 * message a SIP MESSAGE (RFC 3428). */
/* The last messages of a conversation a GET of messages/<n> answers
 * (older ones are gone: 410); their text is not kept (the history
 * keeps the last one). */
enum { UCWA_CONV_MSGS = 8 };

enum msg_status {
	MSG_PENDING,
	MSG_SUCCESS,
	MSG_FAILURE,
};

struct conv_msg {
	unsigned n; /* its number, messages/<n>; 0: slot unused */
	uint64_t time_ms;
	bool incoming;
	enum msg_status status;
};

struct conv {
	struct le le; /* in app->convs */
	struct app *app;
	unsigned n;                  /* its number: conversations/<n>     */
	char peer[UCWA_URI_MAX + 1]; /* sip:bob@example.test               */
	char subject[4 * UCWA_FIELD_MAX + 1];
	char href[128 + UCWA_ID_LEN]; /* .../communication/conversations/n */
	char inv_href[128 + UCWA_ID_LEN]; /* .../messagingInvitations/n       */
	bool incoming;
	bool accepted; /* incoming: the app accepted or answered       */
	bool ended;
	unsigned nmsg;     /* messages so far (their numbers)              */
	struct list sends; /* struct send: MESSAGEs in flight          */
	struct conv_msg msgs[UCWA_CONV_MSGS]; /* by n % UCWA_CONV_MSGS */

	uint64_t hid;       /* its history entry (hist.c); 0: none yet */
	uint64_t first_seq; /* incoming: the event that began it       */
	char *first_text;   /* incoming: the invitation's first message,
			       given again as a message event at accept */
	uint64_t active;    /* tmr_jiffies() of its last message       */
};

/* An application: its session (src/session: lifetime, push
 * registration, numbering, ack cursor, quota) and what HTTP and SIP need
 * of it here. */
struct app {
	struct session s;  /* the session's state (session.h)        */
	struct le he;      /* in ucwa->apps                          */
	struct le le_user; /* in its struct uapps                    */
	struct ucwa *u;
	char id[UCWA_ID_LEN + 1];
	/* user@domain, at its length (at most AUTH_USER_MAX bytes): a
	 * buffer of that size was 256 bytes of every session */
	char *user;
	/* strings of at most 4 * UCWA_FIELD_MAX bytes, at their length:
	 * three buffers of that size took 1.2 KiB of every session */
	char *endpoint, *culture, *agent;
	char instance[37];
	char href[64 + UCWA_ID_LEN];
	uint64_t created_ms;
	struct evchan *ev;
	struct sipua_reg *reg;
	struct store_op *op;
	struct web_req *pending; /* the create request until its 201 */
	struct tmr close_tmr;
	bool deleting; /* DELETE waiting for its commit: nothing is written */
	struct me me;
	char ha1[33];           /* for the digest of its requests          */
	struct sipua_pub *pub;  /* its presence at the Front End        */
	struct xcap_client *xc; /* the user's XCAP documents            */
	uint64_t last_active_ms;
	struct list convs; /* struct conv                             */
	unsigned nconv;
	struct list psubs;        /* struct psub: presence subscriptions    */
	struct list watched;      /* struct watched: contacts followed      */
	unsigned psub_next;       /* id of the last presence subscription   */
	struct store_op *psub_op; /* reading them back (restart)       */
	struct list saves;        /* record writes in flight (app.c)      */
	struct list calls;        /* struct call: incoming calls (call.c) */

	struct list wakes; /* pushes in flight (pushreg.c)            */
	bool acquired;     /* created under the pool lease            */
	bool want_ready;   /* brought back: u->readyh not called yet  */
};

/* Bytes of a path the API makes (a contact's: the application's, then
 * /people/contacts/ and the percent-encoded URI). */
#define UCWA_HREF_MAX 1024

/* post.c */
struct repr_event;
/* Post ev (borrowed) on app's event channel, with the priority of its
 * sender (ev->sender_rel: communication, conversation, me or people).
 * ev->sender_href NULL: the app's own resource of that name (not for a
 * conversation). The channel takes a reference to ev->embedded. mark:
 * the event's sequence in the store, 0 for none. Returns 0, EINVAL (an
 * unknown sender), EOVERFLOW or evchan_post()'s error. */
int ucwa_post(struct app *app, uint64_t mark, const struct repr_event *ev);

/* ucwa.c: the registry */
void ucwa_app_add(struct ucwa *u, struct app *app);
struct app *ucwa_app_find(struct ucwa *u, const struct pl *id);
/* A brought back application is routable (err 0) or failed: the ready
 * handler is told, once. */
void ucwa_app_ready(struct app *app, int err);
void ucwa_app_close(struct app *app);
struct app *ucwa_app_by_endpoint(struct ucwa *u, const char *user,
				 const char *endpoint);
size_t ucwa_user_apps(struct ucwa *u, const char *user);
/* The application's SIP identity (user is the buffer for its user part). */
void ucwa_app_sipid(const struct app *app, char *user, size_t size,
		    struct sipua_id *id);

/* fence.c: a write refused with ESTALE (another instance took the
 * session over) forgets the session once, from the loop */
int ucwa_fence_alloc(struct ucwa *u);
void ucwa_fence_close(struct ucwa *u);

/* me.c */
/* Route handlers (web_route.h; arg is the application): me, GET;
 * makeMeAvailable, POST; reportMyActivity, POST; presence, note and
 * location, GET and POST. */
web_route_h ucwa_me_get, ucwa_me_available, ucwa_me_activity;
web_route_h ucwa_me_presence, ucwa_me_note, ucwa_me_location;
void ucwa_me_close(struct app *app);
/* The me state in the application's stored record, and back. */
int ucwa_me_encode(struct repr *r, const struct app *app);
void ucwa_me_decode(struct app *app, const struct repr_in *in);
/* After a restart: timers again, and the presence published again. */
void ucwa_me_resume(struct app *app);

/* people.c */
/* Route handlers: people; contacts (GET, POST); contacts/{uri} (GET,
 * DELETE) and its contactPrivacyRelationship (GET, POST); groups,
 * groups/{group} and groups/{group}/contacts. */
web_route_h ucwa_people_get, ucwa_contacts_get, ucwa_contacts_post;
web_route_h ucwa_contact_get, ucwa_contact_delete;
web_route_h ucwa_privacy_get, ucwa_privacy_post;
web_route_h ucwa_groups_get, ucwa_group_get, ucwa_group_contacts_get;
/* The application's XCAP client, made when first needed; NULL when no
 * XCAP server is configured. */
struct xcap_client *ucwa_xcap(struct app *app);
/* Path of a contact: <app>/people/contacts/<percent-encoded uri>;
 * EOVERFLOW if it does not fit in size. */
int ucwa_contact_href(char *buf, size_t size, const struct app *app,
		      const char *uri);
/* A contact URI from the path (encoded) or a body: sip:user@domain. */
bool ucwa_contact_uri(char *out, size_t size, const struct pl *in,
		      bool encoded);
/* The contact resource (name may be NULL). */
struct repr *ucwa_contact_repr(const struct app *app, const char *uri,
			       const char *name);

/* cpres.c: the presence of the contacts an application follows */
struct watched;
/* An event from "people" (medium priority: presence). */
void ucwa_people_post(struct app *app, const char *type, const char *rel,
		      const char *href, const char *in_rel, const char *in_href,
		      struct repr *emb);
/* The contact's entry (with its own SIP subscription when subscribe is
 * true; else a list subscription feeds it); EOVERFLOW past
 * UCWA_WATCHED_MAX. An entry nobody holds is freed soon after (not within
 * the call). */
int ucwa_watch(struct watched **wp, struct app *app, const char *uri,
	       bool subscribe);
struct sipua_presence;
/* News of the contact from a NOTIFY (its own or a list's). */
void ucwa_watched_notify(struct watched *w, const struct sipua_presence *v);
/* Its subscription ended (err as sipua_sub_close_h). */
void ucwa_watched_ended(struct watched *w, int err);
struct watched *ucwa_watched_find(const struct app *app, const char *uri);
void ucwa_watched_hold(struct watched *w);
void ucwa_watched_release(struct watched *w);
const char *ucwa_watched_uri(const struct watched *w);
/* Post its presence again (to a new subscriber) if it is known. */
void ucwa_watched_announce(struct watched *w);
void ucwa_watched_close_all(struct app *app);
/* The session moves to another instance: its subscriptions send nothing
 * more (sipua_sub_forget()). */
void ucwa_watched_forget_all(struct app *app);
/* Route handlers: GET subscribedContacts; GET contacts/{uri}/{what},
 * what one of contactPresence, contactNote, contactLocation. */
web_route_h ucwa_psub_contacts, ucwa_contact_state;

/* psub.c: presence subscriptions */
/* Route handlers: presenceSubscriptions (GET, POST); one of them,
 * {id} (GET, POST, DELETE); its memberships and memberships/{name*}
 * (GET); its addToPresenceSubscription (POST). */
web_route_h ucwa_psubs_get, ucwa_psubs_post, ucwa_psub_one;
web_route_h ucwa_psub_memberships, ucwa_psub_membership, ucwa_psub_add;
void ucwa_psub_close_all(struct app *app);
/* The session moves: its list and contact subscriptions send nothing
 * more, and its lists stay on the XCAP server (the next owner's). */
void ucwa_psub_forget_all(struct app *app);
/* Bring back the stored presence subscriptions (after a restart). */
void ucwa_psub_restore(struct app *app);

/* conv.c */
/* Route handlers (arg is the application): communication (GET);
 * messagingInvitations (POST starts one); messagingInvitations/{n} (GET)
 * and its accept and decline (POST); conversations/{n} (GET, a call's
 * too), its participants and participants/{uri} (GET), messaging (GET),
 * messaging/messages (POST sends), messaging/messages/{msg} (GET) and
 * messaging/stopMessaging (POST). A missing conversation is a 404. */
web_route_h ucwa_comm_get, ucwa_msginv_post, ucwa_msginv_get;
web_route_h ucwa_msginv_accept, ucwa_msginv_decline;
web_route_h ucwa_conv_get, ucwa_participants_get, ucwa_participant_get;
web_route_h ucwa_messaging_get, ucwa_messages_post, ucwa_message_get;
web_route_h ucwa_stop_messaging;
void ucwa_conv_close_all(struct app *app);
void ucwa_incoming(struct sipua_sreq *sr, const struct sipua_inmsg *in,
		   void *arg);
/* A stored incoming message (event seq of the store's log) becomes its
 * events: at arrival, and again after a restart. */
int ucwa_conv_deliver(struct app *app, uint64_t seq, const char *from,
		      const char *text, uint64_t time_ms);

/* A conversation with a number it had before a restart (hist.c); NULL if
 * there are too many. */
struct conv *ucwa_conv_restore(struct app *app, unsigned n, const char *peer,
			       bool incoming);

/* hist_get.c: the history (src/session/hist.h) as UCWA has it */
/* The conversation began (its entry is made) or changed (accepted,
 * ended). */
void ucwa_hist_conv(struct conv *c);
/* A message of the conversation (text: len bytes); an incoming one with
 * its event's sequence, counted once (it comes back after a restart). */
void ucwa_hist_message(struct conv *c, bool incoming, const char *text,
		       size_t len, uint64_t time_ms, uint64_t seq);
/* Route handler: communication/conversationLogs (GET). */
web_route_h ucwa_hist_get;
/* After a restart, once the history is back: the conversations still
 * open come back with their numbers; new ones are numbered after every
 * number the history holds. */
void ucwa_hist_restore_convs(struct app *app);
/* call.c: incoming calls (phone audio invitations) */
struct call;
/* An INVITE for the application (sr borrowed: a reference is taken; its
 * From URI is at most UCWA_URI_MAX bytes: ucwa_incoming() checked). */
void ucwa_call_incoming(struct app *app, struct sipua_sreq *sr,
			const struct sipua_inmsg *in);
/* Route handlers: phoneAudioInvitations/{n} (GET) and its decline
 * (POST); a missing invitation is a 404. */
web_route_h ucwa_call_inv_get, ucwa_call_decline;
/* The call numbered n (a route's {n}, borrowed), or NULL: calls and IM
 * conversations share conversations/{n}, which conv.c routes. */
struct call *ucwa_call_find(struct app *app, const struct pl *n);
/* GET conversations/{n}, its participants and participants/{uri} (enc:
 * the percent-encoded URI, borrowed) of a call. */
void ucwa_call_conv_get(struct call *c, struct web_req *req);
void ucwa_call_participants_get(struct call *c, struct web_req *req);
void ucwa_call_participant_get(struct call *c, struct web_req *req,
			       const struct pl *enc);
/* A stored call record (a start, or an end: end true) becomes its events
 * again after a restart; then ucwa_call_resume() ends the calls that
 * were still ringing. */
int ucwa_call_restore(struct app *app, uint64_t seq, const struct repr_in *in,
		      bool end, uint64_t time_ms);
void ucwa_call_resume(struct app *app);
/* The app acknowledged the events up to mark (before their records go). */
void ucwa_call_acked(struct app *app, uint64_t mark);
void ucwa_call_close_all(struct app *app);
/* The session moves: ringing INVITEs are left unanswered (the Front End
 * times them out or forks elsewhere). */
void ucwa_call_forget_all(struct app *app);

/* pushreg.c: the push registration resource */
/* Route handler: pushRegistration (GET, PUT, POST, DELETE). */
web_route_h ucwa_pushreg;
int ucwa_pushreg_encode(struct repr *r, const struct app *app);
void ucwa_pushreg_decode(struct app *app, const struct repr_in *in);
/*
 * Wake the app with a push, when the rules say so: it has a push
 * registration and no P-GET is parked (the app is awake otherwise). For
 * live arrivals only, once their event is committed. Posting the event
 * answers a parked P-GET: look at evchan_parked() before posting, and
 * call this only if none was parked then. sender, text and collapse (at most 64
 * bytes: a conversation) are copied; the badge is the count of incoming
 * messages the app has not acknowledged.
 *
 * @return 0 (the push is on its way), ENOENT (no registration),
 *         EALREADY (a P-GET is parked), ENOTSUP (no push service), or
 *         what push_send() returns
 */
int ucwa_push(struct app *app, enum push_kind kind, const char *sender,
	      const char *text, const char *collapse);
/* Cancel the pushes in flight (their results are not wanted). */
void ucwa_push_close_all(struct app *app);

/* app.c */
/* What the sessions ask of this layer (session.h). */
extern const struct session_ops ucwa_session_ops;
/* A record write is committed (err 0) or failed; req is to be
 * answered, or NULL (none given, or the client left: the handler still
 * runs, to keep or undo the change). */
typedef void(ucwa_saved_h)(struct app *app, struct web_req *req, int err);
/* Store the application's record again; h runs once it is committed. */
int ucwa_app_save(struct app *app, struct web_req *req, ucwa_saved_h *h);
void ucwa_app_create(struct ucwa *u, struct web_req *req, const char *user);
void ucwa_app_reply(struct web_req *req, const struct app *app, uint16_t scode);
/* Answers a GET of a part of the application (rel "communication",
 * "onlineMeetings", "policies", "people"): the resource the application
 * embeds; 404 for another rel. */
void ucwa_app_part_reply(struct web_req *req, const struct app *app,
			 const char *rel);
/* End the application and delete its records; req (or NULL) is answered
 * 204 once the delete is committed (503 if it fails: nothing changes). */
void ucwa_app_delete(struct app *app, struct web_req *req);
/* Bring back an application from its stored record (start-up, a
 * takeover): 0 and *appp the application (NULL: it had ended and is
 * deleted), EALREADY (it is here already), or an error. appp may be
 * NULL. */
int ucwa_app_restore(struct ucwa *u, const uint8_t *val, size_t len,
		     struct app **appp);
/*
 * Drop the application from this instance's memory: the session moved
 * (or may move) to another instance (docs/pool.md "Forget"). Its SIP
 * side stops sending nothing (no un-REGISTER, un-SUBSCRIBE, un-PUBLISH:
 * the next owner's REGISTER replaces the flow), a parked P-GET is
 * answered 503 with Retry-After: 1 (the client asks again, reaching the
 * next owner), and the store is not touched (the next owner reads it).
 */
void ucwa_app_forget(struct app *app);
/* Store the application's record again (its me state changed), then
 * answer req 204, or 503 if it could not be stored. */
void ucwa_app_save_reply(struct app *app, struct web_req *req);
/* A ucwa_saved_h: 204 once stored, 503 if it could not be. */
void ucwa_app_reply_saved(struct app *app, struct web_req *req, int err);

#endif
