/**
 * @file lmdb_int.h  Inside the LMDB backend: its state, key encoding
 *
 * lmdb.c opens the environment and starts the worker, lmdb_write.c runs
 * write transactions on the worker, lmdb_read.c runs reads on the loop
 * thread. The key layout is described in lmdb.c and docs/store.md.
 */
#ifndef MOB_STORE_LMDB_INT_H
#define MOB_STORE_LMDB_INT_H

#include <pthread.h>
#include <string.h>
#include <lmdb.h>
#include <re.h>
#include "store_int.h"

/* Headroom: writes that add data stop this short of the map's size (a
 * sixteenth, at least 32 pages), so that acks and deletes still commit
 * when the store is full. */
enum {
	STORE_RESERVE_DIV = 16,
	STORE_RESERVE_MIN_PAGES = 32,
};

enum {
	DB_SESSION,
	DB_TOKEN,
	DB_EVENT,
	DB_HA1,
	DB_SUB,
	DB_HIST,
	DB_COUNT,
	/* len byte + longest id + longest second part */
	KEY_MAX = 1 + STORE_USER_MAX + STORE_ID_MAX,
};

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

	/* the worker's alone: where the token purge goes on */
	uint8_t purge_key[STORE_TOKEN_HASH_MAX];
	size_t purge_klen; /* 0: from the first record */

	pthread_t thread;
	bool thread_ok;
	struct mqueue *mq;
};

/* The database of a per-key operation (HA1, subscription, history,
 * token). */
static inline int db_of(enum store_kind kind)
{
	switch (kind) {
	case SK_HA1_PUT:
	case SK_HA1_DEL:
	case SK_HA1_GET:
		return DB_HA1;
	case SK_HIST_PUT:
	case SK_HIST_DEL:
	case SK_HIST_LIST:
		return DB_HIST;
	case SK_TOKEN_DEL:
		return DB_TOKEN;
	default:
		return DB_SUB;
	}
}

/* Key building */

static inline size_t key_pair(uint8_t *k, const uint8_t *a, size_t alen,
			      const uint8_t *b, size_t blen)
{
	k[0] = (uint8_t)alen;
	memcpy(k + 1, a, alen);
	if (blen)
		memcpy(k + 1 + alen, b, blen);
	return 1 + alen + blen;
}

static inline size_t key_event(uint8_t *k, const uint8_t *sid, size_t slen,
			       uint64_t seq)
{
	size_t n = key_pair(k, sid, slen, NULL, 0);
	int i;

	for (i = 7; i >= 0; i--)
		k[n++] = (uint8_t)(seq >> (8 * i));
	return n;
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline bool has_prefix(const MDB_val *k, const uint8_t *pfx, size_t n)
{
	return k->mv_size >= n && (!n || !memcmp(k->mv_data, pfx, n));
}

static inline int lmdb_err(int rc)
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

/* lmdb_write.c */

/** The worker thread (arg: struct lmdb, borrowed): commits what is in
 * sendq until stop is set and sendq is empty. */
void *lmdb_worker(void *arg);

/** Loop thread side of the mqueue (arg: struct lmdb): takes doneq and the
 * commit statistics and completes the writes. */
void lmdb_mq_handler(int id, void *data, void *arg);

/** struct store_be.submit: moves the batch to sendq, wakes the worker. */
void lmdb_submit(void *bed, struct list *batch);

/* lmdb_read.c */

/** struct store_be.read: runs one read, calls its handler. */
void lmdb_read(void *bed, struct store_req *r);

#endif
