/**
 * @file conf_check.c  Whole-file checks: required keys, keys that depend on
 * each other, listening addresses; then the certificates (conf_cert.c)
 *
 * These run after the last line, so a problem that involves several lines
 * is reported once, at the line an operator would change.
 */
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "conf.h"
#include "conf_int.h"

static unsigned max_line(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

/* The host name is the default server FQDN (X-MS-Server-Fqdn). */
static int default_server_fqdn(struct conf *conf)
{
	char host[256];

	if (conf->server_fqdn)
		return 0;

	if (gethostname(host, sizeof(host)) || !host[0])
		return str_dup(&conf->server_fqdn, "localhost");

	host[sizeof(host) - 1] = '\0';
	return str_dup(&conf->server_fqdn, host);
}

static void check_required(struct conf_ctx *ctx)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (!k->required || ctx->key_line[i])
			continue;

		conf_problem(ctx, ctx->sect_line[k->sect],
			     "[%s] %s is missing; add %s = %s under [%s]",
			     conf_sect_names[k->sect], k->name, k->name,
			     k->example, conf_sect_names[k->sect]);
	}
}

static void check_web(struct conf_ctx *ctx)
{
	const struct conf *conf = ctx->conf;

	if (!conf->internal_web_fqdn || !conf->external_web_fqdn)
		return;

	if (!strcmp(conf->internal_web_fqdn, conf->external_web_fqdn)) {
		conf_problem(
		    ctx,
		    max_line(
			conf_key_line(ctx, SECT_SERVICE, "internal_web_fqdn"),
			conf_key_line(ctx, SECT_SERVICE, "external_web_fqdn")),
		    "internal and external web FQDNs equal (%s); give "
		    "each access location its own name",
		    conf->internal_web_fqdn);
	}
}

static void check_http(struct conf_ctx *ctx)
{
	const struct conf *conf = ctx->conf;

	if (list_isempty(&conf->http_listen) &&
	    list_isempty(&conf->https_listen) &&
	    list_isempty(&conf->proxy_listen) &&
	    !conf_key_line(ctx, SECT_HTTP, "listen") &&
	    !conf_key_line(ctx, SECT_HTTP, "listen_tls") &&
	    !conf_key_line(ctx, SECT_HTTP, "listen_proxy")) {
		conf_problem(ctx, ctx->sect_line[SECT_HTTP],
			     "[http] has no listen or listen_tls; add "
			     "listen_tls = 0.0.0.0:443 (or listen = IP:PORT "
			     "behind a TLS proxy) under [http]");
	}

	if (conf_key_line(ctx, SECT_HTTP, "listen_tls") &&
	    !conf_key_line(ctx, SECT_HTTP, "certificate")) {
		conf_problem(ctx, conf_key_line(ctx, SECT_HTTP, "listen_tls"),
			     "listen_tls needs a certificate; add "
			     "certificate = CHAIN.pem KEY.pem under [http]");
	}

	/* the whole API over plain http only for a proxy we know */
	if (conf->behind_tls_proxy && list_isempty(&conf->trusted_proxies)) {
		conf_problem(ctx,
			     conf_key_line(ctx, SECT_HTTP, "behind_tls_proxy"),
			     "behind_tls_proxy = yes needs the proxy's "
			     "address; add trusted_proxy = IP under [http]");
	}
	if (!list_isempty(&conf->proxy_listen) &&
	    list_isempty(&conf->trusted_proxies)) {
		conf_problem(ctx, conf_key_line(ctx, SECT_HTTP, "listen_proxy"),
			     "listen_proxy takes connections from trusted "
			     "proxies only; add trusted_proxy = IP under "
			     "[http]");
	}
}

