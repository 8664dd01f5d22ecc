/**
 * @file call.c  Incoming calls to an application (phone audio invitations)
 *
 * The Front End forks an INVITE to every device of the user (RFC 3261
 * 16.7), one of them this session's Contact. The app cannot take the
 * media (PROTOCOL.md, "Call via work": an incoming phone audio invitation
 * cannot be accepted through the API, only declined), so the session
 * only rings: 180, a phoneAudioInvitation started event (high priority,
 * and a VoIP push when nobody polls), and never a 2xx. The call ends as
 *
 *   declined   POST .../phoneAudioInvitations/<n>/decline: 603 Decline
 *   missed     the caller hung up (CANCEL, 487), nobody answered within
 *              the ring time (480), or the service restarted while it
 *              rang: a missed-call alert push and a history entry
 *   elsewhere  another device of the user answered (the proxy's CANCEL
 *              says Reason: SIP;cause=200, RFC 3326) or declined for all
 *              (a 6xx cause): not missed
 *
 * each a phoneAudioInvitation completed event (status Failure, with the
 * reason embedded) and the conversation deleted.
 *
 * Both ends of a call are event records in the store, written before
 * their events are posted (and before the 180), so that a restart gives
 * the app the same events again (ARCHITECTURE.md: acknowledge upstream
 * only after durable).
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "api.h"
#include "evchan.h"
#include "repr.h"
#include "sipua.h"
#include "store.h"
#include "ucwa.h"
#include "ucwa_int.h"

/* the most bytes of a call's record (its caller's URI and name) */
#define CALL_RECORD_BYTES (256 + UCWA_URI_MAX + 4 * UCWA_FIELD_MAX)
#include "conf.h"

enum call_state {
	CALL_STORING, /* its record is being written       */
	CALL_RINGING, /* 180 sent, waiting for an end      */
	CALL_ENDING,  /* its end record is being written   */
	CALL_ENDED,
};

enum call_end {
	END_NONE,
	END_DECLINED,           /* the app declined: 603                     */
	END_CANCELLED,          /* the caller hung up: missed                */
	END_TIMEOUT,            /* nobody answered in the ring time: missed  */
	END_ELSEWHERE,          /* another device answered                   */
	END_DECLINED_ELSEWHERE, /* another device declined for all      */
	END_LOST,   /* the service restarted while it rang: missed */
	END_FAILED, /* the session ended or could not store it   */
};

static const struct {
	const char *name; /* in the stored record */
	const char *code; /* the reason the app is given */
	const char *subcode;
	const char *message;
} ends[] = {
    [END_NONE] = {"none", "", "", ""},
    [END_DECLINED] = {"declined", "Forbidden", "Declined",
		      "The call was declined"},
    [END_CANCELLED] = {"cancelled", "Gone", "Missed",
		       "The caller hung up before the call was answered"},
    [END_TIMEOUT] = {"timeout", "Timeout", "Missed",
		     "The call was not answered"},
    [END_ELSEWHERE] = {"elsewhere", "Gone", "AnsweredElsewhere",
		       "The call was answered on another device"},
    [END_DECLINED_ELSEWHERE] = {"declinedElsewhere", "Forbidden",
				"DeclinedElsewhere",
				"The call was declined on another device"},
    [END_LOST] = {"lost", "Gone", "Missed",
		  "The call rang while the service restarted"},
    [END_FAILED] = {"failed", "ServiceFailure", "",
		    "The call could not be delivered"},
};

struct call {
	struct le le; /* in app->calls */
	struct app *app;
	struct sipua_sreq *sr;   /* the INVITE until its final answer */
	struct session_op *op;   /* a record being written            */
	struct wheel_entry ring; /* the ring time                      */
	enum call_state state;
	enum call_end end;
	unsigned n;    /* conversations/<n>, phoneAudioInvitations/<n> */
	uint64_t seq;  /* its "call" record                             */
	uint64_t eseq; /* its "callEnd" record                          */
	uint64_t time_ms;
	char from[UCWA_URI_MAX + 1];
	char name[4 * UCWA_FIELD_MAX + 1]; /* the caller's display name */
	char href[128 + UCWA_ID_LEN];      /* .../conversations/<n>       */
	char inv_href[128 + UCWA_ID_LEN];  /* .../phoneAudioInvitations/<n> */
};

