/**
 * @file fence.c  Sessions another instance took over (docs/pool.md,
 * "The fencing epoch")
 *
 * In a pool every write of a session carries the epoch this instance
 * holds it under; the store refuses it with ESTALE once another instance
 * acquired the session. Whatever the write (an event, the record, an
 * ack, history, a subscription), the store tells us here, once per
 * refused write (store_fenced_listen()): the session is forgotten once
 * (ucwa_app_forget(): no SIP sent, the store untouched: all of it is the
 * new owner's now), logged and counted. The forget runs from the loop:
 * the refused write's own completion comes right after and still uses
 * the application (an incoming MESSAGE is answered with an error).
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store.h"
#include "ucwa.h"
#include "ucwa_int.h"

struct ucwa_fence {
	struct ucwa *u;   /* borrowed: the fence goes with it */
	struct list pend; /* struct fpend: to forget next turn */
	struct tmr tmr;
	struct metric *m_fenced;
};

struct fpend {
	struct le le;
	char id[UCWA_ID_LEN + 1];
};

static void fence_destructor(void *arg)
{
	struct ucwa_fence *f = arg;

	tmr_cancel(&f->tmr);
	list_flush(&f->pend);
}

static bool id_cmp(struct le *le, void *arg)
{
	const struct app *app = le->data;

	return !strcmp(arg, app->id);
}

static struct app *app_lookup(struct ucwa *u, const char *id)
{
	return list_ledata(hash_lookup(u->apps, hash_joaat_ci(id, strlen(id)),
				       id_cmp, (void *)id));
}

static bool pending(const struct ucwa_fence *f, const char *id)
{
	struct le *le;

	for (le = f->pend.head; le; le = le->next) {
		const struct fpend *p = le->data;

		if (!strcmp(p->id, id))
			return true;
	}
	return false;
}

static void forget_fire(void *arg)
{
	struct ucwa_fence *f = arg;
	struct le *le;

	while ((le = list_head(&f->pend))) {
		struct fpend *p = le->data;
		struct app *app = app_lookup(f->u, p->id);

		list_unlink(le);
		if (app && !app->s.closing)
			ucwa_app_forget(app);
		mem_deref(p);
	}
}

static void fenced(const char *sid, void *arg)
{
	struct ucwa_fence *f = arg;
	struct app *app = app_lookup(f->u, sid);
	struct fpend *p;

	/* once: every write of it in flight is refused the same way */
	if (!app || app->s.closing || pending(f, sid))
		return;
	p = mem_zalloc(sizeof(*p), NULL);
	if (!p)
		return;
	str_ncpy(p->id, sid, sizeof(p->id));
	list_append(&f->pend, &p->le, p);
	log_warn("pool: session %s taken by another instance", sid);
	metric_add(f->m_fenced, 1);
	if (!tmr_isrunning(&f->tmr))
		tmr_start(&f->tmr, 0, forget_fire, f);
}

int ucwa_fence_alloc(struct ucwa *u)
{
	struct ucwa_fence *f;

	f = mem_zalloc(sizeof(*f), fence_destructor);
	if (!f)
		return ENOMEM;
	f->u = u;
	f->m_fenced = metrics_get(
	    METRIC_COUNTER, "mobility_pool_sessions_fenced_total", NULL,
	    "sessions dropped because another instance took them over "
	    "(a write refused: stale epoch)");
	u->fence = f;
	store_fenced_listen(u->st, fenced, f);
	return 0;
}

void ucwa_fence_close(struct ucwa *u)
{
	if (!u->fence)
		return;
	store_fenced_listen(u->st, NULL, NULL);
	u->fence = mem_deref(u->fence);
}

struct each {
	ucwa_id_h *fn;
	void *arg;
};

static bool each_h(struct le *le, void *arg)
{
	const struct app *app = le->data;
	struct each *e = arg;

	if (!app->s.closing)
		e->fn(app->id, e->arg);
	return false;
}

void ucwa_each_id(struct ucwa *u, ucwa_id_h *fn, void *arg)
{
	struct each e = {fn, arg};

	if (!u || !fn)
		return;
	(void)hash_apply(u->apps, each_h, &e);
}

int ucwa_forget_id(struct ucwa *u, const char *id)
{
	struct app *app;

	if (!u || !id)
		return EINVAL;
	app = app_lookup(u, id);
	if (!app || app->s.closing)
		return ENOENT;
	ucwa_app_forget(app);
	return 0;
}
