/**
 * @file redis_lease.c  Redis backend: leases, owners and fencing epochs
 *
 * One lease per instance (mob:lease:{INST}, expiring unless renewed: one
 * command per instance however many sessions it holds) and, per session,
 * its owner and epoch (mob:{SID}:o = "EPOCH INST"); the sessions of an
 * instance are listed in mob:own:{INST} so that its lapse is found in
 * O(instances) and its sessions are listed without a scan of the
 * keyspace. One script does every operation, so each is atomic; the
 * write script (redis_write.c) compares a write's epoch with the owner
 * key. The script reads keys of other instances than it declares (the
 * owner's lease, its set): fine on one primary with replicas; on a Redis
 * Cluster the listing would be split from the owner key (docs/pool.md).
 */
#include "core.h"
#include "redis_int.h"

/* ARGV[1] op; replies: an integer (>= 0 result, < 0 error) or, for
 * 'lapsed', {sid, owner, sid, owner, ...}.
 *  renew   KEYS lease, mob:instances; ARGV inst, ms: 0 renewed, 1 new
 *  drop    KEYS lease, my set; ARGV me: 0 dropped, -3 none; either
 *          way every session still listed is released
 *  acquire KEYS o, my lease, my set; ARGV me, sid: epoch, -1 another's
 *          lease is alive, -2 mine is not
 *  release KEYS o, my set; ARGV me, sid: 0, -1 not mine
 *  lapsed  ARGV max */
const char redis_script_lease[] =
    "local op = ARGV[1]\n"
    "local function owner(k)\n"
    " local o = redis.call('GET', k)\n"
    " if not o then return 0, nil end\n"
    " local e, who = string.match(o, '^(%d+) (.*)$')\n"
    " return tonumber(e), who\n"
    "end\n"
    "local function set_of(who)\n"
    " if who == '' then return 'mob:free' end\n"
    " return 'mob:own:{' .. who .. '}'\n"
    "end\n"
    "if op == 'renew' then\n"
    " if redis.call('PEXPIRE', KEYS[1], ARGV[3]) == 1 then return 0 end\n"
    " redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])\n"
    " redis.call('SADD', KEYS[2], ARGV[2])\n"
    " return 1\n"
    "elseif op == 'drop' then\n"
    /* released at once: the same name's next lease (a restart, a
     * rejoin) would hide them from the lapsed listing */
    " for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  local k = 'mob:{' .. sid .. '}:o'\n"
    "  local e, who = owner(k)\n"
    "  if who == ARGV[2] then\n"
    "   redis.call('SET', k, e .. ' ')\n"
    "   redis.call('SADD', 'mob:free', sid)\n"
    "  end\n"
    " end\n"
    " redis.call('DEL', KEYS[2])\n"
    " if redis.call('DEL', KEYS[1]) == 1 then return 0 end\n"
    " return -3\n"
    "elseif op == 'acquire' then\n"
    " if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end\n"
    " local e, who = owner(KEYS[1])\n"
    " if who == ARGV[2] then return e end\n"
    " if who and who ~= '' and"
    " redis.call('EXISTS', 'mob:lease:{' .. who .. '}') == 1 then\n"
    "  return -1\n"
    " end\n"
    " e = e + 1\n"
    " redis.call('SET', KEYS[1], e .. ' ' .. ARGV[2])\n"
    " if who then redis.call('SREM', set_of(who), ARGV[3]) end\n"
    " redis.call('SADD', KEYS[3], ARGV[3])\n"
    " return e\n"
    "elseif op == 'release' then\n"
    " local e, who = owner(KEYS[1])\n"
    " if who ~= ARGV[2] then return -1 end\n"
    " redis.call('SET', KEYS[1], e .. ' ')\n"
    " redis.call('SMOVE', KEYS[2], 'mob:free', ARGV[3])\n"
    " return 0\n"
    "end\n"
    /* lapsed: released ones first, then lapsed instances' (at random,
     * so that instances taking over at once pick different ones) */
    "local max = tonumber(ARGV[2])\n"
    "local out = {}\n"
    "local function take(set, who)\n"
    " local want = max - #out / 2\n"
    " if want <= 0 then return end\n"
    " for _, sid in ipairs(redis.call('SRANDMEMBER', set, want)) do\n"
    "  out[#out+1] = sid\n"
    "  out[#out+1] = who\n"
    " end\n"
    "end\n"
    "take('mob:free', '')\n"
    "for _, i in ipairs(redis.call('SMEMBERS', 'mob:instances')) do\n"
    " if redis.call('EXISTS', 'mob:lease:{' .. i .. '}') == 0 then\n"
    "  if redis.call('SCARD', set_of(i)) == 0 then\n"
    "   redis.call('SREM', 'mob:instances', i)\n"
    "  else take(set_of(i), i) end\n"
    " end\n"
    "end\n"
    "return out\n";

