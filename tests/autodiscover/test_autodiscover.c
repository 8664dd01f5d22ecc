/**
 * @file test_autodiscover.c  Autodiscover query parsing
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "autodiscover.h"
#include "check.h"
#include "client.h"

static int parse(const char *s, struct ad_query *q, const char **why)
{
	struct pl pl;
	pl_set_str(&pl, s);
	return ad_query_parse(q, &pl, why);
}

static const char *domain_of(const char *s)
{
	static struct ad_query q;
	const char *why;
	if (parse(s, &q, &why))
		return "(error)";
	return q.domain;
}

static void test_valid(void)
{
	CHECK_STR(domain_of(""), "");
	CHECK_STR(domain_of("sipuri=sip:alice@example.test"), "example.test");
	CHECK_STR(domain_of("sipuri=sip%3Aalice%40Example.TEST"),
		  "example.test");
	CHECK_STR(domain_of("SIPURI=alice@example.test"), "example.test");
	CHECK_STR(domain_of("sipuri=%3Csip%3Aalice%40example.test%3E"),
		  "example.test");
	CHECK_STR(domain_of("sipuri=sip:alice@example.test;transport=tls"),
		  "example.test");
	CHECK_STR(domain_of("originalDomain=example.org"), "example.org");
	CHECK_STR(domain_of("originaldomain=Example.Org"), "example.org");
	/* the user's own domain wins over the one typed in */
	CHECK_STR(domain_of("originalDomain=a.test&sipuri=sip:x@b.test"),
		  "b.test");
	CHECK_STR(domain_of("sipuri=sip:x@b.test&originalDomain=a.test"),
		  "b.test");
	CHECK_STR(domain_of("foo=bar&originalDomain=a.test&x"), "a.test");
	CHECK_STR(domain_of("&&originalDomain=a.test&&"), "a.test");
	CHECK_STR(domain_of("a&&b&=&"), "");
}

static void test_invalid(void)
{
	struct ad_query q;
	const char *why = NULL;
	char big[AD_QUERY_MAX + 64];

	CHECK(EINVAL == parse("sipuri=alice", &q, &why) && why);
	CHECK(EINVAL == parse("sipuri=sip:@example.test", &q, &why));
	CHECK(EINVAL == parse("sipuri=sip:a@exa_mple.test", &q, &why));
	CHECK(EINVAL == parse("sipuri=sip:a@-example.test", &q, &why));
	CHECK(EINVAL == parse("sipuri=sip:a@example..test", &q, &why));
	CHECK(EINVAL == parse("sipuri=sip%3", &q, &why));
	CHECK(EINVAL == parse("sipuri=sip%ZZa@b.c", &q, &why));
	CHECK(EINVAL == parse("sipuri=a%00@b.c", &q, &why));
	CHECK(EINVAL == parse("originalDomain=", &q, &why));
	CHECK(EINVAL == parse("originalDomain=a%20b.test", &q, &why));
	CHECK(EINVAL == parse("originalDomain=<script>", &q, &why) && why);

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "originalDomain=", 15);
	CHECK(EINVAL == parse(big, &q, &why));
	CHECK(why && strstr(why, "too long"));

	/* a 64-character label is one too many (RFC 1035 2.3.4) */
	CHECK(EINVAL == parse("originalDomain=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
			      &q, &why));
	CHECK(0 == parse("originalDomain=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
			 &q, &why));
}

/*
 * The signed-in user resource, served live over TLS with a token check
 * standing in for the token service (which comes with sign-in): the user
 * document, the redirect for a user homed elsewhere, 404 for no home.
 */

static int stderr_print(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stderr) == size ? 0 : EIO;
}

static uint16_t tls_port;
static char ru[8192], rr[4096], rn[4096], r401[4096], rj[4096];
static int su, sr, sn, s401, sj;

static char rl[8192], rlb[4096];
static int sl, slb;
static unsigned checks_freed;

/* A check that answers later (as one reading the store does). */
struct later {
	struct tmr tmr;
	bool ok;
	ad_auth_done_h *doneh;
	void *arg;
};

static void later_destructor(void *arg)
{
	struct later *l = arg;

	tmr_cancel(&l->tmr);
	++checks_freed;
}

