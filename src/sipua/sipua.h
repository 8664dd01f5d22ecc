/**
 * @file sipua.h  SIP user agent toward the Front End
 *
 * One struct sipua per process: libre's SIP stack with a TLS client
 * transport that verifies the Front End (CA file and host name), the
 * service's own SIP/TLS listeners, a request validator in front of every
 * other listener, and one shared flow to the Front End kept alive with
 * CRLF keep-alives (RFC 5626 4.4.1).
 *
 * On top of it:
 *  - sipua_check_password(): a binding query (REGISTER without Contact,
 *    RFC 3261 10.2.3) that proves a password and yields its HA1;
 *  - struct sipua_reg: one registration per session (RFC 5626 instance
 *    and reg-id), refreshed from the core timer wheel;
 *  - requests the Front End routes to a session (its Contact user):
 *    MESSAGE and INVITE go to the registration's handler as a struct
 *    sipua_sreq answered when the caller is ready (after its commit; an
 *    INVITE rings, may be cancelled, and is never answered 2xx);
 *  - sipua_message(): MESSAGE out (RFC 3428);
 *  - struct sipua_pub: presence publication (RFC 3903);
 *  - struct sipua_sub: presence subscription of a session (RFC 6665,
 *    RFC 3856), of one URI or of a resource list through RLS (RFC 4662).
 *
 * Digest answers are computed from HA1 = MD5(user:realm:password) by
 * the digest component (digest.h); the password itself is never kept
 * (docs/sipua.md). Loop thread only.
 */
#ifndef MOB_SIPUA_H
#define MOB_SIPUA_H

#include <re.h>
#include "core.h"
#include "digest.h"
#include "pidf.h"

struct conf;

/** Named limits on SIP input (checked by sipua_validate()). */
enum {
	/* below libre's 64 KiB per TCP/TLS message, which drops the
	 * connection instead of answering */
	SIPUA_MAX_MSG_BYTES = 60000,
	SIPUA_MAX_HEADERS = 100,        /* header fields of one message       */
	SIPUA_MAX_VIA = 16,             /* Via header fields of one request   */
	SIPUA_MAX_USER = 128,           /* bytes of a user part               */
	SIPUA_MAX_DOMAIN = 253,         /* bytes of a SIP domain (DNS name)   */
	SIPUA_MAX_PASSWORD = 256,       /* bytes of a password to check       */
	SIPUA_HA1_LEN = DIGEST_HA1_LEN, /* hex characters of an MD5 HA1 */
	SIPUA_MAX_URI = 400,            /* bytes of a URI taken from a client */
	/* bytes of a MESSAGE body we send: headers and a digest answer
	 * must still fit under libre's 64 KiB per TCP/TLS message */
	SIPUA_MAX_IM_BYTES = 32768,
	/* bytes of a PUBLISH body (a PIDF document) */
	SIPUA_MAX_PUB_BYTES = 32768,
};

/** What sipua_alloc() needs (all strings borrowed during the call). */
struct sipua_param {
	struct sa fe_addr;          /**< Front End SIP/TLS address        */
	const char *fe_server_name; /**< name checked in its certificate  */
	const char *fe_ca_file;     /**< CA bundle (PEM)                  */
	struct sa sip_internal;     /**< own listener, port 0 = none      */
	struct sa sip_external;     /**< own listener, port 0 = none      */
	const char *cert_chain;     /**< listeners' chain (PEM) or NULL   */
	const char *cert_key;       /**< listeners' key (PEM) or NULL     */
	struct wheel *wheel;        /**< registration deadlines (borrowed,
					 must outlive the sipua)          */
	/* Requests are taken only from the Front End (docs/sipua.md,
	 * "Who may send requests"): on our flow to it, or on a connection
	 * to our listeners whose client certificate chains to
	 * client_ca_file and carries one of client_names. */
	const char *client_ca_file;      /**< CA (PEM); NULL: fe_ca_file      */
	const struct list *client_names; /**< struct conf_str; NULL or
					      empty: fe_server_name      */
	uint32_t max_conns; /**< accepted connections at once (0: 1024)  */
	uint32_t idle_ms;   /**< closed after no request this long
				 (0: 300 s)                              */
};

