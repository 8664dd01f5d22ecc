/**
 * @file conv.c  Instant messaging: conversations, invitations, messages
 *
 * Page mode (RFC 3428): every message is a SIP MESSAGE. The UCWA sequence
 * is kept (PROTOCOL.md "communication"): an outgoing invitation gives
 * messagingInvitation started, conversation added, messaging updated,
 * messagingInvitation completed; an incoming MESSAGE from someone new
 * gives an incoming messagingInvitation with the first message as a data:
 * URI, later ones a message event each.
 *
 * An incoming MESSAGE is answered 200 only after its event is committed
 * to the store (ARCHITECTURE.md: acknowledge upstream only after durable).
 *
 * The other side of that rule: a message committed here whose 200 did not
 * reach the Front End in time (the process was killed between the commit
 * and the answer, or the answer came after the Front End's transaction
 * timed out) is kept by the Front End's offline store too (Kamailio
 * msilo), which hands it over again at the next REGISTER, with a Date
 * header saying when it stored it. Such messages are remembered (in the
 * history, so across a restart too): a copy with a Date near their
 * arrival, from the same sender with the same text, is answered 200 and
 * not delivered twice.
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

/* A MESSAGE in flight for the app. */
struct send {
	struct le le; /* in conv->sends */
	struct conv *conv;
	struct sipua_treq *tr;
	struct tmr tmr; /* frees it once the user agent's stack unwound */
	unsigned n;     /* message number */
	bool first;     /* the invitation's own first message */
};

/* An incoming MESSAGE waiting for its event to be committed. */
struct recv {
	struct app *app;
	struct sipua_sreq *sr;
	struct session_op *op;
	struct conv *conv;
	bool new_conv;
	uint64_t seq; /* of its record in the store */
	uint64_t time_ms;
	uint64_t arrived; /* tmr_jiffies() when it came */
	uint64_t copy_ms; /* its Date (ms): a copy from the Front End's
			     offline store; 0 if none */
	char *text;
	char from[UCWA_URI_MAX + 1];
};

static void send_destructor(void *arg)
{
	struct send *s = arg;

	tmr_cancel(&s->tmr);
	list_unlink(&s->le);
	mem_deref(s->tr);
}

static void conv_destructor(void *arg)
{
	struct conv *c = arg;

	list_unlink(&c->le);
	list_flush(&c->sends);
	mem_deref(c->first_text);
}

void ucwa_conv_close_all(struct app *app)
{
	/* a MESSAGE being stored holds its application (struct recv), so
	 * none is left here: each is answered when its write is */
	list_flush(&app->convs);
}

/* Post an event (ucwa_post); sender_href NULL: the communication
 * resource. An event about a message is in its conversation. */
static void post_mark(struct app *app, uint64_t mark, const char *sender_rel,
		      const char *sender_href, const char *type,
		      const char *rel, const char *href, const char *status,
		      struct repr *emb, const char *in_href)
{
	const struct repr_event e = {
	    .sender_rel = sender_rel,
	    .sender_href = sender_href,
	    .type = type,
	    .rel = rel,
	    .href = href,
	    .in_rel = in_href ? "conversation" : NULL,
	    .in_href = in_href,
	    .status = status,
	    .embedded = emb,
	};

	(void)ucwa_post(app, mark, &e);
}

static void post(struct app *app, const char *sender_rel,
		 const char *sender_href, const char *type, const char *rel,
		 const char *href, const char *status, struct repr *emb,
		 const char *in_href)
{
	post_mark(app, 0, sender_rel, sender_href, type, rel, href, status, emb,
		  in_href);
}

/* 400 for a value over its limit; fmt names the limit with one %u. */
static void too_long(struct web_req *req, const char *fmt, unsigned limit)
{
	char msg[80];

	(void)re_snprintf(msg, sizeof(msg), fmt, limit);
	api_reply_error(req, 400, NULL, "BadRequest",
			"ParameterValidationFailure", msg);
}

/* data:text/plain;charset=utf-8,<percent-encoded text> (RFC 2397) */
static int data_uri(char **out, const char *text)
{
	struct mbuf *mb = mbuf_alloc(64 + strlen(text) * 3);
	int err;

	if (!mb)
		return ENOMEM;
	err = mbuf_write_str(mb, "data:text/plain;charset=utf-8,");
	err |= text_pct_encode(mb, text, strlen(text));
	err |= mbuf_write_u8(mb, 0);
	if (!err)
		err = str_dup(out, (const char *)mb->buf);
	mem_deref(mb);
	return err;
}

/*
 * Participants. The user (local) and the peer are resources of the
 * conversation at <conversation>/participants/<percent-encoded URI>, as
 * the UCWA reference's samples address them. The peer leaves when the
 * conversation ends (the reference: a participant resource goes when
 * its participant leaves); the user stays while the conversation is
 * kept.
 */

/* The user's own URI (sip:user@domain) into buf. */
static const char *local_uri(const struct conv *c, char *buf, size_t size)
{
	(void)re_snprintf(buf, size, "sip:%s", c->app->user);
	return buf;
}

/* The href of the participant whose URI is uri; EOVERFLOW if it does
 * not fit in size. */
static int participant_href(char *buf, size_t size, const struct conv *c,
			    const char *uri)
{
	return repr_href(buf, size, c->href, "/participants/%H", text_pct_print,
			 uri);
}

