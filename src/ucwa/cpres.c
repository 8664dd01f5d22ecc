/**
 * @file cpres.c  The presence of the contacts an application follows
 *
 *   GET people/contacts/<uri>/contactPresence|contactNote|contactLocation
 *   GET people/subscribedContacts                   contacts followed
 *
 * Every contact an application follows is one SIP subscription of that
 * application (sipua_sub: SUBSCRIBE Event: presence from the session's
 * registered contact), held by the memberships of its presence
 * subscriptions (psub.c) and dropped (Expires: 0) when the last one ends.
 * A NOTIFY's PIDF becomes "contactPresence" (and "contactNote",
 * "contactLocation" when those changed) "updated" events, of medium
 * priority, so the event channel coalesces a burst of changes.
 *
 * A GET of a contact's presence that nothing follows is a one-time query:
 * a subscription that lives until the first NOTIFY (or PSUB_FETCH_MS, then
 * the state is Unknown).
 */
#include <string.h>
#include <re.h>
#include "api.h"
#include "evchan.h"
#include "pidf.h"
#include "repr.h"
#include "sipua.h"
#include "ucwa.h"
#include "ucwa_int.h"

enum {
	PSUB_FETCH_MS = 5000, /* a one-time query waits this long */
};

enum which {
	W_PRESENCE,
	W_NOTE,
	W_LOCATION,
};

static const char *const which_rel[] = {
    [W_PRESENCE] = "contactPresence",
    [W_NOTE] = "contactNote",
    [W_LOCATION] = "contactLocation",
};

/* A contact's state as last told: the PIDF model without its fixed
 * buffers (1.3 KiB, most of them empty: a background session follows
 * contacts that are mostly offline, with no note or location). The three
 * strings are "" or point into text. */
struct cstate {
	enum pidf_avail avail;
	enum pidf_device device;
	uint64_t last_active;
	const char *activity, *note, *location;
	char *text; /* the non-empty ones, one allocation */
};

/* A contact the application follows (one SIP subscription). */
struct watched {
	struct le le; /* in app->watched */
	struct app *app;
	struct sipua_sub *sub;
	struct sipua_sub *dead; /* ended: dropped when safe            */
	struct tmr fetch_tmr;   /* one-time query: give up waiting          */
	struct tmr gc_tmr;      /* unused: freed once the stack has unwound */
	unsigned refs;          /* memberships naming it                     */
	bool known;             /* a NOTIFY (or the end) told its state      */
	struct cstate p;
	struct list waiters; /* struct waiter */
	char *uri;
};

/* A GET waiting for a contact's first state. */
struct waiter {
	struct le le;
	struct watched *w;
	struct web_req *req;
	enum which which;
};

/* An event from "people". */
void ucwa_people_post(struct app *app, const char *type, const char *rel,
		      const char *href, const char *in_rel, const char *in_href,
		      struct repr *emb)
{
	const struct repr_event e = {
	    .sender_rel = "people",
	    .type = type,
	    .rel = rel,
	    .href = href,
	    .in_rel = in_rel,
	    .in_href = in_href,
	    .embedded = emb,
	};

	(void)ucwa_post(app, 0, &e);
}

/*
 * Contacts
 */

/* The contact's href into in, and its state resource's into buf. */
static int state_href(char *buf, size_t size, char *in, size_t insize,
		      const struct watched *w, enum which which)
{
	int err = ucwa_contact_href(in, insize, w->app, w->uri);

	return err ? err : repr_href(buf, size, in, "/%s", which_rel[which]);
}

static struct repr *state_repr(const struct watched *w, enum which which)
{
	const struct cstate *p = &w->p;
	char in[UCWA_HREF_MAX], href[UCWA_HREF_MAX + 32];
	struct repr *r = NULL;
	int err = 0;

	if (state_href(href, sizeof(href), in, sizeof(in), w, which) ||
	    repr_alloc(&r, which_rel[which], href))
		return NULL;

