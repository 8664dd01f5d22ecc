/**
 * @file fwd.c  Forwarding requests to the owner instance (fwd.h)
 *
 * libcurl on the libre loop (src/curlloop); plain HTTP/1.1, connections
 * to each peer kept alive by curl's connection cache.
 */
#include <string.h>
#include <curl/curl.h>
#include <re.h>
#include "core.h"
#include "curlloop.h"
#include "web.h"
#include "fwd.h"

enum {
	FWD_URL_MAX = 4096 + 512, /* base + path + query (web limits)  */
	FWD_HDR_LINE_MAX = 8192,  /* one header line sent              */
	FWD_CONNECT_MS = 2000,    /* a peer that does not answer at all */
};

struct fwd {
	struct curlloop *cl;
	uint32_t timeout_ms;
	char inst[128];
};

struct fwd_req {
	struct fwd *f;
	CURL *easy;
	struct curl_slist *hdrs;
	struct mbuf *body; /* the answer's body   */
	struct mbuf *rhdr; /* header lines relayed */
	char ctype[FWD_CTYPE_MAX];
	bool not_owner, secret, too_big;
	fwd_h *h;
	void *arg;
};

static void req_destructor(void *arg)
{
	struct fwd_req *r = arg;

	/* a transfer in progress is aborted: curl closes its connection */
	if (r->easy) {
		curl_multi_remove_handle(curlloop_multi(r->f->cl), r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	mem_deref(r->body);
	mem_deref(r->rhdr);
	mem_deref(r->f);
}

static void destructor(void *arg)
{
	struct fwd *f = arg;

	/* every request holds a reference: none is left */
	mem_deref(f->cl);
}

static int curl_errno(const struct fwd_req *r, CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return ECONNRESET;
	case CURLE_WRITE_ERROR:
		return r->too_big ? EFBIG : ENOMEM;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EPROTO;
	}
}

/* A finished transfer to its owner; r may be dropped by the handler. */
static void finish(void *priv, CURLcode rc)
{
	struct fwd_req *r = priv;
	struct fwd_resp resp;
	long status = 0, sent = 0;
	fwd_h *h = r->h;
	int err = 0;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
	curl_multi_remove_handle(curlloop_multi(r->f->cl), r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	r->h = NULL;
	if (rc != CURLE_OK || status < 100 || status > 999)
		err = rc != CURLE_OK ? curl_errno(r, rc) : EPROTO;
	/* nothing of the request left: the peer never saw it (no
	 * connection, or none in time), safe to send elsewhere */
	if (err && !sent && err != ENOMEM)
		err = ECONNREFUSED;

	memset(&resp, 0, sizeof(resp));
	resp.status = (uint16_t)status;
	resp.ctype = r->ctype[0] ? r->ctype : NULL;
	/* the relayed lines as a string: NUL after them */
	if (mbuf_write_u8(r->rhdr, 0))
		mbuf_reset(r->rhdr);
	resp.hdrs = r->rhdr->buf ? (const char *)r->rhdr->buf : "";
	resp.body = r->body->end ? r->body->buf : NULL;
	resp.len = r->body->end;
	resp.not_owner = r->not_owner;
	resp.secret = r->secret;

	mem_ref(r);
	if (h)
		h(err, err ? NULL : &resp, r->arg);
	mem_deref(r);
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_req *r = arg;
	size_t len = size * n;

	if (r->body->end + len > FWD_RESP_MAX) {
		r->too_big = true;
		return 0; /* curl fails the transfer */
	}
	return mbuf_write_mem(r->body, (const uint8_t *)p, len) ? 0 : len;
}

/* Header fields of the owner's answer a client needs; the others are the
 * connection's (Content-Length, Connection...) or web_reply() writes its
 * own (Date, Cache-Control, X-MS-Server-Fqdn, the MS-WSMAN cookie). */
static bool relayed(const struct pl *name)
{
	static const char *const names[] = {
	    "Location", "Retry-After", "WWW-Authenticate", "Allow",
	    "ETag",     "Link",        "Content-Location",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!pl_strcasecmp(name, names[i]))
			return true;
	}
	return name->l > 5 && !strncasecmp(name->p, "X-Ms-", 5) &&
	       pl_strcasecmp(name, "X-MS-Server-Fqdn");
}

/* Cache-Control holds the directive no-store (a secret: a token). */
static bool has_no_store(const struct pl *val)
{
	static const char d[] = "no-store";
	size_t i;

	for (i = 0; i + sizeof(d) - 1 <= val->l; i++) {
		if (!strncasecmp(val->p + i, d, sizeof(d) - 1))
			return true;
	}
	return false;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_req *r = arg;
	size_t len = size * n;
	struct pl line = {p, len}, name, val;
	const char *colon;

	/* a status line starts an answer (after a 1xx): forget the last */
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		mbuf_reset(r->rhdr);
		r->ctype[0] = '\0';
		r->not_owner = r->secret = false;
		return len;
	}
	while (line.l &&
	       (line.p[line.l - 1] == '\n' || line.p[line.l - 1] == '\r'))
		--line.l;
	/* a CR, LF or NUL inside would split the relayed line in two */
	colon = pl_strchr(&line, ':');
	if (!colon || memchr(line.p, '\r', line.l) ||
	    memchr(line.p, '\n', line.l) || memchr(line.p, '\0', line.l))
		return len;
	name.p = line.p;
	name.l = (size_t)(colon - line.p);
	val.p = colon + 1;
	val.l = line.l - name.l - 1;
	text_trim(&val);

	if (!pl_strcasecmp(&name, "Content-Type")) {
		if (val.l < sizeof(r->ctype))
			(void)pl_strcpy(&val, r->ctype, sizeof(r->ctype));
	} else if (!pl_strcasecmp(&name, FWD_NOT_OWNER_HDR)) {
		r->not_owner = true;
	} else if (!pl_strcasecmp(&name, "Cache-Control")) {
		r->secret = has_no_store(&val);
	} else if (relayed(&name) && r->rhdr->end + line.l + 2 < FWD_HDRS_MAX) {
		(void)mbuf_printf(r->rhdr, "%r\r\n", &line);
	}
	return len;
}

