/*
 * sqlite_busy.c -- LD_PRELOAD shim for the test Front End (Kamailio 5.6).
 *
 * Kamailio 5.6's db_sqlite opens its connections with sqlite3_open_v2() and
 * never sets a busy timeout, so two Kamailio processes writing at the same
 * time make one of them fail with "database is locked". This shim wraps
 * sqlite3_open_v2() and sets a busy timeout on every connection it opens.
 *
 * The timeout in milliseconds comes from FE_SQLITE_BUSY_MS (default 10000).
 * No SQLite header is needed: the two functions used are looked up at run
 * time in the SQLite library that db_sqlite.so brings in.
 *
 * Built by deploy/frontend/fe.sh into the run directory:
 *   cc -shared -fPIC -O2 -o RUNDIR/sqlite_busy.so sqlite_busy.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

struct sqlite3;

typedef int (*open_v2_fn)(const char *, struct sqlite3 **, int, const char *);
typedef int (*busy_timeout_fn)(struct sqlite3 *, int);

static void *sqlite_sym(const char *name)
{
	void *sym = dlsym(RTLD_NEXT, name);
	void *lib;

	if (sym)
		return sym;

	lib = dlopen("libsqlite3.so.0", RTLD_LAZY | RTLD_NOLOAD);
	if (!lib)
		lib = dlopen("libsqlite3.so.0", RTLD_LAZY);
	if (!lib)
		return NULL;

	return dlsym(lib, name);
}

static int busy_ms(void)
{
	const char *s = getenv("FE_SQLITE_BUSY_MS");
	long v;

	if (!s || !*s)
		return 10000;

	v = strtol(s, NULL, 10);
	if (v < 0 || v > 600000)
		return 10000;

	return (int)v;
}

int sqlite3_open_v2(const char *filename, struct sqlite3 **db, int flags,
		    const char *vfs)
{
	static open_v2_fn real_open;
	static busy_timeout_fn busy_timeout;
	int rc;

	if (!real_open)
		real_open = (open_v2_fn)sqlite_sym("sqlite3_open_v2");
	if (!busy_timeout)
		busy_timeout =
		    (busy_timeout_fn)sqlite_sym("sqlite3_busy_timeout");

	if (!real_open)
		return 1; /* SQLITE_ERROR */

	rc = real_open(filename, db, flags, vfs);
	if (rc == 0 && db && *db && busy_timeout)
		(void)busy_timeout(*db, busy_ms());

	return rc;
}
