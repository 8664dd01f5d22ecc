/**
 * @file record.c  A session's record and its events in the store
 * (session.h): written, read back at a restart, deleted; each event
 * stored the one way invariant 1 allows (session_event_store())
 *
 * The record is one JSON object: the fields of the layer above (its
 * ops->record_encode(), read back by ops->record_decode()) and the
 * session's own: the event channel's numbering (evBatch, evMark) and the
 * last contact (contact, ms since the epoch). A member missing from an
 * older record takes its default, so records of every earlier version
 * are read.
 */
#include <string.h>
#include <re.h>
#include "repr.h"
#include "store.h"
#include "session.h"
#include "hist.h"

static const char *sid(const struct session *s)
{
	return s->ctx->ops->id(s);
}

int session_record_encode(const struct session *s, struct mbuf *mb)
{
	struct repr *r = NULL;
	int err;

	err = repr_alloc(&r, NULL, NULL);
	if (err)
		return err;
	err = s->ctx->ops->record_encode(s, r);
	err |= repr_prop_int(r, "evBatch", (int64_t)s->ev_batch);
	err |= repr_prop_int(r, "evMark", (int64_t)s->ev_mark);
	err |=
	    repr_prop_int(r, "contact", (int64_t)session_life_contact_wall(s));
	if (!err)
		err = repr_encode(mb, r, REPR_JSON, NULL);
	mem_deref(r);
	return err;
}

int session_record_decode(struct session *s, const uint8_t *val, size_t len)
{
	const struct pl body = {(const char *)val, len};
	struct repr_in *in = NULL;
	const char *why;
	int64_t v;
	int err;

	err = repr_in_json(&in, &body, &why);
	if (!err)
		err = s->ctx->ops->record_decode(s, in);
	if (err)
		goto out;
	if (!repr_in_int(in, "evBatch", &v) && v > 0)
		s->ev_batch = (uint64_t)v;
	if (!repr_in_int(in, "evMark", &v) && v > 0)
		s->ev_mark = (uint64_t)v;
	/* none (a record older than lifetimes): from now */
	if (repr_in_int(in, "contact", &v) || v < 0)
		v = 0;
	session_life_set_contact(s, (uint64_t)v);
out:
	mem_deref(in);
	return err;
}

int session_record_put(struct session *s, store_done_h *h, void *arg,
		       struct store_op **opp)
{
	struct mbuf *mb;
	int err;

	/* a record written after the end would bring the session back */
	if (s->closing)
		return ESHUTDOWN;
	mb = mbuf_alloc(1024);
	err = mb ? session_record_encode(s, mb) : ENOMEM;
	if (!err)
		err = store_session_put(s->ctx->st, sid(s), mb->buf, mb->end, h,
					arg, opp);
	mem_deref(mb);
	/* what a restart will read as the last contact */
	if (!err)
		session_life_saved(s);
	return err;
}

int session_record_del(struct session *s, store_done_h *h, void *arg,
		       struct store_op **opp)
{
	return store_session_del(s->ctx->st, sid(s), h, arg, opp);
}

int session_records_load(const struct session_ctx *ctx, store_rec_h *recordh,
			 store_done_h *doneh, void *arg)
{
	return store_session_load(ctx->st, recordh, doneh, arg, NULL);
}

static int read_events(struct session *s, uint64_t from);

static void events_read(int err, const struct store_event *evv, size_t n,
			bool more, void *arg)
{
	struct session *s = arg;
	size_t i;

	s->restore_op = mem_deref(s->restore_op);
	if (err)
		goto out;
	for (i = 0; i < n; i++) {
		session_event_restored(s, evv[i].seq, evv[i].len);
		s->ctx->ops->event_restored(s, &evv[i]);
	}
	if (more && n) {
		err = read_events(s, evv[n - 1].seq + 1);
		if (!err)
			return;
		goto out;
	}
	/* the numbering goes on above what the store has seen */
	session_events_restored(s);
out:
	if (err)
		log_warn("ucwa: events of %s not read: %m", sid(s), err);
	s->ctx->ops->events_restored(s, err);
}

static int read_events(struct session *s, uint64_t from)
{
	return store_event_read(s->ctx->st, sid(s), from, STORE_READ_MAX,
				events_read, s, &s->restore_op);
}

