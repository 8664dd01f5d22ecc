/**
 * @file test_sipua.c  SIP user agent: request validator, arguments,
 * Subscription-State
 *
 * The Front End side (TLS checks, credential check, registrations) is
 * tested against Kamailio by test_sipua.py with sipua_probe.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "sipua.h"
#include "sipua_int.h"
#include "offline_ua.h"

/* A valid REGISTER; each case below breaks one line of it. */
static const char *base[] = {
    "REGISTER sip:example.test SIP/2.0\r\n",
    "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK776asdhds\r\n",
    "Max-Forwards: 70\r\n",
    "To: <sip:alice@example.test>\r\n",
    "From: <sip:alice@example.test>;tag=1928301774\r\n",
    "Call-ID: a84b4c76e66710\r\n",
    "CSeq: 314159 REGISTER\r\n",
    "Content-Length: 0\r\n",
};

/* Build the base message with line `idx` replaced by `repl` ("" drops
 * it, NULL keeps the message as is), decode and validate it. */
static uint16_t run(int idx, const char *repl, const char **reason)
{
	struct mbuf *mb = mbuf_alloc(1024);
	struct sip_msg *msg = NULL;
	uint16_t scode = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(base); i++)
		(void)mbuf_write_str(mb,
				     (int)i == idx && repl ? repl : base[i]);
	(void)mbuf_write_str(mb, "\r\n");
	mb->pos = 0;

	if (sip_msg_decode(&msg, mb)) {
		*reason = "(decode failed)";
		scode = 1;
		goto out;
	}
	msg->req = true;
	scode = sipua_validate(msg, reason);

out:
	mem_deref(msg);
	mem_deref(mb);
	return scode;
}

static void expect(int idx, const char *repl, uint16_t want,
		   const char *want_reason)
{
	const char *reason = NULL;
	uint16_t got = run(idx, repl, &reason);

	if (got != want ||
	    (want_reason && (!reason || strcmp(reason, want_reason)))) {
		fprintf(stderr, "line %d -> \"%s\": got %u \"%s\"\n", idx,
			repl ? repl : "", got, reason ? reason : "");
	}
	CHECK(got == want);
	if (want_reason)
		CHECK_STR(reason, want_reason);
}

