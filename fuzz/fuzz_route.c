/**
 * @file fuzz_route.c  libFuzzer driver: UCWA request targets
 *
 * The input is a sequence of lines. A line is a request target below
 * /ucwa/oauth/v1/applications, "path" or "path?query", or, starting with
 * '!', a step of the application's side: "!p<n>" posts an event of
 * priority n (0 low, 1 medium, 2 high) with the next mark, "!s0" / "!s1"
 * ends the save the channel asked for (committed / failed).
 *
 * For each target, the query goes through the parsers of the resources
 * that take one: the event channel's ack, timeout, low and medium
 * (evchan.c parse_params()) and conversationLogs' since (hist_get.c
 * since_param()); each segment of the path goes through
 * ucwa_contact_uri(), as people/contacts/<uri>/... does (encoded), and as
 * a body or a stored record gives it (not encoded). Then the target is
 * made a GET request (web_req_alloc(), as the server does) and served by
 * evchan_get() on one channel for the whole input, so the sequence of
 * acks, parked requests, replaced ones, resyncs and saves runs as a
 * client and the application drive it. Answers go to no connection
 * (web_reply() refuses them after encoding). evchan.c and hist_get.c are
 * included to reach their static parsers, as the unit tests do; the rest
 * comes from the libraries.
 *
 * The path is also matched against a route table of the API's shape
 * (web_route_find(), literal and case-insensitive) with every method.
 *
 * Invariants checked: a row found takes the method, and its parameters
 * lie within the path, the one-segment ones non-empty and without '/';
 * a 405's Allow never holds the method asked; an accepted timeout is within
 * 180..1800 s, low and medium within 0..1800 s; an accepted contact URI is a
 * NUL-terminated sip: URI with an '@' and no blank, control, quote or angle
 * bracket; the channel's count of pending events is the length of its list, and
 * its batch number goes back by one at most in a step (a failed save takes its
 * batch back; there is no restore here).
 */
#include "../src/evchan/evchan.c"
#include "../src/ucwa/hist_get.c"
#include <stdint.h>
#include <stdlib.h>
#include "web_int.h"
#include "web_route.h"

enum {
	FUZZ_MAX_LINES = 32, /* steps per input */
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wheel *wheel;
static unsigned saves_asked;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (libre_init() || wheel_alloc(&wheel, 1000, 256, false))
		abort();
	log_set_level(LOG_ERROR + 1);
	return 0;
}

static int save_h(uint64_t batch, uint64_t mark, void *arg)
{
	(void)batch;
	(void)mark;
	(void)arg;
	++saves_asked;
	return 0;
}

/* GET target on the channel, as the server hands the request over. */
static void get(struct evchan *ch, const char *t, size_t n)
{
	struct web_req *req = NULL;
	struct mbuf *mb = mbuf_alloc(n + 64);

	if (!mb ||
	    mbuf_printf(mb,
			"GET %b HTTP/1.1\r\nHost: mobility.example.test\r\n"
			"\r\n",
			t, n) ||
	    web_req_alloc(&req, NULL, mb->buf, mb->end, 0))
		goto out;
	evchan_get(ch, req);
out:
	mem_deref(req);
	mem_deref(mb);
}

static void step(struct evchan *ch, const char *l, size_t n, uint64_t *mark)
{
	struct evchan_event e;

	if (n < 3 || l[0] != '!')
		return;
	if (l[1] == 'p') {
		memset(&e, 0, sizeof(e));
		e.prio = (enum evchan_prio)((unsigned)l[2] % 3);
		e.mark = ++*mark;
		e.ev.sender_rel = "me";
		e.ev.sender_href = "/ucwa/oauth/v1/applications/1/me";
		e.ev.type = "updated";
		e.ev.rel =
		    e.prio == EVCHAN_HIGH ? "messagingInvitation" : "presence";
		e.ev.href = "/ucwa/oauth/v1/applications/1/me/presence";
		(void)evchan_post(ch, &e);
	} else if (l[1] == 's' && ch->saving) {
		evchan_saved(ch, l[2] == '0' ? 0 : EIO);
	}
}

