/**
 * @file test_record.c  A session's record and its events in the store
 * (src/session/record.c) without HTTP or SIP, on a real store (LMDB in a
 * temporary directory): a record written and read back, a record written
 * by an earlier version read, a restart that reads the record and its
 * stored events back (numbering and ack cursor), and the delete.
 *
 * The layer above is played by a small struct holding the fields the
 * UCWA layer keeps in the record (its id, user and device).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include "repr.h"
#include "fixture.h"

/* The layer's part of a session, as src/ucwa's struct app. */
struct layer {
	struct session s;
	char id[32];
	char user[64];
	char endpoint[64];
	int64_t created;
	uint64_t seqs[8]; /* the events read back, in order */
	size_t nseq;
	int restored_err; /* ops->events_restored(): -1 not yet */
};

static int done_err;
static unsigned done_n;

static struct layer *layer(const struct session *s)
{
	return (struct layer *)(void *)((char *)(uintptr_t)s -
					offsetof(struct layer, s));
}

static const char *op_id(const struct session *s)
{
	return layer(s)->id;
}

static int op_record_encode(const struct session *s, struct repr *r)
{
	const struct layer *l = layer(s);
	int err;

	err = repr_prop_str(r, "id", l->id);
	err |= repr_prop_str(r, "user", l->user);
	err |= repr_prop_str(r, "endpointId", l->endpoint);
	err |= repr_prop_int(r, "created", l->created);
	return err;
}

static int op_record_decode(struct session *s, const struct repr_in *in)
{
	struct layer *l = layer(s);
	struct pl v;

	if (repr_in_str(in, "id", &v) || pl_strcpy(&v, l->id, sizeof(l->id)))
		return EINVAL;
	if (repr_in_str(in, "user", &v) ||
	    pl_strcpy(&v, l->user, sizeof(l->user)))
		return EINVAL;
	if (!repr_in_str(in, "endpointId", &v))
		(void)pl_strcpy(&v, l->endpoint, sizeof(l->endpoint));
	(void)repr_in_int(in, "created", &l->created);
	return 0;
}

static void op_event_restored(struct session *s, const struct store_event *e)
{
	struct layer *l = layer(s);

	/* counted by the session before the layer sees it */
	CHECK(s->evseq == e->seq);
	if (l->nseq < ARRAY_SIZE(l->seqs))
		l->seqs[l->nseq++] = e->seq;
}

static void op_events_restored(struct session *s, int err)
{
	layer(s)->restored_err = err;
	re_cancel();
}

static const struct session_ops ops = {
    .id = op_id,
    .user = op_id,
    .last_parked = fixture_none_parked,
    .record_encode = op_record_encode,
    .record_decode = op_record_decode,
    .event_restored = op_event_restored,
    .events_restored = op_events_restored,
};

static void done(int err, void *arg)
{
	(void)arg;
	done_err = err;
	++done_n;
	re_cancel();
}

/* Wait for the completion of one write (done()). */
static int wait_done(void)
{
	unsigned n = done_n;

	fixture_run(5000);
	CHECK(done_n == n + 1);
	return done_err;
}

static void layer_init(struct layer *l)
{
	memset(l, 0, sizeof(*l));
	l->restored_err = -1;
	session_init(&l->s, &ctx);
}

/* The stored record of id into mb, as the store holds it. */
static void got_record(int err, const uint8_t *val, size_t len, void *arg)
{
	struct mbuf *mb = arg;

	done_err = err;
	++done_n;
	if (!err)
		(void)mbuf_write_mem(mb, val, len);
	re_cancel();
}

static int stored(const char *id, struct mbuf *mb)
{
	CHECK(!store_session_get(ctx.st, id, got_record, mb, NULL));
	return wait_done();
}

/* Written, read back as it was: the layer's fields and the session's. */
static void test_round_trip(void)
{
	struct layer a, b;
	struct mbuf *mb = mbuf_alloc(512);
	uint64_t wall = (uint64_t)time(NULL) * 1000 - 60000;

	layer_init(&a);
	strcpy(a.id, "rec-one");
	strcpy(a.user, "alice@example.test");
	strcpy(a.endpoint, "phone");
	a.created = 1795482960000;
	session_numbering_set(&a.s, 4, 9);
	session_life_set_contact(&a.s, wall);
	CHECK(!session_record_put(&a.s, done, NULL, NULL));
	CHECK(wait_done() == 0);

	CHECK(stored("rec-one", mb) == 0);
	layer_init(&b);
	CHECK(session_record_decode(&b.s, mb->buf, mb->end) == 0);
	CHECK_STR(b.id, "rec-one");
	CHECK_STR(b.user, "alice@example.test");
	CHECK_STR(b.endpoint, "phone");
	CHECK(b.created == 1795482960000);
	CHECK(b.s.ev_batch == 4 && b.s.ev_mark == 9);
	/* the last contact, to the second (the loop's clock is coarser
	 * than the wall clock's milliseconds) */
	CHECK(session_life_contact_wall(&b.s) + 2000 > wall &&
	      session_life_contact_wall(&b.s) < wall + 2000);

	/* ended: no record any more (it would bring the session back) */
	session_close(&a.s);
	CHECK(session_record_put(&a.s, done, NULL, NULL) == ESHUTDOWN);
	session_close(&b.s);
	mem_deref(mb);
}

