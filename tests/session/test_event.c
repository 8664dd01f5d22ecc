/**
 * @file test_event.c  An event of a session stored (session_event_store(),
 * src/session/record.c) without HTTP or SIP, on a real store (LMDB in a
 * temporary directory): refused over a limit before anything is numbered
 * or written; numbered, appended, counted and its missed entry written in
 * one commit with the layer's record (a parked P-GET's numbering) first;
 * a write that fails (a full store, a value too large) takes its number
 * and count back before the completion runs.
 *
 * The layer above is played by the ops of this test: its event channel's
 * room, and what it writes when an event is numbered (the record).
 */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "fixture.h"

static bool room = true;

/* what the layer was asked, and what the completion saw */
static unsigned numbered_n, done_n;
static uint64_t numbered_seq;
static int done_err;
static uint64_t done_evseq;   /* the session's numbering when done ran */
static unsigned done_unacked; /* ... and its stored events counted     */

static const char *op_id(const struct session *s)
{
	(void)s;
	return "event-test";
}

static bool op_room(const struct session *s, unsigned nev)
{
	(void)s;
	(void)nev;
	return room;
}

static int op_record_encode(const struct session *s, struct repr *r)
{
	(void)s;
	(void)r;
	return 0;
}

/* A parked P-GET's batch: its numbering goes into the record, written
 * now (as src/ucwa/app.c does). */
static void op_numbered(struct session *s, uint64_t seq)
{
	++numbered_n;
	numbered_seq = seq;
	session_numbering_set(s, 1, seq);
	CHECK(!session_record_put(s, NULL, NULL, NULL));
}

/* The reservation given back: the event it was for failed at once. */
static unsigned unnumbered_n;
static uint64_t unnumbered_seq;

static void op_unnumbered(struct session *s, uint64_t seq)
{
	(void)s;
	++unnumbered_n;
	unnumbered_seq = seq;
}

static const struct session_ops ops = {
    .id = op_id,
    .user = op_id,
    .room = op_room,
    .last_parked = fixture_none_parked,
    .record_encode = op_record_encode,
    .numbered = op_numbered,
    .unnumbered = op_unnumbered,
};

static void done(int err, void *arg)
{
	struct session *s = arg;

	done_err = err;
	done_evseq = s->evseq;
	done_unacked = (unsigned)s->unacked_n;
	++done_n;
	re_cancel();
}

static int wait_done(void)
{
	unsigned n = done_n;

	fixture_run(5000);
	CHECK(done_n == n + 1);
	return done_err;
}

static int64_t commits(void)
{
	return metric_value(metrics_get(
	    METRIC_COUNTER, "mobility_store_commits_total", NULL, NULL));
}

/* What the store holds of the session: its events and history entries. */
static unsigned nevents, nhist;
static char hist_text[64];

static void events_got(int err, const struct store_event *evv, size_t n,
		       bool more, void *arg)
{
	(void)evv;
	(void)more;
	(void)arg;
	CHECK(!err);
	nevents = (unsigned)n;
	re_cancel();
}

static bool hist_got(const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t len, void *arg)
{
	const char *t;

	(void)key;
	(void)klen;
	(void)arg;
	++nhist;
	t = memmem(val, len, "hello", 5);
	if (t)
		(void)re_snprintf(hist_text, sizeof(hist_text), "%b", t, 5);
	return false;
}

static void listed(int err, void *arg)
{
	(void)arg;
	CHECK(!err);
	re_cancel();
}

static void stored(struct store *st)
{
	nevents = nhist = 0;
	hist_text[0] = '\0';
	CHECK(!store_event_read(st, "event-test", 1, STORE_READ_MAX, events_got,
				NULL, NULL));
	fixture_run(5000);
	CHECK(!store_hist_list(st, "event-test", hist_got, listed, NULL, NULL));
	fixture_run(5000);
}

static struct session_event message(const char *text)
{
	struct session_event ev = {
	    .val = (const uint8_t *)text,
	    .len = strlen(text),
	    .nev = 2,
	    .reserve = true,
	    .missed_type = "message",
	    .missed_from = "sip:bob@example.test",
	    .missed_text = text,
	    .missed_ms = 1796671077000,
	};
	return ev;
}

/* Stored: numbered, the layer's record first, the event and its missed
 * entry, all in one commit; counted in the quota. */
