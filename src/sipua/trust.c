/**
 * @file trust.c  Who may send requests to the service, and the limits of
 * the connections to its own SIP listeners
 *
 * Requests are taken only from the Front End (docs/sipua.md, "Who may
 * send requests"): on our own flow to it (a client connection whose
 * server certificate was verified, ua.c client_tls()) or on a
 * connection to our listeners whose client certificate chains to the
 * configured CA and carries one of the configured names. Anything else
 * gets 403 from the validator listener.
 *
 * libre 1.1.0 hands a request handler the message and its tcp_conn, not
 * the TLS connection, and accepts connections without a hook. So the
 * OpenSSL objects carry what we need:
 *  - every TLS record read calls msg_cb(), which notes the SSL being
 *    read. libre reads and decrypts a connection's bytes and parses and
 *    dispatches the SIP messages they complete in the same call, on the
 *    one loop thread, so the SSL last read is the one of the request
 *    being dispatched. The first request of a connection binds that SSL
 *    to its socket; a later request whose socket differs is refused, so
 *    a broken assumption fails closed.
 *  - a connection to our listeners gets a struct conn in the SSL's ex
 *    data at its ClientHello (hello_cb(): the place to refuse one over
 *    the cap) and loses it when libre frees the SSL (ex_free()), which
 *    happens before libre closes its socket.
 *  - a connection with no request for idle_ms is shut down at socket
 *    level (shutdown(2)): libre reads the end of stream and closes it.
 */
#include <string.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include "conf.h"
#include "sipua_int.h"

/* One accepted TLS connection to our listeners. */
struct conn {
	struct le le;            /**< in ua->connl (none once detached) */
	struct wheel_entry idle; /**< no request for idle_ms: shut down  */
	struct sipua *ua;        /**< NULL once detached                 */
	SSL *ssl;                /**< its TLS state (valid while attached) */
	int fd;                  /**< its socket, -1 before a request    */
	bool rdonly;             /**< idle_h() made its input BIO refuse  */
};

/* ex data index of struct conn in an SSL of the server context */
static int conn_idx = -1;
/* The SSL whose record was read last (one loop thread) */
static const SSL *cur_ssl;

static void idle_h(void *arg);

static void conns_gauge(const struct sipua *ua)
{
	metric_set(metrics_get(METRIC_GAUGE, "mobility_sip_connections", NULL,
			       "connections to the SIP listeners open now"),
		   ua->nconn);
}

static void conn_detach(struct conn *c)
{
	wheel_cancel(&c->idle);
	list_unlink(&c->le);
	if (c->ua) {
		--c->ua->nconn;
		conns_gauge(c->ua);
	}
	c->ua = NULL;
}

/* libre frees the SSL before it closes the socket: c->fd stays valid
 * as long as c is attached. Called for every SSL, with ptr NULL for
 * those without a struct conn. */
static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		    long argl, void *argp)
{
	struct conn *c = ptr;

	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (cur_ssl == parent)
		cur_ssl = NULL;
	if (!c)
		return;
	/* OpenSSL does not free the buffer of a read-only memory BIO:
	 * make it the SSL's again (its BIOs are freed after ex data) */
	if (c->rdonly && SSL_get_rbio(parent))
		BIO_clear_flags(SSL_get_rbio(parent), BIO_FLAGS_MEM_RDONLY);
	conn_detach(c);
	mem_deref(c);
}

static void msg_cb(int write_p, int version, int content_type, const void *buf,
		   size_t len, SSL *ssl, void *arg)
{
	(void)version;
	(void)content_type;
	(void)buf;
	(void)len;
	(void)arg;
	if (!write_p)
		cur_ssl = ssl;
}

/* At the ClientHello (twice after a HelloRetryRequest): count the
 * connection, or refuse it over the cap with a handshake failure. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
	struct sipua *ua = arg;
	struct conn *c;

	if (SSL_get_ex_data(ssl, conn_idx))
		return SSL_CLIENT_HELLO_SUCCESS;

	if (ua->nconn >= ua->max_conns) {
		metric_add(metrics_get(METRIC_COUNTER,
				       "mobility_sip_connections_refused_total",
				       NULL,
				       "connections to the SIP listeners "
				       "refused at the cap ([sip] "
				       "max_connections)"),
			   1);
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}

	c = mem_zalloc(sizeof(*c), NULL);
	if (!c || !SSL_set_ex_data(ssl, conn_idx, c)) {
		mem_deref(c);
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	c->ua = ua;
	c->ssl = ssl;
	c->fd = -1;
	list_append(&ua->connl, &c->le, c);
	/* idle from its start: one that never sends a request goes too */
	wheel_start(ua->wheel, &c->idle, ua->idle_ms, idle_h, c);
	++ua->nconn;
	conns_gauge(ua);

	return SSL_CLIENT_HELLO_SUCCESS;
}

/* The handshake is never failed for the certificate: a peer without a
 * good one is answered 403 at SIP level and counted (the verification
 * result stays in the SSL, SSL_get_verify_result()). */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

void sipua_trust_client_tls(struct sipua *ua)
{
	SSL_CTX_set_msg_callback(tls_openssl_context(ua->tls_client), msg_cb);
}

