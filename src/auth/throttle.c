/**
 * @file throttle.c  Throttling of failed sign-ins
 *
 * One entry per key (a user, or a client address) that failed recently.
 * Entries sit in a hash for lookup and in a list in order of their last
 * failure, so the table stays bounded by forgetting the oldest first.
 */
#include <string.h>
#include <re.h>
#include "auth.h"

enum {
	THROTTLE_BUCKETS = 4096,
};

struct tentry {
	struct le he; /* in the hash           */
	struct le le; /* in the age list       */
	char *key;
	uint64_t window_start;
	uint64_t locked_until;
	uint32_t fails;
};

struct throttle {
	struct hash *hash;
	struct list age; /* oldest failure first */
	size_t n, max;
	uint32_t max_fails, window, lock, lock_max;
};

static void entry_destructor(void *arg)
{
	struct tentry *e = arg;

	hash_unlink(&e->he);
	list_unlink(&e->le);
	mem_deref(e->key);
}

static void destructor(void *arg)
{
	struct throttle *t = arg;

	list_flush(&t->age);
	mem_deref(t->hash);
}

int throttle_alloc(struct throttle **tp, uint32_t max_fails, uint32_t window_s,
		   uint32_t lock_s, uint32_t lock_max_s, size_t max_keys)
{
	struct throttle *t;
	int err;

	if (!tp || !max_fails || !max_keys)
		return EINVAL;

	t = mem_zalloc(sizeof(*t), destructor);
	if (!t)
		return ENOMEM;

	t->max = max_keys;
	t->max_fails = max_fails;
	t->window = window_s;
	t->lock = lock_s;
	t->lock_max = lock_max_s;
	err = hash_alloc(&t->hash, THROTTLE_BUCKETS);
	if (err)
		mem_deref(t);
	else
		*tp = t;
	return err;
}

static bool key_cmp(struct le *le, void *arg)
{
	const struct tentry *e = le->data;
	return !strcmp(e->key, arg);
}

static struct tentry *find(struct throttle *t, const char *key)
{
	return list_ledata(
	    hash_lookup(t->hash, hash_joaat_str(key), key_cmp, (void *)key));
}

uint32_t throttle_wait(struct throttle *t, const char *key, uint64_t now_s)
{
	struct tentry *e;

	if (!t || !key)
		return 0;
	e = find(t, key);
	if (!e || e->locked_until <= now_s)
		return 0;
	return (uint32_t)(e->locked_until - now_s);
}

void throttle_fail(struct throttle *t, const char *key, uint64_t now_s)
{
	struct tentry *e;

	if (!t || !key)
		return;

	e = find(t, key);
	if (!e) {
		if (t->n >= t->max) { /* forget the oldest failure */
			mem_deref(list_ledata(list_head(&t->age)));
			--t->n;
		}
		e = mem_zalloc(sizeof(*e), entry_destructor);
		if (!e || str_dup(&e->key, key)) {
			mem_deref(e);
			return;
		}
		++t->n;
		hash_append(t->hash, hash_joaat_str(key), &e->he, e);
		e->window_start = now_s;
	} else {
		list_unlink(&e->le);
	}
	list_append(&t->age, &e->le, e);

	/* a quiet window starts the count again */
	if (now_s - e->window_start > t->window && e->locked_until <= now_s) {
		e->window_start = now_s;
		e->fails = 0;
	}

	if (++e->fails >= t->max_fails) {
		/* lock, doubling with each failure past the limit */
		uint32_t extra = e->fails - t->max_fails;
		uint64_t lock =
		    extra >= 20 ? t->lock_max : (uint64_t)t->lock << extra;
		if (lock > t->lock_max)
			lock = t->lock_max;
		e->locked_until = now_s + lock;
	}
}

void throttle_undo(struct throttle *t, const char *key)
{
	struct tentry *e = t && key ? find(t, key) : NULL;

	if (e && e->fails)
		--e->fails;
}

void throttle_clear(struct throttle *t, const char *key)
{
	struct tentry *e = t && key ? find(t, key) : NULL;

	if (e) {
		--t->n;
		mem_deref(e);
	}
}
