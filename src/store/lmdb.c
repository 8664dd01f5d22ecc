/**
 * @file lmdb.c  Embedded store backend on LMDB
 *
 * Writes: the front hands over the writes of one loop turn; a worker
 * thread commits everything queued at that moment in one write
 * transaction (so a turn's writes are never split, and turns queued while
 * a commit was running share the next one), then returns the batch through
 * a libre mqueue so that completions run on the loop thread after
 * mdb_txn_commit() has synced. The loop thread never waits for the write
 * lock or for fsync.
 *
 * Reads run on the loop thread in a read-only transaction: LMDB readers
 * take no lock against writers (of this or another process) and read from
 * the memory map, so they are cheap; the transaction is reset after each
 * read so that old pages can be reused.
 *
 * Layout: one environment, five named databases (see docs/store.md):
 *   session  SID                       -> value
 *   token    HASH                      -> expiry (8 bytes BE) + user
 *   event    len(SID) SID SEQ(8 BE)    -> value
 *   ha1      len(USER) USER REALM      -> value
 *   sub      len(SID) SID SUBID        -> value
 * The length byte keeps one session's keys apart from another's whose id
 * starts the same ("ab" vs "a"+"b..."); big-endian sequence numbers sort
 * in numeric order under LMDB's memcmp key order.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <lmdb.h>
#include <re.h>
#include "store_int.h"

enum {
	DB_SESSION,
	DB_TOKEN,
	DB_EVENT,
	DB_HA1,
	DB_SUB,
	DB_COUNT,
	/* len byte + longest id + longest second part */
	KEY_MAX = 1 + STORE_USER_MAX + STORE_ID_MAX,
};

static const char *const db_names[DB_COUNT] = {"session", "token", "event",
					       "ha1", "sub"};

struct lmdb {
	struct store *s; /* borrowed: the front owns us               */
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	MDB_txn *rtxn; /* loop thread's read transaction (reset)     */

	/* Shared with the worker, under mtx */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct list sendq;       /* writes waiting for the worker           */
	struct list doneq;       /* committed (or failed), for the loop     */
	uint64_t ncommit, nfail; /* since the loop last looked       */
	uint64_t lat_us;         /* last commit                      */
	uint64_t lat_total_us;   /* since the loop last looked       */
	bool stop;

	pthread_t thread;
	bool thread_ok;
	struct mqueue *mq;
};

/* Key building */

static size_t key_pair(uint8_t *k, const uint8_t *a, size_t alen,
		       const uint8_t *b, size_t blen)
{
	k[0] = (uint8_t)alen;
	memcpy(k + 1, a, alen);
	if (blen)
		memcpy(k + 1 + alen, b, blen);
	return 1 + alen + blen;
}

