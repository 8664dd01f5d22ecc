/**
 * @file forward.c  Requests for applications of other instances
 * (forward.h, docs/pool.md "Forwarding")
 *
 * One request: [cache or store_lease_owner] -> fwd_send -> relay; a
 * 503 Mob-Not-Owner or a connection not made drops the cached URL and
 * starts again once from the lookup. The client going away drops the
 * request (web cancel): the forwarded request is aborted with it.
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store.h"
#include "web.h"
#include "evchan.h"
#include "ucwa.h"
#include "fwd.h"
#include "forward.h"

/* A P-GET may be parked at the owner EVCHAN_TIMEOUT_MAX: wait longer */
#define FORWARD_TIMEOUT_MS ((EVCHAN_TIMEOUT_MAX + 60) * 1000u)

enum result {
	R_RELAYED, /* the owner's answer relayed                        */
	R_RETRIED, /* looked up and sent again (not owner, no connection) */
	R_TAKEN,   /* no owner alive: taken over and served here        */
	R_FAILED,  /* no answer from an owner: 503/504 given            */
	R_NONE,    /* no such application in the store: 404              */
	R_REFUSED, /* forwarded here, not held here: 503 Mob-Not-Owner  */
	R_COUNT
};

struct forward {
	struct store *st; /* borrowed */
	struct ucwa *u;   /* borrowed */
	struct fwd *fwd;
	struct hash *cache; /* struct centry by session id */
	struct list order;  /* the same, oldest first      */
	uint32_t ncache;
	forward_take_h *take;
	void *take_arg;
	struct store_op *url_op;
	struct tmr url_tmr;
	bool url_told; /* its log line was written */
	struct metric *m[R_COUNT];
	char *url;
	char inst[STORE_ID_MAX + 1];
};

/* A session's owner URL, looked up at 'at'. */
struct centry {
	struct le he, le;
	uint64_t at;
	char *url;
	char sid[STORE_ID_MAX + 1];
};

/* One request being forwarded. */
struct freq {
	struct forward *fw; /* reference */
	struct web_req *req;
	struct store_op *op;
	struct fwd_req *fr;
	bool retried, taking, gone;
	char sid[STORE_ID_MAX + 1];
	char user[STORE_USER_MAX + 1];
};

static void lookup(struct freq *q);

static void centry_destructor(void *arg)
{
	struct centry *e = arg;

	hash_unlink(&e->he);
	list_unlink(&e->le);
	mem_deref(e->url);
}

static bool sid_cmp(struct le *le, void *arg)
{
	const struct centry *e = le->data;
	return !strcmp(e->sid, arg);
}

static struct centry *cache_find(struct forward *fw, const char *sid)
{
	return list_ledata(
	    hash_lookup(fw->cache, hash_joaat_str(sid), sid_cmp, (void *)sid));
}

static void cache_drop(struct forward *fw, const char *sid)
{
	struct centry *e = cache_find(fw, sid);

	if (e) {
		mem_deref(e);
		--fw->ncache;
	}
}

/* Entries are appended as looked up: the oldest are at the head. */
static void cache_expire(struct forward *fw, uint64_t now)
{
	struct centry *e;

	while ((e = list_ledata(fw->order.head)) &&
	       (now - e->at >= FORWARD_CACHE_MS ||
		fw->ncache >= FORWARD_CACHE_MAX)) {
		mem_deref(e);
		--fw->ncache;
	}
}

static void cache_put(struct forward *fw, const char *sid, const char *url)
{
	struct centry *e;

	cache_drop(fw, sid);
	cache_expire(fw, tmr_jiffies());
	e = mem_zalloc(sizeof(*e), centry_destructor);
	if (!e || str_dup(&e->url, url)) {
		mem_deref(e);
		return;
	}
	e->at = tmr_jiffies();
	str_ncpy(e->sid, sid, sizeof(e->sid));
	hash_append(fw->cache, hash_joaat_str(e->sid), &e->he, e);
	list_append(&fw->order, &e->le, e);
	++fw->ncache;
}

static void freq_destructor(void *arg)
{
	struct freq *q = arg;

	mem_deref(q->op);
	mem_deref(q->fr); /* aborts a request in flight */
	if (q->req && !q->gone)
		web_req_set_cancel(q->req, NULL, NULL);
	mem_deref(q->req);
	mem_deref(q->fw);
}

/* The client went away: stop everything (a takeover in flight still
 * holds q, and finds it gone). */
static void freq_cancel(struct web_req *req, void *arg)
{
	struct freq *q = arg;
	(void)req;

	q->gone = true;
	q->op = mem_deref(q->op);
	q->fr = mem_deref(q->fr);
	mem_deref(q);
}