/* The participant resource of the user (local) or of the peer, under
 * the relation rel. Its name is the user part of its URI: the service
 * keeps no display names (me names the user the same way). */
static struct repr *participant(const struct conv *c, const char *rel,
				bool local)
{
	char uri[UCWA_URI_MAX + 8], href[UCWA_HREF_MAX];
	struct repr *r = NULL;
	struct pl name;
	int err;

	if (local)
		(void)local_uri(c, uri, sizeof(uri));
	else
		(void)re_snprintf(uri, sizeof(uri), "%s", c->peer);
	if (participant_href(href, sizeof(href), c, uri) ||
	    repr_alloc(&r, rel, href))
		return NULL;

	/* scheme:name@domain: what lies between the scheme and the '@' */
	name.p = strchr(uri, ':') ? strchr(uri, ':') + 1 : uri;
	name.l = strcspn(name.p, "@");
	err = repr_prop_str(r, "uri", uri);
	err |= repr_prop_pl(r, "name", &name);
	err |= repr_prop_bool(r, "local", local);
	err |= repr_link(r, "conversation", c->href);
	if (local) {
		err |= repr_href(href, sizeof(href), c->app->href, "/me");
		err |= repr_link(r, "me", href);
	} else if (!ucwa_contact_href(href, sizeof(href), c->app, uri)) {
		err |= repr_link(r, "contact", href);
	}
	return err ? mem_deref(r) : r;
}

/* Link rel to the user's (local) or the peer's participant resource. */
static int participant_link(struct repr *r, const char *rel,
			    const struct conv *c, bool local)
{
	char uri[UCWA_URI_MAX + 8], href[UCWA_HREF_MAX];
	int err;

	if (local)
		(void)local_uri(c, uri, sizeof(uri));
	else
		(void)re_snprintf(uri, sizeof(uri), "%s", c->peer);
	err = participant_href(href, sizeof(href), c, uri);
	return err ? err : repr_link(r, rel, href);
}

/* Embed a child just built (NULL: it could not be) under key (NULL: its
 * rel) and drop ours. */
static int embed_as(struct repr *r, const char *key, struct repr *child)
{
	int err = child ? repr_embed_as(r, key, child) : ENOMEM;

	mem_deref(child);
	return err;
}

static int embed(struct repr *r, struct repr *child)
{
	return embed_as(r, NULL, child);
}

/* GET .../participants: the user (a participant embedded as
 * localParticipant) and, while the conversation lasts, the peer
 * (participant, a collection). */
static struct repr *participants(const struct conv *c)
{
	struct repr *r = NULL;
	char href[300];
	int err;

	if (repr_href(href, sizeof(href), c->href, "/participants") ||
	    repr_alloc(&r, "participants", href))
		return NULL;
	err = embed_as(r, "localParticipant",
		       participant(c, "participant", true));
	if (!c->ended)
		err |= embed(r, participant(c, "participant", false));
	return err ? mem_deref(r) : r;
}

static struct conv *conv_by_n(struct app *app, const struct pl *n);

/* The conversation a route's {n} names, or NULL with a 404 answered. */
static struct conv *conv_of(struct app *app, struct web_req *req,
			    const struct web_params *prm)
{
	struct conv *c = conv_by_n(app, web_param(prm, "n"));

	if (!c)
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such resource");
	return c;
}

/* A resource just built (NULL: out of memory), answered and dropped. */
static void reply_repr(struct web_req *req, struct repr *r)
{
	if (r)
		api_reply(req, 200, NULL, r, NULL);
	else
		web_reply_text(req, 503, NULL, "out of memory");
	mem_deref(r);
}

/* GET conversations/{n}/participants (a call's too). */
void ucwa_participants_get(struct web_req *req, const struct web_params *prm,
			   void *arg)
{
	struct call *call = ucwa_call_find(arg, web_param(prm, "n"));
	struct conv *c;

	if (call) {
		ucwa_call_participants_get(call, req);
		return;
	}
	c = conv_of(arg, req, prm);
	if (c)
		reply_repr(req, participants(c));
}

/* GET conversations/{n}/participants/{uri} (a call's too): the peer's
 * href answers 410 once the peer has left (the conversation ended), any
 * other 404. */
void ucwa_participant_get(struct web_req *req, const struct web_params *prm,
			  void *arg)
{
	const struct pl *enc = web_param(prm, "uri");
	char uri[UCWA_URI_MAX + 8], want[UCWA_URI_MAX + 1];
	struct call *call = ucwa_call_find(arg, web_param(prm, "n"));
	struct conv *c;
	size_t n;

	if (call) {
		ucwa_call_participant_get(call, req, enc);
		return;
	}
	c = conv_of(arg, req, prm);
	if (!c)
		return;
	if (text_pct_decode(want, sizeof(want), enc, &n) || n != strlen(want)) {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such participant");
		return;
	}
	if (!strcasecmp(want, local_uri(c, uri, sizeof(uri)))) {
		/* as the peer's */
		reply_repr(req, participant(c, "participant", true));
	} else if (!strcasecmp(want, c->peer) && c->ended) {
		api_reply_error(req, 410, NULL, "Gone", NULL,
				"the participant has left the conversation");
	} else if (!strcasecmp(want, c->peer)) {
		reply_repr(req, participant(c, "participant", false));
	} else {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such participant");
	}
}

/* The invitation: its from and to are participants (from embedded, as
 * the reference embeds it); "to" is also the target's URI. */
