/**
 * @file reg.c  REGISTER state machine of one session (RFC 3261 10,
 * RFC 5626 outbound)
 *
 * Timing, turns, 423, back-off, orphaning, the flow lost and the request
 * in flight are the refresh machine's (refresh.c). What is REGISTER's
 * own: the request (RFC 5626 instance and reg-id, Allow), the grant read
 * from our own Contact in the 2xx, a grant of 0 retried, refused
 * credentials not retried, the first refresh capped (first_refresh_ms),
 * and the turn ahead of PUBLISH and SUBSCRIBE (a lapsed registration
 * loses the binding). Every REGISTER starts without credentials and answers the
 * Front End's 401 with the HA1 (treq.c): a nonce is never reused, so a
 * restarted Front End costs nothing more.
 */
#include <ctype.h>
#include <string.h>
#include "refresh.h"

enum {
	UUID_LEN = 36,
};

/* Methods we take in (RFC 3261 20.5). MESSAGE only once the session
 * has a request handler: the Front End's msilo hands stored messages to
 * a REGISTER whose Allow has MESSAGE (or that has no Allow). INVITE (and
 * what goes with it) only when the handler takes calls too. */
#define SIPUA_REG_ALLOW         "OPTIONS"
#define SIPUA_REG_ALLOW_MESSAGE "OPTIONS, MESSAGE"
#define SIPUA_REG_ALLOW_INVITE  "OPTIONS, MESSAGE, INVITE, ACK, CANCEL, BYE"

struct sipua_reg {
	struct sipua_refresh rf; /**< in ua->regl; rf.ua borrowed      */
	struct le he;            /**< in ua->regh, by contact_user     */
	char *user;
	char *domain;
	char *ruri;
	char *contact_user; /**< user part of our Contact (the session) */
	char *contact_uri;  /**< <sip:cuser@host:port;transport=tls;ob> */
	char instance[UUID_LEN + 1];
	char ha1[SIPUA_HA1_LEN + 1];
	char tag[17];
	char callid[33];
	uint32_t cseq;
	uint32_t sent;
	uint32_t soon_ms; /**< first refresh no later than this      */
	sipua_reg_h *h;
	void *arg;
	sipua_req_h *reqh; /**< incoming requests (NULL: none taken) */
	void *reqarg;
	bool invites; /**< the handler takes INVITE too            */
};

static int send_register(struct sipua_reg *reg, uint32_t expires,
			 struct sipua_treq **tp, sipua_treq_h *h);

static void destructor(void *arg)
{
	struct sipua_reg *reg = arg;

	sipua_refresh_stop(&reg->rf);
	hash_unlink(&reg->he);

	/* RFC 3261 10.2.2: remove this contact only (Expires 0 on the
	 * Contact); fire and forget, owned by the ua until answered. Sent
	 * whenever a REGISTER went out, answered or not: the Front End may
	 * hold the binding (Kamailio keeps bindings across its restart). */
	if (reg->sent && sipua_refresh_unremoved(&reg->rf))
		(void)send_register(reg, 0, NULL, NULL);

	mem_deref(reg->user);
	mem_deref(reg->domain);
	mem_deref(reg->ruri);
	mem_deref(reg->contact_user);
	mem_deref(reg->contact_uri);
}

static void status(struct sipua_reg *reg, int err, uint16_t scode,
		   uint32_t expires)
{
	if (reg->h)
		reg->h(err, scode, expires, reg->arg);
}

/* The expiry granted to our contact: its expires parameter among the
 * Contacts of the 200 (RFC 3261 10.2.4), else the Expires header. */
struct grant {
	const struct sipua_reg *reg;
	uint32_t expires;
	bool found;
};

