/**
 * @file xmlw.c  The XML writer, its escaping, and the XML encoding of the
 *               resource model
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "repr.h"
#include "repr_int.h"

static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/* U+FFFD stands in for anything XML 1.0 cannot carry (section 2.2, Char) */
static const char xml_repl[] = "\xef\xbf\xbd";

/*
 * Replacement for an ASCII byte, or NULL to copy it. Tab, LF and CR become
 * character references: a parser would turn them into spaces inside an
 * attribute (XML 1.0 section 3.3.3) and CR into LF in text (section 2.11).
 */
static const char *xml_ascii(uint8_t c)
{
	switch (c) {

	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&apos;";
	case '\t':
		return "&#9;";
	case '\n':
		return "&#10;";
	case '\r':
		return "&#13;";
	default:
		/* Other C0 controls, NUL included, are not XML 1.0 Chars */
		return c < 0x20 ? xml_repl : NULL;
	}
}

int xml_escape(struct mbuf *mb, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, run = 0;
	int err;

	if (!mb || (!s && len))
		return EINVAL;

	/* Copy runs of bytes that need nothing in one write each */
	while (i < len) {
		const char *rep;
		size_t n = 1;

		if (p[i] < 0x80) {
			rep = xml_ascii(p[i]);
		} else {
			uint32_t cp;

			n = repr_utf8_decode(p + i, len - i, &cp);
			rep = (cp == REPR_UTF8_INVALID || cp == 0xfffe ||
			       cp == 0xffff)
				  ? xml_repl
				  : NULL;
		}

		if (!rep) {
			i += n;
			continue;
		}

		if (i > run) {
			err = mbuf_write_mem(mb, p + run, i - run);
			if (err)
				return err;
		}

		err = mbuf_write_str(mb, rep);
		if (err)
			return err;

		i += n;
		run = i;
	}

	return i > run ? mbuf_write_mem(mb, p + run, i - run) : 0;
}

void xmlw_init(struct xmlw *w, struct mbuf *mb)
{
	if (!w)
		return;

	memset(w, 0, sizeof(*w));
	w->mb = mb;

	/* No return value: a failed start leaves mb NULL, which every later
	 * call reports as ENOMEM */
	if (!mb || mbuf_write_str(mb, xml_decl))
		w->mb = NULL;
}

/* Finish a pending start tag before content goes in. */
static int close_start(struct xmlw *w)
{
	if (!w->open)
		return 0;

	w->open = false;
	return mbuf_write_u8(w->mb, '>');
}

int xmlw_start(struct xmlw *w, const char *name)
{
	int err;

	if (!w || !name)
		return EINVAL;
	if (!w->mb)
		return ENOMEM;
	if ((size_t)w->depth >= ARRAY_SIZE(w->stack))
		return EOVERFLOW;

	err = close_start(w);
	err |= mbuf_write_u8(w->mb, '<');
	err |= mbuf_write_str(w->mb, name);
	if (err)
		return ENOMEM;

	w->stack[w->depth++] = name;
	w->open = true;
	return 0;
}

int xmlw_attr_pl(struct xmlw *w, const char *name, const struct pl *val)
{
	int err;

	if (!w || !name || !val || (!val->p && val->l))
		return EINVAL;
	if (!w->mb)
		return ENOMEM;

	/* Attributes belong to the start tag: none once content started */
	if (!w->open)
		return EINVAL;

	err = mbuf_write_u8(w->mb, ' ');
	err |= mbuf_write_str(w->mb, name);
	err |= mbuf_write_str(w->mb, "=\"");
	err |= xml_escape(w->mb, val->p, val->l);
	err |= mbuf_write_u8(w->mb, '"');

	return err ? ENOMEM : 0;
}

int xmlw_attr(struct xmlw *w, const char *name, const char *val)
{
	struct pl pl;

	if (!val)
		return EINVAL;

	pl_set_str(&pl, val);
	return xmlw_attr_pl(w, name, &pl);
}

