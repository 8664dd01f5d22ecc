/**
 * @file pub.c  Presence publication of one user (RFC 3903 PUBLISH)
 *
 * The first PUBLISH carries the document and gets an entity tag
 * (SIP-ETag). A change is a PUBLISH with SIP-If-Match and the new body;
 * a refresh, from the core timer wheel before the publication expires,
 * has SIP-If-Match and no body (RFC 3903 4.3, 4.4). A 412 means the
 * Front End lost the publication: start over with the whole document.
 * Dropping the handle removes the publication (Expires: 0, 4.5).
 * Timing, turns, 423, back-off, orphaning and the request in flight are
 * the refresh machine's (refresh.c); a publication is not made again
 * when the flow is lost (its state lives in the Front End, not on the
 * flow).
 */
#include <string.h>
#include "refresh.h"

enum {
	MAX_ETAG = 128,  /* bytes of an entity tag we keep        */
	MAX_CTYPE = 100, /* bytes of a content type               */
};

enum kind {
	KIND_INITIAL, /* no entity tag: the whole document        */
	KIND_MODIFY,  /* SIP-If-Match and the new document        */
	KIND_REFRESH, /* SIP-If-Match, no body                    */
};

struct sipua_pub {
	struct sipua_refresh rf; /**< in ua->publ; rf.ua borrowed, NULL
				      once detached                 */
	enum kind kind;          /**< of the request in flight         */
	char *user;
	char *domain;
	char *aor; /**< sip:user@domain (To, From, R-URI) */
	char ha1[SIPUA_HA1_LEN + 1];
	char tag[17];
	char callid[33];
	char etag[MAX_ETAG + 1]; /**< "" when there is none        */
	char *ctype;
	struct mbuf *body; /**< current document                 */
	bool dirty;        /**< document not yet accepted         */
	uint32_t cseq;
	sipua_done_h *h;
	void *arg;
};

static int send_publish(struct sipua_pub *p, enum kind kind, uint32_t expires,
			struct sipua_treq **tp, sipua_treq_h *h);

static void destructor(void *arg)
{
	struct sipua_pub *p = arg;

	sipua_refresh_stop(&p->rf);

	/* RFC 3903 4.5: remove the publication (detached, owned by the
	 * ua until answered) */
	if (p->etag[0] && sipua_refresh_unremoved(&p->rf))
		(void)send_publish(p, KIND_REFRESH, 0, NULL, NULL);

	mem_deref(p->user);
	mem_deref(p->domain);
	mem_deref(p->aor);
	mem_deref(p->ctype);
	mem_deref(p->body);
}

static void status(struct sipua_pub *p, int err, uint16_t scode)
{
	if (p->h)
		p->h(err, scode, p->arg);
}

