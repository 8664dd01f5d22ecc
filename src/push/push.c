/**
 * @file push.c  The push service: one queue per provider, a limit of
 * requests in flight, retries with backoff, the privacy of alert text and
 * the metrics
 *
 * A push is a struct push_req from push_send() to its result. It waits in
 * its provider's queue (in order) until a slot is free (and, for FCM,
 * until there is an access token), goes out as one HTTP/2 request, and
 * comes back to the head of the queue after a backoff when the provider
 * asks to try later.
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "push_int.h"

enum {
	MAX_REASON = 64, /* bytes of a provider's reason kept */
	MAX_ALERT = 512, /* bytes of a made-up alert body      */
};

struct prov {
	struct push *p;
	enum push_provider id;
	struct list queue; /* struct push_req, in order */
	uint32_t inflight;
	bool warm; /* an answer came on the current connection */
	struct {
		struct metric *sent, *drop, *failed, *retried;
		struct metric *inflight, *queued;
		struct metric *lat_sum, *lat_count;
	} m;
};

struct push {
	struct conf *conf;
	struct push_http *http;
	struct apns *apns;
	struct fcm *fcm;
	struct prov prov[2];
	struct list reqs; /* every struct push_req, whatever its state */
	struct tmr kick;  /* dispatch outside push_send() */
};

struct push_req {
	struct le le;     /* queue membership */
	struct le le_all; /* struct push.reqs */
	struct prov *prov;
	struct push_op *op; /* the caller's handle, or NULL */
	push_result_h *h;
	void *arg;
	struct push_target t; /* strings: our own copies */
	enum push_kind kind;
	char *payload;  /* malloc'd JSON */
	char *collapse; /* the apns-collapse-id / collapse_key or NULL */
	struct push_hreq *hr;
	struct tmr tmr; /* backoff: a libre timer, not the wheel: at most
			 * in_flight pushes of a provider are in backoff
			 * at once, and a backoff is short */
	unsigned attempt;
	bool reauthed;
	uint64_t t0;
};

struct push_op {
	struct push_req *req;
};

static void dispatch(struct prov *pv);

uint64_t push_backoff(uint32_t base_ms, uint32_t cap_ms, unsigned n)
{
	uint64_t d = base_ms;

	while (n-- && d < cap_ms)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;

	/* between half and all of it */
	return d - (d / 2 ? rand_u32() % (d / 2 + 1) : 0);
}

static void op_destructor(void *arg)
{
	struct push_op *op = arg;

	if (op->req) {
		op->req->op = NULL;
		op->req->h = NULL;
	}
}

static void req_destructor(void *arg)
{
	struct push_req *r = arg;

	if (r->op)
		r->op->req = NULL;
	tmr_cancel(&r->tmr);
	list_unlink(&r->le);
	list_unlink(&r->le_all);
	mem_deref(r->hr);
	free(r->payload);
	mem_deref(r->collapse);
	mem_deref((char *)r->t.token);
	mem_deref((char *)r->t.voip_token);
	mem_deref((char *)r->t.topic);
}

static void destructor(void *arg)
{
	struct push *p = arg;
	size_t i;

	tmr_cancel(&p->kick);
	/* queued, in flight or in backoff: their handlers are not called */
	list_flush(&p->reqs);
	for (i = 0; i < ARRAY_SIZE(p->prov); i++)
		list_init(&p->prov[i].queue);
	mem_deref(p->fcm);
	mem_deref(p->apns);
	mem_deref(p->http);
	mem_deref(p->conf);
}

static void gauges(struct prov *pv)
{
	metric_set(pv->m.inflight, pv->inflight);
	metric_set(pv->m.queued, (int64_t)list_count(&pv->queue));
}

/* The result, once. The handler may drop the service: the callers hold a
 * reference on it while they go on. */
static void finish(struct push_req *r, enum push_result res, uint16_t status,
		   const char *reason)
{
	struct prov *pv = r->prov;
	push_result_h *h = r->h;
	void *arg = r->arg;

	switch (res) {
	case PUSH_SENT:
		metric_add(pv->m.sent, 1);
		metric_add(pv->m.lat_sum, (int64_t)(tmr_jiffies() - r->t0));
		metric_add(pv->m.lat_count, 1);
		break;
	case PUSH_DROP_TOKEN:
		metric_add(pv->m.drop, 1);
		break;
	default:
		metric_add(pv->m.failed, 1);
		log_info("push: %s push to %s failed (%u %s)",
			 pv->id == PUSH_APNS ? "APNs" : "FCM", r->t.token,
			 status, reason);
		break;
	}

	list_unlink(&r->le);
	list_unlink(&r->le_all);
	gauges(pv);
	if (r->op)
		r->op->req = NULL;
	r->op = NULL;
	r->h = NULL;
	mem_deref(r);

	if (h)
		h(res, status, reason, arg);
}

