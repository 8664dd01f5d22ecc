/**
 * @file request.c  Request head checks, request objects and responses
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "web_int.h"

enum {
	WEB_METHOD_MAX = 16, /* longest method token we accept */
};

/* RFC 9110 5.6.2 token characters */
static bool is_tchar(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void verdict(struct web_head *h, uint16_t scode, const char *why)
{
	if (!h->scode) {
		h->scode = scode;
		h->why = why;
	}
}

/* Find '\n' in [p, end); NULL if none. */
static const uint8_t *find_lf(const uint8_t *p, const uint8_t *end)
{
	return memchr(p, '\n', end - p);
}

/* Check the request line [p, eol) (eol points at '\n'). */
static void check_request_line(const uint8_t *p, const uint8_t *eol,
			       struct web_head *h)
{
	const uint8_t *q = p, *t;
	size_t n;

	if (eol > p && eol[-1] == '\r')
		--eol;

	/* method SP request-target SP HTTP-version (RFC 9112 3) */
	while (q < eol && is_tchar(*q))
		++q;
	n = q - p;
	if (!n || n > WEB_METHOD_MAX || q >= eol || *q != ' ') {
		verdict(h, 400, "malformed request line (method)");
		return;
	}

	t = ++q;
	while (q<eol && * q> 0x20 && *q < 0x7f)
		++q;
	if (q == t || q >= eol || *q != ' ') {
		verdict(h, 400, "malformed request line (target)");
		return;
	}
	/* origin-form only: this is not a proxy (RFC 9112 3.2.1) */
	if (*t != '/') {
		verdict(h, 400, "request target must be an absolute path");
		return;
	}

	++q;
	n = eol - q;
	if (n != 8 || memcmp(q, "HTTP/", 5) || q[6] != '.' || q[5] < '0' ||
	    q[5] > '9' || q[7] < '0' || q[7] > '9') {
		verdict(h, 400, "malformed request line (version)");
		return;
	}
	if (q[5] != '1')
		verdict(h, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
}

/* Content-Length: 1*DIGIT without overflow (RFC 9110 8.6). */
static bool parse_clen(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (!n || n > 19)
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return true;
}

static bool name_is(const uint8_t *p, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp((const char *)p, name, n);
}

/* Check one header field line [p, eol). */
static void check_field(const uint8_t *p, const uint8_t *eol,
			struct web_head *h, bool *clen_seen, unsigned *hosts)
{
	const uint8_t *q = p, *v, *ve;
	uint64_t clen;

	if (eol > p && eol[-1] == '\r')
		--eol;

	/* obsolete line folding is rejected (RFC 9112 5.2) */
	if (*p == ' ' || *p == '\t') {
		verdict(h, 400, "folded header lines are not accepted");
		return;
	}
	while (q < eol && is_tchar(*q))
		++q;
	/* no whitespace between name and colon (RFC 9112 5.1) */
	if (q == p || q >= eol || *q != ':') {
		verdict(h, 400, "malformed header field");
		return;
	}

	v = q + 1;
	for (ve = v; ve < eol; ve++) {
		/* CR only before LF; no NUL or other controls but tab */
		if ((*ve < 0x20 && *ve != '\t') || *ve == 0x7f) {
			verdict(h, 400, "control character in header field");
			return;
		}
	}
	while (v < eol && (*v == ' ' || *v == '\t'))
		++v;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		--ve;

	if (name_is(p, q - p, "content-length")) {
		if (!parse_clen(v, ve - v, &clen)) {
			verdict(h, 400, "invalid Content-Length");
			return;
		}
		if (*clen_seen && clen != h->body_len) {
			verdict(h, 400, "conflicting Content-Length fields");
			return;
		}
		*clen_seen = true;
		h->body_len = (size_t)MIN(clen, (uint64_t)SIZE_MAX);
	} else if (name_is(p, q - p, "transfer-encoding")) {
		/* Request bodies must be sized: refusing chunked input also
		 * rules out request smuggling between CL and TE. */
		verdict(h, 411,
			"chunked request bodies are not accepted; "
			"send Content-Length");
	} else if (name_is(p, q - p, "host")) {
		++*hosts;
	}
}

int web_head_scan(const uint8_t *p, size_t len,
		  const struct conf_http_limits *lim, struct web_head *h)
{
	const uint8_t *start = p, *end = p + len, *eol, *line;
	bool clen_seen = false, http11;
	unsigned nfields = 0, hosts = 0;

	memset(h, 0, sizeof(*h));

	/* ignore empty lines before a request (RFC 9112 2.2) */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if ((size_t)(p - start) >= lim->max_request_line) {
			verdict(h, 400, "too many empty lines");
			return 0;
		}
		++p;
	}

	eol = find_lf(p, MIN(end, p + lim->max_request_line + 2));
	if (!eol) {
		if ((size_t)(end - p) > lim->max_request_line + 1) {
			verdict(h, 414, "request line too long");
			h->head_len = len;
			return 0;
		}
		return ENODATA;
	}
	if ((size_t)(eol - p) > lim->max_request_line + 1) {
		verdict(h, 414, "request line too long");
		h->head_len = eol + 1 - start;
		return 0;
	}
	check_request_line(p, eol, h);
	http11 = eol - p >= 9 && !memcmp(eol - 4, "/1.1", 4);
	if (!http11 && eol - p >= 9 && eol[-1] == '\r')
		http11 = !memcmp(eol - 5, "/1.1", 4);

	/* header fields up to the empty line */
	for (line = eol + 1;; line = eol + 1) {
		size_t used = line - start;

		if (used > lim->max_header_bytes) {
			verdict(h, 431, "request header fields too large");
			h->head_len = used;
			return 0;
		}
		eol = find_lf(line, end);
		if (!eol) {
			if (len > lim->max_header_bytes) {
				verdict(h, 431,
					"request header fields too large");
				h->head_len = len;
				return 0;
			}
			return ENODATA;
		}
		if (eol == line || (eol == line + 1 && *line == '\r'))
			break;
		if (++nfields > lim->max_headers) {
			verdict(h, 431, "too many header fields");
			continue;
		}
		check_field(line, eol, h, &clen_seen, &hosts);
	}

	h->head_len = eol + 1 - start;
	if (h->head_len > lim->max_header_bytes)
		verdict(h, 431, "request header fields too large");
	if (http11 && hosts == 0)
		verdict(h, 400, "missing Host header field");
	if (hosts > 1)
		verdict(h, 400, "more than one Host header field");
	if (h->body_len > lim->max_body_bytes)
		verdict(h, 413, "request body too large");

	return 0;
}

/*
 * Request objects
 */

/*
 * Collapse each run of '/' in path to one, in place (the bytes are the
 * request's own copy). IIS, which the UCWA clients were written against,
 * serves "//ucwa/..." as "/ucwa/...": clients that join a base ending in
 * '/' with an href starting with one rely on it.
 */
static void path_collapse(struct pl *path)
{
	char *p = (char *)path->p;
	size_t i, o = 0;

	for (i = 0; i < path->l; i++) {
		if (p[i] == '/' && o && p[o - 1] == '/')
			continue;
		p[o++] = p[i];
	}
	path->l = o;
}

static void req_destructor(void *arg)
{
	struct web_req *req = arg;

	mem_deref(req->msg);
	mem_deref(req->mb);
}

/* Host header without its port; empty if absent. */
static void host_of(const struct http_msg *msg, struct pl *host)
{
	const struct http_hdr *hdr = http_msg_hdr(msg, HTTP_HDR_HOST);
	struct pl h;
	size_t i;

	*host = pl_null;
	if (!hdr)
		return;

	h = hdr->val;
	if (h.l && h.p[0] == '[') { /* [v6]:port */
		for (i = 0; i < h.l && h.p[i] != ']'; i++)
			;
		h.l = i < h.l ? i + 1 : h.l;
	} else {
		for (i = 0; i < h.l && h.p[i] != ':'; i++)
			;
		h.l = i;
	}
	/* A trailing dot names the same host (RFC 1034 3.1). */
	if (h.l > 1 && h.p[h.l - 1] == '.')
		--h.l;
	*host = h;
}

static bool has_token(const struct http_msg *msg, enum http_hdrid id,
		      const char *tok)
{
	return http_msg_hdr_has_value(msg, id, tok);
}

static bool has_cookie(const struct http_msg *msg, const char *name)
{
	const struct http_hdr *hdr = http_msg_xhdr(msg, "Cookie");
	size_t n = strlen(name);
	const char *p, *e;

	if (!hdr)
		return false;

	/* cookie-string: name=value pairs separated by "; " (RFC 6265) */
	p = hdr->val.p;
	e = p + hdr->val.l;
	while (p < e) {
		while (p < e && (*p == ' ' || *p == ';'))
			++p;
		if ((size_t)(e - p) > n && !strncmp(p, name, n) && p[n] == '=')
			return true;
		while (p < e && *p != ';')
			++p;
	}
	return false;
}

int web_req_alloc(struct web_req **reqp, struct web_conn *conn,
		  const uint8_t *p, size_t head_len, size_t body_len)
{
	struct web_req *req;
	bool http11;
	int err;

	req = mem_zalloc(sizeof(*req), req_destructor);
	if (!req)
		return ENOMEM;

	/* Each request owns a copy of its bytes: the connection buffer
	 * moves on (and may be reallocated) while a request is parked. */
	req->mb = mbuf_alloc(head_len + body_len);
	if (!req->mb) {
		err = ENOMEM;
		goto out;
	}
	(void)mbuf_write_mem(req->mb, p, head_len + body_len);
	req->mb->pos = 0;

	err = http_msg_decode(&req->msg, req->mb, true);
	if (err)
		goto out;

	/* The decoder allocates a body buffer we never use: give the
	 * memory back at once, parked requests can be many. */
	req->msg->mb = mem_deref(req->msg->mb);

	req->conn = conn;
	req->met = req->msg->met;
	req->path = req->msg->path;
	path_collapse(&req->path);
	req->query = req->msg->prm;
	if (req->query.l && req->query.p[0] == '?') {
		++req->query.p;
		--req->query.l;
	}
	host_of(req->msg, &req->host);
	web_req_find_client(req, conn);
	req->body.p = (const char *)req->mb->buf + head_len;
	req->body.l = body_len;
	req->head_only = !pl_strcmp(&req->met, "HEAD");
	req->cookie = has_cookie(req->msg, "MS-WSMAN");

	/* Persistence: 1.1 unless "close"; 1.0 only with "keep-alive"
	 * (RFC 9112 9.3). */
	http11 = !pl_strcmp(&req->msg->ver, "1.1");
	if (http11)
		req->keepalive =
		    !has_token(req->msg, HTTP_HDR_CONNECTION, "close");
	else
		req->keepalive =
		    has_token(req->msg, HTTP_HDR_CONNECTION, "keep-alive");

out:
	if (err)
		mem_deref(req);
	else
		*reqp = req;
	return err;
}

void web_req_detach(struct web_req *req)
{
	web_cancel_h *h;

	if (!req || !req->conn)
		return;

	req->conn = NULL;
	h = req->cancelh;
	req->cancelh = NULL;
	if (h && !req->replied)
		h(req, req->cancel_arg);
}

const struct pl *web_req_method(const struct web_req *req)
{
	return req ? &req->met : &pl_null;
}

const struct pl *web_req_path(const struct web_req *req)
{
	return req ? &req->path : &pl_null;
}

const struct pl *web_req_query(const struct web_req *req)
{
	return req ? &req->query : &pl_null;
}

const struct pl *web_req_host(const struct web_req *req)
{
	return req ? &req->host : &pl_null;
}

const struct pl *web_req_body(const struct web_req *req)
{
	return req ? &req->body : &pl_null;
}

bool web_req_header(const struct web_req *req, const char *name, struct pl *val)
{
	const struct http_hdr *hdr;

	if (!req || !name)
		return false;

	hdr = http_msg_xhdr(req->msg, name);
	if (!hdr)
		return false;
	if (val)
		*val = hdr->val;
	return true;
}

void web_req_headers(const struct web_req *req, web_hdr_h *h, void *arg)
{
	struct le *le;

	if (!req || !req->msg || !h)
		return;
	for (le = req->msg->hdrl.head; le; le = le->next) {
		const struct http_hdr *hdr = le->data;

		if (h(&hdr->name, &hdr->val, arg))
			return;
	}
}

bool web_req_is_tls(const struct web_req *req)
{
	return req && ((req->conn && req->conn->tls) || req->proxy_tls);
}

const struct sa *web_req_peer(const struct web_req *req)
{
	return req && req->conn ? &req->conn->peer : NULL;
}

const struct sa *web_req_client(const struct web_req *req)
{
	return req ? &req->client : NULL;
}

bool web_req_connected(const struct web_req *req)
{
	return req && req->conn && !req->conn->closed;
}

void web_req_wipe_body(struct web_req *req)
{
	/* the body points into our own copy of the request bytes */
	if (req && req->body.l)
		explicit_bzero((char *)req->body.p, req->body.l);
}

void web_req_set_secret(struct web_req *req)
{
	if (req)
		req->secret = true;
}

void web_req_set_cancel(struct web_req *req, web_cancel_h *h, void *arg)
{
	if (!req)
		return;
	req->cancelh = h;
	req->cancel_arg = arg;
}

/*
 * Responses
 */

/* IMF-fixdate of now, formatted once per second (RFC 9110 5.6.7). */
static const char *web_date(void)
{
	static char buf[40];
	static time_t last;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return buf;
}

/* v in decimal, written backwards from end (NUL first); returns its start */
static const char *dec(char *end, uint64_t v)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/* what web_write_response() says besides status, type and length */
enum web_resp_flags {
	WEB_RESP_KEEPALIVE = 1 << 0,        /* else Connection: close      */
	WEB_RESP_HTTP10_KEEPALIVE = 1 << 1, /* Connection: keep-alive      */
	WEB_RESP_SET_COOKIE = 1 << 2,       /* the MS-WSMAN affinity cookie */
	WEB_RESP_NO_STORE = 1 << 3,         /* a secret: no-store, not
					       no-cache                  */
};

/* The status line and the headers of an answer of len body bytes */
static int web_write_response(struct mbuf *mb, const struct web_srv *srv,
			      uint16_t scode, const char *reason,
			      const char *ctype, size_t len, unsigned flags)
{
	char code[8], clen[24];
	int err;

	/* Plain writes of the pieces: formatting them with mbuf_printf (or
	 * snprintf) was 5% of the instructions of a GET presence. */
	err = mbuf_write_str(mb, "HTTP/1.1 ");
	err |= mbuf_write_str(mb, dec(code + sizeof(code), scode));
	err |= mbuf_write_u8(mb, ' ');
	err |= mbuf_write_str(mb, reason);
	err |= mbuf_write_str(mb, "\r\nDate: ");
	err |= mbuf_write_str(mb, web_date());
	err |= mbuf_write_str(mb, "\r\nContent-Length: ");
	err |= mbuf_write_str(mb, dec(clen + sizeof(clen), len));
	/* a secret is kept from every cache (RFC 6749 5.1: the token) */
	err |= mbuf_write_str(mb, flags & WEB_RESP_NO_STORE
				      ? "\r\nCache-Control: no-store\r\n"
					"Pragma: no-cache\r\n"
					"X-MS-Server-Fqdn: "
				      : "\r\nCache-Control: no-cache\r\n"
					"X-MS-Server-Fqdn: ");
	err |= mbuf_write_str(mb, srv->server_fqdn);
	err |= mbuf_write_str(mb, "\r\n");
	if (ctype) {
		err |= mbuf_write_str(mb, "Content-Type: ");
		err |= mbuf_write_str(mb, ctype);
		err |= mbuf_write_str(mb, "\r\n");
	}
	/* Affinity cookie for load balancers configured the Lync way:
	 * no expiry and not HttpOnly (PROTOCOL.md). */
	if (flags & WEB_RESP_SET_COOKIE) {
		err |= mbuf_write_str(mb, "Set-Cookie: MS-WSMAN=");
		err |= mbuf_write_str(mb, srv->cookie);
		err |= mbuf_write_str(mb, "; Path=/\r\n");
	}
	if (!(flags & WEB_RESP_KEEPALIVE))
		err |= mbuf_write_str(mb, "Connection: close\r\n");
	else if (flags & WEB_RESP_HTTP10_KEEPALIVE)
		err |= mbuf_write_str(mb, "Connection: keep-alive\r\n");

	return err;
}

/* body in coding c into a new *zbp; false (send it as it is) on failure */
static bool compress_body(struct mbuf **zbp, enum web_coding c,
			  const uint8_t *body, size_t len)
{
	struct mbuf *zb = mbuf_alloc(web_compress_bound(len));
	size_t n;

	if (!zb)
		return false;
	n = zb->size;
	if (web_compress(c == WEB_CODING_GZIP, body, len, zb->buf, &n)) {
		mem_deref(zb);
		return false;
	}
	zb->end = n;
	*zbp = zb;
	return true;
}

int web_reply(struct web_req *req, uint16_t scode, const char *reason,
	      const char *ctype, const uint8_t *body, size_t len,
	      const char *hdrs, ...)
{
	enum web_coding coding = WEB_CODING_IDENTITY;
	struct mbuf *mb = NULL, *zb = NULL;
	struct web_conn *conn;
	bool http10, vary = false;
	va_list ap;
	int err;

	if (!req)
		return EINVAL;
	if (!reason)
		reason = web_reason(scode);
	if (req->replied)
		return EALREADY;
	conn = req->conn;
	if (!conn || conn->closed)
		return ENOTCONN;

	/* a body worth compressing, if the client asks (HEAD too: its
	 * Content-Length is the one GET would send) */
	if (body && !req->secret && len >= WEB_COMPRESS_MIN &&
	    len <= WEB_COMPRESS_MAX) {
		vary = true;
		coding = web_req_coding(req);
		if (coding != WEB_CODING_IDENTITY &&
		    compress_body(&zb, coding, body, len)) {
			body = zb->buf;
			len = zb->end;
		} else
			coding = WEB_CODING_IDENTITY;
	}

	mb = mbuf_alloc(256 + len);
	if (!mb) {
		err = ENOMEM;
		goto out;
	}

	if (conn->srv->draining)
		req->keepalive = false;

	http10 = pl_strcmp(&req->msg->ver, "1.1") != 0;
	err = web_write_response(
	    mb, conn->srv, scode, reason, ctype, len,
	    (req->keepalive ? WEB_RESP_KEEPALIVE : 0) |
		(http10 && req->keepalive ? WEB_RESP_HTTP10_KEEPALIVE : 0) |
		(req->cookie ? 0 : WEB_RESP_SET_COOKIE) |
		(req->secret ? WEB_RESP_NO_STORE : 0));
	if (coding != WEB_CODING_IDENTITY)
		err |=
		    mbuf_write_str(mb, coding == WEB_CODING_GZIP
					   ? "Content-Encoding: gzip\r\n"
					   : "Content-Encoding: deflate\r\n");
	if (vary)
		err |= mbuf_write_str(mb, "Vary: Accept-Encoding\r\n");
	if (hdrs) {
		va_start(ap, hdrs);
		err |= mbuf_vprintf(mb, hdrs, ap);
		va_end(ap);
	}
	err |= mbuf_write_str(mb, "\r\n");
	if (body && len && !req->head_only)
		err |= mbuf_write_mem(mb, body, len);
	if (err)
		goto out;

	mb->pos = 0;
	req->replied = true;
	web_srv_count_response(conn->srv, scode);
	err = tcp_send(conn->tc, mb);
	web_conn_replied(conn, req->keepalive && !err);

out:
	mem_deref(zb);
	mem_deref(mb);
	return err;
}

int web_reply_text(struct web_req *req, uint16_t scode, const char *reason,
		   const char *text)
{
	char buf[512];
	int n;

	if (!reason)
		reason = web_reason(scode);
	n = re_snprintf(buf, sizeof(buf), "%s\n", text ? text : reason);
	return web_reply(req, scode, reason, "text/plain; charset=utf-8",
			 (const uint8_t *)buf, n > 0 ? (size_t)n : 0, NULL);
}

/* The reason phrases of RFC 9110 15 for the codes the service sends. */
static const struct {
	uint16_t scode;
	const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *web_reason(uint16_t scode)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reasons); i++) {
		if (reasons[i].scode == scode)
			return reasons[i].reason;
	}
	return scode < 400 ? "OK" : "Error";
}

int web_send_error(struct web_conn *conn, uint16_t scode, const char *why)
{
	struct mbuf *mb;
	char body[256];
	int n, err;

	n = re_snprintf(body, sizeof(body), "%s\n", why);
	if (n < 0)
		n = 0;

	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;

	/* Errors found before a request exists close the connection: the
	 * rest of the stream cannot be trusted to frame requests. */
	err = web_write_response(mb, conn->srv, scode, web_reason(scode),
				 "text/plain; charset=utf-8", n, 0);
	err |= mbuf_write_str(mb, "\r\n");
	err |= mbuf_write_mem(mb, (uint8_t *)body, n);
	if (!err) {
		mb->pos = 0;
		web_srv_count_response(conn->srv, scode);
		err = tcp_send(conn->tc, mb);
	}
	mem_deref(mb);
	return err;
}
