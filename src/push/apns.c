/**
 * @file apns.c  Apple Push Notification service: requests, payloads,
 * provider token (ES256 JWT) and the meaning of its answers
 *
 * Apple's "Sending notification requests to APNs" and "Establishing a
 * token-based connection to APNs": the JWT carries kid, iss (team) and
 * iat; APNs refuses one older than an hour (403 ExpiredProviderToken) and
 * one renewed more often than every 20 minutes (429 TooManyProviderToken
 * Updates), so it is made again after jwt_max_age (default 40 min).
 */
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>
/* re.h pulls in re_json.h, whose JSON_STRING and JSON_NULL clash with
 * jansson's (src/repr/json.c does the same) */
#define RE_H__ 1
#include <re_types.h>
#include <re_fmt.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_mem.h>
#include <re_sa.h>
#include <re_tmr.h>
#include <re_main.h>
#include <re_sys.h>
#include "core.h"
#include "conf.h"
#include "push_int.h"

enum {
	MAX_HDR = 1024, /* bytes of one header line we make        */
};

struct apns {
	EVP_PKEY *key;
	char *url;
	char *key_id;
	char *team_id;
	uint32_t ttl_s;
	uint32_t max_age_s;
	char *jwt;
	time_t jwt_iat;
	struct metric *m_jwt;
};

static void destructor(void *arg)
{
	struct apns *a = arg;

	EVP_PKEY_free(a->key);
	mem_deref(a->url);
	mem_deref(a->key_id);
	mem_deref(a->team_id);
	mem_deref(a->jwt);
}

int apns_alloc(struct apns **ap, const struct conf *conf)
{
	const struct conf_push *cp = &conf->push;
	struct apns *a;
	char *pem = NULL;
	size_t len;
	int err;

	a = mem_zalloc(sizeof(*a), destructor);
	if (!a)
		return ENOMEM;

	err = push_file_read(&pem, &len, cp->apns_key);
	if (!err)
		err = push_key_load(&a->key, pem, len);
	if (err) {
		log_error("push: cannot load the APNs key %s: %m", cp->apns_key,
			  err);
		goto out;
	}
	if (!EVP_PKEY_is_a(a->key, "EC")) {
		log_error("push: the APNs key %s is not an EC key",
			  cp->apns_key);
		err = EINVAL;
		goto out;
	}

	err = str_dup(&a->url, cp->apns_url);
	err |= str_dup(&a->key_id, cp->apns_key_id);
	err |= str_dup(&a->team_id, cp->apns_team_id);
	if (err) {
		err = ENOMEM;
		goto out;
	}
	a->ttl_s = cp->apns_ttl_s;
	a->max_age_s = cp->jwt_max_age_s;
	a->m_jwt = metrics_get(METRIC_COUNTER, "mobility_push_tokens_total",
			       "provider=\"apns\",outcome=\"ok\"",
			       "Provider tokens made (APNs JWT) or fetched "
			       "(FCM access token)");

out:
	mem_deref(pem);
	if (err)
		mem_deref(a);
	else
		*ap = a;
	return err;
}

/* The provider token, made again when older than max_age. */
static const char *jwt_get(struct apns *a)
{
	time_t now = time(NULL);
	char *hdr = NULL, *claims = NULL, *jwt = NULL;
	json_t *j;

	if (a->jwt && now - a->jwt_iat < (time_t)a->max_age_s &&
	    now >= a->jwt_iat)
		return a->jwt;

	j = json_pack("{s:s,s:s}", "alg", "ES256", "kid", a->key_id);
	hdr = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = json_pack("{s:s,s:I}", "iss", a->team_id, "iat", (json_int_t)now);
	claims = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);

	if (hdr && claims && !push_jwt_sign(&jwt, a->key, hdr, claims)) {
		mem_deref(a->jwt);
		a->jwt = jwt;
		a->jwt_iat = now;
		metric_add(a->m_jwt, 1);
	} else {
		log_warn("push: cannot sign the APNs provider token");
	}

	free(hdr);
	free(claims);
	return a->jwt;
}

void apns_renew(struct apns *a)
{
	if (a)
		a->jwt = mem_deref(a->jwt);
}

