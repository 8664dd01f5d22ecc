/**
 * @file push.h  Push notifications to sleeping apps: APNs and FCM
 *
 * Requests go out over HTTP/2 through libcurl's multi-socket interface,
 * driven by the libre loop (no thread of its own). Providers:
 *
 *   APNs  POST <apns_url>/3/device/<token>, token authentication: an ES256
 *         JWT signed with the team's .p8 key, made again before it is an
 *         hour old.
 *   FCM   POST <fcm_url>/v1/projects/<project>/messages:send with an OAuth2
 *         access token got from the service-account key (RS256 JWT grant
 *         at its token endpoint), fetched again before it expires.
 *
 * 429 and 5xx are retried with exponential backoff, honouring Retry-After;
 * a token the provider calls dead (APNs 410 Unregistered, 400
 * BadDeviceToken / DeviceTokenNotForTopic, FCM UNREGISTERED) is reported
 * as PUSH_DROP_TOKEN. Requests in flight are limited per provider (the
 * rest wait in order). Every outcome is counted in /metrics.
 */
#ifndef MOB_PUSH_H
#define MOB_PUSH_H

#include <stdbool.h>
#include <stdint.h>

struct conf;
struct push;
struct push_op;

enum push_provider {
	PUSH_APNS,
	PUSH_FCM,
};

/* What the push is for; the kind decides the push type and priority. */
enum push_kind {
	PUSH_MESSAGE,     /* new conversation or IM: alert             */
	PUSH_MISSED_CALL, /* alert                                     */
	PUSH_CALL,        /* incoming call: APNs voip / FCM high data  */
};

/* Where the device is: the application's push registration. */
struct push_target {
	enum push_provider provider;
	const char *token;      /* APNs device token (hex) / FCM token    */
	const char *voip_token; /* APNs PushKit token for PUSH_CALL, or NULL
				 * (then the device token)               */
	const char *topic;      /* APNs: bundle id (apns-topic; ".voip"
				 * appended for calls). FCM: the project, or
				 * NULL for the configured one          */
};

struct push_msg {
	enum push_kind kind;
	const char *push_id;  /* the push registration's opaque id: in the
			       * payload, so the app knows which session
			       * woke it (never the application id)     */
	const char *sender;   /* display name or URI of who it is from    */
	const char *text;     /* the message text, or NULL                */
	const char *collapse; /* collapse id (a conversation), or NULL    */
	unsigned badge;       /* unread count                             */
};

enum push_result {
	PUSH_SENT,       /* the provider accepted it                  */
	PUSH_DROP_TOKEN, /* the token is dead: forget the registration */
	PUSH_FAILED,     /* given up (retries exhausted, bad config)    */
};

typedef void(push_result_h)(enum push_result res, uint16_t status,
			    const char *reason, void *arg);

/**
 * Initialise the HTTP library once per process, before any thread and
 * before push_alloc() (curl_global_init). push_close() at exit.
 *
 * @return 0 or ENOMEM
 */
int push_init(void);
void push_close(void);

/**
 * Allocate the push service from the [push] section of conf. Providers
 * not configured are not available (push_available()).
 *
 * @param pp   Returns a new reference
 * @param conf Configuration (takes a reference)
 */
int push_alloc(struct push **pp, struct conf *conf);

/** True if provider is configured. */
bool push_available(const struct push *p, enum push_provider provider);

/**
 * True if an FCM target may name project: its own credentials' project_id
 * or one of [push] fcm_project. A registration names any project it
 * likes; pushing for one of someone else's would spend this service's
 * credentials (and quota) on it.
 *
 * @param p       Push service (false when FCM is not configured)
 * @param project Project id, or NULL for the credentials' own (true)
 */
bool push_fcm_project_ok(const struct push *p, const char *project);

/**
 * Send one push. The alert text follows the configured privacy mode
 * (full text, sender only, or none).
 *
 * @param p    Push service
 * @param t    Target (copied)
 * @param m    Message (copied)
 * @param h    Result handler (may be NULL), called once, never from
 *             inside this call
 * @param arg  Handler argument
 * @param opp  Optional handle: dropping it cancels the handler only
 *
 * @return 0; EINVAL (a token or topic outside the allowed alphabet, an
 *         APNs target without topic), EPERM (an FCM project not allowed:
 *         push_fcm_project_ok()), ENOTSUP (provider not configured),
 *         ENOBUFS (the provider's queue is full: [push] queue), ENOMEM
 */
int push_send(struct push *p, const struct push_target *t,
	      const struct push_msg *m, push_result_h *h, void *arg,
	      struct push_op **opp);

#endif