static bool contact_handler(const struct sip_hdr *hdr,
			    const struct sip_msg *msg, void *arg)
{
	struct grant *g = arg;
	struct sip_addr addr;
	struct pl inst, exp;
	(void)msg;

	if (sip_addr_decode(&addr, &hdr->val))
		return false;
	if (msg_param_decode(&addr.params, "+sip.instance", &inst))
		return false;
	/* "<urn:uuid:...>" quoted. libre's re_regex takes no '-' in a
	 * character class: "[0-9a-f-]+" stopped at the first dash, no
	 * Contact matched and every grant was read as the expiry we asked
	 * for. A Front End granting less (max_expires) then dropped the
	 * bindings before their refresh, and Kamailio's usrloc
	 * (close_expired_tcp) closed the one flow with them. */
	if (re_regex(inst.p, inst.l, "urn:uuid:[^>]+", &inst) ||
	    pl_strcasecmp(&inst, g->reg->instance))
		return false;
	if (msg_param_decode(&addr.params, "expires", &exp))
		return false;

	g->expires = pl_u32(&exp);
	g->found = true;
	return true;
}

static uint32_t granted(const struct sipua_reg *reg, const struct sip_msg *msg)
{
	struct grant g = {reg, 0, false};

	(void)sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, contact_handler,
				&g);
	if (!g.found && pl_isset(&msg->expires)) {
		g.expires = pl_u32(&msg->expires);
		g.found = true;
	}
	return g.found ? g.expires : reg->rf.expires;
}

static void treq_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_reg *reg = arg;
	uint16_t scode = msg ? msg->scode : 0;
	uint32_t exp;

	reg->cseq = sipua_refresh_treq_done(&reg->rf);

	if (err) {
		log_info("sipua: REGISTER %s@%s: %m", reg->user, reg->domain,
			 err);
		sipua_refresh_retry_later(&reg->rf);
		status(reg, err, 0, 0);
		return;
	}

	if (scode >= 200 && scode < 300) {
		exp = granted(reg, msg);
		if (!exp) {
			/* the registrar dropped us at once: try again */
			sipua_refresh_retry_later(&reg->rf);
			status(reg, EPROTO, scode, 0);
			return;
		}
		sipua_flow_keepalive(reg->rf.ua, msg);
		/* a restored session's first refresh comes soon */
		exp = sipua_refresh_granted(&reg->rf, exp, reg->soon_ms);
		reg->soon_ms = 0;
		status(reg, 0, scode, exp);
		return;
	}

	if (sipua_refresh_min_expires(&reg->rf, msg))
		return;

	log_notice("sipua: REGISTER %s@%s: %u %r", reg->user, reg->domain,
		   scode, &msg->reason);

	/* refused credentials: retrying would only hammer the registrar */
	if (scode == 401 || scode == 403 || scode == 404 || scode == 407) {
		status(reg, EACCES, scode, 0);
		return;
	}

	sipua_refresh_retry_later(&reg->rf);
	status(reg, EPROTO, scode, 0);
}

static int send_register(struct sipua_reg *reg, uint32_t expires,
			 struct sipua_treq **tp, sipua_treq_h *h)
{
	char *hdrs = NULL;
	int err;

	/* RFC 5626 4.2: instance and reg-id on the Contact, ;ob on its URI,
	 * Supported: outbound (and path, RFC 3327) */
	err = re_sdprintf(&hdrs,
			  /* libre adds Max-Forwards: 70 */
			  "To: <sip:%s@%s>\r\n"
			  "From: <sip:%s@%s>;tag=%s\r\n"
			  "Call-ID: %s\r\n"
			  "Contact: %s;+sip.instance=\"<urn:uuid:%s>\""
			  ";reg-id=1;expires=%u\r\n"
			  "Supported: outbound, path\r\n"
			  "Allow: %s\r\n",
			  reg->user, reg->domain, reg->user, reg->domain,
			  reg->tag, reg->callid, reg->contact_uri,
			  reg->instance, expires, sipua_reg_allow(reg));
	if (err)
		return err;

