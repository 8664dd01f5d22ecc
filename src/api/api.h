/**
 * @file api.h  Answers of the mobility API: negotiation between JSON and
 * XML, resources and errors in the UCWA shapes (PROTOCOL.md)
 */
#ifndef MOB_API_H
#define MOB_API_H

#include "repr.h"
#include "web.h"

/** Answer with a resource (or 406 if nothing acceptable). hdrs: extra
 * header lines or NULL. */
void api_reply(struct web_req *req, uint16_t scode, const char *reason,
	       const struct repr *r, const char *hdrs);

/** Answer with an event batch. */
void api_reply_events(struct web_req *req, const struct repr_events *e);

/**
 * Answer with an error: {"code":..,"subcode":..,"message":..} or the same
 * properties in XML.
 *
 * @param subcode NULL for none
 */
void api_reply_error(struct web_req *req, uint16_t scode, const char *reason,
		     const char *code, const char *subcode,
		     const char *message);

/** api_reply_error() with more header lines (hdrs: each ending CRLF, or
 * NULL). */
void api_reply_error_hdrs(struct web_req *req, uint16_t scode,
			  const char *reason, const char *code,
			  const char *subcode, const char *message,
			  const char *hdrs);

/**
 * Read the request's body as its Content-Type says (repr_in_parse():
 * JSON or XML) and, when it cannot, answer for the caller: 415 for
 * another media type, 400 BadRequest saying what was wrong otherwise.
 *
 * @param inp Returns a new reference on success
 *
 * @return 0, or an error once the request is answered
 */
int api_body(struct web_req *req, struct repr_in **inp);

#endif
