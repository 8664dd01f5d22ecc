/**
 * @file in_xml.c  XML request bodies (the UCWA input form), and the choice
 *                 between JSON and XML by the body's media type
 *
 * An app may send what it would send as JSON in the UCWA XML form:
 *
 *   <input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">
 *     <property name="culture">en-US</property>
 *     <propertyList name="uris"><item>sip:bob@example.test</item>
 *     </propertyList>
 *   </input>
 *
 * It is read with the one XML reader (src/xml: no DTD, so no entity is
 * ever declared or expanded) into the same object a JSON body gives, so
 * that the getters and their checks are one: a property is a string
 * member, a propertyList an array of strings. XML has no types: integers
 * are read from the text by repr_in_int().
 */
#include <string.h>
#include <jansson.h>

/* re.h pulls in libre's own JSON header, whose names clash with
 * jansson's: take only the libre headers needed (see json.c). */
#define RE_H__ 1
#include <re_types.h>
#include <re_fmt.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_mem.h>
#include "xml.h"
#include "repr.h"
#include "repr_int.h"

static const struct xml_limits in_limits = {
    .bytes = REPR_IN_MAX_BYTES,
    .depth = REPR_IN_MAX_DEPTH,
    .elems = REPR_IN_MAX_ELEMENTS,
    .attrs = REPR_IN_MAX_ATTRS,
    .attr_len = REPR_IN_MAX_ATTR_LEN,
};

struct in_state {
	json_t *root; /* the object being built */
	json_t *list; /* array of the open <propertyList>, or NULL */
	char key[REPR_IN_MAX_ATTR_LEN + 1]; /* name of the open <property> */
};

/* The local name of an element in the UCWA namespace or in none; NULL
 * for any other namespace. */
static const char *ucwa_local(const char *name)
{
	const char *sep = strchr(name, XML_NS_SEP);
	size_t n = sizeof(REPR_UCWA_NS) - 1;

	if (!sep)
		return name;
	if ((size_t)(sep - name) != n || strncmp(name, REPR_UCWA_NS, n))
		return NULL;

	return sep + 1;
}

/* A new member's name: present, not given before (a key given twice is
 * ambiguous, as in JSON), within the member limit. */
static bool member_ok(struct xml_rd *x, struct in_state *st, const char **atts)
{
	const char *key = xml_attr(atts, "name");

	if (!key || !*key) {
		xml_fail(x, EPROTO, "a property without a name");
		return false;
	}
	if (json_object_get(st->root, key)) {
		xml_fail(x, EPROTO, "a key is given twice");
		return false;
	}
	if (json_object_size(st->root) >= REPR_IN_MAX_MEMBERS) {
		xml_fail(x, EOVERFLOW, "too many members");
		return false;
	}

	/* fits: attribute values are at most REPR_IN_MAX_ATTR_LEN */
	strcpy(st->key, key);
	return true;
}

static void in_start(struct xml_rd *x, const char *name, const char **atts)
{
	struct in_state *st = x->arg;
	const char *local = ucwa_local(name);

	if (!local) {
		xml_fail(x, EPROTO, "an element outside the UCWA namespace");
		return;
	}

	switch (x->depth) {

	case 1:
		/* <input> is the request form; <resource> is what an app
		 * read, sent back */
		if (strcmp(local, "input") && strcmp(local, "resource"))
			xml_fail(x, EPROTO, "the body is not a UCWA <input>");
		return;

	case 2:
		if (!strcmp(local, "property")) {
			if (member_ok(x, st, atts))
				xml_text_begin(x);
			return;
		}
		if (!strcmp(local, "propertyList")) {
			if (!member_ok(x, st, atts))
				return;
			st->list = json_array();
			if (!st->list ||
			    json_object_set_new(st->root, st->key, st->list))
				xml_fail(x, ENOMEM, "out of memory");
			return;
		}
		/* links of a <resource> sent back carry nothing for us */
		if (!strcmp(local, "link"))
			return;
		break;

	case 3:
		if (st->list && !strcmp(local, "item")) {
			xml_text_begin(x);
			return;
		}
		break;

	default:
		break;
	}

	xml_fail(x, EPROTO,
		 "unexpected XML element (an <input> holds <property> and "
		 "<propertyList> of <item>s)");
}

