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
 * Layout: one environment, six named databases (see docs/store.md):
 *   session  SID                       -> value
 *   token    HASH                      -> expiry (8 bytes BE) + user
 *   event    len(SID) SID SEQ(8 BE)    -> value
 *   ha1      len(USER) USER REALM      -> value
 *   sub      len(SID) SID SUBID        -> value
 *   hist     len(SID) SID HISTID       -> value
 * The length byte keeps one session's keys apart from another's whose id
 * starts the same ("ab" vs "a"+"b..."); big-endian sequence numbers sort
 * in numeric order under LMDB's memcmp key order.
 */
#include "lmdb_int.h"

static const char *const db_names[DB_COUNT] = {"session", "token", "event",
					       "ha1",     "sub",   "hist"};

static int lmdb_open(struct store **sp, const struct store_conf *c);

const struct store_be store_lmdb_be = {
    .name = "lmdb",
    .open = lmdb_open,
    .full_hint = "raise [store] map_size_mb or free space",
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

static int lmdb_open(struct store **sp, const struct store_conf *c)
{
	const char *path = c->path;
	size_t map_size_mb = c->size_mb;
	struct store *s = NULL;
	struct lmdb *l;
	int err;

	if (!sp || !path || !map_size_mb || map_size_mb > SIZE_MAX >> 20)
		return EINVAL;

	err = store_alloc(&s, &store_lmdb_be);
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

	err = mqueue_alloc(&l->mq, lmdb_mq_handler, l);
	if (err)
		goto out;

	err = pthread_create(&l->thread, NULL, lmdb_worker, l);
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
