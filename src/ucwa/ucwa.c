/**
 * @file ucwa.c  The mobility API: authentication, routing, the registry of
 * applications
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "conf.h"
#include "api.h"
#include "auth.h"
#include "evchan.h"
#include "sipua.h"
#include "store.h"
#include "ucwa.h"
#include "ucwa_int.h"

enum {
	/* applications by id and users by name: every request looks one
	 * up; 100,000 sessions (10,000 users of 10) give 6 per bucket */
	APP_BUCKETS = 16384,
};

static void destructor(void *arg)
{
	struct ucwa *u = arg;

	ucwa_fence_close(u);
	hash_flush(u->apps);
	hash_flush(u->users);
	list_flush(&u->closing);
	mem_deref(u->apps);
	mem_deref(u->users);
	mem_deref(u->push);
	mem_deref(u->auth);
	mem_deref(u->st);
	mem_deref(u->ua);
	mem_deref(u->wheel);
	mem_deref(u->conf);
}

int ucwa_alloc(struct ucwa **up, struct conf *conf, struct wheel *w,
	       struct sipua *ua, struct store *st, struct auth *a)
{
	struct ucwa *u;
	int err;

	if (!up || !conf || !w || !ua || !st || !a)
		return EINVAL;

	u = mem_zalloc(sizeof(*u), destructor);
	if (!u)
		return ENOMEM;

	u->conf = mem_ref(conf);
	u->wheel = mem_ref(w);
	u->ua = mem_ref(ua);
	u->st = mem_ref(st);
	u->auth = mem_ref(a);
	err = hash_alloc(&u->apps, APP_BUCKETS);
	err |= hash_alloc(&u->users, APP_BUCKETS);
	u->m_apps = metrics_get(METRIC_GAUGE, "mobility_applications", NULL,
				"Applications (mobility sessions) alive");
	u->m_expired = metrics_get(
	    METRIC_COUNTER, "mobility_sessions_expired_total", NULL,
	    "Applications ended by their lifetime (no client contact)");
	u->sctx.conf = conf;
	u->sctx.wheel = w;
	u->sctx.st = st;
	u->sctx.ops = &ucwa_session_ops;
	u->sctx.m_expired = u->m_expired;
	/* a pool instance holds its sessions under its lease */
	if (!strcmp(conf->store_backend, "redis") &&
	    conf->store_redis_instance && *conf->store_redis_instance)
		u->inst = conf->store_redis_instance;
	if (!err)
		err = ucwa_fence_alloc(u);
	if (err)
		mem_deref(u);
	else
		*up = u;
	return err;
}

void ucwa_set_push(struct ucwa *u, struct push *push)
{
	if (!u)
		return;
	mem_deref(u->push);
	u->push = mem_ref(push);
}

static void uapps_destructor(void *arg)
{
	struct uapps *ua = arg;

	hash_unlink(&ua->he);
}

static bool user_cmp(struct le *le, void *arg)
{
	const struct uapps *ua = le->data;
	return !strcmp(ua->user, arg);
}

static struct uapps *uapps_find(struct ucwa *u, const char *user)
{
	return list_ledata(hash_lookup(u->users, hash_joaat_str(user), user_cmp,
				       (void *)user));
}

static bool id_cmp(struct le *le, void *arg)
{
	const struct app *app = le->data;
	return !pl_strcmp(arg, app->id);
}

struct app *ucwa_app_find(struct ucwa *u, const struct pl *id)
{
	return list_ledata(hash_lookup(u->apps, hash_joaat_ci(id->p, id->l),
				       id_cmp, (void *)id));
}

void ucwa_set_ready_handler(struct ucwa *u, ucwa_ready_h *h, void *arg)
{
	if (!u)
		return;
	u->readyh = h;
	u->ready_arg = arg;
}

void ucwa_app_ready(struct app *app, int err)
{
	struct ucwa *u = app->u;

	if (!app->want_ready)
		return;
	app->want_ready = false;
	if (u->readyh)
		u->readyh(app->id, err, u->ready_arg);
}

