/**
 * @file repr.h  One resource model, two encodings (JSON and XML)
 *
 * A resource is built once and encoded by content negotiation:
 *
 *   JSON (jansson):  {"rel":"..", "<prop>":.., "_links":{"<rel>":{"href":..}},
 *                     "_embedded":{"<key>":{"rel":..,...}}}
 *                    a rel that appears more than once becomes an array;
 *                    an embedded resource's key is its rel unless given
 *                    (repr_embed_as), XML writes the key as its rel.
 *   XML  (xmlw):     <resource rel=".." href=".." xmlns="<ns>">
 *                      <link rel=".." href=".."/>
 *                      <property name="..">value</property>
 *                      <propertyList name=".."><item>..</item></propertyList>
 *                      <resource rel=".." href="..">...</resource>
 *                    </resource>
 *
 * Dates: JSON "/Date(<ms>)/", XML ISO 8601 UTC with milliseconds
 * (2026-11-23T19:58:16.123Z).
 * Every string is copied; the model owns its strings. Ill-formed UTF-8
 * (overlongs, surrogates, truncated sequences, > U+10FFFF) is replaced by
 * U+FFFD as it is copied, so both encodings carry the same text.
 *
 * Unless stated otherwise the functions return 0, EINVAL (a required
 * argument is NULL) or ENOMEM.
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
 * @param rel  Relation name (copied; may be NULL: no "rel" member /
 *             attribute; required to embed the resource)
 * @param href Its own href (copied; may be NULL: no self link / attribute)
 */
int repr_alloc(struct repr **rp, const char *rel, const char *href);

/**
 * Add a link (JSON _links; XML <link>). Repeated rels are kept in order.
 *
 * @param r    Resource
 * @param rel  Relation (copied, required)
 * @param href Target (copied, required)
 */
int repr_link(struct repr *r, const char *rel, const char *href);

/** Add a link with a title (copied; JSON "title", XML title attribute). */
int repr_link_title(struct repr *r, const char *rel, const char *href,
		    const char *title);

/*
 * Properties keep their insertion order. A name (copied) must be unique
 * within the resource (EEXIST) and must not be "rel", "_links" or
 * "_embedded" (EINVAL), which the JSON encoding writes itself.
 */

/** Add a string property (val copied, required). */
int repr_prop_str(struct repr *r, const char *name, const char *val);
/** Same with a pointer-length string (need not be NUL terminated). */
int repr_prop_pl(struct repr *r, const char *name, const struct pl *val);
/** Add an integer property (JSON number; XML decimal text). */
int repr_prop_int(struct repr *r, const char *name, int64_t val);
/** Add a boolean property (JSON true/false; XML "true"/"false"). */
int repr_prop_bool(struct repr *r, const char *name, bool val);
/**
 * A date in milliseconds since the Unix epoch, up to
 * 9999-12-31T23:59:59.999Z (EINVAL beyond).
 */
int repr_prop_date(struct repr *r, const char *name, uint64_t ms);
/** A list of strings (each copied; JSON array; XML propertyList of item). */
int repr_prop_strlist(struct repr *r, const char *name, const char *const *v,
		      size_t n);

/**
 * Embed a child resource (JSON _embedded[rel]; XML nested <resource>).
 *
 * @param r     Parent
 * @param child Child; takes a reference. It must have a rel and must not
 *              contain r (EINVAL).
 *
 * @return 0, EINVAL, ENOMEM, or EOVERFLOW if the nesting would exceed 16
 *         resources
 */
int repr_embed(struct repr *r, struct repr *child);

/**
 * Embed a child under a key that differs from its rel, as UCWA embeds an
 * invitation's from (a participant): JSON _embedded[key] holding
 * {"rel":<child's rel>,...}; XML <resource rel="<key>"> (the reference's
 * XML samples name an embedded resource by its relationship).
 *
 * @param key Relationship to the parent (copied; NULL: the child's rel)
 *
 * Otherwise as repr_embed().
 */
int repr_embed_as(struct repr *r, const char *key, struct repr *child);

/**
 * Whether rel, as a relationship of a resource whose rel is parent, can
 * hold several resources (the one table of them is in repr.c). Its links
 * and embedded resources are then a JSON array even when there is one.
 *
 * @param parent Rel of the holding resource (borrowed; NULL: false)
 * @param rel    Rel of the link or embedded resource (borrowed)
 */
bool repr_rel_is_collection(const char *parent, const char *rel);

