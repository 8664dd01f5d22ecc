"""Session lifetimes (PROTOCOL.md "Mobility session lifetimes") with short
intervals: 4 s without a push registration, 20 s with one, counted from
the client's last request (a parked P-GET counts until it ends).

A push-capable session outlives a silence longer than the short interval
and still gets its IM; an always-connected one ends: 404 afterwards, its
binding gone from the Front End's registrar, its presence subscription
ended (an un-SUBSCRIBE reaches the Front End) and its publication
removed, counted in /metrics.
Removing the registration shortens the life; a restart keeps the time
left, and a session that ran out while the service was down ends at
once."""
import json
import re
import time
import uuid

from ucwa_client import api, create, im_texts, park, token

NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")
LIFETIMES = SHORT, LONG = 4, 20
APNS = {"provider": "apns", "token": "ab" * 32, "topic": "com.example.mobile"}
PUBLISH = r"PUBLISH sip:alice@example\.test from sip:alice@example\.test"


def binding(fe, epid, user="alice"):
    inst = str(uuid.uuid5(NS, "%s@example.test\n%s" % (user, epid)))
    return [r for r in fe.registrations(user) if inst in r.get("Instance", "")]


def session(push_mob, epid, push_reg=False):
    tok = token(push_mob, "alice")
    st, h, body = create(push_mob, tok, epid)
    assert st == 201, body
    app = h["location"]
    if push_reg:
        st, _, body = api(push_mob, tok, "PUT", app + "/pushRegistration", APNS)
        assert st == 201, body
    return tok, app


def wait_gone(push_mob, tok, app, timeout):
    """Poll without touching the session (GETs are contact): the count of
    ended sessions, then the 404."""
    deadline = time.monotonic() + timeout
    before = push_mob.metric("mobility_sessions_expired_total")
    while push_mob.metric("mobility_sessions_expired_total") == before:
        assert time.monotonic() < deadline, "the session did not end"
        time.sleep(0.2)
    st, _, body = api(push_mob, tok, "GET", app)
    assert st == 404 and json.loads(body)["subcode"] == "ApplicationNotFound", body


def test_push_session_outlives_the_short_interval_and_gets_its_im(fe, push_mob, bob_ua):
    tok, app = session(push_mob, "life-push", push_reg=True)
    time.sleep(SHORT + 3)
    assert binding(fe, "life-push"), "the push-capable session was dropped"
    text = "still there after %d s" % (SHORT + 3)
    bob_ua.send_message("sip:alice@example.test", text)
    deadline = time.monotonic() + 15
    ack, got = 1, []
    while text not in got and time.monotonic() < deadline:
        st, _, body = api(push_mob, tok, "GET", app + "/events?ack=%d" % ack)
        assert st == 200, body
        got += im_texts(json.loads(body))
        ack += 1
    assert text in got
    assert api(push_mob, tok, "DELETE", app)[0] == 204


def test_always_connected_session_expires(fe, push_mob, bob_ua):
    tok, app = session(push_mob, "life-short")
    before = len(fe.log_text())
    assert api(push_mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    st, _, body = api(push_mob, tok, "POST", app + "/people/presenceSubscriptions",
                      {"duration": 11, "uris": ["sip:bob@example.test"]})
    assert st == 201, body
    assert binding(fe, "life-short")
    fe.wait_log(PUBLISH, timeout=5, since=before)  # its presence
    since = len(fe.log_text())
    t0 = time.monotonic()
    wait_gone(push_mob, tok, app, SHORT + 5)
    assert time.monotonic() - t0 >= SHORT - 1
    # every resource of it is gone
    for path in ("/events?ack=1", "/me", "/people/presenceSubscriptions",
                 "/pushRegistration"):
        st, _, body = api(push_mob, tok, "GET", app + path)
        assert st == 404 and b"ApplicationNotFound" in body, (path, body)
    # un-REGISTERed, and its subscription to bob ended at the Front End
    deadline = time.monotonic() + 5
    while binding(fe, "life-short") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not binding(fe, "life-short"), fe.registrations("alice")
    # (in its dialog: toward the Front End, from the session's contact)
    fe.wait_log(r"SUBSCRIBE \S+ from sip:alice@example\.test via \S+ contact <sip:%s@"
                % re.escape(app.rsplit("/", 1)[1]), timeout=5, since=since)
    # and its publication removed (a PUBLISH with Expires: 0)
    fe.wait_log(PUBLISH, timeout=5, since=since)
    assert "expired by its lifetime" in push_mob.log()


def test_a_parked_pget_is_contact_until_it_ends(push_mob):
    tok, app = session(push_mob, "life-pget")
    # a P-GET parked longer than the short lifetime; the client gives up
    # after SHORT + 2 s (curl's --max-time)
    t0 = time.monotonic()
    th, _ = park(push_mob, tok, app + "/events?ack=1", SHORT + 2)
    th.join()
    parked = time.monotonic() - t0
    assert parked >= SHORT + 1
    # it lives SHORT after the P-GET ended, not after it began
    time.sleep(SHORT / 2)
    assert push_mob.metric("mobility_applications") >= 1
    st, _, body = api(push_mob, tok, "GET", app + "/pushRegistration")
    assert st == 404 and b"no push registration" in body, body  # alive
    wait_gone(push_mob, tok, app, SHORT + 5)


def test_removing_the_registration_shortens_the_life(fe, push_mob):
    tok, app = session(push_mob, "life-remove", push_reg=True)
    time.sleep(SHORT + 1)
    assert binding(fe, "life-remove")
    assert api(push_mob, tok, "DELETE", app + "/pushRegistration")[0] == 204
    t0 = time.monotonic()
    wait_gone(push_mob, tok, app, SHORT + 5)
    assert time.monotonic() - t0 < LONG - 5


def test_restart_keeps_the_time_left(fe, push_mob):
    tok, app = session(push_mob, "life-restart", push_reg=True)
    t0 = time.monotonic()
    tok2, app2 = session(push_mob, "life-restart-short")
    assert push_mob.stop() == 0, push_mob.log()
    # the short one runs out while the service is down
    time.sleep(SHORT + 1)
    push_mob.start()
    assert "expired while the service was down" in push_mob.log()
    st, _, body = api(push_mob, tok2, "GET", app2)
    assert st == 404, body
    # the long one is back (registered again) without any request of its
    # client, and ends LONG after the last one, not LONG after the restart
    deadline = time.monotonic() + 10
    while not binding(fe, "life-restart") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert binding(fe, "life-restart")
    assert push_mob.metric("mobility_applications") == 1
    wait_gone(push_mob, tok, app, LONG + 5 - (time.monotonic() - t0))
    ended = time.monotonic() - t0
    # the stored contact may be one step (LONG / 8) old: never late
    assert LONG - LONG / 8 - 1 <= ended <= LONG + 4, ended
