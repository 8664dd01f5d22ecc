/**
 * @file evchan.c  Event channel: batches, acks, the parked P-GET
 */
#include <string.h>
#include <re.h>
#include "api.h"
#include "evchan.h"

/* A posted event, owned by the channel (copies of the caller's strings). */
struct pev {
	struct le le;
	enum evchan_prio prio;
	uint64_t mark;
	char *sender_rel, *sender_href, *type, *rel, *href;
	char *in_rel, *in_href, *status;
	struct repr *emb;
};

struct evchan {
	struct wheel *wheel;
	char *href;
	uint64_t batch;      /* number of the batch last issued     */
	struct list sent;    /* its events, until acknowledged      */
	struct list pending; /* events not in a batch yet           */
	size_t npending;
	bool overflow;        /* pending hit its limit: resync next  */
	struct web_req *pget; /* the parked request (reference)      */
	uint32_t low_ms, medium_ms;
	struct wheel_entry tmo; /* timeout of the parked request     */
	struct wheel_entry agg; /* aggregation of medium/low events  */
	evchan_ack_h *ackh;
	void *ack_arg;
	evchan_save_h *saveh;
	void *save_arg;
	uint64_t saved_mark;  /* marks up to it are in a saved batch     */
	uint64_t saving_mark; /* the batch being saved holds up to it    */
	bool saving;          /* a batch waits for evchan_saved()        */
	struct web_req *sreq; /* its request, until saved (reference)    */
	struct web_req *held; /* a newer P-GET waiting for the save      */
	bool restored;        /* evchan_restore() ran; no P-GET since    */
	/* The numbering of batch ahead_batch (0: none) the owner may have
	 * made durable before that batch was issued: written ahead by
	 * evchan_reserve() (ahead_mark), or by a save that failed (its
	 * record may still reach the store with a later write). That batch
	 * may go out without a save only as exactly (ahead_batch,
	 * ahead_mark) once known durable; anything else is saved over it
	 * first (evchan_restore(): the app acks what it was given). */
	uint64_t ahead_batch;
	uint64_t ahead_mark;
	bool ahead_durable;   /* the reservation's write completed         */
	bool ahead_dirty;     /* a write of it failed: unknown, save first */
	bool reserving;       /* the reservation's write is in flight      */
	uint64_t unparked_ms; /* tmr_jiffies() a P-GET last ended, or 0  */
};

static void pev_destructor(void *arg)
{
	struct pev *e = arg;

	list_unlink(&e->le);
	mem_deref(e->sender_rel);
	mem_deref(e->sender_href);
	mem_deref(e->type);
	mem_deref(e->rel);
	mem_deref(e->href);
	mem_deref(e->in_rel);
	mem_deref(e->in_href);
	mem_deref(e->status);
	mem_deref(e->emb);
}

static void release_pget(struct evchan *ch)
{
	if (ch->pget)
		ch->unparked_ms = tmr_jiffies();
	wheel_cancel(&ch->tmo);
	wheel_cancel(&ch->agg);
	if (ch->pget) {
		web_req_set_cancel(ch->pget, NULL, NULL);
		ch->pget = mem_deref(ch->pget);
	}
}

/* 404 ApplicationNotFound to a request still waiting (or NULL). */
static void ended(struct web_req *req)
{
	if (req && web_req_connected(req))
		api_reply_error(req, 404, NULL, "NotFound",
				"ApplicationNotFound",
				"the application has ended");
}

/* 503 to a request still waiting (or NULL): ask again, elsewhere. */
static void moved(struct web_req *req)
{
	if (req && web_req_connected(req))
		api_reply_error_hdrs(req, 503, NULL, "ServiceFailure", NULL,
				     "the application moved; try again",
				     "Retry-After: 1\r\n");
}

void evchan_moved(struct evchan *ch)
{
	if (!ch)
		return;
	moved(ch->pget);
	release_pget(ch);
	if (ch->sreq)
		web_req_set_cancel(ch->sreq, NULL, NULL);
	if (ch->held)
		web_req_set_cancel(ch->held, NULL, NULL);
	moved(ch->sreq);
	moved(ch->held);
	ch->sreq = mem_deref(ch->sreq);
	ch->held = mem_deref(ch->held);
}

