/**
 * @file people.c  people: the user's contacts and groups, kept on the
 * Front End (the user's XCAP resource-lists document, shared by all of the
 * user's devices) and the privacy relationships (pres-rules)
 *
 *   GET  people                                   links
 *   GET  people/contacts                          every contact
 *   POST people/contacts {"uri","name","group"}   add (group "Contacts"
 *                                                 unless given)
 *   GET  people/contacts/<uri>                    one contact
 *   DELETE people/contacts/<uri>                  remove from every group
 *   GET/POST people/contacts/<uri>/contactPrivacyRelationship
 *   GET  people/groups                            the groups
 *   GET  people/groups/<name>                     one group
 *   GET  people/groups/<name>/contacts            a group's contacts
 *
 * <uri> is the contact's SIP URI, percent-encoded in the path.
 */
#include <string.h>
#include <re.h>
#include "api.h"
#include "conf.h"
#include "repr.h"
#include "xcap.h"
#include "ucwa.h"
#include "ucwa_int.h"

#define DEFAULT_GROUP "Contacts"

enum what {
	CONTACTS,
	CONTACT,
	GROUPS,
	GROUP_CONTACTS,
	GROUP,
	ADDED,
	REMOVED,
	PRIVACY,
	PRIVACY_SET,
};

/* One request waiting for the XCAP server. */
struct pop {
	struct app *app;
	struct web_req *req;
	struct xcap_op *op;
	struct tmr tmr; /* freed once the client's stack has unwound */
	enum what what;
	char uri[UCWA_URI_MAX + 1];
	char group[4 * UCWA_FIELD_MAX + 1];
};

static const char *const privacy_names[] = {
    [XCAP_PRIV_EXTERNAL] = "External",
    [XCAP_PRIV_COLLEAGUES] = "Colleagues",
    [XCAP_PRIV_WORKGROUP] = "Workgroup",
    [XCAP_PRIV_FRIENDS_AND_FAMILY] = "FriendsAndFamily",
    [XCAP_PRIV_BLOCKED] = "Blocked",
};

static void pop_destructor(void *arg)
{
	struct pop *p = arg;

	tmr_cancel(&p->tmr);
	mem_deref(p->op);
	if (p->req)
		web_req_set_cancel(p->req, NULL, NULL);
	mem_deref(p->req);
}

static void pop_free(void *arg)
{
	mem_deref(arg);
}

static void pop_done(struct pop *p)
{
	web_req_set_cancel(p->req, NULL, NULL);
	tmr_start(&p->tmr, 0, pop_free, p);
}

static void pop_cancel(struct web_req *req, void *arg)
{
	(void)req;
	mem_deref(arg);
}

struct xcap_client *ucwa_xcap(struct app *app)
{
	const struct conf *conf = app->u->conf;
	char base[96], user[AUTH_USER_MAX + 1];
	const char *at = strchr(app->user, '@');

	if (app->xc)
		return app->xc;
	if (!sa_isset(&conf->fe_xcap, SA_ALL) || !at)
		return NULL;
	(void)re_snprintf(base, sizeof(base), "http://%J/xcap-root",
			  &conf->fe_xcap);
	(void)re_snprintf(user, sizeof(user), "%b", app->user,
			  (size_t)(at - app->user));
	if (xcap_client_alloc(&app->xc, base, user, at + 1, app->ha1))
		return NULL;
	return app->xc;
}

int ucwa_contact_href(char *buf, size_t size, const struct app *app,
		      const char *uri)
{
	return repr_href(buf, size, app->href, "/people/contacts/%H",
			 text_pct_print, uri);
}

struct repr *ucwa_contact_repr(const struct app *app, const char *uri,
			       const char *name)
{
	static const char *const rels[] = {"contactPresence", "contactNote",
					   "contactLocation",
					   "contactPrivacyRelationship"};
	char href[UCWA_HREF_MAX], sub[UCWA_HREF_MAX + 40];
	struct repr *r = NULL;
	size_t i;
	int err;

	err = ucwa_contact_href(href, sizeof(href), app, uri);
	err |= repr_alloc(&r, "contact", href);
	if (err)
		return mem_deref(r);
	err |= repr_prop_str(r, "uri", uri);
	if (name)
		err |= repr_prop_str(r, "name", name);
	err |= repr_prop_str(r, "type", "User");
	err |= repr_prop_str(r, "sourceNetwork", "SameEnterprise");
	for (i = 0; i < ARRAY_SIZE(rels); i++) {
		err |= repr_href(sub, sizeof(sub), href, "/%s", rels[i]);
		err |= repr_link(r, rels[i], sub);
	}
	return err ? mem_deref(r) : r;
}