/* Answered: the request is done with q. */
static void freq_done(struct freq *q, enum result r)
{
	metric_add(q->fw->m[r], 1);
	if (q->gone)
		return;
	q->gone = true;
	web_req_set_cancel(q->req, NULL, NULL);
	mem_deref(q);
}

static void reply_unavailable(struct web_req *req, uint16_t scode,
			      const char *text, bool not_owner)
{
	(void)web_reply(req, scode, NULL, "text/plain; charset=utf-8",
			(const uint8_t *)text, strlen(text),
			"Retry-After: 1\r\n%s",
			not_owner ? FWD_NOT_OWNER_HDR ": 1\r\n" : "");
}

static void fail(struct freq *q, uint16_t scode, const char *text)
{
	reply_unavailable(q->req, scode, text, false);
	freq_done(q, R_FAILED);
}

/* Serve it here: taken over, or none (404). */
static void serve_here(struct freq *q, enum result r)
{
	mem_ref(q);
	freq_done(q, r);
	ucwa_route_here(q->fw->u, q->req, q->user);
	mem_deref(q);
}

/* Start over from a fresh lookup, once. */
static bool retry(struct freq *q)
{
	cache_drop(q->fw, q->sid);
	if (q->retried)
		return false;
	q->retried = true;
	metric_add(q->fw->m[R_RETRIED], 1);
	lookup(q);
	return true;
}

static void fwd_done(int err, const struct fwd_resp *resp, void *arg)
{
	struct freq *q = arg;
	const struct pl *m = web_req_method(q->req);
	bool idem = !pl_strcmp(m, "GET") || !pl_strcmp(m, "HEAD");

	q->fr = mem_deref(q->fr);
	/* the owner moved on, or is not there: ask the store again; a
	 * broken connection only for a read (a POST may have been done) */
	if ((!err && resp->status == 503 && resp->not_owner) ||
	    err == ECONNREFUSED || (err == ECONNRESET && idem)) {
		if (retry(q))
			return;
	}
	if (err) {
		cache_drop(q->fw, q->sid); /* the next request asks again */
		log_info("forward: %s of %s: %m", q->sid, q->user, err);
		fail(q, err == ETIMEDOUT ? 504 : 503,
		     "the instance holding this application did not answer");
		return;
	}
	(void)fwd_relay(q->req, resp);
	freq_done(q, R_RELAYED);
}

static void send_to(struct freq *q, const char *url)
{
	int err = fwd_send(&q->fr, q->fw->fwd, url, q->req, fwd_done, q);

	if (err) {
		log_warn("forward: cannot forward to %s: %m", url, err);
		fail(q, 503, "cannot forward the request");
	}
}

static void took(int err, void *arg)
{
	struct freq *q = arg;

	q->taking = false;
	if (q->gone) {
		mem_deref(q); /* the reference the takeover held */
		return;
	}
	mem_deref(q);
	if (!err)
		serve_here(q, R_TAKEN);
	else if (err == ENOENT)
		serve_here(q, R_NONE);
	else if (err != EBUSY || !retry(q))
		fail(q, 503, "the application is moving; try again");
}

static void take(struct freq *q)
{
	struct forward *fw = q->fw;
	int err;

	if (!fw->take) {
		fail(q, 503, "the application is moving; try again");
		return;
	}
	/* the takeover cannot be cancelled: it holds q until it answers */
	q->taking = true;
	err = fw->take(fw->take_arg, q->sid, took, mem_ref(q));
	if (err) {
		q->taking = false;
		mem_deref(q);
		log_warn("forward: cannot take %s over: %m", q->sid, err);
		fail(q, 503, "the application is moving; try again");
	}
}

static void owner_done(int err, const char *inst, const char *url, bool alive,
		       void *arg)
{
	struct freq *q = arg;

	q->op = mem_deref(q->op);
	if (err == ENOENT) {
		serve_here(q, R_NONE); /* no such application: 404 */
		return;
	}
	if (err) {
		log_warn("forward: owner of %s: %m", q->sid, err);
		fail(q, 503, "the store is not available");
		return;
	}
	if (!alive || !strcmp(inst, q->fw->inst)) {
		take(q);
		return;
	}
	if (!*url) {
		log_warn("forward: instance %s published no URL "
			 "([store] redis_instance_url)",
			 inst);
		fail(q, 503,
		     "the instance holding this application cannot "
		     "be reached");
		return;
	}
	cache_put(q->fw, q->sid, url);
	send_to(q, url);
}