/* The client's header fields not sent on: hop-by-hop (RFC 9110 7.6.1),
 * framing (curl writes its own), what this instance sets itself. */
static bool hop_by_hop(const struct pl *name)
{
	static const char *const names[] = {
	    "Connection",
	    "Keep-Alive",
	    "Proxy-Connection",
	    "TE",
	    "Trailer",
	    "Transfer-Encoding",
	    "Upgrade",
	    "Content-Length",
	    "Expect",
	    "Accept-Encoding",
	    "X-Forwarded-For",
	    FWD_BY_HDR,
	    "Proxy-Authorization",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!pl_strcasecmp(name, names[i]))
			return true;
	}
	return false;
}

struct hdr_walk {
	struct fwd_req *r;
	bool accept, ctype;
	int err;
};

static int hdr_add(struct fwd_req *r, const char *fmt, ...)
{
	char line[FWD_HDR_LINE_MAX];
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = re_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return EOVERFLOW;
	l = curl_slist_append(r->hdrs, line);
	if (!l)
		return ENOMEM;
	r->hdrs = l;
	return 0;
}

static bool hdr_copy(const struct pl *name, const struct pl *val, void *arg)
{
	struct hdr_walk *w = arg;

	if (hop_by_hop(name))
		return false;
	if (!pl_strcasecmp(name, "Accept"))
		w->accept = true;
	if (!pl_strcasecmp(name, "Content-Type"))
		w->ctype = true;
	/* curl takes "Name:" alone as "remove its own": send "Name;" */
	w->err = val->l ? hdr_add(w->r, "%r: %r", name, val)
			: hdr_add(w->r, "%r;", name);
	return w->err != 0;
}

