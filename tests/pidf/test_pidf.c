/**
 * @file test_pidf.c  Presence documents: PIDF build/parse round trips,
 *                    other clients' documents, escaping, limits, DTD
 *                    refusal, RLMI multipart notifications
 *
 * Every parse gets a heap copy of exactly the input's size, so that
 * AddressSanitizer catches a read past the end (no NUL is ever there).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "pidf.h"
#include "check.h"

static const char *why;

static int parse_n(struct pidf_presence *p, const char *s, size_t n)
{
	char *copy = malloc(n ? n : 1);
	int err;

	if (!copy)
		return ENOMEM;
	memcpy(copy, s, n);
	why = NULL;
	err = pidf_parse(p, copy, n, &why);
	free(copy);

	return err;
}

static int parse(struct pidf_presence *p, const char *s)
{
	return parse_n(p, s, strlen(s));
}

static int rlmi_n(struct pidf_list **lp, const char *ctype, const char *s,
		  size_t n)
{
	char *copy = malloc(n ? n : 1);
	struct pl ct;
	int err;

	if (!copy)
		return ENOMEM;
	memcpy(copy, s, n);
	pl_set_str(&ct, ctype);
	why = NULL;
	err = pidf_rlmi_parse(lp, &ct, copy, n, &why);
	free(copy);

	return err;
}

static int rlmi(struct pidf_list **lp, const char *ctype, const char *s)
{
	return rlmi_n(lp, ctype, s, strlen(s));
}

/* Build p and return the document as a new string (or NULL) */
static char *build(const struct pidf_presence *p)
{
	struct mbuf *mb = mbuf_alloc(1024);
	char *s = NULL;

	if (mb && !pidf_build(mb, "sip:alice@example.test", "m1", p)) {
		mb->pos = 0;
		(void)mbuf_strdup(mb, &s, mb->end);
	}
	mem_deref(mb);

	return s;
}

/* Replace every occurrence of a by b (same length) in s */
static void replace(char *s, const char *a, const char *b)
{
	size_t n = strlen(a);

	while ((s = strstr(s, a)) != NULL) {
		memcpy(s, b, n);
		s += n;
	}
}

static const char other_ns[] = "urn:x-mobility:params:xml:ns:zzzzzzzz";

static void test_round_trips(void)
{
	/* What a client that only knows the standard elements reads */
	static const enum pidf_avail std[] = {
	    [PIDF_UNKNOWN] = PIDF_UNKNOWN,
	    [PIDF_ONLINE] = PIDF_ONLINE,
	    [PIDF_BUSY] = PIDF_BUSY,
	    [PIDF_DND] = PIDF_BUSY,
	    [PIDF_BRB] = PIDF_AWAY,
	    [PIDF_AWAY] = PIDF_AWAY,
	    [PIDF_OFFWORK] = PIDF_AWAY,
	    [PIDF_IDLE_ONLINE] = PIDF_IDLE_ONLINE,
	    [PIDF_IDLE_BUSY] = PIDF_IDLE_BUSY,
	    [PIDF_OFFLINE] = PIDF_OFFLINE,
	};
	enum pidf_avail a;
	int err;

	CHECK(sizeof(other_ns) == sizeof(PIDF_MOB_NS));

	for (a = PIDF_UNKNOWN; a <= PIDF_OFFLINE; a++) {
		struct pidf_presence p, q;
		struct pl name;
		enum pidf_avail back;
		char *doc;

		memset(&p, 0, sizeof(p));
		p.avail = a;
		p.device = PIDF_DEV_MOBILE;
		p.last_active = 1795464000123ULL;
		CHECK(!pidf_set_note(&p, "Back at 3", 9));
		CHECK(!pidf_set_location(&p, "Building 5", 10));
		CHECK(!pidf_set_activity(&p, "OnThePhone", 10));

		/* names round-trip too */
		pl_set_str(&name, pidf_avail_name(a));
		CHECK(!pidf_avail_decode(&back, &name) && back == a);

		doc = build(&p);
		CHECK(doc != NULL);
		if (!doc)
			continue;

		memset(&q, 0xa5, sizeof(q));
		err = parse(&q, doc);
		CHECK(err == 0);
		CHECK(q.avail == a);
		CHECK(q.device == PIDF_DEV_MOBILE);
		CHECK(q.last_active == 1795464000123ULL);
		CHECK_STR(q.note, "Back at 3");
		CHECK_STR(q.location, "Building 5");
		CHECK_STR(q.activity, "OnThePhone");

		/* Hide our namespace: the standard elements alone. The
		 * activity is left out: on-the-phone would read as Busy. */
		mem_deref(doc);
		p.activity[0] = '\0';
		doc = build(&p);
		CHECK(doc != NULL);
		if (!doc)
			continue;
		replace(doc, PIDF_MOB_NS, other_ns);
		memset(&q, 0, sizeof(q));
		CHECK(!parse(&q, doc));
		if (q.avail != std[a])
			fprintf(stderr, "  %s read as %s\n", pidf_avail_name(a),
				pidf_avail_name(q.avail));
		CHECK(q.avail == std[a]);
		CHECK(q.device == PIDF_DEV_UNKNOWN);
		CHECK_STR(q.note, "Back at 3");
		CHECK(q.activity[0] == '\0');
		CHECK(q.location[0] == '\0');

		mem_deref(doc);
	}
}

