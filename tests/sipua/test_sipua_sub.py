"""Presence subscriptions of the SIP user agent (src/sipua/sub.c) against
the real Front End (Kamailio 5.6, presence and RLS) with baresip as the
presentity.

tests/sipua/sipua_probe.c "subscribe" registers a session, subscribes
from its contact and prints every NOTIFY as the handler saw it
("notify N SENT", then "presence URI STATE AVAIL" per entry) and the end
of the subscription ("closed ERRNO SCODE").
"""
import os
import re
import shutil
import uuid

import pytest

import frontend
from baresip import Baresip
from frontend import Frontend
from test_sipua import Probe, sent_messages

pytestmark = pytest.mark.skipif(
    not (frontend.available() and shutil.which("baresip")),
    reason="kamailio and baresip are needed (scripts/install-deps.sh)")

EACCES = 13
USERS = {u: f"{u}-pw" for u in
         ("alice", "bob", "carol", "dave", "erin", "fred")}


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    os.environ["FE_LOG_LEVEL"] = "3"
    root = tmp_path_factory.mktemp("sipua-sub")
    f = Frontend(root / "fe", ca_dir=root / "ca")
    for user, pw in USERS.items():
        f.add_user(user, pw)
    f.start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def agents(fe):
    started = []

    def start(user, **kw):
        ua = Baresip(fe, user, USERS[user], **kw)
        started.append(ua)
        return ua

    yield start
    for ua in started:
        ua.cleanup()


@pytest.fixture
def probes():
    started = []
    yield started
    for p in started:
        p.stop()
        try:
            p.wait(10)
        except Exception:
            p.kill()


def subscribe(fe, tmp_path, probes, watcher, target, lst=False, expires=600):
    p = Probe(fe, watcher, fe.ha1(watcher, USERS[watcher]), "subscribe",
              str(uuid.uuid4()), expires, target, int(lst), tmpdir=tmp_path,
              env={"SIPUA_CONTACT_USER": f"app-{watcher}"})
    probes.append(p)
    return p


def presence(p, uri):
    """(state, availability) of every report for uri, in order."""
    out = []
    for ln in p.lines():
        m = re.match(r"^presence (\S+) (\S+) (\S+)$", ln)
        if m and m.group(1) == uri:
            out.append((m.group(2), m.group(3)))
    return out


def sent_subscribes(p):
    return [m for m in sent_messages(p.trace())
            if m.lstrip().startswith("SUBSCRIBE ")]


def test_allowed_changes_refresh_and_drop(fe, tmp_path, agents, probes):
    """bob allows alice: the NOTIFY is active with bob's presence; bob
    going offline is reported; the subscription is refreshed in its
    dialog; dropping it sends Expires: 0 and the Front End ends it."""
    fe.allow_presence("bob", USERS["bob"], "alice")
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")

    bob_uri = fe.uri("bob")
    alice = subscribe(fe, tmp_path, probes, "alice", bob_uri, expires=10)
    alice.wait_line(rf"^presence {bob_uri} active Online$")
    first = sent_subscribes(alice)[0]
    assert "Event: presence" in first
    assert "Accept: application/pidf+xml" in first
    assert "Supported: eventlist" not in first
    assert re.search(r"^Contact: <sip:app-alice@", first, re.M)

    bob.set_presence("offline")
    alice.wait_line(rf"^presence {bob_uri} active Offline$")

    # refreshed at 50-90% of 10 s, in the dialog (a To tag), then the
    # Front End's NOTIFY for the refresh (SENT counts the first
    # SUBSCRIBE and its answer to the 407)
    alice.wait_line(r"^notify 1 [3-9]", timeout=15)
    subs = sent_subscribes(alice)
    refresh = subs[2]
    assert re.search(r"^To: .*;tag=", refresh, re.M | re.I), refresh
    assert re.search(r"^Expires: 10\r?$", refresh, re.M), refresh
    assert "Route:" not in refresh
    assert "Proxy-Authorization" not in refresh
    # only the first, challenged SUBSCRIBE was answered with the HA1
    assert sum("Proxy-Authorization" in m for m in subs) == 1

    alice.stop()
    alice.wait_line(r"^unsubscribed$")
    assert alice.wait(10) == 0
    probes.remove(alice)
    last = sent_subscribes(alice)[-1]
    assert re.search(r"^Expires: 0\r?$", last, re.M), last
    # the Front End ended it: its last NOTIFY says terminated
    trace = alice.trace()
    assert re.search(r"Subscription-State: terminated", trace, re.I), trace


def test_no_rule_pending(fe, tmp_path, agents, probes):
    """carol has no rule for dave: pending, without presence."""
    carol = agents("carol")
    carol.wait_registered()
    carol.set_presence("online")
    uri = fe.uri("carol")
    dave = subscribe(fe, tmp_path, probes, "dave", uri)
    dave.wait_line(rf"^presence {uri} pending -$")
    assert ("active", "Online") not in presence(dave, uri)


def test_polite_block_and_block(fe, tmp_path, agents, probes):
    """erin politely blocks fred: active with an empty body, read as
    Offline although erin is online; then erin blocks fred: the
    subscription ends (rejected) through the close handler."""
    fe.set_pres_rules("erin", USERS["erin"], {"fred": "polite-block"})
    erin = agents("erin")
    erin.wait_registered()
    erin.set_presence("online")
    uri = fe.uri("erin")
    fred = subscribe(fe, tmp_path, probes, "fred", uri)
    fred.wait_line(rf"^presence {uri} active Offline$")
    assert ("active", "Online") not in presence(fred, uri)

    fe.set_pres_rules("erin", USERS["erin"], {"fred": "block"})
    fred.wait_line(rf"^presence {uri} terminated ")
    fred.wait_line(rf"^closed {EACCES} 0$")


RLS_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<rls-services xmlns="urn:ietf:params:xml:ns:rls-services"
    xmlns:rl="urn:ietf:params:xml:ns:resource-lists">
  <service uri="sip:alice-friends@example.test">
    <list name="friends">
      <rl:entry uri="sip:bob@example.test"/>
      <rl:entry uri="sip:carol@example.test"/>
    </list>
    <packages><package>presence</package></packages>
  </service>
</rls-services>
"""


def test_resource_list(fe, tmp_path, agents, probes):
    """alice subscribes to her list of bob and carol through RLS: both
    members are reported, with their states."""
    fe.allow_presence("bob", USERS["bob"], "alice")
    fe.allow_presence("carol", USERS["carol"], "alice")
    assert fe.xcap_put("alice", USERS["alice"], "rls-services",
                       RLS_DOC).status in (200, 201)
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")
    carol = agents("carol")
    carol.wait_registered()
    carol.set_presence("online")

    alice = subscribe(fe, tmp_path, probes, "alice",
                      "sip:alice-friends@example.test", lst=True)
    alice.wait_line(r"^presence sip:bob@example\.test active Online$")
    alice.wait_line(r"^presence sip:carol@example\.test active Online$")
    first = sent_subscribes(alice)[0]
    assert "Supported: eventlist" in first
    assert "multipart/related" in first

    carol.set_presence("offline")
    alice.wait_line(r"^presence sip:carol@example\.test active Offline$")
    assert not [ln for ln in alice.lines() if ln.startswith("closed")]