static int copy_certs(struct list *dst, const struct list *src)
{
	struct le *le;

	LIST_FOREACH(src, le)
	{
		const struct conf_cert *c = le->data;
		struct conf_cert *d;

		d = mem_zalloc(sizeof(*d), conf_cert_destructor);
		if (!d)
			return ENOMEM;

		/* The strings are shared with the [http] entry. */
		d->chain = mem_ref(c->chain);
		d->key = mem_ref(c->key);
		d->line = c->line;
		list_append(dst, &d->le, d);
	}

	return 0;
}

/* A list subscription needs its list written on the XCAP server. */
static void check_rls(struct conf_ctx *ctx)
{
	unsigned line = conf_key_line(ctx, SECT_FRONTEND, "rls");

	if (ctx->conf->fe_rls && !sa_isset(&ctx->conf->fe_xcap, SA_ALL) &&
	    !conf_key_line(ctx, SECT_FRONTEND, "xcap"))
		conf_problem(ctx, line,
			     "rls = yes needs the Front End's XCAP server, "
			     "where the lists are written; add xcap = IP:PORT "
			     "under [frontend] or set rls = no");
}

/*
 * The Front End reaches the service on the service's own SIP listeners
 * (Lync: 5086 internal, 5087 external). Without one it cannot route any
 * request (incoming IM, NOTIFY, INVITE) to a mobile user.
 */
static int check_sip(struct conf_ctx *ctx)
{
	struct conf *conf = ctx->conf;
	unsigned line;

	if (!sa_isset(&conf->sip_internal, SA_PORT) &&
	    !sa_isset(&conf->sip_external, SA_PORT)) {
		if (conf_key_line(ctx, SECT_SIP, "internal_listen") ||
		    conf_key_line(ctx, SECT_SIP, "external_listen"))
			return 0; /* the bad value was reported */

		conf_problem(ctx, ctx->sect_line[SECT_SIP],
			     "no SIP listening port: the Front End could not "
			     "route to the service; add internal_listen = "
			     "IP:5086 and/or external_listen = IP:5087 under "
			     "[sip]");
		return 0;
	}

	if (conf_key_line(ctx, SECT_SIP, "certificate"))
		return 0;

	if (!list_isempty(&conf->certs)) {
		ctx->sip_certs_from_http = true;
		return copy_certs(&conf->sip_certs, &conf->certs);
	}
	if (conf_key_line(ctx, SECT_HTTP, "certificate"))
		return 0; /* the [http] certificate line was reported */

	line = conf_key_line(ctx, SECT_SIP, "internal_listen");
	if (!line)
		line = conf_key_line(ctx, SECT_SIP, "external_listen");
	conf_problem(ctx, line,
		     "the SIP listeners need a certificate; add certificate = "
		     "CHAIN.pem KEY.pem under [sip] (or under [http], which "
		     "[sip] then uses too)");
	return 0;
}

static void check_redirects(struct conf_ctx *ctx)
{
	const struct conf *conf = ctx->conf;
	struct le *le;

	LIST_FOREACH(&conf->redirects, le)
	{
		const struct conf_redirect *r = le->data;
		struct le *de;

		LIST_FOREACH(&conf->domains, de)
		{
			const struct conf_str *d = de->data;

			if (strcmp(d->s, r->domain))
				continue;

			conf_problem(ctx, r->line,
				     "redirect for %s, which is a sip_domain "
				     "served here (line %u); remove the "
				     "redirect or the sip_domain",
				     r->domain, d->line);
		}
	}
}