struct sipua;
struct sipua_treq;

/** Fill p from a loaded configuration (pointers borrowed from conf). */
void sipua_param_from_conf(struct sipua_param *p, const struct conf *conf,
			   struct wheel *wheel);

/**
 * Create the user agent: SIP stack, request validator, TLS client
 * transport toward the Front End and the configured listeners.
 *
 * @param uap Returns a new reference
 * @param p   Parameters
 *
 * @return 0, EINVAL (missing parameter, unreadable CA or certificate),
 *         ENOMEM, or a socket error
 */
int sipua_alloc(struct sipua **uap, const struct sipua_param *p);

/**
 * See every SIP message sent and received (debugging). libre has one
 * trace handler per stack and the user agent uses it itself (a CANCEL's
 * Reason): set yours here.
 */
void sipua_set_trace_handler(struct sipua *ua, sip_trace_h *h, void *arg);

/**
 * Asked before any SIP message is sent (docs/sipua.md "The send
 * guard"): false, nothing is sent. Called from inside the user agent's
 * send paths: it must not drop or halt the ua itself (defer that).
 */
typedef bool(sipua_guard_h)(void *arg);

/**
 * Set (h NULL: clear) the one send guard: every request (REGISTER,
 * SUBSCRIBE, PUBLISH, MESSAGE, removals, digest answers) and every
 * response (answers to the Front End's requests) is sent only if h
 * returns true; else the request fails with EPERM before anything is
 * written and a request received is left unanswered.
 */
void sipua_set_guard(struct sipua *ua, sipua_guard_h *h, void *arg);

/**
 * A request for a contact not registered here: on, 480 Temporarily
 * Unavailable (a pool: the session may have moved to another instance;
 * the Front End keeps a MESSAGE for the next owner's REGISTER); off (the
 * default), 404 Not Found.
 */
void sipua_set_moved_answer(struct sipua *ua, bool on);

/**
 * Number of detached requests still waiting for their answer (the
 * un-REGISTERs of dropped registrations): a service shutting down can
 * run the loop until this is 0, within a bound of its own.
 */
size_t sipua_pending(const struct sipua *ua);

/*
 * Drain at shutdown (drain.c)
 */

/** Every removal of the drain got its answer (or there was none). */
typedef void(sipua_drain_h)(void *arg);

/**
 * Stop: remove every subscription and publication (un-SUBSCRIBE,
 * un-PUBLISH), then every registration (un-REGISTER), paced on the flow
 * to the Front End (at most SIPUA_INFLIGHT_MAX outstanding, the next
 * sent as an answer comes), and no refresh any more. From now on
 * sipua_reg_alloc(), sipua_pub_alloc() and sipua_sub_alloc() fail with
 * ESHUTDOWN. The owners drop their objects later as before; what was
 * removed here is not removed again.
 *
 * @param h   Called once, from the loop, when all removals are answered
 * @return 0, or EALREADY when already draining
 */
int sipua_drain(struct sipua *ua, sipua_drain_h *h, void *arg);

/**
 * Give the drain up (its deadline passed, or a second signal): nothing
 * more is sent, not even the removals that dropping a registration,
 * publication or subscription sends otherwise.
 */
void sipua_drain_stop(struct sipua *ua);

/**
 * Stop all SIP at once, sending nothing (the pool lease lapsed:
 * docs/pool.md): no refresh, no removal (no un-REGISTER: it would remove
 * the binding a new owner made with the same +sip.instance and reg-id),
 * incoming requests left unanswered, and sipua_reg_alloc(),
 * sipua_pub_alloc(), sipua_sub_alloc() fail with ESHUTDOWN, until
 * sipua_resume().
 *
 * @return Registrations stopped (0 when already halted)
 */
uint32_t sipua_halt(struct sipua *ua);

