/**
 * @file session.h  The mobility session: one application of one device
 *
 * What a session is. One application a device created (POST
 * applications): it lives in the process as a struct session, embedded in
 * the UCWA layer's struct app (src/ucwa/ucwa_int.h), and in the store as
 * the application's record and its events (src/store/store.h). This
 * component holds the state that says what the session is owed and how
 * long it lives; src/ucwa holds what only HTTP and UCWA need (hrefs,
 * parked requests, conversations as resources, the SIP dialogs).
 *
 * Where its state lives (struct session below):
 *   - lifetime (life.c): the client's last contact, the stored one, the
 *     wheel entry that ends the session; its class is given by push;
 *   - push registration (push): where to wake the app, part of the
 *     record; the push policy (session_push_decide()) says when to wake;
 *   - event numbering: evseq, the last sequence given to an event; the
 *     channel's batch numbering as saved in the record (ev_batch,
 *     ev_mark);
 *   - ack cursor: acked_seq, the highest sequence the app acknowledged;
 *   - quota (quota.c): the stored events not acknowledged, and whether
 *     a message was refused meanwhile;
 *   - history (hist.c, hist.h): past conversations, missed events, and
 *     the messages whose 200 may be lost (to recognise the Front End's
 *     copy of one).
 * Its record, events and history are stored through src/store/store.h
 * (ctx->st), by this component only:
 *   - the record (record.c): written (session_record_put()), read back at
 *     start-up (session_records_load(), session_record_decode()) and
 *     deleted with everything of the session (session_record_del()). It
 *     is one JSON object: the layer's fields, which the layer encodes and
 *     decodes (ops->record_encode, ops->record_decode: id, user, device,
 *     instance, presence, push registration), and the session's own
 *     (evBatch, evMark: the numbering; contact: the last contact);
 *   - the events: stored by session_event_store() (the quota checked,
 *     numbered, appended, counted, with a missed message's history entry
 *     in the same commit; a failed write takes its number and count
 *     back), read back at a restart (session_events_restore()),
 *     forgotten on the ack (session_acked()). The layer builds the
 *     event's bytes; the session alone decides its number;
 *   - the history: hist.c.
 *
 * States:
 *   CREATING  the record is being written for the first time; the create
 *             request waits for it (no contact saves meanwhile);
 *   LOADING   brought back from its record at start-up, its events being
 *             read (loading: nothing is saved, nothing is numbered anew);
 *   LIVE      the normal state;
 *   CLOSING   ended (closing): nothing may change it any more, its timers
 *             do nothing, and no record is written (it would bring the
 *             session back).
 * CREATING and LOADING are told by the layer above (ops->creating, and
 * loading set by app.c); CLOSING is set by src/ucwa when it ends the
 * application (ucwa_app_close()), and session_close() frees what the
 * session holds when the application is freed.
 *
 * Invariants:
 *   1. Acknowledge upstream only after durable: an incoming message is
 *      stored by session_event_store(), which checks the quota before
 *      anything is written, numbers it and counts it; the Front End
 *      gets its 200 only from the completion, once the write is
 *      committed. A write that fails takes its count back, and its
 *      number if nothing of it was written (refused at once; ENOSPC,
 *      EIO, ESTALE) while it is still the last one given, before the
 *      completion runs with the error. session_event_store() is the one
 *      place an event of a session is written: the fencing of a pool's
 *      sessions (the epoch the instance holds the session under, which
 *      the store checks on every write of the session: ESTALE, store.h)
 *      is answered there for the events.
 *   2. The ack is the only thing that removes events: session_acked()
 *      is the only call that moves acked_seq, shortens the unacked list,
 *      lets the store forget events (store_event_ack()) and drops the
 *      missed messages from the history. Sequences only grow.
 *   3. The record always carries the numbering the app may have seen
 *      (ev_batch, ev_mark): the channel's batch is written before the app
 *      gets it (session_numbering_set(), then a save).
 *   4. The session ends only by its lifetime (life.c: ops->end), by the
 *      app's DELETE, or when it cannot be restored; never while a contact
 *      came within its lifetime.
 *
 * Who may call what:
 *   - src/ucwa (app.c) creates, restores, closes, saves and deletes a
 *     session (session_init(), session_record_decode(),
 *     session_events_restore(), session_close(), session_record_put(),
 *     session_record_del()) and answers the requests that wait for those
 *     writes; src/ucwa/ucwa.c loads the records at start-up
 *     (session_records_load()); app.c is the only caller of
 *     session_acked() (the channel's ack) and of session_numbering_set();
 *   - src/ucwa request handlers call session_life_contact() for each
 *     authenticated request; the incoming paths (conv.c: MESSAGE;
 *     call.c: INVITE, a call's end, a ringing call written again) build
 *     the event's record and call session_event_store(), and answer SIP
 *     (480 refused, 503/500 not stored, 200/180 stored) from its result
 *     and completion, then call ucwa_push() (pushreg.c), which asks
 *     session_push_decide(). call.c checks the quota itself when an
 *     INVITE comes (session_quota_check()), before the call is made,
 *     and stores its records unchecked; nothing but the session calls
 *     session_event_next(), session_event_unnumber(),
 *     session_quota_add() and session_quota_remove() (tests aside);
 *   - the layer numbers a parked P-GET's batch for an event
 *     (ops->numbered: app.c's reserve()) when session_event_store()
 *     asks it to, between the event's number and its append: the
 *     record with that numbering is written first, in the same commit;
 *   - the history (hist.h) is told by conv.c and call.c what happened
 *     (a conversation began or changed, a message, a missed call, a
 *     message whose 200 may be lost) and read by the conversationLogs
 *     resource (hist_get.c); only hist.c changes its entries;
 *   - the push registration resource (pushreg.c) alone replaces push and
 *     then calls session_life_update();
 *   - nothing else writes the fields below: read them through the
 *     functions, or read-only.
 * The session never calls HTTP or SIP itself: what it needs from the
 * layer above (save the record with the waiting answers, its fields of
 * the record, end the session, REGISTER again, the event channel's state,
 * each restored event) it asks through struct session_ops.
 *
 * Threads: all of it runs on the main loop (libre), like src/ucwa.
 */
