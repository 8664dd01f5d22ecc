/**
 * @file pidf_int.h  Private to src/pidf
 */
#ifndef MOB_PIDF_INT_H
#define MOB_PIDF_INT_H

#include "xml.h"

/* Namespaces; the reader hands names to us as "<namespace>|<local name>" */
#define PIDF_NS "urn:ietf:params:xml:ns:pidf"
#define DM_NS   "urn:ietf:params:xml:ns:pidf:data-model"
#define RPID_NS "urn:ietf:params:xml:ns:pidf:rpid"
#define RLMI_NS "urn:ietf:params:xml:ns:rlmi"

/* The limits of PIDF and RLMI documents (pidf.h) for the XML reader */
extern const struct xml_limits pidf_xml_limits;

/* Copy s into dst (size bytes), cut at a UTF-8 character boundary,
 * without trailing XML white space */
void pidf_copy_text(char *dst, size_t size, const char *s, size_t len);

/* UCWA name to device type; 0 or EINVAL (pidf.c) */
int pidf_device_decode(enum pidf_device *dp, const struct pl *name);

#endif