int xmlw_attr_u32(struct xmlw *w, const char *name, uint32_t val)
{
	char buf[16];
	struct pl pl;

	snprintf(buf, sizeof(buf), "%" PRIu32, val);
	pl_set_str(&pl, buf);
	return xmlw_attr_pl(w, name, &pl);
}

int xmlw_text(struct xmlw *w, const char *s, size_t len)
{
	int err;

	if (!w || (!s && len))
		return EINVAL;
	if (!w->mb)
		return ENOMEM;

	/* Text outside the root element is not well-formed */
	if (!w->depth)
		return EINVAL;

	/* Nothing to write keeps the element empty ("/>") */
	if (!len)
		return 0;

	err = close_start(w);
	if (err)
		return err;

	return xml_escape(w->mb, s, len);
}

int xmlw_end(struct xmlw *w)
{
	const char *name;
	int err;

	if (!w || !w->depth)
		return EINVAL;
	if (!w->mb)
		return ENOMEM;

	name = w->stack[--w->depth];

	if (w->open) {
		w->open = false;
		return mbuf_write_str(w->mb, "/>");
	}

	err = mbuf_write_str(w->mb, "</");
	err |= mbuf_write_str(w->mb, name);
	err |= mbuf_write_u8(w->mb, '>');

	return err ? ENOMEM : 0;
}

/* Model strings may hold a NUL (from a pl), so go by length. */
static int attr_rstr(struct xmlw *w, const char *name, const struct rstr *s)
{
	struct pl pl;

	pl.p = s->p;
	pl.l = s->len;
	return xmlw_attr_pl(w, name, &pl);
}

/* ISO 8601 UTC with milliseconds, e.g. 2026-11-23T19:58:16.123Z */
static int iso8601(char *buf, size_t size, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return EINVAL;

	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
	return 0;
}

static int xml_list(struct xmlw *w, const struct repr_prop *p)
{
	size_t i;
	int err;

	err = xmlw_start(w, "propertyList");
	if (!err)
		err = attr_rstr(w, "name", &p->name);

	for (i = 0; !err && i < p->u.list.n; i++) {
		err = xmlw_start(w, "item");
		if (!err)
			err =
			    xmlw_text(w, p->u.list.v[i].p, p->u.list.v[i].len);
		if (!err)
			err = xmlw_end(w);
	}

	return err ? err : xmlw_end(w);
}

static int xml_prop(struct xmlw *w, const struct repr_prop *p)
{
	const char *s = NULL;
	char buf[64];
	size_t len = 0;
	int err;

	switch (p->type) {

	case REPR_PLIST:
		return xml_list(w, p);

	case REPR_PSTR:
		s = p->u.str.p;
		len = p->u.str.len;
		break;

	case REPR_PINT:
		snprintf(buf, sizeof(buf), "%" PRId64, p->u.i);
		break;

	case REPR_PBOOL:
		snprintf(buf, sizeof(buf), "%s", p->u.b ? "true" : "false");
		break;

	case REPR_PDATE:
		err = iso8601(buf, sizeof(buf), p->u.ms);
		if (err)
			return err;
		break;

	default:
		return EINVAL;
	}

	if (!s) {
		s = buf;
		len = strlen(buf);
	}

	err = xmlw_start(w, "property");
	if (!err)
		err = attr_rstr(w, "name", &p->name);
	if (!err)
		err = xmlw_text(w, s, len);

	return err ? err : xmlw_end(w);
}

/* Element names of event types (UCWA); anything else is "updated". */
static const char *event_tag(const char *type)
{
	static const char *const tags[] = {"added", "updated", "deleted",
					   "started", "completed"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tags); i++) {
		if (!strcmp(type, tags[i]))
			return tags[i];
	}
	return "updated";
}