/* SIP-ETag is a token (RFC 3903 11.3.1); it goes back into a header */
static bool etag_take(struct sipua_pub *p, const struct sip_msg *msg)
{
	const struct sip_hdr *hdr = sip_msg_hdr(msg, SIP_HDR_SIP_ETAG);
	size_t i;

	if (!hdr || !hdr->val.l || hdr->val.l > MAX_ETAG)
		return false;
	for (i = 0; i < hdr->val.l; i++) {
		char c = hdr->val.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-.!%*_+`'~", c)))
			return false;
	}
	(void)pl_strcpy(&hdr->val, p->etag, sizeof(p->etag));
	return true;
}

static void treq_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_pub *p = arg;
	uint16_t scode = msg ? msg->scode : 0;
	enum kind kind = p->kind;
	uint32_t exp;

	p->cseq = sipua_refresh_treq_done(&p->rf);

	/* a document sent but not accepted is still to be sent */
	if (kind != KIND_REFRESH && (err || scode >= 300))
		p->dirty = true;

	if (err) {
		log_info("sipua: PUBLISH %s: %m", p->aor, err);
		sipua_refresh_retry_later(&p->rf);
		status(p, err, 0);
		return;
	}

	if (scode >= 200 && scode < 300) {
		if (!etag_take(p, msg)) {
			p->etag[0] = '\0';
			p->dirty = true;
			sipua_refresh_retry_later(&p->rf);
			status(p, EPROTO, scode);
			return;
		}
		exp = pl_isset(&msg->expires) ? pl_u32(&msg->expires)
					      : p->rf.expires;
		(void)sipua_refresh_granted(&p->rf, exp, 0);
		/* a change made while this one was in flight goes now */
		if (p->dirty)
			sipua_refresh_now(&p->rf);
		status(p, 0, scode);
		return;
	}

	/* RFC 3903 4.1.4 / 6 step 4: the entity tag is unknown (expired,
	 * or the Front End restarted): publish the whole document anew */
	if (scode == 412 && kind != KIND_INITIAL) {
		log_info("sipua: PUBLISH %s: 412, publishing again", p->aor);
		p->etag[0] = '\0';
		p->dirty = true;
		sipua_refresh_now(&p->rf);
		return;
	}

	if (sipua_refresh_min_expires(&p->rf, msg))
		return;

	log_notice("sipua: PUBLISH %s: %u %r", p->aor, scode, &msg->reason);

	err = sipua_result(0, msg, true);
	/* refused credentials: retrying would only hammer the Front End */
	if (err != EACCES)
		sipua_refresh_retry_later(&p->rf);
	status(p, err, scode);
}

static int send_publish(struct sipua_pub *p, enum kind kind, uint32_t expires,
			struct sipua_treq **tp, sipua_treq_h *h)
{
	struct pl body = PL_INIT;
	char *hdrs = NULL;
	int err;

	if (kind != KIND_REFRESH)
		pl_set_mbuf(&body, p->body);

	err = re_sdprintf(&hdrs,
			  /* libre adds Max-Forwards: 70 */
			  "To: <%s>\r\n"
			  "From: <%s>;tag=%s\r\n"
			  "Call-ID: %s\r\n"
			  "Event: presence\r\n"
			  "Expires: %u\r\n"
			  "%s%s%s"
			  "%s%s%s",
			  p->aor, p->aor, p->tag, p->callid, expires,
			  kind != KIND_INITIAL ? "SIP-If-Match: " : "",
			  kind != KIND_INITIAL ? p->etag : "",
			  kind != KIND_INITIAL ? "\r\n" : "",
			  kind != KIND_REFRESH ? "Content-Type: " : "",
			  kind != KIND_REFRESH ? p->ctype : "",
			  kind != KIND_REFRESH ? "\r\n" : "");
	if (err)
		return err;

	err = sipua_treq_sendb(tp, p->rf.ua, "PUBLISH", p->aor, hdrs,
			       kind != KIND_REFRESH ? &body : NULL, p->user,
			       p->ha1, NULL, p->cseq, tp ? h : NULL, p);
	if (!err) {
		p->kind = kind;
		/* a detached request uses this CSeq and the next */
		p->cseq += 2;
	}

	mem_deref(hdrs);
	return err;
}

/* Due with a turn held (refresh.c): the whole document without an
 * entity tag, a changed one, or a refresh without body */
static int send_h(void *arg)
{
	struct sipua_pub *p = arg;
	enum kind kind;
	int err;

	if (!p->etag[0])
		kind = KIND_INITIAL;
	else if (p->dirty)
		kind = KIND_MODIFY;
	else
		kind = KIND_REFRESH;

	p->dirty = false;
	err = send_publish(p, kind, p->rf.expires, &p->rf.treq, treq_handler);
	if (err)
		p->dirty = kind != KIND_REFRESH;
	return err;
}

static void fail_h(int err, void *arg)
{
	status(arg, err, 0);
}

/* The drain's un-PUBLISH was answered (drain.c) */
static void removed_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_pub *p = arg;

	p->rf.treq = mem_deref(p->rf.treq);
	p->etag[0] = '\0';
	sipua_refresh_removed(&p->rf, sipua_result(err, msg, true));
}

/* Drain, with a turn held: remove the publication (RFC 3903 4.5) */
static int remove_h(void *arg)
{
	struct sipua_pub *p = arg;

	if (!p->etag[0])
		return ENOENT;
	return send_publish(p, KIND_REFRESH, 0, &p->rf.treq, removed_handler);
}

/* PUBLISH waits its turn behind REGISTERs; refreshed at least a second
 * apart; not made again on a lost flow (sipua_refresh_flow_lost() is not
 * called with ua->publ) */
static const struct sipua_refresh_class pub_class = {
    .method = "PUBLISH",
    .first = false,
    .keep_on_loss = false,
    .floor_ms = 1000,
    .offset_ms = 0,
    .sendh = send_h,
    .failh = fail_h,
    .droph = NULL,
    .losth = NULL,
    .stoph = NULL,
    .removeh = remove_h,
};

void sipua_pub_orphan_all(struct sipua *ua)
{
	while (ua->publ.head) {
		struct sipua_pub *p = ua->publ.head->data;

		sipua_refresh_orphan(&p->rf);
	}
}

int sipua_pub_alloc(struct sipua_pub **pp, struct sipua *ua,
		    const struct sipua_id *id, uint32_t expires,
		    sipua_done_h *h, void *arg)
{
	struct sipua_pub *p;
	int err;

	if (!pp || !ua || !id || !sipua_user_valid(id->user) ||
	    !sipua_domain_valid(id->domain) || !id->ha1 ||
	    strlen(id->ha1) != SIPUA_HA1_LEN)
		return EINVAL;
	if (sipua_draining(ua))
		return ESHUTDOWN;

	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;

	p->h = h;
	p->arg = arg;
	p->cseq = 1 + rand_u32() % 1000;
	str_ncpy(p->ha1, id->ha1, sizeof(p->ha1));
	sipua_rand_hex(p->tag, 8);
	sipua_rand_hex(p->callid, 16);

	err = str_dup(&p->user, id->user);
	err |= str_dup(&p->domain, id->domain);
	err |= re_sdprintf(&p->aor, "sip:%s@%s", id->user, id->domain);
	if (err) {
		err = ENOMEM;
		goto out;
	}

	sipua_refresh_init(&p->rf, ua, &ua->publ, &pub_class, expires, p);

out:
	if (err)
		mem_deref(p);
	else
		*pp = p;

	return err;
}

/* type "/" subtype, RFC 3261 25.1 token characters each */
static bool ctype_valid(const char *s)
{
	size_t i, n = strlen(s), slash = 0;

	if (!n || n > MAX_CTYPE)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			if (slash++ || !i || i == n - 1)
				return false;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') ||
			     strchr("-.!%*_+`'~", c))) {
			return false;
		}
	}
	return slash == 1;
}

int sipua_pub_set(struct sipua_pub *p, const char *ctype, const struct pl *body)
{
	struct mbuf *mb;
	char *ct = NULL;

	if (!p || !ctype || !ctype_valid(ctype) || !body || !pl_isset(body))
		return EINVAL;
	if (body->l > SIPUA_MAX_PUB_BYTES)
		return EMSGSIZE;
	if (!p->rf.ua)
		return ENOTCONN;

	mb = mbuf_alloc(body->l);
	if (!mb || mbuf_write_pl(mb, body) || str_dup(&ct, ctype)) {
		mem_deref(mb);
		return ENOMEM;
	}
	mb->pos = 0;

	mem_deref(p->body);
	mem_deref(p->ctype);
	p->body = mb;
	p->ctype = ct;
	p->dirty = true;

	/* from the wheel, so the handler never runs inside this call; a
	 * request in flight sends the change when it is answered */
	if (!p->rf.treq)
		sipua_refresh_now(&p->rf);

	return 0;
}

bool sipua_pub_ispublished(const struct sipua_pub *p)
{
	return p && p->etag[0] && !p->dirty;
}

void sipua_pub_forget(struct sipua_pub *pub)
{
	if (pub)
		sipua_refresh_forget(&pub->rf);
}
