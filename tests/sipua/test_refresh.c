/**
 * @file test_refresh.c  The refresh machine of REGISTER, PUBLISH and
 * SUBSCRIBE (src/sipua/refresh.c), driven on a real ua and a wheel
 * advanced by hand: first request, 423 Min-Expires, back-off, the grant,
 * a send that fails, orphaning, the flow lost, turns, the drain. The
 * users' own behaviour against the Front End is tested by
 * test_sipua*.py and the e2e tests of sign-in, publication and
 * subscriptions.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "sipua.h"
#include "refresh.h"
#include "offline_ua.h"

/* One user of the machine, counting what the machine asks of it */
struct user {
	struct sipua_refresh rf;
	int sent, fails, drops, losts;
	int send_err; /* what send_h returns */
	int last_err;
	int stops, removes; /* drain: stoph and removeh calls */
	int remove_err;     /* what removeh returns            */
};

static int send_h(void *arg)
{
	struct user *u = arg;

	++u->sent;
	return u->send_err;
}

static void fail_h(int err, void *arg)
{
	struct user *u = arg;

	++u->fails;
	u->last_err = err;
}

static void drop_h(void *arg)
{
	struct user *u = arg;

	++u->drops;
}

static void lost_h(void *arg)
{
	struct user *u = arg;

	++u->losts;
}

/* REGISTER-like: first in line, outlives a lost flow, 1 s floor */
static const struct sipua_refresh_class keep_class = {
    "REGISTER", true, true, 1000, 0, send_h, fail_h, drop_h, lost_h, NULL, NULL,
};

/* SUBSCRIBE-like: made again on a lost flow, +500 ms */
static const struct sipua_refresh_class redo_class = {
    "SUBSCRIBE", false, false, 0, 500, send_h, fail_h, drop_h, NULL, NULL, NULL,
};

static void stop_h(void *arg)
{
	struct user *u = arg;

	++u->stops;
}

static int remove_h(void *arg)
{
	struct user *u = arg;

	++u->removes;
	return u->remove_err;
}

/* The same two with a removal, as the drain sees them */
static const struct sipua_refresh_class keep_rm_class = {
    "REGISTER", true,   true,   1000,   0,        send_h,
    fail_h,     drop_h, lost_h, stop_h, remove_h,
};
static const struct sipua_refresh_class redo_rm_class = {
    "SUBSCRIBE", false,  false, 0,      500,      send_h,
    fail_h,      drop_h, NULL,  stop_h, remove_h,
};

static struct wheel *w;
static uint64_t now;

/* Let time pass on the wheel: what is due fires */
static void advance(uint64_t ms)
{
	now += ms;
	wheel_advance(w, now);
}

static uint64_t remaining(const struct user *u)
{
	return wheel_remaining(w, &u->rf.we);
}

/* A final response as the Front End would send it */
static struct sip_msg *response(const char *status, const char *extra)
{
	struct mbuf *mb = mbuf_alloc(512);
	struct sip_msg *msg = NULL;

	(void)mbuf_printf(mb,
			  "SIP/2.0 %s\r\n"
			  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKx1\r\n"
			  "To: <sip:alice@example.test>;tag=a\r\n"
			  "From: <sip:alice@example.test>;tag=b\r\n"
			  "Call-ID: c1\r\n"
			  "CSeq: 1 REGISTER\r\n"
			  "%s"
			  "Content-Length: 0\r\n\r\n",
			  status, extra);
	mb->pos = 0;
	if (sip_msg_decode(&msg, mb))
		msg = NULL;
	mem_deref(mb);
	return msg;
}

static void test_expires_and_first(struct sipua *ua)
{
	struct list l = LIST_INIT;
	struct user a, b, c;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	sipua_refresh_init(&a.rf, ua, &l, &keep_class, 0, &a);
	sipua_refresh_init(&b.rf, ua, &l, &keep_class, 5, &b);
	sipua_refresh_init(&c.rf, ua, &l, &keep_class, 100000, &c);
	CHECK(a.rf.expires == 600);
	CHECK(b.rf.expires == 10);
	CHECK(c.rf.expires == 86400);
	CHECK(list_count(&l) == 3);
	CHECK(sipua_refresh_state(&a.rf) == SIPUA_RF_IDLE);

	/* the first request goes from the wheel, never inside the call */
	sipua_refresh_now(&a.rf);
	CHECK(a.sent == 0);
	CHECK(sipua_refresh_state(&a.rf) == SIPUA_RF_WAITING);
	advance(1);
	CHECK(a.sent == 1);
	CHECK(sipua_refresh_state(&a.rf) == SIPUA_RF_BUSY);

	/* BUSY: a due refresh does not send a second request */
	sipua_refresh_now(&a.rf);
	advance(1);
	CHECK(a.sent == 1);
	sipua_refresh_done(&a.rf);
	CHECK(sipua_refresh_state(&a.rf) == SIPUA_RF_IDLE);

	sipua_refresh_stop(&a.rf);
	sipua_refresh_stop(&b.rf);
	sipua_refresh_stop(&c.rf);
	CHECK(list_count(&l) == 0);
}

