/**
 * @file http.h  HTTP/1.1 server connection layer on libre TCP/TLS
 *
 * Our own connection layer (not libre's http_listen): keep-alive,
 * pipelined requests answered in order, named limits answered with
 * 400/408/413/414/431/503, TLS 1.2+ with SNI among several certificates,
 * virtual hosts by Host, and requests that can be parked and answered
 * later (long polls). Requests are parsed with libre's http_msg_decode()
 * after our own checks of the limits and of the syntax it is lax about.
 *
 * Every response carries X-MS-Server-Fqdn, Cache-Control: no-cache and,
 * when the request had none, the MS-WSMAN affinity cookie (PROTOCOL.md).
 */
#ifndef MOB_WEB_H
#define MOB_WEB_H

#include <re.h>
#include "core.h"
#include "conf.h"

struct web_srv;
struct web_req;
struct web_tls;

/**
 * Request handler. The handler either answers with web_reply*() before it
 * returns, or keeps a reference (mem_ref) and answers later: the request
 * is then parked and later requests of the connection wait behind it.
 *
 * @param req Request (borrowed; take a reference to keep it)
 * @param arg Handler argument
 */
typedef void(web_req_h)(struct web_req *req, void *arg);

/** Called once if the connection of a parked request goes away. */
typedef void(web_cancel_h)(struct web_req *req, void *arg);

/**
 * Allocate a server (no listener yet).
 *
 * @param srvp        Returns a new reference
 * @param w           Timer wheel for connection deadlines (takes a ref)
 * @param lim         Limits (copied)
 * @param server_fqdn Value of X-MS-Server-Fqdn (copied)
 * @param reqh        Handler for hosts without a virtual host entry
 * @param arg         Its argument (borrowed)
 */
int web_srv_alloc(struct web_srv **srvp, struct wheel *w,
		  const struct conf_http_limits *lim, const char *server_fqdn,
		  web_req_h *reqh, void *arg);

/**
 * Listen on an address, plain (tls NULL) or with TLS.
 *
 * @param srv   Server
 * @param laddr Address to bind (port 0 picks one: see web_srv_port())
 * @param tls   Certificates (takes a reference) or NULL
 */
int web_srv_listen(struct web_srv *srv, const struct sa *laddr,
		   struct web_tls *tls);

/**
 * Listen for plain HTTP behind a proxy that starts every connection with
 * a PROXY protocol v2 header (HAProxy send-proxy-v2) naming the client.
 * Connections from peers that are not trusted proxies (see
 * web_srv_set_trusted) are refused.
 */
int web_srv_listen_proxy(struct web_srv *srv, const struct sa *laddr);

/** Local port of the n-th listener (0 if none), for tests and logs. */
uint16_t web_srv_port(const struct web_srv *srv, unsigned n);

/**
 * Route requests for one Host (case-insensitive, port ignored) to a
 * handler of its own (virtual host).
 */
int web_srv_vhost(struct web_srv *srv, const char *host, web_req_h *reqh,
		  void *arg);

/**
 * Trust these proxies (struct conf_cidr list, borrowed: it must outlive
 * the server) to name the client in X-Forwarded-For.
 *
 * @param tls True if they terminated TLS: their requests on a plain
 *            listener count as https (web_req_is_tls)
 */
void web_srv_set_trusted(struct web_srv *srv, const struct list *cidrs,
			 bool tls);

/** Label this server's metrics (listener="..."; default "public"). */
void web_srv_set_label(struct web_srv *srv, const char *label);

/** Stop accepting; keep serving open connections. */
void web_srv_close_listeners(struct web_srv *srv);

/** Close idle connections now and every other one once it goes idle. */
void web_srv_drain(struct web_srv *srv);

/** Open connections. */
size_t web_srv_conn_count(const struct web_srv *srv);

/*
 * TLS: a set of certificates; SNI chooses the one whose names cover the
 * name asked for, else the first one.
 */

/** Allocate an empty certificate set. */
int web_tls_alloc(struct web_tls **tlsp);

/**
 * Add a certificate chain (PEM, leaf first) and its private key (PEM).
 * Returns EINVAL if they cannot be loaded or do not match.
 */
int web_tls_add_cert(struct web_tls *tls, const char *chain, const char *key);

/*
 * Requests. All pointer-length strings point into the request and live as
 * long as it does.
 */

const struct pl *web_req_method(const struct web_req *req);
/** Path without the query, not percent-decoded; runs of '/' are
 * collapsed to one (as IIS does). */
const struct pl *web_req_path(const struct web_req *req);
/** Query without the '?', or empty. */
const struct pl *web_req_query(const struct web_req *req);
/** Host without port, or empty. */
const struct pl *web_req_host(const struct web_req *req);
const struct pl *web_req_body(const struct web_req *req);
/** Value of a header field (first of that name); false if absent. */
bool web_req_header(const struct web_req *req, const char *name,
		    struct pl *val);
/** One header field (name and value borrowed); true stops the walk. */
typedef bool(web_hdr_h)(const struct pl *name, const struct pl *val, void *arg);
/** Call h for each header field of the request, in their order. */
void web_req_headers(const struct web_req *req, web_hdr_h *h, void *arg);
/** True if the client used TLS: to us, or to a trusted proxy that
 * terminated it (web_srv_set_trusted). */
