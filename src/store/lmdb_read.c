/**
 * @file lmdb_read.c  LMDB backend: reads on the loop thread
 *
 * One read-only transaction, renewed for each read and reset after it:
 * LMDB readers take no lock against writers of this or another process,
 * and a reset lets the pages a reader saw be reused.
 */
#include "lmdb_int.h"

/* Reads, on the loop thread */

static void read_fail(struct store_req *r, int err)
{
	if (r->geth)
		r->geth(err, NULL, 0, r->arg);
	else if (r->tokenh)
		r->tokenh(err, NULL, 0, 0, 0, r->arg);
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
		const uint8_t *p = v.mv_data;
		size_t off = 8;
		uint64_t until = 0;

		/* expiry, then either the user (written before renewal
		 * limits) or a zero byte, the limit and the user */
		if (v.mv_size > 8 && !p[8]) {
			if (v.mv_size < 17) {
				read_fail(r, EBADMSG);
				return;
			}
			until = get_be64(p + 9);
			off = 17;
		}
		if (v.mv_size < off) {
			read_fail(r, EBADMSG);
			return;
		}
		r->tokenh(0, p + off, v.mv_size - off, get_be64(p), until,
			  r->arg);
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

void lmdb_read(void *bed, struct store_req *r)
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
		read_value(l, l->dbi[db_of(r->kind)], &k, r);
		break;

	case SK_SESSION_LOAD:
		read_iterate(l, l->dbi[DB_SESSION], NULL, 0, r);
		break;

	case SK_SUB_LIST:
	case SK_HIST_LIST:
		k.mv_size = key_pair(kb, r->a, r->alen, NULL, 0);
		read_iterate(l, l->dbi[db_of(r->kind)], kb, k.mv_size, r);
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
