/**
 * @file pushreg.c  applications/<id>/pushRegistration: where to wake the
 * app (our extension to the UCWA model, docs/api.md)
 *
 *   PUT (or POST)  {"provider":"apns","token":"<hex>","topic":"<bundle id>",
 *                   "voipToken":"<hex>"}   or
 *                  {"provider":"fcm","token":"...","project":"..."}
 *                  201 (new) / 200 (replaced), once committed
 *   GET            200 with the registration (and its pushId, the opaque
 *                  id its pushes carry), 404 when there is none
 *   DELETE         204 once committed (also when there was none)
 *
 * The registration is part of the application's stored record, so it
 * outlives a restart; having one gives the session the long lifetime.
 *
 * Policy (session_push_decide(), src/session): an app is pushed to
 * only when it has a registration and no P-GET is parked (a parked P-GET
 * means the app is awake and gets the event at once). Pushes go out
 * only for live arrivals, after the event is committed; a token the
 * provider calls dead removes the registration (and the session falls
 * back to the short lifetime).
 *
 * Tokens, topic and project end up in a URL path, a header or a JSON
 * string toward the provider: each is checked against the characters its
 * provider uses, so none can carry anything else.
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "api.h"
#include "evchan.h"
#include "repr.h"
#include "ucwa.h"
#include "ucwa_int.h"

static const char *const provider_names[] = {
    [PUSH_APNS] = "apns",
    [PUSH_FCM] = "fcm",
};

/* Characters each value may hold (besides letters and digits). */
static bool chars_ok(const struct pl *v, bool hex, const char *extra)
{
	size_t i;

	for (i = 0; i < v->l; i++) {
		char c = v->p[i];

		if (hex ? isxdigit((unsigned char)c)
			: (isalnum((unsigned char)c) ||
			   (c && strchr(extra, c))))
			continue;
		return false;
	}
	return true;
}

/*
 * One member: absent is fine unless required; present it must be allowed
 * for the provider, 1..max bytes of the given characters. Copied to dst
 * ("" when absent). A refusal writes why into msg.
 */
struct member {
	const char *key;
	bool required, allowed;
	bool hex;          /* hexadecimal digits only         */
	const char *extra; /* else letters, digits and these  */
	const char *chars; /* how the error names them        */
	size_t max;
};

static bool member(char *dst, size_t size, const struct repr_in *in,
		   const struct member *m, const char *prov, char *msg,
		   size_t msize)
{
	struct pl v;
	int err = repr_in_str(in, m->key, &v);

	dst[0] = '\0';
	if (err == ENOENT && !m->required)
		return true;
	if (err == ENOENT) {
		(void)re_snprintf(msg, msize, "%s is required for %s", m->key,
				  prov);
		return false;
	}
	if (!m->allowed) {
		(void)re_snprintf(msg, msize, "%s is not used with %s", m->key,
				  prov);
		return false;
	}
	if (err || !v.l || v.l > m->max || v.l >= size ||
	    !chars_ok(&v, m->hex, m->extra)) {
		(void)re_snprintf(msg, msize, "%s must be 1 to %zu %s", m->key,
				  m->max, m->chars);
		return false;
	}
	memcpy(dst, v.p, v.l);
	dst[v.l] = '\0';
	return true;
}

static void pushreg_destructor(void *arg)
{
	struct pushreg *pr = arg;

	mem_deref(pr->token);
	mem_deref(pr->voip);
	mem_deref(pr->topic);
}

/* The registration of a request body (or of a stored record): 0, EINVAL
 * (why in msg) or ENOMEM. */
