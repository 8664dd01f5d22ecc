/**
 * @file xcap.h  XCAP client (RFC 4825) toward the Front End: the user's
 *               contact list (resource-lists, RFC 4826) and presence
 *               rules (pres-rules, RFC 5025 on common-policy, RFC 4745)
 *
 * Contacts and groups live on the Front End, shared by all the user's
 * devices; the privacy relationship of a watcher comes from pres-rules.
 * Requests carry HTTP digest answered from the user's HA1 (the same HA1
 * as SIP: same subscriber table, same realm). Everything runs on the loop
 * thread. Dropping an operation's handle cancels it: its handler never
 * runs after.
 */
#ifndef MOB_XCAP_H
#define MOB_XCAP_H

#include <re.h>

/** Named limits on XCAP input. */
enum {
	XCAP_MAX_HEAD = 8192,      /* bytes of a response's status+headers */
	XCAP_MAX_BODY = 262144,    /* bytes of a response body / document  */
	XCAP_TIMEOUT_MS = 10000,   /* whole exchange, default              */
	XCAP_MAX_DEPTH = 16,       /* XML element nesting                  */
	XCAP_MAX_ELEMENTS = 20000, /* XML elements of one document         */
	XCAP_MAX_GROUPS = 64,      /* <list>s of a resource-lists document */
	XCAP_MAX_ENTRIES = 1000,   /* <entry>s over all groups             */
	XCAP_MAX_RULES = 1000,     /* <rule>s of a pres-rules document     */
	XCAP_MAX_URI = 400,        /* bytes of an entry or watcher URI     */
	XCAP_MAX_NAME = 256,       /* bytes of a group or display name     */
	XCAP_MAX_ETAG = 128,       /* bytes of an ETag                     */
};

/*
 * Client and raw requests
 */

struct xcap_client;
struct xcap_req;

/**
 * Completion of one XCAP request.
 *
 * @param err   0 on a 2xx answer; EACCES on 401 after our digest answer
 *              or 403; ENOENT on 404; ESTALE on 412 (If-Match failed);
 *              EPROTO on another status; or why no answer came
 *              (ETIMEDOUT, ECONNREFUSED, EMSGSIZE over a limit, EBADMSG
 *              for an unreadable answer)
 * @param scode Status code of the final answer (0 when none)
 * @param body  Response body (borrowed, valid during the call; empty when
 *              none)
 * @param etag  ETag of the answer without quotes, or NULL
 */
typedef void(xcap_resp_h)(int err, uint16_t scode, const struct pl *body,
			  const char *etag, void *arg);

/**
 * Allocate a client for one user.
 *
 * @param xcp    Returns a new reference
 * @param base   XCAP root, "http://HOST:PORT/PATH" (e.g.
 *               "http://127.0.0.1:8088/xcap-root"); HOST an IP address
 * @param user   User part of the user's SIP URI (also the digest user)
 * @param domain SIP domain (the XUI is sip:user@domain)
 * @param ha1    MD5(user:realm:password) as 32 hex characters
 *
 * Strings are copied. @return 0, EINVAL (bad base URL or arguments), ENOMEM
 */
int xcap_client_alloc(struct xcap_client **xcp, const char *base,
		      const char *user, const char *domain, const char *ha1);

/**
 * Address the documents of another user of the domain (the XUI
 * sip:xui_user@domain) while answering digest as the client's user. The
 * Front End gives a user only his own documents (403 otherwise); this is
 * how tests see that. @return 0, EINVAL, ENOMEM
 */
int xcap_client_set_xui(struct xcap_client *xc, const char *xui_user);

/** Set the deadline of every later exchange (ms, > 0). */
void xcap_client_set_timeout(struct xcap_client *xc, uint32_t ms);

/**
 * Send one request for the user's document of application auid
 * ("resource-lists", "pres-rules", "rls-services"), named "index". A 401
 * is answered once with digest (MD5, qop=auth) from the HA1.
 *
 * @param reqp     Receives the handle (drop it to cancel); may be NULL only
 *                 if the caller never cancels
 * @param xc       Client (the request takes a reference)
 * @param method   "GET", "PUT" or "DELETE"
 * @param auid     Application usage (borrowed, copied into the path)
 * @param ctype    Content-Type of body, or NULL
 * @param if_match ETag for If-Match, or NULL
 * @param body     Request body (copied), or NULL
 * @param h        Completion handler, called once unless cancelled
 *
 * @return 0 or EINVAL, ENOMEM, a socket error
 */
