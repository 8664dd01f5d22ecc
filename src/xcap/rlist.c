/**
 * @file rlist.c  resource-lists (RFC 4826 section 3): the contact list
 *
 * Model: each top-level <list name> is a group (its <display-name>), each
 * <entry uri> in it a contact (its <display-name>). Anything else in the
 * document (nested lists, entry-ref, external, foreign elements) marks
 * the model foreign: readable, never rewritten.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "repr.h"
#include "xcap.h"
#include "xcap_int.h"

static void entry_destructor(void *arg)
{
	struct xcap_entry *e = arg;

	list_unlink(&e->le);
	mem_deref(e->uri);
	mem_deref(e->name);
}

static void group_destructor(void *arg)
{
	struct xcap_group *g = arg;

	list_unlink(&g->le);
	list_flush(&g->entries);
	mem_deref(g->name);
	mem_deref(g->display);
}

static void rlist_destructor(void *arg)
{
	struct xcap_rlist *rl = arg;

	list_flush(&rl->groups);
}

int xcap_rlist_alloc(struct xcap_rlist **rlp)
{
	struct xcap_rlist *rl;

	if (!rlp)
		return EINVAL;

	rl = mem_zalloc(sizeof(*rl), rlist_destructor);
	if (!rl)
		return ENOMEM;

	*rlp = rl;
	return 0;
}

static int group_new(struct xcap_group **gp, struct xcap_rlist *rl,
		     const char *name)
{
	struct xcap_group *g;

	if (list_count(&rl->groups) >= XCAP_MAX_GROUPS)
		return EOVERFLOW;

	g = mem_zalloc(sizeof(*g), group_destructor);
	if (!g)
		return ENOMEM;
	if (str_dup(&g->name, name)) {
		mem_deref(g);
		return ENOMEM;
	}

	list_append(&rl->groups, &g->le, g);
	*gp = g;
	return 0;
}

static int entry_new(struct xcap_entry **ep, struct xcap_rlist *rl,
		     struct xcap_group *g, const char *uri)
{
	struct xcap_entry *e;

	if (rl->nentries >= XCAP_MAX_ENTRIES)
		return EOVERFLOW;

	e = mem_zalloc(sizeof(*e), entry_destructor);
	if (!e)
		return ENOMEM;
	if (str_dup(&e->uri, uri)) {
		mem_deref(e);
		return ENOMEM;
	}

	list_append(&g->entries, &e->le, e);
	++rl->nentries;
	*ep = e;
	return 0;
}

/*
 * Parse
 */

struct rl_parse {
	struct xcap_rlist *rl;
	struct xcap_group *group; /* open top-level list */
	struct xcap_entry *entry; /* open entry */
	char **text_to;           /* display-name being read */
};

static void rl_start(struct xml_rd *x, const char *name, const char **atts)
{
	struct rl_parse *ps = x->arg;
	const char *v;
	int err = 0;

	if (x->depth == 1) {
		if (!xml_is(name, XCAP_NS_RL, "resource-lists"))
			xml_fail(x, EPROTO, "not a resource-lists document");
		return;
	}

	if (x->depth == 2 && xml_is(name, XCAP_NS_RL, "list")) {
		v = xml_attr(atts, "name");
		if (!v || !*v || strlen(v) > XCAP_MAX_NAME) {
			xml_fail(x, EPROTO, "list without a usable name");
			return;
		}
		if (xcap_rlist_group(ps->rl, v)) {
			xml_fail(x, EPROTO, "two lists of one name");
			return;
		}
		err = group_new(&ps->group, ps->rl, v);
	} else if (x->depth == 3 && ps->group &&
		   xml_is(name, XCAP_NS_RL, "entry")) {
		v = xml_attr(atts, "uri");
		if (!v || !*v || strlen(v) > XCAP_MAX_URI) {
			xml_fail(x, EPROTO, "entry without a usable uri");
			return;
		}
		err = entry_new(&ps->entry, ps->rl, ps->group, v);
	} else if (xml_is(name, XCAP_NS_RL, "display-name") &&
		   ((x->depth == 3 && ps->group && !ps->group->display) ||
		    (x->depth == 4 && ps->entry && !ps->entry->name))) {
		ps->text_to =
		    x->depth == 3 ? &ps->group->display : &ps->entry->name;
		xml_text_begin(x);
	} else {
		/* RFC 4826 lets lists hold more than this model keeps */
		ps->rl->foreign = true;
	}

	if (err == EOVERFLOW)
		xml_fail(x, err, "too many groups or entries");
	else if (err)
		xml_fail(x, err, "out of memory");
}

static void rl_end(struct xml_rd *x, const char *name)
{
	struct rl_parse *ps = x->arg;
	(void)name;

	if (ps->text_to && x->capture) {
		if (xcap_xml_text_dup(x, ps->text_to))
			xml_fail(x, ENOMEM, "out of memory");
		ps->text_to = NULL;
	}
	if (x->depth == 3 && ps->entry)
		ps->entry = NULL;
	else if (x->depth == 2)
		ps->group = NULL;
}

/*
 * Reading, shared with rules.c
 */

