/**
 * @file service.c  Public listeners and routing of requests by host
 *
 * Virtual hosts: lyncdiscover.<domain> and lyncdiscoverinternal.<domain>
 * serve autodiscover only; the web FQDNs (and any other Host, so that a
 * reverse proxy that rewrites Host still reaches us) serve every resource.
 */
#include <string.h>
#include <sys/stat.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "web.h"
#include "autodiscover.h"
#include "sipua.h"
#include "push.h"
#include "store.h"
#include "auth.h"
#include "ucwa.h"
#include "pool.h"
#include "forward.h"
#include "handover.h"
#include "service.h"

enum {
	WHEEL_TICK_MS = 50, /* deadline resolution                 */
	WHEEL_SLOTS = 4096, /* 204 s per turn of the wheel          */
	DRAIN_RETRY_S = 10, /* Retry-After of a sign-in refused     */
};

struct service {
	struct conf *conf;
	struct wheel *wheel;
	struct web_srv *web;
	struct web_tls *tls;
	struct autodiscover *ad;
	struct store *store;
	struct sipua *ua;
	struct auth *auth;
	struct ucwa *ucwa;
	struct admin *admin;
	struct push *push;   /* APNs/FCM, or NULL when neither is configured */
	struct pool *pool;   /* the instance's lease (redis), or NULL       */
	struct forward *fwd; /* requests for other instances' sessions    */
	struct handover *ho; /* the drain of a pool instance, or NULL     */
	bool draining;       /* SIGTERM: no new sign-in (service_drain_begin) */
};

static void destructor(void *arg)
{
	struct service *svc = arg;

	mem_deref(svc->admin);
	mem_deref(svc->web);
	mem_deref(svc->fwd);
	mem_deref(svc->ad);
	pool_set_ucwa(svc->pool, NULL, 0);
	mem_deref(svc->ucwa);
	mem_deref(svc->push);
	mem_deref(svc->auth);
	mem_deref(svc->ho);
	mem_deref(svc->pool);
	mem_deref(svc->ua);
	mem_deref(svc->store);
	mem_deref(svc->tls);
	mem_deref(svc->wheel);
	mem_deref(svc->conf);
}

static void not_found(struct web_req *req)
{
	web_reply_text(req, 404, NULL, "no such resource");
}

/* lyncdiscover[internal].<domain>: autodiscover and nothing else. */
static void discover_host_handler(struct web_req *req, void *arg)
{
	struct service *svc = arg;

	if (!autodiscover_handle(svc->ad, req))
		not_found(req);
}

/* The pool lease lapsed: SIP is stopped here, so every change (what
 * would send an IM, publish presence, subscribe: a POST under the UCWA
 * base) is refused; reads (events, resources) are still served. */
static bool lease_lost_refuses(const struct service *svc, const struct pl *path)
{
	const size_t n = sizeof(UCWA_BASE) - 1;
	struct pl head;

	if (!pool_lost(svc->pool) || path->l <= n)
		return false;
	head.p = path->p;
	head.l = n;
	return !pl_strcasecmp(&head, UCWA_BASE);
}

/* While draining, what starts a session is refused: a token (POST
 * /WebTicket/oauthtoken) and an application (POST of UCWA_BASE). The
 * sessions here go on until their SIP side is removed; the app signs in
 * again on another instance (the load balancer saw /healthz go 503). */
static bool refuse_new_session(const struct service *svc, struct web_req *req)
{
	static const char body[] = "draining\n";
	const struct pl *path = web_req_path(req);

	if ((!svc->draining && !pool_lost(svc->pool)) ||
	    pl_strcasecmp(web_req_method(req), "POST"))
		return false;
	if (pl_strcasecmp(path, UCWA_BASE) &&
	    pl_strcasecmp(path, "/WebTicket/oauthtoken") &&
	    !lease_lost_refuses(svc, path))
		return false;

	(void)web_reply(req, 503, NULL, "text/plain; charset=utf-8",
			(const uint8_t *)body, sizeof(body) - 1,
			"Retry-After: %u\r\n", DRAIN_RETRY_S);
	return true;
}

