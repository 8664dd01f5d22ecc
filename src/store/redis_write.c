/**
 * @file redis_write.c  Redis backend: a loop turn's writes as Lua scripts
 *
 * The writes of one turn are grouped by what they change: a session (its
 * record, log, subscriptions, history: keys sharing the hash tag {SID}),
 * a token, a user's HA1. Each group becomes one EVAL of the script below,
 * with its writes in issue order: Redis runs a script alone, so a
 * session's writes of a turn are applied together, and every key it
 * touches is declared and in one slot (Redis Cluster). Scripts are
 * pipelined on the one connection; the turn completes, in issue order,
 * when the last of them has answered. With appendfsync always, Redis
 * answers only after the AOF holding the script has been fsynced.
 *
 * Each write is a redis.pcall, so each has its own result: OOM (maxmemory
 * reached) is ENOSPC, a stream id not above the last one EEXIST, a delete
 * of nothing ENOENT. Redis refuses a write for memory only while the
 * script has written nothing yet (a script is never stopped half-way), so
 * a turn's later writes to the same session may go over maxmemory.
 */
#include <time.h>
#include "core.h"
#include "redis_int.h"

/* KEYS: session s, ev, sub, hist, o | token | ha1.
 * ARGV: triples (op, x, y), the writer's epoch (0: unchecked), the
 * largest value size. Returns one code per op (0 ok, 1 ENOENT,
 * 2 EEXIST, 3 ENOSPC, 4 EIO, 5 ESTALE), then 1 if a value of the largest
 * size (ARGV[#ARGV]) would no longer fit short of the reserve, else 0.
 *
 * Fencing: a session's group carries the epoch its writer holds; when
 * the owner key (KEYS[5], "EPOCH INST") has another epoch, another
 * instance has taken the session over and nothing of the group is
 * applied (every op ESTALE). A deleted session takes its owner key and
 * its place in its owner's set with it. The last event appended rings
 * the session's doorbell (PUBLISH mob:{SID}:bell SEQ), in the script,
 * so a ring always follows its event.
 *
 * Headroom as in LMDB: with maxmemory set, writes that add a record
 * (an event, a new session, subscription, history entry, token, HA1)
 * stop a sixteenth short of it, so that acks, deletes and a session's
 * record written again (it carries the event numbering) still go in.
 * A new record counts its bytes and 64 more, at least 4 KiB (as LMDB's
 * pages): used_memory moves by a few KiB between scripts with the
 * clients' buffers and the script's own arguments, and a small record must
 * not slip in where a slightly larger one was just refused: a refusal
 * leaves mob:full holding used_memory at that moment less the script's
 * arguments (which used_memory counts while it runs), and new records
 * stay refused until that figure is 8 KiB below it (acks and deletes
 * freed room). allow-oom: this script applies that line itself, per
 * write. */