#ifndef MOB_SESSION_H
#define MOB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>
#include "core.h"
#include "push.h"
#include "store.h"

enum {
	SESSION_URI_MAX = 256,   /* bytes of a SIP URI given by a client     */
	SESSION_FIELD_MAX = 100, /* characters of a subject, culture, ...    */
	/* history (conversationLogs): entries kept per application, and
	 * the bytes of a message's text kept with them */
	SESSION_HIST_CONVS_MAX = 100,
	SESSION_HIST_MISSED_MAX = 100,
	SESSION_HIST_TEXT_MAX = 500,
	/* messages of one application whose 200 may not have reached the
	 * Front End, kept to recognise its offline store's copy */
	SESSION_REDELIVERY_MAX = 100,
	/* the copy's Date (when the Front End stored it) is this close to
	 * the message's arrival here */
	SESSION_REDELIVERY_WINDOW_MS = 60000,
	/* an application that refused messages (over its limits) and has
	 * room again registers once more, at least this long after the
	 * last refusal: the Front End's offline store hands the refused
	 * messages over on that REGISTER, once its own check (msilo
	 * check_time: 5 s in deploy/frontend) has put them back */
	SESSION_REFUSED_REREGISTER_MS = 10000,
	/* characters of a push registration's id (letters and digits:
	 * 131 random bits) */
	SESSION_PUSH_ID_LEN = 22,
	/* the stored last contact of a session is written again when it is
	 * older than an eighth of its lifetime, at most this often (ms):
	 * after a crash a session ends at most that much early */
	SESSION_CONTACT_SAVE_MAX_MS = 300 * 1000,
};