static struct repr *invitation(const struct conv *c, const char *state,
			       const char *first_text)
{
	struct repr *r = NULL;
	char href[300], uri[UCWA_URI_MAX + 8];
	int err;

	err = repr_alloc(&r, "messagingInvitation", c->inv_href);
	if (err)
		return NULL;
	err |= repr_prop_str(r, "direction",
			     c->incoming ? "Incoming" : "Outgoing");
	err |= repr_prop_str(r, "state", state);
	err |= repr_prop_str(r, "importance", "Normal");
	if (c->subject[0])
		err |= repr_prop_str(r, "subject", c->subject);
	err |= repr_prop_str(
	    r, "to", c->incoming ? local_uri(c, uri, sizeof(uri)) : c->peer);
	err |= repr_link(r, "conversation", c->href);
	err |= repr_href(href, sizeof(href), c->href, "/messaging");
	err |= repr_link(r, "messaging", href);
	err |= participant_link(r, "from", c, !c->incoming);
	err |= participant_link(r, "to", c, c->incoming);
	err |= embed_as(r, "from", participant(c, "participant", !c->incoming));
	if (c->incoming && !c->accepted) {
		err |= repr_href(href, sizeof(href), c->inv_href, "/accept");
		err |= repr_link(r, "accept", href);
		err |= repr_href(href, sizeof(href), c->inv_href, "/decline");
		err |= repr_link(r, "decline", href);
	}
	if (first_text) {
		char *data = NULL;

		err |= data_uri(&data, first_text);
		if (data)
			err |= repr_link(r, "message", data);
		mem_deref(data);
	}
	if (err)
		r = mem_deref(r);
	return r;
}

/* Remember message n of c for GET messages/<n>; it replaces the one
 * UCWA_CONV_MSGS before it. */
static void msg_keep(struct conv *c, unsigned n, bool incoming,
		     enum msg_status status, uint64_t time_ms)
{
	struct conv_msg *m = &c->msgs[n % UCWA_CONV_MSGS];

	m->n = n;
	m->incoming = incoming;
	m->status = status;
	m->time_ms = time_ms;
}

/* The message resource: direction, time, status and its links: its
 * sender's participant (the peer's for an incoming one, the user's for an
 * outgoing one), and its text as a data: URI when text is given. */
static struct repr *message_repr(const struct conv *c, const struct conv_msg *m,
				 const char *text)
{
	static const char *const status[] = {"Pending", "Success", "Failure"};
	char href[300];
	struct repr *r = NULL;
	int err;

	if (repr_href(href, sizeof(href), c->href, "/messaging/messages/%u",
		      m->n) ||
	    repr_alloc(&r, "message", href))
		return NULL;
	err = 0;
	err |= repr_prop_str(r, "direction",
			     m->incoming ? "Incoming" : "Outgoing");
	err |= repr_prop_str(r, "status", status[m->status]);
	err |= repr_prop_date(r, "timeStamp", m->time_ms);
	err |= repr_href(href, sizeof(href), c->href, "/messaging");
	err |= repr_link(r, "messaging", href);
	if (!ucwa_contact_href(href, sizeof(href), c->app, c->peer))
		err |= repr_link(r, "contact", href);
	err |= participant_link(r, "participant", c, !m->incoming);
	if (text) {
		char *data = NULL;

		err |= data_uri(&data, text);
		if (data)
			err |= repr_link(r, "plainMessage", data);
		mem_deref(data);
	}
	return err ? mem_deref(r) : r;
}

/* GET conversations/{n}/messaging/messages/{msg}: one the conversation
 * still holds; 404 for a number never given, 410 for one too old to be
 * held. */
void ucwa_message_get(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	const struct pl *num = web_param(prm, "msg");
	struct conv *c = conv_of(arg, req, prm);
	const struct conv_msg *m;
	unsigned n;

	if (!c)
		return;
	/* digits only, below 10^9 */
	n = 0;
	if (num->l <= 9 && re_regex(num->p, num->l, "[^0-9]"))
		n = pl_u32(num);
	if (!n || n > c->nmsg) {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such message");
		return;
	}
	m = &c->msgs[n % UCWA_CONV_MSGS];
	if (m->n != n) {
		api_reply_error(req, 410, NULL, "Gone", NULL,
				"the message is no longer held");
		return;
	}
	reply_repr(req, message_repr(c, m, NULL));
}

static struct repr *messaging(const struct conv *c)
{
	struct repr *r = NULL;
	char href[300];
	int err;

	if (repr_href(href, sizeof(href), c->href, "/messaging") ||
	    repr_alloc(&r, "messaging", href))
		return NULL;
	err = 0;
	err |=
	    repr_prop_str(r, "state", c->ended ? "Disconnected" : "Connected");
	if (!c->ended) {
		err |= repr_href(href, sizeof(href), c->href,
				 "/messaging/messages");
		err |= repr_link(r, "sendMessage", href);
		err |= repr_href(href, sizeof(href), c->href,
				 "/messaging/stopMessaging");
		err |= repr_link(r, "stopMessaging", href);
	}
	if (err)
		r = mem_deref(r);
	return r;
}

static struct repr *conversation(const struct conv *c)
{
	struct repr *r = NULL;
	char href[300];
	int err;