static void query(const struct pl *q)
{
	struct params p;
	uint64_t since;

	if (!parse_params(q, &p) &&
	    (p.timeout < EVCHAN_TIMEOUT_MIN || p.timeout > EVCHAN_TIMEOUT_MAX ||
	     (p.low != UINT64_MAX && p.low > EVCHAN_INTERVAL_MAX) ||
	     (p.medium != UINT64_MAX && p.medium > EVCHAN_INTERVAL_MAX) ||
	     (!p.has_ack && p.ack)))
		abort();
	(void)since_param(q, &since);
}

static void check_uri(const char *uri, size_t size)
{
	size_t i, n = strnlen(uri, size);

	if (n == size || n < 7 || strncasecmp(uri, "sip:", 4) ||
	    !strchr(uri, '@'))
		abort();
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)uri[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\", c))
			abort();
	}
}

static void segments(const struct pl *path)
{
	struct pl rest = *path, seg;
	char uri[UCWA_URI_MAX + 1];
	unsigned k = 0;

	while (text_next(&rest, '/', &seg) && k++ < 64) {
		if (ucwa_contact_uri(uri, sizeof(uri), &seg, true))
			check_uri(uri, sizeof(uri));
		if (ucwa_contact_uri(uri, sizeof(uri), &seg, false))
			check_uri(uri, sizeof(uri));
	}
}

static void rh(struct web_req *req, const struct web_params *prm, void *arg)
{
	(void)req;
	(void)prm;
	(void)arg;
}

static const struct web_route rows[] = {
    {"", WEB_GET, rh},
    {"", WEB_DELETE, rh},
    {"me/presence", WEB_GET | WEB_POST, rh},
    {"people/contacts/{uri}", WEB_GET | WEB_DELETE, rh},
    {"people/contacts/{uri}/{what}", WEB_GET, rh},
    {"people/presenceSubscriptions/{id}/memberships/{name*}", WEB_GET, rh},
    {"communication/{rest*}", WEB_ANY, rh},
};

static void route(const struct pl *path, bool nocase)
{
	const struct web_routes rt = {rows, ARRAY_SIZE(rows), nocase, NULL};
	const struct web_route *r;
	struct web_params prm;
	unsigned m, allow, i;

	for (m = WEB_GET; m <= WEB_OPTIONS; m <<= 1) {
		r = web_route_find(&rt, m, path, &prm, &allow);
		if (!r) {
			if (allow & m)
				abort();
			continue;
		}
		if (!(r->methods & m) || prm.n > WEB_ROUTE_PARAMS)
			abort();
		for (i = 0; i < prm.n; i++) {
			const struct pl *v = &prm.value[i];
			bool rest = prm.name[i].p[prm.name[i].l] == '*';

			if (v->p < path->p || v->p + v->l > path->p + path->l ||
			    (!rest && (!v->l || memchr(v->p, '/', v->l))))
				abort();
		}
	}
}

/* One target: its query and path through the parsers. */
static void target(const char *t, size_t n)
{
	const char *qm = memchr(t, '?', n);
	struct pl path = {t, n}, q = PL_INIT;

	if (qm) {
		path.l = (size_t)(qm - t);
		q.p = qm + 1;
		q.l = n - path.l - 1;
	}
	query(&q);
	segments(&path);
	route(&path, false);
	route(&path, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct evchan *ch = NULL;
	uint64_t mark = 0, batch = 0;
	unsigned i;

	if (evchan_alloc(&ch, wheel, "/ucwa/oauth/v1/applications/1/events"))
		return 0;
	evchan_set_save_handler(ch, save_h, NULL);
	saves_asked = 0;

	for (i = 0; i < FUZZ_MAX_LINES && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* each line in a buffer of exactly its size */
		char *line = malloc(n ? n : 1);

		if (!line)
			break;
		memcpy(line, p, n);
		if (n && line[0] == '!') {
			step(ch, line, n, &mark);
		} else {
			target(line, n);
			get(ch, line, n);
		}
		free(line);
		if (list_count(&ch->pending) != ch->npending ||
		    evchan_batch(ch) + 1 < batch)
			abort();
		batch = evchan_batch(ch);
		p += n + 1;
	}

	mem_deref(ch);
	return 0;
}