static void lookup(struct freq *q)
{
	struct centry *e = cache_find(q->fw, q->sid);
	int err;

	if (e && tmr_jiffies() - e->at < FORWARD_CACHE_MS) {
		send_to(q, e->url);
		return;
	}
	err = store_lease_owner(q->fw->st, q->sid, owner_done, q, &q->op);
	if (err) {
		log_warn("forward: owner of %s: %m", q->sid, err);
		fail(q, 503, "the store is not available");
	}
}

static bool remote_h(struct web_req *req, const struct pl *id, const char *user,
		     void *arg)
{
	struct forward *fw = arg;
	struct freq *q;

	/* forwarded once already: the sender's lookup was stale */
	if (web_req_header(req, FWD_BY_HDR, NULL)) {
		reply_unavailable(req, 503,
				  "this instance does not hold the "
				  "application\n",
				  true);
		metric_add(fw->m[R_REFUSED], 1);
		return true;
	}
	if (!id->l || id->l > STORE_ID_MAX || strlen(user) > STORE_USER_MAX)
		return false;

	q = mem_zalloc(sizeof(*q), freq_destructor);
	if (!q)
		return false;
	q->fw = mem_ref(fw);
	q->req = mem_ref(req);
	(void)pl_strcpy(id, q->sid, sizeof(q->sid));
	str_ncpy(q->user, user, sizeof(q->user));
	web_req_set_cancel(req, freq_cancel, q);
	lookup(q);
	return true;
}

static void url_publish(void *arg);

static void url_done(int err, void *arg)
{
	struct forward *fw = arg;

	fw->url_op = mem_deref(fw->url_op);
	if (!err) {
		if (!fw->url_told)
			log_info("forward: instance %s reached at %s", fw->inst,
				 fw->url);
		fw->url_told = true;
		/* again now and then: a Sentinel switch may lose it (the
		 * write is asynchronous to the replica) */
		tmr_start(&fw->url_tmr, FORWARD_URL_REFRESH_MS, url_publish,
			  fw);
		return;
	}
	log_warn("forward: cannot publish this instance's URL: %m", err);
	tmr_start(&fw->url_tmr, FORWARD_URL_RETRY_MS, url_publish, fw);
}

static void url_publish(void *arg)
{
	struct forward *fw = arg;

	if (store_instance_url_set(fw->st, fw->inst, fw->url, url_done, fw,
				   &fw->url_op))
		tmr_start(&fw->url_tmr, FORWARD_URL_RETRY_MS, url_publish, fw);
}

static void destructor(void *arg)
{
	struct forward *fw = arg;

	ucwa_set_remote(fw->u, NULL, NULL);
	tmr_cancel(&fw->url_tmr);
	mem_deref(fw->url_op);
	list_flush(&fw->order);
	mem_deref(fw->cache);
	mem_deref(fw->fwd);
	mem_deref(fw->url);
}

static void metrics_init(struct forward *fw)
{
	static const char *const labels[R_COUNT] = {
	    [R_RELAYED] = "result=\"relayed\"",
	    [R_RETRIED] = "result=\"retried\"",
	    [R_TAKEN] = "result=\"taken\"",
	    [R_FAILED] = "result=\"failed\"",
	    [R_NONE] = "result=\"none\"",
	    [R_REFUSED] = "result=\"refused\"",
	};
	size_t i;

	for (i = 0; i < R_COUNT; i++)
		fw->m[i] = metrics_get(
		    METRIC_COUNTER, "mobility_pool_forwarded_total", labels[i],
		    i ? NULL
		      : "Requests for applications not held here: relayed "
			"from the owner, sent again, taken over, failed, none "
			"(404), refused (forwarded here, not held here)");
}

int forward_alloc(struct forward **fp, struct store *st, struct ucwa *u,
		  const char *inst, const char *url)
{
	struct forward *fw;
	int err;

	if (!fp || !st || !u || !inst || !*inst || strlen(inst) > STORE_ID_MAX)
		return EINVAL;
	fw = mem_zalloc(sizeof(*fw), destructor);
	if (!fw)
		return ENOMEM;
	fw->st = st;
	fw->u = u;
	str_ncpy(fw->inst, inst, sizeof(fw->inst));
	tmr_init(&fw->url_tmr);
	err = hash_alloc(&fw->cache, 4096);
	if (!err)
		err = fwd_alloc(&fw->fwd, inst, FORWARD_TIMEOUT_MS);
	if (!err && url)
		err = str_dup(&fw->url, url);
	if (err)
		goto out;
	metrics_init(fw);
	if (fw->url)
		url_publish(fw);
	ucwa_set_remote(u, remote_h, fw);

out:
	if (err)
		mem_deref(fw);
	else
		*fp = fw;
	return err;
}

void forward_set_take(struct forward *f, forward_take_h *h, void *take_arg)
{
	if (!f)
		return;
	f->take = h;
	f->take_arg = take_arg;
}
