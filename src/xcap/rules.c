/**
 * @file rules.c  pres-rules (RFC 5025 on common-policy, RFC 4745)
 *
 * Model: rules with one identity (<one id>) and a sub-handling. Rules we
 * cannot rewrite faithfully (several or no identities, other conditions,
 * many/except, actions other than sub-handling) mark the model foreign.
 * Transformations are not kept: a rewrite gives every allowed watcher all
 * services, persons, devices and attributes (RFC 5025 3.3), which is what
 * a UCWA contact sees; the others get none.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "repr.h"
#include "xcap.h"
#include "xcap_int.h"

/* Rule ids of allowed watchers carry their UCWA privacy level */
#define ID_FF    "ucwa-ff-"
#define ID_WG    "ucwa-wg-"
#define ID_CO    "ucwa-co-"
#define ID_OTHER "ucwa-"

static const char *const action_names[] = {
    [XCAP_ACT_NONE] = "none",       [XCAP_ACT_BLOCK] = "block",
    [XCAP_ACT_CONFIRM] = "confirm", [XCAP_ACT_POLITE_BLOCK] = "polite-block",
    [XCAP_ACT_ALLOW] = "allow",
};

const char *xcap_action_name(enum xcap_action a)
{
	return (unsigned)a <= XCAP_ACT_ALLOW ? action_names[a] : "?";
}

const char *xcap_privacy_name(enum xcap_privacy p)
{
	switch (p) {
	case XCAP_PRIV_EXTERNAL:
		return "External";
	case XCAP_PRIV_COLLEAGUES:
		return "Colleagues";
	case XCAP_PRIV_WORKGROUP:
		return "Workgroup";
	case XCAP_PRIV_FRIENDS_AND_FAMILY:
		return "FriendsAndFamily";
	case XCAP_PRIV_BLOCKED:
		return "Blocked";
	}
	return "?";
}

static void rule_destructor(void *arg)
{
	struct xcap_rule *r = arg;

	list_unlink(&r->le);
	mem_deref(r->id);
	mem_deref(r->watcher);
}

static void rules_destructor(void *arg)
{
	struct xcap_rules *rs = arg;

	list_flush(&rs->rules);
}

int xcap_rules_alloc(struct xcap_rules **rsp)
{
	struct xcap_rules *rs;

	if (!rsp)
		return EINVAL;

	rs = mem_zalloc(sizeof(*rs), rules_destructor);
	if (!rs)
		return ENOMEM;

	*rsp = rs;
	return 0;
}

/*
 * Parse
 */

struct rs_parse {
	struct xcap_rules *rs;
	struct xcap_rule *rule; /* open rule */
	unsigned ones;          /* <one> of the open rule */
	bool handling;          /* reading sub-handling text */
	bool has_action;
	bool in_tf; /* inside transformations */
};

static void rs_start(struct xml_rd *x, const char *name, const char **atts)
{
	struct rs_parse *ps = x->arg;
	struct xcap_rule *r;
	const char *v;

	if (x->depth >= 3 && !ps->rule) {
		ps->rs->foreign = true; /* under a foreign top element */
		return;
	}

	switch (x->depth) {
	case 1:
		if (!xml_is(name, XCAP_NS_CP, "ruleset"))
			xml_fail(x, EPROTO, "not a common-policy ruleset");
		return;

	case 2:
		if (!xml_is(name, XCAP_NS_CP, "rule")) {
			ps->rs->foreign = true;
			return;
		}
		if (list_count(&ps->rs->rules) >= XCAP_MAX_RULES) {
			xml_fail(x, EOVERFLOW, "too many rules");
			return;
		}
		v = xml_attr(atts, "id");
		if (!v || !*v || strlen(v) > XCAP_MAX_NAME) {
			xml_fail(x, EPROTO, "rule without a usable id");
			return;
		}
		r = mem_zalloc(sizeof(*r), rule_destructor);
		if (!r || str_dup(&r->id, v)) {
			mem_deref(r);
			xml_fail(x, ENOMEM, "out of memory");
			return;
		}
		list_append(&ps->rs->rules, &r->le, r);
		ps->rule = r;
		ps->ones = 0;
		ps->has_action = false;
		return;

	case 3:
		/* transformations are regenerated, not kept */
		if (xml_is(name, XCAP_NS_CP, "conditions") ||
		    xml_is(name, XCAP_NS_CP, "actions"))
			return;
		if (xml_is(name, XCAP_NS_CP, "transformations")) {
			ps->in_tf = true;
			return;
		}
		break;

	case 4:
		if (xml_is(name, XCAP_NS_CP, "identity"))
			return;
		if (xml_is(name, XCAP_NS_PR, "sub-handling")) {
			ps->handling = true;
			xml_text_begin(x);
			return;
		}
		break;

	case 5:
		if (xml_is(name, XCAP_NS_CP, "one")) {
			v = xml_attr(atts, "id");
			if (!v || !*v || strlen(v) > XCAP_MAX_URI ||
			    ps->ones++) {
				ps->rs->foreign = true;
				return;
			}
			if (str_dup(&ps->rule->watcher, v))
				xml_fail(x, ENOMEM, "out of memory");
			return;
		}
		break;
	}

	/* under transformations anything goes; elsewhere it is foreign */
	if (!ps->in_tf)
		ps->rs->foreign = true;
}

