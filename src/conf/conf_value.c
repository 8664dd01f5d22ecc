/**
 * @file conf_value.c  Syntax of configuration values: DNS names, ports,
 * addresses, URLs, link tokens, numbers
 *
 * Every function takes a length-delimited string (struct pl) and never
 * reads past it. Those that can fail for several reasons return the reason
 * as a short phrase for the problem line.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <re.h>
#include "conf.h"
#include "conf_int.h"

/* Characters RFC 3986 never allows in a URI, plus controls and space. */
static bool url_char_ok(char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;

	return !strchr("\"<>\\^`{|}", c);
}

/**
 * Check an absolute https URL: https://HOST[:PORT][/path][?query][#frag]
 * with HOST a DNS name, an IPv4 address or a bracketed IPv6 address.
 */
bool conf_url_valid(const struct pl *url, const char **why)
{
	static const char scheme[] = "https://";
	struct pl auth, host = PL_INIT;
	size_t i;

	if (url->l > CONF_MAX_URL) {
		*why = "is longer than " MOB_STR(CONF_MAX_URL) " bytes";
		return false;
	}
	if (url->l < sizeof(scheme) - 1 ||
	    strncasecmp(url->p, scheme, sizeof(scheme) - 1)) {
		*why = "must start with https://";
		return false;
	}
	for (i = 0; i < url->l; i++) {
		if (!url_char_ok(url->p[i])) {
			*why = "holds a space, a control character or one of "
			       "\" < > \\ ^ ` { | }";
			return false;
		}
	}

	auth.p = url->p + sizeof(scheme) - 1;
	auth.l = url->l - (sizeof(scheme) - 1);
	for (i = 0; i < auth.l; i++) {
		if (strchr("/?#", auth.p[i]))
			break;
	}
	auth.l = i;

	if (pl_strchr(&auth, '@')) {
		*why = "must not hold a user name or password";
		return false;
	}
	if (!auth.l) {
		*why = "has no host";
		return false;
	}

	if (auth.p[0] == '[') {
		const char *end = pl_strchr(&auth, ']');
		char buf[64];
		struct sa sa;

		if (!end || (size_t)(end - auth.p) >= sizeof(buf)) {
			*why = "has a bad IPv6 address";
			return false;
		}
		host.p = auth.p + 1;
		host.l = end - host.p;
		(void)pl_strcpy(&host, buf, sizeof(buf));
		if (sa_set_str(&sa, buf, 0) || sa_af(&sa) != AF_INET6) {
			*why = "has a bad IPv6 address";
			return false;
		}
		host.p = end + 1;
		host.l = auth.p + auth.l - host.p;
		if (host.l && host.p[0] != ':') {
			*why = "has a bad IPv6 address";
			return false;
		}
		auth = host; /* ":PORT" or empty */
		host.l = 0;
	} else {
		const char *colon = pl_strchr(&auth, ':');

		host.p = auth.p;
		host.l = colon ? (size_t)(colon - auth.p) : auth.l;
		auth.p += host.l;
		auth.l -= host.l;
	}

	if (host.l) {
		char buf[16];
		struct sa sa;
		const char *dwhy;

		(void)pl_strcpy(&host, buf, sizeof(buf));
		if (!(host.l < sizeof(buf) && !sa_set_str(&sa, buf, 0)) &&
		    !dns_name_valid(&host, &dwhy)) {
			*why = "has a host that is neither a DNS name nor an "
			       "IP address";
			return false;
		}
	}

	if (auth.l) {
		struct pl port = {auth.p + 1, auth.l - 1};
		uint16_t n;

		if (conf_port_decode(&n, &port)) {
			*why = "has a bad port";
			return false;
		}
	}

	return true;
}

/**
 * Check a custom link token: letters, digits, '/', '-' and '_', at most
 * 64 bytes, '/' only between other characters (e.g. "External/Help").
 */
bool conf_token_valid(const struct pl *token, const char **why)
{
	size_t i;

	if (!token->l || token->l > CONF_MAX_TOKEN) {
		*why = "must be 1 to " MOB_STR(CONF_MAX_TOKEN) " bytes long";
		return false;
	}
	for (i = 0; i < token->l; i++) {
		const char c = token->p[i];

		if (!isalnum((unsigned char)c) && !strchr("/-_", c)) {
			*why = "may hold only letters, digits, '/', '-' and "
			       "'_'";
			return false;
		}
		if (c == '/' &&
		    (i == 0 || i + 1 == token->l || token->p[i + 1] == '/')) {
			*why = "may have '/' only between other characters";
			return false;
		}
	}

	return true;
}

/**
 * Decode an unsigned decimal number (digits only, no sign, no blanks).
 *
 * @return 0, EINVAL if not a number, ERANGE if above 4294967295
 */
int conf_uint_decode(uint32_t *vp, const struct pl *pl)
{
	uint64_t v = 0;
	size_t i;

	if (!pl->l)
		return EINVAL;

	for (i = 0; i < pl->l; i++) {
		if (!isdigit((unsigned char)pl->p[i]))
			return EINVAL;
	}
	for (i = 0; i < pl->l; i++) {
		v = v * 10 + (uint64_t)(pl->p[i] - '0');
		if (v > UINT32_MAX)
			return ERANGE;
	}

	*vp = (uint32_t)v;
	return 0;
}

