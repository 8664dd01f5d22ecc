/**
 * @file test_text.c  Text helpers: trimming, list splitting, DNS names
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <re.h>
#include "core.h"
#include "check.h"

static bool item_is(const struct pl *pl, const char *s)
{
	return !pl_strcmp(pl, s);
}

static void test_split(void)
{
	struct pl rest, item;
	/* not NUL-terminated where it ends: the helpers must not look */
	static const char buf[] = {'a', '&', '&', 'b', 'c', '&', 'X'};

	rest.p = buf;
	rest.l = 6; /* "a&&bc&" */
	CHECK(text_next(&rest, '&', &item) && item_is(&item, "a"));
	CHECK(text_next(&rest, '&', &item) && item.l == 0);
	CHECK(text_next(&rest, '&', &item) && item_is(&item, "bc"));
	item.p = "stale";
	item.l = 5;
	CHECK(!text_next(&rest, '&', &item));
	CHECK(item.l == 0); /* never left stale */

	pl_set_str(&rest, "no-separator");
	CHECK(text_next(&rest, ',', &item) && item_is(&item, "no-separator"));
	CHECK(rest.l == 0 && !text_next(&rest, ',', &item));
}

static void test_params(void)
{
	static const char *const names[] = {"ack", "timeout"};
	/* not NUL-terminated where it ends */
	static const char buf[] = "x=1&&ACK=5&Timeout&ack=6&acks=7;";
	struct pl rest = {buf, sizeof(buf) - 2}, val;

	/* names ignore case; other names and empty items are passed over */
	CHECK(text_param_next(&rest, names, 2, &val) == 0 &&
	      item_is(&val, "5"));
	/* a bare name has an empty value */
	CHECK(text_param_next(&rest, names, 2, &val) == 1 && val.l == 0);
	CHECK(text_param_next(&rest, names, 2, &val) == 0 &&
	      item_is(&val, "6"));
	CHECK(text_param_next(&rest, names, 2, &val) == -1 && val.l == 0);
	CHECK(text_param_next(&rest, names, 2, &val) == -1);
	pl_set_str(&rest, "");
	CHECK(text_param_next(&rest, names, 2, &val) == -1);
}

static void test_chars(void)
{
	struct pl pl;
	/* a, e-acute, euro sign, G clef: 1, 2, 3 and 4 bytes */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";

	pl_set_str(&pl, s);
	CHECK(pl.l == 10 && text_chars(&pl) == 4);
	pl.l = 3; /* a and e-acute only: never past the end */
	CHECK(text_chars(&pl) == 2);
	pl.l = 0;
	CHECK(text_chars(&pl) == 0);
}

static void test_trim(void)
{
	struct pl pl;

	pl_set_str(&pl, " \t x y \t");
	text_trim(&pl);
	CHECK(item_is(&pl, "x y"));
	pl_set_str(&pl, "   ");
	text_trim(&pl);
	CHECK(pl.l == 0);
}

static bool dns(const char *s)
{
	struct pl pl;
	const char *why = NULL;
	bool ok;

	pl_set_str(&pl, s);
	ok = dns_name_valid(&pl, &why);
	CHECK(ok || why != NULL); /* a refusal always says why */
	return ok;
}

static void test_dns(void)
{
	char big[300];

	CHECK(dns("example.test"));
	CHECK(dns("lyncdiscover.Example.TEST"));
	CHECK(dns("a-b.c1.test"));
	CHECK(dns("3com.test"));
	CHECK(!dns(""));
	CHECK(!dns("example.test."));
	CHECK(!dns("a..b"));
	CHECK(!dns("-a.test"));
	CHECK(!dns("a-.test"));
	CHECK(!dns("a_b.test"));
	CHECK(!dns("a b.test"));
	CHECK(!dns("127.0.0.1"));
	memset(big, 'a', sizeof(big));
	big[63] = '\0';
	CHECK(dns(big)); /* 63: the longest label */
	big[63] = 'a';
	big[64] = '\0';
	CHECK(!dns(big));
	memset(big, 'a', sizeof(big));
	for (size_t i = 10; i < 254; i += 11)
		big[i] = '.';
	big[254] = '\0';
	CHECK(!dns(big)); /* 254 bytes */
	big[253] = '\0';
	CHECK(dns(big) == (big[252] != '.'));
}