static void retry_h(void *arg)
{
	struct push_req *r = arg;
	struct prov *pv = r->prov;

	/* older than what waits: at the head */
	list_prepend(&pv->queue, &r->le, r);
	gauges(pv);
	dispatch(pv);
}

static void http_done(int err, const struct push_hresp *resp, void *arg)
{
	struct push_req *r = arg;
	struct prov *pv = r->prov;
	struct push *p = pv->p;
	char reason[MAX_REASON] = "";
	enum push_verdict v;
	uint64_t delay;

	r->hr = mem_deref(r->hr);
	--pv->inflight;
	mem_ref(p);

	/* no connection: the next burst waits for a new one (below) */
	pv->warm = !err;

	if (err) {
		(void)re_snprintf(reason, sizeof(reason), "%m", err);
		v = PV_RETRY;
	} else if (pv->id == PUSH_APNS) {
		v = apns_verdict(resp, reason, sizeof(reason));
	} else {
		v = fcm_verdict(resp, reason, sizeof(reason));
	}

	switch (v) {
	case PV_SENT:
		finish(r, PUSH_SENT, resp->status, reason);
		goto out;
	case PV_DROP:
		finish(r, PUSH_DROP_TOKEN, resp->status, reason);
		goto out;
	case PV_REAUTH:
		if (r->reauthed)
			break;
		r->reauthed = true;
		if (pv->id == PUSH_APNS)
			apns_renew(p->apns);
		else
			fcm_renew(p->fcm);
		metric_add(pv->m.retried, 1);
		list_prepend(&pv->queue, &r->le, r);
		goto out;
	case PV_RETRY:
		if (r->attempt >= p->conf->push.retries)
			break;
		delay = push_backoff(p->conf->push.retry_base_ms,
				     p->conf->push.retry_cap_ms, r->attempt++);
		if (!err && resp->retry_after >= 0 &&
		    (uint64_t)resp->retry_after * 1000 > delay)
			delay = (uint64_t)resp->retry_after * 1000;
		metric_add(pv->m.retried, 1);
		log_debug("push: retry in %llu ms (%s)",
			  (unsigned long long)delay, reason);
		tmr_start(&r->tmr, delay, retry_h, r);
		goto out;
	default:
		break;
	}

	finish(r, PUSH_FAILED, err ? 0 : resp->status, reason);

out:
	/* a slot is free: the next in line goes */
	if (mem_nrefs(p) > 1)
		dispatch(pv);
	mem_deref(p);
}

static int start(struct push_req *r)
{
	struct prov *pv = r->prov;
	struct push *p = pv->p;

	if (pv->id == PUSH_APNS)
		return apns_post(&r->hr, p->apns, p->http, &r->t, r->kind,
				 r->collapse, r->payload, http_done, r);

	return fcm_post(&r->hr, p->fcm, p->http, &r->t, r->payload, http_done,
			r);
}

/* Start what the in-flight limit allows, in order. Until a connection
 * has answered, one request at a time: requests started together before
 * the connection is up would each wait for it in curl and then start one
 * by one, or open connections of their own. */
static void dispatch(struct prov *pv)
{
	struct push *p = pv->p;
	uint32_t limit = pv->warm ? p->conf->push.in_flight : 1;

	mem_ref(p);
	while (pv->queue.head && pv->inflight < limit) {
		struct push_req *r = pv->queue.head->data;
		int err;

		if (pv->id == PUSH_FCM && !fcm_ready(p->fcm))
			break;

		list_unlink(&r->le);
		err = start(r);
		if (err) {
			char reason[MAX_REASON];

			(void)re_snprintf(reason, sizeof(reason), "%m", err);
			finish(r, PUSH_FAILED, 0, reason);
			if (mem_nrefs(p) == 1)
				break; /* the handler dropped the service */
			continue;
		}
		++pv->inflight;
	}
	gauges(pv);
	mem_deref(p);
}

