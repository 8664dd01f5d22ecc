/**
 * @file lmdb_write.c  LMDB backend: write transactions on the worker thread
 *
 * The worker takes every write queued at that moment (one or more loop
 * turns) and applies them in one write transaction; the batch goes back
 * to the loop thread through doneq and a wake-up on the mqueue, and the
 * completions run there once mdb_txn_commit() has synced.
 */
#include <time.h>
#include "lmdb_int.h"

/* Worker thread */

/* Delete every key of dbi from the cursor's position on that starts with
 * pfx and, for the event log, has a sequence <= upto. */
static int del_range(MDB_txn *txn, MDB_dbi dbi, const uint8_t *start,
		     size_t slen, size_t pfxlen, bool bounded, uint64_t upto)
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
	}

	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * (7 - i)));
}

/* One step of the token sweep: look at r->max records after the last key
 * of the previous step, delete the expired ones; r->max becomes the
 * number deleted. Keys are random hashes: a sweep is a walk around the
 * whole table in steps, wrapping at the end. */
static int purge_tokens(struct lmdb *l, MDB_txn *txn, struct store_req *r)
{
	MDB_cursor *cur;
	MDB_val k = {l->purge_klen, l->purge_key}, v;
	uint32_t seen = 0, deleted = 0;
	int rc;

	rc = mdb_cursor_open(txn, l->dbi[DB_TOKEN], &cur);
	if (rc)
		return rc;
	rc = l->purge_klen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
			   : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; !rc && seen < r->max; ++seen) {
		if (v.mv_size >= 8 && get_be64(v.mv_data) <= r->n) {
			rc = mdb_cursor_del(cur, 0);
			if (rc)
				break;
			++deleted;
			/* the cursor now stands on the next record; with
			 * none left (the table emptied) LMDB says EINVAL */
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
			if (rc == EINVAL)
				rc = MDB_NOTFOUND;
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
	}
	if (!rc && k.mv_size <= sizeof(l->purge_key)) {
		memcpy(l->purge_key, k.mv_data, k.mv_size);
		l->purge_klen = k.mv_size; /* the next step starts here */
	} else {
		l->purge_klen = 0; /* at the end: start again */
	}
	mdb_cursor_close(cur);
	r->max = deleted;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Apply one write. Returns an LMDB code that ends the transaction;
 * results of this write alone (key exists, nothing to delete) go to
 * r->err. */
static int apply(struct lmdb *l, MDB_txn *txn, struct store_req *r)
{
	uint8_t kb[KEY_MAX + 8];
	MDB_val k = {0, kb}, v = {r->vlen, r->val};
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
		/* The session's log, subscriptions and history go with
		 * it. */
		k.mv_size = key_pair(kb, r->a, r->alen, NULL, 0);
		rc = del_range(txn, l->dbi[DB_EVENT], kb, k.mv_size, k.mv_size,
			       false, 0);
		if (!rc)
			rc = del_range(txn, l->dbi[DB_SUB], kb, k.mv_size,
				       k.mv_size, false, 0);
		if (!rc)
			rc = del_range(txn, l->dbi[DB_HIST], kb, k.mv_size,
				       k.mv_size, false, 0);
		break;

	case SK_TOKEN_PUT: {
		/* expiry, [0, until,] user: a user never starts with 0 */
		size_t off = r->n2 ? 17 : 8;

		k = (MDB_val){r->alen, r->a};
		v.mv_size = off + r->blen;
		rc = mdb_put(txn, l->dbi[DB_TOKEN], &k, &v, MDB_RESERVE);
		if (!rc) {
			uint8_t *p = v.mv_data;

			put_be64(p, r->n);
			if (r->n2) {
				p[8] = 0;
				put_be64(p + 9, r->n2);
			}
			memcpy(p + off, r->b, r->blen);
		}
		break;
	}

	case SK_TOKEN_PURGE:
		rc = purge_tokens(l, txn, r);
		break;

	case SK_EVENT_APPEND:
		k.mv_size = key_event(kb, r->a, r->alen, r->n);
		rc = mdb_put(txn, l->dbi[DB_EVENT], &k, &v, MDB_NOOVERWRITE);
		break;

	case SK_EVENT_ACK:
		k.mv_size = key_event(kb, r->a, r->alen, 0);
		rc = del_range(txn, l->dbi[DB_EVENT], kb, k.mv_size,
			       k.mv_size - 8, true, r->n);
		break;

	case SK_HA1_PUT:
	case SK_SUB_PUT:
	case SK_HIST_PUT:
		k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		rc = mdb_put(txn, l->dbi[db_of(r->kind)], &k, &v, 0);
		break;

	case SK_TOKEN_DEL:
	case SK_HA1_DEL:
	case SK_SUB_DEL:
	case SK_HIST_DEL:
		if (r->kind == SK_TOKEN_DEL)
			k = (MDB_val){r->alen, r->a};
		else
			k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		rc = mdb_del(txn, l->dbi[db_of(r->kind)], &k, NULL);
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

/* Writes that add data; the others (deletes, acks) may use the reserve. */
static bool adds(const struct store_req *r)
{
	switch (r->kind) {
	case SK_SESSION_PUT:
	case SK_TOKEN_PUT:
	case SK_EVENT_APPEND:
	case SK_HA1_PUT:
	case SK_SUB_PUT:
	case SK_HIST_PUT:
		return true;
	default:
		return false;
	}
}

/* Bytes of map a write that adds data may take, on the safe side: a
 * small record half a page's share (pages split half full), a large one
 * its overflow pages and one more. */
static size_t cost(const struct store_req *r, size_t psize)
{
	size_t n = r->alen + r->blen + r->vlen + 16 + 8;

	if (n < psize / 2)
		return 2 * n;
	return (n + psize - 1) / psize * psize + psize;
}

/* Pages on the freelist of the last committed state (LMDB lets only a
 * read transaction look at it). Each record's value is a list of page
 * numbers with its count first. */
static size_t free_pages(MDB_txn *txn)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;

	if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur))
		return 0;
	while (!mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (v.mv_size >= sizeof(size_t))
			n += *(const size_t *)v.mv_data;
	mdb_cursor_close(cur);
	return n;
}