static enum xcap_action action_parse(const char *s)
{
	enum xcap_action a;

	for (a = XCAP_ACT_BLOCK; a <= XCAP_ACT_ALLOW; a++) {
		if (!strcmp(s, action_names[a]))
			return a;
	}
	return XCAP_ACT_NONE;
}

static void rs_end(struct xml_rd *x, const char *name)
{
	struct rs_parse *ps = x->arg;
	(void)name;

	if (ps->handling && x->depth == 4) {
		char *s = NULL;

		ps->handling = false;
		if (xcap_xml_text_dup(x, &s)) {
			xml_fail(x, ENOMEM, "out of memory");
			return;
		}
		ps->rule->action = action_parse(s);
		if (ps->rule->action == XCAP_ACT_NONE)
			ps->rs->foreign = true;
		ps->has_action = true;
		mem_deref(s);
	} else if (x->depth == 3) {
		ps->in_tf = false;
	} else if (x->depth == 2 && ps->rule) {
		/* RFC 5025 3.2.1: no sub-handling is the lowest value */
		if (!ps->has_action)
			ps->rule->action = XCAP_ACT_BLOCK;
		/* a rule with no identity applies to everyone: keep it
		 * for reading, never rewrite it */
		if (!ps->rule->watcher)
			ps->rs->foreign = true;
		ps->rule = NULL;
	}
}

int xcap_rules_parse(struct xcap_rules **rsp, const struct pl *doc,
		     const char **why)
{
	struct rs_parse ps;
	struct xcap_xml x;
	int err;

	if (!rsp || !doc)
		return EINVAL;

	memset(&ps, 0, sizeof(ps));
	memset(&x, 0, sizeof(x));
	err = xcap_rules_alloc(&ps.rs);
	if (err)
		return err;

	x.rd.starth = rs_start;
	x.rd.endh = rs_end;
	x.rd.arg = &ps;
	err = xcap_xml_parse(&x, doc);
	if (why)
		*why = x.rd.why;

	if (err)
		mem_deref(ps.rs);
	else
		*rsp = ps.rs;
	return err;
}

/*
 * Write
 */

static int write_rule(struct xmlw *w, const struct xcap_rule *r)
{
	int err;

	err = xmlw_start(w, "rule");
	err |= xmlw_attr(w, "id", r->id);
	err |= xmlw_start(w, "conditions");
	err |= xmlw_start(w, "identity");
	err |= xmlw_start(w, "one");
	err |= xmlw_attr(w, "id", r->watcher ? r->watcher : "");
	err |= xmlw_end(w);
	err |= xmlw_end(w);
	err |= xmlw_end(w);
	err |= xmlw_start(w, "actions");
	err |= xmlw_start(w, "pr:sub-handling");
	err |= xmlw_text(w, action_names[r->action],
			 strlen(action_names[r->action]));
	err |= xmlw_end(w);
	err |= xmlw_end(w);

	if (r->action == XCAP_ACT_ALLOW) {
		err |= xmlw_start(w, "transformations");
		err |= xmlw_start(w, "pr:provide-services");
		err |= xmlw_start(w, "pr:all-services");
		err |= xmlw_end(w);
		err |= xmlw_end(w);
		err |= xmlw_start(w, "pr:provide-persons");
		err |= xmlw_start(w, "pr:all-persons");
		err |= xmlw_end(w);
		err |= xmlw_end(w);
		err |= xmlw_start(w, "pr:provide-devices");
		err |= xmlw_start(w, "pr:all-devices");
		err |= xmlw_end(w);
		err |= xmlw_end(w);
		err |= xmlw_start(w, "pr:provide-all-attributes");
		err |= xmlw_end(w);
		err |= xmlw_end(w);
	}

	err |= xmlw_end(w);
	return err;
}