const char redis_script_write[] =
    "#!lua flags=allow-oom\n"
    "local info = redis.call('INFO', 'memory')\n"
    "local used = tonumber(string.match(info, 'used_memory:(%d+)'))\n"
    "local maxm = tonumber(string.match(info, 'maxmemory:(%d+)'))\n"
    "local line = maxm - math.floor(maxm / 16)\n"
    "local norm = used\n"
    "for i = 1, #ARGV do norm = norm - #ARGV[i] - 40 end\n"
    "local fmark = tonumber(redis.call('GET', 'mob:full') or '0')\n"
    "if fmark > 0 and norm + 8192 <= fmark then\n"
    " redis.call('DEL', 'mob:full')\n"
    " fmark = 0\n"
    "end\n"
    "local out = {}\n"
    "local last = #ARGV - 2\n"
    "local ep = ARGV[#ARGV - 1]\n"
    "if ep ~= '0' then\n"
    " local o = redis.call('GET', KEYS[5])\n"
    " if (o and string.match(o, '^(%d+)') or '0') ~= ep then\n"
    "  for i = 1, last, 3 do out[#out+1] = 5 end\n"
    "  local room = tonumber(ARGV[#ARGV])\n"
    "  out[#out+1] = (maxm > 0 and used + room > line) and 1 or 0\n"
    "  return out\n"
    " end\n"
    "end\n"
    "local bell\n"
    "for i = 1, last, 3 do\n"
    " local op, x, y = ARGV[i], ARGV[i+1], ARGV[i+2]\n"
    " local grow = op == 'ea' or op == 'bp' or op == 'hp' or op == 'tp'"
    " or op == 'ap' or (op == 'sp' and redis.call('EXISTS', KEYS[1]) == 0)\n"
    " local add = math.max(#x + #y + 64, 4096)\n"
    " local r\n"
    " if grow and maxm > 0 and (used + add > line or fmark > 0) then\n"
    "  r = {err = 'OOM over the reserve line'}\n"
    "  if fmark == 0 then\n"
    "   redis.call('SET', 'mob:full', norm)\n"
    "   fmark = norm\n"
    "  end\n"
    " elseif op == 'sp' or op == 'tp' then r = redis.pcall('SET', KEYS[1], x "
    ".. y)\n"
    " elseif op == 'sd' then\n"
    "  r = redis.pcall('DEL', KEYS[1])\n"
    "  local o = redis.call('GET', KEYS[5])\n"
    "  local who = o and string.match(o, '^%d+ (.*)$')\n"
    "  if who then\n"
    "   redis.pcall('SREM', who == '' and 'mob:free' or"
    " 'mob:own:{' .. who .. '}', string.sub(KEYS[1], 6, -4))\n"
    "  end\n"
    "  redis.pcall('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])\n"
    " elseif op == 'td' then r = redis.pcall('DEL', KEYS[1])\n"
    " elseif op == 'ea' then r = redis.pcall('XADD', KEYS[2], x, 'v', y)\n"
    " elseif op == 'ek' then r = redis.pcall('XTRIM', KEYS[2], 'MINID', x)\n"
    " elseif op == 'bp' then r = redis.pcall('HSET', KEYS[3], x, y)\n"
    " elseif op == 'bd' then r = redis.pcall('HDEL', KEYS[3], x)\n"
    " elseif op == 'hp' then r = redis.pcall('HSET', KEYS[4], x, y)\n"
    " elseif op == 'hd' then r = redis.pcall('HDEL', KEYS[4], x)\n"
    " elseif op == 'ap' then r = redis.pcall('HSET', KEYS[1], x, y)\n"
    " elseif op == 'ad' then r = redis.pcall('HDEL', KEYS[1], x)\n"
    " end\n"
    " local c = 0\n"
    " if type(r) == 'table' and r.err then\n"
    "  if string.find(r.err, 'OOM', 1, true) then c = 3\n"
    "  elseif string.find(r.err, 'equal or smaller', 1, true) then c = 2\n"
    "  else c = 4 end\n"
    " elseif r == 0 and string.sub(op, 2) == 'd' then c = 1\n"
    " end\n"
    " if c == 0 and grow then used = used + add end\n"
    " if c == 0 and op == 'ea' then bell = string.match(x, '^(%d+)') end\n"
    " out[#out+1] = c\n"
    "end\n"
    "if bell then\n"
    " redis.call('PUBLISH', string.sub(KEYS[1], 1, -2) .. 'bell', bell)\n"
    "end\n"
    "local full = 0\n"
    "if maxm > 0 and (fmark > 0 or used + tonumber(ARGV[#ARGV]) > line)"
    " then full = 1 end\n"
    "out[#out+1] = full\n"
    "return out\n";

/* One step of the token sweep: SCAN from the cursor, delete the tokens
 * whose expiry (8 bytes big-endian at the front) is <= ARGV[3] (same
 * encoding). Returns {next cursor, deleted}. Token keys are not declared:
 * on a Redis Cluster this runs on each primary. */
const char redis_script_purge[] =
    "local s = redis.call('SCAN', ARGV[1], 'MATCH', 'mob:tok:{*}',"
    " 'COUNT', ARGV[2])\n"
    "local function le8(a, b)\n"
    " for i = 1, 8 do\n"
    "  local x, y = string.byte(a, i), string.byte(b, i)\n"
    "  if x ~= y then return x < y end\n"
    " end\n"
    " return true\n"
    "end\n"
    "local n = 0\n"
    "for _, k in ipairs(s[2]) do\n"
    " local v = redis.pcall('GET', k)\n"
    " if type(v) == 'string' and #v >= 8 and le8(v, ARGV[3]) then\n"
    "  redis.call('DEL', k)\n"
    "  n = n + 1\n"
    " end\n"
    "end\n"
    "return {s[1], n}\n";

static const int code_err[] = {0, ENOENT, EEXIST, ENOSPC, EIO, ESTALE};

/* One script in flight: the writes its answer is for. */
struct rcmd {
	struct rbatch *b;     /* borrowed: kept until waiting is 0 */
	struct store_req **v; /* the group's writes, in order       */
	size_t n;
	uint64_t t0; /* sent, µs */
};

