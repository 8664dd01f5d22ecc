/**
 * @file redis_bell.c  Redis backend: the doorbell's SUBSCRIBE connection
 *
 * A connection in subscribe mode takes no other command, so the doorbell
 * has a second hiredis asynchronous connection of its own, on the libre
 * loop as the first (redis.c), made at the first watch. One channel per
 * watched session (mob:{SID}:bell): an instance hears only the sessions
 * it has a request parked for. The write script publishes the sequence
 * of the last event it appended. A ring lost (the connection lost, a
 * switch of primary) is made good by the watcher's own timed re-read; on
 * the way back every watched session rings with seq 0 (read the log).
 */
#include <stdlib.h>
#include "core.h"
#include "redis_int.h"

struct rbell {
	struct redis *r; /* borrowed; NULL once the backend is gone */
	redisAsyncContext *ac;
	int fd;
	int flags;
	struct tmr reconn;
	uint32_t backoff_ms;
	bool again; /* made again after a loss: ring on subscribing */
};

static int bell_connect(struct rbell *b);

static void bell_fd_h(int flags, void *arg)
{
	struct rbell *b = arg;

	/* a ring may drop the store, and with it us: hold on */
	mem_ref(b);
	/* an error or hang-up: as the data connection (redis.c) */
	if ((flags & (FD_READ | FD_EXCEPT)) && b->ac)
		redisAsyncHandleRead(b->ac);
	if ((flags & FD_WRITE) && b->ac)
		redisAsyncHandleWrite(b->ac);
	if ((flags & FD_EXCEPT) && b->ac && redis_sock_broken(b->fd))
		redisAsyncFree(b->ac);
	mem_deref(b);
}

static void bell_listen(struct rbell *b, int add, int del)
{
	int f = (b->flags | add) & ~del;

	if (f == b->flags)
		return;
	b->flags = f;
	if (f)
		(void)fd_listen(b->fd, f, bell_fd_h, b);
	else
		fd_close(b->fd);
}

static void ev_add_read(void *p)
{
	bell_listen(p, FD_READ, 0);
}

static void ev_del_read(void *p)
{
	bell_listen(p, 0, FD_READ);
}

static void ev_add_write(void *p)
{
	bell_listen(p, FD_WRITE, 0);
}

static void ev_del_write(void *p)
{
	bell_listen(p, 0, FD_WRITE);
}

static void reconn_h(void *arg)
{
	struct rbell *b = arg;

	if (b->r && bell_connect(b) && !b->ac) {
		tmr_start(&b->reconn, b->backoff_ms, reconn_h, b);
		b->backoff_ms =
		    MIN(b->backoff_ms * 2, (uint32_t)REDIS_BACKOFF_MAX_MS);
	}
}

/* hiredis frees the context: after a loss, or when we close */
static void ev_cleanup(void *p)
{
	struct rbell *b = p;

	bell_listen(b, 0, FD_READ | FD_WRITE);
	b->ac = NULL;
	if (!b->r)
		return;
	log_warn("store: redis %s:%d: doorbell connection lost", b->r->host,
		 b->r->port);
	b->again = true;
	tmr_start(&b->reconn, b->backoff_ms, reconn_h, b);
	b->backoff_ms = MIN(b->backoff_ms * 2, (uint32_t)REDIS_BACKOFF_MAX_MS);
}

/* Every reply of a channel: ["subscribe", ch, n] or ["message", ch, v].
 * The channel is mob:{SID}:bell. */
static void msg_h(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rbell *b = ac->data;
	const redisReply *rep = reply, *t, *ch;
	char sid[STORE_ID_MAX + 1];
	uint64_t seq = 0;
	size_t n;

	(void)priv;
	if (!b || !b->r || !rep || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 3)
		return;
	t = rep->element[0];
	ch = rep->element[1];
	if (t->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING ||
	    ch->len < 11 || ch->len - 11 > STORE_ID_MAX)
		return;
	n = ch->len - 11; /* mob:{ and }:bell */
	memcpy(sid, ch->str + 5, n);
	sid[n] = 0;
	if (!strcmp(t->str, "message")) {
		if (rep->element[2]->type == REDIS_REPLY_STRING)
			seq = strtoull(rep->element[2]->str, NULL, 10);
		if (seq)
			store_bell_ring(b->r->s, sid, seq);
	} else if (!strcmp(t->str, "subscribe") && b->again) {
		/* rings may have been lost while away: read the log */
		store_bell_ring(b->r->s, sid, 0);
	}
}

