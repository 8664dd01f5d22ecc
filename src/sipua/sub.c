/**
 * @file sub.c  Presence subscription of one session (RFC 6665, RFC 3856;
 *              resource lists through RLS: RFC 4662)
 *
 * Our own state machine on sip_drequestf() and one sip_dialog, not libre's
 * sipsub: the wheel drives refreshes, the HA1 answers the Front End's 407,
 * and NOTIFYs arrive through the listener of the registrations (sreq.c),
 * which hands an in-dialog NOTIFY to the subscription whose dialog it
 * matches. A subscription that ends (terminated NOTIFY, a failed refresh,
 * the flow lost) is made again with a new dialog unless RFC 6665 4.1.3
 * says not to retry; then the close handler is told. Timing, turns, 423,
 * back-off, orphaning and the flow lost are the refresh machine's
 * (refresh.c); a retry there forgets the dialog (drop_h), so every retry
 * is a new subscription.
 */
#include <string.h>
#include "refresh.h"

enum {
	/* refreshes fall half a second after the machine's 50-90% point */
	REFRESH_OFFSET_MS = 500,
};

#define ACCEPT_ONE "application/pidf+xml"
#define ACCEPT_LIST                                                            \
	"multipart/related, application/rlmi+xml, application/pidf+xml"

struct sipua_sub {
	struct sipua_refresh rf; /**< in ua->subl; rf.ua borrowed, NULL
				      once detached                   */
	struct le he;            /**< in ua->subh while dlg is set       */
	struct sip_dialog *dlg;  /**< current dialog, NULL between two   */
	struct sip_request *req; /**< SUBSCRIBE in flight                */
	char *user;              /**< digest user                        */
	char *aor;               /**< From: sip:user@domain              */
	char *uri;               /**< presentity or list                 */
	char *contact;           /**< <sip:cuser@host:port;...;ob>       */
	char *auth;              /**< Proxy-Authorization answer, or NULL */
	char ha1[SIPUA_HA1_LEN + 1];
	bool list;
	bool answered; /**< the request in flight answers a challenge */
	uint32_t sent;
	sipua_notify_h *nh;
	sipua_sub_close_h *ch;
	void *arg;
};

static int send_subscribe(struct sipua_sub *sub, uint32_t expires,
			  struct sip_request **reqp, sip_resp_h *resph);

/* No SUBSCRIBE in flight (or waiting to go) any more: its turn goes */
static void drop_req(struct sipua_sub *sub)
{
	sub->req = mem_deref(sub->req);
	sipua_refresh_done(&sub->rf);
}

static void destructor(void *arg)
{
	struct sipua_sub *sub = arg;

	sub->req = mem_deref(sub->req);
	sipua_refresh_stop(&sub->rf);

	/* RFC 6665 4.1.2.3: unsubscribe (Expires: 0 in the dialog); the
	 * Front End's last NOTIFY finds no subscription (sreq.c) */
	if (sub->dlg && sip_dialog_established(sub->dlg) &&
	    sipua_refresh_unremoved(&sub->rf))
		(void)send_subscribe(sub, 0, NULL, NULL);

	hash_unlink(&sub->he);
	mem_deref(sub->dlg);
	mem_deref(sub->user);
	mem_deref(sub->aor);
	mem_deref(sub->uri);
	mem_deref(sub->contact);
	mem_deref(sub->auth);
}

/* The dialog ends: so does its entry by Call-ID. */
static void drop_dlg(struct sipua_sub *sub)
{
	hash_unlink(&sub->he);
	sub->dlg = mem_deref(sub->dlg);
}

/* A retry of the machine (refresh.c) forgets the dialog: the next
 * SUBSCRIBE starts a new subscription */
static void drop_h(void *arg)
{
	struct sipua_sub *sub = arg;

	sub->req = mem_deref(sub->req);
	drop_dlg(sub);
	sub->auth = mem_deref(sub->auth);
	sub->answered = false;
}

static void close_for_good(struct sipua_sub *sub, int err, uint16_t scode)
{
	sub->req = mem_deref(sub->req);
	sipua_refresh_close(&sub->rf);
	drop_dlg(sub);
	if (sub->ch)
		sub->ch(err, scode, sub->arg);
}

/* RFC 8760 4: the first Digest challenge we can answer (MD5) */
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

static int digest_h(struct re_printf *pf, void *arg)
{
	return digest_print(pf, arg);
}

