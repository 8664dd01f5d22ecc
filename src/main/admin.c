/**
 * @file admin.c  Admin listener: /healthz and Prometheus /metrics
 *
 * Bound to 127.0.0.1 by default: it is for the operator's probes and
 * scrapers, not for clients.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "web.h"
#include "web_route.h"
#include "service.h"
#include "store.h"

struct admin {
	struct web_srv *srv;
	const struct store *st; /* borrowed: the service outlives us */
	bool draining;          /* SIGTERM: /healthz answers 503 */
	bool lost;              /* the pool lease is lost: 503 too */
};

static struct metric *m_rss, *m_fds, *m_uptime;
static uint64_t started;

static void destructor(void *arg)
{
	struct admin *adm = arg;

	mem_deref(adm->srv);
}

/* Resident set size in bytes from /proc (Linux). */
static int64_t rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static int64_t open_fds(void)
{
	struct dirent *de;
	int64_t n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			++n;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static int mb_print(const char *p, size_t size, void *arg)
{
	return mbuf_write_mem(arg, (const uint8_t *)p, size);
}

/*
 * /healthz: 200 "ok", or 200 "degraded: store full" while the store
 * refuses writes for space. Still 200: the instances of a host share
 * the store, so taking this one out of the load balancer would not make
 * room, and the acks that do make room must keep reaching it; the body
 * and mobility_store_full tell the operator. 503 stays for an instance
 * that cannot serve at all (not listening answers nothing), and for one
 * draining (SIGTERM): 503 "draining" takes it out of the load balancer
 * while its sessions are removed.
 */
static void healthz(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	const struct admin *adm = arg;
	const char *body =
	    store_full(adm->st) ? "degraded: store full\n" : "ok\n";

	(void)prm;
	if (adm->lost)
		body = "pool lease lost\n";
	if (adm->draining)
		body = "draining\n";
	web_reply(req, adm->draining || adm->lost ? 503 : 200, NULL,
		  "text/plain; charset=utf-8", (const uint8_t *)body,
		  strlen(body), NULL);
}

/* /metrics: the Prometheus text format */
static void metrics(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	struct re_printf pf;
	struct mbuf *mb;

	(void)prm;
	(void)arg;
	/* process figures are read when scraped, not kept up to date */
	metric_set(m_rss, rss_bytes());
	metric_set(m_fds, open_fds());
	metric_set(m_uptime, (int64_t)((tmr_jiffies() - started) / 1000));

	mb = mbuf_alloc(4096);
	pf.vph = mb_print;
	pf.arg = mb;
	if (!mb || metrics_print(&pf)) {
		web_reply_text(req, 500, NULL, "metrics unavailable");
		mem_deref(mb);
		return;
	}
	web_reply(req, 200, NULL, "text/plain; version=0.0.4", mb->buf, mb->end,
		  NULL);
	mem_deref(mb);
}

static const struct web_route rows[] = {
    {"healthz", WEB_GET | WEB_HEAD, healthz},
    {"metrics", WEB_GET | WEB_HEAD, metrics},
};

static void not_found(struct web_req *req, void *arg)
{
	(void)arg;
	web_reply_text(req, 404, NULL, "admin resources: /healthz /metrics");
}

static const struct web_routes routes = {rows, ARRAY_SIZE(rows), false,
					 not_found};

static void handler(struct web_req *req, void *arg)
{
	(void)web_route(&routes, req, web_req_path(req), arg);
}

void admin_set_draining(struct admin *adm)
{
	if (adm)
		adm->draining = true;
}

void admin_set_lost(struct admin *adm, bool lost)
{
	if (adm)
		adm->lost = lost;
}

int admin_alloc(struct admin **admp, const struct conf *conf, struct wheel *w,
		const struct store *st)
{
	struct admin *adm;
	int err;

	adm = mem_zalloc(sizeof(*adm), destructor);
	if (!adm)
		return ENOMEM;
	adm->st = st;

	started = tmr_jiffies();
	m_rss = metrics_get(METRIC_GAUGE, "mobility_process_resident_bytes",
			    NULL, "Resident set size of the process");
	m_fds = metrics_get(METRIC_GAUGE, "mobility_process_open_fds", NULL,
			    "Open file descriptors");
	m_uptime = metrics_get(METRIC_GAUGE, "mobility_process_uptime_seconds",
			       NULL, "Seconds since start");

	err = web_srv_alloc(&adm->srv, w, &conf->limits, conf->server_fqdn,
			    handler, adm);
	if (!err)
		web_srv_set_label(adm->srv, "admin");
	if (!err)
		err = web_srv_listen(adm->srv, &conf->admin_addr, NULL);
	if (err)
		log_error("cannot listen on admin http://%J: %m",
			  &conf->admin_addr, err);
	else
		log_info("admin on http://%J (/healthz, /metrics)",
			 &conf->admin_addr);

	if (err)
		mem_deref(adm);
	else
		*admp = adm;
	return err;
}
