/**
 * @file post.c  Events of an application's resources, posted one way
 *
 * An event names its sender (the resource that reports it) and the
 * resource it is about. The priority follows from the sender, and so
 * does the sender's href when it is a fixed resource of the application:
 * both are declared once in the table below, not at every post.
 */
#include <string.h>
#include <re.h>
#include "evchan.h"
#include "ucwa.h"
#include "ucwa_int.h"

/* The senders: their rel, their path under the application (NULL: the
 * poster gives the href) and the priority of their events.
 * Conversations, messages and calls wake an app (high); presence, ours
 * or a contact's, is medium. */
static const struct {
	const char *rel;
	const char *path;
	enum evchan_prio prio;
} senders[] = {
    {"communication", "/communication", EVCHAN_HIGH},
    {"conversation", NULL, EVCHAN_HIGH},
    {"me", "/me", EVCHAN_MEDIUM},
    {"people", "/people", EVCHAN_MEDIUM},
};

int ucwa_post(struct app *app, uint64_t mark, const struct repr_event *ev)
{
	struct evchan_event e;
	char sender[UCWA_HREF_MAX];
	size_t i;
	int err;

	if (!app || !ev || !ev->sender_rel)
		return EINVAL;
	for (i = 0; i < ARRAY_SIZE(senders); i++) {
		if (!strcmp(senders[i].rel, ev->sender_rel))
			break;
	}
	if (i == ARRAY_SIZE(senders))
		return EINVAL;

	e.prio = senders[i].prio;
	e.mark = mark;
	e.ev = *ev;
	if (!ev->sender_href) {
		if (!senders[i].path)
			return EINVAL;
		err = repr_href(sender, sizeof(sender), app->href, "%s",
				senders[i].path);
		if (err)
			return err;
		e.ev.sender_href = sender;
	}
	return evchan_post(app->ev, &e);
}
