/**
 * @file token.c  Bearer tokens: generation, hashing, the in-memory table
 */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <re.h>
#include "auth.h"
#include "auth_int.h"

int auth_token_new(char tok[AUTH_TOKEN_STRLEN + 1])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[AUTH_TOKEN_BYTES + 1];
	size_t i, o = 4;

	if (RAND_bytes(r, AUTH_TOKEN_BYTES) != 1)
		return EIO;
	r[AUTH_TOKEN_BYTES] = 0;

	/* base64url without padding (RFC 4648 5): 32 bytes -> 43 chars */
	memcpy(tok, "cwt=", 4);
	for (i = 0; i < AUTH_TOKEN_BYTES; i += 3) {
		uint32_t v =
		    (uint32_t)r[i] << 16 |
		    (uint32_t)(i + 1 < AUTH_TOKEN_BYTES ? r[i + 1] : 0) << 8 |
		    (uint32_t)(i + 2 < AUTH_TOKEN_BYTES ? r[i + 2] : 0);
		tok[o++] = b64url[(v >> 18) & 63];
		tok[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < AUTH_TOKEN_BYTES)
			tok[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < AUTH_TOKEN_BYTES)
			tok[o++] = b64url[v & 63];
	}
	tok[o] = '\0';
	explicit_bzero(r, sizeof(r));
	return o == AUTH_TOKEN_STRLEN ? 0 : EPROTO;
}

/*
 * SHA-256 fetched from the provider once: EVP_sha256() makes OpenSSL 3
 * look the algorithm up again on every digest, and that look-up
 * (EVP_MD_fetch) was two thirds of the hash and more than half of the
 * token check in a profile of GET presence under load. Kept for the life
 * of the process.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int auth_token_hash(uint8_t hash[AUTH_HASH_BYTES], const struct pl *tok)
{
	unsigned n = 0;

	if (!tok || !tok->l)
		return EINVAL;
	(void)pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md)
		return EIO;
	if (EVP_Digest(tok->p, tok->l, hash, &n, sha256_md, NULL) != 1 ||
	    n != AUTH_HASH_BYTES)
		return EIO;
	return 0;
}

bool auth_bearer(const struct pl *authz, struct pl *tok)
{
	struct pl v;

	if (!authz || authz->l < 7 || strncasecmp(authz->p, "Bearer ", 7))
		return false;
	v.p = authz->p + 7;
	v.l = authz->l - 7;
	text_trim(&v);
	/* only the shape we hand out: anything else is not ours */
	if (v.l != AUTH_TOKEN_STRLEN || strncmp(v.p, "cwt=", 4))
		return false;
	*tok = v;
	return true;
}

/*
 * The table of tokens known here: hash -> user, expiry. Bounded; the
 * oldest token is forgotten first (it can still be read back from the
 * store). Each user's tokens are also listed, oldest first, for the
 * per-user limit (auth_tok_over).
 */

/* The tokens of one user known here. */
struct utoks {
	struct le he;     /* in tt->users */
	struct list toks; /* struct tok, oldest first */
	char user[];
};

struct tok {
	struct le he;
	struct le le;
	struct le ule;    /* in its user's list */
	struct utoks *ut; /* that list (freed with its last token) */
	uint8_t hash[AUTH_HASH_BYTES];
	uint64_t expires; /* s since the epoch */
	char user[];
};

static void utoks_destructor(void *arg)
{
	struct utoks *ut = arg;

	hash_unlink(&ut->he);
}

static void tok_destructor(void *arg)
{
	struct tok *t = arg;

	hash_unlink(&t->he);
	list_unlink(&t->le);
	list_unlink(&t->ule);
	if (t->ut && list_isempty(&t->ut->toks))
		mem_deref(t->ut);
}

static bool utoks_cmp(struct le *le, void *arg)
{
	const struct utoks *ut = le->data;
	return !strcmp(ut->user, arg);
}

static struct utoks *utoks_find(struct auth_tokens *tt, const char *user)
{
	return list_ledata(hash_lookup(tt->users, hash_joaat_str(user),
				       utoks_cmp, (void *)user));
}

/* The user's list, made when it is the first token. */
static struct utoks *utoks_get(struct auth_tokens *tt, const char *user)
{
	struct utoks *ut = utoks_find(tt, user);
	size_t n = strlen(user);

	if (ut)
		return ut;
	ut = mem_zalloc(sizeof(*ut) + n + 1, utoks_destructor);
	if (!ut)
		return NULL;
	memcpy(ut->user, user, n + 1);
	hash_append(tt->users, hash_joaat_str(user), &ut->he, ut);
	return ut;
}

struct tok *auth_tok_over(struct auth_tokens *tt, const char *user,
			  uint32_t max)
{
	struct utoks *ut = user ? utoks_find(tt, user) : NULL;

	if (!ut || list_count(&ut->toks) <= max)
		return NULL;
	return list_ledata(list_head(&ut->toks));
}

const uint8_t *auth_tok_hash(const struct tok *t)
{
	return t->hash;
}

static bool tok_cmp(struct le *le, void *arg)
{
	const struct tok *t = le->data;
	return !memcmp(t->hash, arg, AUTH_HASH_BYTES);
}

static uint32_t key_of(const uint8_t *hash)
{
	uint32_t k;
	memcpy(&k, hash, sizeof(k)); /* already uniformly random */
	return k;
}

struct tok *auth_tok_find(struct auth_tokens *tt, const uint8_t *hash)
{
	return list_ledata(
	    hash_lookup(tt->hash, key_of(hash), tok_cmp, (void *)hash));
}

int auth_tok_add(struct auth_tokens *tt, const uint8_t *hash, const char *user,
		 uint64_t expires)
{
	size_t ulen = strlen(user);
	struct tok *t;

	if (ulen > AUTH_USER_MAX)
		return EOVERFLOW;

	t = auth_tok_find(tt, hash);
	if (t)
		auth_tok_del(tt, t);

	if (tt->n >= AUTH_TOKENS_MAX)
		auth_tok_del(tt, list_ledata(list_head(&tt->age)));

	t = mem_zalloc(sizeof(*t) + ulen + 1, tok_destructor);
	if (!t)
		return ENOMEM;
	t->ut = utoks_get(tt, user);
	if (!t->ut) {
		mem_deref(t);
		return ENOMEM;
	}
	list_append(&t->ut->toks, &t->ule, t);
	memcpy(t->hash, hash, AUTH_HASH_BYTES);
	memcpy(t->user, user, ulen + 1);
	t->expires = expires;
	hash_append(tt->hash, key_of(hash), &t->he, t);
	list_append(&tt->age, &t->le, t);
	++tt->n;
	return 0;
}

void auth_tok_del(struct auth_tokens *tt, struct tok *t)
{
	if (!t)
		return;
	--tt->n;
	mem_deref(t);
}

const char *auth_tok_user(const struct tok *t)
{
	return t->user;
}

uint64_t auth_tok_expires(const struct tok *t)
{
	return t->expires;
}

int auth_tokens_init(struct auth_tokens *tt)
{
	int err;

	memset(tt, 0, sizeof(*tt));
	err = hash_alloc(&tt->hash, 1u << 14);
	if (!err)
		err = hash_alloc(&tt->users, 1u << 12);
	return err;
}

void auth_tokens_close(struct auth_tokens *tt)
{
	list_flush(&tt->age);
	tt->hash = mem_deref(tt->hash);
	tt->users = mem_deref(tt->users);
	tt->n = 0;
}
