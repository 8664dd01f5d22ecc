/**
 * @file redis.c  Store backend on Redis: the connection on the libre loop
 *
 * One hiredis asynchronous context; a small adapter puts its socket on
 * the libre loop (fd_listen for read and write readiness as hiredis asks),
 * so no thread is needed and nothing blocks the loop after start-up.
 * Commands are pipelined on the one connection, so replies, and with them
 * completions, come in issue order.
 *
 * Opening checks once, blocking (start-up, before traffic), that Redis
 * answers with the password and database given; a start against an
 * unreachable Redis fails loudly instead of loading no sessions. A lost
 * connection fails the commands in flight (ECONNRESET: the write may or
 * may not have been applied) and those issued while it is away
 * (ENOTCONN), and is made again after 100 ms, doubling up to 5 s.
 *
 * With Sentinels (redis_sentinels), every connection starts by asking
 * them, one at a time on the loop, for the primary's address, and checks
 * with ROLE that it is the primary; a lost connection, or a READONLY,
 * LOADING or MASTERDOWN answer (a demoted or restarting server), asks
 * again, every 100 ms doubling up to 0.5 s. With redis_wait_replicas,
 * a turn's writes complete only once WAIT says that many replicas have
 * them; fewer in time fail them (ETIMEDOUT).
 */
#include <ctype.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/socket.h>
#include "core.h"
#include "redis_int.h"

static int redis_open(struct store **sp, const struct store_conf *c);

extern const char redis_script_write[], redis_script_purge[],
    redis_script_load[], redis_script_lease[], redis_script_owner[];
const char *const redis_scripts[RS_COUNT] = {
    redis_script_write, redis_script_purge, redis_script_load,
    redis_script_lease, redis_script_owner,
};

const struct store_be store_redis_be = {
    .name = "redis",
    .open = redis_open,
    .full_hint = "raise maxmemory of the Redis server or free memory there",
    .submit = redis_submit,
    .read = redis_read,
    .lease = redis_lease,
    .bell = redis_bell,
};

size_t redis_key(char *buf, size_t size, const char *kind, const uint8_t *a,
		 size_t alen, const char *suffix)
{
	size_t n = 0, kl = kind ? strlen(kind) : 0, sl = strlen(suffix);

	/* session keys: mob:{SID}:s; others: mob:tok:{HASH} */
	if (size < 8 + kl + alen + sl)
		return 0;
	memcpy(buf, "mob:", 4);
	n = 4;
	if (kind) {
		memcpy(buf + n, kind, kl);
		n += kl;
		buf[n++] = ':';
	}
	buf[n++] = '{';
	memcpy(buf + n, a, alen);
	n += alen;
	buf[n++] = '}';
	memcpy(buf + n, suffix, sl);
	n += sl;
	buf[n] = 0;
	return n;
}

/* The adapter: hiredis says what it waits for, libre tells it. */

bool redis_sock_broken(int fd)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	char c;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr)
		return true;
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void link_fd_h(int flags, void *arg)
{
	struct rlink *l = arg;

	/* a read may end the context (and the backend): keep l */
	mem_ref(l);
	/* an error or hang-up (FD_EXCEPT, reported whatever was asked
	 * for): a read finds it, and hiredis ends the context */
	if ((flags & (FD_READ | FD_EXCEPT)) && l->ac)
		redisAsyncHandleRead(l->ac);
	if ((flags & FD_WRITE) && l->ac)
		redisAsyncHandleWrite(l->ac);
	/* one the read did not end (it would come again at once, for
	 * ever): end it here; its commands fail and the cleanup connects
	 * again with the back-off */
	if ((flags & FD_EXCEPT) && l->ac && redis_sock_broken(l->fd))
		redisAsyncFree(l->ac);
	mem_deref(l);
}

static void link_listen(struct rlink *l, int add, int del)
{
	int f = (l->flags | add) & ~del;

	if (f == l->flags)
		return;
	l->flags = f;
	if (f)
		(void)fd_listen(l->fd, f, link_fd_h, l);
	else
		fd_close(l->fd);
}

static void ev_add_read(void *p)
{
	link_listen(p, FD_READ, 0);
}

static void ev_del_read(void *p)
{
	link_listen(p, 0, FD_READ);
}

static void ev_add_write(void *p)
{
	link_listen(p, FD_WRITE, 0);
}

static void ev_del_write(void *p)
{
	link_listen(p, 0, FD_WRITE);
}

