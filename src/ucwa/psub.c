/**
 * @file psub.c  Presence subscriptions of an application
 *
 *   POST   people/presenceSubscriptions {"duration":10..30,"uris":[...]}
 *   GET    people/presenceSubscriptions                every subscription
 *   GET    people/presenceSubscriptions/<id>           one
 *   POST   people/presenceSubscriptions/<id> {"duration":N}   extend
 *   DELETE people/presenceSubscriptions/<id>           end it
 *   GET    people/presenceSubscriptions/<id>/memberships
 *   GET    people/presenceSubscriptions/<id>/memberships/<contact>
 *   POST   people/presenceSubscriptions/<id>/addToPresenceSubscription
 *          {"contactUris":[...]}
 *
 * A presence subscription is a set of contacts the app wants to follow for
 * a while (UCWA: 10 to 30 minutes). Each member holds the contact's SIP
 * subscription (cpres.c), so a contact named by several is subscribed
 * once. The subscription warns with an "updated" event a minute before
 * its duration runs out (the app extends it with a POST) and ends with
 * "deleted"; the contacts it alone held are then unsubscribed.
 *
 * With [frontend] rls = yes a presence subscription is instead one RFC 4662
 * list subscription through the Front End's RLS (plist.c). Subscriptions
 * are kept in the store across a restart (psub_store.c).
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "api.h"
#include "repr.h"
#include "xcap.h"
#include "ucwa.h"
#include "ucwa_int.h"
#include "sipua.h"
#include "psub_int.h"

enum {
	PSUB_WARN_MS = 60000, /* "updated" this long before the end */
};

static int psub_href(const struct psub *ps, char *buf, size_t size)
{
	return repr_href(buf, size, ps->app->href,
			 "/people/presenceSubscriptions/%u", ps->id);
}

static void member_destructor(void *arg)
{
	struct member *m = arg;

	list_unlink(&m->le);
	if (m->w)
		ucwa_watched_release(m->w);
}

int psub_member_add(struct psub *ps, const char *uri, bool subscribe)
{
	struct watched *w;
	struct member *m;
	int err;

	m = mem_zalloc(sizeof(*m), member_destructor);
	if (!m)
		return ENOMEM;
	err = ucwa_watch(&w, ps->app, uri, subscribe);
	if (err || psub_has(ps, w)) {
		mem_deref(m);
		return err;
	}
	m->w = w;
	ucwa_watched_hold(w);
	list_append(&ps->members, &m->le, m);
	return 0;
}

bool psub_has(const struct psub *ps, const struct watched *w)
{
	struct le *le;

	for (le = ps->members.head; le; le = le->next) {
		const struct member *m = le->data;
		if (m->w == w)
			return true;
	}
	return false;
}

static void psub_destructor(void *arg)
{
	struct psub *ps = arg;

	wheel_cancel(&ps->timer);
	mem_deref(ps->op);
	mem_deref(ps->save);
	if (ps->req) {
		web_req_set_cancel(ps->req, NULL, NULL);
		api_reply_error(ps->req, 503, NULL, "ServiceFailure", NULL,
				"the presence subscription ended first");
		mem_deref(ps->req);
	}
	/* Expires: 0, and the list is taken off the XCAP server */
	mem_deref(ps->list);
	mem_deref(ps->dead);
	if (ps->stored)
		(void)xcap_rls_delete(ucwa_xcap(ps->app), ps->service);
	list_flush(&ps->members);
	list_unlink(&ps->le);
	mem_deref(ps->service);
}

static void psub_timer(void *arg);

struct psub *psub_alloc(struct app *app)
{
	struct psub *ps = mem_zalloc(sizeof(*ps), psub_destructor);

	if (ps)
		ps->app = app;
	return ps;
}

uint64_t psub_now_ms(void)
{
	return (uint64_t)time(NULL) * 1000;
}

/* The timer for what is left until ends_ms: the warning first, unless
 * that time has passed already. */
void psub_arm(struct psub *ps)
{
	uint64_t now = psub_now_ms();
	uint64_t left = ps->ends_ms > now ? ps->ends_ms - now : 0;

	ps->warned = left <= PSUB_WARN_MS;
	wheel_start(ps->app->u->wheel, &ps->timer,
		    ps->warned ? left : left - PSUB_WARN_MS, psub_timer, ps);
}

