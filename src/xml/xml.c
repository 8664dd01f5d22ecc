/**
 * @file xml.c  The one expat front end, with its limits (see xml.h)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <expat.h>
#include "xml.h"

void xml_fail(struct xml_rd *x, int err, const char *why)
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
	struct xml_rd *x = arg;
	const struct xml_limits *lim = x->lim;
	size_t i;

	if (x->err)
		return;

	if (++x->depth > lim->depth) {
		xml_fail(x, EOVERFLOW, "XML nested too deep");
		return;
	}
	if (++x->elems > lim->elems) {
		xml_fail(x, EOVERFLOW, "too many XML elements");
		return;
	}

	/* atts is name, value, ..., NULL; the strings are expat's own */
	for (i = 0; atts[i]; i += 2) {
		if (lim->attrs && i / 2 >= lim->attrs) {
			xml_fail(x, EOVERFLOW, "too many XML attributes");
			return;
		}
		if (lim->attr_len && strlen(atts[i + 1]) > lim->attr_len) {
			xml_fail(x, EMSGSIZE, "XML attribute value too long");
			return;
		}
	}

	/* The text of an element ends where its first child starts */
	x->capture = false;
	if (x->starth)
		x->starth(x, name, atts);
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xml_rd *x = arg;

	if (x->err)
		return;

	if (x->endh)
		x->endh(x, name);
	x->capture = false;
	--x->depth;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct xml_rd *x = arg;
	size_t n = (size_t)len, room;

	if (x->err || !x->capture || x->text_full || len <= 0)
		return;

	room = x->text_max - x->text_len;
	if (n > room) {
		if (!x->text_cut) {
			xml_fail(x, EMSGSIZE, "XML text too long");
			return;
		}
		/* Cut before the first byte that does not fit, backing off
		 * to the start of its character (expat gives UTF-8) */
		n = room;
		while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
			--n;
		x->text_full = true;
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

	xml_fail(arg, EPROTO, "DTD refused (no entity declarations)");
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

	xml_fail(arg, EPROTO, "XML entity declaration refused");
}

void xml_text_begin(struct xml_rd *x)
{
	if (!x->text)
		return;

	x->capture = true;
	x->text_full = false;
	x->text_len = 0;
	x->text[0] = '\0';
}

void xml_text_trim(const struct xml_rd *x, const char **sp, size_t *lenp)
{
	const char *s = x->text ? x->text : "";
	size_t n = x->text ? x->text_len : 0;

	/* XML white space (XML 1.0 section 2.3, S) */
	while (n && strchr(" \t\r\n", *s)) {
		++s;
		--n;
	}
	while (n && strchr(" \t\r\n", s[n - 1]))
		--n;

	*sp = s;
	*lenp = n;
}

const char *xml_attr(const char **atts, const char *name)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		if (!strcmp(atts[i], name))
			return atts[i + 1];
	}

	return NULL;
}

bool xml_is(const char *name, const char *ns, const char *local)
{
	size_t n = strlen(ns);

	return !strncmp(name, ns, n) && name[n] == XML_NS_SEP &&
	       !strcmp(name + n + 1, local);
}

int xml_parse(struct xml_rd *x, const char *doc, size_t len)
{
	XML_Parser p;
	int err = 0;

	if (!x || !x->lim || (!doc && len))
		return EINVAL;

	/* The limit also keeps len within XML_Parse()'s int */
	if (len > x->lim->bytes || len > INT32_MAX) {
		x->why = "XML document too large";
		return EMSGSIZE;
	}

	p = XML_ParserCreateNS(NULL, XML_NS_SEP);
	if (!p)
		return ENOMEM;

	x->parser = p;
	x->depth = 0;
	x->elems = 0;
	x->err = 0;
	x->why = NULL;
	x->capture = false;
	x->text_full = false;
	x->text_len = 0;

	XML_SetUserData(p, x);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

	if (XML_Parse(p, doc ? doc : "", (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (x->err) {
			err = x->err;
		} else {
			err = EPROTO;
			x->why = "ill-formed XML";
		}
	} else if (x->err) {
		err = x->err;
	}

	XML_ParserFree(p);
	x->parser = NULL;
	return err;
}