	err = sipua_treq_send(tp, reg->rf.ua, "REGISTER", reg->ruri, hdrs,
			      reg->user, reg->ha1, NULL, reg->cseq,
			      tp ? h : NULL, reg);
	if (!err) {
		++reg->sent;
		/* a detached un-REGISTER used this CSeq and the next */
		reg->cseq += 2;
	}

	mem_deref(hdrs);
	return err;
}

/* Due with a turn held (refresh.c) */
static int send_h(void *arg)
{
	struct sipua_reg *reg = arg;

	return send_register(reg, reg->rf.expires, &reg->rf.treq, treq_handler);
}

static void fail_h(int err, void *arg)
{
	struct sipua_reg *reg = arg;

	status(reg, err, 0, 0);
}

/* The drain's un-REGISTER was answered (drain.c) */
static void removed_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_reg *reg = arg;
	bool answered = sipua_treq_answered(reg->rf.treq);

	reg->rf.treq = mem_deref(reg->rf.treq);
	sipua_refresh_removed(&reg->rf, sipua_result(err, msg, answered));
}

/* Drain, with a turn held: remove this contact (RFC 3261 10.2.2) */
static int remove_h(void *arg)
{
	struct sipua_reg *reg = arg;

	if (!reg->sent)
		return ENOENT;
	return send_register(reg, 0, &reg->rf.treq, removed_handler);
}

/* REGISTER goes ahead of the others on the flow and outlives its loss
 * when in flight (its answer tells); refreshed at least a second apart,
 * whatever the registrar grants */
static const struct sipua_refresh_class reg_class = {
    .method = "REGISTER",
    .first = true,
    .keep_on_loss = true,
    .floor_ms = 1000,
    .offset_ms = 0,
    .sendh = send_h,
    .failh = fail_h,
    .droph = NULL,
    .losth = NULL,
    .stoph = NULL,
    .removeh = remove_h,
};

void sipua_reg_orphan_all(struct sipua *ua)
{
	/* the ua goes first (an owner's mistake): the registrations stay
	 * valid objects that do nothing more */
	while (ua->regl.head) {
		struct sipua_reg *reg = ua->regl.head->data;

		hash_unlink(&reg->he);
		sipua_refresh_orphan(&reg->rf);
	}
}

void sipua_reg_flow_lost(struct sipua *ua)
{
	sipua_refresh_flow_lost(&ua->regl);
}

static bool uuid_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != UUID_LEN)
		return false;
	for (i = 0; i < UUID_LEN; i++) {
		unsigned char c = (unsigned char)s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-' : !isxdigit(c))
			return false;
	}
	return true;
}

static int contact_uri(struct sipua_reg *reg)
{
	struct sa laddr;
	int err;

	/* the Front End reaches us over the flow (RFC 5626 5.3); the
	 * address is our own listener when there is one */
	if (sipua_listen_addr(reg->rf.ua, 0, &laddr) &&
	    sipua_listen_addr(reg->rf.ua, 1, &laddr)) {
		err = sip_transp_laddr(reg->rf.ua->sip, &laddr, SIP_TRANSP_TLS,
				       &reg->rf.ua->fe_addr);
		if (err)
			return err;
	}

	return re_sdprintf(&reg->contact_uri, "<sip:%s@%J;transport=tls;ob>",
			   reg->contact_user, &laddr);
}