int xcap_request(struct xcap_req **reqp, struct xcap_client *xc,
		 const char *method, const char *auid, const char *ctype,
		 const char *if_match, const struct pl *body, xcap_resp_h *h,
		 void *arg);

/**
 * The same for one element of the document (RFC 4825 6.3): node is the
 * node selector after "~~/", e.g. rls-services/service[@uri="sip:..."]
 * (percent-encoded here). PUT with ctype "application/xcap-el+xml"
 * writes or replaces the element, DELETE removes it.
 */
int xcap_node_request(struct xcap_req **reqp, struct xcap_client *xc,
		      const char *method, const char *auid, const char *node,
		      const char *ctype, const char *if_match,
		      const struct pl *body, xcap_resp_h *h, void *arg);

/*
 * resource-lists: groups of contacts
 */

/** One contact of a group. */
struct xcap_entry {
	struct le le;
	char *uri;  /**< entry uri                         */
	char *name; /**< display-name, or NULL             */
};

/** One group: a top-level <list>. */
struct xcap_group {
	struct le le;
	char *name;          /**< list name attribute        */
	char *display;       /**< display-name, or NULL      */
	struct list entries; /**< struct xcap_entry          */
};

/** The user's contact list. */
struct xcap_rlist {
	struct list groups; /**< struct xcap_group, document order      */
	size_t nentries;    /**< entries over all groups                 */
	/** The document holds what this model does not keep (nested lists,
	 * entry-ref, external, foreign elements): it is read-only here so
	 * that a rewrite cannot lose another client's data. */
	bool foreign;
};

/** Allocate an empty list. @return 0 or ENOMEM */
int xcap_rlist_alloc(struct xcap_rlist **rlp);

/**
 * Parse a resource-lists document (src/xml: DTDs refused, limits above).
 *
 * @param why Set to what was wrong on error (static string)
 * @return 0, EMSGSIZE, EOVERFLOW (a limit), EPROTO (not resource-lists,
 *         DTD, bad XML), ENOMEM
 */
int xcap_rlist_parse(struct xcap_rlist **rlp, const struct pl *doc,
		     const char **why);

/** Write the list as a resource-lists document. @return 0 or ENOMEM */
int xcap_rlist_write(struct mbuf *mb, const struct xcap_rlist *rl);

/** The group of that name, or NULL (borrowed). */
struct xcap_group *xcap_rlist_group(const struct xcap_rlist *rl,
				    const char *name);

/**
 * Add uri to group (created when absent); an entry already in that group
 * gets the new display name.
 *
 * @param name Display name of the contact, or NULL
 * @return 0, EINVAL (empty or too long), EOVERFLOW (group/entry limit),
 *         ENOTSUP (foreign document), ENOMEM
 */
int xcap_rlist_add(struct xcap_rlist *rl, const char *group, const char *uri,
		   const char *name);

/**
 * Remove uri from group, or from every group when group is NULL. Groups
 * stay, even when empty.
 *
 * @return 0, ENOENT (not there), ENOTSUP (foreign document)
 */
int xcap_rlist_remove(struct xcap_rlist *rl, const char *group,
		      const char *uri);

/*
 * pres-rules: who may see the user's presence
 */

/** sub-handling values (RFC 5025 3.2.1), in increasing permission. */
enum xcap_action {
	XCAP_ACT_NONE = 0, /* no rule matches: the server asks (pending) */
	XCAP_ACT_BLOCK,
	XCAP_ACT_CONFIRM,
	XCAP_ACT_POLITE_BLOCK,
	XCAP_ACT_ALLOW,
};

/** UCWA privacy relationships (docs/xcap.md has the mapping). */
enum xcap_privacy {
	XCAP_PRIV_EXTERNAL = 0,
	XCAP_PRIV_COLLEAGUES,
	XCAP_PRIV_WORKGROUP,
	XCAP_PRIV_FRIENDS_AND_FAMILY,
	XCAP_PRIV_BLOCKED,
};

/** One rule: identities (one id) and a sub-handling. */
struct xcap_rule {
	struct le le;
	char *id;                /**< rule id                           */
	char *watcher;           /**< the <one id> of the rule          */
	enum xcap_action action; /**< sub-handling (NONE if absent)     */
};

/** The user's presence rules. */
struct xcap_rules {
	struct list rules; /**< struct xcap_rule                        */
	/** Rules this model cannot rewrite (several identities, other
	 * conditions, many/except): read-only, see xcap_rlist. */
	bool foreign;
};

