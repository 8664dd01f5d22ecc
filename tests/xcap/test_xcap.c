/**
 * @file test_xcap.c  Unit tests of src/xcap: resource-lists and pres-rules
 *                    models (parse, write, round trips, changes), limits,
 *                    DTD and entity refusal
 */
#include <errno.h>
#include <stdlib.h>
#include <re.h>
#include "check.h"
#include "xcap.h"

static struct pl plc(const char *s)
{
	struct pl pl;

	pl_set_str(&pl, s);
	return pl;
}

/* Write the model and parse it again: same text after a second write. */
static void rlist_round_trip(const struct xcap_rlist *rl)
{
	struct mbuf *a = mbuf_alloc(512), *b = mbuf_alloc(512);
	struct xcap_rlist *again = NULL;
	struct pl doc;

	CHECK(a && b);
	if (!a || !b)
		goto out;
	CHECK(0 == xcap_rlist_write(a, rl));
	pl_set_mbuf(&doc, a);
	doc.p = (const char *)a->buf;
	doc.l = a->end;
	CHECK(0 == xcap_rlist_parse(&again, &doc, NULL));
	if (!again)
		goto out;
	CHECK(!again->foreign);
	CHECK(again->nentries == rl->nentries);
	CHECK(0 == xcap_rlist_write(b, again));
	CHECK(a->end == b->end && !memcmp(a->buf, b->buf, a->end));
out:
	mem_deref(again);
	mem_deref(a);
	mem_deref(b);
}

static void test_rlist_parse(void)
{
	const char *doc =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<rl:resource-lists "
	    "xmlns:rl=\"urn:ietf:params:xml:ns:resource-lists\">\n"
	    " <rl:list name=\"Friends\">\n"
	    "  <rl:display-name>My &amp; friends</rl:display-name>\n"
	    "  <rl:entry uri=\"sip:bob@example.test\">\n"
	    "   <rl:display-name> Bob </rl:display-name>\n"
	    "  </rl:entry>\n"
	    "  <rl:entry uri=\"sip:carol@example.test\"/>\n"
	    " </rl:list>\n"
	    " <rl:list name=\"Work\"/>\n"
	    "</rl:resource-lists>\n";
	struct pl pl = plc(doc);
	struct xcap_rlist *rl = NULL;
	struct xcap_group *g;
	struct xcap_entry *e;
	const char *why = NULL;

	CHECK(0 == xcap_rlist_parse(&rl, &pl, &why));
	if (!rl)
		return;
	CHECK(!rl->foreign);
	CHECK(rl->nentries == 2);
	CHECK(list_count(&rl->groups) == 2);

	g = xcap_rlist_group(rl, "Friends");
	CHECK(g != NULL);
	if (g) {
		CHECK_STR(g->display, "My & friends");
		CHECK(list_count(&g->entries) == 2);
		e = list_ledata(list_head(&g->entries));
		CHECK_STR(e->uri, "sip:bob@example.test");
		CHECK_STR(e->name, "Bob");
		e = list_ledata(list_tail(&g->entries));
		CHECK_STR(e->uri, "sip:carol@example.test");
		CHECK(e->name == NULL);
	}
	g = xcap_rlist_group(rl, "Work");
	CHECK(g && list_count(&g->entries) == 0);
	CHECK(xcap_rlist_group(rl, "work") == NULL);

	rlist_round_trip(rl);
	mem_deref(rl);
}

