/**
 * @file rls.c  Services of the user's rls-services document (RFC 4826)
 *
 * A list the service subscribes to through the Front End's RLS is one
 * <service> of the user's rls-services document. It is written and removed
 * as a single element (RFC 4825 node selectors), so the user's other
 * services (other devices, desktop clients) are left exactly as they are
 * and no read-modify-write race with them can lose one.
 *
 * Kamailio's xcap_server answers an element PUT into a document that does
 * not exist with 500 (not 404 or 409). So when the PUT fails, the document
 * is read: absent (404), it is created empty and the PUT made again;
 * present, the first error stands (the document is never overwritten).
 */
#include <string.h>
#include <re.h>
#include "core.h"
#include "repr.h"
#include "xcap.h"
#include "xcap_int.h"

#define RLS_AUID  "rls-services"
#define RLS_NS    "urn:ietf:params:xml:ns:rls-services"
#define EL_CTYPE  "application/xcap-el+xml"
#define DOC_CTYPE "application/rls-services+xml"

enum step {
	PUT_EL,
	GET_DOC,
	PUT_DOC,
	PUT_EL_AGAIN,
};

struct xcap_rls {
	struct xcap_client *xc; /* reference */
	struct xcap_rls **opp;  /* caller's handle, cleared on completion */
	struct xcap_req *req;
	enum step step;
	int err0; /* why the first PUT failed */
	char *node;
	struct mbuf *el;
	xcap_done_h *h;
	void *arg;
};

static void rls_destructor(void *arg)
{
	struct xcap_rls *op = arg;

	mem_deref(op->req);
	mem_deref(op->xc);
	mem_deref(op->node);
	mem_deref(op->el);
	if (op->opp)
		*op->opp = NULL;
}

static void resp_handler(int err, uint16_t scode, const struct pl *body,
			 const char *etag, void *arg);

static int send_step(struct xcap_rls *op)
{
	static const char empty[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				    "\n<rls-services xmlns=\"" RLS_NS "\"/>\n";
	struct pl body;

	switch (op->step) {

	case PUT_EL:
	case PUT_EL_AGAIN:
		body.p = (const char *)op->el->buf;
		body.l = op->el->end;
		return xcap_node_request(&op->req, op->xc, "PUT", RLS_AUID,
					 op->node, EL_CTYPE, NULL, &body,
					 resp_handler, op);
	case GET_DOC:
		return xcap_request(&op->req, op->xc, "GET", RLS_AUID, NULL,
				    NULL, NULL, resp_handler, op);
	case PUT_DOC:
		pl_set_str(&body, empty);
		return xcap_request(&op->req, op->xc, "PUT", RLS_AUID,
				    DOC_CTYPE, NULL, &body, resp_handler, op);
	}
	return EINVAL;
}

static void resp_handler(int err, uint16_t scode, const struct pl *body,
			 const char *etag, void *arg)
{
	struct xcap_rls *op = arg;
	xcap_done_h *h = op->h;
	void *harg = op->arg;

	(void)scode;
	(void)body;
	(void)etag;

	switch (op->step) {

	case PUT_EL:
		if (!err)
			break;
		op->err0 = err;
		op->step = GET_DOC;
		err = send_step(op);
		if (!err)
			return;
		break;

	case GET_DOC:
		if (err != ENOENT) {
			err = op->err0;
			break;
		}
		op->step = PUT_DOC;
		err = send_step(op);
		if (!err)
			return;
		break;

	case PUT_DOC:
		if (err)
			break;
		op->step = PUT_EL_AGAIN;
		err = send_step(op);
		if (!err)
			return;
		break;

	case PUT_EL_AGAIN:
		break;
	}

	/* done: the caller's handle is cleared before its handler runs */
	if (op->opp) {
		*op->opp = NULL;
		op->opp = NULL;
	}
	mem_deref(op);
	h(err, harg);
}

static int service_node(char **nodep, const char *service)
{
	return re_sdprintf(nodep, "rls-services/service[@uri=\"%s\"]", service);
}

int xcap_rls_put(struct xcap_rls **opp, struct xcap_client *xc,
		 const char *service, const char *const *uris, size_t n,
		 xcap_done_h *h, void *arg)
{
	struct xcap_rls *op;
	struct xmlw w;
	size_t i;
	int err;

	if (!opp || !xc || !service || !h || (n && !uris))
		return EINVAL;
	/* the selector quotes the URI: it cannot hold a quote */
	if (strpbrk(service, "\"\r\n"))
		return EINVAL;

	op = mem_zalloc(sizeof(*op), rls_destructor);
	if (!op)
		return ENOMEM;
	op->xc = mem_ref(xc);
	op->h = h;
	op->arg = arg;
	op->el = mbuf_alloc(256 + n * 96);
	err = service_node(&op->node, service);
	if (err || !op->el) {
		err = ENOMEM;
		goto out;
	}

	/* the entries carry their namespace: the document's prefixes are
	 * not known here */
	xmlw_init(&w, op->el);
	err = xmlw_start(&w, "service");
	err |= xmlw_attr(&w, "uri", service);
	err |= xmlw_start(&w, "list");
	for (i = 0; i < n && !err; i++) {
		err |= xmlw_start(&w, "entry");
		err |= xmlw_attr(&w, "xmlns", XCAP_NS_RL);
		err |= xmlw_attr(&w, "uri", uris[i]);
		err |= xmlw_end(&w);
	}
	err |= xmlw_end(&w);
	err |= xmlw_start(&w, "packages");
	err |= xmlw_start(&w, "package");
	err |= xmlw_text(&w, "presence", 8);
	err |= xmlw_end(&w);
	err |= xmlw_end(&w);
	err |= xmlw_end(&w);
	if (err) {
		err = ENOMEM;
		goto out;
	}
	if (op->el->end > XCAP_MAX_BODY) {
		err = EMSGSIZE;
		goto out;
	}

	op->step = PUT_EL;
	err = send_step(op);

out:
	if (err) {
		mem_deref(op);
	} else {
		op->opp = opp;
		*opp = op;
	}
	return err;
}

static void forget(int err, uint16_t scode, const struct pl *body,
		   const char *etag, void *arg)
{
	(void)body;
	(void)etag;
	(void)arg;
	/* a service already gone (Kamailio: 500) is what we wanted */
	if (err)
		log_info("xcap: removing a list service: %m (%u)", err, scode);
}

int xcap_rls_delete(struct xcap_client *xc, const char *service)
{
	char *node = NULL;
	int err;

	if (!xc || !service || strpbrk(service, "\"\r\n"))
		return EINVAL;
	err = service_node(&node, service);
	if (!err)
		err = xcap_node_request(NULL, xc, "DELETE", RLS_AUID, node,
					NULL, NULL, NULL, forget, NULL);
	mem_deref(node);
	return err;
}
