/**
 * @file autodiscover.c  Autodiscover resources: root, user, domain
 *
 * Each answer is built once as a document (kind, access location, links
 * with both an XML token and a JSON rel, SIP access points) and encoded by
 * content negotiation: JSON through the resource model (repr), XML as an
 * AutodiscoverResponse through the one XML writer (PROTOCOL.md).
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "repr.h"
#include "autodiscover.h"
#include "web_route.h"

#define AD_PATH     "Autodiscover/AutodiscoverService.svc/root"
#define AD_BASE     "/" AD_PATH
#define XFRAME_PATH "/Autodiscover/XFrame/XFrame.html"
#define UCWA_PATH   "/ucwa/oauth/v1/applications"
#define MCX_PATH    "/Mcx/McxService.svc"
#define TOKEN_PATH  "/WebTicket/oauthtoken"

enum {
	AD_LINKS_MAX = 48, /* links in one document (custom links included) */
};

enum ad_kind {
	AD_ROOT,
	AD_USER,
	AD_DOMAIN,
};

struct autodiscover {
	struct conf *conf;
	ad_auth_h *authh;
	void *auth_arg;
	struct list waits; /* struct uwait: user requests being checked */
};

struct ad_link {
	const char *token; /* XML token, NULL: JSON only */
	const char *rel;   /* JSON rel, NULL: XML only   */
	char href[AD_HREF_MAX];
	char relbuf[64]; /* rel of a custom link */
};

struct ad_doc {
	enum ad_kind kind;
	bool internal;
	bool access; /* write SipClient*Access elements */
	size_t n;
	struct ad_link links[AD_LINKS_MAX];
};

/* Media types offered, the default (JSON) first. */
static const char *const offers[] = {
    "application/json",
    "application/vnd.microsoft.rtc.autodiscover+json",
    "application/vnd.microsoft.rtc.autodiscover+xml",
    "application/xml",
    "text/xml",
};

static const char *const ctypes[] = {
    "application/json",
    "application/vnd.microsoft.rtc.autodiscover+json; v=1",
    "application/vnd.microsoft.rtc.autodiscover+xml; v=1",
    "application/xml",
    "text/xml",
};

static void destructor(void *arg)
{
	struct autodiscover *ad = arg;

	list_flush(&ad->waits);
	mem_deref(ad->conf);
}

int autodiscover_alloc(struct autodiscover **adp, struct conf *conf)
{
	struct autodiscover *ad;

	if (!adp || !conf)
		return EINVAL;

	ad = mem_zalloc(sizeof(*ad), destructor);
	if (!ad)
		return ENOMEM;

	ad->conf = mem_ref(conf);
	*adp = ad;
	return 0;
}

/* Does host equal prefix + "." + a domain we serve or redirect? */
static bool host_is(const struct conf *conf, const struct pl *host,
		    const char *prefix, struct pl *domain)
{
	size_t n = strlen(prefix);
	struct pl d;

	if (host->l <= n + 1 || strncasecmp(host->p, prefix, n) ||
	    host->p[n] != '.')
		return false;

	d.p = host->p + n + 1;
	d.l = host->l - n - 1;
	if (!conf_serves_domain(conf, &d) && !conf_redirect_find(conf, &d))
		return false;
	if (domain)
		*domain = d;
	return true;
}

bool autodiscover_is_host(const struct autodiscover *ad, const struct pl *host)
{
	return host_is(ad->conf, host, "lyncdiscover", NULL) ||
	       host_is(ad->conf, host, "lyncdiscoverinternal", NULL);
}

/* Add a link; href is printed from fmt (re_printf). */
static int add_link(struct ad_doc *doc, const char *token, const char *rel,
		    const char *fmt, ...)
{
	struct ad_link *l;
	va_list ap;
	int n;

	if (doc->n >= AD_LINKS_MAX)
		return EOVERFLOW;

	l = &doc->links[doc->n];
	l->token = token;
	l->rel = rel;
	va_start(ap, fmt);
	n = re_vsnprintf(l->href, sizeof(l->href), fmt, ap);
	va_end(ap);
	if (n < 0)
		return ENOMEM;
	++doc->n;
	return 0;
}