	err = repr_alloc(&r, "conversation", c->href);
	err |=
	    repr_prop_str(r, "state", c->ended ? "Disconnected" : "Connected");
	if (c->subject[0])
		err |= repr_prop_str(r, "subject", c->subject);
	err |= repr_href(href, sizeof(href), c->href, "/messaging");
	err |= repr_link(r, "messaging", href);
	err |= repr_href(href, sizeof(href), c->href, "/participants");
	err |= repr_link(r, "participants", href);
	err |= participant_link(r, "localParticipant", c, true);
	if (err)
		r = mem_deref(r);
	return r;
}

static void post_messaging(struct conv *c)
{
	struct repr *m = messaging(c);
	char href[300];

	if (!repr_href(href, sizeof(href), c->href, "/messaging"))
		post(c->app, "conversation", c->href, "updated", "messaging",
		     href, NULL, m, NULL);
	mem_deref(m);
}

/* Conversations not ended (the live set); ended ones are counted in
 * *endedp (may be NULL). */
static size_t live_count(const struct app *app, size_t *endedp)
{
	const struct le *le;
	size_t n = 0, ended = 0;

	for (le = app->convs.head; le; le = le->next) {
		const struct conv *c = le->data;
		if (c->ended)
			++ended;
		else
			++n;
	}
	if (endedp)
		*endedp = ended;
	return n;
}

/* Ended conversations leave: the history keeps them, this service keeps
 * only the last UCWA_CONVS_KEPT still readable (oldest go first). */
static void forget_ended(struct app *app)
{
	struct le *le;
	size_t ended;

	(void)live_count(app, &ended);
	for (le = app->convs.head; le && ended > UCWA_CONVS_KEPT;) {
		struct conv *c = le->data;

		le = le->next;
		if (!c->ended)
			continue;
		mem_deref(c);
		--ended;
	}
}

static void end_conv(struct conv *c);

/* Room for one more live conversation: at UCWA_CONVS_MAX the one idle
 * for longest ends (its peer writing again starts a new one), so that
 * many senders never lock the application out of new ones. */
static void make_room(struct app *app)
{
	struct conv *idle = NULL;
	struct le *le;

	forget_ended(app);
	if (live_count(app, NULL) < UCWA_CONVS_MAX)
		return;
	for (le = app->convs.head; le; le = le->next) {
		struct conv *c = le->data;
		if (!c->ended && (!idle || c->active < idle->active))
			idle = c;
	}
	if (!idle)
		return;
	log_info("ucwa: %s: conversation %u with %s ended to make room",
		 app->id, idle->n, idle->peer);
	end_conv(idle);
	forget_ended(app);
}

struct conv *ucwa_conv_restore(struct app *app, unsigned n, const char *peer,
			       bool incoming)
{
	struct conv *c;

	if (live_count(app, NULL) >= UCWA_CONVS_MAX)
		return NULL;
	c = mem_zalloc(sizeof(*c), conv_destructor);
	if (!c)
		return NULL;
	c->app = app;
	c->n = n;
	c->incoming = incoming;
	c->active = tmr_jiffies();
	(void)re_snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (repr_href(c->href, sizeof(c->href), app->href,
		      "/communication/conversations/%u", c->n) ||
	    repr_href(c->inv_href, sizeof(c->inv_href), app->href,
		      "/communication/messagingInvitations/%u", c->n))
		return mem_deref(c);
	list_append(&app->convs, &c->le, c);
	return c;
}

/* A new conversation, with its history entry. */
static struct conv *conv_new(struct app *app, const char *peer, bool incoming)
{
	struct conv *c;

	make_room(app);
	c = ucwa_conv_restore(app, app->nconv + 1, peer, incoming);
	if (c)
		++app->nconv;
	return c;
}

static struct conv *conv_by_peer(struct app *app, const char *peer)
{
	struct le *le;

	for (le = app->convs.head; le; le = le->next) {
		struct conv *c = le->data;
		if (!c->ended && !strcasecmp(c->peer, peer))
			return c;
	}
	return NULL;
}

static struct conv *conv_by_n(struct app *app, const struct pl *n)
{
	struct le *le;

	for (le = app->convs.head; le; le = le->next) {
		struct conv *c = le->data;
		if ((uint32_t)c->n == pl_u32(n) && n->l && n->l < 10)
			return c;
	}
	return NULL;
}

/* A sip: URI a client may message: sip:user@domain, nothing that could
 * break out of a header. */