static int parse(struct pushreg **prp, const struct repr_in *in, char *msg,
		 size_t msize)
{
	/* checked in buffers of the longest, then kept at their length */
	struct {
		enum push_provider provider;
		char token[UCWA_PUSH_TOKEN_MAX + 1];
		char voip[UCWA_PUSH_TOKEN_MAX + 1];
		char topic[UCWA_PUSH_TOPIC_MAX + 1];
	} b, *pr = &b;
	struct pushreg *r;
	int err;

	/* what each member may hold; which are allowed depends on the
	 * provider (below) */
	static const char alnum[] = "letters, digits, '-', '_' or ':'";
	static const char hexd[] = "hexadecimal digits";
	struct member token = {.key = "token",
			       .required = true,
			       .allowed = true,
			       .extra = "-_:",
			       .chars = alnum,
			       .max = UCWA_PUSH_TOKEN_MAX};
	struct member voip = {.key = "voipToken",
			      .hex = true,
			      .chars = hexd,
			      .max = UCWA_PUSH_TOKEN_MAX};
	struct member topic = {.key = "topic",
			       .extra = ".-",
			       .chars =
				   "letters, digits, '.' or '-' (a bundle id)",
			       .max = UCWA_PUSH_TOPIC_MAX};
	struct member project = {.key = "project",
				 .extra = "-_.",
				 .chars = "letters, digits, '-', '_' or '.'",
				 .max = UCWA_PUSH_TOPIC_MAX};
	const char *prov;
	struct pl v;
	bool apns;

	memset(pr, 0, sizeof(*pr));
	if (repr_in_str(in, "provider", &v) ||
	    (pl_strcasecmp(&v, "apns") && pl_strcasecmp(&v, "fcm"))) {
		(void)re_snprintf(msg, msize,
				  "provider is required: apns or fcm");
		return EINVAL;
	}
	apns = !pl_strcasecmp(&v, "apns");
	pr->provider = apns ? PUSH_APNS : PUSH_FCM;
	prov = provider_names[pr->provider];

	if (apns) {
		/* an APNs device token is hexadecimal */
		token.hex = true;
		token.chars = hexd;
		topic.required = topic.allowed = true;
		voip.allowed = true;
	} else {
		project.allowed = true;
	}
	/* topic and project share pr->topic: the one not allowed for the
	 * provider is refused when present, so only one is ever kept */
	if (!member(pr->token, sizeof(pr->token), in, &token, prov, msg,
		    msize) ||
	    !member(pr->voip, sizeof(pr->voip), in, &voip, prov, msg, msize) ||
	    !member(pr->topic, sizeof(pr->topic), in, apns ? &project : &topic,
		    prov, msg, msize) ||
	    !member(pr->topic, sizeof(pr->topic), in, apns ? &topic : &project,
		    prov, msg, msize))
		return EINVAL;

	r = mem_zalloc(sizeof(*r), pushreg_destructor);
	if (!r)
		return ENOMEM;
	r->provider = pr->provider;
	err = str_dup(&r->token, pr->token);
	err |= str_dup(&r->voip, pr->voip);
	err |= str_dup(&r->topic, pr->topic);
	if (err) {
		mem_deref(r);
		return ENOMEM;
	}
	*prp = r;
	return 0;
}

static int build(struct repr **rp, const struct app *app)
{
	struct repr *r = NULL;
	char href[sizeof(app->href) + 32];
	int err;

	err = repr_href(href, sizeof(href), app->href, "/pushRegistration");
	if (!err)
		err = repr_alloc(&r, "pushRegistration", href);
	/* the same members as the stored record */
	if (!err)
		err = ucwa_pushreg_encode(r, app);
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err ? ENOMEM : 0;
}

static void reply(struct web_req *req, const struct app *app, uint16_t scode)
{
	struct repr *r = NULL;
	char loc[sizeof(app->href) + 64];

	if (build(&r, app) || repr_href(loc, sizeof(loc), "Location: ",
					"%s/pushRegistration\r\n", app->href)) {
		web_reply_text(req, 500, NULL, "could not build the resource");
		mem_deref(r);
		return;
	}
	api_reply(req, scode, NULL, r, scode == 201 ? loc : NULL);
	mem_deref(r);
}

/* The write of a changed registration ended: committed, the change
 * stays (the one it replaced goes); failed, it is undone, so that what
 * the app was told (503) is what pushes use. */
static void settle(struct app *app, int err)
{
	app->s.push_saving = false;
	if (err) {
		mem_deref(app->s.push);
		app->s.push = app->s.push_old;
		session_life_update(&app->s);
	} else {
		mem_deref(app->s.push_old);
	}
	app->s.push_old = NULL;
}

static void saved_reply(struct app *app, struct web_req *req, int err,
			uint16_t scode)
{
	settle(app, err);
	if (!req)
		return; /* the client left */
	if (err)
		ucwa_app_reply_saved(app, req, err);
	else if (!app->s.push || !scode)
		web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
	else
		reply(req, app, scode);
}

static void created(struct app *app, struct web_req *req, int err)
{
	saved_reply(app, req, err, 201);
}

