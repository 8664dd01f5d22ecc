/**
 * @file test_conf.c  Configuration: a full file parses to the right values,
 * defaults, comments, repeated keys, every problem at its file:line with
 * its key words, input limits, and every certificate case (certificates
 * made at test time with deploy/certs.sh and OpenSSL).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "check.h"

static char tmpdir[] = "/tmp/test_conf.XXXXXX";
static char src_dir[512]; /* the source tree */
static const char *certs_sh;

/* One parse: its result, the problem lines and the text parsed. */
struct result {
	int err;
	struct conf *conf;
	char *errs;
	char *text;
};

/* The full configuration every problem test starts from. "{D}" stands
 * for the directory of the test certificates. */
static const char *const base_lines[] = {
    "# Mobility Service test configuration",
    "[service]",
    "server_fqdn = node1.example.test",
    "sip_domain = example.test",
    "sip_domain = Example.ORG",
    "internal_web_fqdn = mobility-int.example.test",
    "external_web_fqdn = mobility.example.test",
    "external_web_port = 4443",
    "log_level = notice",
    "",
    "[http]",
    "listen = 127.0.0.1:8080",
    "listen_tls = 0.0.0.0:8443",
    "certificate = {D}/web.pem {D}/web.key",
    "max_body_bytes = 65536",
    "idle_timeout = 60",
    "",
    "[frontend]",
    "address = 127.0.0.1:5061",
    "tls_server_name = fe.example.test",
    "ca_file = {D}/ca.pem",
    "client_external_access = sip.example.test:5061",
    "",
    "[sip]",
    "internal_listen = 127.0.0.1:5086",
    "external_listen = 127.0.0.1:5087",
    "certificate = {D}/sip.pem {D}/sip.key",
    "",
    "[autodiscover]",
    "redirect = other.test https://lyncdiscover.other.test/",
    "link = External/Help https://help.example.test/mobile",
    "",
    "[admin]",
    "listen = 127.0.0.1:9191",
    NULL,
};

static int print_mb(const char *p, size_t size, void *arg)
{
	return mbuf_write_mem(arg, (const uint8_t *)p, size);
}

/* Replace every "{D}" by the certificate directory. */
static int put_line(struct mbuf *mb, const char *line)
{
	const char *d;
	int err = 0;

	while ((d = strstr(line, "{D}"))) {
		err |= mbuf_write_mem(mb, (const uint8_t *)line, d - line);
		err |= mbuf_write_str(mb, tmpdir);
		line = d + 3;
	}
	err |= mbuf_write_str(mb, line);
	return err | mbuf_write_str(mb, "\n");
}

static char *mb_strdup(struct mbuf *mb)
{
	char *s = NULL;
	struct pl pl = {(const char *)mb->buf, mb->end};

	if (!mb->end)
		(void)str_dup(&s, "");
	else
		(void)pl_strdup(&s, &pl);
	return s;
}

/* Every problem line has the shape "NAME:LINE: problem; fix". */
static bool lines_well_formed(const char *errs, const char *name)
{
	const char *p = errs;
	size_t nl = strlen(name);

	while (*p) {
		const char *end = strchr(p, '\n');
		const char *q = p + nl;

		if (!end || strncmp(p, name, nl) || *q++ != ':')
			return false;
		if (*q < '0' || *q > '9')
			return false;
		while (*q >= '0' && *q <= '9')
			++q;
		if (q[0] != ':' || q[1] != ' ')
			return false;
		if (!memmem(q, end - q, "; ", 2))
			return false;
		p = end + 1;
	}

	return true;
}

static void result_reset(struct result *r)
{
	r->conf = mem_deref(r->conf);
	r->errs = mem_deref(r->errs);
	r->text = mem_deref(r->text);
	r->err = 0;
}

/* Parse a buffer of exactly len bytes (no NUL after it). */
static void parse_buf(struct result *r, const char *name, const char *buf,
		      size_t len)
{
	struct mbuf *mb = mbuf_alloc(256);
	struct re_printf pf = {print_mb, mb};

	r->conf = mem_deref(r->conf);
	r->err = conf_parse(&r->conf, name, buf, len, &pf);
	r->errs = mem_deref(r->errs);
	r->errs = mb_strdup(mb);
	mem_deref(mb);

	CHECK(r->errs && lines_well_formed(r->errs, name));
	CHECK(r->err ? r->conf == NULL : r->conf != NULL);
}

static void parse_text(struct result *r, const char *text)
{
	char *copy = malloc(strlen(text) + 1);

	/* An exactly sized heap copy: ASan catches a read past the end. */
	memcpy(copy, text, strlen(text));
	parse_buf(r, "t.conf", copy, strlen(text));
	free(copy);
}

/**
 * Build the base configuration without the lines that start with one of
 * drop (NULL-terminated, may be NULL), followed by extra, and parse it.
 */
static void build(struct result *r, const char *const *drop, const char *extra)
{
	struct mbuf *mb = mbuf_alloc(2048);
	size_t i, j;

	result_reset(r);
	for (i = 0; base_lines[i]; i++) {
		bool skip = false;

		for (j = 0; drop && drop[j]; j++) {
			if (!strncmp(base_lines[i], drop[j], strlen(drop[j])))
				skip = true;
		}
		if (!skip)
			(void)put_line(mb, base_lines[i]);
	}
	if (extra)
		(void)put_line(mb, extra);

	r->text = mb_strdup(mb);
	mem_deref(mb);
	parse_text(r, r->text);
}

#define DROP(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Line number (1-based) of the first line of text holding needle. */
static unsigned line_of(const char *text, const char *needle)
{
	const char *hit = strstr(text, needle);
	unsigned line = 1;

	if (!hit)
		return 9999;
	for (; text < hit; text++) {
		if (*text == '\n')
			++line;
	}
	return line;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; s && *s; s++) {
		if (*s == '\n')
			++n;
	}
	return n;
}

/* The number of the last line of a text ending in a newline. */
#define LAST(r) count_lines((r)->text)

/* True if a problem line for line holds every word of words. */
static bool find_problem(const struct result *r, const char *name,
			 unsigned line, const char *const *words)
{
	char prefix[64];
	const char *p = r->errs;
	size_t i;

	(void)re_snprintf(prefix, sizeof(prefix), "%s:%u: ", name, line);
	while (p && *p) {
		const char *end = strchr(p, '\n');
		bool all = !strncmp(p, prefix, strlen(prefix));

		for (i = 0; all && words[i]; i++) {
			if (!memmem(p, end - p, words[i], strlen(words[i])))
				all = false;
		}
		if (all)
			return true;
		p = end + 1;
	}

	return false;
}

/* The same, showing what was expected and found when it is not there. */
static bool problem_at(const struct result *r, const char *name, unsigned line,
		       const char *const *words)
{
	size_t i;

	if (find_problem(r, name, line, words))
		return true;

	fprintf(stderr, "  no problem line '%s:%u: ' with:", name, line);
	for (i = 0; words[i]; i++)
		fprintf(stderr, " [%s]", words[i]);
	fprintf(stderr, "\n  problems were:\n%s", r->errs ? r->errs : "");
	return false;
}

#define NO_PROBLEM(r, line, word)                                              \
	CHECK(!find_problem((r), "t.conf", (line),                             \
			    (const char *const[]){(word), NULL}))

/* Exactly one problem, at line, with the words; the parse failed. */
#define EXPECT1(r, line, ...)                                                  \
	do {                                                                   \
		CHECK((r)->err == EINVAL);                                     \
		CHECK(count_lines((r)->errs) == 1);                            \
		CHECK(problem_at((r), "t.conf", (line),                        \
				 (const char *const[]){__VA_ARGS__, NULL}));   \
	} while (0)

/* A problem at line with the words, among others. */
#define EXPECT(r, line, ...)                                                   \
	CHECK(problem_at((r), "t.conf", (line),                                \
			 (const char *const[]){__VA_ARGS__, NULL}))

#define EXPECT_OK(r)                                                           \
	do {                                                                   \
		CHECK((r)->err == 0);                                          \
		if ((r)->err)                                                  \
			fprintf(stderr, "  problems:\n%s", (r)->errs);         \
	} while (0)

/* Run deploy/certs.sh; the source tree comes from CTest's MOBILITY_SRC,
 * or from this file's path when run by hand. */
static void subst_dir(char *dst, size_t size, const char *src);

static int certs(const char *args)
{
	char cmd[1024], a[900];

	subst_dir(a, sizeof(a), args);
	(void)re_snprintf(cmd, sizeof(cmd), "'%s' %s >/dev/null", certs_sh, a);
	return system(cmd);
}

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)re_vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A self-signed certificate valid from now+from_days to now+to_days. */
static int make_dated_cert(const char *name, long from_days, long to_days,
			   const char *san)
{
	char path[512], ext[512];
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *e = NULL;
	X509V3_CTX v3;
	FILE *f;
	int err = EIO;

	if (!pkey || !x)
		goto out;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"dated", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, pkey);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	(void)re_snprintf(ext, sizeof(ext), "%s", san);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, ext);
	if (!e || !X509_add_ext(x, e, -1) || !X509_sign(x, pkey, EVP_sha256()))
		goto out;

	(void)re_snprintf(path, sizeof(path), "%s/%s.pem", tmpdir, name);
	f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x))
		goto out;
	fclose(f);
	(void)re_snprintf(path, sizeof(path), "%s/%s.key", tmpdir, name);
	f = fopen(path, "w");
	if (!f || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	fclose(f);
	err = 0;

out:
	X509_EXTENSION_free(e);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return err;
}

