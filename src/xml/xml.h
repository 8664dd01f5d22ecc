/**
 * @file xml.h  The one XML reader: expat behind named limits
 *
 * Every XML document from the network (PIDF and RLMI in NOTIFYs, XCAP
 * documents from the Front End, XML request bodies of the API) is read
 * here, and only here is expat included. Expat reads length-delimited
 * input and never needs a NUL after it. What it does not limit by itself
 * is limited here: document bytes, depth, element count, attributes, and
 * DTDs. A DOCTYPE stops the parse before its internal subset is read, so
 * no entity is ever declared and none can be expanded (billion laughs,
 * external entities): none of our documents has a use for a DTD.
 *
 * Names arrive as "<namespace>|<local name>" (Namespaces in XML), or as
 * the local name alone for an element in no namespace.
 */
#ifndef MOB_XML_H
#define MOB_XML_H

#include <stdbool.h>
#include <stddef.h>

#define XML_NS_SEP '|'

/** The limits of one kind of document (each above 0 but attrs and
 * attr_len, where 0 leaves that count unchecked). */
struct xml_limits {
	size_t bytes;    /**< document bytes                       */
	int depth;       /**< nesting of elements (root = 1)       */
	size_t elems;    /**< elements in the document             */
	size_t attrs;    /**< attributes on one element, 0: any    */
	size_t attr_len; /**< bytes of one attribute value, 0: any */
};

struct xml_rd;

typedef void(xml_start_h)(struct xml_rd *x, const char *name,
			  const char **atts);
typedef void(xml_end_h)(struct xml_rd *x, const char *name);

/*
 * One parse. The caller zeroes the struct and sets the fields up to
 * text_cut; xml_parse() fills the rest.
 *
 * The handlers see the depth of the element (root = 1) in x->depth and
 * call xml_fail() to stop the parse with an error. atts is name, value,
 * ..., NULL. Text is collected into x->text from xml_text_begin() while
 * x->capture is set: the start of a child element and the end of any
 * element clear it (after the end handler ran), so what is collected is
 * the text of one element before any child of it.
 */
struct xml_rd {
	const struct xml_limits *lim; /* borrowed */
	xml_start_h *starth;          /* NULL: ignore starts */
	xml_end_h *endh;              /* NULL: ignore ends   */
	void *arg;                    /* for the handlers    */
	char *text;      /* borrowed buffer of text_max + 1 bytes, or NULL */
	size_t text_max; /* bytes of collected text */
	/* Longer text: true cuts it at a character boundary (text_full
	 * set); false fails the parse with EMSGSIZE */
	bool text_cut;

	int depth;
	size_t elems;
	int err;
	const char *why; /* static reason once err is set */
	bool capture;
	bool text_full;
	size_t text_len;
	void *parser; /* XML_Parser while running */
};

/**
 * Parse a document under x->lim, calling x's handlers.
 *
 * @return 0; EMSGSIZE (over lim->bytes, text too long, an attribute value
 *         too long), EOVERFLOW (depth, elements, attributes), EPROTO
 *         (ill-formed XML, a DTD), ENOMEM, or what a handler gave
 *         xml_fail(); x->why says why
 */
int xml_parse(struct xml_rd *x, const char *doc, size_t len);

/** Stop the parse with err (the first error stays). why: a static
 * string. */
void xml_fail(struct xml_rd *x, int err, const char *why);

/** Start collecting the text of the element just started. */
void xml_text_begin(struct xml_rd *x);

/** The collected text without surrounding XML white space (borrowed). */
void xml_text_trim(const struct xml_rd *x, const char **sp, size_t *lenp);

/** The value of an attribute (no namespace) or NULL (borrowed). */
const char *xml_attr(const char **atts, const char *name);

/** Is name "ns|local"? */
bool xml_is(const char *name, const char *ns, const char *local);

#endif
