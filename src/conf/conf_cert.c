/**
 * @file conf_cert.c  Certificate checks with OpenSSL
 *
 * Each chain file must be a PEM chain, leaf first, each certificate issued
 * by the next; each key must load and match its leaf; the leaf must be
 * valid now. The HTTPS certificates are chosen by SNI, so together (the
 * union of their subject alternative names) they must cover every name a
 * client connects to: lyncdiscover.<domain> and lyncdiscoverinternal.<domain>
 * for every SIP domain, and both web FQDNs.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <re.h>
#include "conf.h"
#include "conf_int.h"

enum {
	FILES_SHOWN = 4, /* certificate files named in one problem line */
};

/* Read a whole PEM file, bounded; problems are reported at line. */
static int pem_read(struct conf_ctx *ctx, unsigned line, const char *path,
		    const char *what, struct mbuf **mbp)
{
	struct mbuf *mb = NULL;
	struct stat st;
	int fd, err = 0;

	/* O_NONBLOCK: a FIFO given by mistake must not hang the check */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		conf_problem(ctx, line,
			     "cannot read the %s %s: %m; check the path and "
			     "its permissions",
			     what, path, errno);
		return EINVAL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		conf_problem(ctx, line,
			     "the %s %s is not a regular file; give the path "
			     "of a PEM file",
			     what, path);
		err = EINVAL;
		goto out;
	}
	if (st.st_size > CONF_MAX_PEM) {
		conf_problem(ctx, line,
			     "the %s %s is larger than %u bytes; give a PEM "
			     "file",
			     what, path, CONF_MAX_PEM);
		err = EINVAL;
		goto out;
	}

	mb = mbuf_alloc((size_t)st.st_size + 1);
	if (!mb) {
		err = ENOMEM;
		goto out;
	}
	while (mb->end < (size_t)st.st_size) {
		ssize_t n =
		    read(fd, mb->buf + mb->end, (size_t)st.st_size - mb->end);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conf_problem(ctx, line,
				     "cannot read the %s %s: %m; check the "
				     "file",
				     what, path, n ? errno : EIO);
			err = EINVAL;
			goto out;
		}
		mb->end += (size_t)n;
	}

out:
	close(fd);
	if (err)
		mem_deref(mb);
	else
		*mbp = mb;

	return err;
}

/* Load every certificate of a PEM buffer (at most max + 1). */
static int pem_certs(const struct mbuf *mb, X509 **v, size_t max, size_t *np,
		     bool *garbage)
{
	unsigned long e;
	size_t n = 0;
	BIO *bio;

	bio = BIO_new_mem_buf(mb->buf, (int)mb->end);
	if (!bio)
		return ENOMEM;

	while (n <= max) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!x)
			break;
		v[n++] = x;
	}

	/* The loop ends on "no start line" at the end of the file; any other
	 * error is a block that does not parse. */
	e = ERR_peek_last_error();
	*garbage = n <= max && e &&
		   !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
		     ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
	ERR_clear_error();
	BIO_free(bio);

	*np = n;
	return 0;
}

static int print_date(struct re_printf *pf, const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return re_hprintf(pf, "(unknown date)");

	return re_hprintf(pf, "%04d-%02d-%02d", tm.tm_year + 1900,
			  tm.tm_mon + 1, tm.tm_mday);
}