/*
 * Forget one object of a session, sending nothing, now or when it is
 * dropped (the session moves to another instance: docs/pool.md): no
 * refresh, no un-REGISTER, un-PUBLISH, un-SUBSCRIBE; a server request
 * is left unanswered (no 500 from its destructor). The owner still
 * drops its reference as usual. NULL is ignored.
 */
struct sipua_reg;
struct sipua_pub;
struct sipua_sub;
struct sipua_sreq;
void sipua_reg_forget(struct sipua_reg *reg);
void sipua_pub_forget(struct sipua_pub *pub);
void sipua_sub_forget(struct sipua_sub *sub);
void sipua_sreq_forget(struct sipua_sreq *sr);

/**
 * SIP again after sipua_halt() (the pool lease is alive again): new
 * registrations, publications and subscriptions are taken; what the
 * halt stopped stays stopped and sends nothing, also when dropped. Not
 * after a drain (it stays given up).
 */
void sipua_resume(struct sipua *ua);

/** True once sipua_halt() was called. */
bool sipua_halted(const struct sipua *ua);

/** True once sipua_drain() was called. */
bool sipua_draining(const struct sipua *ua);

/** Removals of the drain queued or in flight. */
uint32_t sipua_drain_left(const struct sipua *ua);

/** Number of requests the validator rejected. */
uint64_t sipua_rejected(const struct sipua *ua);

/*
 * Request validator
 */

/**
 * Check a received request against the rules every handler relies on.
 *
 * @param msg    Decoded request (borrowed)
 * @param reason Set to the reason phrase of the rejection
 *
 * @return 0 if acceptable, else the status code to answer (400, 513)
 */
uint16_t sipua_validate(const struct sip_msg *msg, const char **reason);

/*
 * Credential check
 */

struct sipua_check;

/**
 * Result of a credential check.
 *
 * @param err 0: good credentials; EACCES: refused by the Front End (401/403
 *            after our answer); ETIMEDOUT, ECONNREFUSED, EPROTO...: the
 *            question could not be asked
 * @param ha1 On success the HA1 for the realm of the challenge (32 hex
 *            characters, valid during the call), else NULL
 * @param scode Final status code (0 when none arrived)
 */
typedef void(sipua_check_h)(int err, const char *ha1, uint16_t scode,
			    void *arg);

/**
 * Check user@domain's password with a binding query: a REGISTER with no
 * Contact, answered with exactly one digest response. Nothing of the
 * user's registrations changes. The password is wiped from memory when
 * the challenge has been answered (or on cancel).
 *
 * @param chkp     Returns a new reference; dropping it cancels the check
 *                 (h is not called after)
 * @param ua       User agent (borrowed)
 * @param user     User part (at most SIPUA_MAX_USER bytes)
 * @param domain   SIP domain
 * @param password Password (at most SIPUA_MAX_PASSWORD bytes)
 * @param h        Result handler, called once
 * @param arg      Handler argument
 *
 * @return 0 or EINVAL/ENOMEM, or a transport error
 */
int sipua_check_password(struct sipua_check **chkp, struct sipua *ua,
			 const char *user, const char *domain,
			 const char *password, sipua_check_h *h, void *arg);

/*
 * Registration of one session
 */

struct sipua_reg;

/**
 * Registration status.
 *
 * @param err        0 when registered, else why not (EACCES: refused
 *                   credentials; EPROTO: other final status; a transport
 *                   error)
 * @param scode      Final status code of the last REGISTER (0 if none)
 * @param expires    Granted seconds when registered
 */
typedef void(sipua_reg_h)(int err, uint16_t scode, uint32_t expires, void *arg);

/** Parameters of a registration (strings copied). */
struct sipua_reg_param {
	const char *user;     /**< user part of the AOR              */
	const char *domain;   /**< SIP domain                        */
	const char *ha1;      /**< 32 hex characters                 */
	const char *instance; /**< UUID (8-4-4-4-12 hex), the device */
	uint32_t expires;     /**< requested seconds (0: 600)        */
	/** user part of our Contact URI, unique per session (e.g. the
	 * application id): a request the Front End routes to us carries
	 * it in its Request-URI. NULL: the user. */
	const char *contact_user;
	/** the first refresh after the first 2xx no later than this (ms;
	 * 0: at 50-90% of the granted time as always). A session brought
	 * back after a crash registers once more soon after: the Front End
	 * may have stored a message for it after the first REGISTER (its
	 * transaction toward the dead process ended later) and hands stored
	 * messages over only on a REGISTER. */
	uint32_t first_refresh_ms;
};

