/**
 * @file fcm.c  Firebase Cloud Messaging HTTP v1: the OAuth2 access token
 * of the service account, requests, payloads and the meaning of answers
 *
 * The access token comes from the token endpoint of the service-account
 * key (RFC 7523 JWT bearer grant, RS256, scope firebase.messaging). It is
 * fetched when first needed, again at 80% of its lifetime while the old
 * one still serves, and at once when FCM answers 401. Pushes wait in the
 * service's queue while there is no valid token.
 */
#include <string.h>
#include <strings.h>
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

#define FCM_SCOPE  "https://www.googleapis.com/auth/firebase.messaging"
#define GRANT_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"

enum {
	GRANT_LIFETIME_S = 3600,  /* exp - iat of the assertion (at most 1 h) */
	MIN_TOKEN_LIFE_S = 1,     /* shorter expires_in is taken as this      */
	MAX_TOKEN_LIFE_S = 86400, /* longer expires_in is taken as this       */
	REFRESH_PERCENT = 80,     /* of the lifetime: fetch the next token    */
	MAX_HDR = 4096,           /* bytes of the authorization line         */
};

struct fcm {
	EVP_PKEY *key;
	char *email;
	char *token_url;
	char *project;
	char *url;
	uint32_t retries;
	uint32_t base_ms, cap_ms;

	struct push_http *http;
	struct push_hreq *fetch; /* token request in flight */
	struct tmr tmr;          /* refresh or retry of the token */
	unsigned fails;          /* fetches failed in a row */
	int fetch_err;           /* why a fetch could not even be sent */
	char *access;            /* the access token, or NULL */
	uint64_t expires;        /* tmr_jiffies() when it expires */

	fcm_ready_h *rh;
	void *arg;
	struct metric *m_ok, *m_fail;
};

static void fetch_start(struct fcm *f);

static void destructor(void *arg)
{
	struct fcm *f = arg;

	tmr_cancel(&f->tmr);
	mem_deref(f->fetch);
	mem_deref(f->http);
	EVP_PKEY_free(f->key);
	mem_deref(f->email);
	mem_deref(f->token_url);
	mem_deref(f->project);
	mem_deref(f->url);
	mem_deref(f->access);
}

static int key_str(char **dst, json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);

	if (!json_is_string(v) || !json_string_length(v))
		return EINVAL;
	return str_dup(dst, json_string_value(v));
}

const char *fcm_project(const struct fcm *f)
{
	return f ? f->project : NULL;
}

/* client_email, private_key, token_uri and project_id of the key file. */
static int load_key(struct fcm *f, const struct conf_push *cp)
{
	json_error_t jerr;
	char *buf = NULL, *pem = NULL;
	json_t *j = NULL;
	size_t len;
	int err;

	err = push_file_read(&buf, &len, cp->fcm_credentials);
	if (err)
		goto out;

	j = json_loadb(buf, len, 0, &jerr);
	if (!json_is_object(j)) {
		err = EINVAL;
		goto out;
	}

	err = key_str(&f->email, j, "client_email");
	if (!err)
		err = key_str(&pem, j, "private_key");
	if (!err)
		err = key_str(&f->project, j, "project_id");
	if (!err && cp->fcm_token_url)
		err = str_dup(&f->token_url, cp->fcm_token_url);
	else if (!err)
		err = key_str(&f->token_url, j, "token_uri");
	if (!err)
		err = push_key_load(&f->key, pem, strlen(pem));
	if (!err && !EVP_PKEY_is_a(f->key, "RSA"))
		err = EINVAL;

out:
	if (err)
		log_error("push: cannot load the FCM service-account key %s "
			  "(client_email, private_key, project_id, token_uri "
			  "and an RSA key are needed): %m",
			  cp->fcm_credentials, err);
	json_decref(j);
	mem_deref(pem);
	mem_deref(buf);
	return err;
}

int fcm_alloc(struct fcm **fp, const struct conf *conf, struct push_http *http,
	      fcm_ready_h *rh, void *arg)
{
	const struct conf_push *cp = &conf->push;
	struct fcm *f;
	int err;

	f = mem_zalloc(sizeof(*f), destructor);
	if (!f)
		return ENOMEM;

	tmr_init(&f->tmr);
	f->http = mem_ref(http);
	f->rh = rh;
	f->arg = arg;
	f->retries = cp->retries;
	f->base_ms = cp->retry_base_ms;
	f->cap_ms = cp->retry_cap_ms;

	err = load_key(f, cp);
	if (!err)
		err = str_dup(&f->url, cp->fcm_url);
	if (err)
		goto out;

	f->m_ok = metrics_get(METRIC_COUNTER, "mobility_push_tokens_total",
			      "provider=\"fcm\",outcome=\"ok\"",
			      "Provider tokens made (APNs JWT) or fetched "
			      "(FCM access token)");
	f->m_fail = metrics_get(METRIC_COUNTER, "mobility_push_tokens_total",
				"provider=\"fcm\",outcome=\"failed\"",
				"Provider tokens made (APNs JWT) or fetched "
				"(FCM access token)");

out:
	if (err)
		mem_deref(f);
	else
		*fp = f;
	return err;
}