static void destructor(void *arg)
{
	struct evchan *ch = arg;

	/* the application ends: a parked P-GET learns it at once, and so
	 * do one waiting for its batch to be saved and one held behind it
	 * (the save's answer will not come) */
	ended(ch->pget);
	release_pget(ch);
	if (ch->sreq)
		web_req_set_cancel(ch->sreq, NULL, NULL);
	if (ch->held)
		web_req_set_cancel(ch->held, NULL, NULL);
	ended(ch->sreq);
	ended(ch->held);
	mem_deref(ch->sreq);
	mem_deref(ch->held);
	list_flush(&ch->sent);
	list_flush(&ch->pending);
	mem_deref(ch->wheel);
	mem_deref(ch->href);
}

int evchan_alloc(struct evchan **chp, struct wheel *w, const char *href)
{
	struct evchan *ch;
	int err;

	if (!chp || !w || !href)
		return EINVAL;

	ch = mem_zalloc(sizeof(*ch), destructor);
	if (!ch)
		return ENOMEM;

	ch->wheel = mem_ref(w);
	ch->low_ms = EVCHAN_LOW_DEFAULT * 1000;
	ch->medium_ms = EVCHAN_MEDIUM_DEFAULT * 1000;
	err = str_dup(&ch->href, href);
	if (err)
		mem_deref(ch);
	else
		*chp = ch;
	return err;
}

/* Answer req with batch n (the events of ch->sent) or only a link. */
static void reply_batch(struct evchan *ch, struct web_req *req, uint64_t n,
			const char *link_rel, uint64_t link_ack)
{
	struct repr_events *e = NULL;
	char self[512], link[512];
	struct le *le;
	int err;

	err = repr_href(self, sizeof(self), ch->href, "?ack=%llu",
			(unsigned long long)n);
	err |= repr_href(link, sizeof(link), ch->href, "?ack=%llu",
			 (unsigned long long)link_ack);
	if (!err)
		err = repr_events_alloc(&e, self);
	if (!err)
		err = repr_events_link(e, link_rel, link);

	for (le = ch->sent.head; !err && le && !strcmp(link_rel, "next");
	     le = le->next) {
		const struct pev *p = le->data;
		struct repr_event ev = {
		    .sender_rel = p->sender_rel,
		    .sender_href = p->sender_href,
		    .type = p->type,
		    .rel = p->rel,
		    .href = p->href,
		    .in_rel = p->in_rel,
		    .in_href = p->in_href,
		    .status = p->status,
		    .embedded = p->emb,
		};
		err = repr_events_add(e, &ev);
	}

	if (err)
		web_reply_text(req, 500, NULL, "could not build the events");
	else
		api_reply_events(req, e);
	mem_deref(e);
}

/* The highest mark of the batch issued (0: none). */
static uint64_t sent_mark(const struct evchan *ch)
{
	uint64_t mark = 0;
	struct le *le;

	for (le = ch->sent.head; le; le = le->next) {
		const struct pev *p = le->data;
		if (p->mark > mark)
			mark = p->mark;
	}
	return mark;
}

/* The client has the events of the batch issued: drop them, and tell the
 * owner the highest mark among them. */
static void ack_sent(struct evchan *ch)
{
	uint64_t mark = sent_mark(ch);

	list_flush(&ch->sent);
	if (mark && ch->ackh)
		ch->ackh(mark, ch->ack_arg);
}

void evchan_set_ack_handler(struct evchan *ch, evchan_ack_h *h, void *arg)
{
	if (!ch)
		return;
	ch->ackh = h;
	ch->ack_arg = arg;
}

void evchan_set_save_handler(struct evchan *ch, evchan_save_h *h, void *arg)
{
	if (!ch)
		return;
	ch->saveh = h;
	ch->save_arg = arg;
}

