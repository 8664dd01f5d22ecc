/**
 * @file test_auth.c  Token service pieces: failure throttling, token
 * format and hashing, bearer parsing
 */
#include <string.h>
#include <re.h>
#include "auth.h"
#include "check.h"

static void test_throttle(void)
{
	struct throttle *t = NULL;
	uint64_t now = 1000;
	int i;

	CHECK(0 == throttle_alloc(&t, 3, 60, 10, 40, 2));

	/* below the limit: no wait */
	throttle_fail(t, "alice", now);
	throttle_fail(t, "alice", now);
	CHECK(throttle_wait(t, "alice", now) == 0);
	/* the third failure locks for 10 s */
	throttle_fail(t, "alice", now);
	CHECK(throttle_wait(t, "alice", now) == 10);
	CHECK(throttle_wait(t, "alice", now + 4) == 6);
	CHECK(throttle_wait(t, "alice", now + 10) == 0);
	CHECK(throttle_wait(t, "bob", now) == 0);
	/* each further failure doubles the lock, up to 40 s */
	throttle_fail(t, "alice", now + 10);
	CHECK(throttle_wait(t, "alice", now + 10) == 20);
	throttle_fail(t, "alice", now + 30);
	CHECK(throttle_wait(t, "alice", now + 30) == 40);
	for (i = 0; i < 10; i++)
		throttle_fail(t, "alice", now + 70);
	CHECK(throttle_wait(t, "alice", now + 70) == 40);
	/* a good sign-in forgets the user */
	throttle_clear(t, "alice");
	CHECK(throttle_wait(t, "alice", now + 70) == 0);

	/* undo takes back one counted attempt */
	throttle_fail(t, "10.0.0.1", now);
	throttle_fail(t, "10.0.0.1", now);
	throttle_undo(t, "10.0.0.1");
	throttle_fail(t, "10.0.0.1", now);
	CHECK(throttle_wait(t, "10.0.0.1", now) == 0);
	throttle_fail(t, "10.0.0.1", now);
	CHECK(throttle_wait(t, "10.0.0.1", now) == 10);

	/* a quiet window starts the count again */
	throttle_fail(t, "carol", now);
	throttle_fail(t, "carol", now);
	throttle_fail(t, "carol", now + 100);
	CHECK(throttle_wait(t, "carol", now + 100) == 0);

	/* bounded: with 2 keys at most, the oldest unlocked one is
	 * forgotten, never the locked one */
	throttle_clear(t, "carol");
	throttle_clear(t, "10.0.0.1");
	for (i = 0; i < 3; i++)
		throttle_fail(t, "x", now);
	throttle_fail(t, "y", now);
	throttle_fail(t, "z", now);
	CHECK(throttle_wait(t, "x", now) == 10);
	CHECK(throttle_count(t) == 2);

	mem_deref(t);
}

/* A flood of failures under junk keys (user names) fills the table but
 * never frees a locked key; once its lock has run out, it may go. */
static void test_throttle_flood(void)
{
	struct throttle *t = NULL;
	uint64_t now = 5000;
	char key[32];
	int i;

	CHECK(0 == throttle_alloc(&t, 5, 900, 30, 900, 64));
	for (i = 0; i < 5; i++)
		throttle_fail(t, "bob@example.test 192.0.2.7", now);
	CHECK(throttle_wait(t, "bob@example.test 192.0.2.7", now) == 30);

	for (i = 0; i < 10000; i++) {
		(void)re_snprintf(key, sizeof(key), "junk%d 192.0.2.9", i);
		throttle_fail(t, key, now + 1);
	}
	CHECK(throttle_count(t) == 64);
	CHECK(throttle_wait(t, "bob@example.test 192.0.2.7", now + 1) == 29);
	/* the newest junk is tracked, the oldest forgotten */
	CHECK(throttle_wait(t, "junk9999 192.0.2.9", now + 1) == 0);

	/* a table full of running locks takes no new key... */
	for (i = 0; i < 64 * 5; i++) {
		(void)re_snprintf(key, sizeof(key), "lock%d", i / 5);
		throttle_fail(t, key, now + 2);
	}
	CHECK(throttle_wait(t, "bob@example.test 192.0.2.7", now + 2) == 28);
	throttle_fail(t, "new", now + 2);
	CHECK(throttle_count(t) == 64);
	/* ...until a lock has run out */
	throttle_fail(t, "new", now + 100);
	CHECK(throttle_count(t) == 64);
	CHECK(throttle_wait(t, "bob@example.test 192.0.2.7", now + 100) == 0);

	mem_deref(t);
}