/** History entries older than this are dropped: 30 days. */
#define SESSION_HIST_AGE_MS (30ull * 24 * 3600 * 1000)

struct conf;
struct repr;
struct repr_in;
struct session;

/* What a session asks of the layer above it (one table per process). */
struct session_ops {
	/* The application's id and its user, for the log. */
	const char *(*id)(const struct session *s);
	const char *(*user)(const struct session *s);
	/* Write the record again (nobody to answer); 0 or an errno. */
	int (*save)(struct session *s);
	/* The lifetime is over: end the session and delete its records. */
	void (*end)(struct session *s);
	/* REGISTER again (the Front End hands refused messages over). */
	void (*reregister)(struct session *s);
	/* The record's first write is in flight (CREATING). */
	bool (*creating)(const struct session *s);
	/* The event channel: the end of its parked P-GET (tmr_jiffies()
	 * ms; in the future while one is parked, 0: never), whether one is
	 * parked now, and whether it has room for nev more events. */
	uint64_t (*last_parked)(const struct session *s);
	bool (*parked)(const struct session *s);
	bool (*room)(const struct session *s, unsigned nev);
	/* ... and room for half of what it holds at most */
	bool (*roomy)(const struct session *s);
	/* The history is read back (session_hist_restore()), also after
	 * an error. */
	void (*hist_restored)(struct session *s);
	/* The record (record.c): the layer's own fields into r (its id,
	 * user, device, presence, push registration); 0 or an errno. */
	int (*record_encode)(const struct session *s, struct repr *r);
	/* ... and back from a stored record (borrowed): 0, or EINVAL if
	 * the session cannot be brought back from it. */
	int (*record_decode)(struct session *s, const struct repr_in *in);
	/* Restart (session_events_restore()): a stored event read back,
	 * after session_event_restored() counted it; then every one is back
	 * (err 0) or they could not be read (an errno: the session is not
	 * to be restored without them). */
	void (*event_restored)(struct session *s, const struct store_event *e);
	void (*events_restored)(struct session *s, int err);
	/* session_event_store(), an event asking it (reserve): its number
	 * seq was just given and its append is next; what the layer
	 * writes now goes into the same commit, before it (NULL: none). */
	void (*numbered)(struct session *s, uint64_t seq);
	/* the append of seq, numbered() just before, failed at once: its
	 * number is given back, the record's numbering is what it was
	 * (written again); the layer gives back what it reserved (NULL:
	 * nothing to give back). */
	void (*unnumbered)(struct session *s, uint64_t seq);
};

/* What the sessions of one process share. */
struct session_ctx {
	const struct conf *conf;
	struct wheel *wheel;
	struct store *st;
	const struct session_ops *ops;
	struct metric *m_expired; /* sessions ended by their lifetime */
};

/* The app's push registration: where to wake it. Allocated when
 * registered, its strings at their length (three buffers of the longest
 * took 1.2 KiB of every session). */
struct pushreg {
	enum push_provider provider;
	/* opaque, random: the payload names the session by it, never by
	 * the application id (which reached requests to the session) */
	char pid[SESSION_PUSH_ID_LEN + 1];
	char *token;
	char *voip;  /* APNs PushKit token or ""  */
	char *topic; /* APNs bundle id, FCM project or "" (the configured
			one) */
};

/* Every session of a process holds one: its bytes count (10,000s of
 * them), so its flags sit together and its names are asked for. */
struct session {
	const struct session_ctx *ctx;
	bool closing;     /* CLOSING: nothing changes any more           */
	bool loading;     /* LOADING: restored, its events being read    */
	bool push_saving; /* a change of push is being stored            */
	bool refused;     /* a message was refused: REGISTER when roomy  */

	/* lifetime (life.c): last contact of the client and what the
	 * stored record says, both in tmr_jiffies() milliseconds */
	struct wheel_entry life;
	uint64_t contact_ms, contact_saved_ms;

