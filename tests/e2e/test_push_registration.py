"""applications/<id>/pushRegistration, our extension to the UCWA model:
where the app is woken. PUT in JSON and XML (201 new, 200 replaced), GET
(tokens shown, and the opaque pushId that pushes carry: new for a new
registration, kept when replaced), DELETE (204), clear 400s for every bad
member, 404 when there is none and for another user's application, and
the registration (its pushId too) kept across a restart."""
import json

import pytest

from mobility import Mobilityd
from ucwa_client import api, create, token

APNS_TOKEN = "a1b2c3d4" * 8
FCM_TOKEN = "fcm-Tok_en:APA91bH" + "x" * 40



@pytest.fixture(scope="module")
def mob(fe, push, tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe,
                  extra={"push": push.conf_lines()})
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def apns_only(fe, push, tmp_path_factory):
    """A service with credentials for APNs only."""
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe,
                  extra={"push": push.conf_lines(fcm=False)})
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def alice(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "pushreg-" + fmt)
    assert st in (200, 201), body
    return {"tok": tok, "app": h.get("location") or json.loads(body)["_links"]["self"]["href"]}


def reg(alice):
    return alice["app"] + "/pushRegistration"


def test_application_links_it(mob, alice):
    st, _, body = api(mob, alice["tok"], "GET", alice["app"])
    assert st == 200, body
    assert json.loads(body)["_links"]["pushRegistration"]["href"] == reg(alice)


def test_none_yet(mob, alice):
    api(mob, alice["tok"], "DELETE", reg(alice))
    st, _, body = api(mob, alice["tok"], "GET", reg(alice))
    assert st == 404, body
    assert json.loads(body)["code"] == "NotFound"


def test_apns_put_get_replace_delete(mob, alice):
    api(mob, alice["tok"], "DELETE", reg(alice))
    body = {"provider": "apns", "token": APNS_TOKEN, "topic": "com.example.mobile",
            "voipToken": "ff00" * 16}
    st, h, out = api(mob, alice["tok"], "PUT", reg(alice), body)
    assert st == 201, out
    assert h["location"] == reg(alice)
    r = json.loads(out)
    assert r["provider"] == "apns" and r["token"] == APNS_TOKEN
    assert r["topic"] == "com.example.mobile" and r["voipToken"] == "ff00" * 16
    assert r["_links"]["self"]["href"] == reg(alice)
    # its opaque id (what pushes carry): 22 letters and digits
    pid = r["pushId"]
    assert len(pid) == 22 and pid.isalnum(), pid
    assert pid not in alice["app"]

    st, _, out = api(mob, alice["tok"], "GET", reg(alice))
    assert st == 200 and json.loads(out)["token"] == APNS_TOKEN, out

    # replaced: 200, and what is not given any more is gone
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice),
                     {"provider": "apns", "token": "0" * 64, "topic": "com.example.mobile"})
    assert st == 200, out
    r = json.loads(out)
    assert r["token"] == "0" * 64 and "voipToken" not in r
    assert r["pushId"] == pid  # replaced, the same registration id

    st, _, out = api(mob, alice["tok"], "DELETE", reg(alice))
    assert st == 204, out
    assert api(mob, alice["tok"], "GET", reg(alice))[0] == 404
    # deleting nothing is fine
    assert api(mob, alice["tok"], "DELETE", reg(alice))[0] == 204
    # a new registration, a new id; the client cannot choose it
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice), dict(body, pushId=pid))
    assert st == 201, out
    assert json.loads(out)["pushId"] not in (pid, "")


def test_fcm_by_post(mob, alice):
    st, _, out = api(mob, alice["tok"], "POST", reg(alice),
                     {"provider": "fcm", "token": FCM_TOKEN, "project": "mobility-test"})
    assert st in (200, 201), out
    r = json.loads(out)
    assert r["provider"] == "fcm" and r["token"] == FCM_TOKEN
    assert r["project"] == "mobility-test" and "topic" not in r
    # the project is optional: the configured one is used
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice),
                     {"provider": "FCM", "token": FCM_TOKEN})
    assert st == 200 and "project" not in json.loads(out), out
    assert api(mob, alice["tok"], "DELETE", reg(alice))[0] == 204


