"""The push policy against the local APNs/FCM stand-in (pushsrv.py), with
bob on baresip sending alice IMs through the real Front End:

- alice's app is not polling: exactly one push per IM to the APNs
  stand-in, with the device path, topic, alert type, collapse id (the
  conversation) and badge (messages not acknowledged); by default the
  alert names the sender, never the text (alert_text = full adds it);
  the session is named by the registration's opaque pushId, never by
  the application id;
- while alice holds a P-GET: none (the P-GET gets the message);
- presence changes: none;
- 410 Unregistered: the registration is gone (GET 404) and the session
  falls back to the short lifetime;
- FCM: the same IM as an FCM v1 message to the project's endpoint;
- after a restart, a P-GET the phone abandons (its token read from the
  store) does not hold back the next push."""
import json
import time

from mobility import Mobilityd
from ucwa_client import api, create, im_texts, park, token

LIFETIMES = SHORT, LONG = 4, 60
TOPIC = "com.example.mobile"
BOB = "sip:bob@example.test"


def session(push_mob, epid, reg):
    """A new application of alice with a push registration."""
    tok = token(push_mob, "alice")
    st, h, body = create(push_mob, tok, epid)
    assert st == 201, body
    app = h["location"]
    st, _, body = api(push_mob, tok, "PUT", app + "/pushRegistration", reg)
    assert st == 201, body
    return {"tok": tok, "app": app, "ack": 1, "pushId": json.loads(body)["pushId"]}


def names_the_session(payload, a):
    """The push names the session by its registration's opaque id, never
    by the application id (a request with it reached the session)."""
    assert payload["pushId"] == a["pushId"], payload
    assert a["app"].rsplit("/", 1)[1] not in json.dumps(payload), payload


def apns(tok):
    return {"provider": "apns", "token": tok, "topic": TOPIC}


def read_ims(push_mob, a, n):
    """Read batches until n incoming messages came (each GET is answered
    at once while events are pending: it never parks here)."""
    got = []
    while len(got) < n:
        st, _, body = api(push_mob, a["tok"], "GET", a["app"] + "/events?ack=%d" % a["ack"])
        assert st == 200, body
        a["ack"] += 1
        got += im_texts(json.loads(body))
    return got


def test_im_to_a_sleeping_app_pushes_once(push_mob, push, bob_ua):
    dev = "a1" * 32
    a = session(push_mob, "policy-apns", apns(dev))
    bob_ua.send_message("sip:alice@example.test", "wake up 1")
    (p,) = push.wait(dev, 1)
    assert p.method == "POST" and p.path == "/3/device/" + dev
    assert p.headers["apns-topic"] == TOPIC
    assert p.headers["apns-push-type"] == "alert"
    assert p.headers["apns-collapse-id"] == "conversation-1"
    assert p.headers["authorization"].startswith("bearer ")
    push.verify_apns_jwt(p)
    body = p.json()
    assert body["aps"]["badge"] == 1, body
    # the default: who wrote, not what (a locked screen shows it)
    assert body["aps"]["alert"] == {"body": "New message from " + BOB}, body
    assert "wake up" not in json.dumps(body), body
    names_the_session(body, a)

    # a second one before the app looked: badge 2, the same conversation
    bob_ua.send_message("sip:alice@example.test", "wake up 2")
    p2 = push.wait(dev, 2)[1]
    assert p2.json()["aps"]["badge"] == 2
    assert p2.headers["apns-collapse-id"] == "conversation-1"

    # the app wakes, reads and acknowledges both: the next counts from 1
    assert read_ims(push_mob, a, 2) == ["wake up 1", "wake up 2"]
    # a short P-GET: its ack=N acknowledges the last batch
    th, _ = park(push_mob, a["tok"], a["app"] + "/events?ack=%d" % a["ack"], 1)
    th.join()
    bob_ua.send_message("sip:alice@example.test", "wake up 3")
    p3 = push.wait(dev, 3)[2]
    assert p3.json()["aps"]["badge"] == 1, p3.json()
    assert api(push_mob, a["tok"], "DELETE", a["app"])[0] == 204


def test_no_push_while_a_pget_is_parked(push_mob, push, bob_ua):
    dev = "b2" * 32
    a = session(push_mob, "policy-parked", apns(dev))
    th, out = park(push_mob, a["tok"], a["app"] + "/events?ack=%d" % a["ack"], 8)
    time.sleep(0.5)
    bob_ua.send_message("sip:alice@example.test", "you are awake")
    th.join()
    st, _, body = out[0]
    assert st == 200 and im_texts(json.loads(body)) == ["you are awake"], body
    assert push.of(token=dev) == []
    assert api(push_mob, a["tok"], "DELETE", a["app"])[0] == 204


def test_presence_never_pushes(push_mob, push, bob_ua):
    dev = "c3" * 32
    a = session(push_mob, "policy-presence", apns(dev))
    st, _, body = api(push_mob, a["tok"], "POST", a["app"] + "/people/presenceSubscriptions",
                      {"duration": 11, "uris": [BOB]})
    assert st == 201, body
    for status in ("online", "offline", "online", "offline"):
        bob_ua.set_presence(status)
        time.sleep(0.5)
    time.sleep(1)
    # the changes did reach the session: they are in its events
    st, _, body = api(push_mob, a["tok"], "GET", a["app"] + "/events?ack=1&medium=0")
    assert st == 200 and b"contactPresence" in body, body
    assert push.of(token=dev) == []
    assert api(push_mob, a["tok"], "DELETE", a["app"])[0] == 204