static void reconn_h(void *arg);
static void ask_next_h(void *arg);

/* The next try after a back-off that doubles; with Sentinels it stays
 * short: asking them costs little and a switch takes seconds. */
static void reconn_later(struct redis *r)
{
	uint32_t max =
	    r->sent_n ? REDIS_SENTINEL_BACKOFF_MAX_MS : REDIS_BACKOFF_MAX_MS;

	tmr_start(&r->reconn, r->backoff_ms, reconn_h, r);
	r->backoff_ms = MIN(r->backoff_ms * 2, max);
}

/* hiredis frees the context: after a loss, or when we close. Every
 * command's callback has run (with no reply) by now. */
static void ev_cleanup(void *p)
{
	struct rlink *l = p;
	struct redis *r = l->r;

	link_listen(l, 0, FD_READ | FD_WRITE);
	l->ac = NULL;
	if (r && l->sentinel && r->ask == l) {
		r->ask = NULL;
		tmr_cancel(&r->ask_tmr);
		if (!r->closing)
			tmr_start(&r->reconn, 0, ask_next_h, r);
		mem_deref(l); /* the backend's reference */
	} else if (r && r->link == l) {
		r->link = NULL;
		if (!r->closing) {
			if (r->was_up)
				log_error(
				    "store: redis %s:%d: connection lost, "
				    "reconnecting",
				    r->host, r->port);
			r->was_up = false;
			reconn_later(r);
		}
		mem_deref(l); /* the backend's reference */
	}
	mem_deref(l); /* hiredis's reference */
}

void redis_reply_done(struct rlink *l)
{
	if (l->r && l->r->pending)
		--l->r->pending;
}

/* The first reply on a connection (AUTH, SELECT, PING): an error ends
 * the connection, which is then made again. */
static void hello_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	redisReply *rep = reply;
	bool last = priv != NULL;

	redis_reply_done(l);
	if (!l->r || !rep)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("store: redis %s:%d: %s", l->r->host, l->r->port,
			  rep->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (last) {
		if (!l->r->was_up)
			log_notice("store: redis %s:%d: connected", l->r->host,
				   l->r->port);
		l->r->was_up = true;
		l->r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	}
}

/* With Sentinels: the server they named must be the primary now (a
 * Sentinel may not know of a switch yet); else ask again. */
static void role_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	redisReply *rep = reply;
	const redisReply *e;

	(void)priv;
	redis_reply_done(l);
	if (!l->r || !rep)
		return;
	e = rep->type == REDIS_REPLY_ARRAY && rep->elements ? rep->element[0]
							    : NULL;
	if (e && e->type == REDIS_REPLY_STRING && !strcmp(e->str, "master"))
		return;
	log_warn("store: redis %s:%d is not the primary (ROLE %s): asking "
		 "the Sentinels again",
		 l->r->host, l->r->port,
		 e && e->type == REDIS_REPLY_STRING ? e->str : "?");
	redisAsyncDisconnect(ac);
}

void redis_reply_error(struct redis *r, const char *msg)
{
	redisAsyncContext *ac = r && r->link ? r->link->ac : NULL;

	/* a demoted primary, or one loading its data: find the primary */
	if (!r || !r->sent_n || !ac || (ac->c.flags & REDIS_DISCONNECTING))
		return;
	if (strncmp(msg, "READONLY", 8) && strncmp(msg, "LOADING", 7) &&
	    strncmp(msg, "MASTERDOWN", 10))
		return;
	log_warn("store: redis %s:%d: %.10s: asking the Sentinels for the "
		 "primary",
		 r->host, r->port, msg);
	redisAsyncDisconnect(ac);
}

bool redis_reply_open(struct rlink *l, struct store_req *r,
		      const redisReply *rep, struct store **sp, int *errp)
{
	redis_reply_done(l);
	*sp = NULL;
	*errp = 0;
	if (!l->r)
		return false; /* the backend is gone */
	/* the front's reference while calling out (store_req_live) */
	*sp = mem_ref(r->s);
	if (!store_req_live(r))
		return false;
	if (!rep) {
		*errp = ECONNRESET;
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_warn("store: redis: %s", rep->str);
		redis_reply_error(l->r, rep->str);
		*errp = EIO;
	}
	return true;
}

