/**
 * @file conf.h  Configuration: the topology of one deployment
 *
 * The file format, every key and every check are documented in
 * docs/configuration.md. conf_load() parses and validates in one pass and
 * reports every problem, not only the first, one line each:
 *
 *   FILE:LINE: what is wrong; what to do
 *
 * (LINE is 0 for a problem of the whole file, such as a missing key.)
 */
#ifndef MOB_CONF_H
#define MOB_CONF_H

#include <re.h>

/** Named limits on HTTP input (see docs/configuration.md [http]). */
struct conf_http_limits {
	uint32_t max_request_line;   /**< bytes of the request line       */
	uint32_t max_header_bytes;   /**< bytes of request line + headers */
	uint32_t max_headers;        /**< number of header fields         */
	uint32_t max_body_bytes;     /**< bytes of a request body         */
	uint32_t header_timeout_ms;  /**< to receive the whole head       */
	uint32_t body_timeout_ms;    /**< to receive the whole body       */
	uint32_t idle_timeout_ms;    /**< keep-alive idle                 */
	uint32_t max_connections;    /**< in total, all listeners         */
	uint32_t max_conns_per_addr; /**< per client IP address           */
};

/** A string list entry (struct conf.domains ...). */
struct conf_str {
	struct le le;
	char *s;
	unsigned line;
};

/** A listening address. */
struct conf_listen {
	struct le le;
	struct sa addr;
	unsigned line;
};

/** An address block (IP or IP/prefix), such as a trusted proxy. */
struct conf_cidr {
	struct le le;
	struct sa addr; /**< network address (port 0)       */
	unsigned bits;  /**< prefix length (32/128: one IP) */
	unsigned line;
};

/** A certificate chain and its private key (PEM files). */
struct conf_cert {
	struct le le;
	char *chain; /**< path of the PEM chain, leaf first */
	char *key;   /**< path of the PEM private key        */
	unsigned line;
};

/** A SIP domain served by another pool: autodiscover redirects there. */
struct conf_redirect {
	struct le le;
	char *domain; /**< SIP domain, lower case                      */
	char *href;   /**< that pool's autodiscover URL (https://...) */
	unsigned line;
};

/** A custom autodiscover link added by the operator. */
struct conf_link {
	struct le le;
	char *token; /**< XML token, e.g. "External/Help"; JSON rel is the
			  token lower-cased with '/' removed */
	char *href;
	unsigned line;
};

/** A SIP access point advertised to desktop clients (fqdn + port). */
struct conf_access {
	char *fqdn; /**< NULL when not configured */
	uint16_t port;
};

/** How much of a message an alert shows on the lock screen. */
enum conf_alert_text {
	CONF_ALERT_FULL = 0, /**< sender and text                     */
	CONF_ALERT_SENDER,   /**< "New message from <sender>"          */
	CONF_ALERT_NONE,     /**< "New message"                        */
};

/** [push]: APNs and FCM (docs/push.md). A provider is configured only
 *  when all its keys are set. */
struct conf_push {
	char *apns_url;         /**< https://api.push.apple.com          */
	char *apns_key;         /**< path of the team's .p8 key (PKCS#8)  */
	char *apns_key_id;      /**< kid of the JWT                       */
	char *apns_team_id;     /**< iss of the JWT                       */
	uint32_t apns_ttl_s;    /**< apns-expiration of alerts (now + ttl) */
	uint32_t jwt_max_age_s; /**< APNs JWT made again when older       */
	char *fcm_url;          /**< https://fcm.googleapis.com          */
	char *fcm_credentials;  /**< service-account JSON key path        */
	char *fcm_token_url;    /**< overrides the key's token_uri, or NULL */
	char *ca_file;          /**< extra CA to trust, or NULL           */
	uint32_t in_flight;     /**< requests in flight per provider      */
	uint32_t queue;         /**< pushes waiting per provider          */
	uint32_t retries;       /**< retries of 429/5xx/connection errors */
	uint32_t retry_base_ms; /**< first backoff                       */
	uint32_t retry_cap_ms;  /**< longest backoff                      */
	uint32_t timeout_ms;    /**< one request, connection included     */
	int alert_text;         /**< enum conf_alert_text; default sender  */

	/** struct conf_str: FCM projects a registration may name besides
	 *  the key's project_id */
	struct list fcm_projects;
};

struct conf {
	char *path; /**< file the configuration came from */

	/* [service] */
	char *server_fqdn;          /**< X-MS-Server-Fqdn; default host name  */
	struct list domains;        /**< struct conf_str: SIP domains served  */
	char *internal_web_fqdn;    /**< web FQDN for internal clients        */
	char *external_web_fqdn;    /**< web FQDN for external clients        */
	uint16_t internal_web_port; /**< https port in internal links (443) */
	uint16_t external_web_port; /**< https port in external links (443) */
	int log_level;              /**< enum log_level                       */
	/* mobility session lifetimes after the client's last contact
	 * (Lync SessionExpirationInterval, SessionShortExpirationInterval) */
	uint32_t session_expiration_ms;       /**< with push (259200 s)  */
	uint32_t session_short_expiration_ms; /**< without (3600 s)      */
	/* per application: stored events not yet acknowledged; an
	 * incoming MESSAGE beyond either is refused (480) */
	uint32_t max_unacked_events; /**< count (1,000)                */
	uint32_t max_unacked_bytes;  /**< their bytes (4 MiB)          */
	/* live tokens of one user known here; past it the oldest goes */
	uint32_t user_max_tokens; /**< (100)                          */
	/* bearer tokens: renewals never extend one past this time after
	 * the password sign-in it comes from */
	uint32_t token_max_lifetime_s; /**< (2592000 s: 30 days)          */
	/* SIGTERM: the whole drain ends within this (main.c) */
	uint32_t drain_timeout_ms; /**< (60 s)                         */

