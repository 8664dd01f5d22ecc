/**
 * @file me.c  The user's own presence: makeMeAvailable, presence, note,
 * location, reportMyActivity (PROTOCOL.md "me")
 *
 * Before makeMeAvailable the presence resources answer 409
 * MakeMeAvailableRequired. Activity: without reportMyActivity for
 * inactiveTimeout minutes Online becomes IdleOnline and Busy IdleBusy;
 * after twice that, IdleOnline becomes Away. Every change is an event to
 * the application ("me" sender).
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "api.h"
#include "pidf.h"
#include "sipua.h"
#include "evchan.h"
#include "repr.h"
#include "ucwa.h"
#include "ucwa_int.h"

enum {
	NOTE_SIZE = 4 * UCWA_NOTE_MAX + 1, /* UTF-8 of UCWA_NOTE_MAX chars */
	LOCATION_SIZE = 4 * UCWA_LOCATION_MAX + 1,
};

/* One of me's two texts: its resource, its property and its bounds. */
struct me_text {
	bool note;       /* the note, else the location */
	const char *rsc; /* me/<rsc> */
	const char *key; /* the property that holds it */
	size_t max;      /* characters */
	size_t size;     /* bytes kept, with the NUL */
};

static const struct me_text note_text = {true, "note", "message", UCWA_NOTE_MAX,
					 NOTE_SIZE};
static const struct me_text location_text = {false, "location", "location",
					     UCWA_LOCATION_MAX, LOCATION_SIZE};

/* The text of a note or location (NULL: none). */
static const char *str_or(const char *s)
{
	return s ? s : "";
}

static const char *const avail_names[] = {
    "Online", "Busy", "DoNotDisturb", "BeRightBack", "Away", "Offwork",
};

/* Reported availability, e.g. "IdleOnline". */
static const char *ucwa_me_availability(const struct app *app)
{
	const struct me *me = &app->me;

	if (!me->available)
		return "Offline";
	if (me->avail == AVAIL_ONLINE && me->activity == IDLE)
		return "IdleOnline";
	if (me->avail == AVAIL_ONLINE && me->activity == INACTIVE)
		return "Away";
	if (me->avail == AVAIL_BUSY && me->activity != ACTIVE)
		return "IdleBusy";
	return avail_names[me->avail];
}

static void published(int err, uint16_t scode, void *arg)
{
	struct app *app = arg;

	if (err)
		log_notice("ucwa: PUBLISH for %s failed: %m (%u)", app->user,
			   err, scode);
}

/*
 * The user's presence as a PIDF document at the Front End (RFC 3903):
 * published on makeMeAvailable, updated on every change, removed when the
 * application ends. Our sessions are phones: deviceType Mobile.
 */
static void publish(struct app *app)
{
	struct pidf_presence p;
	struct sipua_id id;
	char user[AUTH_USER_MAX + 1], entity[AUTH_USER_MAX + 8];
	char tid[PIDF_ID_MAX + 1];
	const char *at = strchr(app->user, '@');
	struct mbuf *mb;
	struct pl name, body;
	size_t i, o = 0;
	int err;

	if (!app->me.available || !at)
		return;

	memset(&p, 0, sizeof(p));
	pl_set_str(&name, ucwa_me_availability(app));
	if (pidf_avail_decode(&p.avail, &name))
		p.avail = PIDF_UNKNOWN;
	p.device = PIDF_DEV_MOBILE;
	(void)pidf_set_note(&p, str_or(app->me.note), str_len(app->me.note));
	(void)pidf_set_location(&p, str_or(app->me.location),
				str_len(app->me.location));
	p.last_active = app->last_active_ms;

	/* one tuple per device: "m" and the hex of its instance */
	tid[o++] = 'm';
	for (i = 0; app->instance[i] && o < 33; i++) {
		if (app->instance[i] != '-')
			tid[o++] = app->instance[i];
	}
	tid[o] = '\0';

	(void)re_snprintf(entity, sizeof(entity), "sip:%s", app->user);
	ucwa_app_sipid(app, user, sizeof(user), &id);

	mb = mbuf_alloc(1024);
	if (!mb)
		return;
	err = pidf_build(mb, entity, tid, &p);
	if (!err && !app->pub)
		err = sipua_pub_alloc(&app->pub, app->u->ua, &id, 0, published,
				      app);
	if (!err) {
		body.p = (const char *)mb->buf;
		body.l = mb->end;
		err = sipua_pub_set(app->pub, "application/pidf+xml", &body);
	}
	if (err)
		log_notice("ucwa: cannot publish for %s: %m", app->user, err);
	mem_deref(mb);
}