/**
 * Start registering one session: Contact with +sip.instance, reg-id=1 and
 * ;ob (RFC 5626 4.2), refreshed at 50-90% of the granted time, retried
 * with back-off after a transport error or a 5xx/408, and re-registered
 * (spread over time) after the flow to the Front End is lost.
 *
 * @param regp Returns a new reference. Dropping it sends one un-REGISTER
 *             for this contact only (Expires: 0 on the Contact) if any
 *             REGISTER was sent; the handler is not called after.
 * @param ua   User agent (borrowed; must outlive the registration)
 * @param p    Parameters
 * @param h    Status handler, called on every change (may be NULL)
 * @param arg  Handler argument
 *
 * @return 0 or EINVAL/ENOMEM
 */
int sipua_reg_alloc(struct sipua_reg **regp, struct sipua *ua,
		    const struct sipua_reg_param *p, sipua_reg_h *h, void *arg);

/**
 * REGISTER again soon (a zero timer), unless the first REGISTER is not
 * sent yet or one is on its way; the refresh timer then starts from its
 * answer. The Front End's offline store (msilo) hands stored messages
 * over on a REGISTER: a session that refused messages asks for them
 * this way once it has room again.
 *
 * @param reg Registration (borrowed; NULL: nothing)
 */
void sipua_reg_refresh(struct sipua_reg *reg);

/** Number of REGISTER requests sent by this registration (for tests). */
uint32_t sipua_reg_sent(const struct sipua_reg *reg);

/** Who sends a request (strings borrowed during the call). */
struct sipua_id {
	const char *user;   /**< user part of the AOR (and digest user) */
	const char *domain; /**< SIP domain                             */
	const char *ha1;    /**< 32 hex characters                      */
};

/**
 * Result of a request.
 *
 * @param err   0: accepted (2xx); EACCES: credentials refused (401/403/
 *              407 after our answer); ENOENT: no such user (404, 484,
 *              604); EPROTO: any other final status; a transport error
 *              (ETIMEDOUT, ECONNREFUSED, EPROTO...) with scode 0
 * @param scode Final status code (0 when none arrived)
 * @param arg   Handler argument
 */
typedef void(sipua_done_h)(int err, uint16_t scode, void *arg);

/**
 * True if uri is a plain "sip:user@host[:port]" URI safe to put in a
 * Request-URI and a To header: user made of RFC 3261 unreserved and
 * "&=+$," characters or %HH escapes, host a DNS name or IPv4 address,
 * no parameters, headers, spaces or control characters, at most
 * SIPUA_MAX_URI bytes.
 */
bool sipua_uri_valid(const char *uri);

/**
 * Send an instant message (RFC 3428 MESSAGE) out of dialog.
 *
 * @param tp     Returns a new reference; dropping it cancels (h is not
 *               called after)
 * @param ua     User agent (borrowed)
 * @param from   The sender: From is its AOR, a 407 is answered with
 *               its HA1
 * @param to_uri Recipient, checked by sipua_uri_valid()
 * @param ctype  "text/plain" or "text/html" (sent with charset=UTF-8)
 * @param body   Text, 1 to SIPUA_MAX_IM_BYTES bytes (copied)
 * @param h      Result handler, called once
 * @param arg    Handler argument
 *
 * @return 0, EINVAL (bad argument), EMSGSIZE (body too large), ENOMEM,
 *         or a transport error
 */
int sipua_message(struct sipua_treq **tp, struct sipua *ua,
		  const struct sipua_id *from, const char *to_uri,
		  const char *ctype, const struct pl *body, sipua_done_h *h,
		  void *arg);

