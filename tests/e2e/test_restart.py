"""A gateway stopped (SIGTERM) or killed (SIGKILL) and started again on
the same store: tokens still work (API and autodiscover), applications
come back and register again with the same +sip.instance, their presence
(availability, note) is published again, and the events the app had not
acknowledged are delivered exactly once, in the numbering it holds."""
import json
import re
import signal
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from baresip import registered
from mobility import Mobilityd
from ucwa_client import api, create, token

NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")
AD_USER = "/Autodiscover/AutodiscoverService.svc/root/oauth/user"


@pytest.fixture(scope="module")
def bob(fe):
    fe.allow_presence("alice", "alice-secret", "bob")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


def wait_restored(m, tok, loc, timeout=10):
    """The application answers again (503 while its events are read)."""
    deadline = time.time() + timeout
    while True:
        st, _, body = api(m, tok, "GET", loc)
        if st != 503 or time.time() > deadline:
            return st, body
        time.sleep(0.05)


def store_writes(m):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                timeout=2) as r:
        text = r.read().decode()
    return int(re.search(r"^mobility_store_writes_total (\d+)", text, re.M).group(1))


def get_events(m, tok, loc, ack):
    """GET events?ack=N (answered at once when something is pending);
    returns the batch and the list of (sender rel, rel, type, event)."""
    st, _, body = api(m, tok, "GET", loc + "/events?ack=%d&medium=0&low=0" % ack)
    assert st == 200, body
    ev = json.loads(body)
    got = [(s["rel"], e["link"]["rel"], e["type"], e)
           for s in ev.get("sender", []) for e in s["events"]]
    return ev, got


def texts(got):
    """The texts of the incoming messages in a batch (invitation or
    message events)."""
    out = []
    for _, rel, typ, e in got:
        emb = e.get("_embedded", {})
        for r in emb.values():
            for k, v in r.get("_links", {}).items():
                if k in ("message", "plainMessage"):
                    out.append(urllib.parse.unquote(v["href"].split(",", 1)[1]))
    return out


def sign_in(m, bob, epid):
    tok = token(m, "alice")
    st, h, body = create(m, tok, epid)
    assert st == 201, body
    loc = h["location"]
    assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    assert api(m, tok, "POST", loc + "/me/presence", {"availability": "Busy"})[0] == 204
    assert api(m, tok, "POST", loc + "/me/note", {"message": "on the road"})[0] == 204
    bob.wait_contact_presence("alice", "Busy", timeout=15)
    # batch 1: what makeMeAvailable and the changes produced
    ev, got = get_events(m, tok, loc, 1)
    assert ev["_links"]["next"]["href"].endswith("ack=2")
    return tok, loc


def check_back(m, tok, loc, bob, fe, since):
    st, body = wait_restored(m, tok, loc)
    assert st == 200, body
    # the same token at autodiscover (read from the store)
    st, _, body = m.curl(m.https("lyncdiscover.example.test", AD_USER),
                         "-H", "Authorization: Bearer " + tok,
                         "-H", "Accept: application/json")
    assert st == 200, body
    assert "applications" in json.loads(body)["_links"]
    # me as it was
    st, _, body = api(m, tok, "GET", loc + "/me/presence")
    assert st == 200, body
    assert json.loads(body)["availability"] == "Busy"
    st, _, body = api(m, tok, "GET", loc + "/me/note")
    assert json.loads(body)["message"] == "on the road"
    # published again (a new PUBLISH after the restart), and bob's
    # subscription sees it
    fe.wait_log(r"PUBLISH sip:alice@example.test ", since=since)
    bob.wait_contact_presence("alice", "Busy", timeout=15)


