/**
 * @file wheel.c  Hashed timer wheel driven by one libre timer
 *
 * Entries hash into slots by their expiry tick. An entry further away than
 * one turn of the wheel stays in its slot and is skipped until its turn
 * comes ("rounds" are implicit in the absolute expiry tick). Start and
 * cancel are O(1); each tick visits one slot.
 *
 * An entry started with no delay does not wait for the next tick: it goes
 * to a list of its own that the next loop turn fires (a REGISTER or a
 * PUBLISH sent "now" would otherwise wait up to one tick, which dominated
 * the time of a sign-in).
 */
#include <re.h>
#include "core.h"

struct wheel {
	struct list *slotv; /* slot lists of struct wheel_entry    */
	struct list now;    /* entries started with no delay       */
	uint32_t mask;      /* slots - 1                           */
	uint32_t tick_ms;   /* resolution                          */
	uint64_t cur;       /* last tick processed                 */
	uint64_t now_ms;    /* last time seen (fake time in tests) */
	size_t count;       /* running entries                     */
	bool drive;         /* driven by tmr below                 */
	struct tmr tmr;
};

static void tick_handler(void *arg);

static void destructor(void *arg)
{
	struct wheel *w = arg;
	struct le *le;
	uint32_t i;

	tmr_cancel(&w->tmr);

	/* Entries belong to their owners: unlink them so that a later
	 * wheel_cancel() by an owner does not touch freed memory. */
	for (i = 0; i <= w->mask; i++) {
		while ((le = list_head(&w->slotv[i])))
			list_unlink(le);
	}
	while ((le = list_head(&w->now)))
		list_unlink(le);
	mem_deref(w->slotv);
}

int wheel_alloc(struct wheel **wp, uint32_t tick_ms, uint32_t slots, bool drive)
{
	struct wheel *w;

	if (!wp || !tick_ms || !slots || (slots & (slots - 1)))
		return EINVAL;

	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;

	w->slotv = mem_zalloc(slots * sizeof(*w->slotv), NULL);
	if (!w->slotv) {
		mem_deref(w);
		return ENOMEM;
	}

	w->mask = slots - 1;
	w->tick_ms = tick_ms;
	w->drive = drive;
	tmr_init(&w->tmr);

	if (drive) {
		w->now_ms = tmr_jiffies();
		w->cur = w->now_ms / tick_ms;
	}

	*wp = w;
	return 0;
}

static uint64_t now_ms(struct wheel *w)
{
	/* A driven wheel reads the clock so that a deadline started long
	 * after the last tick is measured from the real now. */
	if (w->drive)
		w->now_ms = tmr_jiffies();

	return w->now_ms;
}

void wheel_start(struct wheel *w, struct wheel_entry *e, uint64_t delay_ms,
		 wheel_h *h, void *arg)
{
	uint64_t expires;

	if (!w || !e || !h)
		return;

	wheel_cancel(e);

	if (!w->count) {
		/* Idle wheel: nothing is pending, so skipping the ticks we
		 * did not run is safe and avoids a catch-up loop. */
		uint64_t t = now_ms(w) / w->tick_ms;
		if (t > w->cur)
			w->cur = t;
	}

	if (!delay_ms) {
		/* Due at once: fired by the next wheel_advance(), which a
		 * driven wheel runs on the next loop turn. Never inside this
		 * call (a handler may be starting its own entry). */
		e->expires = now_ms(w) / w->tick_ms;
		e->h = h;
		e->arg = arg;
		list_append(&w->now, &e->le, w);
		++w->count;
		if (w->drive)
			tmr_start(&w->tmr, 0, tick_handler, w);
		return;
	}

	/* Round up: never fire before the requested delay. */
	expires = (now_ms(w) + delay_ms + w->tick_ms - 1) / w->tick_ms;
	if (expires <= w->cur)
		expires = w->cur + 1;

	e->expires = expires;
	e->h = h;
	e->arg = arg;
	list_append(&w->slotv[expires & w->mask], &e->le, w);
	++w->count;

	if (w->drive && !tmr_isrunning(&w->tmr))
		tmr_start(&w->tmr, w->tick_ms, tick_handler, w);
}

void wheel_cancel(struct wheel_entry *e)
{
	struct wheel *w;

	if (!e || !e->le.list)
		return;

	w = e->le.data;
	list_unlink(&e->le);
	--w->count;
}

bool wheel_isrunning(const struct wheel_entry *e)
{
	return e && e->le.list != NULL;
}

uint64_t wheel_remaining(const struct wheel *w, const struct wheel_entry *e)
{
	uint64_t at;

	if (!w || !wheel_isrunning(e))
		return 0;

	at = e->expires * w->tick_ms;
	return at > w->now_ms ? at - w->now_ms : 0;
}

size_t wheel_count(const struct wheel *w)
{
	return w ? w->count : 0;
}

/* Move every entry of one slot that is due by tick into the list due. */
static void collect(struct wheel *w, struct list *slot, uint64_t tick,
		    struct list *due)
{
	struct le *le = list_head(slot);

	while (le) {
		/* le is the first member: the entry's data is the wheel */
		struct wheel_entry *e = (struct wheel_entry *)le;
		struct le *next = le->next;

		if (e->expires <= tick) {
			list_unlink(le);
			list_append(due, le, w);
		}
		le = next;
	}
}

void wheel_advance(struct wheel *w, uint64_t now)
{
	struct list due = LIST_INIT;
	uint64_t target;
	struct le *le;

	if (!w)
		return;

	w->now_ms = now;

	/* entries started with no delay first, those started before this
	 * call only: one that restarts itself with no delay waits for the
	 * next call instead of spinning here */
	while ((le = list_head(&w->now))) {
		list_unlink(le);
		list_append(&due, le, w);
	}

	target = now / w->tick_ms;
	if (target <= w->cur)
		goto fire;

	if (target - w->cur > w->mask) {
		/* More than a turn behind (a stalled loop): one pass over
		 * every slot finds everything due. */
		uint32_t i;
		for (i = 0; i <= w->mask; i++)
			collect(w, &w->slotv[i], target, &due);
		w->cur = target;
	} else {
		while (w->cur < target) {
			++w->cur;
			collect(w, &w->slotv[w->cur & w->mask], w->cur, &due);
		}
	}

fire:
	/* Fire from a private list, one at a time from its head: a handler
	 * may cancel or restart any entry, including others still due. */
	while ((le = list_head(&due))) {
		struct wheel_entry *e = (struct wheel_entry *)le;
		list_unlink(le);
		--w->count;
		e->h(e->arg);
	}
}

static void tick_handler(void *arg)
{
	struct wheel *w = arg;

	/* Keep a reference: a handler may drop the last one elsewhere. */
	mem_ref(w);
	wheel_advance(w, tmr_jiffies());
	if (w->count && !tmr_isrunning(&w->tmr))
		tmr_start(&w->tmr, w->tick_ms, tick_handler, w);
	mem_deref(w);
}