static void call_destructor(void *arg)
{
	struct call *c = arg;

	wheel_cancel(&c->ring);
	list_unlink(&c->le);
	mem_deref(c->op);
	if (c->sr) {
		/* the session ends under a ringing call: the caller hears
		 * that this device is not there any more */
		sipua_sreq_set_cancel_handler(c->sr, NULL, NULL);
		(void)sipua_sreq_reply(c->sr, 480, NULL);
		mem_deref(c->sr);
	}
}

void ucwa_call_forget_all(struct app *app)
{
	struct le *le;

	for (le = app->calls.head; le; le = le->next) {
		struct call *c = le->data;

		sipua_sreq_forget(c->sr);
	}
}

void ucwa_call_close_all(struct app *app)
{
	list_flush(&app->calls);
}

static bool missed(enum call_end e)
{
	return e == END_CANCELLED || e == END_TIMEOUT || e == END_LOST;
}

/*
 * Push and history
 */

/* Wake the app: a VoIP push for a ringing call, an alert for a missed
 * one; none when a P-GET was parked before the event was posted (posting
 * answered it: the app is awake). The call is the collapse id: the alert
 * of a missed call replaces its ringing notice. */
static void call_push(struct call *c, bool ringing, bool parked)
{
	struct app *app = c->app;
	char collapse[32];
	int err;

	if (parked)
		return;
	(void)re_snprintf(collapse, sizeof(collapse), "call-%u", c->n);
	err = ucwa_push(app, ringing ? PUSH_CALL : PUSH_MISSED_CALL,
			c->name[0] ? c->name : c->from, NULL, collapse);
	if (err && err != ENOENT)
		log_info("ucwa: %s call push for %s: %m",
			 ringing ? "incoming" : "missed", app->id, err);
}

/* The missed call goes into the application's history (a missedItem of
 * conversationLogs, kept until pruned). */
static void call_history(struct call *c)
{
	int err = session_history_add(&c->app->s, "call", c->from, c->time_ms,
				      NULL, 0);

	if (err)
		log_warn("ucwa: missed call %u of %s not in the history: %m",
			 c->n, c->app->id, err);
}

/*
 * Resources
 */

/* The caller's participant href: <conversation>/participants/<its
 * percent-encoded URI>, as an IM conversation's participants have it. */
static int caller_href(char *buf, size_t size, const struct call *c)
{
	return repr_href(buf, size, c->href, "/participants/%H", text_pct_print,
			 c->from);
}

/* The caller as a participant, under the relation rel (from in the
 * invitation, participant in participants). */
static struct repr *participant(const struct call *c, const char *rel)
{
	struct repr *r = NULL;
	char href[UCWA_HREF_MAX];
	int err;

	if (caller_href(href, sizeof(href), c))
		return NULL;
	err = repr_alloc(&r, rel, href);
	err |= repr_prop_str(r, "uri", c->from);
	if (c->name[0])
		err |= repr_prop_str(r, "name", c->name);
	err |= repr_prop_bool(r, "local", false);
	err |= repr_link(r, "conversation", c->href);
	if (err)
		r = mem_deref(r);
	return r;
}

/* GET .../participants of a call: its caller (a collection). */
static struct repr *participants(const struct call *c)
{
	struct repr *r = NULL, *p;
	char href[300];
	int err;

	if (repr_href(href, sizeof(href), c->href, "/participants") ||
	    repr_alloc(&r, "participants", href))
		return NULL;
	p = participant(c, "participant");
	err = p ? repr_embed(r, p) : ENOMEM;
	mem_deref(p);
	return err ? mem_deref(r) : r;
}

