/**
 * @file pidf_int.h  Private to src/pidf: the limited expat front end
 */
#ifndef MOB_PIDF_INT_H
#define MOB_PIDF_INT_H

/* Namespaces; expat hands names to us as "<namespace>|<local name>" */
#define PIDF_NS "urn:ietf:params:xml:ns:pidf"
#define DM_NS   "urn:ietf:params:xml:ns:pidf:data-model"
#define RPID_NS "urn:ietf:params:xml:ns:pidf:rpid"
#define RLMI_NS "urn:ietf:params:xml:ns:rlmi"
#define XP_SEP  '|'

struct xp;

typedef void(xp_start_h)(struct xp *x, const char *name, const char **atts);
typedef void(xp_end_h)(struct xp *x, const char *name);

/*
 * One parse. The handlers see the depth of the element (root = 1) in
 * x->depth; they call xp_fail() to stop the parse with an error. Text is
 * collected into x->text (up to x->text_max bytes, cut at a character
 * boundary) while x->capture is set; the caller clears it.
 */
struct xp {
	int depth;
	unsigned elems;
	int err;
	const char *why;
	xp_start_h *starth;
	xp_end_h *endh;
	void *arg;
	bool capture;
	bool text_full;
	char *text; /* borrowed buffer of text_max + 1 bytes */
	size_t text_max;
	size_t text_len;
	void *parser; /* XML_Parser while running */
};

int xp_run(struct xp *x, const char *body, size_t len);
void xp_fail(struct xp *x, int err, const char *why);
void xp_text_begin(struct xp *x);
/* The collected text with surrounding XML white space removed */
void xp_text_trim(const struct xp *x, const char **sp, size_t *lenp);
const char *xp_attr(const char **atts, const char *name);
/* Copy s into dst (size bytes), cut at a UTF-8 character boundary,
 * without trailing XML white space */
void pidf_copy_text(char *dst, size_t size, const char *s, size_t len);

#endif
