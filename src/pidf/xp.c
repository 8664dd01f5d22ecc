/**
 * @file xp.c  The one expat front end of src/pidf, with its limits
 *
 * Expat parses length-delimited input and never needs a NUL after it.
 * What it does not limit by itself we do here: depth, element count,
 * attributes, and DTDs. A DOCTYPE stops the parse before its internal
 * subset is read, so no entity is declared and none can be expanded
 * (billion laughs, external entities): presence documents have no use
 * for a DTD (RFC 3863 section 4 defines them by XML Schema).
 */
#include <errno.h>
#include <string.h>
#include <expat.h>
#include <re.h>
#include "pidf.h"
#include "pidf_int.h"

void xp_fail(struct xp *x, int err, const char *why)
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
	struct xp *x = arg;
	size_t i;

	if (x->err)
		return;

	if (++x->depth > PIDF_DEPTH_MAX) {
		xp_fail(x, EOVERFLOW, "XML nested too deep");
		return;
	}
	if (++x->elems > PIDF_ELEMENTS_MAX) {
		xp_fail(x, EOVERFLOW, "too many XML elements");
		return;
	}

	/* atts is name, value, ..., NULL; the strings are expat's own */
	for (i = 0; atts[i]; i += 2) {
		if (i / 2 >= PIDF_ATTRS_MAX) {
			xp_fail(x, EOVERFLOW, "too many XML attributes");
			return;
		}
		if (strlen(atts[i + 1]) > PIDF_ATTR_LEN_MAX) {
			xp_fail(x, EMSGSIZE, "XML attribute value too long");
			return;
		}
	}

	if (x->starth)
		x->starth(x, name, atts);
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xp *x = arg;

	if (x->err)
		return;

	if (x->endh)
		x->endh(x, name);
	--x->depth;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct xp *x = arg;
	size_t n = (size_t)len, room;

	if (x->err || !x->capture || x->text_full || len <= 0)
		return;

	room = x->text_max - x->text_len;
	if (n > room) {
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
	struct xp *x = arg;
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;

	xp_fail(x, EPROTO, "DTD refused (no entity declarations)");
}

/* Not reached while the DOCTYPE handler stops first; kept so that a
 * change there cannot turn entity expansion back on. */
static void XMLCALL on_entity(void *arg, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *sysid,
			      const XML_Char *pubid, const XML_Char *notation)
{
	struct xp *x = arg;
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;

	xp_fail(x, EPROTO, "XML entity declaration refused");
}

void xp_text_begin(struct xp *x)
{
	x->capture = true;
	x->text_full = false;
	x->text_len = 0;
	x->text[0] = '\0';
}

void xp_text_trim(const struct xp *x, const char **sp, size_t *lenp)
{
	const char *s = x->text;
	size_t n = x->text_len;

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

const char *xp_attr(const char **atts, const char *name)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		if (!strcmp(atts[i], name))
			return atts[i + 1];
	}

	return NULL;
}

void pidf_copy_text(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size) {
		len = size - 1;
		while (len > 0 && ((uint8_t)s[len] & 0xc0) == 0x80)
			--len;
	}

	/* A cut may leave white space at the end, which a parse of the
	 * text written again would drop: drop it now */
	while (len > 0 && s[len - 1] && strchr(" \t\r\n", s[len - 1]))
		--len;

	memcpy(dst, s, len);
	dst[len] = '\0';
}

int xp_run(struct xp *x, const char *body, size_t len)
{
	XML_Parser p;
	int err = 0;

	if (len > PIDF_BODY_MAX) {
		x->why = "body too large";
		return EMSGSIZE;
	}

	/* Names arrive as "namespace|local" (Namespaces in XML) */
	p = XML_ParserCreateNS(NULL, XP_SEP);
	if (!p)
		return ENOMEM;

	x->parser = p;
	x->depth = 0;
	x->elems = 0;
	x->err = 0;
	XML_SetUserData(p, x);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

	/* len fits an int: it is at most PIDF_BODY_MAX */
	if (XML_Parse(p, body, (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (x->err) {
			err = x->err;
		} else {
			err = EPROTO;
			x->why = "ill-formed XML";
		}
		goto out;
	}

	err = x->err;

out:
	x->parser = NULL;
	XML_ParserFree(p);
	return err;
}
