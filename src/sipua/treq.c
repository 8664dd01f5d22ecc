/**
 * @file treq.c  An out-of-dialog request that answers one digest challenge
 *
 * The Front End challenges every out-of-dialog request of a local user
 * (401 for REGISTER, 407 for the rest). We answer one challenge with the
 * HA1; a second challenge after our answer means the credentials are
 * wrong, and is reported instead of answered again, so a bad password
 * never turns into a request storm.
 */
#include <string.h>
#include <openssl/crypto.h>
#include "sipua_int.h"

struct sipua_treq {
	struct le le;            /**< in ua->treql when detached          */
	struct sipua *ua;        /**< borrowed                            */
	struct sip_request *req; /**< pending request                     */
	char *method;
	char *ruri;
	char *hdrs;
	char *user;
	char *password; /**< wiped and freed once used                */
	char ha1[SIPUA_HA1_LEN + 1];
	char *auth;        /**< Authorization line of the answer          */
	struct mbuf *body; /**< body (with Content-Type in hdrs) or NULL */
	void *ctx;         /**< owned by the request (sipua_treq_own) */
	uint32_t cseq;
	bool answered;
	bool detached;
	sipua_treq_h *h;
	void *arg;
};

static void forget_password(struct sipua_treq *t)
{
	if (!t->password)
		return;
	OPENSSL_cleanse(t->password, strlen(t->password));
	t->password = mem_deref(t->password);
}

static void destructor(void *arg)
{
	struct sipua_treq *t = arg;

	/* libre keeps the transaction but never calls us again */
	t->req = mem_deref(t->req);
	list_unlink(&t->le);
	forget_password(t);
	OPENSSL_cleanse(t->ha1, sizeof(t->ha1));
	mem_deref(t->method);
	mem_deref(t->ruri);
	mem_deref(t->hdrs);
	mem_deref(t->user);
	mem_deref(t->auth);
	mem_deref(t->body);
	mem_deref(t->ctx);
}

static void resp_handler(int err, const struct sip_msg *msg, void *arg);

static int digest_h(struct re_printf *pf, void *arg)
{
	return sipua_digest_print(pf, arg);
}

static int send_req(struct sipua_treq *t)
{
	return sip_requestf(&t->req, t->ua->sip, true, t->method, t->ruri,
			    &t->ua->route, NULL, NULL, resp_handler, t,
			    "%s"
			    "CSeq: %u %s\r\n"
			    "%s"
			    "Content-Length: %zu\r\n"
			    "\r\n"
			    "%b",
			    t->hdrs, t->cseq, t->method, t->auth ? t->auth : "",
			    t->body ? t->body->end : (size_t)0,
			    t->body ? (const char *)t->body->buf : "",
			    t->body ? t->body->end : (size_t)0);
}

/* RFC 8760 4: a server may offer several challenges, strongest first;
 * take the first Digest one we can answer (MD5, or no algorithm). */
static bool chall_handler(const struct sip_hdr *hdr, const struct sip_msg *msg,
			  void *arg)
{
	struct httpauth_digest_chall *ch = arg;
	(void)msg;

	if (httpauth_digest_challenge_decode(ch, &hdr->val))
		return false;

	return !pl_isset(&ch->algorithm) ||
	       !pl_strcasecmp(&ch->algorithm, "MD5");
}

