/**
 * @file app.c  Applications: one mobility session of one device
 *
 * Creating an application registers the device at the Front End (its own
 * +sip.instance and reg-id 1) with the HA1 kept at sign-in; the 201 is
 * sent once the Front End has accepted the REGISTER and the application
 * is committed to the store, so a created application is one that is
 * reachable and survives a restart.
 *
 * The record (what a restart reads) is written, read back and deleted by
 * the session (src/session/record.c); this file gives it the fields of
 * this layer (record_fields(), record_read()), brings back the events the
 * session reads (restore_event()) and answers the requests that wait for
 * those writes (create, the changes that save, DELETE).
 */
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <re.h>
#include "conf.h"
#include "repr.h"
#include "api.h"
#include "auth.h"
#include "evchan.h"
#include "sipua.h"
#include "store.h"
#include "ucwa.h"
#include "ucwa_int.h"

enum {
	/* bytes of culture, endpointId and userAgent: UCWA_FIELD_MAX
	 * characters of up to 4 bytes of UTF-8 */
	FIELD_SIZE = 4 * UCWA_FIELD_MAX + 1,
};

static void app_destructor(void *arg)
{
	struct app *app = arg;

	tmr_cancel(&app->close_tmr);
	ucwa_push_close_all(app);
	ucwa_me_close(app);
	ucwa_conv_close_all(app);
	ucwa_call_close_all(app);
	ucwa_psub_close_all(app);
	/* its timers, counts, history and push registration */
	session_close(&app->s);
	mem_deref(app->xc);
	explicit_bzero(app->ha1, sizeof(app->ha1));
	hash_unlink(&app->he);
	list_unlink(&app->le_user);
	if (app->pending) {
		web_req_set_cancel(app->pending, NULL, NULL);
		app->pending = mem_deref(app->pending);
	}
	mem_deref(app->op);
	/* writes in flight are still committed; only their answers go */
	list_flush(&app->saves);
	/* dropping the registration un-REGISTERs this contact only */
	mem_deref(app->reg);
	mem_deref(app->ev);
	mem_deref(app->user);
	mem_deref(app->endpoint);
	mem_deref(app->culture);
	mem_deref(app->agent);
}

/* The +sip.instance of a device: a name-based (SHA-1, RFC 4122 4.3) UUID
 * of user and endpointId, so a device keeps its instance across sessions
 * and instances of the service (RFC 5626 4.1). */
static int instance_uuid(char uuid[37], const char *user, const struct pl *epid)
{
	/* our own namespace for device instances (a random v4 UUID) */
	static const uint8_t ns[16] = {0x5b, 0x0e, 0x2c, 0x71, 0x8f, 0x3a,
				       0x4d, 0x52, 0x9a, 0x61, 0x27, 0xc4,
				       0xe8, 0x13, 0x6f, 0xd0};
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_MD_CTX *ctx;
	int ok;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
	     EVP_DigestUpdate(ctx, ns, sizeof(ns)) &&
	     EVP_DigestUpdate(ctx, user, strlen(user)) &&
	     EVP_DigestUpdate(ctx, "\n", 1) &&
	     EVP_DigestUpdate(ctx, epid->p, epid->l) &&
	     EVP_DigestFinal_ex(ctx, md, &n);
	EVP_MD_CTX_free(ctx);
	if (!ok || n < 16)
		return EIO;

	md[6] = (md[6] & 0x0f) | 0x50; /* version 5 (RFC 4122 4.3) */
	md[8] = (md[8] & 0x3f) | 0x80; /* variant 10 */
	(void)re_snprintf(uuid, 37,
			  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			  "%02x%02x%02x%02x%02x%02x",
			  md[0], md[1], md[2], md[3], md[4], md[5], md[6],
			  md[7], md[8], md[9], md[10], md[11], md[12], md[13],
			  md[14], md[15]);
	return 0;
}

/* 128 random bits, base64url: ids are not guessable. */
static int new_id(char id[UCWA_ID_LEN + 1])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[17];
	size_t i;

	if (RAND_bytes(r, 16) != 1)
		return EIO;
	r[16] = 0;
	for (i = 0; i < UCWA_ID_LEN; i++) {
		size_t bit = i * 6;
		unsigned v = (unsigned)(r[bit / 8] << 8 | r[bit / 8 + 1]);
		id[i] = b64url[(v >> (10 - bit % 8)) & 63];
	}
	id[UCWA_ID_LEN] = '\0';
	return 0;
}

/* The application's parts the reference embeds in it and lets a
 * client GET alone: rel, sub-path, and the links each holds. */
