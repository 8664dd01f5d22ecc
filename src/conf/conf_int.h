/**
 * @file conf_int.h  Configuration: private declarations shared by the
 * parser (conf.c), the key table (conf_keys.c), the value syntax checks
 * (conf_value.c) and the whole-file checks (conf_check.c, conf_cert.c).
 */
#ifndef MOB_CONF_INT_H
#define MOB_CONF_INT_H

#include "core.h"

/* Named limits on the configuration input (docs/configuration.md). */
enum {
	CONF_MAX_FILE = 1048576,     /* bytes of a configuration file        */
	CONF_MAX_LINE = 4096,        /* bytes of one line, newline excluded  */
	CONF_MAX_LIST = 1024,        /* entries of one repeatable key        */
	CONF_MAX_PROBLEMS = 200,     /* problem lines printed; more counted  */
	CONF_MAX_DNS = DNS_NAME_MAX, /* bytes of a DNS name (core.h)     */
	CONF_MAX_PATH = 1024,        /* bytes of a file path                 */
	CONF_MAX_PEM = 1048576,      /* bytes of a certificate or key file   */
	CONF_MAX_CHAIN = 16,         /* certificates in one chain file       */
	CONF_EXPIRY_WARN_DAYS = 30,
	CONF_MAX_ID = 64,   /* bytes of a provider key or team id      */
	CONF_MAX_KEYS = 96, /* size of the per-key bookkeeping       */
};
/* spelled in messages with MOB_STR (core.h) */
#define CONF_MAX_URL   2048 /* bytes of a link or redirect URL      */
#define CONF_MAX_TOKEN 64   /* bytes of a custom link token         */

enum conf_sect {
	SECT_SERVICE = 0,
	SECT_HTTP,
	SECT_FRONTEND,
	SECT_SIP,
	SECT_AUTODISCOVER,
	SECT_ADMIN,
	SECT_STORE,
	SECT_PUSH,
	SECT_COUNT,
	SECT_NONE = SECT_COUNT, /* before the first section header */
	SECT_UNKNOWN,           /* inside an unknown section       */
};

struct conf_ctx;
struct conf_key;

/**
 * Apply one value to the configuration.
 *
 * @return 0, EINVAL if a problem was reported, ENOMEM (stops the parse)
 */
typedef int(conf_set_h)(struct conf_ctx *ctx, const struct conf_key *k,
			const struct pl *val, unsigned line);

/** One key of the file format. */
struct conf_key {
	enum conf_sect sect;
	const char *name;
	conf_set_h *seth;
	size_t off;   /* offset of the field in struct conf          */
	uint32_t min; /* numbers: allowed range, in file units       */
	uint32_t max;
	uint32_t mult;       /* numbers: file unit to struct unit (s -> ms) */
	bool repeat;         /* may be given more than once (a list)        */
	bool required;       /* missing is a problem (checked after parse)  */
	const char *example; /* a value to suggest when it is missing */
};

/** State of one parse; lives on the stack of conf_parse(). */
struct conf_ctx {
	struct conf *conf;
	const char *name;        /* file name used in messages           */
	char *dir;               /* base of relative paths ("" = cwd)     */
	struct re_printf *errpf; /* problem lines (may be NULL)           */
	unsigned nerr;           /* problems found (errors)               */
	unsigned nwarn;          /* warnings found (not fatal)            */
	unsigned nprinted;       /* lines printed, see CONF_MAX_PROBLEMS  */
	enum conf_sect sect;     /* current section                       */
	unsigned sect_line[SECT_COUNT];   /* first header line, 0 if absent */
	unsigned key_line[CONF_MAX_KEYS]; /* first line of each key         */
	unsigned key_count[CONF_MAX_KEYS];
	bool sip_certs_from_http; /* [sip] borrowed the [http] certificates */
};

/* conf.c */
void conf_problem(struct conf_ctx *ctx, unsigned line, const char *fmt, ...);
void conf_warning(struct conf_ctx *ctx, unsigned line, const char *fmt, ...);
int conf_pl_print(struct re_printf *pf, const struct pl *pl);

/* conf_keys.c */
extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;
extern const char *const conf_sect_names[SECT_COUNT];
const struct conf_key *conf_key_find(enum conf_sect sect,
				     const struct pl *name);
size_t conf_key_index(const struct conf_key *k);
unsigned conf_key_line(const struct conf_ctx *ctx, enum conf_sect sect,
		       const char *name);
void conf_cert_destructor(void *arg);
void conf_defaults(struct conf *conf);

bool conf_url_valid(const struct pl *url, const char **why);
bool conf_token_valid(const struct pl *token, const char **why);
int conf_uint_decode(uint32_t *vp, const struct pl *pl);
int conf_port_decode(uint16_t *portp, const struct pl *pl);
int conf_addr_decode(struct sa *sa, const struct pl *pl, const char **why);
int conf_cidr_decode(struct sa *sa, unsigned *bits, const struct pl *pl,
		     const char **why);
int conf_hostport_decode(struct pl *host, uint16_t *portp, const struct pl *pl,
			 const char **why);
unsigned conf_distance(const char *a, const struct pl *b);

/* conf_check.c */
int conf_check(struct conf_ctx *ctx);

/* conf_cert.c */
int conf_check_certs(struct conf_ctx *ctx);

#endif