/* Address keys: IPv4 whole, IPv6 by its /64, IPv4-mapped as IPv4. */
static void test_addr_key(void)
{
	char a[48], b[48];
	struct sa sa;

	CHECK(!sa_set_str(&sa, "192.0.2.7", 443));
	CHECK(!throttle_addr_key(a, sizeof(a), &sa));
	CHECK(!strcmp(a, "192.0.2.7"));

	CHECK(!sa_set_str(&sa, "2001:db8:1:2:aaaa::1", 443));
	CHECK(!throttle_addr_key(a, sizeof(a), &sa));
	CHECK(!sa_set_str(&sa, "2001:db8:1:2:ffff:eeee:dddd:cccc", 80));
	CHECK(!throttle_addr_key(b, sizeof(b), &sa));
	CHECK(!strcmp(a, b));
	CHECK(!strcmp(a, "2001:0db8:0001:0002::/64"));
	CHECK(!sa_set_str(&sa, "2001:db8:1:3::1", 443));
	CHECK(!throttle_addr_key(b, sizeof(b), &sa));
	CHECK(strcmp(a, b) != 0);

	CHECK(!sa_set_str(&sa, "::ffff:192.0.2.7", 443));
	CHECK(!throttle_addr_key(a, sizeof(a), &sa));
	CHECK(!strcmp(a, "192.0.2.7"));

	CHECK(!sa_set_str(&sa, "2001:db8:1:2::1", 443));
	CHECK(throttle_addr_key(a, 8, &sa) == EOVERFLOW);
}

static void test_tokens(void)
{
	char a[AUTH_TOKEN_STRLEN + 1], b[AUTH_TOKEN_STRLEN + 1];
	uint8_t ha[AUTH_HASH_BYTES], hb[AUTH_HASH_BYTES];
	struct pl pa, pb, authz, tok;
	size_t i;

	CHECK(0 == auth_token_new(a));
	CHECK(0 == auth_token_new(b));
	CHECK(strlen(a) == AUTH_TOKEN_STRLEN && !strncmp(a, "cwt=", 4));
	CHECK(strcmp(a, b) != 0);
	for (i = 4; i < strlen(a); i++) {
		char c = a[i];
		CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_');
	}

	pl_set_str(&pa, a);
	pl_set_str(&pb, b);
	CHECK(0 == auth_token_hash(ha, &pa));
	CHECK(0 == auth_token_hash(hb, &pb));
	CHECK(memcmp(ha, hb, sizeof(ha)) != 0);
	/* SHA-256 of "abc" (FIPS 180-2 example) */
	{
		static const uint8_t want[] = {
		    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
		struct pl abc = PL("abc");
		CHECK(0 == auth_token_hash(ha, &abc));
		CHECK(!memcmp(ha, want, sizeof(want)));
	}

	/* bearer parsing: only our shape */
	{
		char hdr[128];
		re_snprintf(hdr, sizeof(hdr), "Bearer %s", a);
		pl_set_str(&authz, hdr);
		CHECK(auth_bearer(&authz, &tok) && !pl_strcmp(&tok, a));
		re_snprintf(hdr, sizeof(hdr), "bearer   %s  ", a);
		pl_set_str(&authz, hdr);
		CHECK(auth_bearer(&authz, &tok) && !pl_strcmp(&tok, a));
	}
	pl_set_str(&authz, "Basic YWxpY2U6c2VjcmV0");
	CHECK(!auth_bearer(&authz, &tok));
	pl_set_str(&authz, "Bearer cwt=short");
	CHECK(!auth_bearer(&authz, &tok));
	pl_set_str(&authz, "Bearer");
	CHECK(!auth_bearer(&authz, &tok));
}

int main(void)
{
	test_throttle();
	test_throttle_flood();
	test_addr_key();
	test_tokens();
	return check_done("test_auth");
}