/** Parse a pres-rules document; same errors as xcap_rlist_parse(). */
int xcap_rules_parse(struct xcap_rules **rsp, const struct pl *doc,
		     const char **why);

/** Write the rules as a pres-rules document. @return 0 or ENOMEM */
int xcap_rules_write(struct mbuf *mb, const struct xcap_rules *rs);

/**
 * The action for watcher: the most permissive sub-handling of the rules
 * whose identity matches (RFC 4745 10.2, RFC 5025 3.2.1), NONE if none.
 */
enum xcap_action xcap_rules_action(const struct xcap_rules *rs,
				   const char *watcher);

/** The privacy relationship of watcher (the documented mapping). */
enum xcap_privacy xcap_rules_privacy(const struct xcap_rules *rs,
				     const char *watcher);

/**
 * Give watcher exactly one rule: action, and for ALLOW the privacy level
 * (COLLEAGUES, WORKGROUP or FRIENDS_AND_FAMILY; recorded in the rule id).
 * NONE removes the watcher's rules.
 *
 * @return 0, EINVAL, EOVERFLOW (rule limit), ENOTSUP (foreign), ENOMEM
 */
int xcap_rules_set(struct xcap_rules *rs, const char *watcher,
		   enum xcap_action action, enum xcap_privacy level);

const char *xcap_action_name(enum xcap_action a);
const char *xcap_privacy_name(enum xcap_privacy p);

/*
 * Operations on the Front End: read, or read-modify-write with If-Match
 * of the ETag read (on 412 read again and retry once). An absent
 * document (404) reads as an empty one and is created without If-Match.
 *
 * Errors given to the handler: those of xcap_request() (EACCES for bad
 * credentials or another user's document, ETIMEDOUT...), of the parse
 * (EPROTO, EMSGSIZE, EOVERFLOW), of the change (ENOENT: the contact is
 * not there; ENOTSUP: foreign document; EOVERFLOW; EINVAL), ESTALE when
 * the retried PUT met 412 again, EMSGSIZE when the document to write
 * would exceed XCAP_MAX_BODY.
 */

struct xcap_op;

/** Result: the document as now stored (borrowed, valid during the
 * call; NULL on error). */
typedef void(xcap_rlist_h)(int err, const struct xcap_rlist *rl, void *arg);
typedef void(xcap_rules_h)(int err, const struct xcap_rules *rs, void *arg);

/** Read the contact list. */
int xcap_contacts_get(struct xcap_op **opp, struct xcap_client *xc,
		      xcap_rlist_h *h, void *arg);
/** Add uri (display name or NULL) to group, creating the group. */
int xcap_contacts_add(struct xcap_op **opp, struct xcap_client *xc,
		      const char *group, const char *uri, const char *name,
		      xcap_rlist_h *h, void *arg);
/** Remove uri from group, or from all groups when group is NULL. */
int xcap_contacts_remove(struct xcap_op **opp, struct xcap_client *xc,
			 const char *group, const char *uri, xcap_rlist_h *h,
			 void *arg);
/** Read the presence rules. */
int xcap_rules_get(struct xcap_op **opp, struct xcap_client *xc,
		   xcap_rules_h *h, void *arg);
/** Set watcher's rule (see xcap_rules_set()); the Front End re-authorises
 * the watcher's live subscriptions. */
int xcap_rules_put(struct xcap_op **opp, struct xcap_client *xc,
		   const char *watcher, enum xcap_action action,
		   enum xcap_privacy level, xcap_rules_h *h, void *arg);

/*
 * rls-services: one <service> per list subscribed through the Front End's
 * RLS, written and removed as a single element (src/xcap/rls.c)
 */

/** Completion: 0 or the error of the request (see xcap_resp_h). */
typedef void(xcap_done_h)(int err, void *arg);

struct xcap_rls;

/**
 * Write (or replace) the service whose list is uris, for the presence
 * package, creating the document when there is none.
 *
 * @param opp     Handle (drop it to cancel); cleared before h is called
 * @param service The service's URI (no quote, CR or LF)
 *
 * @return 0, EINVAL, ENOMEM, EMSGSIZE, or a socket error
 */
int xcap_rls_put(struct xcap_rls **opp, struct xcap_client *xc,
		 const char *service, const char *const *uris, size_t n,
		 xcap_done_h *h, void *arg);

/** Remove the service: sent and forgotten (the request keeps the client
 * alive until it is answered). */
int xcap_rls_delete(struct xcap_client *xc, const char *service);

#endif
