/**
 * @file repr_int.h  Private declarations of the representation component
 *
 * The model (repr.c) is shared by the two encoders (json.c, xmlw.c). Every
 * string in it has already been through the UTF-8 sanitiser, so both
 * encoders see the same valid UTF-8.
 */
#ifndef MOB_REPR_INT_H
#define MOB_REPR_INT_H

/** Deepest nesting of embedded resources, the root counting as 1. */
#define REPR_MAX_DEPTH 16

/** Latest date accepted: 9999-12-31T23:59:59.999Z (four-digit years). */
#define REPR_DATE_MAX_MS 253402300799999ULL

/** Returned by repr_utf8_decode() for an ill-formed sequence. */
#define REPR_UTF8_INVALID 0x110000u

/** A copied string: NUL terminated, len excludes the NUL. */
struct rstr {
	const char *p; /**< NULL when absent */
	size_t len;
};

enum repr_ptype {
	REPR_PSTR,
	REPR_PINT,
	REPR_PBOOL,
	REPR_PDATE,
	REPR_PLIST,
};

struct repr_prop {
	struct le le;
	struct rstr name;
	enum repr_ptype type;
	union {
		struct rstr str;
		int64_t i;
		bool b;
		uint64_t ms;
		struct {
			const struct rstr *v;
			size_t n;
		} list;
	} u;
};

struct repr_link {
	struct le le;
	struct rstr rel;
	struct rstr href;
	struct rstr title; /**< p is NULL without a title */
};

struct repr_child {
	struct le le;
	struct repr *r;  /**< holds a reference */
	struct rstr key; /**< JSON key, XML rel; p NULL: the child's rel */
};

struct repr {
	struct rstr rel;    /**< p may be NULL */
	struct rstr href;   /**< p may be NULL */
	struct list links;  /**< struct repr_link, in insertion order */
	struct list props;  /**< struct repr_prop, in insertion order */
	struct list embeds; /**< struct repr_child, in insertion order */
};

/** The key a child is embedded under: its own, else the child's rel. */
static inline const struct rstr *repr_child_key(const struct repr_child *c)
{
	return c->key.p ? &c->key : &c->r->rel;
}

/**
 * Decode one UTF-8 sequence (RFC 3629) at the start of p.
 *
 * @param p   Bytes (len >= 1)
 * @param len Bytes available
 * @param cp  Set to the code point, or REPR_UTF8_INVALID
 *
 * @return Bytes consumed (>= 1). An ill-formed sequence consumes its maximal
 *         valid prefix (or one byte), so each becomes one U+FFFD.
 */
size_t repr_utf8_decode(const uint8_t *p, size_t len, uint32_t *cp);

/** A mem-allocated copy of s made valid UTF-8 (NULL if s is NULL or on
 * ENOMEM). */
char *repr_clean_dup(const char *s);

/* An event of a batch (events.c); strings are repr_clean_dup copies. */
struct repr_ev {
	struct le le;
	char *type, *rel, *href, *in_rel, *in_href, *status;
	struct repr *emb; /**< embedded resource (reference) or NULL */
};

/* The events of one sender, in the order they were added. */
struct repr_sender {
	struct le le;
	char *rel, *href;
	struct list evs; /**< struct repr_ev */
};

struct repr_events {
	char *href;
	struct list links;   /**< struct repr_link: next, resync, resume */
	struct list senders; /**< struct repr_sender, first appearance first */
};

/** Encode a batch as JSON (json.c) / XML (xmlw.c). */
int repr_json_events(struct mbuf *mb, const struct repr_events *e);
int repr_xml_events(struct mbuf *mb, const struct repr_events *e);

/** Encode r as compact JSON appended to mb (json.c). */
int repr_json_encode(struct mbuf *mb, const struct repr *r);

/** Encode r as XML appended to mb, ns on the root (xmlw.c). */
int repr_xml_encode(struct mbuf *mb, const struct repr *r, const char *ns);

/*
 * Request bodies (in.c, in_xml.c)
 */

struct json_t;

/**
 * Make a request body of a parsed value after the checks JSON and XML
 * bodies share: an object, at most REPR_IN_MAX_MEMBERS members, no two
 * keys equal but for case.
 *
 * @param root Takes the reference (dropped on error)
 * @param xml  The values came from XML: integers are read from text
 */
int repr_in_wrap(struct repr_in **inp, struct json_t *root, bool xml,
		 const char **why);

#endif
