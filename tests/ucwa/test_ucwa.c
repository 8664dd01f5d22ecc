/**
 * @file test_ucwa.c  Unit tests of the mobility API's parsers: the since
 * parameter of conversationLogs (hist_get.c)
 *
 * The files are included to reach their static helpers; the rest of the
 * component comes from its library.
 */
#include "../../src/ucwa/hist_get.c"
#include "check.h"

static bool since_of(const char *query, uint64_t *ms)
{
	struct pl q;

	pl_set_str(&q, query);
	return since_param(&q, ms);
}

static void test_since(void)
{
	const uint64_t t = 1795482960000ull; /* 2026-11-24T01:16:00Z */
	uint64_t ms = 1;

	CHECK(since_of("", &ms) && ms == 0);
	CHECK(since_of("x=1&y", &ms) && ms == 0);
	CHECK(since_of("since=1795482960000", &ms) && ms == t);
	CHECK(since_of("a=b&since=0", &ms) && ms == 0);
	CHECK(since_of("since=2026-11-24T01:16:00Z", &ms) && ms == t);
	CHECK(since_of("since=2026-11-24T01%3A16%3A00Z", &ms) && ms == t);
	CHECK(since_of("since=2026-11-24t01:16:00.5z", &ms) && ms == t + 500);
	CHECK(since_of("since=2026-11-24T01:16:00.123456Z", &ms) &&
	      ms == t + 123);
	CHECK(since_of("since=2026-11-24T03:16:00%2B02:00", &ms) && ms == t);
	/* a '+' left unencoded decodes as a space */
	CHECK(since_of("since=2026-11-24T03:16:00+02:00", &ms) && ms == t);
	CHECK(since_of("since=2026-11-23T23:46:00-01:30", &ms) && ms == t);

	CHECK(!since_of("since=", &ms));
	CHECK(!since_of("since=yesterday", &ms));
	CHECK(!since_of("since=2026-11-24T01:16:00", &ms)); /* no zone */
	CHECK(!since_of("since=2026-13-24T01:16:00Z", &ms));
	CHECK(!since_of("since=2026-11-24T24:16:00Z", &ms));
	CHECK(!since_of("since=2026-11-24T01:16:00Zjunk", &ms));
	CHECK(!since_of("since=1969-12-31T23:59:59Z", &ms));
	CHECK(!since_of("since=2026-11-24 01:16:00Z", &ms));
	CHECK(!since_of("since=99999999999999999999", &ms));
	CHECK(!since_of("since=%zz", &ms));
}

int main(void)
{
	test_since();
	return check_done("test_ucwa");
}