def test_stop_with_an_unfetched_message(fe, bob, tmp_path):
    """SIGTERM while a message from bob waits for the app: after the
    restart the app's next link (ack=2) delivers it, once."""
    m = Mobilityd(tmp_path, fe=fe)
    m.start()
    try:
        tok, loc = sign_in(m, bob, "restart-term")
        w = store_writes(m)
        bob.send_message("alice", "while you were away")
        deadline = time.time() + 10
        while store_writes(m) == w and time.time() < deadline:
            time.sleep(0.05)  # committed: bob got his 200

        since = len(fe.log_text())
        m.kill(signal.SIGTERM)
        m.start()
        check_back(m, tok, loc, bob, fe, since)

        ev, got = get_events(m, tok, loc, 2)
        assert texts(got) == ["while you were away"], got
        assert ev["_links"]["self"]["href"].endswith("ack=2")
        assert ev["_links"]["next"]["href"].endswith("ack=3")
        # acknowledged with the next one: not again
        bob.send_message("alice", "second")
        ev, got = get_events(m, tok, loc, 3)
        assert texts(got) == ["second"], got
    finally:
        if m.proc:
            assert m.stop() == 0, m.log()


def test_kill_after_delivery(fe, bob, tmp_path):
    """SIGKILL after the app got the message (batch 2) and an empty-of-
    messages batch after it (3): its next link (ack=4) acknowledges the
    message, which does not come again; a lost answer (ack=2) would have
    given it again."""
    m = Mobilityd(tmp_path, fe=fe)
    m.start()
    try:
        tok, loc = sign_in(m, bob, "restart-kill")
        inst = str(uuid.uuid5(NS, "alice@example.test\nrestart-kill"))
        bob.send_message("alice", "first")
        ev, got = get_events(m, tok, loc, 2)
        assert texts(got) == ["first"], got
        # batch 3: a presence change only (nothing stored)
        assert api(m, tok, "POST", loc + "/me/presence",
                   {"availability": "Online"})[0] == 204
        assert api(m, tok, "POST", loc + "/me/presence",
                   {"availability": "Busy"})[0] == 204
        ev, got = get_events(m, tok, loc, 3)
        assert got and not texts(got)
        assert ev["_links"]["next"]["href"].endswith("ack=4")

        # crash: no un-REGISTER, nothing flushed on the way out
        since = len(fe.log_text())
        m.kill()
        m.start()
        check_back(m, tok, loc, bob, fe, since)
        assert "applications restored" in m.log()

        # registered again, same device instance, one binding for it
        deadline = time.time() + 10
        regs = []
        while time.time() < deadline:
            regs = [r for r in fe.registrations("alice") if inst in json.dumps(r)]
            if regs:
                break
            time.sleep(0.2)
        assert len(regs) == 1, fe.registrations("alice")

        bob.send_message("alice", "after the crash")
        ev, got = get_events(m, tok, loc, 4)
        assert texts(got) == ["after the crash"], got
        assert ev["_links"]["next"]["href"].endswith("ack=5")
        # the same batch again if its answer was lost, then nothing more
        ev2, got2 = get_events(m, tok, loc, 4)
        assert texts(got2) == ["after the crash"]
    finally:
        if m.proc:
            assert m.stop() == 0, m.log()


def test_kill_with_a_fetched_unacked_message(fe, bob, tmp_path):
    """SIGKILL while the app holds the message's batch without having
    acknowledged it: asking for that batch again (ack=2) gives it, the
    next link after it (ack=3) does not repeat it."""
    m = Mobilityd(tmp_path, fe=fe)
    m.start()
    try:
        tok, loc = sign_in(m, bob, "restart-kill2")
        bob.send_message("alice", "hello")
        ev, got = get_events(m, tok, loc, 2)
        assert texts(got) == ["hello"], got

        since = len(fe.log_text())
        m.kill()
        m.start()
        check_back(m, tok, loc, bob, fe, since)

        ev, got = get_events(m, tok, loc, 2)  # the answer was lost
        assert texts(got) == ["hello"], got
        assert ev["_links"]["next"]["href"].endswith("ack=3")
        bob.send_message("alice", "again")
        ev, got = get_events(m, tok, loc, 3)
        assert texts(got) == ["again"], got
    finally:
        if m.proc:
            assert m.stop() == 0, m.log()