static const struct part {
	const char *rel;
	const char *links[3][2]; /* rel, path below the application */
} parts[] = {
    {"people",
     {{"presenceSubscriptions", "people/presenceSubscriptions"},
      {"myContacts", "people/contacts"},
      {"myGroups", "people/groups"}}},
    {"onlineMeetings", {{NULL, NULL}}},
    {"communication",
     {{"startMessaging", "communication/messagingInvitations"},
      {"conversationLogs", "communication/conversationLogs"}}},
    {"policies", {{NULL, NULL}}},
};

/* A new part resource by rel into *rp; ENOENT if there is none. */
static int part_alloc(struct repr **rp, const struct app *app, const char *rel)
{
	struct repr *r = NULL;
	char href[256];
	size_t i, j;
	int err;

	for (i = 0; i < ARRAY_SIZE(parts); i++)
		if (!strcmp(parts[i].rel, rel))
			break;
	if (i == ARRAY_SIZE(parts))
		return ENOENT;
	err = repr_href(href, sizeof(href), app->href, "/%s", rel);
	if (!err)
		err = repr_alloc(&r, rel, href);
	for (j = 0;
	     !err && j < ARRAY_SIZE(parts[i].links) && parts[i].links[j][0];
	     j++) {
		err = repr_href(href, sizeof(href), app->href, "/%s",
				parts[i].links[j][1]);
		if (!err)
			err = repr_link(r, parts[i].links[j][0], href);
	}
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err;
}

static int embed_part(struct repr *r, const struct app *app, const char *rel)
{
	struct repr *c = NULL;
	int err = part_alloc(&c, app, rel);

	if (!err)
		err = repr_embed(r, c);
	mem_deref(c);
	return err;
}

