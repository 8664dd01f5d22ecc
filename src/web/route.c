/**
 * @file route.c  Route tables: the matcher, 404 and 405 with Allow
 */
#include <string.h>
#include <re.h>
#include "web.h"
#include "web_route.h"

static const char *const method_names[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
};

unsigned web_method_bit(const struct pl *method)
{
	size_t i;

	/* methods are case-sensitive (RFC 9110 9.1) */
	for (i = 0; i < ARRAY_SIZE(method_names); i++) {
		if (!pl_strcmp(method, method_names[i]))
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
		n = strlen(sep) + strlen(method_names[i]);
		if (pos + n >= size) {
			buf[0] = '\0';
			return ENOMEM;
		}
		(void)re_snprintf(buf + pos, size - pos, "%s%s", sep,
				  method_names[i]);
		pos += n;
	}
	return 0;
}

static void pl_set_n(struct pl *pl, const char *p, size_t n)
{
	pl->p = p;
	pl->l = n;
}

static bool seg_eq(const char *a, const char *b, size_t n, bool nocase)
{
	return nocase ? !strncasecmp(a, b, n) : !memcmp(a, b, n);
}

/* One pattern against a path (leading and trailing '/' already gone). */
static bool match(const char *pat, struct pl path, bool nocase,
		  struct web_params *prm)
{
	prm->n = 0;
	for (;;) {
		const char *pend = strchr(pat, '/');
		size_t plen = pend ? (size_t)(pend - pat) : strlen(pat);
		const char *sl = memchr(path.p, '/', path.l);
		size_t slen = sl ? (size_t)(sl - path.p) : path.l;
		bool param = plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}';

		if (param && plen > 3 && pat[plen - 2] == '*') {
			/* the rest, whatever it is */
			if (prm->n == WEB_ROUTE_PARAMS)
				return false;
			pl_set_n(&prm->name[prm->n], pat + 1, plen - 3);
			prm->value[prm->n++] = path;
			return true;
		}
		if (param) {
			if (!slen || prm->n == WEB_ROUTE_PARAMS)
				return false;
			pl_set_n(&prm->name[prm->n], pat + 1, plen - 2);
			pl_set_n(&prm->value[prm->n++], path.p, slen);
		} else if (plen != slen || !seg_eq(pat, path.p, plen, nocase)) {
			return false;
		}
		pl_advance(&path, slen);
		if (!pend)
			return !path.l;
		pat = pend + 1;
		/* "a/{rest*}" takes "a" too, with an empty rest */
		if (!path.l && pat[0] == '{' && strstr(pat, "*}") &&
		    !strchr(pat, '/'))
			continue;
		if (!path.l || path.p[0] != '/')
			return false;
		pl_advance(&path, 1);
	}
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

		if (!match(r->pattern, p, rt->nocase, prm))
			continue;
		if (r->methods & method)
			return r;
		*allow |= r->methods;
	}
	return NULL;
}

void web_reply_not_allowed(struct web_req *req, unsigned allow)
{
	static const char body[] = "method not allowed\n";
	char val[WEB_ALLOW_MAX];

	(void)web_allow_print(val, sizeof(val), allow);
	web_reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
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