int apns_payload(char **jsonp, const struct push_msg *m,
		 const struct push_alert *al)
{
	json_t *j, *aps, *alert;
	int err = 0;

	j = json_object();
	if (!j)
		return ENOMEM;

	if (m->kind == PUSH_CALL) {
		/* a VoIP push: data for the app, which reports the call to
		 * CallKit; no aps alert */
		err |= json_object_set_new(j, "aps", json_object());
		err |= json_object_set_new(j, "kind", json_string("call"));
		if (al->title)
			err |= json_object_set_new(j, "from",
						   json_string(al->title));
	} else {
		alert = json_object();
		aps = json_object();
		if (al->title)
			err |= json_object_set_new(alert, "title",
						   json_string(al->title));
		err |=
		    json_object_set_new(alert, "body", json_string(al->body));
		err |= json_object_set_new(aps, "alert", alert);
		err |=
		    json_object_set_new(aps, "badge", json_integer(m->badge));
		err |=
		    json_object_set_new(aps, "sound", json_string("default"));
		if (m->collapse)
			err |= json_object_set_new(aps, "thread-id",
						   json_string(m->collapse));
		err |= json_object_set_new(j, "aps", aps);
		err |= json_object_set_new(
		    j, "kind",
		    json_string(m->kind == PUSH_MISSED_CALL ? "missed_call"
							    : "message"));
	}
	if (m->push_id)
		err |=
		    json_object_set_new(j, "pushId", json_string(m->push_id));

	*jsonp = err ? NULL : json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *jsonp ? 0 : ENOMEM;
}

int apns_post(struct push_hreq **rp, struct apns *a, struct push_http *http,
	      const struct push_target *t, enum push_kind kind,
	      const char *collapse, const char *payload, push_http_h *h,
	      void *arg)
{
	char auth[MAX_HDR], topic[MAX_HDR], exp[64], coll[MAX_HDR];
	const char *token = t->token, *jwt;
	const char *hdrv[7];
	char *url = NULL;
	size_t n = 0;
	bool call = kind == PUSH_CALL;
	time_t ttl = call ? PUSH_CALL_TTL_S : (time_t)a->ttl_s;
	int err;

	jwt = jwt_get(a);
	if (!jwt)
		return EAUTH;

	if (call && t->voip_token)
		token = t->voip_token;

	err = re_sdprintf(&url, "%s/3/device/%s", a->url, token);
	if (err)
		return err;

	(void)re_snprintf(auth, sizeof(auth), "authorization: bearer %s", jwt);
	(void)re_snprintf(topic, sizeof(topic), "apns-topic: %s%s", t->topic,
			  call ? ".voip" : "");
	/* apns-expiration 0 means: deliver once or drop */
	(void)re_snprintf(exp, sizeof(exp), "apns-expiration: %lld",
			  ttl ? (long long)(time(NULL) + ttl) : 0LL);
	hdrv[n++] = auth;
	hdrv[n++] = topic;
	hdrv[n++] = call ? "apns-push-type: voip" : "apns-push-type: alert";
	hdrv[n++] = "apns-priority: 10"; /* send now (alerts and calls) */
	hdrv[n++] = exp;
	hdrv[n++] = "content-type: application/json";
	if (collapse && !call) {
		(void)re_snprintf(coll, sizeof(coll), "apns-collapse-id: %s",
				  collapse);
		hdrv[n++] = coll;
	}

	err = push_http_post(rp, http, url, hdrv, n, payload, strlen(payload),
			     h, arg);
	mem_deref(url);
	return err;
}

/* The reason of an APNs error answer: {"reason":"BadDeviceToken"}. */
static void reason_of(const struct push_hresp *resp, char *buf, size_t size)
{
	json_t *j, *r;

	buf[0] = '\0';
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	r = json_object_get(j, "reason");
	if (json_is_string(r))
		(void)re_snprintf(buf, size, "%s", json_string_value(r));
	json_decref(j);
}

enum push_verdict apns_verdict(const struct push_hresp *resp, char *reason,
			       size_t size)
{
	reason[0] = '\0';
	if (resp->status == 200)
		return PV_SENT;

	reason_of(resp, reason, size);

	if (resp->status == 410)
		return PV_DROP;
	if (resp->status == 400 && (!strcmp(reason, "BadDeviceToken") ||
				    !strcmp(reason, "DeviceTokenNotForTopic")))
		return PV_DROP;
	if (resp->status == 403 && !strcmp(reason, "ExpiredProviderToken"))
		return PV_REAUTH;
	if (resp->status == 429 || resp->status >= 500)
		return PV_RETRY;

	return PV_FAIL;
}