/* RFC 3261 10.2.8: 423 taken once in a row, with a Min-Expires we can
 * take; the request goes again at once and starts afresh (drop_h) */
static void test_min_expires(struct sipua *ua)
{
	struct list l = LIST_INIT;
	struct sip_msg *m1200 =
	    response("423 Interval Too Brief", "Min-Expires: 1200\r\n");
	struct sip_msg *m2400 =
	    response("423 Interval Too Brief", "Min-Expires: 2400\r\n");
	struct sip_msg *mlow =
	    response("423 Interval Too Brief", "Min-Expires: 300\r\n");
	struct sip_msg *mhigh =
	    response("423 Interval Too Brief", "Min-Expires: 86401\r\n");
	struct sip_msg *mnone = response("423 Interval Too Brief", "");
	struct sip_msg *m486 =
	    response("486 Busy Here", "Min-Expires: 9000\r\n");
	struct user u;

	CHECK(m1200 && m2400 && mlow && mhigh && mnone && m486);
	if (!m1200 || !m2400 || !mlow || !mhigh || !mnone || !m486)
		goto out;

	memset(&u, 0, sizeof(u));
	sipua_refresh_init(&u.rf, ua, &l, &keep_class, 600, &u);
	CHECK(sipua_refresh_send(&u.rf) == 0);
	CHECK(u.sent == 1);
	sipua_refresh_done(&u.rf);

	/* not a 423, or a Min-Expires we cannot take: the user decides */
	CHECK(!sipua_refresh_min_expires(&u.rf, m486));
	CHECK(!sipua_refresh_min_expires(&u.rf, mlow));
	CHECK(!sipua_refresh_min_expires(&u.rf, mhigh));
	CHECK(!sipua_refresh_min_expires(&u.rf, mnone));
	CHECK(u.rf.expires == 600);
	CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_IDLE);

	CHECK(sipua_refresh_min_expires(&u.rf, m1200));
	CHECK(u.rf.expires == 1200);
	CHECK(u.drops == 1);
	CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_WAITING);
	CHECK(remaining(&u) == 0);
	advance(1);
	CHECK(u.sent == 2);
	sipua_refresh_done(&u.rf);

	/* a second 423 in a row is not taken: no loop with a peer that
	 * keeps asking more */
	CHECK(!sipua_refresh_min_expires(&u.rf, m2400));
	CHECK(u.rf.expires == 1200);

	/* after a 2xx, a 423 is taken again */
	(void)sipua_refresh_granted(&u.rf, 1200, 0);
	CHECK(sipua_refresh_min_expires(&u.rf, m2400));
	CHECK(u.rf.expires == 2400);

	sipua_refresh_stop(&u.rf);
out:
	mem_deref(m1200);
	mem_deref(m2400);
	mem_deref(mlow);
	mem_deref(mhigh);
	mem_deref(mnone);
	mem_deref(m486);
}

/* 1 s doubling up to a minute, at 50-100% of the step; a 2xx forgets */
static void test_backoff(struct sipua *ua)
{
	static const uint64_t step[] = {1000,  2000,  4000,  8000,
					16000, 32000, 60000, 60000};
	struct list l = LIST_INIT;
	struct user u;
	size_t i;

	memset(&u, 0, sizeof(u));
	sipua_refresh_init(&u.rf, ua, &l, &redo_class, 600, &u);
	for (i = 0; i < ARRAY_SIZE(step); i++) {
		uint64_t r;

		sipua_refresh_retry_later(&u.rf);
		r = remaining(&u);
		CHECK(r >= step[i] / 2 && r <= step[i]);
		CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_WAITING);
	}
	CHECK(u.drops == (int)ARRAY_SIZE(step));
	CHECK(u.sent == 0);

	(void)sipua_refresh_granted(&u.rf, 600, 0);
	sipua_refresh_retry_later(&u.rf);
	CHECK(remaining(&u) >= 500 && remaining(&u) <= 1000);

	/* a retry at a given time (Retry-After) counts no failure */
	sipua_refresh_retry(&u.rf, 7000);
	CHECK(remaining(&u) == 7000);
	sipua_refresh_retry_later(&u.rf);
	CHECK(remaining(&u) >= 1000 && remaining(&u) <= 2000);

	sipua_refresh_stop(&u.rf);
}

