/**
 * @file test_route.c  Route tables: patterns, parameters, 404 and 405
 */
#include <string.h>
#include <re.h>
#include "web.h"
#include "web_route.h"
#include "check.h"

static void h(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)req;
	(void)prm;
	(void)arg;
}

static const struct web_route rows[] = {
    {"", WEB_POST, h},
    {"{app}", WEB_GET | WEB_DELETE, h},
    {"{app}/me", WEB_GET, h},
    {"{app}/me/presence", WEB_GET | WEB_POST, h},
    {"{app}/people/contacts/{uri}", WEB_GET, h},
    {"{app}/people/contacts/{uri}", WEB_DELETE, h},
    {"{app}/people/contacts/{uri}/{what}", WEB_GET, h},
    {"{app}/communication/{rest*}", WEB_ANY, h},
};

static const struct web_routes table = {rows, ARRAY_SIZE(rows), false, NULL};

/* The index of the row found for a method and a path; -1 for none. */
static int find(const struct web_routes *rt, const char *method,
		const char *path, struct web_params *prm, unsigned *allow)
{
	struct pl m, p;
	const struct web_route *r;

	pl_set_str(&m, method);
	pl_set_str(&p, path);
	r = web_route_find(rt, web_method_bit(&m), &p, prm, allow);
	return r ? (int)(r - rt->v) : -1;
}

static bool param_is(const struct web_params *prm, const char *name,
		     const char *want)
{
	const struct pl *v = web_param(prm, name);
	return v && !pl_strcmp(v, want);
}

static void test_match(void)
{
	struct web_params prm;
	unsigned allow;

	CHECK(find(&table, "POST", "", &prm, &allow) == 0);
	CHECK(find(&table, "POST", "/", &prm, &allow) == 0);
	CHECK(find(&table, "GET", "/a1", &prm, &allow) == 1);
	CHECK(param_is(&prm, "app", "a1"));
	CHECK(find(&table, "GET", "/a1/", &prm, &allow) == 1);
	CHECK(find(&table, "GET", "/a1/me", &prm, &allow) == 2);
	CHECK(find(&table, "POST", "/a1/me/presence", &prm, &allow) == 3);
	CHECK(param_is(&prm, "app", "a1"));

	/* rows sharing a pattern: the method chooses */
	CHECK(find(&table, "GET", "/a/people/contacts/sip%3Ab%40x", &prm,
		   &allow) == 4);
	CHECK(param_is(&prm, "uri", "sip%3Ab%40x"));
	CHECK(find(&table, "DELETE", "/a/people/contacts/u", &prm, &allow) ==
	      5);
	CHECK(find(&table, "GET", "/a/people/contacts/u/presence", &prm,
		   &allow) == 6);
	CHECK(param_is(&prm, "uri", "u") && param_is(&prm, "what", "presence"));
	CHECK(!web_param(&prm, "app2"));

	/* the rest of the path, empty or with slashes */
	CHECK(find(&table, "PUT", "/a/communication", &prm, &allow) == 7);
	CHECK(param_is(&prm, "rest", "") && param_is(&prm, "app", "a"));
	CHECK(find(&table, "GET", "/a/communication/conversations/1/x", &prm,
		   &allow) == 7);
	CHECK(param_is(&prm, "rest", "conversations/1/x"));
}

static void test_not_found(void)
{
	struct web_params prm;
	unsigned allow;

	CHECK(find(&table, "GET", "/a/mee", &prm, &allow) == -1 && !allow);
	CHECK(find(&table, "GET", "/a/me/presence/x", &prm, &allow) == -1 &&
	      !allow);
	/* a parameter is never empty */
	CHECK(find(&table, "GET", "/a/people/contacts//presence", &prm,
		   &allow) == -1);
	/* literals are case-sensitive unless the table says otherwise */
	CHECK(find(&table, "GET", "/a/ME", &prm, &allow) == -1 && !allow);
	CHECK(find(&table, "GET", "/a/communicationx", &prm, &allow) == -1);
}

static void test_not_allowed(void)
{
	struct web_params prm;
	unsigned allow;
	char buf[WEB_ALLOW_MAX];

	CHECK(find(&table, "GET", "", &prm, &allow) == -1 && allow == WEB_POST);
	CHECK(find(&table, "PUT", "/a", &prm, &allow) == -1);
	CHECK(0 == web_allow_print(buf, sizeof(buf), allow));
	CHECK_STR(buf, "GET, DELETE");
	/* every row of the pattern counts */
	CHECK(find(&table, "POST", "/a/people/contacts/u", &prm, &allow) == -1);
	CHECK(0 == web_allow_print(buf, sizeof(buf), allow));
	CHECK_STR(buf, "GET, DELETE");
	/* a method we do not know is allowed nowhere */
	CHECK(find(&table, "BREW", "/a/me", &prm, &allow) == -1 &&
	      allow == WEB_GET);

	CHECK(0 == web_allow_print(buf, sizeof(buf), WEB_ANY));
	CHECK_STR(buf, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	CHECK(ENOMEM == web_allow_print(buf, 8, WEB_GET | WEB_POST));
	CHECK_STR(buf, "");
}

static void test_nocase(void)
{
	static const struct web_route ad[] = {
	    {"Autodiscover/AutodiscoverService.svc/root/user", WEB_GET, h},
	};
	static const struct web_routes t = {ad, 1, true, NULL};
	struct web_params prm;
	unsigned allow;

	CHECK(find(&t, "GET", "/autodiscover/autodiscoverservice.svc/ROOT/user",
		   &prm, &allow) == 0);
}

int main(void)
{
	test_match();
	test_not_found();
	test_not_allowed();
	test_nocase();
	return check_done("test_route");
}
