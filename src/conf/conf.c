/**
 * @file conf.c  Configuration: reading the file, the INI syntax, problem
 * lines, lookups
 *
 * The parser reads a length-delimited buffer line by line. Each line is a
 * comment, a [section] header or "key = value"; values go to the handler of
 * their key (conf_keys.c). Whole-file checks run after the last line
 * (conf_check.c). Every problem is reported, then the parse fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <re.h>
#include "conf.h"
#include "conf_int.h"

enum {
	PRINT_MAX = 80, /* bytes of a value quoted in a problem line */
};

static void destructor(void *arg)
{
	struct conf *conf = arg;

	mem_deref(conf->push.apns_url);
	mem_deref(conf->push.apns_key);
	mem_deref(conf->push.apns_key_id);
	mem_deref(conf->push.apns_team_id);
	mem_deref(conf->push.fcm_url);
	mem_deref(conf->push.fcm_credentials);
	mem_deref(conf->push.fcm_token_url);
	mem_deref(conf->push.ca_file);
	list_flush(&conf->push.fcm_projects);
	mem_deref(conf->store_path);
	mem_deref(conf->store_redis_address);
	mem_deref(conf->store_redis_password);
	mem_deref(conf->store_redis_sentinels);
	mem_deref(conf->store_redis_master_name);
	mem_deref(conf->store_redis_instance);
	mem_deref(conf->store_redis_instance_url);
	mem_deref(conf->store_redis_sentinel_password);
	list_flush(&conf->links);
	list_flush(&conf->redirects);
	list_flush(&conf->sip_client_names);
	mem_deref(conf->sip_client_ca_file);
	list_flush(&conf->sip_certs);
	mem_deref(conf->client_external.fqdn);
	mem_deref(conf->client_internal.fqdn);
	mem_deref(conf->fe_ca_file);
	mem_deref(conf->fe_server_name);
	list_flush(&conf->certs);
	list_flush(&conf->https_listen);
	list_flush(&conf->http_listen);
	list_flush(&conf->trusted_proxies);
	list_flush(&conf->proxy_listen);
	mem_deref(conf->external_web_fqdn);
	mem_deref(conf->internal_web_fqdn);
	list_flush(&conf->domains);
	mem_deref(conf->server_fqdn);
	mem_deref(conf->path);
}

/**
 * Print a value for a problem line: at most PRINT_MAX bytes, bytes that
 * are not printable ASCII as \xNN, so a hostile file cannot garble the
 * terminal or forge extra lines.
 */
int conf_pl_print(struct re_printf *pf, const struct pl *pl)
{
	size_t i, n = pl->l > PRINT_MAX ? PRINT_MAX : pl->l;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		const unsigned char c = (unsigned char)pl->p[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			err = re_hprintf(pf, "\\x%02x", c);
		else
			err = re_hprintf(pf, "%c", c);
	}
	if (n < pl->l && !err)
		err = re_hprintf(pf, "...");

	return err;
}

static void report(struct conf_ctx *ctx, unsigned line, const char *kind,
		   const char *fmt, va_list ap)
{
	if (!ctx->errpf)
		return;
	if (ctx->nprinted++ >= CONF_MAX_PROBLEMS)
		return;

	(void)re_hprintf(ctx->errpf, "%s:%u: %s", ctx->name, line, kind);
	(void)re_vhprintf(fmt, ap, ctx->errpf->vph, ctx->errpf->arg);
	(void)re_hprintf(ctx->errpf, "\n");
}

/** Report a problem: the configuration is refused. */
void conf_problem(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list ap;

	++ctx->nerr;
	va_start(ap, fmt);
	report(ctx, line, "", fmt, ap);
	va_end(ap);
}