static void check_limits(struct conf_ctx *ctx)
{
	const struct conf_http_limits *lim = &ctx->conf->limits;

	if (lim->max_request_line > lim->max_header_bytes) {
		conf_problem(
		    ctx,
		    max_line(conf_key_line(ctx, SECT_HTTP, "max_request_line"),
			     conf_key_line(ctx, SECT_HTTP, "max_header_bytes")),
		    "max_request_line (%u) is larger than "
		    "max_header_bytes (%u), which counts the request line "
		    "too; lower max_request_line or raise "
		    "max_header_bytes",
		    lim->max_request_line, lim->max_header_bytes);
	}
	if (lim->max_conns_per_addr > lim->max_connections) {
		conf_problem(
		    ctx,
		    max_line(conf_key_line(ctx, SECT_HTTP,
					   "max_connections_per_address"),
			     conf_key_line(ctx, SECT_HTTP, "max_connections")),
		    "max_connections_per_address (%u) is larger than "
		    "max_connections (%u); lower the first or raise the "
		    "second",
		    lim->max_conns_per_addr, lim->max_connections);
	}
	/* a session that can be woken must not end before one that
	 * cannot: the short lifetime is for clients always connected */
	if (ctx->conf->session_short_expiration_ms >
	    ctx->conf->session_expiration_ms) {
		conf_problem(
		    ctx,
		    max_line(
			conf_key_line(ctx, SECT_SERVICE,
				      "session_short_expiration"),
			conf_key_line(ctx, SECT_SERVICE, "session_expiration")),
		    "session_short_expiration (%u s) is longer than "
		    "session_expiration (%u s), the lifetime of sessions "
		    "with push; lower the first or raise the second",
		    ctx->conf->session_short_expiration_ms / 1000,
		    ctx->conf->session_expiration_ms / 1000);
	}
}

/* A listening address with where it came from. */
struct lsn {
	const struct sa *sa;
	const char *what;
	unsigned line;
};

/* Two sockets cannot listen on the same port if their addresses are equal
 * or one is the wildcard address of the same family. */
static bool overlap(const struct sa *a, const struct sa *b)
{
	if (sa_af(a) != sa_af(b) || sa_port(a) != sa_port(b))
		return false;

	return sa_is_any(a) || sa_is_any(b) || sa_cmp(a, b, SA_ADDR);
}

static int add_lsn(struct lsn **vp, size_t *n, size_t *cap, const struct sa *sa,
		   const char *what, unsigned line)
{
	/* SA_ADDR is false for a wildcard address: test the port */
	if (!sa_isset(sa, SA_PORT))
		return 0;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct lsn *v = mem_reallocarray(*vp, ncap, sizeof(*v), NULL);

		if (!v)
			return ENOMEM;
		*vp = v;
		*cap = ncap;
	}

	(*vp)[*n].sa = sa;
	(*vp)[*n].what = what;
	(*vp)[*n].line = line;
	++*n;
	return 0;
}

static int check_addresses(struct conf_ctx *ctx)
{
	const struct conf *conf = ctx->conf;
	struct lsn *v = NULL;
	size_t n = 0, cap = 0, i, j;
	struct le *le;
	int err = 0;

	LIST_FOREACH(&conf->http_listen, le)
	{
		const struct conf_listen *l = le->data;
		err |=
		    add_lsn(&v, &n, &cap, &l->addr, "[http] listen", l->line);
	}
	LIST_FOREACH(&conf->https_listen, le)
	{
		const struct conf_listen *l = le->data;
		err |= add_lsn(&v, &n, &cap, &l->addr, "[http] listen_tls",
			       l->line);
	}
	LIST_FOREACH(&conf->proxy_listen, le)
	{
		const struct conf_listen *l = le->data;
		err |= add_lsn(&v, &n, &cap, &l->addr, "[http] listen_proxy",
			       l->line);
	}
	err |=
	    add_lsn(&v, &n, &cap, &conf->sip_internal, "[sip] internal_listen",
		    conf_key_line(ctx, SECT_SIP, "internal_listen"));
	err |=
	    add_lsn(&v, &n, &cap, &conf->sip_external, "[sip] external_listen",
		    conf_key_line(ctx, SECT_SIP, "external_listen"));
	err |= add_lsn(&v, &n, &cap, &conf->admin_addr, "[admin] listen",
		       conf_key_line(ctx, SECT_ADMIN, "listen"));
	if (err) {
		err = ENOMEM;
		goto out;
	}

	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			const struct lsn *a = &v[i], *b = &v[j];

			if (!overlap(a->sa, b->sa))
				continue;

			/* report at the later line; the default admin
			 * address has line 0 */
			if (a->line > b->line) {
				const struct lsn *t = a;
				a = b;
				b = t;
			}
			if (a->line) {
				conf_problem(ctx, b->line,
					     "%s %J overlaps %s %J at line %u; "
					     "give each listener its own "
					     "address or port",
					     b->what, b->sa, a->what, a->sa,
					     a->line);
			} else {
				conf_problem(ctx, b->line,
					     "%s %J overlaps the default %s "
					     "%J; give each listener its own "
					     "address or port",
					     b->what, b->sa, a->what, a->sa);
			}
		}
	}

