/**
 * @file http.c  HTTP/2 requests to the providers through libcurl's
 * multi-socket interface, driven by the libre loop
 *
 * (src/curlloop). Requests to one host share one TLS connection as HTTP/2
 * streams (CURLPIPE_MULTIPLEX, and CURLOPT_PIPEWAIT so that a burst waits
 * for the first connection instead of opening one each).
 */
#include <string.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <re.h>
#include "core.h"
#include "curlloop.h"
#include "push_int.h"

struct push_http {
	struct curlloop *cl;
	char *ca_file;
	uint32_t timeout_ms;
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

static void hreq_destructor(void *arg)
{
	struct push_hreq *r = arg;

	if (r->easy) {
		curl_multi_remove_handle(curlloop_multi(r->http->cl), r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	mem_deref(r->body);
	mem_deref(r->http);
}

static void http_destructor(void *arg)
{
	struct push_http *http = arg;

	/* every request holds a reference: none is left */
	mem_deref(http->cl);
	mem_deref(http->ca_file);
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

/* A finished transfer to its owner; r may be dropped by the handler (or
 * other requests, or the service: the loop holds itself meanwhile). */
static void finish(void *priv, CURLcode rc)
{
	struct push_hresp resp = {.retry_after = -1};
	struct push_hreq *r = priv;
	long status = 0;
	push_http_h *h;
	int err = 0;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(curlloop_multi(r->http->cl), r->easy);
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

	if (curl_multi_add_handle(curlloop_multi(http->cl), r->easy) !=
	    CURLM_OK) {
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
	CURLM *multi;
	int err = 0;

	if (!hp)
		return EINVAL;

	http = mem_zalloc(sizeof(*http), http_destructor);
	if (!http)
		return ENOMEM;

	http->timeout_ms = timeout_ms;
	if (ca_file)
		err = str_dup(&http->ca_file, ca_file);
	if (err)
		goto out;

	err = curlloop_alloc(&http->cl, finish);
	if (err)
		goto out;

	multi = curlloop_multi(http->cl);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* One connection per provider, its streams up to what is in flight
	 * (the server may allow fewer): otherwise curl opens a new
	 * connection, with its TLS handshake and CA store, for every
	 * request beyond the streams the server allows. Requests beyond
	 * them wait in curl, each started when one ends. */
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)PUSH_MAX_CONNS);
	curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
			  (long)streams);

out:
	if (err)
		mem_deref(http);
	else
		*hp = http;
	return err;
}
