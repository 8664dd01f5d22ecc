/**
 * @file test_evchan.c  The event channel on a live server: batches and
 * acks, a lost answer asked again, parking, priorities and aggregation,
 * merging, PGetReplaced, resync, timeout, the app going away, XML.
 *
 * Saving and restoring: a batch with marked events is answered only once
 * the owner saved it; a restored channel gives the saved batch again, or
 * acknowledges it and goes on with the app's numbering, or delivers the
 * events after a resync.
 *
 * Reserving (the numbering written ahead with the event): the reserved
 * batch goes out without a save; a timeout, a replaced P-GET, another
 * event first, or a failed write while it is in flight.
 *
 * The wheel runs on a clock of our own (real time plus an offset) so that
 * the 180 s minimum timeout can be crossed at once.
 */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "evchan.h"
#include "check.h"
#include "client.h"

static const struct conf_http_limits lim = {
    .max_request_line = 1024,
    .max_header_bytes = 4096,
    .max_headers = 32,
    .max_body_bytes = 4096,
    .header_timeout_ms = 5000,
    .body_timeout_ms = 5000,
    .idle_timeout_ms = 60000,
    .max_connections = 100,
    .max_conns_per_addr = 100,
};

static struct wheel *wheel;
static struct evchan *ch;
static uint16_t port;
static uint64_t t0;
static volatile uint64_t offset_ms; /* set by the client thread */

/* Work the client thread asks the loop thread to do (one at a time). */
enum post { NONE, HIGH_INV, MEDIUM_A, MEDIUM_B, LOW_X };
static volatile int want_post = NONE;
static struct tmr clock_tmr;

static void post(enum post what)
{
	struct evchan_event e;

	memset(&e, 0, sizeof(e));
	e.ev.sender_href = "/a/1/people";
	e.ev.sender_rel = "people";
	e.ev.type = "updated";
	e.ev.rel = "contactPresence";
	switch (what) {
	case HIGH_INV:
		e.prio = EVCHAN_HIGH;
		e.ev.sender_rel = "communication";
		e.ev.sender_href = "/a/1/communication";
		e.ev.type = "started";
		e.ev.rel = "messagingInvitation";
		e.ev.href = "/a/1/inv/1";
		break;
	case MEDIUM_A:
		e.prio = EVCHAN_MEDIUM;
		e.ev.href = "/a/1/people/bob/presence";
		e.ev.status = "first";
		break;
	case MEDIUM_B: /* the same resource again: replaces MEDIUM_A */
		e.prio = EVCHAN_MEDIUM;
		e.ev.href = "/a/1/people/bob/presence";
		e.ev.status = "second";
		break;
	case LOW_X:
		e.prio = EVCHAN_LOW;
		e.ev.href = "/a/1/people/carol/presence";
		e.mark = 7; /* its number in the owner's store */
		break;
	default:
		return;
	}
	(void)evchan_post(ch, &e);
}

static uint64_t acked_mark;
static unsigned acked_calls;

static void on_ack(uint64_t mark, void *arg)
{
	(void)arg;
	acked_mark = mark;
	++acked_calls;
}

/*
 * Save and restore: channels 2.. on /a/<n>/events, each with a save
 * handler that finishes 50 ms later (or fails at once when told).
 * Channels 6.. are fresh ones for reservations.
 */
enum { NCH = 11 };
static struct evchan *chs[NCH];
static uint64_t save_batch[NCH], save_mark[NCH];
static unsigned save_calls[NCH];
static bool save_fail[NCH];
static bool save_hang[NCH]; /* on_save starts nothing: never saved */
static struct tmr save_tmr[NCH];
static void (*volatile want_fn)(void);

static void save_done(void *arg)
{
	evchan_saved(chs[(uintptr_t)arg], 0);
}

static int on_save(uint64_t batch, uint64_t mark, void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	save_batch[i] = batch;
	save_mark[i] = mark;
	++save_calls[i];
	if (save_fail[i]) {
		save_fail[i] = false;
		return EIO;
	}
	if (save_hang[i])
		return 0;
	tmr_start(&save_tmr[i], 50, save_done, arg);
	return 0;
}