/* "https://fqdn[:port]" of an access location. */
static void base_url(char *buf, size_t size, const struct conf *conf,
		     bool internal)
{
	const char *fqdn =
	    internal ? conf->internal_web_fqdn : conf->external_web_fqdn;
	uint16_t port =
	    internal ? conf->internal_web_port : conf->external_web_port;

	if (port == 443)
		(void)re_snprintf(buf, size, "https://%s", fqdn);
	else
		(void)re_snprintf(buf, size, "https://%s:%u", fqdn, port);
}

struct ctx {
	struct autodiscover *ad;
	struct web_req *req;
	const struct conf *conf;
	struct ad_query q;
	bool internal;
	enum ad_kind kind;
	char base[2][300]; /* [0] external, [1] internal: https://fqdn:port */
	char qs[AD_DOMAIN_MAX + 20]; /* "?originalDomain=<d>" or "" */
};

/* Base URL of the client's own access location. */
static const char *own_base(const struct ctx *c)
{
	return c->base[c->internal];
}

static int build_root(struct ad_doc *doc, const struct ctx *c)
{
	const char *b = own_base(c);
	int err = 0;

	err |= add_link(doc, NULL, "self", "%s" AD_BASE "%s", b, c->qs);
	err |= add_link(doc, "Domain", "domain", "%s" AD_BASE "/domain%s", b,
			c->qs);
	err |= add_link(doc, "User", "user", "%s" AD_BASE "/oauth/user%s", b,
			c->qs);
	err |= add_link(doc, "OAuth", NULL, "%s" AD_BASE "/oauth/user%s", b,
			c->qs);
	err |= add_link(doc, NULL, "xframe", "%s" XFRAME_PATH, b);
	return err;
}

/* Links to one access location's services (Domain and User). */
static int build_location(struct ad_doc *doc, const struct ctx *c, bool in)
{
	const char *b = c->base[in];
	int err = 0;

	err |= add_link(doc,
			in ? "Internal/Autodiscover" : "External/Autodiscover",
			in ? "internalAutodiscover" : "externalAutodiscover",
			"%s" AD_BASE, b);
	err |= add_link(doc, in ? "Internal/Mcx" : "External/Mcx",
			in ? "internalMcx" : "externalMcx", "%s" MCX_PATH, b);
	err |=
	    add_link(doc, in ? "Internal/Ucwa" : "External/Ucwa",
		     in ? "internalUcwa" : "externalUcwa", "%s" UCWA_PATH, b);
	err |= add_link(doc, in ? "Internal/XFrame" : "External/XFrame", NULL,
			"%s" XFRAME_PATH, b);
	return err;
}

static int build_domain(struct ad_doc *doc, const struct ctx *c)
{
	int err = 0;

	doc->access = true;
	err |= add_link(doc, NULL, "self", "%s" AD_BASE "/domain%s",
			own_base(c), c->qs);
	err |= build_location(doc, c, true);
	err |= build_location(doc, c, false);
	return err;
}

/* The user document for a signed-in user homed here. */
static int build_user(struct ad_doc *doc, const struct ctx *c)
{
	int err = 0;

	doc->access = true;
	err |= add_link(doc, "Self", "self", "%s" AD_BASE "/oauth/user%s",
			own_base(c), c->qs);
	err |= build_location(doc, c, true);
	err |= build_location(doc, c, false);
	/* "Ucwa" is the one 2013+ mobile clients follow: the URL of the
	 * access location the client came through. */
	err |=
	    add_link(doc, "Ucwa", "applications", "%s" UCWA_PATH, own_base(c));
	err |= add_link(doc, "XFrame", "xframe", "%s" XFRAME_PATH, own_base(c));
	return err;
}

/* Operator-defined links: JSON rel is the token lower-cased without '/'. */
static int add_custom(struct ad_doc *doc, const struct conf *conf)
{
	struct le *le;
	int err = 0;

	for (le = conf->links.head; le && !err; le = le->next) {
		const struct conf_link *cl = le->data;
		struct ad_link *l;
		size_t i, o = 0;

		err = add_link(doc, cl->token, NULL, "%s", cl->href);
		if (err)
			break;
		l = &doc->links[doc->n - 1];
		for (i = 0; cl->token[i] && o < sizeof(l->relbuf) - 1; i++) {
			if (cl->token[i] != '/')
				l->relbuf[o++] =
				    (char)tolower((unsigned char)cl->token[i]);
		}
		l->relbuf[o] = '\0';
		l->rel = l->relbuf;
	}
	return err;
}