/**
 * Encode a resource and append it to mb (written at mb->pos).
 *
 * @param mb  Buffer to append to
 * @param r   Resource (borrowed)
 * @param fmt Encoding
 * @param ns  XML namespace for the root element (NULL: REPR_UCWA_NS);
 *            ignored for JSON
 *
 * @return 0, ENOMEM, EINVAL, or EOVERFLOW if embedded resources nest
 *         deeper than 16 (a child grew after it was embedded). On error mb
 *         is cut back to where the document would have started.
 */
int repr_encode(struct mbuf *mb, const struct repr *r, enum repr_fmt fmt,
		const char *ns);

/*
 * Event batches: the body of the event channel's answer (UCWA "events"):
 *
 *   JSON {"_links":{"self":{..},"next":{..}},
 *         "sender":[{"rel":"me","href":"..","events":[
 *             {"link":{"rel":"presence","href":".."},"in":{..},
 *              "status":"Success","_embedded":{"<rel>":{..}},
 *              "type":"updated"}]}]}
 *   XML  <events href=".." xmlns="<ucwa>"><link rel="next" href=".."/>
 *          <sender rel="me" href=".."><updated rel="presence" href="..">
 *            <in rel=".." href=".."/><resource ..>..</resource>
 *          </updated></sender></events>
 *
 * Events keep the order they were added in: consecutive events of one
 * sender share a sender entry, and a sender gets a new entry when another
 * sender's events came in between (UCWA clients read them in time order).
 */

struct repr_events;

/** One event to add (strings borrowed, copied by repr_events_add). */
struct repr_event {
	const char *sender_rel; /**< e.g. "me", "communication"        */
	const char *sender_href;
	const char *type; /**< added|updated|deleted|started|completed */
	const char *rel;  /**< the resource the event is about   */
	const char *href;
	const char *in_rel; /**< optional "in" link (NULL: none)   */
	const char *in_href;
	const char *status;    /**< optional, e.g. "Success"          */
	struct repr *embedded; /**< optional; takes a reference       */
};

/** Allocate an empty batch whose self href is href (copied). */
int repr_events_alloc(struct repr_events **ep, const char *href);
/** Add a link of the batch: next, resync or resume. */
int repr_events_link(struct repr_events *e, const char *rel, const char *href);
/** Add an event. */
int repr_events_add(struct repr_events *e, const struct repr_event *ev);
/** Append the batch encoded as fmt to mb (nothing on error). */
int repr_events_encode(struct mbuf *mb, const struct repr_events *e,
		       enum repr_fmt fmt);

/*
 * Request bodies, JSON or XML by their media type. JSON: strict (jansson):
 * no comments, no trailing commas, valid UTF-8, no duplicate keys. XML:
 * the UCWA input form (<input> with <property name> and <propertyList
 * name> of <item>s, in the UCWA namespace or none), read with src/xml: no
 * DTD, so no entity declared or expanded. Both give the same members to
 * the getters. Keys are matched without regard to case, as UCWA clients
 * send "EndpointId" and "endpointId" alike; two keys equal but for case
 * are refused.
 */

enum {
	REPR_IN_MAX_BYTES = 65536,   /* bytes of a request body           */
	REPR_IN_MAX_DEPTH = 8,       /* nesting of objects and arrays, or
					of XML elements                   */
	REPR_IN_MAX_MEMBERS = 64,    /* members of the top object         */
	REPR_IN_MAX_ELEMENTS = 2048, /* XML elements of a body            */
	REPR_IN_MAX_ATTRS = 8,       /* XML attributes of one element     */
	REPR_IN_MAX_ATTR_LEN = 256,  /* bytes of one XML attribute value
					(a property name)                 */
};

struct repr_in;

/**
 * Parse a JSON request body that must be an object.
 *
 * @param inp  Returns a new reference
 * @param body Body bytes (need not be NUL terminated)
 * @param why  Set to a short reason on EINVAL/EOVERFLOW
 *
 * @return 0, EINVAL (not a JSON object, duplicate keys...), EOVERFLOW (a
 *         limit), ENOMEM
 */
int repr_in_json(struct repr_in **inp, const struct pl *body, const char **why);

/**
 * Parse an XML request body in the UCWA input form. Property values are
 * strings (white space kept); repr_in_int() reads integers from them.
 *
 * @param inp  Returns a new reference
 * @param body Body bytes (need not be NUL terminated)
 * @param why  Set to a short reason on EINVAL/EOVERFLOW
 *
 * @return 0, EINVAL (ill-formed XML, a DTD, not the input form, a key
 *         given twice), EOVERFLOW (a limit), ENOMEM
 */
int repr_in_xml(struct repr_in **inp, const struct pl *body, const char **why);

