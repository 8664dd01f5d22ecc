/**
 * @file pidf.c  The presence model, its names, and the PIDF we publish
 *
 * One document carries the state two ways (docs/presence.md):
 *
 *  - standard elements any presence client reads: <basic> open/closed
 *    (RFC 3863 section 4.1.4), RFC 4480 <activities> (busy, away,
 *    on-the-phone, ...) in an RFC 4479 <dm:person>, <rpid:user-input>
 *    idle for the idle availabilities, the note as a <note> (RFC 3863
 *    section 4.1.6);
 *  - the exact UCWA values in our namespace inside the tuple (an RFC 3863
 *    extension point), for values the standards have no word for
 *    (BeRightBack, Offwork, DoNotDisturb, Mobile, the location).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "repr.h"
#include "pidf.h"
#include "pidf_int.h"

static const char *const avail_names[] = {
    [PIDF_UNKNOWN] = "Unknown",    [PIDF_ONLINE] = "Online",
    [PIDF_BUSY] = "Busy",          [PIDF_DND] = "DoNotDisturb",
    [PIDF_BRB] = "BeRightBack",    [PIDF_AWAY] = "Away",
    [PIDF_OFFWORK] = "Offwork",    [PIDF_IDLE_ONLINE] = "IdleOnline",
    [PIDF_IDLE_BUSY] = "IdleBusy", [PIDF_OFFLINE] = "Offline",
};

static const char *const device_names[] = {
    [PIDF_DEV_UNKNOWN] = "Unknown", [PIDF_DEV_PC] = "PC",
    [PIDF_DEV_MOBILE] = "Mobile",   [PIDF_DEV_DESKPHONE] = "DeskPhone",
    [PIDF_DEV_WEB] = "Web",
};

/*
 * UCWA activity tokens with an RFC 4480 section 3.2 equivalent; other
 * activities travel only in our namespace. The element names are literals
 * because the writer keeps them.
 */
static const struct {
	const char *ucwa;
	const char *rpid; /* local name */
	const char *elem; /* qualified name we write */
} activity_map[] = {
    {"OnThePhone", "on-the-phone", "rpid:on-the-phone"},
    {"InAMeeting", "meeting", "rpid:meeting"},
    {"Presenting", "presentation", "rpid:presentation"},
};

const char *pidf_avail_name(enum pidf_avail a)
{
	if ((size_t)a >= ARRAY_SIZE(avail_names))
		return "Unknown";

	return avail_names[a];
}

int pidf_avail_decode(enum pidf_avail *ap, const struct pl *name)
{
	size_t i;

	if (!ap || !name)
		return EINVAL;

	for (i = 0; i < ARRAY_SIZE(avail_names); i++) {
		if (!pl_strcmp(name, avail_names[i])) {
			*ap = (enum pidf_avail)i;
			return 0;
		}
	}

	return EINVAL;
}

const char *pidf_device_name(enum pidf_device d)
{
	if ((size_t)d >= ARRAY_SIZE(device_names))
		return "Unknown";

	return device_names[d];
}

int pidf_device_decode(enum pidf_device *dp, const struct pl *name)
{
	size_t i;

	if (!dp || !name)
		return EINVAL;

	for (i = 0; i < ARRAY_SIZE(device_names); i++) {
		if (!pl_strcmp(name, device_names[i])) {
			*dp = (enum pidf_device)i;
			return 0;
		}
	}

	return EINVAL;
}

/* Characters of possibly ill-formed UTF-8: every byte that does not
 * continue a sequence starts one (as U+FFFD would, when written). */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (((uint8_t)s[i] & 0xc0) != 0x80)
			++n;
	}

	return n;
}

static int set_text(char *dst, size_t size, const char *s, size_t len)
{
	if (!s && len)
		return EINVAL;
	if (len >= size)
		return EMSGSIZE;

	if (len)
		memcpy(dst, s, len);
	dst[len] = '\0';

	return 0;
}

