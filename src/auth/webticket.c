/**
 * @file webticket.c  POST /WebTicket/oauthtoken (PROTOCOL.md "Web ticket")
 *
 *   grant_type=password&username=<sip uri or user@domain>&password=...
 *   ms_rtc_renew=<token>          (renewal of a token still valid)
 * DELETE /WebTicket/oauthtoken with "Authorization: Bearer cwt=..."
 *   signs out: the token is revoked (204 once the store forgot it)
 *
 * A token lives AUTH_TOKEN_LIFETIME; renewals make a new one, but never
 * past [service] token_max_lifetime after the password sign-in it comes
 * from. That limit is kept in the store with the token, so a renewal
 * works on any instance and after a restart.
 *
 * 200 {"access_token":"cwt=...","token_type":"Bearer","expires_in":28800,
 *      "ms_rtc_identityscope":"local"}
 * 400 {"error":"invalid_request|invalid_grant|unsupported_grant_type"}
 * 429 {"error":"invalid_grant",...} with Retry-After while throttled
 * 503 {"error":"server_error"} when the Front End cannot be asked
 *
 * The answer is sent only once the token (and the HA1) are committed to
 * the store: a client never holds a token a restart would forget.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "conf.h"
#include "repr.h"
#include "sipua.h"
#include "store.h"
#include "auth.h"
#include "auth_int.h"
#include "web_route.h"

struct auth {
	struct conf *conf;
	struct sipua *ua;
	struct store *st;
	struct throttle *users; /* by user at an address */
	struct throttle *addrs; /* by address            */
	struct auth_tokens tokens;
	struct wheel *wheel;      /* borrowed: the service's      */
	struct wheel_entry purge; /* the sweep of expired tokens  */
	struct store_op *purge_op;
	struct list revoking; /* struct revoking: deletes not committed */
	struct metric *m_ok, *m_bad, *m_throttled, *m_error, *m_signout;
};

/* One token request in progress. */
struct treq {
	struct auth *a;
	struct web_req *req; /* reference */
	struct sipua_check *chk;
	struct store_op *op;
	struct revoking *rv; /* sign-out: its delete, until committed */
	char user[AUTH_USER_MAX + 1];   /* user@domain */
	char addr[64];                  /* client address, throttle key */
	char uakey[AUTH_USER_MAX + 66]; /* "user@domain addr" throttle key */
	char token[AUTH_TOKEN_STRLEN + 1];
	uint8_t hash[AUTH_HASH_BYTES];
	uint8_t old_hash[AUTH_HASH_BYTES]; /* renewal: the token replaced */
	bool renew;
	uint64_t expires;
	uint64_t until;  /* renewals never go past this */
	struct tmr done; /* frees the request after the stack unwinds */
};

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* A token whose delete from the store is not committed yet. Until it
 * is, a read of the store still finds the token: such a read (a request
 * racing a sign-out, a renewal or the per-user limit) must neither accept
 * it nor bring it back into memory, where it would outlive the delete. */
struct revoking {
	struct le le; /* in a->revoking */
	struct store_op *op;
	struct treq *t; /* the sign-out answered once committed, or NULL */
	uint8_t hash[AUTH_HASH_BYTES];
};

static void destructor(void *arg)
{
	struct auth *a = arg;

	wheel_cancel(&a->purge);
	mem_deref(a->purge_op);
	list_flush(&a->revoking);
	auth_tokens_close(&a->tokens);
	mem_deref(a->users);
	mem_deref(a->addrs);
	mem_deref(a->st);
	mem_deref(a->ua);
	mem_deref(a->conf);
}

int auth_alloc(struct auth **ap, struct conf *conf, struct sipua *ua,
	       struct store *st)
{
	struct auth *a;
	int err;

	if (!ap || !conf || !ua || !st)
		return EINVAL;

	a = mem_zalloc(sizeof(*a), destructor);
	if (!a)
		return ENOMEM;

