/**
 * @file offline_ua.h  A SIP user agent for the unit tests of src/sipua
 * that connects nowhere: its Front End is 127.0.0.1:9 and its CA file a
 * temporary copy of a test CA (public part only), so that a ua can be
 * built and its requests refused or scheduled without a peer.
 */
#ifndef MOB_TEST_OFFLINE_UA_H
#define MOB_TEST_OFFLINE_UA_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "sipua.h"

static const char offline_ua_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkTCCATegAwIBAgIUdNLwuvNcg27iWH0r5LhcWLfAc2wwCgYIKoZIzj0EAwIw\n"
    "HTEbMBkGA1UEAwwSdGVzdF9zaXB1YSB1bml0IENBMCAXDTI2MTEyMzIxMTgzM1oY\n"
    "DzIxMjYxMDMwMjExODMzWjAdMRswGQYDVQQDDBJ0ZXN0X3NpcHVhIHVuaXQgQ0Ew\n"
    "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQsaStrZTqaNBebxArJ/sUzyFzp+PxQ\n"
    "wt2I5zhkUNAEoUJqaKSCBSFoL6twqw44tOZwZ5OoxX/z5hKOb4mqB529o1MwUTAd\n"
    "BgNVHQ4EFgQU6fDuPstrZT4E9L/v48vwMbg38XkwHwYDVR0jBBgwFoAU6fDuPstr\n"
    "ZT4E9L/v48vwMbg38XkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF\n"
    "AiEAntCs3KXoD/FUnRzCcZOi7KRZ7cHlLRHwa7jBgxeCHbgCICFYUFOfRPLK0nUR\n"
    "shq5DdYALeTB2D7JasRT0EOzHctO\n"
    "-----END CERTIFICATE-----\n";

struct offline_ua {
	char ca_path[32]; /* the CA file, removed by offline_ua_close() */
	struct sipua *ua;
};

/* The CA file written and a ua on wheel w allocated (o->ua). */
static inline int offline_ua_open(struct offline_ua *o, struct wheel *w)
{
	const size_t n = sizeof(offline_ua_ca) - 1;
	struct sipua_param p;
	int fd;

	memset(o, 0, sizeof(*o));
	strcpy(o->ca_path, "/tmp/test_sipua_ca_XXXXXX");
	fd = mkstemp(o->ca_path);
	if (fd < 0) {
		o->ca_path[0] = '\0';
		return errno;
	}
	if (write(fd, offline_ua_ca, n) != (ssize_t)n) {
		(void)close(fd);
		return EIO;
	}
	(void)close(fd);

	memset(&p, 0, sizeof(p));
	(void)sa_set_str(&p.fe_addr, "127.0.0.1", 9);
	p.fe_server_name = "fe.example.test";
	p.fe_ca_file = o->ca_path;
	p.wheel = w;
	return sipua_alloc(&o->ua, &p);
}

/* The ua released and the CA file removed. */
static inline void offline_ua_close(struct offline_ua *o)
{
	o->ua = mem_deref(o->ua);
	if (o->ca_path[0])
		(void)unlink(o->ca_path);
}

#endif