/** Decode a TCP port, 1..65535. */
int conf_port_decode(uint16_t *portp, const struct pl *pl)
{
	uint32_t v;
	int err;

	err = conf_uint_decode(&v, pl);
	if (err)
		return err;
	if (v < 1 || v > 65535)
		return ERANGE;

	*portp = (uint16_t)v;
	return 0;
}

/* Split "HOST:PORT" at the last colon (an IPv6 host has colons too). */
static int split_port(const struct pl *pl, struct pl *host, struct pl *port,
		      const char **why)
{
	size_t i;

	for (i = pl->l; i > 0; i--) {
		if (pl->p[i - 1] == ':')
			break;
	}
	if (!i) {
		*why = "has no :PORT";
		return EINVAL;
	}

	host->p = pl->p;
	host->l = i - 1;
	port->p = pl->p + i;
	port->l = pl->l - i;
	return 0;
}

/**
 * Decode IP:PORT, with an IPv6 address in brackets ([::1]:443). libre's
 * sa_decode() is not used: it accepts trailing garbage after the port and
 * wraps ports above 65535.
 */
int conf_addr_decode(struct sa *sa, const struct pl *pl, const char **why)
{
	struct pl host, port;
	char buf[64];
	uint16_t n;

	if (split_port(pl, &host, &port, why))
		return EINVAL;

	if (host.l >= 2 && host.p[0] == '[' && host.p[host.l - 1] == ']') {
		++host.p;
		host.l -= 2;
		if (pl_strchr(&host, ':') == NULL) {
			*why = "has brackets around an address that is not "
			       "IPv6";
			return EINVAL;
		}
	} else if (pl_strchr(&host, ':')) {
		*why = "has an IPv6 address without brackets (write "
		       "[::1]:443)";
		return EINVAL;
	}

	if (conf_port_decode(&n, &port)) {
		*why = "has a port that is not 1..65535";
		return EINVAL;
	}
	if (!host.l || host.l >= sizeof(buf)) {
		*why = "has no valid IP address";
		return EINVAL;
	}
	(void)pl_strcpy(&host, buf, sizeof(buf));
	if (sa_set_str(sa, buf, n)) {
		*why = "has no valid IP address (names are not allowed here)";
		return EINVAL;
	}

	return 0;
}

/** Decode "IP" or "IP/PREFIX" (IPv6 without brackets); the address bits
 * past the prefix must be zero. */
int conf_cidr_decode(struct sa *sa, unsigned *bits, const struct pl *pl,
		     const char **why)
{
	const char *slash = pl_strchr(pl, '/');
	struct pl ip = *pl, plen = pl_null;
	uint8_t b[16];
	unsigned max, i;
	uint32_t n;
	char buf[64];

	if (slash) {
		ip.l = (size_t)(slash - pl->p);
		plen.p = slash + 1;
		plen.l = pl->l - ip.l - 1;
	}
	if (!ip.l || ip.l >= sizeof(buf)) {
		*why = "has no valid IP address";
		return EINVAL;
	}
	(void)pl_strcpy(&ip, buf, sizeof(buf));
	if (sa_set_str(sa, buf, 0)) {
		*why = "has no valid IP address (names are not allowed here)";
		return EINVAL;
	}
	max = sa_af(sa) == AF_INET ? 32 : 128;
	n = max;
	if (slash && (conf_uint_decode(&n, &plen) || n > max)) {
		*why = "has a prefix length that is not 0..32 (IPv4) or "
		       "0..128 (IPv6)";
		return EINVAL;
	}
	if (sa_af(sa) == AF_INET) {
		uint32_t v = htonl(sa_in(sa));
		memcpy(b, &v, 4);
	} else {
		sa_in6(sa, b);
	}
	for (i = n; i < max; i++) {
		if (b[i / 8] & (0x80 >> (i % 8))) {
			*why = "has address bits set past the prefix length";
			return EINVAL;
		}
	}
	*bits = n;
	return 0;
}

/** Decode FQDN:PORT; host points into pl. */
int conf_hostport_decode(struct pl *host, uint16_t *portp, const struct pl *pl,
			 const char **why)
{
	struct pl port;

	if (split_port(pl, host, &port, why))
		return EINVAL;

	if (!dns_name_valid(host, why))
		return EINVAL;
	if (conf_port_decode(portp, &port)) {
		*why = "has a port that is not 1..65535";
		return EINVAL;
	}

	return 0;
}

/**
 * Edit distance (Levenshtein, case-insensitive) between a known name and
 * what the user wrote; used to suggest the closest known key. Names longer
 * than 64 bytes are never close to anything.
 */
unsigned conf_distance(const char *a, const struct pl *b)
{
	unsigned row[65];
	size_t la = strlen(a), i, j;

	if (la > 64 || b->l > 64)
		return UINT_MAX;

	for (j = 0; j <= b->l; j++)
		row[j] = (unsigned)j;

	for (i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (j = 1; j <= b->l; j++) {
			const unsigned up = row[j];
			unsigned best = diag;

			if (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b->p[j - 1]))
				++best;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}

	return row[b->l];
}
