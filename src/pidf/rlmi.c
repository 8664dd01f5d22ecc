/**
 * @file rlmi.c  Resource-list notifications (RFC 4662): the
 *               multipart/related body (RFC 2387, RFC 2046 section 5.1)
 *               and its RLMI root document
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "pidf.h"
#include "pidf_int.h"

#define N(ns, local) ns "|" local

struct part {
	struct pl ctype; /* media type without parameters */
	struct pl cid;   /* Content-ID without its angle brackets */
	struct pl body;
};

struct mp {
	struct part partv[PIDF_PARTS_MAX];
	size_t n;
};

static bool lws(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(struct pl *pl)
{
	while (pl->l && (lws(pl->p[0]) || pl->p[0] == '\r'))
		pl_advance(pl, 1);
	while (pl->l && (lws(pl->p[pl->l - 1]) || pl->p[pl->l - 1] == '\r'))
		--pl->l;
}

/* "<id>" -> "id" (RFC 2392 section 2: a cid URL omits the brackets) */
static void strip_angle(struct pl *pl)
{
	trim(pl);
	if (pl->l >= 2 && pl->p[0] == '<' && pl->p[pl->l - 1] == '>') {
		++pl->p;
		pl->l -= 2;
	}
}

/* The media type of a Content-Type value: up to ';', trimmed */
static void media_type(struct pl *out, const struct pl *val)
{
	const char *semi = memchr(val->p, ';', val->l);

	out->p = val->p;
	out->l = semi ? (size_t)(semi - val->p) : val->l;
	trim(out);
}

/*
 * Find parameter name in a Content-Type value (RFC 2045 section 5.1:
 * token "=" (token / quoted-string)). Quoted values lose their quotes;
 * a backslash in one is refused (no parameter we use needs it).
 */
static int ct_param(struct pl *val, const struct pl *ct, const char *name)
{
	struct pl rest = *ct;
	const char *semi = memchr(rest.p, ';', rest.l);

	while (semi) {
		struct pl pn, pv;
		const char *eq, *end;

		pl_advance(&rest, (size_t)(semi - rest.p) + 1);
		while (rest.l && (lws(rest.p[0]) || rest.p[0] == '\r' ||
				  rest.p[0] == '\n'))
			pl_advance(&rest, 1);

		eq = memchr(rest.p, '=', rest.l);
		if (!eq)
			return EPROTO;

		pn.p = rest.p;
		pn.l = (size_t)(eq - rest.p);
		trim(&pn);
		pl_advance(&rest, (size_t)(eq - rest.p) + 1);
		while (rest.l && lws(rest.p[0]))
			pl_advance(&rest, 1);

		if (rest.l && rest.p[0] == '"') {
			end = memchr(rest.p + 1, '"', rest.l - 1);
			if (!end || memchr(rest.p + 1, '\\',
					   (size_t)(end - rest.p) - 1))
				return EPROTO;
			pv.p = rest.p + 1;
			pv.l = (size_t)(end - rest.p) - 1;
			pl_advance(&rest, (size_t)(end - rest.p) + 1);
		} else {
			end = memchr(rest.p, ';', rest.l);
			pv.p = rest.p;
			pv.l = end ? (size_t)(end - rest.p) : rest.l;
			trim(&pv);
			pl_advance(&rest, (size_t)(pv.p + pv.l - rest.p));
		}

		if (!pl_strcasecmp(&pn, name)) {
			*val = pv;
			return 0;
		}

		semi = memchr(rest.p, ';', rest.l);
	}

	return ENOENT;
}

/* Headers of one body part (RFC 2045); only two matter here */
static int part_headers(struct part *pt, struct pl hdrs, const char **why)
{
	unsigned lines = 0;

	while (hdrs.l) {
		const char *nl = memchr(hdrs.p, '\n', hdrs.l);
		struct pl line = {.p = hdrs.p,
				  .l = nl ? (size_t)(nl - hdrs.p) : hdrs.l};
		struct pl name, val;
		const char *colon;

		pl_advance(&hdrs, nl ? line.l + 1 : line.l);

		if (++lines > PIDF_PART_HDRS_MAX) {
			*why = "too many body part headers";
			return EOVERFLOW;
		}

		colon = memchr(line.p, ':', line.l);
		if (!colon) {
			*why = "body part header without a colon";
			return EPROTO;
		}

		name.p = line.p;
		name.l = (size_t)(colon - line.p);
		val.p = colon + 1;
		val.l = line.l - name.l - 1;
		trim(&name);
		trim(&val);

		if (!pl_strcasecmp(&name, "Content-Type")) {
			media_type(&pt->ctype, &val);
		} else if (!pl_strcasecmp(&name, "Content-ID")) {
			pt->cid = val;
			strip_angle(&pt->cid);
		}
	}

	return 0;
}

/* Split one part into headers and body: an empty line ends the headers
 * (CRLF CRLF; bare LF accepted) */
static int part_split(struct part *pt, struct pl raw, const char **why)
{
	struct pl hdrs = raw;
	size_t i;

	/* A part that starts with its empty line has no headers */
	if (raw.l && raw.p[0] == '\n') {
		pt->body.p = raw.p + 1;
		pt->body.l = raw.l - 1;
		return 0;
	}
	if (raw.l >= 2 && raw.p[0] == '\r' && raw.p[1] == '\n') {
		pt->body.p = raw.p + 2;
		pt->body.l = raw.l - 2;
		return 0;
	}

	for (i = 0; i < raw.l; i++) {
		if (raw.p[i] != '\n')
			continue;
		if (i + 1 < raw.l && raw.p[i + 1] == '\n') {
			hdrs.l = i;
			pt->body.p = raw.p + i + 2;
			pt->body.l = raw.l - i - 2;
			return part_headers(pt, hdrs, why);
		}
		if (i + 2 < raw.l && raw.p[i + 1] == '\r' &&
		    raw.p[i + 2] == '\n') {
			hdrs.l = i;
			pt->body.p = raw.p + i + 3;
			pt->body.l = raw.l - i - 3;
			return part_headers(pt, hdrs, why);
		}
	}

	*why = "body part without an empty line after its headers";
	return EPROTO;
}

/*
 * RFC 2046 section 5.1.1: a delimiter is CRLF "--" boundary at the start
 * of a line; the first may open the body; the last has "--" after it.
 * Anything before the first (preamble) and after the last is ignored.
 */
static int mp_split(struct mp *mp, const char *body, size_t len,
		    const struct pl *boundary, const char **why)
{
	char delim[3 + PIDF_BOUNDARY_MAX];
	const char *p, *end = body + len;
	size_t dl;

	delim[0] = '\n';
	delim[1] = '-';
	delim[2] = '-';
	memcpy(delim + 3, boundary->p, boundary->l);
	dl = 3 + boundary->l;

	if (len >= dl - 1 && !memcmp(body, delim + 1, dl - 1)) {
		p = body + dl - 1;
	} else {
		p = memmem(body, len, delim, dl);
		if (!p) {
			*why = "multipart body without its boundary";
			return EPROTO;
		}
		p += dl;
	}

	for (;;) {
		const char *next;
		struct pl raw;
		int err;

		/* p is just past a delimiter */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0;

		/* transport padding, then the line break */
		while (p < end && lws(*p))
			++p;
		if (p < end && *p == '\r')
			++p;
		if (p >= end || *p != '\n') {
			*why =
			    "multipart delimiter not followed by a line break";
			return EPROTO;
		}
		++p;

		next = memmem(p, (size_t)(end - p), delim, dl);
		if (!next) {
			*why = "multipart body without its close delimiter";
			return EPROTO;
		}

		if (mp->n >= PIDF_PARTS_MAX) {
			*why = "too many body parts";
			return EOVERFLOW;
		}

		/* the CRLF before "--" belongs to the delimiter */
		raw.p = p;
		raw.l = (size_t)(next - p);
		if (raw.l && raw.p[raw.l - 1] == '\r')
			--raw.l;

		err = part_split(&mp->partv[mp->n], raw, why);
		if (err)
			return err;
		++mp->n;

		p = next + dl;
	}
}

/* RLMI document state */
struct rstate {
	struct pidf_list *list;
	struct pidf_resource *cur; /* the <resource> being read */
	bool cur_has_cid;
	struct pl cidv[PIDF_RESOURCES_MAX]; /* cid per resource, "" none */
	char *cids;                         /* storage for cidv */
	size_t cids_len;
	size_t cap; /* entries allocated in list->resv */
};

/* Room for more resources: most lists are short, so start small */
static int grow(struct rstate *st)
{
	size_t cap = st->cap ? st->cap * 2 : 8;
	struct pidf_resource *v;

	if (cap > PIDF_RESOURCES_MAX)
		cap = PIDF_RESOURCES_MAX;

	/* libre's mem_realloc() does not take NULL */
	if (st->list->resv)
		v = mem_realloc(st->list->resv, cap * sizeof(*v));
	else
		v = mem_alloc(cap * sizeof(*v), NULL);
	if (!v)
		return ENOMEM;

	memset(v + st->cap, 0, (cap - st->cap) * sizeof(*v));
	st->list->resv = v;
	st->cap = cap;

	return 0;
}

static const char *const substates[] = {
    [PIDF_SUB_ACTIVE] = "active",
    [PIDF_SUB_PENDING] = "pending",
    [PIDF_SUB_TERMINATED] = "terminated",
};

static void r_instance(struct xml_rd *x, struct rstate *st, const char **atts)
{
	const char *state = xml_attr(atts, "state");
	const char *cid = xml_attr(atts, "cid");
	const char *reason = xml_attr(atts, "reason");
	struct pidf_resource *r = st->cur;
	size_t i, idx, n;

	if (!state) {
		xml_fail(x, EPROTO, "RLMI instance without a state");
		return;
	}

	/* Several instances: the first with a body (cid) describes it */
	if (st->cur_has_cid)
		return;

	r->reason[0] = '\0';
	for (i = 1; i < ARRAY_SIZE(substates); i++) {
		if (!strcmp(state, substates[i]))
			r->state = (enum pidf_substate)i;
	}

	if (reason)
		pidf_copy_text(r->reason, sizeof(r->reason), reason,
			       strlen(reason));

	if (!cid)
		return;

	/* Keep the cid: parts are matched once the list is read. The
	 * storage is the body size, bounding all cids together. */
	idx = (size_t)(r - st->list->resv);
	n = strlen(cid);
	st->cidv[idx].p = st->cids + st->cids_len;
	st->cidv[idx].l = n;
	memcpy(st->cids + st->cids_len, cid, n);
	st->cids_len += n;
	st->cur_has_cid = true;
}

static void r_start(struct xml_rd *x, const char *name, const char **atts)
{
	struct rstate *st = x->arg;
	struct pidf_list *l = st->list;
	const char *v;

	if (x->depth == 1) {
		if (strcmp(name, N(RLMI_NS, "list"))) {
			xml_fail(x, EPROTO, "not an RLMI document");
			return;
		}
		v = xml_attr(atts, "uri");
		if (v)
			pidf_copy_text(l->uri, sizeof(l->uri), v, strlen(v));
		v = xml_attr(atts, "version");
		if (v) {
			struct pl pl;

			pl_set_str(&pl, v);
			l->version = pl_u32(&pl);
		}
		/* RFC 4662 section 5.2: fullState is required */
		v = xml_attr(atts, "fullState");
		l->full_state = v && (!strcmp(v, "true") || !strcmp(v, "1"));
		return;
	}

	if (x->depth == 2 && !strcmp(name, N(RLMI_NS, "resource"))) {
		if (l->n >= PIDF_RESOURCES_MAX) {
			xml_fail(x, EOVERFLOW, "too many RLMI resources");
			return;
		}
		v = xml_attr(atts, "uri");
		if (!v || !*v || strlen(v) > PIDF_URI_MAX) {
			xml_fail(x, EPROTO,
				 "RLMI resource without a usable uri");
			return;
		}
		if (l->n == st->cap && grow(st)) {
			xml_fail(x, ENOMEM, "out of memory");
			return;
		}
		st->cur = &l->resv[l->n++];
		st->cur_has_cid = false;
		memcpy(st->cur->uri, v, strlen(v) + 1);
		return;
	}

	if (x->depth == 3 && st->cur && !strcmp(name, N(RLMI_NS, "instance")))
		r_instance(x, st, atts);
}

static void r_end(struct xml_rd *x, const char *name)
{
	struct rstate *st = x->arg;
	(void)name;

	if (x->depth == 2)
		st->cur = NULL;
}

static void list_destructor(void *arg)
{
	struct pidf_list *l = arg;

	mem_deref(l->resv);
}

/* Match each member's cid to a part and read its PIDF */
static void attach_parts(struct pidf_list *l, const struct rstate *st,
			 const struct mp *mp)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		struct pidf_resource *r = &l->resv[i];
		const struct pl *cid = &st->cidv[i];

		r->perr = ENOENT;
		if (!cid->l)
			continue;

		for (j = 0; j < mp->n; j++) {
			const struct part *pt = &mp->partv[j];

			if (pl_cmp(&pt->cid, cid))
				continue;

			if (pl_strcasecmp(&pt->ctype, "application/pidf+xml")) {
				/* e.g. a nested list (RFC 4662 section 5) */
				r->perr = EPROTO;
				break;
			}
			r->perr =
			    pidf_parse(&r->pres, pt->body.p, pt->body.l, NULL);
			r->has_presence = r->perr == 0;
			break;
		}
	}
}

