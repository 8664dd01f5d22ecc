/**
 * @file fuzz_xmlbody.c  libFuzzer driver: XML request bodies of the API
 *
 * A phone may send any body in the UCWA XML form (application/xml); it
 * goes through repr_in_xml() (the one XML reader, src/xml) and the member
 * getters (fuzz_body.h).
 */
#include "fuzz_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body(data, size, repr_in_xml);
	return 0;
}
