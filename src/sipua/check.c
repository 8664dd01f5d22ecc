/**
 * @file check.c  Credential check by a binding query
 *
 * RFC 3261 10.2.3: a REGISTER without a Contact header asks for the
 * current bindings and changes none. The registrar still authenticates
 * it, so a 200 after our digest answer proves the password without
 * touching the user's other devices. (Contact: * with Expires: 0 would
 * remove every binding of the user: never sent.)
 */
#include <string.h>
#include "sipua_int.h"

struct sipua_check {
	struct sipua_treq *treq;
	sipua_check_h *h;
	void *arg;
};

static void destructor(void *arg)
{
	struct sipua_check *chk = arg;

	chk->treq = mem_deref(chk->treq);
}

static void treq_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_check *chk = arg;
	const char *ha1 = NULL;
	uint16_t scode = msg ? msg->scode : 0;

	if (!err) {
		if (scode >= 200 && scode < 300 &&
		    sipua_treq_answered(chk->treq)) {
			ha1 = sipua_treq_ha1(chk->treq);
		} else if ((scode == 401 || scode == 407 || scode == 403) &&
			   sipua_treq_answered(chk->treq)) {
			/* our answer was refused: wrong user or password */
			err = EACCES;
		} else if (scode >= 200 && scode < 300) {
			/* a 200 without a challenge proves nothing */
			err = EPROTO;
		} else {
			err = (scode == 403 || scode == 404) ? EACCES : EPROTO;
		}
	}

	log_info("sipua: credential check: %u (%m)", scode, err);
	chk->h(err, ha1, scode, chk->arg);
}

/* user and domain go into a SIP URI and a quoted string unescaped: only
 * RFC 3261 25.1 unreserved characters are taken */
static bool safe_token(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (!n || n > max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-_.!~*'()", c)))
			return false;
	}
	return true;
}

bool sipua_user_valid(const char *user)
{
	return safe_token(user, SIPUA_MAX_USER);
}

bool sipua_domain_valid(const char *domain)
{
	return safe_token(domain, SIPUA_MAX_DOMAIN);
}

int sipua_check_password(struct sipua_check **chkp, struct sipua *ua,
			 const char *user, const char *domain,
			 const char *password, sipua_check_h *h, void *arg)
{
	struct sipua_check *chk;
	char *hdrs = NULL, *ruri = NULL;
	char tag[17], callid[33];
	int err;

	if (!chkp || !ua || !h || !sipua_user_valid(user) ||
	    !sipua_domain_valid(domain) || !password ||
	    strlen(password) > SIPUA_MAX_PASSWORD)
		return EINVAL;

	chk = mem_zalloc(sizeof(*chk), destructor);
	if (!chk)
		return ENOMEM;

	chk->h = h;
	chk->arg = arg;

	sipua_rand_hex(tag, 8);
	sipua_rand_hex(callid, 16);
	err = re_sdprintf(&ruri, "sip:%s", domain);
	/* no Contact header: a query (RFC 3261 10.2.3) */
	err |= re_sdprintf(&hdrs,
			   /* libre adds Max-Forwards: 70 */
			   "To: <sip:%s@%s>\r\n"
			   "From: <sip:%s@%s>;tag=%s\r\n"
			   "Call-ID: %s\r\n",
			   user, domain, user, domain, tag, callid);
	if (err)
		goto out;

	err = sipua_treq_send(&chk->treq, ua, "REGISTER", ruri, hdrs, user,
			      NULL, password, 1, treq_handler, chk);

out:
	mem_deref(hdrs);
	mem_deref(ruri);
	if (err)
		mem_deref(chk);
	else
		*chkp = chk;

	return err;
}
