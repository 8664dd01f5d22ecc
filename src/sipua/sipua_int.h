/**
 * @file sipua_int.h  Private declarations of the SIP user agent
 */
#ifndef MOB_SIPUA_INT_H
#define MOB_SIPUA_INT_H

#include "sipua.h"

struct sipua {
	struct sip *sip;          /**< libre SIP stack                     */
	struct sip_lsnr *lsnr;    /**< the validator                       */
	struct tls *tls_client;   /**< verifies the Front End              */
	struct tls *tls_server;   /**< our listeners' certificate          */
	struct sa fe_addr;        /**< the Front End                       */
	char *route_str;          /**< "sip:<fe_addr>;transport=tls"       */
	struct uri route;         /**< decoded from route_str              */
	struct sa listen[2];      /**< internal, external (port 0: none)   */
	struct wheel *wheel;      /**< borrowed                            */
	struct list regl;         /**< struct sipua_reg                    */
	struct list treql;        /**< detached requests (un-REGISTERs)    */
	struct sip_keepalive *ka; /**< keep-alive of the shared flow      */
	uint64_t rejected;        /**< requests refused by the validator   */
};

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

/** CSeq of the last request sent. */
uint32_t sipua_treq_cseq(const struct sipua_treq *t);

/** HA1 used for the answer ("" before a challenge was answered). */
const char *sipua_treq_ha1(const struct sipua_treq *t);

/** True once a digest answer was sent. */
bool sipua_treq_answered(const struct sipua_treq *t);

/* Registrations: flow to the Front End lost (reg.c) */
void sipua_reg_flow_lost(struct sipua *ua);

/* Detach every registration from a ua being destroyed (reg.c) */
void sipua_reg_orphan_all(struct sipua *ua);

/* Start the shared keep-alive on the flow a 2xx came on (ua.c) */
void sipua_flow_keepalive(struct sipua *ua, const struct sip_msg *msg);

/* user and domain are made of RFC 3261 unreserved characters (check.c) */
bool sipua_user_valid(const char *user);
bool sipua_domain_valid(const char *domain);

/* Random lower-case hex string of n bytes (2n characters + NUL) */
void sipua_rand_hex(char *buf, size_t n);

#endif
