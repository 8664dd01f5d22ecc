/**
 * @file redis_int.h  Inside the Redis backend: its state, the connection
 *
 * redis.c opens the backend and keeps one hiredis asynchronous connection
 * on the libre loop (fd_listen on the connection's socket; no thread),
 * reconnecting with back-off; redis_write.c turns a loop turn's writes
 * into one Lua script per session (or token, or user), redis_read.c runs
 * reads. Keys: docs/store.md "Redis backend".
 */
#ifndef MOB_STORE_REDIS_INT_H
#define MOB_STORE_REDIS_INT_H

#include <string.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <re.h>
#include "store_int.h"

enum {
	REDIS_BACKOFF_MIN_MS = 100,   /* first reconnect after a loss      */
	REDIS_BACKOFF_MAX_MS = 5000,  /* doubling up to this              */
	REDIS_OPEN_TIMEOUT_MS = 3000, /* the start-up check               */
	REDIS_DRAIN_MS = 5000,        /* closing: wait for replies, at most */
	REDIS_LOAD_STEP = 500,        /* session load: keys per SCAN step  */
	REDIS_SENTINEL_BACKOFF_MAX_MS = 500, /* with Sentinels: ask often  */
	REDIS_ASK_TIMEOUT_MS = 500,          /* a Sentinel's answer        */
};

struct redis;
struct rbell;

/* The scripts, loaded on every connection (SCRIPT LOAD ahead of any other
 * command) and run by their SHA1 (EVALSHA): a loop turn of many sessions
 * does not send their text again and again. */
enum redis_script {
	RS_WRITE, /* a group's writes (redis_write.c) */
	RS_PURGE, /* a step of the token sweep        */
	RS_LOAD,  /* a step of the session load (redis_read.c) */
	RS_LEASE, /* leases and owners (redis_lease.c) */
	RS_OWNER, /* who owns a session, where (redis_lease.c) */
	RS_COUNT,
};
extern const char *const redis_scripts[RS_COUNT];

/*
 * One connection. hiredis holds a reference while the context lives (its
 * event hooks point here) and every command holds one, so a connection
 * lost, or a backend dropped inside a hiredis callback, never leaves a
 * dangling pointer: r is NULL once the backend is gone.
 */
struct rlink {
	struct redis *r;       /* NULL once the backend is gone */
	redisAsyncContext *ac; /* NULL once hiredis freed it  */
	int fd;
	int flags;     /* FD_READ / FD_WRITE listened for */
	bool sentinel; /* a Sentinel asked for the primary, not the data */
};

/* The writes of one loop turn, completed together in issue order once
 * every script of the turn has answered. */
struct rbatch {
	struct le le;
	struct list reqs; /* struct store_req, issue order */
	uint32_t waiting; /* scripts not yet answered      */
};

struct redis {
	struct store *s; /* borrowed: the front owns us */
	char host[256];
	int port;
	char *password; /* or NULL */
	unsigned db;
	struct rlink *link; /* the connection, or NULL while away */
	struct tmr reconn;
	uint32_t backoff_ms;
	struct list batches;    /* struct rbatch, issue order */
	struct tmr tdone;       /* completions run from the loop, not hiredis */
	uint32_t pending;       /* commands without their reply yet */
	char purge_cursor[24];  /* the token sweep's SCAN cursor */
	char sha[RS_COUNT][41]; /* SHA1 of each script, from SCRIPT LOAD */
	bool closing;
	bool was_up;        /* log a loss once, and the way back */
	struct rbell *bell; /* the doorbell's connection, or NULL */

	/* Sentinels (none: sent_n 0, host:port is the primary): asked in
	 * turn for the primary on every (re)connection, one at a time */
	struct {
		char host[256];
		int port;
	} sent[STORE_SENTINELS_MAX];
	unsigned sent_n, sent_i;
	char *master_name;      /* the Sentinels' name of the primary */
	char *sent_password;    /* or NULL */
	struct rlink *ask;      /* the Sentinel being asked, or NULL */
	struct tmr ask_tmr;     /* its answer's deadline */
	bool ask_found;         /* it named the primary: host, port */
	unsigned wait_replicas; /* WAIT after each turn's scripts (0: none) */
	uint32_t wait_ms;
};

/* redis.c */
int redis_command(struct redis *r, redisCallbackFn *fn, void *priv, int argc,
		  const char **argv, const size_t *argvlen);
void redis_reply_done(struct rlink *l);
void redis_reply_error(struct redis *r, const char *msg);

/* An error or a hang-up a connection's socket still holds (FD_EXCEPT
 * that a read did not end): SO_ERROR set, or the end of the stream. */
bool redis_sock_broken(int fd);
void redis_wait_send(struct redis *r, struct rbatch *b);

/* The start of a request's reply (reads, leases): counted; false when
 * there is nothing to do (the backend or the request gone). Else *errp
 * is 0 (decode rep) or the error to fail the request with: ECONNRESET
 * (no reply, the connection lost) or EIO (an error reply: logged, and
 * a READONLY, LOADING or MASTERDOWN one asks the Sentinels again). *sp:
 * the front's reference (or NULL), for the caller to mem_deref. */
bool redis_reply_open(struct rlink *l, struct store_req *r,
		      const redisReply *rep, struct store **sp, int *errp);

/* WAIT (redis_wait_replicas, redis_wait_ms) after the commands sent so
 * far, answered to fn(priv); as redis_command(). */
int redis_wait_command(struct redis *r, redisCallbackFn *fn, void *priv);

/* WAIT's answer (NULL: none): 0 if enough replicas have the writes,
 * else ETIMEDOUT or ECONNRESET, logged. */
int redis_wait_err(struct redis *r, const redisReply *rep);

/* redis_write.c */
void redis_submit(void *bed, struct list *batch);
void redis_batches_complete(void *arg);

/* redis_read.c */
void redis_read(void *bed, struct store_req *r);

/* redis_lease.c */
void redis_lease(void *bed, struct store_req *r);
void redis_owner(struct redis *rd, struct store_req *r);

/* redis_bell.c: the SUBSCRIBE connection, made on the first watch */
int redis_bell(void *bed, const char *sid, bool on);
void redis_bell_close(struct redis *r);

/* Keys: "mob:{" a "}:" suffix (a session's, tagged by its id), and
 * "mob:" kind ":{" a "}" (tokens, HA1). Returns the length written. */
size_t redis_key(char *buf, size_t size, const char *kind, const uint8_t *a,
		 size_t alen, const char *suffix);

enum { REDIS_KEY_MAX = 16 + STORE_USER_MAX + STORE_ID_MAX };

#endif
