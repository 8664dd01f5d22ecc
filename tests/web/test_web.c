/**
 * @file test_web.c  HTTP request head limits and syntax, content negotiation
 */
#include <string.h>
#include <re.h>
#include "web.h"
#include "web_compress.h"
#include "check.h"

static const struct conf_http_limits lim = {
    .max_request_line = 64,
    .max_header_bytes = 256,
    .max_headers = 4,
    .max_body_bytes = 100,
    .header_timeout_ms = 1000,
    .body_timeout_ms = 1000,
    .idle_timeout_ms = 1000,
    .max_connections = 10,
    .max_conns_per_addr = 5,
};

static int scan(const char *s, struct web_head *h)
{
	return web_head_scan((const uint8_t *)s, strlen(s), &lim, h);
}

static uint16_t verdict(const char *s)
{
	struct web_head h;
	int err = scan(s, &h);
	return err && !h.scode ? 1 : h.scode; /* 1: incomplete */
}

static void test_reasons(void)
{
	CHECK_STR(web_reason(200), "OK");
	CHECK_STR(web_reason(404), "Not Found");
	CHECK_STR(web_reason(413), "Content Too Large");
	CHECK_STR(web_reason(503), "Service Unavailable");
	/* a code without a phrase still gets one */
	CHECK_STR(web_reason(299), "OK");
	CHECK_STR(web_reason(499), "Error");
}

static void test_complete(void)
{
	struct web_head h;
	const char *req = "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nNEXT";

	CHECK(0 == scan(req, &h));
	CHECK(h.scode == 0);
	CHECK(h.head_len == strlen(req) - 4);
	CHECK(h.body_len == 0);

	CHECK(0 == scan("POST / HTTP/1.1\r\nHost: x\r\n"
			"Content-Length: 5\r\n\r\nhello",
			&h));
	CHECK(h.scode == 0 && h.body_len == 5);

	/* bare LF line ends are accepted (RFC 9112 2.2) */
	CHECK(0 == scan("GET / HTTP/1.1\nHost: x\n\n", &h) && h.scode == 0);
	/* leading empty lines are skipped */
	CHECK(0 == scan("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &h) &&
	      h.scode == 0);
	/* HTTP/1.0 needs no Host */
	CHECK(verdict("GET / HTTP/1.0\r\n\r\n") == 0);
}

static void test_incomplete(void)
{
	CHECK(verdict("GET / HT") == 1);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\n") == 1);
	CHECK(verdict("") == 1);
}

static void test_limits(void)
{
	char buf[1024];
	int i;

	/* request line over max_request_line, complete or not */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "GET /");
	for (i = 0; i < 80; i++)
		strcat(buf, "a");
	CHECK(verdict(buf) == 414);
	strcat(buf, " HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(verdict(buf) == 414);

	/* header section over max_header_bytes */
	strcpy(buf, "GET / HTTP/1.1\r\nHost: x\r\nX-A: ");
	for (i = 0; i < 300; i++)
		strcat(buf, "b");
	CHECK(verdict(buf) == 431); /* still incomplete, already too big */
	strcat(buf, "\r\n\r\n");
	CHECK(verdict(buf) == 431);

	/* more than max_headers fields */
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
		      "D: 4\r\n\r\n") == 431);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n"
		      "C: 3\r\n\r\n") == 0);

	/* body over max_body_bytes is refused before it is read */
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n"
		      "\r\n") == 413);
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
		      "\r\n") == 0);
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
		      "99999999999999999999999\r\n\r\n") == 400);
}