def test_unregistered_token_drops_the_registration(push_mob, push, bob_ua):
    dev = "d4" * 32
    push.script(dev, "410")
    a = session(push_mob, "policy-410", apns(dev))
    bob_ua.send_message("sip:alice@example.test", "to a gone device")
    push.wait(dev, 1)
    deadline = time.monotonic() + 5
    while True:
        st, _, body = api(push_mob, a["tok"], "GET", a["app"] + "/pushRegistration")
        if st == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert st == 404 and b"no push registration" in body, body
    # the short lifetime now: gone SHORT after that last request
    before = push_mob.metric("mobility_sessions_expired_total")
    t0 = time.monotonic()
    while push_mob.metric("mobility_sessions_expired_total") == before:
        assert time.monotonic() - t0 < SHORT + 5, "the session did not end"
        time.sleep(0.2)
    assert api(push_mob, a["tok"], "GET", a["app"])[0] == 404


def test_fcm(push_mob, push, bob_ua):
    dev = "fcm-device-token:APA91b_" + "q" * 40
    a = session(push_mob, "policy-fcm", {"provider": "fcm", "token": dev})
    bob_ua.send_message("sip:alice@example.test", "hello android")
    (p,) = push.wait(dev, 1)
    assert p.method == "POST"
    assert p.path == "/v1/projects/mobility-test/messages:send"
    msg = p.json()["message"]
    assert msg["token"] == dev
    assert msg["notification"] == {"body": "New message from " + BOB}, msg
    assert "hello android" not in json.dumps(msg), msg
    names_the_session(msg["data"], a)
    assert api(push_mob, a["tok"], "DELETE", a["app"])[0] == 204


def test_alert_text_full(fe, push, bob_ua, tmp_path_factory):
    """[push] alert_text = full: the operator chose to show the text on
    the lock screen, under the sender."""
    dev = "e5" * 32
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe,
                  extra={"push": push.conf_lines(alert_text="full")})
    m.start()
    try:
        a = session(m, "policy-privacy", apns(dev))
        bob_ua.send_message("sip:alice@example.test", "a shown text")
        (p,) = push.wait(dev, 1)
        alert = p.json()["aps"]["alert"]
        assert alert["body"] == "a shown text" and "bob" in alert["title"], alert
        assert api(m, a["tok"], "DELETE", a["app"])[0] == 204
    finally:
        assert m.stop() == 0, m.log()


def wait_app(m, tok, app, timeout=15):
    """The application answers 200 again after a restart (503 while it is
    being restored)."""
    deadline = time.monotonic() + timeout
    while True:
        st, _, body = api(m, tok, "GET", app)
        if st != 503 or time.monotonic() > deadline:
            return st, body
        time.sleep(0.05)


def test_abandoned_pget_after_restart_does_not_hold_pushes(fe, push, bob_ua, tmp_path):
    """After a restart the phone parks a P-GET with its token (read from
    the store: the new process has not seen it yet), then drops the
    connection: the next IM must push at once, not after the P-GET's
    timeout (180 s)."""
    dev = "f6" * 32
    m = Mobilityd(tmp_path, fe=fe, extra={"push": push.conf_lines()})
    m.start()
    try:
        a = session(m, "policy-restart", apns(dev))
        m.kill()
        m.start()
        # wait for the application with another token of alice's, so the
        # phone's own token is still unknown to the new process
        st, body = wait_app(m, token(m, "alice"), a["app"])
        assert st == 200, body
        th, out = park(m, a["tok"], a["app"] + "/events?ack=%d" % a["ack"], 2)
        th.join()
        assert out == [], out  # it was parked, then the phone left
        bob_ua.send_message("sip:alice@example.test", "after the restart")
        (p,) = push.wait(dev, 1, timeout=10)
        assert p.json()["aps"]["badge"] == 1, p.json()
        assert read_ims(m, a, 1) == ["after the restart"]
        assert api(m, a["tok"], "DELETE", a["app"])[0] == 204
    finally:
        if m.proc:
            assert m.stop() == 0, m.log()


def test_fcm_configured_projects_only(fe, push, bob_ua, tmp_path):
    """[push] fcm_project adds a project a registration may name (besides
    the credentials' own); any other is refused, so nobody spends this
    service's FCM credentials on a project of theirs."""
    dev = "fcm-device-token:APA91b_" + "p" * 40
    m = Mobilityd(tmp_path, fe=fe,
                  extra={"push": push.conf_lines(fcm_project="other-app")})
    m.start()
    try:
        tok = token(m, "alice")
        st, h, body = create(m, tok, "policy-fcm-project")
        assert st == 201, body
        reg = h["location"] + "/pushRegistration"
        st, _, body = api(m, tok, "PUT", reg, {"provider": "fcm", "token": dev,
                                               "project": "third-party-app"})
        assert st == 400, body
        err = json.loads(body)
        assert err["code"] == "BadRequest", err
        assert "project third-party-app is not one this service pushes for" in err["message"]
        assert api(m, tok, "GET", reg)[0] == 404
        # the credentials' own project and the configured one are fine
        for project in ("mobility-test", "other-app"):
            st, _, body = api(m, tok, "PUT", reg, {"provider": "fcm", "token": dev,
                                                   "project": project})
            assert st in (200, 201), body
        bob_ua.send_message("sip:alice@example.test", "to the other app")
        (p,) = push.wait(dev, 1)
        assert p.path == "/v1/projects/other-app/messages:send", p.path
        assert api(m, tok, "DELETE", h["location"])[0] == 204
    finally:
        assert m.stop() == 0, m.log()