static int make_auth(struct sipua_sub *sub, const struct sip_msg *msg)
{
	struct httpauth_digest_chall ch;
	struct digest_answer d;
	bool proxy = msg->scode == 407;

	if (!sip_msg_hdr_apply(msg, true,
			       proxy ? SIP_HDR_PROXY_AUTHENTICATE
				     : SIP_HDR_WWW_AUTHENTICATE,
			       chall_handler, &ch))
		return EPROTO;

	d.proxy = proxy;
	d.chall = &ch;
	d.user = sub->user;
	d.ha1 = sub->ha1;
	d.method = "SUBSCRIBE";
	d.uri = sub->uri; /* the Request-URI outside the dialog */
	d.nc = 1;
	sub->auth = mem_deref(sub->auth);

	return re_sdprintf(&sub->auth, "%H", digest_h, &d);
}

static int final_error(uint16_t scode)
{
	switch (scode) {
	case 401:
	case 403:
	case 407:
	case 603:
		return EACCES;
	case 404:
	case 480:
	case 484:
	case 604:
		return ENOENT;
	default:
		return EPROTO;
	}
}

static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_sub *sub = arg;
	uint16_t scode = msg ? msg->scode : 0;
	uint32_t exp;

	if (!err && !msg)
		err = EPROTO;
	if (!err && scode < 200)
		return;

	/* the transaction is over; a digest answer (below) keeps its turn */
	if (err || (scode != 401 && scode != 407) || sub->answered ||
	    sip_dialog_established(sub->dlg))
		sipua_refresh_done(&sub->rf);

	if (err) {
		log_info("sipua: SUBSCRIBE %s: %m", sub->uri, err);
		sipua_refresh_retry_later(&sub->rf);
		return;
	}

	/* RFC 3261 22.2: one answer to a challenge, in the same dialog
	 * (libre increments the CSeq) */
	if ((scode == 401 || scode == 407) && !sub->answered) {
		/* the Front End challenges requests out of dialog only:
		 * a challenged refresh starts a new subscription */
		if (sip_dialog_established(sub->dlg)) {
			sipua_refresh_retry(&sub->rf, 0);
			return;
		}
		err = make_auth(sub, msg);
		if (!err)
			err = send_subscribe(sub, sub->rf.expires, &sub->req,
					     resp_handler);
		if (!err) {
			sub->answered = true;
			return;
		}
		close_for_good(sub, err == EPROTO ? EPROTO : EACCES, scode);
		return;
	}
	sub->answered = false;
	sub->auth = mem_deref(sub->auth);

	if (scode < 300) {
		/* RFC 6665 4.1.2.1: the 2xx makes the dialog, unless a
		 * NOTIFY came first */
		if (!sip_dialog_established(sub->dlg) &&
		    sip_dialog_create(sub->dlg, msg)) {
			sipua_refresh_retry_later(&sub->rf);
			return;
		}
		exp = pl_isset(&msg->expires) ? pl_u32(&msg->expires)
					      : sub->rf.expires;
		(void)sipua_refresh_granted(&sub->rf, exp, 0);
		return;
	}

	/* a new subscription with the Min-Expires (refresh.c) */
	if (sipua_refresh_min_expires(&sub->rf, msg))
		return;

	log_notice("sipua: SUBSCRIBE %s: %u %r", sub->uri, scode, &msg->reason);

	/* RFC 6665 4.1.2.2: a failed refresh (481, 408) ends the dialog;
	 * the Front End busy or unreachable: try again later */
	if (scode == 408 || scode == 481 || (scode >= 500 && scode < 600)) {
		sipua_refresh_retry_later(&sub->rf);
		return;
	}

	close_for_good(sub, final_error(scode), scode);
}

/* reqp NULL: detached (no answer handler) */
static int send_subscribe(struct sipua_sub *sub, uint32_t expires,
			  struct sip_request **reqp, sip_resp_h *resph)
{
	const char *routev[1];
	int err;

	if (!sipua_may_send(sub->rf.ua))
		return EPERM;
	if (!sub->dlg) {
		/* the first hop is the Front End, for the first request
		 * only: sip_dialog_create() takes the route set from the
		 * answer */
		routev[0] = sub->rf.ua->route_str;
		err = sip_dialog_alloc(&sub->dlg, sub->uri, sub->uri, NULL,
				       sub->aor, routev, 1);
		if (err)
			return err;
		hash_append(sub->rf.ua->subh,
			    hash_joaat_str(sip_dialog_callid(sub->dlg)),
			    &sub->he, sub);
	}

