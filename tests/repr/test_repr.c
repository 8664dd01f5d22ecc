/**
 * @file test_repr.c  Unit tests of the representation component
 *
 * Exact JSON and XML for one model, escaping of every special character in
 * both encoders, dates, nesting limits, and that the output parses back
 * (jansson for JSON, a small well-formedness checker for XML).
 */
#include <stdint.h>
#include <string.h>
#include <jansson.h>

/* re.h would pull in re_json.h, which clashes with jansson (see json.c) */
#define RE_H__ 1
#include <re_types.h>
#include <re_fmt.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_mem.h>
#include "repr.h"
#include "repr_int.h"
#include "core.h"
#include "check.h"

#define FFFD "\xef\xbf\xbd"
#define DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
#define NS   "http://schemas.microsoft.com/rtc/2012/03/ucwa"

static struct mbuf *out;

/* Encode r into the shared buffer; returns it as a C string, or NULL. */
static const char *enc(const struct repr *r, enum repr_fmt fmt)
{
	mbuf_reset(out);
	if (repr_encode(out, r, fmt, NULL))
		return NULL;
	if (mbuf_write_u8(out, 0))
		return NULL;
	return (const char *)out->buf;
}

/*
 * Well-formedness, independently of the writer: valid UTF-8 (jansson's
 * validator), no character XML 1.0 forbids, one root, balanced and
 * properly nested tags, quoted attributes without '<', and every '&'
 * starting a known entity or a character reference.
 */
static bool xml_entity_ok(const char **sp)
{
	static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;",
					   "&apos;"};
	const char *s = *sp;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ents); i++) {
		if (!strncmp(s, ents[i], strlen(ents[i]))) {
			*sp = s + strlen(ents[i]);
			return true;
		}
	}

	if (strncmp(s, "&#", 2))
		return false;
	for (s += 2; *s >= '0' && *s <= '9'; s++)
		;
	if (*s != ';' || s == *sp + 2)
		return false;
	*sp = s + 1;
	return true;
}

static bool xml_name(const char **sp, const char **name, size_t *len)
{
	const char *s = *sp;

	while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
	       (s > *sp && *s >= '0' && *s <= '9'))
		s++;
	*name = *sp;
	*len = (size_t)(s - *sp);
	*sp = s;
	return *len > 0;
}

static bool xml_wellformed(const char *doc)
{
	const char *stack[64];
	size_t stlen[64];
	size_t depth = 0, len, i;
	bool root_done = false;
	const char *s = doc;
	json_t *utf8;

	/* jansson refuses ill-formed UTF-8 */
	utf8 = json_stringn(doc, strlen(doc));
	if (!utf8)
		return false;
	json_decref(utf8);

	for (i = 0; doc[i]; i++) {
		uint8_t c = (uint8_t)doc[i];

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
		if (!strncmp(doc + i, "\xef\xbf\xbe", 3) ||
		    !strncmp(doc + i, "\xef\xbf\xbf", 3))
			return false;
	}

	if (!strncmp(s, "<?xml ", 6)) {
		s = strstr(s, "?>");
		if (!s)
			return false;
		s += 2;
	}

	while (*s) {
		const char *name;

		if (*s == '&') {
			if (!depth || !xml_entity_ok(&s))
				return false;
			continue;
		}
		if (*s != '<') {
			/* Only whitespace outside the root */
			if (!depth && *s != ' ' && *s != '\n')
				return false;
			s++;
			continue;
		}

		if (s[1] == '/') {
			s += 2;
			if (!depth || !xml_name(&s, &name, &len) || *s != '>')
				return false;
			--depth;
			if (len != stlen[depth] ||
			    strncmp(name, stack[depth], len))
				return false;
			s++;
			root_done = !depth;
			continue;
		}

		/* A start tag: a second root is not allowed */
		s++;
		if (root_done || depth == ARRAY_SIZE(stack) ||
		    !xml_name(&s, &name, &len))
			return false;

		while (*s == ' ') {
			const char *an;
			size_t al;

			s++;
			if (!xml_name(&s, &an, &al) || *s++ != '=' ||
			    *s++ != '"')
				return false;
			while (*s && *s != '"') {
				if (*s == '<')
					return false;
				if (*s != '&')
					s++;
				else if (!xml_entity_ok(&s))
					return false;
			}
			if (*s++ != '"')
				return false;
		}

		if (*s == '/' && s[1] == '>') {
			s += 2;
			root_done = !depth;
		} else if (*s == '>') {
			s++;
			stack[depth] = name;
			stlen[depth++] = len;
		} else {
			return false;
		}
	}

	return root_done && !depth;
}

/* One resource holding every kind of member, used by both encoders. */
static struct repr *full_model(void)
{
	static const char *const mods[] = {"Messaging", "PhoneAudio"};
	struct repr *r = NULL, *me = NULL, *people = NULL, *group = NULL;
	struct repr *alice = NULL, *bob = NULL;
	struct pl ua;
	int err = 0;

	/* A pl need not be NUL terminated: only the first 10 bytes count */
	ua.p = "Mobile/1.0 and the rest";
	ua.l = 10;

	err |= repr_alloc(&r, "application", "/app");
	err |= repr_link_title(r, "contact", "/c/alice", "Alice");
	err |= repr_link(r, "policies", "/app/policies");
	err |= repr_link(r, "contact", "/c/bob");
	err |= repr_link(r, "events", "/app/events?ack=1");

	err |= repr_prop_str(r, "culture", "en-US");
	err |= repr_prop_pl(r, "userAgent", &ua);
	err |= repr_prop_int(r, "count", -42);
	err |= repr_prop_int(r, "big", INT64_MAX);
	err |= repr_prop_bool(r, "enabled", true);
	err |= repr_prop_bool(r, "muted", false);
	err |= repr_prop_date(r, "created", 1795463896123ULL);
	err |= repr_prop_strlist(r, "modalities", mods, 2);
	err |= repr_prop_strlist(r, "none", NULL, 0);
	err |= repr_prop_str(r, "empty", "");

	err |= repr_alloc(&alice, "contact", NULL);
	err |= repr_prop_str(alice, "uri", "sip:alice@example.com");
	err |= repr_alloc(&me, "me", "/app/me");
	err |= repr_link(me, "presence", "/app/me/presence");
	err |= repr_prop_str(me, "name", "Bob");
	err |= repr_alloc(&bob, "contact", NULL);
	err |= repr_prop_str(bob, "uri", "sip:bob@example.com");
	err |= repr_alloc(&people, "people", "/app/people");
	err |= repr_alloc(&group, "group", "/app/people/groups/1");
	err |= repr_embed(people, group);

	/* contact, me, contact: the repeated rel stays in first position */
	err |= repr_embed(r, alice);
	err |= repr_embed(r, me);
	err |= repr_embed(r, bob);
	err |= repr_embed(r, people);

	/* The parent holds its own references */
	mem_deref(alice);
	mem_deref(me);
	mem_deref(bob);
	mem_deref(people);
	mem_deref(group);

	CHECK(err == 0);
	return r;
}

