/**
 * @file ua.c  The SIP user agent: stack, TLS toward the Front End,
 * listeners, the validator listener and the shared flow's keep-alive
 */
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include "conf.h"
#include "sipua_int.h"

enum {
	CTRANS_HASH = 256, /* client transactions */
	STRANS_HASH = 256, /* server transactions */
	CONN_HASH = 64,    /* TCP/TLS connections */
	/* registrations by Contact user: every request for a session
	 * looks one up (a list walk cost 2.7 ms of CPU per MESSAGE at
	 * 10,000 sessions); sized for 100,000 sessions, 6 per bucket */
	REG_HASH = 16384,
	/* subscriptions by Call-ID: every NOTIFY looks one up (a list
	 * walk made creating 100,000 of them quadratic) */
	SUB_HASH = 16384,
	/* RFC 5626 4.4.1: without Flow-Timer, 95-120 s for connection-
	 * oriented transports (libre jitters the interval itself) */
	KEEPALIVE_DEFAULT_S = 120,
	KEEPALIVE_MIN_S = 10,
	/* the send queue's peak is logged each time it doubles from
	 * here (smaller is normal: a burst of answers) */
	FLOW_TXQ_LOG_MIN = 64 * 1024,
};

void sipua_rand_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	/* One draw for all n bytes: with OpenSSL 3 each draw is a DRBG
	 * generate (lock, reseed check, AES re-key), and one per byte was
	 * 6% of mobilityd's CPU per sign-in. The bytes land at the start
	 * of buf and are spread into hex from the last one, so that none
	 * is overwritten before it is read. */
	rand_bytes((uint8_t *)buf, n);
	buf[2 * n] = '\0';
	for (i = n; i-- > 0;) {
		uint8_t b = (uint8_t)buf[i];
		buf[2 * i + 1] = hex[b & 0xf];
		buf[2 * i] = hex[b >> 4];
	}
}

static void flow_forget(struct sipua *ua)
{
	ua->ka = mem_deref(ua->ka);
	ua->flow_tc = mem_deref(ua->flow_tc);
}

/* The send queue of the flow: its peak is a gauge and doubles are
 * logged, which is how a Front End that reads slower than we write
 * shows before the flow is lost. */
static void flow_sample(struct sipua *ua)
{
	size_t q = ua->flow_tc ? tcp_conn_txqsz(ua->flow_tc) : 0;

	if (q <= ua->txq_peak)
		return;
	if (q >= FLOW_TXQ_LOG_MIN && q >= 2 * ua->txq_logged) {
		log_notice("sipua: flow send queue at %zu bytes "
			   "(%u requests outstanding, %u waiting)",
			   q, ua->inflight, ua->queued);
		ua->txq_logged = q;
	}
	ua->txq_peak = q;
	metric_set(metrics_get(METRIC_GAUGE, "mobility_sip_flow_txq_peak_bytes",
			       NULL,
			       "largest send queue of the flow to the Front "
			       "End since it was made (bytes)"),
		   (int64_t)q);
}

/* Only while requests wait (a burst): no lookup in the quiet case */
static void queued_gauge(struct sipua *ua)
{
	metric_set(
	    metrics_get(METRIC_GAUGE, "mobility_sip_requests_queued", NULL,
			"REGISTERs, SUBSCRIBEs and PUBLISHes waiting for "
			"their turn on the flow"),
	    ua->queued);
}

/* Granted turns are called here, outside the answer handler that gave
 * the turn back: the callee may send, fail and drop itself. */
static void turn_go(void *arg)
{
	struct sipua *ua = arg;

	while (ua->turngo.head) {
		struct sipua_turn *t = ua->turngo.head->data;

		list_unlink(&t->le);
		t->h(t->arg);
	}
}

static void turn_grant(struct sipua *ua)
{
	while (ua->inflight < SIPUA_INFLIGHT_MAX && ua->queued) {
		struct list *l =
		    ua->turnfirst.head ? &ua->turnfirst : &ua->turnwait;
		struct sipua_turn *t = l->head->data;

		list_unlink(&t->le);
		--ua->queued;
		t->held = true;
		++ua->inflight;
		list_append(&ua->turngo, &t->le, t);
	}
	if (ua->turngo.head && !tmr_isrunning(&ua->turntmr)) {
		queued_gauge(ua);
		tmr_start(&ua->turntmr, 0, turn_go, ua);
	}
}

