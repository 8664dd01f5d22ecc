/**
 * @file autodiscover.h  Autodiscover service (MS-OCDISCWS, PROTOCOL.md)
 *
 * Answers on lyncdiscover.<domain> (external) and
 * lyncdiscoverinternal.<domain> (internal) at "/", and on the web FQDNs at
 * /Autodiscover/AutodiscoverService.svc/root[/oauth/user|/user|/domain],
 * in JSON or XML by content negotiation. Plain http gets a document whose
 * only link redirects to the https form.
 */
#ifndef MOB_AUTODISCOVER_H
#define MOB_AUTODISCOVER_H

#include "conf.h"
#include "web.h"

struct autodiscover;

/** Limits on the query (named, checked before any decoding). */
enum {
	AD_QUERY_MAX = 2048, /* bytes of the whole query string        */
	AD_VALUE_MAX = 512,  /* bytes of one decoded parameter value   */
	AD_DOMAIN_MAX = 253, /* bytes of a domain name (RFC 1035 2.3.4) */
	/* bytes of a link: a configured URL (redirect, link: up to 2,048,
	 * docs/configuration.md) and what a redirect adds to it
	 * (&originalDomain= and a domain) */
	AD_HREF_MAX = 2048 + 16 + AD_DOMAIN_MAX + 1,
};

/** What a query names (parsed by ad_query_parse()). */
struct ad_query {
	char domain[AD_DOMAIN_MAX + 1]; /* lower-case, "" if none */
	bool has_sipuri;
	bool has_original_domain;
};

/**
 * Parse an autodiscover query string: sipuri=<sip uri> and/or
 * originalDomain=<domain> (names case-insensitive, values percent-decoded).
 * sipuri takes precedence.
 *
 * @return 0, or EINVAL with *why set to a short reason for a 400
 */
int ad_query_parse(struct ad_query *q, const struct pl *query,
		   const char **why);

/**
 * Allocate the service.
 *
 * @param adp  Returns a new reference
 * @param conf Configuration (takes a reference)
 */
int autodiscover_alloc(struct autodiscover **adp, struct conf *conf);

/**
 * Handle a request if it is an autodiscover resource.
 *
 * @return true if answered (or an error was answered), false if the path
 *         is not an autodiscover one
 */
bool autodiscover_handle(struct autodiscover *ad, struct web_req *req);

/** Where a signed-in user is homed. */
enum ad_user_status {
	AD_USER_HERE,      /* this pool: the full user document     */
	AD_USER_ELSEWHERE, /* another pool: a single Redirect link  */
	AD_USER_UNKNOWN,   /* no home: 404 with an empty body       */
};

/**
 * Result of a token check: err 0 and where the user is homed (redirect:
 * the URL for AD_USER_ELSEWHERE, borrowed), else an error (the client
 * gets 401).
 */
typedef void(ad_auth_done_h)(int err, enum ad_user_status st,
			     const char *redirect, void *arg);

/**
 * Token check for the user resource, provided by the token service. It
 * answers at once (a token known in memory: doneh runs before the call
 * returns) or later (a token known only from the store, e.g. right after
 * a restart).
 *
 * @param chkp          Returns a new reference to a handle while the check
 *                      is under way (NULL once doneh ran): dropping it
 *                      cancels doneh
 * @param authorization Value of the Authorization header (borrowed)
 * @param doneh         Completion, called once
 * @param done_arg      Its argument
 * @param arg           Handler argument
 *
 * @return 0 if doneh ran or will run, else an error (401; doneh does not
 *         run)
 */
typedef int(ad_auth_h)(void **chkp, const struct pl *authorization,
		       ad_auth_done_h *doneh, void *done_arg, void *arg);

/** Install the token check; without one the user resource answers 401. */
void autodiscover_set_auth(struct autodiscover *ad, ad_auth_h *h, void *arg);

/** True if host is lyncdiscover[internal].<a served or redirected domain>. */
bool autodiscover_is_host(const struct autodiscover *ad, const struct pl *host);

#endif
