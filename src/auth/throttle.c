/**
 * @file throttle.c  Throttling of failed sign-ins
 *
 * One entry per key (a user at a client address, or an address) that
 * failed recently. Entries sit in a hash for lookup and in one of two
 * lists: unlocked ones in order of their last failure, locked ones in the
 * order they were locked. The table is bounded: a new key first takes the
 * place of the oldest unlocked entry, then of a locked one whose lock has
 * run out; a lock still running is never forgotten, so a flood of junk
 * keys cannot free a locked user (the new key is then not tracked, and the
 * address throttle still counts its attempts).
 */
#include <string.h>
#include <re.h>
#include "auth.h"

enum {
	THROTTLE_BUCKETS = 4096,
	THROTTLE_SCAN = 16, /* locked entries looked at for an expired one */
};

struct tentry {
	struct le he; /* in the hash               */
	struct le le; /* in t->age or in t->locked */
	char *key;
	uint64_t window_start;
	uint64_t locked_until;
	uint32_t fails;
	bool locked; /* in t->locked */
};

struct throttle {
	struct hash *hash;
	struct list age;    /* unlocked, oldest failure first */
	struct list locked; /* locked, first locked first     */
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
	list_flush(&t->locked);
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

static void forget(struct throttle *t, struct tentry *e)
{
	--t->n;
	mem_deref(e);
}

/* Make room for one key: the oldest unlocked entry, else a locked one
 * whose lock has run out. False when every entry is locked now. */
static bool make_room(struct throttle *t, uint64_t now_s)
{
	struct le *le;
	unsigned i;

	if (t->n < t->max)
		return true;
	if (t->age.head) {
		forget(t, t->age.head->data);
		return true;
	}
	for (le = t->locked.head, i = 0; le && i < THROTTLE_SCAN;
	     le = le->next, i++) {
		struct tentry *e = le->data;

		if (e->locked_until <= now_s) {
			forget(t, e);
			return true;
		}
	}
	return false;
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
		if (!make_room(t, now_s))
			return;
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
		e->locked = true;
	}
	list_append(e->locked ? &t->locked : &t->age, &e->le, e);
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

	if (e)
		forget(t, e);
}

size_t throttle_count(const struct throttle *t)
{
	return t ? t->n : 0;
}

int throttle_addr_key(char *buf, size_t size, const struct sa *addr)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
					     0, 0, 0, 0, 0xff, 0xff};
	uint8_t b[16];
	int n;

	if (!buf || !size || !addr)
		return EINVAL;

	if (sa_af(addr) == AF_INET6)
		sa_in6(addr, b);
	if (sa_af(addr) != AF_INET6 || sa_is_linklocal(addr)) {
		/* IPv4, or an IPv6 link-local address: the whole address */
		n = re_snprintf(buf, size, "%j", addr);
	} else if (!memcmp(b, v4mapped, sizeof(v4mapped))) {
		/* IPv4 on a dual-stack socket: the IPv4 address */
		n = re_snprintf(buf, size, "%u.%u.%u.%u", b[12], b[13], b[14],
				b[15]);
	} else {
		/* IPv6: a host usually holds a whole /64 (RFC 4291 2.5.1,
		 * privacy addresses of RFC 8981), so one client is its /64 */
		n = re_snprintf(buf, size,
				"%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
				b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
	}
	return n < 0 || (size_t)n >= size ? EOVERFLOW : 0;
}