static bool turn_waiting(const struct sipua *ua, const struct sipua_turn *t)
{
	return list_contains(&ua->turnfirst, &t->le) ||
	       list_contains(&ua->turnwait, &t->le);
}

bool sipua_turn_take(struct sipua *ua, struct sipua_turn *t, bool first,
		     sipua_turn_h *h, void *arg)
{
	if (t->held) {
		/* granted: called from turn_go, or by its owner before */
		list_unlink(&t->le);
		return true;
	}
	if (turn_waiting(ua, t))
		return false;

	if (ua->inflight < SIPUA_INFLIGHT_MAX && !ua->queued) {
		t->held = true;
		++ua->inflight;
		flow_sample(ua);
		return true;
	}

	t->h = h;
	t->arg = arg;
	list_append(first ? &ua->turnfirst : &ua->turnwait, &t->le, t);
	++ua->queued;
	queued_gauge(ua);
	flow_sample(ua);
	return false;
}

void sipua_turn_done(struct sipua *ua, struct sipua_turn *t)
{
	if (!ua) {
		list_unlink(&t->le);
		t->held = false;
		return;
	}
	if (turn_waiting(ua, t)) {
		list_unlink(&t->le);
		--ua->queued;
		queued_gauge(ua);
	}
	list_unlink(&t->le);
	if (t->held) {
		t->held = false;
		--ua->inflight;
		turn_grant(ua);
	}
	flow_sample(ua);
}

static void destructor(void *arg)
{
	struct sipua *ua = arg;

	flow_forget(ua);
	sipua_trust_close(ua);
	tmr_cancel(&ua->turntmr);
	tmr_cancel(&ua->drain.tmr);
	sipua_reg_orphan_all(ua);
	sipua_pub_orphan_all(ua);
	sipua_sub_orphan_all(ua);
	/* server transactions live in the stack: answer them first */
	sipua_sreq_orphan_all(ua);
	ua->regh = mem_deref(ua->regh);
	ua->subh = mem_deref(ua->subh);
	list_flush(&ua->treql);
	list_flush(&ua->authl); /* the challenges leave ua->authh too */
	ua->authh = mem_deref(ua->authh);
	ua->rlsnr = mem_deref(ua->rlsnr);
	ua->lsnr = mem_deref(ua->lsnr);
	if (ua->sip)
		sip_close(ua->sip, true);
	ua->sip = mem_deref(ua->sip);
	ua->tls_client = mem_deref(ua->tls_client);
	ua->tls_server = mem_deref(ua->tls_server);
	ua->route_str = mem_deref(ua->route_str);
}

/* The validator runs before every handler of ours (libre's own server
 * transaction matcher comes first: it only absorbs retransmissions). */
static bool validate_handler(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;
	const char *reason = NULL;
	uint16_t scode;

	/* no answer may leave (past the pool lease's deadline): the request
	 * is left unanswered, as after sipua_halt() */
	if (!ua->halted && !sipua_may_send(ua))
		return true;

	/* only the Front End may send requests (docs/sipua.md, "Who may
	 * send requests"); checked first: a stranger learns nothing more */
	if (!sipua_trust_request(ua, msg)) {
		metric_add(metrics_get(METRIC_COUNTER,
				       "mobility_sip_forbidden_total", NULL,
				       "SIP requests refused because they did "
				       "not come from the Front End"),
			   1);
		log_debug("sipua: %J: %r refused: not from the Front End",
			  &msg->src, &msg->met);
		if (pl_strcmp(&msg->met, "ACK"))
			(void)sip_reply(ua->sip, msg, 403, "Forbidden");
		sipua_trust_refused(ua, msg);
		return true;
	}

	scode = sipua_validate(msg, &reason);
	if (!scode)
		return false;

	metric_add(metrics_get(METRIC_COUNTER, "mobility_sip_rejected_total",
			       NULL, "SIP requests refused by the validator"),
		   1);
	log_debug("sipua: %J: %r refused: %u %s", &msg->src, &msg->met, scode,
		  reason);
	/* never answer an ACK (RFC 3261 17.2.1); without a Via there is
	 * nowhere to send a response over UDP */
	if (pl_strcmp(&msg->met, "ACK") &&
	    (msg->tp != SIP_TRANSP_UDP || sip_msg_hdr(msg, SIP_HDR_VIA)))
		(void)sip_reply(ua->sip, msg, scode, reason);

	return true;
}

