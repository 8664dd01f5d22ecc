/**
 * @file server.c  HTTP server: listeners, connection limits, virtual hosts
 */
#include <string.h>
#include <re.h>
#include "web_int.h"

enum {
	ADDR_HASH_SIZE = 1024,     /* buckets of the per-address table  */
	WEB_LISTEN_BACKLOG = 4096, /* pending connections (the kernel caps
				       it at net.core.somaxconn)         */
};

/* Connections of one client IP address (counted for the limit). */
struct web_addr {
	struct le he;
	struct sa ip;
	uint32_t n;
};

struct web_lsnr {
	struct le le;
	struct web_srv *srv;
	struct tcp_sock *ts;
	struct web_tls *tls;
	uint16_t port;
	bool proxy; /* connections start with a PROXY v2 header */
};

struct web_vhost {
	struct le le;
	char *host;
	web_req_h *reqh;
	void *arg;
};

/* Register this server's metrics under its listener label. */
static void metrics_init(struct web_srv *srv, const char *label)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx",
					      "5xx"};
	char l[64];
	size_t i;

	(void)re_snprintf(l, sizeof(l), "listener=\"%s\"", label);
	srv->m.accepted = metrics_get(
	    METRIC_COUNTER, "mobility_http_connections_accepted_total", l,
	    "HTTP connections accepted");
	srv->m.rejected = metrics_get(
	    METRIC_COUNTER, "mobility_http_connections_rejected_total", l,
	    "HTTP connections refused by a connection limit");
	srv->m.open =
	    metrics_get(METRIC_GAUGE, "mobility_http_connections_open", l,
			"HTTP connections open");
	srv->m.requests =
	    metrics_get(METRIC_COUNTER, "mobility_http_requests_total", l,
			"HTTP requests handed to handlers");
	for (i = 0; i < ARRAY_SIZE(classes); i++) {
		(void)re_snprintf(l, sizeof(l), "listener=\"%s\",class=\"%s\"",
				  label, classes[i]);
		srv->m.responses[i] =
		    metrics_get(METRIC_COUNTER, "mobility_http_responses_total",
				l, "HTTP responses sent, by status class");
	}
}

void web_srv_set_label(struct web_srv *srv, const char *label)
{
	if (srv && label)
		metrics_init(srv, label);
}

void web_srv_set_trusted(struct web_srv *srv, const struct list *cidrs,
			 bool tls)
{
	if (!srv)
		return;
	srv->trusted = cidrs;
	srv->proxy_tls = tls;
}

void web_srv_count_response(struct web_srv *srv, uint16_t scode)
{
	if (scode >= 100 && scode < 600)
		metric_add(srv->m.responses[scode / 100 - 1], 1);
}

static void lsnr_destructor(void *arg)
{
	struct web_lsnr *l = arg;

	list_unlink(&l->le);
	mem_deref(l->ts);
	mem_deref(l->tls);
}

static void vhost_destructor(void *arg)
{
	struct web_vhost *v = arg;

	list_unlink(&v->le);
	mem_deref(v->host);
}

static void srv_destructor(void *arg)
{
	struct web_srv *srv = arg;
	struct le *le;

	list_flush(&srv->lsnrl);
	while ((le = list_head(&srv->connl)))
		web_conn_close(le->data);
	list_flush(&srv->vhostl);
	mem_deref(srv->addrs);
	mem_deref(srv->wheel);
	mem_deref(srv->server_fqdn);
	metric_set(srv->m.open, 0);
}

int web_srv_alloc(struct web_srv **srvp, struct wheel *w,
		  const struct conf_http_limits *lim, const char *server_fqdn,
		  web_req_h *reqh, void *arg)
{
	struct web_srv *srv;
	int err;

	if (!srvp || !w || !lim || !server_fqdn || !reqh)
		return EINVAL;

	srv = mem_zalloc(sizeof(*srv), srv_destructor);
	if (!srv)
		return ENOMEM;

	srv->wheel = mem_ref(w);
	srv->lim = *lim;
	srv->reqh = reqh;
	srv->arg = arg;
	err = str_dup(&srv->server_fqdn, server_fqdn);
	err |= hash_alloc(&srv->addrs, ADDR_HASH_SIZE);
	if (err)
		goto out;

	/* One affinity cookie value per instance: a load balancer that
	 * sticks by it sends a client back here. */
	(void)re_snprintf(srv->cookie, sizeof(srv->cookie), "%016llx",
			  (unsigned long long)rand_u64());
	metrics_init(srv, "public");

out:
	if (err)
		mem_deref(srv);
	else
		*srvp = srv;
	return err;
}

static bool addr_cmp(struct le *le, void *arg)
{
	const struct web_addr *a = le->data;
	return sa_cmp(&a->ip, arg, SA_ADDR);
}

static void addr_destructor(void *arg)
{
	struct web_addr *a = arg;
	hash_unlink(&a->he);
}

void web_addr_release(struct web_addr *a)
{
	if (a && --a->n == 0)
		mem_deref(a);
}