static size_t key_event(uint8_t *k, const uint8_t *sid, size_t slen,
			uint64_t seq)
{
	size_t n = key_pair(k, sid, slen, NULL, 0);
	int i;

	for (i = 7; i >= 0; i--)
		k[n++] = (uint8_t)(seq >> (8 * i));
	return n;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static bool has_prefix(const MDB_val *k, const uint8_t *pfx, size_t n)
{
	return k->mv_size >= n && (!n || !memcmp(k->mv_data, pfx, n));
}

static int lmdb_err(int rc)
{
	switch (rc) {

	case 0:
		return 0;
	case MDB_NOTFOUND:
		return ENOENT;
	case MDB_KEYEXIST:
		return EEXIST;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return ENOSPC;
	default:
		return rc > 0 ? rc : EIO;
	}
}

/* Worker thread */

/* Delete every key of dbi from the cursor's position on that starts with
 * pfx and, for the event log, has a sequence <= upto. */
static int del_range(MDB_txn *txn, MDB_dbi dbi, const uint8_t *start,
		     size_t slen, size_t pfxlen, bool bounded, uint64_t upto,
		     unsigned *ndel)
{
	MDB_cursor *cur;
	MDB_val k = {slen, (void *)start}, v;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return rc;

	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!has_prefix(&k, start, pfxlen))
			break;
		if (bounded && get_be64((uint8_t *)k.mv_data + pfxlen) > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		++*ndel;
	}

	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Apply one write. Returns an LMDB code that ends the transaction;
 * results of this write alone (key exists, nothing to delete) go to
 * r->err. */
static int apply(struct lmdb *l, MDB_txn *txn, struct store_req *r)
{
	uint8_t kb[KEY_MAX + 8];
	MDB_val k = {0, kb}, v = {r->vlen, r->val};
	unsigned ndel = 0;
	int rc = 0;

	switch (r->kind) {

	case SK_SESSION_PUT:
		k = (MDB_val){r->alen, r->a};
		rc = mdb_put(txn, l->dbi[DB_SESSION], &k, &v, 0);
		break;

	case SK_SESSION_DEL:
		k = (MDB_val){r->alen, r->a};
		rc = mdb_del(txn, l->dbi[DB_SESSION], &k, NULL);
		if (rc == MDB_NOTFOUND) {
			r->err = ENOENT;
			rc = 0;
		}
		if (rc)
			break;
		/* The session's log and subscriptions go with it. */
		k.mv_size = key_pair(kb, r->a, r->alen, NULL, 0);
		rc = del_range(txn, l->dbi[DB_EVENT], kb, k.mv_size, k.mv_size,
			       false, 0, &ndel);
		if (!rc)
			rc = del_range(txn, l->dbi[DB_SUB], kb, k.mv_size,
				       k.mv_size, false, 0, &ndel);
		break;

	case SK_TOKEN_PUT:
		k = (MDB_val){r->alen, r->a};
		v.mv_size = 8 + r->blen;
		rc = mdb_put(txn, l->dbi[DB_TOKEN], &k, &v, MDB_RESERVE);
		if (!rc) {
			uint8_t *p = v.mv_data;
			int i;

			for (i = 0; i < 8; i++)
				p[i] = (uint8_t)(r->n >> (8 * (7 - i)));
			memcpy(p + 8, r->b, r->blen);
		}
		break;

	case SK_EVENT_APPEND:
		k.mv_size = key_event(kb, r->a, r->alen, r->n);
		rc = mdb_put(txn, l->dbi[DB_EVENT], &k, &v, MDB_NOOVERWRITE);
		break;

	case SK_EVENT_ACK:
		k.mv_size = key_event(kb, r->a, r->alen, 0);
		rc = del_range(txn, l->dbi[DB_EVENT], kb, k.mv_size,
			       k.mv_size - 8, true, r->n, &ndel);
		break;

	case SK_HA1_PUT:
	case SK_SUB_PUT:
		k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		rc = mdb_put(txn,
			     l->dbi[r->kind == SK_HA1_PUT ? DB_HA1 : DB_SUB],
			     &k, &v, 0);
		break;

	case SK_TOKEN_DEL:
	case SK_HA1_DEL:
	case SK_SUB_DEL:
		if (r->kind == SK_TOKEN_DEL)
			k = (MDB_val){r->alen, r->a};
		else
			k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		rc = mdb_del(txn,
			     l->dbi[r->kind == SK_TOKEN_DEL ? DB_TOKEN
				    : r->kind == SK_HA1_DEL ? DB_HA1
							    : DB_SUB],
			     &k, NULL);
		break;

	default:
		return EINVAL;
	}

	if (rc == MDB_NOTFOUND || rc == MDB_KEYEXIST) {
		r->err = lmdb_err(rc);
		rc = 0;
	}

	return rc;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One write transaction for the whole batch: either every write in it is
 * committed (each with its own result) or none, and then every write
 * gets the transaction's error. */
static void commit_batch(struct lmdb *l, struct list *batch)
{
	uint64_t t0 = now_us();
	MDB_txn *txn = NULL;
	struct le *le;
	int rc;

	/* Blocks while another process holds the write lock: that is
	 * why this runs here and not on the loop thread. */
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	for (le = batch->head; !rc && le; le = le->next)
		rc = apply(l, txn, le->data);

	if (rc)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn); /* writes and syncs */

	if (rc) {
		for (le = batch->head; le; le = le->next) {
			struct store_req *r = le->data;
			r->err = lmdb_err(rc);
		}
	}

	pthread_mutex_lock(&l->mtx);
	if (rc)
		++l->nfail;
	else
		++l->ncommit;
	l->lat_us = now_us() - t0;
	l->lat_total_us += l->lat_us;
	pthread_mutex_unlock(&l->mtx);
}

static void list_move(struct list *to, struct list *from)
{
	struct le *le;

	while ((le = list_head(from))) {
		list_unlink(le);
		list_append(to, le, le->data);
	}
}

static void *worker(void *arg)
{
	struct lmdb *l = arg;
	struct list batch = LIST_INIT;

	pthread_mutex_lock(&l->mtx);
	for (;;) {
		while (!l->sendq.head && !l->stop)
			pthread_cond_wait(&l->cond, &l->mtx);
		if (!l->sendq.head)
			break; /* stopping and nothing left */

		list_move(&batch, &l->sendq);
		pthread_mutex_unlock(&l->mtx);

		commit_batch(l, &batch);

		pthread_mutex_lock(&l->mtx);
		list_move(&l->doneq, &batch);
		pthread_mutex_unlock(&l->mtx);

		/* Wakes the loop thread; the data travels in doneq. */
		(void)mqueue_push(l->mq, 0, NULL);
		pthread_mutex_lock(&l->mtx);
	}
	pthread_mutex_unlock(&l->mtx);

	return NULL;
}

/* Loop thread */

static void mq_handler(int id, void *data, void *arg)
{
	struct lmdb *l = arg;
	struct list done = LIST_INIT;
	uint64_t ncommit, nfail, lat, lat_total;
	(void)id;
	(void)data;

	/* One wake-up may carry several commits: take them all. */
	pthread_mutex_lock(&l->mtx);
	list_move(&done, &l->doneq);
	ncommit = l->ncommit;
	nfail = l->nfail;
	lat = l->lat_us;
	lat_total = l->lat_total_us;
	l->ncommit = l->nfail = l->lat_total_us = 0;
	pthread_mutex_unlock(&l->mtx);

	if (ncommit || nfail)
		store_commit_stats(l->s, ncommit, nfail, lat, lat_total);
	store_complete(l->s, &done);
}

static void lmdb_submit(void *bed, struct list *batch)
{
	struct lmdb *l = bed;

	pthread_mutex_lock(&l->mtx);
	list_move(&l->sendq, batch);
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}

/* Reads, on the loop thread */

static void read_fail(struct store_req *r, int err)
{
	if (r->geth)
		r->geth(err, NULL, 0, r->arg);
	else if (r->tokenh)
		r->tokenh(err, NULL, 0, 0, r->arg);
	else if (r->eventsh)
		r->eventsh(err, NULL, 0, false, r->arg);
	else if (r->doneh)
		r->doneh(err, r->arg);
}

static void read_value(struct lmdb *l, MDB_dbi dbi, const MDB_val *k,
		       struct store_req *r)
{
	MDB_val v;
	int rc;

	rc = mdb_get(l->rtxn, dbi, (MDB_val *)k, &v);
	if (rc) {
		read_fail(r, lmdb_err(rc));
		return;
	}

	if (r->geth) {
		r->geth(0, v.mv_data, v.mv_size, r->arg);
	} else if (r->tokenh) {
		if (v.mv_size < 8) {
			read_fail(r, EBADMSG);
			return;
		}
		r->tokenh(0, (uint8_t *)v.mv_data + 8, v.mv_size - 8,
			  get_be64(v.mv_data), r->arg);
	}
}

/* Calls the record handler for every key starting with pfx (the rest of
 * the key is handed over), then the done handler. */
static void read_iterate(struct lmdb *l, MDB_dbi dbi, const uint8_t *pfx,
			 size_t plen, struct store_req *r)
{
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)pfx}, v;
	bool stopped = false;
	int rc;

	rc = mdb_cursor_open(l->rtxn, dbi, &cur);
	if (rc) {
		read_fail(r, lmdb_err(rc));
		return;
	}

	rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
		  : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!has_prefix(&k, pfx, plen))
			break;
		stopped = r->rech((uint8_t *)k.mv_data + plen, k.mv_size - plen,
				  v.mv_data, v.mv_size, r->arg);
		/* The handler may have dropped the handle or the store. */
		if (stopped || !store_req_live(r))
			break;
	}
	mdb_cursor_close(cur);

	if (!store_req_live(r) || !r->doneh)
		return;
	if (stopped)
		r->doneh(ECANCELED, r->arg);
	else
		r->doneh(rc == MDB_NOTFOUND || !rc ? 0 : lmdb_err(rc), r->arg);
}

