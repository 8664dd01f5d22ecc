/**
 * @file substate.c  Subscription-State header values (RFC 6665 8.2.3)
 *
 *   Subscription-State = substate-value *( SEMI subexp-params )
 *   subexp-params      = ("reason" EQUAL event-reason-value)
 *                      / ("expires" EQUAL delta-seconds)
 *                      / ("retry-after" EQUAL delta-seconds)
 *                      / generic-param
 */
#include <string.h>
#include "sipua_int.h"

enum {
	MAX_REASON = 32, /* bytes of a reason token        */
	MAX_DIGITS = 10, /* digits of a delta-seconds value */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 25.1 token character */
static bool is_token(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-.!%*_+`'~", c));
}

static void skip_ws(const char **p, const char *end)
{
	while (*p < end && is_ws(**p))
		++*p;
}

/* a token at *p (moved past it); false when there is none */
static bool take_token(struct pl *tok, const char **p, const char *end)
{
	tok->p = *p;
	while (*p < end && is_token(**p))
		++*p;
	tok->l = (size_t)(*p - tok->p);
	return tok->l > 0;
}

static int delta_seconds(int32_t *v, const struct pl *pl)
{
	uint64_t n = 0;
	size_t i;

	if (!pl->l || pl->l > MAX_DIGITS)
		return EBADMSG;
	for (i = 0; i < pl->l; i++) {
		if (pl->p[i] < '0' || pl->p[i] > '9')
			return EBADMSG;
		n = n * 10 + (uint64_t)(pl->p[i] - '0');
	}
	if (n > INT32_MAX)
		return EBADMSG;
	*v = (int32_t)n;
	return 0;
}

int sipua_substate_decode(struct sipua_substate *ss, const struct pl *pl)
{
	const char *p, *end;
	struct pl tok, name, val;

	if (!ss || !pl || !pl->p)
		return EINVAL;

	p = pl->p;
	end = pl->p + pl->l;
	memset(ss, 0, sizeof(*ss));
	ss->expires = -1;
	ss->retry_after = -1;

	skip_ws(&p, end);
	if (!take_token(&tok, &p, end))
		return EBADMSG;
	if (!pl_strcasecmp(&tok, "active"))
		ss->state = PIDF_SUB_ACTIVE;
	else if (!pl_strcasecmp(&tok, "pending"))
		ss->state = PIDF_SUB_PENDING;
	else if (!pl_strcasecmp(&tok, "terminated"))
		ss->state = PIDF_SUB_TERMINATED;
	else
		return EBADMSG;

	for (;;) {
		skip_ws(&p, end);
		if (p == end)
			return 0;
		if (*p++ != ';')
			return EBADMSG;
		skip_ws(&p, end);
		if (!take_token(&name, &p, end))
			return EBADMSG;
		skip_ws(&p, end);

		val.p = NULL;
		val.l = 0;
		if (p < end && *p == '=') {
			++p;
			skip_ws(&p, end);
			/* generic-param values may be quoted strings; the
			 * ones we read are tokens */
			if (p < end && *p == '"') {
				const char *q =
				    memchr(p + 1, '"', (size_t)(end - p - 1));
				if (!q)
					return EBADMSG;
				val.p = p;
				val.l = (size_t)(q + 1 - p);
				p = q + 1;
			} else if (!take_token(&val, &p, end)) {
				return EBADMSG;
			}
		}

		if (!pl_strcasecmp(&name, "reason")) {
			if (!val.l || val.l > MAX_REASON || val.p[0] == '"')
				return EBADMSG;
			ss->reason = val;
		} else if (!pl_strcasecmp(&name, "expires")) {
			if (delta_seconds(&ss->expires, &val))
				return EBADMSG;
		} else if (!pl_strcasecmp(&name, "retry-after")) {
			if (delta_seconds(&ss->retry_after, &val))
				return EBADMSG;
		}
	}
}