/* Client context: RFC 5922 / RFC 6125 checks that libre 1.1.0 leaves
 * out: the chain must lead to fe_ca_file and the certificate must name
 * fe_server_name. */
static int client_tls(struct sipua *ua, const struct sipua_param *p)
{
	X509_VERIFY_PARAM *vp;
	SSL_CTX *ctx;
	int err;

	err = tls_alloc(&ua->tls_client, TLS_METHOD_SSLV23, NULL, NULL);
	if (err)
		return err;

	ctx = tls_openssl_context(ua->tls_client);
	if (SSL_CTX_load_verify_locations(ctx, p->fe_ca_file, NULL) != 1) {
		log_error("sipua: cannot read CA file %s", p->fe_ca_file);
		ERR_clear_error();
		return EINVAL;
	}

	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, SIPUA_VERIFY_DEPTH);
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

	vp = SSL_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(vp,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(vp, p->fe_server_name, 0) != 1) {
		ERR_clear_error();
		return EINVAL;
	}
	sipua_trust_client_tls(ua);

	return 0;
}

static int server_tls(struct sipua *ua, const struct sipua_param *p)
{
	SSL_CTX *ctx;
	int err;

	err = tls_alloc(&ua->tls_server, TLS_METHOD_SSLV23, NULL, NULL);
	if (err)
		return err;

	ctx = tls_openssl_context(ua->tls_server);
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert_chain) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, p->cert_key, SSL_FILETYPE_PEM) !=
		1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_error("sipua: cannot use certificate %s", p->cert_chain);
		ERR_clear_error();
		return EINVAL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

	return sipua_trust_server_tls(ua, p);
}

void sipua_param_from_conf(struct sipua_param *p, const struct conf *conf,
			   struct wheel *wheel)
{
	const struct conf_cert *cert;

	memset(p, 0, sizeof(*p));
	if (!conf)
		return;

	p->fe_addr = conf->fe_addr;
	p->fe_server_name = conf->fe_server_name;
	p->fe_ca_file = conf->fe_ca_file;
	p->sip_internal = conf->sip_internal;
	p->sip_external = conf->sip_external;
	cert = conf->sip_certs.head ? conf->sip_certs.head->data : NULL;
	p->cert_chain = cert ? cert->chain : NULL;
	p->cert_key = cert ? cert->key : NULL;
	p->wheel = wheel;
	p->client_ca_file = conf->sip_client_ca_file;
	p->client_names = &conf->sip_client_names;
	p->max_conns = conf->sip_max_connections;
	p->idle_ms = conf->sip_idle_ms;
}

int sipua_alloc(struct sipua **uap, const struct sipua_param *p)
{
	struct sipua *ua;
	struct sa laddr;
	struct pl pl;
	int err, i;

	if (!uap || !p || !p->wheel || !p->fe_server_name || !p->fe_ca_file ||
	    !sa_isset(&p->fe_addr, SA_ALL))
		return EINVAL;

	ua = mem_zalloc(sizeof(*ua), destructor);
	if (!ua)
		return ENOMEM;

	ua->wheel = p->wheel;
	ua->fe_addr = p->fe_addr;
	ua->listen[0] = p->sip_internal;
	ua->listen[1] = p->sip_external;
	ua->max_conns = p->max_conns ? p->max_conns : SIPUA_MAX_CONNS_DEFAULT;
	ua->idle_ms = p->idle_ms ? p->idle_ms : SIPUA_IDLE_MS_DEFAULT;

	err = hash_alloc(&ua->regh, REG_HASH);
	err |= hash_alloc(&ua->subh, SUB_HASH);
	if (err)
		goto out;

	/* no DNS client: the Front End is given as an address */
	err = sip_alloc(&ua->sip, NULL, CTRANS_HASH, STRANS_HASH, CONN_HASH,
			"mobilityd", NULL, ua);
	if (err)
		goto out;
	sip_set_trace_handler(ua->sip, sipua_sreq_trace);

	/* first listener: nothing else sees an invalid request */
	err = sip_listen(&ua->lsnr, ua->sip, true, validate_handler, ua);
	if (err)
		goto out;
	/* then the requests for our registrations */
	err = sip_listen(&ua->rlsnr, ua->sip, true, sipua_sreq_listener, ua);
	if (err)
		goto out;

	err = client_tls(ua, p);
	if (err)
		goto out;

	/* libre picks the first TLS transport of the address family for
	 * every outgoing connection, so the verifying client context is
	 * added first, on an ephemeral port of the Front End's family
	 * (it has no certificate: connections to it fail the handshake). */
	sa_init(&laddr, sa_af(&p->fe_addr));
	if (sa_is_loopback(&p->fe_addr))
		laddr = p->fe_addr;
	sa_set_port(&laddr, 0);
	err = sip_transp_add(ua->sip, SIP_TRANSP_TLS, &laddr, ua->tls_client);
	if (err)
		goto out;

	for (i = 0; i < 2; i++) {
		if (!sa_isset(&ua->listen[i], SA_PORT))
			continue;
		if (!ua->tls_server) {
			if (!p->cert_chain || !p->cert_key) {
				err = EINVAL;
				goto out;
			}
			err = server_tls(ua, p);
			if (err)
				goto out;
		}
		err = sip_transp_add(ua->sip, SIP_TRANSP_TLS, &ua->listen[i],
				     ua->tls_server);
		if (err) {
			log_error("sipua: cannot listen on %J: %m",
				  &ua->listen[i], err);
			goto out;
		}
	}

	err = re_sdprintf(&ua->route_str, "sip:%J;transport=tls", &p->fe_addr);
	if (err)
		goto out;
	pl_set_str(&pl, ua->route_str);
	err = uri_decode(&ua->route, &pl);

out:
	if (err)
		mem_deref(ua);
	else
		*uap = ua;

	return err;
}

