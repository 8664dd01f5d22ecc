/**
 * @file client.c  The client address of a request behind reverse proxies
 *
 * A request whose peer is a trusted proxy (docs/http.md "Behind a
 * proxy") names its client in X-Forwarded-For: each proxy appends the
 * address it got the request from, so the list is read from the right,
 * skipping trusted proxies, and the first address that is not one is the
 * client. Everything left of it was written by the client and is not
 * believed. From any other peer the header is ignored.
 *
 * A PROXY listener instead gets the client from the PROXY protocol v2
 * header its proxy sends first on every connection; the header is
 * binary, length-prefixed and bounded (WEB_PROXY_MAX).
 */
#include <string.h>
#include <re.h>
#include "web_int.h"

enum {
	WEB_XFF_HOPS_MAX = 16, /* X-Forwarded-For entries looked at */
};

struct xff_walk {
	const struct list *trusted;
	struct sa client; /* the last hop believed so far   */
	unsigned hops;
	bool done;
};

/* One list element: "192.0.2.1", "2001:db8::1" or "[2001:db8::1]"
 * (a port after either form is not used by proxies we support). */
static bool elem_addr(struct sa *sa, struct pl e)
{
	char buf[64];

	while (e.l && (e.p[0] == ' ' || e.p[0] == '\t')) {
		++e.p;
		--e.l;
	}
	while (e.l && (e.p[e.l - 1] == ' ' || e.p[e.l - 1] == '\t'))
		--e.l;
	if (e.l >= 2 && e.p[0] == '[' && e.p[e.l - 1] == ']') {
		++e.p;
		e.l -= 2;
	}
	if (!e.l || e.l >= sizeof(buf))
		return false;
	(void)pl_strcpy(&e, buf, sizeof(buf));
	return sa_set_str(sa, buf, 0) == 0;
}

/* One header field, its elements right to left. True stops the walk. */
static bool xff_field(const struct http_hdr *hdr, void *arg)
{
	struct xff_walk *w = arg;
	const char *end = hdr->val.p + hdr->val.l;

	while (!w->done) {
		const char *p = end;
		struct pl e;
		struct sa sa;

		while (p > hdr->val.p && p[-1] != ',')
			--p;
		e.p = p;
		e.l = (size_t)(end - p);
		if (++w->hops > WEB_XFF_HOPS_MAX || !elem_addr(&sa, e)) {
			/* garbage: the last good hop is all we know */
			w->done = true;
			break;
		}
		w->client = sa;
		if (!conf_cidr_match(w->trusted, &sa))
			w->done = true; /* the first untrusted hop */
		if (p == hdr->val.p)
			break;
		end = p - 1;
	}
	return w->done;
}

static const uint8_t proxy_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int web_proxy_v2_parse(const uint8_t *p, size_t len, struct sa *src,
		       size_t *used)
{
	size_t n = len < sizeof(proxy_sig) ? len : sizeof(proxy_sig);
	uint16_t alen;
	uint8_t cmd, fam;

	if (!p || !src || !used)
		return EINVAL;
	/* a wrong first byte is wrong however few have come */
	if (memcmp(p, proxy_sig, n))
		return EPROTO;
	if (len < WEB_PROXY_HDR)
		return ENODATA;

	/* version 2 in the high nibble; command LOCAL (0) or PROXY (1) */
	if ((p[12] >> 4) != 2 || (p[12] & 0x0f) > 1)
		return EPROTO;
	cmd = p[12] & 0x0f;
	fam = p[13];
	alen = get_be16(p + 14);
	if (alen > WEB_PROXY_MAX)
		return EPROTO;
	if (len < WEB_PROXY_HDR + (size_t)alen)
		return ENODATA;
	p += WEB_PROXY_HDR;

	if (cmd == 1 && fam == 0x11) { /* TCP over IPv4 */
		if (alen < 12)
			return EPROTO;
		sa_set_in(src,
			  (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			      (uint32_t)p[2] << 8 | p[3],
			  get_be16(p + 8));
	} else if (cmd == 1 && fam == 0x21) { /* TCP over IPv6 */
		if (alen < 36)
			return EPROTO;
		sa_set_in6(src, p, get_be16(p + 32));
	}
	/* LOCAL, UNSPEC, UDP, unix: the connection's own peer stands */
	*used = WEB_PROXY_HDR + alen;
	return 0;
}

int web_conn_proxy_header(struct web_conn *conn)
{
	struct mbuf *rx = conn->rx;
	struct sa src = conn->peer;
	size_t used = 0, left;
	int err;

	err = web_proxy_v2_parse(rx->buf, rx->end, &src, &used);
	if (err == EPROTO)
		log_info("http: connection from %j: no valid PROXY v2 header",
			 &conn->peer);
	if (err)
		return err;

	conn->proxy_wait = false;
	conn->proxied = !sa_cmp(&src, &conn->peer, SA_ALL);
	conn->peer = src;

	/* what follows the header is the first request */
	left = rx->end - used;
	if (!left) {
		conn->rx = mem_deref(rx);
	} else {
		memmove(rx->buf, rx->buf + used, left);
		rx->end = left;
		rx->pos = 0;
	}
	return 0;
}

void web_req_find_client(struct web_req *req, const struct web_conn *conn)
{
	const struct list *trusted;
	struct xff_walk w;

	/* a request made without a connection (tests, fuzzing) has none */
	if (!conn)
		return;
	trusted = conn->srv ? conn->srv->trusted : NULL;

	/* behind a PROXY header the peer is the client already */
	req->client = conn->peer;
	req->proxy_tls = conn->proxied && conn->srv && conn->srv->proxy_tls;
	if (!conf_cidr_match(trusted, &conn->peer))
		return;
	req->proxy_tls = conn->srv && conn->srv->proxy_tls;

	/* the last field first: proxies append */
	memset(&w, 0, sizeof(w));
	w.trusted = trusted;
	w.client = conn->peer;
	(void)http_msg_xhdr_apply(req->msg, false, "X-Forwarded-For", xff_field,
				  &w);
	req->client = w.client;
}
