/**
 * @file http.c  HTTP/2 requests to the providers through libcurl's
 * multi-socket interface, driven by the libre loop
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: libre
 * fd_listen/fd_close) and when to call it back (CURLMOPT_TIMERFUNCTION:
 * one libre timer); we hand it the events with curl_multi_socket_action.
 * Requests to one host share one TLS connection as HTTP/2 streams
 * (CURLPIPE_MULTIPLEX, and CURLOPT_PIPEWAIT so that a burst waits for the
 * first connection instead of opening one each).
 */
#include <string.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <re.h>
#include "core.h"
#include "push_int.h"

struct push_http {
	CURLM *multi;
	struct tmr tmr;    /* curl's timeout */
	struct list socks; /* struct hsock */
	char *ca_file;
	uint32_t timeout_ms;
};

/* One socket curl asked us to watch. */
struct hsock {
	struct le le;
	struct push_http *http;
	curl_socket_t fd;
};

struct push_hreq {
	struct push_http *http;
	CURL *easy;
	struct curl_slist *hdrs;
	struct mbuf *body; /* the answer */
	int32_t retry_after;
	push_http_h *h;
	void *arg;
};

static void process(struct push_http *http);

static void hreq_destructor(void *arg)
{
	struct push_hreq *r = arg;

	if (r->easy) {
		curl_multi_remove_handle(r->http->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	mem_deref(r->body);
	mem_deref(r->http);
}

static void http_destructor(void *arg)
{
	struct push_http *http = arg;

	tmr_cancel(&http->tmr);
	/* every request holds a reference: none is left; the sockets of
	 * idle connections close now */
	curl_multi_cleanup(http->multi);
	while (http->socks.head) {
		struct hsock *hs = http->socks.head->data;

		fd_close(hs->fd);
		list_unlink(&hs->le);
		mem_deref(hs);
	}
	mem_deref(http->ca_file);
}

static void fd_handler(int flags, void *arg)
{
	struct hsock *hs = arg;
	struct push_http *http = hs->http;
	curl_socket_t fd = hs->fd; /* hs may go inside socket_action */
	int mask = 0, running;

	if (flags & FD_READ)
		mask |= CURL_CSELECT_IN;
	if (flags & FD_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (flags & FD_EXCEPT)
		mask |= CURL_CSELECT_ERR;

	mem_ref(http);
	(void)curl_multi_socket_action(http->multi, fd, mask, &running);
	process(http);
	mem_deref(http);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct push_http *http = userp;
	struct hsock *hs = socketp;
	int flags = 0;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		fd_close(s);
		if (hs)
			list_unlink(&hs->le);
		mem_deref(hs);
		(void)curl_multi_assign(http->multi, s, NULL);
		return 0;
	}

	if (!hs) {
		hs = mem_zalloc(sizeof(*hs), NULL);
		if (!hs)
			return -1;
		hs->http = http;
		hs->fd = s;
		list_append(&http->socks, &hs->le, hs);
		(void)curl_multi_assign(http->multi, s, hs);
	}

	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		flags |= FD_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		flags |= FD_WRITE;

	return fd_listen(s, flags, fd_handler, hs) ? -1 : 0;
}

static void tmr_handler(void *arg)
{
	struct push_http *http = arg;
	int running;

	mem_ref(http);
	(void)curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0,
				       &running);
	process(http);
	mem_deref(http);
}

/* curl must not be called back from inside this callback: a 0 ms timer. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct push_http *http = userp;
	(void)multi;

	if (timeout_ms < 0)
		tmr_cancel(&http->tmr);
	else
		tmr_start(&http->tmr, (uint64_t)timeout_ms, tmr_handler, http);

	return 0;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EDESTADDRREQ;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return EAUTH;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EPROTO;
	}
}

/* Completed transfers: hand each to its owner. A handler may drop other
 * requests or the service; the caller holds a reference on http. */
static void process(struct push_http *http)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(http->multi, &left))) {
		struct push_hresp resp = {.retry_after = -1};
		struct push_hreq *r = NULL;
		CURLcode rc = msg->data.result;
		long status = 0;
		push_http_h *h;
		int err = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;

		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		if (!r)
			continue;

		(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
					&status);
		curl_multi_remove_handle(http->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;

		if (rc != CURLE_OK || status <= 0 || status > 999)
			err = curl_errno(rc);

		resp.status = (uint16_t)status;
		resp.body = (const char *)r->body->buf;
		resp.body_len = r->body->end;
		resp.retry_after = r->retry_after;

		/* the owner drops r from its handler: resp (r's body) stays
		 * valid until the handler returns */
		h = r->h;
		r->h = NULL;
		mem_ref(r);
		if (h)
			h(err, &resp, r->arg);
		mem_deref(r);
	}
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct push_hreq *r = arg;
	size_t len = size * n;
	size_t room = PUSH_MAX_RESP - r->body->end;
	size_t keep = len < room ? len : room;

	/* one byte more for the NUL: mbuf_write_mem() grows the buffer only
	 * to what is written, so a body filling it exactly left no room */
	if (r->body->size - r->body->end <= keep &&
	    mbuf_resize(r->body, r->body->end + keep + 1))
		return 0; /* out of memory: curl fails the transfer */

	/* keep the first PUSH_MAX_RESP bytes: the reason is at the start */
	(void)mbuf_write_mem(r->body, (const uint8_t *)p, keep);
	r->body->buf[r->body->end] = '\0';
	return len;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	struct push_hreq *r = arg;
	size_t len = size * n;
	struct pl v;
	uint32_t secs;

	if (len <= sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1))
		return len;

	v.p = p + sizeof(name) - 1;
	v.l = len - (sizeof(name) - 1);
	while (v.l && (v.p[v.l - 1] == '\n' || v.p[v.l - 1] == '\r'))
		--v.l;
	text_trim(&v);

	/* delta-seconds (RFC 9110 10.2.3); an HTTP-date is not used by the
	 * providers and is ignored */
	if (!v.l || v.l > 9 || pl_strchr(&v, '.'))
		return len;
	secs = pl_u32(&v);
	if (!secs && (v.p[0] != '0'))
		return len;
	r->retry_after =
	    (int32_t)(secs > PUSH_MAX_RETRY_AFTER ? PUSH_MAX_RETRY_AFTER
						  : secs);
	return len;
}

