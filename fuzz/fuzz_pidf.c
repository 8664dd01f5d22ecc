/**
 * @file fuzz_pidf.c  libFuzzer driver: presence documents from NOTIFY
 *
 * The first byte picks the entry point:
 *   even: the rest is a PIDF body for pidf_parse();
 *   odd:  the rest is "<Content-Type value>\n<body>" for
 *         pidf_rlmi_parse() (a Front End RLS notification).
 * Each input is copied into a buffer of exactly its size with no NUL
 * after it, so AddressSanitizer reports any read past the end.
 *
 * Beyond "no crash": a parsed state must be within the model's limits,
 * and writing it with pidf_build() and parsing that again must give the
 * same state (what we publish is what we read).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "pidf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

static void check_state(const struct pidf_presence *p)
{
	struct pidf_presence q;
	struct mbuf *mb;
	size_t i, chars = 0;

	if ((unsigned)p->avail > PIDF_OFFLINE ||
	    (unsigned)p->device > PIDF_DEV_WEB)
		abort();
	check_text(p->note, sizeof(p->note));
	check_text(p->activity, sizeof(p->activity));
	check_text(p->location, sizeof(p->location));
	for (i = 0; p->location[i]; i++) {
		if (((uint8_t)p->location[i] & 0xc0) != 0x80)
			++chars;
	}
	if (chars > PIDF_LOCATION_MAX)
		abort();

	mb = mbuf_alloc(2048);
	if (!mb)
		return;
	if (pidf_build(mb, "sip:fuzz@example.test", "f1", p))
		abort();
	if (pidf_parse(&q, (const char *)mb->buf, mb->end, NULL))
		abort();
	if (q.avail != p->avail || q.device != p->device ||
	    q.last_active != p->last_active || strcmp(q.note, p->note) ||
	    strcmp(q.activity, p->activity) || strcmp(q.location, p->location))
		abort();
	mem_deref(mb);
}

static void run_pidf(const char *buf, size_t len)
{
	struct pidf_presence p;
	const char *why = NULL;
	int err;

	err = pidf_parse(&p, buf, len, &why);
	if (err) {
		/* every refusal of input says why */
		if (err == ENOMEM)
			return;
		if (!why)
			abort();
		return;
	}

	check_state(&p);
}

static void run_rlmi(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	struct pidf_list *l = NULL;
	const char *why = NULL;
	struct pl ct;
	size_t i;
	int err;

	if (!nl)
		return;
	ct.p = buf;
	ct.l = (size_t)(nl - buf);
	if (!ct.l)
		return;

	err = pidf_rlmi_parse(&l, &ct, nl + 1, len - ct.l - 1, &why);
	if (err) {
		if (l || (err != ENOMEM && !why))
			abort();
		return;
	}

	if (!l || l->n > PIDF_RESOURCES_MAX)
		abort();
	check_text(l->uri, sizeof(l->uri));
	for (i = 0; i < l->n; i++) {
		const struct pidf_resource *r = &l->resv[i];

		check_text(r->uri, sizeof(r->uri));
		check_text(r->reason, sizeof(r->reason));
		if ((unsigned)r->state > PIDF_SUB_TERMINATED)
			abort();
		if (r->has_presence != (r->perr == 0))
			abort();
		if (r->has_presence)
			check_state(&r->pres);
	}

	mem_deref(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	if (size < 1)
		return 0;

	/* malloc(0) may return NULL: keep a valid pointer */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);

	if (data[0] & 1)
		run_rlmi(buf, size - 1);
	else
		run_pidf(buf, size - 1);

	free(buf);
	return 0;
}