bool web_req_is_tls(const struct web_req *req);
/** The TCP peer (a proxy, if there is one); NULL once disconnected. */
const struct sa *web_req_peer(const struct web_req *req);
/** The client's address: the peer, or behind a trusted proxy the address
 * it names (X-Forwarded-For, PROXY v2). Lives as long as the request. */
const struct sa *web_req_client(const struct web_req *req);
/** True while the connection is there to answer on. */
bool web_req_connected(const struct web_req *req);

/** Overwrite the body with zeros (it held a password). */
void web_req_wipe_body(struct web_req *req);

/**
 * The answer will carry a secret (a token): it says Cache-Control:
 * no-store (RFC 6749 5.1) and is never compressed, as the length of a
 * compressed answer that also holds text an attacker chose tells him
 * about the secret (BREACH).
 */
void web_req_set_secret(struct web_req *req);

/** Be told if the connection goes away while the request is parked. */
void web_req_set_cancel(struct web_req *req, web_cancel_h *h, void *arg);

/**
 * Answer a request. Answering twice, or after the connection went away,
 * returns EALREADY / ENOTCONN and sends nothing. A body of
 * WEB_COMPRESS_MIN bytes or more (up to WEB_COMPRESS_MAX) is sent
 * compressed with gzip or deflate when the request's Accept-Encoding
 * prefers it (Content-Encoding and Vary: Accept-Encoding are added),
 * unless web_req_set_secret() was called.
 *
 * @param req    Request
 * @param scode  Status code
 * @param reason Reason phrase; NULL for the standard one (web_reason)
 * @param ctype  Content-Type of the body (NULL if no body)
 * @param body   Body bytes (may be NULL with len 0)
 * @param len    Body length
 * @param hdrs   Extra header lines, each ending in "\r\n" (re_printf
 *               format; NULL for none)
 */
int web_reply(struct web_req *req, uint16_t scode, const char *reason,
	      const char *ctype, const uint8_t *body, size_t len,
	      const char *hdrs, ...);

/** Answer with a short text/plain body saying what went wrong (reason
 * NULL: the standard one; text NULL: the reason). */
int web_reply_text(struct web_req *req, uint16_t scode, const char *reason,
		   const char *text);

/**
 * The reason phrase of a status code (RFC 9110 15): the one table of
 * them for every answer of the service. "OK" or "Error" for a code it has
 * no phrase for.
 */
const char *web_reason(uint16_t scode);

/*
 * Content negotiation.
 */

/**
 * Choose the best of the offered media types for the request's Accept
 * header (q-values, type/ * and * / * wildcards, parameters other than q
 * ignored in matching). No Accept header chooses offer 0.
 *
 * @return 0 and *choice, or ENOENT if nothing offered is acceptable (406)
 */
int web_negotiate(const struct web_req *req, const char *const *offers,
		  size_t n, size_t *choice);

/** Same, on an Accept value (for tests and fuzzing). */
int web_negotiate_pl(const struct pl *accept, const char *const *offers,
		     size_t n, size_t *choice);

/** Content codings of an answer (RFC 9110 8.4.1). */
enum web_coding {
	WEB_CODING_IDENTITY,
	WEB_CODING_GZIP,
	WEB_CODING_DEFLATE, /* the zlib format (RFC 9110 8.4.1.2)  */
};

/**
 * Choose the coding of an answer from an Accept-Encoding value: the
 * highest q-value among gzip, deflate and identity ("*" gives its q to
 * those not named; identity is acceptable unless excluded), gzip first,
 * then deflate, then identity on ties. An absent or empty value, or one
 * that excludes everything, gives identity.
 *
 * @param ae  Accept-Encoding value (borrowed), comma-separated; NULL: none
 * @return the coding to use
 */
enum web_coding web_coding_choose(const struct pl *ae);

/*
 * Request head checks, separated for unit tests and fuzzing.
 */

/** Named limits of the PROXY protocol v2 header. */
enum {
	WEB_PROXY_HDR = 16,   /**< signature, version, family, length  */
	WEB_PROXY_MAX = 1024, /**< bytes after those 16 (TLVs included) */
};

/**
 * Parse a PROXY protocol v2 header (haproxy doc/proxy-protocol.txt 2.2)
 * at the start of a buffer.
 *
 * @param p    Bytes received
 * @param len  Their number
 * @param src  Set to the client's address and port for a PROXY command
 *             over TCP/IPv4 or TCP/IPv6; untouched for LOCAL (a health
 *             check of the proxy itself) or another family
 * @param used Set to the header's length
 *
 * @return 0, ENODATA (incomplete), EPROTO (not a valid v2 header, or
 *         over WEB_PROXY_MAX)
 */
int web_proxy_v2_parse(const uint8_t *p, size_t len, struct sa *src,
		       size_t *used);

/** Result of scanning a buffered request head against the limits. */
struct web_head {
	size_t head_len; /**< bytes up to and including the blank line  */
	size_t body_len; /**< Content-Length (0 if none)               */
	uint16_t scode;  /**< 0 if acceptable, else the error to answer */
	const char *why; /**< short reason text for the error           */
};

/**
 * Scan the start of a buffer for one request head under the limits.
 *
 * @return 0 (head complete; see h->scode for a verdict), or ENODATA
 *         (need more bytes; h->scode set if a limit is already exceeded)
 */
int web_head_scan(const uint8_t *p, size_t len,
		  const struct conf_http_limits *lim, struct web_head *h);

#endif