static void post_marked(struct evchan *c, uint64_t mark)
{
	struct evchan_event e;
	char href[64];

	memset(&e, 0, sizeof(e));
	snprintf(href, sizeof(href), "/a/x/messages/%llu",
		 (unsigned long long)mark);
	e.prio = EVCHAN_HIGH;
	e.ev.sender_rel = "conversation";
	e.ev.sender_href = "/a/x/conv";
	e.ev.type = "completed";
	e.ev.rel = "message";
	e.ev.href = href;
	e.mark = mark;
	(void)evchan_post(c, &e);
}

/* Channels 3..5 as after a restart: events 1..3 stored, batch 5 saved
 * with mark 2 (events 1 and 2 were in it). */
static void setup_restored(void)
{
	char href[32];
	uintptr_t i;
	uint64_t m;

	for (i = 2; i < NCH; i++) {
		snprintf(href, sizeof(href), "/a/%u/events", (unsigned)i);
		(void)evchan_alloc(&chs[i], wheel, href);
		evchan_set_save_handler(chs[i], on_save, (void *)i);
		evchan_set_ack_handler(chs[i], on_ack, NULL);
		if (i == 2 || i >= 6)
			continue;
		for (m = 1; m <= 3; m++)
			post_marked(chs[i], m);
		(void)evchan_restore(chs[i], 5, 2);
	}
}

static uint64_t next_mark = 11;

static void post_ch2(void)
{
	post_marked(chs[2], next_mark++);
}

static void fail_next_ch2(void)
{
	save_fail[2] = true;
	post_ch2();
}

/* A save that never ends (the store is stuck), then the application
 * ends: its channel goes. */
static void hang_next_ch2(void)
{
	save_hang[2] = true;
	post_ch2();
}

static void close_ch2(void)
{
	chs[2] = mem_deref(chs[2]);
}

/*
 * Reservations: the owner writes the numbering with the event; the write
 * ends 50 ms later (as it fails or commits), and the event is posted then,
 * as its own write (the same commit) completes. The write a channel asks
 * for with on_save, started after it, ends after it too, as in the store.
 */
static uint64_t resv_mark[NCH], resv_batch[NCH];
static int resv_ret[NCH], resv2_ret[NCH];
static int resv_err[NCH]; /* how the reserved write ends */
static struct tmr resv_tmr[NCH];

static void resv_done(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	evchan_reserved(chs[i], resv_err[i]);
	if (!resv_err[i])
		post_marked(chs[i], resv_mark[i]);
}

static void reserve(uintptr_t i, uint64_t mark)
{
	resv_mark[i] = mark;
	resv_ret[i] = evchan_reserve(chs[i], mark, &resv_batch[i]);
	if (!resv_ret[i])
		tmr_start(&resv_tmr[i], 50, resv_done, (void *)i);
}

static void resv6a(void)
{
	reserve(6, 21);
}

static void resv6b(void)
{
	reserve(6, 22);
}

/* the P-GET times out while the reservation is in flight */
static void resv7_timeout(void)
{
	reserve(7, 31);
	offset_ms += 181 * 1000;
}

static void resv8(void)
{
	reserve(8, 41);
}

/* a second reservation is refused; an event without a mark (say, of a
 * conversation the app started) comes before the reserved one */
static void resv9_other_first(void)
{
	uint64_t b;

	reserve(9, 51);
	resv2_ret[9] = evchan_reserve(chs[9], 52, &b);
	post_marked(chs[9], 0);
}

/* the write fails (the event's with it), then the P-GET times out */
static void resv10_fail(void)
{
	resv_err[10] = EIO;
	reserve(10, 61);
}

static void jump_timeout(void)
{
	offset_ms += 181 * 1000;
}