int session_events_restore(struct session *s)
{
	return read_events(s, 1);
}

/* An event write in flight: what a failed one takes back. */
struct session_op {
	struct session *s;
	struct store_op *op;
	store_done_h *h;
	void *arg;
	uint64_t seq;
};

static void sop_destructor(void *arg)
{
	struct session_op *o = arg;

	/* the store's answer is cancelled with the handle */
	mem_deref(o->op);
}

/* A write that is not stored: its count goes, so the quota says only
 * what the store may hold. Its number is given again (renumber) only if
 * nothing of it was written (refused before it was issued, or an error
 * the store's contract says applied nothing: ENOSPC, EIO, ESTALE) and
 * while it is the last one given. After any other error (EEXIST: the
 * number is taken; a lost connection: the write may have been applied)
 * the number stays used (a Redis stream refuses an id not above its
 * last one): sequences only grow. */
static void event_undo(struct session *s, uint64_t seq, bool renumber)
{
	session_quota_remove(s, seq);
	if (renumber && s->evseq == seq)
		session_event_unnumber(s);
}

/* store_done_h: the errors after which nothing of the write is in the
 * store (store.h) */
static bool nothing_written(int err)
{
	return err == ENOSPC || err == EIO || err == ESTALE;
}

/* The append of seq failed at once after the layer numbered a batch
 * for it: the numbering goes back to what it was, and the record is
 * written again with it (later in this turn's commit than the one the
 * layer wrote ahead: it wins), or a restart would count the number,
 * given again to the next event, in a batch the app already had; the
 * layer gives back its reservation (ops->unnumbered). */
static void numbered_undo(struct session *s, uint64_t seq, uint64_t batch,
			  uint64_t mark)
{
	if (s->ev_batch == batch && s->ev_mark == mark)
		return; /* the layer reserved nothing */
	session_numbering_set(s, batch, mark);
	(void)session_record_put(s, NULL, NULL, NULL);
	if (s->ctx->ops->unnumbered)
		s->ctx->ops->unnumbered(s, seq);
}

static void event_done(int err, void *arg)
{
	struct session_op *o = arg;

	o->op = mem_deref(o->op);
	if (err)
		event_undo(o->s, o->seq, nothing_written(err));
	/* last: h may drop the handle */
	if (o->h)
		o->h(err, o->arg);
}

int session_event_store(struct session *s, struct session_event *ev,
			store_done_h *h, void *arg, struct session_op **opp)
{
	struct session_op *o;
	uint64_t seq, batch0, mark0;
	bool reserved;
	int err;

	if (!s || !ev || !ev->val || !opp)
		return EINVAL;
	ev->why = QUOTA_OK;
	ev->seq = 0;
	/* refused before anything is numbered or written: nothing of it is
	 * kept or comes back at a restart */
	if (ev->nev) {
		ev->why = session_quota_check(s, ev->len, ev->nev);
		if (ev->why != QUOTA_OK)
			return EDQUOT;
	}
	o = mem_zalloc(sizeof(*o), sop_destructor);
	if (!o)
		return ENOMEM;
	o->s = s;
	o->h = h;
	o->arg = arg;
	o->seq = ev->seq = seq = session_event_next(s);
	/* the layer's writes for this number (a parked P-GET's batch) go
	 * first, into the same commit */
	batch0 = s->ev_batch;
	mark0 = s->ev_mark;
	reserved = ev->reserve && s->ctx->ops->numbered;
	if (reserved)
		s->ctx->ops->numbered(s, seq);
	err = store_event_append(s->ctx->st, sid(s), seq, ev->val, ev->len,
				 event_done, o, &o->op);
	if (err) {
		/* its number is given back: not the caller's to keep */
		event_undo(s, seq, true);
		ev->seq = 0;
		mem_deref(o);
		if (reserved)
			numbered_undo(s, seq, batch0, mark0);
		return err;
	}
	/* counted from now: the quota is what may be in the store */
	session_quota_add(s, seq, ev->len);
	/* missed until the app acknowledges it: committed with its event */
	if (ev->missed_type)
		(void)session_history_add(s, ev->missed_type, ev->missed_from,
					  ev->missed_ms, ev->missed_text, seq);
	*opp = o;
	return 0;
}