static void refresh_h(void *arg)
{
	fetch_start(arg);
}

/* expires_in: a number of seconds (some servers send a string). */
static int64_t lifetime(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

/* A fetch failed (sent and refused, or not sent at all): again after a
 * backoff, or, past the retries, the waiting pushes fail (the next push
 * tries again). */
static void fetch_failed(struct fcm *f, int err)
{
	metric_add(f->m_fail, 1);
	log_warn("push: cannot get an FCM access token from %s: %m",
		 f->token_url, err);
	if (++f->fails > f->retries) {
		f->fails = 0;
		f->rh(err, f->arg);
		return;
	}
	tmr_start(&f->tmr, push_backoff(f->base_ms, f->cap_ms, f->fails - 1),
		  refresh_h, f);
}

/* Not from inside fetch_start(): it may run within push_send(). */
static void unsent_h(void *arg)
{
	struct fcm *f = arg;

	fetch_failed(f, f->fetch_err);
}

static void fetch_done(int err, const struct push_hresp *resp, void *arg)
{
	struct fcm *f = arg;
	json_t *j = NULL, *tok;
	int64_t life;

	f->fetch = mem_deref(f->fetch);

	if (!err && resp->status != 200) {
		log_warn("push: FCM token endpoint answered %u: %b",
			 resp->status, resp->body,
			 resp->body_len > 200 ? (size_t)200 : resp->body_len);
		err = EAUTH;
	}
	if (!err) {
		j = json_loadb(resp->body, resp->body_len, 0, NULL);
		tok = json_object_get(j, "access_token");
		life = lifetime(json_object_get(j, "expires_in"));
		if (!json_is_string(tok) || !json_string_length(tok) ||
		    json_string_length(tok) > MAX_HDR - 64)
			err = EPROTO;
	}
	if (!err) {
		f->access = mem_deref(f->access);
		err = str_dup(&f->access, json_string_value(tok));
	}
	json_decref(j);

	if (err) {
		fetch_failed(f, err);
		return;
	}

	if (life < MIN_TOKEN_LIFE_S)
		life = MIN_TOKEN_LIFE_S;
	if (life > MAX_TOKEN_LIFE_S)
		life = MAX_TOKEN_LIFE_S;

	metric_add(f->m_ok, 1);
	f->fails = 0;
	f->expires = tmr_jiffies() + (uint64_t)life * 1000;
	tmr_start(&f->tmr, (uint64_t)life * 10 * REFRESH_PERCENT, refresh_h, f);
	f->rh(0, f->arg);
}

static int grant(char **formp, struct fcm *f)
{
	time_t now = time(NULL);
	char *hdr = NULL, *claims = NULL, *jwt = NULL;
	json_t *j;
	int err = ENOMEM;

	j = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
	hdr = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", f->email, "scope",
		      FCM_SCOPE, "aud", f->token_url, "iat", (json_int_t)now,
		      "exp", (json_int_t)(now + GRANT_LIFETIME_S));
	claims = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);

	if (hdr && claims)
		err = push_jwt_sign(&jwt, f->key, hdr, claims);
	/* base64url and '.' need no form encoding */
	if (!err)
		err = re_sdprintf(formp, "grant_type=%s&assertion=%s",
				  GRANT_TYPE, jwt);

	free(hdr);
	free(claims);
	mem_deref(jwt);
	return err;
}

static void fetch_start(struct fcm *f)
{
	static const char *const hdrv[] = {
	    "content-type: application/x-www-form-urlencoded"};
	char *form = NULL;
	int err;

	if (f->fetch)
		return;

	tmr_cancel(&f->tmr);
	err = grant(&form, f);
	if (!err)
		err = push_http_post(&f->fetch, f->http, f->token_url, hdrv, 1,
				     form, strlen(form), fetch_done, f);
	mem_deref(form);
	if (err) {
		f->fetch_err = err;
		tmr_start(&f->tmr, 0, unsent_h, f);
	}
}

bool fcm_ready(struct fcm *f)
{
	if (f->access && tmr_jiffies() < f->expires)
		return true;

	/* not during the backoff after a failed fetch */
	if (!tmr_isrunning(&f->tmr))
		fetch_start(f);
	return false;
}

void fcm_renew(struct fcm *f)
{
	if (!f)
		return;

	f->access = mem_deref(f->access);
	if (!f->fetch)
		tmr_cancel(&f->tmr);
}

