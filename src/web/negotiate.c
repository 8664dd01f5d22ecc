/**
 * @file negotiate.c  Content negotiation on the Accept header
 *
 * RFC 9110 12.5.1: media ranges with q-values; the most specific range
 * that matches an offer gives its quality. Among offers of equal quality
 * the earlier offer wins, so the caller lists its default first.
 */
#include <string.h>
#include <re.h>
#include "web_int.h"

enum {
	ACCEPT_RANGES_MAX = 32, /* media ranges looked at per request */
};

struct range {
	struct pl type, sub;
	int q; /* 0..1000 */
};

/* Parse "q=0.5" style weight; returns 0..1000, or -1 if malformed. */
static int parse_q(const struct pl *v)
{
	int q = 0, scale = 1000;
	size_t i;

	if (!v->l || (v->p[0] != '0' && v->p[0] != '1'))
		return -1;
	q = (v->p[0] - '0') * 1000;
	if (v->l == 1)
		return q;
	if (v->p[1] != '.' || v->l > 5)
		return -1;
	for (i = 2; i < v->l; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		scale /= 10;
		q += (v->p[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* Parse one media range "type/sub;param=..;q=..". */
static bool parse_range(struct pl s, struct range *r)
{
	struct pl mt, p, params = s;
	const char *slash;

	(void)text_next(&params, ';', &mt);
	text_trim(&mt);
	slash = pl_strchr(&mt, '/');
	if (!slash)
		return false;

	r->type.p = mt.p;
	r->type.l = slash - mt.p;
	r->sub.p = slash + 1;
	r->sub.l = mt.l - r->type.l - 1;
	r->q = 1000;
	if (!r->type.l || !r->sub.l)
		return false;

	/* only q matters among the parameters */
	while (text_next(&params, ';', &p)) {
		text_trim(&p);
		if (p.l > 2 && (p.p[0] == 'q' || p.p[0] == 'Q') &&
		    p.p[1] == '=') {
			struct pl v = {p.p + 2, p.l - 2};
			r->q = parse_q(&v);
			if (r->q < 0)
				return false;
		}
	}
	return true;
}

/* How specifically r matches type/sub: -1 no, 0 * / *, 1 type/ *, 2 exact */
static int match(const struct range *r, const char *offer)
{
	const char *slash = strchr(offer, '/');
	const char *semi = strchr(offer, ';');
	struct pl ot, os;

	if (!slash)
		return -1;
	ot.p = offer;
	ot.l = slash - offer;
	os.p = slash + 1;
	os.l = semi ? (size_t)(semi - os.p) : strlen(os.p);

	if (!pl_strcmp(&r->type, "*") && !pl_strcmp(&r->sub, "*"))
		return 0;
	if (pl_cmp(&r->type, &ot) && pl_casecmp(&r->type, &ot))
		return -1;
	if (!pl_strcmp(&r->sub, "*"))
		return 1;
	return pl_casecmp(&r->sub, &os) ? -1 : 2;
}

int web_negotiate_pl(const struct pl *accept, const char *const *offers,
		     size_t n, size_t *choice)
{
	struct range rv[ACCEPT_RANGES_MAX];
	size_t nr = 0, i, j;
	struct pl s, item;
	int best_q = 0;
	bool found = false;

	if (!offers || !n || !choice)
		return EINVAL;

	if (!accept || !accept->l) {
		*choice = 0;
		return 0;
	}

	/* split on commas; quoted strings do not occur in media ranges
	 * we care about, and a malformed range is skipped */
	s = *accept;
	while (nr < ACCEPT_RANGES_MAX && text_next(&s, ',', &item)) {
		text_trim(&item);
		if (item.l && parse_range(item, &rv[nr]))
			++nr;
	}

	if (!nr) { /* nothing usable: as if no Accept was sent */
		*choice = 0;
		return 0;
	}

	for (i = 0; i < n; i++) {
		int spec = -1, q = 0;

		for (j = 0; j < nr; j++) {
			int m = match(&rv[j], offers[i]);
			if (m > spec) {
				spec = m;
				q = rv[j].q;
			}
		}
		if (spec >= 0 && q > best_q) {
			best_q = q;
			*choice = i;
			found = true;
		}
	}

	return found ? 0 : ENOENT;
}

/* Gather every Accept field: libre splits comma lists into fields. */
static bool accept_apply(const struct http_hdr *hdr, void *arg)
{
	struct mbuf *mb = arg;

	/* stop rather than grow: the buffer is on the caller's stack */
	if (mb->end + hdr->val.l + 1 > mb->size)
		return true;
	if (mb->end)
		(void)mbuf_write_u8(mb, ',');
	(void)mbuf_write_pl(mb, &hdr->val);
	return false;
}

int web_negotiate(const struct web_req *req, const char *const *offers,
		  size_t n, size_t *choice)
{
	uint8_t buf[1024];
	struct mbuf mb;
	struct pl pl;

	if (!req)
		return EINVAL;

	/* a stack buffer: Accept values are short and bounded here */
	mbuf_init(&mb);
	mb.buf = buf;
	mb.size = sizeof(buf);
	(void)http_msg_hdr_apply(req->msg, true, HTTP_HDR_ACCEPT, accept_apply,
				 &mb);
	pl.p = (const char *)buf;
	pl.l = mb.end;
	return web_negotiate_pl(&pl, offers, n, choice);
}

/*
 * Accept-Encoding (RFC 9110 12.5.3)
 */

/* q of one "coding;q=.." item: 1000 without a weight, -1 if malformed */
static int coding_q(struct pl params)
{
	struct pl p;
	int q = 1000;

	while (text_next(&params, ';', &p)) {
		text_trim(&p);
		if (p.l >= 2 && (p.p[0] == 'q' || p.p[0] == 'Q') &&
		    p.p[1] == '=') {
			struct pl v = {p.p + 2, p.l - 2};
			q = parse_q(&v);
		}
	}
	return q;
}

enum web_coding web_coding_choose(const struct pl *ae)
{
	/* q of gzip, deflate, identity and "*"; -1: not named */
	int q[4] = {-1, -1, -1, -1}, qi, best;
	enum web_coding c = WEB_CODING_IDENTITY;
	struct pl s, item, name;
	int i;

	if (!ae || !ae->l)
		return WEB_CODING_IDENTITY;

	s = *ae;
	while (text_next(&s, ',', &item)) {
		(void)text_next(&item, ';', &name);
		text_trim(&name);
		qi = coding_q(item);
		if (qi < 0) /* a malformed weight: skip the item */
			continue;
		/* x-gzip is gzip (RFC 9110 8.4.1.3) */
		if (!pl_strcasecmp(&name, "gzip") ||
		    !pl_strcasecmp(&name, "x-gzip"))
			q[0] = qi;
		else if (!pl_strcasecmp(&name, "deflate"))
			q[1] = qi;
		else if (!pl_strcasecmp(&name, "identity"))
			q[2] = qi;
		else if (!pl_strcmp(&name, "*"))
			q[3] = qi;
	}

	/* "*" covers what is not named; identity is acceptable unless
	 * excluded by name or by "*;q=0", but not named it comes last:
	 * a client that names a coding wants it */
	for (i = 0; i < 2; i++)
		if (q[i] < 0)
			q[i] = q[3] < 0 ? 0 : q[3];
	if (q[2] < 0)
		q[2] = q[3] < 0 ? 1 : q[3];

	/* strictly better only: gzip, deflate, identity on ties */
	best = q[0];
	c = WEB_CODING_GZIP;
	if (q[1] > best) {
		best = q[1];
		c = WEB_CODING_DEFLATE;
	}
	if (q[2] > best || best <= 0)
		c = WEB_CODING_IDENTITY;
	return c;
}

/* Gather every Accept-Encoding field (libre splits comma lists). */
enum web_coding web_req_coding(const struct web_req *req)
{
	uint8_t buf[WEB_AE_MAX];
	struct mbuf mb;
	struct pl pl;

	if (!req || !req->msg)
		return WEB_CODING_IDENTITY;

	mbuf_init(&mb);
	mb.buf = buf;
	mb.size = sizeof(buf);
	(void)http_msg_hdr_apply(req->msg, true, HTTP_HDR_ACCEPT_ENCODING,
				 accept_apply, &mb);
	pl.p = (const char *)buf;
	pl.l = mb.end;
	return web_coding_choose(&pl);
}