/* The refresh point: 50-90% of the grant, the class's floor and offset,
 * the caller's cap, the grant capped at a day */
static void test_granted(struct sipua *ua)
{
	struct list l = LIST_INIT;
	struct user k, s;
	int i;

	memset(&k, 0, sizeof(k));
	memset(&s, 0, sizeof(s));
	sipua_refresh_init(&k.rf, ua, &l, &keep_class, 600, &k);
	sipua_refresh_init(&s.rf, ua, &l, &redo_class, 600, &s);

	for (i = 0; i < 20; i++) {
		CHECK(sipua_refresh_granted(&k.rf, 100, 0) == 100);
		CHECK(remaining(&k) >= 50000 && remaining(&k) <= 90000);
		(void)sipua_refresh_granted(&s.rf, 100, 0);
		CHECK(remaining(&s) >= 50500 && remaining(&s) <= 90500);
	}

	/* never sooner than the floor; the offset comes on top */
	(void)sipua_refresh_granted(&k.rf, 1, 0);
	CHECK(remaining(&k) == 1000);
	(void)sipua_refresh_granted(&s.rf, 0, 0);
	CHECK(remaining(&s) == 500);

	/* a cap (a restored session's first refresh) */
	(void)sipua_refresh_granted(&k.rf, 600, 40000);
	CHECK(remaining(&k) == 40000);
	(void)sipua_refresh_granted(&k.rf, 600, 500);
	CHECK(remaining(&k) == 1000);

	CHECK(sipua_refresh_granted(&k.rf, 999999, 0) == 86400);

	/* a NOTIFY's expires reschedules without forgetting failures */
	sipua_refresh_retry_later(&s.rf);
	sipua_refresh_schedule(&s.rf, 10);
	CHECK(remaining(&s) >= 5500 && remaining(&s) <= 9500);
	sipua_refresh_retry_later(&s.rf);
	CHECK(remaining(&s) >= 1000 && remaining(&s) <= 2000);

	sipua_refresh_stop(&k.rf);
	sipua_refresh_stop(&s.rf);
}

/* send_h failing: the turn goes back, the back-off runs, failh told */
static void test_send_fails(struct sipua *ua)
{
	struct list l = LIST_INIT;
	struct user u;

	memset(&u, 0, sizeof(u));
	u.send_err = EIO;
	sipua_refresh_init(&u.rf, ua, &l, &keep_class, 600, &u);
	sipua_refresh_now(&u.rf);
	advance(1);
	CHECK(u.sent == 1);
	CHECK(u.fails == 1 && u.last_err == EIO);
	CHECK(u.drops == 1);
	CHECK(!u.rf.turn.held);
	CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_WAITING);
	CHECK(remaining(&u) >= 500 && remaining(&u) <= 1000);

	/* it goes again after the back-off */
	u.send_err = 0;
	advance(1000);
	CHECK(u.sent == 2);
	CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_BUSY);

	/* a synchronous send reports the error and retries nothing */
	sipua_refresh_done(&u.rf);
	u.send_err = EIO;
	CHECK(sipua_refresh_send(&u.rf) == EIO);
	CHECK(sipua_refresh_state(&u.rf) != SIPUA_RF_BUSY);

	sipua_refresh_stop(&u.rf);
	CHECK(!u.rf.turn.held);
}

/* The ua goes first: nothing more is sent, the turn is given back */
static void test_orphan(struct sipua *ua)
{
	struct list l = LIST_INIT;
	struct user u;

	memset(&u, 0, sizeof(u));
	sipua_refresh_init(&u.rf, ua, &l, &redo_class, 600, &u);
	CHECK(sipua_refresh_send(&u.rf) == 0);
	(void)sipua_refresh_granted(&u.rf, 600, 0);
	CHECK(u.rf.turn.held);

	sipua_refresh_orphan(&u.rf);
	CHECK(sipua_refresh_state(&u.rf) == SIPUA_RF_ORPHAN);
	CHECK(!wheel_isrunning(&u.rf.we));
	CHECK(!u.rf.turn.held);
	CHECK(list_count(&l) == 0);

	sipua_refresh_now(&u.rf);
	advance(100000);
	CHECK(u.sent == 1);
	sipua_refresh_stop(&u.rf);
}