bool ucwa_holds(struct ucwa *u, const char *id)
{
	struct app *app;
	struct pl pl;

	if (!u || !id)
		return false;
	pl_set_str(&pl, id);
	app = ucwa_app_find(u, &pl);
	return app && !app->pending && !app->s.loading;
}

int ucwa_take(struct ucwa *u, const uint8_t *rec, size_t len)
{
	struct app *app = NULL;
	int err;

	if (!u || !rec)
		return EINVAL;
	err = ucwa_app_restore(u, rec, len, &app);
	if (!err && !app)
		err = ENOENT; /* its lifetime was over: ended */
	return err;
}

void ucwa_app_add(struct ucwa *u, struct app *app)
{
	struct uapps *ua = uapps_find(u, app->user);

	if (!ua) {
		ua = mem_zalloc(sizeof(*ua), uapps_destructor);
		if (!ua)
			return;
		(void)re_snprintf(ua->user, sizeof(ua->user), "%s", app->user);
		hash_append(u->users, hash_joaat_str(ua->user), &ua->he, ua);
	}
	hash_append(u->apps, hash_joaat_ci(app->id, strlen(app->id)), &app->he,
		    app);
	list_append(&ua->apps, &app->le_user, app);
	++u->n;
	metric_set(u->m_apps, (int64_t)u->n);
}

static void app_free(void *arg)
{
	struct app *app = arg;

	list_unlink(&app->le_user);
	mem_deref(app);
}

void ucwa_app_close(struct app *app)
{
	struct ucwa *u = app->u;
	struct uapps *ua;

	if (app->s.closing)
		return;
	app->s.closing = true;
	/* brought back but not routable: it failed */
	ucwa_app_ready(app, ENOENT);

	/* gone for every lookup now; freed once the stack has unwound, as
	 * we may be inside a callback of its registration or the store */
	ua = app->le_user.list ? uapps_find(u, app->user) : NULL;
	hash_unlink(&app->he);
	list_unlink(&app->le_user);
	if (ua && list_isempty(&ua->apps))
		mem_deref(ua);
	--u->n;
	metric_set(u->m_apps, (int64_t)u->n);
	list_append(&u->closing, &app->le_user, app);
	tmr_start(&app->close_tmr, 0, app_free, app);
}

struct app *ucwa_app_by_endpoint(struct ucwa *u, const char *user,
				 const char *endpoint)
{
	struct uapps *ua = uapps_find(u, user);
	struct le *le;

	for (le = ua ? ua->apps.head : NULL; le; le = le->next) {
		struct app *app = le->data;
		if (!strcmp(app->endpoint, endpoint))
			return app;
	}
	return NULL;
}

void ucwa_app_sipid(const struct app *app, char *user, size_t size,
		    struct sipua_id *id)
{
	const char *at = strchr(app->user, '@');
	size_t n = at ? (size_t)(at - app->user) : strlen(app->user);

	(void)re_snprintf(user, size, "%b", app->user, n);
	id->user = user;
	id->domain = at ? at + 1 : "";
	id->ha1 = app->ha1;
}

size_t ucwa_user_apps(struct ucwa *u, const char *user)
{
	struct uapps *ua = uapps_find(u, user);
	return ua ? list_count(&ua->apps) : 0;
}

uint32_t ucwa_forget_all(struct ucwa *u)
{
	uint32_t n = 0;
	struct le *le;
	uint32_t i;

	if (!u)
		return 0;
	/* each forget unlinks its own application from the table only */
	for (i = 0; i < hash_bsize(u->apps); i++) {
		le = list_head(hash_list(u->apps, i));
		while (le) {
			struct app *app = le->data;

			le = le->next;
			ucwa_app_forget(app);
			++n;
		}
	}
	if (n)
		log_notice("ucwa: %u applications forgotten", n);
	return n;
}

static bool load_record(const uint8_t *key, size_t klen, const uint8_t *val,
			size_t len, void *arg)
{
	struct ucwa *u = arg;
	int err;

	err = ucwa_app_restore(u, val, len, NULL);
	if (err)
		log_warn("ucwa: application %b not restored: %m", key, klen,
			 err);
	return false; /* all of them */
}

