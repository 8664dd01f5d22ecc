/**
 * @file test_hist.c  The history of a session (src/session/hist.c)
 * without HTTP or SIP, on a real store (LMDB in a temporary directory):
 * conversations and their messages, missed events and the ack that takes
 * them, the Front End's copies of a message recognised, the bounds, and
 * the history read back after a restart; the text and hash it keeps and
 * its records of an older format.
 *
 * hist.c is included to reach its static helpers; the rest of the
 * session comes from its library.
 */
#include "../../src/session/hist.c"
#include <stdlib.h>
#include <unistd.h>
#include "fixture.h"

static struct session sess;
static unsigned restored;

/* the application's id: its records in the store */
static const char *cur_id = "hist-test";

static const char *op_id(const struct session *s)
{
	(void)s;
	return cur_id;
}

static void op_hist_restored(struct session *s)
{
	(void)s;
	++restored;
	re_cancel();
}

static const struct session_ops ops = {
    .id = op_id,
    .hist_restored = op_hist_restored,
};

static unsigned writes;

static void committed(int err, void *arg)
{
	(void)arg;
	CHECK(!err);
	++writes;
	re_cancel();
}

static unsigned count(enum hkind kind)
{
	unsigned n = 0;

	for (struct le *le = sess.hist.head; le; le = le->next)
		n += ((struct hentry *)le->data)->kind == kind;
	return n;
}

static const char bob[] = "sip:bob@example.test";

static void test_conversations(void)
{
	struct hist_conv c = {
	    .n = 3, .incoming = true, .peer = bob, .subject = "lunch"};
	const uint64_t t = session_now_ms();
	struct hentry *h;

	fixture_fresh(&sess);
	session_hist_conv(&sess, &c);
	CHECK(c.hid != 0);
	h = entry_of(&sess, H_CONV, c.hid);
	CHECK(h && h->n == 3 && h->incoming && !h->accepted && h->count == 0);
	CHECK(h && !strcmp(h->peer, bob) && !strcmp(h->subject, "lunch"));

	/* an incoming message of event 5, then the same event after a
	 * restart: counted once */
	session_hist_message(&sess, c.hid, true, "hi", 2, t + 1, 5);
	session_hist_message(&sess, c.hid, true, "hi", 2, t + 1, 5);
	session_hist_message(&sess, c.hid, false, "hello", 5, t + 2, 0);
	CHECK(h && h->count == 2 && h->firstseq == 5 && h->lastseq == 5);
	CHECK(h && !h->last_in && h->last == t + 2 &&
	      !strcmp(h->text, "hello"));

	/* accepted, then ended: the same entry changes */
	c.accepted = true;
	session_hist_conv(&sess, &c);
	c.ended = true;
	session_hist_conv(&sess, &c);
	CHECK(count(H_CONV) == 1);
	CHECK(h && h->accepted && h->ended);

	/* a message of an unknown entry (pruned) changes nothing */
	session_hist_message(&sess, c.hid + 100, true, "x", 1, t + 3, 9);
	CHECK(count(H_CONV) == 1 && h && h->count == 2);
}

static void test_missed_and_acks(void)
{
	const uint64_t t = session_now_ms();

	fixture_fresh(&sess);
	CHECK(session_history_add(&sess, "message", bob, t, "one", 3) == 0);
	CHECK(session_history_add(&sess, "message", bob, t + 1, "two", 4) == 0);
	/* the same event again (restored): once */
	CHECK(session_history_add(&sess, "message", bob, t, "one", 3) == 0);
	CHECK(session_history_add(&sess, "call", bob, t + 2, NULL, 0) == 0);
	CHECK(session_history_add(&sess, "a-type-far-too-long", bob, 1, NULL,
				  0) == EINVAL);
	CHECK(count(H_MISSED) == 3);

	/* the app has event 3: it is no longer missed; 4 and the call stay */
	session_acked(&sess, 3);
	CHECK(count(H_MISSED) == 2);
	session_acked(&sess, 4);
	CHECK(count(H_MISSED) == 1);
	CHECK(sess.hist.head &&
	      !strcmp(((struct hentry *)sess.hist.head->data)->type, "call"));
}

static void test_redelivery(void)
{
	const uint64_t t = 1795482960000ull;

	fixture_fresh(&sess);
	/* a message whose 200 may be lost: a copy dated near its arrival
	 * is it again, once */
	session_hist_uncertain(&sess, 7, bob, "hi", t);
	CHECK(!session_hist_redelivered(&sess, bob, "hi!", t));
	CHECK(
	    !session_hist_redelivered(&sess, "sip:eve@example.test", "hi", t));
	CHECK(!session_hist_redelivered(&sess, bob, "hi",
					t + SESSION_REDELIVERY_WINDOW_MS + 1));
	CHECK(session_hist_redelivered(&sess, bob, "hi", t + 1000));
	CHECK(!session_hist_redelivered(&sess, bob, "hi", t + 1000));

	/* a copy taken from the Front End's store, by its Date: every time
	 * that very copy comes again */
	session_hist_copy(&sess, 8, bob, "again", t);
	CHECK(session_hist_redelivered(&sess, bob, "again", t));
	CHECK(session_hist_redelivered(&sess, bob, "again", t));
	CHECK(!session_hist_redelivered(&sess, bob, "again", t + 1000));
	/* never shown as history */
	CHECK(count(H_CONV) == 0 && count(H_MISSED) == 0);
}