static const char *pct(const char *in)
{
	static char buf[16];
	struct pl pl;
	size_t n;

	pl_set_str(&pl, in);
	switch (text_pct_decode(buf, sizeof(buf), &pl, &n)) {
	case 0:
		return buf;
	case EOVERFLOW:
		return "(overflow)";
	default:
		return "(invalid)";
	}
}

static void test_pct(void)
{
	CHECK_STR(pct("a%40b.c"), "a@b.c");
	CHECK_STR(pct("a+b%2Bc"), "a b+c");
	CHECK_STR(pct("%3c%3E"), "<>");
	CHECK_STR(pct(""), "");
	CHECK_STR(pct("%4"), "(invalid)");
	CHECK_STR(pct("%"), "(invalid)");
	CHECK_STR(pct("%zz"), "(invalid)");
	CHECK_STR(pct("a%00b"), "(invalid)");
	CHECK_STR(pct("123456789012345"), "123456789012345");
	CHECK_STR(pct("1234567890123456"), "(overflow)");
}

static const char *data(const char *in)
{
	static char buf[32];
	struct pl pl;
	size_t n;

	pl_set_str(&pl, in);
	switch (text_data_decode(buf, sizeof(buf), &pl, &n)) {
	case 0:
		return buf;
	case EOVERFLOW:
		return "(overflow)";
	case ENOTSUP:
		return "(unsupported)";
	default:
		return "(invalid)";
	}
}

/* data: URIs of messages: '+' is a space, a plus is %2B */
static void test_data_uri(void)
{
	CHECK_STR(data("data:text/plain;charset=utf8,Hello+Bob%21"),
		  "Hello Bob!");
	CHECK_STR(data("DATA:Text/Plain; charset=UTF-8,1%2B1+%3D+2"),
		  "1+1 = 2");
	CHECK_STR(data("data:,a+b"), "a b");
	CHECK_STR(data("data:;charset=us-ascii,x"), "x");
	CHECK_STR(data("data:text/plain,%C3%A9t%C3%A9"), "\xc3\xa9t\xc3\xa9");
	CHECK_STR(data("data:text/plain;foo=bar;charset=utf-8,"), "");
	CHECK_STR(data("data:text/plain,a,b"), "a,b");
	CHECK_STR(data("data:text/html,<b>x</b>"), "(unsupported)");
	CHECK_STR(data("data:text/plain;charset=iso-8859-1,x"),
		  "(unsupported)");
	/* base64, as the reference's startMessaging sample; '=' and '+'
	 * may come escaped; the padding may be left out */
	CHECK_STR(data("data:text/plain;base64,aGk="), "hi");
	CHECK_STR(data("data:text/plain;charset=utf-8;base64,SGk+Pz8_"),
		  "(invalid)");
	CHECK_STR(data("data:text/plain;charset=utf8;base64,SGk+Pz8/"),
		  "Hi>???");
	CHECK_STR(data("data:;base64,aGk%3D"), "hi");
	CHECK_STR(data("data:text/plain;base64,w6l0w6k"), "\xc3\xa9t\xc3\xa9");
	CHECK_STR(data("data:text/plain;base64,"), "");
	CHECK_STR(data("data:text/plain;base64,aGk=="), "(invalid)");
	CHECK_STR(data("data:text/plain;base64,aG=k"), "(invalid)");
	CHECK_STR(data("data:text/plain;base64,aGkhY"), "(invalid)");
	CHECK_STR(data("data:text/plain;base64,aGk%"), "(invalid)");
	CHECK_STR(data("data:text/plain;base64,AA=="), "(invalid)");
	CHECK_STR(data("data:text/html;base64,aGk="), "(unsupported)");
	CHECK_STR(data("data:;charset=latin1;base64,aGk="), "(unsupported)");
	CHECK_STR(data("data:;base64,"
		       "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMQ=="),
		  "1234567890123456789012345678901");
	CHECK_STR(data("data:;base64,"
		       "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="),
		  "(overflow)");
	CHECK_STR(data("data:text/plain"), "(invalid)");
	CHECK_STR(data("http://example.test/,x"), "(invalid)");
	CHECK_STR(data("data:"), "(invalid)");
	CHECK_STR(data("data:,%zz"), "(invalid)");
	CHECK_STR(data("data:,a%00"), "(invalid)");
	CHECK_STR(data("data:,1234567890123456789012345678901"),
		  "1234567890123456789012345678901");
	CHECK_STR(data("data:,12345678901234567890123456789012"), "(overflow)");
}

