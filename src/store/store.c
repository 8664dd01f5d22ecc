/**
 * @file store.c  Generic front of the store: limits, requests, handles,
 *                group commit per loop turn, completions, metrics
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "store_int.h"

struct store {
	const struct store_be *be;
	void *bed;          /* backend state (mem object)               */
	struct list writes; /* issued in this loop turn, in order       */
	struct list reads;  /* issued in this loop turn                 */
	struct tmr turn;    /* 0 ms: fires at the end of the loop turn  */
	uint32_t depth;     /* writes issued and not yet completed      */
	size_t qbytes;      /* their key and value bytes                */

	struct metric *m_commits, *m_errors, *m_writes, *m_lat_last,
	    *m_lat_total, *m_depth, *m_purged, *m_full_total, *m_full;

	/* full: a write was refused for space, or the last batch found
	 * the largest value would no longer fit */
	bool full;
	struct hash *fences;  /* struct sident: epoch held, by session   */
	struct hash *watches; /* struct sident: watch count, by session  */
	store_bell_h *bellh;
	void *bell_arg;
	store_fenced_h *fencedh; /* a write refused: ESTALE               */
	void *fenced_arg;
	uint64_t full_logged;   /* tmr_jiffies() of the last error line */
	uint64_t full_unlogged; /* refusals since then                */
};

/* The caller's handle: dropping it cancels the request's callback. */
struct store_op {
	struct store_req *req;
};

/* A session id with a number: the epoch held, or the watches. */
struct sident {
	struct le he;
	uint64_t n;
	char sid[];
};

static void turn_handler(void *arg);
static int id_check(const char *id, size_t max);

static void sident_destructor(void *arg)
{
	struct sident *e = arg;

	hash_unlink(&e->he);
}

static bool sident_cmp(struct le *le, void *arg)
{
	const struct sident *e = le->data;

	return !strcmp(e->sid, arg);
}

static struct sident *sident_find(struct hash *h, const char *sid)
{
	struct le *le;

	le = hash_lookup(h, hash_joaat_str(sid), sident_cmp, (void *)sid);
	return le ? le->data : NULL;
}

/* The entry of sid, made (with n 0) if there is none; NULL: ENOMEM. */
static struct sident *sident_get(struct hash *h, const char *sid)
{
	struct sident *e = sident_find(h, sid);
	size_t n = strlen(sid);

	if (e)
		return e;
	e = mem_zalloc(sizeof(*e) + n + 1, sident_destructor);
	if (!e)
		return NULL;
	memcpy(e->sid, sid, n + 1);
	hash_append(h, hash_joaat_str(sid), &e->he, e);
	return e;
}

/* The backends [store] backend may name. */
static const struct store_be *const backends[] = {
    &store_lmdb_be,
    &store_redis_be,
};

static const struct store_be *backend_find(const char *name)
{
	size_t i;

	if (!name)
		name = "lmdb";
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	}
	return NULL;
}

bool store_backend_known(const char *name)
{
	return name && backend_find(name);
}

int store_open(struct store **sp, const struct store_conf *c)
{
	const struct store_be *be;

	if (!sp || !c)
		return EINVAL;
	be = backend_find(c->backend);
	if (!be)
		return ENOTSUP;
	return be->open(sp, c);
}

static void req_cancel(struct store_req *r)
{
	r->doneh = NULL;
	r->geth = NULL;
	r->tokenh = NULL;
	r->eventsh = NULL;
	r->rech = NULL;
	r->leaseh = NULL;
	r->ownerh = NULL;
}

static void op_destructor(void *arg)
{
	struct store_op *op = arg;

	if (op->req) {
		req_cancel(op->req);
		op->req->op = NULL;
	}
}

static void req_destructor(void *arg)
{
	struct store_req *r = arg;

	list_unlink(&r->le);
	if (r->op)
		r->op->req = NULL;
	mem_deref(r->a);
	mem_deref(r->b);
	mem_deref(r->val);
}