int evchan_restore(struct evchan *ch, uint64_t batch, uint64_t mark)
{
	struct le *le;

	if (!ch || ch->batch || ch->pget || ch->saving || ch->reserving ||
	    batch > UINT64_MAX / 2)
		return EINVAL;

	/* the events of the saved batch (marked up to its mark) are that
	 * batch again, in their order; the rest stays pending */
	le = ch->pending.head;
	while (le) {
		struct pev *p = le->data;

		le = le->next;
		if (p->mark && p->mark <= mark) {
			list_unlink(&p->le);
			list_append(&ch->sent, &p->le, p);
			--ch->npending;
		}
	}
	ch->batch = batch;
	ch->saved_mark = mark;
	ch->restored = true;
	return 0;
}

/* Move every element of src to the end of dst (the elements must learn
 * their new list: a struct list cannot be copied). */
static void move_all(struct list *dst, struct list *src)
{
	struct le *le;

	while ((le = list_head(src)) != NULL) {
		list_unlink(le);
		list_append(dst, le, le->data);
	}
}

/* Take the events of the batch issued back: they are pending again,
 * before the newer ones. */
static void unissue(struct evchan *ch)
{
	struct list tmp = LIST_INIT;

	move_all(&tmp, &ch->pending);
	move_all(&ch->pending, &ch->sent);
	move_all(&ch->pending, &tmp);
	ch->npending = list_count(&ch->pending);
}

static void saving_cancel(struct web_req *req, void *arg)
{
	struct evchan *ch = arg;

	(void)req;
	/* the app left: the batch is still saved, and asked again */
	ch->sreq = mem_deref(ch->sreq);
}

static void held_cancel(struct web_req *req, void *arg)
{
	struct evchan *ch = arg;

	(void)req;
	ch->held = mem_deref(ch->held);
}

/* Make the batch issued durable as (ch->batch, mark) before req sees it
 * (evchan_saved answers). */
static void start_save(struct evchan *ch, struct web_req *req, uint64_t mark)
{
	ch->saving = true;
	ch->saving_mark = mark;
	ch->sreq = req;
	web_req_set_cancel(req, saving_cancel, ch);
	if (ch->saveh(ch->batch, mark, ch->save_arg))
		evchan_saved(ch, EIO);
}

/* Make batch batch+1 of everything pending and answer the parked P-GET;
 * when the batch holds marked events the owner has not saved yet, the
 * answer waits for the owner to make the batch durable (evchan_saved):
 * what an app was given must be what a restart gives again. */
static void issue_batch(struct evchan *ch)
{
	struct web_req *req = ch->pget;
	uint64_t mark;

	ch->pget = NULL;
	ch->unparked_ms = tmr_jiffies();
	wheel_cancel(&ch->tmo);
	wheel_cancel(&ch->agg);
	web_req_set_cancel(req, NULL, NULL);

	list_flush(&ch->sent);
	move_all(&ch->sent, &ch->pending);
	ch->npending = 0;
	++ch->batch;

	mark = sent_mark(ch);
	if (ch->ahead_batch == ch->batch) {
		if (ch->ahead_durable && !ch->reserving && !ch->ahead_dirty &&
		    mark == ch->ahead_mark) {
			/* written ahead with its events: no second commit */
			ch->saved_mark = mark;
			ch->ahead_batch = 0;
			ch->ahead_durable = false;
			reply_batch(ch, req, ch->batch, "next", ch->batch + 1);
			mem_deref(req);
			return;
		}
		/* Another batch under that number (a timeout, an event
		 * posted before the reserved one, a failed write): if the
		 * numbering written ahead stayed, a restart would count
		 * events in it that the app was not given, and its next
		 * ack would drop them. A save written after it wins (the
		 * store commits in order), even for a batch without new
		 * marks. */
		start_save(ch, req,
			   mark > ch->saved_mark ? mark : ch->saved_mark);
		return;
	}
	if (ch->saveh && mark > ch->saved_mark) {
		start_save(ch, req, mark);
		return;
	}

	reply_batch(ch, req, ch->batch, "next", ch->batch + 1);
	mem_deref(req);
}

