/**
 * @file http_int.h  Private declarations of the HTTP component
 */
#ifndef MOB_WEB_INT_H
#define MOB_WEB_INT_H

#include "web.h"
#include "web_compress.h"

enum {
	WEB_LINGER_MS = 2000,        /* discard input after a closing error */
	WEB_LINGER_MAX = 256 * 1024, /* ... at most this many bytes         */
	WEB_REJECT_EXTRA = 64,       /* over-limit conns answered with 503  */
	WEB_REJECT_MS = 1000,        /* time a rejected conn may stay       */
	WEB_COMPRESS_MIN = 256,      /* smaller bodies are sent as they are */
	WEB_COMPRESS_MAX = 4 << 20,  /* ... and so are larger ones          */
	WEB_AE_MAX = 1024,           /* Accept-Encoding bytes looked at     */
};

struct web_addr; /* connections of one client IP address */

struct web_srv {
	struct list connl;  /* struct web_conn                  */
	struct list lsnrl;  /* struct web_lsnr                  */
	struct list vhostl; /* struct web_vhost                 */
	struct hash *addrs; /* struct web_addr by IP            */
	struct wheel *wheel;
	struct conf_http_limits lim;
	char *server_fqdn;
	const struct list *trusted; /* struct conf_cidr: trusted proxies
				       (borrowed from the configuration) */
	bool proxy_tls;             /* they terminated TLS                 */
	char cookie[17];            /* MS-WSMAN value of this instance */
	web_req_h *reqh;
	void *arg;
	struct {
		struct metric *accepted, *rejected, *open, *requests;
		struct metric *responses[5]; /* by status class */
	} m;
	size_t nconn;     /* connections being served        */
	size_t nrejected; /* over-limit ones being answered  */
	bool draining;
};

enum conn_state {
	CONN_IDLE,   /* waiting for the first byte of a request  */
	CONN_HEAD,   /* a request head is arriving               */
	CONN_BODY,   /* head complete, body arriving             */
	CONN_BUSY,   /* the handler has the request (maybe parked) */
	CONN_LINGER, /* answered and closing: discard input      */
	CONN_REJECT, /* over the connection limit: answer 503    */
};

struct web_conn {
	struct le le; /* in srv->connl */
	struct web_srv *srv;
	struct tcp_conn *tc;
	struct tls_conn *sc;
	struct mbuf *rx;     /* bytes not yet consumed; NULL when none */
	struct web_req *req; /* the request being served (reference)   */
	struct web_addr *addr;
	struct wheel_entry tmo;
	struct web_head head; /* scan result of the current request  */
	struct sa peer;
	enum conn_state state;
	size_t lingered;
	bool tls;
	bool proxy_wait; /* the PROXY v2 header is still to come    */
	bool proxied;    /* peer is the source of a PROXY v2 header */
	bool rejected;   /* accepted over a limit, counted apart */
	bool closed;
	bool processing; /* inside conn_process(): no re-entry */
};

struct web_req {
	struct web_conn *conn; /* borrowed; NULL once the conn is gone */
	struct http_msg *msg;
	struct mbuf *mb; /* head and body of this request */
	struct pl met, path, query, host, body;
	struct sa client; /* the client, behind trusted proxies */
	bool proxy_tls;   /* came through a trusted proxy that
			     terminated TLS                     */
	web_cancel_h *cancelh;
	void *cancel_arg;
	bool keepalive;
	bool head_only; /* HEAD: no body in the answer       */
	bool cookie;    /* the request carried MS-WSMAN      */
	bool secret;    /* the answer carries a secret: never
			   compressed                         */
	bool replied;
};

/* conn.c */
/* takes over the caller's reference to addr, also on failure */
int web_conn_accept(struct web_srv *srv, struct tcp_sock *ts,
		    const struct sa *peer, struct web_tls *tls,
		    struct web_addr *addr, bool reject, bool proxy);
void web_conn_close(struct web_conn *conn);
void web_conn_replied(struct web_conn *conn, bool keepalive);
void web_conn_drain(struct web_conn *conn);

/* request.c */
int web_req_alloc(struct web_req **reqp, struct web_conn *conn,
		  const uint8_t *p, size_t head_len, size_t body_len);
void web_req_detach(struct web_req *req);
int web_send_error(struct web_conn *conn, uint16_t scode, const char *why);

/* negotiate.c */
/* the coding the request's Accept-Encoding fields choose */
enum web_coding web_req_coding(const struct web_req *req);

/* client.c */
/* reads the PROXY v2 header at the start of conn->rx: 0 (consumed, peer
 * set), ENODATA (more bytes needed) or EPROTO (close) */
int web_conn_proxy_header(struct web_conn *conn);
/* sets req->client and req->proxy_tls from conn and the request head */
void web_req_find_client(struct web_req *req, const struct web_conn *conn);

/* server.c */
void web_srv_dispatch(struct web_srv *srv, struct web_req *req);
void web_addr_release(struct web_addr *a);
void web_srv_conn_closed(struct web_srv *srv, bool rejected);
void web_srv_count_response(struct web_srv *srv, uint16_t scode);

/* tls.c */
struct tls *web_tls_default(const struct web_tls *tls);

#endif
