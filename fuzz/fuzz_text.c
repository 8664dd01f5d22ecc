/**
 * @file fuzz_text.c  libFuzzer driver: the text helpers of src/core
 *
 * text_html_to_plain() turns the body of a text/html MESSAGE (or of a
 * message the app sends as HTML) into the plain text the other side gets;
 * text_pct_decode() and text_next() read every query string and form,
 * text_data_decode() the data: URI of a first message;
 * dns_name_valid() checks user-supplied domains. The input is used whole
 * by each of them, from a copy of exactly its size (no NUL after it).
 *
 * Invariants checked: the plain text is never longer than the HTML; a
 * decoded value fits its buffer, is NUL-terminated and is not longer than
 * what was encoded; what text_pct_encode() writes decodes back to the
 * input; text_next() items lie within the input and the loop ends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void html(const char *s, size_t n)
{
	struct mbuf *mb = mbuf_alloc(64);

	if (!mb)
		return;
	/* each byte in gives at most one out: tags shrink, entities too */
	if (!text_html_to_plain(mb, s, n) && mb->end > n)
		abort();
	mem_deref(mb);
}

static void pct(const char *s, size_t n)
{
	char small[16], *big = malloc(n + 1);
	struct pl v = {s, n};
	struct mbuf *mb = mbuf_alloc(3 * n + 1);
	size_t got = 0;
	int err;

	if (!big || !mb)
		goto out;
	err = text_pct_decode(small, sizeof(small), &v, &got);
	if (!err && (got >= sizeof(small) || small[got] != '\0'))
		abort();
	err = text_pct_decode(big, n + 1, &v, &got);
	if (!err && (got > n || big[got] != '\0'))
		abort();
	/* a data: URI's text is shorter than the URI ("data:," at least) */
	err = text_data_decode(big, n + 1, &v, &got);
	if (!err && (got + 6 > n || big[got] != '\0'))
		abort();

	/* the encoding of any bytes without a NUL decodes back to them */
	if (memchr(s, '\0', n) || text_pct_encode(mb, s, n))
		goto out;
	{
		struct pl enc = {(const char *)mb->buf, mb->end};
		char *back = malloc(mb->end + 1);

		if (!back)
			goto out;
		if (text_pct_decode(back, mb->end + 1, &enc, &got) ||
		    got != n || memcmp(back, s, n))
			abort();
		free(back);
	}
out:
	mem_deref(mb);
	free(big);
}

static void items(const char *s, size_t n)
{
	struct pl rest = {s, n}, item;
	size_t k = 0;

	while (text_next(&rest, '&', &item)) {
		struct pl name, val = item;

		if (item.p < s || item.p + item.l > s + n || ++k > n + 1)
			abort();
		(void)text_next(&val, '=', &name);
		text_trim(&val);
		(void)text_chars(&val);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	struct pl name;
	const char *why = NULL;

	if (!copy)
		return 0;
	memcpy(copy, data, size);

	html(copy, size);
	pct(copy, size);
	items(copy, size);
	name.p = copy;
	name.l = size;
	if (!dns_name_valid(&name, &why) && !why)
		abort();

	free(copy);
	return 0;
}