/**
 * The format of a media type (a Content-Type value; parameters and case
 * ignored): application/json and application/vnd.microsoft.com.ucwa+json
 * are JSON, application/xml and application/vnd.microsoft.com.ucwa+xml
 * XML.
 *
 * @return 0 and *fmt, ENOTSUP for any other type, EINVAL
 */
int repr_media_fmt(const struct pl *mtype, enum repr_fmt *fmt);

/**
 * Parse a request body as its Content-Type says: repr_in_json() or
 * repr_in_xml(); JSON when there is no Content-Type.
 *
 * @param ctype The Content-Type value, or NULL/empty when absent
 *
 * @return what the parser returns, or ENOTSUP (another media type: answer
 *         415) with why set
 */
int repr_in_parse(struct repr_in **inp, const struct pl *ctype,
		  const struct pl *body, const char **why);

/**
 * A string member.
 *
 * @return 0 and val (valid while in lives), ENOENT if absent or null,
 *         EINVAL if not a string
 */
int repr_in_str(const struct repr_in *in, const char *key, struct pl *val);

/** An integer member: 0, ENOENT, EINVAL (not an integer; from XML: text
 * that is not a decimal integer in the range of int64_t). */
int repr_in_int(const struct repr_in *in, const char *key, int64_t *val);

/**
 * The href of a link the request gives in "_links" ({"_links":{"message":
 * {"href":"data:..."}}}, as the UCWA reference's samples send a first
 * message). JSON bodies only: the XML input form has no links.
 *
 * @return 0 and href (valid while in lives), ENOENT if absent, EINVAL if
 *         _links or the link is not an object or href not a string
 */
int repr_in_link(const struct repr_in *in, const char *rel, struct pl *href);

/** The n-th string of an array member: 0, ENOENT (absent, or past the
 * end), EINVAL (not an array of strings). */
int repr_in_strv(const struct repr_in *in, const char *key, size_t i,
		 struct pl *val);

/**
 * A NUL-terminated copy of s (len bytes) in which every ill-formed UTF-8
 * sequence is replaced by U+FFFD, as the encoders write it.
 *
 * @return 0, EINVAL or ENOMEM
 */
int repr_utf8_dup(char **dstp, const char *s, size_t len);

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

/**
 * Build a resource's href into buf: base, then fmt (a re_printf format)
 * with its arguments appended. Ids and URIs placed in a path segment go
 * through "%H", text_pct_print, s (core.h). Nothing is truncated.
 *
 *   repr_href(buf, sizeof(buf), app->href, "/people/contacts/%H",
 *             text_pct_print, uri)
 *
 * @param buf  Receives the NUL-terminated href; "" on any error
 * @param size Size of buf
 * @param base Base href (borrowed, required; may be "")
 * @param fmt  Format of what follows the base (required; may be "")
 *
 * @return 0, EINVAL (a required argument NULL, size 0) or EOVERFLOW (the
 *         href does not fit in size bytes with its NUL)
 */
int repr_href(char *buf, size_t size, const char *base, const char *fmt, ...);

/*
 * Element and attribute names are written as given (callers pass literals);
 * values and text are escaped. Calls return 0, EINVAL (misuse: an attribute
 * after content, text or end outside any element, NULL arguments) or ENOMEM.
 */

/**
 * Start a writer on mb (borrowed) and write the XML declaration. If that
 * fails, w->mb is left NULL and every later call returns ENOMEM.
 */
void xmlw_init(struct xmlw *w, struct mbuf *mb);
/**
 * Open an element; name must be a static string.
 *
 * @return EOVERFLOW beyond 32 open elements
 */
int xmlw_start(struct xmlw *w, const char *name);
/** Add an attribute to the element just opened (val escaped). */
int xmlw_attr(struct xmlw *w, const char *name, const char *val);
/** Same with a pointer-length value. */
int xmlw_attr_pl(struct xmlw *w, const char *name, const struct pl *val);
/** Same with a decimal number. */
int xmlw_attr_u32(struct xmlw *w, const char *name, uint32_t val);
/** Write escaped text content (len 0 writes nothing). */
int xmlw_text(struct xmlw *w, const char *s, size_t len);
/** Close the innermost open element ("/>" if it has no content). */
int xmlw_end(struct xmlw *w);

/**
 * Append s escaped for XML (text or attribute value) to mb: & < > " ' as
 * entities, tab, LF and CR as character references (so parsers keep them),
 * other C0 controls, U+FFFE, U+FFFF and ill-formed UTF-8 as U+FFFD.
 *
 * @return 0, EINVAL (s NULL with len > 0) or ENOMEM
 */
int xml_escape(struct mbuf *mb, const char *s, size_t len);

#endif