static void test_malformed(void)
{
	CHECK(verdict("GET\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n") == 400);
	CHECK(verdict("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
	CHECK(verdict("G(T / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
	CHECK(verdict("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
	CHECK(verdict("GET / FTP/1.1\r\nHost: x\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505);
	CHECK(verdict("GET / HTTP/1.1\r\n\r\n") == 400); /* no Host */
	CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1\r\nHost : x\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\nA: b\x01"
		      "c\r\n\r\n") == 400);
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n") == 400);
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n"
		      "\r\n") == 400);
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		      "Content-Length: 2\r\n\r\n") == 400);
	CHECK(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		      "chunked\r\n\r\n") == 411);
}

static void test_scan_has_reason(void)
{
	struct web_head h;

	(void)scan("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
		   &h);
	CHECK(h.why && strstr(h.why, "body"));
	(void)scan("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
		   "D: 4\r\n\r\n",
		   &h);
	CHECK(h.why && strstr(h.why, "header"));
}

static size_t choose(const char *accept)
{
	static const char *const offers[] = {
	    "application/json",
	    "application/vnd.microsoft.rtc.autodiscover+json",
	    "application/vnd.microsoft.rtc.autodiscover+xml",
	    "application/xml",
	};
	struct pl pl;
	size_t c = 99;

	pl_set_str(&pl, accept);
	if (web_negotiate_pl(accept ? &pl : NULL, offers, ARRAY_SIZE(offers),
			     &c))
		return 100; /* nothing acceptable */
	return c;
}

static void test_negotiate(void)
{
	CHECK(choose(NULL) == 0);
	CHECK(choose("") == 0);
	CHECK(choose("*/*") == 0);
	CHECK(choose("application/json") == 0);
	CHECK(choose("application/xml") == 3);
	CHECK(choose("application/vnd.microsoft.rtc.autodiscover+xml;v=1") ==
	      2);
	CHECK(choose("Application/Vnd.Microsoft.Rtc.Autodiscover+Xml; v=1") ==
	      2);
	CHECK(choose("application/vnd.microsoft.rtc.autodiscover+json;v=1") ==
	      1);
	CHECK(choose("application/json;q=0.5, application/xml") == 3);
	CHECK(choose("application/xml;q=0.2, application/json;q=0.9") == 0);
	CHECK(choose("application/*;q=0.1, application/xml") == 3);
	CHECK(choose("text/html, */*;q=0.1") == 0);
	CHECK(choose("image/png") == 100);
	CHECK(choose("application/json;q=0") == 100); /* refused outright */
	CHECK(choose("application/json;q=0, application/*;q=0") == 100);
	CHECK(choose("garbage") == 0); /* unparsable: as if absent */
}

static enum web_coding coding(const char *ae)
{
	struct pl pl;

	pl_set_str(&pl, ae);
	return web_coding_choose(ae ? &pl : NULL);
}

/* Accept-Encoding: q-values, "*", identity excluded, ties, garbage. */
static void test_coding(void)
{
	CHECK(coding(NULL) == WEB_CODING_IDENTITY);
	CHECK(coding("") == WEB_CODING_IDENTITY);
	CHECK(coding("identity") == WEB_CODING_IDENTITY);
	CHECK(coding("br") == WEB_CODING_IDENTITY);
	CHECK(coding("gzip, deflate") == WEB_CODING_GZIP);
	CHECK(coding("deflate, gzip") == WEB_CODING_GZIP); /* tie: gzip */
	CHECK(coding("GZip") == WEB_CODING_GZIP);
	CHECK(coding("x-gzip") == WEB_CODING_GZIP);
	CHECK(coding("deflate") == WEB_CODING_DEFLATE);
	CHECK(coding("gzip;q=0.5") == WEB_CODING_GZIP);
	CHECK(coding("gzip;q=0.5, identity") == WEB_CODING_IDENTITY);
	CHECK(coding("gzip;q=0, identity") == WEB_CODING_IDENTITY);
	CHECK(coding("gzip;q=0") == WEB_CODING_IDENTITY);
	CHECK(coding("gzip;q=0.2, deflate") == WEB_CODING_DEFLATE);
	CHECK(coding("deflate;q=0.5, gzip;q=0.8") == WEB_CODING_GZIP);
	CHECK(coding("identity;q=0, *") == WEB_CODING_GZIP);
	CHECK(coding("*") == WEB_CODING_GZIP);
	CHECK(coding("*;q=0, deflate;q=0.1") == WEB_CODING_DEFLATE);
	CHECK(coding("*;q=0") == WEB_CODING_IDENTITY); /* nothing: plain */
	CHECK(coding("gzip;q=2, deflate") == WEB_CODING_DEFLATE);
	CHECK(coding("gzip;q=, deflate;q=0.3") == WEB_CODING_DEFLATE);
	CHECK(coding(" gzip ; q=0.9 ,identity;q=0.1") == WEB_CODING_GZIP);
	CHECK(coding(",,;,") == WEB_CODING_IDENTITY);
}

/* Compressed bodies: both formats, and a buffer too small. */
static void test_compress(void)
{
	uint8_t in[1000], out[1100];
	size_t n;

	memset(in, 'a', sizeof(in));
	n = web_compress_bound(sizeof(in));
	CHECK(n >= sizeof(in) && n <= sizeof(out));
	CHECK(web_compress(true, in, sizeof(in), out, &n) == 0);
	CHECK(n < 100 && out[0] == 0x1f && out[1] == 0x8b); /* gzip magic */
	n = sizeof(out);
	CHECK(web_compress(false, in, sizeof(in), out, &n) == 0);
	/* zlib header: deflate method, check bits (RFC 1950 2.2) */
	CHECK(n < 100 && (out[0] & 0x0f) == 8 &&
	      ((out[0] << 8) | out[1]) % 31 == 0);
	n = 4;
	CHECK(web_compress(true, in, sizeof(in), out, &n) == ENOSPC);
	CHECK(web_compress(true, NULL, 3, out, &n) == EINVAL);
}

/* PROXY protocol v2 headers: TCP over IPv4 and IPv6, LOCAL, pieces,
 * garbage and the length limit. */
static void test_proxy_v2(void)
{
	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	uint8_t b[16 + 36 + 8];
	struct sa src, want;
	size_t used, i;

	/* PROXY, TCP4: 192.0.2.7:51000 -> 127.0.0.1:80, then a request */
	memcpy(b, sig, 12);
	memcpy(b + 12, "\x21\x11\x00\x0c", 4);
	memcpy(b + 16, "\xc0\x00\x02\x07\x7f\x00\x00\x01\xc7\x38\x00\x50", 12);
	memcpy(b + 28, "GET ", 4);
	CHECK(web_proxy_v2_parse(b, 32, &src, &used) == 0);
	CHECK(used == 28);
	(void)sa_set_str(&want, "192.0.2.7", 51000);
	CHECK(sa_cmp(&src, &want, SA_ALL));
	/* every shorter piece waits for more */
	for (i = 0; i < 28; i++)
		CHECK(web_proxy_v2_parse(b, i, &src, &used) == ENODATA);

	/* TCP6 */
	memcpy(b + 12, "\x21\x21\x00\x24", 4);
	memset(b + 16, 0, 36);
	b[16] = 0x20;
	b[17] = 0x01;
	b[18] = 0x0d;
	b[19] = 0xb8;
	b[31] = 0x09;
	b[48] = 0x01;
	b[49] = 0xbb;
	CHECK(web_proxy_v2_parse(b, 52, &src, &used) == 0 && used == 52);
	(void)sa_set_str(&want, "2001:db8::9", 443);
	CHECK(sa_cmp(&src, &want, SA_ALL));

	/* LOCAL (the proxy's own health check): the peer stands */
	memcpy(b + 12, "\x20\x00\x00\x00", 4);
	(void)sa_set_str(&src, "127.0.0.1", 1);
	want = src;
	CHECK(web_proxy_v2_parse(b, 16, &src, &used) == 0 && used == 16);
	CHECK(sa_cmp(&src, &want, SA_ALL));

	/* not PROXY v2: v1 text, a request, wrong version or command, an
	 * address block too short, a length over the limit */
	CHECK(web_proxy_v2_parse((const uint8_t *)"PROXY TCP4 ", 11, &src,
				 &used) == EPROTO);
	CHECK(web_proxy_v2_parse((const uint8_t *)"GET / HTTP/1.1", 14, &src,
				 &used) == EPROTO);
	CHECK(web_proxy_v2_parse(b, 1, &src, &used) == ENODATA);
	memcpy(b + 12, "\x11\x11\x00\x0c", 4);
	CHECK(web_proxy_v2_parse(b, 28, &src, &used) == EPROTO);
	memcpy(b + 12, "\x22\x11\x00\x0c", 4);
	CHECK(web_proxy_v2_parse(b, 28, &src, &used) == EPROTO);
	memcpy(b + 12, "\x21\x11\x00\x04", 4);
	CHECK(web_proxy_v2_parse(b, 28, &src, &used) == EPROTO);
	memcpy(b + 12, "\x21\x11\x04\x01", 4);
	CHECK(web_proxy_v2_parse(b, 16, &src, &used) == EPROTO);
}

int main(void)
{
	test_complete();
	test_reasons();
	test_incomplete();
	test_limits();
	test_malformed();
	test_scan_has_reason();
	test_negotiate();
	test_coding();
	test_compress();
	test_proxy_v2();
	return check_done("test_web");
}
