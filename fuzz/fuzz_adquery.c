/**
 * @file fuzz_adquery.c  libFuzzer driver: autodiscover query parsing
 *
 * The query string of an autodiscover URL comes straight from the network
 * (sipuri=..., originalDomain=...). The input is handed to ad_query_parse()
 * as a pointer-length string in a buffer of exactly its size, with no NUL
 * after it, so that AddressSanitizer reports any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "autodiscover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed domain must be what valid_domain() promised: lower-case
 * letters, digits, '-' and '.', within the DNS length limit. */
static void check_domain(const struct ad_query *q)
{
	size_t i, n = strnlen(q->domain, sizeof(q->domain));

	if (n > AD_DOMAIN_MAX)
		abort();
	for (i = 0; i < n; i++) {
		char c = q->domain[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			abort();
	}
	if (n && !q->has_sipuri && !q->has_original_domain)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_query q;
	const char *why = NULL;
	struct pl pl;
	char *buf;
	int err;

	/* malloc(0) may return NULL: keep a valid pointer for pl.p */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	pl.p = buf;
	pl.l = size;
	err = ad_query_parse(&q, &pl, &why);

	/* Every rejection carries a reason for the 400 body; every
	 * acceptance a well-formed domain. */
	if (err) {
		if (err != EINVAL || !why)
			abort();
	} else {
		check_domain(&q);
	}

	free(buf);
	return 0;
}