static struct repr *reason(enum call_end e)
{
	struct repr *r = NULL;
	int err;

	err = repr_alloc(&r, "reason", NULL);
	err |= repr_prop_str(r, "code", ends[e].code);
	if (ends[e].subcode[0])
		err |= repr_prop_str(r, "subcode", ends[e].subcode);
	err |= repr_prop_str(r, "message", ends[e].message);
	if (err)
		r = mem_deref(r);
	return r;
}

/* Embed a child just built (NULL: it could not be) and drop ours. */
static int embed(struct repr *r, struct repr *child)
{
	int err = child ? repr_embed(r, child) : ENOMEM;

	mem_deref(child);
	return err;
}

static struct repr *invitation(const struct call *c)
{
	bool ringing = c->state < CALL_ENDING && c->end == END_NONE;
	struct repr *r = NULL;
	char href[UCWA_HREF_MAX], to[AUTH_USER_MAX + 8];
	int err;

	(void)re_snprintf(to, sizeof(to), "sip:%s", c->app->user);
	err = repr_alloc(&r, "phoneAudioInvitation", c->inv_href);
	err |= repr_prop_str(r, "direction", "Incoming");
	err |= repr_prop_str(r, "state", ringing ? "Connecting" : "Failed");
	err |= repr_prop_str(r, "importance", "Normal");
	err |= repr_prop_str(r, "to", to);
	err |= repr_prop_date(r, "timeStamp", c->time_ms);
	err |= repr_link(r, "conversation", c->href);
	if (caller_href(href, sizeof(href), c))
		err |= EOVERFLOW;
	else
		err |= repr_link(r, "from", href);
	if (ringing) {
		/* declined, never accepted: the media is for another
		 * device (PROTOCOL.md "Call via work") */
		err |= repr_href(href, sizeof(href), c->inv_href, "/decline");
		err |= repr_link(r, "decline", href);
	}
	if (!err) { /* a participant, under the invitation's from */
		struct repr *from = participant(c, "participant");

		err = from ? repr_embed_as(r, "from", from) : ENOMEM;
		mem_deref(from);
	}
	if (!err && !ringing)
		err = embed(r, reason(c->end));
	if (err)
		r = mem_deref(r);
	return r;
}

static struct repr *conversation(const struct call *c)
{
	bool live = c->state < CALL_ENDING && c->end == END_NONE;
	struct repr *r = NULL;
	char href[300];
	int err;

	err = repr_alloc(&r, "conversation", c->href);
	err |= repr_prop_str(r, "state", live ? "Connecting" : "Disconnected");
	err |= repr_prop_str(r, "activeModalities", live ? "PhoneAudio" : "");
	err |= repr_prop_int(r, "participantCount", 1);
	err |= repr_link(r, "phoneAudioInvitation", c->inv_href);
	err |= repr_href(href, sizeof(href), c->href, "/participants");
	err |= repr_link(r, "participants", href);
	if (err)
		r = mem_deref(r);
	return r;
}

/* Post an event of the call; high priority: an invitation wakes the app
 * (marked with its record's sequence: one batch across a restart). */
static void post(struct call *c, uint64_t mark, const char *type,
		 const char *rel, const char *href, const char *status,
		 struct repr *emb)
{
	const struct repr_event e = {
	    .sender_rel = "communication",
	    .type = type,
	    .rel = rel,
	    .href = href,
	    .status = status,
	    .embedded = emb,
	};

	(void)ucwa_post(c->app, mark, &e);
	mem_deref(emb);
}

static void post_started(struct call *c)
{
	post(c, c->seq, "started", "phoneAudioInvitation", c->inv_href, NULL,
	     invitation(c));
	post(c, c->seq, "added", "conversation", c->href, NULL,
	     conversation(c));
}