static void destructor(void *arg)
{
	struct store *s = arg;
	struct le *le;

	tmr_cancel(&s->turn);

	/* Writes of this turn are still committed (the caller may have
	 * been told nothing yet, but a later start must see them); their
	 * callbacks are cancelled with the store. */
	for (le = s->writes.head; le; le = le->next)
		req_cancel(le->data);
	if (s->writes.head)
		s->be->submit(s->bed, &s->writes);

	/* The backend's destructor waits for its worker to finish. */
	s->bed = mem_deref(s->bed);
	list_flush(&s->writes);
	list_flush(&s->reads);
	hash_flush(s->fences);
	hash_flush(s->watches);
	mem_deref(s->fences);
	mem_deref(s->watches);
}

int store_alloc(struct store **sp, const struct store_be *be)
{
	struct store *s;

	if (!sp || !be)
		return EINVAL;

	s = mem_zalloc(sizeof(*s), destructor);
	if (!s)
		return ENOMEM;

	s->be = be;
	tmr_init(&s->turn);
	if (hash_alloc(&s->fences, 1024) || hash_alloc(&s->watches, 256)) {
		mem_deref(s);
		return ENOMEM;
	}

	s->m_commits =
	    metrics_get(METRIC_COUNTER, "mobility_store_commits_total", NULL,
			"Store write transactions committed");
	s->m_errors =
	    metrics_get(METRIC_COUNTER, "mobility_store_commit_errors_total",
			NULL, "Store write transactions that failed");
	s->m_writes =
	    metrics_get(METRIC_COUNTER, "mobility_store_writes_total", NULL,
			"Store writes completed (ok or failed)");
	s->m_lat_last =
	    metrics_get(METRIC_GAUGE, "mobility_store_commit_latency_us", NULL,
			"Duration of the last store commit in microseconds");
	s->m_lat_total = metrics_get(
	    METRIC_COUNTER, "mobility_store_commit_latency_us_total", NULL,
	    "Sum of store commit durations in microseconds");
	s->m_depth =
	    metrics_get(METRIC_GAUGE, "mobility_store_queue_depth", NULL,
			"Store writes issued, not yet committed");
	s->m_full_total = metrics_get(
	    METRIC_COUNTER, "mobility_store_full_total", NULL,
	    "Store writes refused because the store is full (ENOSPC)");
	s->m_full = metrics_get(METRIC_GAUGE, "mobility_store_full", NULL,
				"1 while the store refuses writes for space");
	s->m_purged =
	    metrics_get(METRIC_COUNTER, "mobility_store_tokens_purged_total",
			NULL, "Expired token records deleted from the store");

	*sp = s;
	return 0;
}

void store_set_backend(struct store *s, void *bed)
{
	if (s)
		s->bed = bed;
}

bool store_req_live(const struct store_req *r)
{
	/* The front holds one reference while it calls out, so one
	 * reference left means the owner has dropped the store. */
	if (!r || mem_nrefs(r->s) < 2)
		return false;

	return r->doneh || r->geth || r->tokenh || r->eventsh || r->rech ||
	       r->leaseh || r->ownerh;
}

void store_commit_stats(struct store *s, uint64_t ncommit, uint64_t nfail,
			uint64_t last_us, uint64_t total_us)
{
	metric_add(s->m_commits, (int64_t)ncommit);
	metric_add(s->m_errors, (int64_t)nfail);
	metric_set(s->m_lat_last, (int64_t)last_us);
	metric_add(s->m_lat_total, (int64_t)total_us);
}

bool store_full(const struct store *s)
{
	return s && s->full;
}

/* A full store must be loud, but one line per refused write would flood
 * the log exactly when the disk is short: one line each
 * STORE_FULL_LOG_MS, with the count. */
static void full_note(struct store *s, const struct store_req *r)
{
	uint64_t now = tmr_jiffies();
	bool was = s->full;

	if (r->err == ENOSPC) {
		metric_add(s->m_full_total, 1);
		++s->full_unlogged;
		if (!s->full_logged ||
		    now - s->full_logged >= STORE_FULL_LOG_MS) {
			log_error("store: full, %llu write(s) refused "
				  "(ENOSPC): %s; acks and deletes still commit",
				  (unsigned long long)s->full_unlogged,
				  s->be->full_hint);
			s->full_logged = now;
			s->full_unlogged = 0;
		}
	}
	if (r->err == ENOSPC || r->space == SPACE_FULL)
		s->full = true;
	else if (r->space == SPACE_ROOMY)
		s->full = false;
	if (was && !s->full)
		log_notice("store: room again");
	metric_set(s->m_full, s->full);
}