	switch (which) {

	case W_PRESENCE:
		err =
		    repr_prop_str(r, "availability", pidf_avail_name(p->avail));
		if (p->activity[0])
			err |= repr_prop_str(r, "activity", p->activity);
		err |=
		    repr_prop_str(r, "deviceType", pidf_device_name(p->device));
		if (p->last_active)
			err |= repr_prop_date(r, "lastActive", p->last_active);
		break;

	case W_NOTE:
		err = repr_prop_str(r, "message", p->note);
		err |= repr_prop_str(r, "type", "Personal");
		break;

	case W_LOCATION:
		err = repr_prop_str(r, "location", p->location);
		break;
	}
	return err ? mem_deref(r) : r;
}

static void post_state(struct watched *w, enum which which)
{
	struct repr *r = state_repr(w, which);
	char in[UCWA_HREF_MAX], href[UCWA_HREF_MAX + 32];

	if (r && !state_href(href, sizeof(href), in, sizeof(in), w, which))
		ucwa_people_post(w->app, "updated", which_rel[which], href,
				 "contact", in, r);
	mem_deref(r);
}

static void reply_state(struct web_req *req, const struct watched *w,
			enum which which)
{
	struct repr *r = state_repr(w, which);

	if (r)
		api_reply(req, 200, NULL, r, NULL);
	else
		web_reply_text(req, 500, NULL, "could not build the presence");
	mem_deref(r);
}

static void maybe_gc(struct watched *w);

static void waiter_destructor(void *arg)
{
	struct waiter *wt = arg;

	list_unlink(&wt->le);
	if (wt->req)
		web_req_set_cancel(wt->req, NULL, NULL);
	mem_deref(wt->req);
}

static void waiter_cancel(struct web_req *req, void *arg)
{
	struct waiter *wt = arg;
	struct watched *w = wt->w;

	(void)req;
	wt->req = mem_deref(wt->req);
	mem_deref(wt);
	maybe_gc(w);
}

static void gc(void *arg)
{
	mem_deref(arg);
}

/* Free w once nothing needs it (later: we may be inside its handlers). */
static void maybe_gc(struct watched *w)
{
	if (!w->refs && list_isempty(&w->waiters))
		tmr_start(&w->gc_tmr, 0, gc, w);
}

static void answer_waiters(struct watched *w)
{
	struct le *le;

	tmr_cancel(&w->fetch_tmr);
	while ((le = list_head(&w->waiters))) {
		struct waiter *wt = le->data;

		reply_state(wt->req, w, wt->which);
		mem_deref(wt);
	}
	maybe_gc(w);
}

static void fetch_timeout(void *arg)
{
	struct watched *w = arg;

	log_info("ucwa: no presence of %s for %s within %u ms", w->uri,
		 w->app->user, PSUB_FETCH_MS);
	answer_waiters(w);
}

/* Point *dst at the copy of src made at *pos ("" when empty). */
static void cstate_put(const char **dst, char **pos, const char *src)
{
	size_t n = strlen(src);

	if (!n) {
		*dst = "";
		return;
	}
	memcpy(*pos, src, n + 1);
	*dst = *pos;
	*pos += n + 1;
}

/* Keep np in s; ENOMEM leaves s as it was. */
static int cstate_set(struct cstate *s, const struct pidf_presence *np)
{
	size_t a = strlen(np->activity), n = strlen(np->note),
	       l = strlen(np->location);
	char *text = NULL, *pos;

	if (a + n + l) {
		text = mem_alloc(a + n + l + 3, NULL);
		if (!text)
			return ENOMEM;
	}
	mem_deref(s->text);
	s->text = pos = text;
	s->avail = np->avail;
	s->device = np->device;
	s->last_active = np->last_active;
	cstate_put(&s->activity, &pos, np->activity);
	cstate_put(&s->note, &pos, np->note);
	cstate_put(&s->location, &pos, np->location);
	return 0;
}

/* A new state: events for what changed (only while a presence
 * subscription follows the contact), answers to waiting GETs. */
