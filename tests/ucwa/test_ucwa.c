/**
 * @file test_ucwa.c  Unit tests of the mobility API's parsers: the since
 * parameter of conversationLogs (hist_get.c), the text and hash the
 * history keeps (hist.c)
 *
 * The files are included to reach their static helpers; the rest of the
 * component comes from its library.
 */
#include "../../src/session/hist.c"
#include "../../src/ucwa/hist_get.c"
#include <unistd.h>
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

static void test_text_and_hash(void)
{
	char in[UCWA_HIST_TEXT_MAX + 8], out[UCWA_HIST_TEXT_MAX + 1];

	/* a two-byte character across the limit is left out whole */
	memset(in, 'a', UCWA_HIST_TEXT_MAX - 1);
	memcpy(in + UCWA_HIST_TEXT_MAX - 1, "\xc3\xa9zz", 5);
	keep_text(out, in, strlen(in));
	CHECK(strlen(out) == UCWA_HIST_TEXT_MAX - 1);
	keep_text(out, "short", 5);
	CHECK_STR(out, "short");

	/* sender and text stay apart in the hash */
	CHECK(msg_hash("sip:a@x", "bc") != msg_hash("sip:a@xb", "c"));
	CHECK(msg_hash("sip:a@x", "bc") == msg_hash("sip:a@x", "bc"));
}

/*
 * The history is stamped to the millisecond, the resolution of since; a
 * record stored when entries were stamped to the second reads back as it
 * was, in order with the newer ones.
 */
static void test_hist_ms(void)
{
	static struct app app;
	const char *old = "{\"first\":1795482960000,\"last\":1795482961000,"
			  "\"peer\":\"sip:bob@example.test\",\"n\":1,"
			  "\"count\":2,\"text\":\"hi\"}";
	const char *now = "{\"first\":1795482961250,\"last\":1795482961750,"
			  "\"peer\":\"sip:carol@example.test\",\"n\":2}";
	const struct hentry *h;
	uint64_t t0, t;
	bool frac = false;
	int i;

	/* the newer one first: insertion keeps the order of last activity */
	CHECK(!hist_record((const uint8_t *)"c0000000000000002", 17,
			   (const uint8_t *)now, strlen(now), &app));
	CHECK(!hist_record((const uint8_t *)"c0000000000000001", 17,
			   (const uint8_t *)old, strlen(old), &app));
	CHECK(list_count(&app.hist) == 2);
	h = app.hist.head ? app.hist.head->data : NULL;
	CHECK(h && h->first == 1795482960000ull &&
	      h->last == 1795482961000ull && h->count == 2 &&
	      !strcmp(h->text, "hi"));
	h = app.hist.tail ? app.hist.tail->data : NULL;
	CHECK(h && h->first == 1795482961250ull && h->last == 1795482961750ull);
	list_flush(&app.hist);

	/* the clock: milliseconds within the current second, not only whole
	 * seconds (at most 40 reads 3 ms apart) */
	for (i = 0; i < 40 && !frac; i++) {
		t0 = (uint64_t)time(NULL) * 1000;
		t = ucwa_now_ms();
		CHECK(t + 1000 > t0 && t < t0 + 2000);
		frac = t % 1000 != 0;
		(void)usleep(3000);
	}
	CHECK(frac);
}

int main(void)
{
	test_since();
	test_text_and_hash();
	test_hist_ms();
	return check_done("test_ucwa");
}