int evchan_reserve(struct evchan *ch, uint64_t mark, uint64_t *batchp)
{
	if (!ch || !mark || !batchp)
		return EINVAL;
	/* only for an answer that the event will give at once; one at a
	 * time (a second one would have to know the first's fate) */
	if (!ch->saveh || !ch->pget || ch->saving || ch->reserving ||
	    ch->overflow || mark <= ch->saved_mark)
		return EBUSY;

	/* this write is issued after every earlier write of the
	 * numbering: once it is committed, it is what the store holds */
	ch->ahead_batch = ch->batch + 1;
	ch->ahead_mark = mark;
	ch->ahead_durable = false;
	ch->ahead_dirty = false;
	ch->reserving = true;
	*batchp = ch->ahead_batch;
	return 0;
}

void evchan_reserved(struct evchan *ch, int err)
{
	if (!ch || !ch->reserving)
		return;
	ch->reserving = false;
	if (err)
		ch->ahead_dirty = true;
	else
		ch->ahead_durable = true;
	/* nothing to answer here: the reserved event is posted when its
	 * own write completes (the same commit, or a later one) */
}

void evchan_saved(struct evchan *ch, int err)
{
	struct web_req *req, *held;

	if (!ch || !ch->saving)
		return;
	ch->saving = false;
	req = ch->sreq;
	ch->sreq = NULL;
	if (req)
		web_req_set_cancel(req, NULL, NULL);

	if (err) {
		/* not durable: the app must not see it, and its number is
		 * free again; the app asks again. The owner's record holds
		 * that numbering now and may still write it with another
		 * change: that number goes out only after a save. */
		if (ch->ahead_batch != ch->batch) {
			ch->ahead_batch = ch->batch;
			ch->ahead_mark = ch->saving_mark;
			ch->ahead_durable = false;
		}
		ch->ahead_dirty = true;
		unissue(ch);
		--ch->batch;
		if (req)
			api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
					"the events could not be stored; "
					"ask again");
	} else {
		ch->saved_mark = ch->saving_mark;
		/* written after whatever was written ahead: it wins */
		if (ch->ahead_batch == ch->batch && !ch->reserving) {
			ch->ahead_batch = 0;
			ch->ahead_durable = ch->ahead_dirty = false;
		}
		if (req)
			reply_batch(ch, req, ch->batch, "next", ch->batch + 1);
	}
	mem_deref(req);

	/* a P-GET that came meanwhile is served now, as it would have
	 * been */
	held = ch->held;
	ch->held = NULL;
	if (held) {
		web_req_set_cancel(held, NULL, NULL);
		evchan_get(ch, held);
		mem_deref(held);
	}
}

static void tmo_handler(void *arg)
{
	issue_batch(arg); /* an empty batch, or what aggregation holds */
}

static void agg_handler(void *arg)
{
	issue_batch(arg);
}

static void cancel_handler(struct web_req *req, void *arg)
{
	struct evchan *ch = arg;

	(void)req;
	/* the app went away: its events stay pending for the next P-GET */
	release_pget(ch);
}

/* Strict decimal, bounded. */
static bool parse_u64(const struct pl *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (!v->l || v->l > 19)
		return false;
	for (i = 0; i < v->l; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v->p[i] - '0');
	}
	if (x > max)
		return false;
	*out = x;
	return true;
}

struct params {
	uint64_t ack, timeout, low, medium;
	bool has_ack;
	char why[64]; /* a refusal that states the limit passed */
};

/* "name must be min to max seconds" in p->why, which it returns */
static const char *range_why(struct params *p, const char *name, unsigned min,
			     unsigned max)
{
	(void)re_snprintf(p->why, sizeof(p->why), "%s must be %u to %u seconds",
			  name, min, max);
	return p->why;
}

