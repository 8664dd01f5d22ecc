/**
 * @file pidf.h  Presence documents: the UCWA presence state, PIDF
 *               (application/pidf+xml) and RLS notifications
 *               (multipart/related with RLMI)
 *
 * The model is what UCWA shows for one person (availability, activity,
 * deviceType, note, location, lastActive). pidf_build() writes it as a
 * PIDF document for our PUBLISH (RFC 3863, RFC 4479 person, RFC 4480
 * activities and user-input, plus exact values in our own namespace);
 * pidf_parse() reads any client's PIDF back into the model;
 * pidf_rlmi_parse() reads a Front End resource-list NOTIFY (RFC 4662) into
 * a list of (uri, subscription state, presence). docs/presence.md has the
 * mapping tables.
 *
 * Every input is length-delimited (no NUL needed after it) and parsed with
 * the named limits below; DTDs are refused, so no entity is ever expanded.
 * Parse errors come with a short static reason (why) for the log.
 *
 * Return codes: 0, EINVAL (NULL argument, value out of range), ENOMEM,
 * EMSGSIZE (a body or a value above its limit), EOVERFLOW (a count or depth
 * limit), EPROTO (ill-formed XML or MIME, a DTD, not the expected
 * document).
 */
#ifndef MOB_PIDF_H
#define MOB_PIDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mbuf;
struct pl;

/* Limits on input (every one is exercised by tests/pidf/test_pidf.c) */
#define PIDF_BODY_MAX      65535 /**< bytes of one NOTIFY body          */
#define PIDF_DEPTH_MAX     16    /**< nesting of XML elements            */
#define PIDF_ELEMENTS_MAX  1024  /**< elements in one XML document       */
#define PIDF_ATTRS_MAX     16    /**< attributes on one element          */
#define PIDF_ATTR_LEN_MAX  512   /**< bytes of one attribute value       */
#define PIDF_RESOURCES_MAX 128   /**< <resource> entries in one RLMI     */
#define PIDF_PARTS_MAX     (PIDF_RESOURCES_MAX + 1) /**< MIME body parts */
#define PIDF_PART_HDRS_MAX 16 /**< header lines in one body part      */
#define PIDF_BOUNDARY_MAX  70 /**< RFC 2046 section 5.1.1             */

/* Limits on the model's text (bytes of UTF-8 unless said otherwise) */
#define PIDF_NOTE_MAX     1024 /**< note                               */
#define PIDF_LOCATION_MAX 60   /**< location, in characters (UCWA)     */
#define PIDF_ACTIVITY_MAX 64   /**< activity token                     */
#define PIDF_URI_MAX      256  /**< resource URI in an RLMI list       */
#define PIDF_ID_MAX       64   /**< tuple/person id given to build     */

/** Our namespace for exact values other clients have no element for */
#define PIDF_MOB_NS "urn:x-mobility:params:xml:ns:presence"

/** UCWA availability; PIDF_UNKNOWN is 0 so a zeroed model is Unknown */
enum pidf_avail {
	PIDF_UNKNOWN = 0,
	PIDF_ONLINE,
	PIDF_BUSY,
	PIDF_DND,
	PIDF_BRB,
	PIDF_AWAY,
	PIDF_OFFWORK,
	PIDF_IDLE_ONLINE,
	PIDF_IDLE_BUSY,
	PIDF_OFFLINE,
};

/** UCWA deviceType */
enum pidf_device {
	PIDF_DEV_UNKNOWN = 0,
	PIDF_DEV_PC,
	PIDF_DEV_MOBILE,
	PIDF_DEV_DESKPHONE,
	PIDF_DEV_WEB,
};

/**
 * One person's presence as UCWA shows it. A plain value: the caller owns
 * it; strings are NUL-terminated and within their limits (set them with
 * the pidf_set_* functions or leave them empty).
 */
struct pidf_presence {
	enum pidf_avail avail;
	enum pidf_device device;
	char activity[PIDF_ACTIVITY_MAX + 1];     /**< "" none          */
	char note[PIDF_NOTE_MAX + 1];             /**< "" none          */
	char location[PIDF_LOCATION_MAX * 4 + 1]; /**< "" none          */
	uint64_t last_active; /**< ms since the epoch, 0 unknown          */
};