void sipua_set_guard(struct sipua *ua, sipua_guard_h *h, void *arg)
{
	if (!ua)
		return;
	ua->guardh = h;
	ua->guardarg = arg;
}

bool sipua_may_send(struct sipua *ua)
{
	if (!ua || ua->halted)
		return false;
	if (!ua->guardh || ua->guardh(ua->guardarg))
		return true;
	/* after a pause (SIGSTOP/SIGCONT) every timer and socket is due at
	 * once: a refresh or an answer may come before the pool's own
	 * deadline entry, so each send asks */
	metric_add(metrics_get(METRIC_COUNTER,
			       "mobility_sip_guard_refused_total", NULL,
			       "SIP messages not sent because the send guard "
			       "refused them (pool lease past its deadline)"),
		   1);
	return false;
}

size_t sipua_pending(const struct sipua *ua)
{
	return ua ? list_count(&ua->treql) : 0;
}

int sipua_listen_addr(const struct sipua *ua, int idx, struct sa *addr)
{
	if (!ua || !addr || idx < 0 || idx > 1)
		return EINVAL;
	if (!sa_isset(&ua->listen[idx], SA_PORT))
		return ENOENT;

	*addr = ua->listen[idx];

	return 0;
}

static void keepalive_handler(int err, void *arg)
{
	struct sipua *ua = arg;

	/* the flow failed (RFC 5626 4.4.1): connection closed or no
	 * pong; every registration on it must be refreshed on a new one */
	log_notice("sipua: flow to the Front End lost: %m (send queue peak "
		   "%zu bytes)",
		   err, ua->txq_peak);
	flow_forget(ua);
	ua->txq_peak = 0;
	ua->txq_logged = 0;
	sipua_reg_flow_lost(ua);
	sipua_sub_flow_lost(ua);
}

void sipua_flow_keepalive(struct sipua *ua, const struct sip_msg *msg)
{
	const struct sip_hdr *ft;
	uint32_t interval = KEEPALIVE_DEFAULT_S;

	if (ua->ka || !msg)
		return;

	/* RFC 5626 4.4.1: the registrar's Flow-Timer rules the interval */
	ft = sip_msg_hdr(msg, SIP_HDR_FLOW_TIMER);
	if (ft && pl_u32(&ft->val) >= KEEPALIVE_MIN_S)
		interval = pl_u32(&ft->val);

	if (sip_keepalive_start(&ua->ka, ua->sip, msg, interval,
				keepalive_handler, ua)) {
		ua->ka = mem_deref(ua->ka);
		return;
	}

	/* held as long as the keep-alive watches the flow (its loss drops
	 * both), for its send queue. libre caps that queue at 512 KiB and
	 * the TLS write fails past it; it is left so: with the bulk
	 * requests bounded it stayed under 64 KiB at 7,000 requests a
	 * second of refreshes (docs/benchmarks.md). */
	ua->flow_tc = mem_ref(sip_msg_tcpconn(msg));
}
