/**
 * @file fuzz_webticket.c  libFuzzer driver: the body of a token request
 *
 * The input is the application/x-www-form-urlencoded body of POST
 * /WebTicket/oauthtoken. It goes through what auth_handle() does
 * before anything leaves the process: form_parse(), the percent-decoding
 * of username, password and ms_rtc_renew into their fixed buffers,
 * normalise_user() on the user name, the hash of a renewal token, and
 * auth_bearer() on the same bytes taken as an Authorization value.
 * webticket.c is included to reach its static helpers (as the unit tests
 * do); the rest of the component comes from its library.
 *
 * Invariants checked: the fields found lie within the body; a user name
 * accepted is "user@domain" with the user part of RFC 3261 unreserved
 * characters and the domain a valid DNS name in lower case.
 */
#include "../src/auth/webticket.c"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(const struct pl *v, const char *s, size_t n)
{
	if (v->p && v->l && (v->p < s || v->p + v->l > s + n))
		abort();
}

static void check_user(const char *user)
{
	const char *at = strchr(user, '@');
	struct pl dom;
	const char *why;
	size_t i;

	if (!at || !user_ok(user, (size_t)(at - user)))
		abort();
	pl_set_str(&dom, at + 1);
	if (!dns_name_valid(&dom, &why))
		abort();
	for (i = 0; i < dom.l; i++) {
		if (dom.p[i] >= 'A' && dom.p[i] <= 'Z')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uname[AUTH_USER_MAX + 1], user[AUTH_USER_MAX + 1];
	char password[AUTH_PASSWORD_MAX + 1];
	char renewbuf[AUTH_TOKEN_STRLEN + 16];
	uint8_t hash[AUTH_HASH_BYTES];
	char *copy;
	struct pl body, tok;
	struct form f;
	size_t n;

	if (size > AUTH_FORM_MAX)
		return 0; /* refused before parsing */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	body.p = copy;
	body.l = size;

	form_parse(&body, &f);
	within(&f.grant_type, copy, size);
	within(&f.username, copy, size);
	within(&f.password, copy, size);
	within(&f.renew, copy, size);

	if (f.renew.p &&
	    !text_pct_decode(renewbuf, sizeof(renewbuf), &f.renew, &n)) {
		tok.p = renewbuf;
		tok.l = n;
		if (n == AUTH_TOKEN_STRLEN && auth_token_hash(hash, &tok))
			abort();
	}
	if (f.username.p &&
	    !text_pct_decode(uname, sizeof(uname), &f.username, &n) &&
	    normalise_user(user, sizeof(user), uname, n))
		check_user(user);
	if (f.password.p)
		(void)text_pct_decode(password, sizeof(password), &f.password,
				      &n);

	/* the same bytes as an Authorization header value */
	if (auth_bearer(&body, &tok) &&
	    (tok.l != AUTH_TOKEN_STRLEN || auth_token_hash(hash, &tok)))
		abort();

	free(copy);
	return 0;
}