	struct pushreg *push; /* NULL: none */
	/* while a change of it is being stored (push_saving): what it was
	 * (undone if the write fails) */
	struct pushreg *push_old;

	/* numbering and the ack cursor */
	uint64_t evseq;     /* last event appended to the store          */
	uint64_t acked_seq; /* highest event sequence the app acknowledged */
	/* the event channel's numbering as saved in the record: the last
	 * batch that held stored events, and their highest sequence */
	uint64_t ev_batch, ev_mark;

	/* stored events not acknowledged (quota.c) */
	struct list unacked; /* struct qev, in sequence order */
	size_t unacked_n, unacked_bytes;
	uint64_t refused_ms;      /* tmr_jiffies() of the last refusal        */
	struct wheel_entry rereg; /* ... that REGISTER                   */

	/* history (hist.c, hist.h): entries in the order of last activity */
	struct list hist;
	uint64_t hist_serial; /* the last entry's number            */
	/* reading the history, then the events, back (restart) */
	struct store_op *restore_op;
};

/* session.c: life cycle, numbering, ack cursor, push policy */
/* A new session (s zeroed by the caller). */
void session_init(struct session *s, const struct session_ctx *ctx);
/* CLOSING: timers stop, pending counts go; push registration freed. */
void session_close(struct session *s);
/* The next event sequence, for an event about to be stored. */
uint64_t session_event_next(struct session *s);
/* The last one given is not stored after all (refused before its
 * write): its number is given again. */
void session_event_unnumber(struct session *s);
/* Restart: a stored event read back (seq, len bytes), oldest first. */
void session_event_restored(struct session *s, uint64_t seq, size_t len);
/* Restart: every stored event is back; the numbering goes on above the
 * record's and the store's. */
void session_events_restored(struct session *s);
/* The channel issues (or reserves) a batch with stored events: its
 * number and their highest sequence, for the record. */
void session_numbering_set(struct session *s, uint64_t batch, uint64_t mark);
/* The app acknowledged the events up to mark: the cursor moves, the
 * quota gives them back, the store forgets them and the history's missed
 * messages among them go (the only way events leave). */
void session_acked(struct session *s, uint64_t mark);
/* Events stored and not acknowledged (the badge of a push). */
unsigned session_unacked(const struct session *s);
/*
 * Whether to wake the app with a push now (live arrivals only, once
 * their event is committed; the caller looks before posting the event,
 * which answers a parked P-GET).
 *
 * @return 0 (push), ENOENT (no registration), EALREADY (a P-GET is
 *         parked: the app is awake), ENOTSUP (no push service: service
 *         false)
 */
int session_push_decide(const struct session *s, bool service);
/* The provider called token dead: true if the registration is to go (it
 * is still that token and no change of it is in flight). */
bool session_push_dead(const struct session *s, const char *token);

/* life.c: how long a session lives after its client's last contact */
/* The client is here (an authenticated request on the application). */
void session_life_contact(struct session *s);
/* Start (or after a change of class, move) the end of the session. */
void session_life_update(struct session *s);
/* The last contact for the stored record (ms since the epoch), and back
 * (0: none recorded, taken as now). */
uint64_t session_life_contact_wall(const struct session *s);
void session_life_set_contact(struct session *s, uint64_t wall_ms);
/* A record write now carries the last contact. */
void session_life_saved(struct session *s);
/* True if a restored session was past its end already. */
bool session_life_over(const struct session *s);
/* Count and log the end of a session by its lifetime. */
void session_life_ended(struct session *s, const char *why);

/*
 * record.c: the session's record and events in the store (ctx->st). The
 * record is the layer's fields (ops->record_encode/decode) and the
 * session's: the channel's numbering and the last contact.
 */
