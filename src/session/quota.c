/**
 * @file quota.c  What the store may keep for one application
 *
 * An app that stays away (never polled, a phone switched off) must not
 * make the store keep everything sent to it until the map is full, which
 * would then fail every user's messages. Its stored events not yet
 * acknowledged are counted here, with their bytes, against
 * max_unacked_events and max_unacked_bytes ([service]). A MESSAGE that
 * would go over either is refused before anything is written
 * (src/ucwa/conv.c): 480 makes the Front End keep it in its offline store,
 * which hands it over at a later REGISTER. So is one the event channel could
 * not hold.
 *
 * Events are appended with growing sequences and leave only by the
 * app's ack (up to a sequence) or a failed write, so the list is in
 * sequence order and an ack takes from its head.
 */
#include <re.h>
#include "conf.h"
#include "session.h"
#include "session_int.h"

/* One stored event not yet acknowledged. */
struct qev {
	struct le le;
	uint64_t seq;
	size_t bytes;
};

static struct metric *m_refused[QUOTA_COUNT];

/* Refusals by reason, registered once. */
static struct metric *refused_metric(enum quota_why why)
{
	static const char *const labels[QUOTA_COUNT] = {
	    "", "reason=\"unacked_events\"", "reason=\"unacked_bytes\"",
	    "reason=\"event_channel\""};

	if (why == QUOTA_OK || why >= QUOTA_COUNT)
		return NULL;
	if (!m_refused[why])
		m_refused[why] = metrics_get(
		    METRIC_COUNTER, "mobility_ucwa_refused_total", labels[why],
		    "Incoming messages refused before they were stored, "
		    "by the limit they would have passed");
	return m_refused[why];
}

void session_quota_add(struct session *s, uint64_t seq, size_t bytes)
{
	struct qev *q = mem_zalloc(sizeof(*q), NULL);

	/* no memory: not counted, which errs toward taking messages */
	if (!q)
		return;
	q->seq = seq;
	q->bytes = bytes;
	list_append(&s->unacked, &q->le, q);
	++s->unacked_n;
	s->unacked_bytes += bytes;
}

void session_quota_remove(struct session *s, uint64_t seq)
{
	struct le *le;

	for (le = list_tail(&s->unacked); le; le = le->prev) {
		struct qev *q = le->data;

		if (q->seq != seq)
			continue;
		--s->unacked_n;
		s->unacked_bytes -= q->bytes;
		list_unlink(le);
		mem_deref(q);
		return;
	}
}

static void rereg(void *arg)
{
	struct session *s = arg;

	s->ctx->ops->reregister(s);
}

/* Room again for a good part of what was refused: at most half of
 * either limit is taken. */
static bool roomy(const struct session *s)
{
	const struct conf *conf = s->ctx->conf;

	return s->unacked_n <= conf->max_unacked_events / 2 &&
	       s->unacked_bytes <= conf->max_unacked_bytes / 2 &&
	       s->ctx->ops->roomy(s);
}

void quota_acked(struct session *s, uint64_t mark)
{
	struct le *le;

	while ((le = list_head(&s->unacked))) {
		struct qev *q = le->data;

		if (q->seq > mark)
			break;
		--s->unacked_n;
		s->unacked_bytes -= q->bytes;
		list_unlink(le);
		mem_deref(q);
	}

	/* messages refused meanwhile wait in the Front End's offline
	 * store, which hands them over on a REGISTER: ask for them soon
	 * rather than at the next refresh (minutes). Not at once: msilo
	 * keeps a message it tried to hand over (and we refused) aside
	 * until its next check (check_time), and a REGISTER before then
	 * gets nothing. */
	if (s->refused && roomy(s)) {
		uint64_t now = tmr_jiffies(), at;

		s->refused = false;
		at = s->refused_ms + SESSION_REFUSED_REREGISTER_MS;
		log_info("ucwa: %s: room again, registering in %llu ms to get "
			 "the messages refused meanwhile",
			 s->ctx->ops->id(s),
			 (unsigned long long)(at > now ? at - now : 0));
		wheel_start(s->ctx->wheel, &s->rereg, at > now ? at - now : 0,
			    rereg, s);
	}
}

enum quota_why session_quota_check(struct session *s, size_t bytes,
				   unsigned nev)
{
	const struct conf *conf = s->ctx->conf;
	enum quota_why why = QUOTA_OK;

	if (s->unacked_n + 1 > conf->max_unacked_events)
		why = QUOTA_EVENTS;
	else if (s->unacked_bytes + bytes > conf->max_unacked_bytes)
		why = QUOTA_BYTES;
	else if (!s->ctx->ops->room(s, nev))
		why = QUOTA_CHANNEL;

	metric_add(refused_metric(why), 1);
	if (why != QUOTA_OK) {
		s->refused = true;
		s->refused_ms = tmr_jiffies();
	}
	return why;
}

const char *session_quota_str(enum quota_why why)
{
	switch (why) {
	case QUOTA_EVENTS:
		return "too many unacknowledged events";
	case QUOTA_BYTES:
		return "too many bytes of unacknowledged events";
	case QUOTA_CHANNEL:
		return "the event channel is full";
	default:
		return "ok";
	}
}

void quota_close(struct session *s)
{
	wheel_cancel(&s->rereg);
	list_flush(&s->unacked);
	s->unacked_n = 0;
	s->unacked_bytes = 0;
}