static void test_build_shape(void)
{
	struct pidf_presence p;
	struct mbuf *mb = mbuf_alloc(64);
	char *doc;

	memset(&p, 0, sizeof(p));
	p.avail = PIDF_BRB;
	doc = build(&p);
	CHECK(doc != NULL);
	if (doc) {
		/* what baresip's subscriber and Kamailio look for */
		CHECK(strstr(doc, "<basic>open</basic>") != NULL);
		CHECK(strstr(doc, "<rpid:away/>") != NULL);
		CHECK(strstr(doc, "xmlns=\"urn:ietf:params:xml:ns:pidf\"") !=
		      NULL);
		CHECK(strstr(doc, "<tuple id=\"tm1\">") != NULL);
		CHECK(strstr(doc, "<dm:person id=\"pm1\">") != NULL);
		CHECK(strstr(doc, "<mob:availability>BeRightBack<") != NULL);
		CHECK(strstr(doc, "<note>") == NULL);
	}
	mem_deref(doc);

	p.avail = PIDF_OFFLINE;
	doc = build(&p);
	CHECK(doc && strstr(doc, "<basic>closed</basic>"));
	CHECK(doc && !strstr(doc, "rpid:activities"));
	mem_deref(doc);

	/* bad ids and values are refused and leave the buffer alone */
	CHECK(mb != NULL);
	if (mb) {
		CHECK(pidf_build(mb, "sip:a@b", "", &p) == EINVAL);
		CHECK(pidf_build(mb, "sip:a@b", "1abc", &p) == EINVAL);
		CHECK(pidf_build(mb, "sip:a@b", "a b", &p) == EINVAL);
		CHECK(pidf_build(mb, "sip:a@b", "a\"b", &p) == EINVAL);
		CHECK(pidf_build(mb, NULL, "a", &p) == EINVAL);
		p.avail = (enum pidf_avail)99;
		CHECK(pidf_build(mb, "sip:a@b", "a", &p) == EINVAL);
		p.avail = PIDF_ONLINE;
		p.device = (enum pidf_device)99;
		CHECK(pidf_build(mb, "sip:a@b", "a", &p) == EINVAL);
		CHECK(mb->end == 0);
	}
	mem_deref(mb);
}

static void test_escaping(void)
{
	static const char note[] = "a<b & c\r\nd\"e'f>]]>\x01g\xff\xc3";
	struct pidf_presence p, q;
	char *doc;

	memset(&p, 0, sizeof(p));
	p.avail = PIDF_ONLINE;
	CHECK(!pidf_set_note(&p, note, sizeof(note) - 1));
	CHECK(!pidf_set_location(&p, "<Room & \"1\">", 12));
	doc = build(&p);
	CHECK(doc != NULL);
	if (!doc)
		return;

	CHECK(strstr(doc, "a&lt;b &amp; c&#13;&#10;d") != NULL);
	CHECK(strstr(doc, "\xff") == NULL);

	/* A well-formed document that gives the text back; what XML
	 * cannot carry is U+FFFD */
	memset(&q, 0, sizeof(q));
	CHECK(!parse(&q, doc));
	CHECK_STR(q.note, "a<b & c\r\nd\"e'f>]]>\xef\xbf\xbd"
			  "g\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(q.location, "<Room & \"1\">");

	/* A hostile entity URI is escaped as an attribute */
	{
		struct mbuf *mb = mbuf_alloc(256);

		CHECK(mb && !pidf_build(mb, "sip:x\"/><evil a=\"@b", "a", &p));
		if (mb) {
			mb->pos = 0;
			CHECK(!parse_n(&q, (char *)mb->buf, mb->end));
		}
		mem_deref(mb);
	}

	mem_deref(doc);
}

