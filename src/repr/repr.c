/**
 * @file repr.c  The resource model and the UTF-8 sanitiser
 *
 * Each link and property is one allocation: the struct followed by copies of
 * its strings. Strings are sanitised once, on the way in, so the JSON and
 * XML encoders see the same valid UTF-8.
 */
#include <string.h>
#include <re.h>
#include "repr.h"
#include "repr_int.h"

/* U+FFFD REPLACEMENT CHARACTER */
static const char utf8_repl[] = "\xef\xbf\xbd";

size_t repr_utf8_decode(const uint8_t *p, size_t len, uint32_t *cp)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}

	/*
	 * RFC 3629 section 4: narrowing the range of the second byte for
	 * E0, ED, F0 and F4 rejects overlongs, surrogates and > U+10FFFF;
	 * C0, C1 and F5..FF never start a sequence.
	 */
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		v = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		v = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		*cp = REPR_UTF8_INVALID;
		return 1;
	}

	for (i = 1; i <= need; i++) {
		/* Unicode "maximal subpart": stop before the offending byte */
		if (i >= len || p[i] < lo || p[i] > hi) {
			*cp = REPR_UTF8_INVALID;
			return i;
		}
		v = (v << 6) | (p[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}

	*cp = v;
	return need + 1;
}

/*
 * Length of s once each ill-formed sequence becomes U+FFFD. Every string
 * of every resource comes through here and through utf8_clean_copy():
 * ASCII, nearly all of it, is taken a byte at a time without a call.
 */
static size_t utf8_clean_len(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, out = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (p[i] < 0x80) {
			++i;
			++out;
			continue;
		}
		n = repr_utf8_decode(p + i, len - i, &cp);
		out += cp == REPR_UTF8_INVALID ? sizeof(utf8_repl) - 1 : n;
		i += n;
	}

	return out;
}

/* Copy s to dst the same way, valid runs in one memcpy each; returns the
 * end of the copy. */
static char *utf8_clean_copy(char *dst, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, run = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (p[i] < 0x80) {
			++i;
			continue;
		}
		n = repr_utf8_decode(p + i, len - i, &cp);
		if (cp == REPR_UTF8_INVALID) {
			memcpy(dst, s + run, i - run);
			dst += i - run;
			memcpy(dst, utf8_repl, sizeof(utf8_repl) - 1);
			dst += sizeof(utf8_repl) - 1;
			run = i + n;
		}
		i += n;
	}
	if (len > run) /* s may be NULL when len is 0 */
		memcpy(dst, s + run, len - run);

	return dst + (len - run);
}

int repr_utf8_dup(char **dstp, const char *s, size_t len)
{
	char *dst, *end;

	if (!dstp || (len && !s))
		return EINVAL;
	dst = mem_alloc(utf8_clean_len(s, len) + 1, NULL);
	if (!dst)
		return ENOMEM;
	end = utf8_clean_copy(dst, s, len);
	*end = '\0';
	*dstp = dst;
	return 0;
}

/*
 * One allocation per object: first add up the sizes, then allocate, then
 * copy the strings behind the fixed part.
 */
struct pack {
	size_t fixed; /* struct plus any aligned array behind it */
	size_t size;
	char *cur;
	bool overflow;
};

static void pack_init(struct pack *pk, size_t fixed)
{
	pk->fixed = fixed;
	pk->size = fixed;
	pk->cur = NULL;
	pk->overflow = false;
}

static void pack_size(struct pack *pk, const char *s, size_t len)
{
	size_t n;

	if (!s)
		return;

	n = utf8_clean_len(s, len);
	if (n >= SIZE_MAX - pk->size)
		pk->overflow = true;
	else
		pk->size += n + 1;
}

static void pack_put(struct pack *pk, struct rstr *dst, const char *s,
		     size_t len)
{
	char *end;

	if (!s)
		return;

	end = utf8_clean_copy(pk->cur, s, len);
	*end = '\0';
	dst->p = pk->cur;
	dst->len = (size_t)(end - pk->cur);
	pk->cur = end + 1;
}

static void *pack_alloc(struct pack *pk, mem_destroy_h *dh)
{
	void *obj;

	if (pk->overflow)
		return NULL;

	obj = mem_zalloc(pk->size, dh);
	if (obj)
		pk->cur = (char *)obj + pk->fixed;

	return obj;
}

static size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

char *repr_clean_dup(const char *s)
{
	size_t len, n;
	char *d, *end;

	if (!s)
		return NULL;
	len = strlen(s);
	n = utf8_clean_len(s, len);
	d = mem_alloc(n + 1, NULL);
	if (!d)
		return NULL;
	end = utf8_clean_copy(d, s, len);
	*end = '\0';
	return d;
}