static bool uri_ok(const struct pl *v)
{
	size_t i;

	if (v->l < 7 || v->l > UCWA_URI_MAX || strncasecmp(v->p, "sip:", 4) ||
	    !pl_strchr(v, '@'))
		return false;
	for (i = 0; i < v->l; i++) {
		uint8_t c = (uint8_t)v->p[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\", c))
			return false;
	}
	return true;
}

static void send_free(void *arg)
{
	mem_deref(arg);
}

/* The invitation's outcome: completed with Success or Failure. */
static void complete_invitation(struct conv *c, bool ok)
{
	struct app *app = c->app;
	struct repr *inv = invitation(c, ok ? "Connected" : "Failed", NULL);

	post(app, "communication", NULL, "completed", "messagingInvitation",
	     c->inv_href, ok ? "Success" : "Failure", inv, NULL);
	mem_deref(inv);
}

static void sent(int err, uint16_t scode, void *arg)
{
	struct send *s = arg;
	struct conv *c = s->conv;
	struct app *app = c->app;
	char href[300];
	bool ok = !err && scode >= 200 && scode < 300;
	struct conv_msg *m = &c->msgs[s->n % UCWA_CONV_MSGS];

	if (m->n == s->n)
		m->status = ok ? MSG_SUCCESS : MSG_FAILURE;
	if (s->first) {
		/* the invitation completes with its first message */
		complete_invitation(c, ok);
	} else if (!repr_href(href, sizeof(href), c->href,
			      "/messaging/messages/%u", s->n)) {
		post(app, "conversation", c->href, "completed", "message", href,
		     ok ? "Success" : "Failure", NULL, c->href);
	}
	if (!ok)
		log_info("ucwa: MESSAGE from %s to %s failed: %m (%u)",
			 app->user, c->peer, err, scode);

	/* freed after the stack unwinds: we are in its callback (the
	 * conversation keeps it listed until then) */
	tmr_start(&s->tmr, 0, send_free, s);
}

static int send_message(struct conv *c, const char *ctype,
			const struct pl *body, bool first, unsigned *np)
{
	struct app *app = c->app;
	struct sipua_id id;
	char user[AUTH_USER_MAX + 1];
	struct send *s;
	int err;

	s = mem_zalloc(sizeof(*s), send_destructor);
	if (!s)
		return ENOMEM;
	s->conv = c;
	s->first = first;
	s->n = ++c->nmsg;
	c->active = tmr_jiffies();
	ucwa_app_sipid(app, user, sizeof(user), &id);
	err = sipua_message(&s->tr, app->u->ua, &id, c->peer, ctype, body, sent,
			    s);
	if (err) {
		mem_deref(s);
		return err;
	}
	list_append(&c->sends, &s->le, s);
	msg_keep(c, s->n, false, MSG_PENDING, session_now_ms());
	if (np)
		*np = s->n;
	ucwa_hist_message(c, false, body->p, body->l, session_now_ms(), 0);
	return 0;
}

/*
 * The first message of an invitation: a "message" property, or a data: URI
 * in _links.message as the UCWA reference sends it (its text decoded into
 * *bufp, a new buffer). 0 and msg, ENOENT (none), EOVERFLOW (too long),
 * or another code (a data: URI we cannot read).
 */
static int first_message(const struct repr_in *in, struct pl *msg, char **bufp)
{
	struct pl href;
	size_t n;
	char *buf;
	int err;

	if (!repr_in_str(in, "message", msg))
		return msg->l > UCWA_MESSAGE_MAX ? EOVERFLOW : 0;
	if (repr_in_link(in, "message", &href))
		return ENOENT;

	buf = mem_alloc(UCWA_MESSAGE_MAX + 1, NULL);
	if (!buf)
		return ENOMEM;
	err = text_data_decode(buf, UCWA_MESSAGE_MAX + 1, &href, &n);
	if (err) {
		mem_deref(buf);
		return err;
	}
	msg->p = buf;
	msg->l = n;
	*bufp = buf;
	return 0;
}

/* POST .../communication/messagingInvitations */
static void start_messaging(struct app *app, struct web_req *req)
{
	struct repr_in *in = NULL;
	struct pl to, subject, msg = PL_INIT;
	struct conv *c;
	char *buf = NULL;
	struct repr *r;
	int merr;

	if (api_body(req, &in))
		return;
	if (repr_in_str(in, "to", &to) || !uri_ok(&to)) {
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure",
				"to must be a sip:user@domain URI");
		goto out;
	}
	/* characters, as the message says (UTF-8: up to 4 bytes each) */
	if (!repr_in_str(in, "subject", &subject) &&
	    (text_chars(&subject) > UCWA_FIELD_MAX ||
	     subject.l > 4 * UCWA_FIELD_MAX)) {
		too_long(req, "subject is longer than %u characters",
			 UCWA_FIELD_MAX);
		goto out;
	}

	/* refused before anything exists, as sendMessage refuses it */
	merr = first_message(in, &msg, &buf);
	if (merr == EOVERFLOW) {
		too_long(req, "message is longer than %u bytes",
			 UCWA_MESSAGE_MAX);
		goto out;
	}
	if (merr && merr != ENOENT) {
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure",
				"the message link must be a data: URI of "
				"text/plain in UTF-8, percent-encoded or "
				"base64");
		goto out;
	}

	{
		char peer[UCWA_URI_MAX + 1];
		(void)re_snprintf(peer, sizeof(peer), "%r", &to);
		c = conv_new(app, peer, false);
	}
	if (!c) {
		api_reply_error(req, 409, NULL, "Conflict", "LimitExceeded",
				"too many conversations");
		goto out;
	}
	if (!repr_in_str(in, "subject", &subject))
		(void)re_snprintf(c->subject, sizeof(c->subject), "%r",
				  &subject);
	ucwa_hist_conv(c);

	/* as UCWA answers it: the invitation is at Location (GET it), and
	 * its story comes on the event channel */
	web_reply(req, 201, NULL, NULL, NULL, 0, "Location: %s\r\n",
		  c->inv_href);
	r = invitation(c, "Connecting", NULL);

	/* the UCWA sequence */
	post(app, "communication", NULL, "started", "messagingInvitation",
	     c->inv_href, NULL, r, NULL);
	mem_deref(r);
	r = conversation(c);
	post(app, "communication", NULL, "added", "conversation", c->href, NULL,
	     r, NULL);
	mem_deref(r);
	post_messaging(c);

	/* a first message in the invitation decides its outcome; without
	 * one there is nothing to deliver yet: page mode is connected */
	if (!merr && msg.l) {
		if (send_message(c, "text/plain", &msg, true, NULL))
			complete_invitation(c, false);
	} else {
		r = invitation(c, "Connected", NULL);
		post(app, "communication", NULL, "completed",
		     "messagingInvitation", c->inv_href, "Success", r, NULL);
		mem_deref(r);
	}
