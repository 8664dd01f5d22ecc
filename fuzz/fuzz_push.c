/**
 * @file fuzz_push.c  libFuzzer driver: answers of the push providers
 *
 * The input is one HTTP answer of APNs, FCM or the FCM token endpoint:
 *
 *   2 bytes   status code (big-endian, taken modulo 1000)
 *   1 byte    where the body is cut in two writes
 *   headers   lines up to an empty line ("\r\n\r\n"), each given to
 *             header_cb() as curl gives it (Retry-After)
 *   body      the rest, given to write_cb() (kept up to PUSH_MAX_RESP)
 *
 * The answer then goes through apns_verdict() (the reason member),
 * fcm_verdict() (the error JSON) and, as a token endpoint's answer,
 * fcm.c's fetch_done() (access_token and expires_in). fcm.c and http.c
 * are included to reach their static handlers, as the unit tests do;
 * fcm.c comes first: it includes only the libre headers that do not clash
 * with jansson's.
 *
 * Invariants checked: Retry-After is -1 or 0..3600; the body kept is at
 * most PUSH_MAX_RESP bytes and NUL-terminated; a reason is a string that
 * fits its buffer; 200 and only 200 is PV_SENT; a token is accepted only
 * from a 200, not empty and short enough for its header line, with a
 * refresh timer started.
 */
#include "../src/push/fcm.c"
#include "../src/push/http.c"
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_curl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ready_err;
static unsigned ready_calls;

static void ready_h(int err, void *arg)
{
	(void)arg;
	ready_err = err;
	++ready_calls;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* timers (the token refresh) need libre's thread state */
	if (libre_init())
		abort();
	log_set_level(LOG_ERROR + 1);
	return 0;
}

static void body(struct push_hreq *r, const char *p, size_t n, size_t cut)
{
	size_t parts[2], i;

	cut = cut < n ? cut : n;
	parts[0] = cut;
	parts[1] = n - cut;
	for (i = 0; i < 2; i++) {
		char *chunk = malloc(parts[i] ? parts[i] : 1);

		if (!chunk)
			return;
		memcpy(chunk, p, parts[i]);
		if (write_cb(chunk, 1, parts[i], r) != parts[i])
			abort();
		free(chunk);
		p += parts[i];
	}
}

static void reason_ok(const char *reason, size_t size)
{
	if (strnlen(reason, size) == size)
		abort();
}

static void verdicts(const struct push_hresp *resp)
{
	char reason[64];
	enum push_verdict pv;

	pv = apns_verdict(resp, reason, sizeof(reason));
	reason_ok(reason, sizeof(reason));
	if ((pv == PV_SENT) != (resp->status == 200) || pv > PV_REAUTH)
		abort();
	pv = fcm_verdict(resp, reason, sizeof(reason));
	reason_ok(reason, sizeof(reason));
	if ((pv == PV_SENT) != (resp->status == 200) || pv > PV_REAUTH)
		abort();
}

/* The answer as the token endpoint's: a token kept, or a failure told. */
static void token(const struct push_hresp *resp)
{
	struct fcm *f = mem_zalloc(sizeof(*f), destructor);

	if (!f)
		return;
	if (str_dup(&f->token_url, "https://oauth2.example.test/token"))
		goto out;
	f->rh = ready_h;
	ready_calls = 0;
	fetch_done(0, resp, f);
	if (ready_calls != 1)
		abort();
	if (!ready_err &&
	    (!f->access || !*f->access || strlen(f->access) > MAX_HDR - 64 ||
	     !tmr_isrunning(&f->tmr) || resp->status != 200))
		abort();
out:
	mem_deref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct push_hresp resp = {.retry_after = -1};
	struct push_hreq *r;
	const char *p = (const char *)data + 3, *end;
	size_t n, hl;

	if (size < 3)
		return 0;
	n = size - 3;
	r = mem_zalloc(sizeof(*r), NULL);
	if (!r)
		return 0;
	r->retry_after = -1;
	r->body = mbuf_alloc(512);
	if (!r->body)
		goto out;
	r->body->buf[0] = '\0';

	end = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
	hl = end ? (size_t)(end - p) + 4 : 0;
	fuzz_curl_headers(header_cb, r, p, hl);
	body(r, p + hl, n - hl, data[2]);

	resp.status = (uint16_t)(((data[0] << 8) | data[1]) % 1000);
	resp.body = (const char *)r->body->buf;
	resp.body_len = r->body->end;
	resp.retry_after = r->retry_after;
	if (resp.retry_after < -1 || resp.retry_after > PUSH_MAX_RETRY_AFTER ||
	    resp.body_len > PUSH_MAX_RESP || resp.body[resp.body_len])
		abort();

	verdicts(&resp);
	token(&resp);
out:
	mem_deref(r->body);
	mem_deref(r);
	return 0;
}
