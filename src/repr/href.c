/**
 * @file href.c  Hrefs of resources, built once and checked
 *
 * Every href is an application's base followed by path segments, some of
 * them ids or URIs that must be percent-encoded. A href cut short by a
 * fixed buffer would name another resource (or none) without anyone
 * noticing, so the builder refuses instead of truncating.
 */
#include <stdarg.h>
#include <string.h>
#include <re.h>
#include "repr.h"

int repr_href(char *buf, size_t size, const char *base, const char *fmt, ...)
{
	size_t n;
	va_list ap;
	int r;

	if (!buf || !size)
		return EINVAL;
	buf[0] = '\0';
	if (!base || !fmt)
		return EINVAL;

	n = strlen(base);
	if (n >= size)
		return EOVERFLOW;
	memcpy(buf, base, n);

	/* re_vsnprintf answers -1 when the rest does not fit (or a print
	 * handler failed); it always NUL-terminates */
	va_start(ap, fmt);
	r = re_vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
	if (r < 0) {
		buf[0] = '\0';
		return EOVERFLOW;
	}
	return 0;
}
