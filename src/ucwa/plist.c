/**
 * @file plist.c  Presence subscriptions as RFC 4662 lists through the Front
 *                End's RLS ([frontend] rls = yes)
 *
 * The contacts of a presence subscription are written as one <service> of
 * the user's rls-services document on the XCAP server (one element,
 * sip:<user>.m<application id>.<n>@<domain>, src/xcap/rls.c), then
 * subscribed to with one SUBSCRIBE (Supported: eventlist); each NOTIFY's
 * RLMI members update the contacts (cpres.c). The 201 (or the answer to
 * addToPresenceSubscription, which rewrites the element) waits for the
 * XCAP write; psub.c removes the element when the subscription ends.
 */
#include <string.h>
#include <re.h>
#include "api.h"
#include "conf.h"
#include "sipua.h"
#include "xcap.h"
#include "ucwa.h"
#include "ucwa_int.h"
#include "psub_int.h"

static void list_notified(const struct sipua_presence *v, size_t n, void *arg)
{
	struct psub *ps = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		struct watched *w = ucwa_watched_find(ps->app, v[i].uri);

		if (w && psub_has(ps, w))
			ucwa_watched_notify(w, &v[i]);
	}
}

static void list_closed(int err, uint16_t scode, void *arg)
{
	struct psub *ps = arg;
	struct le *le;

	log_info("ucwa: list subscription %s ended: %m (%u)", ps->service, err,
		 scode);
	ps->dead = ps->list;
	ps->list = NULL;
	for (le = ps->members.head; le; le = le->next) {
		struct member *m = le->data;
		ucwa_watched_ended(m->w, err);
	}
}

int plist_subscribe(struct psub *ps)
{
	char user[AUTH_USER_MAX + 1];
	struct sipua_id id;

	if (!ps->app->reg)
		return ENOTCONN;
	ucwa_app_sipid(ps->app, user, sizeof(user), &id);
	return sipua_sub_alloc(&ps->list, ps->app->u->ua, ps->app->reg, &id,
			       ps->service, true, 0, list_notified, list_closed,
			       ps);
}

static void written(int err, void *arg)
{
	struct psub *ps = arg;
	struct web_req *req = ps->req;

	ps->req = NULL;
	if (req)
		web_req_set_cancel(req, NULL, NULL);
	if (!err)
		ps->stored = true;
	if (!err && !ps->list)
		err = plist_subscribe(ps);
	if (!err) {
		psub_finish(ps, req);
		mem_deref(req);
		return;
	}

	log_notice("ucwa: list %s for %s: %m", ps->service, ps->app->user, err);
	if (req)
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the presence list cannot be written");
	mem_deref(req);
	if (!ps->live) {
		mem_deref(ps);
		return;
	}
	while (ps->members.tail != ps->mark)
		mem_deref(ps->members.tail->data);
}

/* Write the list as it is now (RLS mode); finish() when written. */
static int write_list(struct psub *ps, struct web_req *req)
{
	const char **uris;
	struct le *le;
	size_t n = 0;
	int err;

	uris = mem_zalloc(list_count(&ps->members) * sizeof(*uris) + 1, NULL);
	if (!uris)
		return ENOMEM;
	for (le = ps->members.head; le; le = le->next) {
		const struct member *m = le->data;
		uris[n++] = ucwa_watched_uri(m->w);
	}
	err = xcap_rls_put(&ps->op, ucwa_xcap(ps->app), ps->service, uris, n,
			   written, ps);
	mem_deref(uris);
	if (err)
		return err;
	psub_hold(ps, req);
	return 0;
}

bool plist_mode(struct app *app)
{
	return app->u->conf->fe_rls && ucwa_xcap(app);
}

/* The members changed (after ps->mark): make it so on the Front End. */
void plist_commit(struct psub *ps, struct web_req *req)
{
	int err;

	if (!plist_mode(ps->app)) {
		psub_finish(ps, req);
		return;
	}
	err = write_list(ps, req);
	if (err) {
		ps->req = mem_ref(req); /* written() answers it */
		written(err, ps);
	}
}