static void psub_start(struct psub *ps)
{
	ps->ends_ms = psub_now_ms() + (uint64_t)ps->minutes * 60000;
	psub_arm(ps);
}

static void psub_timer(void *arg)
{
	struct psub *ps = arg;
	char href[UCWA_HREF_MAX];
	bool named = !psub_href(ps, href, sizeof(href));

	if (!ps->warned) {
		/* the app may extend it now */
		ps->warned = true;
		if (named)
			ucwa_people_post(ps->app, "updated",
					 "presenceSubscription", href, NULL,
					 NULL, NULL);
		wheel_start(ps->app->u->wheel, &ps->timer, PSUB_WARN_MS,
			    psub_timer, ps);
		return;
	}
	log_info("ucwa: presence subscription %u of %s ran out", ps->id,
		 ps->app->user);
	if (named)
		ucwa_people_post(ps->app, "deleted", "presenceSubscription",
				 href, NULL, NULL, NULL);
	psub_end(ps);
}

static struct psub *psub_find(const struct app *app, const struct pl *id)
{
	struct le *le;

	for (le = app->psubs.head; le; le = le->next) {
		struct psub *ps = le->data;
		if (ps->live && id->l && id->l < 10 && pl_u32(id) == ps->id)
			return ps;
	}
	return NULL;
}

static struct repr *psub_repr(const struct psub *ps)
{
	char href[UCWA_HREF_MAX], sub[UCWA_HREF_MAX + 40], id[16];
	struct repr *r = NULL;
	int err;

	if (psub_href(ps, href, sizeof(href)) ||
	    repr_alloc(&r, "presenceSubscription", href))
		return NULL;
	(void)re_snprintf(id, sizeof(id), "%u", ps->id);
	err = repr_prop_str(r, "id", id);
	err |= repr_prop_int(r, "duration", ps->minutes);
	err |= repr_href(sub, sizeof(sub), href, "/addToPresenceSubscription");
	err |= repr_link(r, "addToPresenceSubscription", sub);
	err |= repr_href(sub, sizeof(sub), href, "/memberships");
	err |= repr_link(r, "memberships", sub);
	return err ? mem_deref(r) : r;
}

static void reply_psub(struct web_req *req, const struct psub *ps,
		       uint16_t scode)
{
	struct repr *r = psub_repr(ps);
	char loc[UCWA_HREF_MAX + 16], href[UCWA_HREF_MAX];

	if (r && (psub_href(ps, href, sizeof(href)) ||
		  repr_href(loc, sizeof(loc), "Location: ", "%s\r\n", href)))
		r = mem_deref(r);
	if (r)
		api_reply(req, scode, NULL, r, scode == 201 ? loc : NULL);
	else
		web_reply_text(req, 500, NULL,
			       "could not build the subscription");
	mem_deref(r);
}

