"""Incoming calls to a phone's application: bob (baresip) dials alice on
the real Front End, which forks the INVITE to every device of alice, the
application among them. The application rings (180) and its app sees a
phoneAudioInvitation started event; the call ends declined (603 to bob),
missed (bob hangs up: 487; nobody answers within the ring time: 480), or
answered on another device of alice (the Front End's CANCEL says so:
not missed). A restart while it rings ends it as missed."""
import json
import re
import socket
import ssl
import threading
import time

import pytest

from baresip import agents_of
from mobility import EXT_FQDN, Mobilityd
from ucwa_client import api, create, token

RING_TIME = 6  # s, [sip] ring_time of this module's mobilityd
PASSWORDS = {u: u + "-secret" for u in ("alice", "bob", "carol")}


@pytest.fixture(scope="module")
def mob(fe, push, tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe,
                  extra={"sip": ["ring_time = %d" % RING_TIME],
                         "push": push.conf_lines()})
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def agents(fe):
    with agents_of(fe, PASSWORDS) as start:
        yield start


@pytest.fixture(scope="module")
def bob(agents):
    b = agents("bob")
    b.wait_registered()
    return b


def new_app(mob, fe, user, epid, fmt="json"):
    tok = token(mob, user, fmt=fmt)
    st, h, body = create(mob, tok, epid)
    assert st == 201, body
    app = json.loads(body)
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    # the Front End routes calls to the application's Contact
    deadline = time.monotonic() + 10
    while not any("sip:%s@" % app["id"] in r["Address"] for r in fe.registrations(user)):
        assert time.monotonic() < deadline, fe.registrations(user)
        time.sleep(0.1)
    return {"tok": tok, "href": h["location"], "next": app["_links"]["events"]["href"]}


def delete(mob, a):
    if not a.get("deleted"):
        assert api(mob, a["tok"], "DELETE", a["href"])[0] == 204
        a["deleted"] = True


@pytest.fixture
def alice(mob, fe, request):
    """alice's application, in the format the test is parametrized with
    (JSON unless said)."""
    callspec = getattr(request.node, "callspec", None)
    fmt = callspec.params.get("fmt", "json") if callspec else "json"
    a = new_app(mob, fe, "alice", "calls-" + request.node.name[:60], fmt)
    yield a
    delete(mob, a)


def events(mob, a, want, timeout=15):
    """Follow the next links until an event matching want(sender, event)
    comes; return it and the events before it. Events after it in its
    batch wait for the next call."""
    deadline = time.monotonic() + timeout
    seen = []
    queue = a.setdefault("queue", [])
    while True:
        while queue:
            s, e = queue.pop(0)
            seen.append(e)
            if want(s, e):
                return e, seen
        assert time.monotonic() < deadline, \
            "not seen; got %r" % [(e["link"]["rel"], e["type"]) for e in seen]
        # parked at most until curl gives up: the test's timeout decides
        st, _, body = api(mob, a["tok"], "GET", a["next"])
        assert st == 200, body
        batch = json.loads(body)
        a["next"] = batch["_links"]["next"]["href"]
        queue.extend((s, e) for s in batch.get("sender", []) for e in s["events"])


def park(mob, a):
    """Park a request for events, which acknowledges what the app has;
    return its connection (closing it drops the request)."""
    ctx = ssl.create_default_context(cafile=mob.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", mob.https_port), 10),
                        server_hostname=EXT_FQDN)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Accept: application/json\r\n\r\n" % (a["next"], EXT_FQDN, a["tok"])).encode())
    return s


def is_(rel, type_):
    return lambda s, e: e["link"]["rel"] == rel and e["type"] == type_


def ringing(mob, a):
    """The started invitation of an incoming call, checked."""
    e, seen = events(mob, a, is_("phoneAudioInvitation", "started"))
    inv = e["_embedded"]["phoneAudioInvitation"]
    assert inv["direction"] == "Incoming" and inv["state"] == "Connecting"
    assert inv["_embedded"]["from"]["uri"] == "sip:bob@example.test"
    # a participant under the key from (XML: named by the key, as the
    # reference's XML samples name an embedded resource)
    assert inv["_embedded"]["from"]["rel"] == \
        ("participant" if a["tok"].fmt == "json" else "from")
    assert "decline" in inv["_links"]
    e2, _ = events(mob, a, is_("conversation", "added"))
    assert e2["link"]["href"] == inv["_links"]["conversation"]["href"]
    return inv


def completed(mob, a, timeout=15):
    e, seen = events(mob, a, is_("phoneAudioInvitation", "completed"), timeout)
    assert e["status"] == "Failure"
    inv = e["_embedded"]["phoneAudioInvitation"]
    assert inv["state"] == "Failed" and "decline" not in inv["_links"]
    return inv["_embedded"]["reason"]


