/**
 * @file fwd.h  Forwarding an HTTP request to another instance of the pool
 *
 * A request for a session owned by another instance (docs/pool.md
 * "Forwarding") is sent there as it came: method, path and query, body,
 * the client's header fields (Host, Authorization, Accept, Content-Type,
 * X-Ms-*...), less the hop-by-hop ones, plus X-Forwarded-For (the client
 * as this instance saw it: the instances are each other's trusted
 * proxies) and Mob-Forwarded-By (this instance: the owner never forwards
 * it again). The answer comes back whole (status, the header fields a
 * client needs, body) and fwd_relay() hands it to the client.
 *
 * HTTP/1.1 over libcurl's multi-socket interface on the libre loop; the
 * connections to each peer are kept alive and reused by curl. A request
 * waits as long as the longest long poll (a P-GET parked at the owner)
 * plus a margin. Dropping a request aborts it: curl closes its
 * connection, and the owner sees its client gone.
 */
#ifndef MOB_FWD_H
#define MOB_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "web.h"

/** Named limits. */
enum {
	FWD_RESP_MAX = 8 << 20, /* bytes of an answer's body          */
	FWD_HDRS_MAX = 8192,    /* bytes of the header lines relayed  */
	FWD_CTYPE_MAX = 256,    /* bytes of the answer's Content-Type */
};

struct fwd;
struct fwd_req;

/** An answer from the owner. All pointers are borrowed for the call. */
struct fwd_resp {
	uint16_t status;
	const char *ctype;   /**< Content-Type, or NULL                   */
	const char *hdrs;    /**< header lines to relay, "Name: v\r\n"... */
	const uint8_t *body; /**< body (NULL if none)                     */
	size_t len;
	bool not_owner; /**< Mob-Not-Owner: the owner does not hold it */
	bool secret;    /**< Cache-Control: no-store                   */
};

/**
 * A forwarded request is done: err 0 and resp, or ECONNREFUSED (the
 * request was not sent: no connection made, none within 2 s), ECONNRESET
 * (it broke after it was sent, before an answer),
 * ETIMEDOUT, EFBIG (the answer is over FWD_RESP_MAX), EPROTO, ENOMEM.
 */
typedef void(fwd_h)(int err, const struct fwd_resp *resp, void *arg);

/**
 * Allocate a forwarder.
 *
 * @param fp         Returns a new reference
 * @param inst       This instance's name, sent in Mob-Forwarded-By
 *                   (copied)
 * @param timeout_ms The longest a request may take
 */
int fwd_alloc(struct fwd **fp, const char *inst, uint32_t timeout_ms);

/**
 * Forward req to base (http://host:port, copied) and call h once.
 *
 * @param rp  Returns the request (a new reference): dropping it aborts
 *            the request, h is not called after
 * @param req The client's request (borrowed: read during this call only)
 */
int fwd_send(struct fwd_req **rp, struct fwd *f, const char *base,
	     const struct web_req *req, fwd_h *h, void *arg);

/** Answer req with what the owner answered. */
int fwd_relay(struct web_req *req, const struct fwd_resp *resp);

/** True if the request carries Mob-Forwarded-By (it came from a peer). */
bool fwd_is_forwarded(const struct web_req *req);

/** The header fields named in forwarding, for the API's own answers. */
#define FWD_BY_HDR        "Mob-Forwarded-By"
#define FWD_NOT_OWNER_HDR "Mob-Not-Owner"

#endif
