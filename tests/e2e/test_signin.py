"""Sign-in end to end: autodiscover -> 401 challenge -> token service
(credentials checked by the real Front End) -> the user resource with the
token; wrong passwords, throttling that sends nothing to the Front End,
renewal, and request errors."""
import json
import subprocess
import time

import pytest

from mobility import DOMAIN, EXT_FQDN

BASE = "/Autodiscover/AutodiscoverService.svc/root"
TOKEN = "/WebTicket/oauthtoken"


def ext(mob, path):
    return "https://%s:%d%s" % (EXT_FQDN, mob.https_port, path)


def token_request(mob, form, ctype="application/x-www-form-urlencoded"):
    st, h, body = mob.curl(ext(mob, TOKEN), "-X", "POST", "-H", "Content-Type: " + ctype,
                           "--data-raw", form)
    return st, h, json.loads(body) if body else None


def registers(fe, user):
    """REGISTER requests from user that the Front End has logged."""
    return sum(1 for line in fe.log_text().splitlines()
               if "REGISTER" in line and "%s@" % user in line)


def test_sign_in_and_user_resource(mob):
    # the app finds the user resource and is challenged
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN))
    user_url = json.loads(body)["_links"]["user"]["href"]
    st, h, _ = mob.curl(user_url)
    assert st == 401
    assert ext(mob, TOKEN) in h["www-authenticate"]

    # password grant, checked by the Front End
    st, h, tok = token_request(mob, "grant_type=password&username=sip%3Aalice%40example.test"
                                    "&password=alice-secret")
    assert st == 200, tok
    assert h["content-type"] == "application/json"
    assert tok["token_type"] == "Bearer"
    assert tok["expires_in"] == 28800
    assert tok["ms_rtc_identityscope"] == "local"
    assert tok["access_token"].startswith("cwt=") and len(tok["access_token"]) == 47

    # the user resource now answers with the applications link
    st, h, body = mob.curl(user_url, "-H", "Authorization: Bearer " + tok["access_token"])
    assert st == 200
    links = json.loads(body)["_links"]
    assert links["applications"]["href"] == ext(mob, "/ucwa/oauth/v1/applications")
    st, h, body = mob.curl(user_url, "-H", "Authorization: Bearer " + tok["access_token"],
                           "-H", "Accept: application/vnd.microsoft.rtc.autodiscover+xml;v=1")
    assert st == 200 and b'token="Ucwa"' in body

    # the password never reaches the log
    assert "alice-secret" not in mob.log()


def test_wrong_password(mob, fe):
    before = registers(fe, "bob")
    st, h, err = token_request(mob, "grant_type=password&username=bob@example.test"
                                    "&password=wrong")
    assert st == 400 and err["error"] == "invalid_grant"
    time.sleep(0.3)
    # one challenge-response pair: the query and its digest answer
    assert registers(fe, "bob") - before == 2
    # an unknown user is refused the same way
    st, h, err = token_request(mob, "grant_type=password&username=nobody@example.test"
                                    "&password=x")
    assert st == 400 and err["error"] == "invalid_grant"


def test_throttled_attempts_send_nothing(mob, fe):
    for i in range(5):
        st, _, err = token_request(mob, "grant_type=password&username=carol@example.test"
                                        "&password=bad%d" % i)
        assert st == 400, err
    time.sleep(0.3)
    before = registers(fe, "carol")
    st, h, err = token_request(mob, "grant_type=password&username=carol@example.test"
                                    "&password=carol-secret")
    assert st == 429
    assert int(h["retry-after"]) > 0
    assert "too many failed sign-ins" in err["error_description"]
    time.sleep(0.3)
    assert registers(fe, "carol") == before
    # other users are not affected
    st, _, tok = token_request(mob, "grant_type=password&username=alice@example.test"
                                    "&password=alice-secret")
    assert st == 200


def test_renewal(mob):
    st, _, tok = token_request(mob, "grant_type=password&username=alice@example.test"
                                    "&password=alice-secret")
    old = tok["access_token"]
    st, _, new = token_request(mob, "ms_rtc_renew=" + old.replace("=", "%3D"))
    assert st == 200 and new["access_token"] != old
    user_url = ext(mob, BASE + "/oauth/user")
    st, _, _ = mob.curl(user_url, "-H", "Authorization: Bearer " + new["access_token"])
    assert st == 200
    st, _, _ = mob.curl(user_url, "-H", "Authorization: Bearer " + old)
    assert st == 401
    st, _, err = token_request(mob, "ms_rtc_renew=" + old.replace("=", "%3D"))
    assert st == 400 and err["error"] == "invalid_grant"


@pytest.mark.parametrize("form,ctype,code,error", [
    ("grant_type=password&username=alice@example.test", None, 400, "invalid_request"),
    ("username=alice@example.test&password=x", None, 400, "invalid_request"),
    ("grant_type=urn:microsoft.rtc:windows&username=a@example.test&password=x", None, 400,
     "unsupported_grant_type"),
    ("grant_type=password&username=alice&password=x", None, 400, "invalid_request"),
    ("grant_type=password&username=a%0d%0aVia:x@example.test&password=x", None, 400,
     "invalid_request"),
    ("grant_type=password&username=alice@other.test&password=x", None, 400, "invalid_grant"),
    ("grant_type=password&grant_type=password&username=a@example.test&password=x", None, 400,
     "invalid_request"),
    ("grant_type=password&username=alice@example.test&password=x", "application/json", 400,
     "invalid_request"),
])
def test_bad_requests(mob, form, ctype, code, error):
    st, _, err = token_request(mob, form, ctype or "application/x-www-form-urlencoded")
    assert st == code and err["error"] == error


def test_form_names_ignore_case(mob):
    """The token form's parameter names are compared ignoring case, as
    the query parameters of autodiscover, events and history are."""
    st, _, tok = token_request(mob, "Grant_Type=password&UserName=sip%3Abob%40example.test"
                                    "&PASSWORD=bob-secret")
    assert st == 200, tok
    assert tok["access_token"].startswith("cwt=")
    # the same name twice, in two cases, is a repeated parameter
    st, _, err = token_request(mob, "grant_type=password&GRANT_TYPE=password"
                                    "&username=bob@example.test&password=bob-secret")
    assert st == 400 and err["error"] == "invalid_request"


def test_get_not_allowed(mob):
    st, h, _ = mob.curl(ext(mob, TOKEN))
    assert st == 405 and h["allow"] == "POST, DELETE"


def test_token_answer_is_kept_from_caches_and_never_compressed(mob):
    """The answer that carries the token says no-store (RFC 6749 5.1), and
    is sent as it is even to a client that asks for gzip: a compressed
    answer's length would tell about the token (BREACH)."""
    st, h, body = mob.curl(ext(mob, TOKEN), "-X", "POST", "-H",
                           "Content-Type: application/x-www-form-urlencoded",
                           "-H", "Accept-Encoding: gzip, deflate",
                           "--data-raw", "grant_type=password&username="
                           "alice%40example.test&password=alice-secret")
    assert st == 200, body
    assert h["cache-control"] == "no-store"
    assert h.get("pragma") == "no-cache"
    assert "content-encoding" not in h
    assert json.loads(body)["access_token"].startswith("cwt=")
