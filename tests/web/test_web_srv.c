/**
 * @file test_web_srv.c  A live server on loopback: parked requests answered
 * later, pipelined requests behind them answered in order, a parked request
 * whose client goes away, keep-alive and the response headers.
 */
#include <string.h>
#include <re.h>
#include "web.h"
#include "check.h"
#include "client.h"

static const struct conf_http_limits lim = {
    .max_request_line = 1024,
    .max_header_bytes = 4096,
    .max_headers = 32,
    .max_body_bytes = 4096,
    .header_timeout_ms = 2000,
    .body_timeout_ms = 2000,
    .idle_timeout_ms = 5000,
    .max_connections = 100,
    .max_conns_per_addr = 100,
};

static struct web_srv *srv;
static uint16_t port;
static struct web_req *parked;
static struct tmr late_tmr;
static int cancelled;
static int late_err = -1;

static void answer_late(void *arg)
{
	(void)arg;
	late_err = web_reply(parked, 200, "OK", "text/plain",
			     (const uint8_t *)"late", 4, NULL);
	parked = mem_deref(parked);
}

static void on_cancel(struct web_req *req, void *arg)
{
	(void)req;
	(void)arg;
	++cancelled;
}

static void handler(struct web_req *req, void *arg)
{
	const struct pl *path = web_req_path(req);
	(void)arg;

	if (!pl_strcmp(path, "/now")) {
		web_reply(req, 200, "OK", "text/plain", (const uint8_t *)"now",
			  3, "X-Test: %d\r\n", 7);
	} else if (!pl_strcmp(path, "/park")) {
		/* keep it: the connection waits for our answer */
		parked = mem_ref(req);
		web_req_set_cancel(req, on_cancel, NULL);
		tmr_start(&late_tmr, 150, answer_late, NULL);
	} else if (!pl_strcmp(path, "/hold")) {
		parked = mem_ref(req);
		web_req_set_cancel(req, on_cancel, NULL);
	} else {
		web_reply_text(req, 404, "Not Found", "no");
	}
}

static char r1[4096], r2[4096], r3[4096];
static int s1, s2, s3;

static void client_pipeline(void)
{
	struct client c;

	if (client_connect(&c, port, false, NULL))
		return;
	/* both at once: the second must wait for the parked first */
	client_send(&c, "GET /park HTTP/1.1\r\nHost: t\r\n\r\n"
			"GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
	s1 = client_response(&c, r1, sizeof(r1));
	s2 = client_response(&c, r2, sizeof(r2));
	/* the connection is still usable afterwards (keep-alive) */
	client_send(&c, "GET /now HTTP/1.1\r\nHost: t\r\nCookie: "
			"MS-WSMAN=abc\r\n\r\n");
	s3 = client_response(&c, r3, sizeof(r3));
	client_close(&c);
}

static void test_parked_and_pipelined(void)
{
	client_run(client_pipeline);

	CHECK(s1 == 200 && strstr(r1, "\r\n\r\nlate"));
	CHECK(s2 == 200 && strstr(r2, "\r\n\r\nnow"));
	CHECK(late_err == 0);
	CHECK(strstr(r2, "X-Test: 7\r\n") != NULL);
	CHECK(strstr(r1, "Cache-Control: no-cache\r\n") != NULL);
	CHECK(strstr(r1, "X-MS-Server-Fqdn: srv.example.test\r\n") != NULL);
	CHECK(strstr(r1, "Set-Cookie: MS-WSMAN=") != NULL);
	/* a request that carries the cookie gets none */
	CHECK(s3 == 200 && !strstr(r3, "Set-Cookie"));
	CHECK(cancelled == 0);
}

static void client_hold_and_leave(void)
{
	struct client c;

	if (client_connect(&c, port, false, NULL))
		return;
	client_send(&c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(200 * 1000);
	client_close(&c);
	usleep(200 * 1000); /* let the loop see the close */
}

static void test_parked_client_gone(void)
{
	int err;

	cancelled = 0;
	client_run(client_hold_and_leave);
	CHECK(cancelled == 1);
	CHECK(parked != NULL);
	CHECK(!web_req_connected(parked));
	err = web_reply(parked, 200, "OK", NULL, NULL, 0, NULL);
	CHECK(err == ENOTCONN);
	parked = mem_deref(parked);
	CHECK(web_srv_conn_count(srv) == 0);
}

int main(void)
{
	struct wheel *w = NULL;
	struct sa laddr;
	int err;

	libre_init();
	err = wheel_alloc(&w, 10, 256, true);
	err |= web_srv_alloc(&srv, w, &lim, "srv.example.test", handler, NULL);
	sa_set_str(&laddr, "127.0.0.1", 0);
	err |= web_srv_listen(srv, &laddr, NULL);
	CHECK(err == 0);
	port = web_srv_port(srv, 0);
	CHECK(port != 0);

	test_parked_and_pipelined();
	test_parked_client_gone();

	tmr_cancel(&late_tmr);
	mem_deref(srv);
	mem_deref(w);
	metrics_close();
	libre_close();
	return check_done("test_web_srv");
}