static void kick_h(void *arg)
{
	struct push *p = arg;

	dispatch(&p->prov[PUSH_APNS]);
	dispatch(&p->prov[PUSH_FCM]);
}

/* FCM token fetched, or given up: then the waiting pushes fail. */
static void fcm_token_h(int err, void *arg)
{
	struct push *p = arg;
	struct prov *pv = &p->prov[PUSH_FCM];

	if (!err) {
		dispatch(pv);
		return;
	}

	/* a handler may drop the service: then the rest is dropped too */
	mem_ref(p);
	while (pv->queue.head && mem_nrefs(p) > 1)
		finish(pv->queue.head->data, PUSH_FAILED, 0,
		       "no FCM access token");
	mem_deref(p);
}

static void prov_init(struct push *p, enum push_provider id)
{
	struct prov *pv = &p->prov[id];
	const char *name = id == PUSH_APNS ? "apns" : "fcm";
	char l[64];

	pv->p = p;
	pv->id = id;

#define OUTCOME(f, o)                                                          \
	(void)re_snprintf(l, sizeof(l), "provider=\"%s\",outcome=\"%s\"",      \
			  name, o);                                            \
	pv->m.f = metrics_get(METRIC_COUNTER, "mobility_push_total", l,        \
			      "Pushes by provider and outcome (retried: "      \
			      "attempts made again)")
	OUTCOME(sent, "sent");
	OUTCOME(drop, "dropped_token");
	OUTCOME(failed, "failed");
	OUTCOME(retried, "retried");
#undef OUTCOME

	(void)re_snprintf(l, sizeof(l), "provider=\"%s\"", name);
	pv->m.inflight = metrics_get(METRIC_GAUGE, "mobility_push_in_flight", l,
				     "Push requests in flight");
	pv->m.queued = metrics_get(METRIC_GAUGE, "mobility_push_queued", l,
				   "Pushes waiting for a slot or a token");
	pv->m.lat_sum =
	    metrics_get(METRIC_COUNTER, "mobility_push_latency_ms_sum", l,
			"Milliseconds from push_send() to acceptance, summed");
	pv->m.lat_count =
	    metrics_get(METRIC_COUNTER, "mobility_push_latency_ms_count", l,
			"Pushes accepted (the count of the latency sum)");
}

int push_alloc(struct push **pp, struct conf *conf)
{
	const struct conf_push *cp;
	struct push *p;
	int err;

	if (!pp || !conf)
		return EINVAL;

	cp = &conf->push;
	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;

	p->conf = mem_ref(conf);
	tmr_init(&p->kick);
	prov_init(p, PUSH_APNS);
	prov_init(p, PUSH_FCM);

	err = push_http_alloc(&p->http, cp->ca_file, cp->timeout_ms,
			      cp->in_flight);
	if (err)
		goto out;

	if (cp->apns_key && cp->apns_key_id && cp->apns_team_id) {
		err = apns_alloc(&p->apns, conf);
		if (err)
			goto out;
	}
	if (cp->fcm_credentials) {
		err = fcm_alloc(&p->fcm, conf, p->http, fcm_token_h, p);
		if (err)
			goto out;
	}

	log_info("push: APNs %s, FCM %s",
		 p->apns ? cp->apns_url : "not configured",
		 p->fcm ? cp->fcm_url : "not configured");

out:
	if (err)
		mem_deref(p);
	else
		*pp = p;
	return err;
}

bool push_available(const struct push *p, enum push_provider provider)
{
	if (!p)
		return false;

	return provider == PUSH_APNS ? p->apns != NULL : p->fcm != NULL;
}

bool push_fcm_project_ok(const struct push *p, const char *project)
{
	const char *own;
	struct le *le;

	if (!p || !p->fcm)
		return false;
	own = fcm_project(p->fcm);
	if (!project || (own && !strcmp(project, own)))
		return true;

	LIST_FOREACH(&p->conf->push.fcm_projects, le)
	{
		const struct conf_str *e = le->data;

		if (!strcmp(project, e->s))
			return true;
	}
	return false;
}

/* Tokens and topics land in a URL path or a header: a safe alphabet. */
static bool word_ok(const char *s, size_t max, const char *extra)
{
	size_t i;

	if (!s)
		return false;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || !(isalnum(c) || strchr(extra, c)))
			return false;
	}
	return i > 0;
}