/*
 * Presence publication (RFC 3903)
 */

struct sipua_pub;

/**
 * Create the presence publication of one user (Event: presence). Nothing
 * is sent before the first sipua_pub_set(). Then: the first PUBLISH
 * carries the document and yields an entity tag; a change is sent with
 * SIP-If-Match and the new document; refreshes (SIP-If-Match, no body)
 * come from the wheel at 50-90% of the granted time; a 412 starts over
 * with the whole document; failures are retried after 1 s doubling to
 * 60 s (not after refused credentials).
 *
 * @param pp      Returns a new reference. Dropping it removes the
 *                publication (Expires: 0 with SIP-If-Match, owned by
 *                the ua until answered); h is not called after.
 * @param ua      User agent (borrowed; must outlive the publication)
 * @param id      The user (copied)
 * @param expires Requested seconds (0: 600; 10 to 86400)
 * @param h       Called after every final answer or failure (may be NULL)
 * @param arg     Handler argument
 *
 * @return 0 or EINVAL/ENOMEM
 */
int sipua_pub_alloc(struct sipua_pub **pp, struct sipua *ua,
		    const struct sipua_id *id, uint32_t expires,
		    sipua_done_h *h, void *arg);

/**
 * Publish a new document (sent from the wheel, never inside the call; a
 * PUBLISH in flight is answered first).
 *
 * @param p     Publication
 * @param ctype Content type, "type/subtype" of token characters (e.g.
 *              "application/pidf+xml")
 * @param body  Document, 1 to SIPUA_MAX_PUB_BYTES bytes (copied)
 *
 * @return 0, EINVAL, EMSGSIZE, ENOMEM, ENOTCONN (the ua is gone)
 */
int sipua_pub_set(struct sipua_pub *p, const char *ctype,
		  const struct pl *body);

/** True when the Front End holds the current document. */
bool sipua_pub_ispublished(const struct sipua_pub *p);

/*
 * Requests received for a registration
 */

/** A received request waiting for our final answer. */
struct sipua_sreq;

/**
 * What the user agent read from a request for a registration (MESSAGE or
 * INVITE), so that its handler need not read the SIP message: every
 * string is borrowed for the handler's call.
 */
struct sipua_inmsg {
	struct pl met;       /**< "MESSAGE" or "INVITE"                    */
	struct pl from;      /**< the sender's address-of-record URI       */
	struct pl from_name; /**< its display name (bytes), may be empty   */
	bool contact;        /**< it has a Contact header                  */
	struct pl ctype;     /**< Content-Type value as sent, or empty     */
	bool text;           /**< its type is text/... or none was given   */
	struct pl raw;       /**< the body as received                     */
	/** MESSAGE of type text: the body as UTF-8 (sipua_text()), a mem
	 * object the handler may keep with mem_ref(); NULL otherwise */
	char *body;
	int body_err;     /**< no body: ENOTSUP (its charset), ENOMEM; 0 */
	uint64_t date_ms; /**< its Date (ms since 1970), 0 if none or bad */
};

/**
 * A request for a registration (its Request-URI user is the
 * registration's contact user).
 *
 * @param sr  The request, borrowed: take a reference (mem_ref) to answer
 *            after returning. Dropping the last reference without an
 *            answer sends 500.
 * @param in  What it says (borrowed, valid during the call)
 * @param arg Handler argument
 */
typedef void(sipua_req_h)(struct sipua_sreq *sr, const struct sipua_inmsg *in,
			  void *arg);

/**
 * The text of a MESSAGE as UTF-8. RFC 3428 lets the sender choose: UTF-8
 * (or none said, or US-ASCII) is kept, its ill-formed sequences replaced
 * by U+FFFD; ISO-8859-1 is converted; another charset is refused.
 *
 * @param textp Set to the text (a mem object, NUL-terminated)
 * @param msg   The MESSAGE (borrowed)
 *
 * @return 0, ENOTSUP (another charset) or ENOMEM
 */
int sipua_text(char **textp, const struct sip_msg *msg);

