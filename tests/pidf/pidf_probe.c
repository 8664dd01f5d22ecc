/**
 * @file pidf_probe.c  src/pidf from the command line, for
 *                     tests/pidf/test_pidf_live.py
 *
 *   pidf_probe build ENTITY ID AVAILABILITY [NOTE]  PIDF on stdout
 *   pidf_probe pidf  < body                          one JSON object
 *   pidf_probe rlmi CONTENT-TYPE < body              one JSON object
 *
 * The JSON names follow UCWA (availability, deviceType, ...). Exit status
 * 0, or 1 with the error and its reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "pidf.h"

/* A JSON string: the parser hands out UTF-8, only quotes, backslashes
 * and controls need escaping */
static void jstr(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void pres_json(const struct pidf_presence *p)
{
	printf("{\"availability\":");
	jstr(pidf_avail_name(p->avail));
	printf(",\"deviceType\":");
	jstr(pidf_device_name(p->device));
	printf(",\"activity\":");
	jstr(p->activity);
	printf(",\"note\":");
	jstr(p->note);
	printf(",\"location\":");
	jstr(p->location);
	printf(",\"lastActive\":%llu}", (unsigned long long)p->last_active);
}

static const char *state_name(enum pidf_substate s)
{
	switch (s) {

	case PIDF_SUB_ACTIVE:
		return "active";
	case PIDF_SUB_PENDING:
		return "pending";
	case PIDF_SUB_TERMINATED:
		return "terminated";
	default:
		return "none";
	}
}

static int build(int argc, char **argv)
{
	struct pidf_presence p;
	struct mbuf *mb = mbuf_alloc(1024);
	struct pl name;
	int err;

	if (!mb || argc < 5)
		return 1;

	memset(&p, 0, sizeof(p));
	p.device = PIDF_DEV_MOBILE;
	p.last_active = 1795464000123ULL;
	pl_set_str(&name, argv[4]);
	err = pidf_avail_decode(&p.avail, &name);
	if (!err && argc > 5)
		err = pidf_set_note(&p, argv[5], strlen(argv[5]));
	if (!err)
		err = pidf_build(mb, argv[2], argv[3], &p);
	if (err) {
		fprintf(stderr, "build: %s\n", strerror(err));
		mem_deref(mb);
		return 1;
	}

	fwrite(mb->buf, 1, mb->end, stdout);
	mem_deref(mb);
	return 0;
}

int main(int argc, char **argv)
{
	static char body[PIDF_BODY_MAX + 2];
	const char *why = NULL;
	size_t len, i;
	int err;

	if (argc < 2)
		return 1;
	if (!strcmp(argv[1], "build"))
		return build(argc, argv);

	len = fread(body, 1, sizeof(body), stdin);

	if (!strcmp(argv[1], "pidf")) {
		struct pidf_presence p;

		err = pidf_parse(&p, body, len, &why);
		if (!err)
			pres_json(&p);
	} else if (!strcmp(argv[1], "rlmi") && argc > 2) {
		struct pidf_list *l = NULL;
		struct pl ct;

		pl_set_str(&ct, argv[2]);
		err = pidf_rlmi_parse(&l, &ct, body, len, &why);
		if (!err) {
			printf("{\"uri\":");
			jstr(l->uri);
			printf(",\"fullState\":%s,\"version\":%u,"
			       "\"resources\":[",
			       l->full_state ? "true" : "false", l->version);
			for (i = 0; i < l->n; i++) {
				const struct pidf_resource *r = &l->resv[i];

				printf("%s{\"uri\":", i ? "," : "");
				jstr(r->uri);
				printf(",\"state\":");
				jstr(state_name(r->state));
				printf(",\"reason\":");
				jstr(r->reason);
				printf(",\"hasPresence\":%s",
				       r->has_presence ? "true" : "false");
				if (r->has_presence) {
					printf(",\"presence\":");
					pres_json(&r->pres);
				}
				printf("}");
			}
			printf("]}");
			mem_deref(l);
		}
	} else {
		return 1;
	}

	if (err) {
		fprintf(stderr, "%s: %s\n", strerror(err), why ? why : "");
		return 1;
	}

	putchar('\n');
	return 0;
}