static void post_completed(struct call *c)
{
	post(c, c->eseq, "completed", "phoneAudioInvitation", c->inv_href,
	     "Failure", invitation(c));
	post(c, c->eseq, "deleted", "conversation", c->href, NULL, NULL);
}

/*
 * The call's records: its start ("call"), its end ("callEnd"). The app's
 * ack removes every record up to the events it has; a ringing call's
 * start is written again ("seen": no started event after a restart) so
 * that its end still reaches the app.
 */

enum rec {
	REC_START,
	REC_SEEN,
	REC_END,
};

/* The session numbers and stores the record (*seqp: its number). The
 * quota was checked when the INVITE came; a failed write takes its count
 * and number back. */
static int write_record(struct call *c, uint64_t *seqp, enum rec kind,
			store_done_h *h)
{
	struct session_event ev = {0};
	bool end = kind == REC_END;
	struct repr *r = NULL;
	struct mbuf *mb = mbuf_alloc(512);
	int err;

	if (!mb)
		return ENOMEM;
	err = repr_alloc(&r, NULL, NULL);
	err |= repr_prop_str(r, "type", end ? "callEnd" : "call");
	err |= repr_prop_str(r, "from", c->from);
	if (c->name[0])
		err |= repr_prop_str(r, "name", c->name);
	err |= repr_prop_date(r, "time", c->time_ms);
	err |= repr_prop_int(r, "n", c->n);
	if (kind == REC_SEEN)
		err |= repr_prop_int(r, "seen", 1);
	if (end) {
		err |= repr_prop_int(r, "call", (int64_t)c->seq);
		err |= repr_prop_str(r, "end", ends[c->end].name);
	}
	if (!err)
		err = repr_encode(mb, r, REPR_JSON, NULL);
	/* one handle at a time: a copy of the start still being written
	 * (REC_SEEN) is committed all the same, only its answer goes */
	c->op = mem_deref(c->op);
	ev.val = mb->buf;
	ev.len = mb->end;
	if (!err)
		err = session_event_store(&c->app->s, &ev, h, c, &c->op);
	if (ev.seq)
		*seqp = ev.seq;
	mem_deref(r);
	mem_deref(mb);
	return err;
}

static void end_committed(int err, void *arg)
{
	struct call *c = arg;
	bool parked;

	c->op = mem_deref(c->op);
	if (err)
		log_warn("ucwa: end of call %u of %s not stored: %m", c->n,
			 c->app->id, err);
	c->state = CALL_ENDED;
	/* stored or not, the app is told: unmarked, it is only lost to a
	 * restart before the app reads it */
	if (err)
		c->eseq = 0;
	parked = evchan_parked(c->app->ev);
	post_completed(c);
	if (missed(c->end)) {
		call_push(c, false, parked);
		call_history(c);
	}
}

/* /metrics: mobility_calls_total{end="..."} (calls are rare: the
 * registry is searched each time) */
static void count(enum call_end why)
{
	char label[64];

	(void)re_snprintf(label, sizeof(label), "end=\"%s\"", ends[why].name);
	metric_add(metrics_get(METRIC_COUNTER, "mobility_calls_total", label,
			       "incoming calls to applications, by how they "
			       "ended"),
		   1);
}

/* The end of a call whose start is stored is written after it. */
static void end_write(struct call *c)
{
	int err;

	c->state = CALL_ENDING;
	err = write_record(c, &c->eseq, REC_END, end_committed);
	if (err)
		end_committed(err, c);
}

/* The call ends (its final SIP answer was sent, or is sent here). */
static void call_end(struct call *c, enum call_end why)
{
	if (c->end != END_NONE)
		return;
	c->end = why;
	wheel_cancel(&c->ring);
	count(why);
	if (c->sr) {
		sipua_sreq_set_cancel_handler(c->sr, NULL, NULL);
		switch (why) {
		case END_DECLINED:
			(void)sipua_sreq_reply(c->sr, 603, "Decline");
			break;
		case END_TIMEOUT:
			/* RFC 3261 21.4.18: no answer here, try later */
			(void)sipua_sreq_reply(c->sr, 480, NULL);
			break;
		default: /* a CANCEL was answered 487 by the user agent */
			(void)sipua_sreq_reply(c->sr, 500, NULL);
			break;
		}
		c->sr = mem_deref(c->sr);
	}

	/* its start is not stored yet: the end follows it (stored()) */
	if (c->state == CALL_STORING)
		return;

	end_write(c);
}