	/* [http] */
	struct list http_listen;  /**< struct conf_listen: plain http       */
	struct list https_listen; /**< struct conf_listen: https            */
	struct list certs;        /**< struct conf_cert; first is default   */
	struct conf_http_limits limits;
	/* reverse proxies whose X-Forwarded-For (or PROXY protocol v2
	 * header) names the client (docs/http.md "Behind a proxy") */
	struct list trusted_proxies; /**< struct conf_cidr                 */
	bool behind_tls_proxy;       /**< plain http from a trusted proxy serves
					  the whole API (it terminated TLS)   */
	struct list proxy_listen;    /**< struct conf_listen: plain http, each
					  connection opened by a PROXY v2
					  header from a trusted proxy      */

	/* [frontend] */
	struct sa fe_addr;    /**< Front End SIP over TLS address       */
	char *fe_server_name; /**< name verified in its certificate     */
	char *fe_ca_file;     /**< CA bundle verifying the Front End    */
	struct conf_access client_internal; /**< SipClientInternalAccess    */
	struct conf_access client_external; /**< SipClientExternalAccess    */
	struct sa fe_xcap; /**< the Front End's XCAP server (HTTP; port 0:
			       none): contact lists and presence rules */
	bool fe_rls;       /**< presence subscriptions as RFC 4662 lists through
				the Front End's RLS (needs fe_xcap)        */

	/* [sip] the service's own listeners the Front End routes to */
	/* unset: port 0, sa_isset(sa, SA_PORT) is false (SA_ADDR is false
	 * for a wildcard address such as 0.0.0.0) */
	struct sa sip_internal; /**< internal SIP/TLS listener (or unset) */
	struct sa sip_external; /**< external SIP/TLS listener (or unset) */
	struct list sip_certs;  /**< struct conf_cert for the SIP side    */
	uint32_t sip_ring_ms;   /**< an incoming call rings this long     */
	/* who may send requests to them: the Front End's client
	 * certificate (mutual TLS), and their limits */
	char *sip_client_ca_file;     /**< its CA (NULL: fe_ca_file)        */
	struct list sip_client_names; /**< struct conf_str: a name it must
					   carry (empty: fe_server_name)  */
	uint32_t sip_max_connections; /**< accepted connections at once     */
	uint32_t sip_idle_ms;         /**< closed after no request this long */

	/* [autodiscover] */
	struct list redirects; /**< struct conf_redirect                 */
	struct list links;     /**< struct conf_link                     */

	/* [admin] */
	struct sa admin_addr; /**< /healthz and /metrics (127.0.0.1)    */

	/* [store] */
	char store_backend[16];     /**< backend name ("lmdb")             */
	char *store_path;           /**< LMDB environment directory        */
	uint32_t store_map_size_mb; /**< LMDB map size in MiB (1024)       */
	char *store_redis_address;  /**< redis: host:port (127.0.0.1:6379) */
	char *store_redis_password; /**< redis: AUTH password, or NULL     */
	uint32_t store_redis_db;    /**< redis: database number (0)        */
	/* redis with Sentinels: the host:port list and the primary's name
	 * there, or NULL; their AUTH password or NULL; WAIT for this many
	 * replicas (0) at most store_redis_wait_ms (1000) */
	char *store_redis_sentinels;
	char *store_redis_master_name;
	char *store_redis_sentinel_password;
	uint32_t store_redis_wait_replicas;
	uint32_t store_redis_wait_ms;
	/* redis: this instance's name in a pool (it holds a lease,
	 * docs/pool.md), or NULL: a single instance, no lease */
	char *store_redis_instance;
	/* a pool instance: sessions taken over per second at most */
	uint32_t store_takeover_rate;
	/* redis, in a pool: http://host:port where the peers forward
	 * requests for this instance's sessions, or NULL */
	char *store_redis_instance_url;

	/* [push] */
	struct conf_push push;
};

/**
 * Load and validate a configuration file.
 *
 * @param confp Returns a new reference on success (no problem found)
 * @param path  File to read
 * @param errpf Receives one line per problem ("FILE:LINE: ...\n"); may
 *              be NULL
 *
 * @return 0 if valid, EINVAL if any problem was reported, ENOENT/EACCES
 *         (or another errno) if the file cannot be read, ENOMEM.
 *         A file that cannot be read prints no line: the caller reports
 *         it. Warnings (lines with "warning: ") are printed but do not
 *         fail the load.
 */
int conf_load(struct conf **confp, const char *path, struct re_printf *errpf);

/** Same, from a buffer; name is used in messages in place of a path. */
int conf_parse(struct conf **confp, const char *name, const char *buf,
	       size_t len, struct re_printf *errpf);

/** True if domain (case-insensitive) is one of the SIP domains served. */
bool conf_serves_domain(const struct conf *conf, const struct pl *domain);

/** True if addr is inside one of the trusted proxy blocks. */
bool conf_trusted_proxy(const struct conf *conf, const struct sa *addr);

/** True if addr is inside one of the blocks of a struct conf_cidr list. */
bool conf_cidr_match(const struct list *cidrs, const struct sa *addr);

/** The redirect for a domain served by another pool, or NULL. */
const struct conf_redirect *conf_redirect_find(const struct conf *conf,
					       const struct pl *domain);

#endif
