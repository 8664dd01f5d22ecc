/**
 * @file test_session.c  The session without HTTP or SIP (src/session):
 * event numbering, the ack cursor, the quota of stored events not
 * acknowledged (and the REGISTER once there is room again), the numbering
 * after a restart, and the push policy's decisions.
 *
 * The session is the real one on the real loop and timer wheel; what it
 * asks of the layer above (the event channel's state, a REGISTER) is
 * given and recorded by the ops of this test.
 */
#include <string.h>
#include <re.h>
#include "fixture.h"

static struct session sess;

/* what the layer above says and was asked */
static bool parked, room = true, roomy = true;
static unsigned registers;

static void op_end(struct session *s)
{
	s->closing = true;
}

static void op_reregister(struct session *s)
{
	(void)s;
	++registers;
	re_cancel();
}

static bool op_parked(const struct session *s)
{
	(void)s;
	return parked;
}

static bool op_room(const struct session *s, unsigned nev)
{
	(void)s;
	(void)nev;
	return room;
}

static bool op_roomy(const struct session *s)
{
	(void)s;
	return roomy;
}

static const char *op_id(const struct session *s)
{
	(void)s;
	return "session-test";
}

static const struct session_ops ops = {
    .id = op_id,
    .user = fixture_alice,
    .save = fixture_save,
    .end = op_end,
    .reregister = op_reregister,
    .creating = fixture_not_creating,
    .last_parked = fixture_none_parked,
    .parked = op_parked,
    .room = op_room,
    .roomy = op_roomy,
};

static void fresh(void)
{
	fixture_fresh(&sess);
	parked = false;
	room = roomy = true;
	registers = fixture_saves = 0;
}

static void test_numbering(void)
{
	fresh();
	CHECK(session_event_next(&sess) == 1);
	CHECK(session_event_next(&sess) == 2);
	/* refused before its write: the number is given again */
	session_event_unnumber(&sess);
	CHECK(session_event_next(&sess) == 2);
	CHECK(session_event_next(&sess) == 3);
	CHECK(session_unacked(&sess) == 3);

	/* the batch the app may see is what the record carries */
	session_numbering_set(&sess, 7, 3);
	CHECK(sess.ev_batch == 7 && sess.ev_mark == 3);
}

static void test_acks(void)
{
	fresh();
	for (unsigned i = 1; i <= 4; i++) {
		CHECK(session_event_next(&sess) == i);
		session_quota_add(&sess, i, 10 * i);
	}
	CHECK(sess.unacked_n == 4 && sess.unacked_bytes == 100);

	/* an ack takes every event up to its mark, no more */
	session_acked(&sess, 2);
	CHECK(sess.acked_seq == 2);
	CHECK(sess.unacked_n == 2 && sess.unacked_bytes == 70);
	CHECK(session_unacked(&sess) == 2);

	/* an older ack moves nothing back and removes nothing */
	session_acked(&sess, 1);
	CHECK(sess.acked_seq == 2);
	CHECK(sess.unacked_n == 2);

	/* a write that failed is not stored: its bytes come back */
	session_quota_remove(&sess, 4);
	CHECK(sess.unacked_n == 1 && sess.unacked_bytes == 30);
	/* an unknown sequence changes nothing */
	session_quota_remove(&sess, 99);
	CHECK(sess.unacked_n == 1 && sess.unacked_bytes == 30);

	session_acked(&sess, 4);
	CHECK(sess.acked_seq == 4);
	CHECK(sess.unacked_n == 0 && sess.unacked_bytes == 0);
	/* the numbering goes on above every sequence given */
	CHECK(session_event_next(&sess) == 5);
}

static void test_quota(void)
{
	fresh();
	conf.max_unacked_events = 3;
	conf.max_unacked_bytes = 100;

	CHECK(session_quota_check(&sess, 40, 2) == QUOTA_OK);
	session_quota_add(&sess, session_event_next(&sess), 40);
	CHECK(!sess.refused);

	/* the bytes limit: 40 + 61 > 100 */
	CHECK(session_quota_check(&sess, 61, 2) == QUOTA_BYTES);
	CHECK(sess.refused);
	CHECK(session_quota_check(&sess, 60, 2) == QUOTA_OK);
	session_quota_add(&sess, session_event_next(&sess), 10);
	session_quota_add(&sess, session_event_next(&sess), 10);

	/* the events limit: a fourth is refused, however small */
	CHECK(session_quota_check(&sess, 1, 2) == QUOTA_EVENTS);
	CHECK_STR(session_quota_str(QUOTA_EVENTS),
		  "too many unacknowledged events");

	/* the event channel full */
	session_acked(&sess, 3);
	room = false;
	CHECK(session_quota_check(&sess, 1, 2) == QUOTA_CHANNEL);
	room = true;
	CHECK(session_quota_check(&sess, 1, 2) == QUOTA_OK);
	CHECK_STR(session_quota_str(QUOTA_OK), "ok");
}