/* Web FQDNs and every other host. */
static void web_handler(struct web_req *req, void *arg)
{
	struct service *svc = arg;

	log_debug("http: %r %r?%r from %J", web_req_method(req),
		  web_req_path(req), web_req_query(req), web_req_peer(req));

	if (autodiscover_handle(svc->ad, req))
		return;
	/* Plain http carries autodiscover only (its documents point to
	 * https): passwords and tokens travel over TLS, to us or to a
	 * trusted proxy that terminated it (behind_tls_proxy) */
	if (!web_req_is_tls(req)) {
		web_reply_text(req, 403, NULL,
			       "https is required for this resource");
		return;
	}
	if (refuse_new_session(svc, req))
		return;
	if (ucwa_handle(svc->ucwa, req))
		return;
	if (auth_handle(svc->auth, req))
		return;
	not_found(req);
}

/* The pool lease lapsed: SIP is stopped and the sessions forgotten
 * (pool.c); no new sign-in, and /healthz tells the load balancer to send
 * the phones elsewhere, until the instance rejoins */
static void lease_lost(uint32_t n, void *arg)
{
	struct service *svc = arg;

	(void)n;
	admin_set_lost(svc->admin, true);
}

static void lease_back(void *arg)
{
	struct service *svc = arg;

	admin_set_lost(svc->admin, false);
}

/* An instance of a pool on Redis ([store] redis_instance): hold its
 * lease. A single instance (lmdb, or redis without a name): always the
 * owner, no lease. */
static int pool_start(struct service *svc)
{
	int err;

	if (strcmp(svc->conf->store_backend, "redis") ||
	    !svc->conf->store_redis_instance)
		return 0;
	err = pool_alloc(&svc->pool, svc->store, svc->ua, svc->wheel,
			 svc->conf->store_redis_instance, lease_lost, svc);
	if (err)
		log_error("cannot start the pool lease: %m", err);
	else
		pool_set_rejoin_handler(svc->pool, lease_back);
	return err;
}

/* A pool: requests for applications of other instances are forwarded
 * to them (docs/pool.md "Forwarding"). */
static int take_now(void *take_arg, const char *sid, forward_took_h *h,
		    void *arg)
{
	return pool_take(take_arg, sid, h, arg);
}

static int forward_start(struct service *svc)
{
	int err = forward_alloc(&svc->fwd, svc->store, svc->ucwa,
				svc->conf->store_redis_instance,
				svc->conf->store_redis_instance_url);

	if (err)
		log_error("cannot start forwarding: %m", err);
	else
		/* no owner alive: taken over here at once */
		forward_set_take(svc->fwd, take_now, svc->pool);
	return err;
}

/* Where user is homed: here, another pool (redirect) or nowhere. */
static enum ad_user_status user_home(const struct service *svc,
				     const char *user, char *redirect,
				     size_t size)
{
	const struct conf_redirect *r;
	const char *at = strchr(user, '@');
	struct pl dom;

	pl_set_str(&dom, at ? at + 1 : "");
	r = conf_redirect_find(svc->conf, &dom);
	if (r) {
		/* AD_HREF_MAX holds every URL the configuration takes: a
		 * truncated one would send the user to a wrong place */
		if (re_snprintf(redirect, size, "%s", r->href) < 0) {
			log_error("autodiscover: the redirect URL for %r is "
				  "too long",
				  &dom);
			return AD_USER_UNKNOWN;
		}
		return AD_USER_ELSEWHERE;
	}
	return conf_serves_domain(svc->conf, &dom) ? AD_USER_HERE
						   : AD_USER_UNKNOWN;
}

/* A token of the autodiscover user resource read from the store. */
struct ad_check {
	struct service *svc;
	struct auth_check *chk;
	ad_auth_done_h *doneh;
	void *arg;
};

static void ad_check_destructor(void *arg)
{
	struct ad_check *c = arg;

	mem_deref(c->chk);
}

static void ad_verified(int err, const char *user, void *arg)
{
	struct ad_check *c = arg;
	char redirect[AD_HREF_MAX] = "";
	enum ad_user_status st = AD_USER_UNKNOWN;

	if (!err)
		st = user_home(c->svc, user, redirect, sizeof(redirect));
	/* the autodiscover side drops c (later, not from in here) */
	c->doneh(err, st, redirect, c->arg);
}

/* The autodiscover user resource asks who a bearer token belongs to: in
 * memory at once, else from the store (a token of another instance, or of
 * this one before a restart), as the API does. */
