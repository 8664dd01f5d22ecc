/**
 * @file conn.c  One HTTP/1.1 connection: framing, limits, deadlines
 *
 * A connection handles one request at a time. Bytes that arrive while a
 * request is with its handler (perhaps parked) stay buffered; the next
 * request is parsed only after the current one is answered, which keeps
 * pipelined answers in order (RFC 9112 9.3.2). An idle connection holds no
 * buffer: its receive buffer is released as soon as it is empty.
 *
 * Deadlines (one wheel entry per connection):
 *   idle  -> close quietly after idle_timeout
 *   head  -> 408 after header_timeout from the first byte of the request
 *   body  -> 408 after body_timeout from the end of the head
 *   busy  -> none (the handler owns the timing, e.g. a long poll)
 */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <re.h>
#include "web_int.h"

static void conn_process(struct web_conn *conn);

static void conn_destructor(void *arg)
{
	struct web_conn *conn = arg;

	wheel_cancel(&conn->tmo);
	list_unlink(&conn->le);
	mem_deref(conn->sc);
	mem_deref(conn->tc);
	mem_deref(conn->rx);
	web_addr_release(conn->addr);
}

/* Tear the connection down now; any parked request learns of it. */
void web_conn_close(struct web_conn *conn)
{
	struct web_srv *srv;
	struct web_req *req;

	if (!conn || conn->closed)
		return;

	conn->closed = true;
	srv = conn->srv;
	web_srv_conn_closed(srv, conn->rejected);

	wheel_cancel(&conn->tmo);
	list_unlink(&conn->le);
	conn->tc = mem_deref(conn->tc);
	conn->sc = mem_deref(conn->sc);
	conn->rx = mem_deref(conn->rx);

	req = conn->req;
	conn->req = NULL;
	if (req) {
		web_req_detach(req);
		mem_deref(req);
	}

	mem_deref(conn);
}

static void tmo_close(void *arg)
{
	web_conn_close(arg);
}

static void tmo_408(void *arg);

static void set_state(struct web_conn *conn, enum conn_state st)
{
	const struct conf_http_limits *lim = &conn->srv->lim;

	conn->state = st;
	switch (st) {

	case CONN_IDLE:
		wheel_start(conn->srv->wheel, &conn->tmo, lim->idle_timeout_ms,
			    tmo_close, conn);
		break;

	case CONN_HEAD:
		wheel_start(conn->srv->wheel, &conn->tmo,
			    lim->header_timeout_ms, tmo_408, conn);
		break;

	case CONN_BODY:
		wheel_start(conn->srv->wheel, &conn->tmo, lim->body_timeout_ms,
			    tmo_408, conn);
		break;

	case CONN_BUSY:
		wheel_cancel(&conn->tmo);
		break;

	case CONN_LINGER:
		wheel_start(conn->srv->wheel, &conn->tmo, WEB_LINGER_MS,
			    tmo_close, conn);
		break;

	case CONN_REJECT:
		wheel_start(conn->srv->wheel, &conn->tmo, WEB_REJECT_MS,
			    tmo_close, conn);
		break;
	}
}

/*
 * After a final answer on a connection that will not be reused: stop
 * sending and read what the client still sends for a while before
 * closing, so that our answer is not destroyed by a reset (a close with
 * unread input resets the connection, RFC 9112 9.6).
 */
static void conn_linger(struct web_conn *conn)
{
	int fd;

	conn->rx = mem_deref(conn->rx);
	set_state(conn, CONN_LINGER);

	/* Half-close once everything is handed to the socket (libre
	 * queues what the socket did not take; TLS output included). */
	fd = tcp_conn_fd(conn->tc);
	if (fd >= 0 && !tcp_conn_txqsz(conn->tc))
		(void)shutdown(fd, SHUT_WR);
}

static void send_error_and_linger(struct web_conn *conn, uint16_t scode,
				  const char *why)
{
	(void)web_send_error(conn, scode, why);
	conn_linger(conn);
}

/* The head or body did not arrive in time: 408, then linger so that a
 * client still trickling bytes reads the answer rather than a reset. */
static void tmo_408(void *arg)
{
	struct web_conn *conn = arg;

	send_error_and_linger(conn, 408,
			      conn->state == CONN_BODY
				  ? "request body not received in time"
				  : "request header not received in time");
}

void web_conn_replied(struct web_conn *conn, bool keepalive)
{
	struct web_req *req;

	if (!conn || conn->closed)
		return;

	req = conn->req;
	conn->req = NULL;
	mem_deref(req);

	if (!keepalive) {
		conn_linger(conn);
		return;
	}

	set_state(conn, CONN_IDLE);

	/* A reply given later (a parked request) resumes any pipelined
	 * requests; a reply from inside the handler lets conn_process()
	 * continue by itself. */
	if (!conn->processing)
		conn_process(conn);
}