	a->conf = mem_ref(conf);
	a->ua = mem_ref(ua);
	a->st = mem_ref(st);
	err = auth_tokens_init(&a->tokens);
	err |= throttle_alloc(&a->users, AUTH_USER_FAILS, AUTH_WINDOW,
			      AUTH_LOCK_BASE, AUTH_LOCK_MAX, AUTH_THROTTLE_MAX);
	err |= throttle_alloc(&a->addrs, AUTH_ADDR_FAILS, AUTH_WINDOW,
			      AUTH_LOCK_BASE, AUTH_LOCK_MAX, AUTH_THROTTLE_MAX);
	a->m_ok = metrics_get(METRIC_COUNTER, "mobility_signin_total",
			      "result=\"ok\"", "Token requests by result");
	a->m_bad = metrics_get(METRIC_COUNTER, "mobility_signin_total",
			       "result=\"refused\"", NULL);
	a->m_throttled = metrics_get(METRIC_COUNTER, "mobility_signin_total",
				     "result=\"throttled\"", NULL);
	a->m_error = metrics_get(METRIC_COUNTER, "mobility_signin_total",
				 "result=\"error\"", NULL);
	a->m_signout = metrics_get(METRIC_COUNTER, "mobility_signout_total",
				   NULL, "Tokens revoked by a sign-out");
	if (err)
		mem_deref(a);
	else
		*ap = a;
	return err;
}

/* A JSON object of string members (and expires_in), through the model. */
static void reply_json(struct web_req *req, uint16_t scode,
		       const char *const *kv, size_t n, int64_t expires_in,
		       const char *hdrs)
{
	struct repr *r = NULL;
	struct mbuf *mb = mbuf_alloc(256);
	size_t i;
	int err;

	err = mb ? repr_alloc(&r, NULL, NULL) : ENOMEM;
	for (i = 0; !err && i + 1 < n; i += 2) {
		err = repr_prop_str(r, kv[i], kv[i + 1]);
		/* expires_in goes right after token_type, as clients see it
		 * in the documentation */
		if (!err && expires_in >= 0 && !strcmp(kv[i], "token_type"))
			err = repr_prop_int(r, "expires_in", expires_in);
	}
	if (!err)
		err = repr_encode(mb, r, REPR_JSON, NULL);
	if (err)
		web_reply_text(req, 500, NULL, "could not encode the answer");
	else
		web_reply(req, scode, NULL, "application/json", mb->buf,
			  mb->end, hdrs ? "%s" : NULL, hdrs);
	mem_deref(r);
	mem_deref(mb);
}

static void reply_error(struct web_req *req, uint16_t scode, const char *error,
			const char *description)
{
	const char *kv[] = {"error", error, "error_description", description};

	reply_json(req, scode, kv, ARRAY_SIZE(kv), -1, NULL);
}

static void treq_destructor(void *arg)
{
	struct treq *t = arg;

	tmr_cancel(&t->done);
	mem_deref(t->op);
	if (t->rv)
		t->rv->t = NULL;
	mem_deref(t->chk);
	if (t->req)
		web_req_set_cancel(t->req, NULL, NULL);
	mem_deref(t->req);
	explicit_bzero(t->token, sizeof(t->token));
}

static void treq_free(void *arg)
{
	mem_deref(arg);
}

/* Answered: free the request once the caller's stack has unwound (we may
 * be inside a callback of the user agent or of the store, whose handles
 * the request holds). */
static void treq_done(struct treq *t)
{
	if (t->req)
		web_req_set_cancel(t->req, NULL, NULL);
	tmr_start(&t->done, 0, treq_free, t);
}

/* The client went away: drop the work (its callbacks never run). */
static void treq_cancel(struct web_req *req, void *arg)
{
	(void)req;
	mem_deref(arg);
}

/* The work of one token request, which holds req and is dropped if the
 * client goes away; NULL (503 answered) when out of memory. */
static struct treq *treq_new(struct auth *a, struct web_req *req)
{
	struct treq *t = mem_zalloc(sizeof(*t), treq_destructor);