void ucwa_app_part_reply(struct web_req *req, const struct app *app,
			 const char *rel)
{
	struct repr *r = NULL;
	int err = part_alloc(&r, app, rel);

	if (err == ENOENT)
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such resource");
	else if (err)
		web_reply_text(req, 500, NULL, "could not build the resource");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* A link rel to path below the application. */
static int link_below(struct repr *r, const char *rel, const struct app *app,
		      const char *path)
{
	char href[256];
	int err = repr_href(href, sizeof(href), app->href, "%s", path);

	return err ? err : repr_link(r, rel, href);
}

/* The application resource with its embedded me, people,
 * onlineMeetings and communication (PROTOCOL.md). */
static int build(struct repr **rp, const struct app *app)
{
	struct repr *r = NULL, *c = NULL;
	char href[256], name[AUTH_USER_MAX + 1];
	const char *at = strchr(app->user, '@');
	int err;

	err = repr_alloc(&r, "application", app->href);
	err |= repr_prop_str(r, "culture", app->culture);
	err |= repr_prop_str(r, "userAgent", app->agent);
	err |= repr_prop_str(r, "type", "Application");
	err |= repr_prop_str(r, "endpointId", app->endpoint);
	err |= repr_prop_str(r, "id", app->id);
	err |= link_below(r, "policies", app, "/policies");
	err |= link_below(r, "batch", app, "/batch");
	err |= repr_href(href, sizeof(href), app->href, "/events?ack=%llu",
			 (unsigned long long)evchan_batch(app->ev) + 1);
	err |= repr_link(r, "events", href);
	/* our extension: where the app registers for push (docs/api.md) */
	err |= link_below(r, "pushRegistration", app, "/pushRegistration");

	(void)re_snprintf(name, sizeof(name), "%b", app->user,
			  at ? (size_t)(at - app->user) : strlen(app->user));
	err |= repr_href(href, sizeof(href), app->href, "/me");
	err |= repr_alloc(&c, "me", href);
	err |= repr_prop_str(c, "name", name);
	(void)re_snprintf(href, sizeof(href), "sip:%s", app->user);
	err |= repr_prop_str(c, "uri", href);
	if (!app->me.available) {
		err |= link_below(c, "makeMeAvailable", app,
				  "/me/makeMeAvailable");
	} else {
		err |= link_below(c, "presence", app, "/me/presence");
		err |= link_below(c, "note", app, "/me/note");
		err |= link_below(c, "location", app, "/me/location");
		err |= link_below(c, "reportMyActivity", app,
				  "/me/reportMyActivity");
	}
	err |= repr_embed(r, c);
	c = mem_deref(c);

	/* the parts a client may also GET alone (ucwa_app_part_reply) */
	err |= embed_part(r, app, "people");
	err |= embed_part(r, app, "onlineMeetings");
	err |= embed_part(r, app, "communication");

	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err ? ENOMEM : 0;
}

void ucwa_app_reply(struct web_req *req, const struct app *app, uint16_t scode)
{
	struct repr *r = NULL;
	char loc[UCWA_HREF_MAX + 16];

	if (build(&r, app) ||
	    (scode == 201 &&
	     repr_href(loc, sizeof(loc), "Location: ", "%s\r\n", app->href))) {
		mem_deref(r);
		web_reply_text(req, 500, NULL,
			       "could not build the application");
		return;
	}
	if (scode == 201) {
		api_reply(req, 201, NULL, r, loc);
	} else {
		api_reply(req, scode, NULL, r, NULL);
	}
	mem_deref(r);
}

/* This layer's fields of the session's record (session_record_encode()):
 * what a restart needs to bring the application back. */
static int record_fields(const struct app *app, struct repr *r)
{
	int err;

	err = repr_prop_str(r, "id", app->id);
	err |= repr_prop_str(r, "user", app->user);
	err |= repr_prop_str(r, "endpointId", app->endpoint);
	err |= repr_prop_str(r, "culture", app->culture);
	err |= repr_prop_str(r, "userAgent", app->agent);
	err |= repr_prop_str(r, "instance", app->instance);
	err |= repr_prop_int(r, "created", (int64_t)app->created_ms);
	err |= ucwa_me_encode(r, app);
	err |= ucwa_pushreg_encode(r, app);
	return err;
}

/* Who waits for a write of the record, besides its request. */
enum save_ev {
	SAVE_EV_NONE,
	SAVE_EV_SAVED,    /* the numbering of a batch: evchan_saved()   */
	SAVE_EV_RESERVED, /* written ahead: evchan_reserved()           */
};

/*
 * Writing the record again: for a change of the me state or the push
 * registration (the answer waits for the commit: what the client was
 * told survives a crash), for the event channel's numbering (its answer
 * waits the same way) and for the last contact (life.c).
 */
struct save {
	struct le le; /* in app->saves */
	struct app *app;
	struct store_op *op;
	struct web_req *req; /* answered once committed, or NULL */
	ucwa_saved_h *h;     /* answers req                       */
	enum save_ev ev;     /* what the event channel is told     */
};

static void save_destructor(void *arg)
{
	struct save *sv = arg;

	list_unlink(&sv->le);
	mem_deref(sv->op);
	if (sv->req)
		web_req_set_cancel(sv->req, NULL, NULL);
	mem_deref(sv->req);
}

static void save_cancel(struct web_req *req, void *arg)
{
	struct save *sv = arg;

	(void)req;
	/* the client left: the write goes on, nobody to answer */
	sv->req = mem_deref(sv->req);
}

static void saved(int err, void *arg)
{
	struct save *sv = arg;
	struct app *app = sv->app;

	if (err)
		log_warn("ucwa: storing application %s failed: %m", app->id,
			 err);
	/* the handler runs even when the client left (req NULL): what
	 * it keeps or undoes must follow the commit either way */
	if (sv->req)
		web_req_set_cancel(sv->req, NULL, NULL);
	if (sv->h)
		sv->h(app, sv->req, err);
	if (sv->ev == SAVE_EV_SAVED) {
		/* the channel may answer a request: nothing of sv after */
		mem_deref(sv);
		evchan_saved(app->ev, err);
		return;
	}
	if (sv->ev == SAVE_EV_RESERVED)
		evchan_reserved(app->ev, err);
	mem_deref(sv);
}

static int save(struct app *app, struct web_req *req, ucwa_saved_h *h,
		enum save_ev ev)
{
	struct save *sv;
	int err;

	/* a record written after the delete would bring it back */
	if (app->deleting)
		return ESHUTDOWN;
	sv = mem_zalloc(sizeof(*sv), save_destructor);
	if (!sv)
		return ENOMEM;
	err = session_record_put(&app->s, saved, sv, &sv->op);
	if (err) {
		mem_deref(sv);
		return err;
	}
	sv->app = app;
	sv->ev = ev;
	sv->h = h;
	if (req && h) {
		sv->req = mem_ref(req);
		web_req_set_cancel(req, save_cancel, sv);
	}
	list_append(&app->saves, &sv->le, sv);
	return 0;
}

void ucwa_app_reply_saved(struct app *app, struct web_req *req, int err)
{
	(void)app;
	if (!req)
		return; /* the client left */
	if (err)
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"the change could not be stored; try again");
	else
		web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
}

int ucwa_app_save(struct app *app, struct web_req *req, ucwa_saved_h *h)
{
	return save(app, req, h, SAVE_EV_NONE);
}

void ucwa_app_save_reply(struct app *app, struct web_req *req)
{
	int err = save(app, req, ucwa_app_reply_saved, SAVE_EV_NONE);

	if (err)
		ucwa_app_reply_saved(app, req, err);
}

