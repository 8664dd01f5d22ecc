/**
 * @file fuzz_sipmsg.c  libFuzzer driver: SIP message decoding and the
 * request validator
 *
 * Every SIP request from the network is decoded by libre and then checked
 * by sipua_validate() before any handler sees it. The input goes through
 * sip_msg_decode() in a buffer of exactly its size; a request the
 * validator accepts must really have what the handlers rely on, and a
 * WWW-Authenticate header in a response goes through the digest answer.
 * An accepted request's Subscription-State goes through the decoder the
 * NOTIFY handler uses (sub.c). The whole input also goes through the
 * CANCEL Reason reader of the trace hook (sreq.c), which decodes a
 * stream's bytes message after message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "sipua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int digest_h(struct re_printf *pf, void *arg)
{
	return digest_print(pf, arg);
}

/* What an accepted request promises to the handlers. */
static void check_accepted(const struct sip_msg *msg)
{
	if (!pl_isset(&msg->via.branch) || !pl_isset(&msg->callid) ||
	    !pl_isset(&msg->to.auri) || !pl_isset(&msg->from.auri) ||
	    pl_cmp(&msg->cseq.met, &msg->met) ||
	    sip_msg_hdr_count(msg, SIP_HDR_CSEQ) != 1 ||
	    list_count(&msg->hdrl) > SIPUA_MAX_HEADERS)
		abort();
}

/* What a decoded Subscription-State promises to sub.c. */
static void check_substate(const struct sip_msg *msg)
{
	const struct sip_hdr *hdr =
	    sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	struct sipua_substate ss;

	if (!hdr || sipua_substate_decode(&ss, &hdr->val))
		return;
	if (ss.state < PIDF_SUB_ACTIVE || ss.state > PIDF_SUB_TERMINATED ||
	    ss.reason.l > 32 || ss.expires < -1 || ss.retry_after < -1 ||
	    (ss.reason.l &&
	     (ss.reason.p < hdr->val.p ||
	      ss.reason.p + ss.reason.l > hdr->val.p + hdr->val.l)))
		abort();
}

static void answer(const struct sip_msg *msg)
{
	const struct sip_hdr *hdr = sip_msg_hdr(msg, SIP_HDR_WWW_AUTHENTICATE);
	struct httpauth_digest_chall ch;
	struct digest_answer d;
	char *out = NULL;

	if (!hdr || httpauth_digest_challenge_decode(&ch, &hdr->val))
		return;

	d.proxy = false;
	d.chall = &ch;
	d.user = "alice";
	d.ha1 = "7d6c4fa9352934fc4851f677a51118f9";
	d.method = "REGISTER";
	d.uri = "sip:example.test";
	d.nc = 1;
	if (!re_sdprintf(&out, "%H", digest_h, &d) &&
	    strncmp(out, "Authorization: Digest ", 22))
		abort();
	mem_deref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_msg *msg = NULL;
	const char *reason = NULL;
	struct mbuf *mb;
	uint16_t scode;

	if (sipua_cancel_cause(data, size) > 699)
		abort();

	mb = mbuf_alloc(size ? size : 1);
	if (!mb)
		return 0;
	(void)mbuf_write_mem(mb, data, size);
	mb->pos = 0;

	if (sip_msg_decode(&msg, mb))
		goto out;

	if (!msg->req) {
		answer(msg);
		goto out;
	}

	scode = sipua_validate(msg, &reason);
	if (scode == 0) {
		check_accepted(msg);
		check_substate(msg);
	} else if (!reason || !*reason || (scode != 400 && scode != 513))
		abort();

out:
	mem_deref(msg);
	mem_deref(mb);
	return 0;
}