static void later_fire(void *arg)
{
	struct later *l = arg;

	l->doneh(l->ok ? 0 : EACCES, AD_USER_HERE, NULL, l->arg);
}

static int auth_check(void **chkp, const struct pl *authz,
		      ad_auth_done_h *doneh, void *done_arg, void *arg)
{
	(void)arg;
	*chkp = NULL;
	if (!pl_strcmp(authz, "Bearer cwt=here"))
		doneh(0, AD_USER_HERE, NULL, done_arg);
	else if (!pl_strcmp(authz, "Bearer cwt=away"))
		doneh(0, AD_USER_ELSEWHERE,
		      "https://pool2.example.test/"
		      "Autodiscover/AutodiscoverService"
		      ".svc/root/oauth/user",
		      done_arg);
	else if (!pl_strcmp(authz, "Bearer cwt=nohome"))
		doneh(0, AD_USER_UNKNOWN, NULL, done_arg);
	else if (!pl_strcmp(authz, "Bearer cwt=later") ||
		 !pl_strcmp(authz, "Bearer cwt=laterbad")) {
		struct later *l = mem_zalloc(sizeof(*l), later_destructor);
		if (!l)
			return ENOMEM;
		l->ok = !pl_strcmp(authz, "Bearer cwt=later");
		l->doneh = doneh;
		l->arg = done_arg;
		tmr_start(&l->tmr, 20, later_fire, l);
		*chkp = l;
	} else
		return EPERM;
	return 0;
}

static struct autodiscover *ad_live;

static void live_handler(struct web_req *req, void *arg)
{
	(void)arg;
	if (!autodiscover_handle(ad_live, req))
		web_reply_text(req, 404, "Not Found", "no");
}

static int get(const char *authz, const char *accept, char *buf, size_t n)
{
	struct client c;
	char req[512];
	int st;

	if (client_connect(&c, tls_port, true, "lyncdiscover.example.test"))
		return -1;
	snprintf(req, sizeof(req),
		 "GET /Autodiscover/AutodiscoverService.svc/root/oauth/user"
		 "?originalDomain=example.test HTTP/1.1\r\n"
		 "Host: lyncdiscover.example.test\r\n"
		 "Authorization: %s\r\nAccept: %s\r\n\r\n",
		 authz, accept);
	client_send(&c, req);
	st = client_response(&c, buf, n);
	client_close(&c);
	return st;
}

static void user_client(void)
{
	const char *xml = "application/vnd.microsoft.rtc.autodiscover+xml;v=1";

	su = get("Bearer cwt=here", xml, ru, sizeof(ru));
	sj = get("Bearer cwt=here", "application/json", rj, sizeof(rj));
	sr = get("Bearer cwt=away", xml, rr, sizeof(rr));
	sn = get("Bearer cwt=nohome", xml, rn, sizeof(rn));
	/* answered later: the document, or 401 (before the last request,
	 * so that their handles are freed while it is served) */
	sl = get("Bearer cwt=later", xml, rl, sizeof(rl));
	slb = get("Bearer cwt=laterbad", xml, rlb, sizeof(rlb));
	s401 = get("Bearer cwt=forged", xml, r401, sizeof(r401));
}

