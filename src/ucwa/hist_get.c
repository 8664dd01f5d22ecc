/**
 * @file hist_get.c  GET .../communication/conversationLogs: the history
 * of an application as a resource (docs/api.md), JSON or XML; and what
 * the history (src/session/hist.c) is told of conversations and gives
 * them back after a restart
 */
#include <string.h>
#include <time.h>
#include <re.h>
#include "api.h"
#include "repr.h"
#include "ucwa.h"
#include "ucwa_int.h"
#include "hist.h"

/* n decimal digits at p; -1 if one is not a digit */
static int digits(const char *p, size_t n)
{
	int v = 0;

	while (n--) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	return v;
}

/* 2026-11-24T01:16:00[.123...](Z|+01:00|-01:00) -> ms since the epoch */
static bool iso_ms(const char *p, size_t n, uint64_t *ms)
{
	struct tm tm;
	int64_t t, off = 0;
	unsigned frac = 0, scale = 1000;
	size_t i = 19;

	if (n < 20 || p[4] != '-' || p[7] != '-' ||
	    (p[10] != 'T' && p[10] != 't') || p[13] != ':' || p[16] != ':')
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = digits(p, 4) - 1900;
	tm.tm_mon = digits(p + 5, 2) - 1;
	tm.tm_mday = digits(p + 8, 2);
	tm.tm_hour = digits(p + 11, 2);
	tm.tm_min = digits(p + 14, 2);
	tm.tm_sec = digits(p + 17, 2);
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return false;
	if (p[i] == '.') {
		/* fractions of a second: milliseconds kept */
		for (++i; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			if (scale > 1) {
				scale /= 10;
				frac += (unsigned)(p[i] - '0') * scale;
			}
		}
	}
	if (i + 1 == n && (p[i] == 'Z' || p[i] == 'z')) {
		off = 0;
	} else if (i + 6 == n && (p[i] == '+' || p[i] == '-' || p[i] == ' ') &&
		   p[i + 3] == ':' && digits(p + i + 1, 2) >= 0 &&
		   digits(p + i + 4, 2) >= 0) {
		off = (digits(p + i + 1, 2) * 60 + digits(p + i + 4, 2)) * 60;
		if (p[i] == '-')
			off = -off;
	} else {
		return false;
	}
	t = (int64_t)timegm(&tm) - off;
	if (t < 0)
		return false;
	*ms = (uint64_t)t * 1000 + frac;
	return true;
}

static bool since_param(const struct pl *query, uint64_t *since)
{
	static const char *const names[] = {"since"};
	struct pl q = *query, val;
	char buf[64];
	size_t n;

	*since = 0;
	/* the first one counts; none: the whole history */
	if (text_param_next(&q, names, 1, &val) < 0)
		return true;
	/* percent-encoded ':' and '+' of an ISO 8601 time; a '+' left as
	 * is decodes as a space and is taken as '+' */
	if (text_pct_decode(buf, sizeof(buf), &val, &n))
		return false;
	pl_set_str(&val, buf);
	val.l = n;
	if (n && n < 17 && strspn(buf, "0123456789") == n) {
		*since = pl_u64(&val);
		return true;
	}
	return iso_ms(buf, n, since);
}

static struct repr *conv_log(const struct app *app, const struct hentry *h)
{
	struct repr *r = NULL;
	struct le *le;
	int err;

	err = repr_alloc(&r, "conversationLog", NULL);
	if (err)
		return NULL;
	err |= repr_prop_str(r, "direction",
			     h->incoming ? "Incoming" : "Outgoing");
	err |= repr_prop_str(r, "modalities", "Messaging");
	if (h->subject[0])
		err |= repr_prop_str(r, "subject", h->subject);
	err |= repr_prop_date(r, "creationTime", h->first);
	err |= repr_prop_date(r, "lastMessageTime", h->last);
	err |= repr_prop_int(r, "messageCount", h->count);
	if (h->count) {
		err |= repr_prop_str(r, "previewMessage", h->text);
		err |= repr_prop_str(r, "previewDirection",
				     h->last_in ? "Incoming" : "Outgoing");
	}
	err |=
	    repr_prop_str(r, "state", h->ended ? "Disconnected" : "Connected");
	err |= repr_link(r, h->incoming ? "from" : "to", h->peer);
	/* the conversation itself while this service still holds it */
	for (le = app->convs.head; le; le = le->next) {
		const struct conv *c = le->data;
		if (c->hid == h->serial) {
			err |= repr_link(r, "conversation", c->href);
			break;
		}
	}
	if (err)
		r = mem_deref(r);
	return r;
}

