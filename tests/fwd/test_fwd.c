/**
 * @file test_fwd.c  Forwarding to another instance, on loopback: a front
 * server forwards every request to an owner server (both our web
 * server), a blocking client talks to the front. What the owner receives
 * (method, path and query, body, the client's header fields less the
 * hop-by-hop ones, X-Forwarded-For, Mob-Forwarded-By) and what the
 * client gets back (status, the relayed header fields, body); a client
 * gone aborts the forwarded request (the owner sees its client gone); a
 * peer that is not there fails with ECONNREFUSED.
 */
#include <string.h>
#include <re.h>
#include "web.h"
#include "fwd.h"
#include "check.h"
#include "client.h"

static const struct conf_http_limits lim = {
    .max_request_line = 1024,
    .max_header_bytes = 8192,
    .max_headers = 32,
    .max_body_bytes = 4096,
    .header_timeout_ms = 2000,
    .body_timeout_ms = 2000,
    .idle_timeout_ms = 5000,
    .max_connections = 100,
    .max_conns_per_addr = 100,
};

static struct fwd *fwd;
static struct web_srv *owner, *front;
static char base[64];
static struct web_req *held; /* parked at the owner          */
static int owner_cancelled;  /* the owner saw its client go  */
static int fwd_err = -1;     /* the last forward's error     */
static char seen[4096];      /* the owner's view of the last */

/* The owner: echoes what it got; /hold parks. */
static void owner_cancel(struct web_req *req, void *arg)
{
	(void)req;
	(void)arg;
	++owner_cancelled;
}

static bool hdr_echo(const struct pl *name, const struct pl *val, void *arg)
{
	struct mbuf *mb = arg;

	(void)mbuf_printf(mb, "%r=%r\n", name, val);
	return false;
}

static void owner_h(struct web_req *req, void *arg)
{
	struct mbuf *mb = mbuf_alloc(1024);
	(void)arg;

	if (!pl_strcmp(web_req_path(req), "/hold")) {
		held = mem_ref(req);
		web_req_set_cancel(req, owner_cancel, NULL);
		mem_deref(mb);
		return;
	}
	(void)mbuf_printf(mb, "%r %r?%r\n", web_req_method(req),
			  web_req_path(req), web_req_query(req));
	web_req_headers(req, hdr_echo, mb);
	(void)mbuf_printf(mb, "body=%r\n", web_req_body(req));
	re_snprintf(seen, sizeof(seen), "%b", mb->buf, mb->end);
	(void)web_reply(req, 201, NULL, "application/json", mb->buf, mb->end,
			"Location: /x/1\r\nRetry-After: 3\r\nX-Ms-Diag: d1\r\n"
			"Mob-Not-Owner: 1\r\nSet-Cookie: a=b\r\nVary: X\r\n");
	mem_deref(mb);
}

/* The front: every request to the owner, the answer relayed. */
struct fq {
	struct web_req *req;
	struct fwd_req *fr;
};

static void fq_destructor(void *arg)
{
	struct fq *q = arg;

	mem_deref(q->fr);
	mem_deref(q->req);
}

static void fq_cancel(struct web_req *req, void *arg)
{
	(void)req;
	mem_deref(arg); /* drops the forwarded request: aborted */
}

static void fq_done(int err, const struct fwd_resp *resp, void *arg)
{
	struct fq *q = arg;

	fwd_err = err;
	if (!err) {
		CHECK(resp->not_owner);
		(void)fwd_relay(q->req, resp);
	} else {
		(void)web_reply_text(q->req, 502, NULL, "no");
	}
	web_req_set_cancel(q->req, NULL, NULL);
	mem_deref(q);
}

static void front_h(struct web_req *req, void *arg)
{
	struct fq *q = mem_zalloc(sizeof(*q), fq_destructor);
	const char *to = arg;

	q->req = mem_ref(req);
	web_req_set_cancel(req, fq_cancel, q);
	if (fwd_send(&q->fr, fwd, to, req, fq_done, q)) {
		web_req_set_cancel(req, NULL, NULL);
		(void)web_reply_text(req, 500, NULL, "cannot");
		mem_deref(q);
	}
}

static uint16_t front_port;
static char resp[8192];
static int status;

static void client_post(void)
{
	struct client c;

	if (client_connect(&c, front_port, false, NULL))
		return;
	client_send(&c,
		    "POST /a/b?x=1&y=2 HTTP/1.1\r\nHost: web.example\r\n"
		    "Authorization: Bearer t0k\r\n"
		    "Content-Type: application/json\r\n"
		    "Accept: application/xml\r\nX-Ms-Namespace: internal\r\n"
		    "Accept-Encoding: gzip\r\nX-Forwarded-For: 10.9.9.9\r\n"
		    "Mob-Forwarded-By: forged\r\nContent-Length: 7\r\n\r\n"
		    "{\"a\":1}");
	status = client_response(&c, resp, sizeof(resp));
	client_close(&c);
}