static void seen_stored(int err, void *arg)
{
	struct call *c = arg;

	c->op = mem_deref(c->op);
	if (err)
		log_warn("ucwa: ringing call %u of %s not stored again: %m",
			 c->n, c->app->id, err);
}

void ucwa_call_acked(struct app *app, uint64_t mark)
{
	struct le *le;

	/* the ack is about to remove the start of calls still ringing:
	 * write it again first, under a new sequence the ack spares */
	for (le = app->calls.head; le; le = le->next) {
		struct call *c = le->data;

		if (c->state != CALL_RINGING || c->end != END_NONE ||
		    c->seq > mark)
			continue;
		if (write_record(c, &c->seq, REC_SEEN, seen_stored))
			log_warn("ucwa: ringing call %u of %s not stored again",
				 c->n, app->id);
	}
}

static void ring_timeout(void *arg)
{
	call_end(arg, END_TIMEOUT);
}

static void cancelled(uint16_t cause, void *arg)
{
	struct call *c = arg;

	/* the user agent answered the INVITE 487 */
	c->sr = mem_deref(c->sr);
	/* the forking proxy's CANCEL says why (RFC 3326): another device
	 * answered (200) or declined for all (6xx, RFC 3261 16.7 step 5);
	 * else the caller hung up */
	if (cause == 200)
		call_end(c, END_ELSEWHERE);
	else if (cause >= 600)
		call_end(c, END_DECLINED_ELSEWHERE);
	else
		call_end(c, END_CANCELLED);
}

/* The call's record is durable: the app may see it, the caller hear it
 * ring. */
static void stored(int err, void *arg)
{
	struct call *c = arg;
	struct app *app = c->app;
	bool parked;

	c->op = mem_deref(c->op);
	if (err) {
		/* not durable: the app would not see it after a restart;
		 * the caller's proxy tries the user's other devices */
		log_warn("ucwa: call to %s not stored: %m", app->id, err);
		if (c->sr)
			(void)sipua_sreq_reply(c->sr, 500, NULL);
		mem_deref(c);
		return;
	}

	c->state = CALL_RINGING;
	if (c->end != END_NONE) {
		/* it ended while its record was written: it started (as it
		 * rang), then ends (answered and counted already) */
		enum call_end why = c->end;

		c->end = END_NONE; /* the started event shows it ringing */
		post_started(c);
		c->end = why;
		end_write(c);
		return;
	}
	parked = evchan_parked(app->ev);
	post_started(c);
	(void)sipua_sreq_progress(c->sr, 180, "Ringing");
	wheel_start(app->u->wheel, &c->ring, app->u->conf->sip_ring_ms,
		    ring_timeout, c);
	call_push(c, true, parked);
}

/* A call numbered n (0: the next number; conversations share them) */
static struct call *call_new(struct app *app, unsigned n, const char *from,
			     const char *name, uint64_t time_ms)
{
	struct call *c;

	c = mem_zalloc(sizeof(*c), call_destructor);
	if (!c)
		return NULL;
	c->app = app;
	c->n = n ? n : app->nconv + 1;
	c->time_ms = time_ms;
	(void)re_snprintf(c->from, sizeof(c->from), "%s", from);
	(void)re_snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	if (repr_href(c->href, sizeof(c->href), app->href,
		      "/communication/conversations/%u", c->n) ||
	    repr_href(c->inv_href, sizeof(c->inv_href), app->href,
		      "/communication/phoneAudioInvitations/%u", c->n))
		return mem_deref(c);
	if (c->n > app->nconv)
		app->nconv = c->n;
	list_append(&app->calls, &c->le, c);
	return c;
}

