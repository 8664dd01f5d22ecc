/**
 * @file session.c  A session's life cycle, event numbering, ack cursor and
 * push policy (session.h)
 *
 * Sequences only grow: an event is numbered before its write, and a
 * number is given back only while it is the last one given (the write
 * was refused before it began). The ack cursor moves only here, on the
 * app's ack, and only forward.
 */
#include <string.h>
#include <re.h>
#include "store.h"
#include "session.h"
#include "session_int.h"

void session_init(struct session *s, const struct session_ctx *ctx)
{
	s->ctx = ctx;
}

void session_close(struct session *s)
{
	s->closing = true;
	wheel_cancel(&s->life);
	quota_close(s);
	hist_close(s);
	s->push = mem_deref(s->push);
	s->push_old = mem_deref(s->push_old);
}

uint64_t session_event_next(struct session *s)
{
	return ++s->evseq;
}

void session_event_unnumber(struct session *s)
{
	--s->evseq;
}

void session_event_restored(struct session *s, uint64_t seq, size_t len)
{
	/* the store keeps exactly the events not acknowledged */
	if (!s->evseq)
		s->acked_seq = seq - 1;
	session_quota_add(s, seq, len);
	if (seq > s->evseq)
		s->evseq = seq;
}

void session_events_restored(struct session *s)
{
	s->loading = false;
	/* no stored event it has not acknowledged: the app had every one
	 * (session_event_restored() sets it below the first one otherwise) */
	if (!s->unacked_n && s->ev_mark > s->acked_seq)
		s->acked_seq = s->ev_mark;
	/* sequences go on above anything the store has seen (a Redis
	 * stream refuses an entry id below its last one, even trimmed) */
	if (s->ev_mark > s->evseq)
		s->evseq = s->ev_mark;
}

void session_numbering_set(struct session *s, uint64_t batch, uint64_t mark)
{
	s->ev_batch = batch;
	s->ev_mark = mark;
}

void session_acked(struct session *s, uint64_t mark)
{
	if (mark > s->acked_seq)
		s->acked_seq = mark;
	quota_acked(s, mark);
	(void)store_event_ack(s->ctx->st, s->ctx->ops->id(s), mark, NULL, NULL,
			      NULL);
	hist_acked(s, mark);
}

unsigned session_unacked(const struct session *s)
{
	return s->evseq > s->acked_seq ? (unsigned)(s->evseq - s->acked_seq)
				       : 0;
}

int session_push_decide(const struct session *s, bool service)
{
	if (!s->push)
		return ENOENT;
	/* awake: the parked P-GET carries the event */
	if (s->ctx->ops->parked(s))
		return EALREADY;
	if (!service)
		return ENOTSUP;
	return 0;
}

bool session_push_dead(const struct session *s, const char *token)
{
	/* unless the app registered another token meanwhile */
	return !s->closing && s->push && !s->push_saving &&
	       !strcmp(s->push->token, token);
}