	if (!t) {
		web_reply_text(req, 503, NULL, "out of memory");
		return NULL;
	}
	t->a = a;
	t->req = mem_ref(req);
	web_req_set_cancel(req, treq_cancel, t);
	return t;
}

static void signout_done(int err, void *arg);

static void revoking_destructor(void *arg)
{
	struct revoking *r = arg;

	list_unlink(&r->le);
	mem_deref(r->op);
	if (r->t)
		r->t->rv = NULL;
}

static bool is_revoking(const struct auth *a, const uint8_t *hash)
{
	struct le *le;

	LIST_FOREACH(&a->revoking, le)
	{
		const struct revoking *r = le->data;

		if (!memcmp(r->hash, hash, AUTH_HASH_BYTES))
			return true;
	}
	return false;
}

static void revoked(int err, void *arg)
{
	struct revoking *r = arg;
	struct treq *t = r->t;

	if (err && err != ENOENT)
		log_warn("auth: deleting a revoked token failed: %m", err);
	mem_deref(r);
	if (t)
		signout_done(err, t);
}

/* Forget a token here (at once, whatever happens next: hash may be the
 * token's own) and in the store; a sign-out t (or NULL) is answered once
 * the store has forgotten it. */
static int revoke(struct auth *a, const uint8_t *hash, struct treq *t)
{
	struct revoking *r = mem_zalloc(sizeof(*r), revoking_destructor);
	int err;

	if (r)
		memcpy(r->hash, hash, AUTH_HASH_BYTES);
	auth_tok_del(&a->tokens, auth_tok_find(&a->tokens, hash));
	if (!r)
		return ENOMEM;
	err = store_token_del(a->st, r->hash, AUTH_HASH_BYTES, revoked, r,
			      &r->op);
	if (err) {
		mem_deref(r);
		return err;
	}
	list_append(&a->revoking, &r->le, r);
	r->t = t;
	if (t)
		t->rv = r;
	return 0;
}

/* A user signing in again and again must not pile up live tokens:
 * past user_max_tokens ([service]) the oldest known here is revoked
 * (memory and store), so a device that kept it signs in again. */
static void over_limit(struct auth *a, const char *user)
{
	struct tok *old;

	while (
	    (old = auth_tok_over(&a->tokens, user, a->conf->user_max_tokens))) {
		log_notice("auth: %s has more than %u tokens: the oldest is "
			   "revoked",
			   user, a->conf->user_max_tokens);
		(void)revoke(a, auth_tok_hash(old), NULL); /* frees old */
	}
}

static void token_committed(int err, void *arg)
{
	struct treq *t = arg;
	struct auth *a = t->a;
	const char *kv[] = {"access_token",         t->token,
			    "token_type",           "Bearer",
			    "ms_rtc_identityscope", "local"};

	if (err) {
		log_warn("auth: storing the token of %s failed: %m", t->user,
			 err);
		metric_add(a->m_error, 1);
		reply_error(t->req, 503, "server_error",
			    "the token could not be stored; try again");
		treq_done(t);
		return;
	}

	(void)auth_tok_add(&a->tokens, t->hash, t->user, t->expires);
	if (t->renew)
		(void)revoke(a, t->old_hash, NULL);
	over_limit(a, t->user);
	metric_add(a->m_ok, 1);
	log_info("auth: token issued to %s", t->user);
	/* the token is a secret: kept from caches and never compressed */
	web_req_set_secret(t->req);
	reply_json(t->req, 200, kv, ARRAY_SIZE(kv),
		   (int64_t)(t->expires > now_s() ? t->expires - now_s() : 0),
		   NULL);
	treq_done(t);
}

/* Make a token for t->user and store it; the answer waits for the
 * commit. */