static void lapsed_deliver(struct store_req *r, const redisReply *rep)
{
	size_t i;
	bool stop = false;

	for (i = 0; i + 1 < rep->elements && !stop; i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		stop = r->rech((const uint8_t *)k->str, k->len,
			       (const uint8_t *)v->str, v->len, r->arg);
		if (!store_req_live(r))
			return;
	}
	if (r->doneh)
		r->doneh(stop ? ECANCELED : 0, r->arg);
}

/* A lease operation in flight. One that writes is followed by WAIT
 * with redis_wait_replicas: its result is kept until WAIT answers, so
 * that an acquire (its epoch) is on the replicas before it is used.
 * Not a renewal: the owner's deadline already allows for one renewal
 * lost by a switch (docs/pool.md), and a renewal waiting for a replica
 * that is gone (a switch with one replica) would halt every instance of
 * the pool until the old primary is back. */
struct rlease {
	struct store_req *r; /* a reference */
	bool waits;          /* a WAIT follows (its answer completes) */
	int err;             /* the script's result, while waiting */
	uint64_t epoch;
};

static void rlease_destructor(void *arg)
{
	struct rlease *q = arg;

	mem_deref(q->r);
}

static bool lease_writes(enum store_kind kind)
{
	return kind == SK_LEASE_DROP || kind == SK_LEASE_ACQUIRE ||
	       kind == SK_LEASE_RELEASE;
}

/* Did the script write? A refusal did not; a new lease (ENOENT) did. */
static bool lease_wrote(const struct store_req *r, int err)
{
	return !err || (r->kind == SK_LEASE_RENEW && err == ENOENT);
}

/* The script's result: to the caller now, or once WAIT answered (or
 * failed with the error of a WAIT that could not be sent). */
static void lease_end(struct rlease *q, int err, uint64_t epoch)
{
	if (q->waits) {
		q->err = err;
		q->epoch = epoch;
		return;
	}
	if (q->err && lease_wrote(q->r, err)) {
		err = q->err;
		epoch = 0;
	}
	store_lease_done(q->r, err, epoch);
}

/* An integer reply to what it means for the caller. */
static void lease_result(struct rlease *q, long long v)
{
	int err = 0;
	uint64_t epoch = 0;

	switch (q->r->kind) {
	case SK_LEASE_RENEW:
		err = v == 1 ? ENOENT : 0;
		break;
	case SK_LEASE_ACQUIRE:
		err = v == -1 ? EBUSY : v == -2 ? ENOLCK : 0;
		epoch = v > 0 ? (uint64_t)v : 0;
		break;
	default:
		err = v == -1 ? ESTALE : v == -3 ? ENOENT : 0;
		break;
	}
	lease_end(q, err, epoch);
}

static void lease_fail_req(struct store_req *r, int err)
{
	if (r->kind == SK_LEASE_LAPSED) {
		if (r->doneh)
			r->doneh(err, r->arg);
		return;
	}
	store_lease_done(r, err, 0);
}

static void lease_fail(struct rlease *q, int err)
{
	if (q->r->kind == SK_LEASE_LAPSED)
		lease_fail_req(q->r, err);
	else
		lease_end(q, err, 0);
}

static void lease_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlease *q = priv;
	struct store_req *r = q->r;
	redisReply *rep = reply;
	struct store *s = NULL;
	int err;

	if (!redis_reply_open(ac->data, r, rep, &s, &err))
		goto out;
	if (err)
		lease_fail(q, err);
	else if (r->kind == SK_LEASE_LAPSED && rep->type == REDIS_REPLY_ARRAY)
		lapsed_deliver(r, rep);
	else if (rep->type == REDIS_REPLY_INTEGER)
		lease_result(q, rep->integer);
	else
		lease_fail(q, EBADMSG);

