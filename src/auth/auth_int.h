/**
 * @file auth_int.h  Private declarations of the token service
 */
#ifndef MOB_AUTH_INT_H
#define MOB_AUTH_INT_H

struct tok;

/** Tokens known in memory (token.c). */
struct auth_tokens {
	struct hash *hash;  /* struct tok by its hash          */
	struct hash *users; /* struct utoks by user: per-user lists */
	struct list age;    /* oldest first, for the bound     */
	size_t n;
};

int auth_tokens_init(struct auth_tokens *tt);
void auth_tokens_close(struct auth_tokens *tt);
struct tok *auth_tok_find(struct auth_tokens *tt, const uint8_t *hash);
int auth_tok_add(struct auth_tokens *tt, const uint8_t *hash, const char *user,
		 uint64_t expires);
void auth_tok_del(struct auth_tokens *tt, struct tok *t);
const char *auth_tok_user(const struct tok *t);
const uint8_t *auth_tok_hash(const struct tok *t);
/* The user's oldest token known here if the user has more than max of
 * them, else NULL (borrowed). */
struct tok *auth_tok_over(struct auth_tokens *tt, const char *user,
			  uint32_t max);
uint64_t auth_tok_expires(const struct tok *t);

#endif