static void test_rlist_changes(void)
{
	struct xcap_rlist *rl = NULL;
	struct mbuf *mb = mbuf_alloc(512);
	struct xcap_group *g;
	char *s = NULL;

	CHECK(0 == xcap_rlist_alloc(&rl));
	if (!rl || !mb)
		goto out;

	CHECK(0 == xcap_rlist_add(rl, "Friends", "sip:bob@example.test",
				  "Bob <B&B> \"x\""));
	CHECK(0 == xcap_rlist_add(rl, "Work", "sip:bob@example.test", NULL));
	CHECK(0 == xcap_rlist_add(rl, "Work", "sip:carol@example.test", "C"));
	/* the same entry again: renamed, not doubled */
	CHECK(0 == xcap_rlist_add(rl, "Work", "sip:carol@example.test", "Cc"));
	CHECK(rl->nentries == 3);
	CHECK(list_count(&rl->groups) == 2);

	/* written by the escaping writer */
	CHECK(0 == xcap_rlist_write(mb, rl));
	mb->pos = 0;
	CHECK(0 == mbuf_strdup(mb, &s, mb->end));
	CHECK(s && strstr(s, "<resource-lists xmlns=\"urn:ietf:params:xml:"
			     "ns:resource-lists\">"));
	CHECK(s && strstr(s, "<display-name>Bob &lt;B&amp;B&gt; &quot;x&quot;"
			     "</display-name>"));
	CHECK(s && strstr(s, "<list name=\"Work\"><entry uri=\"sip:bob@"
			     "example.test\"/>"));
	rlist_round_trip(rl);

	/* remove from one group, then from all */
	CHECK(0 == xcap_rlist_remove(rl, "Work", "sip:bob@example.test"));
	CHECK(rl->nentries == 2);
	CHECK(ENOENT == xcap_rlist_remove(rl, "Work", "sip:bob@example.test"));
	CHECK(0 == xcap_rlist_add(rl, "Work", "sip:bob@example.test", NULL));
	CHECK(0 == xcap_rlist_remove(rl, NULL, "sip:bob@example.test"));
	CHECK(rl->nentries == 1);
	CHECK(ENOENT == xcap_rlist_remove(rl, NULL, "sip:bob@example.test"));
	g = xcap_rlist_group(rl, "Friends");
	CHECK(g && list_count(&g->entries) == 0); /* the group stays */

	/* arguments */
	CHECK(EINVAL == xcap_rlist_add(rl, "", "sip:x@y", NULL));
	CHECK(EINVAL == xcap_rlist_add(rl, "G", "", NULL));
out:
	mem_deref(s);
	mem_deref(mb);
	mem_deref(rl);
}

static void test_rlist_limits(void)
{
	struct xcap_rlist *rl = NULL;
	struct mbuf *mb = mbuf_alloc(4096);
	const char *why = NULL;
	char name[32], uri[64];
	struct pl pl;
	unsigned i;
	int err;

	CHECK(0 == xcap_rlist_alloc(&rl));
	if (!rl || !mb)
		goto out;

	/* groups */
	for (i = 0; i < XCAP_MAX_GROUPS; i++) {
		re_snprintf(name, sizeof(name), "g%u", i);
		CHECK(0 == xcap_rlist_add(rl, name, "sip:a@b", NULL));
	}
	CHECK(EOVERFLOW == xcap_rlist_add(rl, "one-more", "sip:a@b", NULL));

	/* entries over all groups */
	for (i = rl->nentries; i < XCAP_MAX_ENTRIES; i++) {
		re_snprintf(uri, sizeof(uri), "sip:u%u@b", i);
		err = xcap_rlist_add(rl, "g0", uri, NULL);
		if (err)
			break;
	}
	CHECK(rl->nentries == XCAP_MAX_ENTRIES);
	CHECK(EOVERFLOW == xcap_rlist_add(rl, "g1", "sip:new@b", NULL));

	/* a document over the entry limit is refused on reading */
	CHECK(0 == xcap_rlist_write(mb, rl));
	rl = mem_deref(rl);
	CHECK(0 == mbuf_write_str(mb, "")); /* still well-formed */
	{
		/* add one entry to the written text by hand */
		const char *extra = "<entry uri=\"sip:extra@b\"/></list>";
		char *s = NULL, *p;
		struct mbuf *mb2 = mbuf_alloc(mb->end + 64);

		mb->pos = 0;
		CHECK(0 == mbuf_strdup(mb, &s, mb->end));
		p = s ? strstr(s, "</list>") : NULL;
		CHECK(p != NULL);
		if (p && mb2) {
			mbuf_write_mem(mb2, (uint8_t *)s, p - s);
			mbuf_write_str(mb2, extra);
			mbuf_write_str(mb2, p + strlen("</list>"));
			pl.p = (const char *)mb2->buf;
			pl.l = mb2->end;
			CHECK(EOVERFLOW == xcap_rlist_parse(&rl, &pl, &why));
			CHECK(rl == NULL);
			CHECK_STR(why, "too many groups or entries");
		}
		mem_deref(s);
		mem_deref(mb2);
	}

	/* depth */
	mbuf_rewind(mb);
	mbuf_write_str(mb, "<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
			   "resource-lists\">");
	for (i = 0; i < XCAP_MAX_DEPTH; i++)
		mbuf_write_str(mb, "<list name=\"x\">");
	for (i = 0; i < XCAP_MAX_DEPTH; i++)
		mbuf_write_str(mb, "</list>");
	mbuf_write_str(mb, "</resource-lists>");
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(EOVERFLOW == xcap_rlist_parse(&rl, &pl, &why));
	CHECK_STR(why, "XML nested too deep");

	/* document bytes */
	pl.p = "<x/>";
	pl.l = XCAP_MAX_BODY + 1;
	CHECK(EMSGSIZE == xcap_rlist_parse(&rl, &pl, &why));

	/* a display name over XCAP_MAX_NAME */
	mbuf_rewind(mb);
	mbuf_write_str(mb, "<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
			   "resource-lists\"><list name=\"x\"><display-name>");
	for (i = 0; i <= XCAP_MAX_NAME; i++)
		mbuf_write_u8(mb, 'n');
	mbuf_write_str(mb, "</display-name></list></resource-lists>");
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(EMSGSIZE == xcap_rlist_parse(&rl, &pl, &why));
out:
	mem_deref(mb);
	mem_deref(rl);
}