out:
	mem_deref(buf);
	mem_deref(in);
}

/* POST .../conversations/<n>/messaging/messages (text/plain, text/html) */
static void send_api(struct conv *c, struct web_req *req)
{
	const struct pl *body = web_req_body(req);
	struct pl ct = pl_null, text;
	struct mbuf *mb = NULL;
	unsigned n = 0;
	char href[300];
	int err;

	(void)web_req_header(req, "Content-Type", &ct);
	if (c->ended) {
		api_reply_error(req, 409, NULL, "Conflict", NULL,
				"the conversation has ended");
		return;
	}
	if (!body->l || body->l > UCWA_MESSAGE_MAX) {
		too_long(req, "a message of 1 to %u bytes is needed",
			 UCWA_MESSAGE_MAX);
		return;
	}

	if (ct.l >= 9 && !strncasecmp(ct.p, "text/html", 9)) {
		/* HTML made safe: the peer gets its text, no markup */
		mb = mbuf_alloc(body->l + 1);
		if (!mb || text_html_to_plain(mb, body->p, body->l)) {
			web_reply_text(req, 503, NULL, "out of memory");
			mem_deref(mb);
			return;
		}
		text.p = (const char *)mb->buf;
		text.l = mb->end;
	} else if (ct.l >= 10 && !strncasecmp(ct.p, "text/plain", 10)) {
		text = *body;
	} else {
		api_reply_error(req, 415, NULL, "BadRequest", NULL,
				"send text/plain or text/html");
		return;
	}

	err = send_message(c, "text/plain", &text, false, &n);
	mem_deref(mb);
	if (err) {
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the message could not be sent");
		return;
	}
	/* sent, but no href to name it by (cannot happen: the
	 * conversation's is short) */
	if (repr_href(href, sizeof(href), c->href, "/messaging/messages/%u",
		      n)) {
		web_reply_text(req, 500, NULL, "no href for the message");
		return;
	}
	web_reply(req, 201, NULL, NULL, NULL, 0, "Location: %s\r\n", href);
}

/* The conversation ends: its history entry says so, the app is told. */
static void end_conv(struct conv *c)
{

	c->ended = true;
	ucwa_hist_conv(c);
	post_messaging(c);
	post(c->app, "communication", NULL, "deleted", "conversation", c->href,
	     NULL, NULL, NULL);
}

static void stop_messaging(struct conv *c, struct web_req *req)
{
	struct app *app = c->app;

	end_conv(c);
	forget_ended(app);
	web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
}

/* Accepted: the invitation's first message comes again as the
 * conversation's message 1 completed, as the reference's "Receive an IM"
 * shows it (a client reads messages from message events). */
static void post_first_message(struct conv *c)
{
	struct conv_msg one = {.n = 1, .incoming = true, .status = MSG_SUCCESS};
	const struct conv_msg *m = &c->msgs[1 % UCWA_CONV_MSGS];
	char href[300];
	struct repr *r;

	if (!c->first_text)
		return;
	if (m->n != 1) {
		/* no longer held: a later message took its slot */
		one.time_ms = session_now_ms();
		m = &one;
	}
	if (repr_href(href, sizeof(href), c->href, "/messaging/messages/1"))
		return;
	r = message_repr(c, m, c->first_text);
	post(c->app, "conversation", c->href, "completed", "message", href,
	     "Success", r, c->href);
	mem_deref(r);
}

static void answer_invitation(struct conv *c, struct web_req *req, bool accept)
{
	struct repr *r;

	if (!c->incoming || c->accepted) {
		api_reply_error(req, 409, NULL, "Conflict", NULL,
				"the invitation is not waiting for an answer");
		return;
	}
	c->accepted = true;
	if (!accept)
		c->ended = true;
	ucwa_hist_conv(c);
	/* "Receive an IM": the modality is Connected before the invitation
	 * completes, which clients read as the outcome; the first message
	 * follows as the conversation's message */
	if (accept)
		post_messaging(c);
	r = invitation(c, accept ? "Connected" : "Declined", NULL);
	post(c->app, "communication", NULL, "completed", "messagingInvitation",
	     c->inv_href, accept ? "Success" : "Failure", r, NULL);
	mem_deref(r);
	if (accept)
		post_first_message(c);
	web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
	if (!accept)
		forget_ended(c->app);
}

/*
 * Route handlers (ucwa.c's table): arg is the application.
 */

/* GET communication, as the application embeds it */
void ucwa_comm_get(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)prm;
	ucwa_app_part_reply(req, arg, "communication");
}

/* POST communication/messagingInvitations */
void ucwa_msginv_post(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	(void)prm;
	start_messaging(arg, req);
}

/* GET communication/messagingInvitations/{n} */
void ucwa_msginv_get(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		reply_repr(
		    req, invitation(c, c->ended ? "Disconnected" : "Connected",
				    NULL));
}

/* POST communication/messagingInvitations/{n}/accept */
void ucwa_msginv_accept(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		answer_invitation(c, req, true);
}