static void test_stored(struct session *s)
{
	struct session_event ev = message("hello 1");
	struct session_op *op = NULL;
	int64_t c0 = commits();

	CHECK(session_event_store(s, &ev, done, s, &op) == 0);
	CHECK(ev.seq == 1 && s->evseq == 1);
	CHECK(numbered_n == 1 && numbered_seq == 1);
	CHECK(session_unacked(s) == 1 && s->unacked_n == 1);
	CHECK(s->unacked_bytes == ev.len);
	CHECK(wait_done() == 0);
	op = mem_deref(op);
	/* one commit: record, event and history entry together, none
	 * after it */
	CHECK(commits() - c0 == 1);
	fixture_run(100);
	CHECK(commits() - c0 == 1);
	stored(ctx.st);
	CHECK(nevents == 1);
	CHECK(nhist == 1);
	CHECK_STR(hist_text, "hello");

	/* not asked: no numbering of the layer, no history entry */
	ev = message("second");
	ev.reserve = false;
	ev.missed_type = NULL;
	CHECK(session_event_store(s, &ev, done, s, &op) == 0);
	CHECK(ev.seq == 2 && numbered_n == 1);
	CHECK(wait_done() == 0);
	op = mem_deref(op);
	stored(ctx.st);
	CHECK(nevents == 2 && nhist == 1);
}

/* Over a limit: refused before anything is numbered or written, with
 * the reason; the completion never runs. */
static void test_refused(struct session *s)
{
	struct session_event ev = message("hello refused");
	struct session_op *op = NULL;
	unsigned d = done_n, nb = numbered_n;
	uint64_t seq = s->evseq;
	int64_t c0 = commits();

	/* two stored (test_stored): the third is over max_unacked_events */
	conf.max_unacked_events = 2;
	CHECK(session_event_store(s, &ev, done, s, &op) == EDQUOT);
	CHECK(ev.why == QUOTA_EVENTS && ev.seq == 0 && !op);
	conf.max_unacked_events = 1000;

	conf.max_unacked_bytes = s->unacked_bytes + ev.len - 1;
	CHECK(session_event_store(s, &ev, done, s, &op) == EDQUOT);
	CHECK(ev.why == QUOTA_BYTES);
	conf.max_unacked_bytes = 1 << 22;

	room = false;
	CHECK(session_event_store(s, &ev, done, s, &op) == EDQUOT);
	CHECK(ev.why == QUOTA_CHANNEL);
	room = true;

	CHECK(s->evseq == seq && s->unacked_n == 2);
	CHECK(numbered_n == nb);
	/* nothing was written: no commit, the same events and entries */
	fixture_run(100);
	CHECK(done_n == d);
	CHECK(commits() == c0);
	stored(ctx.st);
	CHECK(nevents == 2 && nhist == 1);

	/* nev 0: not checked (a write that must not be refused) */
	conf.max_unacked_events = 2;
	ev = message("unchecked");
	ev.nev = 0;
	ev.missed_type = NULL;
	CHECK(session_event_store(s, &ev, done, s, &op) == 0);
	CHECK(ev.seq == seq + 1);
	CHECK(wait_done() == 0);
	op = mem_deref(op);
	conf.max_unacked_events = 1000;
}

/* Refused by the store at once (a value over STORE_VALUE_MAX): its
 * number is given again, nothing counted, no completion. */
static void test_failed_at_once(struct session *s)
{
	size_t len = STORE_VALUE_MAX + 1;
	uint8_t *big = calloc(1, len);
	struct session_event ev = {.val = big, .len = len, .nev = 2};
	struct session_op *op = NULL;
	uint64_t seq = s->evseq;
	size_t n = s->unacked_n;
	unsigned d = done_n;

	conf.max_unacked_bytes = 1 << 22;
	CHECK(session_event_store(s, &ev, done, s, &op) == EOVERFLOW);
	CHECK(!op);
	/* the number given back is not the caller's to keep */
	CHECK(ev.seq == 0);
	CHECK(s->evseq == seq && s->unacked_n == n);
	fixture_run(100);
	CHECK(done_n == d);
	/* the next event takes the number */
	ev = message("after");
	ev.missed_type = NULL;
	CHECK(session_event_store(s, &ev, done, s, &op) == 0);
	CHECK(ev.seq == seq + 1);
	CHECK(wait_done() == 0);
	op = mem_deref(op);
	free(big);
}