/* An "updated" event about one of the me resources. */
static void post_update(struct app *app, const char *rel)
{
	struct repr_event e = {
	    .sender_rel = "me", .type = "updated", .rel = rel};
	char href[UCWA_HREF_MAX];
	int err;

	/* "me" itself is the sender, not a child of it */
	if (!strcmp(rel, "me"))
		err = repr_href(href, sizeof(href), app->href, "/me");
	else
		err = repr_href(href, sizeof(href), app->href, "/me/%s", rel);
	e.href = href;
	if (!err)
		(void)ucwa_post(app, 0, &e);

	/* every change of what others see goes to the Front End */
	publish(app);
}

static void idle_handler(void *arg);

static void activity(struct app *app)
{
	struct me *me = &app->me;
	bool was_idle = me->activity != ACTIVE;

	app->last_active_ms = (uint64_t)time(NULL) * 1000;
	me->activity = ACTIVE;
	wheel_start(app->u->wheel, &me->idle, me->inactive_ms, idle_handler,
		    app);
	if (was_idle)
		post_update(app, "presence");
}

static void idle_handler(void *arg)
{
	struct app *app = arg;
	struct me *me = &app->me;

	if (me->activity == ACTIVE) {
		me->activity = IDLE;
		/* then Away after as long again */
		wheel_start(app->u->wheel, &me->idle, me->inactive_ms,
			    idle_handler, app);
	} else {
		me->activity = INACTIVE;
	}
	post_update(app, "presence");
}

/*
 * What the user chose is kept in the application's record (app.c), so
 * that a restart brings it back: makeMeAvailable done, the availability,
 * inactiveTimeout, note and location. Activity (idle, away) is not: a
 * restarted application counts from the restart.
 */
int ucwa_me_encode(struct repr *r, const struct app *app)
{
	const struct me *me = &app->me;
	int err = 0;

	if (!me->available)
		return 0;
	err |= repr_prop_str(r, "availability", avail_names[me->avail]);
	err |= repr_prop_int(r, "inactiveMs", me->inactive_ms);
	/* a change being stored is what every record written from now on
	 * holds, so that a later write does not put the old one back */
	err |= repr_prop_str(r, "note",
			     str_or(me->note_saving ? me->note_new : me->note));
	err |= repr_prop_str(
	    r, "location",
	    str_or(me->location_saving ? me->location_new : me->location));
	return err;
}

/* *dst becomes a copy of v (NULL when empty); ENOMEM leaves it. */
static int set_str(char **dst, const struct pl *v)
{
	char *s = NULL;
	int err;

	if (v->l) {
		err = pl_strdup(&s, v);
		if (err)
			return err;
	}
	mem_deref(*dst);
	*dst = s;
	return 0;
}

/* A string member into dst; left as it is when absent or of size bytes
 * or more. */
static void decode_str(char **dst, size_t size, const struct repr_in *in,
		       const char *key)
{
	struct pl v;

	if (repr_in_str(in, key, &v) || v.l >= size)
		return;
	(void)set_str(dst, &v);
}

void ucwa_me_decode(struct app *app, const struct repr_in *in)
{
	struct me *me = &app->me;
	struct pl v;
	int64_t ms;
	size_t i;

	if (repr_in_str(in, "availability", &v))
		return; /* makeMeAvailable not done */
	for (i = 0; i < ARRAY_SIZE(avail_names); i++) {
		if (!pl_strcmp(&v, avail_names[i]))
			break;
	}
	if (i == ARRAY_SIZE(avail_names) ||
	    repr_in_int(in, "inactiveMs", &ms) || ms < 60 * 1000 ||
	    ms > (int64_t)UCWA_INACTIVE_MAX * 60 * 1000)
		return;
	me->available = true;
	me->avail = (enum avail)i;
	me->inactive_ms = (uint32_t)ms;
	decode_str(&me->note, NOTE_SIZE, in, "note");
	decode_str(&me->location, LOCATION_SIZE, in, "location");
}

void ucwa_me_resume(struct app *app)
{
	struct me *me = &app->me;

	if (!me->available)
		return;
	me->activity = ACTIVE;
	app->last_active_ms = (uint64_t)time(NULL) * 1000;
	wheel_start(app->u->wheel, &me->idle, me->inactive_ms, idle_handler,
		    app);
	/* a new publication: the one before the restart expires or was
	 * removed on the way out */
	publish(app);
}

void ucwa_me_close(struct app *app)
{
	wheel_cancel(&app->me.idle);
	/* the publication goes with the application (Expires: 0) */
	app->pub = mem_deref(app->pub);
	app->me.note = mem_deref(app->me.note);
	app->me.location = mem_deref(app->me.location);
	app->me.note_new = mem_deref(app->me.note_new);
	app->me.location_new = mem_deref(app->me.location_new);
}