static void rbatch_destructor(void *arg)
{
	struct rbatch *b = arg;

	list_unlink(&b->le);
	list_flush(&b->reqs);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * (7 - i)));
}

/* Completions run from a 0 ms timer, never inside a hiredis callback, so
 * a handler may drop the store. Only whole turns, from the first. */
void redis_batches_complete(void *arg)
{
	struct redis *r = arg;
	struct rbatch *b;

	/* a handler may drop the store, which drops us: hold on */
	mem_ref(r);
	while (r->batches.head) {
		b = r->batches.head->data;
		if (b->waiting)
			break;
		list_unlink(&b->le);
		store_complete(r->s, &b->reqs);
		mem_deref(b);
		/* the store is gone (r->s with it): stop */
		if (mem_nrefs(r) < 2)
			break;
	}
	mem_deref(r);
}

static void set_all(struct rcmd *c, int err, int space)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->v[i]->err = err;
		c->v[i]->space = space;
	}
}

static void write_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct redis *r = l->r;
	struct rcmd *c = priv;
	redisReply *rep = reply;
	bool full = false;
	size_t i;

	redis_reply_done(l);
	if (!r) {
		mem_deref(c);
		return;
	}

	if (!rep) {
		set_all(c, ECONNRESET, SPACE_UNKNOWN);
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_warn("store: redis: %s", rep->str);
		redis_reply_error(r, rep->str);
		full = !strncmp(rep->str, "OOM", 3);
		/* a cursor of another server (after a switch): start again */
		if (c->v[0]->kind == SK_TOKEN_PURGE)
			strcpy(r->purge_cursor, "0");
		set_all(c, full ? ENOSPC : EIO,
			full ? SPACE_FULL : SPACE_UNKNOWN);
	} else if (rep->type == REDIS_REPLY_ARRAY &&
		   c->v[0]->kind == SK_TOKEN_PURGE && rep->elements == 2) {
		redisReply *cur = rep->element[0];

		if (cur->type == REDIS_REPLY_STRING && cur->len < 24)
			memcpy(r->purge_cursor, cur->str, cur->len + 1);
		c->v[0]->max = (uint32_t)rep->element[1]->integer;
		c->v[0]->err = 0;
	} else if (rep->type == REDIS_REPLY_ARRAY &&
		   rep->elements == c->n + 1) {
		for (i = 0; i < c->n; i++) {
			long long k = rep->element[i]->integer;

			c->v[i]->err = k >= 0 && k < 6 ? code_err[k] : EIO;
		}
		/* what the script found of the room left after it */
		full = rep->element[c->n]->integer != 0;
		for (i = 0; i < c->n; i++)
			c->v[i]->space = full ? SPACE_FULL : SPACE_ROOMY;
	} else {
		set_all(c, EIO, SPACE_UNKNOWN);
	}

	store_commit_stats(r->s, 1, !rep || rep->type == REDIS_REPLY_ERROR,
			   now_us() - c->t0, now_us() - c->t0);
	if (!--c->b->waiting)
		tmr_start(&r->tdone, 0, redis_batches_complete, r);
	mem_deref(c);
}

/* A group: the writes of one session, token or user in this turn. */
struct group {
	struct le he; /* in the hash, by key */
	struct le le; /* in first-seen order */
	char cls;     /* 's' session, 't' token, 'a' HA1, 'p' purge */
	struct store_req *first;
	struct list reqs; /* struct gle */
	size_t n;
};

struct gle {
	struct le le;
	struct store_req *req;
};

static char req_class(enum store_kind k)
{
	switch (k) {
	case SK_TOKEN_PUT:
	case SK_TOKEN_DEL:
		return 't';
	case SK_HA1_PUT:
	case SK_HA1_DEL:
		return 'a';
	case SK_TOKEN_PURGE:
		return 'p';
	default:
		return 's';
	}
}

struct gfind {
	char cls;
	const struct store_req *req;
};

static bool group_cmp(struct le *le, void *arg)
{
	const struct group *g = le->data;
	const struct gfind *f = arg;

	/* writes holding another epoch (an acquire answered between
	 * them) go in a group, and a check, of their own */
	return g->cls == f->cls && g->cls != 'p' &&
	       g->first->epoch == f->req->epoch &&
	       g->first->alen == f->req->alen &&
	       !memcmp(g->first->a, f->req->a, f->req->alen);
}

static void group_destructor(void *arg)
{
	struct group *g = arg;

	hash_unlink(&g->he);
	list_unlink(&g->le);
	list_flush(&g->reqs);
}

