/**
 * @file fuzz_json.c  libFuzzer driver: JSON request bodies of the API
 *
 * Every body a phone POSTs (applications, presence, note, messaging
 * invitations, contacts) goes through repr_in_json() and the member
 * getters. The input is in a buffer of exactly its size, no NUL after.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "repr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
	    "culture", "endpointId", "userAgent", "availability",
	    "message", "location",   "to",        "subject",
	    "uri",     "name",       "group",     "relationship"};
	struct repr_in *in = NULL;
	const char *why = NULL;
	char *copy = malloc(size ? size : 1);
	struct pl body, v;
	int64_t n;
	size_t i, j;
	int err;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	body.p = copy;
	body.l = size;

	err = repr_in_json(&in, &body, &why);
	/* a refusal always says why */
	if (err && !why)
		abort();
	for (i = 0; !err && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!repr_in_str(in, keys[i], &v) && v.l && !v.p)
			abort();
		(void)repr_in_int(in, "inactiveTimeout", &n);
		for (j = 0; j < 4; j++)
			(void)repr_in_strv(in, "uris", j, &v);
	}

	mem_deref(in);
	free(copy);
	return 0;
}