static const char all_names[] =
    "DNS:lyncdiscover.example.test,DNS:lyncdiscoverinternal.example.test,"
    "DNS:lyncdiscover.example.org,DNS:lyncdiscoverinternal.example.org,"
    "DNS:mobility.example.test,DNS:mobility-int.example.test";

static int make_certs(void)
{
	int err = 0;

	err |= certs("leaf {D} web lyncdiscover.example.test "
		     "lyncdiscoverinternal.example.test "
		     "lyncdiscover.example.org "
		     "lyncdiscoverinternal.example.org mobility.example.test "
		     "mobility-int.example.test");
	err |= certs("leaf {D} sip node1.example.test");
	err |= certs("leaf {D} disc lyncdiscover.example.test "
		     "lyncdiscoverinternal.example.test "
		     "lyncdiscover.example.org "
		     "lyncdiscoverinternal.example.org");
	err |= certs("leaf {D} webonly mobility.example.test "
		     "mobility-int.example.test");
	err |= certs("leaf {D} nointernal lyncdiscover.example.test "
		     "lyncdiscover.example.org "
		     "lyncdiscoverinternal.example.org mobility.example.test "
		     "mobility-int.example.test");
	err |= certs("leaf {D} wild '*.example.test' '*.example.org'");
	err |= certs("leaf {D} wildtld '*.test' '*.org'");

	/* CA first, then the leaf: the wrong order */
	err |= sh("cd %s && openssl x509 -in web.pem -out leaf.pem && "
		  "cat ca.pem leaf.pem > reversed.pem",
		  tmpdir);
	/* a valid certificate followed by a broken PEM block */
	err |= sh("cd %s && cat leaf.pem > broken.pem && printf '%%s\\n' "
		  "'-----BEGIN CERTIFICATE-----' 'bm90IGEgY2VydA==' "
		  "'-----END CERTIFICATE-----' >> broken.pem",
		  tmpdir);
	/* 17 certificates: one more than a chain may hold */
	err |= sh("cd %s && for i in $(seq 17); do cat ca.pem; done "
		  "> long.pem",
		  tmpdir);
	err |= sh("cd %s && echo 'not a certificate' > garbage.pem && "
		  "mkdir -p adir && mkfifo fifo",
		  tmpdir);
	err |= sh("cd %s && openssl pkey -in web.key -aes256 -passout "
		  "pass:secret -out encrypted.key 2>/dev/null",
		  tmpdir);

	/* push keys: one for every user, one for the group, one private */
	err |= sh("cd %s && cp web.key open.p8 && chmod 644 open.p8 && "
		  "cp web.pem open.json && chmod 640 open.json && "
		  "cp web.pem closed.json && chmod 600 closed.json",
		  tmpdir);

	err |= make_dated_cert("expired", -30, -1, all_names);
	err |= make_dated_cert("future", 5, 400, all_names);
	err |= make_dated_cert("soon", -1, 10, all_names);

	return err;
}

/* Replace "{D}" in certs.sh arguments too. */
static void subst_dir(char *dst, size_t size, const char *src)
{
	struct mbuf *mb = mbuf_alloc(256);

	(void)put_line(mb, src);
	mb->end--; /* no newline */
	(void)re_snprintf(dst, size, "%b", mb->buf, mb->end);
	mem_deref(mb);
}

/* ---------------------------------------------------------------------- */

static void test_full(void)
{
	struct result r = {0};
	const struct conf *c;
	const struct conf_str *d;
	const struct conf_listen *l;
	const struct conf_cert *cert;
	const struct conf_redirect *rd;
	const struct conf_link *lk;
	char path[512];
	struct pl pl;

	build(&r, NULL, NULL);
	EXPECT_OK(&r);
	CHECK_STR(r.errs, "");
	c = r.conf;
	if (!c)
		goto out;

	CHECK_STR(c->path, "t.conf");
	CHECK_STR(c->server_fqdn, "node1.example.test");
	CHECK(list_count(&c->domains) == 2);
	d = list_ledata(list_head(&c->domains));
	CHECK_STR(d->s, "example.test");
	CHECK(d->line == 4);
	d = list_ledata(list_tail(&c->domains));
	CHECK_STR(d->s, "example.org"); /* lower-cased */
	CHECK(d->line == 5);
	CHECK_STR(c->internal_web_fqdn, "mobility-int.example.test");
	CHECK_STR(c->external_web_fqdn, "mobility.example.test");
	CHECK(c->internal_web_port == 443);
	CHECK(c->external_web_port == 4443);
	CHECK(c->log_level == LOG_NOTICE);

	CHECK(list_count(&c->http_listen) == 1);
	l = list_ledata(list_head(&c->http_listen));
	CHECK(sa_af(&l->addr) == AF_INET && sa_port(&l->addr) == 8080);
	CHECK(l->line == 12);
	CHECK(list_count(&c->https_listen) == 1);
	l = list_ledata(list_head(&c->https_listen));
	CHECK(sa_is_any(&l->addr) && sa_port(&l->addr) == 8443);
	CHECK(list_count(&c->certs) == 1);
	cert = list_ledata(list_head(&c->certs));
	(void)re_snprintf(path, sizeof(path), "%s/web.pem", tmpdir);
	CHECK_STR(cert->chain, path);
	(void)re_snprintf(path, sizeof(path), "%s/web.key", tmpdir);
	CHECK_STR(cert->key, path);
	CHECK(cert->line == 14);

	CHECK(c->limits.max_body_bytes == 65536);
	CHECK(c->limits.idle_timeout_ms == 60000);
	CHECK(c->limits.max_request_line == 8192);
	CHECK(c->limits.header_timeout_ms == 10000);

	CHECK(sa_port(&c->fe_addr) == 5061);
	CHECK(sa_is_loopback(&c->fe_addr));
	CHECK_STR(c->fe_server_name, "fe.example.test");
	(void)re_snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
	CHECK_STR(c->fe_ca_file, path);
	CHECK(c->client_internal.fqdn == NULL);
	CHECK_STR(c->client_external.fqdn, "sip.example.test");
	CHECK(c->client_external.port == 5061);

	CHECK(sa_port(&c->sip_internal) == 5086);
	CHECK(sa_port(&c->sip_external) == 5087);
	CHECK(list_count(&c->sip_certs) == 1);
	cert = list_ledata(list_head(&c->sip_certs));
	CHECK(cert && strstr(cert->chain, "/sip.pem"));

	CHECK(list_count(&c->redirects) == 1);
	rd = list_ledata(list_head(&c->redirects));
	CHECK_STR(rd->domain, "other.test");
	CHECK_STR(rd->href, "https://lyncdiscover.other.test/");
	CHECK(rd->line == 30);
	CHECK(list_count(&c->links) == 1);
	lk = list_ledata(list_head(&c->links));
	CHECK_STR(lk->token, "External/Help");
	CHECK_STR(lk->href, "https://help.example.test/mobile");

	CHECK(sa_is_loopback(&c->admin_addr));
	CHECK(sa_port(&c->admin_addr) == 9191);

	pl_set_str(&pl, "EXAMPLE.test");
	CHECK(conf_serves_domain(c, &pl));
	pl_set_str(&pl, "example.org");
	CHECK(conf_serves_domain(c, &pl));
	pl_set_str(&pl, "other.test");
	CHECK(!conf_serves_domain(c, &pl));
	CHECK(conf_redirect_find(c, &pl) == rd);
	pl_set_str(&pl, "Other.Test");
	CHECK(conf_redirect_find(c, &pl) == rd);
	pl_set_str(&pl, "example.test");
	CHECK(conf_redirect_find(c, &pl) == NULL);
	CHECK(!conf_serves_domain(NULL, &pl));

out:
	result_reset(&r);
}

static void test_defaults(void)
{
	struct result r = {0};
	char host[256] = "";
	const struct conf *c;
	const struct conf_cert *sc;

	/* plain http only, the [sip] section borrows the [http] cert */
	build(&r,
	      DROP("server_fqdn", "external_web_port", "log_level",
		   "listen_tls", "max_body", "idle_timeout", "client_",
		   "certificate = {D}/sip", "redirect", "link", "[admin]",
		   "listen = 127.0.0.1:9191"),
	      NULL);
	EXPECT_OK(&r);
	c = r.conf;
	if (!c)
		goto out;

	(void)gethostname(host, sizeof(host) - 1);
	CHECK_STR(c->server_fqdn, host);
	CHECK(c->internal_web_port == 443);
	CHECK(c->external_web_port == 443);
	CHECK(c->log_level == LOG_INFO);
	CHECK(list_isempty(&c->https_listen));
	CHECK(c->limits.max_request_line == 8192);
	CHECK(c->limits.max_header_bytes == 16384);
	CHECK(c->limits.max_headers == 64);
	CHECK(c->limits.max_body_bytes == 1048576);
	CHECK(c->limits.header_timeout_ms == 10000);
	CHECK(c->limits.body_timeout_ms == 30000);
	CHECK(c->limits.idle_timeout_ms == 120000);
	CHECK(c->limits.max_connections == 50000);
	CHECK(c->limits.max_conns_per_addr == 5000);
	CHECK(c->client_internal.fqdn == NULL);
	CHECK(c->client_external.fqdn == NULL);
	CHECK(list_isempty(&c->redirects));
	CHECK(list_isempty(&c->links));
	CHECK(sa_is_loopback(&c->admin_addr));
	CHECK(sa_port(&c->admin_addr) == 9090);
	CHECK_STR(c->store_path, "/var/lib/mobilityd");
	CHECK(c->store_map_size_mb == 1024);
	CHECK(c->session_expiration_ms == 259200u * 1000);
	CHECK(c->session_short_expiration_ms == 3600u * 1000);
	CHECK(c->sip_ring_ms == 30000);

	/* [sip] certificate falls back to the [http] one */
	CHECK(list_count(&c->sip_certs) == 1);
	sc = list_ledata(list_head(&c->sip_certs));
	CHECK(sc && strstr(sc->chain, "/web.pem") &&
	      strstr(sc->key, "/web.key"));

out:
	result_reset(&r);
}

