/**
 * @file jwt.c  JSON Web Tokens for the providers: ES256 (APNs provider
 * token) and RS256 (Google OAuth2 JWT grant), and the key files
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <re.h>
#include "push_int.h"

enum {
	ES256_HALF = 32, /* bytes of r and of s for P-256 */
	MAX_SIG = 1024,  /* bytes of a signature (RSA up to 8192 bits) */
};

int push_b64url(char *out, size_t size, const uint8_t *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n = 0;

	if (!out || (!in && len) || size < (len * 4 + 2) / 3 + 1)
		return EINVAL;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		out[n++] = tab[v >> 18 & 63];
		out[n++] = tab[v >> 12 & 63];
		out[n++] = tab[v >> 6 & 63];
		out[n++] = tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[n++] = tab[v >> 18 & 63];
		out[n++] = tab[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[n++] = tab[v >> 18 & 63];
		out[n++] = tab[v >> 12 & 63];
		out[n++] = tab[v >> 6 & 63];
	}
	out[n] = '\0';
	return 0;
}

/* JWS wants r||s, each left-padded to the curve size (RFC 7518 3.4);
 * OpenSSL gives an ASN.1 DER ECDSA-Sig-Value. */
static int der_to_raw(uint8_t *raw, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int err = 0;

	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!sig)
		return EPROTO;

	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, ES256_HALF) != ES256_HALF ||
	    BN_bn2binpad(s, raw + ES256_HALF, ES256_HALF) != ES256_HALF)
		err = EPROTO;

	ECDSA_SIG_free(sig);
	return err;
}

int push_jwt_sign(char **jwtp, EVP_PKEY *key, const char *header,
		  const char *claims)
{
	size_t hl, cl, in_len, sig_len = MAX_SIG;
	uint8_t sig[MAX_SIG], raw[2 * ES256_HALF];
	const uint8_t *out = sig;
	size_t out_len;
	EVP_MD_CTX *md = NULL;
	char *jwt = NULL;
	bool ec;
	int err = 0;

	if (!jwtp || !key || !header || !claims)
		return EINVAL;

	ec = EVP_PKEY_is_a(key, "EC");
	hl = (strlen(header) * 4 + 2) / 3 + 1;
	cl = (strlen(claims) * 4 + 2) / 3 + 1;

	/* header.claims.signature, each base64url */
	jwt = mem_alloc(hl + cl + (MAX_SIG * 4 + 2) / 3 + 3, NULL);
	if (!jwt)
		return ENOMEM;

	err = push_b64url(jwt, hl, (const uint8_t *)header, strlen(header));
	if (err)
		goto out;
	in_len = strlen(jwt);
	jwt[in_len++] = '.';
	err = push_b64url(jwt + in_len, cl, (const uint8_t *)claims,
			  strlen(claims));
	if (err)
		goto out;
	in_len += strlen(jwt + in_len);

	md = EVP_MD_CTX_new();
	if (!md) {
		err = ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)jwt, in_len) !=
		1) {
		err = EPROTO;
		goto out;
	}

	out_len = sig_len;
	if (ec) {
		err = der_to_raw(raw, sig, sig_len);
		if (err)
			goto out;
		out = raw;
		out_len = sizeof(raw);
	}

	jwt[in_len++] = '.';
	err =
	    push_b64url(jwt + in_len, (MAX_SIG * 4 + 2) / 3 + 1, out, out_len);

out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	if (err)
		mem_deref(jwt);
	else
		*jwtp = jwt;
	return err;
}

int push_key_load(EVP_PKEY **keyp, const char *pem, size_t len)
{
	EVP_PKEY *key;
	BIO *bio;

	if (!keyp || !pem || len > PUSH_MAX_KEYFILE)
		return EINVAL;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return ENOMEM;

	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!key)
		return EINVAL;

	*keyp = key;
	return 0;
}

int push_file_read(char **bufp, size_t *lenp, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > PUSH_MAX_KEYFILE) {
		err = EINVAL;
		goto out;
	}

	buf = mem_alloc((size_t)st.st_size + 1, NULL);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r ? errno : EIO;
			goto out;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';

out:
	close(fd);
	if (err) {
		mem_deref(buf);
	} else {
		*bufp = buf;
		if (lenp)
			*lenp = n;
	}
	return err;
}
