/**
 * @file psub_store.c  Presence subscriptions kept across a restart
 *
 * Each presence subscription of a session is one subscription record of
 * the store (store_sub_put, under its number):
 * {"minutes":11,"ends":<ms since the epoch>,"uris":[...]}. After a restart
 * each one not yet run out comes back with the time it had left and its
 * contacts followed again; one that ran out meanwhile is deleted.
 */
#include <string.h>
#include <re.h>
#include "repr.h"
#include "store.h"
#include "ucwa.h"
#include "ucwa_int.h"
#include "psub_int.h"

/* a record of the most contacts must still be readable at restore */
_Static_assert(UCWA_PSUB_MEMBERS_MAX *(UCWA_URI_MAX + 3) + 64 <
		   REPR_IN_MAX_BYTES,
	       "a presence subscription's record would not be read back");

/* A subscription's key in the store: its id in decimal, which always
 * fits (at most 10 digits). */
enum { SUBID_SIZE = sizeof("4294967295") };

static const char *subid(char *buf, unsigned id)
{
	(void)re_snprintf(buf, SUBID_SIZE, "%u", id);
	return buf;
}

static void saved(int err, void *arg)
{
	struct psub *ps = arg;
	struct web_req *req = ps->req;
	psub_done_h *done = ps->done;

	ps->save = mem_deref(ps->save);
	ps->req = NULL;
	ps->done = NULL;
	if (req)
		web_req_set_cancel(req, NULL, NULL);
	if (err && err != ENOENT)
		log_notice("ucwa: presence subscription %u of %s: its record "
			   "was not written: %m",
			   ps->id, ps->app->id, err);
	done(ps, req, err);
	mem_deref(req);
}

/*
 * The store keeps each presence subscription of a session (its duration,
 * end and contacts) so that it outlives a restart of the service; the
 * answer to a change waits for the commit (nothing acknowledged to an
 * app is lost).
 */
void psub_save(struct psub *ps, struct web_req *req, psub_done_h *done)
{
	struct mbuf *mb = mbuf_alloc(256);
	char key[SUBID_SIZE];
	struct le *le;
	int err;

	err = mb ? mbuf_printf(mb, "{\"minutes\":%u,\"ends\":%llu,\"uris\":[",
			       ps->minutes, (unsigned long long)ps->ends_ms)
		 : ENOMEM;
	/* the URIs hold no quote, backslash or control (ucwa_contact_uri) */
	for (le = ps->members.head; le && !err; le = le->next) {
		const struct member *m = le->data;
		err = mbuf_printf(mb, "%s\"%s\"",
				  le == ps->members.head ? "" : ",",
				  ucwa_watched_uri(m->w));
	}
	if (!err)
		err = mbuf_write_str(mb, "]}");
	/* one change at a time (the handlers refuse a second meanwhile) */
	ps->save = mem_deref(ps->save);
	if (!err)
		err = store_sub_put(ps->app->u->st, ps->app->id,
				    subid(key, ps->id), mb->buf, mb->end, saved,
				    ps, &ps->save);
	mem_deref(mb);
	if (err) {
		log_notice(
		    "ucwa: presence subscription %u of %s not stored: %m",
		    ps->id, ps->app->id, err);
		done(ps, req, err);
		return;
	}
	if (req)
		psub_hold(ps, req);
	ps->done = done;
}

void psub_remove(struct psub *ps, struct web_req *req, psub_done_h *done)
{
	char key[SUBID_SIZE];
	int err;

	ps->save = mem_deref(ps->save);
	err = store_sub_del(ps->app->u->st, ps->app->id, subid(key, ps->id),
			    saved, ps, &ps->save);
	if (err) {
		done(ps, req, err);
		return;
	}
	if (req)
		psub_hold(ps, req);
	ps->done = done;
}

/* Its record out of the store (nobody waits for the commit). */
static void sub_del(struct app *app, unsigned id)
{
	char key[SUBID_SIZE];

	(void)store_sub_del(app->u->st, app->id, subid(key, id), NULL, NULL,
			    NULL);
}

/* It ended for good: out of the store, then gone. */
void psub_end(struct psub *ps)
{
	sub_del(ps->app, ps->id);
	mem_deref(ps);
}

/* One stored presence subscription, back after a restart: its contacts
 * are followed again (its list subscribed again; the list itself is still
 * on the XCAP server), with the time it had left. */
static bool psub_record(const uint8_t *key, size_t klen, const uint8_t *val,
			size_t len, void *arg)
{
	struct app *app = arg;
	const struct pl body = {(const char *)val, len};
	const struct pl kpl = {(const char *)key, klen};
	struct repr_in *in = NULL;
	struct psub *ps = NULL;
	int64_t minutes, ends;
	const char *why;
	unsigned id = pl_u32(&kpl);
	struct pl v;
	size_t i;
	int err;

	err = repr_in_json(&in, &body, &why);
	if (!err && (repr_in_int(in, "minutes", &minutes) ||
		     repr_in_int(in, "ends", &ends) || !id || klen > 9 ||
		     minutes < UCWA_PSUB_MINUTES_MIN ||
		     minutes > UCWA_PSUB_MINUTES_MAX))
		err = EINVAL;
	if (!err && (uint64_t)ends <= psub_now_ms()) {
		/* ran out while the service was down */
		sub_del(app, id);
		err = ETIMEDOUT;
	}
	if (!err) {
		ps = psub_alloc(app);
		err = ps ? 0 : ENOMEM;
	}
	if (err)
		goto out;

	ps->minutes = (uint32_t)minutes;
	ps->ends_ms = (uint64_t)ends;
	ps->stored = plist_mode(app);
	/* a contact that cannot be followed now is left out */
	for (i = 0; !repr_in_strv(in, "uris", i, &v); i++) {
		char uri[UCWA_URI_MAX + 1];

		if (ucwa_contact_uri(uri, sizeof(uri), &v, false))
			(void)psub_member_add(ps, uri, !ps->stored);
	}
	err = psub_add(app, ps, id);
	if (err)
		goto out;
	if (id > app->psub_next)
		app->psub_next = id;
	if (ps->stored)
		err = plist_subscribe(ps);
	ps->live = true;
	psub_arm(ps);
	ps = NULL;

out:
	if (err && err != ETIMEDOUT)
		log_warn("ucwa: presence subscription %b of %s not restored: "
			 "%m",
			 key, klen, app->id, err);
	mem_deref(ps);
	mem_deref(in);
	return false;
}

static void psub_listed(int err, void *arg)
{
	struct app *app = arg;

	app->psub_op = mem_deref(app->psub_op);
	if (err)
		log_warn("ucwa: presence subscriptions of %s not read: %m",
			 app->id, err);
}

void ucwa_psub_restore(struct app *app)
{
	int err = store_sub_list(app->u->st, app->id, psub_record, psub_listed,
				 app, &app->psub_op);
	if (err)
		psub_listed(err, app);
}
