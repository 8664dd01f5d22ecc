/**
 * @file sreq.c  Requests the Front End routes to our registrations
 *
 * The Front End routes a request for a session over the flow to the
 * Contact of its binding (RFC 5626 5.3): the Request-URI user is the
 * registration's contact user. A MESSAGE goes to the registration's
 * handler, as what it says (struct sipua_inmsg, read in msg.c: sender,
 * text as UTF-8, Date, Contact), inside a server transaction that we keep, so
 * the final answer can come later: the gateway answers 200 only after the
 * message is committed to the store (ARCHITECTURE.md, "Acknowledge upstream
 * only after durable").
 *
 * An INVITE goes to the same handler: the session lets it ring (a
 * provisional answer), declines it or lets it go, and never answers 2xx
 * (the app cannot take the media; another device of the user can).
 * libre's transaction layer matches a CANCEL to the INVITE, answers it
 * 200 and reports it to us without the message; its Reason (RFC 3326) is
 * noted by the trace handler, which sees every message first.
 */
#include <string.h>
#include "sipua_int.h"

enum {
	MAX_REASON = 128, /* bytes of a reason phrase we send */
};

struct sipua_sreq {
	struct le le;            /**< in ua->sreql until answered       */
	struct sipua *ua;        /**< borrowed; NULL once detached      */
	struct sip_strans *st;   /**< server transaction until answered */
	struct sip_msg *msg;     /**< the request                       */
	sipua_cancel_h *cancelh; /**< INVITE: the caller cancelled     */
	void *cancel_arg;
	bool answered;
};

static const char *default_reason(uint16_t scode)
{
	switch (scode) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 180:
		return "Ringing";
	case 480:
		return "Temporarily Unavailable";
	case 481:
		return "Call/Transaction Does Not Exist";
	case 487:
		return "Request Terminated";
	case 486:
		return "Busy Here";
	case 488:
		return "Not Acceptable Here";
	case 500:
		return "Server Internal Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 603:
		return "Decline";
	default:
		return scode < 300 ? "OK" : "Failure";
	}
}

/* a reason phrase goes into the status line as is (RFC 3261 25.1:
 * no CR or LF, no other control characters) */