static void test_comments(void)
{
	struct result r = {0};
	const struct conf_link *lk;
	char text[4096];
	static const char body[] =
	    "\xef\xbb\xbf# a byte order mark, then a comment\r\n"
	    "; another comment\r\n"
	    "   # indented comment\r\n"
	    "\r\n"
	    "[service]   # trailing comment on a header\r\n"
	    "sip_domain\t=\texample.test\t; trailing comment\r\n"
	    "Internal_Web_FQDN = mobility-int.example.test\r\n"
	    "external_web_fqdn=mobility.example.test ;comment\r\n"
	    "[ http ]\r\n"
	    "listen = 127.0.0.1:8080\r\n"
	    "[frontend]\n"
	    "address = 127.0.0.1:5061\n"
	    "tls_server_name = fe.example.test\n"
	    "ca_file = {D}/ca.pem\n"
	    "[sip]\n"
	    "internal_listen = [::1]:5086\n"
	    "certificate = {D}/sip.pem   {D}/sip.key   # two blanks\n"
	    "[autodiscover]\n"
	    "link = Help https://help.example.test/a#frag  # comment\n"
	    "[admin]\n"
	    "listen = 127.0.0.1:9191"; /* no final newline */

	subst_dir(text, sizeof(text), body);
	parse_text(&r, text);
	EXPECT_OK(&r);
	if (!r.conf)
		goto out;

	CHECK_STR(r.conf->external_web_fqdn, "mobility.example.test");
	CHECK_STR(r.conf->internal_web_fqdn, "mobility-int.example.test");
	CHECK(sa_af(&r.conf->sip_internal) == AF_INET6);
	CHECK(!sa_isset(&r.conf->sip_external, SA_ALL));
	lk = list_ledata(list_head(&r.conf->links));
	CHECK(lk && !strcmp(lk->href, "https://help.example.test/a#frag"));
	CHECK(sa_port(&r.conf->admin_addr) == 9191);

	/* '#' or ';' without a blank before it is part of the value */
	build(&r, DROP("external_web_fqdn"),
	      "[service]\nexternal_web_fqdn = mobility.example.test#x");
	EXPECT1(&r, LAST(&r), "external_web_fqdn", "mobility.example.test#x",
		"not a valid DNS name");

out:
	result_reset(&r);
}

static void test_repeated(void)
{
	struct result r = {0};

	build(&r, NULL,
	      "[http]\n"
	      "listen = 127.0.0.1:8081\n"
	      "listen_tls = [::]:8443\n"
	      "certificate = {D}/wild.pem {D}/wild.key\n"
	      "[service]\n"
	      "sip_domain = example.net\n"
	      "[autodiscover]\n"
	      "redirect = third.test https://lyncdiscover.third.test/\n"
	      "link = Internal/Help https://help.example.test/int");
	/* example.net is not covered by any certificate */
	CHECK(r.err == EINVAL);
	EXPECT(&r, line_of(r.text, "= example.net"), "lyncdiscover.example.net",
	       "not covered", "web.pem", "wild.pem");
	EXPECT(&r, line_of(r.text, "= example.net"),
	       "lyncdiscoverinternal.example.net", "not covered");
	CHECK(count_lines(r.errs) == 2);

	build(&r, NULL,
	      "[http]\n"
	      "listen = 127.0.0.1:8081\n"
	      "listen_tls = [::]:8443\n"
	      "certificate = {D}/wild.pem {D}/wild.key\n"
	      "[autodiscover]\n"
	      "redirect = third.test https://lyncdiscover.third.test/\n"
	      "link = Internal/Help https://help.example.test/int");
	EXPECT_OK(&r);
	if (!r.conf)
		return;
	CHECK(list_count(&r.conf->http_listen) == 2);
	CHECK(list_count(&r.conf->https_listen) == 2);
	CHECK(list_count(&r.conf->certs) == 2);
	CHECK(list_count(&r.conf->redirects) == 2);
	CHECK(list_count(&r.conf->links) == 2);
	result_reset(&r);
}

static void test_syntax(void)
{
	struct result r = {0};
	unsigned n;

	build(&r, NULL, "[http]\njust some words");
	EXPECT1(&r, line_of(r.text, "just some"), "neither", "key = value");

	build(&r, NULL, "[http\nlisten = 127.0.0.1:1");
	EXPECT1(&r, line_of(r.text, "[http\n"), "no closing ']'");

	build(&r, NULL, "[http]\n= 5");
	EXPECT1(&r, line_of(r.text, "\n= 5") + 1, "starts with '='");

	build(&r, NULL, "[http]\nmax_headers =   # nothing");
	EXPECT1(&r, line_of(r.text, "max_headers"), "max_headers",
		"has no value");

	/* keys in an unknown section are not reported one by one */
	build(&r, NULL, "[frontned]\naddress = 1.2.3.4:5\nfoo = bar");
	EXPECT1(&r, line_of(r.text, "[frontned]"), "unknown section",
		"[frontned]", "did you mean [frontend]");

	build(&r, NULL, "[mail]\nrelay = yes");
	EXPECT1(&r, line_of(r.text, "[mail]"), "unknown section", "[mail]",
		"[service], [http]");

	/* before the first section */
	result_reset(&r);
	parse_text(&r, "log_level = info\nwhatever = 1\n");
	EXPECT(&r, 1, "log_level", "outside any section", "[service]");
	EXPECT(&r, 2, "whatever", "outside any section", "[section]");

	/* control bytes in a value are escaped in the message */
	build(&r, DROP("log_level"), "[service]\nlog_level = \x1b[31mred");
	EXPECT1(&r, line_of(r.text, "\x1b"), "log_level", "\\x1b[31mred",
		"debug, info, notice, warn or error");

	/* every problem is reported, not only the first */
	build(&r, NULL,
	      "[http]\nmax_headers = 0\nlisten = nowhere\n[admin]\n"
	      "listen = 127.0.0.1:99999");
	n = line_of(r.text, "max_headers = 0");
	CHECK(r.err == EINVAL);
	CHECK(count_lines(r.errs) == 3);
	EXPECT(&r, n, "max_headers", "out of range");
	EXPECT(&r, n + 1, "listen", "IP:PORT");
	EXPECT(&r, n + 3, "listen is already set at line 34");

	/* [frontend] rls: yes or no, and only with an XCAP server */
	build(&r, NULL, "[frontend]\nrls = maybe");
	EXPECT1(&r, line_of(r.text, "rls ="), "rls = 'maybe'", "yes or no");
	build(&r, NULL, "[frontend]\nrls = yes");
	EXPECT1(&r, line_of(r.text, "rls ="), "needs the Front End's XCAP",
		"xcap = IP:PORT");
	build(&r, NULL, "[frontend]\nrls = Yes\nxcap = 127.0.0.1:8088");
	CHECK(r.err == 0 && r.conf && r.conf->fe_rls);
	build(&r, NULL, "[frontend]\nrls = off");
	CHECK(r.err == 0 && r.conf && !r.conf->fe_rls);
	result_reset(&r);
}

static void test_unknown_keys(void)
{
	struct result r = {0};

	build(&r, NULL, "[http]\nlistn = 127.0.0.1:1");
	EXPECT1(&r, line_of(r.text, "listn"), "unknown key 'listn'", "[http]",
		"did you mean listen?");

	build(&r, NULL, "[http]\nmax-headers = 10");
	EXPECT1(&r, line_of(r.text, "max-headers"), "did you mean max_headers");

	build(&r, NULL, "[http]\nsip_domain = example.net");
	EXPECT1(&r, line_of(r.text, "= example.net"), "sip_domain",
		"belongs in [service], not [http]");

	build(&r, NULL, "[sip]\ncertificat = a b");
	EXPECT1(&r, line_of(r.text, "certificat ="),
		"did you mean certificate");

	build(&r, NULL, "[service]\nsip_domian = example.net");
	EXPECT1(&r, line_of(r.text, "sip_domian"), "did you mean sip_domain?");

	build(&r, NULL, "[frontend]\nfrobnicate = yes");
	EXPECT1(&r, line_of(r.text, "frobnicate"), "unknown key",
		"docs/configuration.md");

	build(&r, NULL, "[admin]\nlisten_tls = 127.0.0.1:1");
	EXPECT1(&r, line_of(r.text, "listen_tls = 127.0.0.1:1"),
		"listen_tls belongs in [http]");
	result_reset(&r);
}