static struct repr *contact(const struct app *app, const struct xcap_entry *e)
{
	return ucwa_contact_repr(app, e->uri, e->name);
}

static const struct xcap_entry *find_entry(const struct xcap_rlist *rl,
					   const char *uri)
{
	struct le *le, *le2;

	for (le = rl->groups.head; le; le = le->next) {
		const struct xcap_group *g = le->data;
		for (le2 = g->entries.head; le2; le2 = le2->next) {
			const struct xcap_entry *e = le2->data;
			if (!strcasecmp(e->uri, uri))
				return e;
		}
	}
	return NULL;
}

/* contacts: each once, whatever the groups they are in */
static void reply_contacts(struct pop *p, const struct xcap_rlist *rl,
			   const struct xcap_group *only)
{
	struct app *app = p->app;
	struct repr *r = NULL, *c;
	char href[300];
	struct le *le, *le2;
	int err;

	err = repr_href(href, sizeof(href), app->href, "/people/contacts");
	if (!err)
		err =
		    repr_alloc(&r, only ? "groupContacts" : "myContacts", href);
	for (le = rl->groups.head; !err && le; le = le->next) {
		const struct xcap_group *g = le->data;
		if (only && g != only)
			continue;
		for (le2 = g->entries.head; !err && le2; le2 = le2->next) {
			const struct xcap_entry *e = le2->data;
			if (!only && find_entry(rl, e->uri) != e)
				continue; /* listed in an earlier group */
			c = contact(app, e);
			err = c ? repr_embed(r, c) : ENOMEM;
			mem_deref(c);
		}
	}
	if (err)
		web_reply_text(p->req, 500, NULL,
			       "could not build the contacts");
	else
		api_reply(p->req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* One group: its name and the link to its contacts; the name is
 * percent-encoded in the path (a group name may hold spaces). */
static struct repr *group(const struct app *app, const struct xcap_group *xg)
{
	struct repr *g = NULL;
	char href[UCWA_HREF_MAX];
	int err;

	if (repr_href(href, sizeof(href), app->href, "/people/groups/%H",
		      text_pct_print, xg->name) ||
	    repr_alloc(&g, "group", href))
		return NULL;
	err = repr_prop_str(g, "name", xg->display ? xg->display : xg->name);
	err |=
	    repr_href(href, sizeof(href), app->href,
		      "/people/groups/%H/contacts", text_pct_print, xg->name);
	err |= repr_link(g, "groupContacts", href);
	return err ? mem_deref(g) : g;
}

static void reply_groups(struct pop *p, const struct xcap_rlist *rl)
{
	struct app *app = p->app;
	struct repr *r = NULL, *g;
	char href[300];
	struct le *le;
	int err;

	err = repr_href(href, sizeof(href), app->href, "/people/groups");
	if (!err)
		err = repr_alloc(&r, "myGroups", href);
	for (le = rl->groups.head; !err && le; le = le->next) {
		g = group(app, le->data);
		err = g ? repr_embed(r, g) : ENOMEM;
		mem_deref(g);
	}
	if (err)
		web_reply_text(p->req, 500, NULL, "could not build the groups");
	else
		api_reply(p->req, 200, NULL, r, NULL);
	mem_deref(r);
}

static void xcap_failed(struct pop *p, int err)
{
	log_notice("ucwa: XCAP for %s failed: %m", p->app->user, err);
	api_reply_error(p->req, err == ENOTSUP ? 409 : 503, NULL,
			err == ENOTSUP ? "Conflict" : "ServiceFailure", NULL,
			err == ENOTSUP ? "the contact list holds what this "
					 "service cannot rewrite"
				       : "the contact list cannot be reached");
}

/* The Location header line of the contact whose URI is uri. */
static int contact_location(char *buf, size_t size, const struct app *app,
			    const char *uri)
{
	char href[UCWA_HREF_MAX];
	int err = ucwa_contact_href(href, sizeof(href), app, uri);

	return err ? err : repr_href(buf, size, "Location: ", "%s\r\n", href);
}

static void rlist_done(int err, const struct xcap_rlist *rl, void *arg)
{
	struct pop *p = arg;
	const struct xcap_entry *e;
	char loc[UCWA_HREF_MAX + 16];
	struct repr *r;

	if (err) {
		xcap_failed(p, err);
		pop_done(p);
		return;
	}

	switch (p->what) {

	case CONTACTS:
		reply_contacts(p, rl, NULL);
		break;

	case GROUP_CONTACTS: {
		const struct xcap_group *g = xcap_rlist_group(rl, p->group);
		if (g)
			reply_contacts(p, rl, g);
		else
			api_reply_error(p->req, 404, NULL, "NotFound", NULL,
					"no such group");
		break;
	}

	case GROUPS:
		reply_groups(p, rl);
		break;

	case GROUP: {
		const struct xcap_group *g = xcap_rlist_group(rl, p->group);
		r = g ? group(p->app, g) : NULL;
		if (r)
			api_reply(p->req, 200, NULL, r, NULL);
		else
			api_reply_error(p->req, 404, NULL, "NotFound", NULL,
					"no such group");
		mem_deref(r);
		break;
	}

	case CONTACT:
	case ADDED:
		e = find_entry(rl, p->uri);
		/* a contact resource exists for any user the app may look
		 * up (a subscription's member, a search result, a peer),
		 * listed or not: as contactPresence does; only its name
		 * comes from the list */
		if (e)
			r = contact(p->app, e);
		else
			r = p->what == CONTACT
				? ucwa_contact_repr(p->app, p->uri, NULL)
				: NULL;
		if (!e && p->what == ADDED)
			api_reply_error(p->req, 404, NULL, "NotFound", NULL,
					"no such contact");
		else if (r && !contact_location(loc, sizeof(loc), p->app,
						e ? e->uri : p->uri))
			api_reply(p->req, p->what == ADDED ? 201 : 200, NULL, r,
				  p->what == ADDED ? loc : NULL);
		else
			web_reply_text(p->req, 500, NULL,
				       "could not build the contact");
		mem_deref(r);
		break;

	default:
		web_reply(p->req, 204, NULL, NULL, NULL, 0, NULL);
		break;
	}
	pop_done(p);
}

static void rules_done(int err, const struct xcap_rules *rs, void *arg)
{
	struct pop *p = arg;
	struct repr *r = NULL;
	char chref[UCWA_HREF_MAX], href[UCWA_HREF_MAX + 32];
	enum xcap_privacy pv;

	if (err) {
		xcap_failed(p, err);
		pop_done(p);
		return;
	}
	if (p->what == PRIVACY_SET) {
		web_reply(p->req, 204, NULL, NULL, NULL, 0, NULL);
		pop_done(p);
		return;
	}

	pv = xcap_rules_privacy(rs, p->uri);
	if (ucwa_contact_href(chref, sizeof(chref), p->app, p->uri) ||
	    repr_href(href, sizeof(href), chref,
		      "/contactPrivacyRelationship") ||
	    repr_alloc(&r, "contactPrivacyRelationship", href) ||
	    repr_prop_str(r, "relationshipLevel", privacy_names[pv]))
		web_reply_text(p->req, 500, NULL,
			       "could not build the relationship");
	else
		api_reply(p->req, 200, NULL, r, NULL);
	mem_deref(r);
	pop_done(p);
}

static void reply_people(struct app *app, struct web_req *req)
{
	static const char *const links[][2] = {
	    {"myContacts", "contacts"},
	    {"myGroups", "groups"},
	    {"presenceSubscriptions", "presenceSubscriptions"},
	};
	struct repr *r = NULL;
	char href[300];
	size_t i;
	int err;

	err = repr_href(href, sizeof(href), app->href, "/people");
	if (!err)
		err = repr_alloc(&r, "people", href);
	for (i = 0; !err && i < ARRAY_SIZE(links); i++) {
		err |= repr_href(href, sizeof(href), app->href, "/people/%s",
				 links[i][1]);
		err |= repr_link(r, links[i][0], href);
	}
	if (err)
		web_reply_text(req, 500, NULL, "could not build people");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* A contact URI from the path or a body: a sip: URI, nothing more. */
bool ucwa_contact_uri(char *out, size_t size, const struct pl *in, bool encoded)
{
	size_t n, i;

	if (encoded) {
		if (text_pct_decode(out, size, in, &n))
			return false;
	} else {
		if (in->l >= size)
			return false;
		memcpy(out, in->p, in->l);
		out[in->l] = '\0';
		n = in->l;
	}
	if (n < 7 || strncasecmp(out, "sip:", 4) || !strchr(out, '@'))
		return false;
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)out[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\", c))
			return false;
	}
	return true;
}

static void bad(struct web_req *req, const char *msg)
{
	api_reply_error(req, 400, NULL, "BadRequest",
			"ParameterValidationFailure", msg);
}

/* GET people */
void ucwa_people_get(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	(void)prm;
	reply_people(arg, req);
}

/* An XCAP operation of the request: NULL (answered) if contact lists are
 * not configured or memory is short. */
static struct pop *pop_new(struct app *app, struct web_req *req,
			   struct xcap_client **xcp)
{
	struct pop *p;

	*xcp = ucwa_xcap(app);
	if (!*xcp) {
		api_reply_error(req, 503, NULL, "ServiceFailure", NULL,
				"contact lists are not configured ([frontend] "
				"xcap)");
		return NULL;
	}
	p = mem_zalloc(sizeof(*p), pop_destructor);
	if (!p) {
		web_reply_text(req, 503, NULL, "out of memory");
		return NULL;
	}
	p->app = app;
	return p;
}

/* The operation started (err 0) waits for its answer with the request;
 * else the request is answered now. Takes p's reference. */
static void pop_start(struct pop *p, struct web_req *req, int err)
{
	if (err) {
		xcap_failed(p, err);
		mem_deref(p);
		return;
	}
	p->req = mem_ref(req);
	web_req_set_cancel(req, pop_cancel, p);
}

/* An operation (what) on the contact of the path's {uri}, as pop_new();
 * NULL (answered 400) if {uri} is not a contact URI. */
static struct pop *pop_uri(struct app *app, struct web_req *req,
			   const struct web_params *prm, enum what what,
			   struct xcap_client **xcp)
{
	struct pop *p = pop_new(app, req, xcp);

	if (!p)
		return NULL;
	if (!ucwa_contact_uri(p->uri, sizeof(p->uri), web_param(prm, "uri"),
			      true)) {
		bad(req, "not a contact URI");
		return mem_deref(p);
	}
	p->what = what;
	return p;
}

/* GET people/contacts */
void ucwa_contacts_get(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	struct xcap_client *xc;
	struct pop *p = pop_new(arg, req, &xc);

	(void)prm;
	if (!p)
		return;
	p->what = CONTACTS;
	pop_start(p, req, xcap_contacts_get(&p->op, xc, rlist_done, p));
}

/* The contact to add from a POST body into p; false if answered. */
static bool contact_body(struct pop *p, struct web_req *req, struct repr_in *in,
			 char *display, size_t size)
{
	struct pl uri, nm, grp;

	if (repr_in_str(in, "uri", &uri) ||
	    !ucwa_contact_uri(p->uri, sizeof(p->uri), &uri, false)) {
		bad(req, "uri must be a sip:user@domain URI");
		return false;
	}
	if (!repr_in_str(in, "name", &nm)) {
		if (nm.l >= size) {
			bad(req, "name is too long");
			return false;
		}
		(void)re_snprintf(display, size, "%r", &nm);
	}
	(void)re_snprintf(p->group, sizeof(p->group), "%s", DEFAULT_GROUP);
	if (!repr_in_str(in, "group", &grp)) {
		if (!grp.l || grp.l >= sizeof(p->group)) {
			bad(req, "group is empty or too long");
			return false;
		}
		(void)re_snprintf(p->group, sizeof(p->group), "%r", &grp);
	}
	return true;
}

/* POST people/contacts: add a contact */
void ucwa_contacts_post(struct web_req *req, const struct web_params *prm,
			void *arg)
{
	char display[4 * UCWA_FIELD_MAX + 1] = "";
	struct repr_in *in = NULL;
	struct xcap_client *xc;
	struct pop *p = pop_new(arg, req, &xc);

	(void)prm;
	if (!p)
		return;
	if (api_body(req, &in) ||
	    !contact_body(p, req, in, display, sizeof(display))) {
		mem_deref(p);
		goto out;
	}
	p->what = ADDED;
	pop_start(p, req,
		  xcap_contacts_add(&p->op, xc, p->group, p->uri,
				    display[0] ? display : NULL, rlist_done,
				    p));
out:
	mem_deref(in);
}

/* GET people/contacts/{uri} */
void ucwa_contact_get(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	struct xcap_client *xc;
	struct pop *p = pop_uri(arg, req, prm, CONTACT, &xc);

	if (p)
		pop_start(p, req, xcap_contacts_get(&p->op, xc, rlist_done, p));
}

/* DELETE people/contacts/{uri} */
void ucwa_contact_delete(struct web_req *req, const struct web_params *prm,
			 void *arg)
{
	struct xcap_client *xc;
	struct pop *p = pop_uri(arg, req, prm, REMOVED, &xc);

	if (p)
		pop_start(p, req,
			  xcap_contacts_remove(&p->op, xc, NULL, p->uri,
					       rlist_done, p));
}

/* GET people/contacts/{uri}/contactPrivacyRelationship */
void ucwa_privacy_get(struct web_req *req, const struct web_params *prm,
		      void *arg)
{
	struct xcap_client *xc;
	struct pop *p = pop_uri(arg, req, prm, PRIVACY, &xc);

	if (p)
		pop_start(p, req, xcap_rules_get(&p->op, xc, rules_done, p));
}

/* The privacy level of a POST body; ARRAY_SIZE(privacy_names) if none
 * (answered 400). */
static size_t privacy_level(struct web_req *req, const struct repr_in *in)
{
	struct pl rel;
	size_t i;

	/* UCWA's name is relationshipLevel; the older "relationship" is
	 * still read */
	if (repr_in_str(in, "relationshipLevel", &rel) &&
	    repr_in_str(in, "relationship", &rel)) {
		bad(req, "relationshipLevel is needed");
		return ARRAY_SIZE(privacy_names);
	}
	for (i = 0; i < ARRAY_SIZE(privacy_names); i++) {
		if (!pl_strcasecmp(&rel, privacy_names[i]))
			return i;
	}
	bad(req, "relationshipLevel must be External, Colleagues, Workgroup, "
		 "FriendsAndFamily or Blocked");
	return i;
}

/* POST people/contacts/{uri}/contactPrivacyRelationship */
void ucwa_privacy_post(struct web_req *req, const struct web_params *prm,
		       void *arg)
{
	struct repr_in *in = NULL;
	struct xcap_client *xc;
	struct pop *p = pop_uri(arg, req, prm, PRIVACY_SET, &xc);
	size_t i;

	if (!p)
		return;
	if (api_body(req, &in)) {
		mem_deref(p);
		goto out;
	}
	i = privacy_level(req, in);
	if (i == ARRAY_SIZE(privacy_names)) {
		mem_deref(p);
		goto out;
	}
	/* Blocked: polite-block, so the contact sees the user Offline
	 * rather than learning of the block */
	pop_start(p, req,
		  xcap_rules_put(&p->op, xc, p->uri,
				 i == XCAP_PRIV_BLOCKED ? XCAP_ACT_POLITE_BLOCK
				 : i == XCAP_PRIV_EXTERNAL ? XCAP_ACT_CONFIRM
							   : XCAP_ACT_ALLOW,
				 (enum xcap_privacy)i, rules_done, p));
out:
	mem_deref(in);
}

/* GET of the groups, of one or of its contacts (what). */
static void groups(struct app *app, struct web_req *req,
		   const struct web_params *prm, enum what what)
{
	const struct pl *name = web_param(prm, "group");
	struct xcap_client *xc;
	struct pop *p = pop_new(app, req, &xc);
	size_t n;

	if (!p)
		return;
	/* the name as group() encoded it in the href */
	if (name && text_pct_decode(p->group, sizeof(p->group), name, &n)) {
		api_reply_error(req, 404, NULL, "NotFound", NULL,
				"no such resource");
		mem_deref(p);
		return;
	}
	p->what = what;
	pop_start(p, req, xcap_contacts_get(&p->op, xc, rlist_done, p));
}

/* GET people/groups */
void ucwa_groups_get(struct web_req *req, const struct web_params *prm,
		     void *arg)
{
	groups(arg, req, prm, GROUPS);
}

/* GET people/groups/{group} */
void ucwa_group_get(struct web_req *req, const struct web_params *prm,
		    void *arg)
{
	groups(arg, req, prm, GROUP);
}

/* GET people/groups/{group}/contacts */
void ucwa_group_contacts_get(struct web_req *req, const struct web_params *prm,
			     void *arg)
{
	groups(arg, req, prm, GROUP_CONTACTS);
}