/* One op's ARGV triple; scratch holds the numbers it needs. */
static void op_args(const struct store_req *q, const char **av, size_t *al,
		    char *scratch)
{
	static const char *const ops[] = {
	    [SK_SESSION_PUT] = "sp",  [SK_SESSION_DEL] = "sd",
	    [SK_TOKEN_PUT] = "tp",    [SK_TOKEN_DEL] = "td",
	    [SK_EVENT_APPEND] = "ea", [SK_EVENT_ACK] = "ek",
	    [SK_HA1_PUT] = "ap",      [SK_HA1_DEL] = "ad",
	    [SK_SUB_PUT] = "bp",      [SK_SUB_DEL] = "bd",
	    [SK_HIST_PUT] = "hp",     [SK_HIST_DEL] = "hd",
	};

	av[0] = ops[q->kind];
	al[0] = 2;
	av[1] = av[2] = "";
	al[1] = al[2] = 0;

	switch (q->kind) {
	case SK_SESSION_PUT:
		av[1] = (char *)q->val;
		al[1] = q->vlen;
		break;
	case SK_TOKEN_PUT:
		/* expiry, [0, until,] user: as the LMDB record */
		put_be64((uint8_t *)scratch, q->n);
		al[1] = 8;
		if (q->n2) {
			scratch[8] = 0;
			put_be64((uint8_t *)scratch + 9, q->n2);
			al[1] = 17;
		}
		av[1] = scratch;
		av[2] = (char *)q->b;
		al[2] = q->blen;
		break;
	case SK_EVENT_APPEND:
		al[1] = re_snprintf(scratch, 48, "%llu-0",
				    (unsigned long long)q->n);
		av[1] = scratch;
		av[2] = (char *)q->val;
		al[2] = q->vlen;
		break;
	case SK_EVENT_ACK:
		/* every entry SEQ-0 with SEQ <= upto is below upto-1 */
		al[1] = re_snprintf(scratch, 48, "%llu-1",
				    (unsigned long long)q->n);
		av[1] = scratch;
		break;
	case SK_HA1_PUT:
	case SK_SUB_PUT:
	case SK_HIST_PUT:
		av[1] = (char *)q->b;
		al[1] = q->blen;
		av[2] = (char *)q->val;
		al[2] = q->vlen;
		break;
	case SK_HA1_DEL:
	case SK_SUB_DEL:
	case SK_HIST_DEL:
		av[1] = (char *)q->b;
		al[1] = q->blen;
		break;
	default:
		break;
	}
}

static int send_purge(struct redis *r, struct rcmd *c)
{
	char max[16], now[8];
	const char *av[] = {
	    "EVALSHA", r->sha[RS_PURGE], "0", r->purge_cursor, max, now};
	size_t al[6];
	size_t i;

	re_snprintf(max, sizeof(max), "%u", c->v[0]->max);
	put_be64((uint8_t *)now, c->v[0]->n);
	for (i = 0; i < 5; i++)
		al[i] = strlen(av[i]);
	al[5] = 8;
	return redis_command(r, write_h, c, 6, av, al);
}

/* Send one group as one EVAL. */
static int send_group(struct redis *r, struct group *g, struct rcmd *c)
{
	static const char *const sfx[] = {":s", ":ev", ":sub", ":hist", ":o"};
	size_t nk = g->cls == 's' ? 5 : 1, argc = 5 + nk + 3 * g->n, i;
	char vmax[16], epoch[24];
	const char **av;
	size_t *al;
	char *keys, *scratch;
	struct le *le;
	int err = ENOMEM;

	av = mem_alloc(argc * sizeof(*av), NULL);
	al = mem_alloc(argc * sizeof(*al), NULL);
	keys = mem_alloc(nk * REDIS_KEY_MAX, NULL);
	scratch = mem_alloc(g->n * 48, NULL);
	if (!av || !al || !keys || !scratch)
		goto out;

	av[0] = "EVALSHA";
	av[1] = r->sha[RS_WRITE];
	av[2] = g->cls == 's' ? "5" : "1";
	for (i = 0; i < 3; i++)
		al[i] = strlen(av[i]);
	for (i = 0; i < nk; i++) {
		char *k = keys + i * REDIS_KEY_MAX;

		al[3 + i] = redis_key(k, REDIS_KEY_MAX,
				      g->cls == 't'   ? "tok"
				      : g->cls == 'a' ? "ha1"
						      : NULL,
				      g->first->a, g->first->alen,
				      g->cls == 's' ? sfx[i] : "");
		av[3 + i] = k;
	}
	i = 0;
	for (le = g->reqs.head; le; le = le->next, i++) {
		struct gle *e = le->data;

		c->v[i] = e->req;
		op_args(e->req, av + 3 + nk + 3 * i, al + 3 + nk + 3 * i,
			scratch + 48 * i);
	}
	/* the epoch of the group's first write: a turn's writes of one
	 * session from one handle hold the same, short of an acquire
	 * answered between two of them */
	re_snprintf(epoch, sizeof(epoch), "%llu",
		    (unsigned long long)(g->cls == 's' ? g->first->epoch : 0));
	av[argc - 2] = epoch;
	al[argc - 2] = strlen(epoch);
	/* the size the script checks the room left against */
	re_snprintf(vmax, sizeof(vmax), "%u", (unsigned)STORE_VALUE_MAX);
	av[argc - 1] = vmax;
	al[argc - 1] = strlen(vmax);
	err = redis_command(r, write_h, c, (int)argc, av, al);

out:
	mem_deref(av);
	mem_deref(al);
	mem_deref(keys);
	mem_deref(scratch);
	return err;
}

