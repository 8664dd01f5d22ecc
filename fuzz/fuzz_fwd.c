/**
 * @file fuzz_fwd.c  libFuzzer driver: answers of a peer instance to a
 * forwarded request (src/fwd)
 *
 * The input is one HTTP answer as curl hands it over: header lines up to
 * an empty line ("\r\n\r\n"), each given to header_cb() in a buffer of
 * its own size (the status line included), then the body, given to
 * write_cb(). fwd.c is included to reach its static handlers, as the
 * unit tests do.
 *
 * Invariants checked: every relayed line is "Name: value\r\n" with a name
 * of the relayed list (or X-Ms-*) and no CR, LF or NUL inside (it goes
 * into our own answer as it is); the relayed lines stay under
 * FWD_HDRS_MAX; Content-Type fits its buffer; the body kept is at most
 * FWD_RESP_MAX bytes, and past it the transfer is failed.
 */
#include "../src/fwd/fwd.c"
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_curl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (libre_init())
		abort();
	log_set_level(LOG_ERROR + 1);
	return 0;
}

/* Each relayed line: a relayed name, a colon, no CR/LF/NUL, CRLF. */
static void check_relayed(const struct mbuf *mb)
{
	const char *p, *end;

	if (mb->end >= FWD_HDRS_MAX)
		abort();
	if (!mb->buf) /* reset by a status line: nothing relayed */
		return;
	p = (const char *)mb->buf;
	end = p + mb->end;
	while (p < end) {
		const char *crlf = memchr(p, '\r', (size_t)(end - p));
		const char *colon = memchr(p, ':', (size_t)(end - p));
		struct pl name;

		if (!crlf || crlf + 1 >= end || crlf[1] != '\n' || !colon ||
		    colon > crlf || memchr(p, '\n', (size_t)(crlf - p)) ||
		    memchr(p, '\0', (size_t)(crlf - p)))
			abort();
		name.p = p;
		name.l = (size_t)(colon - p);
		if (!relayed(&name))
			abort();
		p = crlf + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end;
	struct fwd_req *r;
	size_t hlen, blen, kept;

	r = mem_zalloc(sizeof(*r), req_destructor);
	if (!r)
		return 0;
	r->body = mbuf_alloc(64);
	r->rhdr = mbuf_alloc(64);
	if (!r->body || !r->rhdr)
		goto out;

	end = memmem(p, size, "\r\n\r\n", 4);
	hlen = end ? (size_t)(end - p) + 4 : size;
	blen = size - hlen;
	fuzz_curl_headers(header_cb, r, p, hlen);
	check_relayed(r->rhdr);
	if (strnlen(r->ctype, sizeof(r->ctype)) == sizeof(r->ctype))
		abort();

	kept = write_cb((char *)p + hlen, 1, blen, r);
	if (kept != blen && !r->too_big)
		abort();
	if (r->body->end > FWD_RESP_MAX)
		abort();
out:
	mem_deref(r);
	return 0;
}
