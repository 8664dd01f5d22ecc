/**
 * @file web_compress.h  Compression of answer bodies (zlib), apart from
 * libre's headers (both declare crc32)
 */
#ifndef MOB_WEB_COMPRESS_H
#define MOB_WEB_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Room enough for the coded form of len bytes, either format. */
size_t web_compress_bound(size_t len);

/**
 * Compress [p, p+len) into out (size *outlen), gzip (RFC 1952) or zlib
 * (RFC 1950, HTTP's "deflate") format.
 *
 * @return 0 and the coded length in *outlen, EINVAL, ENOMEM or ENOSPC
 */
int web_compress(bool gzip, const uint8_t *p, size_t len, uint8_t *out,
		 size_t *outlen);

#endif
