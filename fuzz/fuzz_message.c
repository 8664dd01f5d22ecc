/**
 * @file fuzz_message.c  libFuzzer driver: the text and Date of an
 * incoming MESSAGE
 *
 * The input is a SIP request as the Front End sends it. It is decoded by
 * libre and checked by sipua_validate(), as every request is; one the
 * user agent would hand to a registration's handler (a MESSAGE of type
 * text/... or without a type) then goes through what the user agent reads
 * from it for the handler (src/sipua/msg.c): sipua_text() (the charset:
 * UTF-8 kept and cleaned, ISO-8859-1 converted, others refused) and
 * sipua_date() on its Date header (how the Front End's stored copy of a
 * message is recognised).
 *
 * Invariants checked: the text the app is given is well-formed UTF-8
 * (RFC 3629: no overlong form, surrogate or code point above U+10FFFF)
 * and at most three times the body (U+FFFD for a byte); a Date accepted,
 * written back in the same format, reads back to the same second.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "sipua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed UTF-8 (RFC 3629 section 4), written from the RFC's table
 * rather than shared with the code under test. */
static bool utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		uint8_t c = p[i];

		if (c < 0x80) {
			++i;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += len;
	}
	return true;
}

static void text(const struct sip_msg *msg)
{
	size_t blen = mbuf_get_left(msg->mb);
	char *t = NULL;
	int err;

	err = sipua_text(&t, msg);
	if (err == ENOTSUP || err == ENOMEM)
		return;
	if (err || !t)
		abort();
	if (strlen(t) > 3 * blen) /* U+FFFD is 3 bytes for 1 ill-formed */
		abort();
	if (!utf8_ok((const uint8_t *)t, strlen(t)))
		abort();
	mem_deref(t);
}

static void date(const struct sip_msg *msg)
{
	const struct sip_hdr *hdr = sip_msg_hdr(msg, SIP_HDR_DATE);
	uint64_t secs, again;
	time_t t;
	struct tm tm;
	char buf[64];
	struct pl v;

	if (!hdr || !sipua_date(&hdr->val, &secs))
		return;
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
		return;
	v.p = buf;
	v.l = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!v.l || !sipua_date(&v, &again) || again != secs)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_msg *msg = NULL;
	const char *reason = NULL;
	struct mbuf *mb = mbuf_alloc(size ? size : 1);

	if (!mb)
		return 0;
	(void)mbuf_write_mem(mb, data, size);
	mb->pos = 0;

	/* what reaches a registration's handler: a valid MESSAGE with text */
	if (sip_msg_decode(&msg, mb) || !msg->req ||
	    sipua_validate(msg, &reason) || pl_strcmp(&msg->met, "MESSAGE") ||
	    (msg->ctyp.type.l && pl_strcasecmp(&msg->ctyp.type, "text")))
		goto out;

	text(msg);
	date(msg);
out:
	mem_deref(msg);
	mem_deref(mb);
	return 0;
}