int xcap_rules_write(struct mbuf *mb, const struct xcap_rules *rs)
{
	struct xmlw w;
	struct le *le;
	int err;

	if (!mb || !rs)
		return EINVAL;

	xmlw_init(&w, mb);
	err = xmlw_start(&w, "ruleset");
	err |= xmlw_attr(&w, "xmlns", XCAP_NS_CP);
	err |= xmlw_attr(&w, "xmlns:pr", XCAP_NS_PR);

	for (le = rs->rules.head; le && !err; le = le->next) {
		const struct xcap_rule *r = le->data;

		/* a rule without sub-handling was read as block: written
		 * so, it means the same (RFC 5025 3.2.1) */
		err |= write_rule(&w, r);
	}
	err |= xmlw_end(&w);

	return err ? ENOMEM : 0;
}

/*
 * Questions and changes
 */

/* Identities are URIs; compared without regard to case (RFC 3261 19.1.4
 * would keep the user part case-sensitive: users differing only in case
 * are not supported). */
static bool rule_matches(const struct xcap_rule *r, const char *watcher)
{
	return r->watcher && !str_casecmp(r->watcher, watcher);
}

enum xcap_action xcap_rules_action(const struct xcap_rules *rs,
				   const char *watcher)
{
	enum xcap_action best = XCAP_ACT_NONE;
	struct le *le;

	if (!rs || !watcher)
		return XCAP_ACT_NONE;

	/* RFC 4745 10.2: the combined permission is the maximum of the
	 * matching rules' values; sub-handling orders block < confirm <
	 * polite-block < allow (RFC 5025 3.2.1) */
	for (le = rs->rules.head; le; le = le->next) {
		const struct xcap_rule *r = le->data;

		if (rule_matches(r, watcher) && r->action > best)
			best = r->action;
	}

	return best;
}

enum xcap_privacy xcap_rules_privacy(const struct xcap_rules *rs,
				     const char *watcher)
{
	enum xcap_privacy level = XCAP_PRIV_COLLEAGUES;
	struct le *le;

	switch (xcap_rules_action(rs, watcher)) {
	case XCAP_ACT_BLOCK:
	case XCAP_ACT_POLITE_BLOCK:
		return XCAP_PRIV_BLOCKED;
	case XCAP_ACT_NONE:
	case XCAP_ACT_CONFIRM:
		return XCAP_PRIV_EXTERNAL;
	case XCAP_ACT_ALLOW:
		break;
	}

	/* the closest level any matching allow rule names */
	for (le = rs->rules.head; le; le = le->next) {
		const struct xcap_rule *r = le->data;

		if (!rule_matches(r, watcher) || r->action != XCAP_ACT_ALLOW)
			continue;
		if (!strncmp(r->id, ID_FF, strlen(ID_FF)))
			return XCAP_PRIV_FRIENDS_AND_FAMILY;
		if (!strncmp(r->id, ID_WG, strlen(ID_WG)))
			level = XCAP_PRIV_WORKGROUP;
	}

	return level;
}

static bool id_taken(const struct xcap_rules *rs, const char *id)
{
	struct le *le;

	for (le = rs->rules.head; le; le = le->next) {
		const struct xcap_rule *r = le->data;

		if (!strcmp(r->id, id))
			return true;
	}
	return false;
}

int xcap_rules_set(struct xcap_rules *rs, const char *watcher,
		   enum xcap_action action, enum xcap_privacy level)
{
	struct xcap_rule *r = NULL;
	const char *prefix = ID_OTHER;
	struct le *le;
	unsigned n;
	int err;

	if (!rs || !watcher || !*watcher || strlen(watcher) > XCAP_MAX_URI ||
	    (unsigned)action > XCAP_ACT_ALLOW)
		return EINVAL;
	if (rs->foreign)
		return ENOTSUP;

	if (action == XCAP_ACT_ALLOW) {
		if (level == XCAP_PRIV_FRIENDS_AND_FAMILY)
			prefix = ID_FF;
		else if (level == XCAP_PRIV_WORKGROUP)
			prefix = ID_WG;
		else if (level == XCAP_PRIV_COLLEAGUES)
			prefix = ID_CO;
		else
			return EINVAL;
	}

	/* the watcher's old rules go: one rule per watcher */
	le = rs->rules.head;
	while (le) {
		struct xcap_rule *old = le->data;

		le = le->next;
		if (rule_matches(old, watcher))
			mem_deref(old);
	}

	if (action == XCAP_ACT_NONE)
		return 0;
	if (list_count(&rs->rules) >= XCAP_MAX_RULES)
		return EOVERFLOW;

	r = mem_zalloc(sizeof(*r), rule_destructor);
	if (!r)
		return ENOMEM;
	r->action = action;
	err = str_dup(&r->watcher, watcher);
	for (n = 1; !err; n++) {
		err = re_sdprintf(&r->id, "%s%u", prefix, n);
		if (err || !id_taken(rs, r->id))
			break;
		r->id = mem_deref(r->id);
	}
	if (err) {
		mem_deref(r);
		return ENOMEM;
	}

	list_append(&rs->rules, &r->le, r);
	return 0;
}