out:
	mem_deref(q);
	mem_deref(s);
}

/* WAIT's answer after a lease write: the result now, or the failure to
 * replicate it (ETIMEDOUT: it may be lost on a failover). */
static void lease_wait_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlease *q = priv;
	struct rlink *l = ac->data;
	struct store *s = NULL;
	int err;

	if (!redis_reply_open(l, q->r, reply, &s, &err))
		goto out;
	err = q->err;
	if (lease_wrote(q->r, err)) {
		int werr = redis_wait_err(l->r, reply);

		err = werr ? werr : err;
	}
	store_lease_done(q->r, err, err ? 0 : q->epoch);

out:
	mem_deref(q);
	mem_deref(s);
}

void redis_lease(void *bed, struct store_req *r)
{
	static const char *const ops[] = {
	    [SK_LEASE_RENEW] = "renew",     [SK_LEASE_DROP] = "drop",
	    [SK_LEASE_ACQUIRE] = "acquire", [SK_LEASE_RELEASE] = "release",
	    [SK_LEASE_LAPSED] = "lapsed",
	};
	struct redis *rd = bed;
	char k[3][REDIS_KEY_MAX], num[24];
	const char *av[10];
	size_t al[10];
	struct rlease *q;
	int nk = 0, argc, i, err;

	if (r->kind == SK_LEASE_OWNER || r->kind == SK_INSTANCE_URL) {
		redis_owner(rd, r);
		return;
	}
	/* keys: o of the session, then the instance's lease and set */
	if (r->kind == SK_LEASE_ACQUIRE || r->kind == SK_LEASE_RELEASE)
		redis_key(k[nk++], REDIS_KEY_MAX, NULL, r->a, r->alen, ":o");
	if (r->kind == SK_LEASE_ACQUIRE)
		redis_key(k[nk++], REDIS_KEY_MAX, "lease", r->b, r->blen, "");
	if (r->kind == SK_LEASE_ACQUIRE || r->kind == SK_LEASE_RELEASE)
		redis_key(k[nk++], REDIS_KEY_MAX, "own", r->b, r->blen, "");
	if (r->kind == SK_LEASE_RENEW || r->kind == SK_LEASE_DROP)
		redis_key(k[nk++], REDIS_KEY_MAX, "lease", r->a, r->alen, "");
	if (r->kind == SK_LEASE_DROP)
		redis_key(k[nk++], REDIS_KEY_MAX, "own", r->a, r->alen, "");
	if (r->kind == SK_LEASE_RENEW)
		strcpy(k[nk++], "mob:instances");

	re_snprintf(num, sizeof(num), "%d", nk);
	av[0] = "EVALSHA";
	av[1] = rd->sha[RS_LEASE];
	av[2] = num;
	for (i = 0; i < nk; i++)
		av[3 + i] = k[i];
	argc = 3 + nk;
	av[argc++] = ops[r->kind];
	for (i = 0; i < argc; i++)
		al[i] = strlen(av[i]);

	switch (r->kind) {
	case SK_LEASE_RENEW:
		av[argc] = (char *)r->a;
		al[argc++] = r->alen;
		re_snprintf(k[2], REDIS_KEY_MAX, "%llu",
			    (unsigned long long)r->n);
		av[argc] = k[2];
		al[argc] = strlen(k[2]);
		++argc;
		break;
	case SK_LEASE_DROP:
		av[argc] = (char *)r->a;
		al[argc++] = r->alen;
		break;
	case SK_LEASE_ACQUIRE:
	case SK_LEASE_RELEASE:
		av[argc] = (char *)r->b;
		al[argc++] = r->blen;
		av[argc] = (char *)r->a;
		al[argc++] = r->alen;
		break;
	case SK_LEASE_LAPSED:
		re_snprintf(k[0], REDIS_KEY_MAX, "%u", r->max);
		av[argc] = k[0];
		al[argc] = strlen(k[0]);
		++argc;
		break;
	default:
		break;
	}

	q = mem_zalloc(sizeof(*q), rlease_destructor);
	if (!q) {
		lease_fail_req(r, ENOMEM);
		return;
	}
	q->r = mem_ref(r);
	q->waits = rd->wait_replicas && lease_writes(r->kind);
	err = redis_command(rd, lease_h, q, argc, av, al);
	if (err) {
		q->waits = false;
		lease_fail(q, err);
		mem_deref(q);
		return;
	}
	/* a write is acknowledged once on the replicas; WAIT not sent:
	 * the script's answer fails it */
	if (q->waits) {
		err = redis_wait_command(rd, lease_wait_h, mem_ref(q));
		if (err) {
			q->waits = false;
			q->err = err;
			mem_deref(q);
		}
	}
}