static void test_duplicates(void)
{
	struct result r = {0};

	build(&r, NULL, "[service]\nlog_level = debug");
	EXPECT1(&r, line_of(r.text, "log_level = debug"), "log_level",
		"already set at line 9", "keep one");

	build(&r, NULL, "[frontend]\naddress = 127.0.0.1:5062");
	EXPECT1(&r, line_of(r.text, "5062"), "address",
		"already set at line 19");

	build(&r, NULL, "[service]\nsip_domain = EXAMPLE.test");
	EXPECT1(&r, line_of(r.text, "EXAMPLE.test"), "sip_domain",
		"example.test", "already given at line 4");

	build(&r, NULL,
	      "[autodiscover]\nredirect = Other.test https://x.test/");
	EXPECT1(&r, line_of(r.text, "https://x.test/"), "redirect",
		"other.test", "already given at line 30");

	build(&r, NULL, "[autodiscover]\nlink = ExternalHelp https://x.test/");
	EXPECT1(&r, line_of(r.text, "ExternalHelp"), "ExternalHelp",
		"clashes with 'External/Help' at line 31", "externalhelp");
	result_reset(&r);
}

struct bad {
	const char *extra; /* section + line appended to the base */
	const char *words[4];
};

/* Base lines replaced by a case: keys that may be given only once. */
static const char *const replaced[] = {
    "address =",   "tls_server_name =",   "max_body_bytes =",
    "log_level =", "internal_web_port =",
};

/* [store]: the environment directory and the map size. */
static void test_store(void)
{
	struct result r = {0};

	build(&r, NULL, "[store]\npath = /srv/mobility\nmap_size_mb = 64");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK_STR(r.conf->store_path, "/srv/mobility");
		CHECK(r.conf->store_map_size_mb == 64);
		CHECK_STR(r.conf->store_backend, "lmdb");
	}

	/* [service] limits of one application: defaults, set, range */
	CHECK(r.conf && r.conf->max_unacked_events == 1000);
	CHECK(r.conf && r.conf->max_unacked_bytes == 4u << 20);
	CHECK(r.conf && r.conf->user_max_tokens == 100);
	build(&r, NULL,
	      "[service]\nmax_unacked_events = 50\nmax_unacked_bytes = "
	      "100000");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(r.conf->max_unacked_events == 50);
		CHECK(r.conf->max_unacked_bytes == 100000);
	}
	build(&r, NULL, "[service]\nmax_unacked_events = 5");
	CHECK(r.err != 0);
	build(&r, NULL, "[service]\nuser_max_tokens = 7");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(r.conf->user_max_tokens == 7);
	build(&r, NULL, "[service]\nuser_max_tokens = 0");
	CHECK(r.err != 0);

	/* [service] drain_timeout: 60 s by default, seconds 1-3600 */
	build(&r, NULL, "");
	CHECK(r.conf && r.conf->drain_timeout_ms == 60000);
	build(&r, NULL, "[service]\ndrain_timeout = 5");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(r.conf->drain_timeout_ms == 5000);
	build(&r, NULL, "[service]\ndrain_timeout = 0");
	CHECK(r.err != 0);
	build(&r, NULL, "[service]\ndrain_timeout = 3601");
	CHECK(r.err != 0);

	build(&r, NULL, "[sip]\nring_time = 45");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(r.conf->sip_ring_ms == 45000);

	build(&r, NULL, "[store]\npath = state");
	EXPECT_OK(&r);
	if (r.conf) {
		/* a buffer has no directory: the path stays as given */
		CHECK_STR(r.conf->store_path, "state");
		CHECK(r.conf->store_map_size_mb == 1024);
	}

	/* the backend: lmdb or redis; another is refused */
	build(&r, NULL, "[store]\nbackend = lmdb");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(r.conf->store_redis_address == NULL);
		CHECK(r.conf->store_redis_password == NULL);
		CHECK(r.conf->store_redis_db == 0);
	}
	build(&r, NULL,
	      "[store]\nbackend = redis\nredis_address = redis.example.com:6380"
	      "\nredis_password = s3cret pass\nredis_db = 3");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK_STR(r.conf->store_backend, "redis");
		CHECK_STR(r.conf->store_redis_address,
			  "redis.example.com:6380");
		CHECK_STR(r.conf->store_redis_password, "s3cret pass");
		CHECK(r.conf->store_redis_db == 3);
	}
	build(&r, NULL, "[store]\nbackend = redis\nredis_address = [::1]:6379");
	EXPECT_OK(&r);
	if (r.conf) {
		/* no Sentinels and no WAIT unless asked */
		CHECK(r.conf->store_redis_sentinels == NULL);
		CHECK(r.conf->store_redis_master_name == NULL);
		CHECK(r.conf->store_redis_sentinel_password == NULL);
		CHECK(r.conf->store_redis_wait_replicas == 0);
		CHECK(r.conf->store_redis_wait_ms == 1000);
		CHECK(r.conf->store_redis_instance == NULL);
		CHECK(r.conf->store_takeover_rate == 2000);
	}

	/* a pool: this instance's name, its takeover pace */
	build(&r, NULL,
	      "[store]\nbackend = redis\nredis_instance = mob-a.1\n"
	      "takeover_rate = 500");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK_STR(r.conf->store_redis_instance, "mob-a.1");
		CHECK(r.conf->store_takeover_rate == 500);
		CHECK(r.conf->store_redis_instance_url == NULL);
	}

	/* where the peers reach it: a trailing '/' is dropped */
	build(&r, NULL,
	      "[store]\nbackend = redis\nredis_instance = mob-a\n"
	      "redis_instance_url = http://127.0.0.1:8081/");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK_STR(r.conf->store_redis_instance_url,
			  "http://127.0.0.1:8081");

	/* Sentinels: a list, with the primary's name there */
	build(&r, NULL,
	      "[store]\nbackend = redis\nredis_sentinels = 10.0.0.1:26379,"
	      " s2.example.com:26379 [::1]:26380\nredis_master_name = mob-1"
	      "\nredis_sentinel_password = sent pass\nredis_wait_replicas = 1"
	      "\nredis_wait_ms = 250");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK_STR(r.conf->store_redis_sentinels,
			  "10.0.0.1:26379, s2.example.com:26379 [::1]:26380");
		CHECK_STR(r.conf->store_redis_master_name, "mob-1");
		CHECK_STR(r.conf->store_redis_sentinel_password, "sent pass");
		CHECK(r.conf->store_redis_wait_replicas == 1);
		CHECK(r.conf->store_redis_wait_ms == 250);
	}

	result_reset(&r);
}

/* [push]: defaults, a provider needs all its keys, key files load. */
static void test_push(void)
{
	struct result r = {0};

	build(&r, NULL, NULL);
	EXPECT_OK(&r);
	if (r.conf) {
		const struct conf_push *p = &r.conf->push;

		CHECK_STR(p->apns_url, "https://api.push.apple.com");
		CHECK_STR(p->fcm_url, "https://fcm.googleapis.com");
		CHECK(!p->apns_key && !p->fcm_credentials && !p->ca_file);
		CHECK(p->in_flight == 1000 && p->retries == 5);
		CHECK(p->jwt_max_age_s == 2400 && p->apns_ttl_s == 86400);
		CHECK(p->retry_cap_ms == 60000 && p->retry_base_ms == 500);
		CHECK(p->alert_text == CONF_ALERT_SENDER);
	}

	/* the test keys are EC P-256 in PKCS#8 PEM, as a .p8 is */
	build(&r, NULL,
	      "[push]\napns_url = https://127.0.0.1:8443/\n"
	      "apns_key = {D}/web.key\napns_key_id = ABC123DEFG\n"
	      "apns_team_id = TEAM.12-3_4\nfcm_credentials = {D}/web.pem\n"
	      "fcm_token_url = https://oauth.example.com/token\n"
	      "in_flight = 5\nretry_cap = 10\nalert_text = sender\n"
	      "apns_ttl = 0");
	EXPECT_OK(&r);
	if (r.conf) {
		const struct conf_push *p = &r.conf->push;

		/* the trailing '/' goes: paths are appended */
		CHECK_STR(p->apns_url, "https://127.0.0.1:8443");
		CHECK_STR(p->apns_key_id, "ABC123DEFG");
		CHECK_STR(p->apns_team_id, "TEAM.12-3_4");
		CHECK_STR(p->fcm_token_url, "https://oauth.example.com/token");
		CHECK(p->in_flight == 5 && p->retry_cap_ms == 10000);
		CHECK(p->alert_text == CONF_ALERT_SENDER && !p->apns_ttl_s);
	}

	/* FCM projects a registration may name: a list, each id once */
	build(&r, NULL,
	      "[push]\nfcm_project = other-app\nfcm_project = my_app.2");
	EXPECT_OK(&r);
	if (r.conf) {
		const struct list *l = &r.conf->push.fcm_projects;
		const struct conf_str *a = list_ledata(list_head(l));
		const struct conf_str *b = list_ledata(list_tail(l));

		CHECK(list_count(l) == 2);
		CHECK(a && !strcmp(a->s, "other-app") &&
		      a->line == LAST(&r) - 1);
		CHECK(b && !strcmp(b->s, "my_app.2"));
	}
	build(&r, NULL, "[push]\nfcm_project = a\nfcm_project = a");
	EXPECT1(&r, LAST(&r), "fcm_project a is already given at line");
	build(&r, NULL, "[push]\nfcm_project = a/../b");
	EXPECT1(&r, LAST(&r), "fcm_project", "not a project id");
	build(&r, NULL, "[push]\nfcm_project = ");
	CHECK(r.err == EINVAL);

	build(&r, NULL, "[push]\nalert_text = partial");
	EXPECT1(&r, LAST(&r), "alert_text", "not a privacy mode",
		"full, sender or none");

	build(&r, NULL, "[push]\napns_key_id = ABC 123");
	EXPECT1(&r, LAST(&r), "apns_key_id", "not an identifier");

	build(&r, NULL, "[push]\nfcm_url = http://fcm.example.com");
	EXPECT1(&r, LAST(&r), "fcm_url", "must start with https://");

	build(&r, NULL, "[push]\nin_flight = 0");
	EXPECT1(&r, LAST(&r), "in_flight", "out of range");

	/* APNs: all three keys or none */
	build(&r, NULL,
	      "[push]\napns_key = {D}/web.key\napns_team_id = TEAM123456");
	EXPECT1(&r, LAST(&r), "apns_key_id is missing", "apns_team_id");

	/* two missing: both at the key given (none at line 0) */
	build(&r, NULL, "[push]\napns_key = {D}/web.key");
	CHECK(r.err == EINVAL);
	CHECK(count_lines(r.errs) == 2);
	EXPECT(&r, LAST(&r), "apns_key_id is missing");
	EXPECT(&r, LAST(&r), "apns_team_id is missing");

	build(&r, NULL,
	      "[push]\napns_key = {D}/web.pem\napns_key_id = K\n"
	      "apns_team_id = T");
	EXPECT1(&r, line_of(r.text, "apns_key ="),
		"cannot load an EC P-256 private key", "web.pem");

	build(&r, NULL,
	      "[push]\napns_key = {D}/missing.p8\napns_key_id = K\n"
	      "apns_team_id = T");
	EXPECT1(&r, line_of(r.text, "apns_key ="), "cannot read", "APNs key",
		"missing.p8");

	build(&r, NULL, "[push]\nca_file = {D}/web.key");
	EXPECT1(&r, LAST(&r), "CA file", "holds no PEM certificate",
		"push providers");

	build(&r, NULL, "[push]\nca_file = {D}/ca.pem\nqueue = 0");
	EXPECT1(&r, LAST(&r), "queue", "out of range");

	build(&r, NULL, "[push]\nfcm_credentials = {D}/missing.json");
	EXPECT1(&r, LAST(&r), "cannot read", "FCM service-account key",
		"missing.json");

	/* push keys others may read: a warning naming the file and mode */
	build(&r, NULL,
	      "[push]\napns_key = {D}/open.p8\napns_key_id = K\n"
	      "apns_team_id = T\nfcm_credentials = {D}/open.json");
	EXPECT_OK(&r);
	EXPECT(&r, line_of(r.text, "apns_key ="), "warning:", "apns_key",
	       "open.p8", "mode 0644", "chmod 600");
	EXPECT(&r, LAST(&r), "warning:", "fcm_credentials", "open.json",
	       "mode 0640");
	CHECK(count_lines(r.errs) == 2);
	build(&r, NULL,
	      "[push]\napns_key = {D}/web.key\napns_key_id = K\n"
	      "apns_team_id = T\nfcm_credentials = {D}/closed.json");
	EXPECT_OK(&r);
	CHECK_STR(r.errs, "");

	result_reset(&r);
}

