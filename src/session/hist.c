/**
 * @file hist.c  History: past conversations and missed events
 *
 * An app that lost its local state (reinstalled, wiped, a second device)
 * rebuilds it from GET .../communication/conversationLogs?since=<time>
 * (our extension on UCWA's conversationLogs, docs/api.md): one
 * conversationLog per conversation (peer, direction, subject, first and
 * last time, message count, the last message) and one missedItem per
 * event the app has not had: an incoming message not yet acknowledged on
 * the event channel, or a missed call.
 *
 * Each entry is one history record of the store (store_hist_put), JSON,
 * under "c<serial>" (conversation) or "m<serial>" (missed item), or
 * "u<event>" for a message whose 200 may not have reached the Front End,
 * or that came as a copy from its offline store (src/ucwa/conv.c: not
 * shown, used
 * to recognise the Front End's copy, by its Date), written
 * again whenever it changes; a restart reads them back before the event
 * log, so that the conversations still open come back with their numbers
 * and a stored message of one of them is delivered again as a message of
 * that conversation, not as a new invitation.
 *
 * Bounded: SESSION_HIST_CONVS_MAX conversations and
 * SESSION_HIST_MISSED_MAX missed items per application (the oldest go
 * first), none older than SESSION_HIST_AGE_MS, and SESSION_HIST_TEXT_MAX
 * bytes of a message's text.
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "repr.h"
#include "store.h"
#include "session.h"
#include "session_int.h"
#include "hist.h"

/* The application's id, for the store's keys and the log. */
static const char *sid(const struct session *s)
{
	return s->ctx->ops->id(s);
}

uint64_t session_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts))
		return (uint64_t)time(NULL) * 1000;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char kind_char[] = "cmu"; /* by enum hkind */

static void key(char *buf, size_t size, const struct hentry *h)
{
	(void)re_snprintf(buf, size, "%c%016llx", kind_char[h->kind],
			  (unsigned long long)h->serial);
}