	err = sip_drequestf(reqp, sub->rf.ua->sip, true, "SUBSCRIBE", sub->dlg,
			    0, NULL, NULL, reqp ? resph : NULL, sub,
			    "Contact: %s\r\n"
			    "Event: presence\r\n"
			    "Expires: %u\r\n"
			    "Accept: %s\r\n"
			    "%s"
			    "%s"
			    "Content-Length: 0\r\n"
			    "\r\n",
			    sub->contact, expires,
			    sub->list ? ACCEPT_LIST : ACCEPT_ONE,
			    sub->list ? "Supported: eventlist\r\n" : "",
			    sub->auth ? sub->auth : "");
	if (!err)
		++sub->sent;

	return err;
}

/* Due with a turn held (refresh.c) */
static int send_h(void *arg)
{
	struct sipua_sub *sub = arg;

	return send_subscribe(sub, sub->rf.expires, &sub->req, resp_handler);
}

static void fail_h(int err, void *arg)
{
	struct sipua_sub *sub = arg;

	log_info("sipua: SUBSCRIBE %s: %m", sub->uri, err);
}

/* Drain: the SUBSCRIBE in flight is forgotten, the dialog kept */
static void stop_h(void *arg)
{
	struct sipua_sub *sub = arg;

	sub->req = mem_deref(sub->req);
}

/* The drain's un-SUBSCRIBE was answered (drain.c); the Front End's
 * last NOTIFY finds the machine closed and is only answered */
static void removed_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_sub *sub = arg;

	if (!err && msg && msg->scode < 200)
		return;
	sub->req = mem_deref(sub->req);
	sipua_refresh_removed(&sub->rf, sipua_result(err, msg, true));
}

/* Drain, with a turn held: unsubscribe in the dialog (RFC 6665
 * 4.1.2.3); nothing to remove before the dialog is made */
static int remove_h(void *arg)
{
	struct sipua_sub *sub = arg;

	if (!sub->dlg || !sip_dialog_established(sub->dlg))
		return ENOENT;
	return send_subscribe(sub, 0, &sub->req, removed_handler);
}

/* SUBSCRIBE waits its turn behind REGISTERs; a lost flow makes every
 * subscription again, the one in flight too (RFC 5626 4.4.1: the
 * NOTIFYs came over the lost flow, a new subscription gives the Front
 * End the new one) */
static const struct sipua_refresh_class sub_class = {
    .method = "SUBSCRIBE",
    .first = false,
    .keep_on_loss = false,
    .floor_ms = 0,
    .offset_ms = REFRESH_OFFSET_MS,
    .sendh = send_h,
    .failh = fail_h,
    .droph = drop_h,
    .losth = NULL,
    .stoph = stop_h,
    .removeh = remove_h,
};

/* RFC 6665 4.1.3: what a terminated subscription's reason allows */
static void terminated(struct sipua_sub *sub, const struct sipua_substate *ss)
{
	const struct pl *r = &ss->reason;

	drop_req(sub);
	drop_dlg(sub);

	if (!pl_strcasecmp(r, "rejected")) {
		close_for_good(sub, EACCES, 0);
	} else if (!pl_strcasecmp(r, "noresource")) {
		close_for_good(sub, ENOENT, 0);
	} else if (!pl_strcasecmp(r, "invariant")) {
		close_for_good(sub, EPROTO, 0);
	} else if ((!pl_strcasecmp(r, "probation") ||
		    !pl_strcasecmp(r, "giveup")) &&
		   ss->retry_after >= 0) {
		sipua_refresh_retry(&sub->rf, (uint64_t)ss->retry_after * 1000);
	} else {
		/* deactivated, timeout, giveup, probation, none or
		 * unknown: subscribe again (a back-off against a Front
		 * End that keeps ending it) */
		sipua_refresh_retry_later(&sub->rf);
	}
}