static int encode_json(struct mbuf *mb, const struct ad_doc *doc)
{
	struct repr *r = NULL;
	size_t i;
	int err;

	err = repr_alloc(&r, NULL, NULL);
	for (i = 0; i < doc->n && !err; i++) {
		if (doc->links[i].rel)
			err =
			    repr_link(r, doc->links[i].rel, doc->links[i].href);
	}
	if (!err)
		err = repr_encode(mb, r, REPR_JSON, NULL);
	mem_deref(r);
	return err;
}

static int xml_access(struct xmlw *w, const char *name,
		      const struct conf_access *a)
{
	int err;

	if (!a->fqdn)
		return 0;
	err = xmlw_start(w, name);
	err |= xmlw_attr(w, "fqdn", a->fqdn);
	err |= xmlw_attr_u32(w, "port", a->port);
	err |= xmlw_end(w);
	return err;
}

static int encode_xml(struct mbuf *mb, const struct ad_doc *doc,
		      const struct conf *conf)
{
	static const char *const kinds[] = {"Root", "User", "Domain"};
	struct xmlw w;
	size_t i;
	int err;

	xmlw_init(&w, mb);
	err = xmlw_start(&w, "AutodiscoverResponse");
	err |= xmlw_attr(&w, "AccessLocation",
			 doc->internal ? "Internal" : "External");
	err |= xmlw_start(&w, kinds[doc->kind]);
	if (doc->access) {
		err |= xml_access(&w, "SipClientInternalAccess",
				  &conf->client_internal);
		err |= xml_access(&w, "SipClientExternalAccess",
				  &conf->client_external);
	}
	for (i = 0; i < doc->n && !err; i++) {
		if (!doc->links[i].token)
			continue;
		err |= xmlw_start(&w, "Link");
		err |= xmlw_attr(&w, "token", doc->links[i].token);
		err |= xmlw_attr(&w, "href", doc->links[i].href);
		err |= xmlw_end(&w);
	}
	err |= xmlw_end(&w);
	err |= xmlw_end(&w);
	return err;
}

static void send_doc(struct ctx *c, const struct ad_doc *doc)
{
	struct mbuf *mb = mbuf_alloc(2048);
	size_t choice = 0;
	int err;

	if (!mb) {
		web_reply_text(c->req, 503, NULL, "out of memory");
		return;
	}

	if (web_negotiate(c->req, offers, ARRAY_SIZE(offers), &choice)) {
		web_reply_text(c->req, 406, NULL,
			       "autodiscover answers in JSON "
			       "(application/json) or XML "
			       "(application/vnd.microsoft.rtc.autodiscover"
			       "+xml)");
		goto out;
	}

	if (choice >= 2)
		err = encode_xml(mb, doc, c->conf);
	else
		err = encode_json(mb, doc);

	if (err) {
		log_warn("autodiscover: encoding failed: %m", err);
		web_reply_text(c->req, 500, NULL,
			       "could not encode the document");
		goto out;
	}

	web_reply(c->req, 200, NULL, ctypes[choice], mb->buf, mb->end,
		  "Vary: Accept\r\n");
out:
	mem_deref(mb);
}

/* Plain http: a document of the same kind whose only link is the https
 * form of the same URL (MS-OCDISCWS 3.1.5.2). */
static void send_https_redirect(struct ctx *c)
{
	struct ad_doc doc;
	const struct pl *host = web_req_host(c->req);
	const struct pl *path = web_req_path(c->req);
	const struct pl *query = web_req_query(c->req);
	uint16_t port = c->internal ? c->conf->internal_web_port
				    : c->conf->external_web_port;
	char portbuf[8] = "";

	memset(&doc, 0, sizeof(doc));
	doc.kind = c->kind;
	doc.internal = c->internal;
	if (port != 443)
		(void)re_snprintf(portbuf, sizeof(portbuf), ":%u", port);
	if (add_link(&doc, "Redirect", "redirect", "https://%r%s%r%s%r", host,
		     portbuf, path, query->l ? "?" : "", query)) {
		web_reply_text(c->req, 414, NULL,
			       "request URL too long to redirect");
		return;
	}
	send_doc(c, &doc);
}

/* Domain served by another pool: only a Redirect link, to its root. */
static void send_pool_redirect(struct ctx *c, const struct conf_redirect *r)
{
	struct ad_doc doc;
	const char *sep = strchr(r->href, '?') ? "&" : "?";

	memset(&doc, 0, sizeof(doc));
	doc.kind = c->kind;
	doc.internal = c->internal;
	(void)add_link(&doc, "Redirect", "redirect", "%s%soriginalDomain=%s",
		       r->href, sep, c->q.domain);
	send_doc(c, &doc);
}