/* The query's parameters into p: NULL, or why not (held by p or static) */
static const char *parse_params(const struct pl *query, struct params *p)
{
	static const char *const names[] = {"ack", "timeout", "low", "medium"};
	struct pl s = *query, val;
	int i;

	p->has_ack = false;
	p->ack = 0;
	p->timeout = EVCHAN_TIMEOUT_DEFAULT;
	p->low = p->medium = UINT64_MAX;

	while ((i = text_param_next(&s, names, ARRAY_SIZE(names), &val)) >= 0) {
		switch (i) {

		case 0:
			if (!parse_u64(&val, UINT64_MAX / 2, &p->ack))
				return "ack must be a batch number";
			p->has_ack = true;
			break;

		case 1:
			if (!parse_u64(&val, EVCHAN_TIMEOUT_MAX, &p->timeout) ||
			    p->timeout < EVCHAN_TIMEOUT_MIN)
				return range_why(p, "timeout",
						 EVCHAN_TIMEOUT_MIN,
						 EVCHAN_TIMEOUT_MAX);
			break;

		case 2:
			if (!parse_u64(&val, EVCHAN_INTERVAL_MAX, &p->low))
				return range_why(p, "low", 0,
						 EVCHAN_INTERVAL_MAX);
			break;

		default:
			if (!parse_u64(&val, EVCHAN_INTERVAL_MAX, &p->medium))
				return range_why(p, "medium", 0,
						 EVCHAN_INTERVAL_MAX);
			break;
		}
	}
	return NULL;
}

static void replaced(struct web_req *req)
{
	api_reply_error(req, 409, NULL, "Conflict", "PGetReplaced",
			"a newer request for events replaced this one");
}

void evchan_get(struct evchan *ch, struct web_req *req)
{
	struct params p;
	const char *why;

	if (!ch || !req)
		return;

	why = parse_params(web_req_query(req), &p);
	if (why) {
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure", why);
		return;
	}

	if (ch->saving) {
		/* the batch issued is not durable yet: whatever this asks
		 * for is answered once it is (the newer one wins) */
		if (ch->held) {
			struct web_req *old = ch->held;
			ch->held = NULL;
			web_req_set_cancel(old, NULL, NULL);
			replaced(old);
			mem_deref(old);
		}
		ch->held = mem_ref(req);
		web_req_set_cancel(req, held_cancel, ch);
		return;
	}

	/* one P-GET per application: the newer one wins (UCWA) */
	if (ch->pget) {
		struct web_req *old = ch->pget;
		ch->pget = NULL;
		release_pget(ch);
		replaced(old);
		mem_deref(old);
	}

	if (p.low != UINT64_MAX)
		ch->low_ms = (uint32_t)p.low * 1000;
	if (p.medium != UINT64_MAX)
		ch->medium_ms = (uint32_t)p.medium * 1000;

	if (ch->restored && p.has_ack && p.ack > ch->batch + 1) {
		/* The first P-GET after a restart, from an app that had
		 * batches after the last one saved: those held no marked
		 * event, and asking for ack-1's successor means the saved
		 * batch was acknowledged. The numbering the app holds
		 * goes on; what is pending is its next batch. */
		ack_sent(ch);
		ch->batch = p.ack - 1;
	}

	if (ch->overflow || !p.has_ack ||
	    (p.ack != ch->batch && p.ack != ch->batch + 1) ||
	    (p.ack == ch->batch && ch->batch == 0)) {
		/* Out of range (or events were dropped): the client must
		 * read its state again; following the resync link
		 * acknowledges whatever was issued. */
		if (ch->overflow) {
			list_flush(&ch->pending);
			ch->npending = 0;
			ch->overflow = false;
		} else if (ch->restored && !list_isempty(&ch->sent)) {
			/* what a restart brought back is delivered after
			 * the resync, not dropped with it */
			unissue(ch);
		}
		ch->restored = false;
		reply_batch(ch, req, p.has_ack ? p.ack : 0, "resync",
			    ch->batch + 1);
		return;
	}
	ch->restored = false;

	if (p.ack == ch->batch) {
		/* the answer to this batch was lost: the same again */
		reply_batch(ch, req, ch->batch, "next", ch->batch + 1);
		return;
	}

	/* ack = batch + 1: batch is acknowledged, its events are gone */
	ack_sent(ch);

	ch->pget = mem_ref(req);
	web_req_set_cancel(req, cancel_handler, ch);

	if (ch->npending) {
		/* the app was away: everything it missed, now */
		issue_batch(ch);
		return;
	}
	wheel_start(ch->wheel, &ch->tmo, p.timeout * 1000, tmo_handler, ch);
}