static int bell_cmd(struct rbell *b, const char *cmd, const char *sid)
{
	char ch[REDIS_KEY_MAX];
	const char *av[2] = {cmd, ch};
	size_t al[2] = {strlen(cmd), 0};

	if (!b->ac)
		return 0; /* subscribed again on the way back */
	al[1] = redis_key(ch, sizeof(ch), NULL, (const uint8_t *)sid,
			  strlen(sid), ":bell");
	/* UNSUBSCRIBE: hiredis drops the channel's callback on its reply */
	if (redisAsyncCommandArgv(b->ac, *cmd == 'S' ? msg_h : NULL, NULL, 2,
				  av, al) != REDIS_OK)
		return EIO;
	return 0;
}

static void resub(const char *sid, void *arg)
{
	(void)bell_cmd(arg, "SUBSCRIBE", sid);
}

static void auth_h(redisAsyncContext *ac, void *reply, void *priv)
{
	const redisReply *rep = reply;
	struct rbell *b = ac->data;

	(void)priv;
	if (b && b->r && rep && rep->type == REDIS_REPLY_ERROR) {
		log_error("store: redis %s:%d: doorbell: %s", b->r->host,
			  b->r->port, rep->str);
		redisAsyncDisconnect(ac);
	}
}

static int bell_connect(struct rbell *b)
{
	redisAsyncContext *ac;

	ac = redisAsyncConnect(b->r->host, b->r->port);
	if (!ac)
		return ENOMEM;
	if (ac->err) {
		redisAsyncFree(ac);
		return ECONNREFUSED;
	}
	b->ac = ac;
	b->fd = ac->c.fd;
	b->flags = 0;
	ac->data = b;
	ac->ev.data = b;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	bell_listen(b, FD_WRITE, 0);

	if (b->r->password) {
		const char *av[2] = {"AUTH", b->r->password};

		if (redisAsyncCommandArgv(ac, auth_h, NULL, 2, av, NULL) !=
		    REDIS_OK)
			return EIO;
	}
	/* every session watched, again */
	store_bell_each(b->r->s, resub, b);
	b->backoff_ms = REDIS_BACKOFF_MIN_MS;
	return 0;
}

static void destructor(void *arg)
{
	struct rbell *b = arg;

	b->r = NULL;
	tmr_cancel(&b->reconn);
	if (b->ac) {
		redisAsyncContext *ac = b->ac;

		ac->data = NULL;
		redisAsyncFree(ac); /* runs ev_cleanup, which finds r NULL */
	}
}

int redis_bell(void *bed, const char *sid, bool on)
{
	struct redis *r = bed;
	struct rbell *b = r->bell;
	int err;

	if (!b) {
		if (!on)
			return 0;
		b = mem_zalloc(sizeof(*b), destructor);
		if (!b)
			return ENOMEM;
		b->r = r;
		b->backoff_ms = REDIS_BACKOFF_MIN_MS;
		tmr_init(&b->reconn);
		r->bell = b;
		/* subscribes every watched session, this one among them */
		err = bell_connect(b);
		if (err && !b->ac)
			tmr_start(&b->reconn, b->backoff_ms, reconn_h, b);
		return 0;
	}
	return bell_cmd(b, on ? "SUBSCRIBE" : "UNSUBSCRIBE", sid);
}

void redis_bell_close(struct redis *r)
{
	struct rbell *b = r->bell;

	if (!b)
		return;
	b->r = NULL;
	r->bell = NULL;
	mem_deref(b);
}
