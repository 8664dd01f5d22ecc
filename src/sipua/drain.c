/**
 * @file drain.c  The paced removal of every registration, publication
 * and subscription when the service stops (SIGTERM)
 *
 * Sent at once, one removal per machine went into the one TLS flow to
 * the Front End faster than it read them: libre's send queue (512 KiB)
 * overflowed, SSL_write failed and most removals were lost, leaving
 * bindings and subscriptions to lapse on their own. Here each removal
 * takes a turn on the flow like any bulk request (ua.c): at most
 * SIPUA_INFLIGHT_MAX are outstanding, the next goes as an answer comes.
 *
 * Two phases: first the subscriptions and publications (un-SUBSCRIBE,
 * un-PUBLISH), then the registrations (un-REGISTER): a binding outlives
 * what was made over it. While draining, no new registration,
 * subscription or publication is taken, and refreshes stop with the
 * removal of each machine. When the drain is given up (deadline),
 * nothing more is sent, not even by the owners' destructors.
 *
 * Where a pool hands its sessions over instead of removing them, the
 * per-machine step (sipua_refresh_remove) is the place to change.
 */
#include <stddef.h>
#include "refresh.h"

enum {
	PHASE_OFF,
	PHASE_DIALOGS, /* subscriptions and publications  */
	PHASE_REGS,    /* registrations                   */
	PHASE_DONE,
};

static struct metric *m_counter(bool ok)
{
	return metrics_get(
	    METRIC_COUNTER, "mobility_sip_drain_removals_total",
	    ok ? "result=\"removed\"" : "result=\"failed\"",
	    "removals sent by the drain at shutdown "
	    "(un-REGISTER, un-PUBLISH, un-SUBSCRIBE), by result");
}

static void gauge_left(const struct sipua *ua)
{
	metric_set(metrics_get(METRIC_GAUGE, "mobility_sip_drain_left", NULL,
			       "removals of the shutdown drain queued or in "
			       "flight"),
		   ua->drain.left);
}

/* Due with a turn, or queued for one */
static void remove_fire(void *arg)
{
	struct sipua_refresh *rf = arg;
	int err;

	if (!rf->ua || !rf->removing || rf->ua->drain.stopped)
		return;
	if (!sipua_turn_take(rf->ua, &rf->turn, false, remove_fire, rf))
		return;

	err = rf->cls->removeh(rf->arg);
	if (!err) {
		rf->rm_sent = true;
		return;
	}
	sipua_refresh_removed(rf, err);
}

/* No refresh any more; an answer to the request in flight would
 * schedule one: forget it (libre ends its transaction). Closed. */
static void stop_here(struct sipua_refresh *rf)
{
	wheel_cancel(&rf->we);
	rf->treq = mem_deref(rf->treq);
	if (rf->cls->stoph)
		rf->cls->stoph(rf->arg);
	sipua_refresh_done(rf);
	rf->closed = true;
}

void sipua_refresh_remove(struct sipua_refresh *rf)
{
	if (!rf->ua || rf->closed || rf->removing || !rf->cls->removeh)
		return;

	stop_here(rf);
	rf->removing = true;
	++rf->ua->drain.left;
	remove_fire(rf);
}

void sipua_refresh_removed(struct sipua_refresh *rf, int err)
{
	if (!rf->removing)
		return;
	rf->removing = false;
	sipua_turn_done(rf->ua, &rf->turn);
	sipua_drain_count(rf->ua, err);
}

bool sipua_refresh_unremoved(const struct sipua_refresh *rf)
{
	return rf->ua && !rf->rm_sent && !rf->ua->drain.stopped;
}

static void drain_next(void *arg);

void sipua_drain_count(struct sipua *ua, int err)
{
	if (!ua->drain.left)
		return;
	--ua->drain.left;
	/* ENOENT: nothing to remove; ECANCELED: its owner went first */
	if (!err) {
		++ua->drain.removed;
		metric_add(m_counter(true), 1);
	} else if (err != ENOENT && err != ECANCELED) {
		++ua->drain.failed;
		metric_add(m_counter(false), 1);
		log_info("sipua: drain: a removal failed: %m", err);
	}
	gauge_left(ua);
	/* the next phase from the loop, not from an answer handler */
	if (!ua->drain.left && !tmr_isrunning(&ua->drain.tmr))
		tmr_start(&ua->drain.tmr, 0, drain_next, ua);
}

