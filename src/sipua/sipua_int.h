/**
 * @file sipua_int.h  Private declarations of the SIP user agent
 */
#ifndef MOB_SIPUA_INT_H
#define MOB_SIPUA_INT_H

#include "sipua.h"

struct sipua {
	struct sip *sip;          /**< libre SIP stack                     */
	struct sip_lsnr *lsnr;    /**< the validator                       */
	struct sip_lsnr *rlsnr;   /**< requests for registrations (sreq.c) */
	struct tls *tls_client;   /**< verifies the Front End              */
	struct tls *tls_server;   /**< our listeners' certificate          */
	struct sa fe_addr;        /**< the Front End                       */
	char *route_str;          /**< "sip:<fe_addr>;transport=tls"       */
	struct uri route;         /**< decoded from route_str              */
	struct sa listen[2];      /**< internal, external (port 0: none)   */
	struct wheel *wheel;      /**< borrowed                            */
	struct list regl;         /**< struct sipua_reg                    */
	struct hash *regh;        /**< struct sipua_reg by contact user    */
	struct list treql;        /**< detached requests (un-REGISTERs)    */
	struct hash *authh;       /**< last proxy challenge per user (treq.c) */
	struct list authl;        /**< the same, oldest first              */
	struct list sreql;        /**< received requests not answered      */
	struct list publ;         /**< struct sipua_pub                    */
	struct list subl;         /**< struct sipua_sub                    */
	struct hash *subh;        /**< struct sipua_sub by dialog Call-ID  */
	struct sip_keepalive *ka; /**< keep-alive of the shared flow      */
	struct metric *m_ntf[3];  /**< NOTIFYs by state (sub.c)          */
	struct list turnfirst;    /**< struct sipua_turn waiting, go first */
	struct list turnwait;     /**< struct sipua_turn waiting, in order */
	struct list turngo;       /**< granted, to be called (turntmr)     */
	struct tmr turntmr;       /**< calls the granted outside handlers  */
	uint32_t inflight;        /**< bulk requests holding a turn        */
	uint32_t queued;          /**< entries of turnwait                 */
	struct tcp_conn *flow_tc; /**< the flow's connection (with ka)     */
	size_t txq_peak;          /**< its largest send queue seen         */
	size_t txq_logged;        /**< the peak last logged                */
	sip_trace_h *traceh;      /**< sipua_set_trace_handler()           */
	sipua_guard_h *guardh;    /**< sipua_set_guard()                   */
	void *guardarg;
	void *tracearg;
	uint16_t cancel_cause; /**< the message being received is a CANCEL
				    with this SIP Reason cause (0: none)  */
	struct list connl;     /**< connections to our listeners (trust.c) */
	uint32_t nconn;        /**< entries of connl                     */
	uint32_t max_conns;    /**< cap on nconn: more are refused       */
	uint32_t idle_ms;      /**< one without a request this long: shut */
	struct {
		sipua_drain_h *h; /**< all removed (or none left)        */
		void *arg;
		struct tmr tmr;   /**< the next phase, from the loop     */
		uint32_t phase;   /**< drain.c                           */
		uint32_t left;    /**< removals queued or in flight      */
		uint32_t removed; /**< answered 2xx                      */
		uint32_t failed;  /**< answered otherwise, or not sent   */
		bool stopped;     /**< given up: nothing more is sent    */
	} drain;
	bool halted;     /**< sipua_halt(): no SIP at all any more (drain.c) */
	bool halt_phase; /**< the halt ended the drain, not a drain      */
	bool moved;      /**< unknown contacts: 480, not 404 (sreq.c)      */
};

enum {
	SIPUA_VERIFY_DEPTH = 8, /* leaf + intermediates + root */
	SIPUA_MAX_CONNS_DEFAULT = 1024,
	SIPUA_IDLE_MS_DEFAULT = 300 * 1000,
};

/*
 * Who may send requests (trust.c)
 */

/* See which SSL of ua->tls_client (the flow) each request came on */
void sipua_trust_client_tls(struct sipua *ua);
/* Ask the Front End's client certificate on ua->tls_server (mutual TLS),
 * count its connections and see which SSL each request came on */