int pidf_rlmi_parse(struct pidf_list **lp, const struct pl *ctype,
		    const char *body, size_t len, const char **why)
{
	const char *reason = NULL;
	struct pidf_list *l = NULL;
	struct rstate *st = NULL;
	struct mp *mp = NULL;
	struct pl mt, boundary, start, type;
	const struct part *root = NULL;
	struct xml_rd x;
	size_t i;
	int err;

	if (!lp || !ctype || !pl_isset(ctype) || (!body && len))
		return EINVAL;

	if (len > PIDF_BODY_MAX) {
		reason = "body too large";
		err = EMSGSIZE;
		goto out;
	}

	/* RFC 4662 section 5: multipart/related, type application/rlmi+xml */
	media_type(&mt, ctype);
	if (pl_strcasecmp(&mt, "multipart/related")) {
		reason = "not multipart/related";
		err = EPROTO;
		goto out;
	}
	err = ct_param(&type, ctype, "type");
	if (err == EPROTO ||
	    (!err && pl_strcasecmp(&type, "application/rlmi+xml"))) {
		reason = "multipart/related of another type than RLMI";
		err = EPROTO;
		goto out;
	}
	err = ct_param(&boundary, ctype, "boundary");
	if (err || !boundary.l || boundary.l > PIDF_BOUNDARY_MAX) {
		reason = "no usable multipart boundary";
		err = EPROTO;
		goto out;
	}

	mp = mem_zalloc(sizeof(*mp), NULL);
	st = mem_zalloc(sizeof(*st), NULL);
	l = mem_zalloc(sizeof(*l), list_destructor);
	if (!mp || !st || !l) {
		err = ENOMEM;
		goto out;
	}
	st->cids = mem_alloc(len + 1, NULL);
	if (!st->cids) {
		err = ENOMEM;
		goto out;
	}

	err = mp_split(mp, body, len, &boundary, &reason);
	if (err)
		goto out;

	/* RFC 2387 section 3.2: the root is named by start, else first */
	if (!ct_param(&start, ctype, "start")) {
		strip_angle(&start);
		for (i = 0; i < mp->n; i++) {
			if (!pl_cmp(&mp->partv[i].cid, &start)) {
				root = &mp->partv[i];
				break;
			}
		}
	} else if (mp->n) {
		root = &mp->partv[0];
	}
	if (!root || pl_strcasecmp(&root->ctype, "application/rlmi+xml")) {
		reason = "no RLMI root part";
		err = EPROTO;
		goto out;
	}

	memset(&x, 0, sizeof(x));
	st->list = l;
	x.arg = st;
	x.starth = r_start;
	x.endh = r_end;
	x.lim = &pidf_xml_limits; /* no text is collected from RLMI */
	err = xml_parse(&x, root->body.p, root->body.l);
	if (err) {
		reason = x.why;
		goto out;
	}

	attach_parts(l, st, mp);

out:
	mem_deref(mp);
	if (st)
		mem_deref(st->cids);
	mem_deref(st);
	if (err) {
		if (why)
			*why = reason;
		mem_deref(l);
	} else {
		*lp = l;
	}

	return err;
}