/* The channel issues a batch with stored events: its number and their
 * highest sequence go into the record before the app sees them. */
static int ev_save(uint64_t batch, uint64_t mark, void *arg)
{
	struct app *app = arg;

	session_numbering_set(&app->s, batch, mark);
	return save(app, NULL, NULL, SAVE_EV_SAVED);
}

/* A parked P-GET: the numbering of the batch that will answer it with
 * the event of sequence mark goes into the record first (the session
 * asks, ops->numbered, just before the event's append: one commit to
 * wait for, not the event's and then the numbering's). */
static void reserve(struct app *app, uint64_t mark)
{
	uint64_t batch;
	int err;

	if (app->s.loading || evchan_reserve(app->ev, mark, &batch))
		return;
	/* Every later write of the record carries it too, which is what
	 * the channel expects: the last numbering written is the
	 * reserved one until it saves another. Issued before the event's
	 * write, so it is durable no later than the event. */
	session_numbering_set(&app->s, batch, mark);
	err = save(app, NULL, NULL, SAVE_EV_RESERVED);
	if (err)
		evchan_reserved(app->ev, err);
}

static void fail_pending(struct app *app, uint16_t scode, const char *reason,
			 const char *code, const char *msg)
{
	struct web_req *req = app->pending;

	app->pending = NULL;
	if (req) {
		web_req_set_cancel(req, NULL, NULL);
		api_reply_error(req, scode, reason, code, NULL, msg);
		mem_deref(req);
	}
	/* a create acquired under the pool lease: its owner key and place
	 * in the instance's set go (nothing else of it was stored) */
	if (app->acquired && !app->s.loading)
		(void)session_record_del(&app->s, NULL, NULL, NULL);
	ucwa_app_close(app);
}

static void committed(int err, void *arg)
{
	struct app *app = arg;
	struct web_req *req = app->pending;

	app->op = mem_deref(app->op);
	if (err) {
		log_warn("ucwa: storing application %s failed: %m", app->id,
			 err);
		fail_pending(app, 503, NULL, "ServiceFailure",
			     "the application could not "
			     "be stored; try again");
		return;
	}

	app->pending = NULL;
	app->s.contact_saved_ms = app->s.contact_ms;
	session_life_update(&app->s);
	if (req) {
		web_req_set_cancel(req, NULL, NULL);
		ucwa_app_reply(req, app, 201);
		mem_deref(req);
	}
}

static void reg_handler(int err, uint16_t scode, uint32_t expires, void *arg)
{
	struct app *app = arg;

	(void)expires;
	if (!app->pending) {
		/* later changes (refreshes, Front End restarts) are the
		 * registration's own business */
		if (err)
			log_notice("ucwa: %s (%s) not registered: %m (%u)",
				   app->user, app->id, err, scode);
		return;
	}

	if (err) {
		log_notice("ucwa: REGISTER of %s refused: %m (%u)", app->user,
			   err, scode);
		fail_pending(app, err == EACCES ? 403 : 503, NULL,
			     err == EACCES ? "Forbidden" : "ServiceFailure",
			     "the Front End did not accept the registration");
		return;
	}

	err = session_record_put(&app->s, committed, app, &app->op);
	if (err)
		committed(err, app);
}

/* REGISTER the device with the HA1 kept at sign-in (restored: after a
 * restart, with a second REGISTER soon). */
static int start_register(struct app *app, bool restored)
{
	struct sipua_reg_param p;
	char user[AUTH_USER_MAX + 1];
	const char *at = strchr(app->user, '@');
	int err;

	(void)re_snprintf(user, sizeof(user), "%b", app->user,
			  (size_t)(at - app->user));
	memset(&p, 0, sizeof(p));
	p.user = user;
	p.domain = at + 1;
	p.ha1 = app->ha1;
	p.instance = app->instance;
	/* requests the Front End routes to this contact name the session */
	p.contact_user = app->id;
	if (restored)
		p.first_refresh_ms = UCWA_RESTORED_REREGISTER_MS;
	err = sipua_reg_alloc(&app->reg, app->u->ua, &p, reg_handler, app);
	if (!err) {
		/* messages and calls: the handler is set last (it may
		 * REGISTER again with the new Allow) */
		sipua_reg_take_invites(app->reg, true);
		sipua_reg_set_request_handler(app->reg, ucwa_incoming, app);
	}
	return err;
}

/* A new session is this instance's under its pool lease (the store
 * handle keeps the epoch: every later write of it is fenced): now its
 * REGISTER. Refused (EBUSY: the id is another's; ENOLCK: our lease is
 * not alive): 503, nothing registered. */
