/**
 * @file fuzz_xcap.c  libFuzzer driver: XCAP documents from the Front End
 *
 * resource-lists (contacts) and pres-rules documents are parsed, and what
 * parses is written back and parsed again: the model must survive its own
 * round trip (the service rewrites these documents).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "xcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xcap_rlist *rl = NULL, *rl2 = NULL;
	struct xcap_rules *rs = NULL, *rs2 = NULL;
	const char *why = NULL;
	char *copy = malloc(size ? size : 1);
	struct mbuf *mb = mbuf_alloc(1024);
	struct pl doc;

	if (!copy || !mb)
		goto out;
	memcpy(copy, data, size);
	doc.p = copy;
	doc.l = size;

	if (!xcap_rlist_parse(&rl, &doc, &why) && !rl->foreign) {
		struct pl again;

		if (xcap_rlist_write(mb, rl))
			goto rules;
		again.p = (const char *)mb->buf;
		again.l = mb->end;
		/* what we write we must read */
		if (xcap_rlist_parse(&rl2, &again, &why))
			abort();
		if (rl2->nentries != rl->nentries)
			abort();
	}
rules:
	mbuf_reset(mb);
	if (!xcap_rules_parse(&rs, &doc, &why) && !rs->foreign) {
		struct pl again;

		(void)xcap_rules_privacy(rs, "sip:bob@example.test");
		if (xcap_rules_write(mb, rs))
			goto out;
		again.p = (const char *)mb->buf;
		again.l = mb->end;
		if (xcap_rules_parse(&rs2, &again, &why))
			abort();
	}
out:
	mem_deref(rl);
	mem_deref(rl2);
	mem_deref(rs);
	mem_deref(rs2);
	mem_deref(mb);
	free(copy);
	return 0;
}