/* What the store holds as the session's record (its evMark). */
static char record_mark[32];

static void record_got(int err, const uint8_t *val, size_t len, void *arg)
{
	const uint8_t *m = err ? NULL : memmem(val, len, "\"evMark\":", 9);
	size_t n = 0;

	(void)arg;
	record_mark[0] = '\0';
	while (m && m + 9 + n < val + len && n + 1 < sizeof(record_mark) &&
	       m[9 + n] >= '0' && m[9 + n] <= '9') {
		record_mark[n] = (char)m[9 + n];
		record_mark[++n] = '\0';
	}
	re_cancel();
}

/* A parked P-GET's batch numbered for an event the store then refuses
 * at once: the number, the record's numbering and the layer's
 * reservation are given back, and the store holds the record with the
 * numbering before it (not one for an event that is not there, whose
 * number the next event takes: a restart would count that event in a
 * batch the app already had). */
static void test_failed_at_once_reserved(struct session *s)
{
	size_t len = STORE_VALUE_MAX + 1;
	uint8_t *big = calloc(1, len);
	struct session_event ev = {
	    .val = big, .len = len, .nev = 2, .reserve = true};
	struct session_op *op = NULL;
	uint64_t seq = s->evseq, batch = s->ev_batch, mark = s->ev_mark;
	unsigned nb = numbered_n;
	char want[32];

	CHECK(session_event_store(s, &ev, done, s, &op) == EOVERFLOW);
	CHECK(!op && ev.seq == 0 && s->evseq == seq);
	CHECK(numbered_n == nb + 1 && numbered_seq == seq + 1);
	CHECK(s->ev_batch == batch && s->ev_mark == mark);
	CHECK(unnumbered_n == 1 && unnumbered_seq == seq + 1);
	fixture_run(100);
	CHECK(!store_session_get(ctx.st, "event-test", record_got, NULL, NULL));
	fixture_run(5000);
	(void)re_snprintf(want, sizeof(want), "%llu", (unsigned long long)mark);
	CHECK_STR(record_mark, want);
	free(big);
}

/* The store is full: the write fails at its commit; before the
 * completion runs with ENOSPC its number and count were taken back. */
static void test_full(struct session *s, struct store *full)
{
	static uint8_t big[200 * 1024];
	struct session_event ev = {.val = big, .len = sizeof(big), .nev = 2};
	struct session_op *op = NULL;
	struct store *kept = ctx.st;
	uint64_t seq;
	size_t n;
	unsigned i;

	/* fill a store of 1 MiB: the record of a session, 200 KiB each */
	memset(big, 'x', sizeof(big));
	ctx.st = full;
	for (i = 0; i < 8 && !store_full(full); i++) {
		char key[16];

		(void)re_snprintf(key, sizeof(key), "fill%u", i);
		CHECK(!store_session_put(full, key, big, sizeof(big), listed,
					 NULL, NULL));
		fixture_run(5000);
	}
	CHECK(store_full(full));

	seq = s->evseq;
	n = s->unacked_n;
	conf.max_unacked_bytes = 1 << 24;
	CHECK(session_event_store(s, &ev, done, s, &op) == 0);
	CHECK(ev.seq == seq + 1 && s->unacked_n == n + 1);
	CHECK(wait_done() == ENOSPC);
	op = mem_deref(op);
	/* as they were when the completion ran */
	CHECK(done_evseq == seq && done_unacked == n);
	CHECK(s->evseq == seq && s->unacked_n == n);
	ctx.st = kept;
}

int main(void)
{
	struct store *full = NULL;
	struct session s;
	char dir_full[64];

	conf.max_unacked_events = 1000;
	conf.max_unacked_bytes = 1 << 22;
	conf.session_expiration_ms = 3600 * 1000;
	conf.session_short_expiration_ms = 600 * 1000;
	CHECK(!fixture_open(&ops, "event"));
	/* a second store of 1 MiB, to be filled */
	CHECK(
	    !tmpstore_open(&full, dir_full, sizeof(dir_full), "event_full", 1));

	memset(&s, 0, sizeof(s));
	session_init(&s, &ctx);
	test_stored(&s);
	test_refused(&s);
	test_failed_at_once(&s);
	test_failed_at_once_reserved(&s);
	test_full(&s, full);
	session_close(&s);

	mem_deref(full);
	tmpstore_remove(dir_full);
	return fixture_close("event");
}