static void acquired(int err, uint64_t epoch, void *arg)
{
	struct app *app = arg;

	(void)epoch;
	app->op = mem_deref(app->op);
	if (!err) {
		app->acquired = true;
		err = start_register(app, false);
	} else {
		log_notice("ucwa: application %s not acquired: %m", app->id,
			   err);
	}
	if (err)
		fail_pending(app, 503, NULL, "ServiceFailure",
			     "the application could not be started here; "
			     "try again");
}

static void ha1_handler(int err, const uint8_t *val, size_t len, void *arg)
{
	struct app *app = arg;

	app->op = mem_deref(app->op);
	if (err || len != SIPUA_HA1_LEN || !strchr(app->user, '@')) {
		/* signed in on another pool's store, or it was lost: a new
		 * sign-in brings it back */
		if (app->s.loading)
			log_warn("ucwa: application %s not restored: no HA1",
				 app->id);
		fail_pending(app, 401, NULL, "Unauthorized", "sign in again");
		return;
	}

	/* kept for the digest of this session's later requests */
	memcpy(app->ha1, val, len);
	app->ha1[len] = '\0';

	/* restored: its stored events first, so that a MESSAGE arriving
	 * once registered gets a sequence of its own; created on a pool
	 * instance: held under its lease first */
	if (app->s.loading)
		err = session_hist_restore(&app->s);
	else if (app->u->inst)
		err = store_lease_acquire(app->u->st, app->id, app->u->inst,
					  acquired, app, &app->op);
	else
		err = start_register(app, false);
	if (err)
		fail_pending(app, 503, NULL, "ServiceFailure",
			     "the registration could not be started");
}

/* The app has its events up to mark: the store forgets them (the only
 * way an event leaves it). */
static void acked(uint64_t mark, void *arg)
{
	struct app *app = arg;

	ucwa_call_acked(app, mark);
	session_acked(&app->s, mark);
}

static void pending_cancel(struct web_req *req, void *arg)
{
	struct app *app = arg;

	(void)req;
	/* the client left before the 201: the application goes too */
	app->pending = mem_deref(app->pending);
	ucwa_app_close(app);
}

/* A field of the create body: required, 1..UCWA_FIELD_MAX characters. */
static int field(char **dst, const struct repr_in *in, const char *key,
		 bool required, const char **why)
{
	struct pl v;
	int err = repr_in_str(in, key, &v);

	if (err == ENOENT && !required)
		return str_dup(dst, "");
	if (err || !v.l) {
		*why = key;
		return EINVAL;
	}
	/* characters, not bytes: UTF-8 continuation bytes do not count */
	{
		size_t i, chars = 0;
		for (i = 0; i < v.l; i++)
			chars += ((uint8_t)v.p[i] & 0xc0) != 0x80;
		if (chars > UCWA_FIELD_MAX || v.l >= FIELD_SIZE) {
			*why = key;
			return EOVERFLOW;
		}
	}
	return pl_strdup(dst, &v);
}

void ucwa_app_create(struct ucwa *u, struct web_req *req, const char *user)
{
	struct repr_in *in = NULL;
	struct app *app = NULL, *same;
	const char *why = NULL;
	char msg[160];
	struct pl epid;
	int err;

	err = api_body(req, &in);
	if (err)
		goto out;

	app = mem_zalloc(sizeof(*app), app_destructor);
	if (!app) {
		web_reply_text(req, 503, NULL, "out of memory");
		goto out;
	}
	app->u = u;
	err = str_dup(&app->user, user);
	session_init(&app->s, &u->sctx);
	if (!err)
		err = field(&app->culture, in, "culture", true, &why);
	if (!err)
		err = field(&app->endpoint, in, "endpointId", true, &why);
	if (!err)
		err = field(&app->agent, in, "userAgent", true, &why);
	if (err == ENOMEM) {
		web_reply_text(req, 503, NULL, "out of memory");
		goto out;
	}
	if (err) {
		(void)re_snprintf(msg, sizeof(msg),
				  "%s is required, 1 to %u characters", why,
				  UCWA_FIELD_MAX);
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure", msg);
		goto out;
	}

	/* the same device again: its application, not a second one */
	same = ucwa_app_by_endpoint(u, user, app->endpoint);
	if (same && !same->pending) {
		ucwa_app_reply(req, same, 200);
		goto out;
	}
	if (ucwa_user_apps(u, user) >= UCWA_APPS_PER_USER) {
		api_reply_error(req, 409, NULL, "Conflict",
				"TooManyApplications",
				"this user has too many applications; delete "
				"one first");
		goto out;
	}

	pl_set_str(&epid, app->endpoint);
	err = new_id(app->id);
	err |= instance_uuid(app->instance, user, &epid);
	if (!err)
		err = repr_href(app->href, sizeof(app->href), UCWA_BASE, "/%s",
				app->id);
	if (!err) {
		char evhref[sizeof(app->href) + 8];

		err = repr_href(evhref, sizeof(evhref), app->href, "/events");
		if (!err)
			err = evchan_alloc(&app->ev, u->wheel, evhref);
		if (!err) {
			evchan_set_ack_handler(app->ev, acked, app);
			evchan_set_save_handler(app->ev, ev_save, app);
		}
	}
	if (err) {
		web_reply_text(req, 503, NULL,
			       "could not create the application");
		goto out;
	}
	app->created_ms = (uint64_t)time(NULL) * 1000;
	app->s.contact_ms = tmr_jiffies();
	app->pending = mem_ref(req);
	web_req_set_cancel(req, pending_cancel, app);
	ucwa_app_add(u, app);

	/* the HA1 kept at sign-in, for the realm of the user's domain */
	err = store_ha1_get(u->st, user, strchr(user, '@') + 1, ha1_handler,
			    app, &app->op);
	if (err)
		fail_pending(app, 503, NULL, "ServiceFailure",
			     "the store cannot be read");
	app = NULL; /* owned by the registry now */

out:
	mem_deref(app);
	mem_deref(in);
}