void store_complete(struct store *s, struct list *done)
{
	struct le *le;

	mem_ref(s);

	while ((le = list_head(done))) {
		struct store_req *r = le->data;

		list_unlink(le);
		--s->depth;
		s->qbytes -= r->alen + r->blen + r->vlen;
		metric_add(s->m_writes, 1);
		full_note(s, r);
		if (r->kind == SK_TOKEN_PURGE && !r->err)
			metric_add(s->m_purged, r->max);
		/* another instance holds the session now: told once here
		 * for every kind of write, whether or not its caller waits */
		if (r->err == ESTALE && r->epoch && s->fencedh)
			s->fencedh((const char *)r->a, s->fenced_arg);
		if (r->doneh && store_req_live(r))
			r->doneh(r->err, r->arg);
		/* one process: the doorbell rings here, once committed */
		if (r->kind == SK_EVENT_APPEND && !r->err && !s->be->bell &&
		    mem_nrefs(s) > 1 && sident_find(s->watches, (char *)r->a))
			store_bell_ring(s, (char *)r->a, r->n);
		mem_deref(r);
	}

	metric_set(s->m_depth, s->depth);
	mem_deref(s);
}

/* A lease operation: the backend's, or one instance's (always owner). */
static void lease_run(struct store *s, struct store_req *r)
{
	if (s->be->lease) {
		s->be->lease(s->bed, r);
		return;
	}
	/* one instance: nobody to forward to, no URL to publish */
	if (r->kind == SK_LEASE_OWNER) {
		store_owner_done(r, ENOTSUP, "", "", false);
		return;
	}
	if (r->kind == SK_INSTANCE_URL) {
		if (r->doneh)
			r->doneh(ENOTSUP, r->arg);
		return;
	}
	if (r->kind != SK_LEASE_LAPSED) {
		store_lease_done(r, 0, r->kind == SK_LEASE_ACQUIRE ? 1 : 0);
		return;
	}
	if (r->doneh)
		r->doneh(0, r->arg);
}

void store_lease_done(struct store_req *r, int err, uint64_t epoch)
{
	struct store *s = r->s;
	struct sident *e;

	if (!store_req_live(r))
		return;
	/* the epoch this handle's later writes of the session carry */
	if (r->kind == SK_LEASE_ACQUIRE && !err) {
		e = sident_get(s->fences, (char *)r->a);
		if (e)
			e->n = epoch;
		else
			err = ENOMEM;
	} else if (r->kind == SK_LEASE_RELEASE) {
		mem_deref(sident_find(s->fences, (char *)r->a));
	}
	if (r->leaseh)
		r->leaseh(err, epoch, r->arg);
	else if (r->doneh)
		r->doneh(err, r->arg);
}

void store_owner_done(struct store_req *r, int err, const char *inst,
		      const char *url, bool alive)
{
	if (store_req_live(r) && r->ownerh)
		r->ownerh(err, inst, url, alive, r->arg);
}

void store_bell_ring(struct store *s, const char *sid, uint64_t seq)
{
	if (s && s->bellh && sident_find(s->watches, sid))
		s->bellh(sid, seq, s->bell_arg);
}

struct each {
	void (*fn)(const char *sid, void *arg);
	void *arg;
};

static bool each_h(struct le *le, void *arg)
{
	const struct each *e = arg;

	e->fn(((struct sident *)le->data)->sid, e->arg);
	return false;
}

void store_bell_each(struct store *s, void (*fn)(const char *sid, void *arg),
		     void *arg)
{
	struct each e = {fn, arg};

	(void)hash_apply(s->watches, each_h, &e);
}

void store_bell_listen(struct store *s, store_bell_h *h, void *arg)
{
	if (!s)
		return;
	s->bellh = h;
	s->bell_arg = arg;
}

void store_fenced_listen(struct store *s, store_fenced_h *h, void *arg)
{
	if (!s)
		return;
	s->fencedh = h;
	s->fenced_arg = arg;
}

int store_bell_watch(struct store *s, const char *sid)
{
	struct sident *e;
	int err;

	if (!s)
		return EINVAL;
	err = id_check(sid, STORE_ID_MAX);
	if (err)
		return err;
	e = sident_get(s->watches, sid);
	if (!e)
		return ENOMEM;
	/* the first watch subscribes */
	if (!e->n++ && s->be->bell) {
		err = s->be->bell(s->bed, sid, true);
		if (err)
			mem_deref(e);
	}
	return err;
}

