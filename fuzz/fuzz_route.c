/**
 * @file fuzz_route.c  libFuzzer driver: UCWA request targets
 *
 * The input is a request target below /ucwa/oauth/v1/applications, "path"
 * or "path?query". The query goes through the parsers of the resources
 * that take one: the event channel's ack, timeout, low and medium
 * (evchan.c parse_params()) and conversationLogs' since (hist_get.c
 * since_param()). Each segment of the path goes through
 * ucwa_contact_uri(), as people/contacts/<uri>/... does (encoded), and as
 * a body or a stored record gives it (not encoded). evchan.c and
 * hist_get.c are included to reach their static parsers, as the unit
 * tests do; the rest comes from the libraries.
 *
 * Invariants checked: an accepted timeout is within 180..1800 s, low and
 * medium within 0..1800 s; an accepted contact URI is a NUL-terminated
 * sip: URI with an '@' and no blank, control, quote or angle bracket.
 */
#include "../src/evchan/evchan.c"
#include "../src/ucwa/hist_get.c"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void query(const struct pl *q)
{
	struct params p;
	uint64_t since;

	if (!parse_params(q, &p) &&
	    (p.timeout < EVCHAN_TIMEOUT_MIN || p.timeout > EVCHAN_TIMEOUT_MAX ||
	     (p.low != UINT64_MAX && p.low > EVCHAN_INTERVAL_MAX) ||
	     (p.medium != UINT64_MAX && p.medium > EVCHAN_INTERVAL_MAX) ||
	     (!p.has_ack && p.ack)))
		abort();
	(void)since_param(q, &since);
}

static void check_uri(const char *uri, size_t size)
{
	size_t i, n = strnlen(uri, size);

	if (n == size || n < 7 || strncasecmp(uri, "sip:", 4) ||
	    !strchr(uri, '@'))
		abort();
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)uri[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\", c))
			abort();
	}
}

static void segments(const struct pl *path)
{
	struct pl rest = *path, seg;
	char uri[UCWA_URI_MAX + 1];
	unsigned k = 0;

	while (text_next(&rest, '/', &seg) && k++ < 64) {
		if (ucwa_contact_uri(uri, sizeof(uri), &seg, true))
			check_uri(uri, sizeof(uri));
		if (ucwa_contact_uri(uri, sizeof(uri), &seg, false))
			check_uri(uri, sizeof(uri));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	const char *qm;
	struct pl path, q = PL_INIT;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	path.p = copy;
	path.l = size;
	qm = memchr(copy, '?', size);
	if (qm) {
		path.l = (size_t)(qm - copy);
		q.p = qm + 1;
		q.l = size - path.l - 1;
	}

	query(&q);
	segments(&path);

	free(copy);
	return 0;
}
