/**
 * @file repr.h  One resource model, two encodings (JSON and XML)
 *
 * A resource is built once and encoded by content negotiation:
 *
 *   JSON (jansson):  {"rel":"..", "<prop>":.., "_links":{"<rel>":{"href":..}},
 *                     "_embedded":{"<rel>":{...}}}
 *                    a rel that appears more than once becomes an array.
 *   XML  (xmlw):     <resource rel=".." href=".." xmlns="<ns>">
 *                      <link rel=".." href=".."/>
 *                      <property name="..">value</property>
 *                      <propertyList name=".."><item>..</item></propertyList>
 *                      <resource rel=".." href="..">...</resource>
 *                    </resource>
 *
 * Dates: JSON "/Date(<ms>)/", XML ISO 8601 UTC.
 * Every string is copied; the model owns its strings.
 */
#ifndef MOB_REPR_H
#define MOB_REPR_H

#include <re.h>

/** The UCWA XML namespace. */
#define REPR_UCWA_NS "http://schemas.microsoft.com/rtc/2012/03/ucwa"

enum repr_fmt {
	REPR_JSON,
	REPR_XML,
};

struct repr;

/**
 * Allocate a resource.
 *
 * @param rp   Returns a new reference
 * @param rel  Relation name (may be NULL: no "rel" member / attribute)
 * @param href Its own href (may be NULL: no self link / attribute)
 */
int repr_alloc(struct repr **rp, const char *rel, const char *href);

/** Add a link (JSON _links; XML <link>). Repeated rels are kept in order. */
int repr_link(struct repr *r, const char *rel, const char *href);

/** Add a link with a title (JSON "title", XML title attribute). */
int repr_link_title(struct repr *r, const char *rel, const char *href,
		    const char *title);

int repr_prop_str(struct repr *r, const char *name, const char *val);
/** Same with a pointer-length string (need not be NUL terminated). */
int repr_prop_pl(struct repr *r, const char *name, const struct pl *val);
int repr_prop_int(struct repr *r, const char *name, int64_t val);
int repr_prop_bool(struct repr *r, const char *name, bool val);
/** A date in milliseconds since the Unix epoch. */
int repr_prop_date(struct repr *r, const char *name, uint64_t ms);
/** A list of strings (JSON array; XML propertyList of item). */
int repr_prop_strlist(struct repr *r, const char *name,
		      const char *const *v, size_t n);

/**
 * Embed a child resource (JSON _embedded[rel]; XML nested <resource>).
 *
 * @param r     Parent
 * @param child Child; takes a reference
 */
int repr_embed(struct repr *r, struct repr *child);

/**
 * Encode a resource and append it to mb.
 *
 * @param mb  Buffer to append to
 * @param r   Resource (borrowed)
 * @param fmt Encoding
 * @param ns  XML namespace for the root element (NULL: REPR_UCWA_NS);
 *            ignored for JSON
 *
 * @return 0 or ENOMEM
 */
int repr_encode(struct mbuf *mb, const struct repr *r, enum repr_fmt fmt,
		const char *ns);

/*
 * The one XML writer: every attribute value and text goes through the same
 * escaping (& < > " ' and characters XML 1.0 does not allow, which are
 * replaced by U+FFFD, as are invalid UTF-8 sequences).
 */

struct xmlw {
	struct mbuf *mb; /**< output (borrowed)              */
	bool open;       /**< a start tag awaits '>' or '/>' */
	int depth;
	const char *stack[32]; /**< element names (borrowed, static) */
};

/** Start a writer on mb and write the XML declaration. */
void xmlw_init(struct xmlw *w, struct mbuf *mb);
/** Open an element; name must be a static string. */
int xmlw_start(struct xmlw *w, const char *name);
/** Add an attribute to the element just opened. */
int xmlw_attr(struct xmlw *w, const char *name, const char *val);
int xmlw_attr_pl(struct xmlw *w, const char *name, const struct pl *val);
int xmlw_attr_u32(struct xmlw *w, const char *name, uint32_t val);
/** Write escaped text content. */
int xmlw_text(struct xmlw *w, const char *s, size_t len);
/** Close the innermost open element ("/>" if it has no content). */
int xmlw_end(struct xmlw *w);

/** Append s escaped for XML (text or attribute value) to mb. */
int xml_escape(struct mbuf *mb, const char *s, size_t len);

#endif
