/**
 * @file xcap_int.h  Private declarations of src/xcap
 */
#ifndef MOB_XCAP_INT_H
#define MOB_XCAP_INT_H

/* The digest user of the client (borrowed). */
const char *xcap_client_user(const struct xcap_client *xc);

/*
 * The expat front end of src/xcap (xml.c): names arrive as
 * "namespace|local"; depth and element count are limited, a DOCTYPE
 * stops the parse.
 */

#define XCAP_NS_RL "urn:ietf:params:xml:ns:resource-lists"
#define XCAP_NS_CP "urn:ietf:params:xml:ns:common-policy"
#define XCAP_NS_PR "urn:ietf:params:xml:ns:pres-rules"

struct xcap_xp;

typedef void(xcap_xp_start_h)(struct xcap_xp *x, const char *name,
			      const char **atts);
typedef void(xcap_xp_end_h)(struct xcap_xp *x, const char *name);

struct xcap_xp {
	void *parser; /* XML_Parser while running */
	int depth;    /* of the element being started/ended (root: 1) */
	size_t elems;
	int err;
	const char *why;
	xcap_xp_start_h *starth;
	xcap_xp_end_h *endh;
	void *arg;
	/* character data of the innermost element, when capturing */
	bool capture;
	char text[XCAP_MAX_NAME + 1];
	size_t text_len;
	bool text_full;
};

int xcap_xp_run(struct xcap_xp *x, const struct pl *doc);
void xcap_xp_fail(struct xcap_xp *x, int err, const char *why);
void xcap_xp_text_begin(struct xcap_xp *x);
/* The captured text without surrounding white space, as a new string. */
int xcap_xp_text_dup(struct xcap_xp *x, char **sp);
const char *xcap_xp_attr(const char **atts, const char *name);
/* Is name "ns|local"? */
bool xcap_xp_is(const char *name, const char *ns, const char *local);

#endif
