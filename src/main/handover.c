/**
 * @file handover.c  The drain of a pool instance: hand each session over
 * (docs/pool.md "Drain")
 *
 * A single instance removes its sessions' SIP side at a stop (sipua's
 * drain: un-SUBSCRIBE, un-PUBLISH, un-REGISTER). In a pool that would
 * end the phones' sessions at the Front End; instead each session is
 * forgotten here, sending nothing (the next owner's REGISTER, same
 * +sip.instance and reg-id, replaces our flow), then its lease released
 * so that another instance's poller takes it over at once. Forget
 * first: once released, another instance may register it, and nothing of
 * ours may still go. Paced as sipua's drain: a window of releases in
 * flight, the next as one is answered. HTTP goes on meanwhile for the
 * sessions still here.
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store.h"
#include "ucwa.h"
#include "pool.h"
#include "handover.h"

struct handover {
	struct store *st; /* borrowed */
	struct ucwa *u;   /* borrowed */
	struct pool *p;   /* borrowed */
	struct list ids;  /* struct hid: not handed over yet        */
	struct list rels; /* struct hid: release in flight          */
	struct tmr tmr;   /* the next step, from the loop           */
	uint32_t handed;  /* released                               */
	uint32_t failed;  /* release refused or failed              */
	bool ending;      /* pool_end() issued                      */
	bool stopped;
	handover_done_h *h;
	void *arg;
};

/* One session to hand over */
struct hid {
	struct le le;
	struct handover *ho;
	struct store_op *op;
	char id[];
};

static void hid_destructor(void *arg)
{
	struct hid *e = arg;

	list_unlink(&e->le);
	mem_deref(e->op);
}

static void destructor(void *arg)
{
	struct handover *ho = arg;

	tmr_cancel(&ho->tmr);
	list_flush(&ho->rels);
	list_flush(&ho->ids);
}

static void step(void *arg);

static void add_id(const char *id, void *arg)
{
	struct handover *ho = arg;
	size_t n = strlen(id) + 1;
	struct hid *e = mem_zalloc(sizeof(*e) + n, hid_destructor);

	if (!e)
		return;
	memcpy(e->id, id, n);
	e->ho = ho;
	list_append(&ho->ids, &e->le, e);
}

static void lease_ended(int err, void *arg)
{
	struct handover *ho = arg;

	(void)err;
	log_notice("pool: drain done: %u sessions handed over, %u failed",
		   ho->handed, ho->failed);
	if (!ho->stopped && ho->h)
		ho->h(ho->arg);
}

static void released(int err, void *arg)
{
	struct hid *e = arg;
	struct handover *ho = e->ho;

	e->op = mem_deref(e->op);
	if (err) {
		/* ESTALE: another instance had it already; else it lapses
		 * with our lease, dropped at the end */
		++ho->failed;
		log_info("pool: drain: release of %s: %m", e->id, err);
	} else {
		++ho->handed;
	}
	mem_deref(e);
	if (!tmr_isrunning(&ho->tmr))
		tmr_start(&ho->tmr, 0, step, ho);
}

/* The next sessions, up to the window; at the end, the lease */
static void step(void *arg)
{
	struct handover *ho = arg;
	const char *inst = pool_instance(ho->p);
	struct le *le;
	int err;

	while ((le = list_head(&ho->ids)) &&
	       list_count(&ho->rels) < HANDOVER_INFLIGHT_MAX) {
		struct hid *e = le->data;

		list_unlink(le);
		/* gone meanwhile (ended, or fenced: not ours) */
		if (ucwa_forget_id(ho->u, e->id)) {
			mem_deref(e);
			continue;
		}
		list_append(&ho->rels, &e->le, e);
		err = store_lease_release(ho->st, e->id, inst, released, e,
					  &e->op);
		if (err) {
			++ho->failed;
			mem_deref(e);
		}
	}
	if (ho->ids.head || ho->rels.head || ho->ending)
		return;
	ho->ending = true;
	/* one a take in flight at the start brought in meanwhile: it
	 * lapses with the lease (ending it lists what is left) */
	(void)ucwa_forget_all(ho->u);
	if (pool_end(ho->p, lease_ended, ho))
		lease_ended(0, ho);
}

int handover_start(struct handover **hop, struct store *st, struct ucwa *u,
		   struct pool *p, handover_done_h *h, void *arg)
{
	struct handover *ho;

	if (!hop || !st || !u || !p)
		return EINVAL;
	ho = mem_zalloc(sizeof(*ho), destructor);
	if (!ho)
		return ENOMEM;
	ho->st = st;
	ho->u = u;
	ho->p = p;
	ho->h = h;
	ho->arg = arg;
	ucwa_each_id(u, add_id, ho);
	log_notice("pool: drain: %u sessions to hand over",
		   (uint32_t)list_count(&ho->ids));
	tmr_start(&ho->tmr, 0, step, ho);
	*hop = ho;
	return 0;
}

uint32_t handover_left(const struct handover *ho)
{
	return ho ? (uint32_t)(list_count(&ho->ids) + list_count(&ho->rels))
		  : 0;
}

void handover_stop(struct handover *ho)
{
	if (!ho || ho->stopped)
		return;
	ho->stopped = true;
	tmr_cancel(&ho->tmr);
	list_flush(&ho->ids);
	/* what is left lapses with the lease (ending it lists them) */
	(void)ucwa_forget_all(ho->u);
	if (!ho->ending) {
		ho->ending = true;
		(void)pool_end(ho->p, lease_ended, ho);
	}
}