/* "/Date(ms)/" of a stored record; 0 if it is not one. */
static uint64_t rec_date(const struct repr_in *in, const char *key)
{
	struct pl v, ms;

	if (repr_in_str(in, key, &v) ||
	    re_regex(v.p, v.l, "/Date([0-9]+)/", &ms))
		return 0;
	return pl_u64(&ms);
}

/* One stored event: an incoming message delivered again, or an incoming
 * call's start or end. */
static void restore_event(struct app *app, const struct store_event *e)
{
	const struct pl body = {(const char *)e->val, e->len};
	struct repr_in *in = NULL;
	const char *why = NULL;
	char *from = NULL, *text = NULL;
	struct pl type = pl_null, f, t;
	int err;

	err = repr_in_json(&in, &body, &why);
	if (!err)
		(void)repr_in_str(in, "type", &type);
	if (!err &&
	    (!pl_strcmp(&type, "call") || !pl_strcmp(&type, "callEnd"))) {
		err = ucwa_call_restore(app, e->seq, in,
					!pl_strcmp(&type, "callEnd"),
					rec_date(in, "time"));
		goto out;
	}
	if (!err &&
	    (pl_strcmp(&type, "message") || repr_in_str(in, "from", &f) ||
	     repr_in_str(in, "text", &t)))
		err = EINVAL;
	if (!err)
		err = pl_strdup(&from, &f);
	if (!err)
		err = pl_strdup(&text, &t);
	if (!err)
		err = ucwa_conv_deliver(app, e->seq, from, text,
					rec_date(in, "time"));
out:
	if (err)
		log_warn("ucwa: event %llu of %s not restored: %m",
			 (unsigned long long)e->seq, app->id, err);
	mem_deref(from);
	mem_deref(text);
	mem_deref(in);
}

/* Copy a string member of a stored record; false if absent or too long. */
static bool rec_str(char *dst, size_t size, const struct repr_in *in,
		    const char *key)
{
	struct pl v;

	if (repr_in_str(in, key, &v) || !v.l || v.l >= size)
		return false;
	memcpy(dst, v.p, v.l);
	dst[v.l] = '\0';
	return true;
}

/* A field of the record (as rec_str, size bytes at most with its NUL)
 * into a string of its own. */
static bool rec_dup(char **dst, const struct repr_in *in, const char *key,
		    size_t size)
{
	struct pl v;

	if (repr_in_str(in, key, &v) || !v.l || v.l >= size)
		return false;
	return pl_strdup(dst, &v) == 0;
}

/* This layer's fields of a stored record (session_record_decode()). */
static int record_read(struct app *app, const struct repr_in *in)
{
	int64_t created = 0;

	if (!rec_str(app->id, sizeof(app->id), in, "id") ||
	    !rec_dup(&app->user, in, "user", AUTH_USER_MAX + 1) ||
	    !strchr(app->user, '@') ||
	    !rec_dup(&app->endpoint, in, "endpointId", FIELD_SIZE) ||
	    !rec_dup(&app->culture, in, "culture", FIELD_SIZE) ||
	    !rec_dup(&app->agent, in, "userAgent", FIELD_SIZE) ||
	    !rec_str(app->instance, sizeof(app->instance), in, "instance"))
		return EINVAL;
	(void)repr_in_int(in, "created", &created);
	app->created_ms = created > 0 ? (uint64_t)created : 0;
	ucwa_me_decode(app, in);
	ucwa_pushreg_decode(app, in);
	return 0;
}

