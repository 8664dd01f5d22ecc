/**
 * @file json.c  JSON encoding of the resource model and of event batches
 *
 * Written straight into the output buffer: building a jansson tree and
 * dumping it in insertion order was a quarter of the instructions of a
 * GET presence (an object and a copied string per member, then a sort of
 * the keys by insertion). The model only holds valid UTF-8 (repr.c), so
 * strings need only JSON's escapes (RFC 8259 section 7).
 *
 * Member order: "rel", the properties, "_links" ("self" first),
 * "_embedded". A rel that appears more than once in _links or _embedded
 * becomes one member whose value is the array of them, in order, where
 * the first of them stood: how UCWA writes repeated links and embedded
 * resources. A rel that can hold several resources
 * (repr_rel_is_collection) is an array even with one member.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "repr.h"
#include "repr_int.h"

/* A JSON string: quotes, two-character escapes where JSON has one, \u00XX
 * for the other C0 controls (NUL included), every other byte as it is. */
static int jstr(struct mbuf *mb, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;
	int err = mbuf_write_u8(mb, '"');

	for (i = 0; i < len && !err; i++) {
		uint8_t c = (uint8_t)s[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;

		switch (c) {

		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			n = sizeof(esc);
			break;
		}

		err = mbuf_write_mem(mb, (const uint8_t *)s + run, i - run);
		err |= mbuf_write_mem(mb, (const uint8_t *)esc, n);
		run = i + 1;
	}

	if (len > run) /* s may be NULL when len is 0 */
		err |= mbuf_write_mem(mb, (const uint8_t *)s + run, len - run);
	err |= mbuf_write_u8(mb, '"');
	return err;
}

static int jcstr(struct mbuf *mb, const char *s)
{
	return jstr(mb, s, strlen(s));
}

/* "key": with a comma before it unless it is the first member */
static int jkey(struct mbuf *mb, bool *first, const char *key)
{
	int err = 0;

	if (!*first)
		err = mbuf_write_u8(mb, ',');
	*first = false;
	err |= jcstr(mb, key);
	err |= mbuf_write_u8(mb, ':');
	return err;
}

/* {"href":...[,"title":...]} */
static int jlink(struct mbuf *mb, const struct rstr *href,
		 const struct rstr *title)
{
	int err = mbuf_write_str(mb, "{\"href\":");

	err |= jstr(mb, href->p, href->len);
	if (title && title->p) {
		err |= mbuf_write_str(mb, ",\"title\":");
		err |= jstr(mb, title->p, title->len);
	}
	err |= mbuf_write_u8(mb, '}');
	return err;
}

static int prop_value(struct mbuf *mb, const struct repr_prop *p)
{
	char buf[40];
	size_t i;
	int err;

	switch (p->type) {

	case REPR_PSTR:
		return jstr(mb, p->u.str.p, p->u.str.len);

	case REPR_PINT:
		(void)snprintf(buf, sizeof(buf), "%" PRId64, p->u.i);
		return mbuf_write_str(mb, buf);

	case REPR_PBOOL:
		return mbuf_write_str(mb, p->u.b ? "true" : "false");

	case REPR_PDATE:
		/* The ASP.NET form UCWA uses: milliseconds since the epoch */
		(void)snprintf(buf, sizeof(buf), "/Date(%" PRIu64 ")/",
			       p->u.ms);
		return jcstr(mb, buf);

	case REPR_PLIST:
		err = mbuf_write_u8(mb, '[');
		for (i = 0; i < p->u.list.n; i++) {
			if (i)
				err |= mbuf_write_u8(mb, ',');
			err |= jstr(mb, p->u.list.v[i].p, p->u.list.v[i].len);
		}
		err |= mbuf_write_u8(mb, ']');
		return err;
	}

	return EINVAL;
}

static int json_resource(struct mbuf *mb, const struct repr *r, unsigned depth);

/*
 * The members of _links or _embedded: one per rel, in order of first
 * appearance, an array where a rel appears more than once. The list holds
 * struct repr_link (links) or struct repr_child (embedded resources);
 * self, when given, is a link of rel "self" before all of them.
 */
struct group {
	const struct list *l;
	const struct rstr *self;
	bool links;
	unsigned depth;
	const char *parent; /**< rel of the resource holding them, or NULL */
};

static const char *rel_of(const struct group *g, const struct le *le)
{
	return g->links ? ((const struct repr_link *)le->data)->rel.p
			: repr_child_key(le->data)->p;
}

static int member(struct mbuf *mb, const struct group *g, const struct le *le)
{
	const struct repr_link *l = le->data;

	return g->links
		   ? jlink(mb, &l->href, &l->title)
		   : json_resource(mb, ((const struct repr_child *)le->data)->r,
				   g->depth + 1);
}

/* The value of rel: its members from le on (self first for "self"). */
static int group_value(struct mbuf *mb, const struct group *g,
		       const struct le *from, const char *rel)
{
	bool self = g->self && !strcmp(rel, "self");
	size_t n = self;
	const struct le *le;
	bool many;
	int err = 0;

	for (le = from; le; le = le->next)
		n += !strcmp(rel_of(g, le), rel);

	/* a collection stays an array with one member: clients iterate it */
	many = n > 1 || repr_rel_is_collection(g->parent, rel);
	if (many)
		err = mbuf_write_u8(mb, '[');
	if (self)
		err |= jlink(mb, g->self, NULL);
	for (le = from; le && !err; le = le->next) {
		if (strcmp(rel_of(g, le), rel))
			continue;
		if (self || le != from)
			err = mbuf_write_u8(mb, ',');
		err |= member(mb, g, le);
	}
	if (many)
		err |= mbuf_write_u8(mb, ']');
	return err;
}

static bool seen_before(const struct group *g, const struct le *upto,
			const char *rel)
{
	const struct le *le;

	if (g->self && !strcmp(rel, "self"))
		return true;
	for (le = g->l->head; le != upto; le = le->next) {
		if (!strcmp(rel_of(g, le), rel))
			return true;
	}
	return false;
}

static int json_group(struct mbuf *mb, const struct group *g)
{
	bool first = true;
	const struct le *le;
	int err = mbuf_write_u8(mb, '{');

	if (g->self) {
		err |= jkey(mb, &first, "self");
		err |= group_value(mb, g, g->l->head, "self");
	}
	for (le = g->l->head; le && !err; le = le->next) {
		const char *rel = rel_of(g, le);

		if (seen_before(g, le, rel))
			continue;
		err = jkey(mb, &first, rel);
		err |= group_value(mb, g, le, rel);
	}
	err |= mbuf_write_u8(mb, '}');
	return err;
}

static int json_resource(struct mbuf *mb, const struct repr *r, unsigned depth)
{
	bool first = true;
	struct le *le;
	int err;

	/* repr_embed checks depth, but a child may have grown since */
	if (depth > REPR_MAX_DEPTH)
		return EOVERFLOW;

	err = mbuf_write_u8(mb, '{');
	if (r->rel.p) {
		err |= jkey(mb, &first, "rel");
		err |= jstr(mb, r->rel.p, r->rel.len);
	}

	LIST_FOREACH(&r->props, le)
	{
		const struct repr_prop *p = le->data;

		err |= jkey(mb, &first, p->name.p);
		err |= prop_value(mb, p);
	}

	if (r->href.p || !list_isempty(&r->links)) {
		const struct group g = {&r->links, r->href.p ? &r->href : NULL,
					true, depth, r->rel.p};

		err |= jkey(mb, &first, "_links");
		err |= json_group(mb, &g);
	}

	if (!list_isempty(&r->embeds)) {
		const struct group g = {&r->embeds, NULL, false, depth,
					r->rel.p};

		err |= jkey(mb, &first, "_embedded");
		if (!err)
			err = json_group(mb, &g);
	}

	err |= mbuf_write_u8(mb, '}');
	return err;
}

int repr_json_encode(struct mbuf *mb, const struct repr *r)
{
	return json_resource(mb, r, 1);
}

/* {"rel":..,"href":..} */
static int jrel_href(struct mbuf *mb, const char *rel, const char *href)
{
	int err = mbuf_write_str(mb, "{\"rel\":");

	err |= jcstr(mb, rel);
	err |= mbuf_write_str(mb, ",\"href\":");
	err |= jcstr(mb, href);
	err |= mbuf_write_u8(mb, '}');
	return err;
}

static int json_event(struct mbuf *mb, const struct repr_ev *ev)
{
	int err = mbuf_write_str(mb, "{\"link\":");

	err |= jrel_href(mb, ev->rel, ev->href);
	if (ev->in_href) {
		err |= mbuf_write_str(mb, ",\"in\":");
		err |= jrel_href(mb, ev->in_rel, ev->in_href);
	}
	if (ev->status) {
		err |= mbuf_write_str(mb, ",\"status\":");
		err |= jcstr(mb, ev->status);
	}
	if (ev->emb) {
		err |= mbuf_write_str(mb, ",\"_embedded\":{");
		err |= jcstr(mb, ev->emb->rel.p ? ev->emb->rel.p : ev->rel);
		err |= mbuf_write_u8(mb, ':');
		if (!err)
			err = json_resource(mb, ev->emb, 2);
		err |= mbuf_write_u8(mb, '}');
	}
	err |= mbuf_write_str(mb, ",\"type\":");
	err |= jcstr(mb, ev->type);
	err |= mbuf_write_u8(mb, '}');
	return err;
}

int repr_json_events(struct mbuf *mb, const struct repr_events *e)
{
	const struct rstr self = {e->href, strlen(e->href)};
	const struct group g = {&e->links, &self, true, 1, NULL};
	struct le *le, *le2;
	int err = mbuf_write_str(mb, "{\"_links\":");

	err |= json_group(mb, &g);
	err |= mbuf_write_str(mb, ",\"sender\":[");
	for (le = e->senders.head; le && !err; le = le->next) {
		const struct repr_sender *s = le->data;

		if (le != e->senders.head)
			err = mbuf_write_u8(mb, ',');
		err |= mbuf_write_str(mb, "{\"rel\":");
		err |= jcstr(mb, s->rel);
		err |= mbuf_write_str(mb, ",\"href\":");
		err |= jcstr(mb, s->href);
		err |= mbuf_write_str(mb, ",\"events\":[");
		for (le2 = s->evs.head; le2 && !err; le2 = le2->next) {
			if (le2 != s->evs.head)
				err = mbuf_write_u8(mb, ',');
			err |= json_event(mb, le2->data);
		}
		err |= mbuf_write_str(mb, "]}");
	}
	err |= mbuf_write_str(mb, "]}");
	return err;
}
