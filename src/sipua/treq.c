/**
 * @file treq.c  An out-of-dialog request that answers one digest challenge
 *
 * The Front End challenges every out-of-dialog request of a local user
 * (401 for REGISTER, 407 for the rest). We answer one challenge with the
 * HA1; a second challenge after our answer means the credentials are
 * wrong, and is reported instead of answered again, so a bad password
 * never turns into a request storm.
 *
 * The last 407 challenge of each user is kept, and the next request of
 * that user (other than REGISTER) carries its answer from the start, with
 * the nonce count one higher (RFC 2617 3.2.2: a client may reuse a nonce
 * with a growing nc). The Front End then takes a MESSAGE in one round
 * trip instead of two. A stale or refused nonce gets a 407 again, which
 * is answered as before (the request has not answered one yet).
 */
#include <string.h>
#include <openssl/crypto.h>
#include "sipua_int.h"

/* Named limits of the challenge cache. */
enum {
	AUTHC_MAX = 4096, /* users whose last challenge is kept         */
	AUTHC_HASH = 256, /* hash buckets                               */
	/* a kept nonce is used this long; Kamailio's nonce_expire is
	 * 300 s in deploy/frontend (older ones only cost a 407) */
	AUTHC_TTL_MS = 240 * 1000,
	AUTHC_STR_MAX = 256, /* bytes of a kept nonce, realm, opaque, qop */
};

/* The last proxy challenge of one user (strings copied from it). */
struct authc {
	struct le he; /* in ua->authh, by user */
	struct le le; /* in ua->authl, oldest first */
	char *user, *realm, *nonce, *opaque, *qop;
	uint32_t nc; /* nonce count last used */
	uint64_t at; /* tmr_jiffies() when it came */
};

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

static void authc_destructor(void *arg)
{
	struct authc *a = arg;

	hash_unlink(&a->he);
	list_unlink(&a->le);
	mem_deref(a->user);
	mem_deref(a->realm);
	mem_deref(a->nonce);
	mem_deref(a->opaque);
	mem_deref(a->qop);
}

static bool authc_cmp(struct le *le, void *arg)
{
	const struct authc *a = le->data;

	return !strcmp(a->user, arg);
}

/* The kept challenge of user, if still young enough to use. */
static struct authc *authc_find(struct sipua *ua, const char *user)
{
	struct authc *a;
	struct le *le;

	if (!ua->authh)
		return NULL;
	le = hash_lookup(ua->authh, hash_joaat_str(user), authc_cmp,
			 (void *)user);
	a = le ? le->data : NULL;
	if (a && tmr_jiffies() - a->at > AUTHC_TTL_MS)
		a = mem_deref(a);
	return a;
}

/* Copy an optional part of a challenge (NULL when absent). */
static int authc_str(char **dst, const struct pl *v)
{
	if (!pl_isset(v))
		return 0;
	if (v->l > AUTHC_STR_MAX)
		return EOVERFLOW;
	return pl_strdup(dst, v);
}

/* Keep user's latest 407 challenge (answered with nc 1); best effort. */
static void authc_keep(struct sipua *ua, const char *user,
		       const struct httpauth_digest_chall *ch)
{
	struct authc *a;
	int err;

	if (!ua->authh && hash_alloc(&ua->authh, AUTHC_HASH))
		return;
	mem_deref(authc_find(ua, user));
	if (list_count(&ua->authl) >= AUTHC_MAX)
		mem_deref(list_head(&ua->authl)->data);

	a = mem_zalloc(sizeof(*a), authc_destructor);
	if (!a)
		return;
	err = str_dup(&a->user, user);
	err |= authc_str(&a->realm, &ch->realm);
	err |= authc_str(&a->nonce, &ch->nonce);
	err |= authc_str(&a->opaque, &ch->opaque);
	err |= authc_str(&a->qop, &ch->qop);
	if (err || !a->realm || !a->nonce) {
		mem_deref(a);
		return;
	}
	a->nc = 1;
	a->at = tmr_jiffies();
	hash_append(ua->authh, hash_joaat_str(user), &a->he, a);
	list_append(&ua->authl, &a->le, a);
}

static int digest_h(struct re_printf *pf, void *arg)
{
	return digest_print(pf, arg);
}

static int send_req(struct sipua_treq *t)
{
	if (!sipua_may_send(t->ua))
		return EPERM;
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

/* The Authorization (or Proxy-Authorization) line answering ch. */
static int set_auth(struct sipua_treq *t,
		    const struct httpauth_digest_chall *ch, bool proxy,
		    uint32_t nc)
{
	struct digest_answer d;

	d.proxy = proxy;
	d.chall = ch;
	d.user = t->user;
	d.ha1 = t->ha1;
	d.method = t->method;
	d.uri = t->ruri;
	d.nc = nc;
	t->auth = mem_deref(t->auth);
	return re_sdprintf(&t->auth, "%H", digest_h, &d);
}

/* Answer a 401/407 (EPROTO when there is no challenge we can answer). */
static int answer(struct sipua_treq *t, const struct sip_msg *msg)
{
	struct httpauth_digest_chall ch;
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
		err = digest_ha1(t->ha1, t->user, &realm, t->password);
		/* the password has done its only job */
		forget_password(t);
		if (err)
			return err;
	}

	/* a fresh nonce each time: nc is 1 (RFC 2617 3.2.2) */
	err = set_auth(t, &ch, proxy, 1);
	if (err)
		return err;
	if (proxy && strcmp(t->method, "REGISTER"))
		authc_keep(t->ua, t->user, &ch);

	/* RFC 3261 22.2: same Call-ID, CSeq incremented */
	++t->cseq;
	t->answered = true;

	return send_req(t);
}

/* Answer the user's kept challenge from the start (nc one higher). */
static void preauth(struct sipua_treq *t)
{
	struct authc *a = authc_find(t->ua, t->user);
	struct httpauth_digest_chall ch;

	if (!a)
		return;
	memset(&ch, 0, sizeof(ch));
	pl_set_str(&ch.realm, a->realm);
	pl_set_str(&ch.nonce, a->nonce);
	if (a->opaque)
		pl_set_str(&ch.opaque, a->opaque);
	if (a->qop)
		pl_set_str(&ch.qop, a->qop);
	/* not an answer to a challenge: a 407 to it is still answered
	 * (without it, the request goes as it would have) */
	(void)set_auth(t, &ch, true, ++a->nc);
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

	if (ha1 && strcmp(method, "REGISTER"))
		preauth(t);
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