/* Copy an optional string (false only if a copy failed). */
static bool dup_opt(char **dst, const char *s)
{
	return !s || !str_dup(dst, s);
}

/* Remove a pending "updated" event for the same resource: the new one
 * carries the latest state. */
static void merge(struct evchan *ch, const struct repr_event *ev)
{
	struct le *le;

	if (strcmp(ev->type, "updated"))
		return;

	for (le = ch->pending.head; le; le = le->next) {
		struct pev *p = le->data;

		if (!strcmp(p->type, "updated") && !strcmp(p->href, ev->href) &&
		    !strcmp(p->sender_href, ev->sender_href)) {
			mem_deref(p);
			--ch->npending;
			return;
		}
	}
}

int evchan_post(struct evchan *ch, const struct evchan_event *in)
{
	const struct repr_event *ev;
	struct pev *p;
	uint64_t delay;

	if (!ch || !in)
		return EINVAL;
	ev = &in->ev;
	if (!ev->sender_rel || !ev->sender_href || !ev->type || !ev->rel ||
	    !ev->href)
		return EINVAL;

	merge(ch, ev);

	if (ch->npending >= EVCHAN_PENDING_MAX) {
		/* an app that never comes back must not grow us without
		 * bound: it will resync instead */
		ch->overflow = true;
		return EOVERFLOW;
	}

	p = mem_zalloc(sizeof(*p), pev_destructor);
	if (!p)
		return ENOMEM;
	p->prio = in->prio;
	p->mark = in->mark;
	if (!dup_opt(&p->sender_rel, ev->sender_rel) ||
	    !dup_opt(&p->sender_href, ev->sender_href) ||
	    !dup_opt(&p->type, ev->type) || !dup_opt(&p->rel, ev->rel) ||
	    !dup_opt(&p->href, ev->href) ||
	    !dup_opt(&p->in_rel, ev->in_href ? ev->in_rel : NULL) ||
	    !dup_opt(&p->in_href, ev->in_rel ? ev->in_href : NULL) ||
	    !dup_opt(&p->status, ev->status)) {
		mem_deref(p);
		return ENOMEM;
	}
	p->emb = mem_ref(ev->embedded);
	list_append(&ch->pending, &p->le, p);
	++ch->npending;

	if (!ch->pget)
		return 0; /* also while a batch is being saved */

	if (in->prio == EVCHAN_HIGH) {
		issue_batch(ch);
		return 0;
	}

	/* medium and low events travel together: answer when the earliest
	 * of their intervals has passed */
	delay = in->prio == EVCHAN_MEDIUM ? ch->medium_ms : ch->low_ms;
	if (!wheel_isrunning(&ch->agg) ||
	    wheel_remaining(ch->wheel, &ch->agg) > delay)
		wheel_start(ch->wheel, &ch->agg, delay, agg_handler, ch);
	return 0;
}

uint64_t evchan_batch(const struct evchan *ch)
{
	return ch ? ch->batch : 0;
}

bool evchan_room(const struct evchan *ch, size_t n)
{
	return ch && ch->npending + n <= EVCHAN_PENDING_MAX;
}

bool evchan_parked(const struct evchan *ch)
{
	return ch && ch->pget;
}

uint64_t evchan_last_parked(const struct evchan *ch)
{
	if (!ch)
		return 0;
	/* a request waiting for a save or held meanwhile is still with us */
	if (ch->pget || ch->sreq || ch->held)
		return tmr_jiffies();
	return ch->unparked_ms;
}