def missed_calls(mob, a):
    """The missed calls in the application's history (conversationLogs)."""
    st, _, body = api(mob, a["tok"], "GET", a["href"] + "/communication/conversationLogs")
    assert st == 200, body
    items = json.loads(body).get("_embedded", {}).get("missedItem", [])
    if isinstance(items, dict):
        items = [items]
    return [i for i in items if i["type"] == "Call"]


def closed(ua, since, timeout=15):
    """The reason baresip gives for its call's end."""
    return ua.wait_event("CALL_CLOSED", timeout=timeout, since=since)["param"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_decline(mob, alice, bob, fmt):
    """alice's app declines: bob's call is refused with 603 at once, and
    the invitation completes as declined (no missed call). In JSON and in
    XML."""
    since = len(bob.events())
    bob.dial("alice")
    inv = ringing(mob, alice)
    ev = bob.wait_event("CALL_RINGING", timeout=10, since=since)
    assert ev
    st, _, body = api(mob, alice["tok"], "GET", inv["_links"]["self"]["href"])
    assert st == 200 and json.loads(body)["state"] == "Connecting", body
    t0 = time.monotonic()
    st, _, body = api(mob, alice["tok"], "POST", inv["_links"]["decline"]["href"], {})
    assert st == 204, body
    assert "603" in closed(bob, since)
    assert time.monotonic() - t0 < 5
    reason = completed(mob, alice)
    assert reason["subcode"] == "Declined"
    # declined once: again is a conflict; the invitation says how it ended
    st, _, body = api(mob, alice["tok"], "POST", inv["_links"]["decline"]["href"], {})
    assert st == 409, body
    st, _, body = api(mob, alice["tok"], "GET", inv["_links"]["self"]["href"])
    got = json.loads(body)
    assert got["state"] == "Failed" and got["_embedded"]["reason"]["subcode"] == "Declined"
    assert missed_calls(mob, alice) == []


def test_caller_hangs_up(mob, alice, bob):
    """bob gives up before anyone answers: a missed call."""
    since = len(bob.events())
    bob.dial("alice")
    ringing(mob, alice)
    bob.wait_event("CALL_RINGING", timeout=10, since=since)
    bob.hangup()
    reason = completed(mob, alice)
    assert reason["subcode"] == "Missed" and reason["code"] == "Gone"
    (item,) = missed_calls(mob, alice)
    assert item["_links"]["from"]["href"] == "sip:bob@example.test", item


def test_ring_timeout(mob, alice, bob):
    """Nobody answers within the ring time: bob hears 480, alice's app
    gets a missed call."""
    since = len(bob.events())
    t0 = time.monotonic()
    bob.dial("alice")
    ringing(mob, alice)
    assert "480" in closed(bob, since, timeout=RING_TIME + 10)
    assert RING_TIME - 1 < time.monotonic() - t0 < RING_TIME + 5
    reason = completed(mob, alice)
    assert reason["subcode"] == "Missed" and reason["code"] == "Timeout"
    st, _, body = mob.curl("http://127.0.0.1:%d/metrics" % mob.admin_port)
    assert re.search(rb'(?m)^mobility_calls_total\{end="timeout"\} [1-9]', body), body


def test_answered_on_another_device(mob, alice, bob, agents):
    """alice also has a desk phone (baresip): both ring, she answers on
    the desk phone; the Front End cancels the application's branch with
    Reason: SIP;cause=200: the invitation ends answered elsewhere, not
    missed."""
    desk = agents("alice")
    desk.wait_registered()
    try:
        since, dsince = len(bob.events()), len(desk.events())
        bob.dial("alice")
        ringing(mob, alice)
        desk.wait_event("CALL_INCOMING", timeout=10, since=dsince)
        desk.accept()
        bob.wait_event("CALL_ESTABLISHED", timeout=10, since=since)
        reason = completed(mob, alice)
        assert reason["subcode"] == "AnsweredElsewhere"
        bob.hangup()
        closed(desk, dsince)
    finally:
        desk.stop()


def test_declined_on_another_application(mob, fe, alice, bob):
    """alice has a second application (a tablet): both ring; the tablet
    declines, bob hears 603, and the Front End cancels the phone's branch
    (a 6xx ends every branch, RFC 3261 16.7) saying why: the phone's
    invitation ends declined elsewhere, not missed."""
    tablet = new_app(mob, fe, "alice", "calls-tablet")
    try:
        since = len(bob.events())
        bob.dial("alice")
        ringing(mob, alice)
        inv = ringing(mob, tablet)
        st, _, body = api(mob, tablet["tok"], "POST", inv["_links"]["decline"]["href"], {})
        assert st == 204, body
        assert "603" in closed(bob, since)
        assert completed(mob, tablet)["subcode"] == "Declined"
        reason = completed(mob, alice)
        assert reason["subcode"] == "DeclinedElsewhere" and reason["code"] == "Forbidden"
    finally:
        assert api(mob, tablet["tok"], "DELETE", tablet["href"])[0] == 204


def test_restart_while_ringing(fe, mob, alice, bob):
    """The service stops while a call rings; the app has seen the
    invitation and acknowledged it (its next request for events is
    parked, which removes the acknowledged events' records). After the
    restart the call still ends, as missed, and the invitation's link
    still leads to it."""
    since = len(bob.events())
    bob.dial("alice")
    inv = ringing(mob, alice)
    parked = park(mob, alice)
    time.sleep(1)
    parked.close()
    assert mob.stop() == 0, mob.log()
    # the INVITE went with the connection: bob's call fails
    closed(bob, since, timeout=40)
    mob.start()
    reason = completed(mob, alice)
    assert reason["subcode"] == "Missed" and "restarted" in reason["message"]
    st, _, body = api(mob, alice["tok"], "GET", inv["_links"]["self"]["href"])
    assert st == 200 and json.loads(body)["state"] == "Failed", body


def test_restart_after_a_missed_call(fe, mob, alice, bob):
    """bob calls and hangs up while alice's app sleeps; the service
    restarts before the app reads anything: it gets the invitation and its
    end as missed, exactly as they were."""
    since = len(bob.events())
    bob.dial("alice")
    bob.wait_event("CALL_RINGING", timeout=10, since=since)
    bob.hangup()
    closed(bob, since)
    time.sleep(0.5)  # the end's record is committed within milliseconds
    assert mob.stop() == 0, mob.log()
    mob.start()
    ringing(mob, alice)
    reason = completed(mob, alice)
    assert reason["subcode"] == "Missed" and reason["code"] == "Gone"
    # the stored end, not one made at the restart
    assert "hung up" in reason["message"], reason


def test_application_ends_while_ringing(mob, alice, bob):
    """The application is deleted while a call rings on it: bob hears
    480 (the Front End would try the user's other devices)."""
    since = len(bob.events())
    bob.dial("alice")
    ringing(mob, alice)
    delete(mob, alice)
    assert "480" in closed(bob, since)


TOPIC = "com.example.mobile"


def push_registration(mob, a, dev):
    st, _, body = api(mob, a["tok"], "PUT", a["href"] + "/pushRegistration",
                      {"provider": "apns", "token": dev, "topic": TOPIC})
    assert st == 201, body
    return json.loads(body)["pushId"]


def test_sleeping_app_voip_push_and_missed_call_alert(mob, push, alice, bob):
    """alice's app sleeps with a push registration: the call wakes it at
    once with a VoIP push (APNs voip, the topic's .voip), bob hangs up and
    the missed call is an alert; the app then reads both events."""
    dev = "d4" * 32
    pid = push_registration(mob, alice, dev)
    since = len(bob.events())
    bob.dial("alice")
    bob.wait_event("CALL_RINGING", timeout=10, since=since)
    (p,) = push.wait(dev, 1)
    assert p.path == "/3/device/" + dev
    assert p.headers["apns-push-type"] == "voip"
    assert p.headers["apns-topic"] == TOPIC + ".voip"
    # the session by its registration's opaque id, not the application id
    assert p.json()["pushId"] == pid
    assert alice["href"].rsplit("/", 1)[1] not in json.dumps(p.json())
    bob.hangup()
    closed(bob, since)
    alert = push.wait(dev, 2)[1]
    assert alert.headers["apns-push-type"] == "alert"
    assert alert.headers["apns-topic"] == TOPIC
    ringing(mob, alice)
    assert completed(mob, alice)["subcode"] == "Missed"


def test_no_push_while_polling(mob, push, alice, bob):
    """The app holds a P-GET when the call comes and when it is missed:
    the P-GETs get the events, no push goes out."""
    dev = "e5" * 32
    push_registration(mob, alice, dev)
    since = len(bob.events())
    # each P-GET is parked before what it waits for happens
    threading.Timer(1, bob.dial, ("alice",)).start()
    ringing(mob, alice)
    bob.wait_event("CALL_RINGING", timeout=10, since=since)
    threading.Timer(1, bob.hangup).start()
    assert completed(mob, alice)["subcode"] == "Missed"
    time.sleep(1)
    assert push.of(token=dev) == []
