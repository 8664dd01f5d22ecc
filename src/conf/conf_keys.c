/**
 * @file conf_keys.c  The keys of the configuration file and how each value
 * is checked and stored
 *
 * One table row per key: its section, its type (the set handler), where it
 * lands in struct conf, its range and whether it is repeatable or required.
 * docs/configuration.md documents the same table for operators.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "conf_int.h"
#include "store.h"

#define FIELD(f) offsetof(struct conf, f)

const char *const conf_sect_names[SECT_COUNT] = {
    "service",      "http",  "frontend", "sip",
    "autodiscover", "admin", "store",    "push",
};

/* Link tokens the autodiscover documents use themselves, in their JSON
 * form (lower case, '/' removed): a custom link may not shadow them. */
static const char *const reserved_rels[] = {
    "self",
    "user",
    "domain",
    "oauth",
    "redirect",
    "xframe",
    "applications",
    "ucwa",
    "internalxframe",
    "externalxframe",
    "internalautodiscover",
    "externalautodiscover",
    "internalauthbroker",
    "externalauthbroker",
    "internalwebscheduler",
    "externalwebscheduler",
    "internalmcx",
    "externalmcx",
    "internalucwa",
    "externalucwa",
};

static void *field(struct conf_ctx *ctx, const struct conf_key *k)
{
	return (char *)ctx->conf + k->off;
}

static void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void str_destructor(void *arg)
{
	struct conf_str *e = arg;

	mem_deref(e->s);
}

void conf_cert_destructor(void *arg)
{
	struct conf_cert *c = arg;

	mem_deref(c->chain);
	mem_deref(c->key);
}

static void redirect_destructor(void *arg)
{
	struct conf_redirect *r = arg;

	mem_deref(r->domain);
	mem_deref(r->href);
}

static void link_destructor(void *arg)
{
	struct conf_link *l = arg;

	mem_deref(l->token);
	mem_deref(l->href);
}

/* Split "A B" into two blank-separated words; false unless exactly two. */
static bool split2(const struct pl *val, struct pl *a, struct pl *b)
{
	size_t i = 0;

	while (i < val->l && val->p[i] != ' ' && val->p[i] != '\t')
		++i;
	a->p = val->p;
	a->l = i;
	b->p = val->p + i;
	b->l = val->l - i;
	text_trim(b);

	if (!a->l || !b->l)
		return false;

	for (i = 0; i < b->l; i++) {
		if (b->p[i] == ' ' || b->p[i] == '\t')
			return false;
	}

	return true;
}

/* Resolve a path relative to the directory of the configuration file. */
static int path_dup(struct conf_ctx *ctx, char **dst, const struct pl *pl,
		    const char *key, unsigned line)
{
	if (pl->l > CONF_MAX_PATH) {
		conf_problem(ctx, line,
			     "%s path is longer than %u bytes; use a shorter "
			     "path",
			     key, CONF_MAX_PATH);
		return EINVAL;
	}
	if (pl->p[0] == '/' || !ctx->dir[0])
		return re_sdprintf(dst, "%r", pl);

	return re_sdprintf(dst, "%s/%r", ctx->dir, pl);
}

/* Appends a copy of val to the repeatable key's list lst, refusing a
 * value given before (compared case-insensitively when nocase, as DNS
 * names are). The new entry is returned in *ep (borrowed: the list owns
 * it). */
static int str_list_add(struct conf_ctx *ctx, const struct conf_key *k,
			struct list *lst, const struct pl *val, unsigned line,
			bool nocase, struct conf_str **ep)
{
	struct conf_str *e;
	struct le *le;
	int err;

	LIST_FOREACH(lst, le)
	{
		const struct conf_str *o = le->data;

		if (nocase ? !pl_strcasecmp(val, o->s)
			   : !pl_strcmp(val, o->s)) {
			conf_problem(ctx, line,
				     "%s %s is already given at line %u; "
				     "remove one of the two lines",
				     k->name, o->s, o->line);
			return EINVAL;
		}
	}

	e = mem_zalloc(sizeof(*e), str_destructor);
	if (!e)
		return ENOMEM;
	err = pl_strdup(&e->s, val);
	if (err) {
		mem_deref(e);
		return err;
	}
	e->line = line;
	list_append(lst, &e->le, e);
	if (ep)
		*ep = e;
	return 0;
}

