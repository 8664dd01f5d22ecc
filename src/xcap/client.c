/**
 * @file client.c  One XCAP request: HTTP/1.1 on libre TCP with digest
 *
 * Not libre 1.1.0's http_client: it needs a DNS client (UDP sockets on
 * 0.0.0.0 and ::) even for an IP literal, sends Host without the port
 * (RFC 7230 5.4 wants it), has fixed 30 s/60 s timeouts and a 512 KiB body
 * limit, and replays requests on pooled connections. Here each exchange
 * opens one connection ("Connection: close"), reads the answer under
 * XCAP_MAX_HEAD/XCAP_MAX_BODY with libre's parser, and one libre timer
 * bounds the whole request (digest round included).
 */
#include <errno.h>
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "core.h"
#include "digest.h"
#include "xcap.h"
#include "xcap_int.h"

struct xcap_client {
	struct sa addr; /* server address                       */
	char *host;     /* Host header value (host:port)        */
	char *root;     /* path of the XCAP root, no trailing / */
	char *user;
	char *xui_user; /* user part of the XUI: user unless set */
	char *domain;
	char ha1[DIGEST_HA1_LEN + 1];
	uint32_t timeout;
};

struct xcap_req {
	struct xcap_client *xc; /* reference */
	struct xcap_req **reqp; /* caller's handle, cleared on completion */
	struct tcp_conn *tc;
	struct tmr tmr;
	struct mbuf *rx;   /* bytes of the current answer */
	size_t need;       /* bytes rx must hold before it is decoded again */
	struct mbuf *body; /* request body, or NULL */
	char *method;
	char *path;
	char *ctype;
	char *if_match;
	char *auth;    /* Authorization header line, or NULL */
	bool answered; /* a digest answer was sent */
	xcap_resp_h *h;
	void *arg;
};

static void client_destructor(void *arg)
{
	struct xcap_client *xc = arg;

	mem_deref(xc->host);
	mem_deref(xc->root);
	mem_deref(xc->user);
	mem_deref(xc->xui_user);
	mem_deref(xc->domain);
	/* the HA1 answers for the user: do not leave it in freed memory */
	memset(xc->ha1, 0, sizeof(xc->ha1));
}

int xcap_client_alloc(struct xcap_client **xcp, const char *base,
		      const char *user, const char *domain, const char *ha1)
{
	struct pl host, port, path;
	struct xcap_client *xc;
	int err;

	if (!xcp || !base || !user || !*user || !domain || !*domain || !ha1 ||
	    strlen(ha1) != DIGEST_HA1_LEN)
		return EINVAL;

	if (re_regex(base, strlen(base), "http://[^:/]+[:]*[0-9]*[^]*", &host,
		     NULL, &port, &path))
		return EINVAL;

	xc = mem_zalloc(sizeof(*xc), client_destructor);
	if (!xc)
		return ENOMEM;

	xc->timeout = XCAP_TIMEOUT_MS;
	err = sa_set(&xc->addr, &host, pl_isset(&port) ? pl_u32(&port) : 80);
	if (err) {
		err = EINVAL; /* host names would need DNS: not here */
		goto out;
	}

	/* the root path without its trailing slashes */
	while (path.l && path.p[path.l - 1] == '/')
		--path.l;

	err = re_sdprintf(&xc->host, "%r:%u", &host, sa_port(&xc->addr));
	err |= pl_strdup(&xc->root, &path);
	err |= str_dup(&xc->user, user);
	err |= str_dup(&xc->xui_user, user);
	err |= str_dup(&xc->domain, domain);
	if (err) {
		err = ENOMEM;
		goto out;
	}
	str_ncpy(xc->ha1, ha1, sizeof(xc->ha1));

out:
	if (err)
		mem_deref(xc);
	else
		*xcp = xc;
	return err;
}

int xcap_client_set_xui(struct xcap_client *xc, const char *xui_user)
{
	char *s;

	if (!xc || !xui_user || !*xui_user)
		return EINVAL;
	if (str_dup(&s, xui_user))
		return ENOMEM;

	mem_deref(xc->xui_user);
	xc->xui_user = s;
	return 0;
}

void xcap_client_set_timeout(struct xcap_client *xc, uint32_t ms)
{
	if (xc && ms)
		xc->timeout = ms;
}

