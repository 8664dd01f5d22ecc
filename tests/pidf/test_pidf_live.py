"""Presence documents against the real Front End (Kamailio) and baresip.

tests/pidf/pidf_probe (src/pidf from the command line) builds the PIDF our
sessions publish and parses what the Front End sends back in NOTIFY: a
single presentity (baresip's publication, ours, a polite-block neutral
answer) and an RLS resource list (multipart/related with RLMI). baresip,
subscribed to the same presentity, shows what another client makes of our
document.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from baresip import agents_of
import frontend
from frontend import Frontend, rls_services_document

SRC = Path(os.environ.get("MOBILITY_SRC",
                          Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MOBILITY_BUILD", SRC / "build"))
PROBE = BUILD / "tests" / "pidf_probe"

pytestmark = pytest.mark.skipif(
    not (frontend.available() and shutil.which("baresip")),
    reason="kamailio and baresip are needed (scripts/install-deps.sh)")

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw",
         "dave": "dave-pw"}
NOTE = 'Back at 3 <room "B&5">'


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontend")
    front = Frontend(root / "run", ca_dir=root / "ca")
    for user, pw in USERS.items():
        front.add_user(user, pw)
    front.start()
    yield front
    front.stop()


@pytest.fixture
def agents(fe):
    """start(user, **kw): a baresip for user, cleaned up after the test."""
    with agents_of(fe, USERS) as start:
        yield start


def probe(*args, body=b""):
    res = subprocess.run([str(PROBE), *args], input=body,
                         capture_output=True, timeout=10)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def parse_pidf(notify):
    return json.loads(probe("pidf", body=notify.body.encode()))


ETAGS = {}


def publish(fe, user, availability, note=None):
    """PUBLISH our document for user; later calls modify the same
    publication (RFC 3903 SIP-If-Match), as a session does."""
    doc = probe("build", fe.uri(user), "m1", availability,
                *([note] if note else []))
    headers = ["Event: presence", "Expires: 600"]
    if user in ETAGS:
        headers.append(f"SIP-If-Match: {ETAGS[user]}")
    with fe.sip_agent(user, USERS[user]) as ua:
        *_, ok = ua.request("PUBLISH", headers=headers, body=doc,
                            content_type="application/pidf+xml")
    assert ok.status == 200, (ok.status, ok.reason)
    ETAGS[user] = ok.header("sip-etag")


def subscribe(watcher, to_user):
    *_, ok = watcher.request(
        "SUBSCRIBE", to_user=to_user, contact=watcher.contact,
        headers=["Event: presence", "Accept: application/pidf+xml",
                 "Expires: 120"])
    assert ok.status in (200, 202)


def test_our_publication_through_the_front_end(fe, agents):
    fe.set_pres_rules("carol", USERS["carol"], {"alice": "allow",
                                                "bob": "allow",
                                                "dave": "polite-block"})
    publish(fe, "carol", "Online")
    # another client (baresip 1.0.0) reads the standard elements
    bob = agents("bob", contacts=["carol"])
    bob.wait_registered()
    bob.wait_contact_presence("carol", "Online", timeout=10)

    publish(fe, "carol", "BeRightBack", NOTE)
    with fe.sip_agent("alice", USERS["alice"]) as alice:
        # the Front End hands our exact values back to our own parser
        subscribe(alice, "carol")
        notify = alice.wait_request(
            "NOTIFY", timeout=10,
            predicate=lambda n: "BeRightBack" in n.body)
        assert notify.header("content-type").startswith(
            "application/pidf+xml")
        state = parse_pidf(notify)
        assert state["availability"] == "BeRightBack"
        assert state["deviceType"] == "Mobile"
        assert state["note"] == NOTE
        assert state["lastActive"] == 1795464000123
        # baresip 1.0.0 shows <rpid:away/> as Offline (its own mapping)
        bob.wait_contact_presence("carol", "Offline", timeout=10)

        publish(fe, "carol", "DoNotDisturb")
        since = len(alice.received)
        notify = alice.wait_request(
            "NOTIFY", timeout=10, since=since,
            predicate=lambda n: "<basic>" in n.body)
        state = parse_pidf(notify)
        assert state["availability"] == "DoNotDisturb"
        assert state["note"] == ""
        bob.wait_contact_presence("carol", "Busy", timeout=10)

        publish(fe, "carol", "Offline")
        since = len(alice.received)
        notify = alice.wait_request(
            "NOTIFY", timeout=10, since=since,
            predicate=lambda n: "<basic>" in n.body)
        assert parse_pidf(notify)["availability"] == "Offline"
        bob.wait_contact_presence("carol", "Offline", timeout=10)

    # polite-block: an active subscription with a neutral (empty) NOTIFY
    with fe.sip_agent("dave", USERS["dave"]) as dave:
        subscribe(dave, "carol")
        notify = dave.wait_request("NOTIFY", timeout=10)
        assert "carol" not in notify.body
        assert parse_pidf(notify)["availability"] == "Offline"


def test_baresip_publication(fe, agents):
    fe.allow_presence("bob", USERS["bob"], "alice")
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")
    with fe.sip_agent("alice", USERS["alice"]) as alice:
        subscribe(alice, "bob")
        notify = alice.wait_request(
            "NOTIFY", timeout=10, predicate=lambda n: "<basic>open" in n.body)
        state = parse_pidf(notify)
        assert state["availability"] == "Online"
        assert state["deviceType"] == "Unknown"

        since = len(alice.received)
        bob.set_presence("offline")
        notify = alice.wait_request(
            "NOTIFY", timeout=10, since=since,
            predicate=lambda n: "<basic>closed" in n.body)
        assert parse_pidf(notify)["availability"] == "Offline"


RLS_DOC = rls_services_document(
    "sip:alice-buddies@example.test",
    ["sip:bob@example.test", "sip:carol@example.test", "sip:dave@example.test"])


def test_resource_list_notification(fe, agents):
    fe.allow_presence("bob", USERS["bob"], "alice")
    fe.allow_presence("carol", USERS["carol"], "alice")
    assert fe.xcap_put("alice", USERS["alice"], "rls-services",
                       RLS_DOC).status in (200, 201)
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")
    publish(fe, "carol", "Offwork", NOTE)

    with fe.sip_agent("alice", USERS["alice"]) as alice:
        *_, ok = alice.request(
            "SUBSCRIBE", to_user="alice-buddies", contact=alice.contact,
            headers=["Event: presence", "Supported: eventlist",
                     "Accept: application/pidf+xml, application/rlmi+xml, "
                     "multipart/related", "Expires: 120"])
        assert ok.status == 200

        # members' states arrive in full or partial notifications: merge
        seen = {}
        deadline_hits = 0
        while not ({"sip:bob@example.test", "sip:carol@example.test"}
                   <= {u for u, r in seen.items() if r["hasPresence"]}):
            since = len(alice.received)
            notify = alice.wait_request("NOTIFY", timeout=10, since=since)
            ctype = notify.header("content-type")
            assert ctype.startswith("multipart/related")
            lst = json.loads(probe("rlmi", ctype, body=notify.body.encode()))
            assert lst["uri"] == "sip:alice-buddies@example.test"
            for r in lst["resources"]:
                if r["hasPresence"] or r["uri"] not in seen:
                    seen[r["uri"]] = r
            deadline_hits += 1
            assert deadline_hits < 10, seen

        assert seen["sip:bob@example.test"]["state"] == "active"
        assert seen["sip:bob@example.test"]["presence"]["availability"] \
            == "Online"
        carol = seen["sip:carol@example.test"]["presence"]
        assert carol["availability"] == "Offwork"
        assert carol["note"] == NOTE
        # dave has no rule for alice: pending, no presence
        if "sip:dave@example.test" in seen:
            assert not seen["sip:dave@example.test"]["hasPresence"]