static void read_events(struct lmdb *l, struct store_req *r)
{
	struct store_event *evv;
	uint8_t kb[KEY_MAX + 8];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0, plen;
	bool more = false;
	int rc;

	evv = mem_zalloc(r->max * sizeof(*evv), NULL);
	if (!evv) {
		read_fail(r, ENOMEM);
		return;
	}

	k.mv_size = key_event(kb, r->a, r->alen, r->n);
	k.mv_data = kb;
	plen = k.mv_size - 8;

	rc = mdb_cursor_open(l->rtxn, l->dbi[DB_EVENT], &cur);
	if (rc)
		goto out;

	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!has_prefix(&k, kb, plen) || k.mv_size != plen + 8)
			break;
		if (n == r->max) {
			more = true;
			break;
		}
		evv[n].seq = get_be64((uint8_t *)k.mv_data + plen);
		evv[n].val = v.mv_data;
		evv[n].len = v.mv_size;
		++n;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;

out:
	if (cur)
		mdb_cursor_close(cur);
	if (rc)
		read_fail(r, lmdb_err(rc));
	else
		r->eventsh(0, evv, n, more, r->arg);
	mem_deref(evv);
}

static void lmdb_read(void *bed, struct store_req *r)
{
	struct lmdb *l = bed;
	uint8_t kb[KEY_MAX];
	MDB_val k = {0, kb};
	int rc;

	rc = l->rtxn ? mdb_txn_renew(l->rtxn)
		     : mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
	if (rc) {
		read_fail(r, lmdb_err(rc));
		return;
	}

	switch (r->kind) {

	case SK_SESSION_GET:
		k = (MDB_val){r->alen, r->a};
		read_value(l, l->dbi[DB_SESSION], &k, r);
		break;

	case SK_TOKEN_GET:
		k = (MDB_val){r->alen, r->a};
		read_value(l, l->dbi[DB_TOKEN], &k, r);
		break;

	case SK_HA1_GET:
	case SK_SUB_GET:
		k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		read_value(l, l->dbi[r->kind == SK_HA1_GET ? DB_HA1 : DB_SUB],
			   &k, r);
		break;

	case SK_SESSION_LOAD:
		read_iterate(l, l->dbi[DB_SESSION], NULL, 0, r);
		break;

	case SK_SUB_LIST:
		k.mv_size = key_pair(kb, r->a, r->alen, NULL, 0);
		read_iterate(l, l->dbi[DB_SUB], kb, k.mv_size, r);
		break;

	case SK_EVENT_READ:
		read_events(l, r);
		break;

	default:
		read_fail(r, EINVAL);
		break;
	}

	/* A reader keeps the pages it sees from being reused: let go. */
	mdb_txn_reset(l->rtxn);
}