/* [service] session lifetimes: seconds, small ones allowed (tests). */
static void test_lifetimes(void)
{
	struct result r = {0};

	build(&r, NULL,
	      "[service]\nsession_expiration = 20\n"
	      "session_short_expiration = 3");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(r.conf->session_expiration_ms == 20000);
		CHECK(r.conf->session_short_expiration_ms == 3000);
	}

	/* equal is fine: every session lives as long */
	build(&r, NULL,
	      "[service]\nsession_expiration = 2592000\n"
	      "session_short_expiration = 2592000");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(r.conf->session_short_expiration_ms == 2592000000u);

	build(&r, NULL,
	      "[service]\nsession_expiration = 60\n"
	      "session_short_expiration = 61");
	EXPECT1(&r, line_of(r.text, "session_short_expiration"),
		"session_short_expiration (61 s) is longer than "
		"session_expiration (60 s)",
		"lower the first or raise the second");

	/* the default long lifetime (72 h) against a longer short one */
	build(&r, NULL, "[service]\nsession_short_expiration = 300000");
	EXPECT1(&r, line_of(r.text, "session_short_expiration"),
		"session_expiration (259200 s)");

	result_reset(&r);
}

/* [http] trusted_proxy / behind_tls_proxy, [service] token_max_lifetime */
static void test_signin_keys(void)
{
	struct result r = {0};
	struct sa a;

	build(&r, NULL, "[service]\ntoken_max_lifetime = 3");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(r.conf->token_max_lifetime_s == 3);
	build(&r, NULL, "[service]\ntoken_max_lifetime = 0");
	EXPECT1(&r, LAST(&r), "token_max_lifetime", "out of range");

	build(&r, NULL,
	      "[http]\ntrusted_proxy = 192.0.2.5\n"
	      "trusted_proxy = 10.1.0.0/16\ntrusted_proxy = 2001:db8::/64\n"
	      "behind_tls_proxy = yes");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(r.conf->behind_tls_proxy);
		CHECK(list_count(&r.conf->trusted_proxies) == 3);
		(void)sa_set_str(&a, "192.0.2.5", 80);
		CHECK(conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "192.0.2.6", 80);
		CHECK(!conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "10.1.255.3", 80);
		CHECK(conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "10.2.0.1", 80);
		CHECK(!conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "::ffff:10.1.0.9", 80);
		CHECK(conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "2001:db8::77:1", 80);
		CHECK(conf_trusted_proxy(r.conf, &a));
		(void)sa_set_str(&a, "2001:db8:0:1::1", 80);
		CHECK(!conf_trusted_proxy(r.conf, &a));
	}

	/* the whole API over plain http needs a proxy to trust */
	build(&r, NULL, "[http]\nbehind_tls_proxy = yes");
	EXPECT1(&r, LAST(&r), "behind_tls_proxy = yes needs",
		"trusted_proxy = IP");

	/* a PROXY listener: trusted proxies only, its own port */
	build(&r, NULL,
	      "[http]\ntrusted_proxy = 127.0.0.1\n"
	      "listen_proxy = 127.0.0.1:8081");
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(list_count(&r.conf->proxy_listen) == 1);
	build(&r, NULL, "[http]\nlisten_proxy = 127.0.0.1:8081");
	EXPECT1(&r, LAST(&r), "listen_proxy takes connections from trusted",
		"trusted_proxy = IP");
	build(&r, NULL,
	      "[http]\ntrusted_proxy = 127.0.0.1\n"
	      "listen_proxy = 127.0.0.1:8081\nlisten = 127.0.0.1:8081");
	EXPECT(&r, LAST(&r), "[http] listen_proxy", "8081");

	build(&r, NULL, "[http]\ntrusted_proxy = proxy.example.com");
	EXPECT1(&r, LAST(&r), "not an IP address or block",
		"names are not allowed");
	build(&r, NULL, "[http]\ntrusted_proxy = 10.1.0.1/16");
	EXPECT1(&r, LAST(&r), "bits set past the prefix");
	build(&r, NULL, "[http]\ntrusted_proxy = 10.0.0.0/33");
	EXPECT1(&r, LAST(&r), "prefix length");

	result_reset(&r);
}