/* RFC 5626 4.4.1: the flow lost; one request every 20 ms; REGISTER-like
 * ones in flight go on, SUBSCRIBE-like ones are made again; closed ones
 * stay closed */
static void test_flow_lost(struct sipua *ua)
{
	struct list kl = LIST_INIT, rl = LIST_INIT;
	struct user k[3], r[3];
	size_t i;

	memset(k, 0, sizeof(k));
	memset(r, 0, sizeof(r));
	for (i = 0; i < 3; i++) {
		sipua_refresh_init(&k[i].rf, ua, &kl, &keep_class, 600, &k[i]);
		sipua_refresh_init(&r[i].rf, ua, &rl, &redo_class, 600, &r[i]);
		(void)sipua_refresh_granted(&k[i].rf, 600, 0);
		(void)sipua_refresh_granted(&r[i].rf, 600, 0);
	}
	CHECK(sipua_refresh_send(&k[1].rf) == 0);
	CHECK(sipua_refresh_send(&r[1].rf) == 0);
	sipua_refresh_close(&r[2].rf);

	sipua_refresh_flow_lost(&kl);
	sipua_refresh_flow_lost(&rl);

	/* in flight: left alone; the others one step apart */
	CHECK(sipua_refresh_state(&k[1].rf) == SIPUA_RF_BUSY);
	CHECK(k[1].losts == 0 && k[1].drops == 0);
	CHECK(k[0].losts == 1 && k[2].losts == 1);
	CHECK(remaining(&k[0]) <= 20);
	CHECK(remaining(&k[2]) >= 20 && remaining(&k[2]) <= 40);

	/* in flight: dropped and made again; closed: nothing */
	CHECK(r[1].drops == 1 && r[0].drops == 1);
	CHECK(sipua_refresh_state(&r[1].rf) == SIPUA_RF_WAITING);
	CHECK(!r[1].rf.turn.held);
	CHECK(remaining(&r[0]) <= 20);
	CHECK(remaining(&r[1]) >= 20 && remaining(&r[1]) <= 40);
	CHECK(sipua_refresh_state(&r[2].rf) == SIPUA_RF_CLOSED);
	CHECK(r[2].drops == 0);

	advance(41);
	CHECK(k[0].sent == 1 && k[2].sent == 1 && k[1].sent == 1);
	CHECK(r[0].sent == 1 && r[1].sent == 2 && r[2].sent == 0);

	for (i = 0; i < 3; i++) {
		sipua_refresh_stop(&k[i].rf);
		sipua_refresh_stop(&r[i].rf);
	}
}

/* The flow's turns: at most SIPUA_INFLIGHT_MAX in flight; the next waits
 * (QUEUED) and a lost flow leaves a waiting REGISTER its place */
static void test_turns(struct sipua *ua)
{
	struct list l = LIST_INIT, kl = LIST_INIT;
	struct user *v = calloc(SIPUA_INFLIGHT_MAX, sizeof(*v));
	struct user q;
	size_t i;

	CHECK(v != NULL);
	if (!v)
		return;
	for (i = 0; i < SIPUA_INFLIGHT_MAX; i++) {
		sipua_refresh_init(&v[i].rf, ua, &l, &redo_class, 600, &v[i]);
		CHECK(sipua_refresh_send(&v[i].rf) == 0);
	}
	memset(&q, 0, sizeof(q));
	sipua_refresh_init(&q.rf, ua, &kl, &keep_class, 600, &q);
	CHECK(sipua_refresh_send(&q.rf) == 0);
	CHECK(q.sent == 0);
	CHECK(sipua_refresh_state(&q.rf) == SIPUA_RF_QUEUED);

	sipua_refresh_flow_lost(&kl);
	CHECK(sipua_refresh_state(&q.rf) == SIPUA_RF_QUEUED);
	CHECK(q.losts == 1);

	sipua_refresh_stop(&q.rf);
	for (i = 0; i < SIPUA_INFLIGHT_MAX; i++)
		sipua_refresh_stop(&v[i].rf);
	free(v);
}

static void stop_loop(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Run the loop a moment: the turns granted and the drain's phases go
 * from 0 ms timers */
static void run_loop(void)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, 20, stop_loop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&t);
}

static int drained;

static void drain_h(void *arg)
{
	(void)arg;
	++drained;
}

static int removing(const struct user *v, size_t n)
{
	int c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += v[i].removes;
	return c;
}

/* The drain: subscriptions first, at most SIPUA_INFLIGHT_MAX removals
 * outstanding and the next one as an answer comes, then the
 * registrations; no refresh any more; new machines refused. Last test:
 * the ua stays draining. */
