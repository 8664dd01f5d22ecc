/**
 * @file route.c  Route tables: the matcher, 404 and 405 with Allow
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "web.h"
#include "web_route.h"

static const struct pl method_names[] = {
    PL("GET"),   PL("HEAD"),   PL("POST"),    PL("PUT"),
    PL("PATCH"), PL("DELETE"), PL("OPTIONS"),
};

unsigned web_method_bit(const struct pl *method)
{
	size_t i;

	/* methods are case-sensitive (RFC 9110 9.1) */
	for (i = 0; i < ARRAY_SIZE(method_names); i++) {
		if (method->l == method_names[i].l &&
		    !memcmp(method->p, method_names[i].p, method->l))
			return 1u << i;
	}
	return 0;
}

int web_allow_print(char *buf, size_t size, unsigned methods)
{
	size_t i, pos = 0;

	if (!buf || !size)
		return EINVAL;
	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(method_names); i++) {
		const char *sep = pos ? ", " : "";
		size_t n;

		if (!(methods & (1u << i)))
			continue;
		n = strlen(sep) + method_names[i].l;
		if (pos + n >= size) {
			buf[0] = '\0';
			return ENOMEM;
		}
		(void)re_snprintf(buf + pos, size - pos, "%s%r", sep,
				  &method_names[i]);
		pos += n;
	}
	return 0;
}

static bool char_eq(char a, char b, bool nocase)
{
	return a == b || (nocase && tolower((unsigned char)a) ==
					tolower((unsigned char)b));
}

/*
 * One pattern against a path (leading and trailing '/' already gone),
 * byte by byte: most rows differ from the path in their first bytes, and
 * this runs for every row above the one that matches. Parameters are
 * added to prm.
 */
static bool match(const char *pat, const char *p, const char *end, bool nocase,
		  struct web_params *prm)
{
	while (*pat) {
		const char *name, *v = p;
		bool rest;

		if (*pat != '{') {
			if (p == end || !char_eq(*pat, *p, nocase)) {
				/* "a/{rest*}" takes "a" too, the rest empty */
				return p == end && pat[0] == '/' &&
				       pat[1] == '{' &&
				       match(pat + 1, p, end, nocase, prm);
			}
			++pat;
			++p;
			continue;
		}
		name = ++pat;
		while (*pat && *pat != '}')
			++pat;
		rest = pat > name && pat[-1] == '*';
		if (!*pat || prm->n == WEB_ROUTE_PARAMS)
			return false;
		++pat;
		if (rest) {
			p = end;
		} else {
			while (p < end && *p != '/')
				++p;
			/* a parameter is never empty */
			if (p == v)
				return false;
		}
		prm->name[prm->n].p = name;
		prm->name[prm->n].l = (size_t)(pat - 1 - name) - (rest ? 1 : 0);
		prm->value[prm->n].p = v;
		prm->value[prm->n].l = (size_t)(p - v);
		++prm->n;
	}
	return p == end;
}

const struct web_route *web_route_find(const struct web_routes *rt,
				       unsigned method, const struct pl *path,
				       struct web_params *prm, unsigned *allow)
{
	struct pl p = *path;
	size_t i;

	*allow = 0;
	if (p.l && p.p[0] == '/')
		pl_advance(&p, 1);
	if (p.l && p.p[p.l - 1] == '/')
		--p.l;

	for (i = 0; i < rt->n; i++) {
		const struct web_route *r = &rt->v[i];

		prm->n = 0;
		if (!match(r->pattern, p.p, p.p + p.l, rt->nocase, prm))
			continue;
		if (r->methods & method)
			return r;
		*allow |= r->methods;
	}
	return NULL;
}

/* 405 with Allow */
static void web_reply_not_allowed(struct web_req *req, unsigned allow)
{
	static const char body[] = "method not allowed\n";
	char val[WEB_ALLOW_MAX];

	(void)web_allow_print(val, sizeof(val), allow);
	web_reply(req, 405, NULL, "text/plain; charset=utf-8",
		  (const uint8_t *)body, sizeof(body) - 1, "Allow: %s\r\n",
		  val);
}

bool web_route(const struct web_routes *rt, struct web_req *req,
	       const struct pl *path, void *arg)
{
	const struct web_route *r;
	struct web_params prm;
	unsigned allow;

	r = web_route_find(rt, web_method_bit(web_req_method(req)), path, &prm,
			   &allow);
	if (r) {
		r->h(req, &prm, arg);
		return true;
	}
	if (allow) {
		web_reply_not_allowed(req, allow);
		return true;
	}
	if (!rt->notfound)
		return false;
	rt->notfound(req, arg);
	return true;
}

const struct pl *web_param(const struct web_params *prm, const char *name)
{
	unsigned i;

	for (i = 0; i < prm->n; i++) {
		if (!pl_strcmp(&prm->name[i], name))
			return &prm->value[i];
	}
	return NULL;
}