int sipua_trust_server_tls(struct sipua *ua, const struct sipua_param *p);
/* True when msg came from the Front End: on our flow, or on a connection
 * to our listeners with its verified and named client certificate */
bool sipua_trust_request(struct sipua *ua, const struct sip_msg *msg);
/* After the 403 to a request refused on a connection to our listeners:
 * close that connection, so that a peer without the Front End's
 * certificate cannot hold places under [sip] max_connections */
void sipua_trust_refused(struct sipua *ua, const struct sip_msg *msg);
/* Detach the connections of a ua being destroyed */
void sipua_trust_close(struct sipua *ua);

/*
 * A request that answers at most one digest challenge (treq.c)
 */

/** Final response (msg NULL on a transport error). */
typedef void(sipua_treq_h)(int err, const struct sip_msg *msg, void *arg);

struct sipua_treq;

/**
 * Send an out-of-dialog request to the Front End.
 *
 * @param tp       Returns a new reference (dropping it cancels); NULL:
 *                 detached, owned by ua until its final response
 * @param hdrs     Header lines (each ending in CRLF) other than Via,
 *                 CSeq, Authorization and Content-Length; copied
 * @param user     Digest user name
 * @param ha1      HA1, or NULL when password is given
 * @param password Password (wiped once used), or NULL
 * @param cseq     CSeq of the first request; the answer uses cseq + 1
 */
int sipua_treq_send(struct sipua_treq **tp, struct sipua *ua,
		    const char *method, const char *ruri, const char *hdrs,
		    const char *user, const char *ha1, const char *password,
		    uint32_t cseq, sipua_treq_h *h, void *arg);

/**
 * Like sipua_treq_send() with a body (copied; hdrs must carry its
 * Content-Type). body NULL or empty: none.
 */
int sipua_treq_sendb(struct sipua_treq **tp, struct sipua *ua,
		     const char *method, const char *ruri, const char *hdrs,
		     const struct pl *body, const char *user, const char *ha1,
		     const char *password, uint32_t cseq, sipua_treq_h *h,
		     void *arg);

/** The request takes ctx (a mem object) and drops it when destroyed. */
void sipua_treq_own(struct sipua_treq *t, void *ctx);

/** CSeq of the last request sent. */
uint32_t sipua_treq_cseq(const struct sipua_treq *t);

/** HA1 used for the answer ("" before a challenge was answered). */
const char *sipua_treq_ha1(const struct sipua_treq *t);

/** True once a digest answer was sent. */
bool sipua_treq_answered(const struct sipua_treq *t);

/*
 * Flow control of the one flow to the Front End (ua.c). What we
 * originate in bulk -- REGISTER, SUBSCRIBE and PUBLISH, first requests
 * and refreshes -- takes a turn before it is sent and gives it back
 * with its final answer (a digest answer keeps the turn of the request
 * it answers): at most SIPUA_INFLIGHT_MAX are outstanding, the others
 * wait in order, REGISTERs first: a registration that lapses while
 * refreshes of subscriptions go ahead loses the session's binding (and
 * a Kamailio with usrloc close_expired_tcp on closes the whole flow with it).
 * Without it thousands of refreshes a second went into the TLS connection
 * faster than the Front End read them, libre's send queue passed its cap,
 * SSL_write failed and the flow was lost. An app's own requests (MESSAGE,
 * INVITE and what follows it) and the fire-and-forget removals at the end of a
 * session take no turn: one at a time per user action, they must not wait
 * behind a crowd of refreshes.
 */
enum {
	SIPUA_INFLIGHT_MAX = 64,
};

/* Called when a waiting turn is granted: send now (call take again) */
typedef void(sipua_turn_h)(void *arg);

struct sipua_turn {
	struct le le; /**< in ua->turnwait or ua->turngo */
	sipua_turn_h *h;
	void *arg;
	bool held; /**< counted in ua->inflight */
};

/* True when t holds a turn (now or already): send. Else t waits (first:
 * ahead of those that are not), and h runs (from a 0 ms timer, never
 * inside this call) once it is its turn. */