static void set_state(struct watched *w, const struct pidf_presence *np)
{
	const struct cstate *op = &w->p;
	bool first = !w->known;
	bool pres, note, loc;

	pres = first || op->avail != np->avail || op->device != np->device ||
	       op->last_active != np->last_active ||
	       strcmp(op->activity, np->activity);
	note = strcmp(op->note, np->note) != 0;
	loc = strcmp(op->location, np->location) != 0;
	if (cstate_set(&w->p, np)) {
		log_warn("ucwa: presence of %s for %s: %m", w->uri,
			 w->app->user, ENOMEM);
		return;
	}
	w->known = true;

	if (w->refs) {
		if (pres)
			post_state(w, W_PRESENCE);
		if (note)
			post_state(w, W_NOTE);
		if (loc)
			post_state(w, W_LOCATION);
	}
	answer_waiters(w);
}

void ucwa_watched_notify(struct watched *w, const struct sipua_presence *v)
{
	struct pidf_presence np;

	if (v->p) {
		np = *v->p;
	} else {
		/* no document: a watcher not yet allowed (pending) does not
		 * know; otherwise there is nothing published */
		memset(&np, 0, sizeof(np));
		np.avail =
		    v->state == PIDF_SUB_PENDING ? PIDF_UNKNOWN : PIDF_OFFLINE;
	}
	if (v->state == PIDF_SUB_TERMINATED)
		np.avail = PIDF_OFFLINE;
	set_state(w, &np);
}

void ucwa_watched_ended(struct watched *w, int err)
{
	struct pidf_presence np;

	memset(&np, 0, sizeof(np));
	/* refused: the contact does not share presence with the user (a
	 * block looks like Offline); otherwise we cannot tell */
	np.avail = err == EACCES ? PIDF_OFFLINE : PIDF_UNKNOWN;
	set_state(w, &np);
}

static void notified(const struct sipua_presence *v, size_t n, void *arg)
{
	if (n)
		ucwa_watched_notify(arg, &v[0]);
}

static void sub_closed(int err, uint16_t scode, void *arg)
{
	struct watched *w = arg;

	log_info("ucwa: presence subscription of %s to %s ended: %m (%u)",
		 w->app->user, w->uri, err, scode);
	/* the handle stays until the contact is unused or watched again */
	w->dead = w->sub;
	w->sub = NULL;
	ucwa_watched_ended(w, err);
}

static void watched_destructor(void *arg)
{
	struct watched *w = arg;

	tmr_cancel(&w->fetch_tmr);
	tmr_cancel(&w->gc_tmr);
	list_flush(&w->waiters);
	/* Expires: 0 to the Front End, sent and forgotten */
	mem_deref(w->sub);
	mem_deref(w->dead);
	list_unlink(&w->le);
	mem_deref(w->p.text);
	mem_deref(w->uri);
}

struct watched *ucwa_watched_find(const struct app *app, const char *uri)
{
	struct le *le;

	for (le = app->watched.head; le; le = le->next) {
		struct watched *w = le->data;
		if (!strcasecmp(w->uri, uri))
			return w;
	}
	return NULL;
}

/* Subscribe (again) if there is no live SIP subscription. */
static int watched_subscribe(struct watched *w)
{
	struct app *app = w->app;
	char user[AUTH_USER_MAX + 1];
	struct sipua_id id;

	if (w->sub)
		return 0;
	/* the last one ended (we are not inside its handlers here) */
	w->dead = mem_deref(w->dead);
	if (!app->reg)
		return ENOTCONN;
	ucwa_app_sipid(app, user, sizeof(user), &id);
	return sipua_sub_alloc(&w->sub, app->u->ua, app->reg, &id, w->uri,
			       false, 0, notified, sub_closed, w);
}

/* The contact's entry, made (and subscribed) when new. */
int ucwa_watch(struct watched **wp, struct app *app, const char *uri,
	       bool subscribe)
{
	struct watched *w = ucwa_watched_find(app, uri);
	int err;

	if (!w) {
		if (list_count(&app->watched) >= UCWA_WATCHED_MAX)
			return EOVERFLOW;
		w = mem_zalloc(sizeof(*w), watched_destructor);
		if (!w)
			return ENOMEM;
		w->app = app;
		w->p.activity = w->p.note = w->p.location = "";
		err = str_dup(&w->uri, uri);
		if (err) {
			mem_deref(w);
			return err;
		}
		list_append(&app->watched, &w->le, w);
	}
	tmr_cancel(&w->gc_tmr);
	err = subscribe ? watched_subscribe(w) : 0;
	if (err) {
		maybe_gc(w);
		return err;
	}
	*wp = w;
	return 0;
}