static bool reason_valid(const char *r)
{
	size_t i, n = strlen(r);

	if (!n || n > MAX_REASON)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static int send_reply(struct sipua_sreq *sr, uint16_t scode, const char *reason)
{
	sr->answered = true;
	list_unlink(&sr->le);
	/* past the pool lease's deadline: unanswered (the Front End retries
	 * or fails over); the transaction goes with sr */
	if (!sipua_may_send(sr->ua))
		return EPERM;

	/* libre keeps the transaction for retransmissions and sets sr->st
	 * to NULL on a final answer */
	return sip_treply(&sr->st, sr->ua->sip, sr->msg, scode, reason);
}

static void destructor(void *arg)
{
	struct sipua_sreq *sr = arg;

	/* nobody answered: the request must not stay open until the
	 * Front End's timer fires */
	if (!sr->answered && sr->ua)
		(void)send_reply(sr, 500, "Server Internal Error");

	list_unlink(&sr->le);
	sr->st = mem_deref(sr->st);
	sr->msg = mem_deref(sr->msg);
}

/* An answer of scode to sr, final or provisional (INVITE only) */
static int answer(struct sipua_sreq *sr, uint16_t scode, const char *reason,
		  bool final)
{
	bool invite;

	if (!sr)
		return EINVAL;
	invite = !pl_strcmp(&sr->msg->met, "INVITE");
	if (final ? (scode < 200 || scode > 699)
		  : (scode <= 100 || scode > 199 || !invite))
		return EINVAL;
	/* a 2xx would make a dialog nobody here can carry (no media) */
	if (invite && scode >= 200 && scode < 300)
		return EINVAL;
	if (sr->answered)
		return EALREADY;
	if (!sr->ua)
		return ENOTCONN;
	if (!reason)
		reason = default_reason(scode);
	if (!reason_valid(reason))
		return EINVAL;

	if (final)
		return send_reply(sr, scode, reason);
	if (!sipua_may_send(sr->ua))
		return EPERM;

	/* the transaction stays (sr->st is kept for the final answer); the
	 * To tag is the one the final answer will carry (libre takes it from
	 * the request) */
	return sip_treply(&sr->st, sr->ua->sip, sr->msg, scode, reason);
}

int sipua_sreq_reply(struct sipua_sreq *sr, uint16_t scode, const char *reason)
{
	return answer(sr, scode, reason, true);
}

int sipua_sreq_progress(struct sipua_sreq *sr, uint16_t scode,
			const char *reason)
{
	return answer(sr, scode, reason, false);
}

void sipua_sreq_set_cancel_handler(struct sipua_sreq *sr, sipua_cancel_h *h,
				   void *arg)
{
	if (!sr)
		return;
	sr->cancelh = h;
	sr->cancel_arg = arg;
}

/* libre's transaction layer matched a CANCEL to our INVITE while it was
 * not answered, and answered the CANCEL 200 (RFC 3261 9.2) */
static void cancelled(void *arg)
{
	struct sipua_sreq *sr = arg;
	uint16_t cause = sr->ua ? sr->ua->cancel_cause : 0;
	sipua_cancel_h *h = sr->cancelh;
	void *harg = sr->cancel_arg;

	/* the INVITE itself is answered 487 whatever the handler does */
	(void)sipua_sreq_reply(sr, 487, "Request Terminated");
	if (h)
		h(cause, harg);
}

/* The cause of one reason-value (RFC 3326 2: a protocol, then
 * parameters) whose protocol is SIP: a status code; 0 for another
 * protocol or none */
static uint16_t sip_cause(const struct pl *v)
{
	struct pl cause;
	uint32_t c;

	if (v->l < 4 || strncasecmp(v->p, "SIP", 3) ||
	    (v->p[3] != ' ' && v->p[3] != '\t' && v->p[3] != ';'))
		return 0;
	if (msg_param_decode(v, "cause", &cause) || cause.l != 3)
		return 0;
	c = pl_u32(&cause);
	return c >= 100 && c <= 699 ? (uint16_t)c : 0;
}

/* A Reason header holds one or more reason-values, comma-separated
 * (commas inside a quoted text do not separate): the first SIP cause */
static bool reason_cause(const struct sip_hdr *hdr, const struct sip_msg *msg,
			 void *arg)
{
	const struct pl *v = &hdr->val;
	uint16_t *cause = arg;
	bool quoted = false;
	size_t i, start = 0;
	(void)msg;

	for (i = 0; i <= v->l; i++) {
		struct pl e;

		if (i < v->l && quoted && v->p[i] == '\\') {
			++i; /* a quoted-pair */
			continue;
		}
		if (i < v->l && v->p[i] == '"')
			quoted = !quoted;
		if (i < v->l && (quoted || v->p[i] != ','))
			continue;
		e.p = v->p + start;
		e.l = i - start;
		while (e.l && (*e.p == ' ' || *e.p == '\t')) {
			++e.p;
			--e.l;
		}
		*cause = sip_cause(&e);
		if (*cause)
			return true;
		start = i + 1;
	}
	return false;
}

uint16_t sipua_cancel_cause(const uint8_t *pkt, size_t len)
{
	struct sip_msg *last = NULL;
	uint16_t cause = 0;
	struct mbuf *mb;

	if (!memmem(pkt, len, "CANCEL ", 7))
		return 0;
	mb = mbuf_alloc(len);
	if (!mb || mbuf_write_mem(mb, pkt, len))
		goto out;
	mb->pos = 0;
	while (mbuf_get_left(mb)) {
		struct sip_msg *m;
		size_t clen;

		/* keep-alive CRLFs between messages */
		if (mbuf_get_left(mb) >= 2 &&
		    !memcmp(mbuf_buf(mb), "\r\n", 2)) {
			mb->pos += 2;
			continue;
		}
		if (sip_msg_decode(&m, mb))
			break;
		clen = pl_u32(&m->clen);
		mem_deref(last);
		last = m;
		if (clen > mbuf_get_left(mb))
			break;
		mb->pos += clen;
	}
	if (last && !pl_strcmp(&last->met, "CANCEL"))
		(void)sip_msg_hdr_apply(last, true, SIP_HDR_REASON,
					reason_cause, &cause);
out:
	mem_deref(last);
	mem_deref(mb);
	return cause;
}

void sipua_sreq_trace(bool tx, enum sip_transp tp, const struct sa *src,
		      const struct sa *dst, const uint8_t *pkt, size_t len,
		      void *arg)
{
	struct sipua *ua = arg;

	/* valid until the next message arrives: the listeners, and the
	 * transaction layer's cancel report, run right after this call */
	if (!ua)
		return;
	if (!tx)
		ua->cancel_cause = sipua_cancel_cause(pkt, len);
	if (ua->traceh)
		ua->traceh(tx, tp, src, dst, pkt, len, ua->tracearg);
}

void sipua_set_moved_answer(struct sipua *ua, bool on)
{
	if (ua)
		ua->moved = on;
}

void sipua_set_trace_handler(struct sipua *ua, sip_trace_h *h, void *arg)
{
	if (!ua)
		return;
	ua->traceh = h;
	ua->tracearg = arg;
}

void sipua_sreq_orphan_all(struct sipua *ua)
{
	/* the stack goes with the ua: answer what waits, then hold
	 * nothing of it */
	while (ua->sreql.head) {
		struct sipua_sreq *sr = ua->sreql.head->data;

		(void)send_reply(sr, 503, "Service Unavailable");
		sr->st = mem_deref(sr->st);
		sr->ua = NULL;
	}
}

static void dispatch(struct sipua *ua, const struct sip_msg *msg,
		     sipua_req_h *h, void *harg)
{
	struct sipua_inmsg in;
	struct sipua_sreq *sr;
	int err;

	sr = mem_zalloc(sizeof(*sr), destructor);
	if (!sr)
		goto fail;

	sr->msg = mem_ref((struct sip_msg *)msg);
	err = sip_strans_alloc(&sr->st, ua->sip, msg, cancelled, sr);
	if (err) {
		sr->answered = true;
		mem_deref(sr);
		goto fail;
	}
	sr->ua = ua;
	list_append(&ua->sreql, &sr->le, sr);

	/* the handler gets what the request says, not the request; it
	 * takes a reference to answer later */
	sipua_inmsg_read(&in, msg);
	h(sr, &in, harg);
	mem_deref(in.body);
	mem_deref(sr);
	return;

fail:
	(void)sip_reply(ua->sip, msg, 500, "Server Internal Error");
}

/* methods a user agent knows but a session does not take (405, with
 * Allow); anything else is 501 (RFC 3261 21.4.6, 21.5.2) */
static bool method_known(const struct pl *met)
{
	static const char *const known[] = {
	    "INVITE",  "BYE",   "REGISTER", "SUBSCRIBE", "NOTIFY",
	    "PUBLISH", "REFER", "INFO",     "UPDATE",    "PRACK",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known); i++)
		if (!pl_strcmp(met, known[i]))
			return true;
	return false;
}

