/**
 * @file redis_read.c  Redis backend: reads
 *
 * Each read is one command whose reply comes on the loop; the request is
 * kept (mem_ref) until then and its handler gets values borrowed from the
 * reply. A read issued after a write's completion was called is sent
 * after that write's script on the same connection, so it sees it.
 * Session load walks the keyspace with SCAN in steps (a script returns a
 * step's keys with their values), one record handler call per session.
 */
#include <stdlib.h>
#include "core.h"
#include "redis_int.h"

/* SCAN a step of session keys from ARGV[1], with their values:
 * {next cursor, key, value, key, value, ...}. */
const char redis_script_load[] =
    "local s = redis.call('SCAN', ARGV[1], 'MATCH', 'mob:{*}:s',"
    " 'COUNT', ARGV[2])\n"
    "local out = {s[1]}\n"
    "for _, k in ipairs(s[2]) do\n"
    " local v = redis.pcall('GET', k)\n"
    " if type(v) == 'string' then out[#out+1] = k; out[#out+1] = v end\n"
    "end\n"
    "return out\n";

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

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void deliver_value(struct store_req *r, const redisReply *rep)
{
	const uint8_t *p = (const uint8_t *)rep->str;
	size_t off = 8;
	uint64_t until = 0;

	if (rep->type == REDIS_REPLY_NIL) {
		read_fail(r, ENOENT);
		return;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		read_fail(r, EBADMSG);
		return;
	}
	if (r->geth) {
		r->geth(0, p, rep->len, r->arg);
		return;
	}
	/* a token: expiry, [0, until,] user (as the LMDB record) */
	if (rep->len > 8 && !p[8]) {
		if (rep->len < 17) {
			read_fail(r, EBADMSG);
			return;
		}
		until = get_be64(p + 9);
		off = 17;
	}
	if (rep->len < off) {
		read_fail(r, EBADMSG);
		return;
	}
	r->tokenh(0, p + off, rep->len - off, get_be64(p), until, r->arg);
}

static void deliver_events(struct store_req *r, const redisReply *rep)
{
	struct store_event *evv;
	size_t i, n = 0;

	if (rep->type != REDIS_REPLY_ARRAY) {
		read_fail(r, EBADMSG);
		return;
	}
	evv = mem_zalloc((r->max + 1) * sizeof(*evv), NULL);
	if (!evv) {
		read_fail(r, ENOMEM);
		return;
	}
	/* [[id, [v, value]], ...]: at most max + 1, the last says more */
	for (i = 0; i < rep->elements && n < r->max; i++) {
		const redisReply *e = rep->element[i], *f;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
			continue;
		f = e->element[1];
		if (f->type != REDIS_REPLY_ARRAY || f->elements != 2)
			continue;
		evv[n].seq = strtoull(e->element[0]->str, NULL, 10);
		evv[n].val = (const uint8_t *)f->element[1]->str;
		evv[n].len = f->element[1]->len;
		++n;
	}
	r->eventsh(0, evv, n, rep->elements > r->max, r->arg);
	mem_deref(evv);
}

/* HGETALL pairs, in the byte order of the ids for history. Each entry
 * points at a key in the reply; its value follows it. */
static int pair_cmp(const void *a, const void *b)
{
	const redisReply *x = **(redisReply * *const *)a;
	const redisReply *y = **(redisReply * *const *)b;
	int c = memcmp(x->str, y->str, MIN(x->len, y->len));

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void deliver_pairs(struct store_req *r, const redisReply *rep)
{
	redisReply ***kv;
	size_t i, n;
	bool stop = false;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2) {
		read_fail(r, EBADMSG);
		return;
	}
	n = rep->elements / 2;
	kv = mem_alloc((n + 1) * sizeof(*kv), NULL);
	if (!kv) {
		read_fail(r, ENOMEM);
		return;
	}
	for (i = 0; i < n; i++)
		kv[i] = &rep->element[2 * i];
	if (r->kind == SK_HIST_LIST)
		qsort(kv, n, sizeof(*kv), pair_cmp);
	for (i = 0; i < n && !stop; i++) {
		const redisReply *k = kv[i][0], *v = kv[i][1];

		stop = r->rech((const uint8_t *)k->str, k->len,
			       (const uint8_t *)v->str, v->len, r->arg);
		if (!store_req_live(r))
			break;
	}
	mem_deref(kv);
	if (store_req_live(r) && r->doneh)
		r->doneh(stop ? ECANCELED : 0, r->arg);
}

