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
 */
#include <ctype.h>
#include <poll.h>
#include <sys/socket.h>
#include "core.h"
#include "redis_int.h"

static int redis_open(struct store **sp, const struct store_conf *c);

extern const char redis_script_write[], redis_script_purge[],
    redis_script_load[], redis_script_lease[];
const char *const redis_scripts[RS_COUNT] = {
    redis_script_write,
    redis_script_purge,
    redis_script_load,
    redis_script_lease,
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

static void link_fd_h(int flags, void *arg)
{
	struct rlink *l = arg;

	/* a read may end the context (and the backend): keep l */
	mem_ref(l);
	if ((flags & FD_READ) && l->ac)
		redisAsyncHandleRead(l->ac);
	if ((flags & FD_WRITE) && l->ac)
		redisAsyncHandleWrite(l->ac);
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

/* hiredis frees the context: after a loss, or when we close. Every
 * command's callback has run (with no reply) by now. */
static void ev_cleanup(void *p)
{
	struct rlink *l = p;
	struct redis *r = l->r;

	link_listen(l, 0, FD_READ | FD_WRITE);
	l->ac = NULL;
	if (r && r->link == l) {
		r->link = NULL;
		if (!r->closing) {
			if (r->was_up)
				log_error(
				    "store: redis %s:%d: connection lost, "
				    "reconnecting",
				    r->host, r->port);
			r->was_up = false;
			tmr_start(&r->reconn, r->backoff_ms, reconn_h, r);
			r->backoff_ms = MIN(r->backoff_ms * 2,
					    (uint32_t)REDIS_BACKOFF_MAX_MS);
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
	argv[0] = "PING";
	if (!err)
		err = redis_command(r, hello_h, r, 1, argv, NULL);
	return err;
}

static int link_connect(struct redis *r)
{
	redisAsyncContext *ac;
	struct rlink *l;

	ac = redisAsyncConnect(r->host, r->port);
	if (!ac)
		return ENOMEM;
	if (ac->err) {
		log_error("store: redis %s:%d: %s", r->host, r->port,
			  ac->errstr);
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
	r->link = l;

	/* the connect completes when the socket turns writable */
	link_listen(l, FD_WRITE, 0);
	return link_hello(r);
}

static void reconn_h(void *arg)
{
	struct redis *r = arg;

	if (link_connect(r) && !r->link) {
		tmr_start(&r->reconn, r->backoff_ms, reconn_h, r);
		r->backoff_ms =
		    MIN(r->backoff_ms * 2, (uint32_t)REDIS_BACKOFF_MAX_MS);
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
	store_set_backend(s, r);

	err = store_redis_address_parse(c->redis_address, r->host,
					sizeof(r->host), &r->port);
	if (!err && c->redis_password && *c->redis_password)
		err = str_dup(&r->password, c->redis_password);
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