static void repr_destructor(void *arg)
{
	struct repr *r = arg;

	list_flush(&r->embeds);
	list_flush(&r->props);
	list_flush(&r->links);
}

static void child_destructor(void *arg)
{
	struct repr_child *c = arg;

	mem_deref(c->r);
	mem_deref((char *)c->key.p);
}

int repr_alloc(struct repr **rp, const char *rel, const char *href)
{
	struct pack pk;
	struct repr *r;

	if (!rp)
		return EINVAL;

	pack_init(&pk, sizeof(*r));
	pack_size(&pk, rel, slen(rel));
	pack_size(&pk, href, slen(href));

	r = pack_alloc(&pk, repr_destructor);
	if (!r)
		return ENOMEM;

	pack_put(&pk, &r->rel, rel, slen(rel));
	pack_put(&pk, &r->href, href, slen(href));

	*rp = r;
	return 0;
}

int repr_link_title(struct repr *r, const char *rel, const char *href,
		    const char *title)
{
	struct repr_link *l;
	struct pack pk;

	if (!r || !rel || !href)
		return EINVAL;

	pack_init(&pk, sizeof(*l));
	pack_size(&pk, rel, strlen(rel));
	pack_size(&pk, href, strlen(href));
	pack_size(&pk, title, slen(title));

	l = pack_alloc(&pk, NULL);
	if (!l)
		return ENOMEM;

	pack_put(&pk, &l->rel, rel, strlen(rel));
	pack_put(&pk, &l->href, href, strlen(href));
	pack_put(&pk, &l->title, title, slen(title));

	list_append(&r->links, &l->le, l);
	return 0;
}

int repr_link(struct repr *r, const char *rel, const char *href)
{
	return repr_link_title(r, rel, href, NULL);
}

/*
 * Allocate a property whose value sizes are already in pk, copy its name
 * and append it. The name must not collide with the JSON members the
 * encoder writes itself, nor with another property: JSON would keep only
 * one of them where XML shows both.
 */
static int prop_new(struct repr_prop **pp, struct repr *r, const char *name,
		    enum repr_ptype type, struct pack *pk)
{
	static const char *const reserved[] = {"rel", "_links", "_embedded"};
	struct repr_prop *p;
	struct le *le;
	size_t i;

	if (!r || !name)
		return EINVAL;

	pack_size(pk, name, strlen(name));
	p = pack_alloc(pk, NULL);
	if (!p)
		return ENOMEM;

	/* Compare sanitised names: two invalid spellings may collide */
	pack_put(pk, &p->name, name, strlen(name));
	p->type = type;

	for (i = 0; i < ARRAY_SIZE(reserved); i++) {
		if (!strcmp(p->name.p, reserved[i])) {
			mem_deref(p);
			return EINVAL;
		}
	}

	LIST_FOREACH(&r->props, le)
	{
		const struct repr_prop *q = le->data;

		if (!strcmp(q->name.p, p->name.p)) {
			mem_deref(p);
			return EEXIST;
		}
	}

	list_append(&r->props, &p->le, p);
	*pp = p;
	return 0;
}

int repr_prop_pl(struct repr *r, const char *name, const struct pl *val)
{
	struct repr_prop *p;
	struct pack pk;
	const char *s;
	int err;

	if (!val || (!val->p && val->l))
		return EINVAL;

	/* An empty pl may have no pointer; it is still a present value */
	s = val->p ? val->p : "";

	pack_init(&pk, sizeof(*p));
	pack_size(&pk, s, val->l);

	err = prop_new(&p, r, name, REPR_PSTR, &pk);
	if (err)
		return err;

	pack_put(&pk, &p->u.str, s, val->l);
	return 0;
}

int repr_prop_str(struct repr *r, const char *name, const char *val)
{
	struct pl pl;

	if (!val)
		return EINVAL;

	pl_set_str(&pl, val);
	return repr_prop_pl(r, name, &pl);
}

int repr_prop_int(struct repr *r, const char *name, int64_t val)
{
	struct repr_prop *p;
	struct pack pk;
	int err;

	pack_init(&pk, sizeof(*p));
	err = prop_new(&p, r, name, REPR_PINT, &pk);
	if (err)
		return err;

	p->u.i = val;
	return 0;
}

int repr_prop_bool(struct repr *r, const char *name, bool val)
{
	struct repr_prop *p;
	struct pack pk;
	int err;

	pack_init(&pk, sizeof(*p));
	err = prop_new(&p, r, name, REPR_PBOOL, &pk);
	if (err)
		return err;

	p->u.b = val;
	return 0;
}