int sipua_reg_alloc(struct sipua_reg **regp, struct sipua *ua,
		    const struct sipua_reg_param *p, sipua_reg_h *h, void *arg)
{
	struct sipua_reg *reg;
	int err;

	if (!regp || !ua || !p || !sipua_user_valid(p->user) ||
	    !sipua_domain_valid(p->domain) || !p->ha1 ||
	    strlen(p->ha1) != SIPUA_HA1_LEN || !uuid_valid(p->instance) ||
	    (p->contact_user && !sipua_user_valid(p->contact_user)))
		return EINVAL;
	if (sipua_draining(ua))
		return ESHUTDOWN;

	reg = mem_zalloc(sizeof(*reg), destructor);
	if (!reg)
		return ENOMEM;

	reg->rf.ua = ua;
	reg->h = h;
	reg->arg = arg;
	reg->cseq = 1 + rand_u32() % 1000;
	reg->soon_ms = p->first_refresh_ms;
	str_ncpy(reg->instance, p->instance, sizeof(reg->instance));
	str_ncpy(reg->ha1, p->ha1, sizeof(reg->ha1));
	sipua_rand_hex(reg->tag, 8);
	sipua_rand_hex(reg->callid, 16);

	err = str_dup(&reg->user, p->user);
	err |= str_dup(&reg->domain, p->domain);
	err |= str_dup(&reg->contact_user,
		       p->contact_user ? p->contact_user : p->user);
	err |= re_sdprintf(&reg->ruri, "sip:%s", p->domain);
	if (err) {
		err = ENOMEM;
		goto out;
	}
	err = contact_uri(reg);
	if (err)
		goto out;

	sipua_refresh_init(&reg->rf, ua, &ua->regl, &reg_class, p->expires,
			   reg);
	hash_append(ua->regh, hash_joaat_str(reg->contact_user), &reg->he, reg);

	/* first REGISTER from the wheel: the handler never runs inside
	 * this call */
	sipua_refresh_now(&reg->rf);

out:
	if (err)
		mem_deref(reg);
	else
		*regp = reg;

	return err;
}

uint32_t sipua_reg_sent(const struct sipua_reg *reg)
{
	return reg ? reg->sent : 0;
}

void sipua_reg_set_request_handler(struct sipua_reg *reg, sipua_req_h *h,
				   void *arg)
{
	bool was;

	if (!reg)
		return;

	was = reg->reqh != NULL;
	reg->reqh = h;
	reg->reqarg = arg;

	/* the Allow of the binding changes with the handler: tell the
	 * Front End now (msilo hands stored messages over on a REGISTER
	 * that allows MESSAGE) unless a REGISTER is on its way anyway */
	if (was != (h != NULL) && reg->rf.ua && reg->sent && !reg->rf.treq)
		sipua_refresh_now(&reg->rf);
}

void sipua_reg_refresh(struct sipua_reg *reg)
{
	/* not before the first REGISTER, nor on top of one on its way */
	if (reg && reg->rf.ua && reg->sent && !reg->rf.treq)
		sipua_refresh_now(&reg->rf);
}

static bool cuser_cmp(struct le *le, void *arg)
{
	const struct sipua_reg *reg = le->data;

	/* RFC 3261 19.1.4: the user part compares case-sensitively */
	return !pl_strcmp(arg, reg->contact_user);
}

struct sipua_reg *sipua_reg_find(const struct sipua *ua, const struct pl *cuser)
{
	return list_ledata(hash_lookup(
	    ua->regh, hash_joaat((const uint8_t *)cuser->p, cuser->l),
	    cuser_cmp, (void *)cuser));
}

const char *sipua_reg_contact(const struct sipua_reg *reg)
{
	return reg ? reg->contact_uri : NULL;
}

void sipua_reg_take_invites(struct sipua_reg *reg, bool on)
{
	if (reg)
		reg->invites = on;
}

bool sipua_reg_takes_invites(const struct sipua_reg *reg)
{
	return reg->reqh && reg->invites;
}

const char *sipua_reg_allow(const struct sipua_reg *reg)
{
	if (!reg->reqh)
		return SIPUA_REG_ALLOW;
	return reg->invites ? SIPUA_REG_ALLOW_INVITE : SIPUA_REG_ALLOW_MESSAGE;
}

sipua_req_h *sipua_reg_request_handler(const struct sipua_reg *reg, void **argp)
{
	*argp = reg->reqarg;
	return reg->reqh;
}

void sipua_reg_forget(struct sipua_reg *reg)
{
	if (reg)
		sipua_refresh_forget(&reg->rf);
}