/* A session load in SCAN steps. SCAN may return a key twice (when Redis
 * resizes its table between two steps): the ids handed over are kept
 * for the load, so that each session goes to the caller once. */
struct rload {
	struct store_req *r; /* a reference */
	struct hash *seen;   /* struct seen, by id */
};

struct seen {
	struct le he;
	size_t len;
	uint8_t id[];
};

enum { LOAD_SEEN_BUCKETS = 4096 };

static void rload_destructor(void *arg)
{
	struct rload *ld = arg;

	hash_flush(ld->seen);
	mem_deref(ld->seen);
	mem_deref(ld->r);
}

static bool seen_cmp(struct le *le, void *arg)
{
	const struct seen *e = le->data;
	const struct pl *id = arg;

	return e->len == id->l && !memcmp(e->id, id->p, id->l);
}

/* Was id handed over already in this load? If not, it is now (ENOMEM:
 * no room to remember it). */
static int load_seen(struct rload *ld, const uint8_t *id, size_t len,
		     bool *seenp)
{
	const struct pl pl = {(const char *)id, len};
	uint32_t key = hash_joaat(id, len);
	struct seen *e;

	*seenp = hash_lookup(ld->seen, key, seen_cmp, (void *)&pl) != NULL;
	if (*seenp)
		return 0;
	e = mem_zalloc(sizeof(*e) + len, NULL);
	if (!e)
		return ENOMEM;
	e->len = len;
	memcpy(e->id, id, len);
	hash_append(ld->seen, key, &e->he, e);
	return 0;
}

static int load_step(struct redis *rd, struct rload *ld, const char *cursor,
		     size_t clen);

static void read_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct store_req *r = priv;
	redisReply *rep = reply;
	struct store *s = NULL;
	int err;

	if (!redis_reply_open(l, r, rep, &s, &err))
		goto out;
	if (err) {
		read_fail(r, err);
		goto out;
	}

	switch (r->kind) {
	case SK_SESSION_GET:
	case SK_TOKEN_GET:
	case SK_HA1_GET:
	case SK_SUB_GET:
		deliver_value(r, rep);
		break;
	case SK_EVENT_READ:
		deliver_events(r, rep);
		break;
	case SK_SUB_LIST:
	case SK_HIST_LIST:
		deliver_pairs(r, rep);
		break;
	default:
		read_fail(r, EINVAL);
		break;
	}

out:
	mem_deref(r);
	mem_deref(s);
}

/* A step of the session load: records, then the next step or done. */
static void load_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct rload *ld = priv;
	struct store_req *r = ld->r;
	redisReply *rep = reply;
	const redisReply *cur;
	struct store *s = NULL;
	bool stop = false, seen;
	size_t i;
	int err;

	if (!redis_reply_open(l, r, rep, &s, &err))
		goto out;
	if (!err && (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 1 ||
		     rep->element[0]->type != REDIS_REPLY_STRING))
		err = EIO;
	/* mob:{SID}:s -> SID */
	for (i = 1; !err && i < rep->elements && !stop; i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];

		if (k->len < 8)
			continue;
		err = load_seen(ld, (const uint8_t *)k->str + 5, k->len - 8,
				&seen);
		if (err || seen)
			continue;
		stop = r->rech((const uint8_t *)k->str + 5, k->len - 8,
			       (const uint8_t *)v->str, v->len, r->arg);
		if (!store_req_live(r))
			goto out;
	}
	if (err) {
		read_fail(r, err);
		goto out;
	}
	cur = rep->element[0];
	if (stop) {
		if (r->doneh)
			r->doneh(ECANCELED, r->arg);
	} else if (cur->len == 1 && cur->str[0] == '0') {
		if (r->doneh)
			r->doneh(0, r->arg);
	} else {
		err = load_step(l->r, ld, cur->str, cur->len);
		if (err)
			read_fail(r, err);
	}