static void clock_tick(void *arg)
{
	(void)arg;
	if (want_fn) {
		want_fn();
		want_fn = NULL;
	}
	if (want_post != NONE) {
		post(want_post);
		want_post = NONE;
	}
	wheel_advance(wheel, tmr_jiffies() - t0 + offset_ms);
	if (client_done) {
		re_cancel();
		return;
	}
	tmr_start(&clock_tmr, 2, clock_tick, NULL);
}

static void handler(struct web_req *req, void *arg)
{
	(void)arg;
	const struct pl *path = web_req_path(req);
	struct pl n = pl_null;
	uint32_t i;

	/* /a/<n>/events */
	if (!pl_strcmp(path, "/a/1/events")) {
		evchan_get(ch, req);
		return;
	}
	if (path->l >= 11 && !strncmp(path->p, "/a/", 3)) {
		n.p = path->p + 3;
		n.l = path->l - 10;
	}
	i = pl_u32(&n);
	if (i >= 2 && i < NCH)
		evchan_get(chs[i], req);
	else
		web_reply_text(req, 404, "Not Found", "no");
}

/* Ask the loop to post and wait until it has. */
static void ask(enum post what)
{
	want_post = what;
	while (want_post != NONE)
		usleep(1000);
}

static void ask_fn(void (*fn)(void))
{
	want_fn = fn;
	while (want_fn)
		usleep(1000);
}

static int get(struct client *c, const char *query, const char *accept,
	       char *buf, size_t n)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "GET /a/%s HTTP/1.1\r\nHost: t\r\nAccept: %s\r\n\r\n", query,
		 accept);
	if (client_send(c, req))
		return -1;
	return client_response(c, buf, n);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* evchan_last_parked() sampled on the loop: its clock and the value. */
static uint64_t lp_now[3], lp_val[3];
static unsigned lp_n;

static void sample_last_parked(void)
{
	lp_now[lp_n] = tmr_jiffies();
	lp_val[lp_n] = evchan_last_parked(ch);
	++lp_n;
}

/* Results checked on the main thread after the run. */
static char r[16][8192];
static int st[16];
static uint64_t waited[16];