/* A record as the previous version wrote it (the UCWA layer's fields
 * with presence and push registration among the session's) is read. */
static void test_old_record(void)
{
	static const char old[] =
	    "{\"id\":\"5AfEvbY8UVbbtaShTNNFBg\",\"user\":\"alice@example."
	    "test\","
	    "\"endpointId\":\"fixture-dev\",\"culture\":\"en-US\","
	    "\"userAgent\":\"test-app/1.0\","
	    "\"instance\":\"0add8d7a-c6d4-55bd-838b-5e16dd87a625\","
	    "\"created\":1796671077000,\"availability\":\"Busy\","
	    "\"inactiveMs\":300000,\"note\":\"on the road\",\"location\":\"\","
	    "\"evBatch\":3,\"evMark\":7,\"contact\":1796671077000,"
	    "\"pushId\":\"ND4i3GOYorCww0AlF86gxG\",\"provider\":\"apns\","
	    "\"token\":\"abababababababababababababababababababababababababab"
	    "abababababab\",\"topic\":\"com.example.mobile\",\"voipToken\":"
	    "\"ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"
	    "00\"}";
	static const char older[] = "{\"id\":\"old2\",\"user\":\"bob@x.test\"}";
	struct layer l;

	layer_init(&l);
	CHECK(session_record_decode(&l.s, (const uint8_t *)old, strlen(old)) ==
	      0);
	CHECK_STR(l.id, "5AfEvbY8UVbbtaShTNNFBg");
	CHECK_STR(l.endpoint, "fixture-dev");
	CHECK(l.created == 1796671077000);
	CHECK(l.s.ev_batch == 3 && l.s.ev_mark == 7);
	session_close(&l.s);

	/* before numbering and lifetimes were kept: zero, and a contact of
	 * now */
	layer_init(&l);
	CHECK(session_record_decode(&l.s, (const uint8_t *)older,
				    strlen(older)) == 0);
	CHECK(l.s.ev_batch == 0 && l.s.ev_mark == 0);
	CHECK(l.s.contact_ms + 2000 > tmr_jiffies());
	session_close(&l.s);

	/* the layer refuses it (no id): not restorable */
	layer_init(&l);
	CHECK(session_record_decode(&l.s, (const uint8_t *)"{\"user\":\"x\"}",
				    12) == EINVAL);
	CHECK(session_record_decode(&l.s, (const uint8_t *)"{", 1) != 0);
	session_close(&l.s);
}

static void append(const char *id, uint64_t seq, const char *val)
{
	CHECK(!store_event_append(ctx.st, id, seq, (const uint8_t *)val,
				  strlen(val), done, NULL, NULL));
	CHECK(wait_done() == 0);
}

/* The first event the store holds (0: none). */
static uint64_t first_seq;

static void read_first(int err, const struct store_event *evv, size_t n,
		       bool more, void *arg)
{
	(void)more;
	(void)arg;
	first_seq = !err && n ? evv[0].seq : 0;
	re_cancel();
}

/* A restart: the record and the events the app had not acknowledged
 * come back, the numbering goes on above them and the ack removes them. */