/* Ended calls stay readable (GET) until UCWA_CALLS_KEPT newer ones. */
static void forget_old(struct app *app)
{
	struct le *le = app->calls.head;
	size_t ended = 0;

	for (; le; le = le->next) {
		struct call *c = le->data;
		ended += c->state == CALL_ENDED;
	}
	for (le = app->calls.head; le && ended > UCWA_CALLS_KEPT;) {
		struct call *c = le->data;

		le = le->next;
		if (c->state == CALL_ENDED) {
			mem_deref(c);
			--ended;
		}
	}
}

static size_t ringing(const struct app *app)
{
	struct le *le;
	size_t n = 0;

	for (le = app->calls.head; le; le = le->next) {
		const struct call *c = le->data;
		n += c->state < CALL_ENDING && c->end == END_NONE;
	}
	return n;
}

void ucwa_call_incoming(struct app *app, struct sipua_sreq *sr,
			const struct sipua_inmsg *in)
{
	char from[UCWA_URI_MAX + 1];
	char *name = NULL;
	struct call *c;
	int err;

	/* RFC 3261 8.1.1.8: an INVITE names where the dialog would go */
	if (!in->contact) {
		(void)sipua_sreq_reply(sr, 400, "Missing Contact header");
		return;
	}
	/* the app could not tell a fifth ringing call apart from noise;
	 * the caller's proxy keeps trying the user's other devices */
	if (ringing(app) >= UCWA_CALLS_MAX) {
		(void)sipua_sreq_reply(sr, 486, "Busy Here");
		return;
	}
	/* an app away for long has no room left for its record: the
	 * caller hears at once, as from a device that is offline */
	if (session_quota_check(&app->s, CALL_RECORD_BYTES, 2) != QUOTA_OK) {
		(void)sipua_sreq_reply(sr, 480, "Temporarily Unavailable");
		return;
	}
	forget_old(app);

	(void)re_snprintf(from, sizeof(from), "%r", &in->from);
	/* a display name is bytes from the network: UTF-8 only, bounded */
	if (in->from_name.l &&
	    repr_utf8_dup(&name, in->from_name.p,
			  MIN(in->from_name.l, (size_t)UCWA_FIELD_MAX)))
		name = NULL;
	c = call_new(app, 0, from, name, session_now_ms());
	mem_deref(name);
	if (!c) {
		(void)sipua_sreq_reply(sr, 500, NULL);
		return;
	}
	c->sr = mem_ref(sr);
	sipua_sreq_set_cancel_handler(sr, cancelled, c);

	/* the record first; the 180 and the event wait for it */
	err = write_record(c, &c->seq, REC_START, stored);
	if (err)
		stored(err, c);
}

/*
 * After a restart: the stored records become the events again.
 */

static struct call *call_by_seq(struct app *app, uint64_t seq)
{
	struct le *le;

	for (le = app->calls.head; le; le = le->next) {
		struct call *c = le->data;
		if (c->seq == seq)
			return c;
	}
	return NULL;
}

static struct call *call_by_number(struct app *app, unsigned n)
{
	struct le *le;

	for (le = app->calls.head; le; le = le->next) {
		struct call *c = le->data;
		if (c->n == n)
			return c;
	}
	return NULL;
}

static enum call_end end_by_name(const struct pl *name)
{
	size_t i;

	for (i = END_DECLINED; i < ARRAY_SIZE(ends); i++)
		if (!pl_strcmp(name, ends[i].name))
			return (enum call_end)i;
	return END_FAILED;
}