/* GET people/contacts/{uri}/{what}: what is contactPresence, contactNote
 * or contactLocation */
void ucwa_contact_state(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	const struct pl *what = web_param(prm, "what");
	char uri[UCWA_URI_MAX + 1];
	struct app *app = arg;
	struct watched *w = NULL;
	struct waiter *wt;
	enum which which;
	int err;

	if (!ucwa_contact_uri(uri, sizeof(uri), web_param(prm, "uri"), true)) {
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure",
				"not a contact URI");
		return;
	}
	for (which = W_PRESENCE; which <= W_LOCATION; which++) {
		if (!pl_strcmp(what, which_rel[which]))
			break;
	}
	if (which > W_LOCATION) {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such resource");
		return;
	}

	/* known already (followed, maybe through a list): no need to ask */
	w = ucwa_watched_find(app, uri);
	if (w && w->known) {
		reply_state(req, w, which);
		return;
	}
	err = ucwa_watch(&w, app, uri, true);
	if (err == EOVERFLOW) {
		api_reply_error(req, 403, NULL, "Forbidden", "LimitExceeded",
				"too many contacts followed at once");
		return;
	}
	if (err) {
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the presence service cannot be reached");
		return;
	}
	if (w->known) {
		reply_state(req, w, which);
		return;
	}

	wt = mem_zalloc(sizeof(*wt), waiter_destructor);
	if (!wt) {
		web_reply_text(req, 503, NULL, "out of memory");
		maybe_gc(w);
		return;
	}
	wt->w = w;
	wt->which = which;
	wt->req = mem_ref(req);
	web_req_set_cancel(req, waiter_cancel, wt);
	list_append(&w->waiters, &wt->le, wt);
	if (!tmr_isrunning(&w->fetch_tmr))
		tmr_start(&w->fetch_tmr, PSUB_FETCH_MS, fetch_timeout, w);
}

/* GET subscribedContacts */
static void reply_subscribed(struct app *app, struct web_req *req)
{
	struct repr *r = NULL, *c;
	char href[UCWA_HREF_MAX];
	struct le *le;
	int err;

	err = repr_href(href, sizeof(href), app->href,
			"/people/subscribedContacts");
	if (!err)
		err = repr_alloc(&r, "subscribedContacts", href);
	for (le = app->watched.head; !err && le; le = le->next) {
		const struct watched *w = le->data;

		if (!w->refs)
			continue;
		c = ucwa_contact_repr(app, w->uri, NULL);
		err = c ? repr_embed(r, c) : ENOMEM;
		mem_deref(c);
	}
	if (err)
		web_reply_text(req, 500, NULL, "could not build the contacts");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* GET people/subscribedContacts */
void ucwa_psub_contacts(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	(void)prm;
	reply_subscribed(arg, req);
}

/*
 * Presence subscriptions
 */

void ucwa_watched_hold(struct watched *w)
{
	++w->refs;
}

void ucwa_watched_release(struct watched *w)
{
	--w->refs;
	maybe_gc(w);
}

const char *ucwa_watched_uri(const struct watched *w)
{
	return w->uri;
}

void ucwa_watched_announce(struct watched *w)
{
	if (w->known)
		post_state(w, W_PRESENCE);
}

void ucwa_watched_forget_all(struct app *app)
{
	struct le *le;

	for (le = app->watched.head; le; le = le->next) {
		struct watched *w = le->data;

		sipua_sub_forget(w->sub);
		sipua_sub_forget(w->dead);
	}
}

void ucwa_watched_close_all(struct app *app)
{
	struct le *le;

	/* waiting GETs are told the application is gone */
	while ((le = list_head(&app->watched))) {
		struct watched *w = le->data;
		struct le *le2;

		while ((le2 = list_head(&w->waiters))) {
			struct waiter *wt = le2->data;

			api_reply_error(wt->req, 404, NULL, "NotFound",
					"ApplicationNotFound",
					"the application has ended");
			mem_deref(wt);
		}
		mem_deref(w);
	}
}
