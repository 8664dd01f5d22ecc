/**
 * @file auth.h  Token service: POST /WebTicket/oauthtoken and bearer tokens
 *
 * Credentials are checked against the Front End itself (a REGISTER binding
 * query answered with the digest, src/sipua): no password database of our
 * own. On success the realm-bound HA1 is kept (for later digest
 * challenges), never the password; the request body holding it is wiped.
 * Tokens are 256-bit random values, handed out as "cwt=<base64url>", kept
 * only as their SHA-256 and expire after the configured lifetime.
 *
 * Failed sign-ins are throttled per user at a client address and per
 * client address (IPv6 by its /64), so that failures from one place never
 * lock the user out elsewhere; a throttled attempt sends nothing to the
 * Front End.
 */
#ifndef MOB_AUTH_H
#define MOB_AUTH_H

#include "core.h"
#include "web.h"

struct sipua;
struct store;
struct conf;

/** Named limits and defaults. */
enum {
	AUTH_FORM_MAX = 4096,        /* bytes of a token request body      */
	AUTH_USER_MAX = 256,         /* bytes of user@domain               */
	AUTH_PASSWORD_MAX = 256,     /* bytes of a password                */
	AUTH_TOKEN_LIFETIME = 28800, /* s (8 hours, PROTOCOL.md)           */
	AUTH_TOKENS_MAX = 1000000,   /* tokens kept in memory              */
	AUTH_THROTTLE_MAX = 100000,  /* keys tracked, per table            */
	AUTH_USER_FAILS = 5,         /* failures per user+address in the
					window...                          */
	AUTH_ADDR_FAILS = 20,        /* ...and per client address          */
	AUTH_WINDOW = 900,           /* s                                  */
	AUTH_LOCK_BASE = 30,         /* s, first lock; doubles each time   */
	AUTH_LOCK_MAX = 900,         /* s                                  */
	AUTH_PURGE_FIRST = 1,        /* s after start: first purge step    */
	AUTH_PURGE_INTERVAL = 60,    /* s between purge steps              */
	AUTH_PURGE_BATCH = 10000,    /* token records looked at per step   */
};

/*
 * Throttling of failures (throttle.c), exposed for tests.
 */

struct throttle;

/**
 * Allocate a failure throttle: max_fails failures of one key within
 * window_s lock the key for lock_s, doubling with every further failure
 * up to lock_max_s. At most max_keys keys are tracked: a new key takes
 * the place of the least recently failed unlocked one, else of a locked
 * one whose lock has run out; a running lock is never forgotten (the new
 * key is then not tracked).
 */
int throttle_alloc(struct throttle **tp, uint32_t max_fails, uint32_t window_s,
		   uint32_t lock_s, uint32_t lock_max_s, size_t max_keys);
/** Seconds the key must wait before its next attempt (0: go ahead). */
uint32_t throttle_wait(struct throttle *t, const char *key, uint64_t now_s);
/** Count one failure of key. */
void throttle_fail(struct throttle *t, const char *key, uint64_t now_s);
/** Take back one counted failure (an attempt that turned out good). */
void throttle_undo(struct throttle *t, const char *key);
/** Forget key (a good sign-in of a user). */
void throttle_clear(struct throttle *t, const char *key);
/** Keys tracked now. */
size_t throttle_count(const struct throttle *t);
/**
 * The throttle key of a client address: an IPv4 address (also one mapped
 * into IPv6) or a link-local IPv6 address as it is, any other IPv6
 * address by its /64 ("2001:db8:1:2::/64").
 *
 * @return 0, EINVAL, EOVERFLOW (buf too small; 48 bytes are enough)
 */
int throttle_addr_key(char *buf, size_t size, const struct sa *addr);

/*
 * Tokens (token.c)
 */

enum {
	AUTH_TOKEN_BYTES = 32,      /* 256 random bits */
	AUTH_TOKEN_STRLEN = 4 + 43, /* "cwt=" + unpadded base64url of 32 B */
	AUTH_HASH_BYTES = 32,       /* SHA-256 */
};

/** Make a new random token string (NUL-terminated). */
int auth_token_new(char tok[AUTH_TOKEN_STRLEN + 1]);
/** SHA-256 of a token string. */
int auth_token_hash(uint8_t hash[AUTH_HASH_BYTES], const struct pl *tok);
/** The token of an "Authorization: Bearer cwt=..." value (false: none). */
bool auth_bearer(const struct pl *authorization, struct pl *tok);

/*
 * The service
 */

struct auth;

/**
 * Allocate the token service.
 *
 * @param ap   Returns a new reference
 * @param conf Configuration (takes a reference): served domains
 * @param ua   SIP user agent for credential checks (takes a reference)
 * @param st   Store for tokens and HA1 (takes a reference)
 */
int auth_alloc(struct auth **ap, struct conf *conf, struct sipua *ua,
	       struct store *st);

/**
 * Serve /WebTicket/oauthtoken: POST (sign-in, renewal) and DELETE
 * (sign-out); answers now or later.
 *
 * @return false if the request is for another path (not answered)
 */
bool auth_handle(struct auth *a, struct web_req *req);

/**
 * Start the sweep of expired tokens from the store (a bounded step every
 * AUTH_PURGE_INTERVAL s).
 *
 * @param a Token service
 * @param w Timer wheel (borrowed: it must outlive a)
 */
void auth_purge_start(struct auth *a, struct wheel *w);

/**
 * Check the bearer token of an Authorization header value.
 *
 * @return 0 and *user (borrowed, valid until the next call into auth) if
 *         the token is known here and valid; ENOENT if it is unknown
 *         here (ask auth_verify_async); EACCES if invalid or expired
 */
int auth_verify(struct auth *a, const struct pl *authorization,
		const char **user);

/** Result of auth_verify_async: the signed-in user ("user@domain",
 * valid during the call), or err EACCES. */
typedef void(auth_verify_h)(int err, const char *user, void *arg);

struct auth_check;

/**
 * Check a bearer token that is not known in memory (auth_verify said
 * ENOENT): read it from the store, which another instance or this one
 * before a restart may have written.
 *
 * @param chkp Returns a new reference; dropping it cancels h
 * @param a    Token service
 * @param authorization Authorization header value (borrowed)
 * @param h    Completion, called once, never from inside this call
 * @param arg  Its argument
 */
int auth_verify_async(struct auth_check **chkp, struct auth *a,
		      const struct pl *authorization, auth_verify_h *h,
		      void *arg);

#endif