void store_bell_unwatch(struct store *s, const char *sid)
{
	struct sident *e;

	if (!s || !sid)
		return;
	e = sident_find(s->watches, sid);
	if (!e || --e->n)
		return;
	mem_deref(e);
	if (s->be->bell)
		(void)s->be->bell(s->bed, sid, false);
}

static void turn_handler(void *arg)
{
	struct store *s = arg;
	struct list reads = LIST_INIT;
	struct le *le;

	if (s->writes.head)
		s->be->submit(s->bed, &s->writes);

	/* Reads issued by the handlers below wait for the next turn, so a
	 * handler is never called from inside the call that issued it. */
	while ((le = list_head(&s->reads))) {
		list_unlink(le);
		list_append(&reads, le, le->data);
	}

	mem_ref(s);
	while ((le = list_head(&reads))) {
		struct store_req *r = le->data;

		list_unlink(le);
		if (store_req_live(r) && r->kind >= SK_LEASE_RENEW)
			lease_run(s, r);
		else if (store_req_live(r))
			s->be->read(s->bed, r);
		mem_deref(r);
	}
	mem_deref(s);
}

/* Checks an id argument against its limit. */
static int id_check(const char *id, size_t max)
{
	size_t n;

	if (!id)
		return EINVAL;
	n = strnlen(id, max + 1);
	if (!n)
		return EINVAL;
	return n > max ? EOVERFLOW : 0;
}

static int bytes_dup(uint8_t **dp, const void *p, size_t n)
{
	uint8_t *d;

	/* One byte more so an empty value is still an allocation. */
	d = mem_alloc(n + 1, NULL);
	if (!d)
		return ENOMEM;
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	*dp = d;
	return 0;
}

/* Allocates a request with its key parts and value copied, queues it for
 * the end of this loop turn and hands out the handle. */
static int req_issue(struct store *s, struct store_req *t, const void *a,
		     size_t alen, const void *b, size_t blen, const void *val,
		     size_t vlen, struct store_op **opp)
{
	struct store_req *r;
	struct store_op *op = NULL;
	bool write = t->kind < SK_SESSION_GET;
	int err;

	if (vlen > STORE_VALUE_MAX)
		return EOVERFLOW;
	if (vlen && !val)
		return EINVAL;
	if (write && (s->depth >= STORE_QUEUE_MAX ||
		      s->qbytes + alen + blen + vlen > STORE_QUEUE_BYTES_MAX))
		return ENOBUFS;

	r = mem_zalloc(sizeof(*r), req_destructor);
	if (!r)
		return ENOMEM;

	*r = *t;
	memset(&r->le, 0, sizeof(r->le));
	r->s = s;

	err = bytes_dup(&r->a, a, alen);
	if (err)
		goto out;
	r->alen = alen;
	if (b) {
		err = bytes_dup(&r->b, b, blen);
		if (err)
			goto out;
		r->blen = blen;
	}
	if (val) {
		err = bytes_dup(&r->val, val, vlen);
		if (err)
			goto out;
		r->vlen = vlen;
	}

	if (opp) {
		op = mem_zalloc(sizeof(*op), op_destructor);
		if (!op) {
			err = ENOMEM;
			goto out;
		}
		op->req = r;
		r->op = op;
	}

	if (write) {
		list_append(&s->writes, &r->le, r);
		++s->depth;
		s->qbytes += alen + blen + vlen;
		metric_set(s->m_depth, s->depth);
	} else {
		list_append(&s->reads, &r->le, r);
	}

	/* A 0 ms timer fires after every file descriptor handler of this
	 * poll round: everything issued until then is one batch. */
	if (!tmr_isrunning(&s->turn))
		tmr_start(&s->turn, 0, turn_handler, s);

	if (opp)
		*opp = op;
	r = NULL;

out:
	mem_deref(r);
	return err;
}

