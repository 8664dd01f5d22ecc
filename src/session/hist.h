/**
 * @file hist.h  The history of a session (hist.c): past conversations,
 * missed events, and the messages whose 200 may be lost
 *
 * Kept in struct session (hist, in the order of last activity) and in
 * the store (one history record per entry, store_hist_*). Only hist.c
 * changes the entries; src/ucwa reads them (the conversationLogs
 * resource, the conversations brought back after a restart) and tells
 * the history what happened (a conversation began or changed, a message,
 * a missed call).
 */
#ifndef MOB_HIST_H
#define MOB_HIST_H

#include "session.h"

enum hkind {
	H_CONV,
	H_MISSED,
	H_UNCERTAIN, /* a message whose 200 may be lost: not shown */
};

/* One entry, as kept in memory and in its record. */
struct hentry {
	struct le le; /* in session->hist, oldest first */
	enum hkind kind;
	uint64_t serial;   /* its key: c<serial>, m<serial>           */
	uint64_t first;    /* conversation: began; missed: when       */
	uint64_t last;     /* last message (or first)                 */
	uint64_t seq;      /* missed message: its event; 0 otherwise  */
	uint64_t lastseq;  /* conversation: last incoming event counted */
	uint64_t firstseq; /* conversation: the event that began it    */
	uint64_t hash;     /* uncertain: of its sender and text        */
	uint64_t date;     /* uncertain: the Date of the Front End's copy
			      it came as (ms), 0 if it came first-hand */
	unsigned n;        /* conversation number (conversations/<n>)  */
	unsigned count;    /* messages                                 */
	bool incoming;     /* who began it / direction of last message */
	bool last_in;
	bool accepted, ended;
	bool window;   /* uncertain: its 200 may be lost (a copy dated near
			  its arrival is it again), not only a copy's Date */
	char type[16]; /* missed: "message", "call"      */
	char peer[SESSION_URI_MAX + 1];
	char subject[4 * SESSION_FIELD_MAX + 1];
	char text[SESSION_HIST_TEXT_MAX + 1];
};

/* What the history keeps of a conversation (src/ucwa's struct conv). */
struct hist_conv {
	uint64_t hid; /* its entry: 0 none yet (then set), or pruned */
	unsigned n;   /* conversations/<n>                            */
	bool incoming, accepted, ended;
	const char *peer, *subject;
};

/* The wall clock in milliseconds since 1970 (CLOCK_REALTIME): the history
 * is stamped at the resolution its ?since= is read at, so an entry made
 * after a since, even within the same second, is listed. */
uint64_t session_now_ms(void);
/* The conversation began (its entry is made: c->hid set) or changed
 * (accepted, ended). */
void session_hist_conv(struct session *s, struct hist_conv *c);
/* A message of the conversation of entry hid (text: len bytes); an
 * incoming one with its event's sequence, counted once (it comes back
 * after a restart). */
void session_hist_message(struct session *s, uint64_t hid, bool incoming,
			  const char *text, size_t len, uint64_t time_ms,
			  uint64_t seq);
/*
 * Record a missed event: type "message" (an incoming message the app has
 * not acknowledged yet: seq is its event, and the ack that covers it
 * removes the entry) or "call" (seq 0: kept until pruned). from is the
 * peer's SIP URI, text may be NULL (both copied). Returns 0, EINVAL or
 * ENOMEM. The same seq twice is recorded once.
 */
int session_history_add(struct session *s, const char *type, const char *from,
			uint64_t time_ms, const char *text, uint64_t seq);
/* The incoming message of event seq may be delivered again by the Front
 * End's offline store: its 200 may not have reached the Front End (it
 * was late, or the process died after the commit). Kept in the store
 * (SESSION_REDELIVERY_MAX per application). */
void session_hist_uncertain(struct session *s, uint64_t seq, const char *from,
			    const char *text, uint64_t time_ms);
/* The incoming message of event seq came as a copy from the Front End's
 * offline store, stored there at date_ms (its Date header): that store
 * may hand the same copy over again (msilo does when a REGISTER comes
 * while it deletes the copies answered 200). Kept with the uncertain
 * ones. */
void session_hist_copy(struct session *s, uint64_t seq, const char *from,
		       const char *text, uint64_t date_ms);
/* A copy of a message (stored by the Front End at date_ms) is one we
 * have: the very copy taken before (same sender, text and Date: kept for
 * more), or it matches an uncertain one: same sender and text, arrived
 * within SESSION_REDELIVERY_WINDOW_MS of date_ms (that one is used up). */
bool session_hist_redelivered(struct session *s, const char *from,
			      const char *text, uint64_t date_ms);
/* Drop what is past its age or its kind's count (the least recently
 * active first), from memory and from the store. */
void session_hist_prune(struct session *s);
/* Read the stored history back (restart), pruned, then
 * ctx->ops->hist_restored() (also on error). */
int session_hist_restore(struct session *s);

#endif
