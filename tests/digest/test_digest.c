/**
 * @file test_digest.c  The digest answerer (RFC 2617, RFC 7616 MD5) used
 * by the SIP user agent and the XCAP client
 */
#include <string.h>
#include "check.h"
#include "digest.h"

static int digest_h(struct re_printf *pf, void *arg)
{
	return digest_print(pf, arg);
}

static int print(char **hdr, bool proxy, const struct httpauth_digest_chall *ch,
		 const char *user, const char *ha1, const char *uri)
{
	struct digest_answer d = {proxy, ch, user, ha1, "GET", uri, 1};

	return re_sdprintf(hdr, "%H", digest_h, &d);
}

static void test_digest(void)
{
	struct httpauth_digest_chall ch;
	struct pl nonce = PL("dcd98b7102dd2f0e8b11d0f600bfb0c093");
	struct pl realm = PL("testrealm@host.com");
	struct pl hval;
	char ha1[33], resp[33];
	char *hdr = NULL;

	/* RFC 2617 3.5: Mufasa / "Circle Of Life" */
	CHECK(digest_ha1(ha1, "Mufasa", &realm, "Circle Of Life") == 0);
	CHECK_STR(ha1, "939e7578ed9e3c518a452acee763bce9");
	CHECK(digest_response(resp, ha1, &nonce, "00000001", "0a4f113b", "auth",
			      "GET", "/dir/index.html") == 0);
	CHECK_STR(resp, "6629fae49393a05397450978507c4ef1");

	/* upper-case HA1 gives the same answer (hashed in lower case) */
	CHECK(digest_response(resp, "939E7578ED9E3C518A452ACEE763BCE9", &nonce,
			      "00000001", "0a4f113b", "auth", "GET",
			      "/dir/index.html") == 0);
	CHECK_STR(resp, "6629fae49393a05397450978507c4ef1");

	/* RFC 2069 form, no qop: MD5(HA1:nonce:HA2), computed by hand
	 * with HA2 = MD5("GET:/dir/index.html") */
	CHECK(digest_response(resp, ha1, &nonce, NULL, NULL, NULL, "GET",
			      "/dir/index.html") == 0);
	CHECK_STR(resp, "670fd8c2df070c60b045671b8b24ff02");

	CHECK(digest_response(resp, "short", &nonce, NULL, NULL, NULL, "GET",
			      "/") == EINVAL);
	CHECK(digest_response(resp, ha1, &nonce, NULL, NULL, "auth", "GET",
			      "/") == EINVAL);

	/* a whole header from a challenge, parsed by libre */
	pl_set_str(&hval, "Digest realm=\"testrealm@host.com\", "
			  "qop=\"auth,auth-int\", "
			  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
			  "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
	CHECK(httpauth_digest_challenge_decode(&ch, &hval) == 0);
	CHECK(print(&hdr, false, &ch, "Mufasa", ha1, "/dir/index.html") == 0);
	CHECK(hdr &&
	      !strncmp(hdr, "Authorization: Digest username=\"Mufasa\"", 39));
	CHECK(hdr && strstr(hdr, "qop=auth, nc=00000001, cnonce=\""));
	CHECK(hdr &&
	      strstr(hdr, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
	hdr = mem_deref(hdr);

	/* no qop offered: the RFC 2069 answer, no nc/cnonce */
	pl_set_str(&hval, "Digest realm=\"testrealm@host.com\", "
			  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"");
	CHECK(httpauth_digest_challenge_decode(&ch, &hval) == 0);
	CHECK(print(&hdr, true, &ch, "Mufasa", ha1, "/dir/index.html") == 0);
	CHECK(hdr && !strncmp(hdr, "Proxy-Authorization: Digest", 27));
	CHECK(hdr &&
	      strstr(hdr, "response=\"670fd8c2df070c60b045671b8b24ff02\""));
	CHECK(hdr && !strstr(hdr, "cnonce"));
	hdr = mem_deref(hdr);

	/* only MD5 and qop=auth are ours */
	pl_set_str(&hval, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256");
	CHECK(httpauth_digest_challenge_decode(&ch, &hval) == 0);
	CHECK(print(&hdr, false, &ch, "u", ha1, "/") != 0);
	hdr = mem_deref(hdr);
	pl_set_str(&hval, "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
	CHECK(httpauth_digest_challenge_decode(&ch, &hval) == 0);
	CHECK(print(&hdr, false, &ch, "u", ha1, "/") != 0);
	hdr = mem_deref(hdr);
}

int main(void)
{
	int err = libre_init();

	if (err)
		return 1;

	test_digest();

	libre_close();
	return check_done("test_digest");
}