static const struct store_be lmdb_be = {
    .submit = lmdb_submit,
    .read = lmdb_read,
};

static void destructor(void *arg)
{
	struct lmdb *l = arg;

	/* Commit what was handed over, then stop: a clean shutdown loses
	 * nothing. This waits for at most the commits still queued. */
	if (l->thread_ok) {
		pthread_mutex_lock(&l->mtx);
		l->stop = true;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mtx);
		pthread_join(l->thread, NULL);
	}

	/* Completions not yet delivered are cancelled with the store. */
	list_flush(&l->sendq);
	list_flush(&l->doneq);
	mem_deref(l->mq);

	if (l->rtxn)
		mdb_txn_abort(l->rtxn);
	if (l->env)
		mdb_env_close(l->env);

	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->mtx);
}

static int env_open(struct lmdb *l, const char *path, size_t map_size_mb)
{
	MDB_txn *txn = NULL;
	int rc, i;

	rc = mdb_env_create(&l->env);
	if (rc)
		return lmdb_err(rc);

	/* MDB_NOTLS: the loop thread's read transaction is not tied to a
	 * thread-local reader slot (the worker opens write transactions
	 * in the same process). */
	rc = mdb_env_set_mapsize(l->env, map_size_mb * 1024 * 1024);
	if (!rc)
		rc = mdb_env_set_maxdbs(l->env, DB_COUNT);
	if (!rc)
		rc = mdb_env_open(l->env, path, MDB_NOTLS, 0600);
	/* A process killed while reading leaves its reader slot behind,
	 * which keeps the pages it saw from being reused: clear them. */
	if (!rc)
		rc = mdb_reader_check(l->env, NULL);
	if (!rc)
		rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	for (i = 0; !rc && i < DB_COUNT; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &l->dbi[i]);

	if (txn) {
		if (rc)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}

	return lmdb_err(rc);
}

int store_lmdb_open(struct store **sp, const char *path, size_t map_size_mb)
{
	struct store *s = NULL;
	struct lmdb *l;
	int err;

	if (!sp || !path || !map_size_mb || map_size_mb > SIZE_MAX >> 20)
		return EINVAL;

	err = store_alloc(&s, &lmdb_be);
	if (err)
		return err;

	l = mem_zalloc(sizeof(*l), destructor);
	if (!l) {
		err = ENOMEM;
		goto out;
	}

	pthread_mutex_init(&l->mtx, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->s = s;
	store_set_backend(s, l);

	/* Opening reads or creates files: done once at start-up, before
	 * the service takes traffic, so it may block. */
	err = env_open(l, path, map_size_mb);
	if (err)
		goto out;

	err = mqueue_alloc(&l->mq, mq_handler, l);
	if (err)
		goto out;

	err = pthread_create(&l->thread, NULL, worker, l);
	if (err)
		goto out;
	l->thread_ok = true;

out:
	if (err)
		mem_deref(s);
	else
		*sp = s;
	return err;
}