static void scenario(void)
{
	const char *J = "application/json";
	struct client c, c2;
	uint64_t t;

	if (client_connect(&c, port, false, NULL))
		return;

	/* 0: an event pending before the first P-GET comes at once */
	ask(LOW_X);
	st[0] = get(&c, "1/events?ack=1", J, r[0], sizeof(r[0]));
	/* 1: the answer was lost: ack=1 again gives the same batch */
	st[1] = get(&c, "1/events?ack=1", J, r[1], sizeof(r[1]));

	/* 2: ack=2 parks; a high priority event answers at once */
	client_send(&c, "GET /a/1/events?ack=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	t = now_ms();
	ask(HIGH_INV);
	st[2] = client_response(&c, r[2], sizeof(r[2]));
	waited[2] = now_ms() - t;

	/* 3: medium events wait for the medium interval (1 s here) and
	 * repeated updates of one resource merge to the latest */
	client_send(&c, "GET /a/1/events?ack=3&medium=1 HTTP/1.1\r\n"
			"Host: t\r\n\r\n");
	usleep(100 * 1000);
	t = now_ms();
	ask(MEDIUM_A);
	ask(MEDIUM_B);
	st[3] = client_response(&c, r[3], sizeof(r[3]));
	waited[3] = now_ms() - t;

	/* 4, 5: a second P-GET replaces the first with 409 */
	client_send(&c, "GET /a/1/events?ack=4 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	client_connect(&c2, port, false, NULL);
	client_send(&c2, "GET /a/1/events?ack=4 HTTP/1.1\r\nHost: t\r\n\r\n");
	st[4] = client_response(&c, r[4], sizeof(r[4]));
	ask(HIGH_INV);
	st[5] = client_response(&c2, r[5], sizeof(r[5]));
	client_close(&c2);

	/* 6: out of range: resync */
	st[6] = get(&c, "1/events?ack=99", J, r[6], sizeof(r[6]));

	/* 7: bad parameters */
	st[7] = get(&c, "1/events?ack=5&timeout=5", J, r[7], sizeof(r[7]));

	/* 8: nothing happens: an empty batch at the timeout (our clock
	 * jumps past 180 s) */
	client_send(&c, "GET /a/1/events?ack=5 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	offset_ms += 181 * 1000;
	st[8] = client_response(&c, r[8], sizeof(r[8]));

	/* 9: the app goes away while parked; what arrives meanwhile is
	 * there for its next P-GET, which may come from a new connection */
	client_send(&c, "GET /a/1/events?ack=6 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	ask_fn(sample_last_parked); /* parked: contact now */
	client_close(&c);
	usleep(100 * 1000);
	ask_fn(sample_last_parked); /* when it ended */
	usleep(100 * 1000);
	ask_fn(sample_last_parked); /* ... and it stays so */
	ask(HIGH_INV);
	client_connect(&c, port, false, NULL);
	st[9] =
	    get(&c, "1/events?ack=6", "application/xml", r[9], sizeof(r[9]));
	client_close(&c);
}

static char sr[16][8192];
static int sst[16];
static uint64_t swaited[16];

static void scenario_save(void)
{
	const char *J = "application/json";
	struct client c, c2;
	uint64_t t;

	if (client_connect(&c, port, false, NULL))
		return;

	/* 0: a marked event is answered only after its save (50 ms) */
	ask_fn(post_ch2);
	t = now_ms();
	sst[0] = get(&c, "2/events?ack=1", J, sr[0], sizeof(sr[0]));
	swaited[0] = now_ms() - t;

	/* 1, 2: a newer P-GET while a save runs waits for it and then gets
	 * what it asked for; the older one is answered with the batch */
	client_send(&c, "GET /a/2/events?ack=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	ask_fn(post_ch2);
	client_connect(&c2, port, false, NULL);
	sst[2] = get(&c2, "2/events?ack=2", J, sr[2], sizeof(sr[2]));
	sst[1] = client_response(&c, sr[1], sizeof(sr[1]));
	client_close(&c2);

	/* 3, 4: a failed save: 503, the events stay for the next P-GET */
	client_send(&c, "GET /a/2/events?ack=3 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	ask_fn(fail_next_ch2);
	sst[3] = client_response(&c, sr[3], sizeof(sr[3]));
	sst[4] = get(&c, "2/events?ack=3", J, sr[4], sizeof(sr[4]));

	/* 5, 6: restored: the saved batch again, then its ack and the
	 * rest as the next batch */
	sst[5] = get(&c, "3/events?ack=5", J, sr[5], sizeof(sr[5]));
	sst[6] = get(&c, "3/events?ack=6", J, sr[6], sizeof(sr[6]));

	/* 7: restored, the app was further on (empty batches after the
	 * saved one): the saved batch is acknowledged, numbering goes on */
	sst[7] = get(&c, "4/events?ack=9", J, sr[7], sizeof(sr[7]));

	/* 8, 9: restored, an ack out of range: resync, then everything */
	sst[8] = get(&c, "5/events?ack=2", J, sr[8], sizeof(sr[8]));
	sst[9] = get(&c, "5/events?ack=6", J, sr[9], sizeof(sr[9]));

	/* 10, 11: a P-GET waiting for a save, and one held behind it,
	 * when the application ends: both answered 404 at once */
	client_send(&c, "GET /a/2/events?ack=4 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	ask_fn(hang_next_ch2);
	client_connect(&c2, port, false, NULL);
	client_send(&c2, "GET /a/2/events?ack=4 HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	ask_fn(close_ch2);
	sst[10] = client_response(&c, sr[10], sizeof(sr[10]));
	sst[11] = client_response(&c2, sr[11], sizeof(sr[11]));
	client_close(&c2);
	client_close(&c);
}

static char rr[16][8192];
static int rst[16];
static uint64_t rwaited[16];

/* Send a P-GET and give it time to park. */
static void park(struct client *c, const char *query)
{
	char req[256];

	snprintf(req, sizeof(req), "GET /a/%s HTTP/1.1\r\nHost: t\r\n\r\n",
		 query);
	client_send(c, req);
	usleep(100 * 1000);
}

static void scenario_reserve(void)
{
	const char *J = "application/json";
	struct client c, c2;
	uint64_t t;

	if (client_connect(&c, port, false, NULL))
		return;

	/* 0, 1: reserved while parked: answered once the write is done,
	 * without a save; twice in a row */
	park(&c, "6/events?ack=1");
	t = now_ms();
	ask_fn(resv6a);
	rst[0] = client_response(&c, rr[0], sizeof(rr[0]));
	rwaited[0] = now_ms() - t;
	park(&c, "6/events?ack=2");
	ask_fn(resv6b);
	rst[1] = client_response(&c, rr[1], sizeof(rr[1]));

	/* 2, 3: the timeout comes first: an empty batch, saved over the
	 * reservation; the reserved event is the next batch */
	park(&c, "7/events?ack=1");
	ask_fn(resv7_timeout);
	rst[2] = client_response(&c, rr[2], sizeof(rr[2]));
	rst[3] = get(&c, "7/events?ack=2", J, rr[3], sizeof(rr[3]));

	/* 4, 5: a newer P-GET replaces the parked one meanwhile: it gets
	 * the reserved batch, without a save */
	park(&c, "8/events?ack=1");
	ask_fn(resv8);
	client_connect(&c2, port, false, NULL);
	rst[5] = get(&c2, "8/events?ack=1", J, rr[5], sizeof(rr[5]));
	rst[4] = client_response(&c, rr[4], sizeof(rr[4]));
	client_close(&c2);

	/* 6, 7: another event first: its batch is saved over the
	 * reservation; the reserved event comes next, saved */
	park(&c, "9/events?ack=1");
	ask_fn(resv9_other_first);
	rst[6] = client_response(&c, rr[6], sizeof(rr[6]));
	usleep(100 * 1000);
	rst[7] = get(&c, "9/events?ack=2", J, rr[7], sizeof(rr[7]));

	/* 8: the write failed: the empty batch at the timeout is saved */
	park(&c, "10/events?ack=1");
	ask_fn(resv10_fail);
	usleep(100 * 1000);
	ask_fn(jump_timeout);
	rst[8] = client_response(&c, rr[8], sizeof(rr[8]));
	client_close(&c);
}

/* Run a scenario on the client thread while the loop serves it. */
static void run(void (*fn)(void))
{
	pthread_t t;

	client_done = 0;
	pthread_create(&t, NULL, client_thread, (void *)fn);
	tmr_start(&clock_tmr, 2, clock_tick, NULL);
	(void)re_main(NULL);
	pthread_join(t, NULL);
}

static unsigned count(const char *s, const char *sub)
{
	unsigned n = 0;
	while ((s = strstr(s, sub))) {
		++n;
		s += strlen(sub);
	}
	return n;
}

int main(void)
{
	struct web_srv *srv = NULL;
	struct sa laddr;
	int err;

	libre_init();
	t0 = tmr_jiffies();
	err = wheel_alloc(&wheel, 10, 256, false);
	err |= evchan_alloc(&ch, wheel, "/a/1/events");
	evchan_set_ack_handler(ch, on_ack, NULL);
	err |= web_srv_alloc(&srv, wheel, &lim, "t", handler, NULL);
	sa_set_str(&laddr, "127.0.0.1", 0);
	err |= web_srv_listen(srv, &laddr, NULL);
	CHECK(err == 0);
	port = web_srv_port(srv, 0);

	setup_restored();
	run(scenario);

	/* 0 */
	CHECK(st[0] == 200);
	CHECK(strstr(r[0], "\"self\":{\"href\":\"/a/1/events?ack=1\"}"));
	CHECK(strstr(r[0], "\"next\":{\"href\":\"/a/1/events?ack=2\"}"));
	CHECK(strstr(r[0], "/a/1/people/carol/presence"));
	/* 1: byte for byte the same body */
	CHECK(st[1] == 200 &&
	      !strcmp(strstr(r[0], "\r\n\r\n"), strstr(r[1], "\r\n\r\n")));
	/* 2 */
	CHECK(st[2] == 200 && strstr(r[2], "messagingInvitation"));
	CHECK(!strstr(r[2], "carol")); /* acknowledged: gone */
	CHECK(waited[2] < 500);
	/* 3 */
	CHECK(st[3] == 200 && count(r[3], "bob/presence") == 1);
	CHECK(strstr(r[3], "\"status\":\"second\""));
	CHECK(waited[3] >= 900);
	/* 4, 5 */
	CHECK(st[4] == 409 && strstr(r[4], "\"subcode\":\"PGetReplaced\""));
	CHECK(strstr(r[4], "\"code\":\"Conflict\""));
	CHECK(st[5] == 200 && strstr(r[5], "messagingInvitation"));
	CHECK(strstr(r[5], "ack=5\"}"));
	/* 6 */
	CHECK(st[6] == 200 && strstr(r[6], "\"resync\":{\"href\":"
					   "\"/a/1/events?ack=5\"}"));
	CHECK(!strstr(r[6], "\"next\""));
	/* 7 */
	CHECK(st[7] == 400 && strstr(r[7], "timeout must be 180 to 1800"));
	/* 8 */
	CHECK(st[8] == 200 && strstr(r[8], "\"sender\":[]"));
	CHECK(strstr(r[8], "ack=6\"}"));
	/* 9 */
	/* the session's last contact: now while parked, then the end */
	CHECK(lp_n == 3);
	CHECK(lp_val[0] == lp_now[0]);
	CHECK(lp_val[1] >= lp_now[0] && lp_val[1] < lp_now[1]);
	CHECK(lp_val[2] == lp_val[1] && lp_now[2] - lp_val[2] >= 100);
	CHECK(st[9] == 200 &&
	      strstr(r[9], "<events href=\"/a/1/events?ack=6\""));
	CHECK(strstr(r[9], "<started rel=\"messagingInvitation\""));
	CHECK(evchan_batch(ch) == 6);
	/* batch 1 held the only marked event: acking it (ack=2) told the
	 * owner once, with its mark */
	CHECK(acked_calls == 1 && acked_mark == 7);

	acked_calls = 0;
	run(scenario_save);

	/* 0 */
	CHECK(sst[0] == 200 && strstr(sr[0], "messages/11"));
	CHECK(swaited[0] >= 45);
	/* 1, 2 */
	CHECK(strstr(sr[1], "\"self\":{\"href\":\"/a/2/events?ack=2\"}"));
	CHECK(sst[2] == 200 &&
	      !strcmp(strstr(sr[1], "\r\n\r\n"), strstr(sr[2], "\r\n\r\n")));
	CHECK(strstr(sr[1], "messages/12") && !strstr(sr[1], "messages/11"));
	/* 3, 4 */
	CHECK(sst[3] == 503 && strstr(sr[3], "ServiceFailure"));
	CHECK(sst[4] == 200 && strstr(sr[4], "messages/13"));
	/* (a fifth save, of 14, never ended: 10, 11) */
	CHECK(save_calls[2] == 5 && save_mark[2] == 14);
	CHECK(strstr(sr[4], "\"self\":{\"href\":\"/a/2/events?ack=3\"}"));
	/* 5, 6 */
	CHECK(sst[5] == 200 && strstr(sr[5], "messages/1\"") &&
	      strstr(sr[5], "messages/2\"") && !strstr(sr[5], "messages/3"));
	CHECK(strstr(sr[5], "\"next\":{\"href\":\"/a/3/events?ack=6\"}"));
	CHECK(sst[6] == 200 && strstr(sr[6], "messages/3") &&
	      !strstr(sr[6], "messages/2"));
	CHECK(save_batch[3] == 6 && save_mark[3] == 3);
	/* 7 */
	CHECK(sst[7] == 200 && strstr(sr[7], "messages/3") &&
	      !strstr(sr[7], "messages/1"));
	CHECK(strstr(sr[7], "\"next\":{\"href\":\"/a/4/events?ack=10\"}"));
	CHECK(evchan_batch(chs[4]) == 9 && save_batch[4] == 9);
	/* 8, 9 */
	CHECK(sst[8] == 200 && strstr(sr[8], "\"resync\":{\"href\":"
					     "\"/a/5/events?ack=6\"}"));
	/* 10, 11 */
	CHECK(sst[10] == 404 && strstr(sr[10], "ApplicationNotFound"));
	CHECK(sst[11] == 404 && strstr(sr[11], "ApplicationNotFound"));
	CHECK(sst[9] == 200 && strstr(sr[9], "messages/1\"") &&
	      strstr(sr[9], "messages/2\"") && strstr(sr[9], "messages/3"));
	/* acks told: ch3 (ack=6: mark 2), ch4 (ack=9: mark 2), ch2 three
	 * times (ack=4 in 10) */
	CHECK(acked_calls == 5);

	run(scenario_reserve);

	/* 0, 1: batches 1 and 2 were reserved, and went out unsaved */
	CHECK(resv_ret[6] == 0 && resv_batch[6] == 2);
	CHECK(rst[0] == 200 && strstr(rr[0], "messages/21\""));
	CHECK(strstr(rr[0], "\"next\":{\"href\":\"/a/6/events?ack=2\"}"));
	CHECK(rwaited[0] >= 45);
	CHECK(rst[1] == 200 && strstr(rr[1], "messages/22\"") &&
	      !strstr(rr[1], "messages/21"));
	CHECK(save_calls[6] == 0);
	/* 2, 3: the empty batch 1 was saved (mark 0) before it went out;
	 * the reserved event is batch 2, saved as usual */
	CHECK(resv_ret[7] == 0 && resv_batch[7] == 1);
	CHECK(rst[2] == 200 && strstr(rr[2], "\"sender\":[]"));
	CHECK(strstr(rr[2], "\"next\":{\"href\":\"/a/7/events?ack=2\"}"));
	CHECK(rst[3] == 200 && strstr(rr[3], "messages/31\""));
	CHECK(save_calls[7] == 2 && save_batch[7] == 2 && save_mark[7] == 31);
	/* 4, 5 */
	CHECK(rst[4] == 409 && strstr(rr[4], "PGetReplaced"));
	CHECK(rst[5] == 200 && strstr(rr[5], "messages/41\""));
	CHECK(save_calls[8] == 0);
	/* 6, 7: one reservation at a time; the unmarked event's batch 1
	 * was saved (mark 0) over the reservation */
	CHECK(resv_ret[9] == 0 && resv2_ret[9] == EBUSY);
	CHECK(rst[6] == 200 && strstr(rr[6], "messages/0\"") &&
	      !strstr(rr[6], "messages/51"));
	CHECK(rst[7] == 200 && strstr(rr[7], "messages/51\""));
	CHECK(save_calls[9] == 2 && save_batch[9] == 2 && save_mark[9] == 51);
	/* 8 */
	CHECK(resv_ret[10] == 0);
	CHECK(rst[8] == 200 && strstr(rr[8], "\"sender\":[]"));
	CHECK(save_calls[10] == 1 && save_batch[10] == 1 && save_mark[10] == 0);

	tmr_cancel(&clock_tmr);
	{
		unsigned i;
		for (i = 2; i < NCH; i++) {
			tmr_cancel(&save_tmr[i]);
			tmr_cancel(&resv_tmr[i]);
			mem_deref(chs[i]);
		}
	}
	mem_deref(srv);
	mem_deref(ch);
	mem_deref(wheel);
	metrics_close();
	libre_close();
	return check_done("test_evchan");
}