/* Answer a 401/407 (EPROTO when there is no challenge we can answer). */
static int answer(struct sipua_treq *t, const struct sip_msg *msg)
{
	struct httpauth_digest_chall ch;
	struct sipua_digest d;
	const struct sip_hdr *hdr;
	bool proxy = msg->scode == 407;
	struct pl realm;
	int err;

	hdr = sip_msg_hdr_apply(msg, true,
				proxy ? SIP_HDR_PROXY_AUTHENTICATE
				      : SIP_HDR_WWW_AUTHENTICATE,
				chall_handler, &ch);
	if (!hdr)
		return EPROTO;

	if (t->password) {
		realm = ch.realm;
		err = sipua_digest_ha1(t->ha1, t->user, &realm, t->password);
		/* the password has done its only job */
		forget_password(t);
		if (err)
			return err;
	}

	/* a fresh nonce each time: nc is 1 (RFC 2617 3.2.2) */
	d.proxy = proxy;
	d.chall = &ch;
	d.user = t->user;
	d.ha1 = t->ha1;
	d.method = t->method;
	d.uri = t->ruri;
	d.nc = 1;
	t->auth = mem_deref(t->auth);
	err = re_sdprintf(&t->auth, "%H", digest_h, &d);
	if (err)
		return err;

	/* RFC 3261 22.2: same Call-ID, CSeq incremented */
	++t->cseq;
	t->answered = true;

	return send_req(t);
}

static void complete(struct sipua_treq *t, int err, const struct sip_msg *msg)
{
	if (t->detached) {
		mem_deref(t);
		return;
	}
	if (t->h)
		t->h(err, msg, t->arg);
}

static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_treq *t = arg;

	if (err || !msg) {
		complete(t, err ? err : EPROTO, NULL);
		return;
	}
	if (msg->scode < 200)
		return;

	if ((msg->scode == 401 || msg->scode == 407) && !t->answered) {
		err = answer(t, msg);
		if (err)
			complete(t, err, msg);
		return;
	}

	complete(t, 0, msg);
}

int sipua_treq_send(struct sipua_treq **tp, struct sipua *ua,
		    const char *method, const char *ruri, const char *hdrs,
		    const char *user, const char *ha1, const char *password,
		    uint32_t cseq, sipua_treq_h *h, void *arg)
{
	return sipua_treq_sendb(tp, ua, method, ruri, hdrs, NULL, user, ha1,
				password, cseq, h, arg);
}

int sipua_treq_sendb(struct sipua_treq **tp, struct sipua *ua,
		     const char *method, const char *ruri, const char *hdrs,
		     const struct pl *body, const char *user, const char *ha1,
		     const char *password, uint32_t cseq, sipua_treq_h *h,
		     void *arg)
{
	struct sipua_treq *t;
	int err;

	if (!ua || !method || !ruri || !hdrs || !user || (!ha1 == !password))
		return EINVAL;
	if (ha1 && strlen(ha1) != SIPUA_HA1_LEN)
		return EINVAL;

	t = mem_zalloc(sizeof(*t), destructor);
	if (!t)
		return ENOMEM;

	t->ua = ua;
	t->cseq = cseq;
	t->h = h;
	t->arg = arg;
	err = str_dup(&t->method, method);
	err |= str_dup(&t->ruri, ruri);
	err |= str_dup(&t->hdrs, hdrs);
	err |= str_dup(&t->user, user);
	if (password)
		err |= str_dup(&t->password, password);
	else
		str_ncpy(t->ha1, ha1, sizeof(t->ha1));
	if (body && body->l) {
		t->body = mbuf_alloc(body->l);
		if (!t->body || mbuf_write_pl(t->body, body))
			err = ENOMEM;
	}
	if (err) {
		err = ENOMEM;
		goto out;
	}

	err = send_req(t);

out:
	if (err) {
		mem_deref(t);
	} else if (tp) {
		*tp = t;
	} else {
		t->detached = true;
		list_append(&ua->treql, &t->le, t);
	}

	return err;
}

uint32_t sipua_treq_cseq(const struct sipua_treq *t)
{
	return t ? t->cseq : 0;
}

const char *sipua_treq_ha1(const struct sipua_treq *t)
{
	return t ? t->ha1 : "";
}

bool sipua_treq_answered(const struct sipua_treq *t)
{
	return t && t->answered;
}

void sipua_treq_own(struct sipua_treq *t, void *ctx)
{
	if (!t) {
		mem_deref(ctx);
		return;
	}
	mem_deref(t->ctx);
	t->ctx = ctx;
}