/* Read the body of a NOTIFY and call the handler; 0 or a status code */
static uint16_t deliver(struct sipua_sub *sub, const struct sip_msg *msg,
			const struct sipua_substate *ss, const char **reason)
{
	const struct sip_hdr *ct = sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE);
	const char *body = (const char *)mbuf_buf(msg->mb);
	size_t len = mbuf_get_left(msg->mb), i;
	struct pidf_presence *pres = NULL;
	struct pidf_list *lst = NULL;
	struct sipua_presence one, *v = NULL;
	const char *why = NULL;
	uint16_t scode = 0;
	int err = 0;

	if (len > PIDF_BODY_MAX) {
		*reason = "Request Entity Too Large";
		return 413;
	}

	if (len && ct && msg_ctype_cmp(&msg->ctyp, "multipart", "related")) {
		err = pidf_rlmi_parse(&lst, &ct->val, body, len, &why);
		if (!err) {
			v = mem_zalloc(lst->n * sizeof(*v) + 1, NULL);
			if (!v)
				err = ENOMEM;
		}
		if (!err) {
			for (i = 0; i < lst->n; i++) {
				const struct pidf_resource *r = &lst->resv[i];

				v[i].uri = r->uri;
				v[i].state = r->state;
				v[i].p = r->has_presence ? &r->pres : NULL;
			}
			sub->nh(v, lst->n, sub->arg);
		}
	} else if (!len || (ct && msg_ctype_cmp(&msg->ctyp, "application",
						"pidf+xml"))) {
		one.uri = sub->uri;
		one.state = ss->state;
		one.p = NULL;
		/* an empty body: no news while pending or ended; while
		 * active it is the polite-block answer (Offline) */
		if (len || ss->state == PIDF_SUB_ACTIVE) {
			pres = mem_zalloc(sizeof(*pres), NULL);
			err = pres ? pidf_parse(pres, body, len, &why) : ENOMEM;
			one.p = pres;
		}
		if (!err)
			sub->nh(&one, 1, sub->arg);
	} else {
		*reason = "Unsupported Media Type";
		return 415;
	}

	if (err) {
		log_notice("sipua: NOTIFY for %s: %m (%s)", sub->uri, err,
			   why ? why : "");
		if (err == ENOMEM) {
			scode = 500;
			*reason = "Server Internal Error";
		} else if (err == EMSGSIZE || err == EOVERFLOW) {
			scode = 413;
			*reason = "Request Entity Too Large";
		} else {
			scode = 400;
			*reason = "Bad Body";
		}
	}

	mem_deref(v);
	mem_deref(lst);
	mem_deref(pres);
	return scode;
}

/* NOTIFYs accepted, by the state they gave: how many subscriptions the
 * Front End made active (or left pending) can be read from outside, as
 * the capacity benchmark does for 100,000 of them. Each counter is looked
 * up once (metrics_get walks the whole registry) and kept in ua. */
static void count_notify(struct sipua *ua, enum pidf_substate state)
{
	static const char *const labels[] = {
	    "state=\"active\"", "state=\"pending\"", "state=\"terminated\""};
	size_t i = state == PIDF_SUB_ACTIVE    ? 0
		   : state == PIDF_SUB_PENDING ? 1
					       : 2;

	if (!ua->m_ntf[i])
		ua->m_ntf[i] = metrics_get(
		    METRIC_COUNTER, "mobility_sip_notifies_total", labels[i],
		    "presence NOTIFYs accepted, by Subscription-State");
	metric_add(ua->m_ntf[i], 1);
}

static void handle_notify(struct sipua_sub *sub, const struct sip_msg *msg)
{
	struct sipua *ua = sub->rf.ua;
	const struct sip_hdr *ev = sip_msg_hdr(msg, SIP_HDR_EVENT);
	const struct sip_hdr *sh = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	const char *reason = "OK";
	struct sipevent_event se;
	struct sipua_substate ss;
	uint16_t scode;

	if (!ev || sipevent_event_decode(&se, &ev->val) ||
	    pl_strcasecmp(&se.event, "presence")) {
		(void)sip_reply(ua->sip, msg, 489, "Bad Event");
		return;
	}
	if (!sh || sipua_substate_decode(&ss, &sh->val)) {
		(void)sip_reply(ua->sip, msg, 400, "Bad Subscription-State");
		return;
	}

	/* RFC 6665 4.1.2.4: a NOTIFY before the 2xx makes the dialog; a
	 * NOTIFY is a target refresh request (RFC 6665 4.1.2.2) */
	if (!sip_dialog_established(sub->dlg)) {
		if (sip_dialog_create(sub->dlg, msg)) {
			(void)sip_reply(ua->sip, msg, 400, "Bad Request");
			return;
		}
	} else if (!sip_dialog_rseq_valid(sub->dlg, msg)) {
		(void)sip_reply(ua->sip, msg, 500, "Bad CSeq");
		return;
	} else {
		(void)sip_dialog_update(sub->dlg, msg);
	}

	/* the handlers may drop the subscription */
	mem_ref(sub);

	scode = deliver(sub, msg, &ss, &reason);
	(void)sip_reply(ua->sip, msg, scode ? scode : 200, reason);
	if (!scode)
		count_notify(ua, ss.state);

	if (!scode && mem_nrefs(sub) > 1 && !sub->rf.closed) {
		if (ss.state == PIDF_SUB_TERMINATED) {
			terminated(sub, &ss);
		} else if (ss.expires >= 0 && !sub->rf.busy) {
			/* RFC 6665 4.1.2.3: the time left, as the notifier
			 * counts it */
			sipua_refresh_schedule(&sub->rf, (uint32_t)ss.expires);
		}
	} else if (!scode && ss.state == PIDF_SUB_TERMINATED) {
		/* dropped in the handler: nothing left to unsubscribe */
		drop_dlg(sub);
	}

	mem_deref(sub);
}