static void test_validator(void)
{
	struct mbuf *mb;
	struct sip_msg *msg = NULL;
	const char *reason;
	int i;

	expect(-1, NULL, 0, NULL);
	expect(1, "", 400, "Missing Via header");
	/* libre 1.1.0 already refuses to decode a Via without branch and a
	 * CSeq without number (the connection is closed): run() gives 1 */
	expect(1, "Via: SIP/2.0/TLS 127.0.0.1:5061\r\n", 1, NULL);
	expect(1, "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=\r\n", 1, NULL);
	expect(2, "", 400, "Missing Max-Forwards header");
	expect(2, "Max-Forwards: seventy\r\n", 400,
	       "Malformed Max-Forwards header");
	expect(2, "Max-Forwards: 256\r\n", 400,
	       "Malformed Max-Forwards header");
	expect(3, "", 400, "Missing To header");
	expect(3, "To: <sip:a@b>\r\nTo: <sip:c@d>\r\n", 400,
	       "More than one To header");
	expect(4, "", 400, "Missing From header");
	/* a name-addr without its '>' is no URI (libre reads it as one) */
	expect(4, "From: <sip:bob@example.test;tag=1\r\n", 400,
	       "Malformed To or From header");
	expect(3, "To: <sip:alice@example.test\r\n", 400,
	       "Malformed To or From header");
	expect(4, "From: sip:bob@example.test>;tag=1\r\n", 400,
	       "Malformed To or From header");
	expect(4, "From: \"Bob\" <sip:bob@example.test>;tag=1\r\n", 0, NULL);
	expect(4, "From: sip:bob@example.test;tag=1\r\n", 0, NULL);
	expect(5, "", 400, "Missing Call-ID header");
	expect(5, "Call-ID: x\r\ni: y\r\n", 400,
	       "More than one Call-ID header");
	expect(6, "", 400, "Missing CSeq header");
	expect(6, "CSeq: 1 INVITE\r\n", 400,
	       "CSeq method does not match the request method");
	expect(6, "CSeq: 1 register\r\n", 400,
	       "CSeq method does not match the request method");
	expect(6, "CSeq: REGISTER\r\n", 1, NULL);
	expect(6, "CSeq: 99999999999 REGISTER\r\n", 400,
	       "Malformed CSeq header");
	expect(6, "CSeq: 2147483648 REGISTER\r\n", 400,
	       "Malformed CSeq header");
	expect(6, "CSeq: 2147483647 REGISTER\r\n", 0, NULL);
	/* compact forms are the same headers (RFC 3261 7.3.3) */
	expect(3, "t: <sip:alice@example.test>\r\n", 0, NULL);

	/* too many header fields */
	mb = mbuf_alloc(8192);
	(void)mbuf_write_str(mb, base[0]);
	for (i = 1; i < (int)ARRAY_SIZE(base); i++)
		(void)mbuf_write_str(mb, base[i]);
	for (i = 0; i < SIPUA_MAX_HEADERS; i++)
		(void)mbuf_printf(mb, "X-Filler-%d: y\r\n", i);
	(void)mbuf_write_str(mb, "\r\n");
	mb->pos = 0;
	CHECK(sip_msg_decode(&msg, mb) == 0);
	CHECK(sipua_validate(msg, &reason) == 400);
	CHECK_STR(reason, "Too many header fields");
	msg = mem_deref(msg);
	mem_deref(mb);

	/* larger than the named limit (below libre's 64 KiB) */
	mb = mbuf_alloc(SIPUA_MAX_MSG_BYTES + 2048);
	for (i = 0; i < (int)ARRAY_SIZE(base); i++)
		(void)mbuf_write_str(mb, base[i]);
	(void)mbuf_write_str(mb, "X-Big: ");
	(void)mbuf_fill(mb, 'a', SIPUA_MAX_MSG_BYTES);
	(void)mbuf_write_str(mb, "\r\n\r\n");
	mb->pos = 0;
	CHECK(sip_msg_decode(&msg, mb) == 0);
	CHECK(sipua_validate(msg, &reason) == 513);
	msg = mem_deref(msg);
	mem_deref(mb);

	/* a response is not a request */
	mb = mbuf_alloc(256);
	(void)mbuf_write_str(mb, "SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n");
	mb->pos = 0;
	CHECK(sip_msg_decode(&msg, mb) == 0);
	CHECK(sipua_validate(msg, &reason) == 400);
	msg = mem_deref(msg);
	mem_deref(mb);
}

/* Arguments refused before anything is sent or opened. */
static void test_params(void)
{
	struct sipua_param p;
	struct wheel *w = NULL;
	struct sipua *ua = NULL;

	CHECK(wheel_alloc(&w, 50, 64, false) == 0);
	memset(&p, 0, sizeof(p));
	CHECK(sipua_alloc(&ua, &p) == EINVAL);

	(void)sa_set_str(&p.fe_addr, "127.0.0.1", 5061);
	p.fe_server_name = "fe.example.test";
	p.fe_ca_file = "/nonexistent/ca.pem";
	p.wheel = w;
	/* an unreadable CA file is an error, not an unverified link */
	CHECK(sipua_alloc(&ua, &p) == EINVAL);
	CHECK(ua == NULL);

	CHECK(sipua_check_password(NULL, NULL, "a", "b", "c", NULL, NULL) ==
	      EINVAL);
	CHECK(sipua_reg_alloc(NULL, NULL, NULL, NULL, NULL) == EINVAL);
	CHECK(metric_value(metrics_get(METRIC_COUNTER,
				       "mobility_sip_rejected_total", NULL,
				       "")) == 0);

	mem_deref(w);
}

static const char ha1[] = "0123456789abcdef0123456789abcdef";