/* ns is set on the root only: children inherit the default namespace.
 * rel: the relationship the resource is written under (its own rel at
 * the root, its key when embedded). */
static int xml_resource(struct xmlw *w, const struct repr *r,
			const struct rstr *rel, const char *ns, unsigned depth)
{
	struct le *le;
	int err;

	if (depth > REPR_MAX_DEPTH)
		return EOVERFLOW;

	err = xmlw_start(w, "resource");
	if (!err && rel->p)
		err = attr_rstr(w, "rel", rel);
	if (!err && r->href.p)
		err = attr_rstr(w, "href", &r->href);
	if (!err && ns)
		err = xmlw_attr(w, "xmlns", ns);

	for (le = r->links.head; !err && le; le = le->next) {
		const struct repr_link *l = le->data;

		err = xmlw_start(w, "link");
		if (!err)
			err = attr_rstr(w, "rel", &l->rel);
		if (!err)
			err = attr_rstr(w, "href", &l->href);
		if (!err && l->title.p)
			err = attr_rstr(w, "title", &l->title);
		if (!err)
			err = xmlw_end(w);
	}

	for (le = r->props.head; !err && le; le = le->next)
		err = xml_prop(w, le->data);

	for (le = r->embeds.head; !err && le; le = le->next) {
		const struct repr_child *c = le->data;

		err = xml_resource(w, c->r, repr_child_key(c), NULL, depth + 1);
	}

	return err ? err : xmlw_end(w);
}

int repr_xml_encode(struct mbuf *mb, const struct repr *r, const char *ns)
{
	struct xmlw w;

	xmlw_init(&w, mb);

	return xml_resource(&w, r, &r->rel, ns, 1);
}

int repr_xml_events(struct mbuf *mb, const struct repr_events *e)
{
	struct xmlw w;
	struct le *le, *le2;
	int err;

	xmlw_init(&w, mb);
	err = xmlw_start(&w, "events");
	if (!err)
		err = xmlw_attr(&w, "href", e->href);
	if (!err)
		err = xmlw_attr(&w, "xmlns", REPR_UCWA_NS);

	for (le = e->links.head; !err && le; le = le->next) {
		const struct repr_link *l = le->data;

		err = xmlw_start(&w, "link");
		if (!err)
			err = attr_rstr(&w, "rel", &l->rel);
		if (!err)
			err = attr_rstr(&w, "href", &l->href);
		if (!err)
			err = xmlw_end(&w);
	}

	for (le = e->senders.head; !err && le; le = le->next) {
		const struct repr_sender *s = le->data;

		err = xmlw_start(&w, "sender");
		if (!err)
			err = xmlw_attr(&w, "rel", s->rel);
		if (!err)
			err = xmlw_attr(&w, "href", s->href);

		for (le2 = s->evs.head; !err && le2; le2 = le2->next) {
			const struct repr_ev *ev = le2->data;

			/* the element is named after the type; the
			 * writer keeps names by pointer, and event types
			 * are a closed set, so map to static strings */
			err = xmlw_start(&w, event_tag(ev->type));
			if (!err)
				err = xmlw_attr(&w, "rel", ev->rel);
			if (!err)
				err = xmlw_attr(&w, "href", ev->href);
			if (!err && ev->status)
				err = xmlw_attr(&w, "status", ev->status);
			if (!err && ev->in_href) {
				err = xmlw_start(&w, "in");
				if (!err)
					err = xmlw_attr(&w, "rel", ev->in_rel);
				if (!err)
					err =
					    xmlw_attr(&w, "href", ev->in_href);
				if (!err)
					err = xmlw_end(&w);
			}
			if (!err && ev->emb)
				err = xml_resource(&w, ev->emb, &ev->emb->rel,
						   NULL, 2);
			if (!err)
				err = xmlw_end(&w);
		}
		if (!err)
			err = xmlw_end(&w);
	}

	return err ? err : xmlw_end(&w);
}
