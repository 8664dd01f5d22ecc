/**
 * @file parse.c  Reading any client's PIDF into the UCWA presence model
 *
 * Our own documents carry exact values (mob:*); those win. Other clients
 * (baresip, a desk phone, the Front End's merge of several publications)
 * are read from the standard elements: <basic> of every tuple, RFC 4480
 * activities and user-input, and the first note. docs/presence.md has
 * the table.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "pidf.h"
#include "pidf_int.h"

#define N(ns, local) ns "|" local

/* What is being collected as text */
enum field {
	F_NONE = 0,
	F_BASIC,
	F_NOTE,
	F_USER_INPUT,
	F_MOB_AVAIL,
	F_MOB_DEVICE,
	F_MOB_ACTIVITY,
	F_MOB_LOCATION,
	F_MOB_LAST,
};

struct pstate {
	struct pidf_presence *p;
	enum field field;
	int field_depth;
	int activities_depth; /* depth of <rpid:activities>, 0 outside */
	unsigned open, closed;
	bool idle, busy, away, any_activity;
	bool have_avail, have_device, have_activity, have_note;
	char rpid_activity[PIDF_ACTIVITY_MAX + 1]; /* first other token */
	char text[PIDF_NOTE_MAX + 1];
};

/* RFC 4480 section 3.2 activities read as Busy or Away; the others
 * (working, playing, unknown, ...) leave a person available */
static const char *const busy_acts[] = {
    "busy",         "on-the-phone", "meeting",  "appointment",
    "presentation", "performance",  "steering",
};
static const char *const away_acts[] = {
    "away",
    "breakfast",
    "dinner",
    "lunch",
    "meal",
    "holiday",
    "vacation",
    "sleeping",
    "travel",
    "in-transit",
    "permanent-absence",
    "shopping",
};

static const struct {
	const char *rpid;
	const char *ucwa;
} act_names[] = {
    {"on-the-phone", "OnThePhone"},
    {"meeting", "InAMeeting"},
    {"presentation", "Presenting"},
};

static bool in_list(const char *s, const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(s, v[i]))
			return true;
	}

	return false;
}

static void on_activity(struct pstate *st, const char *local)
{
	size_t i;

	/* RFC 4480 section 3.2: <unknown/> says nothing about the person */
	if (!strcmp(local, "unknown"))
		return;

	st->any_activity = true;

	if (in_list(local, busy_acts, ARRAY_SIZE(busy_acts)))
		st->busy = true;
	else if (in_list(local, away_acts, ARRAY_SIZE(away_acts)))
		st->away = true;

	/* The activity string: the first token that says more than the
	 * availability already does */
	if (st->rpid_activity[0] || !strcmp(local, "busy") ||
	    !strcmp(local, "away") || !strcmp(local, "other"))
		return;

	for (i = 0; i < ARRAY_SIZE(act_names); i++) {
		if (!strcmp(local, act_names[i].rpid)) {
			local = act_names[i].ucwa;
			break;
		}
	}

	pidf_copy_text(st->rpid_activity, sizeof(st->rpid_activity), local,
		       strlen(local));
}

static enum field field_of(const char *name)
{
	static const struct {
		const char *name;
		enum field f;
	} map[] = {
	    {N(PIDF_NS, "basic"), F_BASIC},
	    {N(PIDF_NS, "note"), F_NOTE},
	    {N(DM_NS, "note"), F_NOTE},
	    {N(RPID_NS, "user-input"), F_USER_INPUT},
	    {N(PIDF_MOB_NS, "availability"), F_MOB_AVAIL},
	    {N(PIDF_MOB_NS, "deviceType"), F_MOB_DEVICE},
	    {N(PIDF_MOB_NS, "activity"), F_MOB_ACTIVITY},
	    {N(PIDF_MOB_NS, "location"), F_MOB_LOCATION},
	    {N(PIDF_MOB_NS, "lastActive"), F_MOB_LAST},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map); i++) {
		if (!strcmp(name, map[i].name))
			return map[i].f;
	}

	return F_NONE;
}

static void p_start(struct xml_rd *x, const char *name, const char **atts)
{
	struct pstate *st = x->arg;
	enum field f;
	(void)atts;

	if (x->depth == 1) {
		if (strcmp(name, N(PIDF_NS, "presence")))
			xml_fail(x, EPROTO, "not a PIDF document");
		return;
	}

	/* Children of <rpid:activities> are the activity tokens */
	if (st->activities_depth && x->depth == st->activities_depth + 1 &&
	    !strncmp(name, RPID_NS "|", sizeof(RPID_NS))) {
		on_activity(st, name + sizeof(RPID_NS));
		return;
	}

	if (!strcmp(name, N(RPID_NS, "activities"))) {
		if (!st->activities_depth)
			st->activities_depth = x->depth;
		return;
	}

	if (st->field != F_NONE)
		return;

	f = field_of(name);
	if (f == F_NONE)
		return;

	st->field = f;
	st->field_depth = x->depth;
	xml_text_begin(x);
}