static void send_user_challenge(struct ctx *c)
{
	static const char body[] = "sign in at the token service\n";

	/* MsRtcOAuth challenge pointing at the token service of this
	 * access location; only the password grant is offered because it
	 * is the only one the token service accepts. */
	web_reply(c->req, 401, NULL, "text/plain; charset=utf-8",
		  (const uint8_t *)body, sizeof(body) - 1,
		  "WWW-Authenticate: MsRtcOAuth href=\"%s" TOKEN_PATH
		  "\",grant_type=\"password\"\r\n",
		  own_base(c));
}

/* A built document with the operator's links, or 500 if it did not fit. */
static void send_built(struct ctx *c, struct ad_doc *doc, int err)
{
	if (!err)
		err = add_custom(doc, c->conf);
	if (!err)
		send_doc(c, doc);
	else
		web_reply_text(c->req, 500, NULL,
			       "autodiscover document too large");
}

/* The user document for a signed-in user homed here. */
static void send_user(struct ctx *c)
{
	struct ad_doc doc;

	memset(&doc, 0, sizeof(doc));
	doc.kind = c->kind;
	doc.internal = c->internal;
	send_built(c, &doc, build_user(&doc, c));
}

/* A request for the user resource while its token is checked. */
struct uwait {
	struct le le; /* in ad->waits */
	struct ctx c; /* c.req: a reference */
	void *chk;
	struct tmr tmr; /* frees it once the check's stack unwound */
	bool in_call;   /* inside ad->authh */
	bool done;
};

static void uwait_destructor(void *arg)
{
	struct uwait *w = arg;

	list_unlink(&w->le);
	tmr_cancel(&w->tmr);
	mem_deref(w->chk);
	web_req_set_cancel(w->c.req, NULL, NULL);
	mem_deref(w->c.req);
}

static void uwait_free(void *arg)
{
	mem_deref(arg);
}

static void uwait_cancel(struct web_req *req, void *arg)
{
	(void)req;
	/* the client left: the check is dropped with it */
	mem_deref(arg);
}

/*
 * The user resource (MS-OCDISCWS 3.1.5.3): 401 without a valid token; 404
 * with an empty body for a user with no home; a single Redirect for a user
 * homed on another pool; else the full user document.
 */
static void user_checked(int err, enum ad_user_status st, const char *redirect,
			 void *arg)
{
	struct uwait *w = arg;
	struct ctx *c = &w->c;
	struct ad_doc doc;

	w->done = true;
	web_req_set_cancel(c->req, NULL, NULL);
	if (err) {
		send_user_challenge(c);
	} else if (st == AD_USER_HERE) {
		send_user(c);
	} else if (st == AD_USER_ELSEWHERE) {
		memset(&doc, 0, sizeof(doc));
		doc.kind = c->kind;
		doc.internal = c->internal;
		(void)add_link(&doc, "Redirect", "redirect", "%s",
			       redirect ? redirect : "");
		send_doc(c, &doc);
	} else {
		web_reply(c->req, 404, NULL, NULL, NULL, 0, NULL);
	}
	if (!w->in_call)
		tmr_start(&w->tmr, 0, uwait_free, w);
}

static void user_resource(struct autodiscover *ad, struct ctx *c)
{
	struct uwait *w;
	struct pl authz;
	int err;

	if (!ad->authh || !web_req_header(c->req, "Authorization", &authz)) {
		send_user_challenge(c);
		return;
	}
	w = mem_zalloc(sizeof(*w), uwait_destructor);
	if (!w) {
		web_reply_text(c->req, 503, NULL, "out of memory");
		return;
	}
	w->c = *c;
	w->c.req = mem_ref(c->req);
	web_req_set_cancel(w->c.req, uwait_cancel, w);
	list_append(&ad->waits, &w->le, w);

	w->in_call = true;
	err = ad->authh(&w->chk, &authz, user_checked, w, ad->auth_arg);
	w->in_call = false;
	if (err) {
		send_user_challenge(c);
		mem_deref(w);
	} else if (w->done) {
		mem_deref(w);
	}
}

void autodiscover_set_auth(struct autodiscover *ad, ad_auth_h *h, void *arg)
{
	if (!ad)
		return;
	ad->authh = h;
	ad->auth_arg = arg;
}