static void conn_handler(const struct sa *peer, void *arg)
{
	struct web_lsnr *l = arg;
	struct web_srv *srv = l->srv;
	const struct conf_http_limits *lim = &srv->lim;
	uint32_t key = sa_hash(peer, SA_ADDR);
	struct web_addr *a;
	bool reject = false;
	int err;

	a = list_ledata(hash_lookup(srv->addrs, key, addr_cmp, (void *)peer));
	if (srv->draining) {
		tcp_reject(l->ts);
		return;
	}
	/* a PROXY header names the client: only a trusted proxy may */
	if (l->proxy && !conf_cidr_match(srv->trusted, peer)) {
		log_info("http: %j is not a trusted proxy: connection to the "
			 "PROXY listener refused",
			 peer);
		metric_add(srv->m.rejected, 1);
		tcp_reject(l->ts);
		return;
	}

	/* Over a limit the client still gets an answer saying which one,
	 * from a small reserve of connections; past that, refuse. A
	 * trusted proxy carries many clients: only the total holds it. */
	if (srv->nconn >= lim->max_connections ||
	    (a && a->n >= lim->max_conns_per_addr &&
	     !conf_cidr_match(srv->trusted, peer))) {
		metric_add(srv->m.rejected, 1);
		if (srv->nrejected >= WEB_REJECT_EXTRA) {
			tcp_reject(l->ts);
			return;
		}
		reject = true;
	}

	if (!a) {
		a = mem_zalloc(sizeof(*a), addr_destructor);
		if (!a) {
			tcp_reject(l->ts);
			return;
		}
		sa_cpy(&a->ip, peer);
		hash_append(srv->addrs, key, &a->he, a);
	}
	++a->n;

	err = web_conn_accept(srv, l->ts, peer, l->tls, a, reject, l->proxy);
	if (err) {
		log_warn("http: accept from %j failed: %m", peer, err);
		return;
	}
	if (!reject) {
		metric_add(srv->m.accepted, 1);
		metric_set(srv->m.open, (int64_t)srv->nconn);
	}
}

void web_srv_conn_closed(struct web_srv *srv, bool rejected)
{
	if (rejected) {
		--srv->nrejected;
		return;
	}
	--srv->nconn;
	metric_set(srv->m.open, (int64_t)srv->nconn);
}

static int listen_on(struct web_srv *srv, const struct sa *laddr,
		     struct web_tls *tls, bool proxy)
{
	struct web_lsnr *l;
	struct sa local;
	int err;

	if (!srv || !laddr)
		return EINVAL;

	l = mem_zalloc(sizeof(*l), lsnr_destructor);
	if (!l)
		return ENOMEM;

	l->srv = srv;
	l->tls = mem_ref(tls);
	l->proxy = proxy;
	/* Not tcp_listen(): libre 1.1.0 listens with a backlog of 5, and a
	 * burst of phones reconnecting after a network change would see
	 * their SYNs dropped and retried a second later. */
	err = tcp_sock_alloc(&l->ts, laddr, conn_handler, l);
	if (!err)
		err = tcp_sock_bind(l->ts, laddr);
	if (!err)
		err = tcp_sock_listen(l->ts, WEB_LISTEN_BACKLOG);
	if (err)
		goto out;

	if (!tcp_sock_local_get(l->ts, &local))
		l->port = sa_port(&local);
	list_append(&srv->lsnrl, &l->le, l);

out:
	if (err)
		mem_deref(l);
	return err;
}

int web_srv_listen(struct web_srv *srv, const struct sa *laddr,
		   struct web_tls *tls)
{
	return listen_on(srv, laddr, tls, false);
}

int web_srv_listen_proxy(struct web_srv *srv, const struct sa *laddr)
{
	return listen_on(srv, laddr, NULL, true);
}

uint16_t web_srv_port(const struct web_srv *srv, unsigned n)
{
	struct le *le;

	for (le = srv ? srv->lsnrl.head : NULL; le; le = le->next, n--) {
		if (!n)
			return ((struct web_lsnr *)le->data)->port;
	}
	return 0;
}

int web_srv_vhost(struct web_srv *srv, const char *host, web_req_h *reqh,
		  void *arg)
{
	struct web_vhost *v;
	int err;

	if (!srv || !host || !reqh)
		return EINVAL;

	v = mem_zalloc(sizeof(*v), vhost_destructor);
	if (!v)
		return ENOMEM;

	err = str_dup(&v->host, host);
	if (err) {
		mem_deref(v);
		return err;
	}
	v->reqh = reqh;
	v->arg = arg;
	list_append(&srv->vhostl, &v->le, v);
	return 0;
}

void web_srv_dispatch(struct web_srv *srv, struct web_req *req)
{
	const struct pl *host = web_req_host(req);
	struct le *le;

	metric_add(srv->m.requests, 1);
	for (le = srv->vhostl.head; le; le = le->next) {
		struct web_vhost *v = le->data;
		if (!pl_strcasecmp(host, v->host)) {
			v->reqh(req, v->arg);
			return;
		}
	}
	srv->reqh(req, srv->arg);
}

void web_srv_close_listeners(struct web_srv *srv)
{
	if (srv)
		list_flush(&srv->lsnrl);
}

void web_srv_drain(struct web_srv *srv)
{
	struct le *le;

	if (!srv)
		return;

	srv->draining = true;
	le = srv->connl.head;
	while (le) {
		struct web_conn *conn = le->data;
		le = le->next;
		web_conn_drain(conn);
	}
}

size_t web_srv_conn_count(const struct web_srv *srv)
{
	return srv ? srv->nconn : 0;
}