static void on_field(struct pstate *st, const char *s, size_t n)
{
	struct pidf_presence *p = st->p;
	struct pl pl = {.p = s, .l = n};
	uint64_t v;

	switch (st->field) {

	case F_BASIC:
		/* RFC 3863 section 4.1.4 */
		if (!pl_strcmp(&pl, "open"))
			++st->open;
		else if (!pl_strcmp(&pl, "closed"))
			++st->closed;
		break;

	case F_NOTE:
		/* The first note wins: ours come first in our documents */
		if (!st->have_note) {
			pidf_copy_text(p->note, sizeof(p->note), s, n);
			st->have_note = true;
		}
		break;

	case F_USER_INPUT:
		/* RFC 4480 section 3.7 */
		if (!pl_strcmp(&pl, "idle"))
			st->idle = true;
		break;

	case F_MOB_AVAIL:
		if (!st->have_avail && !pidf_avail_decode(&p->avail, &pl))
			st->have_avail = true;
		break;

	case F_MOB_DEVICE:
		if (!st->have_device && !pidf_device_decode(&p->device, &pl))
			st->have_device = true;
		break;

	case F_MOB_ACTIVITY:
		if (!st->have_activity) {
			pidf_copy_text(p->activity, sizeof(p->activity), s, n);
			st->have_activity = true;
		}
		break;

	case F_MOB_LOCATION:
		if (!p->location[0]) {
			size_t i, chars = 0;

			/* Cut at PIDF_LOCATION_MAX characters */
			for (i = 0; i < n; i++) {
				if (((uint8_t)s[i] & 0xc0) != 0x80 &&
				    ++chars > PIDF_LOCATION_MAX)
					break;
			}
			pidf_copy_text(p->location, sizeof(p->location), s, i);
		}
		break;

	case F_MOB_LAST:
		/* A decimal number of ms; anything else is ignored */
		v = pl_u64(&pl);
		if (!p->last_active && n && n <= 19 &&
		    strspn(s, "0123456789") >= n)
			p->last_active = v;
		break;

	default:
		break;
	}
}

static void p_end(struct xml_rd *x, const char *name)
{
	struct pstate *st = x->arg;
	const char *s;
	size_t n;
	(void)name;

	if (st->activities_depth == x->depth)
		st->activities_depth = 0;

	if (st->field == F_NONE || st->field_depth != x->depth)
		return;

	x->capture = false;
	xml_text_trim(x, &s, &n);
	on_field(st, s, n);
	st->field = F_NONE;
}

/* Availability from the standard elements (no exact value of ours) */
static enum pidf_avail derive(const struct pstate *st)
{
	/* RFC 3863: a tuple open anywhere means reachable somewhere */
	if (!st->open && st->closed)
		return PIDF_OFFLINE;
	if (!st->open && !st->any_activity)
		return PIDF_UNKNOWN;

	if (st->busy)
		return st->idle ? PIDF_IDLE_BUSY : PIDF_BUSY;
	if (st->away)
		return PIDF_AWAY;

	return st->idle ? PIDF_IDLE_ONLINE : PIDF_ONLINE;
}

static bool blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!strchr(" \t\r\n", s[i]) || !s[i])
			return false;
	}

	return true;
}

int pidf_parse(struct pidf_presence *p, const char *body, size_t len,
	       const char **why)
{
	struct pidf_presence res;
	struct pstate *st = NULL;
	struct xml_rd x;
	int err;

	if (!p || (!body && len))
		return EINVAL;

	memset(&res, 0, sizeof(res));

	/* No body: nothing published, or a polite-block neutral answer */
	if (blank(body, len)) {
		res.avail = PIDF_OFFLINE;
		goto done;
	}

	st = mem_zalloc(sizeof(*st), NULL);
	if (!st)
		return ENOMEM;

	memset(&x, 0, sizeof(x));
	st->p = &res;
	x.arg = st;
	x.starth = p_start;
	x.endh = p_end;
	x.lim = &pidf_xml_limits;
	x.text = st->text;
	x.text_max = PIDF_NOTE_MAX;
	x.text_cut = true; /* a longer note is cut, not refused */

	err = xml_parse(&x, body, len);
	if (err) {
		if (why)
			*why = x.why;
		goto out;
	}

	if (!st->have_avail)
		res.avail = derive(st);
	if (!st->have_activity && st->rpid_activity[0])
		pidf_copy_text(res.activity, sizeof(res.activity),
			       st->rpid_activity, strlen(st->rpid_activity));

done:
	*p = res;
	err = 0;

out:
	mem_deref(st);
	return err;
}