static bool dialog_match(struct le *le, void *arg)
{
	const struct sipua_sub *sub = le->data;
	const struct sip_msg *msg = arg;

	return sip_dialog_established(sub->dlg)
		   ? sip_dialog_cmp(sub->dlg, msg)
		   : sip_dialog_cmp_half(sub->dlg, msg);
}

bool sipua_sub_notify(struct sipua *ua, const struct sip_msg *msg)
{
	const struct sip_hdr *sh;
	struct sipua_substate ss;
	struct le *le;

	if (pl_strcmp(&msg->met, "NOTIFY"))
		return false;

	le = hash_lookup(
	    ua->subh, hash_joaat((const uint8_t *)msg->callid.p, msg->callid.l),
	    dialog_match, (void *)msg);
	if (le) {
		handle_notify(le->data, msg);
		return true;
	}

	if (!pl_isset(&msg->to.tag))
		return false;

	/* the last NOTIFY of a subscription we ended (or replaced) is
	 * taken; anything else in an unknown dialog ends it (RFC 6665
	 * 4.1.3: 481 tells the notifier to drop the subscription) */
	sh = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	if (sh && !sipua_substate_decode(&ss, &sh->val) &&
	    ss.state == PIDF_SUB_TERMINATED)
		(void)sip_reply(ua->sip, msg, 200, "OK");
	else
		(void)sip_reply(ua->sip, msg, 481,
				"Subscription Does Not Exist");
	return true;
}

void sipua_sub_flow_lost(struct sipua *ua)
{
	sipua_refresh_flow_lost(&ua->subl);
}

void sipua_sub_orphan_all(struct sipua *ua)
{
	while (ua->subl.head) {
		struct sipua_sub *sub = ua->subl.head->data;

		sub->req = mem_deref(sub->req);
		drop_dlg(sub);
		sipua_refresh_orphan(&sub->rf);
	}
}

int sipua_sub_alloc(struct sipua_sub **sp, struct sipua *ua,
		    struct sipua_reg *reg, const struct sipua_id *id,
		    const char *uri, bool list, uint32_t expires,
		    sipua_notify_h *nh, sipua_sub_close_h *ch, void *arg)
{
	struct sipua_sub *sub;
	int err;

	if (!sp || !ua || !reg || !id || !sipua_user_valid(id->user) ||
	    !sipua_domain_valid(id->domain) || !id->ha1 ||
	    strlen(id->ha1) != SIPUA_HA1_LEN || !uri || !sipua_uri_valid(uri) ||
	    !nh || !sipua_reg_contact(reg))
		return EINVAL;
	if (sipua_draining(ua))
		return ESHUTDOWN;

	sub = mem_zalloc(sizeof(*sub), destructor);
	if (!sub)
		return ENOMEM;

	sub->list = list;
	sub->nh = nh;
	sub->ch = ch;
	sub->arg = arg;
	str_ncpy(sub->ha1, id->ha1, sizeof(sub->ha1));

	err = str_dup(&sub->user, id->user);
	err |= re_sdprintf(&sub->aor, "sip:%s@%s", id->user, id->domain);
	err |= str_dup(&sub->uri, uri);
	err |= str_dup(&sub->contact, sipua_reg_contact(reg));
	if (err) {
		err = ENOMEM;
		goto out;
	}

	sipua_refresh_init(&sub->rf, ua, &ua->subl, &sub_class, expires, sub);

	/* now, or from the wheel when its turn comes */
	err = sipua_refresh_send(&sub->rf);

out:
	if (err)
		mem_deref(sub);
	else
		*sp = sub;

	return err;
}

uint32_t sipua_sub_sent(const struct sipua_sub *sub)
{
	return sub ? sub->sent : 0;
}

void sipua_sub_forget(struct sipua_sub *sub)
{
	if (sub)
		sipua_refresh_forget(&sub->rf);
}