const char *xcap_client_user(const struct xcap_client *xc)
{
	return xc->user;
}

static void req_destructor(void *arg)
{
	struct xcap_req *req = arg;

	tmr_cancel(&req->tmr);
	mem_deref(req->tc);
	mem_deref(req->rx);
	mem_deref(req->body);
	mem_deref(req->method);
	mem_deref(req->path);
	mem_deref(req->ctype);
	mem_deref(req->if_match);
	mem_deref(req->auth);
	mem_deref(req->xc);
}

/* Finish: the handler runs once, then the request is gone. */
static void req_done(struct xcap_req *req, int err, uint16_t scode,
		     const struct pl *body, const char *etag)
{
	static const struct pl empty = PL_INIT;
	xcap_resp_h *h = req->h;
	void *arg = req->arg;

	req->h = NULL;
	if (req->reqp) {
		*req->reqp = NULL;
		req->reqp = NULL;
	}
	tmr_cancel(&req->tmr);
	req->tc = mem_deref(req->tc);

	if (h)
		h(err, scode, body ? body : &empty, etag, arg);

	mem_deref(req);
}

static int status_err(uint16_t scode)
{
	if (scode >= 200 && scode < 300)
		return 0;

	switch (scode) {
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 412:
		return ESTALE;
	default:
		return EPROTO;
	}
}

static int send_request(struct xcap_req *req);

static int digest_h(struct re_printf *pf, void *arg)
{
	return digest_print(pf, arg);
}

/* A 401 to our first try: answer its digest challenge once. */
static int answer_challenge(struct xcap_req *req, const struct http_msg *msg)
{
	struct httpauth_digest_chall chall;
	const struct http_hdr *hdr;
	struct digest_answer d;
	int err;

	hdr = http_msg_hdr(msg, HTTP_HDR_WWW_AUTHENTICATE);
	if (!hdr || httpauth_digest_challenge_decode(&chall, &hdr->val))
		return EPROTO;

	memset(&d, 0, sizeof(d));
	d.chall = &chall;
	d.user = req->xc->user;
	d.ha1 = req->xc->ha1;
	d.method = req->method;
	d.uri = req->path; /* RFC 7616 3.4.6: the request-target */
	d.nc = 1;

	err = re_sdprintf(&req->auth, "%H", digest_h, &d);
	if (err)
		return err;

	req->answered = true;
	return send_request(req);
}

/* A complete answer is in req->rx (msg decoded, body at mb->pos). */
static void handle_answer(struct xcap_req *req, struct http_msg *msg,
			  const struct pl *body)
{
	const struct http_hdr *hdr;
	char etag[XCAP_MAX_ETAG + 1];
	const char *etagp = NULL;
	int err;

	if (msg->scode == 401 && !req->answered) {
		err = answer_challenge(req, msg);
		if (err)
			req_done(req, err == EPROTO ? EACCES : err, msg->scode,
				 NULL, NULL);
		return;
	}

	hdr = http_msg_hdr(msg, HTTP_HDR_ETAG);
	if (hdr) {
		struct pl v = hdr->val;

		/* entity-tag = [W/] DQUOTE etagc DQUOTE (RFC 7232 2.3) */
		if (v.l >= 2 && v.p[0] == '"' && v.p[v.l - 1] == '"') {
			++v.p;
			v.l -= 2;
		}
		if (v.l && v.l <= XCAP_MAX_ETAG) {
			(void)pl_strcpy(&v, etag, sizeof(etag));
			etagp = etag;
		}
	}

	req_done(req, status_err(msg->scode), msg->scode, body, etagp);
}

/* True if rx holds the empty line that ends a head (after any empty
 * lines before the status line, which libre's parser skips). */
static bool head_complete(const struct mbuf *rx)
{
	const char *p = (const char *)rx->buf, *end = p + rx->end;

	while (p < end && (*p == '\r' || *p == '\n'))
		++p;
	return memmem(p, (size_t)(end - p), "\n\n", 2) ||
	       memmem(p, (size_t)(end - p), "\n\r\n", 3);
}