static int write_req(struct store *s, enum store_kind kind, const char *a,
		     size_t amax, const char *b, size_t bmax, uint64_t n,
		     const uint8_t *val, size_t vlen, store_done_h *h,
		     void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = kind, .n = n, .doneh = h, .arg = arg};
	const struct sident *e;
	int err;

	if (!s)
		return EINVAL;
	err = id_check(a, amax);
	if (!err && bmax)
		err = id_check(b, bmax);
	if (err)
		return err;

	/* a session's write carries the epoch this handle holds for it */
	if (kind != SK_HA1_PUT && kind != SK_HA1_DEL) {
		e = sident_find(s->fences, a);
		t.epoch = e ? e->n : 0;
		/* a deleted session is held no more */
		if (e && kind == SK_SESSION_DEL)
			mem_deref((void *)e);
	}

	return req_issue(s, &t, a, strlen(a), b, b ? strlen(b) : 0, val,
			 val ? vlen : 0, opp);
}

int store_session_put(struct store *s, const char *sid, const uint8_t *val,
		      size_t len, store_done_h *h, void *arg,
		      struct store_op **opp)
{
	if (!val)
		return EINVAL;
	return write_req(s, SK_SESSION_PUT, sid, STORE_ID_MAX, NULL, 0, 0, val,
			 len, h, arg, opp);
}

int store_session_del(struct store *s, const char *sid, store_done_h *h,
		      void *arg, struct store_op **opp)
{
	return write_req(s, SK_SESSION_DEL, sid, STORE_ID_MAX, NULL, 0, 0, NULL,
			 0, h, arg, opp);
}

int store_event_append(struct store *s, const char *sid, uint64_t seq,
		       const uint8_t *val, size_t len, store_done_h *h,
		       void *arg, struct store_op **opp)
{
	if (!val)
		return EINVAL;
	return write_req(s, SK_EVENT_APPEND, sid, STORE_ID_MAX, NULL, 0, seq,
			 val, len, h, arg, opp);
}

int store_event_ack(struct store *s, const char *sid, uint64_t upto,
		    store_done_h *h, void *arg, struct store_op **opp)
{
	return write_req(s, SK_EVENT_ACK, sid, STORE_ID_MAX, NULL, 0, upto,
			 NULL, 0, h, arg, opp);
}

int store_ha1_put(struct store *s, const char *user, const char *realm,
		  const uint8_t *val, size_t len, store_done_h *h, void *arg,
		  struct store_op **opp)
{
	if (!val)
		return EINVAL;
	return write_req(s, SK_HA1_PUT, user, STORE_USER_MAX, realm,
			 STORE_REALM_MAX, 0, val, len, h, arg, opp);
}

int store_ha1_del(struct store *s, const char *user, const char *realm,
		  store_done_h *h, void *arg, struct store_op **opp)
{
	return write_req(s, SK_HA1_DEL, user, STORE_USER_MAX, realm,
			 STORE_REALM_MAX, 0, NULL, 0, h, arg, opp);
}

int store_sub_put(struct store *s, const char *sid, const char *subid,
		  const uint8_t *val, size_t len, store_done_h *h, void *arg,
		  struct store_op **opp)
{
	if (!val)
		return EINVAL;
	return write_req(s, SK_SUB_PUT, sid, STORE_ID_MAX, subid, STORE_ID_MAX,
			 0, val, len, h, arg, opp);
}

int store_sub_del(struct store *s, const char *sid, const char *subid,
		  store_done_h *h, void *arg, struct store_op **opp)
{
	return write_req(s, SK_SUB_DEL, sid, STORE_ID_MAX, subid, STORE_ID_MAX,
			 0, NULL, 0, h, arg, opp);
}

int store_hist_put(struct store *s, const char *sid, const char *hid,
		   const uint8_t *val, size_t len, store_done_h *h, void *arg,
		   struct store_op **opp)
{
	if (!val)
		return EINVAL;
	return write_req(s, SK_HIST_PUT, sid, STORE_ID_MAX, hid, STORE_ID_MAX,
			 0, val, len, h, arg, opp);
}

int store_hist_del(struct store *s, const char *sid, const char *hid,
		   store_done_h *h, void *arg, struct store_op **opp)
{
	return write_req(s, SK_HIST_DEL, sid, STORE_ID_MAX, hid, STORE_ID_MAX,
			 0, NULL, 0, h, arg, opp);
}

