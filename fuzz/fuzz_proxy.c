/**
 * @file fuzz_proxy.c  libFuzzer driver: the PROXY protocol v2 header
 *
 * The first bytes of every connection to a listen_proxy listener. The
 * input is parsed from a buffer of exactly its size; every prefix is also
 * tried, as the bytes may arrive in pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t n, used;
	struct sa src;
	int err, whole;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	whole = web_proxy_v2_parse(buf, size, &src, &used);
	if (whole != 0 && whole != ENODATA && whole != EPROTO)
		abort();
	if (!whole && (used < WEB_PROXY_HDR || used > size ||
		       used > WEB_PROXY_HDR + WEB_PROXY_MAX))
		abort();

	/* a prefix is never more final than the whole: a verdict reached
	 * on part of the bytes is the verdict on all of them */
	for (n = 0; n < size && n <= WEB_PROXY_HDR + 64; n++) {
		err = web_proxy_v2_parse(buf, n, &src, &used);
		if (err == EPROTO && whole != EPROTO)
			abort();
		if (!err && (whole || used > n))
			abort();
	}

	free(buf);
	return 0;
}
