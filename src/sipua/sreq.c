/**
 * @file sreq.c  Requests the Front End routes to our registrations
 *
 * The Front End routes a request for a session over the flow to the
 * Contact of its binding (RFC 5626 5.3): the Request-URI user is the
 * registration's contact user. A MESSAGE goes to the registration's
 * handler inside a server transaction that we keep, so the final answer
 * can come later: the gateway answers 200 only after the message is
 * committed to the store (ARCHITECTURE.md, "Acknowledge upstream only
 * after durable").
 */
#include <string.h>
#include "sipua_int.h"

enum {
	MAX_REASON = 128, /* bytes of a reason phrase we send */
};

struct sipua_sreq {
	struct le le;          /**< in ua->sreql until answered       */
	struct sipua *ua;      /**< borrowed; NULL once detached      */
	struct sip_strans *st; /**< server transaction until answered */
	struct sip_msg *msg;   /**< the request                       */
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
	case 480:
		return "Temporarily Unavailable";
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

int sipua_sreq_reply(struct sipua_sreq *sr, uint16_t scode, const char *reason)
{
	if (!sr || scode < 200 || scode > 699)
		return EINVAL;
	if (sr->answered)
		return EALREADY;
	if (!sr->ua)
		return ENOTCONN;
	if (!reason)
		reason = default_reason(scode);
	if (!reason_valid(reason))
		return EINVAL;

	return send_reply(sr, scode, reason);
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
	struct sipua_sreq *sr;
	int err;

	sr = mem_zalloc(sizeof(*sr), destructor);
	if (!sr)
		goto fail;

	sr->msg = mem_ref((struct sip_msg *)msg);
	err = sip_strans_alloc(&sr->st, ua->sip, msg, NULL, NULL);
	if (err) {
		sr->answered = true;
		mem_deref(sr);
		goto fail;
	}
	sr->ua = ua;
	list_append(&ua->sreql, &sr->le, sr);

	/* the handler takes a reference to answer later */
	h(sr, msg, harg);
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

bool sipua_sreq_listener(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;
	struct sipua_reg *reg;
	sipua_req_h *h = NULL;
	void *harg = NULL;
	const char *allow;

	/* libre matches ACK and CANCEL to its transactions itself */
	if (!pl_strcmp(&msg->met, "ACK") || !pl_strcmp(&msg->met, "CANCEL"))
		return false;

	/* a keep-alive probe addressed to the service itself */
	if (!pl_isset(&msg->uri.user) && !pl_strcmp(&msg->met, "OPTIONS")) {
		(void)sip_replyf(ua->sip, msg, 200, "OK",
				 "Allow: OPTIONS\r\n"
				 "Content-Length: 0\r\n\r\n");
		return true;
	}

	/* a NOTIFY in the dialog of a subscription (RFC 6665 4.1.2.4) */
	if (sipua_sub_notify(ua, msg))
		return true;

	/* the Request-URI is the Contact of one registration */
	reg = sipua_reg_find(ua, &msg->uri.user);
	if (!reg) {
		log_debug("sipua: %r for %r: no such registration", &msg->met,
			  &msg->uri.user);
		(void)sip_reply(ua->sip, msg, 404, "Not Found");
		return true;
	}

	h = sipua_reg_request_handler(reg, &harg);
	allow = h ? "OPTIONS, MESSAGE" : "OPTIONS";

	if (!pl_strcmp(&msg->met, "MESSAGE") && h) {
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