static void test_drain(struct sipua *ua)
{
	enum { N = 3 * SIPUA_INFLIGHT_MAX };
	struct user *s = calloc(N, sizeof(*s));
	struct user k[2];
	struct sipua_reg *reg = NULL;
	struct sipua_reg_param rp;
	size_t i;
	int busy;

	CHECK(s != NULL);
	if (!s)
		return;
	memset(k, 0, sizeof(k));
	for (i = 0; i < N; i++) {
		sipua_refresh_init(&s[i].rf, ua, &ua->subl, &redo_rm_class, 600,
				   &s[i]);
		(void)sipua_refresh_granted(&s[i].rf, 600, 0);
	}
	/* nothing to remove for one; one in flight */
	s[1].remove_err = ENOENT;
	for (i = 0; i < 2; i++)
		sipua_refresh_init(&k[i].rf, ua, &ua->regl, &keep_rm_class, 600,
				   &k[i]);
	CHECK(sipua_refresh_send(&k[0].rf) == 0 && k[0].sent == 1);
	(void)sipua_refresh_granted(&k[1].rf, 600, 0);
	busy = (int)ua->inflight; /* the REGISTER, and any left before */

	drained = 0;
	CHECK(sipua_drain(ua, drain_h, NULL) == 0);
	CHECK(sipua_drain(ua, drain_h, NULL) == EALREADY);
	CHECK(sipua_draining(ua));
	run_loop();
	/* the bound, the REGISTER in flight holding a turn; one had
	 * nothing to remove */
	CHECK(ua->inflight == SIPUA_INFLIGHT_MAX);
	CHECK(removing(s, N) == SIPUA_INFLIGHT_MAX - busy + 1);
	CHECK(sipua_drain_left(ua) == N - 1);
	CHECK(s[0].stops == 1 &&
	      sipua_refresh_state(&s[0].rf) == SIPUA_RF_CLOSED);
	/* registrations wait for the second phase */
	CHECK(k[0].removes == 0 && k[1].removes == 0);

	/* an answer: the next removal goes */
	sipua_refresh_removed(&s[0].rf, 0);
	run_loop();
	CHECK(removing(s, N) == SIPUA_INFLIGHT_MAX - busy + 2);
	for (i = 2; i < N; i++) {
		run_loop();
		sipua_refresh_removed(&s[i].rf, i == 2 ? EPROTO : 0);
	}
	run_loop();
	CHECK(removing(s, N) == N);
	CHECK(ua->drain.removed == N - 2 && ua->drain.failed == 1);

	/* then the registrations, the one in flight forgotten first */
	CHECK(k[0].stops == 1 && k[0].removes == 1 && k[1].removes == 1);
	CHECK(drained == 0);
	sipua_refresh_removed(&k[0].rf, 0);
	sipua_refresh_removed(&k[1].rf, 0);
	run_loop();
	CHECK(drained == 1);
	CHECK(sipua_drain_left(ua) == 0);
	/* no refresh any more, nothing removed twice */
	advance(700 * 1000);
	CHECK(s[0].sent == 0 && k[1].sent == 0);
	CHECK(!sipua_refresh_unremoved(&s[0].rf));

	memset(&rp, 0, sizeof(rp));
	rp.user = "alice";
	rp.domain = "example.test";
	rp.ha1 = "0123456789abcdef0123456789abcdef";
	rp.instance = "00000000-0000-0000-0000-000000000001";
	CHECK(sipua_reg_alloc(&reg, ua, &rp, NULL, NULL) == ESHUTDOWN);

	for (i = 0; i < N; i++)
		sipua_refresh_stop(&s[i].rf);
	for (i = 0; i < 2; i++)
		sipua_refresh_stop(&k[i].rf);
	free(s);
}

int main(void)
{
	struct offline_ua o;
	struct sipua *ua;
	int err = libre_init();

	if (err)
		return 1;

	CHECK(wheel_alloc(&w, 1, 1024, false) == 0);
	CHECK(offline_ua_open(&o, w) == 0);
	ua = o.ua;
	if (!ua)
		goto out;

	test_expires_and_first(ua);
	test_min_expires(ua);
	test_backoff(ua);
	test_granted(ua);
	test_send_fails(ua);
	test_orphan(ua);
	test_flow_lost(ua);
	test_turns(ua);
	test_drain(ua);

out:
	offline_ua_close(&o);
	mem_deref(w);
	metrics_close();
	libre_close();
	return check_done("test_refresh");
}
