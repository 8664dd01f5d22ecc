"""The event channel keeps time order. A batch lists its senders in the
order their events happened: consecutive events of one sender share an
entry, and a sender appears again once another sender's events came in
between. Clients read the events in order and take the last one about an
operation as its outcome."""
import json
import time

import pytest

from ucwa_client import api, create, token


@pytest.fixture(scope="module")
def alice(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "order-phone-" + fmt)
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    a = {"tok": tok, "app": app, "next": None, "fmt": fmt}
    st, _, body = api(mob, tok, "GET", app)
    assert st == 200, body
    a["next"] = json.loads(body)["_links"]["events"]["href"]
    return a


def batch(mob, a):
    """The next batch, following the `next` link given (as a client does):
    a list of (sender rel, event rel, type, status) in the order sent."""
    st, _, body = api(mob, a["tok"], "GET", a["next"])
    assert st == 200, body
    b = json.loads(body)
    a["next"] = b["_links"]["next"]["href"]
    return [(s["rel"], e["link"]["rel"], e["type"], e.get("status"))
            for s in b["sender"] for e in s["events"]]


def test_outgoing_invitation_events_in_time_order(mob, alice, bob):
    batch(mob, alice)  # what signing in produced
    text = "in order " + alice["fmt"]
    st, h, body = api(mob, alice["tok"], "POST",
                      alice["app"] + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "operationId": "ord-" + alice["fmt"],
                       "message": text})
    assert st == 201, body
    bob.wait_message(sender="alice", text=text, timeout=10)
    # the invitation's whole story is pending: one batch tells all of it
    seen, deadline = [], time.time() + 10
    while time.time() < deadline:
        seen += [e for e in batch(mob, alice) if e[1] != "presence"]
        if ("communication", "messagingInvitation", "completed", "Success") in seen:
            break
        time.sleep(0.2)
    story = [e for e in seen if e[1] in ("messagingInvitation", "conversation", "messaging")]
    assert story == [
        ("communication", "messagingInvitation", "started", None),
        ("communication", "conversation", "added", None),
        ("conversation", "messaging", "updated", None),
        ("communication", "messagingInvitation", "completed", "Success"),
    ], seen


def test_a_sender_appears_again_after_another(mob, alice, bob):
    """In one batch: communication[...] conversation[...] communication[...]
    is three sender entries, not two."""
    text = "regrouped " + alice["fmt"]
    st, _, body = api(mob, alice["tok"], "POST",
                      alice["app"] + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "operationId": "grp-" + alice["fmt"],
                       "message": text})
    assert st == 201, body
    bob.wait_message(sender="alice", text=text, timeout=10)
    time.sleep(1)  # the 200 to the MESSAGE completes the invitation
    st, _, body = api(mob, alice["tok"], "GET", alice["next"])
    assert st == 200, body
    b = json.loads(body)
    alice["next"] = b["_links"]["next"]["href"]
    senders = [s["rel"] for s in b["sender"]]
    assert senders[-3:] == ["communication", "conversation", "communication"], b
    last = b["sender"][-1]["events"][-1]
    assert (last["link"]["rel"], last["type"], last.get("status")) == \
        ("messagingInvitation", "completed", "Success"), b