int redis_wait_err(struct redis *r, const redisReply *rep)
{
	int err = 0;

	if (!rep)
		err = ECONNRESET;
	else if (rep->type != REDIS_REPLY_INTEGER ||
		 rep->integer < (long long)r->wait_replicas)
		err = ETIMEDOUT;
	if (err)
		log_warn("store: redis %s:%d: writes reached %lld of %u "
			 "replicas: failed",
			 r->host, r->port,
			 rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer
								 : 0LL,
			 r->wait_replicas);
	return err;
}

int redis_wait_command(struct redis *r, redisCallbackFn *fn, void *priv)
{
	char n[8], ms[16];
	const char *argv[] = {"WAIT", n, ms};

	re_snprintf(n, sizeof(n), "%u", r->wait_replicas);
	re_snprintf(ms, sizeof(ms), "%u", r->wait_ms);
	return redis_command(r, fn, priv, 3, argv, NULL);
}

/* WAIT's answer: the replicas that have every write sent before it. */
static void wait_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct redis *r = l->r;
	struct rbatch *b = priv;
	struct le *le;
	int err;

	redis_reply_done(l);
	if (!r)
		return; /* the backend, and its batches, are gone */
	err = redis_wait_err(r, reply);
	if (err) {
		for (le = b->reqs.head; le; le = le->next) {
			struct store_req *q = le->data;

			if (!q->err)
				q->err = err;
		}
	}
	if (!--b->waiting)
		tmr_start(&r->tdone, 0, redis_batches_complete, r);
}

void redis_wait_send(struct redis *r, struct rbatch *b)
{
	/* no connection: the scripts got their ECONNRESET already */
	if (!redis_wait_command(r, wait_h, b))
		++b->waiting;
}

int redis_command(struct redis *r, redisCallbackFn *fn, void *priv, int argc,
		  const char **argv, const size_t *argvlen)
{
	if (!r->link || !r->link->ac)
		return ENOTCONN;
	if (redisAsyncCommandArgv(r->link->ac, fn, priv, argc, argv, argvlen) !=
	    REDIS_OK)
		return EIO;
	++r->pending;
	return 0;
}

/* The commands every connection starts with, ahead of any other. */
static int link_hello(struct redis *r)
{
	char db[16];
	const char *argv[3];
	int err = 0, i;

	if (r->password) {
		argv[0] = "AUTH";
		argv[1] = r->password;
		err = redis_command(r, hello_h, NULL, 2, argv, NULL);
	}
	if (!err && r->db) {
		re_snprintf(db, sizeof(db), "%u", r->db);
		argv[0] = "SELECT";
		argv[1] = db;
		err = redis_command(r, hello_h, NULL, 2, argv, NULL);
	}
	/* the same text gives the same SHA1 (taken at open) */
	for (i = 0; !err && i < RS_COUNT; i++) {
		argv[0] = "SCRIPT";
		argv[1] = "LOAD";
		argv[2] = redis_scripts[i];
		err = redis_command(r, hello_h, NULL, 3, argv, NULL);
	}
	argv[0] = "ROLE";
	if (!err && r->sent_n)
		err = redis_command(r, role_h, NULL, 1, argv, NULL);
	argv[0] = "PING";
	if (!err)
		err = redis_command(r, hello_h, r, 1, argv, NULL);
	return err;
}

/* A connection on the loop to host:port; the backend's reference. */
static int link_new(struct rlink **lp, struct redis *r, const char *host,
		    int port)
{
	redisAsyncContext *ac;
	struct rlink *l;

	ac = redisAsyncConnect(host, port);
	if (!ac)
		return ENOMEM;
	if (ac->err) {
		log_error("store: redis %s:%d: %s", host, port, ac->errstr);
		redisAsyncFree(ac);
		return ECONNREFUSED;
	}

	l = mem_zalloc(sizeof(*l), NULL);
	if (!l) {
		redisAsyncFree(ac);
		return ENOMEM;
	}
	l->r = r;
	l->ac = ac;
	l->fd = ac->c.fd;
	ac->data = l;
	ac->ev.data = mem_ref(l); /* dropped by ev_cleanup */
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	*lp = l;

	/* the connect completes when the socket turns writable */
	link_listen(l, FD_WRITE, 0);
	return 0;
}

/* Connect to the primary and send the hello. Whatever fails, the
 * back-off tries again: a link whose hello could not be queued is ended
 * (its cleanup starts the back-off), never kept unauthenticated. */
static int link_connect(struct redis *r)
{
	int err = link_new(&r->link, r, r->host, r->port);

	if (!err)
		err = link_hello(r);
	if (err && r->link && r->link->ac)
		redisAsyncFree(r->link->ac);
	else if (err)
		reconn_later(r);
	return err;
}