static void test_uri(void)
{
	static const char *good[] = {
	    "sip:bob@example.test",
	    "SIP:bob@example.test",
	    "sip:bob.smith@sub.example.test:5061",
	    "sip:+14255550100@example.test",
	    "sip:a%20b@example.test",
	    "sip:o'neil(x)~!*&=$,_-@127.0.0.1",
	};
	static const char *bad[] = {
	    NULL,
	    "",
	    "sip:",
	    "sip:example.test",
	    "sip:@example.test",
	    "sips:bob@example.test",
	    "tel:+14255550100",
	    "bob@example.test",
	    "<sip:bob@example.test>",
	    "sip:bob@example.test;transport=udp",
	    "sip:bob@example.test?Subject=x",
	    "sip:bob@example.test\r\nX-Injected: 1",
	    "sip:bob@example.test\n",
	    "sip:bob bob@example.test",
	    "sip:bob@exa mple.test",
	    "sip:bob\"@example.test",
	    "sip:b;x=y@example.test",
	    "sip:b%2@example.test",
	    "sip:bob@example.test:",
	    "sip:bob@example.test:0",
	    "sip:bob@example.test:65536",
	    "sip:bob@example.test:123456",
	    "sip:bob@-example.test",
	    "sip:bob@.example.test",
	    "sip:bob@[::1]",
	    "sip:bob@example.test:5060x",
	};
	char longuser[SIPUA_MAX_USER + 32], longuri[SIPUA_MAX_URI + 32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (!sipua_uri_valid(good[i]))
			fprintf(stderr, "refused: %s\n", good[i]);
		CHECK(sipua_uri_valid(good[i]));
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (sipua_uri_valid(bad[i]))
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(!sipua_uri_valid(bad[i]));
	}

	/* the user part at its limit and one over */
	memset(longuser, 'u', sizeof(longuser));
	memcpy(longuser, "sip:", 4);
	strcpy(longuser + 4 + SIPUA_MAX_USER, "@e.test");
	CHECK(sipua_uri_valid(longuser));
	longuser[4 + SIPUA_MAX_USER] = 'u';
	strcpy(longuser + 5 + SIPUA_MAX_USER, "@e.test");
	CHECK(!sipua_uri_valid(longuser));

	/* the whole URI over SIPUA_MAX_URI */
	memset(longuri, 'h', sizeof(longuri));
	memcpy(longuri, "sip:u@", 6);
	longuri[SIPUA_MAX_URI + 1] = '\0';
	CHECK(!sipua_uri_valid(longuri));
}

static void done_h(int err, uint16_t scode, void *arg)
{
	(void)err;
	(void)scode;
	(void)arg;
	CHECK(false); /* nothing is sent by these tests */
}

/* Limits and arguments of MESSAGE and PUBLISH, refused before sending. */
static void test_message_publish_args(void)
{
	struct sipua_id from = {"alice", "example.test", ha1};
	struct offline_ua o;
	struct wheel *w = NULL;
	struct sipua *ua;
	struct sipua_treq *t = NULL;
	struct sipua_pub *pub = NULL;
	struct mbuf *big = mbuf_alloc(SIPUA_MAX_IM_BYTES + 1);
	struct pl body = PL("hello"), pl;

	CHECK(wheel_alloc(&w, 50, 64, false) == 0);
	CHECK(offline_ua_open(&o, w) == 0);
	ua = o.ua;
	if (!ua)
		goto out;

	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test\r\nX: y",
			    "text/plain", &body, done_h, NULL) == EINVAL);
	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test",
			    "application/json", &body, done_h, NULL) == EINVAL);
	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test",
			    "text/plain\r\nX: y", &body, done_h,
			    NULL) == EINVAL);
	pl_set_str(&pl, "");
	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test", "text/plain",
			    &pl, done_h, NULL) == EINVAL);
	CHECK(sipua_message(NULL, ua, &from, "sip:bob@example.test",
			    "text/plain", &body, done_h, NULL) == EINVAL);
	from.user = "al ice";
	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test", "text/plain",
			    &body, done_h, NULL) == EINVAL);
	from.user = "alice";
	from.ha1 = "abc";
	CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test", "text/plain",
			    &body, done_h, NULL) == EINVAL);
	from.ha1 = ha1;

	/* the body limit: one byte over is refused */
	CHECK(big != NULL);
	if (big) {
		memset(big->buf, 'x', SIPUA_MAX_IM_BYTES + 1);
		pl.p = (const char *)big->buf;
		pl.l = SIPUA_MAX_IM_BYTES + 1;
		CHECK(sipua_message(&t, ua, &from, "sip:bob@example.test",
				    "text/html", &pl, done_h,
				    NULL) == EMSGSIZE);
	}
	CHECK(t == NULL);

	/* PUBLISH: content type and size checked; nothing sent before the
	 * wheel runs (it is not driven here) */
	CHECK(sipua_pub_alloc(&pub, ua, &from, 0, done_h, NULL) == 0);
	CHECK(sipua_pub_set(pub, "application/pidf+xml\r\nX: y", &body) ==
	      EINVAL);
	CHECK(sipua_pub_set(pub, "pidf", &body) == EINVAL);
	CHECK(sipua_pub_set(pub, "application/", &body) == EINVAL);
	if (big) {
		pl.l = SIPUA_MAX_PUB_BYTES + 1;
		CHECK(sipua_pub_set(pub, "application/pidf+xml", &pl) ==
		      EMSGSIZE);
	}
	CHECK(sipua_pub_set(pub, "application/pidf+xml", &body) == 0);
	CHECK(!sipua_pub_ispublished(pub));
	pub = mem_deref(pub);

	CHECK(sipua_sreq_reply(NULL, 200, NULL) == EINVAL);

