/**
 * @file text.c  Small text helpers shared by the parsers of every component
 *
 * All take length-delimited strings (struct pl) and never read past them.
 */
#include <ctype.h>
#include <string.h>
#include <re.h>
#include "core.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

size_t text_chars(const struct pl *pl)
{
	size_t i, n = 0;

	for (i = 0; i < pl->l; i++)
		n += ((uint8_t)pl->p[i] & 0xc0) != 0x80;
	return n;
}

void text_trim(struct pl *pl)
{
	while (pl->l && is_blank(pl->p[0])) {
		++pl->p;
		--pl->l;
	}
	while (pl->l && is_blank(pl->p[pl->l - 1]))
		--pl->l;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int text_pct_decode(char *buf, size_t size, const struct pl *v, size_t *n)
{
	size_t i, o = 0;

	for (i = 0; i < v->l; i++) {
		char c = v->p[i];

		if (o + 1 >= size)
			return EOVERFLOW;
		if (c == '%') {
			int h, l;
			if (i + 2 >= v->l)
				return EINVAL;
			h = hexval(v->p[i + 1]);
			l = hexval(v->p[i + 2]);
			if (h < 0 || l < 0)
				return EINVAL;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0')
			return EINVAL;
		buf[o++] = c;
	}
	buf[o] = '\0';
	*n = o;
	return 0;
}

/* One parameter of a data: URI's media type: charset or base64. */
static int data_param(struct pl p, bool *b64)
{
	static const char cs[] = "charset=";
	struct pl v;

	text_trim(&p);
	if (!pl_strcasecmp(&p, "base64")) {
		*b64 = true;
		return 0;
	}
	if (p.l < sizeof(cs) - 1 || strncasecmp(p.p, cs, sizeof(cs) - 1))
		return 0; /* other parameters say nothing of the text */
	v.p = p.p + sizeof(cs) - 1;
	v.l = p.l - (sizeof(cs) - 1);
	/* "utf8" is how the UCWA reference's samples spell it */
	if (!pl_strcasecmp(&v, "utf-8") || !pl_strcasecmp(&v, "utf8") ||
	    !pl_strcasecmp(&v, "us-ascii"))
		return 0;
	return ENOTSUP;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	return c == '/' ? 63 : -1;
}

/* Character i of a data: URI's data, a %XX escape read as its byte (a
 * client may escape '+', '/' or '='); -1 for a bad escape. */
static int data_char(const struct pl *v, size_t *i)
{
	int h, l;

	if (v->p[*i] != '%')
		return (uint8_t)v->p[(*i)++];
	if (*i + 2 >= v->l)
		return -1;
	h = hexval(v->p[*i + 1]);
	l = hexval(v->p[*i + 2]);
	*i += 3;
	return h < 0 || l < 0 ? -1 : h << 4 | l;
}

/* The base64 data of a data: URI (RFC 4648 4; the padding may be left
 * out, the URI's end says where the data ends) into buf. */
static int b64_decode(char *buf, size_t size, const struct pl *v, size_t *n)
{
	size_t i = 0, o = 0, nch = 0, pad = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	while (i < v->l) {
		int c = data_char(v, &i), d;

		if (c < 0)
			return EINVAL;
		if (c == '=') {
			if (++pad > 2)
				return EINVAL;
			continue;
		}
		d = b64val((char)c);
		if (d < 0 || pad) /* nothing after the padding */
			return EINVAL;
		++nch;
		acc = (acc << 6 | (uint32_t)d) & 0xffff;
		bits += 6;
		if (bits < 8)
			continue;
		bits -= 8;
		c = (int)(acc >> bits & 0xff);
		if (o + 1 >= size)
			return EOVERFLOW;
		if (!c)
			return EINVAL;
		buf[o++] = (char)c;
	}
	/* a group's lone character holds no whole byte; padding fills a
	 * group to four */
	if (nch % 4 == 1 || (pad && (nch + pad) % 4))
		return EINVAL;
	buf[o] = '\0';
	*n = o;
	return 0;
}

int text_data_decode(char *buf, size_t size, const struct pl *uri, size_t *n)
{
	struct pl head, mtype, p, data;
	const char *comma;
	bool b64 = false;
	int err;

	if (!buf || !size || !uri || !n || uri->l < 5 ||
	    strncasecmp(uri->p, "data:", 5))
		return EINVAL;

	/* data:[<mediatype>][;base64],<data> (RFC 2397 3) */
	head.p = uri->p + 5;
	head.l = uri->l - 5;
	comma = pl_strchr(&head, ',');
	if (!comma)
		return EINVAL;
	data.p = comma + 1;
	data.l = uri->p + uri->l - data.p;
	head.l = comma - head.p;

	(void)text_next(&head, ';', &mtype);
	text_trim(&mtype);
	if (mtype.l && pl_strcasecmp(&mtype, "text/plain"))
		return ENOTSUP;
	while (text_next(&head, ';', &p)) {
		err = data_param(p, &b64);
		if (err)
			return err;
	}

	/* base64, as the reference's startMessaging sample sends it */
	if (b64)
		return b64_decode(buf, size, &data, n);
	return text_pct_decode(buf, size, &data, n);
}

bool text_next(struct pl *rest, char sep, struct pl *item)
{
	const char *p;

	if (!item)
		return false;
	/* an exhausted list gives an empty item: callers that go on
	 * regardless read "", never stale memory */
	if (!rest || !rest->l) {
		*item = pl_null;
		return false;
	}

	*item = *rest;
	p = pl_strchr(rest, sep);
	if (p) {
		item->l = p - rest->p;
		rest->p = p + 1;
		rest->l -= item->l + 1;
	} else {
		rest->l = 0;
	}
	return true;
}

int text_param_next(struct pl *rest, const char *const *names, size_t n,
		    struct pl *val)
{
	struct pl item, name;
	size_t i;

	while (text_next(rest, '&', &item)) {
		*val = item;
		/* an empty item has no name */
		if (!text_next(val, '=', &name))
			continue;
		for (i = 0; i < n; i++) {
			if (!pl_strcasecmp(&name, names[i]))
				return (int)i;
		}
	}
	*val = pl_null;
	return -1;
}

/* a refusal's why, with the limit passed */
static const char label_long[] =
    "has a label longer than " MOB_STR(DNS_LABEL_MAX) " bytes";

/**
 * Check a DNS host name (RFC 1035 2.3.1 with RFC 1123 2.1 leading digits):
 * labels of letters, digits and inner hyphens, at most 63 bytes each,
 * 253 in all, no trailing dot. A name whose last label is all digits is
 * an IP address and refused: the service needs names for certificates.
 */
bool dns_name_valid(const struct pl *name, const char **why)
{
	size_t i, start = 0;
	bool digits = true;

	if (!name || !name->l) {
		*why = "is empty";
		return false;
	}
	if (name->l > DNS_NAME_MAX) {
		*why = "is longer than " MOB_STR(DNS_NAME_MAX) " bytes";
		return false;
	}

	for (i = 0; i <= name->l; i++) {
		const char c = i < name->l ? name->p[i] : '.';
		size_t len;

		if (c != '.') {
			if (!isalnum((unsigned char)c) && c != '-') {
				*why = "may hold only letters, digits, '-' "
				       "and '.'";
				return false;
			}
			if (!isdigit((unsigned char)c))
				digits = false;
			continue;
		}

		len = i - start;
		if (!len) {
			*why = i == name->l ? "ends with a dot"
					    : "has an empty label";
			return false;
		}
		if (len > DNS_LABEL_MAX) {
			*why = label_long;
			return false;
		}
		if (name->p[start] == '-' || name->p[i - 1] == '-') {
			*why = "has a label that starts or ends with '-'";
			return false;
		}
		if (i == name->l && digits) {
			*why = "is an IP address, not a DNS name";
			return false;
		}
		start = i + 1;
		digits = true;
	}

	return true;
}

/* RFC 3986 2.3 unreserved characters stand for themselves */
static bool pct_unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

int text_pct_encode(struct mbuf *mb, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int err = 0;

	for (i = 0; i < len && !err; i++) {
		uint8_t c = (uint8_t)s[i];

		if (pct_unreserved(c))
			err = mbuf_write_u8(mb, c);
		else {
			err = mbuf_write_u8(mb, '%');
			err |= mbuf_write_u8(mb, (uint8_t)hex[c >> 4]);
			err |= mbuf_write_u8(mb, (uint8_t)hex[c & 15]);
		}
	}
	return err;
}

int text_pct_print(struct re_printf *pf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;
	int err = 0;

	if (!s)
		return 0;
	/* runs of unreserved characters are written at once: an id or a
	 * plain user name costs one call */
	for (i = 0; s[i] && !err; i++) {
		uint8_t c = (uint8_t)s[i];
		char esc[3];

		if (pct_unreserved(c)) {
			++run;
			continue;
		}
		if (run)
			err = pf->vph(s + i - run, run, pf->arg);
		run = 0;
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		if (!err)
			err = pf->vph(esc, sizeof(esc), pf->arg);
	}
	if (!err && run)
		err = pf->vph(s + i - run, run, pf->arg);
	return err;
}

/* An entity at s (after '&'): the character it stands for, or 0. */
static char entity(const char *s, size_t n, size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"lt;", '<'},   {"gt;", '>'},   {"amp;", '&'},
		    {"quot;", '"'}, {"#39;", '\''}, {"apos;", '\''},
		    {"nbsp;", ' '}};
	size_t i, l;

	for (i = 0; i < ARRAY_SIZE(ents); i++) {
		l = strlen(ents[i].name);
		if (n >= l && !strncasecmp(s, ents[i].name, l)) {
			*used = l;
			return ents[i].c;
		}
	}
	return 0;
}

