/**
 * @file tmpstore.h  A real LMDB store in a temporary directory for the C
 * tests: the directory made under /tmp, the store opened in it, and the
 * directory with the LMDB files removed afterwards.
 */
#ifndef MOB_TEST_TMPSTORE_H
#define MOB_TEST_TMPSTORE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <re.h>
#include "store.h"

/* Make a new directory /tmp/mob_<name>_XXXXXX; its path in dir. */
static inline int tmpstore_dir(char *dir, size_t sz, const char *name)
{
	int n = snprintf(dir, sz, "/tmp/mob_%s_XXXXXX", name);

	if (n < 0 || (size_t)n >= sz)
		return ENAMETOOLONG;
	return mkdtemp(dir) ? 0 : errno;
}

/* Remove the LMDB files in dir, then dir. */
static inline void tmpstore_remove(const char *dir)
{
	char p[128];

	(void)snprintf(p, sizeof(p), "%s/data.mdb", dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	(void)unlink(p);
	(void)rmdir(dir);
}

/* Open a fresh LMDB store of size_mb in a new directory (see
 * tmpstore_dir); the caller derefs *sp and calls tmpstore_remove(dir). */
static inline int tmpstore_open(struct store **sp, char *dir, size_t sz,
				const char *name, size_t size_mb)
{
	int err = tmpstore_dir(dir, sz, name);

	if (err)
		return err;
	return store_open(sp, &(struct store_conf){.backend = "lmdb",
						   .path = dir,
						   .size_mb = size_mb});
}

#endif
