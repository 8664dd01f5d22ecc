/**
 * @file json.c  JSON encoding of the resource model (jansson)
 *
 * Member order is insertion order: "rel", the properties, "_links" ("self"
 * first), "_embedded". jansson keeps object keys in insertion order and does
 * the string escaping; the model only holds valid UTF-8, which jansson
 * requires.
 */
#include <inttypes.h>
#include <stdio.h>
#include <jansson.h>

/*
 * re.h pulls in re_json.h, whose JSON_STRING and JSON_NULL clash with
 * jansson's (and it has no include guard). Mark re.h as already included
 * and take the libre headers this file needs one by one.
 */
#define RE_H__ 1
#include <re_types.h>
#include <re_fmt.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_mem.h>
#include "repr.h"
#include "repr_int.h"

/* jansson copies the string; the model is sanitised, so NULL is ENOMEM. */
static json_t *jstr(const struct rstr *s)
{
	return json_stringn(s->p, s->len);
}

/* The *_new setters steal v even when they fail, NULL included. */
static int jset(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) ? ENOMEM : 0;
}

/*
 * Set o[key] = v (stolen). A key seen before turns into an array of its
 * values, in order: how UCWA writes repeated links and embedded resources.
 */
static int jset_rel(json_t *o, const char *key, json_t *v)
{
	json_t *cur = json_object_get(o, key);
	json_t *arr;

	if (!cur)
		return jset(o, key, v);

	if (json_is_array(cur))
		return json_array_append_new(cur, v) ? ENOMEM : 0;

	arr = json_array();
	if (!arr || json_array_append(arr, cur)) {
		json_decref(arr);
		json_decref(v);
		return ENOMEM;
	}
	if (json_array_append_new(arr, v)) {
		json_decref(arr);
		return ENOMEM;
	}

	/* Replacing a value keeps the key where it was first inserted */
	return jset(o, key, arr);
}

static json_t *link_obj(const struct rstr *href, const struct rstr *title)
{
	json_t *o = json_object();

	if (jset(o, "href", jstr(href)))
		goto fail;
	if (title && title->p && jset(o, "title", jstr(title)))
		goto fail;

	return o;

fail:
	json_decref(o);
	return NULL;
}

static json_t *prop_value(const struct repr_prop *p)
{
	char buf[32];
	json_t *a;
	size_t i;

	switch (p->type) {

	case REPR_PSTR:
		return jstr(&p->u.str);

	case REPR_PINT:
		return json_integer(p->u.i);

	case REPR_PBOOL:
		return json_boolean(p->u.b);

	case REPR_PDATE:
		/* The ASP.NET form UCWA uses: milliseconds since the epoch */
		snprintf(buf, sizeof(buf), "/Date(%" PRIu64 ")/", p->u.ms);
		return json_string(buf);

	case REPR_PLIST:
		a = json_array();
		for (i = 0; a && i < p->u.list.n; i++) {
			if (json_array_append_new(a, jstr(&p->u.list.v[i]))) {
				json_decref(a);
				a = NULL;
			}
		}
		return a;
	}

	return NULL;
}

static int json_links(json_t *o, const struct repr *r)
{
	json_t *links;
	struct le *le;
	int err;

	if (!r->href.p && list_isempty(&r->links))
		return 0;

	/* o keeps the reference; links stays valid while o lives */
	links = json_object();
	err = jset(o, "_links", links);
	if (err)
		return err;

	if (r->href.p) {
		err = jset_rel(links, "self", link_obj(&r->href, NULL));
		if (err)
			return err;
	}

	LIST_FOREACH(&r->links, le)
	{
		const struct repr_link *l = le->data;

		err = jset_rel(links, l->rel.p, link_obj(&l->href, &l->title));
		if (err)
			return err;
	}

	return 0;
}

static int json_resource(json_t **op, const struct repr *r, unsigned depth);

static int json_embedded(json_t *o, const struct repr *r, unsigned depth)
{
	json_t *emb;
	struct le *le;
	int err;

	if (list_isempty(&r->embeds))
		return 0;

	emb = json_object();
	err = jset(o, "_embedded", emb);
	if (err)
		return err;

	LIST_FOREACH(&r->embeds, le)
	{
		const struct repr_child *c = le->data;
		json_t *child;

		err = json_resource(&child, c->r, depth + 1);
		if (err)
			return err;

		err = jset_rel(emb, c->r->rel.p, child);
		if (err)
			return err;
	}

	return 0;
}