static void reply_me(struct web_req *req, struct app *app)
{
	struct repr *r = NULL;
	char href[UCWA_HREF_MAX], name[AUTH_USER_MAX + 1];
	char uri[AUTH_USER_MAX + 8];
	const char *at = strchr(app->user, '@');
	static const char *const rels[] = {"presence", "note", "location",
					   "reportMyActivity"};
	size_t i;
	int err;

	if (repr_href(href, sizeof(href), app->href, "/me") ||
	    repr_alloc(&r, "me", href)) {
		web_reply_text(req, 500, NULL, "could not build me");
		return;
	}
	(void)re_snprintf(name, sizeof(name), "%b", app->user,
			  at ? (size_t)(at - app->user) : strlen(app->user));
	err = repr_prop_str(r, "name", name);
	/* the whole user@domain: a longer one than an href buffer's was
	 * cut short here */
	err |= repr_href(uri, sizeof(uri), "sip:", "%s", app->user);
	err |= repr_prop_str(r, "uri", uri);
	if (!app->me.available) {
		err |= repr_href(href, sizeof(href), app->href,
				 "/me/makeMeAvailable");
		err |= repr_link(r, "makeMeAvailable", href);
	} else {
		for (i = 0; i < ARRAY_SIZE(rels); i++) {
			err |= repr_href(href, sizeof(href), app->href,
					 "/me/%s", rels[i]);
			err |= repr_link(r, rels[i], href);
		}
	}
	if (err)
		web_reply_text(req, 500, NULL, "could not build me");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* GET of presence, note or location: one property. */
static void reply_prop(struct web_req *req, struct app *app, const char *rel,
		       const char *name, const char *val)
{
	struct repr *r = NULL;
	char href[UCWA_HREF_MAX];
	int err;

	err = repr_href(href, sizeof(href), app->href, "/me/%s", rel);
	if (!err)
		err = repr_alloc(&r, rel, href);
	if (!err)
		err = repr_prop_str(r, name, val);
	if (err)
		web_reply_text(req, 500, NULL, "could not build the resource");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

static void bad_param(struct web_req *req, const char *msg)
{
	api_reply_error(req, 400, NULL, "BadRequest",
			"ParameterValidationFailure", msg);
}

/* A text member of at most max characters (not bytes) into dst. */
static bool text_member(struct web_req *req, const struct repr_in *in,
			const char *key, size_t max, char **dst, size_t size)
{
	struct pl v;
	size_t i, chars = 0;
	char msg[96];
	int err = repr_in_str(in, key, &v);

	if (err == ENOENT) {
		v.p = "";
		v.l = 0;
	} else if (err) {
		(void)re_snprintf(msg, sizeof(msg), "%s must be a string", key);
		bad_param(req, msg);
		return false;
	}
	for (i = 0; i < v.l; i++)
		chars += ((uint8_t)v.p[i] & 0xc0) != 0x80;
	if (chars > max || v.l >= size) {
		(void)re_snprintf(msg, sizeof(msg),
				  "%s is longer than %zu characters", key, max);
		bad_param(req, msg);
		return false;
	}
	if (set_str(dst, &v)) {
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"out of memory");
		return false;
	}
	return true;
}

static bool body(struct web_req *req, struct repr_in **in)
{
	return !api_body(req, in);
}

static void make_me_available(struct app *app, struct web_req *req)
{
	struct repr_in *in = NULL;
	int64_t minutes = UCWA_INACTIVE_DEFAULT;
	int err;

	if (app->me.available) {
		api_reply_error(req, 409, NULL, "Conflict", "AlreadyExists",
				"already available");
		return;
	}
	/* an empty body is fine: every member is optional */
	if (web_req_body(req)->l && !body(req, &in))
		return;
	err = in ? repr_in_int(in, "inactiveTimeout", &minutes) : ENOENT;
	if (err == ENOENT)
		minutes = UCWA_INACTIVE_DEFAULT;
	else if (err || minutes < 1 || minutes > UCWA_INACTIVE_MAX) {
		char msg[64];

		(void)re_snprintf(msg, sizeof(msg),
				  "inactiveTimeout must be 1 to %u minutes",
				  UCWA_INACTIVE_MAX);
		bad_param(req, msg);
		mem_deref(in);
		return;
	}
	mem_deref(in);

	app->me.available = true;
	app->me.avail = AVAIL_ONLINE;
	app->me.inactive_ms = (uint32_t)minutes * 60 * 1000;
	app->me.activity = ACTIVE;
	app->last_active_ms = (uint64_t)time(NULL) * 1000;
	wheel_start(app->u->wheel, &app->me.idle, app->me.inactive_ms,
		    idle_handler, app);
	post_update(app, "me");
	post_update(app, "presence");
	ucwa_app_save_reply(app, req);
}

static void set_presence(struct app *app, struct web_req *req)
{
	struct repr_in *in = NULL;
	struct pl v;
	size_t i;

	if (!body(req, &in))
		return;
	if (repr_in_str(in, "availability", &v)) {
		bad_param(req, "availability is required");
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(avail_names); i++) {
		if (!pl_strcasecmp(&v, avail_names[i]))
			break;
	}
	if (i == ARRAY_SIZE(avail_names)) {
		bad_param(req, "availability must be Online, Busy, "
			       "DoNotDisturb, BeRightBack, Away or Offwork");
		goto out;
	}
	app->me.avail = (enum avail)i;
	/* choosing a presence is activity */
	app->me.activity = ACTIVE;
	wheel_start(app->u->wheel, &app->me.idle, app->me.inactive_ms,
		    idle_handler, app);
	post_update(app, "presence");
	ucwa_app_save_reply(app, req);
out:
	mem_deref(in);
}

/* The write of a new note or location ended: committed, it is the
 * value (the app is told, the Front End gets it); failed, the old one
 * stays. */
static void text_saved(struct app *app, struct web_req *req, int err, bool note)
{
	struct me *me = &app->me;
	char **cur = note ? &me->note : &me->location;
	char **nv = note ? &me->note_new : &me->location_new;

	if (note)
		me->note_saving = false;
	else
		me->location_saving = false;
	if (!err) {
		mem_deref(*cur);
		*cur = *nv;
		*nv = NULL;
		if (!app->s.closing)
			post_update(app, note ? "note" : "location");
	} else {
		*nv = mem_deref(*nv);
	}
	ucwa_app_reply_saved(app, req, err);
}

static void note_saved(struct app *app, struct web_req *req, int err)
{
	text_saved(app, req, err, true);
}

static void location_saved(struct app *app, struct web_req *req, int err)
{
	text_saved(app, req, err, false);
}

/* POST note or location: answered 204 once the record holding the new
 * value is committed; until then the old value is the one shown. */
static void set_text(struct app *app, struct web_req *req,
		     const struct me_text *t)
{
	struct me *me = &app->me;
	const bool note = t->note;
	bool *saving = note ? &me->note_saving : &me->location_saving;
	char **nv = note ? &me->note_new : &me->location_new;
	struct repr_in *in = NULL;
	int err;

	if (!body(req, &in))
		return;
	/* one change at a time: the first one's answer says what stays */
	if (*saving) {
		api_reply_error(req, 409, NULL, "Conflict", NULL,
				"a change of it is being stored");
		goto out;
	}
	if (!text_member(req, in, t->key, t->max, nv, t->size))
		goto out;
	*saving = true;
	err = ucwa_app_save(app, req, note ? note_saved : location_saved);
	if (err)
		text_saved(app, req, err, note);
out:
	mem_deref(in);
}

/* GET me */
void ucwa_me_get(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)prm;
	reply_me(req, arg);
}

