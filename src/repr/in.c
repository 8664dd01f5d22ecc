/**
 * @file in.c  Request bodies: JSON strictly parsed with jansson, the
 *             checks and getters shared with XML bodies (in_xml.c)
 */
#include <ctype.h>
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
#include "repr.h"
#include "repr_int.h"

struct repr_in {
	json_t *root; /* an object */
	bool xml;     /* from XML: every value is text */
};

static void destructor(void *arg)
{
	struct repr_in *in = arg;

	json_decref(in->root);
}

/* Nesting depth of a JSON text, strings skipped: checked before jansson
 * sees the text, whose own limit (2048) is far above ours. */
static size_t depth_of(const char *p, size_t n)
{
	size_t i, d = 0, max = 0;
	bool str = false;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (str) {
			if (c == '\\')
				++i;
			else if (c == '"')
				str = false;
			continue;
		}
		if (c == '"')
			str = true;
		else if (c == '{' || c == '[') {
			if (++d > max)
				max = d;
		} else if ((c == '}' || c == ']') && d)
			--d;
	}
	return max;
}

int repr_in_wrap(struct repr_in **inp, struct json_t *root, bool xml,
		 const char **why)
{
	struct repr_in *in;
	const char *k1, *k2;
	json_t *v1;
	void *it;

	in = mem_zalloc(sizeof(*in), destructor);
	if (!in) {
		json_decref(root);
		return ENOMEM;
	}
	in->root = root;
	in->xml = xml;

	if (!json_is_object(in->root)) {
		*why = "body is not a JSON object";
		mem_deref(in);
		return EINVAL;
	}
	if (json_object_size(in->root) > REPR_IN_MAX_MEMBERS) {
		*why = "too many members";
		mem_deref(in);
		return EOVERFLOW;
	}

	/* keys equal but for case would make a lookup ambiguous */
	json_object_foreach(in->root, k1, v1)
	{
		it = json_object_iter_next(in->root,
					   json_object_key_to_iter(k1));
		for (; it; it = json_object_iter_next(in->root, it)) {
			k2 = json_object_iter_key(it);
			if (!strcasecmp(k1, k2)) {
				*why = "a key is given twice";
				mem_deref(in);
				return EINVAL;
			}
		}
	}

	*inp = in;
	return 0;
}

int repr_in_json(struct repr_in **inp, const struct pl *body, const char **why)
{
	json_error_t jerr;
	json_t *root;

	if (!inp || !body || !why)
		return EINVAL;

	if (body->l > REPR_IN_MAX_BYTES) {
		*why = "body too large";
		return EOVERFLOW;
	}
	if (depth_of(body->p, body->l) > REPR_IN_MAX_DEPTH) {
		*why = "JSON nested too deeply";
		return EOVERFLOW;
	}

	/* JSON_REJECT_DUPLICATES: a key given twice is ambiguous */
	root = json_loadb(body->p, body->l, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*why = "body is not valid JSON";
		return EINVAL;
	}

	return repr_in_wrap(inp, root, false, why);
}

/*
 * An integer written as XML text: xs:long lexical space (XML Schema 2
 * section 3.3.17), white space collapsed (section 4.3.6): an optional
 * sign and 1 to 19 digits within the range of int64_t.
 */
static int int_of_text(const char *s, int64_t *val)
{
	const char *ws = " \t\r\n";
	uint64_t v = 0, max = INT64_MAX;
	bool neg = false;
	size_t n = 0;

	s += strspn(s, ws);
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (neg)
		max = (uint64_t)INT64_MAX + 1;

	for (; *s >= '0' && *s <= '9'; s++, n++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (!n || s[strspn(s, ws)])
		return EINVAL;

	*val = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static json_t *member(const struct repr_in *in, const char *key)
{
	const char *k;
	json_t *v;

	if (!in || !key)
		return NULL;
	json_object_foreach(in->root, k, v)
	{
		if (!strcasecmp(k, key))
			return json_is_null(v) ? NULL : v;
	}
	return NULL;
}

int repr_in_str(const struct repr_in *in, const char *key, struct pl *val)
{
	json_t *v = member(in, key);

	if (!v)
		return ENOENT;
	if (!json_is_string(v))
		return EINVAL;
	val->p = json_string_value(v);
	val->l = json_string_length(v);
	return 0;
}

int repr_in_int(const struct repr_in *in, const char *key, int64_t *val)
{
	json_t *v = member(in, key);

	if (!v)
		return ENOENT;
	if (in->xml && json_is_string(v))
		return int_of_text(json_string_value(v), val);
	if (!json_is_integer(v))
		return EINVAL;
	*val = (int64_t)json_integer_value(v);
	return 0;
}

int repr_in_strv(const struct repr_in *in, const char *key, size_t i,
		 struct pl *val)
{
	json_t *v = member(in, key), *e;

	if (!v)
		return ENOENT;
	if (!json_is_array(v))
		return EINVAL;
	e = json_array_get(v, i);
	if (!e)
		return ENOENT;
	if (!json_is_string(e))
		return EINVAL;
	val->p = json_string_value(e);
	val->l = json_string_length(e);
	return 0;
}

int repr_in_link(const struct repr_in *in, const char *rel, struct pl *href)
{
	json_t *links = member(in, "_links"), *l, *h;

	if (!links || !rel || !href)
		return ENOENT;
	if (!json_is_object(links))
		return EINVAL;
	l = json_object_get(links, rel);
	if (!l || json_is_null(l))
		return ENOENT;
	if (!json_is_object(l))
		return EINVAL;
	h = json_object_get(l, "href");
	if (!h || !json_is_string(h))
		return EINVAL;
	href->p = json_string_value(h);
	href->l = json_string_length(h);
	return 0;
}
