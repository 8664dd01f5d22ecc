/**
 * @file fuzz_body.h  What the drivers of API request bodies (fuzz_json,
 *                    fuzz_xmlbody) share: a copy of the input without a
 *                    NUL after it, and every getter on what was read
 */
#ifndef MOB_FUZZ_BODY_H
#define MOB_FUZZ_BODY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "repr.h"

typedef int(fuzz_body_parse_h)(struct repr_in **inp, const struct pl *body,
			       const char **why);

/*
 * Parse data with parse and call every getter on the members the handlers
 * read. Aborts if a refusal does not say why, or if a string read is not
 * within the body (no value is longer than the body it came from).
 */
static inline void fuzz_body(const uint8_t *data, size_t size,
			     fuzz_body_parse_h *parse)
{
	static const char *const keys[] = {
	    "culture", "endpointId", "userAgent", "availability",
	    "message", "location",   "to",        "subject",
	    "uri",     "name",       "group",     "relationship",
	    "a",       "uris",       "duration",  "inactiveTimeout"};
	struct repr_in *in = NULL;
	const char *why = NULL;
	char *copy = malloc(size ? size : 1);
	struct pl body, v;
	int64_t n;
	size_t i, j;
	int err;

	if (!copy)
		return;
	memcpy(copy, data, size);
	body.p = copy;
	body.l = size;

	err = parse(&in, &body, &why);
	if (err && err != ENOMEM && !why)
		abort();
	for (i = 0; !err && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!repr_in_str(in, keys[i], &v) && (!v.p || v.l > size))
			abort();
		(void)repr_in_int(in, keys[i], &n);
		for (j = 0; j < 4; j++) {
			if (!repr_in_strv(in, keys[i], j, &v) &&
			    (!v.p || v.l > size))
				abort();
		}
	}

	mem_deref(in);
	free(copy);
}

#endif
