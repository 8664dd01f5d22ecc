/**
 * @file fuzz_xcapresp.c  libFuzzer driver: XCAP answer framing
 *
 * The input is what the XCAP server sends back on the connection of one
 * request, after a first byte that says how it is cut into reads (n: reads
 * of n bytes; 0: one read; a 401's challenge is answered on a new
 * connection, so the second answer starts at a read boundary). A real request
 * is made with xcap_node_request() to a closed port on 127.0.0.1 (the
 * connection is never served: no loop runs); the reads go to client.c's
 * recv_handler() and, if no answer was complete, the close to close_handler(),
 * as libre would call them. So the status line and headers (libre's parser
 * under XCAP_MAX_HEAD), Content-Length and the body limit, an answer ended by
 * the close, ETag, and a 401's digest challenge (answered on a new
 * connection, the rest of the input then being the second answer) are all
 * exercised. client.c is included to reach its static handlers.
 *
 * Invariants checked: the response handler runs at most once, and exactly
 * once when the request is over; err 0 means a 2xx; the body is within
 * XCAP_MAX_BODY and readable to its end; an ETag is at most XCAP_MAX_ETAG
 * bytes.
 */
#include "../src/xcap/client.c"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct xcap_client *xc;
static unsigned calls;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (libre_init() ||
	    xcap_client_alloc(&xc, "http://127.0.0.1:9/xcap-root", "alice",
			      "example.test",
			      "7d6c4fa9352934fc4851f677a51118f9"))
		abort();
	log_set_level(LOG_ERROR + 1);
	return 0;
}

static void resp_h(int err, uint16_t scode, const struct pl *body,
		   const char *etag, void *arg)
{
	char *copy;

	(void)arg;
	if (++calls > 1)
		abort();
	if (!err && (scode < 200 || scode > 299))
		abort();
	if (!body || body->l > XCAP_MAX_BODY || (body->l && !body->p))
		abort();
	/* the whole body is readable (ASan checks the copy) */
	copy = malloc(body->l + 1);
	if (copy && body->l)
		memcpy(copy, body->p, body->l);
	free(copy);
	if (etag && strlen(etag) > XCAP_MAX_ETAG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xcap_req *req = NULL;
	size_t step, off;

	if (!size)
		return 0;
	step = data[0] ? data[0] : size;
	calls = 0;
	if (xcap_node_request(&req, xc, "GET", "resource-lists", NULL, NULL,
			      NULL, NULL, resp_h, NULL))
		return 0;

	for (off = 1; off < size && req; off += step) {
		size_t n = size - off < step ? size - off : step;
		struct mbuf *mb = mbuf_alloc(n);

		if (!mb)
			break;
		(void)mbuf_write_mem(mb, data + off, n);
		mb->pos = 0;
		recv_handler(mb, req);
		mem_deref(mb);
	}
	if (req)
		close_handler(0, req);
	if (req) {
		/* a digest answer on its way: the caller drops it */
		if (calls)
			abort();
		mem_deref(req);
	} else if (calls != 1) {
		abort();
	}
	return 0;
}