static void check_validity(struct conf_ctx *ctx, const struct conf_cert *c,
			   X509 *leaf)
{
	const ASN1_TIME *nb = X509_get0_notBefore(leaf);
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	time_t soon = time(NULL) + CONF_EXPIRY_WARN_DAYS * 86400;

	if (X509_cmp_current_time(na) <= 0) {
		conf_problem(ctx, c->line,
			     "the certificate in %s expired on %H; renew it",
			     c->chain, print_date, na);
	} else if (X509_cmp_current_time(nb) >= 0) {
		conf_problem(ctx, c->line,
			     "the certificate in %s is not valid before %H; "
			     "check the system clock or the certificate",
			     c->chain, print_date, nb);
	} else if (X509_cmp_time(na, &soon) <= 0) {
		conf_warning(ctx, c->line,
			     "the certificate in %s expires on %H; renew it "
			     "soon",
			     c->chain, print_date, na);
	}
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Read a PEM private key file into *pkeyp (NULL if it holds no key).
 * Returns ENOENT when the file could not be read (a problem already
 * reported), or ENOMEM. */
static int key_read(struct conf_ctx *ctx, unsigned line, const char *path,
		    const char *what, EVP_PKEY **pkeyp)
{
	struct mbuf *mb = NULL;
	BIO *bio = NULL;
	int err;

	*pkeyp = NULL;
	err = pem_read(ctx, line, path, what, &mb);
	if (err)
		return err == ENOMEM ? ENOMEM : ENOENT;

	bio = BIO_new_mem_buf(mb->buf, (int)mb->end);
	if (bio)
		*pkeyp =
		    PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	else
		err = ENOMEM;

	ERR_clear_error();
	BIO_free(bio);
	mem_deref(mb);
	return err;
}

static int check_key(struct conf_ctx *ctx, const struct conf_cert *c,
		     X509 *leaf)
{
	EVP_PKEY *pkey = NULL;
	int err;

	err = key_read(ctx, c->line, c->key, "private key", &pkey);
	if (err)
		return err == ENOMEM ? ENOMEM : 0;

	if (!pkey) {
		conf_problem(ctx, c->line,
			     "cannot load a private key from %s (not PEM, or "
			     "protected by a passphrase); give an unencrypted "
			     "PEM key",
			     c->key);
	} else if (leaf && X509_check_private_key(leaf, pkey) != 1) {
		conf_problem(ctx, c->line,
			     "the key %s does not match the certificate in "
			     "%s; give the key of that certificate",
			     c->key, c->chain);
	}

	ERR_clear_error();
	EVP_PKEY_free(pkey);
	return 0;
}

/**
 * Check one certificate entry; returns its leaf (a new reference) in
 * *leafp when the chain loaded, NULL otherwise.
 */
static int check_cert(struct conf_ctx *ctx, const struct conf_cert *c,
		      X509 **leafp)
{
	X509 *v[CONF_MAX_CHAIN + 1];
	struct mbuf *mb = NULL;
	size_t n = 0, i;
	bool garbage;
	int err;

	*leafp = NULL;

	err = pem_read(ctx, c->line, c->chain, "certificate chain", &mb);
	if (err == EINVAL) /* reported; the key is still worth a look */
		return check_key(ctx, c, NULL);
	if (err)
		return err;

	err = pem_certs(mb, v, CONF_MAX_CHAIN, &n, &garbage);
	if (err)
		goto out;

	if (!n) {
		conf_problem(ctx, c->line,
			     "%s holds no PEM certificate; give the "
			     "certificate chain in PEM, leaf first",
			     c->chain);
	} else if (n > CONF_MAX_CHAIN) {
		conf_problem(ctx, c->line,
			     "%s holds more than %u certificates; give the "
			     "leaf and its intermediates only",
			     c->chain, CONF_MAX_CHAIN);
	} else if (garbage) {
		conf_problem(ctx, c->line,
			     "%s has a block after certificate %zu that is "
			     "not a valid PEM certificate; fix or remove it",
			     c->chain, n);
	}

	/* Leaf first, then the certificate that issued it, and so on
	 * (RFC 8446 4.4.2 relaxes this, older clients do not). */
	for (i = 1; i < n && n <= CONF_MAX_CHAIN; i++) {
		if (X509_check_issued(v[i], v[i - 1]) == X509_V_OK)
			continue;
		conf_problem(ctx, c->line,
			     "in %s, certificate %zu did not issue certificate "
			     "%zu; put the leaf first, then each issuer in "
			     "order",
			     c->chain, i + 1, i);
		break;
	}

	if (n) {
		check_validity(ctx, c, v[0]);
		*leafp = v[0];
		X509_up_ref(v[0]);
	}
	err = check_key(ctx, c, n ? v[0] : NULL);

out:
	for (i = 0; i < n; i++)
		X509_free(v[i]);
	mem_deref(mb);
	return err;
}

/* A CA file must hold at least one PEM certificate; hint says which. */
static int check_ca(struct conf_ctx *ctx, const char *path, unsigned line,
		    const char *hint)
{
	X509 *v[CONF_MAX_CHAIN + 1];
	struct mbuf *mb = NULL;
	size_t n = 0, i;
	bool garbage;
	int err;

	if (!path)
		return 0;

	err = pem_read(ctx, line, path, "CA file", &mb);
	if (err)
		return err == ENOMEM ? ENOMEM : 0;

	/* A bundle may be long: CONF_MAX_CHAIN is enough to know it has at
	 * least one certificate; OpenSSL loads the whole file later. */
	err = pem_certs(mb, v, CONF_MAX_CHAIN, &n, &garbage);
	if (!err && !n) {
		conf_problem(ctx, line,
			     "the CA file %s holds no PEM certificate; give "
			     "%s",
			     path, hint);
	}

	for (i = 0; i < n; i++)
		X509_free(v[i]);
	mem_deref(mb);
	return err;
}

/* A push key signs for every user's devices: whoever can read it can push
 * to all of them. Open to the group or to others is a warning (not a
 * problem: a deployment may share it through a group on purpose). */
static void key_mode(struct conf_ctx *ctx, unsigned line, const char *key,
		     const char *path)
{
	struct stat st;

	if (stat(path, &st) || !(st.st_mode & (S_IRWXG | S_IRWXO)))
		return;

	/* the mode in octal digits: re_printf has no %o */
	conf_warning(ctx, line,
		     "[push] %s %s is open to other users (mode %u%u%u%u): "
		     "whoever reads it can push to every device; chmod 600 "
		     "it, owned by the user the service runs as",
		     key, path, (unsigned)(st.st_mode >> 9) & 7,
		     (unsigned)(st.st_mode >> 6) & 7,
		     (unsigned)(st.st_mode >> 3) & 7, (unsigned)st.st_mode & 7);
}

/* The APNs .p8 key must load as an EC P-256 private key; the FCM key file
 * must be readable (its JSON is read by the push service). Either, once
 * read, should be the service's alone. */
static int check_push_keys(struct conf_ctx *ctx)
{
	const struct conf_push *p = &ctx->conf->push;
	struct mbuf *mb = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned line;
	int err;

	if (p->fcm_credentials) {
		line = conf_key_line(ctx, SECT_PUSH, "fcm_credentials");
		err = pem_read(ctx, line, p->fcm_credentials,
			       "FCM service-account key", &mb);
		mem_deref(mb);
		if (err == ENOMEM)
			return err;
		if (!err)
			key_mode(ctx, line, "fcm_credentials",
				 p->fcm_credentials);
	}

	if (!p->apns_key)
		return 0;

	line = conf_key_line(ctx, SECT_PUSH, "apns_key");
	err = key_read(ctx, line, p->apns_key, "APNs key", &pkey);
	if (err)
		return err == ENOMEM ? ENOMEM : 0;

	if (!pkey || !EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_bits(pkey) != 256) {
		conf_problem(ctx, line,
			     "cannot load an EC P-256 private key from %s; "
			     "give the .p8 file Apple issued for the key id",
			     p->apns_key);
	} else {
		key_mode(ctx, line, "apns_key", p->apns_key);
	}

	EVP_PKEY_free(pkey);
	return 0;
}

struct cover {
	X509 **leafv; /* leaves of the HTTPS certificates */
	size_t n;
	const struct list *certs;
};

static int print_files(struct re_printf *pf, const struct list *certs)
{
	struct le *le;
	unsigned i = 0;
	int err = 0;

	LIST_FOREACH(certs, le)
	{
		const struct conf_cert *c = le->data;

		if (i == FILES_SHOWN) {
			err |= re_hprintf(pf, " and %u more",
					  list_count(certs) - FILES_SHOWN);
			break;
		}
		err |= re_hprintf(pf, "%s%s", i ? ", " : "", c->chain);
		++i;
	}

	return err;
}

static void cover_name(struct conf_ctx *ctx, const struct cover *cv,
		       const char *name, unsigned line)
{
	const unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
			       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	size_t i;

	for (i = 0; i < cv->n; i++) {
		if (X509_check_host(cv->leafv[i], name, strlen(name), flags,
				    NULL) == 1)
			return;
	}

	conf_problem(ctx, line,
		     "%s is not covered by the HTTPS certificates (%H); add it "
		     "as a subject alternative name to one of them",
		     name, print_files, cv->certs);
}

static int check_cover(struct conf_ctx *ctx, const struct cover *cv)
{
	const struct conf *conf = ctx->conf;
	static const char *const prefixes[] = {"lyncdiscover.",
					       "lyncdiscoverinternal."};
	char name[CONF_MAX_DNS + 32];
	struct le *le;
	size_t i;

	LIST_FOREACH(&conf->domains, le)
	{
		const struct conf_str *d = le->data;

		for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
			if (re_snprintf(name, sizeof(name), "%s%s", prefixes[i],
					d->s) < 0)
				return ENOMEM;
			cover_name(ctx, cv, name, d->line);
		}
	}

	if (conf->internal_web_fqdn)
		cover_name(
		    ctx, cv, conf->internal_web_fqdn,
		    conf_key_line(ctx, SECT_SERVICE, "internal_web_fqdn"));
	if (conf->external_web_fqdn)
		cover_name(
		    ctx, cv, conf->external_web_fqdn,
		    conf_key_line(ctx, SECT_SERVICE, "external_web_fqdn"));

	return 0;
}