out:
	offline_ua_close(&o);
	mem_deref(w);
	mem_deref(big);
}

static int substate(struct sipua_substate *ss, const char *s)
{
	struct pl pl;

	pl_set_str(&pl, s);
	return sipua_substate_decode(ss, &pl);
}

static void test_substate(void)
{
	struct sipua_substate ss;

	CHECK(substate(&ss, "active") == 0);
	CHECK(ss.state == PIDF_SUB_ACTIVE && !pl_isset(&ss.reason));
	CHECK(ss.expires == -1 && ss.retry_after == -1);
	CHECK(substate(&ss, "active;expires=600") == 0);
	CHECK(ss.state == PIDF_SUB_ACTIVE && ss.expires == 600);
	CHECK(substate(&ss, " Pending ; expires = 30 ") == 0);
	CHECK(ss.state == PIDF_SUB_PENDING && ss.expires == 30);
	CHECK(substate(&ss, "terminated;reason=rejected") == 0);
	CHECK(ss.state == PIDF_SUB_TERMINATED);
	CHECK(!pl_strcmp(&ss.reason, "rejected"));
	CHECK(substate(&ss, "terminated;reason=probation;retry-after=90") == 0);
	CHECK(!pl_strcmp(&ss.reason, "probation") && ss.retry_after == 90);
	/* generic parameters, a quoted value among them, are skipped */
	CHECK(substate(&ss, "active;x-foo=\"a;b\";flag;expires=5") == 0);
	CHECK(ss.expires == 5);
	CHECK(substate(&ss, "terminated;reason=noresource;expires=0") == 0);
	CHECK(ss.expires == 0);
	CHECK(substate(&ss, "active;expires=2147483647") == 0);
	CHECK(ss.expires == 2147483647);

	/* refused: unknown or missing state, broken parameters, numbers
	 * out of range, a reason over 32 bytes or quoted */
	CHECK(substate(&ss, "") == EBADMSG);
	CHECK(substate(&ss, "  ") == EBADMSG);
	CHECK(substate(&ss, "waiting") == EBADMSG);
	CHECK(substate(&ss, "active,") == EBADMSG);
	CHECK(substate(&ss, "active;") == EBADMSG);
	CHECK(substate(&ss, "active;=5") == EBADMSG);
	CHECK(substate(&ss, "active;expires=") == EBADMSG);
	CHECK(substate(&ss, "active;expires=-1") == EBADMSG);
	CHECK(substate(&ss, "active;expires=2147483648") == EBADMSG);
	CHECK(substate(&ss, "active;expires=99999999999") == EBADMSG);
	CHECK(substate(&ss, "active;x=\"open") == EBADMSG);
	CHECK(substate(&ss, "terminated;reason=\"rejected\"") == EBADMSG);
	CHECK(substate(&ss,
		       "terminated;reason=abcdefghijabcdefghijabcdefghijabc") ==
	      EBADMSG);
	CHECK(substate(&ss, "active\r\nX: y") == EBADMSG);
	CHECK(sipua_substate_decode(NULL, NULL) == EINVAL);
}