int ucwa_app_restore(struct ucwa *u, const uint8_t *val, size_t len,
		     struct app **appp)
{
	struct app *app;
	char evhref[sizeof(app->href) + 8];
	struct pl id;
	int err;

	if (appp)
		*appp = NULL;
	app = mem_zalloc(sizeof(*app), app_destructor);
	if (!app)
		return ENOMEM;
	app->u = u;
	session_init(&app->s, &u->sctx);
	err = session_record_decode(&app->s, val, len);
	if (err) {
		mem_deref(app);
		return err;
	}
	/* taken over again while still here: this one stays */
	pl_set_str(&id, app->id);
	if (ucwa_app_find(u, &id)) {
		mem_deref(app);
		return EALREADY;
	}

	if (session_life_over(&app->s)) {
		/* it ended while the service was away: at once, without
		 * registering again (its subscriptions and publication at
		 * the Front End lapse with their own expiry) */
		session_life_ended(&app->s, "while the service was down");
		(void)session_record_del(&app->s, NULL, NULL, NULL);
		mem_deref(app);
		return 0;
	}

	err =
	    repr_href(app->href, sizeof(app->href), UCWA_BASE, "/%s", app->id);
	err |= repr_href(evhref, sizeof(evhref), app->href, "/events");
	if (!err)
		err = evchan_alloc(&app->ev, u->wheel, evhref);
	if (err) {
		mem_deref(app);
		return err;
	}
	evchan_set_ack_handler(app->ev, acked, app);
	evchan_set_save_handler(app->ev, ev_save, app);
	app->s.loading = true;
	app->want_ready = true;
	ucwa_app_add(u, app);
	app->s.contact_saved_ms = app->s.contact_ms;
	session_life_update(&app->s);

	/* registered again with the same instance and reg-id: the Front
	 * End replaces the old flow (RFC 5626) */
	err = store_ha1_get(u->st, app->user, strchr(app->user, '@') + 1,
			    ha1_handler, app, &app->op);
	if (err)
		ucwa_app_close(app);
	else if (appp)
		*appp = app;
	return err;
}

void ucwa_app_forget(struct app *app)
{
	struct web_req *req;

	if (!app || app->s.closing)
		return;
	/* nothing of its SIP side is sent any more, not even when its
	 * objects are dropped below (the new owner's flow would go) */
	sipua_reg_forget(app->reg);
	sipua_pub_forget(app->pub);
	ucwa_psub_forget_all(app);
	ucwa_call_forget_all(app);
	evchan_moved(app->ev);
	req = app->pending;
	app->pending = NULL;
	if (req) {
		web_req_set_cancel(req, NULL, NULL);
		api_reply_error_hdrs(req, 503, NULL, "ServiceFailure", NULL,
				     "try again", "Retry-After: 1\r\n");
		mem_deref(req);
	}
	/* no delete: the record and events are the next owner's */
	ucwa_app_close(app);
}

/* DELETE of an application waiting for its records to go. */
struct del {
	struct app *app; /* reference: it closes once deleted */
	struct web_req *req;
	struct store_op *op;
};

static void del_destructor(void *arg)
{
	struct del *d = arg;

	mem_deref(d->op);
	if (d->req)
		web_req_set_cancel(d->req, NULL, NULL);
	mem_deref(d->req);
	mem_deref(d->app);
}

static void del_cancel(struct web_req *req, void *arg)
{
	struct del *d = arg;

	(void)req;
	/* the client left: the delete goes on */
	d->req = mem_deref(d->req);
}

/* The records are gone (ENOENT: gone already): now the application
 * ends, and the client is told; a failed delete leaves it as it was. */
static void deleted(int err, void *arg)
{
	struct del *d = arg;

	d->op = mem_deref(d->op);
	if (err == ENOENT)
		err = 0;
	d->app->deleting = false;
	if (err)
		log_warn("ucwa: deleting application %s failed: %m", d->app->id,
			 err);
	else
		ucwa_app_close(d->app);
	/* records the application wrote while its delete was committed
	 * (a call's event, a history line, a subscription: they do not
	 * look at app->deleting) would outlive it, found by nothing: the
	 * same delete again, after every write it issued, sweeps them */
	if (!err)
		(void)session_record_del(&d->app->s, NULL, NULL, NULL);
	if (d->req) {
		web_req_set_cancel(d->req, NULL, NULL);
		if (err)
			api_reply_error(d->req, 503, NULL, "ServiceFailure",
					NULL,
					"the application could not be "
					"deleted; try again");
		else
			web_reply(d->req, 204, NULL, NULL, NULL, 0, NULL);
	}
	mem_deref(d);
}