static int hash_check(const uint8_t *hash, size_t hlen)
{
	if (!hash || !hlen)
		return EINVAL;
	return hlen > STORE_TOKEN_HASH_MAX ? EOVERFLOW : 0;
}

int store_token_put(struct store *s, const uint8_t *hash, size_t hlen,
		    const char *user, uint64_t expires, store_done_h *h,
		    void *arg, struct store_op **opp)
{
	return store_token_put_until(s, hash, hlen, user, expires, 0, h, arg,
				     opp);
}

int store_token_purge(struct store *s, uint64_t now, uint32_t max,
		      store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_TOKEN_PURGE,
			      .n = now,
			      .max = max,
			      .doneh = h,
			      .arg = arg};

	if (!s || !max)
		return EINVAL;
	if (max > STORE_PURGE_MAX)
		return EOVERFLOW;
	return req_issue(s, &t, "", 0, NULL, 0, NULL, 0, opp);
}

int store_token_put_until(struct store *s, const uint8_t *hash, size_t hlen,
			  const char *user, uint64_t expires, uint64_t until,
			  store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_TOKEN_PUT,
			      .n = expires,
			      .n2 = until,
			      .doneh = h,
			      .arg = arg};
	int err;

	if (!s)
		return EINVAL;
	err = hash_check(hash, hlen);
	if (!err)
		err = id_check(user, STORE_USER_MAX);
	if (err)
		return err;

	return req_issue(s, &t, hash, hlen, user, strlen(user), NULL, 0, opp);
}

int store_token_del(struct store *s, const uint8_t *hash, size_t hlen,
		    store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_TOKEN_DEL, .doneh = h, .arg = arg};
	int err;

	if (!s)
		return EINVAL;
	err = hash_check(hash, hlen);
	if (err)
		return err;

	return req_issue(s, &t, hash, hlen, NULL, 0, NULL, 0, opp);
}

/* Reads */

static int read_req(struct store *s, struct store_req *t, const char *a,
		    size_t amax, const char *b, size_t bmax,
		    struct store_op **opp)
{
	int err;

	if (!s || !(t->geth || t->tokenh || t->eventsh || t->rech))
		return EINVAL;
	err = id_check(a, amax);
	if (!err && bmax)
		err = id_check(b, bmax);
	if (err)
		return err;

	return req_issue(s, t, a, strlen(a), b, b ? strlen(b) : 0, NULL, 0,
			 opp);
}

int store_session_get(struct store *s, const char *sid, store_get_h *h,
		      void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_SESSION_GET, .geth = h, .arg = arg};

	return read_req(s, &t, sid, STORE_ID_MAX, NULL, 0, opp);
}

int store_session_load(struct store *s, store_rec_h *recordh,
		       store_done_h *doneh, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_SESSION_LOAD,
			      .rech = recordh,
			      .doneh = doneh,
			      .arg = arg};

	if (!s || !recordh)
		return EINVAL;

	return req_issue(s, &t, "", 0, NULL, 0, NULL, 0, opp);
}

int store_token_get(struct store *s, const uint8_t *hash, size_t hlen,
		    store_token_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_TOKEN_GET, .tokenh = h, .arg = arg};
	int err;

	if (!s || !h)
		return EINVAL;
	err = hash_check(hash, hlen);
	if (err)
		return err;

	return req_issue(s, &t, hash, hlen, NULL, 0, NULL, 0, opp);
}

int store_event_read(struct store *s, const char *sid, uint64_t from,
		     uint32_t max, store_events_h *h, void *arg,
		     struct store_op **opp)
{
	struct store_req t = {.kind = SK_EVENT_READ,
			      .n = from,
			      .max = max,
			      .eventsh = h,
			      .arg = arg};

	if (!max)
		return EINVAL;
	if (max > STORE_READ_MAX)
		return EOVERFLOW;

	return read_req(s, &t, sid, STORE_ID_MAX, NULL, 0, opp);
}

int store_ha1_get(struct store *s, const char *user, const char *realm,
		  store_get_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_HA1_GET, .geth = h, .arg = arg};

	return read_req(s, &t, user, STORE_USER_MAX, realm, STORE_REALM_MAX,
			opp);
}

int store_sub_get(struct store *s, const char *sid, const char *subid,
		  store_get_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_SUB_GET, .geth = h, .arg = arg};

	return read_req(s, &t, sid, STORE_ID_MAX, subid, STORE_ID_MAX, opp);
}