int sipua_trust_server_tls(struct sipua *ua, const struct sipua_param *p)
{
	const char *cafile =
	    p->client_ca_file ? p->client_ca_file : p->fe_ca_file;
	static const unsigned char sid[] = "mobilityd-sip";
	STACK_OF(X509_NAME) * names;
	X509_VERIFY_PARAM *vp;
	SSL_CTX *ctx = tls_openssl_context(ua->tls_server);
	struct le *le;

	if (conn_idx < 0)
		conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
	if (conn_idx < 0)
		return ENOMEM;

	if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1 ||
	    !(names = SSL_load_client_CA_file(cafile))) {
		log_error("sipua: cannot read client CA file %s", cafile);
		ERR_clear_error();
		return EINVAL;
	}
	/* the CertificateRequest names the CA the Front End must use */
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_verify_depth(ctx, SIPUA_VERIFY_DEPTH);
	/* a resumed session keeps the peer's certificate; without an id
	 * context OpenSSL fails resumption when it verifies peers */
	(void)SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	/* the identity is the first handshake's (TLS 1.2 renegotiation
	 * could change it under a connection already bound) */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

	/* RFC 6125 names (no partial wildcards), clientAuth purpose */
	vp = SSL_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(vp,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	(void)X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_CLIENT);
	if (!p->client_names || list_isempty(p->client_names)) {
		if (X509_VERIFY_PARAM_set1_host(vp, p->fe_server_name, 0) != 1)
			goto bad;
	}
	LIST_FOREACH(p->client_names, le)
	{
		const struct conf_str *name = le->data;

		if (X509_VERIFY_PARAM_add1_host(vp, name->s, 0) != 1)
			goto bad;
	}

	SSL_CTX_set_client_hello_cb(ctx, hello_cb, ua);
	SSL_CTX_set_msg_callback(ctx, msg_cb);

	return 0;

bad:
	ERR_clear_error();
	return EINVAL;
}

static void idle_h(void *arg)
{
	struct conn *c = arg;
	BIO *rbio;

	/* libre reads the end of stream and closes the connection (and
	 * frees the SSL, which frees c) */
	log_debug("sipua: SIP connection closed: no request for %u s",
		  c->ua->idle_ms / 1000);
	metric_add(metrics_get(METRIC_COUNTER, "mobility_sip_idle_closed_total",
			       NULL,
			       "connections to the SIP listeners closed after "
			       "[sip] idle_timeout without a request"),
		   1);
	if (c->fd >= 0) {
		(void)shutdown(c->fd, SHUT_RDWR);
		return;
	}
	/* No request yet, so no socket known: CRLF keepalives alone would
	 * keep libre's own timer going for ever. Refuse the next bytes
	 * into the SSL's input (libre's memory BIO): libre then closes the
	 * connection with an error. */
	rbio = SSL_get_rbio(c->ssl);
	if (rbio && BIO_method_type(rbio) == BIO_TYPE_MEM) {
		BIO_set_flags(rbio, BIO_FLAGS_MEM_RDONLY);
		c->rdonly = true;
	}
}

/* A connection to our listeners: its certificate verified and named */
static bool conn_trusted(struct conn *c, const SSL *ssl,
			 const struct sip_msg *msg)
{
	struct tcp_conn *tc = sip_msg_tcpconn(msg);
	int fd = tc ? tcp_conn_fd(tc) : -1;
	X509 *peer;

	if (fd < 0 || !c->ua)
		return false;
	if (c->fd < 0) {
		c->fd = fd;
	} else if (c->fd != fd) {
		log_error("sipua: %J: request on an unexpected TLS "
			  "connection: refused",
			  &msg->src);
		return false;
	}
	wheel_start(c->ua->wheel, &c->idle, c->ua->idle_ms, idle_h, c);

	peer = SSL_get0_peer_certificate(ssl);
	return peer && SSL_get_verify_result(ssl) == X509_V_OK;
}

bool sipua_trust_request(struct sipua *ua, const struct sip_msg *msg)
{
	const SSL *ssl = cur_ssl;
	const SSL_CTX *ctx;
	struct conn *c;

	if (msg->tp != SIP_TRANSP_TLS || !ssl)
		return false;

	ctx = SSL_get_SSL_CTX(ssl);
	/* our flow: the Front End's server certificate was verified at
	 * the handshake; it is the only peer we connect to */
	if (ua->tls_client && ctx == tls_openssl_context(ua->tls_client))
		return sa_cmp(&msg->src, &ua->fe_addr, SA_ALL);

	if (!ua->tls_server || ctx != tls_openssl_context(ua->tls_server))
		return false;
	c = SSL_get_ex_data(ssl, conn_idx);

	return c && conn_trusted(c, ssl, msg);
}

void sipua_trust_refused(struct sipua *ua, const struct sip_msg *msg)
{
	struct tcp_conn *tc = sip_msg_tcpconn(msg);
	const SSL *ssl = cur_ssl;
	int fd = tc ? tcp_conn_fd(tc) : -1;

	/* a connection to our listeners only, never our flow */
	if (fd < 0 || !ssl || !ua->tls_server ||
	    SSL_get_SSL_CTX(ssl) != tls_openssl_context(ua->tls_server))
		return;
	/* the 403 is written already; libre reads the end of stream and
	 * closes the connection, which frees its place under the cap */
	(void)shutdown(fd, SHUT_RDWR);
}

void sipua_trust_close(struct sipua *ua)
{
	struct le *le;

	/* the SSLs may outlive ua (libre frees them with its stack) */
	while ((le = ua->connl.head))
		conn_detach(le->data);
	cur_ssl = NULL;
}