/* The alert text after [push] alert_text (docs/push.md). */
static int alert_make(struct push_alert *al, char *buf, size_t size, int mode,
		      const struct push_msg *m)
{
	bool missed = m->kind == PUSH_MISSED_CALL;
	const char *what = missed ? "Missed call" : "New message";

	al->title = NULL;
	al->body = what;

	if (mode == CONF_ALERT_NONE || !m->sender)
		return 0;

	if (m->kind == PUSH_CALL ||
	    (mode == CONF_ALERT_FULL && !missed && m->text)) {
		al->title = m->sender;
		al->body = m->text ? m->text : what;
		return 0;
	}

	/* missed calls and the sender mode */
	if (re_snprintf(buf, size, "%s from %s", what, m->sender) < 0)
		return ENOMEM;
	al->body = buf;
	return 0;
}

/* The collapse id: APNs takes 64 bytes at most; a longer one is replaced
 * by its SHA-256 in hex (64 bytes), the same for the same conversation. */
static int collapse_make(char **cp, const char *c)
{
	uint8_t md[32];
	char hex[65];
	size_t i;

	if (!c || !*c)
		return 0;
	if (strlen(c) <= PUSH_MAX_COLLAPSE)
		return str_dup(cp, c);

	if (!EVP_Digest(c, strlen(c), md, NULL, EVP_sha256(), NULL))
		return ENOMEM;
	for (i = 0; i < sizeof(md); i++)
		(void)re_snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return str_dup(cp, hex);
}

int push_send(struct push *p, const struct push_target *t,
	      const struct push_msg *m, push_result_h *h, void *arg,
	      struct push_op **opp)
{
	char abuf[MAX_ALERT];
	struct push_alert al;
	struct push_req *r;
	struct prov *pv;
	int err;

	if (!p || !t || !m ||
	    (t->provider != PUSH_APNS && t->provider != PUSH_FCM))
		return EINVAL;
	if (!push_available(p, t->provider))
		return ENOTSUP;

	/* APNs tokens are hex; FCM's are base64url with ':' */
	if (!word_ok(t->token, PUSH_MAX_TOKEN, "-_:") ||
	    (t->voip_token && !word_ok(t->voip_token, PUSH_MAX_TOKEN, "-_:")))
		return EINVAL;
	/* the topic: required for APNs, optional for FCM, one alphabet */
	if ((t->topic || t->provider == PUSH_APNS) &&
	    !word_ok(t->topic, PUSH_MAX_TOPIC, ".-_"))
		return EINVAL;
	/* a registration stored before the configuration changed */
	if (t->provider == PUSH_FCM && !push_fcm_project_ok(p, t->topic))
		return EPERM;

	pv = &p->prov[t->provider];
	if (list_count(&pv->queue) >= p->conf->push.queue)
		return ENOBUFS;

	r = mem_zalloc(sizeof(*r), req_destructor);
	if (!r)
		return ENOMEM;

	r->prov = pv;
	r->h = h;
	r->arg = arg;
	r->kind = m->kind;
	r->t.provider = t->provider;
	r->t0 = tmr_jiffies();
	tmr_init(&r->tmr);

	err = str_dup((char **)&r->t.token, t->token);
	if (!err && t->voip_token)
		err = str_dup((char **)&r->t.voip_token, t->voip_token);
	if (!err && t->topic)
		err = str_dup((char **)&r->t.topic, t->topic);
	if (!err)
		err = collapse_make(&r->collapse, m->collapse);
	if (!err)
		err = alert_make(&al, abuf, sizeof(abuf),
				 p->conf->push.alert_text, m);
	if (!err && t->provider == PUSH_APNS)
		err = apns_payload(&r->payload, m, &al);
	else if (!err)
		err = fcm_payload(&r->payload, t, m, &al,
				  p->conf->push.apns_ttl_s, r->collapse);
	if (err)
		goto out;

	if (opp) {
		struct push_op *op = mem_zalloc(sizeof(*op), op_destructor);
		if (!op) {
			err = ENOMEM;
			goto out;
		}
		op->req = r;
		r->op = op;
		*opp = op;
	}

	list_append(&pv->queue, &r->le, r);
	list_append(&p->reqs, &r->le_all, r);
	gauges(pv);
	tmr_start(&p->kick, 0, kick_h, p);

out:
	if (err)
		mem_deref(r);
	return err;
}
