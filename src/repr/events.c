/**
 * @file events.c  Event batches of the event channel: the model
 *
 * Encoded by json.c and xmlw.c like every other resource; only the shape
 * differs (UCWA groups events by sender instead of embedding them).
 */
#include <string.h>
#include <re.h>
#include "repr.h"
#include "repr_int.h"

static void ev_destructor(void *arg)
{
	struct repr_ev *ev = arg;

	list_unlink(&ev->le);
	mem_deref(ev->type);
	mem_deref(ev->rel);
	mem_deref(ev->href);
	mem_deref(ev->in_rel);
	mem_deref(ev->in_href);
	mem_deref(ev->status);
	mem_deref(ev->emb);
}

static void sender_destructor(void *arg)
{
	struct repr_sender *s = arg;

	list_unlink(&s->le);
	list_flush(&s->evs);
	mem_deref(s->rel);
	mem_deref(s->href);
}

static void events_destructor(void *arg)
{
	struct repr_events *e = arg;

	list_flush(&e->senders);
	list_flush(&e->links);
	mem_deref(e->href);
}

int repr_events_alloc(struct repr_events **ep, const char *href)
{
	struct repr_events *e;

	if (!ep || !href)
		return EINVAL;

	e = mem_zalloc(sizeof(*e), events_destructor);
	if (!e)
		return ENOMEM;

	e->href = repr_clean_dup(href);
	if (!e->href) {
		mem_deref(e);
		return ENOMEM;
	}
	*ep = e;
	return 0;
}

static void link_destructor(void *arg)
{
	struct repr_link *l = arg;

	list_unlink(&l->le);
	mem_deref((char *)l->rel.p);
	mem_deref((char *)l->href.p);
}

int repr_events_link(struct repr_events *e, const char *rel, const char *href)
{
	struct repr_link *l;

	if (!e || !rel || !href)
		return EINVAL;

	l = mem_zalloc(sizeof(*l), link_destructor);
	if (!l)
		return ENOMEM;

	l->rel.p = repr_clean_dup(rel);
	l->href.p = repr_clean_dup(href);
	if (!l->rel.p || !l->href.p) {
		mem_deref(l);
		return ENOMEM;
	}
	l->rel.len = strlen(l->rel.p);
	l->href.len = strlen(l->href.p);
	list_append(&e->links, &l->le, l);
	return 0;
}

/* The sender entry an event goes in: the last one if the event comes from
 * the same sender, else a new one. Events stay in the order they happened
 * (clients take the last as the outcome), so a sender appears again when
 * another sender's events came in between. */
static struct repr_sender *sender_get(struct repr_events *e, const char *rel,
				      const char *href)
{
	struct repr_sender *s;

	s = e->senders.tail ? e->senders.tail->data : NULL;
	if (s && !strcmp(s->href, href) && !strcmp(s->rel, rel))
		return s;

	s = mem_zalloc(sizeof(*s), sender_destructor);
	if (!s)
		return NULL;
	s->rel = repr_clean_dup(rel);
	s->href = repr_clean_dup(href);
	if (!s->rel || !s->href) {
		mem_deref(s);
		return NULL;
	}
	list_append(&e->senders, &s->le, s);
	return s;
}

/* Copy an optional string; false only when the copy failed. */
static bool dup_opt(char **dst, const char *s)
{
	*dst = repr_clean_dup(s);
	return !s || *dst;
}

int repr_events_add(struct repr_events *e, const struct repr_event *in)
{
	struct repr_sender *s;
	struct repr_ev *ev;

	if (!e || !in || !in->sender_rel || !in->sender_href || !in->type ||
	    !in->rel || !in->href)
		return EINVAL;

	s = sender_get(e, in->sender_rel, in->sender_href);
	if (!s)
		return ENOMEM;

	ev = mem_zalloc(sizeof(*ev), ev_destructor);
	if (!ev)
		return ENOMEM;

	if (!dup_opt(&ev->type, in->type) || !dup_opt(&ev->rel, in->rel) ||
	    !dup_opt(&ev->href, in->href) ||
	    !dup_opt(&ev->in_rel, in->in_href ? in->in_rel : NULL) ||
	    !dup_opt(&ev->in_href, in->in_rel ? in->in_href : NULL) ||
	    !dup_opt(&ev->status, in->status)) {
		mem_deref(ev);
		return ENOMEM;
	}
	ev->emb = mem_ref(in->embedded);
	list_append(&s->evs, &ev->le, ev);
	return 0;
}

int repr_events_encode(struct mbuf *mb, const struct repr_events *e,
		       enum repr_fmt fmt)
{
	size_t start;
	int err;

	if (!mb || !e)
		return EINVAL;

	start = mb->pos;
	err = fmt == REPR_JSON  ? repr_json_events(mb, e)
	      : fmt == REPR_XML ? repr_xml_events(mb, e)
				: EINVAL;
	if (err) {
		mb->pos = start;
		mb->end = start;
	}
	return err;
}