static void replaced(struct app *app, struct web_req *req, int err)
{
	saved_reply(app, req, err, 200);
}

static void deleted(struct app *app, struct web_req *req, int err)
{
	saved_reply(app, req, err, 0);
}

/* One change at a time: the first one's answer says what stays. */
static bool busy(struct app *app, struct web_req *req)
{
	if (!app->s.push_saving)
		return false;
	api_reply_error(req, 409, NULL, "Conflict", NULL,
			"a change of the push registration is being stored");
	return true;
}

static void bad(struct web_req *req, const char *msg)
{
	api_reply_error(req, 400, NULL, "BadRequest",
			"ParameterValidationFailure", msg);
}

static void put(struct app *app, struct web_req *req)
{
	struct repr_in *in = NULL;
	struct pushreg *pr = NULL, *old;
	char msg[160];
	int err;

	if (api_body(req, &in))
		return; /* answered */
	err = parse(&pr, in, msg, sizeof(msg));
	if (err == ENOMEM) {
		web_reply_text(req, 503, NULL, "out of memory");
		goto out;
	}
	if (err) {
		bad(req, msg);
		goto out;
	}
	if (!app->u->push || !push_available(app->u->push, pr->provider)) {
		(void)re_snprintf(msg, sizeof(msg),
				  "this service cannot push through %s",
				  provider_names[pr->provider]);
		bad(req, msg);
		goto out;
	}
	/* only projects this service was given: its credentials would
	 * otherwise push (and pay) for anyone's */
	if (pr->provider == PUSH_FCM && pr->topic[0] &&
	    !push_fcm_project_ok(app->u->push, pr->topic)) {
		(void)re_snprintf(msg, sizeof(msg),
				  "project %s is not one this service pushes "
				  "for; leave project out for the default",
				  pr->topic);
		bad(req, msg);
		goto out;
	}

	if (busy(app, req))
		goto out;

	old = app->s.push;
	/* a new registration gets a new id; a replaced one keeps its id
	 * (the app knows it from the first answer) */
	if (old)
		memcpy(pr->pid, old->pid, sizeof(pr->pid));
	else
		rand_str(pr->pid, sizeof(pr->pid));
	app->s.push = pr;
	err = ucwa_app_save(app, req, old ? replaced : created);
	if (err) {
		/* not even started: as it was */
		app->s.push = old;
		ucwa_app_reply_saved(app, req, err);
		goto out;
	}
	/* kept until the write ends: put back if it fails */
	app->s.push_old = old;
	app->s.push_saving = true;
	pr = NULL;
	/* the long lifetime from now on */
	session_life_update(&app->s);
out:
	mem_deref(pr);
	mem_deref(in);
}

static void del(struct app *app, struct web_req *req)
{
	struct pushreg *old;
	int err;

	if (busy(app, req))
		return;
	if (!app->s.push) {
		web_reply(req, 204, NULL, NULL, NULL, 0, NULL);
		return;
	}
	old = app->s.push;
	app->s.push = NULL;
	err = ucwa_app_save(app, req, deleted);
	if (err) {
		app->s.push = old;
		ucwa_app_reply_saved(app, req, err);
		return;
	}
	app->s.push_old = old;
	app->s.push_saving = true;
	/* the short lifetime applies at once */
	session_life_update(&app->s);
}

/* GET, PUT, POST, DELETE pushRegistration */
void ucwa_pushreg(struct web_req *req, const struct web_params *prm, void *arg)
{
	const struct pl *m = web_req_method(req);
	struct app *app = arg;

	(void)prm;
	if (!pl_strcmp(m, "GET")) {
		if (app->s.push)
			reply(req, app, 200);
		else
			api_reply_error(req, 404, NULL, "NotFound", NULL,
					"no push registration");
	} else if (!pl_strcmp(m, "PUT") || !pl_strcmp(m, "POST")) {
		put(app, req);
	} else {
		del(app, req);
	}
}

int ucwa_pushreg_encode(struct repr *r, const struct app *app)
{
	const struct pushreg *pr = app->s.push;
	int err = 0;

	if (!pr)
		return 0;
	err |= repr_prop_str(r, "pushId", pr->pid);
	err |= repr_prop_str(r, "provider", provider_names[pr->provider]);
	err |= repr_prop_str(r, "token", pr->token);
	if (pr->topic[0])
		err |= repr_prop_str(
		    r, pr->provider == PUSH_APNS ? "topic" : "project",
		    pr->topic);
	if (pr->voip[0])
		err |= repr_prop_str(r, "voipToken", pr->voip);
	return err;
}

