/**
 * @file op.c  Operations on the user's documents: read, or
 *             read-modify-write with If-Match (RFC 4825 7.11, RFC 7232)
 *
 * A change reads the document and remembers its ETag, changes the model,
 * and PUTs the whole document with If-Match of that ETag. If another
 * device wrote in between, the server answers 412 and the change starts
 * again from a fresh read, once. A document that does not exist yet (404)
 * reads as an empty one and is PUT without If-Match.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "core.h"
#include "xcap.h"
#include "xcap_int.h"

enum op_type {
	OP_CONTACTS_GET,
	OP_CONTACTS_ADD,
	OP_CONTACTS_REMOVE,
	OP_RULES_GET,
	OP_RULES_PUT,
};

struct xcap_op {
	struct xcap_client *xc; /* reference */
	struct xcap_op **opp;   /* caller's handle, cleared on completion */
	struct xcap_req *req;   /* the exchange under way */
	enum op_type type;
	bool putting; /* req is the PUT */
	bool retried; /* a 412 was already retried */
	/* the change */
	char *group;
	char *uri;
	char *name;
	enum xcap_action action;
	enum xcap_privacy level;
	/* the document: one of */
	struct xcap_rlist *rl;
	struct xcap_rules *rs;
	xcap_rlist_h *rlh;
	xcap_rules_h *rsh;
	void *arg;
};

static bool is_rules(const struct xcap_op *op)
{
	return op->type == OP_RULES_GET || op->type == OP_RULES_PUT;
}

static void op_destructor(void *arg)
{
	struct xcap_op *op = arg;

	mem_deref(op->req);
	mem_deref(op->group);
	mem_deref(op->uri);
	mem_deref(op->name);
	mem_deref(op->rl);
	mem_deref(op->rs);
	mem_deref(op->xc);
}

static void op_done(struct xcap_op *op, int err)
{
	if (op->opp) {
		*op->opp = NULL;
		op->opp = NULL;
	}

	if (is_rules(op) && op->rsh)
		op->rsh(err, err ? NULL : op->rs, op->arg);
	else if (!is_rules(op) && op->rlh)
		op->rlh(err, err ? NULL : op->rl, op->arg);

	mem_deref(op);
}

static void resp_handler(int err, uint16_t scode, const struct pl *body,
			 const char *etag, void *arg);

static int op_get(struct xcap_op *op)
{
	op->putting = false;
	return xcap_request(&op->req, op->xc, "GET",
			    is_rules(op) ? "pres-rules" : "resource-lists",
			    NULL, NULL, NULL, resp_handler, op);
}

/* Apply the change to the model just read. */
static int op_change(struct xcap_op *op)
{
	switch (op->type) {
	case OP_CONTACTS_ADD:
		return xcap_rlist_add(op->rl, op->group, op->uri, op->name);
	case OP_CONTACTS_REMOVE:
		return xcap_rlist_remove(op->rl, op->group, op->uri);
	case OP_RULES_PUT:
		return xcap_rules_set(op->rs, op->uri, op->action, op->level);
	default:
		return 0;
	}
}

static int op_put(struct xcap_op *op, const char *etag)
{
	struct mbuf *mb;
	struct pl body;
	int err;

	mb = mbuf_alloc(2048);
	if (!mb)
		return ENOMEM;

	err = is_rules(op) ? xcap_rules_write(mb, op->rs)
			   : xcap_rlist_write(mb, op->rl);
	if (err)
		goto out;

	/* what we write must stay within what we would read back */
	if (mb->end > XCAP_MAX_BODY) {
		err = EMSGSIZE;
		goto out;
	}

	pl_set_mbuf(&body, mb);
	body.p = (const char *)mb->buf;
	body.l = mb->end;
	op->putting = true;
	err = xcap_request(&op->req, op->xc, "PUT",
			   is_rules(op) ? "pres-rules" : "resource-lists",
			   is_rules(op) ? "application/auth-policy+xml"
					: "application/resource-lists+xml",
			   etag, &body, resp_handler, op);
out:
	mem_deref(mb);
	return err;
}

static int got_document(struct xcap_op *op, int err, const struct pl *body)
{
	const char *why = NULL;

	op->rl = mem_deref(op->rl);
	op->rs = mem_deref(op->rs);

	if (err == ENOENT)
		return is_rules(op) ? xcap_rules_alloc(&op->rs)
				    : xcap_rlist_alloc(&op->rl);
	if (err)
		return err;

	err = is_rules(op) ? xcap_rules_parse(&op->rs, body, &why)
			   : xcap_rlist_parse(&op->rl, body, &why);
	if (err && why)
		log_printf(LOG_WARN, "xcap: %s document of %s refused: %s\n",
			   is_rules(op) ? "pres-rules" : "resource-lists",
			   xcap_client_user(op->xc), why);
	return err;
}