static void load_done(int err, void *arg)
{
	struct ucwa *u = arg;

	if (err)
		log_error("ucwa: loading applications failed: %m", err);
	else
		log_info("ucwa: %zu applications restored", u->n);
}

int ucwa_load(struct ucwa *u)
{
	if (!u)
		return EINVAL;
	return session_records_load(&u->sctx, load_record, load_done, u);
}

/* 401 with the token service challenge of the access location the client
 * used: the configured internal web FQDN when it asked for that name, else
 * the external one. Never the Host header itself: a forged Host must not
 * send a client's password elsewhere. */
static void challenge(const struct ucwa *u, struct web_req *req)
{
	static const char body[] = "sign in at the token service\n";
	const struct conf *c = u->conf;
	bool internal = !pl_strcasecmp(web_req_host(req), c->internal_web_fqdn);
	const char *fqdn =
	    internal ? c->internal_web_fqdn : c->external_web_fqdn;
	uint16_t port = internal ? c->internal_web_port : c->external_web_port;
	char portbuf[8] = "";

	if (port != 443)
		(void)re_snprintf(portbuf, sizeof(portbuf), ":%u", port);
	web_reply(req, 401, NULL, "text/plain; charset=utf-8",
		  (const uint8_t *)body, sizeof(body) - 1,
		  "WWW-Authenticate: MsRtcOAuth href=\"https://%s%s"
		  "/WebTicket/oauthtoken\",grant_type=\"password\"\r\n",
		  fqdn, portbuf);
}

static void not_found(struct web_req *req)
{
	api_reply_error(req, 404, NULL, "NotFound", "ApplicationNotFound",
			"no such application");
}

/* A request whose token must first be read from the store. */
struct pauth {
	struct ucwa *u;
	struct web_req *req;
	struct auth_check *chk;
	struct tmr tmr; /* freed after the callback's stack unwound */
};

static void route(struct ucwa *u, struct web_req *req, const char *user);

static void pauth_destructor(void *arg)
{
	struct pauth *p = arg;

	tmr_cancel(&p->tmr);
	mem_deref(p->chk);
	if (p->req)
		web_req_set_cancel(p->req, NULL, NULL);
	mem_deref(p->req);
}

static void pauth_free(void *arg)
{
	mem_deref(arg);
}

static void pauth_cancel(struct web_req *req, void *arg)
{
	(void)req;
	mem_deref(arg);
}

static void pauth_done(int err, const char *user, void *arg)
{
	struct pauth *p = arg;
	struct web_req *req = p->req;

	/* the request is the route's from here: a P-GET parked by it sets
	 * its own cancel handler, which freeing p must not clear */
	p->req = NULL;
	web_req_set_cancel(req, NULL, NULL);
	if (err)
		challenge(p->u, req);
	else
		route(p->u, req, user);
	mem_deref(req);
	tmr_start(&p->tmr, 0, pauth_free, p);
}

bool ucwa_handle(struct ucwa *u, struct web_req *req)
{
	const struct pl *path = web_req_path(req);
	const size_t blen = sizeof(UCWA_BASE) - 1;
	struct pauth *p;
	struct pl authz;
	const char *user;
	int err;

	if (path->l < blen || strncasecmp(path->p, UCWA_BASE, blen) ||
	    (path->l > blen && path->p[blen] != '/'))
		return false;

	if (!web_req_header(req, "Authorization", &authz)) {
		challenge(u, req);
		return true;
	}
	err = auth_verify(u->auth, &authz, &user);
	if (!err) {
		route(u, req, user);
		return true;
	}
	if (err != ENOENT) {
		challenge(u, req);
		return true;
	}

	/* a token of another instance, or of this one before a restart */
	p = mem_zalloc(sizeof(*p), pauth_destructor);
	if (!p) {
		web_reply_text(req, 503, NULL, "out of memory");
		return true;
	}
	p->u = u;
	p->req = mem_ref(req);
	web_req_set_cancel(req, pauth_cancel, p);
	if (auth_verify_async(&p->chk, u->auth, &authz, pauth_done, p)) {
		challenge(u, req);
		mem_deref(p);
	}
	return true;
}