static void test_refusals(void)
{
	static const char *const bad[] = {
	    /* billion laughs: the DTD stops the parse */
	    "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;\">]>"
	    "<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
	    "resource-lists\"><list name=\"&b;\"/></resource-lists>",
	    /* external entity */
	    "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	    "<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
	    "resource-lists\"><list name=\"&x;\"/></resource-lists>",
	    /* a DOCTYPE without internal subset */
	    "<!DOCTYPE resource-lists SYSTEM \"http://x/y.dtd\">"
	    "<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
	    "resource-lists\"/>",
	};
	struct xcap_rlist *rl = NULL;
	struct xcap_rules *rs = NULL;
	const char *why;
	struct pl pl;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		pl = plc(bad[i]);
		why = NULL;
		CHECK(EPROTO == xcap_rlist_parse(&rl, &pl, &why));
		CHECK_STR(why, "DTD refused (no entity declarations)");
		CHECK(EPROTO == xcap_rules_parse(&rs, &pl, &why));
	}
	CHECK(rl == NULL && rs == NULL);

	/* an undeclared entity is not well-formed */
	pl = plc("<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
		 "resource-lists\"><list name=\"&x;\"/></resource-lists>");
	CHECK(EPROTO == xcap_rlist_parse(&rl, &pl, &why));

	/* wrong root, broken XML, two lists of one name */
	pl = plc("<ruleset xmlns=\"urn:ietf:params:xml:ns:common-policy\"/>");
	CHECK(EPROTO == xcap_rlist_parse(&rl, &pl, &why));
	pl = plc("<resource-lists");
	CHECK(EPROTO == xcap_rlist_parse(&rl, &pl, &why));
	pl = plc("<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
		 "resource-lists\"><list name=\"a\"/><list name=\"a\"/>"
		 "</resource-lists>");
	CHECK(EPROTO == xcap_rlist_parse(&rl, &pl, &why));

	/* nested lists: readable, but not rewritten */
	pl = plc("<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
		 "resource-lists\"><list name=\"a\"><list name=\"b\">"
		 "<entry uri=\"sip:x@y\"/></list></list></resource-lists>");
	CHECK(0 == xcap_rlist_parse(&rl, &pl, &why));
	CHECK(rl && rl->foreign && rl->nentries == 0);
	if (rl) {
		CHECK(ENOTSUP == xcap_rlist_add(rl, "a", "sip:z@y", NULL));
		CHECK(ENOTSUP == xcap_rlist_remove(rl, NULL, "sip:x@y"));
	}
	mem_deref(rl);
}