static void resp_handler(int err, uint16_t scode, const struct pl *body,
			 const char *etag, void *arg)
{
	struct xcap_op *op = arg;
	(void)scode;

	/* op->req is cleared by the request itself */
	if (op->putting) {
		if (err == ESTALE && !op->retried) {
			/* another device wrote since our read: again, once */
			op->retried = true;
			err = op_get(op);
			if (!err)
				return;
		}
		op_done(op, err);
		return;
	}

	err = got_document(op, err, body);
	if (err || op->type == OP_CONTACTS_GET || op->type == OP_RULES_GET) {
		op_done(op, err);
		return;
	}

	err = op_change(op);
	if (!err)
		err = op_put(op, etag);
	if (err)
		op_done(op, err);
}

static int op_start(struct xcap_op **opp, struct xcap_client *xc,
		    struct xcap_op *op)
{
	int err;

	op->xc = mem_ref(xc);
	err = op_get(op);
	if (err) {
		mem_deref(op);
		return err;
	}

	if (opp) {
		op->opp = opp;
		*opp = op;
	}
	return 0;
}

static struct xcap_op *op_alloc(enum op_type type, void *arg)
{
	struct xcap_op *op = mem_zalloc(sizeof(*op), op_destructor);

	if (op) {
		op->type = type;
		op->arg = arg;
	}
	return op;
}

int xcap_contacts_get(struct xcap_op **opp, struct xcap_client *xc,
		      xcap_rlist_h *h, void *arg)
{
	struct xcap_op *op;

	if (!xc || !h)
		return EINVAL;

	op = op_alloc(OP_CONTACTS_GET, arg);
	if (!op)
		return ENOMEM;
	op->rlh = h;

	return op_start(opp, xc, op);
}

int xcap_contacts_add(struct xcap_op **opp, struct xcap_client *xc,
		      const char *group, const char *uri, const char *name,
		      xcap_rlist_h *h, void *arg)
{
	struct xcap_op *op;
	int err;

	if (!xc || !h || !group || !*group || !uri || !*uri ||
	    strlen(group) > XCAP_MAX_NAME || strlen(uri) > XCAP_MAX_URI ||
	    (name && strlen(name) > XCAP_MAX_NAME))
		return EINVAL;

	op = op_alloc(OP_CONTACTS_ADD, arg);
	if (!op)
		return ENOMEM;
	op->rlh = h;
	err = str_dup(&op->group, group);
	err |= str_dup(&op->uri, uri);
	if (name)
		err |= str_dup(&op->name, name);
	if (err) {
		mem_deref(op);
		return ENOMEM;
	}

	return op_start(opp, xc, op);
}

int xcap_contacts_remove(struct xcap_op **opp, struct xcap_client *xc,
			 const char *group, const char *uri, xcap_rlist_h *h,
			 void *arg)
{
	struct xcap_op *op;
	int err = 0;

	if (!xc || !h || !uri || !*uri)
		return EINVAL;

	op = op_alloc(OP_CONTACTS_REMOVE, arg);
	if (!op)
		return ENOMEM;
	op->rlh = h;
	if (group)
		err |= str_dup(&op->group, group);
	err |= str_dup(&op->uri, uri);
	if (err) {
		mem_deref(op);
		return ENOMEM;
	}

	return op_start(opp, xc, op);
}

int xcap_rules_get(struct xcap_op **opp, struct xcap_client *xc,
		   xcap_rules_h *h, void *arg)
{
	struct xcap_op *op;

	if (!xc || !h)
		return EINVAL;

	op = op_alloc(OP_RULES_GET, arg);
	if (!op)
		return ENOMEM;
	op->rsh = h;

	return op_start(opp, xc, op);
}

int xcap_rules_put(struct xcap_op **opp, struct xcap_client *xc,
		   const char *watcher, enum xcap_action action,
		   enum xcap_privacy level, xcap_rules_h *h, void *arg)
{
	struct xcap_op *op;

	if (!xc || !h || !watcher || !*watcher ||
	    strlen(watcher) > XCAP_MAX_URI || (unsigned)action > XCAP_ACT_ALLOW)
		return EINVAL;
	/* the levels an allow rule can record (rules.c) */
	if (action == XCAP_ACT_ALLOW && level != XCAP_PRIV_COLLEAGUES &&
	    level != XCAP_PRIV_WORKGROUP &&
	    level != XCAP_PRIV_FRIENDS_AND_FAMILY)
		return EINVAL;

	op = op_alloc(OP_RULES_PUT, arg);
	if (!op)
		return ENOMEM;
	op->rsh = h;
	op->action = action;
	op->level = level;
	if (str_dup(&op->uri, watcher)) {
		mem_deref(op);
		return ENOMEM;
	}

	return op_start(opp, xc, op);
}