static int ad_auth(void **chkp, const struct pl *authorization,
		   ad_auth_done_h *doneh, void *done_arg, void *arg)
{
	struct service *svc = arg;
	char redirect[AD_HREF_MAX] = "";
	struct ad_check *c;
	const char *user;
	int err;

	*chkp = NULL;
	err = auth_verify(svc->auth, authorization, &user);
	if (!err) {
		enum ad_user_status st =
		    user_home(svc, user, redirect, sizeof(redirect));
		doneh(0, st, redirect, done_arg);
		return 0;
	}
	if (err != ENOENT)
		return err;

	c = mem_zalloc(sizeof(*c), ad_check_destructor);
	if (!c)
		return ENOMEM;
	c->svc = svc;
	c->doneh = doneh;
	c->arg = done_arg;
	err = auth_verify_async(&c->chk, svc->auth, authorization, ad_verified,
				c);
	if (err)
		mem_deref(c);
	else
		*chkp = c;
	return err;
}

static int add_vhosts(struct service *svc)
{
	static const char *const prefixes[] = {"lyncdiscover",
					       "lyncdiscoverinternal"};
	char host[300];
	struct le *le;
	size_t i;
	int err = 0;

	for (le = svc->conf->domains.head; le && !err; le = le->next) {
		const struct conf_str *d = le->data;
		for (i = 0; i < ARRAY_SIZE(prefixes) && !err; i++) {
			re_snprintf(host, sizeof(host), "%s.%s", prefixes[i],
				    d->s);
			err = web_srv_vhost(svc->web, host,
					    discover_host_handler, svc);
		}
	}
	/* Domains served by another pool still get their redirect here
	 * when their lyncdiscover names point at us. */
	for (le = svc->conf->redirects.head; le && !err; le = le->next) {
		const struct conf_redirect *r = le->data;
		for (i = 0; i < ARRAY_SIZE(prefixes) && !err; i++) {
			re_snprintf(host, sizeof(host), "%s.%s", prefixes[i],
				    r->domain);
			err = web_srv_vhost(svc->web, host,
					    discover_host_handler, svc);
		}
	}
	return err;
}