static void issue(struct treq *t)
{
	struct pl tok;
	int err;

	err = auth_token_new(t->token);
	pl_set_str(&tok, t->token);
	if (!err)
		err = auth_token_hash(t->hash, &tok);
	/* a password sign-in sets the limit; a renewal keeps it */
	if (!t->until)
		t->until = now_s() + t->a->conf->token_max_lifetime_s;
	t->expires = MIN(now_s() + AUTH_TOKEN_LIFETIME, t->until);
	if (!err)
		err = store_token_put_until(t->a->st, t->hash, AUTH_HASH_BYTES,
					    t->user, t->expires, t->until,
					    token_committed, t, &t->op);
	if (err)
		token_committed(err, t);
}

static void checked(int err, const char *ha1, uint16_t scode, void *arg)
{
	struct treq *t = arg;
	struct auth *a = t->a;
	const char *at = strchr(t->user, '@');

	if (err == EACCES) {
		/* wrong credentials: count it for the user at this address
		 * (the address was counted before asking) */
		throttle_fail(a->users, t->uakey, now_s());
		metric_add(a->m_bad, 1);
		log_info("auth: sign-in of %s refused by the Front End (%u)",
			 t->user, scode);
		reply_error(t->req, 400, "invalid_grant",
			    "the user name or password is not correct");
		treq_done(t);
		return;
	}
	if (err || !ha1 || !at) {
		/* not the client's fault: take back the address count */
		throttle_undo(a->addrs, t->addr);
		metric_add(a->m_error, 1);
		log_warn("auth: cannot check %s at the Front End: %m (%u)",
			 t->user, err, scode);
		reply_error(t->req, 503, "server_error",
			    "the Front End cannot be reached; try again");
		treq_done(t);
		return;
	}

	/* good: forget the user's failures here, keep only the HA1 */
	throttle_clear(a->users, t->uakey);
	throttle_undo(a->addrs, t->addr);
	(void)store_ha1_put(a->st, t->user, at + 1, (const uint8_t *)ha1,
			    strlen(ha1), NULL, NULL, NULL);
	issue(t);
}

/* User names safe to place in a SIP URI's user part unescaped: RFC 3261
 * 25.1 unreserved characters, the set the user agent accepts. */
static bool user_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > 64)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-_.!~*'()", c)))
			return false;
	}
	return true;
}

/* "sip:alice@Example.Test" or "alice@example.test" -> user@domain. */
static bool normalise_user(char *out, size_t size, const char *in, size_t n)
{
	const char *at;
	struct pl dom;
	const char *why;
	size_t i, ul;

	if (n > 4 && !strncasecmp(in, "sip:", 4)) {
		in += 4;
		n -= 4;
	}
	at = memchr(in, '@', n);
	if (!at)
		return false;
	ul = (size_t)(at - in);
	dom.p = at + 1;
	dom.l = n - ul - 1;
	if (!user_ok(in, ul) || !dns_name_valid(&dom, &why) ||
	    ul + 1 + dom.l + 1 > size)
		return false;

	memcpy(out, in, ul + 1);
	for (i = 0; i < dom.l; i++)
		out[ul + 1 + i] = (char)tolower((unsigned char)dom.p[i]);
	out[ul + 1 + dom.l] = '\0';
	return true;
}

struct form {
	struct pl grant_type, username, password, renew;
	bool dup;
};

static void form_set(struct pl *dst, const struct pl *v, bool *dup)
{
	if (dst->p)
		*dup = true;
	*dst = *v;
	if (!dst->p)
		dst->p = ""; /* present but empty */
}

static void form_parse(const struct pl *body, struct form *f)
{
	static const char *const names[] = {"grant_type", "username",
					    "password", "ms_rtc_renew"};
	struct pl s = *body, val;
	int i;

	memset(f, 0, sizeof(*f));
	while ((i = text_param_next(&s, names, ARRAY_SIZE(names), &val)) >= 0) {
		struct pl *dst[] = {&f->grant_type, &f->username, &f->password,
				    &f->renew};

		form_set(dst[i], &val, &f->dup);
	}
}

static bool is_form(const struct web_req *req)
{
	struct pl ct;

	if (!web_req_header(req, "Content-Type", &ct))
		return false;
	return ct.l >= 33 &&
	       !strncasecmp(ct.p, "application/x-www-form-urlencoded", 33);
}