/* Try to read a whole answer from rx; ENODATA: need more. */
static int try_answer(struct xcap_req *req, bool closed)
{
	struct http_msg *msg = NULL;
	struct pl body;
	size_t left;
	int err;

	/* libre's parser starts over at every call and costs more than the
	 * bytes it reads (a long line): it runs once the head is there and
	 * again only once the body can be, not at every read (an answer
	 * coming a byte at a time would hold the loop for minutes) */
	if (!closed && req->need && req->rx->end < req->need)
		return ENODATA;
	if (!closed && !req->need && !head_complete(req->rx))
		return req->rx->end > XCAP_MAX_HEAD ? EMSGSIZE : ENODATA;

	req->rx->pos = 0;
	err = http_msg_decode(&msg, req->rx, false);
	if (err == ENODATA) {
		if (req->rx->end > XCAP_MAX_HEAD)
			return EMSGSIZE;
		return closed ? EBADMSG : ENODATA;
	}
	if (err)
		return EBADMSG;

	if (req->rx->pos > XCAP_MAX_HEAD) {
		err = EMSGSIZE;
		goto out;
	}

	/* We speak HTTP/1.1, so chunked could come; XCAP servers send
	 * Content-Length (Kamailio's xhttp does) and we do not decode it */
	if (http_msg_hdr(msg, HTTP_HDR_TRANSFER_ENCODING)) {
		err = EPROTO;
		goto out;
	}

	left = mbuf_get_left(req->rx);
	if (http_msg_hdr(msg, HTTP_HDR_CONTENT_LENGTH)) {
		if (msg->clen > XCAP_MAX_BODY) {
			err = EMSGSIZE;
			goto out;
		}
		if (left < msg->clen) {
			req->need = req->rx->pos + msg->clen;
			err = closed ? EBADMSG : ENODATA;
			goto out;
		}
		left = msg->clen;
	} else if (msg->scode == 204 || msg->scode == 304) {
		left = 0;
	} else if (!closed) {
		/* no length: the body ends when the server closes */
		req->need = SIZE_MAX;
		err = ENODATA;
		goto out;
	}

	pl_set_mbuf(&body, req->rx);
	body.l = left;

	/* handle_answer() may free req (and rx): keep the message alive */
	handle_answer(req, msg, &body);
	err = 0;

out:
	mem_deref(msg);
	return err;
}

static void recv_handler(struct mbuf *mb, void *arg)
{
	struct xcap_req *req = arg;
	size_t n = mbuf_get_left(mb);
	int err;

	if (req->rx->end + n > XCAP_MAX_HEAD + XCAP_MAX_BODY) {
		req_done(req, EMSGSIZE, 0, NULL, NULL);
		return;
	}

	req->rx->pos = req->rx->end;
	err = mbuf_write_mem(req->rx, mbuf_buf(mb), n);
	if (err) {
		req_done(req, err, 0, NULL, NULL);
		return;
	}

	err = try_answer(req, false);
	if (err && err != ENODATA)
		req_done(req, err, 0, NULL, NULL);
}

static void close_handler(int err, void *arg)
{
	struct xcap_req *req = arg;

	/* an answer without Content-Length ends here */
	if (req->rx->end) {
		err = try_answer(req, true);
		if (!err)
			return;
	}

	req_done(req, err ? err : ECONNRESET, 0, NULL, NULL);
}

static void estab_handler(void *arg)
{
	struct xcap_req *req = arg;
	struct mbuf *mb;
	size_t blen = req->body ? req->body->end : 0;
	int err;

	mb = mbuf_alloc(512 + blen);
	if (!mb) {
		req_done(req, ENOMEM, 0, NULL, NULL);
		return;
	}

	err = mbuf_printf(mb,
			  "%s %s HTTP/1.1\r\n"
			  "Host: %s\r\n"
			  "User-Agent: mobilityd\r\n"
			  "Connection: close\r\n",
			  req->method, req->path, req->xc->host);
	if (req->auth)
		err |= mbuf_write_str(mb, req->auth);
	if (req->if_match)
		err |= mbuf_printf(mb, "If-Match: \"%s\"\r\n", req->if_match);
	if (req->ctype)
		err |= mbuf_printf(mb, "Content-Type: %s\r\n", req->ctype);
	if (req->body || !strcmp(req->method, "PUT"))
		err |= mbuf_printf(mb, "Content-Length: %zu\r\n", blen);
	err |= mbuf_write_str(mb, "\r\n");
	if (blen)
		err |= mbuf_write_mem(mb, req->body->buf, blen);
	if (!err) {
		mb->pos = 0;
		err = tcp_send(req->tc, mb);
	}
	mem_deref(mb);

	if (err)
		req_done(req, err, 0, NULL, NULL);
}