static void notify_h(const struct sipua_presence *v, size_t n, void *arg)
{
	(void)v;
	(void)n;
	(void)arg;
}

static void test_sub_args(void)
{
	struct sipua_id id = {"alice", "example.test", ha1};
	struct sipua_reg_param rp = {
	    .user = "alice",
	    .domain = "example.test",
	    .ha1 = ha1,
	    .instance = "6a8a3d6e-1b7c-4f3c-9d1e-0123456789ab",
	};
	struct offline_ua o;
	struct wheel *w = NULL;
	struct sipua *ua;
	struct sipua_reg *reg = NULL;
	struct sipua_sub *sub = NULL;

	CHECK(wheel_alloc(&w, 50, 64, false) == 0);
	CHECK(offline_ua_open(&o, w) == 0);
	ua = o.ua;
	if (!ua)
		goto out;
	CHECK(sipua_reg_alloc(&reg, ua, &rp, NULL, NULL) == 0);
	if (!reg)
		goto out;

	CHECK(sipua_sub_alloc(NULL, ua, reg, &id, "sip:bob@example.test", false,
			      0, notify_h, NULL, NULL) == EINVAL);
	CHECK(sipua_sub_alloc(&sub, ua, NULL, &id, "sip:bob@example.test",
			      false, 0, notify_h, NULL, NULL) == EINVAL);
	CHECK(sipua_sub_alloc(&sub, ua, reg, &id, "sip:bob@example.test", false,
			      0, NULL, NULL, NULL) == EINVAL);
	CHECK(sipua_sub_alloc(&sub, ua, reg, &id,
			      "sip:bob@example.test\r\nX: y", false, 0,
			      notify_h, NULL, NULL) == EINVAL);
	CHECK(sipua_sub_alloc(&sub, ua, reg, &id, "sip:bob@example.test;lr",
			      true, 0, notify_h, NULL, NULL) == EINVAL);
	id.ha1 = "abc";
	CHECK(sipua_sub_alloc(&sub, ua, reg, &id, "sip:bob@example.test", false,
			      0, notify_h, NULL, NULL) == EINVAL);
	CHECK(sub == NULL);
	CHECK(sipua_sub_sent(NULL) == 0);

out:
	mem_deref(sub);
	mem_deref(reg);
	offline_ua_close(&o);
	mem_deref(w);
}

/* A request of method met with extra header lines and a body. */
static void req(struct mbuf *mb, const char *met, const char *hdrs,
		const char *body)
{
	(void)mbuf_printf(mb,
			  "%s sip:a@127.0.0.1 SIP/2.0\r\n"
			  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1\r\n"
			  "To: <sip:alice@example.test>\r\n"
			  "From: <sip:bob@example.test>;tag=1\r\n"
			  "Call-ID: c1\r\nCSeq: 1 %s\r\n%s"
			  "Content-Length: %zu\r\n\r\n%s",
			  met, met, hdrs, strlen(body), body);
}

static uint16_t cause(const char *first, const char *met, const char *hdrs,
		      const char *body)
{
	struct mbuf *mb = mbuf_alloc(512);
	uint16_t r;

	if (first)
		req(mb, first, "", "CANCEL me");
	req(mb, met, hdrs, body);
	r = sipua_cancel_cause(mb->buf, mb->end);
	mem_deref(mb);
	return r;
}