/* Copy at most SESSION_HIST_TEXT_MAX bytes, cut before a UTF-8 sequence. */
static void keep_text(char *dst, const char *p, size_t n)
{
	if (n > SESSION_HIST_TEXT_MAX) {
		n = SESSION_HIST_TEXT_MAX;
		while (n && ((uint8_t)p[n] & 0xc0) == 0x80)
			--n;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void write_entry(struct session *s, const struct hentry *h)
{
	struct repr *r = NULL;
	struct mbuf *mb = mbuf_alloc(512);
	char k[24];
	int err;

	err = mb ? repr_alloc(&r, NULL, NULL) : ENOMEM;
	if (err)
		goto out;
	err |= repr_prop_int(r, "first", (int64_t)h->first);
	err |= repr_prop_int(r, "in", h->incoming);
	err |= repr_prop_str(r, "peer", h->peer);
	if (h->text[0])
		err |= repr_prop_str(r, "text", h->text);
	if (h->kind == H_CONV) {
		err |= repr_prop_int(r, "n", h->n);
		err |= repr_prop_int(r, "last", (int64_t)h->last);
		err |= repr_prop_int(r, "count", h->count);
		err |= repr_prop_int(r, "lastIn", h->last_in);
		err |= repr_prop_int(r, "accepted", h->accepted);
		err |= repr_prop_int(r, "ended", h->ended);
		err |= repr_prop_int(r, "firstSeq", (int64_t)h->firstseq);
		err |= repr_prop_int(r, "lastSeq", (int64_t)h->lastseq);
		if (h->subject[0])
			err |= repr_prop_str(r, "subject", h->subject);
	} else if (h->kind == H_MISSED) {
		err |= repr_prop_str(r, "type", h->type);
		err |= repr_prop_int(r, "seq", (int64_t)h->seq);
	} else {
		char hash[17];

		(void)re_snprintf(hash, sizeof(hash), "%016llx",
				  (unsigned long long)h->hash);
		err |= repr_prop_str(r, "hash", hash);
		err |= repr_prop_int(r, "window", h->window);
		if (h->date)
			err |= repr_prop_int(r, "date", (int64_t)h->date);
	}
	if (!err)
		err = repr_encode(mb, r, REPR_JSON, NULL);
	key(k, sizeof(k), h);
	/* best effort: a lost write costs a line of history, never an event
	 * (the event log is what delivery relies on) */
	if (!err)
		err = store_hist_put(s->ctx->st, sid(s), k, mb->buf, mb->end,
				     NULL, NULL, NULL);
out:
	if (err)
		log_notice("ucwa: history of %s not stored: %m", sid(s), err);
	mem_deref(r);
	mem_deref(mb);
}

static void drop(struct session *s, struct hentry *h)
{
	char k[24];

	key(k, sizeof(k), h);
	(void)store_hist_del(s->ctx->st, sid(s), k, NULL, NULL, NULL);
	list_unlink(&h->le);
	mem_deref(h);
}

/* Past SESSION_HIST_AGE_MS, or past the count of its kind (the one not
 * touched for longest goes). */
static void prune(struct session *s, enum hkind kind)
{
	uint64_t now = session_now_ms();
	unsigned max = kind == H_CONV     ? SESSION_HIST_CONVS_MAX
		       : kind == H_MISSED ? SESSION_HIST_MISSED_MAX
					  : SESSION_REDELIVERY_MAX;
	struct hentry *oldest;
	unsigned n;
	struct le *le;

	for (;;) {
		oldest = NULL;
		n = 0;
		for (le = s->hist.head; le; le = le->next) {
			struct hentry *h = le->data;
			if (h->kind != kind)
				continue;
			++n;
			if (!oldest || h->last < oldest->last)
				oldest = h;
		}
		if (!oldest ||
		    (n <= max && oldest->last + SESSION_HIST_AGE_MS >= now))
			return;
		drop(s, oldest);
	}
}

void session_hist_prune(struct session *s)
{
	prune(s, H_CONV);
	prune(s, H_MISSED);
	prune(s, H_UNCERTAIN);
}

static struct hentry *entry_new(struct session *s, enum hkind kind)
{
	struct hentry *h = mem_zalloc(sizeof(*h), NULL);

	if (!h)
		return NULL;
	h->kind = kind;
	h->serial = ++s->hist_serial;
	h->first = h->last = session_now_ms();
	list_append(&s->hist, &h->le, h);
	return h;
}

/* The entry of a kind by its serial (a conversation's hid, an uncertain
 * message's event number), or NULL. */
static struct hentry *entry_of(const struct session *s, enum hkind kind,
			       uint64_t serial)
{
	struct le *le;

	for (le = s->hist.head; le; le = le->next) {
		struct hentry *h = le->data;
		if (h->kind == kind && h->serial == serial)
			return h;
	}
	return NULL;
}

void session_hist_conv(struct session *s, struct hist_conv *c)
{
	struct hentry *h = c->hid ? entry_of(s, H_CONV, c->hid) : NULL;

	if (!h && !c->hid) {
		h = entry_new(s, H_CONV);
		if (!h)
			return;
		c->hid = h->serial;
		h->incoming = h->last_in = c->incoming;
	}
	if (!h)
		return; /* pruned: the conversation outlived its entry */
	h->n = c->n;
	h->accepted = c->accepted;
	h->ended = c->ended;
	(void)re_snprintf(h->peer, sizeof(h->peer), "%s", c->peer);
	(void)re_snprintf(h->subject, sizeof(h->subject), "%s", c->subject);
	write_entry(s, h);
	prune(s, H_CONV);
}

void session_hist_message(struct session *s, uint64_t hid, bool incoming,
			  const char *text, size_t len, uint64_t time_ms,
			  uint64_t seq)
{
	struct hentry *h = entry_of(s, H_CONV, hid);

	/* an event already counted comes back after a restart */
	if (!h || (incoming && seq && seq <= h->lastseq))
		return;
	if (incoming && seq) {
		h->lastseq = seq;
		if (!h->firstseq && !h->count)
			h->firstseq = seq;
	}
	++h->count;
	h->last = time_ms;
	h->last_in = incoming;
	keep_text(h->text, text, len);
	/* the list stays in the order of last activity */
	list_unlink(&h->le);
	list_append(&s->hist, &h->le, h);
	write_entry(s, h);
}

int session_history_add(struct session *s, const char *type, const char *from,
			uint64_t time_ms, const char *text, uint64_t seq)
{
	struct hentry *h;
	struct le *le;

	if (!s || !type || !from || strlen(type) >= sizeof(h->type))
		return EINVAL;
	/* the same event again (restored): recorded once */
	for (le = s->hist.head; seq && le; le = le->next) {
		h = le->data;
		if (h->kind == H_MISSED && h->seq == seq)
			return 0;
	}
	h = entry_new(s, H_MISSED);
	if (!h)
		return ENOMEM;
	h->first = h->last = time_ms;
	h->seq = seq;
	h->incoming = true;
	(void)re_snprintf(h->type, sizeof(h->type), "%s", type);
	(void)re_snprintf(h->peer, sizeof(h->peer), "%s", from);
	if (text)
		keep_text(h->text, text, strlen(text));
	write_entry(s, h);
	prune(s, H_MISSED);
	return 0;
}

void hist_acked(struct session *s, uint64_t mark)
{
	struct le *le = s->hist.head;

	/* the app has these events now: they are no longer missed */
	while (le) {
		struct hentry *h = le->data;

		le = le->next;
		if (h->kind == H_MISSED && h->seq && h->seq <= mark)
			drop(s, h);
	}
}

/* FNV-1a, 64 bits, of the sender and the text: what a copy must match. */
static uint64_t msg_hash(const char *from, const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *s;

	for (s = from; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull; /* no byte of UTF-8 text */
	for (s = text; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* A new uncertain entry for event seq, arrived at time_ms (not written). */
static struct hentry *uncertain_new(struct session *s, uint64_t seq,
				    const char *from, const char *text,
				    uint64_t time_ms)
{
	struct hentry *h = mem_zalloc(sizeof(*h), NULL);

	if (!h)
		return NULL;
	h->kind = H_UNCERTAIN;
	h->serial = seq;
	h->first = h->last = time_ms;
	h->hash = msg_hash(from, text);
	(void)re_snprintf(h->peer, sizeof(h->peer), "%s", from);
	list_append(&s->hist, &h->le, h);
	return h;
}

void session_hist_uncertain(struct session *s, uint64_t seq, const char *from,
			    const char *text, uint64_t time_ms)
{
	/* keyed by the event: the same message again (restored once more)
	 * is one entry; one kept for a copy's Date gains the window */
	struct hentry *h = entry_of(s, H_UNCERTAIN, seq);

	if (h && h->window)
		return;
	if (!h)
		h = uncertain_new(s, seq, from, text, time_ms);
	if (!h)
		return;
	h->window = true;
	write_entry(s, h);
	prune(s, H_UNCERTAIN);
}

void session_hist_copy(struct session *s, uint64_t seq, const char *from,
		       const char *text, uint64_t date_ms)
{
	struct hentry *h = entry_of(s, H_UNCERTAIN, seq);

	if (!h)
		h = uncertain_new(s, seq, from, text, session_now_ms());
	if (!h)
		return;
	h->date = date_ms;
	write_entry(s, h);
	prune(s, H_UNCERTAIN);
}

bool session_hist_redelivered(struct session *s, const char *from,
			      const char *text, uint64_t date_ms)
{
	uint64_t hash = msg_hash(from, text);
	struct le *le;

	for (le = s->hist.head; le; le = le->next) {
		struct hentry *h = le->data;

		if (h->kind != H_UNCERTAIN || h->hash != hash)
			continue;
		/* the very copy we took (its Date is when the Front End
		 * stored it): kept, as a store that failed to forget it
		 * brings it again at every REGISTER */
		if (h->date && h->date == date_ms)
			return true;
		if (h->window &&
		    h->first <= date_ms + SESSION_REDELIVERY_WINDOW_MS &&
		    date_ms <= h->first + SESSION_REDELIVERY_WINDOW_MS) {
			/* one copy each (a copy's Date stays known) */
			if (h->date) {
				h->window = false;
				write_entry(s, h);
			} else {
				drop(s, h);
			}
			return true;
		}
	}
	return false;
}

void hist_close(struct session *s)
{
	s->restore_op = mem_deref(s->restore_op);
	list_flush(&s->hist);
}

/*
 * Restart
 */

/* Entries sorted by their last time, oldest first (the order of
 * s->hist that prune and the answer rely on). */
static void insert_sorted(struct session *s, struct hentry *h)
{
	struct le *le;

	for (le = s->hist.tail; le; le = le->prev) {
		const struct hentry *o = le->data;
		if (o->last <= h->last) {
			list_insert_after(&s->hist, le, &h->le, h);
			return;
		}
	}
	list_prepend(&s->hist, &h->le, h);
}

static bool rec_u64(const struct repr_in *in, const char *k, uint64_t *v)
{
	int64_t x;

	if (repr_in_int(in, k, &x) || x < 0)
		return false;
	*v = (uint64_t)x;
	return true;
}

static bool hist_record(const uint8_t *k, size_t klen, const uint8_t *val,
			size_t len, void *arg)
{
	struct session *s = arg;
	const struct pl body = {(const char *)val, len};
	struct repr_in *in = NULL;
	struct hentry *h = NULL;
	const char *why;
	struct pl v, ks = {(const char *)k + 1, klen ? klen - 1 : 0};
	uint64_t x;

	if (klen != 17 || !k[0] || !strchr(kind_char, k[0]) ||
	    repr_in_json(&in, &body, &why))
		goto bad;
	h = mem_zalloc(sizeof(*h), NULL);
	if (!h)
		goto bad;
	h->kind = (enum hkind)(strchr(kind_char, k[0]) - kind_char);
	h->serial = pl_x64(&ks);
	if (!rec_u64(in, "first", &h->first) || repr_in_str(in, "peer", &v) ||
	    v.l > SESSION_URI_MAX)
		goto bad;
	(void)pl_strcpy(&v, h->peer, sizeof(h->peer));
	if (!repr_in_str(in, "text", &v))
		keep_text(h->text, v.p, v.l);
	h->incoming = rec_u64(in, "in", &x) && x;
	h->last = h->first;
	if (h->kind == H_CONV) {
		(void)rec_u64(in, "last", &h->last);
		(void)rec_u64(in, "firstSeq", &h->firstseq);
		(void)rec_u64(in, "lastSeq", &h->lastseq);
		h->n = rec_u64(in, "n", &x) && x < 1000000 ? (unsigned)x : 0;
		h->count = rec_u64(in, "count", &x) ? (unsigned)x : 0;
		h->last_in = rec_u64(in, "lastIn", &x) && x;
		h->accepted = rec_u64(in, "accepted", &x) && x;
		h->ended = rec_u64(in, "ended", &x) && x;
		if (!repr_in_str(in, "subject", &v) && v.l < sizeof(h->subject))
			(void)pl_strcpy(&v, h->subject, sizeof(h->subject));
		if (!h->n)
			goto bad;
	} else if (h->kind == H_MISSED) {
		if (repr_in_str(in, "type", &v) || v.l >= sizeof(h->type))
			goto bad;
		(void)pl_strcpy(&v, h->type, sizeof(h->type));
		(void)rec_u64(in, "seq", &h->seq);
	} else {
		if (repr_in_str(in, "hash", &v) || v.l != 16)
			goto bad;
		h->hash = pl_x64(&v);
		/* records written before copies were kept had only the
		 * window */
		h->window = !rec_u64(in, "window", &x) || x;
		(void)rec_u64(in, "date", &h->date);
	}
	/* uncertain entries are keyed by their event, not a serial */
	if (h->kind != H_UNCERTAIN && h->serial > s->hist_serial)
		s->hist_serial = h->serial;
	insert_sorted(s, h);
	h = NULL;
	goto out;

bad:
	log_warn("ucwa: history entry %b of %s not restored", k, klen, sid(s));
out:
	mem_deref(h);
	mem_deref(in);
	return false;
}

static void hist_listed(int err, void *arg)
{
	struct session *s = arg;

	s->restore_op = mem_deref(s->restore_op);
	if (err)
		log_warn("ucwa: history of %s not read: %m", sid(s), err);

	session_hist_prune(s);
	/* the layer above brings its conversations back from it */
	s->ctx->ops->hist_restored(s);
}

int session_hist_restore(struct session *s)
{
	return store_hist_list(s->ctx->st, sid(s), hist_record, hist_listed, s,
			       &s->restore_op);
}