/* The document the Front End harness writes (tests/pylib/frontend.py). */
static const char rules_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<cr:ruleset xmlns=\"urn:ietf:params:xml:ns:pres-rules\" "
    "xmlns:pr=\"urn:ietf:params:xml:ns:pres-rules\" "
    "xmlns:cr=\"urn:ietf:params:xml:ns:common-policy\">\n"
    "  <cr:rule id=\"r0\">\n"
    "    <cr:conditions><cr:identity><cr:one id=\"sip:bob@example.test\"/>"
    "</cr:identity></cr:conditions>\n"
    "    <cr:actions><pr:sub-handling>allow</pr:sub-handling></cr:actions>\n"
    "    <cr:transformations><pr:provide-services><pr:all-services/>"
    "</pr:provide-services><pr:provide-all-attributes/>"
    "</cr:transformations>\n"
    "  </cr:rule>\n"
    "  <cr:rule id=\"r1\">\n"
    "    <cr:conditions><cr:identity><cr:one id=\"sip:eve@example.test\"/>"
    "</cr:identity></cr:conditions>\n"
    "    <cr:actions><pr:sub-handling>polite-block</pr:sub-handling>"
    "</cr:actions>\n"
    "  </cr:rule>\n"
    "  <cr:rule id=\"r2\">\n"
    "    <cr:conditions><cr:identity><cr:one id=\"sip:mal@example.test\"/>"
    "</cr:identity></cr:conditions>\n"
    "    <cr:actions><pr:sub-handling>block</pr:sub-handling></cr:actions>\n"
    "  </cr:rule>\n"
    "  <cr:rule id=\"r3\">\n"
    "    <cr:conditions><cr:identity><cr:one id=\"sip:dan@example.test\"/>"
    "</cr:identity></cr:conditions>\n"
    "    <cr:actions><pr:sub-handling>confirm</pr:sub-handling></cr:actions>\n"
    "  </cr:rule>\n"
    "</cr:ruleset>\n";

static void test_rules(void)
{
	struct xcap_rules *rs = NULL, *again = NULL;
	struct mbuf *a = mbuf_alloc(1024), *b = mbuf_alloc(1024);
	struct pl pl = plc(rules_doc);
	const char *why = NULL;

	CHECK(0 == xcap_rules_parse(&rs, &pl, &why));
	if (!rs || !a || !b)
		goto out;
	CHECK(!rs->foreign);
	CHECK(list_count(&rs->rules) == 4);

	CHECK(xcap_rules_action(rs, "sip:bob@example.test") == XCAP_ACT_ALLOW);
	CHECK(xcap_rules_action(rs, "SIP:Bob@Example.Test") == XCAP_ACT_ALLOW);
	CHECK(xcap_rules_action(rs, "sip:eve@example.test") ==
	      XCAP_ACT_POLITE_BLOCK);
	CHECK(xcap_rules_action(rs, "sip:nobody@example.test") ==
	      XCAP_ACT_NONE);
	CHECK(xcap_rules_privacy(rs, "sip:bob@example.test") ==
	      XCAP_PRIV_COLLEAGUES);
	CHECK(xcap_rules_privacy(rs, "sip:eve@example.test") ==
	      XCAP_PRIV_BLOCKED);
	CHECK(xcap_rules_privacy(rs, "sip:mal@example.test") ==
	      XCAP_PRIV_BLOCKED);
	CHECK(xcap_rules_privacy(rs, "sip:dan@example.test") ==
	      XCAP_PRIV_EXTERNAL);
	CHECK(xcap_rules_privacy(rs, "sip:nobody@example.test") ==
	      XCAP_PRIV_EXTERNAL);
	CHECK_STR(xcap_privacy_name(XCAP_PRIV_FRIENDS_AND_FAMILY),
		  "FriendsAndFamily");
	CHECK_STR(xcap_action_name(XCAP_ACT_POLITE_BLOCK), "polite-block");

	/* levels of allow live in the rule id and survive a round trip */
	CHECK(0 == xcap_rules_set(rs, "sip:bob@example.test", XCAP_ACT_ALLOW,
				  XCAP_PRIV_WORKGROUP));
	CHECK(0 == xcap_rules_set(rs, "sip:fay@example.test", XCAP_ACT_ALLOW,
				  XCAP_PRIV_FRIENDS_AND_FAMILY));
	CHECK(0 == xcap_rules_set(rs, "sip:eve@example.test", XCAP_ACT_ALLOW,
				  XCAP_PRIV_COLLEAGUES));
	CHECK(0 == xcap_rules_set(rs, "sip:dan@example.test", XCAP_ACT_BLOCK,
				  XCAP_PRIV_EXTERNAL));
	CHECK(0 == xcap_rules_set(rs, "sip:mal@example.test", XCAP_ACT_NONE,
				  XCAP_PRIV_EXTERNAL));
	CHECK(EINVAL ==
	      xcap_rules_set(rs, "sip:x@y", XCAP_ACT_ALLOW, XCAP_PRIV_BLOCKED));
	CHECK(list_count(&rs->rules) == 4);

	CHECK(0 == xcap_rules_write(a, rs));
	pl.p = (const char *)a->buf;
	pl.l = a->end;
	CHECK(0 == xcap_rules_parse(&again, &pl, &why));
	if (!again)
		goto out;
	CHECK(!again->foreign);
	CHECK(xcap_rules_privacy(again, "sip:bob@example.test") ==
	      XCAP_PRIV_WORKGROUP);
	CHECK(xcap_rules_privacy(again, "sip:fay@example.test") ==
	      XCAP_PRIV_FRIENDS_AND_FAMILY);
	CHECK(xcap_rules_privacy(again, "sip:eve@example.test") ==
	      XCAP_PRIV_COLLEAGUES);
	CHECK(xcap_rules_privacy(again, "sip:dan@example.test") ==
	      XCAP_PRIV_BLOCKED);
	CHECK(xcap_rules_action(again, "sip:mal@example.test") ==
	      XCAP_ACT_NONE);
	CHECK(0 == xcap_rules_write(b, again));
	CHECK(a->end == b->end && !memcmp(a->buf, b->buf, a->end));
out:
	mem_deref(again);
	mem_deref(rs);
	mem_deref(a);
	mem_deref(b);
}

