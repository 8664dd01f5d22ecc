/**
 * @file fuzz_json.c  libFuzzer driver: JSON request bodies of the API
 *
 * Every body a phone POSTs (applications, presence, note, messaging
 * invitations, contacts) in JSON goes through repr_in_json() and the
 * member getters (fuzz_body.h).
 */
#include "fuzz_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body(data, size, repr_in_json);
	return 0;
}