static struct repr *missed_item(const struct hentry *h)
{
	struct repr *r = NULL;
	char type[16];
	int err;

	err = repr_alloc(&r, "missedItem", NULL);
	if (err)
		return NULL;
	/* "message" -> "Message": UCWA's style of enumerated values */
	(void)re_snprintf(type, sizeof(type), "%s", h->type);
	if (type[0] >= 'a' && type[0] <= 'z')
		type[0] = (char)(type[0] - 'a' + 'A');
	err |= repr_prop_str(r, "type", type);
	err |= repr_prop_date(r, "time", h->first);
	if (h->text[0])
		err |= repr_prop_str(r, "previewMessage", h->text);
	err |= repr_link(r, "from", h->peer);
	if (err)
		r = mem_deref(r);
	return r;
}

void ucwa_hist_get(struct web_req *req, const struct web_params *prm, void *arg)
{
	struct app *app = arg;
	struct repr *r = NULL, *e;
	char href[128 + UCWA_ID_LEN];
	uint64_t since;
	struct le *le;
	int err;

	(void)prm;
	if (!since_param(web_req_query(req), &since)) {
		api_reply_error(req, 400, NULL, "BadRequest",
				"ParameterValidationFailure",
				"since must be milliseconds since 1970 or an "
				"ISO 8601 time such as 2026-11-24T01:16:00Z");
		return;
	}
	session_hist_prune(&app->s);

	err = repr_href(href, sizeof(href), app->href,
			"/communication/conversationLogs");
	if (!err)
		err = repr_alloc(&r, "conversationLogs", href);
	if (!err && since)
		err = repr_prop_date(r, "since", since);
	/* the most recently active first, as a phone lists them */
	for (le = app->s.hist.tail; le && !err; le = le->prev) {
		const struct hentry *h = le->data;

		if (h->last < since || h->kind == H_UNCERTAIN)
			continue;
		e = h->kind == H_CONV ? conv_log(app, h) : missed_item(h);
		err = e ? repr_embed(r, e) : ENOMEM;
		mem_deref(e);
	}
	if (err)
		web_reply_text(req, 500, NULL, "could not build the history");
	else
		api_reply(req, 200, NULL, r, NULL);
	mem_deref(r);
}

/* What the history keeps of a conversation. */
static void hist_conv_of(struct hist_conv *hc, const struct conv *c)
{
	hc->hid = c->hid;
	hc->n = c->n;
	hc->incoming = c->incoming;
	hc->accepted = c->accepted;
	hc->ended = c->ended;
	hc->peer = c->peer;
	hc->subject = c->subject;
}

void ucwa_hist_conv(struct conv *c)
{
	struct hist_conv hc;

	hist_conv_of(&hc, c);
	session_hist_conv(&c->app->s, &hc);
	c->hid = hc.hid;
}

void ucwa_hist_message(struct conv *c, bool incoming, const char *text,
		       size_t len, uint64_t time_ms, uint64_t seq)
{
	if (!c->hid)
		ucwa_hist_conv(c);
	session_hist_message(&c->app->s, c->hid, incoming, text, len, time_ms,
			     seq);
}

void ucwa_hist_restore_convs(struct app *app)
{
	struct le *le;

	for (le = app->s.hist.head; le; le = le->next) {
		struct hentry *c = le->data;
		struct conv *cv;

		if (c->kind != H_CONV)
			continue;
		if (c->n > app->nconv)
			app->nconv = c->n;
		if (c->ended)
			continue;
		cv = ucwa_conv_restore(app, c->n, c->peer, c->incoming);
		if (!cv)
			continue;
		cv->hid = c->serial;
		cv->accepted = c->accepted;
		cv->nmsg = c->count;
		cv->first_seq = c->firstseq;
		(void)re_snprintf(cv->subject, sizeof(cv->subject), "%s",
				  c->subject);
	}
}
