/**
 * @file validate.c  Request validator (first SIP listener)
 *
 * libre 1.1.0 decodes what it can and hands everything on: a request
 * without To or CSeq reaches the handlers with empty fields. The rules
 * below are the ones RFC 3261 8.1.1 makes mandatory and that our handlers
 * rely on; a request breaking one is answered 400 with a reason phrase
 * naming the rule, so the sender can tell what was wrong.
 */
#include <string.h>
#include "sipua_int.h"

/* The header fields RFC 3261 8.1.1 requires in every request, which
 * must appear once (20.10, 20.16, 20.20, 20.22, 20.39). */
static const struct {
	enum sip_hdrid id;
	const char *missing;
	const char *duplicate;
} required[] = {
    {SIP_HDR_TO, "Missing To header", "More than one To header"},
    {SIP_HDR_FROM, "Missing From header", "More than one From header"},
    {SIP_HDR_CSEQ, "Missing CSeq header", "More than one CSeq header"},
    {SIP_HDR_CALL_ID, "Missing Call-ID header", "More than one Call-ID header"},
    {SIP_HDR_MAX_FORWARDS, "Missing Max-Forwards header",
     "More than one Max-Forwards header"},
};

static bool is_digits(const struct pl *pl, size_t max)
{
	size_t i;

	if (!pl->l || pl->l > max)
		return false;
	for (i = 0; i < pl->l; i++) {
		if (pl->p[i] < '0' || pl->p[i] > '9')
			return false;
	}
	return true;
}

/* An address as libre decoded it is a URI only if it has a scheme and
 * none of the characters that cannot appear in one (RFC 3986 2, RFC
 * 3261 25.1). libre falls back to reading a name-addr without its
 * closing '>' as a bare URI, "<sip:bob@example.test", which would then
 * travel on as the sender's address. */
static bool addr_valid(const struct sip_taddr *a)
{
	size_t i;

	if (!pl_isset(&a->auri) || !pl_isset(&a->uri.scheme))
		return false;
	for (i = 0; i < a->auri.l; i++) {
		unsigned char c = (unsigned char)a->auri.p[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"')
			return false;
	}
	return true;
}

uint16_t sipua_validate(const struct sip_msg *msg, const char **reason)
{
	const struct sip_hdr *cseq;
	const char *dummy;
	struct pl num;
	size_t i, nhdr;
	uint32_t nvia;

	if (!reason)
		reason = &dummy;
	*reason = NULL;

	if (!msg || !msg->mb || !msg->req) {
		*reason = "Not a request";
		return 400;
	}

	/* RFC 3261 21.5.13: larger than we accept */
	if (msg->mb->end > SIPUA_MAX_MSG_BYTES) {
		*reason = "Message Too Large";
		return 513;
	}

	nhdr = list_count(&msg->hdrl);
	if (nhdr > SIPUA_MAX_HEADERS) {
		*reason = "Too many header fields";
		return 400;
	}

	/* RFC 3261 8.1.1.7: a Via with a branch starting with the magic
	 * cookie identifies the transaction; without one we cannot match
	 * retransmissions or CANCELs */
	nvia = sip_msg_hdr_count(msg, SIP_HDR_VIA);
	if (!nvia) {
		*reason = "Missing Via header";
		return 400;
	}
	if (nvia > SIPUA_MAX_VIA) {
		*reason = "Too many Via headers";
		return 400;
	}
	if (!pl_isset(&msg->via.branch)) {
		*reason = "Missing Via branch";
		return 400;
	}

	for (i = 0; i < ARRAY_SIZE(required); i++) {
		uint32_t n = sip_msg_hdr_count(msg, required[i].id);

		if (!n) {
			*reason = required[i].missing;
			return 400;
		}
		if (n > 1) {
			*reason = required[i].duplicate;
			return 400;
		}
	}

	/* the decoded forms must make sense too: libre leaves fields empty
	 * when a value does not parse */
	if (!addr_valid(&msg->to) || !addr_valid(&msg->from)) {
		*reason = "Malformed To or From header";
		return 400;
	}
	if (!pl_isset(&msg->callid)) {
		*reason = "Empty Call-ID header";
		return 400;
	}
	/* RFC 3261 20.22: 0-255 in practice; 8.1.1.6 */
	if (!is_digits(&msg->maxfwd, 3) || pl_u32(&msg->maxfwd) > 255) {
		*reason = "Malformed Max-Forwards header";
		return 400;
	}
	/* RFC 3261 8.1.1.5: a sequence number below 2**31 and the method */
	cseq = sip_msg_hdr(msg, SIP_HDR_CSEQ);
	if (re_regex(cseq->val.p, cseq->val.l,
		     "[0-9]+[ \\t\\r\\n]+[^ \\t\\r\\n]+", &num, NULL, NULL) ||
	    num.p != cseq->val.p || !is_digits(&num, 10) ||
	    pl_u64(&num) >= (1ULL << 31) || !pl_isset(&msg->cseq.met)) {
		*reason = "Malformed CSeq header";
		return 400;
	}
	/* ... equal to the request method (CANCEL and ACK included) */
	if (pl_cmp(&msg->cseq.met, &msg->met)) {
		*reason = "CSeq method does not match the request method";
		return 400;
	}

	return 0;
}
