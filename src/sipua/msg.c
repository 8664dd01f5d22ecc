/**
 * @file msg.c  Instant messages out (RFC 3428 MESSAGE) and the checks on
 * what a client hands us for them; what a request that came in says
 * (sipua_inmsg_read(): sender, text as UTF-8, Date, Contact), read here
 * so that the layers above never read a SIP message
 *
 * Nothing a client gives reaches a header raw: the recipient must be a
 * plain sip:user@host URI (sipua_uri_valid), the content type one of two
 * fixed values, the body bounded.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "repr.h"
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
	if (ua->halted)
		return ESHUTDOWN;

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

/*
 * Requests that came in (sreq.c hands them to their handler)
 */

bool sipua_date(const struct pl *v, uint64_t *secs)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct pl day, mon, year, h, m, s;
	const char *p;
	struct tm tm;
	time_t t;

	if (re_regex(
		v->p, v->l,
		"[A-Za-z]+, [0-9]+ [A-Za-z]+ [0-9]+ [0-9]+:[0-9]+:[0-9]+ GMT",
		NULL, &day, &mon, &year, &h, &m, &s) ||
	    mon.l != 3 || year.l != 4 || day.l > 2 || h.l > 2 || m.l > 2 ||
	    s.l > 2)
		return false;
	for (p = months; *p; p += 3)
		if (!strncmp(p, mon.p, 3))
			break;
	if (!*p)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = (int)pl_u32(&day);
	tm.tm_mon = (int)(p - months) / 3;
	tm.tm_year = (int)pl_u32(&year) - 1900;
	tm.tm_hour = (int)pl_u32(&h);
	tm.tm_min = (int)pl_u32(&m);
	tm.tm_sec = (int)pl_u32(&s);
	if (tm.tm_year < 70 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	t = timegm(&tm);
	if (t < 0)
		return false;
	*secs = (uint64_t)t;
	return true;
}

/* The Date of a request (ms), 0 if none: a copy of a MESSAGE handed
 * over by the Front End's offline store carries when it was stored there
 * (the session recognises a copy of a message it has by it). */
static uint64_t date_ms(const struct sip_msg *msg)
{
	const struct sip_hdr *hdr = sip_msg_hdr(msg, SIP_HDR_DATE);
	uint64_t date;

	return hdr && sipua_date(&hdr->val, &date) ? date * 1000 : 0;
}

/* What the app is given (a data: URI that says charset=utf-8): another
 * charset is refused (ENOTSUP: 415) rather than shown as garbage. */
int sipua_text(char **textp, const struct sip_msg *msg)
{
	const uint8_t *p = mbuf_buf(msg->mb);
	size_t i, n = mbuf_get_left(msg->mb);
	struct pl cs;
	char *t, *o;

	if (msg_param_decode(&msg->ctyp.params, "charset", &cs) ||
	    !pl_strcasecmp(&cs, "utf-8") || !pl_strcasecmp(&cs, "us-ascii"))
		return repr_utf8_dup(textp, (const char *)p, n);
	if (pl_strcasecmp(&cs, "iso-8859-1") && pl_strcasecmp(&cs, "latin1"))
		return ENOTSUP;

	/* each byte is its code point: at most two bytes of UTF-8 */
	t = o = mem_alloc(2 * n + 1, NULL);
	if (!t)
		return ENOMEM;
	for (i = 0; i < n; i++) {
		if (p[i] < 0x80) {
			*o++ = (char)p[i];
		} else {
			*o++ = (char)(0xc0 | (p[i] >> 6));
			*o++ = (char)(0x80 | (p[i] & 0x3f));
		}
	}
	*o = '\0';
	*textp = t;
	return 0;
}

void sipua_inmsg_read(struct sipua_inmsg *in, const struct sip_msg *msg)
{
	memset(in, 0, sizeof(*in));
	in->met = msg->met;
	in->from = msg->from.auri;
	in->from_name = msg->from.dname;
	/* RFC 3261 8.1.1.8: an INVITE names where the dialog would go */
	in->contact = sip_msg_hdr(msg, SIP_HDR_CONTACT) != NULL;
	if (sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE))
		in->ctype = sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE)->val;
	in->text = !msg->ctyp.type.l || !pl_strcasecmp(&msg->ctyp.type, "text");
	in->raw.p = (const char *)mbuf_buf(msg->mb);
	in->raw.l = mbuf_get_left(msg->mb);
	/* only what a handler takes is converted: the text of a MESSAGE */
	if (!pl_strcmp(&msg->met, "MESSAGE") && in->text)
		in->body_err = sipua_text(&in->body, msg);
	in->date_ms = date_ms(msg);
}