static void test_bad_values(void)
{
	static const struct bad v[] = {
	    {"[service]\ninternal_web_port = 0", {"not a port", "1"}},
	    {"[service]\ninternal_web_port = 65536", {"not a port"}},
	    {"[service]\ninternal_web_port = https", {"not a port"}},
	    {"[http]\nlisten = 1.2.3.4", {"not IP:PORT", "no :PORT"}},
	    {"[http]\nlisten = web:80", {"not IP:PORT", "IP address"}},
	    {"[http]\nlisten = ::1:80", {"without brackets"}},
	    {"[http]\nlisten = 1.2.3.4:80x", {"port"}},
	    {"[http]\nlisten = 1.2.3.4:0", {"port"}},
	    {"[http]\nlisten = [1.2.3.4]:80", {"not IPv6"}},
	    {"[service]\nsip_domain = exa_mple.test",
	     {"sip_domain", "not a valid DNS name", "letters"}},
	    {"[service]\nsip_domain = -x.test", {"starts or ends"}},
	    {"[service]\nsip_domain = a..test", {"empty label"}},
	    {"[service]\nsip_domain = example.test.", {"ends with a dot"}},
	    {"[service]\nsip_domain = 192.0.2.1", {"IP address"}},
	    {"[service]\nsip_domain = "
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     ".test",
	     {"longer than 63"}},
	    {"[frontend]\ntls_server_name = fe example",
	     {"tls_server_name", "DNS name"}},
	    {"[http]\nmax_headers = 12k",
	     {"max_headers", "not a number", "from 8 to 1024"}},
	    {"[http]\nmax_headers = 7", {"out of range", "8 to 1024"}},
	    {"[store]\nmap_size_mb = 0", {"map_size_mb", "1 to 1048576"}},
	    {"[store]\nbackend = memcached",
	     {"backend = 'memcached'", "not a store backend",
	      "use lmdb or redis"}},
	    {"[store]\nredis_address = 127.0.0.1",
	     {"redis_address = '127.0.0.1'", "not host:port"}},
	    {"[store]\nredis_address = 127.0.0.1:70000", {"not host:port"}},
	    {"[store]\nredis_address = bad_host:6379", {"not host:port"}},
	    {"[store]\nredis_db = 65536", {"out of range"}},
	    {"[store]\nredis_sentinels = 127.0.0.1:26379, 127.0.0.1",
	     {"redis_sentinels", "'127.0.0.1' is not host:port"}},
	    {"[store]\nredis_sentinels = a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9",
	     {"more than 8"}},
	    {"[store]\nredis_sentinels = 127.0.0.1:26379",
	     {"redis_sentinels and redis_master_name go together"}},
	    {"[store]\nredis_master_name = mobilityd",
	     {"redis_sentinels and redis_master_name go together"}},
	    {"[store]\nredis_instance = mob a",
	     {"redis_instance = 'mob a'", "not a name"}},
	    {"[store]\nredis_instance_url = https://127.0.0.1:8081",
	     {"redis_instance_url", "not http://host:port"}},
	    {"[store]\nredis_instance_url = http://127.0.0.1",
	     {"not http://host:port"}},
	    {"[store]\nredis_instance_url = http://10.0.0.1:80/x",
	     {"not http://host:port"}},
	    {"[store]\ntakeover_rate = 0", {"takeover_rate"}},
	    {"[store]\nredis_master_name = my master",
	     {"redis_master_name = 'my master'", "not a name"}},
	    {"[store]\nredis_wait_replicas = 17", {"out of range"}},
	    {"[store]\nredis_wait_ms = 5", {"out of range"}},
	    {"[store]\nbackend = lmdb-and-much-more", {"not a store backend"}},
	    {"[service]\nsession_expiration = 0",
	     {"session_expiration", "seconds from 1 to 2592000"}},
	    {"[service]\nsession_expiration = 2592001", {"out of range"}},
	    {"[service]\nsession_short_expiration = 1h",
	     {"session_short_expiration", "not a number"}},
	    {"[store]\nmap_size_mb = 1048577", {"out of range"}},
	    {"[http]\nmax_headers = 1025", {"out of range"}},
	    {"[http]\nmax_headers = -1", {"not a number"}},
	    {"[http]\nmax_body_bytes = 99999999999", {"out of range"}},
	    {"[http]\nmax_header_bytes = 1023", {"1024 to 1048576"}},
	    {"[http]\nheader_timeout = 0", {"seconds from 1 to 300"}},
	    {"[http]\nbody_timeout = 3601", {"seconds from 1 to 3600"}},
	    {"[sip]\nring_time = 4", {"ring_time", "seconds from 5 to 600"}},
	    {"[service]\nlog_level = loud", {"not a log level"}},
	    {"[autodiscover]\nredirect = far.test http://x.test/",
	     {"redirect URL", "https://"}},
	    {"[autodiscover]\nredirect = far.test https://", {"has no host"}},
	    {"[autodiscover]\nredirect = far.test https://a:99999/",
	     {"bad port"}},
	    {"[autodiscover]\nredirect = far.test https://u@x.test/",
	     {"user name"}},
	    {"[autodiscover]\nredirect = far.test https://x.test/<a>",
	     {"control character"}},
	    {"[autodiscover]\nredirect = far.test https://x_y.test/",
	     {"neither a DNS name"}},
	    {"[autodiscover]\nredirect = far.test", {"domain and a URL"}},
	    {"[autodiscover]\nredirect = far..test https://x.test/",
	     {"redirect domain", "DNS name"}},
	    {"[autodiscover]\nlink = Help! https://x.test/",
	     {"link token", "letters"}},
	    {"[autodiscover]\nlink = /Help https://x.test/", {"'/' only"}},
	    {"[autodiscover]\nlink = Self https://x.test/",
	     {"'Self'", "service "
			"sends "
			"itself"}},
	    {"[autodiscover]\nlink = internal/UCWA https://x.test/",
	     {"service sends itself"}},
	    {"[autodiscover]\nlink = Help", {"token and a URL"}},
	    {"[autodiscover]\nlink = Help https://x.test/ extra",
	     {"token and a URL"}},
	    {"[http]\ncertificate = only-one.pem", {"two paths"}},
	    {"[frontend]\nclient_internal_access = sip.example.test",
	     {"not FQDN:PORT", "no :PORT"}},
	    {"[frontend]\nclient_internal_access = 10.0.0.1:5061",
	     {"IP address"}},
	    {"[frontend]\naddress = fe.example.test:5061", {"not IP:PORT"}},
	};
	struct result r = {0};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		const char *nl = strchr(v[i].extra, '\n');
		unsigned line;

		const char *drop[2] = {NULL, NULL};
		size_t j;

		/* a key that may be given once replaces the base line */
		for (j = 0; j < ARRAY_SIZE(replaced); j++) {
			if (!strncmp(nl + 1, replaced[j], strlen(replaced[j])))
				drop[0] = replaced[j];
		}
		build(&r, drop, v[i].extra);

		line = line_of(r.text, nl + 1);
		CHECK(r.err == EINVAL);
		CHECK(count_lines(r.errs) == 1);
		CHECK(problem_at(&r, "t.conf", line, v[i].words));
		if (count_lines(r.errs) != 1)
			fprintf(stderr, "  case %zu:\n%s", i, r.errs);
	}
	result_reset(&r);
}

static void test_missing(void)
{
	struct result r = {0};

	result_reset(&r);
	parse_text(&r, "");
	CHECK(r.err == EINVAL);
	EXPECT(&r, 0, "[service] sip_domain is missing", "add sip_domain =");
	EXPECT(&r, 0, "internal_web_fqdn is missing");
	EXPECT(&r, 0, "external_web_fqdn is missing");
	EXPECT(&r, 0, "[frontend] address is missing");
	EXPECT(&r, 0, "tls_server_name is missing");
	EXPECT(&r, 0, "ca_file is missing");
	EXPECT(&r, 0, "no listen or listen_tls");
	EXPECT(&r, 0, "no SIP listening port");
	CHECK(count_lines(r.errs) == 8);

	/* with the section present, at its header line */
	build(&r, DROP("address"), NULL);
	EXPECT1(&r, line_of(r.text, "[frontend]"), "address is missing",
		"add address = ", "under [frontend]");

	build(&r, DROP("sip_domain"), NULL);
	EXPECT1(&r, 2, "sip_domain is missing");

	build(&r, DROP("ca_file"), NULL);
	EXPECT1(&r, line_of(r.text, "[frontend]"), "ca_file is missing");

	build(&r, DROP("listen = 127", "listen_tls"), NULL);
	EXPECT1(&r, line_of(r.text, "[http]"), "no listen or listen_tls");

	/* a listen with a bad value is not also reported as missing */
	build(&r, DROP("listen = 127", "listen_tls"), "[http]\nlisten = x");
	EXPECT1(&r, line_of(r.text, "listen = x"), "not IP:PORT");
	result_reset(&r);
}

static void test_sip_port(void)
{
	struct result r = {0};

	build(&r, DROP("internal_listen", "external_listen"), NULL);
	EXPECT1(&r, line_of(r.text, "[sip]"), "no SIP listening port",
		"Front End could not route to the service",
		"internal_listen = IP:5086", "external_listen = IP:5087");

	build(&r,
	      DROP("[sip]", "internal_listen", "external_listen",
		   "certificate = {D}/sip"),
	      NULL);
	EXPECT1(&r, 0, "no SIP listening port", "under [sip]");

	/* one of the two is enough */
	build(&r, DROP("internal_listen"), NULL);
	EXPECT_OK(&r);
	if (r.conf)
		CHECK(!sa_isset(&r.conf->sip_internal, SA_ALL));

	/* SIP listeners and no certificate anywhere */
	build(&r, DROP("certificate", "listen_tls"), NULL);
	EXPECT1(&r, line_of(r.text, "internal_listen"),
		"SIP listeners need a certificate", "under [sip]");
	result_reset(&r);
}

static void test_cross(void)
{
	struct result r = {0};

	build(&r, DROP("external_web_fqdn"),
	      "[service]\nexternal_web_fqdn = Mobility-Int.example.test");
	EXPECT1(&r, line_of(r.text, "Mobility-Int"),
		"internal and external web FQDNs equal",
		"mobility-int.example.test", "own name");

	build(&r, NULL,
	      "[autodiscover]\nredirect = example.org https://x.test/");
	EXPECT1(&r, line_of(r.text, "redirect = example.org"),
		"redirect for example.org", "sip_domain served here (line 5)",
		"remove the redirect or the sip_domain");

	build(&r, NULL, "[http]\nmax_request_line = 20000");
	EXPECT1(&r, line_of(r.text, "max_request_line"),
		"max_request_line (20000)", "max_header_bytes (16384)");

	build(&r, NULL,
	      "[http]\nmax_request_line = 4096\nmax_header_bytes = 2048");
	EXPECT1(&r, line_of(r.text, "max_header_bytes"),
		"max_request_line (4096) is larger than max_header_bytes "
		"(2048)");

	build(&r, NULL, "[http]\nmax_connections = 100");
	EXPECT1(&r, line_of(r.text, "max_connections = 100"),
		"max_connections_per_address (5000)", "max_connections (100)");

	build(&r, NULL, "[http]\nlisten = 127.0.0.1:5086");
	EXPECT1(&r, LAST(&r),
		"[http] listen 127.0.0.1:5086 overlaps [sip] internal_listen "
		"127.0.0.1:5086 at line 25",
		"own address or port");

	build(&r, NULL, "[http]\nlisten_tls = 0.0.0.0:9191");
	EXPECT1(&r, LAST(&r),
		"[http] listen_tls 0.0.0.0:9191 overlaps [admin] listen "
		"127.0.0.1:9191 at line 34");

	build(&r, DROP("[admin]", "listen = 127.0.0.1:9191"),
	      "[http]\nlisten = 127.0.0.1:9090");
	EXPECT1(&r, line_of(r.text, "9090"),
		"overlaps the default [admin] "
		"listen 127.0.0.1:9090");

	build(&r, NULL, "[http]\nlisten = 127.0.0.1:8080");
	EXPECT1(&r, LAST(&r),
		"overlaps [http] listen 127.0.0.1:8080 at line 12");

	/* different addresses on one port are fine */
	build(&r, NULL, "[http]\nlisten = 127.0.0.2:8080");
	EXPECT_OK(&r);
	result_reset(&r);
}