/* The Reason of a CANCEL as the trace hook reads it (RFC 3326) */
static void test_cancel_reason(void)
{
	const char *sip200 = "Reason: SIP;cause=200;text=\"Call completed "
			     "elsewhere\"\r\n";

	CHECK(cause(NULL, "CANCEL", sip200, "") == 200);
	CHECK(cause(NULL, "CANCEL", "Reason: sip ;cause=200\r\n", "") == 200);
	CHECK(cause(NULL, "CANCEL", "Reason: SIP;cause=603\r\n", "") == 603);
	CHECK(cause(NULL, "CANCEL", "", "") == 0);
	CHECK(cause(NULL, "CANCEL", "Reason: SIP;cause=99\r\n", "") == 0);
	CHECK(cause(NULL, "CANCEL", "Reason: SIP;cause=1200\r\n", "") == 0);
	CHECK(cause(NULL, "CANCEL", "Reason: SIP;cause=700\r\n", "") == 0);
	CHECK(cause(NULL, "CANCEL", "Reason: Q.850;cause=200\r\n", "") == 0);
	CHECK(cause(NULL, "CANCEL", "Reason: SIPX;cause=200\r\n", "") == 0);
	CHECK(cause(NULL, "CANCEL",
		    "Reason: Q.850;cause=16\r\nReason: SIP;cause=200\r\n",
		    "") == 200);
	/* one header, two values; a comma in a quoted text separates none */
	CHECK(cause(NULL, "CANCEL",
		    "Reason: Q.850;cause=16;text=\"a, SIP;cause=200\", "
		    "SIP ;cause=603\r\n",
		    "") == 603);
	CHECK(cause(NULL, "CANCEL",
		    "Reason: Q.850;cause=16;text=\"a, SIP;cause=200\"\r\n",
		    "") == 0);
	/* several messages of one read: the last one counts */
	CHECK(cause("MESSAGE", "CANCEL", sip200, "") == 200);
	CHECK(cause("CANCEL", "MESSAGE", sip200, "hi") == 0);
	/* "CANCEL " in a body is not a CANCEL */
	CHECK(cause(NULL, "MESSAGE", sip200, "CANCEL sip:x SIP/2.0") == 0);
	CHECK(!sipua_cancel_cause((const uint8_t *)"CANCEL ", 7));
}

/* Tags, Call-IDs and cnonces: 2n lower-case hex digits, fresh each time */
static void test_rand_hex(void)
{
	char a[2 * 16 + 2], b[2 * 16 + 2];
	size_t n, i;

	for (n = 1; n <= 16; n++) {
		memset(a, 'X', sizeof(a));
		sipua_rand_hex(a, n);
		CHECK(strlen(a) == 2 * n);
		CHECK(a[2 * n + 1] == 'X'); /* nothing written past the NUL */
		for (i = 0; i < 2 * n; i++)
			CHECK(strchr("0123456789abcdef", a[i]) != NULL);
	}
	sipua_rand_hex(a, 16);
	sipua_rand_hex(b, 16);
	CHECK(strcmp(a, b) != 0);
	/* every nibble value shows up: no byte is lost to the spreading */
	for (i = 0; i < 16; i++) {
		bool seen = false;
		for (n = 0; n < 64 && !seen; n++) {
			sipua_rand_hex(a, 16);
			seen = strchr(a, "0123456789abcdef"[i]) != NULL;
		}
		CHECK(seen);
	}
}

/* The Date of a request (msg.c: how the Front End's stored copy of a
 * message is recognised) */
static bool date_of(const char *s, uint64_t *secs)
{
	struct pl v;

	pl_set_str(&v, s);
	return sipua_date(&v, secs);
}

static void test_sip_date(void)
{
	uint64_t s = 0;

	CHECK(date_of("Tue, 24 Nov 2026 01:26:00 GMT", &s) &&
	      s == 1795483560ull);
	CHECK(date_of("Sat, 1 Jan 2000 00:00:00 GMT", &s) && s == 946684800ull);
	CHECK(!date_of("Tue, 24 Nox 2026 01:26:00 GMT", &s));
	CHECK(!date_of("Tue, 24 Nov 2026 01:26:00", &s));
	CHECK(!date_of("Tue, 24 Nov 26 01:26:00 GMT", &s));
	CHECK(!date_of("Tue, 24 Nov 2026 25:26:00 GMT", &s));
	CHECK(!date_of("", &s));
}