/* The token to renew, read from the store (the truth on every instance
 * and after a restart). */
static void renew_read(int err, const uint8_t *user, size_t ulen,
		       uint64_t expires, uint64_t until, void *arg)
{
	struct treq *t = arg;
	uint64_t now = now_s();

	t->op = mem_deref(t->op);
	if (err && err != ENOENT) {
		metric_add(t->a->m_error, 1);
		reply_error(t->req, 503, "server_error",
			    "the token could not be read; try again");
		treq_done(t);
		return;
	}
	/* written before renewal limits: counted from its sign-in */
	if (!err && !until && expires >= AUTH_TOKEN_LIFETIME)
		until = expires - AUTH_TOKEN_LIFETIME +
			t->a->conf->token_max_lifetime_s;
	if (err || !ulen || ulen > AUTH_USER_MAX || expires <= now ||
	    is_revoking(t->a, t->old_hash)) {
		reply_error(t->req, 400, "invalid_grant",
			    "the token to renew is not valid");
		treq_done(t);
		return;
	}
	if (until <= now) {
		reply_error(t->req, 400, "invalid_grant",
			    "the sign-in is too old to renew; sign in again "
			    "with the password");
		treq_done(t);
		return;
	}
	memcpy(t->user, user, ulen);
	t->user[ulen] = '\0';
	t->until = until;
	t->renew = true;
	issue(t);
}

/* Renewal: the old token must still be valid. */
static void renew(struct treq *t, const struct pl *enc)
{
	char buf[AUTH_TOKEN_STRLEN + 16];
	struct pl tok;
	size_t n;
	int err = EINVAL;

	if (!text_pct_decode(buf, sizeof(buf), enc, &n) &&
	    n == AUTH_TOKEN_STRLEN) {
		tok.p = buf;
		tok.l = n;
		err = auth_token_hash(t->old_hash, &tok);
	}
	if (err) {
		reply_error(t->req, 400, "invalid_grant",
			    "the token to renew is not valid");
		treq_done(t);
		return;
	}
	err = store_token_get(t->a->st, t->old_hash, AUTH_HASH_BYTES,
			      renew_read, t, &t->op);
	if (err)
		renew_read(err, NULL, 0, 0, 0, t);
}

static void signout_done(int err, void *arg)
{
	struct treq *t = arg;

	/* ENOENT: already gone, which is what was asked */
	if (err && err != ENOENT) {
		metric_add(t->a->m_error, 1);
		reply_error(t->req, 503, "server_error",
			    "the token could not be revoked; try again");
	} else {
		metric_add(t->a->m_signout, 1);
		web_reply(t->req, 204, NULL, NULL, NULL, 0, NULL);
	}
	treq_done(t);
}

/* DELETE /WebTicket/oauthtoken: sign-out. The token is forgotten here at
 * once and answered for once the store has forgotten it too. */
static void signout(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	struct auth *a = arg;
	struct pl authz, tok;
	struct treq *t;
	int err;

	(void)prm;
	if (!web_req_header(req, "Authorization", &authz) ||
	    !auth_bearer(&authz, &tok)) {
		reply_error(req, 400, "invalid_request",
			    "send the token to revoke as Authorization: "
			    "Bearer cwt=...");
		return;
	}
	t = treq_new(a, req);
	if (!t)
		return;
	err = auth_token_hash(t->old_hash, &tok);
	if (!err)
		err = revoke(a, t->old_hash, t);
	if (err)
		signout_done(err, t);
}