/* One exchange on a new connection (first try, or the digest answer). */
static int send_request(struct xcap_req *req)
{
	req->tc = mem_deref(req->tc);
	mbuf_rewind(req->rx);
	req->need = 0;

	return tcp_connect(&req->tc, &req->xc->addr, estab_handler,
			   recv_handler, close_handler, req);
}

static void timeout_handler(void *arg)
{
	struct xcap_req *req = arg;

	req_done(req, ETIMEDOUT, 0, NULL, NULL);
}

/* A node selector in a path: what RFC 3986 allows in a segment stays,
 * '/' separates steps, the rest ([ ] " = ...) is percent-encoded. */
static int node_encode(struct mbuf *mb, const char *node)
{
	int err = 0;

	for (; *node && !err; node++) {
		uint8_t c = (uint8_t)*node;

		if (isalnum(c) || strchr("-._~/@:+!$&'()*,;", c))
			err = mbuf_write_u8(mb, c);
		else
			err = mbuf_printf(mb, "%%%02X", c);
	}
	return err;
}

int xcap_request(struct xcap_req **reqp, struct xcap_client *xc,
		 const char *method, const char *auid, const char *ctype,
		 const char *if_match, const struct pl *body, xcap_resp_h *h,
		 void *arg)
{
	return xcap_node_request(reqp, xc, method, auid, NULL, ctype, if_match,
				 body, h, arg);
}

int xcap_node_request(struct xcap_req **reqp, struct xcap_client *xc,
		      const char *method, const char *auid, const char *node,
		      const char *ctype, const char *if_match,
		      const struct pl *body, xcap_resp_h *h, void *arg)
{
	struct xcap_req *req;
	struct mbuf *path = NULL;
	char *xui = NULL;
	int err;

	if (!xc || !method || !auid || !h)
		return EINVAL;
	if (strcmp(method, "GET") && strcmp(method, "PUT") &&
	    strcmp(method, "DELETE"))
		return EINVAL;
	if (if_match &&
	    (strlen(if_match) > XCAP_MAX_ETAG || strpbrk(if_match, "\"\r\n")))
		return EINVAL;
	if (ctype && strpbrk(ctype, "\r\n"))
		return EINVAL;

	req = mem_zalloc(sizeof(*req), req_destructor);
	if (!req)
		return ENOMEM;

	req->xc = mem_ref(xc);
	req->h = h;
	req->arg = arg;

	/* RFC 4825 6: ROOT/AUID/users/XUI/index; the XUI percent-encoded
	 * as one path segment */
	path = mbuf_alloc(256);
	err = re_sdprintf(&xui, "sip:%s@%s", xc->xui_user, xc->domain);
	if (!path || err) {
		err = ENOMEM;
		goto out;
	}
	err = mbuf_printf(path, "%s/", xc->root);
	err |= text_pct_encode(path, auid, strlen(auid));
	err |= mbuf_write_str(path, "/users/");
	err |= text_pct_encode(path, xui, strlen(xui));
	err |= mbuf_write_str(path, "/index");
	if (node) {
		err |= mbuf_write_str(path, "/~~/");
		err |= node_encode(path, node);
	}
	if (err)
		goto out;
	path->pos = 0;
	err = mbuf_strdup(path, &req->path, path->end);

	err |= str_dup(&req->method, method);
	if (ctype)
		err |= str_dup(&req->ctype, ctype);
	if (if_match)
		err |= str_dup(&req->if_match, if_match);
	req->rx = mbuf_alloc(1024);
	if (body) {
		req->body = mbuf_alloc(body->l + 1);
		if (req->body)
			err |= mbuf_write_pl(req->body, body);
	}
	if (err || !req->rx || (body && !req->body)) {
		err = ENOMEM;
		goto out;
	}

	err = send_request(req);
	if (err)
		goto out;

	tmr_start(&req->tmr, xc->timeout, timeout_handler, req);

out:
	mem_deref(path);
	mem_deref(xui);
	if (err) {
		mem_deref(req);
	} else if (reqp) {
		req->reqp = reqp;
		*reqp = req;
	}
	return err;
}
