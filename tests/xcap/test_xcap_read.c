/**
 * @file test_xcap_read.c  An XCAP answer that arrives a few bytes at a
 *                         time is read at the cost of its size
 *
 * TCP hands the client whatever has arrived: a slow or busy server's
 * answer can come in many small reads. The client reads them on the one
 * event loop of the service, so the work per read must not grow with
 * what came before (the answer was decoded again from its first byte at
 * every read, head and body: a 2.5 KB head sent a byte at a time took
 * 9 s of CPU under ASan).
 *
 * client.c is included to hand the reads to its receive handler as libre
 * does; the request itself is a real one (to a closed port: the loop does
 * not run, nothing is sent).
 */
#include <time.h>
#include "../../src/xcap/client.c"
#include "check.h"

enum {
	PAD_HEADERS = 100, /* header lines of 64 bytes: a 6.5 KB head */
	BODY_BYTES = 20000,
	REASON_BYTES = 6000, /* below XCAP_MAX_HEAD */
	CPU_LIMIT_MS = 3000, /* the old code: minutes */
};

static unsigned calls;
static int got_err;
static uint16_t got_scode;
static size_t got_len;

static void resp_h(int err, uint16_t scode, const struct pl *body,
		   const char *etag, void *arg)
{
	(void)etag;
	(void)arg;
	++calls;
	got_err = err;
	got_scode = scode;
	got_len = body->l;
}

static uint64_t cpu_ms(void)
{
	return (uint64_t)clock() * 1000 / CLOCKS_PER_SEC;
}

/* Feed answer to a new request in reads of step bytes; false if the CPU
 * limit ran out first. */
static bool feed(struct xcap_client *xc, const struct mbuf *answer, size_t step)
{
	struct xcap_req *req = NULL;
	uint64_t start = cpu_ms();
	size_t off;
	bool in_time = true;

	calls = 0;
	if (xcap_node_request(&req, xc, "GET", "resource-lists", NULL, NULL,
			      NULL, NULL, resp_h, NULL))
		return false;
	for (off = 0; off < answer->end && req; off += step) {
		struct mbuf *mb = mbuf_alloc(step);
		size_t n = answer->end - off < step ? answer->end - off : step;

		if (cpu_ms() - start > CPU_LIMIT_MS) {
			in_time = false;
			break;
		}
		(void)mbuf_write_mem(mb, answer->buf + off, n);
		mb->pos = 0;
		recv_handler(mb, req);
		mem_deref(mb);
	}
	mem_deref(req);
	return in_time;
}

static void test_small_reads(void)
{
	struct xcap_client *xc = NULL;
	struct mbuf *a = mbuf_alloc(32768);
	unsigned i;

	CHECK(!xcap_client_alloc(&xc, "http://127.0.0.1:9/xcap-root", "alice",
				 "example.test",
				 "7d6c4fa9352934fc4851f677a51118f9"));
	(void)mbuf_write_str(a, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < PAD_HEADERS; i++)
		(void)mbuf_printf(a, "X-Pad-%03u: %050u\r\n", i, i);
	(void)mbuf_printf(a, "ETag: \"e1\"\r\nContent-Length: %u\r\n\r\n",
			  BODY_BYTES);
	for (i = 0; i < BODY_BYTES; i++)
		(void)mbuf_write_u8(a, 'x');

	/* all at once, then a byte per read: the same answer, in time */
	CHECK(feed(xc, a, a->end));
	CHECK(calls == 1 && !got_err && got_scode == 200 &&
	      got_len == BODY_BYTES);
	CHECK(feed(xc, a, 1));
	CHECK(calls == 1 && !got_err && got_scode == 200 &&
	      got_len == BODY_BYTES);

	/* a long status line (its reason phrase): what libre's parser
	 * costs most for while the line is not complete */
	mbuf_reset(a);
	(void)mbuf_write_str(a, "HTTP/1.1 200 ");
	for (i = 0; i < REASON_BYTES; i++)
		(void)mbuf_write_u8(a, 'O');
	(void)mbuf_printf(a, "\r\nContent-Length: %u\r\n\r\n", BODY_BYTES);
	for (i = 0; i < BODY_BYTES; i++)
		(void)mbuf_write_u8(a, 'x');
	CHECK(feed(xc, a, 1));
	CHECK(calls == 1 && !got_err && got_scode == 200 &&
	      got_len == BODY_BYTES);

	/* an answer without Content-Length ends with the connection: read
	 * a byte at a time, then closed */
	mbuf_reset(a);
	(void)mbuf_write_str(a, "HTTP/1.1 404 Not Found\r\n");
	for (i = 0; i < PAD_HEADERS; i++)
		(void)mbuf_printf(a, "X-Pad-%03u: %050u\r\n", i, i);
	(void)mbuf_write_str(a, "\r\nno such document");
	{
		struct xcap_req *req = NULL;
		size_t off;
		uint64_t start = cpu_ms();

		calls = 0;
		CHECK(!xcap_node_request(&req, xc, "GET", "pres-rules", NULL,
					 NULL, NULL, NULL, resp_h, NULL));
		for (off = 0; off < a->end && req; off++) {
			struct mbuf *mb = mbuf_alloc(1);

			(void)mbuf_write_u8(mb, a->buf[off]);
			mb->pos = 0;
			recv_handler(mb, req);
			mem_deref(mb);
		}
		CHECK(req && calls == 0);
		if (req)
			close_handler(0, req);
		CHECK(calls == 1 && got_err == ENOENT && got_scode == 404 &&
		      got_len == 16);
		CHECK(cpu_ms() - start < CPU_LIMIT_MS);
	}

	mem_deref(a);
	mem_deref(xc);
}

int main(void)
{
	if (libre_init())
		return 1;
	test_small_reads();
	libre_close();
	return check_done("test_xcap_read");
}
