/**
 * @file xml.c  The expat front end of src/xcap, with its limits
 *
 * Expat reads length-delimited input. What it does not limit we do:
 * document bytes, depth, element count, and DTDs: a DOCTYPE stops the
 * parse before its internal subset is read, so no entity is ever
 * declared or expanded (XCAP documents are defined by XML Schema, RFC
 * 4826 section 3.2 and RFC 5025 section 4, and need no DTD).
 */
#include <errno.h>
#include <string.h>
#include <expat.h>
#include <re.h>
#include "xcap.h"
#include "xcap_int.h"

#define XCAP_XP_SEP '|'

void xcap_xp_fail(struct xcap_xp *x, int err, const char *why)
{
	if (x->err)
		return;

	x->err = err;
	x->why = why;
	XML_StopParser((XML_Parser)x->parser, XML_FALSE);
}

static void XMLCALL on_start(void *arg, const XML_Char *name,
			     const XML_Char **atts)
{
	struct xcap_xp *x = arg;

	if (x->err)
		return;

	if (++x->depth > XCAP_MAX_DEPTH) {
		xcap_xp_fail(x, EOVERFLOW, "XML nested too deep");
		return;
	}
	if (++x->elems > XCAP_MAX_ELEMENTS) {
		xcap_xp_fail(x, EOVERFLOW, "too many XML elements");
		return;
	}

	x->capture = false;
	if (x->starth)
		x->starth(x, name, atts);
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xcap_xp *x = arg;

	if (x->err)
		return;

	if (x->endh)
		x->endh(x, name);
	x->capture = false;
	--x->depth;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct xcap_xp *x = arg;
	size_t n = (size_t)len;

	if (x->err || !x->capture || len <= 0)
		return;

	if (n > XCAP_MAX_NAME - x->text_len) {
		x->text_full = true;
		xcap_xp_fail(x, EMSGSIZE, "XML text too long");
		return;
	}

	memcpy(x->text + x->text_len, s, n);
	x->text_len += n;
	x->text[x->text_len] = '\0';
}

static void XMLCALL on_doctype(void *arg, const XML_Char *name,
			       const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;

	xcap_xp_fail(arg, EPROTO, "DTD refused (no entity declarations)");
}

/* Not reached while the DOCTYPE handler stops first; kept so that a
 * change there cannot turn entity expansion back on. */
static void XMLCALL on_entity(void *arg, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *sysid,
			      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;

	xcap_xp_fail(arg, EPROTO, "XML entity declaration refused");
}

void xcap_xp_text_begin(struct xcap_xp *x)
{
	x->capture = true;
	x->text_full = false;
	x->text_len = 0;
	x->text[0] = '\0';
}

int xcap_xp_text_dup(struct xcap_xp *x, char **sp)
{
	const char *s = x->text;
	size_t n = x->text_len;
	struct pl pl;

	/* XML white space (XML 1.0 section 2.3, S) */
	while (n && strchr(" \t\r\n", *s)) {
		++s;
		--n;
	}
	while (n && strchr(" \t\r\n", s[n - 1]))
		--n;

	x->capture = false;
	pl.p = s;
	pl.l = n;
	return pl_strdup(sp, &pl);
}

const char *xcap_xp_attr(const char **atts, const char *name)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		if (!strcmp(atts[i], name))
			return atts[i + 1];
	}

	return NULL;
}

bool xcap_xp_is(const char *name, const char *ns, const char *local)
{
	size_t n = strlen(ns);

	return !strncmp(name, ns, n) && name[n] == XCAP_XP_SEP &&
	       !strcmp(name + n + 1, local);
}

int xcap_xp_run(struct xcap_xp *x, const struct pl *doc)
{
	XML_Parser p;
	int err = 0;

	if (!doc || doc->l > XCAP_MAX_BODY) {
		x->why = "document too large";
		return EMSGSIZE;
	}

	p = XML_ParserCreateNS(NULL, XCAP_XP_SEP);
	if (!p)
		return ENOMEM;

	x->parser = p;
	x->depth = 0;
	x->elems = 0;
	x->err = 0;
	x->why = NULL;
	x->capture = false;

	XML_SetUserData(p, x);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);

	if (XML_Parse(p, doc->p, (int)doc->l, XML_TRUE) != XML_STATUS_OK) {
		if (x->err) {
			err = x->err;
		} else {
			err = EPROTO;
			x->why = "not well-formed XML";
		}
	} else if (x->err) {
		err = x->err;
	}

	XML_ParserFree(p);
	x->parser = NULL;
	return err;
}