/** Report a warning: printed, but the configuration is accepted. */
void conf_warning(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list ap;

	++ctx->nwarn;
	va_start(ap, fmt);
	report(ctx, line, "warning: ", fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut a trailing comment: '#' or ';' at the start or after a blank. */
static void cut_comment(struct pl *pl)
{
	size_t i;

	for (i = 0; i < pl->l; i++) {
		if ((pl->p[i] == '#' || pl->p[i] == ';') &&
		    (i == 0 || is_blank(pl->p[i - 1]))) {
			pl->l = i;
			break;
		}
	}
	text_trim(pl);
}

/* The known name closest to what was written, if it is close enough to be
 * a typing slip: at most 2 edits, and fewer than half the name. */
static bool close_enough(unsigned d, const char *known)
{
	return d <= 2 && d * 2 < strlen(known);
}

static void section_header(struct conf_ctx *ctx, const struct pl *pl,
			   unsigned line)
{
	struct pl name;
	unsigned best = UINT_MAX;
	const char *guess = NULL;
	size_t i;

	if (pl->p[pl->l - 1] != ']') {
		conf_problem(ctx, line,
			     "section header has no closing ']'; write "
			     "[section]");
		ctx->sect = SECT_UNKNOWN;
		return;
	}

	name.p = pl->p + 1;
	name.l = pl->l - 2;
	text_trim(&name);

	for (i = 0; i < SECT_COUNT; i++) {
		unsigned d = conf_distance(conf_sect_names[i], &name);

		if (!d) {
			ctx->sect = (enum conf_sect)i;
			if (!ctx->sect_line[i])
				ctx->sect_line[i] = line;
			return;
		}
		if (d < best) {
			best = d;
			guess = conf_sect_names[i];
		}
	}

	ctx->sect = SECT_UNKNOWN;
	if (guess && close_enough(best, guess)) {
		conf_problem(ctx, line,
			     "unknown section [%H]; did you mean [%s]?",
			     conf_pl_print, &name, guess);
	} else {
		conf_problem(ctx, line,
			     "unknown section [%H]; the sections are "
			     "[service], [http], [frontend], [sip], "
			     "[autodiscover] and [admin]",
			     conf_pl_print, &name);
	}
}

static void unknown_key(struct conf_ctx *ctx, const struct pl *key,
			unsigned line)
{
	const struct conf_key *best = NULL, *elsewhere = NULL;
	unsigned bestd = UINT_MAX;
	size_t i;

	for (i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		unsigned d = conf_distance(k->name, key);

		if (!d && !elsewhere)
			elsewhere = k;
		/* prefer keys of the current section on a tie */
		if (d < bestd || (d == bestd && k->sect == ctx->sect)) {
			bestd = d;
			best = k;
		}
	}

	if (ctx->sect == SECT_NONE) {
		if (elsewhere) {
			conf_problem(ctx, line,
				     "%H is outside any section; put it "
				     "under [%s]",
				     conf_pl_print, key,
				     conf_sect_names[elsewhere->sect]);
		} else {
			conf_problem(ctx, line,
				     "'%H' is outside any section and is not "
				     "a known key; start the file with a "
				     "[section] header",
				     conf_pl_print, key);
		}
		return;
	}

	if (elsewhere) {
		conf_problem(ctx, line,
			     "%s belongs in [%s], not [%s]; move the line",
			     elsewhere->name, conf_sect_names[elsewhere->sect],
			     conf_sect_names[ctx->sect]);
	} else if (best && close_enough(bestd, best->name) &&
		   best->sect == ctx->sect) {
		conf_problem(
		    ctx, line, "unknown key '%H' in [%s]; did you mean %s?",
		    conf_pl_print, key, conf_sect_names[ctx->sect], best->name);
	} else if (best && close_enough(bestd, best->name)) {
		conf_problem(ctx, line,
			     "unknown key '%H' in [%s]; did you mean %s in "
			     "[%s]?",
			     conf_pl_print, key, conf_sect_names[ctx->sect],
			     best->name, conf_sect_names[best->sect]);
	} else {
		conf_problem(ctx, line,
			     "unknown key '%H' in [%s]; see "
			     "docs/configuration.md for the keys of [%s]",
			     conf_pl_print, key, conf_sect_names[ctx->sect],
			     conf_sect_names[ctx->sect]);
	}
}

static int key_value(struct conf_ctx *ctx, const struct pl *pl, unsigned line)
{
	const char *eq = pl_strchr(pl, '=');
	const struct conf_key *k;
	struct pl key, val;
	size_t idx;
	int err;

	if (!eq) {
		conf_problem(ctx, line,
			     "'%H' is neither 'key = value' nor a [section] "
			     "header; fix or comment out the line",
			     conf_pl_print, pl);
		return 0;
	}

	key.p = pl->p;
	key.l = eq - pl->p;
	val.p = eq + 1;
	val.l = pl->l - key.l - 1;
	text_trim(&key);
	text_trim(&val);

	if (!key.l) {
		conf_problem(ctx, line,
			     "line starts with '='; write key = value");
		return 0;
	}
	if (ctx->sect == SECT_UNKNOWN)
		return 0; /* the section header was reported */

	k = ctx->sect == SECT_NONE ? NULL : conf_key_find(ctx->sect, &key);
	if (!k) {
		unknown_key(ctx, &key, line);
		return 0;
	}
	if (!val.l) {
		conf_problem(ctx, line,
			     "%s has no value; give one or remove the line",
			     k->name);
		return 0;
	}

	idx = conf_key_index(k);
	if (!k->repeat && ctx->key_line[idx]) {
		conf_problem(ctx, line,
			     "%s is already set at line %u; keep one of the "
			     "two lines",
			     k->name, ctx->key_line[idx]);
		return 0;
	}
	if (k->repeat && ctx->key_count[idx] >= CONF_MAX_LIST) {
		conf_problem(ctx, line,
			     "more than %u %s lines in [%s]; merge or remove "
			     "some",
			     CONF_MAX_LIST, k->name, conf_sect_names[k->sect]);
		return 0;
	}

	if (!ctx->key_line[idx])
		ctx->key_line[idx] = line;
	++ctx->key_count[idx];

	/* Problems with the value are reported by the handler. */
	err = k->seth(ctx, k, &val, line);
	return err == ENOMEM ? ENOMEM : 0;
}

static int parse_line(struct conf_ctx *ctx, struct pl *pl, unsigned line)
{
	if (pl->l > CONF_MAX_LINE) {
		conf_problem(ctx, line,
			     "line is longer than %u bytes; shorten it",
			     CONF_MAX_LINE);
		return 0;
	}
	if (memchr(pl->p, '\0', pl->l)) {
		conf_problem(ctx, line,
			     "line holds a NUL byte; the file must be text");
		return 0;
	}

	cut_comment(pl);
	if (!pl->l)
		return 0;

	if (pl->p[0] == '[') {
		section_header(ctx, pl, line);
		return 0;
	}

	return key_value(ctx, pl, line);
}

/* Directory part of a path, "" for the current directory. */
static int dir_dup(char **dirp, const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	struct pl dir;

	if (!slash)
		return str_dup(dirp, "");

	dir.p = path;
	dir.l = slash == path ? 1 : (size_t)(slash - path);
	return pl_strdup(dirp, &dir);
}

int conf_parse(struct conf **confp, const char *name, const char *buf,
	       size_t len, struct re_printf *errpf)
{
	struct conf_ctx ctx;
	struct conf *conf;
	size_t pos = 0;
	unsigned line = 0;
	int err;

	if (!confp || (!buf && len))
		return EINVAL;

	if (!name)
		name = "(config)";

	conf = mem_zalloc(sizeof(*conf), destructor);
	if (!conf)
		return ENOMEM;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.name = name;
	ctx.errpf = errpf;
	ctx.sect = SECT_NONE;

	conf_defaults(conf);
	err = str_dup(&conf->path, name);
	err |= dir_dup(&ctx.dir, name);
	if (err) {
		err = ENOMEM;
		goto out;
	}

	if (len > CONF_MAX_FILE) {
		conf_problem(&ctx, 0,
			     "file is larger than %u bytes; a configuration "
			     "is much smaller: check the path",
			     CONF_MAX_FILE);
		goto out;
	}

	/* A UTF-8 byte order mark, as some editors write, is not a key. */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		pos = 3;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		struct pl pl;

		pl.p = buf + pos;
		pl.l = nl ? (size_t)(nl - pl.p) : len - pos;
		pos += pl.l + 1;
		++line;

		if (pl.l && pl.p[pl.l - 1] == '\r')
			--pl.l;

		err = parse_line(&ctx, &pl, line);
		if (err)
			goto out;
	}

	err = conf_check(&ctx);

out:
	if (!err && ctx.nerr)
		err = EINVAL;
	if (ctx.nprinted > CONF_MAX_PROBLEMS && errpf) {
		(void)re_hprintf(errpf,
				 "%s:0: %u more problems not shown; fix the "
				 "ones above and check again\n",
				 name, ctx.nprinted - CONF_MAX_PROBLEMS);
	}

	mem_deref(ctx.dir);
	if (err)
		mem_deref(conf);
	else
		*confp = conf;

	return err;
}

int conf_load(struct conf **confp, const char *path, struct re_printf *errpf)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, err = 0;

	if (!confp || !path)
		return EINVAL;

	/* O_NONBLOCK: a FIFO given by mistake must not hang the start */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	if (fstat(fd, &st)) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		if (errpf)
			(void)re_hprintf(errpf,
					 "%s:0: not a regular file; give the "
					 "path of the configuration file\n",
					 path);
		err = EINVAL;
		goto out;
	}

	/* One byte more than the limit, so conf_parse() sees the excess. */
	buf = mem_alloc(CONF_MAX_FILE + 1, NULL);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	while (len < CONF_MAX_FILE + 1) {
		ssize_t n = read(fd, buf + len, CONF_MAX_FILE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}

	err = conf_parse(confp, path, buf, len, errpf);

out:
	if (fd >= 0)
		close(fd);
	mem_deref(buf);

	/* A file that cannot be read is told by the return code alone:
	 * the caller says so in its own words (conf.h). */
	return err;
}