/* POST communication/messagingInvitations/{n}/decline */
void ucwa_msginv_decline(struct web_req *req, const struct web_params *prm,
			 void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		answer_invitation(c, req, false);
}

/* GET communication/conversations/{n}: a call's, or an IM
 * conversation's (they share the numbers) */
void ucwa_conv_get(struct web_req *req, const struct web_params *prm, void *arg)
{
	struct call *call = ucwa_call_find(arg, web_param(prm, "n"));
	struct conv *c;

	if (call) {
		ucwa_call_conv_get(call, req);
		return;
	}
	c = conv_of(arg, req, prm);
	if (c)
		reply_repr(req, conversation(c));
}

/* GET communication/conversations/{n}/messaging */
void ucwa_messaging_get(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		reply_repr(req, messaging(c));
}

/* POST communication/conversations/{n}/messaging/messages */
void ucwa_messages_post(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		send_api(c, req);
}

/* POST communication/conversations/{n}/messaging/stopMessaging */
void ucwa_stop_messaging(struct web_req *req, const struct web_params *prm,
			 void *arg)
{
	struct conv *c = conv_of(arg, req, prm);

	if (c)
		stop_messaging(c, req);
}

/*
 * Incoming MESSAGE
 */

static void recv_destructor(void *arg)
{
	struct recv *rv = arg;

	mem_deref(rv->op);
	mem_deref(rv->sr);
	mem_deref(rv->text);
	mem_deref(rv->app);
}

int ucwa_conv_deliver(struct app *app, uint64_t seq, const char *from,
		      const char *text, uint64_t time_ms)
{
	struct conv *c;
	char href[300];
	struct repr *r;

	/* brought back after a restart: its 200 may have died with the
	 * process that committed it */
	if (app->s.loading)
		session_hist_uncertain(&app->s, seq, from, text, time_ms);

	c = conv_by_peer(app, from);
	if (!c)
		c = conv_new(app, from, true);
	if (!c)
		return EOVERFLOW; /* too many conversations (or no memory) */

	c->active = tmr_jiffies();
	ucwa_hist_message(c, true, text, strlen(text), time_ms, seq);
	if (c->incoming && !c->accepted && (!c->nmsg || seq == c->first_seq)) {
		/* someone new: an incoming invitation with the message; both
		 * events carry the message's sequence, so that they stay
		 * in one batch across a restart. A conversation restored
		 * from the history gives its invitation again only if the
		 * app never acknowledged it (its event is still stored). */
		if (!c->nmsg)
			++c->nmsg;
		c->first_seq = seq;
		c->first_text = mem_deref(c->first_text);
		(void)str_dup(&c->first_text, text);
		msg_keep(c, 1, true, MSG_SUCCESS, time_ms);
		r = invitation(c, "Connecting", text);
		post_mark(app, seq, "communication", NULL, "started",
			  "messagingInvitation", c->inv_href, NULL, r, NULL);
		mem_deref(r);
		r = conversation(c);
		post_mark(app, seq, "communication", NULL, "added",
			  "conversation", c->href, NULL, r, NULL);
		mem_deref(r);
	} else {
		struct repr *m;

		msg_keep(c, ++c->nmsg, true, MSG_SUCCESS, time_ms);
		m = message_repr(c, &c->msgs[c->nmsg % UCWA_CONV_MSGS], text);
		if (!repr_href(href, sizeof(href), c->href,
			       "/messaging/messages/%u", c->nmsg))
			post_mark(app, seq, "conversation", c->href,
				  "completed", "message", href, "Success", m,
				  c->href);
		mem_deref(m);
	}
	return 0;
}

/* A sleeping app is pushed to (ucwa_push() decides): one alert per
 * conversation on its screen. */
static void wake(const struct recv *rv)
{
	const struct conv *c = conv_by_peer(rv->app, rv->from);
	char collapse[32];

	(void)re_snprintf(collapse, sizeof(collapse), "conversation-%u",
			  c ? c->n : 0);
	(void)ucwa_push(rv->app, PUSH_MESSAGE, rv->from, rv->text, collapse);
}

/* Committed: now the app may see it, and the sender may be told. */
static void recv_committed(int err, void *arg)
{
	struct recv *rv = arg;
	bool asleep;

	if (rv->app->s.closing) {
		/* forgotten while stored: durable for the next owner, who
		 * reads it from the store; deleted, or not stored: the Front
		 * End keeps it (480) */
		if (!err && !rv->app->deleting)
			(void)sipua_sreq_reply(rv->sr, 200, "OK");
		else
			(void)sipua_sreq_reply(rv->sr, 480,
					       "Temporarily Unavailable");
		mem_deref(rv);
		return;
	}
	if (err) {
		/* not durable (the store is full, or failed): 503 makes the
		 * Front End keep it in its offline store; the session took
		 * its number and count back */
		log_warn("ucwa: %s: MESSAGE from %s not stored: %m",
			 rv->app->id, rv->from, err);
		/* ESTALE: another instance owns the session now (it is
		 * forgotten here, fence.c); 480 makes the Front End keep it
		 * for the new owner's REGISTER, never 200 from here */
		if (err == ESTALE)
			(void)sipua_sreq_reply(rv->sr, 480,
					       "Temporarily Unavailable");
		else
			(void)sipua_sreq_reply(rv->sr, 503,
					       "Service Unavailable");
		mem_deref(rv);
		return;
	}

	/* asleep or not is decided before the events are posted: posting
	 * answers a parked P-GET */
	asleep = !evchan_parked(rv->app->ev);
	if (ucwa_conv_deliver(rv->app, rv->seq, rv->from, rv->text,
			      rv->time_ms)) {
		(void)sipua_sreq_reply(rv->sr, 486, "Busy Here");
	} else {
		(void)sipua_sreq_reply(rv->sr, 200, "OK");
		if (tmr_jiffies() - rv->arrived > UCWA_ANSWER_LATE_MS)
			session_hist_uncertain(&rv->app->s, rv->seq, rv->from,
					       rv->text, rv->time_ms);
		/* issued before any ack of this event can be: once the
		 * event leaves the store, what recognises the copy is
		 * durable (the store commits in order) */
		if (rv->copy_ms)
			session_hist_copy(&rv->app->s, rv->seq, rv->from,
					  rv->text, rv->copy_ms);
		/* a live arrival (not a re-post at restore) */
		if (asleep)
			wake(rv);
	}
	mem_deref(rv);
}

