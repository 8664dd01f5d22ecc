/**
 * @file msg.c  Instant messages out (RFC 3428 MESSAGE) and the checks on
 * what a client hands us for them
 *
 * Nothing a client gives reaches a header raw: the recipient must be a
 * plain sip:user@host URI (sipua_uri_valid), the content type one of two
 * fixed values, the body bounded.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include "sipua_int.h"

enum {
	MAX_PORT_DIGITS = 5,
};

/* RFC 3261 25.1: user = 1*( unreserved / escaped / user-unreserved );
 * of user-unreserved only "&=+$," (";", "?" and "/" would read as URI
 * parameters, headers or a path to some parsers) */
static size_t user_len(const char *s)
{
	size_t i = 0;

	for (;;) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c && strchr("-_.!~*'()&=+$,", c)))
			++i;
		else if (c == '%' && isxdigit((unsigned char)s[i + 1]) &&
			 isxdigit((unsigned char)s[i + 2]))
			i += 3;
		else
			return i;
	}
}

/* hostname or IPv4address (RFC 3261 25.1), labels of letters, digits
 * and hyphens */
static size_t host_len(const char *s)
{
	size_t i = 0;

	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	       (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.')
		++i;
	return i;
}

bool sipua_uri_valid(const char *uri)
{
	size_t n, u, h, i;
	const char *p;

	if (!uri)
		return false;
	n = strlen(uri);
	if (n > SIPUA_MAX_URI || n < 4 || strncasecmp(uri, "sip:", 4))
		return false;

	p = uri + 4;
	u = user_len(p);
	if (!u || u > SIPUA_MAX_USER || p[u] != '@')
		return false;

	p += u + 1;
	h = host_len(p);
	if (!h || h > SIPUA_MAX_DOMAIN || p[0] == '.' || p[0] == '-' ||
	    p[h - 1] == '-')
		return false;

	p += h;
	if (*p == ':') {
		unsigned port = 0;

		++p;
		for (i = 0; p[i] >= '0' && p[i] <= '9'; i++)
			port = port * 10 + (unsigned)(p[i] - '0');
		if (!i || i > MAX_PORT_DIGITS || !port || port > 65535)
			return false;
		p += i;
	}

	/* nothing after: no parameters, headers, spaces, CR or LF */
	return *p == '\0';
}

struct msg_ctx {
	sipua_done_h *h;
	void *arg;
};

/* the result every out-of-dialog request reports (sipua_done_h) */
int sipua_result(int err, const struct sip_msg *msg, bool answered)
{
	uint16_t scode = msg ? msg->scode : 0;

	if (err)
		return err;
	if (scode >= 200 && scode < 300)
		return 0;
	if (scode == 403 || ((scode == 401 || scode == 407) && answered))
		return EACCES;
	if (scode == 404 || scode == 484 || scode == 604)
		return ENOENT;

	return EPROTO;
}

static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct msg_ctx *m = arg;
	uint16_t scode = msg ? msg->scode : 0;

	/* the treq answers one 407; a second one is refused credentials */
	err = sipua_result(err, msg, true);
	if (err)
		log_info("sipua: MESSAGE: %u (%m)", scode, err);
	m->h(err, scode, m->arg);
}

int sipua_message(struct sipua_treq **tp, struct sipua *ua,
		  const struct sipua_id *from, const char *to_uri,
		  const char *ctype, const struct pl *body, sipua_done_h *h,
		  void *arg)
{
	struct sipua_treq *t = NULL;
	struct msg_ctx *m;
	char *hdrs = NULL;
	char tag[17], callid[33];
	int err;

	if (!tp || !ua || !from || !h || !sipua_user_valid(from->user) ||
	    !sipua_domain_valid(from->domain) || !from->ha1 ||
	    strlen(from->ha1) != SIPUA_HA1_LEN || !sipua_uri_valid(to_uri) ||
	    !ctype || !body || !pl_isset(body))
		return EINVAL;
	if (strcasecmp(ctype, "text/plain") && strcasecmp(ctype, "text/html"))
		return EINVAL;
	if (body->l > SIPUA_MAX_IM_BYTES)
		return EMSGSIZE;

	m = mem_zalloc(sizeof(*m), NULL);
	if (!m)
		return ENOMEM;
	m->h = h;
	m->arg = arg;

	sipua_rand_hex(tag, 8);
	sipua_rand_hex(callid, 16);
	err = re_sdprintf(&hdrs,
			  /* libre adds Max-Forwards: 70 */
			  "To: <%s>\r\n"
			  "From: <sip:%s@%s>;tag=%s\r\n"
			  "Call-ID: %s\r\n"
			  "Content-Type: %s;charset=UTF-8\r\n",
			  to_uri, from->user, from->domain, tag, callid,
			  strcasecmp(ctype, "text/html") ? "text/plain"
							 : "text/html");
	if (err)
		goto out;

	/* RFC 3428 4: the Request-URI is the recipient */
	err = sipua_treq_sendb(&t, ua, "MESSAGE", to_uri, hdrs, body,
			       from->user, from->ha1, NULL, 1, resp_handler, m);
	if (err)
		goto out;

	sipua_treq_own(t, m);
	m = NULL;

out:
	mem_deref(m);
	mem_deref(hdrs);
	if (!err)
		*tp = t;

	return err;
}
