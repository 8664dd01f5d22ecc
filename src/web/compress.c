/**
 * @file compress.c  Compressed answers (gzip and deflate) with zlib
 *
 * "deflate" in HTTP is the zlib format, a deflate stream with a 2-byte
 * header and an Adler-32 trailer (RFC 9110 8.4.1.2, RFC 1950), not the raw
 * deflate stream some old servers sent; gzip (RFC 1952) is preferred on
 * ties, which sidesteps that ambiguity for the clients that offer both.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include "web_compress.h"

/* zlib's default; bench/compress_bench.sh builds others to compare
 * (docs/http.md has the figures) */
#ifndef WEB_COMPRESS_LEVEL
#define WEB_COMPRESS_LEVEL 6
#endif

enum {
	COMPRESS_MEMLEVEL = 8,
	GZIP_EXTRA = 12, /* gzip's wrapper is 18 bytes, zlib's 6 */
};

/* The smallest window that holds the whole body: zlib allocates
 * 2 << wbits bytes of window, which is most of its memory. */
static int window_bits(size_t len)
{
	int w = 9;

	while (w < 15 && ((size_t)1 << w) < len)
		++w;
	return w;
}

size_t web_compress_bound(size_t len)
{
	return compressBound((uLong)len) + GZIP_EXTRA;
}

int web_compress(bool gzip, const uint8_t *p, size_t len, uint8_t *out,
		 size_t *outlen)
{
	z_stream zs;
	int wbits, memlevel, err = 0;

	if ((!p && len) || !out || !outlen || len > UINT32_MAX ||
	    *outlen > UINT32_MAX)
		return EINVAL;

	memset(&zs, 0, sizeof(zs));
	wbits = window_bits(len);
	/* a hash table of 2^(memLevel + 7) entries, no larger than the
	 * window: zeroing a 64 Ki-entry table (memLevel 8) for a body of
	 * 500 bytes was most of the cost (docs/http.md) */
	memlevel =
	    wbits - 7 < COMPRESS_MEMLEVEL ? wbits - 7 : COMPRESS_MEMLEVEL;
	/* windowBits + 16 asks zlib for the gzip wrapper */
	if (gzip)
		wbits += 16;
	if (deflateInit2(&zs, WEB_COMPRESS_LEVEL, Z_DEFLATED, wbits, memlevel,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return ENOMEM;

	/* one call: the caller gave web_compress_bound() bytes */
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)*outlen;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		err = ENOSPC;
		goto out;
	}
	*outlen = zs.total_out;

out:
	(void)deflateEnd(&zs);
	return err;
}
