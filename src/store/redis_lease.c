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

/* An integer reply to what it means for the caller. */
static void lease_result(struct store_req *r, long long v)
{
	int err = 0;
	uint64_t epoch = 0;

	switch (r->kind) {
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
	store_lease_done(r, err, epoch);
}

static void lease_fail(struct store_req *r, int err)
{
	if (r->kind == SK_LEASE_LAPSED) {
		if (r->doneh)
			r->doneh(err, r->arg);
		return;
	}
	store_lease_done(r, err, 0);
}

static void lease_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct store_req *r = priv;
	redisReply *rep = reply;
	struct store *s = NULL;

	redis_reply_done(l);
	if (!l->r)
		goto out;
	s = mem_ref(r->s);
	if (!store_req_live(r))
		goto out;
	if (!rep) {
		lease_fail(r, ECONNRESET);
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_warn("store: redis: lease: %s", rep->str);
		lease_fail(r, EIO);
	} else if (r->kind == SK_LEASE_LAPSED &&
		   rep->type == REDIS_REPLY_ARRAY) {
		lapsed_deliver(r, rep);
	} else if (rep->type == REDIS_REPLY_INTEGER) {
		lease_result(r, rep->integer);
	} else {
		lease_fail(r, EBADMSG);
	}

out:
	mem_deref(r);
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
	int nk = 0, argc, i, err;

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

	err = redis_command(rd, lease_h, mem_ref(r), argc, av, al);
	if (err) {
		lease_fail(r, err);
		mem_deref(r);
	}
}
