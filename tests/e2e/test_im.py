"""Instant messages end to end: a phone (alice, through the API) and a
desktop user (bob, baresip) on the real Front End; the phone's flows run
in JSON and in XML (fmt), each with its own application and texts."""
import json
import time
import urllib.parse

import pytest

from baresip import registered
from ucwa_client import api, create, token, url


@pytest.fixture(scope="module")
def bob(fe):
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


@pytest.fixture(scope="module")
def alice(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "im-phone-" + fmt)
    assert st == 201, body
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    # bob's client keeps every message: texts name the format
    return {"tok": tok, "app": h["location"], "ack": 1, "fmt": fmt}


def events(mob, a, timeout=10):
    """Every event of the next batches until one holds something."""
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline and not got:
        st, _, body = api(mob, a["tok"], "GET", a["app"] + "/events?ack=%d" % a["ack"])
        assert st == 200, body
        ev = json.loads(body)
        a["ack"] += 1
        for s in ev["sender"]:
            for e in s["events"]:
                got.append((s["rel"], e["link"]["rel"], e["type"], e.get("status"), e))
    return got


def wait_for(mob, a, pred, timeout=15):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        batch = events(mob, a, timeout=2)
        seen.extend(batch)
        hits = [e for e in batch if pred(e)]
        if hits:
            return hits[0], seen
    raise AssertionError("not seen; got %r" % [x[:4] for x in seen])


def test_start_messaging_reaches_baresip(mob, alice, bob):
    events(mob, alice)  # what makeMeAvailable produced
    st, h, body = api(mob, alice["tok"], "POST", alice["app"] + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "operationId": "op1", "subject": "hi",
                       "message": "hello bob in " + alice["fmt"]})
    assert st == 201, body
    inv = h["location"]
    peer, text = bob.wait_message(sender="alice", text="hello bob in " + alice["fmt"],
                                  timeout=10)
    e, seen = wait_for(mob, alice, lambda e: e[1] == "messagingInvitation" and e[2] == "completed")
    assert e[3] == "Success"
    rels = [(x[1], x[2]) for x in seen]
    assert ("messagingInvitation", "started") in rels
    assert ("conversation", "added") in rels
    assert ("messaging", "updated") in rels
    alice["conv"] = [x for x in seen if x[1] == "conversation"][0][4]["link"]["href"]
    alice["inv"] = inv


def test_send_message_plain_and_html(mob, alice, bob):
    conv = alice["conv"]
    st, h, _ = mob.curl(url(mob, conv + "/messaging/messages"), "-X", "POST",
                        "-H", "Authorization: Bearer " + alice["tok"],
                        "-H", "Content-Type: text/plain", "--data-raw",
                        "second line " + alice["fmt"])
    assert st == 201 and h["location"].startswith(conv + "/messaging/messages/")
    peer, text = bob.wait_message(text="second line " + alice["fmt"], timeout=10)
    e, _ = wait_for(mob, alice, lambda e: e[1] == "message" and e[2] == "completed")
    assert e[3] == "Success"

    st, _, _ = mob.curl(url(mob, conv + "/messaging/messages"), "-X", "POST",
                        "-H", "Authorization: Bearer " + alice["tok"],
                        "-H", "Content-Type: text/html",
                        "--data-raw", "<b>bold</b> &amp; <script>alert(1)</script>x" + alice["fmt"])
    assert st == 201
    peer, text = bob.wait_message(text="bold & alert(1)x" + alice["fmt"], timeout=10)


def test_incoming_message_in_the_conversation(mob, alice, bob):
    bob.send_message("alice", "reply from bob")
    e, _ = wait_for(mob, alice, lambda e: e[1] == "message" and e[4].get("_embedded"))
    msg = e[4]["_embedded"]["message"]
    assert msg["direction"] == "Incoming"
    data = msg["_links"]["plainMessage"]["href"]
    assert data.startswith("data:text/plain;charset=utf-8,")
    assert urllib.parse.unquote(data.split(",", 1)[1]) == "reply from bob"


def test_incoming_invitation_after_stop(mob, alice, bob):
    conv = alice["conv"]
    st, _, _ = api(mob, alice["tok"], "POST", conv + "/messaging/stopMessaging", "")
    assert st == 204
    bob.send_message("alice", "new topic, é & <ok>")
    e, _ = wait_for(mob, alice, lambda e: e[1] == "messagingInvitation" and e[2] == "started")
    inv = e[4]["_embedded"]["messagingInvitation"]
    assert inv["direction"] == "Incoming"
    links = inv["_links"]
    assert "accept" in links and "decline" in links
    assert urllib.parse.unquote(links["message"]["href"].split(",", 1)[1]) == "new topic, é & <ok>"
    st, _, _ = api(mob, alice["tok"], "POST", links["accept"]["href"], "")
    assert st == 204


def test_unknown_target_fails(mob, alice):
    st, h, body = mob.curl(url(mob, alice["app"] + "/communication/messagingInvitations"),
                           "-X", "POST", "-H", "Authorization: Bearer " + alice["tok"],
                           "-H", "Content-Type: application/json", "--data-raw",
                           json.dumps({"to": "sip:nobody@example.test", "message": "anyone?"}))
    assert st == 201, body
    inv = h["location"]
    e, _ = wait_for(mob, alice, lambda e: e[1] == "messagingInvitation" and e[2] == "completed"
                    and e[4]["link"]["href"] == inv)
    assert e[3] == "Failure"


@pytest.mark.parametrize("to", ["bob@example.test", "sip:bob@example.test\r\nVia: x",
                                "sip:bob", "sip:<bob>@example.test"])
def test_bad_targets(mob, alice, to):
    st, _, body = api(mob, alice["tok"], "POST", alice["app"] + "/communication/messagingInvitations",
                      {"to": to})
    assert st == 400 and json.loads(body)["subcode"] == "ParameterValidationFailure"