/* Documents shaped like what peers send (our own samples) */
static void test_peers(void)
{
	struct pidf_presence p;

	/* baresip's presence module: open/closed and one rpid token */
	static const char baresip_open[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\r\n"
	    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\r\n"
	    "    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\r\n"
	    "    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\r\n"
	    "    entity=\"sip:bob@example.test\">\r\n"
	    "  <dm:person id=\"p77\"><rpid:activities/></dm:person>\r\n"
	    "  <tuple id=\"t91\">\r\n"
	    "    <status>\r\n      <basic>open</basic>\r\n    </status>\r\n"
	    "    <contact>sip:bob@192.0.2.7:5060</contact>\r\n"
	    "  </tuple>\r\n</presence>\r\n";
	static const char baresip_phone[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
	    "xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
	    "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" "
	    "entity=\"sip:bob@example.test\">"
	    "<dm:person id=\"p77\"><rpid:activities><rpid:on-the-phone/>"
	    "</rpid:activities></dm:person>"
	    "<tuple id=\"t91\"><status><basic>open</basic></status>"
	    "</tuple></presence>";
	static const char closed[] =
	    "<?xml version='1.0'?>"
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
	    "entity='sip:carol@example.test'>"
	    "<tuple id='x'><status><basic>closed</basic></status></tuple>"
	    "</presence>";
	/* A presence server's merge of two publications, a prefixed PIDF
	 * namespace, a presence-level note with xml:lang */
	static const char merged[] =
	    "<p:presence xmlns:p='urn:ietf:params:xml:ns:pidf' "
	    "xmlns:r='urn:ietf:params:xml:ns:pidf:rpid' "
	    "xmlns:d='urn:ietf:params:xml:ns:pidf:data-model' "
	    "entity='sip:dave@example.test'>"
	    "<p:tuple id='desk'><p:status><p:basic>closed</p:basic>"
	    "</p:status></p:tuple>"
	    "<p:tuple id='soft'><p:status><p:basic>open</p:basic>"
	    "</p:status><r:user-input>idle</r:user-input></p:tuple>"
	    "<d:person id='p1'><r:activities><r:lunch/></r:activities>"
	    "</d:person>"
	    "<p:note xml:lang='en'>  Out for lunch  </p:note>"
	    "</p:presence>";
	static const char status_only[] =
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:e@x'>"
	    "<tuple id='a'><status/></tuple></presence>";
	static const char vacation_nobasic[] =
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
	    "xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:f@x'>"
	    "<tuple id='a'><status/></tuple>"
	    "<person xmlns='urn:ietf:params:xml:ns:pidf:data-model' id='b'>"
	    "<rpid:activities><rpid:vacation/></rpid:activities></person>"
	    "</presence>";

	/* A presence server's placeholder when nothing was published:
	 * namespaces declared again on the children, an empty activities
	 * element, a presence-level and a person note */
	static const char placeholder[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
	    "entity=\"sip:gus@example.test\">"
	    "<tuple xmlns=\"urn:ietf:params:xml:ns:pidf\" id=\"0a1b\">"
	    "<status><basic>open</basic></status></tuple>"
	    "<note xmlns=\"urn:ietf:params:xml:ns:pidf\">Around</note>"
	    "<dm:person xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
	    "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" id=\"9\">"
	    "<rpid:activities/><dm:note>Elsewhere</dm:note></dm:person>"
	    "</presence>";

	CHECK(!parse(&p, placeholder));
	CHECK(p.avail == PIDF_ONLINE && p.activity[0] == '\0');
	CHECK_STR(p.note, "Around");

	CHECK(!parse(&p, baresip_open));
	CHECK(p.avail == PIDF_ONLINE && p.activity[0] == '\0');
	CHECK(p.device == PIDF_DEV_UNKNOWN && p.last_active == 0);

	CHECK(!parse(&p, baresip_phone));
	CHECK(p.avail == PIDF_BUSY);
	CHECK_STR(p.activity, "OnThePhone");

	CHECK(!parse(&p, closed));
	CHECK(p.avail == PIDF_OFFLINE);

	CHECK(!parse(&p, merged));
	CHECK(p.avail == PIDF_AWAY);
	CHECK_STR(p.activity, "lunch");
	CHECK_STR(p.note, "Out for lunch");

	CHECK(!parse(&p, status_only));
	CHECK(p.avail == PIDF_UNKNOWN);

	CHECK(!parse(&p, vacation_nobasic));
	CHECK(p.avail == PIDF_AWAY);
	CHECK_STR(p.activity, "vacation");

	/* A polite-block NOTIFY has no body: shown as Offline */
	memset(&p, 0x5a, sizeof(p));
	CHECK(!parse(&p, ""));
	CHECK(p.avail == PIDF_OFFLINE && p.note[0] == '\0');
	CHECK(!parse(&p, "\r\n  \t"));
	CHECK(p.avail == PIDF_OFFLINE);
	CHECK(!pidf_parse(&p, NULL, 0, NULL));

	/* Our exact values that are not UCWA names are ignored */
	CHECK(!parse(&p, "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
			 "xmlns:m='" PIDF_MOB_NS "'><tuple id='a'>"
			 "<status><basic>open</basic></status>"
			 "<m:availability>Sleepy</m:availability>"
			 "<m:deviceType>Toaster</m:deviceType>"
			 "<m:lastActive>12ab</m:lastActive></tuple>"
			 "</presence>"));
	CHECK(p.avail == PIDF_ONLINE && p.device == PIDF_DEV_UNKNOWN &&
	      p.last_active == 0);
}

static void test_text_limits(void)
{
	struct pidf_presence p;
	struct mbuf *mb = mbuf_alloc(8192);
	char big[PIDF_NOTE_MAX + 2];
	size_t i;

	memset(&p, 0, sizeof(p));
	memset(big, 'x', sizeof(big));
	CHECK(!pidf_set_note(&p, big, PIDF_NOTE_MAX));
	CHECK(pidf_set_note(&p, big, PIDF_NOTE_MAX + 1) == EMSGSIZE);
	CHECK(!pidf_set_activity(&p, big, PIDF_ACTIVITY_MAX));
	CHECK(pidf_set_activity(&p, big, PIDF_ACTIVITY_MAX + 1) == EMSGSIZE);
	CHECK(pidf_set_note(&p, NULL, 1) == EINVAL);
	CHECK(!pidf_set_note(&p, NULL, 0) && p.note[0] == '\0');

	/* location: 60 characters, however many bytes */
	{
		char loc[61 * 4];

		for (i = 0; i < 61; i++)
			memcpy(loc + 4 * i, "\xf0\x9f\x8f\xa2", 4);
		CHECK(!pidf_set_location(&p, loc, 60 * 4));
		CHECK(strlen(p.location) == 240);
		CHECK(pidf_set_location(&p, loc, 61 * 4) == EMSGSIZE);
		memset(loc, 'y', 61);
		CHECK(!pidf_set_location(&p, loc, 60));
		CHECK(pidf_set_location(&p, loc, 61) == EMSGSIZE);
	}

	/* A peer's over-long note and location are cut at a character */
	if (!mb)
		return;
	(void)mbuf_printf(mb,
			  "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
			  "xmlns:m='%s'><tuple id='a'><status><basic>open"
			  "</basic></status><m:location>",
			  PIDF_MOB_NS);
	for (i = 0; i < 70; i++)
		(void)mbuf_write_str(mb, "\xc3\xa9");
	(void)mbuf_write_str(mb, "</m:location><note>x");
	for (i = 0; i < PIDF_NOTE_MAX; i++)
		(void)mbuf_write_str(mb, "\xc3\xa9");
	(void)mbuf_write_str(mb, "</note></tuple></presence>");
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	CHECK(strlen(p.location) == 120);
	/* 1 + 2k bytes <= PIDF_NOTE_MAX: 1023 */
	CHECK(strlen(p.note) == PIDF_NOTE_MAX - 1);
	CHECK(!strcmp(p.note + strlen(p.note) - 2, "\xc3\xa9"));

	/* A cut that ends in white space drops it, so that the text
	 * written again reads back the same (found by fuzz_pidf) */
	mbuf_reset(mb);
	(void)mbuf_printf(mb,
			  "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
			  "xmlns:m='%s'><tuple id='a'><status/><m:location>",
			  PIDF_MOB_NS);
	for (i = 0; i < 59; i++)
		(void)mbuf_write_u8(mb, 'L');
	(void)mbuf_write_str(mb, "\n\nmore</m:location></tuple></presence>");
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	CHECK(strlen(p.location) == 59);
	mem_deref(mb);
}

/* n nested elements */
static char *nested(unsigned n)
{
	struct mbuf *mb = mbuf_alloc(1024);
	char *s = NULL;
	unsigned i;

	if (!mb)
		return NULL;
	(void)mbuf_write_str(mb, "<presence xmlns='urn:ietf:params:xml:ns:"
				 "pidf'>");
	for (i = 1; i < n; i++)
		(void)mbuf_write_str(mb, "<e>");
	for (i = 1; i < n; i++)
		(void)mbuf_write_str(mb, "</e>");
	(void)mbuf_write_str(mb, "</presence>");
	mb->pos = 0;
	(void)mbuf_strdup(mb, &s, mb->end);
	mem_deref(mb);

	return s;
}

static void test_xml_limits(void)
{
	struct pidf_presence p;
	struct mbuf *mb = mbuf_alloc(PIDF_BODY_MAX + 64);
	char *s;
	unsigned i;

	s = nested(PIDF_DEPTH_MAX);
	CHECK(s && !parse(&p, s));
	mem_deref(s);
	s = nested(PIDF_DEPTH_MAX + 1);
	CHECK(s && parse(&p, s) == EOVERFLOW);
	CHECK(why && strstr(why, "deep"));
	mem_deref(s);

	if (!mb)
		return;

	/* element count */
	(void)mbuf_write_str(mb, "<presence xmlns='urn:ietf:params:xml:ns:"
				 "pidf'>");
	for (i = 1; i < PIDF_ELEMENTS_MAX; i++)
		(void)mbuf_write_str(mb, "<e/>");
	(void)mbuf_write_str(mb, "</presence>");
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	mb->pos = mb->end - strlen("</presence>");
	(void)mbuf_write_str(mb, "<e/></presence>");
	CHECK(parse_n(&p, (char *)mb->buf, mb->end) == EOVERFLOW);
	CHECK(why && strstr(why, "elements"));

	/* attribute count */
	mbuf_reset(mb);
	(void)mbuf_write_str(mb, "<presence xmlns='urn:ietf:params:xml:ns:"
				 "pidf'><tuple");
	for (i = 0; i < PIDF_ATTRS_MAX; i++)
		(void)mbuf_printf(mb, " a%u='1'", i);
	(void)mbuf_write_str(mb, "/></presence>");
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	mb->pos = mb->end - strlen("/></presence>");
	(void)mbuf_write_str(mb, " z='1'/></presence>");
	CHECK(parse_n(&p, (char *)mb->buf, mb->end) == EOVERFLOW);
	CHECK(why && strstr(why, "attributes"));

	/* attribute length */
	mbuf_reset(mb);
	(void)mbuf_write_str(mb, "<presence xmlns='urn:ietf:params:xml:ns:"
				 "pidf' entity='");
	for (i = 0; i < PIDF_ATTR_LEN_MAX; i++)
		(void)mbuf_write_u8(mb, 'a');
	(void)mbuf_write_str(mb, "'/>");
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	mb->pos = mb->end - 3;
	(void)mbuf_write_str(mb, "a'/>");
	CHECK(parse_n(&p, (char *)mb->buf, mb->end) == EMSGSIZE);
	CHECK(why && strstr(why, "attribute value"));

	/* body size: PIDF_BODY_MAX passes the size check (then fails as
	 * XML: trailing junk), one more byte does not */
	mbuf_reset(mb);
	(void)mbuf_write_str(mb, "<presence xmlns='urn:ietf:params:xml:ns:"
				 "pidf'/>");
	while (mb->end < PIDF_BODY_MAX)
		(void)mbuf_write_u8(mb, ' ');
	CHECK(!parse_n(&p, (char *)mb->buf, mb->end));
	(void)mbuf_write_u8(mb, ' ');
	CHECK(parse_n(&p, (char *)mb->buf, mb->end) == EMSGSIZE);
	CHECK(why && strstr(why, "too large"));

	mem_deref(mb);
}

static void test_dtd_refused(void)
{
	struct pidf_presence p;
	static const char laughs[] =
	    "<?xml version='1.0'?>\n"
	    "<!DOCTYPE presence [\n"
	    " <!ENTITY a \"lol\">\n"
	    " <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
	    " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
	    " <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
	    " <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
	    " <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
	    " <!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
	    " <!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n"
	    " <!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">\n"
	    "]>\n"
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>"
	    "<note>&i;</note></presence>";
	static const char external[] =
	    "<!DOCTYPE presence [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>"
	    "<note>&x;</note></presence>";
	static const char plain_doctype[] =
	    "<!DOCTYPE presence SYSTEM 'pidf.dtd'>"
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'/>";
	static const char undeclared[] =
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>"
	    "<note>&nbsp;</note></presence>";

	CHECK(parse(&p, laughs) == EPROTO);
	CHECK(why && strstr(why, "DTD"));
	CHECK(parse(&p, external) == EPROTO);
	CHECK(why && strstr(why, "DTD"));
	CHECK(parse(&p, plain_doctype) == EPROTO);
	CHECK(parse(&p, undeclared) == EPROTO);

	/* the five predefined entities and character references are
	 * part of XML itself and stay */
	CHECK(!parse(&p, "<presence xmlns='urn:ietf:params:xml:ns:pidf'>"
			 "<note>&lt;&amp;&#65;&#x42;</note></presence>"));
	CHECK_STR(p.note, "<&AB");
}

static void test_malformed(void)
{
	struct pidf_presence p;
	static const char *const bad[] = {
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'></tuple>",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'/><x/>",
	    "<presence/>",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidfx'/>",
	    "<list xmlns='urn:ietf:params:xml:ns:rlmi'/>",
	    "hello",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf' a='1' a='2'/>",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'><x:y/></presence>",
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>\xff</presence>",
	};
	static const char nul[] =
	    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>\0</presence>";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = parse(&p, bad[i]);

		if (err != EPROTO)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK(err == EPROTO);
		CHECK(why != NULL);
	}

	CHECK(parse_n(&p, nul, sizeof(nul) - 1) == EPROTO);
	/* a document cut anywhere is refused, never over-read */
	for (i = 1; i < sizeof(nul) - 1; i += 7)
		CHECK(parse_n(&p,
			      "<presence xmlns='urn:ietf:params:xml:ns:"
			      "pidf'><note>x</note></presence>",
			      i) == EPROTO);
	CHECK(pidf_parse(NULL, "x", 1, NULL) == EINVAL);
	CHECK(pidf_parse(&p, NULL, 1, NULL) == EINVAL);
}

#define CT                                                                     \
	"multipart/related;type=\"application/rlmi+xml\";"                     \
	"start=\"<rl1@example.test>\";boundary=\"bnd-1a2b\""

#define PIDF_OF(who, basic, acts)                                              \
	"<?xml version='1.0' encoding='UTF-8'?>\r\n"                           \
	"<presence xmlns='urn:ietf:params:xml:ns:pidf' "                       \
	"xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' "                   \
	"xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' "                       \
	"entity='sip:" who "@example.test'>"                                   \
	"<tuple id='t'><status><basic>" basic "</basic></status></tuple>"      \
	"<dm:person id='p'><rpid:activities>" acts                             \
	"</rpid:activities></dm:person></presence>\r\n"

static const char rls_body[] =
    "--bnd-1a2b\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: <rl1@example.test>\r\n"
    "Content-Type: application/rlmi+xml;charset=\"UTF-8\"\r\n"
    "\r\n"
    "<?xml version='1.0' encoding='UTF-8'?>\r\n"
    "<list xmlns='urn:ietf:params:xml:ns:rlmi' "
    "uri='sip:alice-buddies@example.test' version='3' fullState='true'>\r\n"
    " <resource uri='sip:bob@example.test'><name>Bob</name>"
    "<instance id='i1' state='active' cid='bob1@example.test'/>"
    "</resource>\r\n"
    " <resource uri='sip:carol@example.test'>"
    "<instance id='i2' state='pending'/></resource>\r\n"
    " <resource uri='sip:dave@example.test'>"
    "<instance id='i3' state='terminated' reason='rejected'/>"
    "</resource>\r\n"
    " <resource uri='sip:erin@example.test'>"
    "<instance id='i4' state='active' cid='erin1@example.test'/>"
    "</resource>\r\n"
    " <resource uri='sip:frank@example.test'>"
    "<instance id='i5' state='active' cid='frank1@example.test'/>"
    "</resource>\r\n"
    " <resource uri='sip:gina@example.test'/>\r\n"
    "</list>\r\n"
    "\r\n--bnd-1a2b\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: <bob1@example.test>\r\n"
    "Content-Type: application/pidf+xml;charset=\"UTF-8\"\r\n"
    "\r\n" PIDF_OF("bob", "open",
		   "<rpid:busy/>") "\r\n--bnd-1a2b\r\n"
				   "Content-ID: <frank1@example.test>\r\n"
				   "Content-Type: text/plain\r\n"
				   "\r\n"
				   "not presence"
				   "\r\n--bnd-1a2b--\r\n";

static void check_rls(const struct pidf_list *l)
{
	CHECK_STR(l->uri, "sip:alice-buddies@example.test");
	CHECK(l->version == 3 && l->full_state);
	CHECK(l->n == 6);
	if (l->n != 6)
		return;

	CHECK_STR(l->resv[0].uri, "sip:bob@example.test");
	CHECK(l->resv[0].state == PIDF_SUB_ACTIVE);
	CHECK(l->resv[0].has_presence && l->resv[0].perr == 0);
	CHECK(l->resv[0].pres.avail == PIDF_BUSY);

	CHECK_STR(l->resv[1].uri, "sip:carol@example.test");
	CHECK(l->resv[1].state == PIDF_SUB_PENDING);
	CHECK(!l->resv[1].has_presence && l->resv[1].perr == ENOENT);

	CHECK(l->resv[2].state == PIDF_SUB_TERMINATED);
	CHECK_STR(l->resv[2].reason, "rejected");
	CHECK(!l->resv[2].has_presence);

	/* erin's part is missing from the body */
	CHECK(l->resv[3].state == PIDF_SUB_ACTIVE);
	CHECK(!l->resv[3].has_presence && l->resv[3].perr == ENOENT);

	/* frank's part is not PIDF */
	CHECK(!l->resv[4].has_presence && l->resv[4].perr == EPROTO);

	CHECK(l->resv[5].state == PIDF_SUB_NONE && !l->resv[5].has_presence);
}

static void test_rlmi(void)
{
	struct pidf_list *l = NULL;
	struct mbuf *mb;
	size_t i;

	CHECK(!rlmi(&l, CT, rls_body));
	if (l)
		check_rls(l);
	l = mem_deref(l);

	/* bare LF line ends, a preamble, root found without start */
	mb = mbuf_alloc(sizeof(rls_body) + 64);
	if (!mb)
		return;
	(void)mbuf_write_str(mb, "preamble to ignore\r\n");
	for (i = 0; i < sizeof(rls_body) - 1; i++) {
		if (rls_body[i] != '\r')
			(void)mbuf_write_u8(mb, (uint8_t)rls_body[i]);
	}
	CHECK(!rlmi_n(&l, "Multipart/Related; boundary=bnd-1a2b",
		      (char *)mb->buf, mb->end));
	if (l)
		check_rls(l);
	l = mem_deref(l);
	mem_deref(mb);

	/* a partial update with one member */
	CHECK(!rlmi(&l, "multipart/related;boundary=x",
		    "--x\r\nContent-Type: application/rlmi+xml\r\n\r\n"
		    "<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='sip:l@x' "
		    "version='4' fullState='false'><resource uri='sip:b@x'>"
		    "<instance id='1' state='active' cid='c1'/></resource>"
		    "</list>\r\n--x\r\nContent-ID: <c1>\r\n"
		    "Content-Type: application/pidf+xml\r\n\r\n"
		    "\r\n--x--"));
	CHECK(l && !l->full_state && l->version == 4 && l->n == 1);
	/* an empty PIDF part: neutral, shown Offline */
	CHECK(l && l->n == 1 && l->resv[0].state == PIDF_SUB_ACTIVE);
	CHECK(l && l->n == 1 && l->resv[0].has_presence &&
	      l->resv[0].pres.avail == PIDF_OFFLINE);
	l = mem_deref(l);

	/* two instances: the one with a body describes the member */
	CHECK(!rlmi(&l, "multipart/related;boundary=x",
		    "--x\r\nContent-Type: application/rlmi+xml\r\n\r\n"
		    "<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='sip:l@x' "
		    "version='5' fullState='true'><resource uri='sip:b@x'>"
		    "<instance id='1' state='terminated' reason='timeout'/>"
		    "<instance id='2' state='active' cid='c2'/>"
		    "<instance id='3' state='pending'/></resource>"
		    "</list>\r\n--x\r\nContent-ID: <c2>\r\n"
		    "Content-Type: application/pidf+xml\r\n\r\n"
		    "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple "
		    "id='t'><status><basic>closed</basic></status></tuple>"
		    "</presence>\r\n--x--"));
	CHECK(l && l->n == 1 && l->resv[0].state == PIDF_SUB_ACTIVE &&
	      l->resv[0].reason[0] == '\0' && l->resv[0].has_presence &&
	      l->resv[0].pres.avail == PIDF_OFFLINE);
	l = mem_deref(l);
}

static void test_rlmi_bad(void)
{
	static const struct {
		const char *ct, *body;
	} bad[] = {
	    {"application/pidf+xml", rls_body},
	    {"multipart/mixed;boundary=bnd-1a2b", rls_body},
	    {"multipart/related", rls_body},
	    {"multipart/related;boundary=", rls_body},
	    {"multipart/related;boundary=\"unterminated", rls_body},
	    {"multipart/related;type=\"text/plain\";boundary=bnd-1a2b",
	     rls_body},
	    {"multipart/related;boundary=other", rls_body},
	    {"multipart/related;start=\"<nope>\";boundary=bnd-1a2b", rls_body},
	    {"multipart/related;boundary=y", "--y\r\n\r\nx"},
	    {"multipart/related;boundary=y", "--yjunk\r\n\r\nx\r\n--y--"},
	    {"multipart/related;boundary=y",
	     "--y\r\nNoColon\r\n\r\nx\r\n--y--"},
	    {"multipart/related;boundary=y",
	     "--y\r\nContent-Type: application/rlmi+xml\r\n"},
	    {"multipart/related;boundary=y",
	     "--y\r\nContent-Type: application/pidf+xml\r\n\r\n"
	     "<presence xmlns='urn:ietf:params:xml:ns:pidf'/>\r\n--y--"},
	    {"multipart/related;boundary=y",
	     "--y\r\nContent-Type: application/rlmi+xml\r\n\r\n"
	     "<list xmlns='urn:ietf:params:xml:ns:rlmi'><resource>"
	     "</resource></list>\r\n--y--"},
	    {"multipart/related;boundary=y",
	     "--y\r\nContent-Type: application/rlmi+xml\r\n\r\n"
	     "<list xmlns='urn:ietf:params:xml:ns:rlmi'><resource uri='a'>"
	     "<instance id='1'/></resource></list>\r\n--y--"},
	    {"multipart/related;boundary=y",
	     "--y\r\nContent-Type: application/rlmi+xml\r\n\r\n"
	     "<!DOCTYPE list [<!ENTITY e 'x'>]>"
	     "<list xmlns='urn:ietf:params:xml:ns:rlmi'/>\r\n--y--"},
	};
	struct pidf_list *l = NULL;
	struct mbuf *mb = mbuf_alloc(PIDF_BODY_MAX + 1024);
	char ct[160];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = rlmi(&l, bad[i].ct, bad[i].body);

		if (err != EPROTO)
			fprintf(stderr, "  rlmi case %zu: %d\n", i, err);
		CHECK(err == EPROTO);
		CHECK(why != NULL);
		CHECK(l == NULL);
	}
	CHECK(rlmi(&l, CT, "") == EPROTO);

	/* boundary length: 70 accepted (RFC 2046), 71 refused */
	memset(ct, 0, sizeof(ct));
	strcpy(ct, "multipart/related;boundary=");
	memset(ct + strlen(ct), 'b', PIDF_BOUNDARY_MAX + 1);
	CHECK(rlmi(&l, ct, rls_body) == EPROTO);
	CHECK(why && strstr(why, "boundary"));

	if (!mb)
		return;

	/* resources: PIDF_RESOURCES_MAX, then one more */
	(void)mbuf_write_str(mb, "--y\r\nContent-Type: application/rlmi+xml"
				 "\r\n\r\n<list xmlns='urn:ietf:params:xml:ns:"
				 "rlmi' fullState='true'>");
	for (i = 0; i < PIDF_RESOURCES_MAX; i++)
		(void)mbuf_printf(mb, "<resource uri='sip:u%zu@x'/>", i);
	(void)mbuf_write_str(mb, "</list>\r\n--y--");
	CHECK(!rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		      mb->end));
	CHECK(l && l->n == PIDF_RESOURCES_MAX);
	l = mem_deref(l);
	mb->pos = mb->end - strlen("</list>\r\n--y--");
	(void)mbuf_write_str(mb, "<resource uri='sip:z@x'/></list>\r\n--y--");
	CHECK(rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		     mb->end) == EOVERFLOW);
	CHECK(why && strstr(why, "resources"));

	/* parts: PIDF_PARTS_MAX, then one more */
	mbuf_reset(mb);
	(void)mbuf_write_str(mb, "--y\r\nContent-Type: application/rlmi+xml"
				 "\r\n\r\n<list xmlns='urn:ietf:params:xml:ns:"
				 "rlmi'/>");
	for (i = 1; i < PIDF_PARTS_MAX; i++)
		(void)mbuf_write_str(mb, "\r\n--y\r\n\r\n");
	(void)mbuf_write_str(mb, "\r\n--y--");
	CHECK(!rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		      mb->end));
	l = mem_deref(l);
	mb->pos = mb->end - strlen("\r\n--y--");
	(void)mbuf_write_str(mb, "\r\n--y\r\n\r\n\r\n--y--");
	CHECK(rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		     mb->end) == EOVERFLOW);
	CHECK(why && strstr(why, "parts"));

	/* part headers */
	mbuf_reset(mb);
	(void)mbuf_write_str(mb, "--y\r\n");
	for (i = 1; i < PIDF_PART_HDRS_MAX; i++)
		(void)mbuf_write_str(mb, "X-Pad: 1\r\n");
	(void)mbuf_write_str(mb, "Content-Type: application/rlmi+xml\r\n\r\n"
				 "<list xmlns='urn:ietf:params:xml:ns:rlmi'/>"
				 "\r\n--y--");
	CHECK(!rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		      mb->end));
	l = mem_deref(l);
	mb->pos = 5;
	(void)mbuf_write_str(mb, "X-Pad: 1\r\n");
	for (i = 1; i < PIDF_PART_HDRS_MAX; i++)
		(void)mbuf_write_str(mb, "X-Pad: 1\r\n");
	(void)mbuf_write_str(mb, "Content-Type: application/rlmi+xml\r\n\r\n"
				 "<list xmlns='urn:ietf:params:xml:ns:rlmi'/>"
				 "\r\n--y--");
	CHECK(rlmi_n(&l, "multipart/related;boundary=y", (char *)mb->buf,
		     mb->end) == EOVERFLOW);
	CHECK(why && strstr(why, "headers"));

	/* body size */
	mbuf_reset(mb);
	while (mb->end <= PIDF_BODY_MAX)
		(void)mbuf_write_u8(mb, 'x');
	CHECK(rlmi_n(&l, CT, (char *)mb->buf, mb->end) == EMSGSIZE);

	CHECK(pidf_rlmi_parse(NULL, NULL, "", 0, NULL) == EINVAL);
	mem_deref(mb);
}

int main(void)
{
	test_round_trips();
	test_build_shape();
	test_escaping();
	test_peers();
	test_text_limits();
	test_xml_limits();
	test_dtd_refused();
	test_malformed();
	test_rlmi();
	test_rlmi_bad();

	return check_done("test_pidf");
}