static const char *conv(int (*f)(struct mbuf *, const char *, size_t),
			const char *in)
{
	static char buf[256];
	struct mbuf *mb = mbuf_alloc(64);

	buf[0] = '\0';
	if (mb && !f(mb, in, strlen(in)) && mb->end < sizeof(buf)) {
		memcpy(buf, mb->buf, mb->end);
		buf[mb->end] = '\0';
	}
	mem_deref(mb);
	return buf;
}

/* text_pct_print() of in through a format, as hrefs use it. */
static const char *pct_print(const char *in)
{
	static char buf[256];

	if (re_snprintf(buf, sizeof(buf), "%H", text_pct_print, in) < 0)
		return "(failed)";
	return buf;
}

static void test_encode_html(void)
{
	CHECK_STR(conv(text_pct_encode, "Hi Bob, ok?\r\n"),
		  "Hi%20Bob%2C%20ok%3F%0D%0A");
	CHECK_STR(conv(text_pct_encode, "a-b_c.d~"), "a-b_c.d~");
	CHECK_STR(conv(text_pct_encode, "\xc3\xa9"), "%C3%A9");
	CHECK_STR(pct_print("Hi Bob, ok?\r\n"), "Hi%20Bob%2C%20ok%3F%0D%0A");
	CHECK_STR(pct_print("a-b_c.d~"), "a-b_c.d~");
	CHECK_STR(pct_print("\xc3\xa9x/"), "%C3%A9x%2F");
	CHECK_STR(pct_print(""), "");
	CHECK_STR(pct_print(NULL), "");
	CHECK_STR(conv(text_html_to_plain,
		       "<p>Hi <b>Bob</b></p><script>x</script>&lt;3&amp;"),
		  "Hi Bob\nx<3&");
	CHECK_STR(conv(text_html_to_plain, "a<br/>b &unknown; <unclosed"),
		  "a\nb &unknown; ");
}

/* text_html_to_plain() of in, copied without a NUL into an exactly sized
 * heap buffer (ASan sees a read past it) and then against an inaccessible
 * page (such a read faults in any build). */
static const char *conv_edge(const char *in)
{
	static char out[256];
	const size_t len = strlen(in);
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct mbuf *mb = mbuf_alloc(64);
	char *heap = malloc(len ? len : 1);
	char *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge;

	out[0] = '\0';
	if (!mb || !heap || map == MAP_FAILED ||
	    mprotect(map + pg, pg, PROT_NONE))
		goto out;
	memcpy(heap, in, len);
	edge = map + pg - len;
	memcpy(edge, in, len);
	if (text_html_to_plain(mb, heap, len))
		goto out;
	mbuf_rewind(mb);
	if (!text_html_to_plain(mb, edge, len) && mb->end < sizeof(out)) {
		memcpy(out, mb->buf, mb->end);
		out[mb->end] = '\0';
	}
out:
	if (map != MAP_FAILED)
		munmap(map, 2 * pg);
	free(heap);
	mem_deref(mb);
	return out;
}

/* A message cut inside a tag or an entity: nothing is read past its end. */
static void test_html_truncated(void)
{
	CHECK_STR(conv_edge("a</di"), "a");
	CHECK_STR(conv_edge("a</d"), "a");
	CHECK_STR(conv_edge("a</"), "a");
	CHECK_STR(conv_edge("a<b"), "a");
	CHECK_STR(conv_edge("a<"), "a");
	CHECK_STR(conv_edge("a</div"), "a\n");
	CHECK_STR(conv_edge("a</p"), "a\n");
	CHECK_STR(conv_edge("a<br"), "a\n");
	CHECK_STR(conv_edge("a</div>b</di"), "a\nb");
	CHECK_STR(conv_edge("a&am"), "a&am");
	CHECK_STR(conv_edge("a&"), "a&");
	CHECK_STR(conv_edge("a&lt"), "a&lt");
	CHECK_STR(conv_edge("a&lt;"), "a<");
}

int main(void)
{
	test_split();
	test_params();
	test_trim();
	test_chars();
	test_dns();
	test_pct();
	test_data_uri();
	test_encode_html();
	test_html_truncated();
	return check_done("test_text");
}
