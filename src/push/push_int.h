/**
 * @file push_int.h  Push service: private declarations shared by the
 * service (push.c), the HTTP/2 client on the loop (http.c), the JWT code
 * (jwt.c) and the providers (apns.c, fcm.c).
 */
#ifndef MOB_PUSH_INT_H
#define MOB_PUSH_INT_H

#include <openssl/evp.h>
#include "push.h"

/* Named limits (docs/push.md). */
enum {
	PUSH_MAX_TOKEN = 512,        /* bytes of a device or FCM token     */
	PUSH_MAX_TOPIC = 255,        /* bytes of a bundle id / project     */
	PUSH_MAX_COLLAPSE = 64,      /* bytes of apns-collapse-id          */
	PUSH_MAX_RESP = 16384,       /* bytes of a provider's answer kept  */
	PUSH_MAX_KEYFILE = 65536,    /* bytes of a .p8 or JSON key file    */
	PUSH_CALL_TTL_S = 30,        /* a call push is useless after this  */
	PUSH_MAX_RETRY_AFTER = 3600, /* seconds of Retry-After honoured    */
	PUSH_MAX_CONNS = 1,          /* connections per provider host      */
};

/*
 * JWT (jwt.c)
 */

/** base64url without padding (RFC 7515 section 2); out gets a NUL. */
int push_b64url(char *out, size_t size, const uint8_t *in, size_t len);

/**
 * Sign a JWT: base64url(header) "." base64url(claims) "." signature.
 * ES256 for an EC P-256 key (raw r||s, RFC 7518 section 3.4), RS256 for
 * an RSA key.
 *
 * @param jwtp   Returns a new string (mem)
 * @param key    Private key (borrowed)
 * @param header Header JSON
 * @param claims Claims JSON
 */
int push_jwt_sign(char **jwtp, EVP_PKEY *key, const char *header,
		  const char *claims);

/** Load a PEM private key (PKCS#8 .p8, or PKCS#1) from memory. */
int push_key_load(EVP_PKEY **keyp, const char *pem, size_t len);

/** Read a whole small file into a new NUL-terminated string (mem). */
int push_file_read(char **bufp, size_t *lenp, const char *path);

/*
 * HTTP/2 client on the libre loop (http.c)
 */

struct push_http;
struct push_hreq;

/** What came back; body is NUL-terminated (truncated at PUSH_MAX_RESP). */
struct push_hresp {
	uint16_t status;
	const char *body;
	size_t body_len;
	int32_t retry_after; /* seconds, -1 if absent */
};

/** err: 0 when an answer came, else a connection error (errno). */
typedef void(push_http_h)(int err, const struct push_hresp *resp, void *arg);

/**
 * @param hp       Returns a new reference
 * @param ca_file  Extra CA to trust (borrowed, copied), or NULL
 * @param timeout_ms  Limit of one request
 * @param streams  Concurrent streams to ask for on one connection
 */
int push_http_alloc(struct push_http **hp, const char *ca_file,
		    uint32_t timeout_ms, uint32_t streams);

/**
 * POST body to url with the given header lines ("name: value").
 *
 * @param rp  Returns the request; dropping it cancels (h is not called)
 * @param h   Called once, from the loop, never inside this call
 */
int push_http_post(struct push_hreq **rp, struct push_http *http,
		   const char *url, const char *const *hdrv, size_t hdrc,
		   const char *body, size_t len, push_http_h *h, void *arg);

/** Backoff before attempt n+1 (n from 0): base * 2^n capped, then a
 *  random part taken off (half at most) so that retries spread. */
uint64_t push_backoff(uint32_t base_ms, uint32_t cap_ms, unsigned n);

/*
 * Providers (apns.c, fcm.c)
 */

/** The text of an alert after the privacy mode (push.c). */
struct push_alert {
	const char *title; /* or NULL */
	const char *body;
};

/** What the service makes of an answer. */
enum push_verdict {
	PV_SENT,
	PV_DROP,
	PV_FAIL,
	PV_RETRY,
	PV_REAUTH, /* credentials expired: renew and retry once */
};

struct apns;
struct fcm;

int apns_alloc(struct apns **ap, const struct conf *conf);
/** The payload of one push (json, malloc'd: free()). */
int apns_payload(char **jsonp, const struct push_msg *m,
		 const struct push_alert *al);
int apns_post(struct push_hreq **rp, struct apns *a, struct push_http *http,
	      const struct push_target *t, enum push_kind kind,
	      const char *collapse, const char *payload, push_http_h *h,
	      void *arg);
/** reason gets the provider's reason ("" if none). */
enum push_verdict apns_verdict(const struct push_hresp *resp, char *reason,
			       size_t size);
void apns_renew(struct apns *a);

/** The FCM token is ready (err 0) or could not be fetched. */
typedef void(fcm_ready_h)(int err, void *arg);

int fcm_alloc(struct fcm **fp, const struct conf *conf, struct push_http *http,
	      fcm_ready_h *rh, void *arg);
/** True if an access token is at hand; else one is being fetched. */
bool fcm_ready(struct fcm *f);
int fcm_payload(char **jsonp, const struct push_target *t,
		const struct push_msg *m, const struct push_alert *al,
		uint32_t ttl_s, const char *collapse);
int fcm_post(struct push_hreq **rp, struct fcm *f, struct push_http *http,
	     const struct push_target *t, const char *payload, push_http_h *h,
	     void *arg);
enum push_verdict fcm_verdict(const struct push_hresp *resp, char *reason,
			      size_t size);
void fcm_renew(struct fcm *f);
/** The key file's project_id (borrowed). */
const char *fcm_project(const struct fcm *f);

#endif
