/**
 * @file check.h  Minimal unit-test helpers shared by the C tests
 *
 * CHECK() records a failure with file:line and goes on, so one run shows
 * every failing expectation; check_done() prints "N passed, N failed" and
 * returns the process exit code.
 */
#ifndef MOB_TEST_CHECK_H
#define MOB_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static unsigned check_pass, check_fail;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (cond) {                                                    \
			++check_pass;                                          \
		} else {                                                       \
			++check_fail;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

/* Compare a NUL-terminated string with an expected one, showing both. */
#define CHECK_STR(got, want)                                                   \
	do {                                                                   \
		const char *g_ = (got), *w_ = (want);                          \
		if (g_ && w_ && !strcmp(g_, w_)) {                             \
			++check_pass;                                          \
		} else {                                                       \
			++check_fail;                                          \
			fprintf(stderr,                                        \
				"%s:%d: CHECK_STR failed:\n  got:  %s\n"       \
				"  want: %s\n",                                \
				__FILE__, __LINE__, g_ ? g_ : "(null)",        \
				w_ ? w_ : "(null)");                           \
		}                                                              \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %u passed, %u failed\n", name, check_pass, check_fail);
	return check_fail ? 1 : 0;
}

#endif
