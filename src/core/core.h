/**
 * @file core.h  Core facilities: timer wheel, logging, metrics
 *
 * Everything here runs on the loop thread only.
 */
#ifndef MOB_CORE_H
#define MOB_CORE_H

#include <re.h>

/*
 * Timer wheel
 *
 * A hashed timer wheel for every per-connection and per-session deadline.
 * libre 1.1.0 keeps its timers in one sorted list (O(n) insert), which does
 * not scale to one timer per connection; the wheel is driven by a single
 * libre timer instead and costs O(1) to start or cancel an entry.
 */

struct wheel;

/** Called when a wheel entry expires; the entry is no longer running. */
typedef void(wheel_h)(void *arg);

/** One deadline; embed it in the object that owns it (no allocation). */
struct wheel_entry {
	struct le le;     /**< Slot membership                       */
	uint64_t expires; /**< Absolute expiry in wheel ticks         */
	wheel_h *h;       /**< Expiry handler                         */
	void *arg;        /**< Handler argument (borrowed)            */
};

/**
 * Allocate a timer wheel.
 *
 * @param wp      Returns a new reference
 * @param tick_ms Resolution of the wheel in milliseconds (> 0)
 * @param slots   Number of slots (power of two)
 * @param drive   true: drive from a libre timer on the current loop;
 *                false: the caller advances it with wheel_advance()
 *
 * @return 0 or EINVAL/ENOMEM
 */
int wheel_alloc(struct wheel **wp, uint32_t tick_ms, uint32_t slots,
		bool drive);

/** (Re)start an entry to fire after delay_ms; a running entry is moved. */
void wheel_start(struct wheel *w, struct wheel_entry *e, uint64_t delay_ms,
		 wheel_h *h, void *arg);

/** Stop an entry; safe on an entry that is not running. */
void wheel_cancel(struct wheel_entry *e);

/** True if the entry is started and has not fired or been cancelled. */
bool wheel_isrunning(const struct wheel_entry *e);

/** Milliseconds until the entry fires (0 if not running or due). */
uint64_t wheel_remaining(const struct wheel *w, const struct wheel_entry *e);

/** Fire every entry due at or before now_ms (monotonic milliseconds). */
void wheel_advance(struct wheel *w, uint64_t now_ms);

/** Number of running entries. */
size_t wheel_count(const struct wheel *w);

/*
 * Logging with levels, one line per event, to stderr.
 */

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_NOTICE,
	LOG_WARN,
	LOG_ERROR,
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/** Parse "debug|info|notice|warn|error"; returns EINVAL if unknown. */
int log_level_parse(enum log_level *lvl, const char *s);
/** Log a line (libre's re_printf format: %s %d %u %zu %r for pl, %j for sa). */
void log_printf(enum log_level lvl, const char *fmt, ...);

#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_get_level() <= LOG_DEBUG)                              \
			log_printf(LOG_DEBUG, __VA_ARGS__);                    \
	} while (0)
#define log_info(...)   log_printf(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_printf(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...)   log_printf(LOG_WARN, __VA_ARGS__)
#define log_error(...)  log_printf(LOG_ERROR, __VA_ARGS__)

/*
 * Metrics in Prometheus text exposition format.
 *
 * Counters and gauges are registered once at start-up and live for the
 * process; the returned pointers stay valid until metrics_close().
 */

struct metric;

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
};

/**
 * Register a metric (or return the existing one of the same name+labels).
 *
 * @param name   Metric name, e.g. "mobility_http_requests_total"
 * @param labels Label set without braces, e.g. "code=\"200\"", or NULL
 * @param help   One-line help text
 */
struct metric *metrics_get(enum metric_type type, const char *name,
			   const char *labels, const char *help);
void metric_add(struct metric *m, int64_t v);
void metric_set(struct metric *m, int64_t v);
int64_t metric_value(const struct metric *m);
/** Print every metric in exposition format. */
int metrics_print(struct re_printf *pf);
void metrics_close(void);

/*
 * Text helpers for parsers (length-delimited, never past the end)
 */

