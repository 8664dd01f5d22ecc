/**
 * @file test_jwt.c  The JWT code of the push service: base64url, ES256
 * (raw r||s) and RS256 signatures verified with OpenSSL, key loading, and
 * the backoff
 */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <re.h>
#include "check.h"
#include "push_int.h"

/* base64url decode for the checks (no padding). */
static size_t b64url_dec(uint8_t *out, size_t size, const char *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t v = 0;
	size_t i, n = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		const char *p = strchr(tab, in[i]);

		if (!p || !in[i])
			return 0;
		v = v << 6 | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < size)
				out[n++] = (uint8_t)(v >> bits);
		}
	}
	return n;
}

static void test_b64url(void)
{
	static const struct {
		const char *in;
		const char *out;
	} v[] = {
	    {"", ""},
	    {"f", "Zg"},
	    {"fo", "Zm8"},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"},
	    {"fooba", "Zm9vYmE"},
	    {"\xfb\xff", "-_8"},
	    {"foobar", "Zm9vYmFy"},
	};
	char out[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		CHECK(push_b64url(out, sizeof(out), (const uint8_t *)v[i].in,
				  strlen(v[i].in)) == 0);
		CHECK_STR(out, v[i].out);
	}

	/* the output does not fit: refused, nothing written past size */
	CHECK(push_b64url(out, 4, (const uint8_t *)"foo", 3) == EINVAL);
	CHECK(push_b64url(out, 5, (const uint8_t *)"foo", 3) == 0);
}

/* Split a JWT, check header and claims, return the signature bytes. */
static size_t jwt_split(const char *jwt, const char *hdr, const char *claims,
			uint8_t *sig, size_t size, size_t *signed_len)
{
	const char *d1 = strchr(jwt, '.'),
		   *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	uint8_t buf[512];
	size_t n;

	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return 0;

	n = b64url_dec(buf, sizeof(buf), jwt, (size_t)(d1 - jwt));
	CHECK(n == strlen(hdr) && !memcmp(buf, hdr, n));
	n = b64url_dec(buf, sizeof(buf), d1 + 1, (size_t)(d2 - d1 - 1));
	CHECK(n == strlen(claims) && !memcmp(buf, claims, n));

	*signed_len = (size_t)(d2 - jwt);
	return b64url_dec(sig, size, d2 + 1, strlen(d2 + 1));
}

static bool verify(EVP_PKEY *key, const char *data, size_t len,
		   const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok =
	    md &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const uint8_t *)data, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

static void test_es256(void)
{
	const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"KEYID12345\"}";
	const char *claims = "{\"iss\":\"TEAM123456\",\"iat\":1700000000}";
	EVP_PKEY *key = EVP_EC_gen("P-256");
	uint8_t raw[128], *der = NULL;
	size_t n, signed_len = 0;
	ECDSA_SIG *es;
	char *jwt = NULL;
	int i, derlen;

	CHECK(key != NULL);
	if (!key)
		return;

	/* several signatures: r or s with leading zero bytes must still be
	 * 32 bytes each */
	for (i = 0; i < 20; i++) {
		CHECK(push_jwt_sign(&jwt, key, hdr, claims) == 0);
		if (!jwt)
			break;
		n = jwt_split(jwt, hdr, claims, raw, sizeof(raw), &signed_len);
		CHECK(n == 64);

		es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL),
			       BN_bin2bn(raw + 32, 32, NULL));
		derlen = i2d_ECDSA_SIG(es, &der);
		CHECK(derlen > 0);
		CHECK(verify(key, jwt, signed_len, der, (size_t)derlen));

		/* one bit changed in the claims: no longer valid */
		jwt[signed_len - 2] ^= 1;
		CHECK(!verify(key, jwt, signed_len, der, (size_t)derlen));

		OPENSSL_free(der);
		der = NULL;
		ECDSA_SIG_free(es);
		jwt = mem_deref(jwt);
	}

	EVP_PKEY_free(key);
}

static void test_rs256(void)
{
	const char *hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	const char *claims = "{\"iss\":\"a@b.c\",\"aud\":\"https://t/token\"}";
	EVP_PKEY *key = EVP_RSA_gen(2048);
	uint8_t sig[512];
	size_t n, signed_len = 0;
	char *jwt = NULL;

	CHECK(key != NULL);
	if (!key)
		return;

	CHECK(push_jwt_sign(&jwt, key, hdr, claims) == 0);
	if (jwt) {
		n = jwt_split(jwt, hdr, claims, sig, sizeof(sig), &signed_len);
		CHECK(n == 256);
		CHECK(verify(key, jwt, signed_len, sig, n));
	}

	mem_deref(jwt);
	EVP_PKEY_free(key);
}

static void test_key_load(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *back = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;

	CHECK(key && bio);
	if (!key || !bio)
		goto out;

	/* PKCS#8, as Apple's .p8 */
	CHECK(PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL,
					    NULL) == 1);
	len = BIO_get_mem_data(bio, &pem);
	CHECK(push_key_load(&back, pem, (size_t)len) == 0);
	CHECK(back && EVP_PKEY_eq(key, back) == 1);

	CHECK(push_key_load(&back, "not a key", 9) == EINVAL);
	CHECK(push_key_load(&back, pem, 40) == EINVAL);

out:
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
	BIO_free(bio);
}

static void test_backoff(void)
{
	uint64_t d;
	int i;

	for (i = 0; i < 50; i++) {
		d = push_backoff(100, 1000, 0);
		CHECK(d >= 50 && d <= 100);
		d = push_backoff(100, 1000, 3);
		CHECK(d >= 400 && d <= 800);
		/* capped, however many attempts */
		d = push_backoff(100, 1000, 40);
		CHECK(d >= 500 && d <= 1000);
	}
}

int main(void)
{
	test_b64url();
	test_es256();
	test_rs256();
	test_key_load();
	test_backoff();

	return check_done("test_jwt");
}