static void test_warnings(void)
{
	struct result r = {0};

	build(&r, DROP("listen = 127.0.0.1:9191"),
	      "[admin]\nlisten = 0.0.0.0:9191");
	EXPECT_OK(&r);
	EXPECT(&r, LAST(&r), "warning:", "not a loopback address", "/metrics");
	CHECK(count_lines(r.errs) == 1);
	result_reset(&r);
}

static void test_limits(void)
{
	struct result r = {0};
	struct mbuf *mb;
	char *big;
	size_t i;

	/* file size */
	big = malloc(1048577);
	memset(big, '#', 1048577);
	parse_buf(&r, "t.conf", big, 1048577);
	EXPECT1(&r, 0, "larger than 1048576 bytes");
	parse_buf(&r, "t.conf", big, 1048576); /* one long comment line */
	EXPECT(&r, 1, "longer than 4096 bytes");
	free(big);

	/* line length: 4096 is fine, 4097 is not */
	mb = mbuf_alloc(8192);
	(void)mbuf_printf(mb, "[http]\nlisten = 127.0.0.1:1 ");
	while (mb->end < 7 + 4096)
		(void)mbuf_write_u8(mb, ' ');
	(void)mbuf_printf(mb, "\n[http]\nlisten = 127.0.0.1:2 ");
	while (mb->end < 7 + 4096 + 1 + 7 + 4097)
		(void)mbuf_write_u8(mb, ' ');
	(void)mbuf_write_u8(mb, '\n');
	parse_buf(&r, "t.conf", (char *)mb->buf, mb->end);
	EXPECT(&r, 4, "longer than 4096 bytes", "shorten");
	NO_PROBLEM(&r, 2, "longer");
	mem_deref(mb);

	/* a NUL byte */
	parse_buf(&r, "t.conf", "[http]\nlis\0ten = 1", 18);
	EXPECT(&r, 2, "NUL byte");

	/* list length */
	mb = mbuf_alloc(65536);
	(void)mbuf_printf(mb, "[http]\n");
	for (i = 0; i < 1025; i++)
		(void)mbuf_printf(mb, "listen = 127.0.%u.%u:80\n",
				  (unsigned)(i / 200), (unsigned)(i % 200 + 1));
	parse_buf(&r, "t.conf", (char *)mb->buf, mb->end);
	EXPECT(&r, 1026, "more than 1024 listen lines");
	NO_PROBLEM(&r, 1025, "more than");
	mem_deref(mb);

	/* past 200 problem lines, the rest are counted */
	mb = mbuf_alloc(4096);
	for (i = 0; i < 250; i++)
		(void)mbuf_printf(mb, "junk\n");
	parse_buf(&r, "t.conf", (char *)mb->buf, mb->end);
	CHECK(count_lines(r.errs) == 201);
	EXPECT(&r, 0, "more problems not shown");
	mem_deref(mb);

	/* no NUL termination is needed: the bytes after len are never read
	 * ("= 30" is in range, "= 3000" is not) */
	parse_buf(&r, "t.conf", "[http]\nmax_headers = 3000", 23);
	CHECK(r.err == EINVAL); /* required keys are missing */
	NO_PROBLEM(&r, 2, "max_headers");
	result_reset(&r);
	CHECK(conf_parse(NULL, "x", "", 0, NULL) == EINVAL);
}

static void test_certs(void)
{
	struct result r = {0};
	unsigned l;

	/* chain file */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/missing.pem {D}/web.key");
	EXPECT1(&r, line_of(r.text, "missing.pem"), "cannot read",
		"certificate chain", "missing.pem", "No such file or directory",
		"permissions");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/adir {D}/web.key");
	EXPECT1(&r, line_of(r.text, "adir"), "adir", "not a regular file");

	/* a FIFO must not hang the check */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/web.pem {D}/fifo");
	EXPECT1(&r, LAST(&r), "private key", "fifo", "not a regular file");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/garbage.pem {D}/web.key");
	EXPECT1(&r, line_of(r.text, "garbage.pem"), "garbage.pem",
		"holds no PEM certificate", "leaf first");

	/* key file */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/web.pem {D}/nokey.key");
	EXPECT1(&r, line_of(r.text, "nokey"), "cannot read", "private key",
		"nokey.key");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/web.pem {D}/web.pem");
	EXPECT1(&r, LAST(&r), "cannot load a private key");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/web.pem {D}/sip.key");
	EXPECT1(&r, LAST(&r), "the key", "sip.key",
		"does not match the certificate in", "web.pem");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/web.pem {D}/encrypted.key");
	EXPECT1(&r, line_of(r.text, "encrypted.key"), "encrypted.key",
		"passphrase", "unencrypted");

	/* order of the chain; checked on [sip], which needs no names */
	build(&r, DROP("certificate = {D}/sip"),
	      "[sip]\ncertificate = {D}/reversed.pem {D}/web.key");
	l = line_of(r.text, "reversed.pem");
	CHECK(r.err == EINVAL);
	EXPECT(&r, l, "reversed.pem",
	       "certificate 2 did not issue "
	       "certificate 1",
	       "leaf first");
	EXPECT(&r, l, "does not match");
	CHECK(count_lines(r.errs) == 2);

	build(&r, DROP("certificate = {D}/sip"),
	      "[sip]\ncertificate = {D}/broken.pem {D}/web.key");
	EXPECT1(&r, line_of(r.text, "broken.pem"), "broken.pem",
		"block after certificate 1", "not a valid PEM");

	/* dates */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/expired.pem {D}/expired.key");
	EXPECT1(&r, line_of(r.text, "expired.pem"), "expired.pem", "expired on",
		"renew");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/future.pem {D}/future.key");
	EXPECT1(&r, line_of(r.text, "future.pem"), "not valid before");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/soon.pem {D}/soon.key");
	EXPECT_OK(&r);
	EXPECT(&r, line_of(r.text, "soon.pem"), "warning:", "soon.pem",
	       "expires on");
	result_reset(&r);
}

static void test_cover(void)
{
	struct result r = {0};

	/* one name missing: said which, at the domain's line, and by which
	 * files */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/nointernal.pem {D}/nointernal.key");
	EXPECT1(&r, 4, "lyncdiscoverinternal.example.test",
		"not covered by the HTTPS certificates", "nointernal.pem",
		"subject alternative name");

	/* the union of two certificates counts (SNI picks one) */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/disc.pem {D}/disc.key\n"
	      "certificate = {D}/webonly.pem {D}/webonly.key");
	EXPECT_OK(&r);

	/* ...but each alone misses names: the web FQDNs at their lines */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/disc.pem {D}/disc.key");
	CHECK(r.err == EINVAL);
	CHECK(count_lines(r.errs) == 2);
	EXPECT(&r, 6, "mobility-int.example.test", "not covered", "disc.pem");
	EXPECT(&r, 7, "mobility.example.test", "not covered");

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/webonly.pem {D}/webonly.key");
	CHECK(r.err == EINVAL);
	CHECK(count_lines(r.errs) == 4);
	EXPECT(&r, 4, "lyncdiscover.example.test", "not covered");
	EXPECT(&r, 4, "lyncdiscoverinternal.example.test", "not covered");
	EXPECT(&r, 5, "lyncdiscover.example.org", "not covered");
	EXPECT(&r, 5, "lyncdiscoverinternal.example.org", "not covered");

	/* wildcards cover one label */
	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/wild.pem {D}/wild.key");
	EXPECT_OK(&r);

	build(&r, DROP("certificate = {D}/web"),
	      "[http]\ncertificate = {D}/wildtld.pem {D}/wildtld.key");
	CHECK(r.err == EINVAL);
	CHECK(count_lines(r.errs) == 6);
	EXPECT(&r, 4, "lyncdiscover.example.test", "not covered",
	       "wildtld.pem");

	/* no listen_tls: certificates are checked, names are not */
	build(&r, DROP("certificate = {D}/web", "listen_tls"),
	      "[http]\ncertificate = {D}/sip.pem {D}/sip.key");
	EXPECT_OK(&r);

	/* listen_tls without any certificate */
	build(&r, DROP("certificate = {D}/web"), NULL);
	EXPECT1(&r, line_of(r.text, "listen_tls"),
		"listen_tls needs a "
		"certificate",
		"certificate = CHAIN.pem KEY.pem");

	/* a chain that did not load: no "not covered" lines on top */
	build(&r, NULL, "[http]\ncertificate = {D}/garbage.pem {D}/web.key");
	EXPECT1(&r, line_of(r.text, "garbage.pem"), "no PEM certificate");
	result_reset(&r);
}