/* POST: sign-in or renewal */
static void token(struct web_req *req, const struct web_params *prm, void *arg)
{
	char password[AUTH_PASSWORD_MAX + 1], uname[AUTH_USER_MAX + 1];
	const struct pl *body = web_req_body(req);
	struct auth *a = arg;
	uint32_t wait_u, wait_a;
	struct form f;
	struct treq *t;
	struct pl dom;
	size_t n;
	int err;

	(void)prm;
	if (!is_form(req) || body->l > AUTH_FORM_MAX) {
		char why[96];

		(void)re_snprintf(why, sizeof(why),
				  "send application/x-www-form-urlencoded, "
				  "at most %u bytes",
				  AUTH_FORM_MAX);
		reply_error(req, 400, "invalid_request", why);
		return;
	}

	t = treq_new(a, req);
	if (!t)
		return;
	(void)throttle_addr_key(t->addr, sizeof(t->addr), web_req_client(req));

	form_parse(body, &f);
	if (f.dup) {
		reply_error(req, 400, "invalid_request",
			    "a parameter is given twice");
		goto drop;
	}
	if (f.renew.p) {
		renew(t, &f.renew);
		web_req_wipe_body(req);
		return;
	}
	if (!f.grant_type.p) {
		reply_error(req, 400, "invalid_request",
			    "grant_type is missing");
		goto drop;
	}
	if (pl_strcmp(&f.grant_type, "password")) {
		reply_error(req, 400, "unsupported_grant_type",
			    "only grant_type=password is supported");
		goto drop;
	}
	if (!f.username.p || !f.password.p ||
	    text_pct_decode(uname, sizeof(uname), &f.username, &n) ||
	    !normalise_user(t->user, sizeof(t->user), uname, n) ||
	    text_pct_decode(password, sizeof(password), &f.password, &n) ||
	    !n) {
		reply_error(req, 400, "invalid_request",
			    "username (user@domain) and password are needed");
		goto drop;
	}
	dom.p = strchr(t->user, '@') + 1;
	dom.l = strlen(dom.p);
	if (!conf_serves_domain(a->conf, &dom)) {
		reply_error(req, 400, "invalid_grant",
			    "this service does not serve that SIP domain");
		goto drop;
	}

	/* throttled: nothing goes to the Front End. The user is throttled
	 * at this address only: failures elsewhere never lock him out. */
	(void)re_snprintf(t->uakey, sizeof(t->uakey), "%s %s", t->user,
			  t->addr);
	wait_u = throttle_wait(a->users, t->uakey, now_s());
	wait_a = throttle_wait(a->addrs, t->addr, now_s());
	if (wait_u || wait_a) {
		char hdr[64], desc[160];
		uint32_t w = MAX(wait_u, wait_a);

		metric_add(a->m_throttled, 1);
		(void)re_snprintf(hdr, sizeof(hdr), "Retry-After: %u\r\n", w);
		(void)re_snprintf(desc, sizeof(desc),
				  "too many failed sign-ins for this %s; try "
				  "again in %u s",
				  wait_u ? "user from this address" : "address",
				  w);
		{
			const char *kv[] = {"error", "invalid_grant",
					    "error_description", desc};
			reply_json(req, 429, kv, ARRAY_SIZE(kv), -1, hdr);
		}
		goto drop;
	}

	/* counted now, taken back when the answer is not a refusal: a
	 * burst of parallel attempts cannot outrun the limit */
	throttle_fail(a->addrs, t->addr, now_s());
	{
		char user[AUTH_USER_MAX + 1];
		const char *at = strchr(t->user, '@');

		(void)re_snprintf(user, sizeof(user), "%b", t->user,
				  (size_t)(at - t->user));
		err = sipua_check_password(&t->chk, a->ua, user, at + 1,
					   password, checked, t);
	}
	explicit_bzero(password, sizeof(password));
	web_req_wipe_body(req);
	if (err)
		checked(err, NULL, 0, t);
	return;

drop:
	explicit_bzero(password, sizeof(password));
	web_req_wipe_body(req);
	mem_deref(t);
}

static const struct web_route rows[] = {
    {"WebTicket/oauthtoken", WEB_POST, token},
    {"WebTicket/oauthtoken", WEB_DELETE, signout},
};

/* Paths are case-insensitive, as IIS treats them. */
static const struct web_routes routes = {rows, ARRAY_SIZE(rows), true, NULL};

bool auth_handle(struct auth *a, struct web_req *req)
{
	return web_route(&routes, req, web_req_path(req), a);
}

