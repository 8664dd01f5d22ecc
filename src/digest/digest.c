/**
 * @file digest.c  HTTP Digest (RFC 2617, RFC 7616 MD5) answered from HA1
 *
 * libre's sip_auth and http_client ask for the password on every
 * challenge; the service keeps only HA1, so the response is computed
 * here for SIP and XCAP alike (digest.h).
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include "core.h"
#include "digest.h"

enum {
	MD5_LEN = 16,
	CNONCE_BYTES = 8,
};

static void hex(char out[33], const uint8_t md[MD5_LEN])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < MD5_LEN; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[32] = '\0';
}

/* n random bytes as 2n lower-case hex characters and a NUL */
static void rand_hex(char *buf, size_t n)
{
	uint8_t b[32];
	size_t i;

	if (n > sizeof(b))
		n = sizeof(b);
	rand_bytes(b, n);
	for (i = 0; i < n; i++) {
		buf[2 * i] = "0123456789abcdef"[b[i] >> 4];
		buf[2 * i + 1] = "0123456789abcdef"[b[i] & 0xf];
	}
	buf[2 * n] = '\0';
}

static bool is_ha1(const char *ha1)
{
	size_t i;

	if (!ha1 || strlen(ha1) != DIGEST_HA1_LEN)
		return false;
	for (i = 0; i < DIGEST_HA1_LEN; i++) {
		if (!isxdigit((unsigned char)ha1[i]))
			return false;
	}
	return true;
}

int digest_ha1(char ha1[33], const char *user, const struct pl *realm,
	       const char *password)
{
	uint8_t md[MD5_LEN];
	int err;

	if (!ha1 || !user || !realm || !password)
		return EINVAL;

	err = md5_printf(md, "%s:%r:%s", user, realm, password);
	if (err)
		return err;
	hex(ha1, md);

	return 0;
}

int digest_response(char resp[33], const char *ha1, const struct pl *nonce,
		    const char *nc, const char *cnonce, const char *qop,
		    const char *method, const char *uri)
{
	uint8_t md[MD5_LEN];
	char ha2[33], h1[33];
	size_t i;
	int err;

	if (!resp || !is_ha1(ha1) || !pl_isset(nonce) || !method || !uri)
		return EINVAL;
	if (qop && (!nc || !cnonce))
		return EINVAL;

	/* the hex digits hashed must be lower case (3.2.2.2) */
	for (i = 0; i < DIGEST_HA1_LEN; i++)
		h1[i] = (char)tolower((unsigned char)ha1[i]);
	h1[DIGEST_HA1_LEN] = '\0';

	/* RFC 2617 3.2.2.3: A2 = method:digest-uri for qop=auth */
	err = md5_printf(md, "%s:%s", method, uri);
	if (err)
		return err;
	hex(ha2, md);

	if (qop)
		err = md5_printf(md, "%s:%r:%s:%s:%s:%s", h1, nonce, nc, cnonce,
				 qop, ha2);
	else
		err = md5_printf(md, "%s:%r:%s", h1, nonce, ha2);
	if (err)
		return err;
	hex(resp, md);

	return 0;
}

/* true if the comma-separated list contains the token (RFC 2617 3.2.1
 * qop-options; tokens compare case-insensitively) */
static bool list_has(const struct pl *list, const char *token)
{
	struct pl rest = *list, item;
	bool more;

	do {
		more = text_next(&rest, ',', &item);
		text_trim(&item);
		if (!pl_strcasecmp(&item, token))
			return true;
	} while (more);

	return false;
}

int digest_print(struct re_printf *pf, const struct digest_answer *d)
{
	const struct httpauth_digest_chall *chall;
	char resp[33], cnonce[2 * CNONCE_BYTES + 1], ncs[9];
	bool qop;
	int err;

	if (!pf || !d || !d->chall || !d->user || !d->ha1 || !d->method ||
	    !d->uri)
		return EINVAL;
	chall = d->chall;

	/* RFC 7616 3.3: MD5 when absent; SHA-256 and -sess are not ours */
	if (pl_isset(&chall->algorithm) &&
	    pl_strcasecmp(&chall->algorithm, "MD5"))
		return EPROTO;

	/* RFC 2617 3.2.2: a server offering qop wants one of its values;
	 * auth-int alone (body integrity) is not supported */
	qop = pl_isset(&chall->qop);
	if (qop && !list_has(&chall->qop, "auth"))
		return EPROTO;

	rand_hex(cnonce, CNONCE_BYTES);
	(void)re_snprintf(ncs, sizeof(ncs), "%08x", d->nc);

	err = digest_response(resp, d->ha1, &chall->nonce, qop ? ncs : NULL,
			      qop ? cnonce : NULL, qop ? "auth" : NULL,
			      d->method, d->uri);
	if (err)
		return err;

	err = re_hprintf(pf,
			 "%s: Digest username=\"%s\", realm=\"%r\", "
			 "nonce=\"%r\", uri=\"%s\", response=\"%s\", "
			 "algorithm=MD5",
			 d->proxy ? "Proxy-Authorization" : "Authorization",
			 d->user, &chall->realm, &chall->nonce, d->uri, resp);
	if (qop)
		err |= re_hprintf(pf, ", qop=auth, nc=%s, cnonce=\"%s\"", ncs,
				  cnonce);
	if (pl_isset(&chall->opaque))
		err |= re_hprintf(pf, ", opaque=\"%r\"", &chall->opaque);
	err |= re_hprintf(pf, "\r\n");

	return err;
}