/* POST me/makeMeAvailable */
void ucwa_me_available(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	(void)prm;
	make_me_available(arg, req);
}

/* The user's own resources exist once the user is available. */
static bool available(const struct app *app, struct web_req *req)
{
	if (app->me.available)
		return true;
	api_reply_error(req, 409, NULL, "Conflict", "MakeMeAvailableRequired",
			"make me available first");
	return false;
}

/* POST me/reportMyActivity (and reportMyActivity on the application) */
void ucwa_me_activity(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	(void)prm;
	if (!available(arg, req))
		return;
	activity(arg);
	web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
}

/* GET, POST me/presence */
void ucwa_me_presence(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	struct app *app = arg;

	(void)prm;
	if (!available(app, req))
		return;
	if (!pl_strcmp(web_req_method(req), "GET"))
		reply_prop(req, app, "presence", "availability",
			   ucwa_me_availability(app));
	else
		set_presence(app, req);
}

/* GET, POST me/note or me/location (t) */
static void text_rsc(struct web_req *req, struct app *app,
		     const struct me_text *t)
{
	const char *v = t->note ? app->me.note : app->me.location;

	if (!available(app, req))
		return;
	if (!pl_strcmp(web_req_method(req), "GET"))
		reply_prop(req, app, t->rsc, t->key, str_or(v));
	else
		set_text(app, req, t);
}

/* GET, POST me/note */
void ucwa_me_note(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)prm;
	text_rsc(req, arg, &note_text);
}

/* GET, POST me/location */
void ucwa_me_location(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	(void)prm;
	text_rsc(req, arg, &location_text);
}