/* Encode the record into mb (appended). */
int session_record_encode(const struct session *s, struct mbuf *mb);
/* Read a stored record (len bytes of val, borrowed) into s, a session
 * just initialised: the layer's fields first (ops->record_decode()).
 * 0, or EINVAL / ENOMEM: not restorable. */
int session_record_decode(struct session *s, const uint8_t *val, size_t len);
/* Write the record (create or replace); h runs once it is durable (NULL:
 * nobody waits). ESHUTDOWN once CLOSING (it would bring the session
 * back), else as store_session_put(). */
int session_record_put(struct session *s, store_done_h *h, void *arg,
		       struct store_op **opp);
/* Delete the record with the session's events, subscriptions and
 * history (one commit; ENOENT to h: gone already). */
int session_record_del(struct session *s, store_done_h *h, void *arg,
		       struct store_op **opp);
/* Start-up: every stored record, recordh once each (key: the id). */
int session_records_load(const struct session_ctx *ctx, store_rec_h *recordh,
			 store_done_h *doneh, void *arg);
/* Restart (LOADING): read the stored events back, oldest first
 * (ops->event_restored() each), then session_events_restored() and
 * ops->events_restored(). 0 or an errno (nothing is called then). */
int session_events_restore(struct session *s);

/* quota.c: what the store keeps for one application */
enum quota_why {
	QUOTA_OK,
	QUOTA_EVENTS,  /* max_unacked_events                   */
	QUOTA_BYTES,   /* max_unacked_bytes                    */
	QUOTA_CHANNEL, /* the event channel cannot take nev more */
	QUOTA_COUNT,
};
/* May an event of bytes (posting nev channel events) be stored now?
 * Counts a refusal in mobility_ucwa_refused_total. */
enum quota_why session_quota_check(struct session *s, size_t bytes,
				   unsigned nev);
const char *session_quota_str(enum quota_why why);
/* An event is being stored (or is stored: restart). */
void session_quota_add(struct session *s, uint64_t seq, size_t bytes);
/* Its write failed: it is not stored. */
void session_quota_remove(struct session *s, uint64_t seq);

/* record.c: an event of the session stored (session_event_store()) */
struct session_event {
	/* in: the event's record, len bytes (borrowed, copied) */
	const uint8_t *val;
	size_t len;
	/* the channel events it will post, for the quota's check; 0: not
	 * checked (a call's end, a ringing call written again, an INVITE
	 * checked when it came) */
	unsigned nev;
	/* ops->numbered() before the append (a parked P-GET's batch) */
	bool reserve;
	/* a missed message's history entry (session_history_add()),
	 * committed with the event; missed_type NULL: none */
	const char *missed_type, *missed_from, *missed_text;
	uint64_t missed_ms;
	/* out: its number (0 if refused or not written: given back),
	 * and why it was refused */
	uint64_t seq;
	enum quota_why why;
};
/* A write in flight (dropping it cancels the completion). */
struct session_op;
/*
 * Store an event of the session, the way invariant 1 requires: the quota
 * is checked (ev->nev), then the event is numbered (ev->seq), the layer
 * asked for its writes of that number (ev->reserve: ops->numbered()),
 * appended through the store, counted in the quota and, for a missed
 * message, its history entry written: all issued in this loop turn, in
 * that order (one commit). h runs once the write is committed (err 0:
 * durable, the upstream may be answered) or failed (its count was taken
 * back first, and its number if nothing of it was written: ENOSPC, EIO,
 * ESTALE, and it is still the last one given; after another error,
 * EEXIST or one that may have applied it, the number stays used).
 *
 * @param opp  Required: the handle, a new reference the caller drops
 *             (after h, or to cancel it); set only on 0
 * @return 0 (h will run), EDQUOT (over a limit: ev->why; nothing numbered
 *         or written), or as store_event_append() (its number and count
 *         taken back); h does not run then
 */
int session_event_store(struct session *s, struct session_event *ev,
			store_done_h *h, void *arg, struct session_op **opp);

#endif