static int set_dns(struct conf_ctx *ctx, const struct conf_key *k,
		   const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);
	const char *why;
	int err;

	if (!dns_name_valid(val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a valid DNS name: it %s; "
			     "write a name such as mobility.example.com",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	*sp = mem_deref(*sp);
	err = pl_strdup(sp, val);
	if (err)
		return err;

	str_lower(*sp);
	return 0;
}

static int set_domain(struct conf_ctx *ctx, const struct conf_key *k,
		      const struct pl *val, unsigned line)
{
	struct conf_str *e;
	const char *why;
	int err;

	if (!dns_name_valid(val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a valid DNS name: it %s; "
			     "write a domain such as example.com",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	err = str_list_add(ctx, k, field(ctx, k), val, line, true, &e);
	if (!err)
		str_lower(e->s);
	return err;
}

static int set_port(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	uint16_t *portp = field(ctx, k);

	if (conf_port_decode(portp, val)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a port; give a number from 1 "
			     "to 65535",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}

	return 0;
}

static int set_level(struct conf_ctx *ctx, const struct conf_key *k,
		     const struct pl *val, unsigned line)
{
	int *lvlp = field(ctx, k);
	enum log_level lvl;
	char buf[16];

	if (val->l >= sizeof(buf) || pl_strcpy(val, buf, sizeof(buf)) ||
	    log_level_parse(&lvl, buf)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a log level; use debug, info, "
			     "notice, warn or error",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}

	*lvlp = (int)lvl;
	return 0;
}

static int set_bool(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	bool *bp = field(ctx, k);

	if (!pl_strcasecmp(val, "yes") || !pl_strcasecmp(val, "true") ||
	    !pl_strcasecmp(val, "on"))
		*bp = true;
	else if (!pl_strcasecmp(val, "no") || !pl_strcasecmp(val, "false") ||
		 !pl_strcasecmp(val, "off"))
		*bp = false;
	else {
		conf_problem(ctx, line,
			     "%s = '%H' is not yes or no; give yes or no",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	return 0;
}

static int set_addr(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	struct sa *sa = field(ctx, k);
	const char *why;

	if (conf_addr_decode(sa, val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not IP:PORT: it %s; write it as "
			     "192.0.2.10:5061 or [2001:db8::10]:5061",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	return 0;
}

static int set_listen(struct conf_ctx *ctx, const struct conf_key *k,
		      const struct pl *val, unsigned line)
{
	struct list *lst = field(ctx, k);
	struct conf_listen *l;
	const char *why;
	struct sa sa;

	if (conf_addr_decode(&sa, val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not IP:PORT: it %s; write it as "
			     "0.0.0.0:443 or [::]:443",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	l = mem_zalloc(sizeof(*l), NULL);
	if (!l)
		return ENOMEM;

	l->addr = sa;
	l->line = line;
	list_append(lst, &l->le, l);
	return 0;
}

static int set_cidr(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	struct list *lst = field(ctx, k);
	struct conf_cidr *c;
	const char *why;
	struct sa sa;
	unsigned bits;

	if (conf_cidr_decode(&sa, &bits, val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not an IP address or block: it %s; "
			     "write it as 192.0.2.10, 192.0.2.0/24 or "
			     "2001:db8::/64",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	c = mem_zalloc(sizeof(*c), NULL);
	if (!c)
		return ENOMEM;

	c->addr = sa;
	c->bits = bits;
	c->line = line;
	list_append(lst, &c->le, c);
	return 0;
}

static int set_uint(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	uint32_t *vp = field(ctx, k);
	const char *unit = k->mult == 1000 ? "seconds" : "a whole number";
	uint32_t v;
	int err;

	err = conf_uint_decode(&v, val);
	if (err == EINVAL) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a number; give %s from %u to "
			     "%u",
			     k->name, conf_pl_print, val, unit, k->min, k->max);
		return EINVAL;
	}
	if (err || v < k->min || v > k->max) {
		conf_problem(ctx, line,
			     "%s = %H is out of range; give %s from %u to %u",
			     k->name, conf_pl_print, val, unit, k->min, k->max);
		return EINVAL;
	}

	*vp = v * k->mult;
	return 0;
}

static int set_path(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);

	*sp = mem_deref(*sp);
	return path_dup(ctx, sp, val, k->name, line);
}

static int set_cert(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	struct list *lst = field(ctx, k);
	struct pl chain, key;
	struct conf_cert *c;
	int err;

	if (!split2(val, &chain, &key)) {
		conf_problem(ctx, line,
			     "%s expects two paths; write %s = CHAIN.pem "
			     "KEY.pem (paths without blanks)",
			     k->name, k->name);
		return EINVAL;
	}

	c = mem_zalloc(sizeof(*c), conf_cert_destructor);
	if (!c)
		return ENOMEM;

	err = path_dup(ctx, &c->chain, &chain, k->name, line);
	if (!err)
		err = path_dup(ctx, &c->key, &key, k->name, line);
	if (err) {
		mem_deref(c);
		return err;
	}

	c->line = line;
	list_append(lst, &c->le, c);
	return 0;
}

static int set_access(struct conf_ctx *ctx, const struct conf_key *k,
		      const struct pl *val, unsigned line)
{
	struct conf_access *a = field(ctx, k);
	const char *why;
	struct pl host;
	uint16_t port;
	int err;

	if (conf_hostport_decode(&host, &port, val, &why)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not FQDN:PORT: it %s; write it "
			     "as sip.example.com:5061",
			     k->name, conf_pl_print, val, why);
		return EINVAL;
	}

	a->fqdn = mem_deref(a->fqdn);
	err = pl_strdup(&a->fqdn, &host);
	if (err)
		return err;

	str_lower(a->fqdn);
	a->port = port;
	return 0;
}

static int check_url(struct conf_ctx *ctx, const struct conf_key *k,
		     const struct pl *url, unsigned line)
{
	const char *why;

	if (conf_url_valid(url, &why))
		return 0;

	conf_problem(ctx, line,
		     "%s URL '%H' is not valid: it %s; write it as "
		     "https://host[:port]/path",
		     k->name, conf_pl_print, url, why);
	return EINVAL;
}

static int set_redirect(struct conf_ctx *ctx, const struct conf_key *k,
			const struct pl *val, unsigned line)
{
	struct list *lst = field(ctx, k);
	struct conf_redirect *r;
	struct pl dom, url;
	const char *why;
	struct le *le;
	int err;

	if (!split2(val, &dom, &url)) {
		conf_problem(ctx, line,
			     "redirect expects a domain and a URL; write "
			     "redirect = other.example.com "
			     "https://lyncdiscover.other.example.com/");
		return EINVAL;
	}
	if (!dns_name_valid(&dom, &why)) {
		conf_problem(ctx, line,
			     "redirect domain '%H' is not a valid DNS name: "
			     "it %s; write a domain such as example.com",
			     conf_pl_print, &dom, why);
		return EINVAL;
	}
	if (check_url(ctx, k, &url, line))
		return EINVAL;

	LIST_FOREACH(lst, le)
	{
		const struct conf_redirect *o = le->data;

		if (!pl_strcasecmp(&dom, o->domain)) {
			conf_problem(ctx, line,
				     "redirect for %s is already given at "
				     "line %u; keep one of the two lines",
				     o->domain, o->line);
			return EINVAL;
		}
	}

	r = mem_zalloc(sizeof(*r), redirect_destructor);
	if (!r)
		return ENOMEM;

	err = pl_strdup(&r->domain, &dom);
	err |= pl_strdup(&r->href, &url);
	if (err) {
		mem_deref(r);
		return ENOMEM;
	}

	str_lower(r->domain);
	r->line = line;
	list_append(lst, &r->le, r);
	return 0;
}

/* The JSON name of a link: the token lower-cased with '/' removed. */
static void link_rel(char *rel, size_t size, const struct pl *token)
{
	size_t i, n = 0;

	for (i = 0; i < token->l && n + 1 < size; i++) {
		if (token->p[i] != '/')
			rel[n++] = (char)tolower((unsigned char)token->p[i]);
	}
	rel[n] = '\0';
}

static int set_link(struct conf_ctx *ctx, const struct conf_key *k,
		    const struct pl *val, unsigned line)
{
	struct list *lst = field(ctx, k);
	char rel[CONF_MAX_TOKEN + 1], orel[CONF_MAX_TOKEN + 1];
	struct pl token, url;
	struct conf_link *l;
	const char *why;
	struct le *le;
	size_t i;
	int err;

	if (!split2(val, &token, &url)) {
		conf_problem(ctx, line,
			     "link expects a token and a URL; write link = "
			     "External/Help https://help.example.com/");
		return EINVAL;
	}
	if (!conf_token_valid(&token, &why)) {
		conf_problem(ctx, line,
			     "link token '%H' is not valid: it %s; write a "
			     "token such as External/Help",
			     conf_pl_print, &token, why);
		return EINVAL;
	}
	if (check_url(ctx, k, &url, line))
		return EINVAL;

	link_rel(rel, sizeof(rel), &token);
	for (i = 0; i < ARRAY_SIZE(reserved_rels); i++) {
		if (!strcmp(rel, reserved_rels[i])) {
			conf_problem(ctx, line,
				     "link token '%r' is one the service "
				     "sends itself; choose another token",
				     &token);
			return EINVAL;
		}
	}
	LIST_FOREACH(lst, le)
	{
		const struct conf_link *o = le->data;
		struct pl otok;

		pl_set_str(&otok, o->token);
		link_rel(orel, sizeof(orel), &otok);
		if (!strcmp(rel, orel)) {
			conf_problem(ctx, line,
				     "link token '%r' clashes with '%s' at "
				     "line %u (both are '%s' in JSON); "
				     "choose another token",
				     &token, o->token, o->line, rel);
			return EINVAL;
		}
	}

	l = mem_zalloc(sizeof(*l), link_destructor);
	if (!l)
		return ENOMEM;

	err = pl_strdup(&l->token, &token);
	err |= pl_strdup(&l->href, &url);
	if (err) {
		mem_deref(l);
		return ENOMEM;
	}

	l->line = line;
	list_append(lst, &l->le, l);
	return 0;
}

static int set_url(struct conf_ctx *ctx, const struct conf_key *k,
		   const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);
	struct pl v = *val;

	if (check_url(ctx, k, val, line))
		return EINVAL;

	/* a trailing '/' would double the one of the request paths */
	while (v.l > 0 && v.p[v.l - 1] == '/')
		--v.l;

	*sp = mem_deref(*sp);
	return pl_strdup(sp, &v);
}

/* An identifier of a push provider's (key id, team id, project id):
 * 1 to CONF_MAX_ID letters, digits, '.', '-' or '_'. */
static bool id_valid(const struct pl *val)
{
	size_t i;

	for (i = 0; i < val->l; i++) {
		if (!isalnum((unsigned char)val->p[i]) &&
		    !strchr(".-_", val->p[i]))
			return false;
	}
	return val->l && val->l <= CONF_MAX_ID;
}

/* The store's backend: a name this build has (store.h). */
static int set_backend(struct conf_ctx *ctx, const struct conf_key *k,
		       const struct pl *val, unsigned line)
{
	char *name = field(ctx, k);
	char buf[sizeof(((struct conf *)0)->store_backend)];

	if (val->l >= sizeof(buf) || pl_strcpy(val, buf, sizeof(buf)) ||
	    !store_backend_known(buf)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a store backend this build "
			     "has; use lmdb or redis",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	strcpy(name, buf);
	return 0;
}

/* Redis's address: host:port (a name or an IPv4 address) or [IPv6]:port,
 * resolved when the store connects. */
static int set_hostport(struct conf_ctx *ctx, const struct conf_key *k,
			const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);
	char buf[STORE_REDIS_ADDRESS_MAX + 1], host[STORE_REDIS_ADDRESS_MAX];
	int port;

	if (val->l >= sizeof(buf) || pl_strcpy(val, buf, sizeof(buf)) ||
	    store_redis_address_parse(buf, host, sizeof(host), &port)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not host:port; write it as "
			     "127.0.0.1:6379, [::1]:6379 or "
			     "redis.example.com:6379",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

/* Redis Sentinels: host:port items separated by commas or spaces, each
 * as redis_address takes it; at most STORE_SENTINELS_MAX. */
static int set_sentinels(struct conf_ctx *ctx, const struct conf_key *k,
			 const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);
	char buf[STORE_REDIS_ADDRESS_MAX + 1], host[STORE_REDIS_ADDRESS_MAX];
	struct pl v = *val, item;
	unsigned n = 0;
	int port;

	while (!re_regex(v.p, v.l, "[^, \t]+", &item)) {
		if (item.l >= sizeof(buf) ||
		    pl_strcpy(&item, buf, sizeof(buf)) ||
		    store_redis_address_parse(buf, host, sizeof(host), &port) ||
		    ++n > STORE_SENTINELS_MAX) {
			conf_problem(ctx, line,
				     "%s: '%r' is not host:port, or more than "
				     "%u are given; write them as "
				     "127.0.0.1:26379, 127.0.0.1:26380",
				     k->name, &item, STORE_SENTINELS_MAX);
			return EINVAL;
		}
		pl_advance(&v, (size_t)(item.p + item.l - v.p));
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

/* The primary's name at the Sentinels (their "sentinel monitor NAME"). */
static int set_master_name(struct conf_ctx *ctx, const struct conf_key *k,
			   const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);

	if (!id_valid(val)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a name; give the one of the "
			     "Sentinels' 'sentinel monitor' line (letters, "
			     "digits, '.', '-', '_'; such as mobilityd)",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

/* This instance's name in a pool on Redis (docs/pool.md). */
static int set_instance(struct conf_ctx *ctx, const struct conf_key *k,
			const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);

	if (!id_valid(val) || val->l >= 200) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a name; give this instance's "
			     "own in the pool (letters, digits, '.', '-', "
			     "'_', fewer than 200; such as mob-a)",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

/* Where the peers of a pool reach this instance: http://HOST:PORT (one
 * of its plain listeners), host:port as redis_address takes it. */
static int set_peer_url(struct conf_ctx *ctx, const struct conf_key *k,
			const struct pl *val, unsigned line)
{
	static const char scheme[] = "http://";
	const size_t n = sizeof(scheme) - 1;
	char **sp = field(ctx, k);
	char buf[STORE_REDIS_ADDRESS_MAX + 1], host[STORE_REDIS_ADDRESS_MAX];
	struct pl v = *val;
	int port;

	/* a trailing '/' would double the one of the request paths */
	while (v.l > n && v.p[v.l - 1] == '/')
		--v.l;
	if (v.l <= n || strncasecmp(v.p, scheme, n) || v.l - n >= sizeof(buf) ||
	    re_snprintf(buf, sizeof(buf), "%b", v.p + n, v.l - n) < 0 ||
	    store_redis_address_parse(buf, host, sizeof(host), &port)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not http://host:port; give one "
			     "of this instance's plain listeners as its "
			     "peers reach it, such as http://10.0.0.1:8080",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, &v);
}

/* A secret given as it is (one line, no spaces at either end). */
static int set_secret(struct conf_ctx *ctx, const struct conf_key *k,
		      const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);

	if (!val->l || val->l > 512) {
		conf_problem(ctx, line, "%s: give 1 to 512 characters",
			     k->name);
		return EINVAL;
	}
	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

/* A provider identifier (key id, team id): letters, digits, '.', '-',
 * '_'; it lands in a JWT and a header as it is. */
static int set_id(struct conf_ctx *ctx, const struct conf_key *k,
		  const struct pl *val, unsigned line)
{
	char **sp = field(ctx, k);

	if (!id_valid(val)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not an identifier; give the %u "
			     "letters and digits at most the provider shows "
			     "(such as ABC123DEFG)",
			     k->name, conf_pl_print, val, CONF_MAX_ID);
		return EINVAL;
	}

	*sp = mem_deref(*sp);
	return pl_strdup(sp, val);
}

static int set_alert_text(struct conf_ctx *ctx, const struct conf_key *k,
			  const struct pl *val, unsigned line)
{
	int *vp = field(ctx, k);

	if (!pl_strcasecmp(val, "full"))
		*vp = CONF_ALERT_FULL;
	else if (!pl_strcasecmp(val, "sender"))
		*vp = CONF_ALERT_SENDER;
	else if (!pl_strcasecmp(val, "none"))
		*vp = CONF_ALERT_NONE;
	else {
		conf_problem(ctx, line,
			     "%s = '%H' is not a privacy mode; give full, "
			     "sender or none",
			     k->name, conf_pl_print, val);
		return EINVAL;
	}
	return 0;
}

/* An FCM project id a push registration may name (repeatable): the
 * characters a registration's project may hold, each id once. */
static int set_project(struct conf_ctx *ctx, const struct conf_key *k,
		       const struct pl *val, unsigned line)
{
	if (!id_valid(val)) {
		conf_problem(ctx, line,
			     "%s = '%H' is not a project id; give the id "
			     "of a Firebase project (letters, digits, '-', "
			     "'_' or '.', at most %u), such as my-app-12345",
			     k->name, conf_pl_print, val, CONF_MAX_ID);
		return EINVAL;
	}
	return str_list_add(ctx, k, field(ctx, k), val, line, false, NULL);
}

/* Keep in step with docs/configuration.md. */
#define KEY(s, n, h, f)  .sect = (s), .name = (n), .seth = (h), .off = FIELD(f)
#define RANGE(lo, hi, m) .min = (lo), .max = (hi), .mult = (m)

const struct conf_key conf_keys[] = {
    {KEY(SECT_SERVICE, "server_fqdn", set_dns, server_fqdn)},
    {KEY(SECT_SERVICE, "sip_domain", set_domain, domains), .repeat = true,
     .required = true, .example = "example.com"},
    {KEY(SECT_SERVICE, "internal_web_fqdn", set_dns, internal_web_fqdn),
     .required = true, .example = "mobility-int.example.com"},
    {KEY(SECT_SERVICE, "external_web_fqdn", set_dns, external_web_fqdn),
     .required = true, .example = "mobility.example.com"},
    {KEY(SECT_SERVICE, "internal_web_port", set_port, internal_web_port)},
    {KEY(SECT_SERVICE, "external_web_port", set_port, external_web_port)},
    {KEY(SECT_SERVICE, "log_level", set_level, log_level)},
    /* at most 30 days: kept in milliseconds in 32 bits */
    {KEY(SECT_SERVICE, "session_expiration", set_uint, session_expiration_ms),
     RANGE(1, 2592000, 1000)},
    {KEY(SECT_SERVICE, "session_short_expiration", set_uint,
	 session_short_expiration_ms),
     RANGE(1, 2592000, 1000)},
    /* what the store keeps for one application the app has not
     * acknowledged (docs/api.md "Limits") */
    {KEY(SECT_SERVICE, "max_unacked_events", set_uint, max_unacked_events),
     RANGE(10, 1000000, 1)},
    {KEY(SECT_SERVICE, "max_unacked_bytes", set_uint, max_unacked_bytes),
     RANGE(65536, 1073741824, 1)},
    {KEY(SECT_SERVICE, "user_max_tokens", set_uint, user_max_tokens),
     RANGE(1, 100000, 1)},
    {KEY(SECT_SERVICE, "token_max_lifetime", set_uint, token_max_lifetime_s),
     RANGE(1, 31536000, 1)},
    /* SIGTERM: the paced removal of every session's SIP side and the
     * close of the HTTP connections end within this (main.c) */
    {KEY(SECT_SERVICE, "drain_timeout", set_uint, drain_timeout_ms),
     RANGE(1, 3600, 1000)},

    {KEY(SECT_HTTP, "listen", set_listen, http_listen), .repeat = true},
    {KEY(SECT_HTTP, "listen_tls", set_listen, https_listen), .repeat = true},
    {KEY(SECT_HTTP, "certificate", set_cert, certs), .repeat = true},
    {KEY(SECT_HTTP, "max_request_line", set_uint, limits.max_request_line),
     RANGE(256, 1048576, 1)},
    {KEY(SECT_HTTP, "max_header_bytes", set_uint, limits.max_header_bytes),
     RANGE(1024, 1048576, 1)},
    {KEY(SECT_HTTP, "max_headers", set_uint, limits.max_headers),
     RANGE(8, 1024, 1)},
    {KEY(SECT_HTTP, "max_body_bytes", set_uint, limits.max_body_bytes),
     RANGE(1024, 67108864, 1)},
    {KEY(SECT_HTTP, "header_timeout", set_uint, limits.header_timeout_ms),
     RANGE(1, 300, 1000)},
    {KEY(SECT_HTTP, "body_timeout", set_uint, limits.body_timeout_ms),
     RANGE(1, 3600, 1000)},
    {KEY(SECT_HTTP, "idle_timeout", set_uint, limits.idle_timeout_ms),
     RANGE(1, 3600, 1000)},
    {KEY(SECT_HTTP, "max_connections", set_uint, limits.max_connections),
     RANGE(1, 1000000, 1)},
    {KEY(SECT_HTTP, "max_connections_per_address", set_uint,
	 limits.max_conns_per_addr),
     RANGE(1, 1000000, 1)},
    {KEY(SECT_HTTP, "trusted_proxy", set_cidr, trusted_proxies), .repeat = true,
     .example = "192.0.2.5"},
    {KEY(SECT_HTTP, "behind_tls_proxy", set_bool, behind_tls_proxy)},
    {KEY(SECT_HTTP, "listen_proxy", set_listen, proxy_listen), .repeat = true},

    {KEY(SECT_FRONTEND, "address", set_addr, fe_addr), .required = true,
     .example = "192.0.2.20:5061"},
    {KEY(SECT_FRONTEND, "tls_server_name", set_dns, fe_server_name),
     .required = true, .example = "fe.example.com"},
    {KEY(SECT_FRONTEND, "ca_file", set_path, fe_ca_file), .required = true,
     .example = "/etc/mobilityd/fe-ca.pem"},
    {KEY(SECT_FRONTEND, "client_internal_access", set_access, client_internal)},
    {KEY(SECT_FRONTEND, "client_external_access", set_access, client_external)},
    {KEY(SECT_FRONTEND, "xcap", set_addr, fe_xcap),
     .example = "192.0.2.20:8080"},
    {KEY(SECT_FRONTEND, "rls", set_bool, fe_rls), .example = "yes"},

    {KEY(SECT_SIP, "internal_listen", set_addr, sip_internal)},
    {KEY(SECT_SIP, "external_listen", set_addr, sip_external)},
    {KEY(SECT_SIP, "certificate", set_cert, sip_certs), .repeat = true},
    {KEY(SECT_SIP, "ring_time", set_uint, sip_ring_ms), RANGE(5, 600, 1000)},
    {KEY(SECT_SIP, "client_ca_file", set_path, sip_client_ca_file),
     .example = "/etc/mobilityd/fe-client-ca.pem"},
    {KEY(SECT_SIP, "client_name", set_domain, sip_client_names), .repeat = true,
     .example = "fe.example.com"},
    {KEY(SECT_SIP, "max_connections", set_uint, sip_max_connections),
     RANGE(1, 1000000, 1)},
    /* libre closes a connection 900 s after its last message anyway */
    {KEY(SECT_SIP, "idle_timeout", set_uint, sip_idle_ms), RANGE(1, 900, 1000)},

    {KEY(SECT_AUTODISCOVER, "redirect", set_redirect, redirects),
     .repeat = true},
    {KEY(SECT_AUTODISCOVER, "link", set_link, links), .repeat = true},

    {KEY(SECT_ADMIN, "listen", set_addr, admin_addr)},

    {KEY(SECT_STORE, "backend", set_backend, store_backend)},
    {KEY(SECT_STORE, "path", set_path, store_path)},
    {KEY(SECT_STORE, "map_size_mb", set_uint, store_map_size_mb),
     RANGE(1, 1048576, 1)},
    {KEY(SECT_STORE, "redis_address", set_hostport, store_redis_address),
     .example = "127.0.0.1:6379"},
    {KEY(SECT_STORE, "redis_password", set_secret, store_redis_password)},
    {KEY(SECT_STORE, "redis_db", set_uint, store_redis_db), RANGE(0, 65535, 1)},
    {KEY(SECT_STORE, "redis_sentinels", set_sentinels, store_redis_sentinels),
     .example = "127.0.0.1:26379, 127.0.0.1:26380, 127.0.0.1:26381"},
    {KEY(SECT_STORE, "redis_master_name", set_master_name,
	 store_redis_master_name),
     .example = "mobilityd"},
    {KEY(SECT_STORE, "redis_sentinel_password", set_secret,
	 store_redis_sentinel_password)},
    {KEY(SECT_STORE, "redis_wait_replicas", set_uint,
	 store_redis_wait_replicas),
     RANGE(0, 16, 1)},
    {KEY(SECT_STORE, "redis_wait_ms", set_uint, store_redis_wait_ms),
     RANGE(10, 60000, 1)},
    {KEY(SECT_STORE, "redis_instance", set_instance, store_redis_instance),
     .example = "mob-a"},
    {KEY(SECT_STORE, "redis_instance_url", set_peer_url,
	 store_redis_instance_url),
     .example = "http://127.0.0.1:8081"},
    {KEY(SECT_STORE, "takeover_rate", set_uint, store_takeover_rate),
     RANGE(1, 100000, 1)},

    {KEY(SECT_PUSH, "apns_url", set_url, push.apns_url)},
    {KEY(SECT_PUSH, "apns_key", set_path, push.apns_key),
     .example = "/etc/mobilityd/AuthKey_ABC123DEFG.p8"},
    {KEY(SECT_PUSH, "apns_key_id", set_id, push.apns_key_id),
     .example = "ABC123DEFG"},
    {KEY(SECT_PUSH, "apns_team_id", set_id, push.apns_team_id),
     .example = "DEF123GHIJ"},
    {KEY(SECT_PUSH, "apns_ttl", set_uint, push.apns_ttl_s),
     RANGE(0, 2592000, 1)},
    {KEY(SECT_PUSH, "jwt_max_age", set_uint, push.jwt_max_age_s),
     RANGE(60, 3300, 1)},
    {KEY(SECT_PUSH, "fcm_url", set_url, push.fcm_url)},
    {KEY(SECT_PUSH, "fcm_credentials", set_path, push.fcm_credentials),
     .example = "/etc/mobilityd/fcm-service-account.json"},
    {KEY(SECT_PUSH, "fcm_token_url", set_url, push.fcm_token_url)},
    {KEY(SECT_PUSH, "ca_file", set_path, push.ca_file)},
    {KEY(SECT_PUSH, "in_flight", set_uint, push.in_flight),
     RANGE(1, 100000, 1)},
    {KEY(SECT_PUSH, "queue", set_uint, push.queue), RANGE(1, 10000000, 1)},
    {KEY(SECT_PUSH, "retries", set_uint, push.retries), RANGE(0, 20, 1)},
    {KEY(SECT_PUSH, "retry_base_ms", set_uint, push.retry_base_ms),
     RANGE(1, 60000, 1)},
    {KEY(SECT_PUSH, "retry_cap", set_uint, push.retry_cap_ms),
     RANGE(1, 3600, 1000)},
    {KEY(SECT_PUSH, "timeout", set_uint, push.timeout_ms), RANGE(1, 300, 1000)},
    {KEY(SECT_PUSH, "alert_text", set_alert_text, push.alert_text)},
    {KEY(SECT_PUSH, "fcm_project", set_project, push.fcm_projects),
     .repeat = true},
};

const size_t conf_nkeys = ARRAY_SIZE(conf_keys);

_Static_assert(ARRAY_SIZE(conf_keys) <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS");

/** Find a key of a section by name (case-insensitive), or NULL. */
const struct conf_key *conf_key_find(enum conf_sect sect, const struct pl *name)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++) {
		if (conf_keys[i].sect == sect &&
		    !pl_strcasecmp(name, conf_keys[i].name))
			return &conf_keys[i];
	}

	return NULL;
}

size_t conf_key_index(const struct conf_key *k)
{
	return (size_t)(k - conf_keys);
}

/** First line a key was given on, 0 if it was not given. */
unsigned conf_key_line(const struct conf_ctx *ctx, enum conf_sect sect,
		       const char *name)
{
	const struct conf_key *k;
	struct pl pl;

	pl_set_str(&pl, name);
	k = conf_key_find(sect, &pl);

	return k ? ctx->key_line[conf_key_index(k)] : 0;
}

/** Set every default value (docs/configuration.md). */
void conf_defaults(struct conf *conf)
{
	struct conf_http_limits *lim = &conf->limits;

	conf->internal_web_port = 443;
	conf->external_web_port = 443;
	conf->log_level = LOG_INFO;
	conf->session_expiration_ms = 259200u * 1000;
	conf->drain_timeout_ms = 60u * 1000;
	conf->session_short_expiration_ms = 3600u * 1000;
	conf->max_unacked_events = 1000;
	conf->max_unacked_bytes = 4u << 20;
	conf->user_max_tokens = 100;
	conf->token_max_lifetime_s = 30u * 86400;

	lim->max_request_line = 8192;
	lim->max_header_bytes = 16384;
	lim->max_headers = 64;
	lim->max_body_bytes = 1048576;
	lim->header_timeout_ms = 10 * 1000;
	lim->body_timeout_ms = 30 * 1000;
	lim->idle_timeout_ms = 120 * 1000;
	lim->max_connections = 50000;
	lim->max_conns_per_addr = 5000;

	(void)sa_set_str(&conf->admin_addr, "127.0.0.1", 9090);

	/* the default store path is set in conf_check() (an allocation) */
	strcpy(conf->store_backend, "lmdb");
	conf->store_map_size_mb = 1024;
	conf->store_redis_wait_ms = 1000;
	conf->store_takeover_rate = 2000;
	conf->sip_ring_ms = 30 * 1000;
	conf->sip_max_connections = 1024;
	conf->sip_idle_ms = 300 * 1000;

	/* [push]: the URLs are set in conf_check() (allocations) */
	conf->push.apns_ttl_s = 86400;
	conf->push.jwt_max_age_s = 40 * 60;
	conf->push.in_flight = 1000;
	conf->push.queue = 100000;
	conf->push.retries = 5;
	conf->push.retry_base_ms = 500;
	conf->push.retry_cap_ms = 60 * 1000;
	conf->push.timeout_ms = 30 * 1000;
	/* a locked screen shows who wrote, not what: the text only by choice */
	conf->push.alert_text = CONF_ALERT_SENDER;
}