out:
	mem_deref(ld);
	mem_deref(s);
}

static int load_step(struct redis *rd, struct rload *ld, const char *cursor,
		     size_t clen)
{
	char count[16];
	const char *av[] = {"EVALSHA", rd->sha[RS_LOAD], "0", cursor, count};
	size_t al[5];
	int err, i;

	re_snprintf(count, sizeof(count), "%u", (unsigned)REDIS_LOAD_STEP);
	for (i = 0; i < 5; i++)
		al[i] = strlen(av[i]);
	al[3] = clen;
	err = redis_command(rd, load_h, mem_ref(ld), 5, av, al);
	if (err)
		mem_deref(ld);
	return err;
}

/* The first step of a session load, with its set of ids handed over. */
static int load_start(struct redis *rd, struct store_req *r)
{
	struct rload *ld;
	int err;

	ld = mem_zalloc(sizeof(*ld), rload_destructor);
	if (!ld)
		return ENOMEM;
	ld->r = mem_ref(r);
	err = hash_alloc(&ld->seen, LOAD_SEEN_BUCKETS);
	if (!err)
		err = load_step(rd, ld, "0", 1);
	mem_deref(ld);
	return err;
}

void redis_read(void *bed, struct store_req *r)
{
	static const char *const sfx[] = {
	    [SK_SESSION_GET] = ":s",  [SK_EVENT_READ] = ":ev",
	    [SK_SUB_GET] = ":sub",    [SK_SUB_LIST] = ":sub",
	    [SK_HIST_LIST] = ":hist",
	};
	struct redis *rd = bed;
	char key[REDIS_KEY_MAX], from[32], count[16];
	const char *av[7];
	size_t al[7];
	int argc = 2, err, i;

	if (r->kind == SK_SESSION_LOAD) {
		err = load_start(rd, r);
		if (err)
			read_fail(r, err);
		return;
	}

	av[0] = "GET";
	av[1] = key;
	if (r->kind == SK_TOKEN_GET)
		al[1] = redis_key(key, sizeof(key), "tok", r->a, r->alen, "");
	else if (r->kind == SK_HA1_GET)
		al[1] = redis_key(key, sizeof(key), "ha1", r->a, r->alen, "");
	else
		al[1] = redis_key(key, sizeof(key), NULL, r->a, r->alen,
				  sfx[r->kind]);

	switch (r->kind) {
	case SK_HA1_GET:
	case SK_SUB_GET:
		av[0] = "HGET";
		av[2] = (char *)r->b;
		al[2] = r->blen;
		argc = 3;
		break;
	case SK_SUB_LIST:
	case SK_HIST_LIST:
		av[0] = "HGETALL";
		break;
	case SK_EVENT_READ:
		re_snprintf(from, sizeof(from), "%llu-0",
			    (unsigned long long)r->n);
		re_snprintf(count, sizeof(count), "%u", r->max + 1);
		av[0] = "XRANGE";
		av[2] = from;
		av[3] = "+";
		av[4] = "COUNT";
		av[5] = count;
		for (i = 2; i < 6; i++)
			al[i] = strlen(av[i]);
		argc = 6;
		break;
	default:
		break;
	}
	al[0] = strlen(av[0]);

	err = redis_command(rd, read_h, mem_ref(r), argc, av, al);
	if (err) {
		read_fail(r, err);
		mem_deref(r);
	}
}