static void test_bounds(void)
{
	uint64_t now = session_now_ms();
	unsigned i;

	fixture_fresh(&sess);
	for (i = 1; i <= SESSION_HIST_MISSED_MAX + 5; i++)
		CHECK(!session_history_add(&sess, "message", bob, now + i, NULL,
					   i));
	CHECK(count(H_MISSED) == SESSION_HIST_MISSED_MAX);
	/* the oldest went */
	CHECK(sess.hist.head &&
	      ((struct hentry *)sess.hist.head->data)->seq == 6);

	/* older than SESSION_HIST_AGE_MS: gone at the next prune */
	fixture_fresh(&sess);
	CHECK(!session_history_add(&sess, "call", bob,
				   now - SESSION_HIST_AGE_MS - 1000, NULL, 0));
	CHECK(!session_history_add(&sess, "call", bob, now, NULL, 0));
	session_hist_prune(&sess);
	CHECK(count(H_MISSED) == 1);
}

/* What is stored comes back after a restart (a new session over the
 * same store), the open conversation with its number and counts. */
static void test_restore(void)
{
	struct hist_conv c = {.n = 4, .incoming = true, .peer = bob};
	const struct hentry *h;
	uint64_t hid;

	/* a session of its own in the store */
	cur_id = "hist-restore";
	fixture_fresh(&sess);
	session_hist_conv(&sess, &c);
	session_hist_message(&sess, c.hid, true, "hi", 2, session_now_ms(), 11);
	hid = c.hid;
	CHECK(!session_history_add(&sess, "message", bob, session_now_ms(),
				   "missed", 12));
	session_hist_uncertain(&sess, 11, bob, "hi", session_now_ms());
	/* the writes are committed in order: once a later one is, these
	 * are (a restart reads what is committed) */
	CHECK(!store_event_ack(ctx.st, cur_id, 0, committed, NULL, NULL));
	fixture_run(10000);
	CHECK(writes == 1);

	fixture_fresh(&sess);
	sess.loading = true;
	restored = 0;
	CHECK(session_hist_restore(&sess) == 0);
	fixture_run(10000);
	CHECK(restored == 1);
	CHECK(count(H_CONV) == 1 && count(H_MISSED) == 1 &&
	      count(H_UNCERTAIN) == 1);
	h = entry_of(&sess, H_CONV, hid);
	CHECK(h && h->n == 4 && h->count == 1 && h->lastseq == 11 &&
	      !strcmp(h->text, "hi") && !strcmp(h->peer, bob));
	/* new entries are numbered after the stored ones */
	CHECK(sess.hist_serial >= hid);
	/* the restored uncertain message is recognised */
	CHECK(session_hist_redelivered(&sess, bob, "hi", session_now_ms()));
}

static void test_text_and_hash(void)
{
	char in[SESSION_HIST_TEXT_MAX + 8], out[SESSION_HIST_TEXT_MAX + 1];

	/* a two-byte character across the limit is left out whole */
	memset(in, 'a', SESSION_HIST_TEXT_MAX - 1);
	memcpy(in + SESSION_HIST_TEXT_MAX - 1, "\xc3\xa9zz", 5);
	keep_text(out, in, strlen(in));
	CHECK(strlen(out) == SESSION_HIST_TEXT_MAX - 1);
	keep_text(out, "short", 5);
	CHECK_STR(out, "short");

	/* sender and text stay apart in the hash */
	CHECK(msg_hash("sip:a@x", "bc") != msg_hash("sip:a@xb", "c"));
	CHECK(msg_hash("sip:a@x", "bc") == msg_hash("sip:a@x", "bc"));
}

/*
 * The history is stamped to the millisecond, the resolution of since; a
 * record stored when entries were stamped to the second reads back as it
 * was, in order with the newer ones.
 */
static void test_hist_ms(void)
{
	const char *old = "{\"first\":1795482960000,\"last\":1795482961000,"
			  "\"peer\":\"sip:bob@example.test\",\"n\":1,"
			  "\"count\":2,\"text\":\"hi\"}";
	const char *now = "{\"first\":1795482961250,\"last\":1795482961750,"
			  "\"peer\":\"sip:carol@example.test\",\"n\":2}";
	const struct hentry *h;
	uint64_t t0, t;
	bool frac = false;
	int i;

	/* the newer one first: insertion keeps the order of last activity */
	CHECK(!hist_record((const uint8_t *)"c0000000000000002", 17,
			   (const uint8_t *)now, strlen(now), &sess));
	CHECK(!hist_record((const uint8_t *)"c0000000000000001", 17,
			   (const uint8_t *)old, strlen(old), &sess));
	CHECK(list_count(&sess.hist) == 2);
	h = sess.hist.head ? sess.hist.head->data : NULL;
	CHECK(h && h->first == 1795482960000ull &&
	      h->last == 1795482961000ull && h->count == 2 &&
	      !strcmp(h->text, "hi"));
	h = sess.hist.tail ? sess.hist.tail->data : NULL;
	CHECK(h && h->first == 1795482961250ull && h->last == 1795482961750ull);
	list_flush(&sess.hist);

	/* the clock: milliseconds within the current second, not only whole
	 * seconds (at most 40 reads 3 ms apart) */
	for (i = 0; i < 40 && !frac; i++) {
		t0 = (uint64_t)time(NULL) * 1000;
		t = session_now_ms();
		CHECK(t + 1000 > t0 && t < t0 + 2000);
		frac = t % 1000 != 0;
		(void)usleep(3000);
	}
	CHECK(frac);
}

int main(void)
{
	conf.max_unacked_events = 1000;
	conf.max_unacked_bytes = 1 << 22;
	if (fixture_open(&ops, "hist"))
		return 1;

	test_conversations();
	test_missed_and_acks();
	test_redelivery();
	test_bounds();
	test_restore();
	fixture_fresh(&sess);
	test_text_and_hash();
	test_hist_ms();
	session_close(&sess);
	return fixture_close("hist");
}