static int headers_build(struct fwd_req *r, const struct web_req *req)
{
	struct hdr_walk w = {.r = r};
	int err;

	web_req_headers(req, hdr_copy, &w);
	if (w.err)
		return w.err;
	/* curl's own defaults would say what the client did not */
	err = w.accept ? 0 : hdr_add(r, "Accept:");
	err |= w.ctype ? 0 : hdr_add(r, "Content-Type:");
	err |= hdr_add(r, "Expect:");
	err |= hdr_add(r, "X-Forwarded-For: %j", web_req_client(req));
	err |= hdr_add(r, "%s: %s", FWD_BY_HDR, r->f->inst);
	return err ? ENOMEM : 0;
}

static void method_set(struct fwd_req *r, const struct web_req *req)
{
	const struct pl *m = web_req_method(req), *body = web_req_body(req);
	char mbuf[16];

	(void)pl_strcpy(m, mbuf, sizeof(mbuf));
	if (!pl_strcmp(m, "HEAD")) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
		return;
	}
	if (body->l || !pl_strcmp(m, "POST") || !pl_strcmp(m, "PUT")) {
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body->l);
		curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS,
				 body->l ? body->p : "");
	}
	if (pl_strcmp(m, "GET") || body->l)
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, mbuf);
}

int fwd_send(struct fwd_req **rp, struct fwd *f, const char *base,
	     const struct web_req *req, fwd_h *h, void *arg)
{
	const struct pl *q;
	char url[FWD_URL_MAX];
	struct fwd_req *r;
	int n, err;

	if (!rp || !f || !base || !req || !h || web_req_method(req)->l >= 16)
		return EINVAL;
	q = web_req_query(req);
	n = re_snprintf(url, sizeof(url), "%s%r%s%r", base, web_req_path(req),
			q->l ? "?" : "", q);
	if (n < 0 || (size_t)n >= sizeof(url) - 1)
		return EOVERFLOW;

	r = mem_zalloc(sizeof(*r), req_destructor);
	if (!r)
		return ENOMEM;
	r->f = mem_ref(f);
	r->h = h;
	r->arg = arg;
	r->body = mbuf_alloc(1024);
	r->rhdr = mbuf_alloc(256);
	r->easy = curl_easy_init();
	if (!r->body || !r->rhdr || !r->easy) {
		err = ENOMEM;
		goto out;
	}
	err = headers_build(r, req);
	if (err)
		goto out;

	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)FWD_CONNECT_MS);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	method_set(r, req);

	if (curl_multi_add_handle(curlloop_multi(f->cl), r->easy) != CURLM_OK)
		err = ENOMEM;
out:
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err;
}

int fwd_relay(struct web_req *req, const struct fwd_resp *resp)
{
	if (!req || !resp)
		return EINVAL;
	if (resp->secret)
		web_req_set_secret(req);
	return web_reply(req, resp->status, NULL, resp->ctype, resp->body,
			 resp->len, "%s", resp->hdrs ? resp->hdrs : "");
}

bool fwd_is_forwarded(const struct web_req *req)
{
	return web_req_header(req, FWD_BY_HDR, NULL);
}

int fwd_alloc(struct fwd **fp, const char *inst, uint32_t timeout_ms)
{
	struct fwd *f;
	int err = 0;

	if (!fp || !inst || !*inst || strlen(inst) >= sizeof(f->inst) ||
	    !timeout_ms)
		return EINVAL;
	f = mem_zalloc(sizeof(*f), destructor);
	if (!f)
		return ENOMEM;
	f->timeout_ms = timeout_ms;
	str_ncpy(f->inst, inst, sizeof(f->inst));
	err = curlloop_alloc(&f->cl, finish);

	if (err)
		mem_deref(f);
	else
		*fp = f;
	return err;
}