static void test_relay(void)
{
	client_run(client_post);
	CHECK(fwd_err == 0 && status == 201);
	/* what the owner got */
	CHECK(strstr(seen, "POST /a/b?x=1&y=2\n") != NULL);
	CHECK(strstr(seen, "Host=web.example\n") != NULL);
	CHECK(strstr(seen, "Authorization=Bearer t0k\n") != NULL);
	CHECK(strstr(seen, "Content-Type=application/json\n") != NULL);
	CHECK(strstr(seen, "Accept=application/xml\n") != NULL);
	CHECK(strstr(seen, "X-Ms-Namespace=internal\n") != NULL);
	CHECK(strstr(seen, "body={\"a\":1}\n") != NULL);
	/* the client as the front saw it, the front's name; the client's
	 * own claims and codings are not passed on */
	CHECK(strstr(seen, "X-Forwarded-For=127.0.0.1\n") != NULL);
	CHECK(strstr(seen, "Mob-Forwarded-By=mob-f\n") != NULL);
	CHECK(!strstr(seen, "forged") && !strstr(seen, "10.9.9.9"));
	CHECK(!strstr(seen, "Accept-Encoding") && !strstr(seen, "Expect"));
	/* what the client got: status, the fields it needs, the body */
	CHECK(strstr(resp, "Location: /x/1\r\n") != NULL);
	CHECK(strstr(resp, "Retry-After: 3\r\n") != NULL);
	CHECK(strstr(resp, "X-Ms-Diag: d1\r\n") != NULL);
	CHECK(strstr(resp, "Content-Type: application/json\r\n") != NULL);
	CHECK(strstr(resp, "X-MS-Server-Fqdn: front.example.test\r\n") != NULL);
	CHECK(!strstr(resp, "owner.example.test") && !strstr(resp, "a=b") &&
	      !strstr(resp, "Mob-Not-Owner"));
	CHECK(strstr(resp, "\r\n\r\nPOST /a/b?x=1&y=2\n") != NULL);
}

static void client_hold_and_leave(void)
{
	struct client c;

	if (client_connect(&c, front_port, false, NULL))
		return;
	client_send(&c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(300 * 1000);
	client_close(&c);
	usleep(300 * 1000); /* the loop sees both closes */
}

static void test_client_gone(void)
{
	fwd_err = -1;
	owner_cancelled = 0;
	client_run(client_hold_and_leave);
	CHECK(held != NULL);
	CHECK(owner_cancelled == 1);
	CHECK(fwd_err == -1); /* aborted, never called */
	held = mem_deref(held);
}

static void test_refused(void)
{
	fwd_err = -1;
	client_run(client_post);
	CHECK(fwd_err == ECONNREFUSED && status == 502);
}

int main(void)
{
	struct web_srv *front2 = NULL;
	struct wheel *w = NULL;
	struct sa laddr;
	char dead[64];
	int err;

	libre_init();
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = wheel_alloc(&w, 10, 256, true);
	err |= fwd_alloc(&fwd, "mob-f", 5000);
	err |=
	    web_srv_alloc(&owner, w, &lim, "owner.example.test", owner_h, NULL);
	err |= web_srv_listen(owner, &laddr, NULL);
	CHECK(err == 0);
	re_snprintf(base, sizeof(base), "http://127.0.0.1:%u",
		    web_srv_port(owner, 0));
	err =
	    web_srv_alloc(&front, w, &lim, "front.example.test", front_h, base);
	err |= web_srv_listen(front, &laddr, NULL);
	CHECK(err == 0);
	front_port = web_srv_port(front, 0);

	test_relay();
	test_client_gone();

	/* a peer not listening: the port of a server just closed */
	err = web_srv_alloc(&front2, w, &lim, "x", owner_h, NULL);
	err |= web_srv_listen(front2, &laddr, NULL);
	CHECK(err == 0);
	re_snprintf(dead, sizeof(dead), "http://127.0.0.1:%u",
		    web_srv_port(front2, 0));
	front2 = mem_deref(front2);
	mem_deref(front);
	err =
	    web_srv_alloc(&front, w, &lim, "front.example.test", front_h, dead);
	err |= web_srv_listen(front, &laddr, NULL);
	CHECK(err == 0);
	front_port = web_srv_port(front, 0);
	test_refused();

	mem_deref(front);
	mem_deref(owner);
	mem_deref(fwd);
	mem_deref(w);
	metrics_close();
	libre_close();
	return check_done("test_fwd");
}