/* True if the put replaces a record that is there (the session's own
 * record, a subscription or history entry written again): it takes
 * about the room it frees. An event append is always new. */
static bool replaces(struct lmdb *l, MDB_txn *txn, const struct store_req *r)
{
	uint8_t kb[KEY_MAX + 8];
	MDB_val k = {0, kb}, v;
	int dbi;

	switch (r->kind) {
	case SK_SESSION_PUT:
		k = (MDB_val){r->alen, r->a};
		dbi = DB_SESSION;
		break;
	case SK_TOKEN_PUT:
		k = (MDB_val){r->alen, r->a};
		dbi = DB_TOKEN;
		break;
	case SK_HA1_PUT:
	case SK_SUB_PUT:
	case SK_HIST_PUT:
		k.mv_size = key_pair(kb, r->a, r->alen, r->b, r->blen);
		dbi = db_of(r->kind);
		break;
	default:
		return false;
	}
	return !mdb_get(txn, l->dbi[dbi], &k, &v);
}

/* Every write of the batch learns whether the store was full. */
static void mark_space(struct list *batch, int space)
{
	struct le *le;

	for (le = batch->head; le; le = le->next)
		((struct store_req *)le->data)->space = space;
}

/*
 * Headroom: writes that add new records may fill the map only up to its
 * size less the reserve (STORE_RESERVE_*), so that what keeps a session
 * going when the store is full still commits: acks and deletes (which
 * need pages too: copy on write) and writes that replace a record that
 * is there (the session's record carries the event channel's numbering,
 * written before the app gets the batch it will acknowledge). New
 * records past the line are marked ENOSPC and left out; the others go
 * on.
 *
 * The store is full (SPACE_FULL) when a record was refused or less than
 * the largest value (STORE_VALUE_MAX) is left below the line. The map's
 * high-water mark says at once when there is room; only near the line
 * are its free pages counted (the freelist) and the records looked up.
 */