/*
 * A limit's decimal spelling, for a message that is a string literal (a
 * parser's why): "at most " MOB_STR(X_MAX) " bytes". X_MAX must be a
 * #define of a plain number for this; elsewhere print it with %u.
 */
#define MOB_STR(x)  MOB_STR_(x)
#define MOB_STR_(x) #x

#define DNS_NAME_MAX  253 /* bytes of a DNS name (RFC 1035 2.3.4) */
#define DNS_LABEL_MAX 63  /* bytes of one label                    */

/**
 * Characters of UTF-8 text (what limits given in characters count): every
 * byte but continuation bytes (10xxxxxx). The text is assumed valid, as
 * the JSON reader leaves it.
 */
size_t text_chars(const struct pl *pl);

/** Remove blanks (space, tab) from both ends. */
void text_trim(struct pl *pl);

/**
 * Take the next item of a list separated by sep: item gets the text up to
 * the separator (or the end), rest what follows it.
 *
 * @return false when rest is empty (no more items; item is then set empty)
 */
bool text_next(struct pl *rest, char sep, struct pl *item);

/**
 * Take the next parameter of a URL query or form body
 * (name=value&name=value) whose name is one of names, compared ignoring
 * case. Parameters of other names are passed over, as are empty items
 * ("a&&b"); a bare name has an empty value. Values stay percent-encoded
 * (text_pct_decode).
 *
 * @param rest  What is left to read (advanced past the parameter)
 * @param names Names wanted
 * @param n     Their number
 * @param val   Set to the value (pointing into rest's text)
 *
 * @return the index in names of the parameter found, -1 when none is left
 */
int text_param_next(struct pl *rest, const char *const *names, size_t n,
		    struct pl *val);

/**
 * Percent-decode a URL query or form value ('+' is a space, as in
 * application/x-www-form-urlencoded) into buf, NUL-terminated.
 *
 * @return 0 and *n (bytes, NUL excluded); EOVERFLOW if it does not fit;
 *         EINVAL for a bad escape or an encoded NUL
 */
int text_pct_decode(char *buf, size_t size, const struct pl *v, size_t *n);

/**
 * The text of a data: URI (RFC 2397) holding plain text, as UCWA clients
 * send a message: "data:text/plain;charset=utf-8,Hello+world%21". The
 * media type must be text/plain (or absent), the charset UTF-8 or
 * US-ASCII (or absent). The data is percent-decoded with '+' as a space,
 * as the UCWA reference's samples write it: a literal plus is sent as
 * %2B. With ";base64" it is base64 (escapes allowed, padding optional),
 * as the reference's startMessaging sample sends it. Decoded into buf,
 * NUL-terminated.
 *
 * @return 0 and *n (bytes, NUL excluded); EINVAL (not a data: URI, a bad
 *         escape or base64, an encoded NUL); ENOTSUP (another media type
 *         or charset); EOVERFLOW if it does not fit
 */
int text_data_decode(char *buf, size_t size, const struct pl *uri, size_t *n);

/** Append s percent-encoded (all but RFC 3986 unreserved) to mb. */
int text_pct_encode(struct mbuf *mb, const char *s, size_t len);

/**
 * The same encoding as a print handler: "%H", text_pct_print, s writes
 * the NUL-terminated s (borrowed; NULL writes nothing) percent-encoded.
 */
int text_pct_print(struct re_printf *pf, const char *s);

/**
 * Append the text of an HTML fragment to mb: tags dropped (<br>, </p>,
 * </div> become new lines), the common entities decoded. What comes out
 * carries no markup at all, whatever came in.
 */
int text_html_to_plain(struct mbuf *mb, const char *s, size_t len);

/**
 * Check a DNS host name (RFC 1035 2.3.1, RFC 1123 2.1): labels of letters,
 * digits and inner hyphens, at most DNS_LABEL_MAX bytes each, DNS_NAME_MAX
 * in all, no trailing dot; a last label of digits only (an IP address) is
 * refused.
 *
 * @param name Name to check
 * @param why  Set to a short phrase ("has an empty label") when invalid
 */
bool dns_name_valid(const struct pl *name, const char **why);

#endif