int fcm_payload(char **jsonp, const struct push_target *t,
		const struct push_msg *m, const struct push_alert *al,
		uint32_t ttl_s, const char *collapse)
{
	json_t *j = json_object(), *msg = json_object(), *data = json_object(),
	       *android = json_object();
	const char *kind = "message";
	char ttl[32], badge[16];
	bool call = m->kind == PUSH_CALL;
	int err = 0;

	if (!j || !msg || !data || !android) {
		err = ENOMEM;
		goto out;
	}

	if (call)
		kind = "call";
	else if (m->kind == PUSH_MISSED_CALL)
		kind = "missed_call";

	/* data values are strings in FCM v1 */
	(void)re_snprintf(badge, sizeof(badge), "%u", m->badge);
	err |= json_object_set_new(data, "kind", json_string(kind));
	if (m->push_id)
		err |= json_object_set_new(data, "pushId",
					   json_string(m->push_id));
	if (!call)
		err |= json_object_set_new(data, "badge", json_string(badge));
	if (call && al->title)
		err |=
		    json_object_set_new(data, "from", json_string(al->title));

	(void)re_snprintf(ttl, sizeof(ttl), "%us",
			  call ? (unsigned)PUSH_CALL_TTL_S : ttl_s);
	err |= json_object_set_new(
	    android, "priority",
	    json_string(m->kind == PUSH_MISSED_CALL ? "normal" : "high"));
	err |= json_object_set_new(android, "ttl", json_string(ttl));
	if (collapse && !call)
		err |= json_object_set_new(android, "collapse_key",
					   json_string(collapse));

	err |= json_object_set_new(msg, "token", json_string(t->token));
	if (!call) {
		json_t *n = json_object();

		if (n && al->title)
			err |= json_object_set_new(n, "title",
						   json_string(al->title));
		if (n)
			err |= json_object_set_new(n, "body",
						   json_string(al->body));
		err |= json_object_set_new(msg, "notification", n);
	}
	err |= json_object_set(msg, "data", data);
	err |= json_object_set(msg, "android", android);
	err |= json_object_set(j, "message", msg);

out:
	*jsonp = err ? NULL : json_dumps(j, JSON_COMPACT);
	json_decref(j);
	json_decref(msg);
	json_decref(data);
	json_decref(android);
	return *jsonp ? 0 : (err ? err : ENOMEM);
}

int fcm_post(struct push_hreq **rp, struct fcm *f, struct push_http *http,
	     const struct push_target *t, const char *payload, push_http_h *h,
	     void *arg)
{
	char auth[MAX_HDR];
	const char *hdrv[2];
	char *url = NULL;
	int err;

	if (!f->access)
		return EAUTH;

	err = re_sdprintf(&url, "%s/v1/projects/%s/messages:send", f->url,
			  t->topic ? t->topic : f->project);
	if (err)
		return err;

	(void)re_snprintf(auth, sizeof(auth), "authorization: Bearer %s",
			  f->access);
	hdrv[0] = auth;
	hdrv[1] = "content-type: application/json; charset=utf-8";

	err = push_http_post(rp, http, url, hdrv, 2, payload, strlen(payload),
			     h, arg);
	mem_deref(url);
	return err;
}

/* {"error":{"code":404,"message":..,"status":"NOT_FOUND","details":
 *  [{"@type":"...FcmError","errorCode":"UNREGISTERED"}]}} */
enum push_verdict fcm_verdict(const struct push_hresp *resp, char *reason,
			      size_t size)
{
	json_t *j, *e, *d, *v;
	const char *code = "", *status = "", *msg = "";
	enum push_verdict pv = PV_FAIL;
	size_t i;

	reason[0] = '\0';
	if (resp->status == 200)
		return PV_SENT;

	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	e = json_object_get(j, "error");
	v = json_object_get(e, "status");
	if (json_is_string(v))
		status = json_string_value(v);
	v = json_object_get(e, "message");
	if (json_is_string(v))
		msg = json_string_value(v);
	d = json_object_get(e, "details");
	for (i = 0; i < json_array_size(d); i++) {
		v = json_object_get(json_array_get(d, i), "errorCode");
		if (json_is_string(v))
			code = json_string_value(v);
	}
	(void)re_snprintf(reason, size, "%s", code[0] ? code : status);

	if (!strcmp(code, "UNREGISTERED") || resp->status == 404)
		pv = PV_DROP;
	else if (resp->status == 400 && !strcmp(status, "INVALID_ARGUMENT") &&
		 strcasestr(msg, "registration token"))
		pv = PV_DROP;
	else if (resp->status == 401)
		pv = PV_REAUTH;
	else if (resp->status == 429 || resp->status >= 500)
		pv = PV_RETRY;

	json_decref(j);
	return pv;
}