int service_alloc(struct service **svcp, struct conf *conf)
{
	struct service *svc;
	struct le *le;
	int err;

	if (!svcp || !conf)
		return EINVAL;

	svc = mem_zalloc(sizeof(*svc), destructor);
	if (!svc)
		return ENOMEM;

	svc->conf = mem_ref(conf);

	err = wheel_alloc(&svc->wheel, WHEEL_TICK_MS, WHEEL_SLOTS, true);
	if (err)
		goto out;

	/* the store directory is ours: make it when it is missing */
	if (!strcmp(conf->store_backend, "lmdb"))
		(void)mkdir(conf->store_path, 0700);
	{
		const struct store_conf sc = {
		    .backend = conf->store_backend,
		    .path = conf->store_path,
		    .size_mb = conf->store_map_size_mb,
		    .redis_address = conf->store_redis_address,
		    .redis_password = conf->store_redis_password,
		    .redis_db = conf->store_redis_db,
		    .redis_sentinels = conf->store_redis_sentinels,
		    .redis_master_name = conf->store_redis_master_name,
		    .redis_sentinel_password =
			conf->store_redis_sentinel_password,
		    .redis_wait_replicas = conf->store_redis_wait_replicas,
		    .redis_wait_ms = conf->store_redis_wait_ms};

		err = store_open(&svc->store, &sc);
	}
	if (err) {
		log_error(
		    "cannot open the store (%s, %s): %m", conf->store_backend,
		    strcmp(conf->store_backend, "redis")
			? conf->store_path
			: (conf->store_redis_address ? conf->store_redis_address
						     : "127.0.0.1:6379"),
		    err);
		goto out;
	}

	{
		struct sipua_param sp;

		sipua_param_from_conf(&sp, conf, svc->wheel);
		err = sipua_alloc(&svc->ua, &sp);
		if (err) {
			log_error("cannot start the SIP user agent: %m", err);
			goto out;
		}
	}

	err = pool_start(svc);
	if (err)
		goto out;

	err = auth_alloc(&svc->auth, conf, svc->ua, svc->store);
	if (err)
		goto out;
	auth_purge_start(svc->auth, svc->wheel);

	if (conf->push.apns_key || conf->push.fcm_credentials) {
		err = push_alloc(&svc->push, conf);
		if (err) {
			log_error("cannot start the push service: %m", err);
			goto out;
		}
	}

	err = ucwa_alloc(&svc->ucwa, conf, svc->wheel, svc->ua, svc->store,
			 svc->auth);
	if (!err) {
		/* before the load: a restored session may be pushed to */
		ucwa_set_push(svc->ucwa, svc->push);
		/* a pool instance loads nothing: the sessions of the store
		 * are other instances' or released (ours were, pool.c), and
		 * the poller takes them over at its pace */
		if (svc->pool)
			pool_set_ucwa(svc->pool, svc->ucwa,
				      conf->store_takeover_rate);
		else
			err = ucwa_load(svc->ucwa);
	}
	if (!err && svc->pool)
		err = forward_start(svc);
	if (err)
		goto out;

	err = autodiscover_alloc(&svc->ad, conf);
	if (err)
		goto out;
	autodiscover_set_auth(svc->ad, ad_auth, svc);

	err = web_srv_alloc(&svc->web, svc->wheel, &conf->limits,
			    conf->server_fqdn, web_handler, svc);
	if (err)
		goto out;

	web_srv_set_trusted(svc->web, &conf->trusted_proxies,
			    conf->behind_tls_proxy);
	err = add_vhosts(svc);
	if (err)
		goto out;

	if (!list_isempty(&conf->https_listen)) {
		err = web_tls_alloc(&svc->tls);
		for (le = conf->certs.head; le && !err; le = le->next) {
			const struct conf_cert *c = le->data;
			err = web_tls_add_cert(svc->tls, c->chain, c->key);
			if (err)
				log_error("%s:%u: cannot load certificate %s "
					  "with key %s",
					  conf->path, c->line, c->chain,
					  c->key);
		}
		if (err)
			goto out;
	}

	for (le = conf->http_listen.head; le && !err; le = le->next) {
		const struct conf_listen *l = le->data;
		err = web_srv_listen(svc->web, &l->addr, NULL);
		if (err)
			log_error("cannot listen on http://%J: %m", &l->addr,
				  err);
		else
			log_info("listening on http://%J", &l->addr);
	}
	for (le = conf->proxy_listen.head; le && !err; le = le->next) {
		const struct conf_listen *l = le->data;
		err = web_srv_listen_proxy(svc->web, &l->addr);
		if (err)
			log_error("cannot listen on http://%J (PROXY v2): %m",
				  &l->addr, err);
		else
			log_info("listening on http://%J (PROXY v2 from "
				 "trusted proxies)",
				 &l->addr);
	}
	for (le = conf->https_listen.head; le && !err; le = le->next) {
		const struct conf_listen *l = le->data;
		err = web_srv_listen(svc->web, &l->addr, svc->tls);
		if (err)
			log_error("cannot listen on https://%J: %m", &l->addr,
				  err);
		else
			log_info("listening on https://%J", &l->addr);
	}
	if (err)
		goto out;

	err = admin_alloc(&svc->admin, conf, svc->wheel, svc->store);

out:
	if (err)
		mem_deref(svc);
	else
		*svcp = svc;
	return err;
}

int service_drain_begin(struct service *svc, sipua_drain_h *h, void *arg)
{
	if (!svc)
		return EINVAL;
	svc->draining = true;
	admin_set_draining(svc->admin);
	pool_drain(svc->pool);
	/* a pool instance hands its sessions over: an un-REGISTER would
	 * end them at the Front End (docs/pool.md "Drain") */
	if (svc->pool && !pool_lost(svc->pool))
		return handover_start(&svc->ho, svc->store, svc->ucwa,
				      svc->pool, h, arg);
	return sipua_drain(svc->ua, h, arg);
}

void service_drain_stop(struct service *svc)
{
	if (!svc)
		return;
	handover_stop(svc->ho);
	sipua_drain_stop(svc->ua);
}

uint32_t service_drain_left(const struct service *svc)
{
	if (!svc)
		return 0;
	return svc->ho ? handover_left(svc->ho) : sipua_drain_left(svc->ua);
}

void service_drain(struct service *svc)
{
	if (!svc)
		return;
	web_srv_close_listeners(svc->web);
	web_srv_drain(svc->web);
}

size_t service_conn_count(const struct service *svc)
{
	return svc ? web_srv_conn_count(svc->web) : 0;
}