/* Drop n consumed bytes from the front of the receive buffer. */
static void rx_consume(struct web_conn *conn, size_t n)
{
	struct mbuf *rx = conn->rx;
	size_t left = rx->end - n;

	if (!left) {
		conn->rx = mem_deref(rx);
		return;
	}
	memmove(rx->buf, rx->buf + n, left);
	rx->end = left;
	rx->pos = 0;
}

static void conn_process(struct web_conn *conn)
{
	struct web_srv *srv = conn->srv;

	mem_ref(conn);
	conn->processing = true;

	while (!conn->closed && conn->rx && conn->state != CONN_BUSY &&
	       conn->state != CONN_LINGER) {
		struct web_head *h = &conn->head;
		struct web_req *req = NULL;
		int err;

		if (conn->proxy_wait) {
			err = web_conn_proxy_header(conn);
			if (err == ENODATA)
				break;
			if (err) {
				web_conn_close(conn);
				break;
			}
			continue;
		}

		if (conn->state == CONN_IDLE || conn->state == CONN_HEAD) {
			err = web_head_scan(conn->rx->buf, conn->rx->end,
					    &srv->lim, h);
			if (h->scode) {
				send_error_and_linger(conn, h->scode, h->why);
				break;
			}
			if (err == ENODATA) {
				if (conn->state == CONN_IDLE)
					set_state(conn, CONN_HEAD);
				break;
			}
			set_state(conn, CONN_BODY);
		}

		/* CONN_BODY */
		if (conn->rx->end < h->head_len + h->body_len)
			break;

		err = web_req_alloc(&req, conn, conn->rx->buf, h->head_len,
				    h->body_len);
		rx_consume(conn, h->head_len + h->body_len);
		if (err) {
			send_error_and_linger(conn, 400, "malformed request");
			break;
		}

		set_state(conn, CONN_BUSY);
		conn->req = req;
		web_srv_dispatch(srv, req);
		/* the handler may have answered (state back to IDLE or
		 * LINGER) or parked the request (still BUSY) */
	}

	/* While a request is parked, bound what a client may queue behind
	 * it. */
	if (!conn->closed && conn->state == CONN_BUSY && conn->rx &&
	    conn->rx->end >
		(size_t)srv->lim.max_header_bytes + srv->lim.max_body_bytes)
		web_conn_close(conn);

	conn->processing = false;
	mem_deref(conn);
}

static void recv_handler(struct mbuf *mb, void *arg)
{
	struct web_conn *conn = arg;
	size_t n = mbuf_get_left(mb);

	if (conn->closed)
		return;

	if (conn->state == CONN_LINGER) {
		conn->lingered += n;
		if (conn->lingered > WEB_LINGER_MAX)
			web_conn_close(conn);
		return;
	}

	if (conn->state == CONN_REJECT) {
		/* Any request gets the 503 saying which limit, then the
		 * connection goes. */
		(void)web_send_error(conn, 503,
				     "too many connections; try again later");
		conn_linger(conn);
		return;
	}

	if (!conn->rx) {
		conn->rx = mbuf_alloc(n);
		if (!conn->rx) {
			web_conn_close(conn);
			return;
		}
	}
	if (mbuf_write_mem(conn->rx, mbuf_buf(mb), n)) {
		web_conn_close(conn);
		return;
	}

	conn_process(conn);
}

static void close_handler(int err, void *arg)
{
	(void)err;
	web_conn_close(arg);
}

int web_conn_accept(struct web_srv *srv, struct tcp_sock *ts,
		    const struct sa *peer, struct web_tls *tls,
		    struct web_addr *addr, bool reject, bool proxy)
{
	struct web_conn *conn;
	int err;

	conn = mem_zalloc(sizeof(*conn), conn_destructor);
	if (!conn)
		return ENOMEM;

	conn->srv = srv;
	conn->addr = addr;
	conn->peer = *peer;
	conn->tls = tls != NULL;
	conn->proxy_wait = proxy;

	err =
	    tcp_accept(&conn->tc, ts, NULL, recv_handler, close_handler, conn);
	if (err)
		goto out;

	/* Answers are written whole: without TCP_NODELAY the first answer
	 * after a TLS 1.3 handshake waits ~40 ms behind the session tickets
	 * for the client's delayed ACK (Nagle). */
	{
		int one = 1;
		(void)setsockopt(tcp_conn_fd(conn->tc), IPPROTO_TCP,
				 TCP_NODELAY, &one, sizeof(one));
	}

	if (tls) {
		err =
		    tls_start_tcp(&conn->sc, web_tls_default(tls), conn->tc, 0);
		if (err)
			goto out;
	}

	list_append(&srv->connl, &conn->le, conn);
	if (reject) {
		conn->rejected = true;
		++srv->nrejected;
		set_state(conn, CONN_REJECT);
	} else {
		++srv->nconn;
		set_state(conn, CONN_IDLE);
	}

out:
	if (err)
		mem_deref(conn);
	return err;
}

/* Graceful stop: idle connections go now, busy ones after answering. */
void web_conn_drain(struct web_conn *conn)
{
	if (conn->state == CONN_IDLE && !conn->rx)
		web_conn_close(conn);
}
