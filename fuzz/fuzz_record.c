/**
 * @file fuzz_record.c  libFuzzer driver: stored records read at restore
 *
 * What the store hands back after a restart is input too (another
 * version of the service wrote it, or the disk did). The first byte
 * selects the kind of record, the rest is laid out as the store gives it:
 *
 *   0  an application record (the value of store_session_load()), to
 *      ucwa_app_restore(): the identity fields, the presence state
 *      (ucwa_me_decode()), the push registration (ucwa_pushreg_decode()),
 *      the event numbering and the last contact, then the lifetime check,
 *      the event channel and the registry
 *   1  a history record: one byte n, then n bytes of key, then the value,
 *      to hist.c's hist_record() (as store_hist_list() calls it)
 *
 * The service around the application is what ucwa_app_restore() touches:
 * a registry (struct ucwa) with a configuration (the lifetimes), a timer
 * wheel, and no store: the restored application asks the store for its
 * HA1, is refused, and is closed, which is how a restore that cannot go
 * on ends. hist.c is included to reach its static record reader.
 * Presence subscription and event records need the SIP and store sides
 * running (a restored subscription subscribes again at once) and are not
 * read here.
 *
 * Invariants checked: no application is left in the registry; history
 * entries restored are in order of their last time, with a peer of at
 * most UCWA_URI_MAX bytes and NUL-terminated texts.
 */
#include "../src/session/hist.c"
#include "ucwa.h"
#include "../src/ucwa/ucwa_int.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf conf;
static struct ucwa u;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (libre_init())
		abort();
	log_set_level(LOG_ERROR + 1);
	/* the defaults (docs/configuration.md) */
	conf.session_expiration_ms = 259200u * 1000;
	conf.session_short_expiration_ms = 3600u * 1000;
	u.conf = &conf;
	if (hash_alloc(&u.apps, 64) || hash_alloc(&u.users, 64) ||
	    wheel_alloc(&u.wheel, 1000, 256, false))
		abort();
	/* what the sessions share (as ucwa_alloc() sets it; no store) */
	u.sctx.conf = &conf;
	u.sctx.wheel = u.wheel;
	u.sctx.ops = &ucwa_session_ops;
	return 0;
}

/* What the loop would do next: free the applications closed. */
static void drain(void)
{
	struct le *le;

	while ((le = list_head(&u.closing))) {
		struct app *app = le->data;

		list_unlink(&app->le_user);
		mem_deref(app);
	}
}

static void app_record(const uint8_t *val, size_t len)
{
	(void)ucwa_app_restore(&u, val, len, NULL);
	drain();
	if (u.n || !list_isempty(&u.closing))
		abort();
}

static void hist_check(const struct session *s)
{
	const struct le *le;
	uint64_t last = 0;

	for (le = list_head(&s->hist); le; le = le->next) {
		const struct hentry *h = le->data;

		if (h->last < last ||
		    strnlen(h->peer, sizeof(h->peer)) == sizeof(h->peer) ||
		    strnlen(h->text, sizeof(h->text)) == sizeof(h->text) ||
		    strnlen(h->subject, sizeof(h->subject)) ==
			sizeof(h->subject) ||
		    strnlen(h->type, sizeof(h->type)) == sizeof(h->type))
			abort();
		last = h->last;
	}
}

static void hist(const uint8_t *data, size_t size)
{
	struct app *app = mem_zalloc(sizeof(*app), NULL);
	size_t klen;
	uint8_t *key = NULL, *val = NULL;

	if (!app || !size)
		goto out;
	klen = data[0];
	if (klen > size - 1)
		klen = size - 1;
	/* key and value each in a buffer of exactly their size */
	key = malloc(klen ? klen : 1);
	val = malloc(size - 1 - klen ? size - 1 - klen : 1);
	if (!key || !val)
		goto out;
	memcpy(key, data + 1, klen);
	memcpy(val, data + 1 + klen, size - 1 - klen);
	(void)re_snprintf(app->id, sizeof(app->id), "fuzz");
	session_init(&app->s, &u.sctx);

	/* twice: a second record lands among the first */
	(void)hist_record(key, klen, val, size - 1 - klen, &app->s);
	(void)hist_record(key, klen, val, size - 1 - klen, &app->s);
	hist_check(&app->s);
	session_close(&app->s);
out:
	free(key);
	free(val);
	mem_deref(app);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (!size)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	switch (copy[0]) {
	case 0:
		app_record(copy + 1, size - 1);
		break;
	case 1:
		hist(copy + 1, size - 1);
		break;
	default:
		break;
	}
	free(copy);
	return 0;
}