int pidf_set_note(struct pidf_presence *p, const char *s, size_t len)
{
	if (!p)
		return EINVAL;

	return set_text(p->note, sizeof(p->note), s, len);
}

int pidf_set_location(struct pidf_presence *p, const char *s, size_t len)
{
	if (!p || (!s && len))
		return EINVAL;

	/* UCWA counts characters (PROTOCOL.md: at most 60) */
	if (len && utf8_chars(s, len) > PIDF_LOCATION_MAX)
		return EMSGSIZE;

	return set_text(p->location, sizeof(p->location), s, len);
}

int pidf_set_activity(struct pidf_presence *p, const char *s, size_t len)
{
	if (!p)
		return EINVAL;

	return set_text(p->activity, sizeof(p->activity), s, len);
}

static bool valid_id(const char *id)
{
	size_t i, n;

	if (!id)
		return false;

	n = strlen(id);
	if (!n || n > PIDF_ID_MAX)
		return false;

	/* An XML ID (NCName) in the restricted ASCII form we need */
	for (i = 0; i < n; i++) {
		char c = id[i];
		bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool digit = c >= '0' && c <= '9';

		if (!letter && (i == 0 || !(digit || strchr("-_.", c))))
			return false;
	}

	return true;
}

/* An element holding only escaped text */
static int text_elem(struct xmlw *w, const char *name, const char *s)
{
	int err;

	err = xmlw_start(w, name);
	err |= xmlw_text(w, s, strlen(s));
	err |= xmlw_end(w);

	return err ? (err == ENOMEM ? ENOMEM : EINVAL) : 0;
}

/* The RFC 4480 activity standing for an availability, or NULL */
static const char *avail_rpid(enum pidf_avail a)
{
	switch (a) {

	case PIDF_BUSY:
	case PIDF_IDLE_BUSY:
	case PIDF_DND:
		/* RFC 4480 has no do-not-disturb: busy is the nearest */
		return "rpid:busy";
	case PIDF_BRB:
	case PIDF_AWAY:
	case PIDF_OFFWORK:
		return "rpid:away";
	case PIDF_UNKNOWN:
		return "rpid:unknown";
	default:
		return NULL;
	}
}

static const char *activity_rpid(const char *activity)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(activity_map); i++) {
		if (!strcmp(activity, activity_map[i].ucwa))
			return activity_map[i].elem;
	}

	return NULL;
}

static int write_tuple(struct xmlw *w, const char *tid,
		       const struct pidf_presence *p)
{
	char buf[32];
	int err;

	err = xmlw_start(w, "tuple");
	err |= xmlw_attr(w, "id", tid);

	/* RFC 3863 section 4.1.4: closed = cannot accept communication.
	 * Unknown leaves <basic> out (it is optional in <status>). */
	err |= xmlw_start(w, "status");
	if (p->avail != PIDF_UNKNOWN)
		err |= text_elem(w, "basic",
				 p->avail == PIDF_OFFLINE ? "closed" : "open");
	err |= xmlw_end(w);
	if (err)
		goto out;

	/* Extension elements go after <status>, before <note> (RFC 3863
	 * section 4.1.1 schema) */
	if (p->avail == PIDF_IDLE_ONLINE || p->avail == PIDF_IDLE_BUSY) {
		/* RFC 4480 section 3.7 */
		err = text_elem(w, "rpid:user-input", "idle");
		if (err)
			goto out;
	}

	err = text_elem(w, "mob:availability", pidf_avail_name(p->avail));
	err |= text_elem(w, "mob:deviceType", pidf_device_name(p->device));
	if (err)
		goto out;

	if (p->activity[0]) {
		err = text_elem(w, "mob:activity", p->activity);
		if (err)
			goto out;
	}
	if (p->location[0]) {
		err = text_elem(w, "mob:location", p->location);
		if (err)
			goto out;
	}
	if (p->last_active) {
		(void)snprintf(buf, sizeof(buf), "%" PRIu64, p->last_active);
		err = text_elem(w, "mob:lastActive", buf);
		if (err)
			goto out;
	}
	if (p->note[0]) {
		err = text_elem(w, "note", p->note);
		if (err)
			goto out;
	}

	err = xmlw_end(w);

out:
	return err;
}