static void test_restart(void)
{
	struct layer a, b, c;
	struct mbuf *mb = mbuf_alloc(512);
	const char ev[] = "{\"type\":\"message\"}";

	layer_init(&a);
	strcpy(a.id, "rec-restart");
	strcpy(a.user, "alice@example.test");
	/* the app saw batch 2 up to event 5; events 6 and 7 are stored */
	session_numbering_set(&a.s, 2, 5);
	CHECK(!session_record_put(&a.s, done, NULL, NULL));
	CHECK(wait_done() == 0);
	append("rec-restart", 6, ev);
	append("rec-restart", 7, ev);
	session_close(&a.s);

	CHECK(stored("rec-restart", mb) == 0);
	layer_init(&b);
	CHECK(!session_record_decode(&b.s, mb->buf, mb->end));
	b.s.loading = true;
	CHECK(!session_events_restore(&b.s));
	fixture_run(5000);
	CHECK(b.restored_err == 0);
	CHECK(b.nseq == 2 && b.seqs[0] == 6 && b.seqs[1] == 7);
	CHECK(!b.s.loading);
	CHECK(b.s.acked_seq == 5 && b.s.evseq == 7);
	CHECK(session_unacked(&b.s) == 2);
	CHECK(session_event_next(&b.s) == 8);
	session_event_unnumber(&b.s);

	/* acknowledged: gone from the store, nothing read at the next
	 * restart, and the numbering still above the record's mark */
	session_numbering_set(&b.s, 3, 7);
	session_acked(&b.s, 7);
	/* writes complete in order: once this one is, the ack is too */
	CHECK(!session_record_put(&b.s, done, NULL, NULL));
	CHECK(wait_done() == 0);
	session_close(&b.s);
	mbuf_reset(mb);
	CHECK(stored("rec-restart", mb) == 0);
	layer_init(&c);
	CHECK(!session_record_decode(&c.s, mb->buf, mb->end));
	c.s.loading = true;
	CHECK(!session_events_restore(&c.s));
	fixture_run(5000);
	CHECK(c.restored_err == 0 && c.nseq == 0);
	CHECK(c.s.acked_seq == 7 && c.s.evseq == 7);
	CHECK(session_unacked(&c.s) == 0);

	/* deleted: the record and its events */
	CHECK(!session_record_del(&c.s, done, NULL, NULL));
	CHECK(wait_done() == 0);
	mbuf_reset(mb);
	CHECK(stored("rec-restart", mb) == ENOENT);
	CHECK(session_record_del(&c.s, done, NULL, NULL) == 0);
	CHECK(wait_done() == ENOENT);
	session_close(&c.s);
	mem_deref(mb);
}

/* An ack that did not reach the store (it failed, or went with the Redis
 * primary): the app asked for batch 3, which acknowledged batch 2 (events
 * 4 and 5), and the record of batch 3 was written after. A restore gives
 * the app batch 3 without 4 and 5 (it had them), and the store forgets
 * them now. */
static void test_ack_lost(void)
{
	struct layer a, b;
	struct mbuf *mb = mbuf_alloc(512);
	const char ev[] = "{\"type\":\"message\"}";

	layer_init(&a);
	strcpy(a.id, "rec-acklost");
	strcpy(a.user, "alice@example.test");
	append("rec-acklost", 4, ev);
	append("rec-acklost", 5, ev);
	append("rec-acklost", 6, ev);
	append("rec-acklost", 7, ev);
	/* in memory: acknowledged up to 5; the store's ack is lost */
	a.s.acked_seq = 5;
	session_numbering_set(&a.s, 3, 7);
	CHECK(!session_record_put(&a.s, done, NULL, NULL));
	CHECK(wait_done() == 0);
	session_close(&a.s);

	CHECK(stored("rec-acklost", mb) == 0);
	layer_init(&b);
	CHECK(!session_record_decode(&b.s, mb->buf, mb->end));
	b.s.loading = true;
	CHECK(!session_events_restore(&b.s));
	fixture_run(5000);
	CHECK(b.restored_err == 0);
	CHECK(b.nseq == 2 && b.seqs[0] == 6 && b.seqs[1] == 7);
	CHECK(b.s.acked_seq == 5 && b.s.evseq == 7);
	CHECK(session_unacked(&b.s) == 2);
	session_close(&b.s);

	/* acknowledged again: the next restore reads 6 and 7 only */
	layer_init(&a);
	CHECK(!session_record_decode(&a.s, mb->buf, mb->end));
	a.s.loading = true;
	CHECK(!session_events_restore(&a.s));
	fixture_run(5000);
	CHECK(a.restored_err == 0 && a.s.unacked_n == 2);
	CHECK(!store_event_read(ctx.st, "rec-acklost", 1, 16, read_first, NULL,
				NULL));
	fixture_run(5000);
	CHECK(first_seq == 6);
	CHECK(!session_record_del(&a.s, done, NULL, NULL));
	CHECK(wait_done() == 0);
	session_close(&a.s);
	mem_deref(mb);
}

/* Start-up: every stored record, once each. */
static unsigned loaded;

static bool load_one(const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t len, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)len;
	(void)arg;
	++loaded;
	return false;
}

static void test_load(void)
{
	CHECK(!session_records_load(&ctx, load_one, done, NULL));
	CHECK(wait_done() == 0);
	/* rec-one is left of the records written above */
	CHECK(loaded == 1);
}

int main(void)
{
	conf.max_unacked_events = 1000;
	conf.max_unacked_bytes = 1 << 22;
	conf.session_expiration_ms = 3600 * 1000;
	conf.session_short_expiration_ms = 600 * 1000;
	if (fixture_open(&ops, "record"))
		return 1;

	test_round_trip();
	test_old_record();
	test_restart();
	test_ack_lost();
	test_load();
	return fixture_close("record");
}