static const struct xml_limits xcap_xml_limits = {
    .bytes = XCAP_MAX_BODY,
    .depth = XCAP_MAX_DEPTH,
    .elems = XCAP_MAX_ELEMENTS,
};

int xcap_xml_parse(struct xcap_xml *x, const struct pl *doc)
{
	x->rd.lim = &xcap_xml_limits;
	x->rd.text = x->text;
	x->rd.text_max = XCAP_MAX_NAME;
	x->rd.text_cut = false;

	return xml_parse(&x->rd, doc->p, doc->l);
}

int xcap_xml_text_dup(struct xml_rd *x, char **sp)
{
	struct pl pl;

	xml_text_trim(x, &pl.p, &pl.l);
	x->capture = false;
	return pl_strdup(sp, &pl);
}

int xcap_rlist_parse(struct xcap_rlist **rlp, const struct pl *doc,
		     const char **why)
{
	struct rl_parse ps;
	struct xcap_xml x;
	int err;

	if (!rlp || !doc)
		return EINVAL;

	memset(&ps, 0, sizeof(ps));
	memset(&x, 0, sizeof(x));
	err = xcap_rlist_alloc(&ps.rl);
	if (err)
		return err;

	x.rd.starth = rl_start;
	x.rd.endh = rl_end;
	x.rd.arg = &ps;
	err = xcap_xml_parse(&x, doc);
	if (why)
		*why = x.rd.why;

	if (err)
		mem_deref(ps.rl);
	else
		*rlp = ps.rl;
	return err;
}

/*
 * Write
 */

int xcap_rlist_write(struct mbuf *mb, const struct xcap_rlist *rl)
{
	struct xmlw w;
	struct le *le, *le2;
	int err;

	if (!mb || !rl)
		return EINVAL;

	xmlw_init(&w, mb);
	err = xmlw_start(&w, "resource-lists");
	err |= xmlw_attr(&w, "xmlns", XCAP_NS_RL);

	for (le = rl->groups.head; le && !err; le = le->next) {
		const struct xcap_group *g = le->data;

		err |= xmlw_start(&w, "list");
		err |= xmlw_attr(&w, "name", g->name);
		if (g->display) {
			err |= xmlw_start(&w, "display-name");
			err |= xmlw_text(&w, g->display, strlen(g->display));
			err |= xmlw_end(&w);
		}
		for (le2 = g->entries.head; le2 && !err; le2 = le2->next) {
			const struct xcap_entry *e = le2->data;

			err |= xmlw_start(&w, "entry");
			err |= xmlw_attr(&w, "uri", e->uri);
			if (e->name) {
				err |= xmlw_start(&w, "display-name");
				err |= xmlw_text(&w, e->name, strlen(e->name));
				err |= xmlw_end(&w);
			}
			err |= xmlw_end(&w);
		}
		err |= xmlw_end(&w);
	}
	err |= xmlw_end(&w);

	return err ? ENOMEM : 0;
}

/*
 * Changes
 */

struct xcap_group *xcap_rlist_group(const struct xcap_rlist *rl,
				    const char *name)
{
	struct le *le;

	if (!rl || !name)
		return NULL;

	for (le = rl->groups.head; le; le = le->next) {
		struct xcap_group *g = le->data;

		if (!strcmp(g->name, name))
			return g;
	}

	return NULL;
}

static struct xcap_entry *group_entry(const struct xcap_group *g,
				      const char *uri)
{
	struct le *le;

	for (le = g->entries.head; le; le = le->next) {
		struct xcap_entry *e = le->data;

		if (!strcmp(e->uri, uri))
			return e;
	}

	return NULL;
}

int xcap_rlist_add(struct xcap_rlist *rl, const char *group, const char *uri,
		   const char *name)
{
	struct xcap_group *g;
	struct xcap_entry *e;
	char *dup = NULL;
	int err;

	if (!rl || !group || !*group || strlen(group) > XCAP_MAX_NAME || !uri ||
	    !*uri || strlen(uri) > XCAP_MAX_URI ||
	    (name && strlen(name) > XCAP_MAX_NAME))
		return EINVAL;
	if (rl->foreign)
		return ENOTSUP;

	if (name && *name && str_dup(&dup, name))
		return ENOMEM;

	g = xcap_rlist_group(rl, group);
	if (!g) {
		err = group_new(&g, rl, group);
		if (err)
			goto out;
	}

	e = group_entry(g, uri);
	if (!e) {
		err = entry_new(&e, rl, g, uri);
		if (err)
			goto out;
	}

	mem_deref(e->name);
	e->name = dup;
	dup = NULL;
	err = 0;

out:
	mem_deref(dup);
	return err;
}

int xcap_rlist_remove(struct xcap_rlist *rl, const char *group, const char *uri)
{
	struct le *le;
	bool found = false;

	if (!rl || !uri)
		return EINVAL;
	if (rl->foreign)
		return ENOTSUP;

	for (le = rl->groups.head; le; le = le->next) {
		struct xcap_group *g = le->data;
		struct xcap_entry *e;

		if (group && strcmp(g->name, group))
			continue;

		e = group_entry(g, uri);
		if (e) {
			mem_deref(e);
			--rl->nentries;
			found = true;
		}
	}

	return found ? 0 : ENOENT;
}