/*
 * Forwarding: who owns a session and where it is reached.
 */

/* KEYS o; reply {inst, alive (0/1), url}, or an empty array when the
 * session has no owner key. Released: inst "" and not alive. */
const char redis_script_owner[] =
    "local o = redis.call('GET', KEYS[1])\n"
    "if not o then return {} end\n"
    "local who = string.match(o, '^%d+ (.*)$') or ''\n"
    "if who == '' then return {'', 0, ''} end\n"
    "local alive = redis.call('EXISTS', 'mob:lease:{' .. who .. '}')\n"
    "local url = redis.call('GET', 'mob:url:{' .. who .. '}') or ''\n"
    "return {who, alive, url}\n";

static void owner_reply(struct store_req *r, const redisReply *rep)
{
	char inst[STORE_ID_MAX + 1], url[STORE_URL_MAX + 1];
	const redisReply *e0, *e1, *e2;

	if (rep->type != REDIS_REPLY_ARRAY ||
	    (rep->elements != 0 && rep->elements != 3)) {
		store_owner_done(r, EBADMSG, "", "", false);
		return;
	}
	if (!rep->elements) {
		store_owner_done(r, ENOENT, "", "", false);
		return;
	}
	e0 = rep->element[0];
	e1 = rep->element[1];
	e2 = rep->element[2];
	if (e0->type != REDIS_REPLY_STRING || e0->len > STORE_ID_MAX ||
	    e1->type != REDIS_REPLY_INTEGER || e2->type != REDIS_REPLY_STRING ||
	    e2->len > STORE_URL_MAX) {
		store_owner_done(r, EBADMSG, "", "", false);
		return;
	}
	memcpy(inst, e0->str, e0->len);
	inst[e0->len] = '\0';
	memcpy(url, e2->str, e2->len);
	url[e2->len] = '\0';
	store_owner_done(r, 0, inst, url, e1->integer == 1);
}

static void owner_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct store_req *r = priv;
	redisReply *rep = reply;
	struct store *s = NULL;
	int err;

	if (!redis_reply_open(ac->data, r, rep, &s, &err))
		goto out;
	if (r->kind == SK_INSTANCE_URL) {
		if (!err && rep->type != REDIS_REPLY_STATUS)
			err = EBADMSG;
		if (r->doneh)
			r->doneh(err, r->arg);
	} else if (err) {
		store_owner_done(r, err, "", "", false);
	} else {
		owner_reply(r, rep);
	}

out:
	mem_deref(r);
	mem_deref(s);
}

void redis_owner(struct redis *rd, struct store_req *r)
{
	char k[REDIS_KEY_MAX];
	const char *av[4];
	size_t al[4];
	int argc, i, err;

	if (r->kind == SK_INSTANCE_URL) {
		redis_key(k, sizeof(k), "url", r->a, r->alen, "");
		av[0] = "SET";
		av[1] = k;
		av[2] = (char *)r->b;
		argc = 3;
	} else {
		redis_key(k, sizeof(k), NULL, r->a, r->alen, ":o");
		av[0] = "EVALSHA";
		av[1] = rd->sha[RS_OWNER];
		av[2] = "1";
		av[3] = k;
		argc = 4;
	}
	for (i = 0; i < argc; i++)
		al[i] = strlen(av[i]);
	if (r->kind == SK_INSTANCE_URL)
		al[2] = r->blen;

	err = redis_command(rd, owner_h, mem_ref(r), argc, av, al);
	if (!err)
		return;
	if (r->kind == SK_INSTANCE_URL && r->doneh)
		r->doneh(err, r->arg);
	else if (r->kind == SK_LEASE_OWNER)
		store_owner_done(r, err, "", "", false);
	mem_deref(r);
}