/* The applications resource: arg is struct root. */
struct root {
	struct ucwa *u;
	const char *user;
};

static void app_create(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	struct root *r = arg;

	(void)prm;
	ucwa_app_create(r->u, req, r->user);
}

static const struct web_route root_rows[] = {
    {"", WEB_POST, app_create},
};

/*
 * An application's resources: arg is the application.
 */

static void app_get(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	(void)prm;
	ucwa_app_reply(req, arg, 200);
}

static void app_delete(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	(void)prm;
	ucwa_app_delete(arg, req);
}

/* Parts of the application with nothing of their own yet. */
static void policies(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	(void)prm;
	ucwa_app_part_reply(req, arg, "policies");
}

static void meetings(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	(void)prm;
	ucwa_app_part_reply(req, arg, "onlineMeetings");
}

static void events(struct web_req *req, const struct web_params *prm, void *arg)
{
	const struct app *app = arg;

	(void)prm;
	evchan_get(app->ev, req);
}

/*
 * communication/ has a table of its own, reached through the row
 * "communication/{rest*}" below: a request for another resource passes
 * over one row instead of fifteen, and one under communication/ does not
 * compare "communication/" again for each of its rows.
 */
static const struct web_route comm_rows[] = {
    /* a conversation in progress first: an app sends and reads its
     * messages far more often than it asks for anything else here */
    {"conversations/{n}/messaging/messages", WEB_POST, ucwa_messages_post},
    {"conversations/{n}/messaging/messages/{msg}", WEB_GET, ucwa_message_get},
    {"conversations/{n}/messaging", WEB_GET, ucwa_messaging_get},
    {"conversations/{n}/messaging/stopMessaging", WEB_POST,
     ucwa_stop_messaging},
    /* calls and IM conversations share the numbers of conversations */
    {"conversations/{n}", WEB_GET, ucwa_conv_get},
    {"conversations/{n}/participants", WEB_GET, ucwa_participants_get},
    {"conversations/{n}/participants/{uri}", WEB_GET, ucwa_participant_get},
    {"messagingInvitations", WEB_POST, ucwa_msginv_post},
    {"messagingInvitations/{n}", WEB_GET, ucwa_msginv_get},
    {"messagingInvitations/{n}/accept", WEB_POST, ucwa_msginv_accept},
    {"messagingInvitations/{n}/decline", WEB_POST, ucwa_msginv_decline},
    {"phoneAudioInvitations/{n}", WEB_GET, ucwa_call_inv_get},
    {"phoneAudioInvitations/{n}/decline", WEB_POST, ucwa_call_decline},
    {"conversationLogs", WEB_GET, ucwa_hist_get},
    {"", WEB_GET, ucwa_comm_get},
};

static void resource_not_found(struct web_req *req, void *arg);

static const struct web_routes comm_routes = {comm_rows, ARRAY_SIZE(comm_rows),
					      false, resource_not_found};

static void comm(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)web_route(&comm_routes, req, web_param(prm, "rest"), arg);
}