static void test_rules_foreign(void)
{
	static const char *const docs[] = {
	    /* a rule for everyone (no identity) */
	    "<ruleset xmlns=\"urn:ietf:params:xml:ns:common-policy\" "
	    "xmlns:pr=\"urn:ietf:params:xml:ns:pres-rules\"><rule id=\"a\">"
	    "<conditions/><actions><pr:sub-handling>allow</pr:sub-handling>"
	    "</actions></rule></ruleset>",
	    /* a domain-wide identity */
	    "<ruleset xmlns=\"urn:ietf:params:xml:ns:common-policy\" "
	    "xmlns:pr=\"urn:ietf:params:xml:ns:pres-rules\"><rule id=\"a\">"
	    "<conditions><identity><many domain=\"example.test\"/>"
	    "</identity></conditions><actions><pr:sub-handling>allow"
	    "</pr:sub-handling></actions></rule></ruleset>",
	    /* two identities in one rule */
	    "<ruleset xmlns=\"urn:ietf:params:xml:ns:common-policy\" "
	    "xmlns:pr=\"urn:ietf:params:xml:ns:pres-rules\"><rule id=\"a\">"
	    "<conditions><identity><one id=\"sip:a@b\"/><one id=\"sip:c@b\"/>"
	    "</identity></conditions><actions><pr:sub-handling>allow"
	    "</pr:sub-handling></actions></rule></ruleset>",
	};
	struct xcap_rules *rs = NULL;
	struct pl pl;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		pl = plc(docs[i]);
		CHECK(0 == xcap_rules_parse(&rs, &pl, NULL));
		CHECK(rs && rs->foreign);
		if (rs)
			CHECK(ENOTSUP == xcap_rules_set(rs, "sip:a@b",
							XCAP_ACT_BLOCK,
							XCAP_PRIV_BLOCKED));
		rs = mem_deref(rs);
	}

	/* the one-identity part still answers */
	pl = plc(docs[2]);
	CHECK(0 == xcap_rules_parse(&rs, &pl, NULL));
	CHECK(xcap_rules_action(rs, "sip:a@b") == XCAP_ACT_ALLOW);
	mem_deref(rs);

	/* not a ruleset */
	pl = plc("<resource-lists xmlns=\"urn:ietf:params:xml:ns:"
		 "resource-lists\"/>");
	rs = NULL;
	CHECK(EPROTO == xcap_rules_parse(&rs, &pl, NULL));
	CHECK(rs == NULL);
}

static void test_client_args(void)
{
	struct xcap_client *xc = NULL;
	const char *ha1 = "0123456789abcdef0123456789abcdef";

	CHECK(EINVAL ==
	      xcap_client_alloc(&xc, "https://127.0.0.1/x", "a", "b", ha1));
	CHECK(EINVAL ==
	      xcap_client_alloc(&xc, "http://fe.example/x", "a", "b", ha1));
	CHECK(EINVAL == xcap_client_alloc(&xc, "http://127.0.0.1:1/x", "a", "b",
					  "short"));
	CHECK(0 == xcap_client_alloc(&xc, "http://127.0.0.1:8088/xcap-root/",
				     "a", "b", ha1));
	CHECK(xc != NULL);
	mem_deref(xc);
}

/*
 * Cancel by dropping the handle: against a listener that accepts and
 * never answers, the handlers must not run, nothing may leak.
 */