void ucwa_pushreg_decode(struct app *app, const struct repr_in *in)
{
	char msg[160];
	struct pl v;

	/* the same checks as a request: a record is input too */
	app->s.push = mem_deref(app->s.push);
	if (parse(&app->s.push, in, msg, sizeof(msg)))
		return;
	/* a record written before registrations had an id gets one (kept
	 * from the next save on) */
	if (!repr_in_str(in, "pushId", &v) && v.l == SESSION_PUSH_ID_LEN &&
	    chars_ok(&v, false, ""))
		pl_strcpy(&v, app->s.push->pid, sizeof(app->s.push->pid));
	else
		rand_str(app->s.push->pid, sizeof(app->s.push->pid));
}

/* One push in flight for an application. */
struct wake {
	struct le le; /* in app->wakes */
	struct app *app;
	struct push_op *op;
	enum push_kind kind;
	char token[UCWA_PUSH_TOKEN_MAX + 1]; /* the one it went to */
};

static void wake_destructor(void *arg)
{
	struct wake *wk = arg;

	list_unlink(&wk->le);
	mem_deref(wk->op);
}

static const char *const kind_names[] = {
    [PUSH_MESSAGE] = "message",
    [PUSH_MISSED_CALL] = "missed call",
    [PUSH_CALL] = "call",
};

static void dropped(struct app *app, struct web_req *req, int err)
{
	(void)req;
	if (err)
		log_warn("ucwa: %s: the dropped push registration is still "
			 "stored: %m",
			 app->id, err);
}

static void push_result(enum push_result res, uint16_t status,
			const char *reason, void *arg)
{
	struct wake *wk = arg;
	struct app *app = wk->app;

	/* outcomes per application in the log; the push service counts
	 * them in /metrics */
	switch (res) {
	case PUSH_SENT:
		log_debug("ucwa: %s push to %s (%s) sent", kind_names[wk->kind],
			  app->user, app->id);
		break;
	case PUSH_FAILED:
		log_notice("ucwa: %s push to %s (%s) failed: %u %s",
			   kind_names[wk->kind], app->user, app->id, status,
			   reason ? reason : "");
		break;
	case PUSH_DROP_TOKEN:
		log_notice("ucwa: %s push to %s (%s): the provider dropped "
			   "the token (%u %s); registration removed",
			   kind_names[wk->kind], app->user, app->id, status,
			   reason ? reason : "");
		if (session_push_dead(&app->s, wk->token)) {
			app->s.push = mem_deref(app->s.push);
			session_life_update(&app->s);
			(void)ucwa_app_save(app, NULL, dropped);
		}
		break;
	}
	mem_deref(wk);
}

int ucwa_push(struct app *app, enum push_kind kind, const char *sender,
	      const char *text, const char *collapse)
{
	const struct pushreg *pr = app->s.push;
	struct push_target t;
	struct push_msg m;
	struct wake *wk;
	int err;

	/* the session's policy: registered, and not awake */
	err = session_push_decide(&app->s, app->u->push != NULL);
	if (err)
		return err;

	wk = mem_zalloc(sizeof(*wk), wake_destructor);
	if (!wk)
		return ENOMEM;
	wk->app = app;
	wk->kind = kind;
	(void)re_snprintf(wk->token, sizeof(wk->token), "%s", pr->token);

	memset(&t, 0, sizeof(t));
	t.provider = pr->provider;
	t.token = pr->token;
	t.voip_token = pr->voip[0] ? pr->voip : NULL;
	t.topic = pr->topic[0] ? pr->topic : NULL;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.push_id = pr->pid;
	m.sender = sender;
	m.text = text;
	m.collapse = collapse;
	/* incoming messages the app has not acknowledged, this one too */
	m.badge = session_unacked(&app->s);
	err = push_send(app->u->push, &t, &m, push_result, wk, &wk->op);
	if (err) {
		log_notice("ucwa: %s push to %s (%s) not sent: %m",
			   kind_names[kind], app->user, app->id, err);
		mem_deref(wk);
		return err;
	}
	list_append(&app->wakes, &wk->le, wk);
	return 0;
}

void ucwa_push_close_all(struct app *app)
{
	list_flush(&app->wakes);
}