static void in_end(struct xml_rd *x, const char *name)
{
	struct in_state *st = x->arg;
	json_t *v;
	(void)name;

	if (x->depth == 2 && st->list) {
		st->list = NULL;
		return;
	}
	if (!x->capture)
		return;

	/* xs:string keeps its white space; expat gives valid UTF-8 */
	v = json_stringn(x->text, x->text_len);
	if (!v) {
		xml_fail(x, ENOMEM, "out of memory");
		return;
	}
	if (x->depth == 2 ? json_object_set_new(st->root, st->key, v)
			  : json_array_append_new(st->list, v))
		xml_fail(x, ENOMEM, "out of memory");
}

int repr_in_xml(struct repr_in **inp, const struct pl *body, const char **why)
{
	struct in_state st;
	struct xml_rd x;
	char *text = NULL;
	int err;

	if (!inp || !body || !why)
		return EINVAL;

	if (body->l > REPR_IN_MAX_BYTES) {
		*why = "body too large";
		return EOVERFLOW;
	}

	memset(&st, 0, sizeof(st));
	st.root = json_object();
	/* No text is longer than the body it is in */
	text = mem_alloc(body->l + 1, NULL);
	if (!st.root || !text) {
		err = ENOMEM;
		goto out;
	}

	memset(&x, 0, sizeof(x));
	x.lim = &in_limits;
	x.starth = in_start;
	x.endh = in_end;
	x.arg = &st;
	x.text = text;
	x.text_max = body->l;

	err = xml_parse(&x, body->p, body->l);
	switch (err) {

	case 0:
		break;

	case EMSGSIZE:
	case EOVERFLOW:
		*why = x.why;
		err = EOVERFLOW;
		goto out;

	case ENOMEM:
		goto out;

	default:
		*why = x.why ? x.why : "ill-formed XML";
		err = EINVAL;
		goto out;
	}

	err = repr_in_wrap(inp, st.root, true, why);
	st.root = NULL;

out:
	json_decref(st.root);
	mem_deref(text);
	return err;
}

int repr_media_fmt(const struct pl *mtype, enum repr_fmt *fmt)
{
	static const struct {
		const char *name;
		enum repr_fmt fmt;
	} types[] = {
	    {"application/json", REPR_JSON},
	    {"application/vnd.microsoft.com.ucwa+json", REPR_JSON},
	    {"application/xml", REPR_XML},
	    {"application/vnd.microsoft.com.ucwa+xml", REPR_XML},
	};
	const char *p;
	size_t n, i;

	if (!mtype || !fmt)
		return EINVAL;

	/* type/subtype, without parameters (RFC 9110 section 8.3.1) */
	p = mtype->p;
	n = mtype->l;
	for (i = 0; i < n && p[i] != ';'; i++)
		;
	n = i;
	while (n && strchr(" \t", *p)) {
		++p;
		--n;
	}
	while (n && strchr(" \t", p[n - 1]))
		--n;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (strlen(types[i].name) == n &&
		    !strncasecmp(p, types[i].name, n)) {
			*fmt = types[i].fmt;
			return 0;
		}
	}

	return ENOTSUP;
}

int repr_in_parse(struct repr_in **inp, const struct pl *ctype,
		  const struct pl *body, const char **why)
{
	enum repr_fmt fmt = REPR_JSON;

	if (!inp || !body || !why)
		return EINVAL;

	/* No Content-Type: JSON, as apps sent before XML was read */
	if (ctype && ctype->l && repr_media_fmt(ctype, &fmt)) {
		*why = "request bodies are JSON (application/json) or XML "
		       "(application/xml)";
		return ENOTSUP;
	}

	return fmt == REPR_XML ? repr_in_xml(inp, body, why)
			       : repr_in_json(inp, body, why);
}
