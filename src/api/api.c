/**
 * @file api.c  Answers of the mobility API
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "api.h"

/* Media types of the UCWA API, the default (JSON) first. */
static const char *const offers[] = {
    "application/json",
    "application/vnd.microsoft.com.ucwa+json",
    "application/xml",
    "application/vnd.microsoft.com.ucwa+xml",
};

/* The representation for a request (JSON by default): true with the
 * format and the Content-Type to answer with, false when the client
 * accepts neither (answer 406). */
static bool api_choose(const struct web_req *req, enum repr_fmt *fmt,
		       const char **ctype)
{
	size_t choice = 0;

	if (web_negotiate(req, offers, ARRAY_SIZE(offers), &choice))
		return false;
	*fmt = choice >= 2 ? REPR_XML : REPR_JSON;
	*ctype = offers[choice];
	return true;
}

static void not_acceptable(struct web_req *req)
{
	web_reply_text(req, 406, NULL,
		       "the API answers in JSON (application/json) or XML "
		       "(application/xml)");
}

void api_reply(struct web_req *req, uint16_t scode, const char *reason,
	       const struct repr *r, const char *hdrs)
{
	struct mbuf *mb;
	enum repr_fmt fmt;
	const char *ctype;

	if (!api_choose(req, &fmt, &ctype)) {
		not_acceptable(req);
		return;
	}

	mb = mbuf_alloc(1024);
	if (!mb || repr_encode(mb, r, fmt, NULL)) {
		web_reply_text(req, 500, NULL, "could not encode the resource");
		mem_deref(mb);
		return;
	}
	web_reply(req, scode, reason, ctype, mb->buf, mb->end,
		  hdrs ? "%s" : NULL, hdrs);
	mem_deref(mb);
}

void api_reply_events(struct web_req *req, const struct repr_events *e)
{
	struct mbuf *mb;
	enum repr_fmt fmt;
	const char *ctype;

	if (!api_choose(req, &fmt, &ctype)) {
		not_acceptable(req);
		return;
	}

	mb = mbuf_alloc(1024);
	if (!mb || repr_events_encode(mb, e, fmt)) {
		web_reply_text(req, 500, NULL, "could not encode the events");
		mem_deref(mb);
		return;
	}
	web_reply(req, 200, NULL, ctype, mb->buf, mb->end, NULL);
	mem_deref(mb);
}

void api_reply_error(struct web_req *req, uint16_t scode, const char *reason,
		     const char *code, const char *subcode, const char *message)
{
	api_reply_error_hdrs(req, scode, reason, code, subcode, message, NULL);
}

void api_reply_error_hdrs(struct web_req *req, uint16_t scode,
			  const char *reason, const char *code,
			  const char *subcode, const char *message,
			  const char *hdrs)
{
	struct repr *r = NULL;
	int err;

	err = repr_alloc(&r, NULL, NULL);
	if (!err)
		err = repr_prop_str(r, "code", code);
	if (!err && subcode)
		err = repr_prop_str(r, "subcode", subcode);
	if (!err)
		err = repr_prop_str(r, "message", message);
	if (err)
		web_reply_text(req, scode, reason, message);
	else
		api_reply(req, scode, reason, r, hdrs);
	mem_deref(r);
}

int api_body(struct web_req *req, struct repr_in **inp)
{
	const char *why = "the body could not be read";
	struct pl ctype = PL_INIT;
	int err;

	(void)web_req_header(req, "Content-Type", &ctype);
	err = repr_in_parse(inp, &ctype, web_req_body(req), &why);
	if (err == ENOTSUP)
		api_reply_error(req, 415, NULL, "BadRequest", NULL, why);
	else if (err == ENOMEM)
		web_reply_text(req, 503, NULL, "out of memory");
	else if (err)
		api_reply_error(req, 400, NULL, "BadRequest", NULL, why);
	return err;
}