bool sipua_turn_take(struct sipua *ua, struct sipua_turn *t, bool first,
		     sipua_turn_h *h, void *arg);
/* The request of t got its final answer or was dropped, or t stops
 * waiting: the turn goes to the next. ua may be NULL (detached). */
void sipua_turn_done(struct sipua *ua, struct sipua_turn *t);

/* True when a SIP message may be sent now: not halted and the guard
 * (sipua_set_guard) agrees. Asked right before every send (ua.c) */
bool sipua_may_send(struct sipua *ua);

/* Registrations: flow to the Front End lost (reg.c) */
void sipua_reg_flow_lost(struct sipua *ua);

/* Detach every registration from a ua being destroyed (reg.c) */
void sipua_reg_orphan_all(struct sipua *ua);

/* The registration whose contact user is cuser, or NULL (reg.c) */
struct sipua_reg *sipua_reg_find(const struct sipua *ua,
				 const struct pl *cuser);

/* The methods the registration takes, for Allow (RFC 3261 20.5) (reg.c) */
const char *sipua_reg_allow(const struct sipua_reg *reg);
/* It takes INVITE (sipua_reg_take_invites) (reg.c) */
bool sipua_reg_takes_invites(const struct sipua_reg *reg);
/* Request handler of a registration, NULL if none (reg.c) */
sipua_req_h *sipua_reg_request_handler(const struct sipua_reg *reg,
				       void **argp);

/* Contact header value of a registration, "<sip:...;ob>" (reg.c) */
const char *sipua_reg_contact(const struct sipua_reg *reg);

/* Subscriptions (sub.c): an in-dialog NOTIFY goes to the subscription of
 * its dialog (true when answered); the flow lost makes them again; a ua
 * being destroyed detaches them */
bool sipua_sub_notify(struct sipua *ua, const struct sip_msg *msg);
void sipua_sub_flow_lost(struct sipua *ua);
void sipua_sub_orphan_all(struct sipua *ua);

/* Detach every publication from a ua being destroyed (pub.c) */
void sipua_pub_orphan_all(struct sipua *ua);

/* The sipua_done_h error for a final response (msg.c): answered tells
 * whether a 401/407 came after our digest answer */
int sipua_result(int err, const struct sip_msg *msg, bool answered);

/* Listener for requests toward registrations (sreq.c) */
bool sipua_sreq_listener(const struct sip_msg *msg, void *arg);
/* Sees every message before the listeners (libre's trace handler): notes
 * the Reason of a CANCEL, which libre's transaction layer answers and
 * reports without the message (sreq.c) */
void sipua_sreq_trace(bool tx, enum sip_transp tp, const struct sa *src,
		      const struct sa *dst, const uint8_t *pkt, size_t len,
		      void *arg);

/* Answer 503 to every unanswered request of a ua being destroyed and
 * detach them (sreq.c) */
void sipua_sreq_orphan_all(struct sipua *ua);

/* A removal of the drain ended (err 0: removed; ENOENT: nothing to
 * remove; ECANCELED: its owner went first) (drain.c) */
void sipua_drain_count(struct sipua *ua, int err);

/* Start the shared keep-alive on the flow a 2xx came on (ua.c) */
void sipua_flow_keepalive(struct sipua *ua, const struct sip_msg *msg);

/* user and domain are made of RFC 3261 unreserved characters (check.c) */
bool sipua_user_valid(const char *user);
bool sipua_domain_valid(const char *domain);

/* Random lower-case hex string of n bytes (2n characters + NUL) */
void sipua_rand_hex(char *buf, size_t n);

/* Local address of the listener at index 0 (internal) or 1 (external):
 * 0, EINVAL or ENOENT (none) (ua.c) */
int sipua_listen_addr(const struct sipua *ua, int idx, struct sa *addr);

/* Fill in what a received request says (in->body: mem_deref() it)
 * (msg.c) */
void sipua_inmsg_read(struct sipua_inmsg *in, const struct sip_msg *msg);

#endif