/* Values longer than their named limits. */
static void test_long_values(void)
{
	struct result r = {0};
	struct mbuf *mb = mbuf_alloc(4096);
	char *extra;
	size_t i;

	/* a path of 1025 bytes */
	(void)mbuf_printf(mb, "[sip]\ncertificate = /");
	for (i = 0; i < 1024; i++)
		(void)mbuf_write_u8(mb, 'p');
	(void)mbuf_printf(mb, " /k.key");
	extra = mb_strdup(mb);
	build(&r, DROP("certificate = {D}/sip"), extra);
	EXPECT1(&r, LAST(&r), "certificate path is longer than 1024 bytes");
	mem_deref(extra);

	/* a URL of 2049 bytes */
	mbuf_reset(mb);
	(void)mbuf_printf(mb, "[autodiscover]\nlink = Long https://x.test/");
	for (i = 0; i < 2049 - 15; i++)
		(void)mbuf_write_u8(mb, 'u');
	extra = mb_strdup(mb);
	build(&r, NULL, extra);
	EXPECT1(&r, LAST(&r), "link URL", "longer than 2048 bytes");
	mem_deref(extra);

	/* a token of 65 bytes */
	mbuf_reset(mb);
	(void)mbuf_printf(mb, "[autodiscover]\nlink = ");
	for (i = 0; i < 65; i++)
		(void)mbuf_write_u8(mb, 't');
	(void)mbuf_printf(mb, " https://x.test/");
	extra = mb_strdup(mb);
	build(&r, NULL, extra);
	EXPECT1(&r, LAST(&r), "link token", "1 to 64 bytes");
	mem_deref(extra);

	/* a chain of 17 certificates */
	build(&r, DROP("certificate = {D}/sip"),
	      "[sip]\ncertificate = {D}/long.pem {D}/ca.key");
	EXPECT1(&r, LAST(&r), "long.pem", "more than 16 certificates");

	mem_deref(mb);
	result_reset(&r);
}

static void test_ca_file(void)
{
	struct result r = {0};

	build(&r, DROP("ca_file"), "[frontend]\nca_file = {D}/noca.pem");
	EXPECT1(&r, line_of(r.text, "noca.pem"), "cannot read the CA file",
		"noca.pem");

	build(&r, DROP("ca_file"), "[frontend]\nca_file = {D}/garbage.pem");
	EXPECT1(&r, line_of(r.text, "ca_file = "), "the CA file", "garbage.pem",
		"holds no PEM certificate");
	result_reset(&r);
}

/* [sip] who may send requests (the Front End's client certificate) and
 * the listeners' connection limits. */
static void test_sip_trust(void)
{
	struct result r = {0};
	struct conf_str *n;

	build(&r, NULL, NULL);
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(r.conf->sip_client_ca_file == NULL);
		CHECK(list_isempty(&r.conf->sip_client_names));
		CHECK(r.conf->sip_max_connections == 1024);
		CHECK(r.conf->sip_idle_ms == 300000);
	}

	build(&r, NULL,
	      "[sip]\nclient_ca_file = {D}/ca.pem\nclient_name = "
	      "FE.example.test\nclient_name = fe2.example.test\n"
	      "max_connections = 10\nidle_timeout = 30");
	EXPECT_OK(&r);
	if (r.conf) {
		CHECK(strstr(r.conf->sip_client_ca_file, "/ca.pem") != NULL);
		CHECK(list_count(&r.conf->sip_client_names) == 2);
		n = list_ledata(list_head(&r.conf->sip_client_names));
		CHECK(n && !strcmp(n->s, "fe.example.test"));
		CHECK(r.conf->sip_max_connections == 10);
		CHECK(r.conf->sip_idle_ms == 30000);
	}

	build(&r, NULL, "[sip]\nclient_ca_file = {D}/noca.pem");
	EXPECT1(&r, line_of(r.text, "noca.pem"), "cannot read the CA file",
		"noca.pem");
	build(&r, NULL, "[sip]\nclient_name = fe example");
	EXPECT1(&r, LAST(&r), "client_name", "not a valid DNS name");
	build(&r, NULL, "[sip]\nmax_connections = 0");
	EXPECT1(&r, LAST(&r), "max_connections", "1 to 1000000");
	build(&r, NULL, "[sip]\nidle_timeout = 901");
	EXPECT1(&r, LAST(&r), "idle_timeout", "out of range");
	result_reset(&r);
}

static void test_load(void)
{
	struct mbuf *mb = mbuf_alloc(512);
	struct re_printf pf = {print_mb, mb};
	struct conf *conf = NULL;
	const struct conf_cert *c;
	char path[512], want[512];
	FILE *f;
	size_t i;
	int err;

	/* relative paths are relative to the file's directory */
	(void)re_snprintf(path, sizeof(path), "%s/mobilityd.conf", tmpdir);
	f = fopen(path, "w");
	for (i = 0; base_lines[i]; i++) {
		if (!strncmp(base_lines[i], "certificate = {D}/web", 21))
			fprintf(f, "certificate = web.pem ./web.key\n");
		else if (!strncmp(base_lines[i], "ca_file", 7))
			fprintf(f, "ca_file = ca.pem\n");
		else {
			char line[512];
			subst_dir(line, sizeof(line), base_lines[i]);
			fprintf(f, "%s\n", line);
		}
	}
	fclose(f);

	err = conf_load(&conf, path, &pf);
	CHECK(err == 0);
	if (conf) {
		c = list_ledata(list_head(&conf->certs));
		(void)re_snprintf(want, sizeof(want), "%s/web.pem", tmpdir);
		CHECK_STR(c->chain, want);
		(void)re_snprintf(want, sizeof(want), "%s/./web.key", tmpdir);
		CHECK_STR(c->key, want);
		(void)re_snprintf(want, sizeof(want), "%s/ca.pem", tmpdir);
		CHECK_STR(conf->fe_ca_file, want);
		CHECK_STR(conf->path, path);
	}
	conf = mem_deref(conf);

	/* problems name the file */
	f = fopen(path, "a");
	fprintf(f, "[http]\nmax_headers = 1\n");
	fclose(f);
	mbuf_reset(mb);
	err = conf_load(&conf, path, &pf);
	CHECK(err == EINVAL && conf == NULL);
	(void)re_snprintf(want, sizeof(want),
			  "%s:36: max_headers = 1 is out of range", path);
	mbuf_write_u8(mb, 0);
	CHECK(strstr((char *)mb->buf, want) != NULL);

	/* an unreadable file is told by the return code only */
	mbuf_reset(mb);
	(void)re_snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	err = conf_load(&conf, path, &pf);
	CHECK(err == ENOENT && conf == NULL);
	CHECK(mb->end == 0);

	mbuf_reset(mb);
	err = conf_load(&conf, tmpdir, &pf);
	CHECK(err == EINVAL && conf == NULL);
	mbuf_write_u8(mb, 0);
	CHECK(strstr((char *)mb->buf, "not a regular file") != NULL);

	mbuf_reset(mb);
	(void)re_snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	err = conf_load(&conf, path, &pf);
	CHECK(err == EINVAL && conf == NULL);
	mbuf_write_u8(mb, 0);
	CHECK(strstr((char *)mb->buf, "not a regular file") != NULL);

	mem_deref(mb);
}

static void test_example(void)
{
	struct mbuf *mb = mbuf_alloc(512);
	struct re_printf pf = {print_mb, mb};
	struct conf *conf = NULL;
	char path[512];
	int err;

	(void)re_snprintf(path, sizeof(path),
			  "%s/deploy/mobilityd.conf.example", src_dir);
	err = conf_load(&conf, path, &pf);
	mbuf_write_u8(mb, 0);

	/* Its certificate and CA files do not exist here: those lines, and
	 * only those, are reported. */
	CHECK(err == EINVAL);
	{
		const char *p = (const char *)mb->buf;
		unsigned n = 0, bad = 0;

		while (*p) {
			const char *end = strchr(p, '\n');
			if (!end)
				break;
			++n;
			if (!memmem(p, end - p, "cannot read the ", 16))
				++bad;
			p = end + 1;
		}
		CHECK(n >= 1);
		CHECK(bad == 0);
		if (bad)
			fprintf(stderr, "  example:\n%s", (char *)mb->buf);
	}
	mem_deref(conf);
	mem_deref(mb);
}

int main(void)
{
	static char sh_path[600];
	const char *src = getenv("MOBILITY_SRC");
	char cmd[600];
	int ret;

	if (src) {
		(void)re_snprintf(src_dir, sizeof(src_dir), "%s", src);
	} else {
		/* run by hand: __FILE__ is SRC/tests/conf/test_conf.c */
		(void)re_snprintf(src_dir, sizeof(src_dir), "%b", __FILE__,
				  strlen(__FILE__) -
				      strlen("/tests/conf/test_conf.c"));
	}
	(void)re_snprintf(sh_path, sizeof(sh_path), "%s/deploy/certs.sh",
			  src_dir);
	certs_sh = sh_path;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (make_certs()) {
		fprintf(stderr,
			"test_conf: cannot make the test certificates "
			"with %s\n",
			certs_sh);
		return 1;
	}

	test_full();
	test_defaults();
	test_push();
	test_comments();
	test_repeated();
	test_syntax();
	test_unknown_keys();
	test_duplicates();
	test_bad_values();
	test_store();
	test_sip_trust();
	test_lifetimes();
	test_signin_keys();
	test_missing();
	test_sip_port();
	test_cross();
	test_warnings();
	test_limits();
	test_certs();
	test_cover();
	test_long_values();
	test_ca_file();
	test_load();
	test_example();

	ret = check_done("test_conf");

	(void)re_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "test_conf: could not remove %s\n", tmpdir);

	return ret;
}