void ucwa_app_delete(struct app *app, struct web_req *req)
{
	struct del *d;
	int err;

	if (!req) {
		(void)session_record_del(&app->s, NULL, NULL, NULL);
		ucwa_app_close(app);
		return;
	}

	/* the 204 promises the application is gone, also after a
	 * restart: it waits for the commit */
	d = mem_zalloc(sizeof(*d), del_destructor);
	if (!d) {
		web_reply_text(req, 503, NULL, "out of memory");
		return;
	}
	d->app = mem_ref(app);
	err = session_record_del(&app->s, deleted, d, &d->op);
	if (err) {
		d->op = NULL;
		deleted(err, d);
		return;
	}
	d->req = mem_ref(req);
	web_req_set_cancel(req, del_cancel, d);
	app->deleting = true;
}

/* What the session asks of this layer: its struct app holds it. */
static struct app *session_app(const struct session *s)
{
	return (struct app *)(void *)((char *)(uintptr_t)s -
				      offsetof(struct app, s));
}

static const char *session_id(const struct session *s)
{
	return session_app(s)->id;
}

static const char *session_user(const struct session *s)
{
	return session_app(s)->user;
}

static int session_save(struct session *s)
{
	return ucwa_app_save(session_app(s), NULL, NULL);
}

/* un-REGISTERs, ends its subscriptions and publication, answers a
 * waiting request 404, deletes its records */
static void session_end(struct session *s)
{
	ucwa_app_delete(session_app(s), NULL);
}

static void session_reregister(struct session *s)
{
	sipua_reg_refresh(session_app(s)->reg);
}

static bool session_creating(const struct session *s)
{
	return session_app(s)->pending != NULL;
}

static uint64_t session_last_parked(const struct session *s)
{
	return evchan_last_parked(session_app(s)->ev);
}

static bool session_parked(const struct session *s)
{
	return evchan_parked(session_app(s)->ev);
}

static bool session_room(const struct session *s, unsigned nev)
{
	return evchan_room(session_app(s)->ev, nev);
}

/* The history is back: the conversations still open with it, then the
 * stored events. */
static void session_hist_restored(struct session *s)
{
	struct app *app = session_app(s);

	ucwa_hist_restore_convs(app);
	/* now the stored events, which may belong to those conversations */
	if (session_events_restore(s))
		ucwa_app_close(app);
}

static void op_event_restored(struct session *s, const struct store_event *e)
{
	restore_event(session_app(s), e);
}

/* Every stored event is back: the channel gets its numbering, the device
 * registers again and its presence is published again. Not without its
 * events: they would be lost to the app. */
static void op_events_restored(struct session *s, int err)
{
	struct app *app = session_app(s);

	if (!err)
		err = evchan_restore(app->ev, s->ev_batch, s->ev_mark);
	if (!err)
		err = start_register(app, true);
	if (err) {
		log_warn("ucwa: application %s not restored: %m", app->id, err);
		ucwa_app_close(app);
		return;
	}
	ucwa_me_resume(app);
	ucwa_psub_restore(app);
	ucwa_call_resume(app);
	ucwa_app_ready(app, 0);
}

static int op_record_encode(const struct session *s, struct repr *r)
{
	return record_fields(session_app(s), r);
}

static int op_record_decode(struct session *s, const struct repr_in *in)
{
	return record_read(session_app(s), in);
}

static bool session_roomy(const struct session *s)
{
	return evchan_room(session_app(s)->ev, EVCHAN_PENDING_MAX / 2);
}

static void session_numbered(struct session *s, uint64_t seq)
{
	reserve(session_app(s), seq);
}

/* The reserved event was refused at once: the reservation failed (the
 * batch under that number is saved before it goes out). */
static void session_unnumbered(struct session *s, uint64_t seq)
{
	(void)seq;
	evchan_reserved(session_app(s)->ev, ECANCELED);
}

const struct session_ops ucwa_session_ops = {
    .id = session_id,
    .user = session_user,
    .save = session_save,
    .end = session_end,
    .reregister = session_reregister,
    .creating = session_creating,
    .last_parked = session_last_parked,
    .parked = session_parked,
    .room = session_room,
    .roomy = session_roomy,
    .hist_restored = session_hist_restored,
    .record_encode = op_record_encode,
    .record_decode = op_record_decode,
    .event_restored = op_event_restored,
    .events_restored = op_events_restored,
    .numbered = session_numbered,
    .unnumbered = session_unnumbered,
};