/**
 * Check the Front End CA file and every certificate, then whether the
 * HTTPS certificates cover every name clients use (only when there is a
 * listen_tls and every HTTPS chain loaded: otherwise each name would be
 * reported as not covered for a problem already reported).
 *
 * @return 0 (problems are counted in ctx), or ENOMEM
 */
int conf_check_certs(struct conf_ctx *ctx)
{
	const struct conf *conf = ctx->conf;
	struct cover cv = {.certs = &conf->certs};
	size_t i, ncerts = list_count(&conf->certs);
	bool complete = true;
	struct le *le;
	int err;

	err = check_ca(ctx, conf->fe_ca_file,
		       conf_key_line(ctx, SECT_FRONTEND, "ca_file"),
		       "the CA that issued the Front End's certificate");
	if (!err)
		err = check_ca(ctx, conf->push.ca_file,
			       conf_key_line(ctx, SECT_PUSH, "ca_file"),
			       "the CA to trust for the push providers");
	if (!err)
		err = check_ca(ctx, conf->sip_client_ca_file,
			       conf_key_line(ctx, SECT_SIP, "client_ca_file"),
			       "the CA that issued the Front End's client "
			       "certificate");
	if (!err)
		err = check_push_keys(ctx);
	if (err)
		return err;

	cv.leafv = mem_zalloc((ncerts + 1) * sizeof(*cv.leafv), NULL);
	if (!cv.leafv)
		return ENOMEM;

	LIST_FOREACH(&conf->certs, le)
	{
		X509 *leaf;

		err = check_cert(ctx, le->data, &leaf);
		if (err)
			goto out;
		if (leaf)
			cv.leafv[cv.n++] = leaf;
		else
			complete = false;
	}

	/* Borrowed [http] certificates were checked just above. */
	if (!ctx->sip_certs_from_http) {
		LIST_FOREACH(&conf->sip_certs, le)
		{
			X509 *leaf;

			err = check_cert(ctx, le->data, &leaf);
			if (err)
				goto out;
			X509_free(leaf);
		}
	}

	if (complete && cv.n && !list_isempty(&conf->https_listen))
		err = check_cover(ctx, &cv);

out:
	for (i = 0; i < cv.n; i++)
		X509_free(cv.leafv[i]);
	mem_deref(cv.leafv);
	return err;
}