/* A Sentinel's answer: the primary's address, or nil (no such name). */
static void ask_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *l = ac->data;
	struct redis *r = l->r;
	redisReply *rep = reply;
	const redisReply *h, *p;

	if (!r || !rep)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_warn("store: redis sentinel %s:%d: %s",
			 r->sent[r->sent_i].host, r->sent[r->sent_i].port,
			 rep->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (!priv)
		return; /* AUTH's answer */
	h = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2
		? rep->element[0]
		: NULL;
	p = h ? rep->element[1] : NULL;
	if (h && h->type == REDIS_REPLY_STRING && h->len < sizeof(r->host) &&
	    p->type == REDIS_REPLY_STRING && atoi(p->str) > 0) {
		if (strcmp(r->host, h->str) || r->port != atoi(p->str))
			log_notice("store: redis sentinel %s:%d: the primary "
				   "%s is %s:%s",
				   r->sent[r->sent_i].host,
				   r->sent[r->sent_i].port, r->master_name,
				   h->str, p->str);
		memcpy(r->host, h->str, h->len + 1);
		r->port = atoi(p->str);
		r->ask_found = true;
	} else {
		log_warn("store: redis sentinel %s:%d does not know the "
			 "primary %s",
			 r->sent[r->sent_i].host, r->sent[r->sent_i].port,
			 r->master_name);
	}
	/* the cleanup goes on: to the primary, or the next Sentinel */
	redisAsyncDisconnect(ac);
}

static void ask_timeout_h(void *arg)
{
	struct redis *r = arg;

	if (r->ask && r->ask->ac)
		redisAsyncDisconnect(r->ask->ac);
}

/* Ask Sentinel sent_i for the primary; the link's end goes on. */
static void ask_one(struct redis *r)
{
	const char *argv[3];
	struct rlink *l = NULL;
	int err;

	r->ask_found = false;
	err = link_new(&l, r, r->sent[r->sent_i].host, r->sent[r->sent_i].port);
	if (err) {
		tmr_start(&r->reconn, 0, ask_next_h, r);
		return;
	}
	l->sentinel = true;
	r->ask = l;
	if (r->sent_password) {
		argv[0] = "AUTH";
		argv[1] = r->sent_password;
		(void)redisAsyncCommandArgv(l->ac, ask_h, NULL, 2, argv, NULL);
	}
	argv[0] = "SENTINEL";
	argv[1] = "get-master-addr-by-name";
	argv[2] = r->master_name;
	(void)redisAsyncCommandArgv(l->ac, ask_h, r, 3, argv, NULL);
	tmr_start(&r->ask_tmr, REDIS_ASK_TIMEOUT_MS, ask_timeout_h, r);
}

/* A Sentinel's link ended: connect where it said, or ask the next. */
static void ask_next_h(void *arg)
{
	struct redis *r = arg;

	if (r->ask_found) {
		r->ask_found = false;
		(void)link_connect(r);
	} else if (++r->sent_i < r->sent_n) {
		ask_one(r);
	} else {
		log_warn("store: redis: no Sentinel named the primary %s",
			 r->master_name);
		reconn_later(r);
	}
}

static void reconn_h(void *arg)
{
	struct redis *r = arg;

	if (r->sent_n) {
		r->sent_i = 0;
		ask_one(r);
	} else {
		(void)link_connect(r);
	}
}

static bool wait_fd(int fd, short ev, uint64_t end)
{
	struct pollfd p = {.fd = fd, .events = ev};
	uint64_t now = tmr_jiffies();

	if (now >= end)
		return false;
	return poll(&p, 1, (int)MIN(end - now, 100)) >= 0;
}

/* Closing: hand over what hiredis still buffers and wait (bounded) for
 * the replies, so that writes issued before the store was dropped are
 * applied before its destructor returns. Blocking, as LMDB's join of its
 * worker: only at the end. Replies are taken past hiredis's callbacks,
 * which then run with none and find the backend gone. */