/* A request of a dialog's usage: BYE, or a mid-dialog INVITE, UPDATE,
 * INFO, PRACK or REFER (a To tag) */
static bool in_dialog(const struct sip_msg *msg)
{
	static const char *const dlg[] = {"INVITE", "UPDATE", "INFO", "PRACK",
					  "REFER"};
	size_t i;

	if (!pl_strcmp(&msg->met, "BYE"))
		return true;
	if (!pl_isset(&msg->to.tag))
		return false;
	for (i = 0; i < ARRAY_SIZE(dlg); i++)
		if (!pl_strcmp(&msg->met, dlg[i]))
			return true;
	return false;
}

bool sipua_sreq_listener(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;
	struct sipua_reg *reg;
	sipua_req_h *h = NULL;
	void *harg = NULL;
	const char *allow;

	/* libre matches ACK and CANCEL to its transactions itself; an ACK
	 * it did not match is not answered (RFC 3261 17.2.3): dropped */
	if (!pl_strcmp(&msg->met, "ACK"))
		return true;
	if (!pl_strcmp(&msg->met, "CANCEL"))
		return false;

	/* a keep-alive probe addressed to the service itself */
	if (!pl_isset(&msg->uri.user) && !pl_strcmp(&msg->met, "OPTIONS")) {
		(void)sip_replyf(ua->sip, msg, 200, "OK",
				 "Allow: OPTIONS\r\n"
				 "Content-Length: 0\r\n\r\n");
		return true;
	}

	/* halted (the pool lease lapsed): another instance may own these
	 * sessions now; unanswered, the Front End retries or fails over */
	if (ua->halted)
		return true;

	/* a NOTIFY in the dialog of a subscription (RFC 6665 4.1.2.4) */
	if (sipua_sub_notify(ua, msg))
		return true;

	/* the Request-URI is the Contact of one registration */
	reg = sipua_reg_find(ua, &msg->uri.user);
	if (!reg) {
		log_debug("sipua: %r for %r: no such registration", &msg->met,
			  &msg->uri.user);
		if (ua->moved)
			(void)sip_reply(ua->sip, msg, 480,
					"Temporarily Unavailable");
		else
			(void)sip_reply(ua->sip, msg, 404, "Not Found");
		return true;
	}

	h = sipua_reg_request_handler(reg, &harg);
	allow = sipua_reg_allow(reg);

	if (in_dialog(msg)) {
		/* we never establish a dialog (no INVITE is answered 2xx):
		 * a BYE or re-INVITE belongs to none (RFC 3261 12.2.2) */
		(void)sip_reply(ua->sip, msg, 481,
				"Call/Transaction Does Not Exist");
	} else if (h && (!pl_strcmp(&msg->met, "MESSAGE") ||
			 (!pl_strcmp(&msg->met, "INVITE") &&
			  sipua_reg_takes_invites(reg)))) {
		dispatch(ua, msg, h, harg);
	} else if (!pl_strcmp(&msg->met, "OPTIONS")) {
		(void)sip_replyf(ua->sip, msg, 200, "OK",
				 "Allow: %s\r\n"
				 "Content-Length: 0\r\n\r\n",
				 allow);
	} else if (!pl_strcmp(&msg->met, "MESSAGE") ||
		   method_known(&msg->met)) {
		(void)sip_replyf(ua->sip, msg, 405, "Method Not Allowed",
				 "Allow: %s\r\n"
				 "Content-Length: 0\r\n\r\n",
				 allow);
	} else {
		(void)sip_reply(ua->sip, msg, 501, "Not Implemented");
	}

	return true;
}

void sipua_sreq_forget(struct sipua_sreq *sr)
{
	/* the Front End retries toward the session's next owner */
	if (sr)
		sr->answered = true;
}