static int write_person(struct xmlw *w, const char *pid,
			const struct pidf_presence *p)
{
	const char *a = avail_rpid(p->avail);
	const char *b = p->activity[0] ? activity_rpid(p->activity) : NULL;
	int err;

	err = xmlw_start(w, "dm:person");
	err |= xmlw_attr(w, "id", pid);

	/* RFC 4480 section 3.2: several activities may hold at once */
	if (a || b) {
		err |= xmlw_start(w, "rpid:activities");
		if (a) {
			err |= xmlw_start(w, a);
			err |= xmlw_end(w);
		}
		if (b) {
			err |= xmlw_start(w, b);
			err |= xmlw_end(w);
		}
		err |= xmlw_end(w);
	}

	/* RFC 4479 section 3.2: the person's note, for data-model readers */
	if (p->note[0])
		err |= text_elem(w, "dm:note", p->note);

	err |= xmlw_end(w);

	return err ? (err == ENOMEM ? ENOMEM : EINVAL) : 0;
}

int pidf_build(struct mbuf *mb, const char *entity, const char *id,
	       const struct pidf_presence *p)
{
	char tid[PIDF_ID_MAX + 2], pid[PIDF_ID_MAX + 2];
	size_t pos, end;
	struct xmlw w;
	int err;

	if (!mb || !entity || !p || !valid_id(id))
		return EINVAL;
	if ((size_t)p->avail > PIDF_OFFLINE ||
	    (size_t)p->device > PIDF_DEV_WEB ||
	    !memchr(p->note, '\0', sizeof(p->note)) ||
	    !memchr(p->location, '\0', sizeof(p->location)) ||
	    !memchr(p->activity, '\0', sizeof(p->activity)))
		return EINVAL;

	pos = mb->pos;
	end = mb->end;
	(void)snprintf(tid, sizeof(tid), "t%s", id);
	(void)snprintf(pid, sizeof(pid), "p%s", id);

	xmlw_init(&w, mb);
	err = xmlw_start(&w, "presence");
	err |= xmlw_attr(&w, "xmlns", PIDF_NS);
	err |= xmlw_attr(&w, "xmlns:dm", DM_NS);
	err |= xmlw_attr(&w, "xmlns:rpid", RPID_NS);
	err |= xmlw_attr(&w, "xmlns:mob", PIDF_MOB_NS);
	err |= xmlw_attr(&w, "entity", entity);
	if (err)
		goto out;

	err = write_tuple(&w, tid, p);
	if (err)
		goto out;

	err = write_person(&w, pid, p);
	if (err)
		goto out;

	err = xmlw_end(&w);

out:
	if (err) {
		/* errors were or-ed: anything but ENOMEM alone is misuse */
		err = err == ENOMEM ? ENOMEM : (w.mb ? EINVAL : ENOMEM);
		mb->pos = pos;
		mb->end = end;
	}

	return err;
}

const struct xml_limits pidf_xml_limits = {
    .bytes = PIDF_BODY_MAX,
    .depth = PIDF_DEPTH_MAX,
    .elems = PIDF_ELEMENTS_MAX,
    .attrs = PIDF_ATTRS_MAX,
    .attr_len = PIDF_ATTR_LEN_MAX,
};

void pidf_copy_text(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size) {
		len = size - 1;
		while (len > 0 && ((uint8_t)s[len] & 0xc0) == 0x80)
			--len;
	}

	/* A cut may leave white space at the end, which a parse of the
	 * text written again would drop: drop it now */
	while (len > 0 && s[len - 1] && strchr(" \t\r\n", s[len - 1]))
		--len;

	memcpy(dst, s, len);
	dst[len] = '\0';
}