static struct {
	struct tcp_sock *ts;
	struct tcp_conn *tc[4];
	unsigned accepted;
	unsigned called;
} srv;

static void srv_conn(const struct sa *peer, void *arg)
{
	(void)peer;
	(void)arg;

	if (srv.accepted < ARRAY_SIZE(srv.tc))
		(void)tcp_accept(&srv.tc[srv.accepted++], srv.ts, NULL, NULL,
				 NULL, NULL);
	else
		tcp_reject(srv.ts);
}

static void never_resp(int err, uint16_t scode, const struct pl *body,
		       const char *etag, void *arg)
{
	(void)err;
	(void)scode;
	(void)body;
	(void)etag;
	(void)arg;
	++srv.called;
}

static void never_rlist(int err, const struct xcap_rlist *rl, void *arg)
{
	(void)err;
	(void)rl;
	(void)arg;
	++srv.called;
}

static void never_rules(int err, const struct xcap_rules *rs, void *arg)
{
	(void)err;
	(void)rs;
	(void)arg;
	++srv.called;
}

static void stop_loop(void *arg)
{
	(void)arg;
	re_cancel();
}

static void test_cancel(void)
{
	const char *ha1 = "0123456789abcdef0123456789abcdef";
	struct xcap_client *xc = NULL;
	struct xcap_req *req = NULL;
	struct xcap_op *op = NULL;
	struct sa laddr;
	struct tmr tmr;
	char base[64];
	size_t i;

	tmr_init(&tmr);
	sa_set_str(&laddr, "127.0.0.1", 0);
	CHECK(0 == tcp_listen(&srv.ts, &laddr, srv_conn, NULL));
	CHECK(0 == tcp_sock_local_get(srv.ts, &laddr));
	re_snprintf(base, sizeof(base), "http://127.0.0.1:%u/xcap-root",
		    sa_port(&laddr));
	CHECK(0 == xcap_client_alloc(&xc, base, "alice", "example.test", ha1));
	if (!xc)
		goto out;
	xcap_client_set_timeout(xc, 200);

	CHECK(0 == xcap_request(&req, xc, "GET", "pres-rules", NULL, NULL, NULL,
				never_resp, NULL));
	CHECK(0 == xcap_contacts_get(&op, xc, never_rlist, NULL));
	CHECK(req != NULL && op != NULL);

	/* let both connect, then drop them; run past their deadline */
	tmr_start(&tmr, 100, stop_loop, NULL);
	(void)re_main(NULL);
	CHECK(srv.accepted == 2);
	req = mem_deref(req);
	op = mem_deref(op);
	tmr_start(&tmr, 400, stop_loop, NULL);
	(void)re_main(NULL);
	CHECK(srv.called == 0);

	/* not cancelled: the deadline answers, and clears the handle */
	CHECK(0 == xcap_request(&req, xc, "GET", "pres-rules", NULL, NULL, NULL,
				never_resp, NULL));
	tmr_start(&tmr, 400, stop_loop, NULL);
	(void)re_main(NULL);
	CHECK(srv.called == 1);
	CHECK(req == NULL);

	/* bad arguments */
	CHECK(EINVAL == xcap_request(&req, xc, "POST", "pres-rules", NULL, NULL,
				     NULL, never_resp, NULL));
	CHECK(EINVAL == xcap_request(&req, xc, "GET", "pres-rules", NULL,
				     "a\"b", NULL, never_resp, NULL));
	CHECK(EINVAL == xcap_rules_put(&op, xc, "sip:x@y", XCAP_ACT_ALLOW,
				       XCAP_PRIV_BLOCKED, never_rules, NULL));
	CHECK(op == NULL);
out:
	tmr_cancel(&tmr);
	mem_deref(req);
	mem_deref(op);
	mem_deref(xc);
	for (i = 0; i < ARRAY_SIZE(srv.tc); i++)
		srv.tc[i] = mem_deref(srv.tc[i]);
	srv.ts = mem_deref(srv.ts);
}

int main(void)
{
	int err;

	err = libre_init();
	if (err)
		return 1;

	test_rlist_parse();
	test_rlist_changes();
	test_rlist_limits();
	test_refusals();
	test_rules();
	test_rules_foreign();
	test_client_args();
	test_cancel();

	libre_close();
	tmr_debug();
	mem_debug();
	return check_done("test_xcap");
}