int ucwa_call_restore(struct app *app, uint64_t seq, const struct repr_in *in,
		      bool end, uint64_t time_ms)
{
	char from[UCWA_URI_MAX + 1], name[4 * UCWA_FIELD_MAX + 1] = "";
	struct pl f, nm, e;
	int64_t cseq = 0, n = 0;
	struct call *c = NULL;

	if (repr_in_str(in, "from", &f) || !f.l || f.l > UCWA_URI_MAX)
		return EINVAL;
	(void)pl_strcpy(&f, from, sizeof(from));
	if (!repr_in_str(in, "name", &nm))
		(void)pl_strcpy(&nm, name, sizeof(name));
	/* the number it had, so that the app's links still lead to it,
	 * unless something restored before it may have that number (every
	 * number given so far is at most nconv) */
	if (repr_in_int(in, "n", &n) || n <= (int64_t)app->nconv ||
	    n >= 1000000000)
		n = 0;

	if (end) {
		if (repr_in_str(in, "end", &e))
			return EINVAL;
		(void)repr_in_int(in, "call", &cseq);
		if (cseq > 0)
			c = call_by_seq(app, (uint64_t)cseq);
	}
	if (!c) {
		/* a start, or an end whose start the app acknowledged */
		c = call_new(app, (unsigned)n, from, name, time_ms);
		if (!c)
			return ENOMEM;
		int64_t seen = 0;

		c->seq = end ? (uint64_t)cseq : seq;
		c->state = CALL_RINGING;
		(void)repr_in_int(in, "seen", &seen);
		if (!end && !seen)
			post_started(c);
	}
	if (end) {
		c->end = end_by_name(&e);
		c->eseq = seq;
		c->state = CALL_ENDED;
		post_completed(c);
	}
	return 0;
}

void ucwa_call_resume(struct app *app)
{
	struct le *le = app->calls.head;

	/* a call that rang when the service went away: its INVITE went
	 * with the connection, and nobody told the app how it ended */
	while (le) {
		struct call *c = le->data;

		le = le->next;
		if (c->state == CALL_RINGING && c->end == END_NONE)
			call_end(c, END_LOST);
	}
}

/*
 * The API: GET phoneAudioInvitations/<n>, POST .../decline, GET
 * conversations/<n> (and its caller) of a call.
 */

struct call *ucwa_call_find(struct app *app, const struct pl *n)
{
	if (!n || !n->l || n->l >= 10)
		return NULL;
	return call_by_number(app, pl_u32(n));
}

static void reply_repr(struct web_req *req, struct repr *r)
{
	if (r)
		api_reply(req, 200, NULL, r, NULL);
	else
		web_reply_text(req, 500, NULL, "could not build the resource");
	mem_deref(r);
}

/* The invitation a route's {n} names, or NULL with a 404 answered. */
static struct call *inv_of(struct app *app, struct web_req *req,
			   const struct web_params *prm)
{
	struct call *c = ucwa_call_find(app, web_param(prm, "n"));

	if (!c)
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such invitation");
	return c;
}

void ucwa_call_inv_get(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	struct call *c = inv_of(arg, req, prm);

	if (c)
		reply_repr(req, invitation(c));
}

void ucwa_call_decline(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	struct call *c = inv_of(arg, req, prm);

	if (!c)
		return;
	if (c->state >= CALL_ENDING || c->end != END_NONE) {
		api_reply_error(req, 409, NULL, "Conflict", NULL,
				"the invitation is not ringing");
		return;
	}
	call_end(c, END_DECLINED);
	web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
}

void ucwa_call_conv_get(struct call *c, struct web_req *req)
{
	reply_repr(req, conversation(c));
}

void ucwa_call_participants_get(struct call *c, struct web_req *req)
{
	reply_repr(req, participants(c));
}

void ucwa_call_participant_get(struct call *c, struct web_req *req,
			       const struct pl *enc)
{
	char uri[UCWA_URI_MAX + 1];
	size_t n;

	/* the caller's URI, percent-encoded: the only participant */
	if (text_pct_decode(uri, sizeof(uri), enc, &n) || n != strlen(uri) ||
	    strcasecmp(uri, c->from)) {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such resource");
		return;
	}
	reply_repr(req, participant(c, "participant"));
}