/* The send guard: a stand-in Front End (a TCP listener) counts the
 * bytes it gets; with the guard refusing, nothing reaches it */
struct guard_fe {
	struct tcp_sock *ts;
	struct tcp_conn *tc;
	size_t rx;      /* bytes received from the ua      */
	unsigned asked; /* times the guard was asked     */
	bool allow;
};

static void fe_recv(struct mbuf *mb, void *arg)
{
	struct guard_fe *fe = arg;

	fe->rx += mbuf_get_left(mb);
}

static void fe_conn(const struct sa *peer, void *arg)
{
	struct guard_fe *fe = arg;
	(void)peer;

	fe->tc = mem_deref(fe->tc);
	(void)tcp_accept(&fe->tc, fe->ts, NULL, fe_recv, NULL, fe);
}

static bool guard_h(void *arg)
{
	struct guard_fe *fe = arg;

	++fe->asked;
	return fe->allow;
}

static void stop_h(void *arg)
{
	(void)arg;
	re_cancel();
}

static void guard_done_h(int err, uint16_t scode, void *arg)
{
	(void)err;
	(void)scode;
	(void)arg;
}

/* Send a MESSAGE through ua and run the loop 300 ms: what reached fe */
static size_t guard_send(struct sipua *ua, struct guard_fe *fe, int *errp)
{
	struct sipua_id from = {"alice", "example.test", ha1};
	struct pl body = PL("hello");
	struct sipua_treq *t = NULL;
	struct tmr tmr;

	fe->rx = 0;
	*errp = sipua_message(&t, ua, &from, "sip:bob@example.test",
			      "text/plain", &body, guard_done_h, NULL);
	tmr_init(&tmr);
	tmr_start(&tmr, 300, stop_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&tmr);
	mem_deref(t);
	return fe->rx;
}

static void test_guard(void)
{
	struct guard_fe fe;
	struct offline_ua o;
	struct wheel *w = NULL;
	struct sipua_param p;
	struct sa laddr;
	int err = 0;

	memset(&fe, 0, sizeof(fe));
	CHECK(wheel_alloc(&w, 50, 64, false) == 0);
	CHECK(offline_ua_open(&o, w) == 0);
	o.ua = mem_deref(o.ua);
	(void)sa_set_str(&laddr, "127.0.0.1", 0);
	CHECK(tcp_listen(&fe.ts, &laddr, fe_conn, &fe) == 0);
	CHECK(tcp_sock_local_get(fe.ts, &laddr) == 0);

	memset(&p, 0, sizeof(p));
	p.fe_addr = laddr;
	p.fe_server_name = "fe.example.test";
	p.fe_ca_file = o.ca_path;
	p.wheel = w;
	CHECK(sipua_alloc(&o.ua, &p) == 0);
	if (!o.ua)
		goto out;

	/* refused: the request fails before anything is written */
	sipua_set_guard(o.ua, guard_h, &fe);
	CHECK(guard_send(o.ua, &fe, &err) == 0);
	CHECK(err == EPERM);
	CHECK(fe.asked >= 1);
	CHECK(fe.tc == NULL);

	/* allowed: the same request goes (the TLS handshake starts) */
	fe.allow = true;
	CHECK(guard_send(o.ua, &fe, &err) > 0);
	CHECK(err == 0);

	/* cleared: sent without asking */
	sipua_set_guard(o.ua, NULL, NULL);
	fe.asked = 0;
	fe.allow = false;
	(void)guard_send(o.ua, &fe, &err);
	CHECK(err == 0);
	CHECK(fe.asked == 0);

out:
	offline_ua_close(&o);
	fe.tc = mem_deref(fe.tc);
	fe.ts = mem_deref(fe.ts);
	mem_deref(w);
}

int main(void)
{
	int err = libre_init();

	if (err)
		return 1;

	test_validator();
	test_params();
	test_uri();
	test_message_publish_args();
	test_substate();
	test_sub_args();
	test_cancel_reason();
	test_rand_hex();
	test_sip_date();
	test_guard();

	metrics_close();
	libre_close();
	return check_done("test_sipua");
}