static const struct web_route app_rows[] = {
    {"", WEB_GET, app_get},
    {"", WEB_DELETE, app_delete},
    {"me", WEB_GET, ucwa_me_get},
    {"me/presence", WEB_GET | WEB_POST, ucwa_me_presence},
    {"me/makeMeAvailable", WEB_POST, ucwa_me_available},
    {"me/note", WEB_GET | WEB_POST, ucwa_me_note},
    {"me/location", WEB_GET | WEB_POST, ucwa_me_location},
    {"me/reportMyActivity", WEB_POST, ucwa_me_activity},
    /* the reference's samples post it on the application too */
    {"reportMyActivity", WEB_POST, ucwa_me_activity},
    {"people", WEB_GET, ucwa_people_get},
    {"people/presenceSubscriptions", WEB_GET, ucwa_psubs_get},
    {"people/presenceSubscriptions", WEB_POST, ucwa_psubs_post},
    {"people/presenceSubscriptions/{id}", WEB_GET | WEB_POST | WEB_DELETE,
     ucwa_psub_one},
    {"people/presenceSubscriptions/{id}/memberships", WEB_GET,
     ucwa_psub_memberships},
    {"people/presenceSubscriptions/{id}/memberships/{name*}", WEB_GET,
     ucwa_psub_membership},
    {"people/presenceSubscriptions/{id}/addToPresenceSubscription", WEB_POST,
     ucwa_psub_add},
    {"people/subscribedContacts", WEB_GET, ucwa_psub_contacts},
    {"people/contacts", WEB_GET, ucwa_contacts_get},
    {"people/contacts", WEB_POST, ucwa_contacts_post},
    {"people/contacts/{uri}", WEB_GET, ucwa_contact_get},
    {"people/contacts/{uri}", WEB_DELETE, ucwa_contact_delete},
    {"people/contacts/{uri}/contactPrivacyRelationship", WEB_GET,
     ucwa_privacy_get},
    {"people/contacts/{uri}/contactPrivacyRelationship", WEB_POST,
     ucwa_privacy_post},
    /* contactPresence, contactNote, contactLocation */
    {"people/contacts/{uri}/{what}", WEB_GET, ucwa_contact_state},
    {"people/groups", WEB_GET, ucwa_groups_get},
    {"people/groups/{group}", WEB_GET, ucwa_group_get},
    {"people/groups/{group}/contacts", WEB_GET, ucwa_group_contacts_get},
    /* communication/...: the rows of comm_rows above */
    {"communication/{rest*}", WEB_ANY, comm},
    {"pushRegistration", WEB_GET | WEB_PUT | WEB_POST | WEB_DELETE,
     ucwa_pushreg},
    {"policies", WEB_GET, policies},
    {"onlineMeetings", WEB_GET, meetings},
    {"events", WEB_GET, events},
};

static void resource_not_found(struct web_req *req, void *arg)
{
	(void)arg;
	api_reply_error(req, 404, NULL, "NotFound", NULL, "no such resource");
}

static const struct web_routes root_routes = {root_rows, ARRAY_SIZE(root_rows),
					      false, resource_not_found};
static const struct web_routes app_routes = {app_rows, ARRAY_SIZE(app_rows),
					     false, resource_not_found};

void ucwa_set_remote(struct ucwa *u, ucwa_remote_h *h, void *arg)
{
	if (!u)
		return;
	u->remote = h;
	u->remote_arg = arg;
}

static void route_app(struct ucwa *u, struct web_req *req, const char *user,
		      bool remote)
{
	const struct pl *path = web_req_path(req);
	const size_t blen = sizeof(UCWA_BASE) - 1;
	struct pl rest, id, sub;
	struct app *app;

	rest.p = path->p + blen;
	rest.l = path->l - blen;
	if (rest.l && rest.p[0] == '/') {
		++rest.p;
		--rest.l;
	}

	if (!rest.l) {
		struct root r = {u, user};

		(void)web_route(&root_routes, req, &rest, &r);
		return;
	}

	/* <id>[/<sub>] */
	sub = rest;
	(void)text_next(&sub, '/', &id);
	app = ucwa_app_find(u, &id);
	/* a pool: not here, it may be another instance's (forwarded) */
	if (!app && remote && u->remote &&
	    u->remote(req, &id, user, u->remote_arg))
		return;
	/* someone else's application is as absent as a missing one */
	if (!app || app->pending || strcmp(app->user, user)) {
		not_found(req);
		return;
	}
	/* the client is here: the session's lifetime counts from now */
	session_life_contact(&app->s);
	if (app->s.loading) {
		/* restored at start-up, its events not read yet: a moment */
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the application is being restored; try "
				"again in a moment");
		return;
	}
	(void)web_route(&app_routes, req, &sub, app);
}

static void route(struct ucwa *u, struct web_req *req, const char *user)
{
	route_app(u, req, user, true);
}

void ucwa_route_here(struct ucwa *u, struct web_req *req, const char *user)
{
	if (u && req && user)
		route_app(u, req, user, false);
}