static int json_resource(json_t **op, const struct repr *r, unsigned depth)
{
	struct le *le;
	json_t *o;
	int err = 0;

	/* repr_embed checks depth, but a child may have grown since */
	if (depth > REPR_MAX_DEPTH)
		return EOVERFLOW;

	o = json_object();
	if (!o)
		return ENOMEM;

	if (r->rel.p) {
		err = jset(o, "rel", jstr(&r->rel));
		if (err)
			goto out;
	}

	LIST_FOREACH(&r->props, le)
	{
		const struct repr_prop *p = le->data;

		err = jset(o, p->name.p, prop_value(p));
		if (err)
			goto out;
	}

	err = json_links(o, r);
	if (err)
		goto out;

	err = json_embedded(o, r, depth);

out:
	if (err)
		json_decref(o);
	else
		*op = o;

	return err;
}

static int dump_mbuf(const char *buf, size_t size, void *arg)
{
	return mbuf_write_mem(arg, (const uint8_t *)buf, size) ? -1 : 0;
}

int repr_json_encode(struct mbuf *mb, const struct repr *r)
{
	json_t *o;
	int err;

	err = json_resource(&o, r, 1);
	if (err)
		return err;

	/* Stream straight into mb: no intermediate string to copy */
	if (json_dump_callback(o, dump_mbuf, mb,
			       JSON_PRESERVE_ORDER | JSON_COMPACT))
		err = ENOMEM;

	json_decref(o);
	return err;
}

/* {"rel":..,"href":..} */
static json_t *jlink(const char *rel, const char *href)
{
	json_t *o = json_object();

	if (o && (json_object_set_new(o, "rel", json_string(rel)) ||
		  json_object_set_new(o, "href", json_string(href)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int json_event(json_t *arr, const struct repr_ev *ev)
{
	json_t *o = json_object();
	int err;

	if (!o)
		return ENOMEM;
	err = json_array_append_new(arr, o) ? ENOMEM : 0;
	if (!err)
		err = jset(o, "link", jlink(ev->rel, ev->href));
	if (!err && ev->in_href)
		err = jset(o, "in", jlink(ev->in_rel, ev->in_href));
	if (!err && ev->status)
		err = jset(o, "status", json_string(ev->status));
	if (!err && ev->emb) {
		json_t *emb = json_object(), *child = NULL;

		err = jset(o, "_embedded", emb);
		if (!err)
			err = json_resource(&child, ev->emb, 2);
		if (!err)
			err =
			    jset(emb, ev->emb->rel.p ? ev->emb->rel.p : ev->rel,
				 child);
	}
	if (!err)
		err = jset(o, "type", json_string(ev->type));
	return err;
}

int repr_json_events(struct mbuf *mb, const struct repr_events *e)
{
	json_t *o = json_object(), *links, *senders;
	struct le *le, *le2;
	int err;

	if (!o)
		return ENOMEM;

	links = json_object();
	err = jset(o, "_links", links);
	if (!err) {
		json_t *self = json_object();
		err = jset(links, "self", self);
		if (!err)
			err = jset(self, "href", json_string(e->href));
	}
	for (le = e->links.head; !err && le; le = le->next) {
		const struct repr_link *l = le->data;
		json_t *lo = json_object();

		err = jset(links, l->rel.p, lo);
		if (!err)
			err = jset(lo, "href", jstr(&l->href));
	}

	senders = json_array();
	if (!err)
		err = jset(o, "sender", senders);
	for (le = e->senders.head; !err && le; le = le->next) {
		const struct repr_sender *s = le->data;
		json_t *so = json_object(), *evs = json_array();

		if (!so || json_array_append_new(senders, so)) {
			json_decref(evs);
			err = ENOMEM;
			break;
		}
		err = jset(so, "rel", json_string(s->rel));
		if (!err)
			err = jset(so, "href", json_string(s->href));
		if (!err)
			err = jset(so, "events", evs);
		else
			json_decref(evs);
		for (le2 = s->evs.head; !err && le2; le2 = le2->next)
			err = json_event(evs, le2->data);
	}

	if (!err && json_dump_callback(o, dump_mbuf, mb,
				       JSON_PRESERVE_ORDER | JSON_COMPACT))
		err = ENOMEM;

	json_decref(o);
	return err;
}