/** Subscription state of one list member (RFC 4662 section 5.2) */
enum pidf_substate {
	PIDF_SUB_NONE = 0, /**< no <instance>: not yet subscribed */
	PIDF_SUB_ACTIVE,
	PIDF_SUB_PENDING,
	PIDF_SUB_TERMINATED,
};

/** One member of a resource-list notification */
struct pidf_resource {
	char uri[PIDF_URI_MAX + 1];
	enum pidf_substate state;
	char reason[32];   /**< instance reason (terminated), "" none     */
	bool has_presence; /**< pres holds the member's PIDF part        */
	int perr;          /**< why not: ENOENT no part, or its parse err */
	struct pidf_presence pres;
};

/** A parsed RLMI notification (refcounted; free with mem_deref) */
struct pidf_list {
	char uri[PIDF_URI_MAX + 1]; /**< the list's URI                  */
	uint32_t version;           /**< RLMI version (RFC 4662 5.2)     */
	bool full_state;            /**< false: a partial update          */
	size_t n;                   /**< entries in resv                  */
	struct pidf_resource *resv; /**< owned by the list                */
};

/** UCWA name of an availability ("Online", "BeRightBack", ...) */
const char *pidf_avail_name(enum pidf_avail a);
/**
 * UCWA name to availability (exact, case-sensitive as UCWA sends it).
 *
 * @return 0 or EINVAL (unknown name)
 */
int pidf_avail_decode(enum pidf_avail *ap, const struct pl *name);
/** UCWA name of a device type ("Mobile", ...) */
const char *pidf_device_name(enum pidf_device d);

/**
 * Set the note, location or activity of p from a pointer-length string
 * (copied as given: ill-formed UTF-8 becomes U+FFFD only when written).
 *
 * @return 0, EINVAL (NULL) or EMSGSIZE (above PIDF_NOTE_MAX bytes,
 *         PIDF_LOCATION_MAX characters, PIDF_ACTIVITY_MAX bytes)
 */
int pidf_set_note(struct pidf_presence *p, const char *s, size_t len);
int pidf_set_location(struct pidf_presence *p, const char *s, size_t len);
int pidf_set_activity(struct pidf_presence *p, const char *s, size_t len);

/**
 * Append the PIDF document for p to mb (at mb->pos).
 *
 * @param mb     Buffer
 * @param entity The presentity URI (escaped; required)
 * @param id     Id of our tuple and person, letters, digits, '-', '_',
 *               '.', starting with a letter, at most PIDF_ID_MAX (e.g. a
 *               hash of the session's endpoint id): tuple "t<id>", person
 *               "p<id>", so several sessions of one user do not collide
 *               when the Front End merges their publications
 * @param p      The state (borrowed)
 *
 * @return 0, EINVAL or ENOMEM; on error mb is cut back to where it was
 */
int pidf_build(struct mbuf *mb, const char *entity, const char *id,
	       const struct pidf_presence *p);

/**
 * Parse a PIDF document. An empty body (a Front End's neutral answer
 * under a polite-block rule, or nobody published) gives Offline.
 *
 * @param p    Receives the state (fully overwritten on success)
 * @param body The body (borrowed, len bytes, no NUL needed)
 * @param len  At most PIDF_BODY_MAX
 * @param why  Optional; receives a static reason on error
 */
int pidf_parse(struct pidf_presence *p, const char *body, size_t len,
	       const char **why);

/**
 * Parse a resource-list NOTIFY body: multipart/related whose root part is
 * application/rlmi+xml (RFC 4662 section 5), each member's PIDF in the
 * part its instance's cid names. A member whose part is missing or
 * unreadable is still listed (has_presence false, perr says why).
 *
 * @param lp    Returns a new reference on success
 * @param ctype The NOTIFY's Content-Type value (borrowed), with boundary
 * @param body  The body (borrowed, len bytes, no NUL needed)
 * @param len   At most PIDF_BODY_MAX
 * @param why   Optional; receives a static reason on error
 */
int pidf_rlmi_parse(struct pidf_list **lp, const struct pl *ctype,
		    const char *body, size_t len, const char **why);

#endif
