/**
 * @file test_autodiscover.c  Autodiscover query parsing
 */
#include <string.h>
#include <re.h>
#include "autodiscover.h"
#include "check.h"

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
	CHECK_STR(domain_of("foo=bar&originalDomain=a.test&x"), "a.test");
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

int main(void)
{
	test_valid();
	test_invalid();
	return check_done("test_autodiscover");
}