static void rcmd_destructor(void *arg)
{
	struct rcmd *c = arg;

	mem_deref(c->v);
}

/* Sends one group; on a refusal (no connection) its writes fail now. */
static void group_send(struct redis *r, struct rbatch *b, struct group *g)
{
	struct rcmd *c;
	int err = ENOMEM;

	c = mem_zalloc(sizeof(*c), rcmd_destructor);
	if (c)
		c->v = mem_zalloc(g->n * sizeof(*c->v), NULL);
	if (!c || !c->v) {
		struct le *le;

		for (le = g->reqs.head; le; le = le->next)
			((struct gle *)le->data)->req->err = err;
		mem_deref(c);
		return;
	}
	c->b = b;
	c->n = g->n;
	c->t0 = now_us();
	c->v[0] = g->first;
	err = g->cls == 'p' ? send_purge(r, c) : send_group(r, g, c);
	if (err) {
		struct le *le;

		for (le = g->reqs.head; le; le = le->next)
			((struct gle *)le->data)->req->err = err;
		mem_deref(c);
		return;
	}
	++b->waiting;
}

static int groups_build(struct rbatch *b, struct hash *h, struct list *order)
{
	struct le *le;

	for (le = b->reqs.head; le; le = le->next) {
		struct store_req *q = le->data;
		struct gfind f = {req_class(q->kind), q};
		struct group *g = NULL;
		struct gle *e;
		struct le *he;

		he = hash_lookup(h, hash_joaat(q->a, q->alen), group_cmp, &f);
		if (he) {
			g = he->data;
		} else {
			g = mem_zalloc(sizeof(*g), group_destructor);
			if (!g)
				return ENOMEM;
			g->cls = f.cls;
			g->first = q;
			hash_append(h, hash_joaat(q->a, q->alen), &g->he, g);
			list_append(order, &g->le, g);
		}
		e = mem_zalloc(sizeof(*e), NULL);
		if (!e)
			return ENOMEM;
		e->req = q;
		list_append(&g->reqs, &e->le, e);
		++g->n;
	}
	return 0;
}

static void gle_flush(struct list *order)
{
	struct le *le;

	/* group_destructor unlinks from order and the hash */
	while ((le = list_head(order)))
		mem_deref(le->data);
}

void redis_submit(void *bed, struct list *batch)
{
	struct redis *r = bed;
	struct rbatch *b;
	struct list order = LIST_INIT;
	struct hash *h = NULL;
	struct le *le;
	int err;

	b = mem_zalloc(sizeof(*b), rbatch_destructor);
	if (!b)
		return; /* the front keeps the list: failed with the store */
	while ((le = list_head(batch))) {
		list_unlink(le);
		list_append(&b->reqs, le, le->data);
	}
	list_append(&r->batches, &b->le, b);

	err = hash_alloc(&h, 256);
	if (!err)
		err = groups_build(b, h, &order);
	for (le = order.head; !err && le; le = le->next)
		group_send(r, b, le->data);
	if (err) {
		for (le = b->reqs.head; le; le = le->next)
			((struct store_req *)le->data)->err = err;
	}
	gle_flush(&order);
	mem_deref(h);
	/* the turn completes once replicated too (redis_wait_replicas) */
	if (b->waiting && r->wait_replicas)
		redis_wait_send(r, b);

	/* nothing sent (no connection): fail from the loop, in order */
	if (!b->waiting && !r->closing)
		tmr_start(&r->tdone, 0, redis_batches_complete, r);
}