@pytest.mark.parametrize("body,why", [
    ({"token": APNS_TOKEN, "topic": "com.x"}, "provider is required: apns or fcm"),
    ({"provider": "gcm", "token": "x"}, "provider is required: apns or fcm"),
    ({"provider": "apns", "topic": "com.x"}, "token is required for apns"),
    ({"provider": "apns", "token": APNS_TOKEN}, "topic is required for apns"),
    ({"provider": "apns", "token": "zz" * 32, "topic": "com.x"},
     "token must be 1 to 512 hexadecimal digits"),
    ({"provider": "apns", "token": "a" * 513, "topic": "com.x"},
     "token must be 1 to 512 hexadecimal digits"),
    ({"provider": "apns", "token": "", "topic": "com.x"}, "token must be 1 to 512"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "com.x/../y"},
     "topic must be 1 to 155 letters, digits, '.' or '-'"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "a" * 156}, "topic must be 1 to 155"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "com.x\r\nX-Evil: 1"},
     "topic must be"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "com.x", "voipToken": "nothex"},
     "voipToken must be 1 to 512 hexadecimal digits"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "com.x", "project": "p"},
     "project is not used with apns"),
    ({"provider": "fcm", "token": FCM_TOKEN, "topic": "com.x"}, "topic is not used with fcm"),
    ({"provider": "fcm", "token": FCM_TOKEN, "voipToken": "00"},
     "voipToken is not used with fcm"),
    ({"provider": "fcm", "token": "a/b\"c"}, "token must be 1 to 512 letters, digits"),
    ({"provider": "fcm", "token": "ab\u0000cd"}, "token must be 1 to 512 letters, digits"),
    ({"provider": "apns", "token": APNS_TOKEN, "topic": "com.x\u0000"}, "topic must be"),
    ({"provider": "fcm", "token": FCM_TOKEN, "project": "my project"},
     "project must be 1 to 155"),
    ({"provider": "fcm", "token": FCM_TOKEN, "project": "p/../../x"},
     "project must be 1 to 155 letters, digits, '-', '_' or '.'"),
    # well formed, but not a project of this service's ([push] fcm_project)
    ({"provider": "fcm", "token": FCM_TOKEN, "project": "someone-elses-app"},
     "project someone-elses-app is not one this service pushes for"),
])
def test_bad_registrations(mob, alice, body, why):
    nul = any("\0" in v for v in body.values())
    if nul and alice["tok"].fmt == "xml":
        pytest.skip("XML cannot carry a NUL (nor can curl's arguments)")
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice), body)
    assert st == 400, out
    err = json.loads(out)
    # a NUL is refused by the JSON reader already
    if not nul:
        assert err["code"] == "BadRequest" and why in err["message"], err
    assert api(mob, alice["tok"], "GET", reg(alice))[0] == 404


def test_provider_without_credentials(apns_only):
    tok = token(apns_only, "alice")
    st, h, body = create(apns_only, tok, "pushreg-apns-only")
    assert st == 201, body
    reg_href = h["location"] + "/pushRegistration"
    st, _, out = api(apns_only, tok, "PUT", reg_href, {"provider": "fcm", "token": FCM_TOKEN})
    assert st == 400, out
    assert json.loads(out)["message"] == "this service cannot push through fcm"
    st, _, out = api(apns_only, tok, "PUT", reg_href,
                     {"provider": "apns", "token": APNS_TOKEN, "topic": "com.x"})
    assert st == 201, out


def test_not_json(mob, alice):
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice), "{provider", ctype="application/json")
    assert st == 400, out


def test_another_users_application(mob, alice):
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice),
                     {"provider": "apns", "token": APNS_TOKEN, "topic": "com.x"})
    assert st in (200, 201), out
    bob = token(mob, "bob")
    for method, body in (("GET", None), ("DELETE", None),
                         ("PUT", {"provider": "apns", "token": "0" * 64, "topic": "com.x"})):
        st, _, out = api(mob, bob, method, reg(alice), body)
        assert st == 404 and json.loads(out)["subcode"] == "ApplicationNotFound", out
    st, _, out = api(mob, alice["tok"], "GET", reg(alice))
    assert st == 200 and json.loads(out)["token"] == APNS_TOKEN, out
    assert api(mob, alice["tok"], "GET", alice["app"] + "/pushRegistration/x")[0] == 404
    st, h, _ = api(mob, alice["tok"], "PATCH", reg(alice))
    assert st == 405 and "PUT" in h["allow"]


def test_restart_keeps_it(mob, alice):
    body = {"provider": "apns", "token": APNS_TOKEN, "topic": "com.example.mobile",
            "voipToken": "abcdef"}
    st, _, out = api(mob, alice["tok"], "PUT", reg(alice), body)
    assert st in (200, 201), out
    pid = json.loads(out)["pushId"]
    assert mob.stop() == 0, mob.log()
    mob.start()
    deadline = 50
    while True:
        st, _, out = api(mob, alice["tok"], "GET", reg(alice))
        if st != 503 or not deadline:
            break
        deadline -= 1
    assert st == 200, out
    r = json.loads(out)
    assert (r["provider"], r["token"], r["topic"], r["voipToken"], r["pushId"]) == (
        "apns", APNS_TOKEN, "com.example.mobile", "abcdef", pid)