static void headroom(struct lmdb *l, struct list *batch)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn = NULL;
	size_t psize, reserve, limit, used, need = 0;
	bool refused = false;
	struct le *le;

	if (mdb_env_info(l->env, &info) || mdb_env_stat(l->env, &st))
		return;
	psize = st.ms_psize;
	reserve = info.me_mapsize / STORE_RESERVE_DIV;
	if (reserve < STORE_RESERVE_MIN_PAGES * psize)
		reserve = STORE_RESERVE_MIN_PAGES * psize;
	if (reserve >= info.me_mapsize)
		return;
	limit = info.me_mapsize - reserve;
	used = (info.me_last_pgno + 1) * psize;

	for (le = batch->head; le; le = le->next)
		if (adds(le->data))
			need += cost(le->data, psize);
	if (used + need + STORE_VALUE_MAX <= limit) {
		mark_space(batch, SPACE_ROOMY);
		return;
	}

	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return;
	used -= MIN(free_pages(txn) * psize, used);
	for (le = batch->head; le; le = le->next) {
		struct store_req *r = le->data;

		if (!adds(r) || replaces(l, txn, r))
			continue;
		if (used + cost(r, psize) > limit) {
			r->err = ENOSPC;
			r->skip = true;
			refused = true;
			continue;
		}
		used += cost(r, psize);
	}
	mdb_txn_abort(txn);
	mark_space(batch, refused || used + STORE_VALUE_MAX > limit
			      ? SPACE_FULL
			      : SPACE_ROOMY);
}

static bool full(int rc)
{
	return rc == MDB_MAP_FULL || rc == MDB_TXN_FULL;
}

/* Every write not left out, in one transaction. */
static int apply_all(struct lmdb *l, struct list *batch)
{
	MDB_txn *txn = NULL;
	struct le *le;
	int rc;

	/* Blocks while another process holds the write lock: that is
	 * why this runs here and not on the loop thread. */
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	for (le = batch->head; !rc && le; le = le->next) {
		struct store_req *r = le->data;
		if (!r->skip)
			rc = apply(l, txn, r);
	}

	if (rc)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn); /* writes and syncs */
	return rc;
}

/* The map filled up after all: the same batch again, each write in a
 * nested transaction, so that one that does not fit is rolled back
 * alone (ENOSPC) and the others are committed. */
static int apply_each(struct lmdb *l, struct list *batch)
{
	MDB_txn *txn = NULL, *child;
	struct le *le;
	int rc;

	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	for (le = batch->head; !rc && le; le = le->next) {
		struct store_req *r = le->data;

		if (r->skip)
			continue;
		r->err = 0;
		rc = mdb_txn_begin(l->env, txn, 0, &child);
		if (rc)
			break;
		rc = apply(l, child, r);
		if (full(rc)) {
			mdb_txn_abort(child);
			r->err = ENOSPC;
			r->skip = true;
			rc = 0;
		} else if (rc) {
			mdb_txn_abort(child);
		} else {
			rc = mdb_txn_commit(child);
		}
	}

	if (rc)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
	return rc;
}

/* One write transaction for the batch: every write in it that fits is
 * committed (each with its own result), those that do not fit get
 * ENOSPC; if the transaction itself fails, every write gets its error. */
static void commit_batch(struct lmdb *l, struct list *batch)
{
	uint64_t t0 = now_us();
	struct le *le;
	int rc;

	headroom(l, batch);
	rc = apply_all(l, batch);
	if (full(rc))
		rc = apply_each(l, batch);

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

void *lmdb_worker(void *arg)
{
	struct lmdb *l = arg;
	struct list batch = LIST_INIT;
	bool wake;

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
		wake = !l->doneq.head;
		list_move(&l->doneq, &batch);
		pthread_mutex_unlock(&l->mtx);

		/* Wakes the loop thread; the data travels in doneq. A doneq
		 * that was not empty has a wake-up on its way already, and
		 * the loop takes all of doneq at once. So at most one
		 * message is in the pipe: the push never blocks, not even
		 * while the store's destructor waits for this thread. */
		if (wake)
			(void)mqueue_push(l->mq, 0, NULL);
		pthread_mutex_lock(&l->mtx);
	}
	pthread_mutex_unlock(&l->mtx);

	return NULL;
}

/* Loop thread */

void lmdb_mq_handler(int id, void *data, void *arg)
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

void lmdb_submit(void *bed, struct list *batch)
{
	struct lmdb *l = bed;

	pthread_mutex_lock(&l->mtx);
	list_move(&l->sendq, batch);
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}