static const char full_json[] =
    "{\"rel\":\"application\",\"culture\":\"en-US\","
    "\"userAgent\":\"Mobile/1.0\",\"count\":-42,"
    "\"big\":9223372036854775807,\"enabled\":true,\"muted\":false,"
    "\"created\":\"/Date(1795463896123)/\","
    "\"modalities\":[\"Messaging\",\"PhoneAudio\"],\"none\":[],"
    "\"empty\":\"\","
    "\"_links\":{\"self\":{\"href\":\"/app\"},"
    "\"contact\":[{\"href\":\"/c/alice\",\"title\":\"Alice\"},"
    "{\"href\":\"/c/bob\"}],"
    "\"policies\":{\"href\":\"/app/policies\"},"
    "\"events\":{\"href\":\"/app/events?ack=1\"}},"
    "\"_embedded\":{"
    "\"contact\":[{\"rel\":\"contact\",\"uri\":\"sip:alice@example.com\"},"
    "{\"rel\":\"contact\",\"uri\":\"sip:bob@example.com\"}],"
    "\"me\":{\"rel\":\"me\",\"name\":\"Bob\","
    "\"_links\":{\"self\":{\"href\":\"/app/me\"},"
    "\"presence\":{\"href\":\"/app/me/presence\"}}},"
    "\"people\":{\"rel\":\"people\","
    "\"_links\":{\"self\":{\"href\":\"/app/people\"}},"
    "\"_embedded\":{\"group\":{\"rel\":\"group\","
    "\"_links\":{\"self\":{\"href\":\"/app/people/groups/1\"}}}}}}}";

static const char full_xml[] =
    DECL "<resource rel=\"application\" href=\"/app\" xmlns=\"" NS "\">"
	 "<link rel=\"contact\" href=\"/c/alice\" title=\"Alice\"/>"
	 "<link rel=\"policies\" href=\"/app/policies\"/>"
	 "<link rel=\"contact\" href=\"/c/bob\"/>"
	 "<link rel=\"events\" href=\"/app/events?ack=1\"/>"
	 "<property name=\"culture\">en-US</property>"
	 "<property name=\"userAgent\">Mobile/1.0</property>"
	 "<property name=\"count\">-42</property>"
	 "<property name=\"big\">9223372036854775807</property>"
	 "<property name=\"enabled\">true</property>"
	 "<property name=\"muted\">false</property>"
	 "<property name=\"created\">2026-11-23T19:58:16.123Z</property>"
	 "<propertyList name=\"modalities\"><item>Messaging</item>"
	 "<item>PhoneAudio</item></propertyList>"
	 "<propertyList name=\"none\"/>"
	 "<property name=\"empty\"/>"
	 "<resource rel=\"contact\">"
	 "<property name=\"uri\">sip:alice@example.com</property></resource>"
	 "<resource rel=\"me\" href=\"/app/me\">"
	 "<link rel=\"presence\" href=\"/app/me/presence\"/>"
	 "<property name=\"name\">Bob</property></resource>"
	 "<resource rel=\"contact\">"
	 "<property name=\"uri\">sip:bob@example.com</property></resource>"
	 "<resource rel=\"people\" href=\"/app/people\">"
	 "<resource rel=\"group\" href=\"/app/people/groups/1\"/>"
	 "</resource></resource>";

static void test_full(void)
{
	struct repr *r = full_model();
	json_t *j, *v;
	const char *s;

	s = enc(r, REPR_JSON);
	CHECK_STR(s, full_json);

	/* It parses back, with the arrays where the rels repeat */
	j = s ? json_loads(s, 0, NULL) : NULL;
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "rel")), "application");
	v = json_object_get(json_object_get(j, "_links"), "contact");
	CHECK(json_is_array(v) && json_array_size(v) == 2);
	v = json_object_get(json_object_get(j, "_embedded"), "contact");
	CHECK(json_is_array(v) && json_array_size(v) == 2);
	CHECK(json_integer_value(json_object_get(j, "big")) == INT64_MAX);
	json_decref(j);

	s = enc(r, REPR_XML);
	CHECK_STR(s, full_xml);
	CHECK(s && xml_wellformed(s));

	/* Another namespace goes on the root only */
	mbuf_reset(out);
	CHECK(repr_encode(out, r, REPR_XML, "urn:x") == 0);
	CHECK(mbuf_write_u8(out, 0) == 0);
	CHECK(strstr((char *)out->buf, "xmlns=\"urn:x\"") != NULL);
	CHECK(strstr((char *)out->buf, NS) == NULL);

	mem_deref(r);
}

/*
 * A relationship that can hold several resources is a JSON array even with
 * one member, in _links and in _embedded; the same rel under a resource
 * that holds one of it, and other rels, stay objects. XML is unchanged.
 */
static void test_collections(void)
{
	struct repr *r = NULL, *c = NULL, *p = NULL;
	const char *s;
	int err;

	CHECK(repr_rel_is_collection("myContacts", "contact"));
	CHECK(repr_rel_is_collection("conversationLogs", "missedItem"));
	CHECK(!repr_rel_is_collection("application", "contact"));
	CHECK(!repr_rel_is_collection(NULL, "contact"));

	err = repr_alloc(&r, "myContacts", "/c");
	err |= repr_link(r, "contact", "/c/alice");
	err |= repr_link(r, "next", "/c?page=2");
	err |= repr_alloc(&c, "contact", "/c/alice");
	err |= repr_embed(r, c);
	CHECK(err == 0);
	CHECK_STR(
	    enc(r, REPR_JSON),
	    "{\"rel\":\"myContacts\",\"_links\":{\"self\":{\"href\":\"/c\"},"
	    "\"contact\":[{\"href\":\"/c/alice\"}],"
	    "\"next\":{\"href\":\"/c?page=2\"}},"
	    "\"_embedded\":{\"contact\":[{\"rel\":\"contact\",\"_links\":"
	    "{\"self\":{\"href\":\"/c/alice\"}}}]}}");
	CHECK_STR(enc(r, REPR_XML), DECL
		  "<resource rel=\"myContacts\" href=\"/c\" xmlns=\"" NS
		  "\"><link rel=\"contact\" href=\"/c/alice\"/>"
		  "<link rel=\"next\" href=\"/c?page=2\"/>"
		  "<resource rel=\"contact\" href=\"/c/alice\"/></resource>");

	/* one contact held by another kind of resource stays an object */
	err = repr_alloc(&p, "presenceSubscriptionMembership", "/m");
	err |= repr_embed(p, c);
	CHECK(err == 0);
	s = enc(p, REPR_JSON);
	CHECK(s && strstr(s, "\"contact\":{\"rel\"") != NULL);

	mem_deref(p);
	mem_deref(c);
	mem_deref(r);
}

/* An embedded resource under a key other than its rel: an invitation's
 * from is a participant. JSON keeps the child's rel inside; XML names it
 * by the key, as the reference's XML samples do. */
static void test_embed_key(void)
{
	struct repr *r = NULL, *p = NULL;
	int err;

	err = repr_alloc(&r, "messagingInvitation", "/i/1");
	err |= repr_alloc(&p, "participant", "/c/1/participants/bob");
	err |= repr_prop_str(p, "uri", "sip:bob@x.test");
	err |= repr_embed_as(r, "from", p);
	CHECK(err == 0);
	CHECK(repr_embed_as(r, "", p) == EINVAL);
	CHECK_STR(enc(r, REPR_JSON),
		  "{\"rel\":\"messagingInvitation\",\"_links\":{\"self\":"
		  "{\"href\":\"/i/1\"}},\"_embedded\":{\"from\":{\"rel\":"
		  "\"participant\",\"uri\":\"sip:bob@x.test\",\"_links\":"
		  "{\"self\":{\"href\":\"/c/1/participants/bob\"}}}}}");
	CHECK_STR(enc(r, REPR_XML),
		  DECL "<resource rel=\"messagingInvitation\" href=\"/i/1\" "
		       "xmlns=\"" NS "\"><resource rel=\"from\" "
		       "href=\"/c/1/participants/bob\"><property name=\"uri\">"
		       "sip:bob@x.test</property></resource></resource>");
	/* the same child GET on its own keeps its rel */
	CHECK_STR(enc(p, REPR_XML),
		  DECL "<resource rel=\"participant\" "
		       "href=\"/c/1/participants/bob\" xmlns=\"" NS
		       "\"><property name=\"uri\">sip:bob@x.test</property>"
		       "</resource>");

	mem_deref(p);
	mem_deref(r);
}