static void remove_all(struct list *l)
{
	struct le *le = l->head;

	/* entries stay in l (a removal answers later, from the loop) */
	while (le) {
		struct le *next = le->next;
		struct sipua_refresh *rf =
		    (struct sipua_refresh *)(void *)((char *)le -
						     offsetof(
							 struct sipua_refresh,
							 le));

		sipua_refresh_remove(rf);
		le = next;
	}
}

static void drain_next(void *arg)
{
	struct sipua *ua = arg;

	if (ua->drain.left || ua->drain.stopped)
		return;

	if (ua->drain.phase == PHASE_DIALOGS) {
		ua->drain.phase = PHASE_REGS;
		remove_all(&ua->regl);
		log_notice("sipua: drain: %u registrations to remove",
			   ua->drain.left);
		gauge_left(ua);
		tmr_start(&ua->drain.tmr, 0, drain_next, ua);
		return;
	}
	if (ua->drain.phase != PHASE_REGS)
		return;

	ua->drain.phase = PHASE_DONE;
	log_notice("sipua: drain done: %u removed, %u failed",
		   ua->drain.removed, ua->drain.failed);
	if (ua->drain.h)
		ua->drain.h(ua->drain.arg);
}

int sipua_drain(struct sipua *ua, sipua_drain_h *h, void *arg)
{
	if (!ua)
		return EINVAL;
	if (ua->drain.phase != PHASE_OFF)
		return EALREADY;

	ua->drain.h = h;
	ua->drain.arg = arg;
	ua->drain.phase = PHASE_DIALOGS;
	remove_all(&ua->subl);
	remove_all(&ua->publ);
	log_notice("sipua: drain: %u subscriptions and publications to remove",
		   ua->drain.left);
	gauge_left(ua);
	tmr_start(&ua->drain.tmr, 0, drain_next, ua);
	return 0;
}

void sipua_drain_stop(struct sipua *ua)
{
	if (!ua)
		return;
	ua->drain.stopped = true;
	tmr_cancel(&ua->drain.tmr);
}

bool sipua_draining(const struct sipua *ua)
{
	return ua && ua->drain.phase != PHASE_OFF;
}

uint32_t sipua_drain_left(const struct sipua *ua)
{
	return ua ? ua->drain.left : 0;
}

/* Stop one machine where it is: no refresh, no removal */
static void halt_one(struct sipua_refresh *rf)
{
	if (!rf->ua || rf->closed)
		return;
	stop_here(rf);
	/* nor later: a resumed ua (sipua_resume) sends no removal for it */
	rf->rm_sent = true;
}

static void halt_all(struct list *l)
{
	struct le *le;

	for (le = l->head; le; le = le->next)
		halt_one((struct sipua_refresh
			      *)(void *)((char *)le -
					 offsetof(struct sipua_refresh, le)));
}

void sipua_refresh_forget(struct sipua_refresh *rf)
{
	halt_one(rf);
	/* as if its removal went out: the owner's destructor sends none */
	rf->rm_sent = true;
}

uint32_t sipua_halt(struct sipua *ua)
{
	uint32_t n;

	if (!ua || ua->halted)
		return 0;
	n = (uint32_t)list_count(&ua->regl);
	ua->halted = true;
	/* as a drain given up: nothing new is taken, the owners'
	 * destructors send no removal (an un-REGISTER would remove the
	 * binding a new owner made with the same +sip.instance) */
	if (ua->drain.phase == PHASE_OFF) {
		ua->drain.phase = PHASE_DONE;
		ua->halt_phase = true;
	}
	ua->drain.stopped = true;
	tmr_cancel(&ua->drain.tmr);
	halt_all(&ua->subl);
	halt_all(&ua->publ);
	halt_all(&ua->regl);
	return n;
}

void sipua_resume(struct sipua *ua)
{
	if (!ua || !ua->halted)
		return;
	ua->halted = false;
	/* a drain asked before the halt stays given up */
	if (ua->halt_phase) {
		ua->drain.phase = PHASE_OFF;
		ua->drain.stopped = false;
		ua->halt_phase = false;
	}
}

bool sipua_halted(const struct sipua *ua)
{
	return ua && ua->halted;
}