bool conf_serves_domain(const struct conf *conf, const struct pl *domain)
{
	struct le *le;

	if (!conf || !domain)
		return false;

	LIST_FOREACH(&conf->domains, le)
	{
		const struct conf_str *e = le->data;

		if (!pl_strcasecmp(domain, e->s))
			return true;
	}

	return false;
}

/* The first bits of two addresses of one family (network order). */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	return !rest || !((a[full] ^ b[full]) & (0xff00 >> rest));
}

static unsigned addr_bytes(const struct sa *sa, uint8_t b[16])
{
	if (sa_af(sa) == AF_INET) {
		uint32_t v = htonl(sa_in(sa));
		memcpy(b, &v, 4);
		return 4;
	}
	if (sa_af(sa) == AF_INET6) {
		sa_in6(sa, b);
		/* an IPv4 peer on a dual-stack socket (::ffff:a.b.c.d) */
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b)) {
			memmove(b, b + 12, 4);
			return 4;
		}
		return 16;
	}
	return 0;
}

bool conf_cidr_match(const struct list *cidrs, const struct sa *addr)
{
	uint8_t a[16], n[16];
	unsigned alen;
	struct le *le;

	if (!cidrs || !addr)
		return false;
	alen = addr_bytes(addr, a);
	if (!alen)
		return false;

	LIST_FOREACH(cidrs, le)
	{
		const struct conf_cidr *c = le->data;

		if (addr_bytes(&c->addr, n) == alen &&
		    prefix_equal(a, n, c->bits))
			return true;
	}
	return false;
}

bool conf_trusted_proxy(const struct conf *conf, const struct sa *addr)
{
	return conf && conf_cidr_match(&conf->trusted_proxies, addr);
}

const struct conf_redirect *conf_redirect_find(const struct conf *conf,
					       const struct pl *domain)
{
	struct le *le;

	if (!conf || !domain)
		return NULL;

	LIST_FOREACH(&conf->redirects, le)
	{
		const struct conf_redirect *r = le->data;

		if (!pl_strcasecmp(domain, r->domain))
			return r;
	}

	return NULL;
}
