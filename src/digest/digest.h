/**
 * @file digest.h  HTTP Digest answers computed from HA1 (RFC 2617,
 * RFC 7616 MD5)
 *
 * The one digest answerer of the service: the SIP user agent (REGISTER,
 * PUBLISH, SUBSCRIBE, MESSAGE, the credential check) and the XCAP client
 * both answer their challenges here. The service keeps only
 * HA1 = MD5(user:realm:password), as the Front End does, so the response
 * is computed from it instead of from a password:
 *
 *   qop=auth:  MD5(HA1:nonce:nc:cnonce:auth:MD5(method:uri))  (3.2.2.1)
 *   no qop:    MD5(HA1:nonce:MD5(method:uri))                 (RFC 2069)
 *
 * Challenges are decoded by libre (httpauth_digest_challenge_decode());
 * nothing here keeps state.
 */
#ifndef MOB_DIGEST_H
#define MOB_DIGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

enum {
	DIGEST_HA1_LEN = 32, /* hex characters of an MD5 HA1 */
};

/**
 * Compute a digest response.
 *
 * @param resp   Receives 32 hex characters and a NUL
 * @param ha1    HA1 as 32 hex characters (either case)
 * @param nonce  Server nonce
 * @param nc     Nonce count as 8 hex digits, or NULL without qop
 * @param cnonce Client nonce, or NULL without qop
 * @param qop    "auth" or NULL (RFC 2069 compatible form)
 * @param method Request method
 * @param uri    digest-uri (the Request-URI, or HTTP request-target)
 *
 * @return 0 or EINVAL
 */
int digest_response(char resp[33], const char *ha1, const struct pl *nonce,
		    const char *nc, const char *cnonce, const char *qop,
		    const char *method, const char *uri);

/** HA1 = MD5(user:realm:password) as 32 lower-case hex characters. */
int digest_ha1(char ha1[33], const char *user, const struct pl *realm,
	       const char *password);

/** One digest answer to print (all borrowed). */
struct digest_answer {
	bool proxy; /**< Proxy-Authorization (answering a 407) */
	const struct httpauth_digest_chall *chall; /**< decoded challenge */
	const char *user;   /**< digest user name                     */
	const char *ha1;    /**< 32 hex characters                    */
	const char *method; /**< request method                       */
	const char *uri;    /**< Request-URI / request-target         */
	uint32_t nc;        /**< nonce count (qop=auth only)          */
};

/**
 * Print an Authorization (or Proxy-Authorization) header line, CRLF
 * included, answering one Digest challenge. Usable with "%H" (its
 * argument is a const struct digest_answer *).
 *
 * @return 0, EINVAL, or EPROTO (algorithm other than MD5, qop offered
 *         without "auth")
 */
int digest_print(struct re_printf *pf, const struct digest_answer *d);

#endif