/* Trust ca_file on top of the system store. */
static CURLcode ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	struct push_http *http = arg;
	X509_STORE *st = SSL_CTX_get_cert_store(sslctx);
	(void)easy;

	if (http->ca_file && X509_STORE_load_file(st, http->ca_file) != 1)
		return CURLE_SSL_CACERT_BADFILE;

	return CURLE_OK;
}

int push_http_post(struct push_hreq **rp, struct push_http *http,
		   const char *url, const char *const *hdrv, size_t hdrc,
		   const char *body, size_t len, push_http_h *h, void *arg)
{
	struct push_hreq *r;
	size_t i;
	int err = 0;

	if (!rp || !http || !url || (hdrc && !hdrv) || !body)
		return EINVAL;

	r = mem_zalloc(sizeof(*r), hreq_destructor);
	if (!r)
		return ENOMEM;

	r->http = mem_ref(http);
	r->h = h;
	r->arg = arg;
	r->retry_after = -1;
	r->body = mbuf_alloc(512);
	r->easy = curl_easy_init();
	if (!r->body || !r->easy) {
		err = ENOMEM;
		goto out;
	}
	r->body->buf[0] = '\0';

	for (i = 0; i < hdrc; i++) {
		struct curl_slist *l = curl_slist_append(r->hdrs, hdrv[i]);
		if (!l) {
			err = ENOMEM;
			goto out;
		}
		r->hdrs = l;
	}

	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)http->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https");
	if (http->ca_file) {
		curl_easy_setopt(r->easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(r->easy, CURLOPT_SSL_CTX_DATA, http);
	}

	if (curl_multi_add_handle(http->multi, r->easy) != CURLM_OK) {
		err = ENOMEM;
		goto out;
	}

out:
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err;
}

int push_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : ENOMEM;
}

void push_close(void)
{
	curl_global_cleanup();
}

int push_http_alloc(struct push_http **hp, const char *ca_file,
		    uint32_t timeout_ms, uint32_t streams)
{
	struct push_http *http;
	int err = 0;

	if (!hp)
		return EINVAL;

	http = mem_zalloc(sizeof(*http), http_destructor);
	if (!http)
		return ENOMEM;

	http->timeout_ms = timeout_ms;
	tmr_init(&http->tmr);
	if (ca_file)
		err = str_dup(&http->ca_file, ca_file);
	if (err)
		goto out;

	http->multi = curl_multi_init();
	if (!http->multi) {
		err = ENOMEM;
		goto out;
	}

	curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_PIPELINING,
			  (long)CURLPIPE_MULTIPLEX);
	/* One connection per provider, its streams up to what is in flight
	 * (the server may allow fewer): otherwise curl opens a new
	 * connection, with its TLS handshake and CA store, for every
	 * request beyond the streams the server allows. Requests beyond
	 * them wait in curl, each started when one ends. */
	curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)PUSH_MAX_CONNS);
	curl_multi_setopt(http->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
			  (long)streams);

out:
	if (err)
		mem_deref(http);
	else
		*hp = http;
	return err;
}