/* True if the tag of tl bytes at s starts with name, ignoring case: a tag
 * cut off at the end of the text is shorter than the name it begins. */
static bool tag_is(const char *s, size_t tl, const char *name)
{
	const size_t n = strlen(name);

	return tl >= n && !strncasecmp(s, name, n);
}

int text_html_to_plain(struct mbuf *mb, const char *s, size_t len)
{
	size_t i = 0;
	int err = 0;

	while (i < len && !err) {
		char c = s[i];

		if (c == '<') {
			/* a tag: dropped; line breaks and paragraphs become
			 * new lines */
			const char *end = memchr(s + i, '>', len - i);
			size_t tl = end ? (size_t)(end - (s + i)) + 1 : len - i;

			if (tag_is(s + i, tl, "<br") ||
			    tag_is(s + i, tl, "</p") ||
			    tag_is(s + i, tl, "</div"))
				err = mbuf_write_u8(mb, '\n');
			i += tl;
		} else if (c == '&') {
			size_t used = 0;
			char e = entity(s + i + 1, len - i - 1, &used);

			err = mbuf_write_u8(mb, e ? (uint8_t)e : '&');
			i += 1 + used;
		} else {
			err = mbuf_write_u8(mb, (uint8_t)c);
			++i;
		}
	}
	return err;
}