/* The session stores it: over a limit of the application it is refused
 * before anything is written (EDQUOT), so nothing of it is kept or comes
 * back at a restart. A parked P-GET's batch is numbered first, in the
 * same commit; the missed entry goes with it. */
static int recv_store(struct recv *rv, const struct mbuf *rec)
{
	struct session_event ev = {
	    .val = rec->buf,
	    .len = rec->end,
	    .nev = 2,
	    .reserve = true,
	    .missed_type = "message",
	    .missed_from = rv->from,
	    .missed_text = rv->text,
	    .missed_ms = rv->time_ms,
	};
	int err;

	err =
	    session_event_store(&rv->app->s, &ev, recv_committed, rv, &rv->op);
	rv->seq = ev.seq;
	if (err == EDQUOT)
		log_info("ucwa: %s: MESSAGE from %s refused: %s", rv->app->id,
			 rv->from, session_quota_str(ev.why));
	return err;
}

void ucwa_incoming(struct sipua_sreq *sr, const struct sipua_inmsg *in,
		   void *arg)
{
	struct app *app = arg;
	struct recv *rv;
	struct mbuf *rec;
	int err;

	/* the sender is kept whole (a conversation's peer, a call's
	 * caller): one too long to keep is refused, not cut */
	if (in->from.l > UCWA_URI_MAX) {
		(void)sipua_sreq_reply(sr, 400, "From URI too long");
		return;
	}
	if (!pl_strcmp(&in->met, "INVITE")) {
		ucwa_call_incoming(app, sr, in);
		return;
	}
	if (pl_strcmp(&in->met, "MESSAGE")) {
		(void)sipua_sreq_reply(sr, 405, "Method Not Allowed");
		return;
	}
	if (!in->text) {
		(void)sipua_sreq_reply(sr, 415, "Unsupported Media Type");
		return;
	}

	rv = mem_zalloc(sizeof(*rv), recv_destructor);
	if (!rv) {
		(void)sipua_sreq_reply(sr, 500, "Server Internal Error");
		return;
	}
	/* held until the store answers: the application may be closed
	 * meanwhile (forgotten: its session moved to another instance) */
	rv->app = mem_ref(app);
	rv->sr = mem_ref(sr);
	/* the sender's address-of-record (the validator has checked the
	 * message; the URI is not trusted further than that) */
	(void)re_snprintf(rv->from, sizeof(rv->from), "%r", &in->from);
	rv->arrived = tmr_jiffies();
	/* the text as UTF-8 (sipua converted its charset) */
	err = in->body_err;
	if (!err)
		rv->text = mem_ref(in->body);
	if (err == ENOTSUP) {
		(void)sipua_sreq_reply(sr, 415, "Unsupported Media Type");
		mem_deref(rv);
		return;
	}
	rv->copy_ms = in->date_ms;
	if (!err && rv->copy_ms &&
	    session_hist_redelivered(&app->s, rv->from, rv->text,
				     rv->copy_ms)) {
		log_info("ucwa: %s: the Front End's stored copy of a message "
			 "from %s, delivered already: not again",
			 app->id, rv->from);
		(void)sipua_sreq_reply(sr, 200, "OK");
		mem_deref(rv);
		return;
	}

	/* the event record goes to the store first; the 200 waits */
	rec = mbuf_alloc(256 + in->raw.l);
	if (!err && rec) {
		struct repr *r = NULL;

		err = repr_alloc(&r, NULL, NULL);
		err |= repr_prop_str(r, "type", "message");
		err |= repr_prop_str(r, "from", rv->from);
		err |= repr_prop_str(r, "text", rv->text);
		rv->time_ms = session_now_ms();
		err |= repr_prop_date(r, "time", rv->time_ms);
		if (!err)
			err = repr_encode(rec, r, REPR_JSON, NULL);
		mem_deref(r);
	} else if (!err)
		err = ENOMEM;
	/* its records are being deleted: this one would outlive them;
	 * 480 makes the Front End keep it in its offline store */
	if (!err && app->deleting) {
		(void)sipua_sreq_reply(sr, 480, "Temporarily Unavailable");
		mem_deref(rec);
		mem_deref(rv);
		return;
	}
	if (!err)
		err = recv_store(rv, rec);
	mem_deref(rec);
	if (err == EDQUOT) {
		(void)sipua_sreq_reply(sr, 480, "Temporarily Unavailable");
		mem_deref(rv);
		return;
	}
	if (err)
		recv_committed(err, rv);
}
