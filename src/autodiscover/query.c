/**
 * @file query.c  Autodiscover query parameters
 *
 * The query comes straight from the network: it is scanned with explicit
 * lengths, bounded by AD_QUERY_MAX / AD_VALUE_MAX, and a domain is only
 * accepted if it is a syntactically valid DNS name.
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "core.h"
#include "autodiscover.h"

static bool valid_domain(const char *s, size_t n)
{
	struct pl pl = {s, n};
	const char *why;

	return dns_name_valid(&pl, &why);
}

static void set_domain(struct ad_query *q, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		q->domain[i] = (char)tolower((unsigned char)s[i]);
	q->domain[n] = '\0';
}

/* Domain of a SIP URI: "sip:user@domain[;params]", "user@domain" or
 * "<sip:user@domain>" (RFC 3261 19.1.1). */
static int sipuri_domain(const char *s, size_t n, const char **dp, size_t *dn)
{
	const char *at, *end = s + n, *e;

	if (n && *s == '<') {
		++s;
		--n;
		if (!n || s[n - 1] != '>')
			return EINVAL;
		end = s + --n;
	}
	if ((size_t)(end - s) > 4 && !strncasecmp(s, "sip:", 4))
		s += 4;
	else if ((size_t)(end - s) > 5 && !strncasecmp(s, "sips:", 5))
		s += 5;

	at = memchr(s, '@', end - s);
	if (!at || at == s)
		return EINVAL;

	for (e = at + 1; e < end && *e != ';' && *e != '?' && *e != ':'; e++)
		;
	*dp = at + 1;
	*dn = e - (at + 1);
	return 0;
}

int ad_query_parse(struct ad_query *q, const struct pl *query, const char **why)
{
	static const char *const names[] = {"sipuri", "originalDomain"};
	char buf[AD_VALUE_MAX + 1];
	struct pl s, val;
	const char *d;
	size_t n, dn;
	int i;

	memset(q, 0, sizeof(*q));
	*why = NULL;
	if (!query || !query->l)
		return 0;

	if (query->l > AD_QUERY_MAX) {
		*why = "query string too long";
		return EINVAL;
	}

	/* other parameters are ignored, as a web server would */
	s = *query;
	while ((i = text_param_next(&s, names, ARRAY_SIZE(names), &val)) >= 0) {
		if (i == 0) {
			if (text_pct_decode(buf, sizeof(buf), &val, &n)) {
				*why = "sipuri is not a valid parameter value";
				return EINVAL;
			}
			if (sipuri_domain(buf, n, &d, &dn) ||
			    !valid_domain(d, dn)) {
				*why = "sipuri is not a SIP URI with a domain";
				return EINVAL;
			}
			/* the user's own SIP domain decides over the domain
			 * typed in, whatever their order */
			set_domain(q, d, dn);
			q->has_sipuri = true;
		} else {
			if (text_pct_decode(buf, sizeof(buf), &val, &n) ||
			    !valid_domain(buf, n)) {
				*why = "originalDomain is not a domain name";
				return EINVAL;
			}
			if (!q->has_sipuri)
				set_domain(q, buf, n);
			q->has_original_domain = true;
		}
	}

	return 0;
}