static void reply_all(struct app *app, struct web_req *req)
{
	struct repr *r = NULL, *c;
	char href[UCWA_HREF_MAX];
	struct le *le;
	int err;

	err = repr_href(href, sizeof(href), app->href,
			"/people/presenceSubscriptions");
	if (!err)
		err = repr_alloc(&r, "presenceSubscriptions", href);
	for (le = app->psubs.head; !err && le; le = le->next) {
		c = psub_repr(le->data);
		err = c ? repr_embed(r, c) : ENOMEM;
		mem_deref(c);
	}
	if (err)
		web_reply_text(req, 500, NULL,
			       "could not build the subscriptions");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* One membership, named by its contact's path below people/contacts/. */
static struct repr *membership(const struct psub *ps, const struct member *mb)
{
	char href[UCWA_HREF_MAX], mhref[2 * UCWA_HREF_MAX],
	    chref[UCWA_HREF_MAX];
	const char *name;
	struct repr *m = NULL;
	int err;

	if (psub_href(ps, href, sizeof(href)) ||
	    ucwa_contact_href(chref, sizeof(chref), ps->app,
			      ucwa_watched_uri(mb->w)))
		return NULL;
	name = chref + strlen(ps->app->href) + sizeof("/people/contacts/") - 1;
	err = repr_href(mhref, sizeof(mhref), href, "/memberships/%s", name);
	if (!err)
		err = repr_alloc(&m, "presenceSubscriptionMembership", mhref);
	err |= repr_link(m, "contact", chref);
	return err ? mem_deref(m) : m;
}

static void reply_memberships(struct web_req *req, const struct psub *ps)
{
	char href[UCWA_HREF_MAX], mhref[2 * UCWA_HREF_MAX];
	struct repr *r = NULL, *m;
	struct le *le;
	int err;

	err = psub_href(ps, href, sizeof(href));
	if (!err)
		err = repr_href(mhref, sizeof(mhref), href, "/memberships");
	if (!err)
		err = repr_alloc(&r, "presenceSubscriptionMemberships", mhref);
	for (le = ps->members.head; !err && le; le = le->next) {
		m = membership(ps, le->data);
		err = m ? repr_embed(r, m) : ENOMEM;
		mem_deref(m);
	}
	if (err)
		web_reply_text(req, 500, NULL,
			       "could not build the memberships");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* GET memberships/<contact>: the membership of one contact, as listed. */
static void reply_membership(struct web_req *req, const struct psub *ps,
			     const struct pl *name)
{
	char enc[UCWA_HREF_MAX];
	struct le *le;

	for (le = ps->members.head; le; le = le->next) {
		const struct member *mb = le->data;
		struct repr *m;

		/* the name as the list gives it (its own percent-encoding) */
		if (ucwa_contact_href(enc, sizeof(enc), ps->app,
				      ucwa_watched_uri(mb->w)) ||
		    pl_strcasecmp(name, enc + strlen(ps->app->href) +
					    sizeof("/people/contacts/") - 1))
			continue;
		m = membership(ps, mb);
		if (m)
			api_reply(req, 200, NULL, m, NULL);
		else
			web_reply_text(req, 500, NULL,
				       "could not build the membership");
		mem_deref(m);
		return;
	}
	api_reply_error(req, 404, NULL, "NotFound", NULL, "no such membership");
}

static void bad(struct web_req *req, const char *msg)
{
	api_reply_error(req, 400, NULL, "BadRequest",
			"ParameterValidationFailure", msg);
}

static void busy(struct web_req *req)
{
	api_reply_error(req, 409, NULL, "Conflict", NULL,
			"a change of this subscription is under way; "
			"try again");
}

static void limit(struct web_req *req, const char *msg)
{
	api_reply_error(req, 403, NULL, "Forbidden", "LimitExceeded", msg);
}

/* duration from a body: minutes, 10 to 30 */
static bool duration(struct web_req *req, const struct repr_in *in,
		     uint32_t *minutes)
{
	int64_t v;

	if (repr_in_int(in, "duration", &v) || v < UCWA_PSUB_MINUTES_MIN ||
	    v > UCWA_PSUB_MINUTES_MAX) {
		char msg[64];

		(void)re_snprintf(msg, sizeof(msg),
				  "duration must be a number of minutes from "
				  "%u to %u",
				  UCWA_PSUB_MINUTES_MIN, UCWA_PSUB_MINUTES_MAX);
		bad(req, msg);
		return false;
	}
	*minutes = (uint32_t)v;
	return true;
}

/*
 * Add the URIs of the body's array key to ps; all or nothing: on an
 * error the request is answered and ps is as it was.
 */
static bool add_uris(struct app *app, struct web_req *req,
		     const struct repr_in *in, const char *key, struct psub *ps,
		     bool subscribe)
{
	char uris[UCWA_PSUB_URIS_MAX][UCWA_URI_MAX + 1];
	size_t n = 0, i, j, fresh = 0, more = 0;
	struct le *mark = ps->members.tail;
	struct pl v;
	int err = 0;

	for (i = 0; !(err = repr_in_strv(in, key, i, &v)); i++) {
		if (n == UCWA_PSUB_URIS_MAX) {
			limit(req, "too many URIs in one request");
			return false;
		}
		if (!ucwa_contact_uri(uris[n], sizeof(uris[n]), &v, false)) {
			bad(req, "each URI must be a sip:user@domain URI");
			return false;
		}
		for (j = 0; j < n && strcasecmp(uris[j], uris[n]); j++)
			;
		if (j == n)
			++n;
	}
	if (err != ENOENT || !n) {
		bad(req, err == EINVAL ? "the URIs must be an array of strings"
				       : "at least one URI is needed");
		return false;
	}
	for (i = 0; i < n; i++) {
		struct watched *w = ucwa_watched_find(app, uris[i]);

		if (!w)
			++fresh;
		if (!w || !psub_has(ps, w))
			++more;
	}
	if (list_count(&app->watched) + fresh > UCWA_WATCHED_MAX) {
		limit(req, "too many contacts followed at once");
		return false;
	}
	if (list_count(&ps->members) + more > UCWA_PSUB_MEMBERS_MAX) {
		limit(req, "too many contacts in one presence subscription");
		return false;
	}

	for (i = 0, err = 0; i < n && !err; i++)
		err = psub_member_add(ps, uris[i], subscribe);
	if (err) {
		/* back to what it was */
		while (ps->members.tail != mark)
			mem_deref(ps->members.tail->data);
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the presence service cannot be reached");
		return false;
	}
	return true;
}

/* Events for members added after mark: the contact, and what we know. */
static void post_added(struct psub *ps, struct le *mark)
{
	char subc[UCWA_HREF_MAX], href[UCWA_HREF_MAX];
	struct le *le = mark ? mark->next : ps->members.head;

	if (repr_href(subc, sizeof(subc), ps->app->href,
		      "/people/subscribedContacts"))
		return;
	for (; le; le = le->next) {
		const struct member *m = le->data;

		if (ucwa_contact_href(href, sizeof(href), ps->app,
				      ucwa_watched_uri(m->w)))
			continue;
		ucwa_people_post(ps->app, "added", "contact", href,
				 "subscribedContacts", subc, NULL);
		/* another subscription already knows: tell it now */
		ucwa_watched_announce(m->w);
	}
}

/* The change is in place: answer, and tell the event channel. */
static void req_gone(struct web_req *req, void *arg)
{
	struct psub *ps = arg;

	(void)req;
	ps->req = mem_deref(ps->req);
}

void psub_hold(struct psub *ps, struct web_req *req)
{
	ps->req = mem_ref(req);
	web_req_set_cancel(req, req_gone, ps);
}

static void not_stored(struct web_req *req)
{
	if (req)
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the presence subscription could not be "
				"stored; try again");
}

/* Stored: the client (if still there) gets the subscription, the app's
 * event channel the change (type "added" or "updated"). */
static void committed(struct psub *ps, struct web_req *req, uint16_t scode,
		      const char *type)
{
	char href[UCWA_HREF_MAX];

	if (req)
		reply_psub(req, ps, scode);
	if (!psub_href(ps, href, sizeof(href)))
		ucwa_people_post(ps->app, type, "presenceSubscription", href,
				 NULL, NULL, NULL);
}

static void created(struct psub *ps, struct web_req *req, int err)
{
	if (err) {
		not_stored(req);
		mem_deref(ps);
		return;
	}
	committed(ps, req, 201, "added");
	post_added(ps, NULL);
}

static void added(struct psub *ps, struct web_req *req, int err)
{
	if (err) {
		/* back to what it was (and is stored) */
		not_stored(req);
		while (ps->members.tail != ps->mark)
			mem_deref(ps->members.tail->data);
		return;
	}
	if (req)
		reply_memberships(req, ps);
	post_added(ps, ps->mark);
}

static void extended(struct psub *ps, struct web_req *req, int err)
{
	if (err) {
		not_stored(req);
		return;
	}
	committed(ps, req, 200, "updated");
}

/* Its record is deleted (ENOENT: it was not stored): now it ends. A
 * failed delete leaves it as it was (503). */
static void deleted(struct psub *ps, struct web_req *req, int err)
{
	char href[UCWA_HREF_MAX];

	if (err && err != ENOENT) {
		if (req)
			not_stored(req);
		return;
	}
	if (req)
		web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
	if (!psub_href(ps, href, sizeof(href)))
		ucwa_people_post(ps->app, "deleted", "presenceSubscription",
				 href, NULL, NULL, NULL);
	mem_deref(ps);
}

void psub_finish(struct psub *ps, struct web_req *req)
{
	if (ps->live) {
		psub_save(ps, req, added);
		return;
	}
	ps->live = true;
	psub_start(ps);
	psub_save(ps, req, created);
}

/* In the application's list, with its number (and its list's URI). */
int psub_add(struct app *app, struct psub *ps, unsigned id)
{
	const char *at = strchr(app->user, '@');
	int err;

	ps->id = id;
	err = re_sdprintf(&ps->service, "sip:%b.m%s.%u@%s", app->user,
			  (size_t)(at - app->user), app->id, id, at + 1);
	if (err)
		return err;
	list_append(&app->psubs, &ps->le, ps);
	return 0;
}

static void create(struct app *app, struct web_req *req)
{
	struct repr_in *in = NULL;
	struct psub *ps = NULL;

	if (api_body(req, &in))
		goto out;
	ps = psub_alloc(app);
	if (!ps) {
		web_reply_text(req, 503, NULL, "out of memory");
		goto out;
	}
	if (!duration(req, in, &ps->minutes))
		goto out;
	if (list_count(&app->psubs) >= UCWA_PSUBS_MAX) {
		limit(req, "too many presence subscriptions");
		goto out;
	}
	if (!add_uris(app, req, in, "uris", ps, !plist_mode(app)))
		goto out;

	if (psub_add(app, ps, ++app->psub_next)) {
		web_reply_text(req, 503, NULL, "out of memory");
		goto out;
	}
	plist_commit(ps, req);
	ps = NULL;

out:
	mem_deref(ps);
	mem_deref(in);
}

/* GET people/presenceSubscriptions */
void ucwa_psubs_get(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	(void)prm;
	reply_all(arg, req);
}

/* POST people/presenceSubscriptions */
void ucwa_psubs_post(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	(void)prm;
	create(arg, req);
}

/* The subscription {id} of the path; NULL if there is none (answered). */
static struct psub *path_psub(const struct app *app, struct web_req *req,
			      const struct web_params *prm)
{
	struct psub *ps = psub_find(app, web_param(prm, "id"));

	if (!ps)
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such presence subscription");
	return ps;
}

/* POST of a subscription: extend it by a new duration from now. */
static void extend(struct psub *ps, struct web_req *req)
{
	struct repr_in *in = NULL;
	uint32_t minutes;

	/* api_body answers a bad body itself */
	if (ps->op || ps->save) {
		busy(req);
	} else if (!api_body(req, &in) && duration(req, in, &minutes)) {
		ps->minutes = minutes;
		wheel_cancel(&ps->timer);
		psub_start(ps);
		psub_save(ps, req, extended);
	}
	mem_deref(in);
}

/* GET, POST, DELETE people/presenceSubscriptions/{id} */
void ucwa_psub_one(struct web_req *req, const struct web_params *prm, void *arg)
{
	struct psub *ps = path_psub(arg, req, prm);
	const struct pl *m = web_req_method(req);

	if (!ps)
		return;
	if (!pl_strcmp(m, "GET")) {
		reply_psub(req, ps, 200);
	} else if (!pl_strcmp(m, "DELETE")) {
		/* the 204 waits for the record's delete: a GET or a
		 * restart after it finds nothing */
		if (ps->op || ps->save)
			busy(req);
		else
			psub_remove(ps, req, deleted);
	} else {
		extend(ps, req);
	}
}

/* GET people/presenceSubscriptions/{id}/memberships */
void ucwa_psub_memberships(struct web_req *req, const struct web_params *prm,
			   void *arg)
{
	struct psub *ps = path_psub(arg, req, prm);

	if (ps)
		reply_memberships(req, ps);
}

/* GET people/presenceSubscriptions/{id}/memberships/{name*} */
void ucwa_psub_membership(struct web_req *req, const struct web_params *prm,
			  void *arg)
{
	struct psub *ps = path_psub(arg, req, prm);

	if (ps)
		reply_membership(req, ps, web_param(prm, "name"));
}

/* POST people/presenceSubscriptions/{id}/addToPresenceSubscription */
void ucwa_psub_add(struct web_req *req, const struct web_params *prm, void *arg)
{
	struct app *app = arg;
	struct psub *ps = path_psub(app, req, prm);
	struct repr_in *in = NULL;
	struct le *mark;

	if (!ps)
		return;
	mark = ps->members.tail;
	if (ps->op || ps->save) {
		busy(req);
	} else if (!api_body(req, &in) && add_uris(app, req, in, "contactUris",
						   ps, !plist_mode(app))) {
		ps->mark = mark;
		plist_commit(ps, req);
	}
	mem_deref(in);
}

void ucwa_psub_forget_all(struct app *app)
{
	struct le *le;

	for (le = app->psubs.head; le; le = le->next) {
		struct psub *ps = le->data;

		sipua_sub_forget(ps->list);
		sipua_sub_forget(ps->dead);
		/* the next owner subscribes to the same list again */
		ps->stored = false;
	}
	ucwa_watched_forget_all(app);
}

void ucwa_psub_close_all(struct app *app)
{
	app->psub_op = mem_deref(app->psub_op);
	list_flush(&app->psubs);
	ucwa_watched_close_all(app);
}