/* A request on its way to a resource: the arg of the route handlers. */
struct hit {
	struct autodiscover *ad;
	bool on_ldi;    /* asked of lyncdiscoverinternal.<domain> */
	struct pl hdom; /* <domain> of lyncdiscover[internal].<domain> */
};

static void serve(struct hit *h, struct web_req *req, enum ad_kind kind);

static void on_root(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	(void)prm;
	serve(arg, req, AD_ROOT);
}

static void on_user(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	(void)prm;
	serve(arg, req, AD_USER);
}

static void on_domain(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	(void)prm;
	serve(arg, req, AD_DOMAIN);
}

/* Paths are case-insensitive, as IIS treats them; GET and HEAD only. */
static const struct web_route rows[] = {
    {AD_PATH, WEB_GET | WEB_HEAD, on_root},
    {AD_PATH "/oauth/user", WEB_GET | WEB_HEAD, on_user},
    {AD_PATH "/user", WEB_GET | WEB_HEAD, on_user},
    {AD_PATH "/domain", WEB_GET | WEB_HEAD, on_domain},
};

static const struct web_routes routes = {rows, ARRAY_SIZE(rows), true, NULL};

bool autodiscover_handle(struct autodiscover *ad, struct web_req *req)
{
	const struct pl *host = web_req_host(req);
	const struct pl *path = web_req_path(req);
	struct hit h = {ad, false, PL_INIT};
	struct pl base = PL(AD_BASE);
	bool on_ld;

	on_ld = host_is(ad->conf, host, "lyncdiscover", &h.hdom);
	h.on_ldi =
	    !on_ld && host_is(ad->conf, host, "lyncdiscoverinternal", &h.hdom);
	/* the root of the lyncdiscover names is the service's root */
	if ((on_ld || h.on_ldi) && !pl_strcmp(path, "/"))
		path = &base;
	return web_route(&routes, req, path, &h);
}

static void serve(struct hit *h, struct web_req *req, enum ad_kind kind)
{
	struct autodiscover *ad = h->ad;
	const struct pl *host = web_req_host(req);
	const struct pl hdom = h->hdom;
	struct ctx c;
	struct ad_doc doc;
	const struct conf_redirect *redir;
	const char *why;
	int err;

	memset(&c, 0, sizeof(c));
	c.ad = ad;
	c.req = req;
	c.conf = ad->conf;
	c.kind = kind;

	/* Access location by the host asked: the internal names are the
	 * internal web FQDN and lyncdiscoverinternal.<domain>. */
	c.internal =
	    h->on_ldi || !pl_strcasecmp(host, c.conf->internal_web_fqdn);

	err = ad_query_parse(&c.q, web_req_query(req), &why);
	if (err) {
		web_reply_text(req, 400, NULL, why);
		return;
	}
	if (!c.q.domain[0] && hdom.l) {
		size_t i;
		for (i = 0; i < hdom.l && i < AD_DOMAIN_MAX; i++)
			c.q.domain[i] = (char)tolower((unsigned char)hdom.p[i]);
		c.q.domain[i] = '\0';
	}
	base_url(c.base[0], sizeof(c.base[0]), c.conf, false);
	base_url(c.base[1], sizeof(c.base[1]), c.conf, true);
	/* a validated DNS name needs no percent-encoding */
	if (c.q.domain[0])
		(void)re_snprintf(c.qs, sizeof(c.qs), "?originalDomain=%s",
				  c.q.domain);

	if (!web_req_is_tls(req)) {
		send_https_redirect(&c);
		return;
	}

	if (c.q.domain[0]) {
		struct pl d;
		pl_set_str(&d, c.q.domain);
		redir = conf_redirect_find(c.conf, &d);
		if (redir) {
			send_pool_redirect(&c, redir);
			return;
		}
		if (!conf_serves_domain(c.conf, &d)) {
			web_reply_text(req, 404, NULL,
				       "this service does not serve that "
				       "SIP domain");
			return;
		}
	}

	memset(&doc, 0, sizeof(doc));
	doc.kind = c.kind;
	doc.internal = c.internal;

	switch (c.kind) {

	case AD_ROOT:
		err = build_root(&doc, &c);
		break;

	case AD_DOMAIN:
		err = build_domain(&doc, &c);
		break;

	case AD_USER:
		/* answered when its token is checked */
		user_resource(ad, &c);
		return;
	}

	send_built(&c, &doc, err);
}