static void test_user_resource(void)
{
	char dir[] = "/tmp/mob-ad-XXXXXX", cmd[1024], confbuf[2048];
	const char *src = getenv("MOBILITY_SRC");
	struct conf *conf = NULL;
	struct web_srv *srv = NULL;
	struct web_tls *tls = NULL;
	struct wheel *w = NULL;
	struct sa laddr;
	int err, n;

	if (!src || !mkdtemp(dir)) {
		CHECK(!"MOBILITY_SRC set and temp dir");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "'%s/deploy/certs.sh' leaf %s web mobility.example.test "
		 "mobility-int.example.test lyncdiscover.example.test "
		 "lyncdiscoverinternal.example.test >/dev/null",
		 src, dir);
	CHECK(system(cmd) == 0);

	n = snprintf(confbuf, sizeof(confbuf),
		     "[service]\nsip_domain = example.test\n"
		     "internal_web_fqdn = mobility-int.example.test\n"
		     "external_web_fqdn = mobility.example.test\n"
		     "[http]\nlisten_tls = 127.0.0.1:8443\n"
		     "certificate = %s/web.pem %s/web.key\n"
		     "[frontend]\naddress = 127.0.0.1:5061\n"
		     "tls_server_name = fe.example.test\n"
		     "ca_file = %s/ca.pem\n"
		     "client_internal_access = fe.example.test:5061\n"
		     "[sip]\ninternal_listen = 127.0.0.1:5086\n"
		     "certificate = %s/web.pem %s/web.key\n",
		     dir, dir, dir, dir, dir);
	{
		static struct re_printf pf = {stderr_print, NULL};
		err = conf_parse(&conf, "live.conf", confbuf, (size_t)n, &pf);
	}
	CHECK(err == 0);
	if (err)
		return;

	err = autodiscover_alloc(&ad_live, conf);
	autodiscover_set_auth(ad_live, auth_check, NULL);
	err |= wheel_alloc(&w, 10, 256, true);
	err |= web_tls_alloc(&tls);
	snprintf(cmd, sizeof(cmd), "%s/web.pem", dir);
	snprintf(confbuf, sizeof(confbuf), "%s/web.key", dir);
	err |= web_tls_add_cert(tls, cmd, confbuf);
	err |= web_srv_alloc(&srv, w, &conf->limits, "t", live_handler, NULL);
	sa_set_str(&laddr, "127.0.0.1", 0);
	err |= web_srv_listen(srv, &laddr, tls);
	CHECK(err == 0);
	tls_port = web_srv_port(srv, 0);

	client_run(user_client);

	/* the full user document (XML), links of the external location
	 * (443 is left out of the URLs) */
	CHECK(su == 200);
	CHECK(strstr(ru, "<AutodiscoverResponse AccessLocation=\"External\">"
			 "<User>") != NULL);
	CHECK(strstr(ru, "<SipClientInternalAccess fqdn=\"fe.example.test\" "
			 "port=\"5061\"/>") != NULL);
	CHECK(strstr(ru,
		     "<Link token=\"Ucwa\" href=\"https://"
		     "mobility.example.test/ucwa/oauth/v1/applications\"/>") !=
	      NULL);
	CHECK(strstr(ru,
		     "token=\"Internal/Ucwa\" href=\"https://"
		     "mobility-int.example.test/ucwa/oauth/v1/applications") !=
	      NULL);
	CHECK(strstr(ru, "token=\"Internal/Mcx\"") != NULL);
	CHECK(strstr(ru, "token=\"External/Mcx\"") != NULL);
	CHECK(strstr(ru, "token=\"XFrame\"") != NULL);
	CHECK(strstr(ru,
		     "<Link token=\"Self\" href=\"https://"
		     "mobility.example.test/Autodiscover/AutodiscoverService"
		     ".svc/root/oauth/user?originalDomain=example.test\"/>") !=
	      NULL);
	/* JSON: self, applications, xframe */
	CHECK(sj == 200);
	CHECK(strstr(rj,
		     "\"applications\":{\"href\":\"https://"
		     "mobility.example.test/ucwa/oauth/v1/applications\"}") !=
	      NULL);
	CHECK(strstr(rj, "\"xframe\"") && strstr(rj, "\"self\""));
	/* homed elsewhere: a single Redirect */
	CHECK(sr == 200);
	CHECK(strstr(rr, "<User><Link token=\"Redirect\" href=\"https://"
			 "pool2.example.test/") != NULL);
	CHECK(strstr(rr, "token=\"Ucwa\"") == NULL);
	/* no home: 404 with an empty body */
	CHECK(sn == 404 && strstr(rn, "Content-Length: 0\r\n"));
	/* a token the check refuses: 401 with the challenge */
	CHECK(s401 == 401 && strstr(r401, "WWW-Authenticate: MsRtcOAuth"));
	/* checks that answer later: the same answers; their handles freed */
	CHECK(sl == 200 && strstr(rl, "token=\"Ucwa\""));
	CHECK(slb == 401 && strstr(rlb, "WWW-Authenticate: MsRtcOAuth"));
	CHECK(checks_freed == 2);

	mem_deref(srv);
	mem_deref(tls);
	mem_deref(w);
	ad_live = mem_deref(ad_live);
	mem_deref(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

int main(void)
{
	libre_init();
	test_valid();
	test_invalid();
	test_user_resource();
	metrics_close();
	libre_close();
	return check_done("test_autodiscover");
}