/* A bare resource: no rel, no href, no members. */
static void test_minimal(void)
{
	struct repr *r = NULL;

	CHECK(repr_alloc(&r, NULL, NULL) == 0);
	CHECK_STR(enc(r, REPR_JSON), "{}");
	CHECK_STR(enc(r, REPR_XML), DECL "<resource xmlns=\"" NS "\"/>");

	/* Output is appended after what the buffer holds */
	mbuf_reset(out);
	CHECK(mbuf_write_str(out, "HTTP body: ") == 0);
	CHECK(repr_encode(out, r, REPR_JSON, NULL) == 0);
	CHECK(mbuf_write_u8(out, 0) == 0);
	CHECK_STR((char *)out->buf, "HTTP body: {}");

	mem_deref(r);
}

struct esc_case {
	const char *in;
	size_t len;
	const char *json; /* the JSON string literal, quotes included */
	const char *xml;  /* the escaped XML text */
};

#define IN(s) s, sizeof(s) - 1

static const struct esc_case esc_cases[] = {
    {IN("plain"), "\"plain\"", "plain"},
    {IN("a\"b"), "\"a\\\"b\"", "a&quot;b"},
    {IN("a\\b"), "\"a\\\\b\"", "a\\b"},
    {IN("<>&'"), "\"<>&'\"", "&lt;&gt;&amp;&apos;"},
    {IN("]]>"), "\"]]>\"", "]]&gt;"},
    {IN("&amp;"), "\"&amp;\"", "&amp;amp;"},
    {IN("\t\n\r"), "\"\\t\\n\\r\"", "&#9;&#10;&#13;"},
    {IN("\x01\x08\x0c\x1f"), "\"\\u0001\\b\\f\\u001F\"", FFFD FFFD FFFD FFFD},
    {IN("a\0b"), "\"a\\u0000b\"", "a" FFFD "b"},
    {IN("\x7f"), "\"\x7f\"", "\x7f"},
    /* Valid non-ASCII is kept: 2, 3 and 4 bytes, C1 control, U+FFFD */
    {IN("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
    {IN("\xc2\x85" FFFD), "\"\xc2\x85" FFFD "\"", "\xc2\x85" FFFD},
    /* Noncharacters: valid UTF-8 for JSON, not XML 1.0 Chars */
    {IN("\xef\xbf\xbe\xef\xbf\xbf"), "\"\xef\xbf\xbe\xef\xbf\xbf\"", FFFD FFFD},
    /* Ill-formed: one U+FFFD per maximal subpart */
    {IN("a\x80"
	"b"),
     "\"a" FFFD "b\"", "a" FFFD "b"},
    {IN("\xbf\xbf"), "\"" FFFD FFFD "\"", FFFD FFFD},
    {IN("\xc0\xaf"), "\"" FFFD FFFD "\"", FFFD FFFD},
    {IN("\xc1\xbf"), "\"" FFFD FFFD "\"", FFFD FFFD},
    {IN("\xe0\x80\xaf"), "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD},
    {IN("\xf0\x80\x80\xaf"), "\"" FFFD FFFD FFFD FFFD "\"",
     FFFD FFFD FFFD FFFD},
    {IN("\xed\xa0\x80"), "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD},
    {IN("\xed\xbf\xbf"), "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD},
    {IN("\xe2\x82"), "\"" FFFD "\"", FFFD},
    {IN("\xe2\x82"
	"A"),
     "\"" FFFD "A\"", FFFD "A"},
    {IN("\xf0\x9f\x98"), "\"" FFFD "\"", FFFD},
    {IN("\xc3"), "\"" FFFD "\"", FFFD},
    {IN("\xf4\x90\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\"",
     FFFD FFFD FFFD FFFD},
    {IN("\xf5\x80\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\"",
     FFFD FFFD FFFD FFFD},
    {IN("\xfe\xff"), "\"" FFFD FFFD "\"", FFFD FFFD},
    /* The highest code point is fine */
    {IN("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf"},
};

/* The same escaping whether the string is a value, an attribute or a key. */
static void test_escape(void)
{
	char want[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(esc_cases); i++) {
		const struct esc_case *c = &esc_cases[i];
		struct repr *r = NULL;
		struct pl pl;
		json_t *j, *v, *in;
		const char *s;

		pl.p = c->in;
		pl.l = c->len;
		CHECK(repr_alloc(&r, NULL, NULL) == 0);
		CHECK(repr_prop_pl(r, "s", &pl) == 0);

		/* JSON value */
		snprintf(want, sizeof(want), "{\"s\":%s}", c->json);
		s = enc(r, REPR_JSON);
		CHECK_STR(s, want);

		/* It parses back; valid UTF-8 comes back byte for byte */
		j = s ? json_loads(s, JSON_ALLOW_NUL, NULL) : NULL;
		v = json_object_get(j, "s");
		CHECK(json_is_string(v));
		in = json_stringn(c->in, c->len);
		if (in && v)
			CHECK(json_equal(in, v));
		json_decref(in);
		json_decref(j);

		/* XML text */
		snprintf(want, sizeof(want),
			 DECL "<resource xmlns=\"" NS "\">"
			      "<property name=\"s\">%s</property></resource>",
			 c->xml);
		s = enc(r, REPR_XML);
		CHECK_STR(s, want);
		CHECK(s && xml_wellformed(s));

		/* xml_escape itself, no more and no less */
		mbuf_reset(out);
		CHECK(xml_escape(out, c->in, c->len) == 0);
		CHECK(mbuf_write_u8(out, 0) == 0);
		CHECK_STR((char *)out->buf, c->xml);

		mem_deref(r);
	}

	/* A NUL survives JSON as \u0000 with the right length */
	{
		json_t *j =
		    json_loads("{\"s\":\"a\\u0000b\"}", JSON_ALLOW_NUL, NULL);
		CHECK(json_string_length(json_object_get(j, "s")) == 3);
		json_decref(j);
	}
}

/* Attributes, JSON keys and repeated rels with special characters. */
static void test_escape_names(void)
{
	struct repr *r = NULL, *c = NULL;
	const char *s;

	CHECK(repr_alloc(&r, "a\"b", "/x?a=1&b='2'") == 0);
	CHECK(repr_link_title(r, "r<1>", "/y\xff", "T\"i\ttle") == 0);
	CHECK(repr_prop_str(r, "k\"ey\\", "v") == 0);
	CHECK(repr_prop_str(r, "\xe9t\xc3\xa9", "v") == 0);
	CHECK(repr_alloc(&c, "c&d", NULL) == 0);
	CHECK(repr_embed(r, c) == 0);
	mem_deref(c);

	CHECK_STR(enc(r, REPR_JSON),
		  "{\"rel\":\"a\\\"b\",\"k\\\"ey\\\\\":\"v\","
		  "\"" FFFD "t\xc3\xa9\":\"v\","
		  "\"_links\":{\"self\":{\"href\":\"/x?a=1&b='2'\"},"
		  "\"r<1>\":{\"href\":\"/y" FFFD "\","
		  "\"title\":\"T\\\"i\\ttle\"}},"
		  "\"_embedded\":{\"c&d\":{\"rel\":\"c&d\"}}}");

	s = enc(r, REPR_XML);
	CHECK_STR(s, DECL "<resource rel=\"a&quot;b\" "
			  "href=\"/x?a=1&amp;b=&apos;2&apos;\" "
			  "xmlns=\"" NS "\">"
			  "<link rel=\"r&lt;1&gt;\" href=\"/y" FFFD "\" "
			  "title=\"T&quot;i&#9;tle\"/>"
			  "<property name=\"k&quot;ey\\\">v</property>"
			  "<property name=\"" FFFD "t\xc3\xa9\">v</property>"
			  "<resource rel=\"c&amp;d\"/></resource>");
	CHECK(s && xml_wellformed(s));

	mem_deref(r);
}

static void check_date(uint64_t ms, const char *json, const char *iso)
{
	char want[256];
	struct repr *r = NULL;

	CHECK(repr_alloc(&r, NULL, NULL) == 0);
	CHECK(repr_prop_date(r, "d", ms) == 0);

	snprintf(want, sizeof(want), "{\"d\":\"%s\"}", json);
	CHECK_STR(enc(r, REPR_JSON), want);

	snprintf(want, sizeof(want),
		 DECL "<resource xmlns=\"" NS "\">"
		      "<property name=\"d\">%s</property></resource>",
		 iso);
	CHECK_STR(enc(r, REPR_XML), want);

	mem_deref(r);
}

static void test_dates(void)
{
	struct repr *r = NULL;

	check_date(0, "/Date(0)/", "1970-01-01T00:00:00.000Z");
	check_date(1795463896123ULL, "/Date(1795463896123)/",
		   "2026-11-23T19:58:16.123Z");
	check_date(1709208000007ULL, "/Date(1709208000007)/",
		   "2024-02-29T12:00:00.007Z");
	check_date(REPR_DATE_MAX_MS, "/Date(253402300799999)/",
		   "9999-12-31T23:59:59.999Z");

	/* Past year 9999 the ISO form would need an expanded year */
	CHECK(repr_alloc(&r, NULL, NULL) == 0);
	CHECK(repr_prop_date(r, "d", REPR_DATE_MAX_MS + 1) == EINVAL);
	CHECK(repr_prop_date(r, "d", UINT64_MAX) == EINVAL);
	CHECK_STR(enc(r, REPR_JSON), "{}");
	mem_deref(r);
}

static void test_xmlw(void)
{
	struct xmlw w;
	struct pl pl;
	char want[512];
	int i;

	/* Empty elements, attributes of every kind, text, nesting */
	mbuf_reset(out);
	xmlw_init(&w, out);
	pl.p = "x&y and more";
	pl.l = 3;
	CHECK(xmlw_start(&w, "Root") == 0);
	CHECK(xmlw_attr(&w, "a", "<'>") == 0);
	CHECK(xmlw_attr_pl(&w, "b", &pl) == 0);
	CHECK(xmlw_attr_u32(&w, "port", 4294967295u) == 0);
	CHECK(xmlw_start(&w, "Empty") == 0);
	CHECK(xmlw_end(&w) == 0);
	CHECK(xmlw_start(&w, "T") == 0);
	CHECK(xmlw_text(&w, "1 < 2", 5) == 0);
	CHECK(xmlw_text(&w, "", 0) == 0);
	/* No attribute once content started */
	CHECK(xmlw_attr(&w, "late", "x") == EINVAL);
	CHECK(xmlw_end(&w) == 0);
	CHECK(xmlw_end(&w) == 0);
	/* Nothing is open any more */
	CHECK(xmlw_end(&w) == EINVAL);
	CHECK(xmlw_text(&w, "x", 1) == EINVAL);
	CHECK(xmlw_attr(&w, "a", NULL) == EINVAL);
	CHECK(mbuf_write_u8(out, 0) == 0);
	CHECK_STR((char *)out->buf,
		  DECL "<Root a=\"&lt;&apos;&gt;\" b=\"x&amp;y\" "
		       "port=\"4294967295\"><Empty/><T>1 &lt; 2</T></Root>");
	CHECK(xml_wellformed((char *)out->buf));

	/* 32 open elements are fine; the 33rd is refused */
	mbuf_reset(out);
	xmlw_init(&w, out);
	for (i = 0; i < 32; i++)
		CHECK(xmlw_start(&w, "e") == 0);
	CHECK(xmlw_start(&w, "e") == EOVERFLOW);
	CHECK(w.depth == 32);
	CHECK(xmlw_text(&w, "x", 1) == 0);
	for (i = 0; i < 32; i++)
		CHECK(xmlw_end(&w) == 0);
	CHECK(xmlw_end(&w) == EINVAL);
	CHECK(mbuf_write_u8(out, 0) == 0);

	strcpy(want, DECL);
	for (i = 0; i < 32; i++)
		strcat(want, "<e>");
	strcat(want, "x");
	for (i = 0; i < 32; i++)
		strcat(want, "</e>");
	CHECK_STR((char *)out->buf, want);
	CHECK(xml_wellformed((char *)out->buf));

	/* The checker itself rejects what it should */
	CHECK(!xml_wellformed("<a><b></a></b>"));
	CHECK(!xml_wellformed("<a>&</a>"));
	CHECK(!xml_wellformed("<a x=\"<\"/>"));
	CHECK(!xml_wellformed("<a/><b/>"));
	CHECK(!xml_wellformed("<a>\x01</a>"));
	CHECK(!xml_wellformed("<a>\xff</a>"));
	CHECK(!xml_wellformed("<a>"));
}

/* A chain of n resources, each embedding the next. */
static int chain(struct repr **rp, unsigned n)
{
	struct repr *r = NULL, *c = NULL;
	int err = 0;

	while (n-- && !err) {
		err = repr_alloc(&r, "n", NULL);
		if (!err && c)
			err = repr_embed(r, c);
		mem_deref(c);
		c = r;
	}

	*rp = c;
	return err;
}

static void test_depth(void)
{
	struct repr *top = NULL, *leaf, *extra = NULL, *r = NULL;
	struct le *le;
	size_t end;

	/* 16 levels encode; a 17th is refused when embedded */
	CHECK(chain(&top, REPR_MAX_DEPTH) == 0);
	CHECK(enc(top, REPR_JSON) != NULL);
	CHECK(enc(top, REPR_XML) != NULL);
	CHECK(repr_alloc(&r, "n", NULL) == 0);
	CHECK(repr_embed(r, top) == EOVERFLOW);

	/* Grow the leaf after the fact: the encoders catch it */
	for (leaf = top; (le = list_head(&leaf->embeds));)
		leaf = ((struct repr_child *)le->data)->r;
	CHECK(repr_alloc(&extra, "n", NULL) == 0);
	CHECK(repr_embed(leaf, extra) == 0);

	mbuf_reset(out);
	CHECK(mbuf_write_str(out, "keep") == 0);
	end = out->end;
	CHECK(repr_encode(out, top, REPR_JSON, NULL) == EOVERFLOW);
	CHECK(out->end == end && out->pos == end);
	CHECK(repr_encode(out, top, REPR_XML, NULL) == EOVERFLOW);
	CHECK(out->end == end && out->pos == end);

	/* Cycles are refused: they would never be freed */
	CHECK(repr_embed(r, r) == EINVAL);
	CHECK(repr_embed(extra, top) != 0);
	mem_deref(r);
	r = NULL;
	CHECK(chain(&r, 3) == 0);
	leaf = ((struct repr_child *)list_head(&r->embeds)->data)->r;
	CHECK(repr_embed(leaf, r) == EINVAL);
	CHECK(list_count(&leaf->embeds) == 1);

	mem_deref(extra);
	mem_deref(top);
	mem_deref(r);
}

static void test_errors(void)
{
	static const char *const bad[] = {"a", NULL};
	struct repr *r = NULL, *norel = NULL;
	struct pl pl = {NULL, 0};

	CHECK(repr_alloc(NULL, "a", NULL) == EINVAL);
	CHECK(repr_alloc(&r, "x", NULL) == 0);
	CHECK(repr_alloc(&norel, NULL, "/n") == 0);

	CHECK(repr_link(r, NULL, "/h") == EINVAL);
	CHECK(repr_link(r, "l", NULL) == EINVAL);
	CHECK(repr_link(NULL, "l", "/h") == EINVAL);
	CHECK(repr_prop_str(r, NULL, "v") == EINVAL);
	CHECK(repr_prop_str(r, "n", NULL) == EINVAL);
	CHECK(repr_prop_pl(r, "n", NULL) == EINVAL);
	CHECK(repr_prop_int(NULL, "n", 1) == EINVAL);
	CHECK(repr_prop_strlist(r, "n", bad, 2) == EINVAL);
	CHECK(repr_prop_strlist(r, "n", NULL, 1) == EINVAL);

	/* Names the JSON encoding uses itself, and duplicates */
	CHECK(repr_prop_str(r, "rel", "v") == EINVAL);
	CHECK(repr_prop_int(r, "_links", 1) == EINVAL);
	CHECK(repr_prop_bool(r, "_embedded", true) == EINVAL);
	CHECK(repr_prop_pl(r, "n", &pl) == 0);
	CHECK(repr_prop_int(r, "n", 1) == EEXIST);
	/* Two ill-formed spellings that sanitise alike collide too */
	CHECK(repr_prop_int(r, "\xff", 1) == 0);
	CHECK(repr_prop_int(r, "\xfe", 1) == EEXIST);

	/* An embedded resource needs a rel for its JSON key */
	CHECK(repr_embed(r, norel) == EINVAL);
	CHECK(repr_embed(r, NULL) == EINVAL);

	CHECK(repr_encode(NULL, r, REPR_JSON, NULL) == EINVAL);
	CHECK(repr_encode(out, NULL, REPR_JSON, NULL) == EINVAL);
	CHECK(repr_encode(out, r, (enum repr_fmt)7, NULL) == EINVAL);

	/* Failed calls left nothing behind */
	CHECK_STR(enc(r, REPR_JSON),
		  "{\"rel\":\"x\",\"n\":\"\",\"" FFFD "\":1}");

	CHECK(xml_escape(out, NULL, 1) == EINVAL);
	CHECK(xml_escape(out, NULL, 0) == 0);

	mem_deref(norel);
	mem_deref(r);
}

static const char *enc_events(const struct repr_events *e, enum repr_fmt fmt)
{
	mbuf_reset(out);
	if (repr_events_encode(out, e, fmt))
		return NULL;
	if (mbuf_write_u8(out, 0))
		return NULL;
	return (const char *)out->buf;
}

/* An event batch: events in the order added, consecutive events of one
 * sender in one entry (a sender appears again after another's), "in"
 * links, status, an embedded resource, and the next link. */
static void test_events(void)
{
	struct repr_events *e = NULL;
	struct repr *conv = NULL;
	struct repr_event ev;

	CHECK(0 == repr_events_alloc(&e, "/a/7/events?ack=2"));
	CHECK(0 == repr_events_link(e, "next", "/a/7/events?ack=3"));
	CHECK(0 == repr_alloc(&conv, "conversation", "/a/7/c/1"));
	CHECK(0 == repr_prop_str(conv, "state", "Connected"));

	memset(&ev, 0, sizeof(ev));
	ev.sender_rel = "me";
	ev.sender_href = "/a/7/me";
	ev.type = "updated";
	ev.rel = "presence";
	ev.href = "/a/7/me/presence";
	CHECK(0 == repr_events_add(e, &ev));

	memset(&ev, 0, sizeof(ev));
	ev.sender_rel = "communication";
	ev.sender_href = "/a/7/communication";
	ev.type = "added";
	ev.rel = "conversation";
	ev.href = "/a/7/c/1";
	ev.embedded = conv;
	CHECK(0 == repr_events_add(e, &ev));

	memset(&ev, 0, sizeof(ev));
	ev.sender_rel = "me";
	ev.sender_href = "/a/7/me";
	ev.type = "completed";
	ev.rel = "messagingInvitation";
	ev.href = "/a/7/c/1/inv<1>";
	ev.in_rel = "conversation";
	ev.in_href = "/a/7/c/1";
	ev.status = "Success";
	CHECK(0 == repr_events_add(e, &ev));

	memset(&ev, 0, sizeof(ev));
	ev.sender_rel = "me";
	ev.sender_href = "/a/7/me";
	ev.type = "updated";
	ev.rel = "note";
	ev.href = "/a/7/me/note";
	CHECK(0 == repr_events_add(e, &ev));

	CHECK_STR(
	    enc_events(e, REPR_JSON),
	    "{\"_links\":{\"self\":{\"href\":\"/a/7/events?ack=2\"},"
	    "\"next\":{\"href\":\"/a/7/events?ack=3\"}},"
	    "\"sender\":[{\"rel\":\"me\",\"href\":\"/a/7/me\","
	    "\"events\":[{\"link\":{\"rel\":\"presence\",\"href\":"
	    "\"/a/7/me/presence\"},\"type\":\"updated\"}]},"
	    "{\"rel\":\"communication\",\"href\":\"/a/7/communication\","
	    "\"events\":[{\"link\":{\"rel\":\"conversation\",\"href\":"
	    "\"/a/7/c/1\"},\"_embedded\":{\"conversation\":{\"rel\":"
	    "\"conversation\",\"state\":\"Connected\",\"_links\":"
	    "{\"self\":{\"href\":\"/a/7/c/1\"}}}},\"type\":\"added\"}]},"
	    "{\"rel\":\"me\",\"href\":\"/a/7/me\","
	    "\"events\":[{\"link\":{\"rel\":\"messagingInvitation\",\"href\":"
	    "\"/a/7/c/1/inv<1>\"},\"in\":{\"rel\":\"conversation\","
	    "\"href\":\"/a/7/c/1\"},\"status\":\"Success\","
	    "\"type\":\"completed\"},"
	    "{\"link\":{\"rel\":\"note\",\"href\":\"/a/7/me/note\"},"
	    "\"type\":\"updated\"}]}]}");

	CHECK_STR(enc_events(e, REPR_XML),
		  "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		  "<events href=\"/a/7/events?ack=2\" xmlns=\"" NS "\">"
		  "<link rel=\"next\" href=\"/a/7/events?ack=3\"/>"
		  "<sender rel=\"me\" href=\"/a/7/me\">"
		  "<updated rel=\"presence\" href=\"/a/7/me/presence\"/>"
		  "</sender>"
		  "<sender rel=\"communication\" href=\"/a/7/communication\">"
		  "<added rel=\"conversation\" href=\"/a/7/c/1\">"
		  "<resource rel=\"conversation\" href=\"/a/7/c/1\">"
		  "<property name=\"state\">Connected</property></resource>"
		  "</added></sender>"
		  "<sender rel=\"me\" href=\"/a/7/me\">"
		  "<completed rel=\"messagingInvitation\" "
		  "href=\"/a/7/c/1/inv&lt;1&gt;\" status=\"Success\">"
		  "<in rel=\"conversation\" href=\"/a/7/c/1\"/></completed>"
		  "<updated rel=\"note\" href=\"/a/7/me/note\"/>"
		  "</sender></events>");

	/* an empty batch still has its links and an empty sender list */
	mem_deref(e);
	e = NULL;
	CHECK(0 == repr_events_alloc(&e, "/e?ack=5"));
	CHECK(0 == repr_events_link(e, "resync", "/e?ack=9"));
	CHECK_STR(enc_events(e, REPR_JSON),
		  "{\"_links\":{\"self\":{\"href\":\"/e?ack=5\"},"
		  "\"resync\":{\"href\":\"/e?ack=9\"}},\"sender\":[]}");
	CHECK(EINVAL == repr_events_add(e, &(struct repr_event){0}));

	mem_deref(e);
	mem_deref(conv);
}

static int parse_in(const char *body, struct repr_in **in, const char **why)
{
	struct pl pl;

	pl_set_str(&pl, body);
	return repr_in_json(in, &pl, why);
}

/* Request bodies: strict JSON, keys in any case, limits. */
static void test_in(void)
{
	struct repr_in *in = NULL;
	const char *why = NULL;
	struct pl v;
	int64_t n;
	char deep[64];
	static const char notnul[] = {'{', '"', 'a', '"', ':', '1', '}', 'X'};
	struct pl pl = {notnul, 7};

	CHECK(0 == parse_in("{\"Culture\":\"en-US\",\"EndpointId\":\"e1\","
			    "\"n\":42,\"uris\":[\"sip:a@b\",\"sip:c@d\"],"
			    "\"gone\":null}",
			    &in, &why));
	CHECK(0 == repr_in_str(in, "culture", &v) && !pl_strcmp(&v, "en-US"));
	CHECK(0 == repr_in_str(in, "endpointid", &v) && !pl_strcmp(&v, "e1"));
	CHECK(0 == repr_in_int(in, "N", &n) && n == 42);
	CHECK(EINVAL == repr_in_str(in, "n", &v));
	CHECK(EINVAL == repr_in_int(in, "culture", &n));
	CHECK(ENOENT == repr_in_str(in, "userAgent", &v));
	CHECK(ENOENT == repr_in_str(in, "gone", &v));
	CHECK(0 == repr_in_strv(in, "uris", 1, &v) &&
	      !pl_strcmp(&v, "sip:c@d"));
	CHECK(ENOENT == repr_in_strv(in, "uris", 2, &v));
	in = mem_deref(in);

	CHECK(EINVAL == parse_in("{\"a\":1,\"a\":2}", &in, &why) && why);
	CHECK(EINVAL ==
	      parse_in("{\"UserAgent\":\"x\",\"useragent\":\"y\"}", &in, &why));
	CHECK(strstr(why, "twice") != NULL);
	CHECK(EINVAL == parse_in("{\"a\":1,}", &in, &why)); /* trailing comma */
	CHECK(EINVAL == parse_in("{\"a\":\"\xff\"}", &in, &why));
	CHECK(EINVAL == parse_in("[1,2]", &in, &why) && strstr(why, "object"));
	CHECK(EINVAL == parse_in("", &in, &why));
	CHECK(EINVAL == parse_in("{\"a\":1} trailing", &in, &why));
	strcpy(deep, "{\"a\":[[[[[[[[1]]]]]]]]}"); /* depth 9 */
	CHECK(EOVERFLOW == parse_in(deep, &in, &why) && strstr(why, "deep"));
	strcpy(deep, "{\"a\":[[[[[[[1]]]]]]]}"); /* depth 8 */
	CHECK(0 == parse_in(deep, &in, &why));
	in = mem_deref(in);
	/* brackets inside strings do not count */
	CHECK(0 == parse_in("{\"a\":\"[[[[[[[[[[[[\\\"\"}", &in, &why));
	in = mem_deref(in);
	/* the body is read to its length, not to a NUL */
	CHECK(0 == repr_in_json(&in, &pl, &why));
	CHECK(0 == repr_in_int(in, "a", &n) && n == 1);
	in = mem_deref(in);
}

static int parse_xml(const char *body, struct repr_in **in, const char **why)
{
	struct pl pl;

	*why = NULL;
	pl_set_str(&pl, body);
	return repr_in_xml(in, &pl, why);
}

#define UCWA_IN "<input xmlns=\"" REPR_UCWA_NS "\">"

/* XML request bodies: every getter, the same checks as JSON, limits, no
 * DTD and so no entity, ill-formed XML. */
static void test_in_xml(void)
{
	struct repr_in *in = NULL;
	const char *why = NULL;
	struct mbuf *mb = mbuf_alloc(REPR_IN_MAX_BYTES + 64);
	struct pl v;
	int64_t n;
	size_t i;
	static const char notnul[] = "<input><property name=\"a\">1</property>"
				     "</input>X";
	struct pl pl = {notnul, sizeof(notnul) - 2};

	CHECK(mb != NULL);

	/* the documented form, keys in any case */
	CHECK(0 ==
	      parse_xml("<?xml version=\"1.0\" encoding=\"utf-8\"?>" UCWA_IN
			"<property name=\"Culture\">en-US</property>"
			"<property name=\"duration\"> 11 </property>"
			"<property name=\"neg\">-9223372036854775808"
			"</property>"
			"<property name=\"note\"> a &lt;b&gt; &amp; "
			"&#233;\xc3\xa9 </property>"
			"<property name=\"empty\"/>"
			"<propertyList name=\"uris\">"
			"<item>sip:bob@example.test</item>\n"
			"  <item>sip:carol@example.test</item>"
			"</propertyList>"
			"<propertyList name=\"none\"/>"
			"</input>",
			&in, &why));
	CHECK(0 == repr_in_str(in, "culture", &v) && !pl_strcmp(&v, "en-US"));
	CHECK(0 == repr_in_int(in, "DURATION", &n) && n == 11);
	CHECK(0 == repr_in_int(in, "neg", &n) && n == INT64_MIN);
	/* a string keeps its white space; entities of XML itself are read */
	CHECK(0 == repr_in_str(in, "note", &v) &&
	      !pl_strcmp(&v, " a <b> & \xc3\xa9\xc3\xa9 "));
	CHECK(0 == repr_in_str(in, "empty", &v) && v.l == 0);
	CHECK(0 == repr_in_strv(in, "uris", 0, &v) &&
	      !pl_strcmp(&v, "sip:bob@example.test"));
	CHECK(0 == repr_in_strv(in, "Uris", 1, &v) &&
	      !pl_strcmp(&v, "sip:carol@example.test"));
	CHECK(ENOENT == repr_in_strv(in, "uris", 2, &v));
	CHECK(ENOENT == repr_in_strv(in, "none", 0, &v));
	CHECK(ENOENT == repr_in_str(in, "userAgent", &v));
	/* types as in JSON: a list is not a string, a string not a list */
	CHECK(EINVAL == repr_in_str(in, "uris", &v));
	CHECK(EINVAL == repr_in_strv(in, "culture", 0, &v));
	CHECK(EINVAL == repr_in_int(in, "culture", &n));
	CHECK(EINVAL == repr_in_int(in, "empty", &n));
	CHECK(EINVAL == repr_in_int(in, "uris", &n));
	in = mem_deref(in);

	/* integers: xs:long, nothing else */
	CHECK(0 == parse_xml("<input><property name=\"a\">+7</property>"
			     "<property name=\"b\">9223372036854775807"
			     "</property><property name=\"c\">"
			     "9223372036854775808</property>"
			     "<property name=\"d\">1.5</property>"
			     "<property name=\"e\">0x10</property>"
			     "<property name=\"f\">1 2</property>"
			     "<property name=\"g\">-</property></input>",
			     &in, &why));
	CHECK(0 == repr_in_int(in, "a", &n) && n == 7);
	CHECK(0 == repr_in_int(in, "b", &n) && n == INT64_MAX);
	CHECK(EINVAL == repr_in_int(in, "c", &n));
	CHECK(EINVAL == repr_in_int(in, "d", &n));
	CHECK(EINVAL == repr_in_int(in, "e", &n));
	CHECK(EINVAL == repr_in_int(in, "f", &n));
	CHECK(EINVAL == repr_in_int(in, "g", &n));
	in = mem_deref(in);

	/* a <resource> sent back: its links are passed over */
	CHECK(0 == parse_xml("<resource xmlns=\"" REPR_UCWA_NS
			     "\" rel=\"note\">"
			     "<link rel=\"self\" href=\"/x\"/>"
			     "<property name=\"message\">hi</property>"
			     "</resource>",
			     &in, &why));
	CHECK(0 == repr_in_str(in, "message", &v) && !pl_strcmp(&v, "hi"));
	in = mem_deref(in);

	/* the body is read to its length, not to a NUL */
	CHECK(0 == repr_in_xml(&in, &pl, &why));
	CHECK(0 == repr_in_int(in, "a", &n) && n == 1);
	in = mem_deref(in);

	/* keys given twice, in any case */
	CHECK(EINVAL == parse_xml("<input><property name=\"a\">1</property>"
				  "<property name=\"a\">2</property></input>",
				  &in, &why) &&
	      strstr(why, "twice"));
	CHECK(EINVAL ==
		  parse_xml("<input><property name=\"UserAgent\">x"
			    "</property><propertyList name=\"useragent\"/>"
			    "</input>",
			    &in, &why) &&
	      strstr(why, "twice"));

	/* not the input form */
	CHECK(EINVAL == parse_xml("<presence/>", &in, &why) &&
	      strstr(why, "<input>"));
	CHECK(EINVAL == parse_xml("<input xmlns=\"urn:other\"/>", &in, &why) &&
	      strstr(why, "namespace"));
	CHECK(EINVAL == parse_xml("<input><property>x</property></input>", &in,
				  &why) &&
	      strstr(why, "name"));
	CHECK(EINVAL == parse_xml("<input><property name=\"\">x</property>"
				  "</input>",
				  &in, &why));
	CHECK(EINVAL == parse_xml("<input><foo/></input>", &in, &why) &&
	      strstr(why, "unexpected"));
	CHECK(EINVAL == parse_xml("<input><property name=\"a\">x<b/></property>"
				  "</input>",
				  &in, &why) &&
	      strstr(why, "unexpected"));
	CHECK(EINVAL == parse_xml("<input><item>x</item></input>", &in, &why));
	CHECK(EINVAL == parse_xml("<input><propertyList name=\"a\"><x/>"
				  "</propertyList></input>",
				  &in, &why));

	/* ill-formed XML */
	CHECK(EINVAL == parse_xml("", &in, &why) && strstr(why, "ill-formed"));
	CHECK(EINVAL == parse_xml("<input>", &in, &why) &&
	      strstr(why, "ill-formed"));
	CHECK(EINVAL == parse_xml("<input></inputs>", &in, &why));
	CHECK(EINVAL == parse_xml("<input/><input/>", &in, &why));
	CHECK(EINVAL == parse_xml("<input><property name=\"a\">\xff</property>"
				  "</input>",
				  &in, &why));
	CHECK(EINVAL == parse_xml("{\"culture\":\"en-US\"}", &in, &why));
	CHECK(EINVAL == parse_xml("<input><property name=\"a\">&bogus;"
				  "</property></input>",
				  &in, &why) &&
	      strstr(why, "ill-formed"));

	/* no DTD, so no entity is ever declared or expanded */
	CHECK(EINVAL == parse_xml("<!DOCTYPE input [<!ENTITY a \"aaaa\">"
				  "<!ENTITY b \"&a;&a;&a;&a;\">]>"
				  "<input><property name=\"x\">&b;</property>"
				  "</input>",
				  &in, &why) &&
	      strstr(why, "DTD"));
	CHECK(EINVAL ==
		  parse_xml("<!DOCTYPE input SYSTEM \"file:///etc/passwd\">"
			    "<input/>",
			    &in, &why) &&
	      strstr(why, "DTD"));
	CHECK(EINVAL == parse_xml("<!DOCTYPE input><input/>", &in, &why) &&
	      strstr(why, "DTD"));
	CHECK(in == NULL);

	/* limits: members, elements, attributes, bytes. Nesting stops at
	 * the first element the form does not have (the reader's depth
	 * limit, REPR_IN_MAX_DEPTH, is never reached by the input form) */
	CHECK(EINVAL ==
		  parse_xml("<input><link><b><c><d><e><f><g><h/></g></f></e>"
			    "</d></c></b></link></input>",
			    &in, &why) &&
	      strstr(why, "unexpected"));
	mbuf_rewind(mb);
	CHECK(0 == mbuf_write_str(mb, "<input>"));
	for (i = 0; i < REPR_IN_MAX_MEMBERS; i++)
		CHECK(0 == mbuf_printf(mb, "<property name=\"k%zu\"/>", i));
	CHECK(0 == mbuf_write_str(mb, "</input>"));
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(0 == repr_in_xml(&in, &pl, &why)); /* at the limit */
	in = mem_deref(in);
	mb->end -= strlen("</input>");
	mb->pos = mb->end;
	CHECK(0 == mbuf_write_str(mb, "<property name=\"one-more\"/></input>"));
	pl.l = mb->end;
	CHECK(EOVERFLOW == repr_in_xml(&in, &pl, &why) &&
	      strstr(why, "members"));

	mbuf_rewind(mb);
	CHECK(0 == mbuf_write_str(mb, "<input><propertyList name=\"l\">"));
	for (i = 0; i < REPR_IN_MAX_ELEMENTS - 2; i++)
		CHECK(0 == mbuf_write_str(mb, "<item/>"));
	CHECK(0 == mbuf_write_str(mb, "</propertyList></input>"));
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(0 == repr_in_xml(&in, &pl, &why)); /* at the limit */
	CHECK(0 == repr_in_strv(in, "l", REPR_IN_MAX_ELEMENTS - 3, &v));
	in = mem_deref(in);
	mb->end -= strlen("</propertyList></input>");
	mb->pos = mb->end;
	CHECK(0 == mbuf_write_str(mb, "<item/></propertyList></input>"));
	pl.l = mb->end;
	CHECK(EOVERFLOW == repr_in_xml(&in, &pl, &why) &&
	      strstr(why, "elements"));

	CHECK(EOVERFLOW ==
		  parse_xml("<input a=\"1\" b=\"1\" c=\"1\" d=\"1\" "
			    "e=\"1\" f=\"1\" g=\"1\" h=\"1\" i=\"1\"/>",
			    &in, &why) &&
	      strstr(why, "attributes"));
	mbuf_rewind(mb);
	CHECK(0 == mbuf_write_str(mb, "<input><property name=\""));
	for (i = 0; i < REPR_IN_MAX_ATTR_LEN; i++)
		CHECK(0 == mbuf_write_u8(mb, 'k'));
	CHECK(0 == mbuf_write_str(mb, "\">v</property></input>"));
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(0 == repr_in_xml(&in, &pl, &why)); /* at the limit */
	in = mem_deref(in);
	mbuf_rewind(mb);
	CHECK(0 == mbuf_write_str(mb, "<input><property name=\""));
	for (i = 0; i <= REPR_IN_MAX_ATTR_LEN; i++)
		CHECK(0 == mbuf_write_u8(mb, 'k'));
	CHECK(0 == mbuf_write_str(mb, "\">v</property></input>"));
	pl.l = mb->end;
	CHECK(EOVERFLOW == repr_in_xml(&in, &pl, &why) &&
	      strstr(why, "attribute"));

	/* a body of exactly the limit is read; one byte more is not */
	mbuf_rewind(mb);
	CHECK(0 == mbuf_write_str(mb, "<input><property name=\"big\">"));
	while (mb->end < REPR_IN_MAX_BYTES - strlen("</property></input>"))
		CHECK(0 == mbuf_write_u8(mb, 'x'));
	CHECK(0 == mbuf_write_str(mb, "</property></input>"));
	CHECK(mb->end == REPR_IN_MAX_BYTES);
	pl.p = (const char *)mb->buf;
	pl.l = mb->end;
	CHECK(0 == repr_in_xml(&in, &pl, &why));
	in = mem_deref(in);
	CHECK(0 == mbuf_write_u8(mb, ' '));
	pl.l = mb->end;
	CHECK(EOVERFLOW == repr_in_xml(&in, &pl, &why) &&
	      strstr(why, "too large"));
	CHECK(in == NULL);

	mem_deref(mb);
}

static int parse_ct(const char *ctype, const char *body, struct repr_in **in,
		    const char **why)
{
	struct pl ct, pl;

	*why = NULL;
	pl_set_str(&ct, ctype);
	pl_set_str(&pl, body);
	return repr_in_parse(in, &ct, &pl, why);
}

/* The body's media type chooses the parser; other types are refused. */
static void test_in_parse(void)
{
	static const char *const json_types[] = {
	    "application/json", "Application/JSON; charset=utf-8",
	    "application/vnd.microsoft.com.ucwa+json", " application/json ;"};
	static const char *const xml_types[] = {
	    "application/xml", "application/xml;charset=utf-8",
	    "application/vnd.microsoft.com.ucwa+xml",
	    "APPLICATION/VND.MICROSOFT.COM.UCWA+XML"};
	static const char *const other[] = {"text/plain",
					    "text/xml",
					    "application/json-patch+json",
					    "application/jsonx",
					    "json",
					    "application/x-www-form-urlencoded",
					    ";application/json"};
	struct repr_in *in = NULL;
	const char *why = NULL;
	struct pl v, body;
	enum repr_fmt fmt;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(json_types); i++) {
		CHECK(0 == parse_ct(json_types[i], "{\"a\":\"j\"}", &in, &why));
		CHECK(0 == repr_in_str(in, "a", &v) && !pl_strcmp(&v, "j"));
		in = mem_deref(in);
		CHECK(EINVAL == parse_ct(json_types[i], UCWA_IN "</input>", &in,
					 &why) &&
		      strstr(why, "JSON"));
	}
	for (i = 0; i < ARRAY_SIZE(xml_types); i++) {
		CHECK(0 == parse_ct(xml_types[i],
				    UCWA_IN "<property name=\"a\">x</property>"
					    "</input>",
				    &in, &why));
		CHECK(0 == repr_in_str(in, "a", &v) && !pl_strcmp(&v, "x"));
		in = mem_deref(in);
		CHECK(EINVAL ==
			  parse_ct(xml_types[i], "{\"a\":\"j\"}", &in, &why) &&
		      strstr(why, "XML"));
	}
	for (i = 0; i < ARRAY_SIZE(other); i++) {
		CHECK(ENOTSUP ==
		      parse_ct(other[i], "{\"a\":\"j\"}", &in, &why));
		CHECK(why && strstr(why, "application/json") &&
		      strstr(why, "application/xml"));
		CHECK(in == NULL);
	}

	/* no Content-Type: JSON, as before */
	pl_set_str(&body, "{\"a\":\"j\"}");
	CHECK(0 == repr_in_parse(&in, NULL, &body, &why));
	in = mem_deref(in);

	pl_set_str(&v, "application/vnd.microsoft.com.ucwa+xml; v=1");
	CHECK(0 == repr_media_fmt(&v, &fmt) && fmt == REPR_XML);
	pl_set_str(&v, "");
	CHECK(ENOTSUP == repr_media_fmt(&v, &fmt));
}

/* Hrefs: the base and the segments, ids percent-encoded, and a href
 * that does not fit refused whole, never cut short. */
static void test_href(void)
{
	const char *base = "/ucwa/v1/applications/AbC";
	char buf[64], small[32];

	CHECK(!repr_href(buf, sizeof(buf), base, "/me"));
	CHECK_STR(buf, "/ucwa/v1/applications/AbC/me");
	CHECK(!repr_href(buf, sizeof(buf), base, ""));
	CHECK_STR(buf, base);
	CHECK(!repr_href(buf, sizeof(buf), base, "/conversations/%u", 42u));
	CHECK_STR(buf, "/ucwa/v1/applications/AbC/conversations/42");

	/* an URI in a path segment: all but unreserved characters encoded */
	CHECK(!repr_href(buf, sizeof(buf), "", "/participants/%H",
			 text_pct_print,
			 "sip:b\xc3\xa9"
			 "b+x@ex.test"));
	CHECK_STR(buf, "/participants/sip%3Ab%C3%A9b%2Bx%40ex.test");
	CHECK(!repr_href(buf, sizeof(buf), "/g", "/%H/c", text_pct_print,
			 "a-b_c.d~ /?#%"));
	CHECK_STR(buf, "/g/a-b_c.d~%20%2F%3F%23%25/c");
	CHECK(!repr_href(buf, sizeof(buf), "/g", "/%H", text_pct_print, ""));
	CHECK_STR(buf, "/g/");

	/* exactly full (31 bytes and the NUL) fits; one more does not */
	CHECK(!repr_href(small, sizeof(small), "/ucwa/v1/applications/", "%s",
			 "123456789"));
	CHECK_STR(small, "/ucwa/v1/applications/123456789");
	CHECK(repr_href(small, sizeof(small), "/ucwa/v1/applications/", "%s",
			"1234567890") == EOVERFLOW);
	CHECK_STR(small, "");
	/* the base alone too long, or exactly filling the buffer */
	CHECK(repr_href(small, sizeof(small), base, "/people/contacts") ==
	      EOVERFLOW);
	CHECK_STR(small, "");
	CHECK(repr_href(small, 25, base, "") == EOVERFLOW);
	CHECK(!repr_href(small, 26, base, ""));
	CHECK_STR(small, base);
	/* escaping counts: 10 bytes become 30 */
	CHECK(repr_href(small, sizeof(small), "/p/", "%H", text_pct_print,
			"::::::::::") == EOVERFLOW);
	CHECK_STR(small, "");

	CHECK(repr_href(buf, sizeof(buf), NULL, "/me") == EINVAL);
	CHECK(repr_href(buf, sizeof(buf), base, NULL) == EINVAL);
	CHECK_STR(buf, "");
	CHECK(repr_href(buf, 0, base, "") == EINVAL);
}

int main(void)
{
	out = mbuf_alloc(1024);
	if (!out)
		return 1;

	test_full();
	test_collections();
	test_embed_key();
	test_minimal();
	test_escape();
	test_escape_names();
	test_dates();
	test_xmlw();
	test_depth();
	test_errors();
	test_events();
	test_in();
	test_in_xml();
	test_in_parse();
	test_href();

	mem_deref(out);
	return check_done("test_repr");
}