static void link_drain(struct redis *r, redisContext *c)
{
	uint64_t end = tmr_jiffies() + REDIS_DRAIN_MS;
	int done = 0, soerr = 0;
	socklen_t sl = sizeof(soerr);
	void *rep;

	/* a connect still under way: wait for it (writable), then see */
	if (!(c->flags & REDIS_CONNECTED)) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};

		while (!poll(&p, 1, 100) && tmr_jiffies() < end)
			;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) ||
		    soerr)
			return;
	}

	while (!done && !(c->flags & REDIS_DISCONNECTING)) {
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return;
		if (!done && !wait_fd(c->fd, POLLOUT, end))
			return;
	}
	while (r->pending) {
		rep = NULL;
		if (redisReaderGetReply(c->reader, &rep) != REDIS_OK)
			return;
		if (rep) {
			freeReplyObject(rep);
			--r->pending;
			continue;
		}
		if (!wait_fd(c->fd, POLLIN, end) ||
		    redisBufferRead(c) != REDIS_OK)
			return;
	}
}

static void destructor(void *arg)
{
	struct redis *r = arg;
	struct rlink *l = r->link;

	r->closing = true;
	redis_bell_close(r);
	tmr_cancel(&r->reconn);
	tmr_cancel(&r->tdone);
	tmr_cancel(&r->ask_tmr);
	if (r->ask) {
		struct rlink *a = r->ask;

		a->r = NULL;
		r->ask = NULL;
		if (a->ac)
			redisAsyncFree(a->ac);
		mem_deref(a);
	}
	if (l && l->ac) {
		redisAsyncContext *ac = l->ac;

		if (!ac->err && ac->c.fd >= 0)
			link_drain(r, &ac->c);
		l->r = NULL;
		r->link = NULL;
		redisAsyncFree(ac);
		mem_deref(l);
	}
	list_flush(&r->batches);
	mem_deref(r->password);
	mem_deref(r->master_name);
	mem_deref(r->sent_password);
}

int store_redis_address_parse(const char *addr, char *host, size_t hsize,
			      int *port)
{
	const char *colon, *h;
	size_t hl, i;
	unsigned long p = 0;

	if (!addr || !*addr)
		addr = "127.0.0.1:6379";
	colon = strrchr(addr, ':');
	if (!host || !port || !colon || !colon[1] || strlen(colon + 1) > 5)
		return EINVAL;
	for (i = 1; colon[i]; i++) {
		if (colon[i] < '0' || colon[i] > '9')
			return EINVAL;
		p = p * 10 + (unsigned long)(colon[i] - '0');
	}
	h = addr;
	hl = (size_t)(colon - addr);
	/* [v6]: the brackets go; a bare name: letters, digits, . - */
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		++h;
		hl -= 2;
		for (i = 0; i < hl; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h[i]))
				return EINVAL;
	} else {
		for (i = 0; i < hl; i++)
			if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
			    h[i] != '-')
				return EINVAL;
	}
	if (!hl || hl >= hsize || !p || p > 65535)
		return EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (int)p;
	return 0;
}

/* Start-up: does Redis answer, with this password and database? And the
 * SHA1 of each script. */
static int open_check(struct redis *r)
{
	struct timeval tv = {REDIS_OPEN_TIMEOUT_MS / 1000,
			     (REDIS_OPEN_TIMEOUT_MS % 1000) * 1000};
	redisContext *c;
	redisReply *rep = NULL;
	int err = 0, i;

	c = redisConnectWithTimeout(r->host, r->port, tv);
	if (!c || c->err) {
		log_error("store: redis %s:%d: %s", r->host, r->port,
			  c ? c->errstr : "out of memory");
		err = ECONNREFUSED;
		goto out;
	}
	(void)redisSetTimeout(c, tv);
	if (r->password)
		rep = redisCommand(c, "AUTH %s", r->password);
	if (!r->password || (rep && rep->type != REDIS_REPLY_ERROR)) {
		freeReplyObject(rep);
		rep = redisCommand(c, "SELECT %u", r->db);
	}
	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		log_error("store: redis %s:%d: %s", r->host, r->port,
			  rep ? rep->str : c->errstr);
		err = rep ? EACCES : ETIMEDOUT;
		goto out;
	}
	for (i = 0; i < RS_COUNT; i++) {
		freeReplyObject(rep);
		rep = redisCommand(c, "SCRIPT LOAD %s", redis_scripts[i]);
		if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			log_error("store: redis %s:%d: SCRIPT LOAD: %s",
				  r->host, r->port,
				  rep && rep->type == REDIS_REPLY_ERROR
				      ? rep->str
				      : "no SHA1 (Redis 7 or later needed)");
			err = EPROTO;
			goto out;
		}
		memcpy(r->sha[i], rep->str, 41);
	}