/**
 * Seconds since the epoch of an RFC 1123 date as SIP has it (RFC 3261
 * 20.17): "Tue, 24 Nov 2026 01:26:00 GMT"; false if it is not one.
 */
bool sipua_date(const struct pl *v, uint64_t *secs);

/**
 * Take the MESSAGE requests (RFC 3428) of a registration (and INVITE:
 * sipua_reg_take_invites). With a handler the REGISTER allows MESSAGE, so the
 * Front End also hands over the messages it stored while the user was offline;
 * setting or clearing it on a registration already sent re-REGISTERs at once.
 *
 * @param reg Registration
 * @param h   Handler, or NULL to take none (then MESSAGE gets 405)
 * @param arg Handler argument
 */
void sipua_reg_set_request_handler(struct sipua_reg *reg, sipua_req_h *h,
				   void *arg);

/**
 * Let the request handler take INVITE too (incoming calls: a provisional
 * answer, a CANCEL, a final answer that is never 2xx); the REGISTER then
 * allows INVITE, ACK, CANCEL and BYE. Set it before the handler: it does
 * not REGISTER again by itself. Without it INVITE gets 405.
 */
void sipua_reg_take_invites(struct sipua_reg *reg, bool on);

/**
 * Send the final answer to a received request, once.
 *
 * @param sr     Request (borrowed)
 * @param scode  Final status code (200-699; 300-699 for an INVITE)
 * @param reason Reason phrase (NULL: a standard one); CR/LF refused
 *
 * @return 0, EINVAL, EALREADY (answered before), ENOTCONN (the user
 *         agent is gone), or a transport error
 */
int sipua_sreq_reply(struct sipua_sreq *sr, uint16_t scode, const char *reason);

/**
 * Send a provisional answer to a received INVITE (e.g. 180 Ringing); the
 * final answer still follows with sipua_sreq_reply().
 *
 * @param sr     Request (borrowed), an INVITE
 * @param scode  101-199
 * @param reason Reason phrase (NULL: a standard one); CR/LF refused
 *
 * @return 0, EINVAL (not an INVITE, bad code or reason), EALREADY
 *         (answered), ENOTCONN (the user agent is gone), or a transport
 *         error
 */
int sipua_sreq_progress(struct sipua_sreq *sr, uint16_t scode,
			const char *reason);

/**
 * The caller cancelled an INVITE before its final answer (RFC 3261 9):
 * the CANCEL was answered 200 and the INVITE 487 already.
 *
 * @param cause The SIP cause of the CANCEL's Reason (RFC 3326), 0 if it
 *              has none. A forking proxy such as Kamailio says why it
 *              cancels: 200 when another device of the user answered,
 *              6xx when one declined everywhere
 * @param arg   Handler argument
 */
typedef void(sipua_cancel_h)(uint16_t cause, void *arg);

/** Be told when the INVITE sr is cancelled (h NULL: not any more). */
void sipua_sreq_set_cancel_handler(struct sipua_sreq *sr, sipua_cancel_h *h,
				   void *arg);

/**
 * If the last SIP message in pkt is a CANCEL with a Reason of protocol
 * SIP (RFC 3326), its cause (100-699); else 0. pkt is what libre traces
 * on receipt: from a stream it may start with earlier messages of the
 * same read (libre traces from the start of its buffer). Used by the
 * user agent's trace hook; exported for tests and the fuzzer.
 */
uint16_t sipua_cancel_cause(const uint8_t *pkt, size_t len);

/*
 * Presence subscription (RFC 6665, RFC 3856; lists: RFC 4662)
 */

struct sipua_sub;

/**
 * One NOTIFY's news: for a single-resource subscription n == 1; for a list
 * subscription (RLS) one entry per member the NOTIFY carries.
 */
struct sipua_presence {
	const char *uri;          /**< the contact (sip:bob@example.test) */
	enum pidf_substate state; /**< active, pending, terminated        */
	const struct pidf_presence *p; /**< NULL when the NOTIFY carried no
					    state for it                      */
};

/**
 * A NOTIFY arrived (called before it is answered 200; everything
 * borrowed, valid during the call). The handler may drop the
 * subscription.
 */