static void test_register_when_roomy(void)
{
	fresh();
	conf.max_unacked_events = 4;
	conf.max_unacked_bytes = 1000;
	for (unsigned i = 0; i < 4; i++)
		session_quota_add(&sess, session_event_next(&sess), 10);
	CHECK(session_quota_check(&sess, 10, 2) == QUOTA_EVENTS);
	/* as if the refusal were older than the wait before a REGISTER */
	sess.refused_ms = tmr_jiffies() > SESSION_REFUSED_REREGISTER_MS
			      ? tmr_jiffies() - SESSION_REFUSED_REREGISTER_MS
			      : 0;

	/* three still stored: more than half the limit, no REGISTER */
	session_acked(&sess, 1);
	CHECK(sess.refused);
	fixture_run(100);
	CHECK(registers == 0);

	/* two left: half the limit, room again; but the channel is not */
	roomy = false;
	session_acked(&sess, 2);
	CHECK(sess.refused);
	fixture_run(100);
	CHECK(registers == 0);

	/* room everywhere: one REGISTER, for the messages refused */
	roomy = true;
	session_acked(&sess, 2);
	CHECK(!sess.refused);
	fixture_run(2000);
	CHECK(registers == 1);

	/* no refusal since: another ack asks for nothing */
	session_acked(&sess, 4);
	fixture_run(100);
	CHECK(registers == 1);

	/* a closed session asks for nothing: its REGISTER is cancelled */
	CHECK(session_quota_check(&sess, 10000, 2) == QUOTA_BYTES);
	sess.refused_ms = 0;
	session_acked(&sess, 4);
	CHECK(!sess.refused);
	session_close(&sess);
	fixture_run(100);
	CHECK(registers == 1);
}

static void test_restored(void)
{
	/* the store kept events 5 to 7, the record says batch 3 up to 6 */
	fresh();
	sess.loading = true;
	session_numbering_set(&sess, 3, 6);
	session_event_restored(&sess, 5, 10);
	session_event_restored(&sess, 6, 20);
	session_event_restored(&sess, 7, 30);
	session_events_restored(&sess);
	CHECK(!sess.loading);
	CHECK(sess.acked_seq == 4);
	CHECK(sess.evseq == 7);
	CHECK(sess.unacked_n == 3 && sess.unacked_bytes == 60);
	CHECK(session_event_next(&sess) == 8);

	/* none kept: the app had all; numbering goes on above the record's
	 * (the store may have seen more than it keeps) */
	fresh();
	sess.loading = true;
	session_numbering_set(&sess, 9, 12);
	session_events_restored(&sess);
	CHECK(sess.acked_seq == 12);
	CHECK(session_event_next(&sess) == 13);
	CHECK(session_unacked(&sess) == 1);
}

static char token[] = "aa11", other[] = "bb22", empty[] = "";
static struct pushreg reg = {.token = token, .voip = empty, .topic = empty};

static void test_push_policy(void)
{
	fresh();
	/* no registration: nobody to wake */
	CHECK(session_push_decide(&sess, true) == ENOENT);

	sess.push = &reg;
	CHECK(session_push_decide(&sess, true) == 0);
	/* a parked P-GET carries the event: the app is awake */
	parked = true;
	CHECK(session_push_decide(&sess, true) == EALREADY);
	parked = false;
	/* no push service configured */
	CHECK(session_push_decide(&sess, false) == ENOTSUP);

	/* the provider calls the token dead: the registration goes, unless
	 * it is another token now or a change of it is being stored */
	CHECK(session_push_dead(&sess, token));
	CHECK(!session_push_dead(&sess, other));
	sess.push_saving = true;
	CHECK(!session_push_dead(&sess, token));
	sess.push_saving = false;
	sess.closing = true;
	CHECK(!session_push_dead(&sess, token));
	sess.closing = false;
	sess.push = NULL;
	CHECK(!session_push_dead(&sess, token));

	/* the badge: incoming events not acknowledged, this one too */
	sess.push = &reg;
	(void)session_event_next(&sess);
	(void)session_event_next(&sess);
	session_acked(&sess, 1);
	CHECK(session_unacked(&sess) == 1);
	sess.push = NULL; /* not the session's to free */
}

int main(void)
{
	conf.session_short_expiration_ms = 60000;
	conf.session_expiration_ms = 600000;
	if (fixture_open(&ops, NULL))
		return 1;

	test_numbering();
	test_acks();
	test_quota();
	test_register_when_roomy();
	test_restored();
	test_push_policy();
	session_close(&sess);
	return fixture_close("session");
}
