/**
 * @file tls.c  Server certificates with SNI
 *
 * libre creates each TLS connection from one context. We give every
 * context the same SNI callback, which moves a connection to the context
 * of the certificate covering the name the client asked for (RFC 6066 3);
 * without a match the first certificate stays.
 */
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <re.h>
#include "web_int.h"

struct web_tls {
	struct list certl; /* struct cert; first = default */
};

struct cert {
	struct le le;
	struct tls *tls;
	X509 *leaf; /* borrowed from the context */
};

static void cert_destructor(void *arg)
{
	struct cert *c = arg;

	list_unlink(&c->le);
	mem_deref(c->tls);
}

static void tls_destructor(void *arg)
{
	struct web_tls *t = arg;

	list_flush(&t->certl);
}

int web_tls_alloc(struct web_tls **tlsp)
{
	struct web_tls *t;

	if (!tlsp)
		return EINVAL;

	t = mem_zalloc(sizeof(*t), tls_destructor);
	if (!t)
		return ENOMEM;

	*tlsp = t;
	return 0;
}

static int sni_handler(SSL *ssl, int *al, void *arg)
{
	struct web_tls *t = arg;
	const char *name;
	struct le *le;

	(void)al;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return SSL_TLSEXT_ERR_OK;

	for (le = t->certl.head; le; le = le->next) {
		struct cert *c = le->data;

		/* X509_check_host applies the SAN rules, wildcards too */
		if (X509_check_host(c->leaf, name, 0, 0, NULL) == 1) {
			SSL_CTX *ctx = tls_openssl_context(c->tls);
			if (SSL_get_SSL_CTX(ssl) != ctx)
				SSL_set_SSL_CTX(ssl, ctx);
			break;
		}
	}

	return SSL_TLSEXT_ERR_OK;
}

int web_tls_add_cert(struct web_tls *t, const char *chain, const char *key)
{
	struct cert *c;
	SSL_CTX *ctx;
	int err;

	if (!t || !chain || !key)
		return EINVAL;

	c = mem_zalloc(sizeof(*c), cert_destructor);
	if (!c)
		return ENOMEM;

	err = tls_alloc(&c->tls, TLS_METHOD_SSLV23, NULL, NULL);
	if (err)
		goto out;

	ctx = tls_openssl_context(c->tls);
	if (SSL_CTX_use_certificate_chain_file(ctx, chain) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		err = EINVAL;
		goto out;
	}

	c->leaf = SSL_CTX_get0_certificate(ctx);

	/* TLS 1.2 and later only; idle connections give their buffers
	 * back (thousands of sleeping phones keep connections open). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_handler);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);

	list_append(&t->certl, &c->le, c);

out:
	if (err)
		mem_deref(c);
	return err;
}

struct tls *web_tls_default(const struct web_tls *t)
{
	struct cert *c = list_ledata(list_head(&t->certl));
	return c ? c->tls : NULL;
}