out:
	freeReplyObject(rep);
	if (c)
		redisFree(c);
	return err;
}

/* The Sentinels' list: host:port items split by commas or spaces. */
static int sentinels_parse(struct redis *r, const char *list)
{
	char item[STORE_REDIS_ADDRESS_MAX + 1];
	size_t n;

	while (*list) {
		list += strspn(list, ", \t");
		n = strcspn(list, ", \t");
		if (!n)
			break;
		if (n >= sizeof(item) || r->sent_n >= STORE_SENTINELS_MAX)
			return EINVAL;
		memcpy(item, list, n);
		item[n] = 0;
		if (store_redis_address_parse(item, r->sent[r->sent_n].host,
					      sizeof(r->sent[0].host),
					      &r->sent[r->sent_n].port))
			return EINVAL;
		++r->sent_n;
		list += n;
	}
	return 0;
}

/* Start-up, blocking as open_check: the first Sentinel that names the
 * primary gives host:port. */
static int open_ask(struct redis *r)
{
	struct timeval tv = {0, REDIS_ASK_TIMEOUT_MS * 1000};
	redisContext *c;
	redisReply *rep;
	unsigned i;
	int err = ECONNREFUSED;

	for (i = 0; err && i < r->sent_n; i++) {
		c = redisConnectWithTimeout(r->sent[i].host, r->sent[i].port,
					    tv);
		rep = NULL;
		if (c && !c->err) {
			(void)redisSetTimeout(c, tv);
			if (r->sent_password)
				freeReplyObject(redisCommand(c, "AUTH %s",
							     r->sent_password));
			rep = redisCommand(
			    c, "SENTINEL get-master-addr-by-name %s",
			    r->master_name);
		}
		if (rep && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[0]->len < sizeof(r->host) &&
		    rep->element[1]->type == REDIS_REPLY_STRING &&
		    atoi(rep->element[1]->str) > 0) {
			memcpy(r->host, rep->element[0]->str,
			       rep->element[0]->len + 1);
			r->port = atoi(rep->element[1]->str);
			err = 0;
		} else {
			log_warn(
			    "store: redis sentinel %s:%d: no primary %s "
			    "(%s)",
			    r->sent[i].host, r->sent[i].port, r->master_name,
			    rep && rep->type == REDIS_REPLY_ERROR ? rep->str
			    : c && c->err                         ? c->errstr
								  : "unknown");
		}
		freeReplyObject(rep);
		if (c)
			redisFree(c);
	}
	return err;
}

/* The Sentinels' settings; none: r->sent_n stays 0. */
static int sentinel_conf(struct redis *r, const struct store_conf *c)
{
	int err;

	if (!c->redis_sentinels || !*c->redis_sentinels)
		return 0;
	if (!c->redis_master_name || !*c->redis_master_name)
		return EINVAL;
	err = sentinels_parse(r, c->redis_sentinels);
	if (!err && !r->sent_n)
		err = EINVAL;
	if (!err)
		err = str_dup(&r->master_name, c->redis_master_name);
	if (!err && c->redis_sentinel_password && *c->redis_sentinel_password)
		err = str_dup(&r->sent_password, c->redis_sentinel_password);
	if (!err)
		err = open_ask(r);
	return err;
}

static int redis_open(struct store **sp, const struct store_conf *c)
{
	struct store *s = NULL;
	struct redis *r;
	int err;

	err = store_alloc(&s, &store_redis_be);
	if (err)
		return err;

	r = mem_zalloc(sizeof(*r), destructor);
	if (!r) {
		err = ENOMEM;
		goto out;
	}
	r->s = s;
	r->db = c->redis_db;
	r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	strcpy(r->purge_cursor, "0");
	tmr_init(&r->reconn);
	tmr_init(&r->tdone);
	tmr_init(&r->ask_tmr);
	r->wait_replicas = c->redis_wait_replicas;
	r->wait_ms = c->redis_wait_ms ? c->redis_wait_ms : 1000;
	store_set_backend(s, r);

	err = store_redis_address_parse(c->redis_address, r->host,
					sizeof(r->host), &r->port);
	if (!err && c->redis_password && *c->redis_password)
		err = str_dup(&r->password, c->redis_password);
	if (!err)
		err = sentinel_conf(r, c);
	if (err)
		goto out;

	err = open_check(r);
	if (!err)
		err = link_connect(r);

out:
	if (err)
		mem_deref(s);
	else
		*sp = s;
	return err;
}
