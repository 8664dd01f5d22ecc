/**
 * @file in.c  JSON request bodies, strictly parsed with jansson
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

int repr_in_json(struct repr_in **inp, const struct pl *body, const char **why)
{
	struct repr_in *in;
	json_error_t jerr;
	const char *k1, *k2;
	json_t *v1, *v2;
	void *it;

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

	in = mem_zalloc(sizeof(*in), destructor);
	if (!in)
		return ENOMEM;

	/* JSON_REJECT_DUPLICATES: a key given twice is ambiguous */
	in->root = json_loadb(body->p, body->l, JSON_REJECT_DUPLICATES, &jerr);
	if (!in->root) {
		*why = "body is not valid JSON";
		mem_deref(in);
		return EINVAL;
	}
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
			v2 = json_object_iter_value(it);
			(void)v2;
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
