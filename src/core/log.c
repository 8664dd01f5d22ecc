/**
 * @file log.c  Levelled logging, one line per event on stderr
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "core.h"

enum {
	LOG_LINE_MAX = 2048, /* longer lines are cut, never split */
};

static enum log_level level = LOG_INFO;

static const char *names[] = {"debug", "info", "notice", "warn", "error"};

void log_set_level(enum log_level lvl)
{
	level = lvl;
}

enum log_level log_get_level(void)
{
	return level;
}

int log_level_parse(enum log_level *lvl, const char *s)
{
	size_t i;

	if (!lvl || !s)
		return EINVAL;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcasecmp(s, names[i])) {
			*lvl = (enum log_level)i;
			return 0;
		}
	}

	return EINVAL;
}

static const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < ARRAY_SIZE(names) ? names[lvl] : "?";
}

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (lvl < level)
		return;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = re_snprintf(
	    line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000, log_level_name(lvl));
	if (n < 0)
		n = 0;

	va_start(ap, fmt);
	(void)re_vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);

	/* One write per line so lines of concurrent processes don't mix. */
	n = (int)strlen(line);
	if (n == 0 || line[n - 1] != '\n') {
		line[n++] = '\n';
		line[n] = '\0';
	}
	fputs(line, stderr);
}