typedef void(sipua_notify_h)(const struct sipua_presence *v, size_t n,
			     void *arg);

/**
 * The subscription ended for good (not called after dropping it).
 *
 * @param err   EACCES: refused (401/403/407 after our answer, 603, or
 *              terminated;reason=rejected); ENOENT: no such resource
 *              (404, 480, 484, 604, or terminated;reason=noresource);
 *              EPROTO: any other final status (489...), or
 *              terminated;reason=invariant
 * @param scode Final status code of the SUBSCRIBE, 0 when a NOTIFY
 *              ended it
 */
typedef void(sipua_sub_close_h)(int err, uint16_t scode, void *arg);

/**
 * Subscribe, as the session owning reg (its contact receives the NOTIFYs),
 * to one URI's presence (Event: presence, Accept: application/pidf+xml), or,
 * with list == true, to a resource list URI through RLS (Supported:
 * eventlist, Accept: multipart/related, application/rlmi+xml,
 * application/pidf+xml).
 *
 * The dialog is made from the first 2xx (or a NOTIFY before it);
 * refreshes are re-SUBSCRIBEs in the dialog from the wheel at 50-90% of
 * the granted time (or of the expires a NOTIFY gives). The Front End's
 * 407 is answered once with the HA1. A new subscription (new dialog) is
 * made after a back-off of 1 s doubling to 60 s (50-100% jitter) when
 * the Front End ends it with reason deactivated, timeout, giveup,
 * probation, an unknown reason or none (probation and giveup wait
 * Retry-After when given; RFC 6665 4.1.3), after a transport error, a
 * 408, 481 or 5xx, and, spread over time, after the flow to the Front
 * End is lost. Other endings call ch. A NOTIFY is answered 200 after nh
 * returns; one whose body is over the pidf limits, unreadable or of
 * another media type gets 413, 400 or 415 and nh is not called.
 *
 * @param sp      Returns a new reference; dropping it unsubscribes
 *                (Expires: 0 in the dialog, sent and forgotten: not
 *                counted by sipua_pending()); no handler is called after
 * @param ua      User agent (borrowed; must outlive the subscription)
 * @param reg     Registration whose Contact is used (borrowed during the
 *                call: its contact is copied)
 * @param id      Watcher (copied): From, digest user and HA1
 * @param uri     Presentity or list URI, checked by sipua_uri_valid()
 * @param list    true: a resource list through RLS
 * @param expires Requested seconds (0: 600; 10 to 86400)
 * @param nh      NOTIFY handler (required)
 * @param ch      Close handler (may be NULL)
 * @param arg     Handlers' argument
 *
 * @return 0, EINVAL, ENOMEM, or a transport error
 */
int sipua_sub_alloc(struct sipua_sub **sp, struct sipua *ua,
		    struct sipua_reg *reg, const struct sipua_id *id,
		    const char *uri, bool list, uint32_t expires,
		    sipua_notify_h *nh, sipua_sub_close_h *ch, void *arg);

/** Number of SUBSCRIBE requests sent by this subscription (for tests). */
uint32_t sipua_sub_sent(const struct sipua_sub *sub);

/** A decoded Subscription-State header value (RFC 6665 8.2.3, 4.1.3). */
struct sipua_substate {
	enum pidf_substate state; /**< active, pending or terminated     */
	struct pl reason;         /**< reason token (borrowed), or empty */
	int32_t expires;          /**< expires parameter, -1 if none     */
	int32_t retry_after;      /**< retry-after parameter, -1 if none */
};

/**
 * Decode a Subscription-State value: a state, then parameters; reason a
 * token of at most 32 bytes, expires and retry-after at most 10 digits
 * and 2^31-1; other parameters skipped.
 *
 * @param ss Receives the value (reason points into pl)
 * @param pl The header value (borrowed)
 *
 * @return 0, EINVAL (NULL) or EBADMSG (anything else)
 */
int sipua_substate_decode(struct sipua_substate *ss, const struct pl *pl);

#endif