out:
	mem_deref(v);
	return err;
}

/* A provider is configured by all its keys or none of them. A missing
 * key is reported at the last of the keys given. */
static void check_push(struct conf_ctx *ctx)
{
	static const char *const apns[] = {"apns_key", "apns_key_id",
					   "apns_team_id"};
	const struct conf_push *p = &ctx->conf->push;
	const bool set[ARRAY_SIZE(apns)] = {p->apns_key != NULL,
					    p->apns_key_id != NULL,
					    p->apns_team_id != NULL};
	unsigned line = 0;
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(apns); i++) {
		if (!set[i])
			continue;
		++n;
		line = max_line(line, conf_key_line(ctx, SECT_PUSH, apns[i]));
	}
	if (n == 0 || n == ARRAY_SIZE(apns))
		return;

	for (i = 0; i < ARRAY_SIZE(apns); i++) {
		if (set[i])
			continue;
		conf_problem(ctx, line,
			     "[push] %s is missing: APNs needs apns_key, "
			     "apns_key_id and apns_team_id; add it or remove "
			     "the others",
			     apns[i]);
	}
}

static int push_defaults(struct conf_push *p)
{
	int err = 0;

	if (!p->apns_url)
		err = str_dup(&p->apns_url, "https://api.push.apple.com");
	if (!err && !p->fcm_url)
		err = str_dup(&p->fcm_url, "https://fcm.googleapis.com");
	return err;
}

/* Sentinels and the primary's name go together. */
static void check_sentinels(struct conf_ctx *ctx)
{
	const struct conf *c = ctx->conf;

	if (!c->store_redis_sentinels == !c->store_redis_master_name)
		return;
	conf_problem(ctx,
		     conf_key_line(ctx, SECT_STORE,
				   c->store_redis_sentinels
				       ? "redis_sentinels"
				       : "redis_master_name"),
		     "[store] redis_sentinels and redis_master_name go "
		     "together: the Sentinels are asked for the primary of "
		     "that name; give both or neither");
}

static void check_admin(struct conf_ctx *ctx)
{
	const struct sa *sa = &ctx->conf->admin_addr;

	if (sa_is_loopback(sa))
		return;

	conf_warning(ctx, conf_key_line(ctx, SECT_ADMIN, "listen"),
		     "[admin] listen %J is not a loopback address, so "
		     "/metrics and /healthz are open to that network; "
		     "prefer 127.0.0.1 or filter the port",
		     sa);
}

/**
 * Run the whole-file checks after the last line was parsed.
 *
 * @return 0 (problems are counted in ctx), or ENOMEM
 */
int conf_check(struct conf_ctx *ctx)
{
	int err;

	err = default_server_fqdn(ctx->conf);
	if (!err && !ctx->conf->store_path)
		err = str_dup(&ctx->conf->store_path, "/var/lib/mobilityd");
	if (!err)
		err = push_defaults(&ctx->conf->push);
	if (err)
		return err;

	check_required(ctx);
	check_sentinels(ctx);
	check_web(ctx);
	check_rls(ctx);
	check_http(ctx);

	err = check_sip(ctx);
	if (err)
		return err;

	check_redirects(ctx);
	check_limits(ctx);

	err = check_addresses(ctx);
	if (err)
		return err;

	check_admin(ctx);
	check_push(ctx);

	return conf_check_certs(ctx);
}
