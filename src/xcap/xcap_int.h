/**
 * @file xcap_int.h  Private declarations of src/xcap
 */
#ifndef MOB_XCAP_INT_H
#define MOB_XCAP_INT_H

#include "xml.h"

/* The digest user of the client (borrowed). */
const char *xcap_client_user(const struct xcap_client *xc);

/*
 * Reading the Front End's documents with the XML reader (src/xml):
 * names arrive as "namespace|local"; text is collected up to
 * XCAP_MAX_NAME bytes, longer text fails the parse.
 */

#define XCAP_NS_RL "urn:ietf:params:xml:ns:resource-lists"
#define XCAP_NS_CP "urn:ietf:params:xml:ns:common-policy"
#define XCAP_NS_PR "urn:ietf:params:xml:ns:pres-rules"

/* One parse: the reader (handlers and arg set by the caller in rd) and
 * its text buffer */
struct xcap_xml {
	struct xml_rd rd;
	char text[XCAP_MAX_NAME + 1];
};

/* Parse doc under the XCAP limits; x->rd.why says why on error. */
int xcap_xml_parse(struct xcap_xml *x, const struct pl *doc);
/* The collected text without surrounding white space, as a new string;
 * stops the collection. */
int xcap_xml_text_dup(struct xml_rd *x, char **sp);

/* An empty rule set (rules.c) */
int xcap_rules_alloc(struct xcap_rules **rsp);

#endif