int store_sub_list(struct store *s, const char *sid, store_rec_h *recordh,
		   store_done_h *doneh, void *arg, struct store_op **opp)
{
	struct store_req t = {
	    .kind = SK_SUB_LIST, .rech = recordh, .doneh = doneh, .arg = arg};

	if (!recordh)
		return EINVAL;

	return read_req(s, &t, sid, STORE_ID_MAX, NULL, 0, opp);
}

int store_hist_list(struct store *s, const char *sid, store_rec_h *recordh,
		    store_done_h *doneh, void *arg, struct store_op **opp)
{
	struct store_req t = {
	    .kind = SK_HIST_LIST, .rech = recordh, .doneh = doneh, .arg = arg};

	if (!recordh)
		return EINVAL;

	return read_req(s, &t, sid, STORE_ID_MAX, NULL, 0, opp);
}

/* Leases */

int store_lease_renew(struct store *s, const char *inst, uint32_t ms,
		      store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {
	    .kind = SK_LEASE_RENEW, .n = ms, .doneh = h, .arg = arg};
	int err;

	if (!ms)
		return EINVAL;
	err = s ? id_check(inst, STORE_ID_MAX) : EINVAL;
	if (err)
		return err;
	return req_issue(s, &t, inst, strlen(inst), NULL, 0, NULL, 0, opp);
}

int store_lease_drop(struct store *s, const char *inst, store_done_h *h,
		     void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_LEASE_DROP, .doneh = h, .arg = arg};
	int err = s ? id_check(inst, STORE_ID_MAX) : EINVAL;

	if (err)
		return err;
	return req_issue(s, &t, inst, strlen(inst), NULL, 0, NULL, 0, opp);
}

int store_lease_acquire(struct store *s, const char *sid, const char *inst,
			store_lease_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {
	    .kind = SK_LEASE_ACQUIRE, .leaseh = h, .arg = arg};
	int err;

	if (!s || !h)
		return EINVAL;
	err = id_check(sid, STORE_ID_MAX);
	if (!err)
		err = id_check(inst, STORE_ID_MAX);
	if (err)
		return err;
	return req_issue(s, &t, sid, strlen(sid), inst, strlen(inst), NULL, 0,
			 opp);
}

int store_lease_release(struct store *s, const char *sid, const char *inst,
			store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_LEASE_RELEASE, .doneh = h, .arg = arg};
	int err;

	if (!s)
		return EINVAL;
	err = id_check(sid, STORE_ID_MAX);
	if (!err)
		err = id_check(inst, STORE_ID_MAX);
	if (err)
		return err;
	return req_issue(s, &t, sid, strlen(sid), inst, strlen(inst), NULL, 0,
			 opp);
}

int store_lease_lapsed(struct store *s, uint32_t max, store_rec_h *recordh,
		       store_done_h *doneh, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_LEASE_LAPSED,
			      .max = max,
			      .rech = recordh,
			      .doneh = doneh,
			      .arg = arg};

	if (!s || !recordh || !max)
		return EINVAL;
	if (max > STORE_LAPSED_MAX)
		return EOVERFLOW;
	return req_issue(s, &t, "", 0, NULL, 0, NULL, 0, opp);
}

int store_lease_owner(struct store *s, const char *sid, store_owner_h *h,
		      void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_LEASE_OWNER, .ownerh = h, .arg = arg};
	int err;

	if (!s || !h)
		return EINVAL;
	err = id_check(sid, STORE_ID_MAX);
	if (err)
		return err;
	return req_issue(s, &t, sid, strlen(sid), NULL, 0, NULL, 0, opp);
}

int store_instance_url_set(struct store *s, const char *inst, const char *url,
			   store_done_h *h, void *arg, struct store_op **opp)
{
	struct store_req t = {.kind = SK_INSTANCE_URL, .doneh = h, .arg = arg};
	int err;

	if (!s || !url)
		return EINVAL;
	err = id_check(inst, STORE_ID_MAX);
	if (err)
		return err;
	if (strlen(url) > STORE_URL_MAX)
		return EOVERFLOW;
	return req_issue(s, &t, inst, strlen(inst), url, strlen(url), NULL, 0,
			 opp);
}