int repr_prop_date(struct repr *r, const char *name, uint64_t ms)
{
	struct repr_prop *p;
	struct pack pk;
	int err;

	/* Beyond year 9999 ISO 8601 needs an expanded (signed) year form */
	if (ms > REPR_DATE_MAX_MS)
		return EINVAL;

	pack_init(&pk, sizeof(*p));
	err = prop_new(&p, r, name, REPR_PDATE, &pk);
	if (err)
		return err;

	p->u.ms = ms;
	return 0;
}

int repr_prop_strlist(struct repr *r, const char *name, const char *const *v,
		      size_t n)
{
	struct repr_prop *p;
	struct rstr *items;
	struct pack pk;
	size_t i;
	int err;

	if (n && !v)
		return EINVAL;

	if (n > (SIZE_MAX - sizeof(*p)) / sizeof(*items))
		return ENOMEM;

	/* The item array sits right behind the struct, then the strings */
	pack_init(&pk, sizeof(*p) + n * sizeof(*items));
	for (i = 0; i < n; i++) {
		if (!v[i])
			return EINVAL;
		pack_size(&pk, v[i], strlen(v[i]));
	}

	err = prop_new(&p, r, name, REPR_PLIST, &pk);
	if (err)
		return err;

	items = (struct rstr *)(p + 1);
	for (i = 0; i < n; i++)
		pack_put(&pk, &items[i], v[i], strlen(v[i]));

	p->u.list.v = items;
	p->u.list.n = n;
	return 0;
}

/*
 * Walk the subtree t would add at the given depth. Reaching r means a cycle:
 * a reference loop that would never be freed nor finish encoding.
 */
static int subtree_check(const struct repr *t, const struct repr *r,
			 unsigned depth)
{
	struct le *le;

	if (t == r)
		return EINVAL;

	if (depth > REPR_MAX_DEPTH)
		return EOVERFLOW;

	LIST_FOREACH(&t->embeds, le)
	{
		const struct repr_child *c = le->data;
		int err = subtree_check(c->r, r, depth + 1);

		if (err)
			return err;
	}

	return 0;
}

int repr_embed(struct repr *r, struct repr *child)
{
	return repr_embed_as(r, NULL, child);
}

int repr_embed_as(struct repr *r, const char *key, struct repr *child)
{
	struct repr_child *c;
	int err;

	/* the child still says what it is: JSON writes its rel inside */
	if (!r || !child || !child->rel.p || (key && !*key))
		return EINVAL;

	/* r is at least at depth 1, so the child at least at 2 */
	err = subtree_check(child, r, 2);
	if (err)
		return err;

	c = mem_zalloc(sizeof(*c), child_destructor);
	if (!c)
		return ENOMEM;

	if (key) {
		c->key.p = repr_clean_dup(key);
		if (!c->key.p) {
			mem_deref(c);
			return ENOMEM;
		}
		c->key.len = strlen(c->key.p);
	}
	c->r = mem_ref(child);
	list_append(&r->embeds, &c->le, c);
	return 0;
}

/*
 * The relationships that can hold several resources, by the rel of the
 * resource that holds them. UCWA's payload rules write such a relationship
 * as an array in JSON whatever the number of members, one included, as
 * clients iterate it; every other rel is an array only where it repeats.
 * XML has no such distinction (each member is one element).
 */
static const struct {
	const char *parent;
	const char *rel;
} collections[] = {
    {"myContacts", "contact"},
    {"groupContacts", "contact"},
    {"subscribedContacts", "contact"},
    {"myGroups", "group"},
    {"presenceSubscriptions", "presenceSubscription"},
    {"presenceSubscriptionMemberships", "presenceSubscriptionMembership"},
    {"conversationLogs", "conversationLog"},
    {"conversationLogs", "missedItem"},
    {"conversations", "conversation"},
    {"participants", "participant"},
};

bool repr_rel_is_collection(const char *parent, const char *rel)
{
	size_t i;

	if (!parent || !rel)
		return false;

	for (i = 0; i < ARRAY_SIZE(collections); i++) {
		if (!strcmp(collections[i].parent, parent) &&
		    !strcmp(collections[i].rel, rel))
			return true;
	}

	return false;
}

int repr_encode(struct mbuf *mb, const struct repr *r, enum repr_fmt fmt,
		const char *ns)
{
	size_t start;
	int err;

	if (!mb || !r)
		return EINVAL;

	start = mb->pos;

	switch (fmt) {

	case REPR_JSON:
		err = repr_json_encode(mb, r);
		break;

	case REPR_XML:
		err = repr_xml_encode(mb, r, ns ? ns : REPR_UCWA_NS);
		break;

	default:
		err = EINVAL;
		break;
	}

	/* Never leave half a document behind for the caller to send */
	if (err) {
		mb->pos = start;
		mb->end = start;
	}

	return err;
}