int auth_verify(struct auth *a, const struct pl *authorization,
		const char **user)
{
	uint8_t hash[AUTH_HASH_BYTES];
	struct pl tok;
	struct tok *t;

	if (!a || !authorization || !user)
		return EINVAL;
	if (!auth_bearer(authorization, &tok) || auth_token_hash(hash, &tok))
		return EACCES;

	t = auth_tok_find(&a->tokens, hash);
	if (!t)
		return ENOENT;
	if (auth_tok_expires(t) <= now_s()) {
		auth_tok_del(&a->tokens, t);
		(void)store_token_del(a->st, hash, AUTH_HASH_BYTES, NULL, NULL,
				      NULL);
		return EACCES;
	}
	*user = auth_tok_user(t);
	return 0;
}

/*
 * Tokens not in memory: from the store.
 */

struct auth_check {
	struct auth *a;
	struct store_op *op;
	uint8_t hash[AUTH_HASH_BYTES];
	auth_verify_h *h;
	void *arg;
	struct tmr tmr; /* refusals are told from the loop, not the call */
};

static void check_destructor(void *arg)
{
	struct auth_check *c = arg;

	tmr_cancel(&c->tmr);
	mem_deref(c->op);
}

static void check_refuse(void *arg)
{
	struct auth_check *c = arg;

	c->h(EACCES, NULL, c->arg);
}

static void token_read(int err, const uint8_t *user, size_t ulen,
		       uint64_t expires, uint64_t until, void *arg)
{
	struct auth_check *c = arg;
	char u[AUTH_USER_MAX + 1];

	(void)until;
	if (err || !ulen || ulen > AUTH_USER_MAX || expires <= now_s() ||
	    is_revoking(c->a, c->hash)) {
		c->h(EACCES, NULL, c->arg);
		return;
	}
	memcpy(u, user, ulen);
	u[ulen] = '\0';
	/* known here from now on */
	(void)auth_tok_add(&c->a->tokens, c->hash, u, expires);
	c->h(0, u, c->arg);
}

int auth_verify_async(struct auth_check **chkp, struct auth *a,
		      const struct pl *authorization, auth_verify_h *h,
		      void *arg)
{
	struct auth_check *c;
	struct pl tok;
	int err;

	if (!chkp || !a || !authorization || !h)
		return EINVAL;

	c = mem_zalloc(sizeof(*c), check_destructor);
	if (!c)
		return ENOMEM;
	c->a = a;
	c->h = h;
	c->arg = arg;

	if (!auth_bearer(authorization, &tok) ||
	    auth_token_hash(c->hash, &tok)) {
		tmr_start(&c->tmr, 0, check_refuse, c);
		*chkp = c;
		return 0;
	}

	err = store_token_get(a->st, c->hash, AUTH_HASH_BYTES, token_read, c,
			      &c->op);
	if (err)
		mem_deref(c);
	else
		*chkp = c;
	return err;
}

/*
 * The sweep of expired tokens: a bounded step every AUTH_PURGE_INTERVAL
 * (the first soon after start), so the store does not keep every token
 * ever issued.
 */

static void purge_step(void *arg);

static void purge_done(int err, void *arg)
{
	struct auth *a = arg;

	a->purge_op = mem_deref(a->purge_op);
	if (err)
		log_warn("auth: purging expired tokens failed: %m", err);
}

static void purge_step(void *arg)
{
	struct auth *a = arg;

	if (!a->purge_op && store_token_purge(a->st, now_s(), AUTH_PURGE_BATCH,
					      purge_done, a, &a->purge_op))
		log_warn("auth: cannot start the token purge");
	wheel_start(a->wheel, &a->purge, AUTH_PURGE_INTERVAL * 1000, purge_step,
		    a);
}

void auth_purge_start(struct auth *a, struct wheel *w)
{
	if (!a || !w)
		return;
	a->wheel = w;
	wheel_start(w, &a->purge, AUTH_PURGE_FIRST * 1000, purge_step, a);
}
