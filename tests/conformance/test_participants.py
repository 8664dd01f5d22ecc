"""Participants are resources (the public UCWA 2.0 reference: participant,
participants, messagingInvitation, conversation and message, and the
"Receive an IM" walkthrough).

- An invitation's from and to link to participant resources of its
  conversation (.../conversations/<n>/participants/<URI, percent-encoded>),
  and from is embedded, with its uri and name; never a link whose href is
  a SIP URI.
- A conversation links its participants (the user as localParticipant and
  the other side as participant) and each participant answers GET.
- A message links the participant who sent it; an incoming message event
  carries participant, contact, messaging, plainMessage (a data: URI) and
  self links.
- After accept, the invitation's first message also comes as the
  conversation's message completed event.
- A relationship that can hold several resources and holds none is left
  out (no empty array): the participants of an ended conversation, whose
  other side has left; that participant's href then answers 410 Gone.

Each runs in JSON and in XML (the fmt fixture)."""
import json
import time
import urllib.parse

import pytest

from ucwa_client import api, create, token

ALICE = "sip:alice@example.test"
BOB = "sip:bob@example.test"


def members(v):
    """A relationship's members: JSON gives a list for a collection, the
    XML reading gives a dict when there is one."""
    return v if isinstance(v, list) else [v]


def is_true(v):
    return v is True or v == "true"


def text_of(data_uri):
    assert data_uri.startswith("data:text/plain"), data_uri
    return urllib.parse.unquote(data_uri.split(",", 1)[1])


def participant_href(conv, uri):
    return conv + "/participants/" + urllib.parse.quote(uri, safe="")


class Alice:
    def __init__(self, mob, fmt):
        self.mob = mob
        self.tok = token(mob, "alice", fmt=fmt)
        st, h, body = create(mob, self.tok, "participants-" + fmt)
        assert st == 201, body
        self.app = h["location"]
        self.ack = 1
        assert self.call("POST", self.app + "/me/makeMeAvailable", {})[0] == 204

    def call(self, method, path, body=None):
        st, h, out = api(self.mob, self.tok, method, path, body)
        return st, h, (json.loads(out) if out and st // 100 == 2 else out)

    def get(self, path):
        st, _, doc = self.call("GET", path)
        assert st == 200, (path, doc)
        return doc

    def wait(self, pred, timeout=15):
        """Events up to and including the first pred accepts: [(rel,
        type, href, event)]."""
        deadline, seen = time.time() + timeout, []
        while time.time() < deadline:
            doc = self.get(self.app + "/events?ack=%d" % self.ack)
            self.ack += 1
            for s in doc["sender"]:
                for e in s["events"]:
                    seen.append((e["link"]["rel"], e["type"], e["link"]["href"], e))
                    if pred(seen[-1]):
                        return seen
        raise AssertionError("not seen: %r" % [e[:3] for e in seen])


@pytest.fixture(scope="module")
def alice(mob, fmt):
    return Alice(mob, fmt)


@pytest.fixture(scope="module")
def outgoing(alice, bob):
    """alice invites bob with a first message; the invitation as GET
    gives it, and its conversation."""
    st, h, body = alice.call("POST", alice.app + "/communication/messagingInvitations",
                             {"to": BOB, "operationId": "p1", "message": "hello participants"})
    assert st == 201, body
    bob.wait_message(sender="alice", text="hello participants")
    alice.wait(lambda e: e[0] == "messagingInvitation" and e[1] == "completed")
    inv = alice.get(h["location"])
    return {"inv": inv, "conv": inv["_links"]["conversation"]["href"]}


def check_participant(doc, conv, uri, local, rel="participant"):
    # a participant resource wherever it appears, the user's too
    assert doc["rel"] == rel, doc
    assert doc["uri"] == uri, doc
    assert doc["name"] == uri[4:].split("@")[0], doc
    assert is_true(doc["local"]) == local, doc
    assert doc["_links"]["self"]["href"] == participant_href(conv, uri), doc
    assert doc["_links"]["conversation"]["href"] == conv, doc


def embedded_rel(alice, key):
    """An embedded participant's rel: its own in JSON; in XML the key it is
    embedded under, as the reference's XML samples name it."""
    return "participant" if alice.tok.fmt == "json" else key


def test_invitation_from_and_to_are_participants(alice, outgoing):
    inv, conv = outgoing["inv"], outgoing["conv"]
    links = inv["_links"]
    assert links["from"]["href"] == participant_href(conv, ALICE), links
    assert links["to"]["href"] == participant_href(conv, BOB), links
    # from is embedded, as the reference embeds it; to is also the URI
    check_participant(inv["_embedded"]["from"], conv, ALICE, True,
                      embedded_rel(alice, "from"))
    assert inv["to"] == BOB
    # each answers GET with the participant
    check_participant(alice.get(links["from"]["href"]), conv, ALICE, True)
    check_participant(alice.get(links["to"]["href"]), conv, BOB, False)


def test_conversation_participants(alice, outgoing):
    conv = outgoing["conv"]
    c = alice.get(conv)
    assert c["_links"]["localParticipant"]["href"] == participant_href(conv, ALICE), c
    parts = alice.get(c["_links"]["participants"]["href"])
    assert parts["rel"] == "participants", parts
    check_participant(parts["_embedded"]["localParticipant"], conv, ALICE, True,
                      embedded_rel(alice, "localParticipant"))
    remote = parts["_embedded"]["participant"]
    if alice.tok.fmt == "json":
        assert isinstance(remote, list), remote  # a collection: an array
    assert [p["uri"] for p in members(remote)] == [BOB]
    check_participant(members(remote)[0], conv, BOB, False)
    # a URI that is not a participant of it
    assert alice.call("GET", participant_href(conv, "sip:carol@example.test"))[0] == 404


def test_sent_message_links_its_participant(alice, outgoing):
    """The invitation's first message is message 1: sent by alice."""
    conv = outgoing["conv"]
    msg = alice.get(conv + "/messaging/messages/1")
    assert msg["direction"] == "Outgoing"
    assert msg["_links"]["participant"]["href"] == participant_href(conv, ALICE), msg


def stop(alice, conv):
    """End the conversation (once: a second stop answers 409)."""
    st = alice.call("POST", conv + "/messaging/stopMessaging", {})[0]
    assert st in (204, 409), st
    if st == 204:
        alice.wait(lambda e: e[0] == "conversation" and e[1] == "deleted")


@pytest.fixture(scope="module")
def incoming(alice, bob, outgoing):
    """bob writes after alice's conversation with him ended: an incoming
    invitation, which alice accepts by its accept link."""
    stop(alice, outgoing["conv"])
    bob.send_message("alice", "first from bob")
    seen = alice.wait(lambda e: e[0] == "messagingInvitation" and e[1] == "started")
    inv = seen[-1][3]["_embedded"]["messagingInvitation"]
    assert alice.call("POST", inv["_links"]["accept"]["href"], {})[0] == 204
    return {"inv": inv, "conv": inv["_links"]["conversation"]["href"]}


def test_incoming_invitation_from_is_a_participant(alice, incoming):
    inv, conv = incoming["inv"], incoming["conv"]
    assert inv["_links"]["from"]["href"] == participant_href(conv, BOB), inv
    assert inv["_links"]["to"]["href"] == participant_href(conv, ALICE), inv
    check_participant(inv["_embedded"]["from"], conv, BOB, False,
                      embedded_rel(alice, "from"))
    check_participant(alice.get(inv["_links"]["from"]["href"]), conv, BOB, False)


def test_accept_gives_the_first_message_as_a_message_event(alice, incoming):
    """As the "Receive an IM" walkthrough shows: after accept, the
    invitation's first message is the conversation's message completed."""
    seen = alice.wait(lambda e: e[0] == "message" and e[1] == "completed")
    _, _, href, ev = seen[-1]
    assert href == incoming["conv"] + "/messaging/messages/1", href
    assert ev["status"] == "Success"
    first = ev["_embedded"]["message"]
    assert first["direction"] == "Incoming"
    assert text_of(first["_links"]["plainMessage"]["href"]) == "first from bob"
    assert first["_links"]["participant"]["href"] == participant_href(incoming["conv"], BOB)


def test_incoming_message_event_links(alice, bob, incoming):
    """An incoming message's event carries participant, contact,
    messaging, plainMessage and self, each resolving."""
    conv = incoming["conv"]
    bob.send_message("alice", "then more")
    seen = alice.wait(lambda e: e[0] == "message" and e[1] == "completed"
                      and e[2] == conv + "/messaging/messages/2")
    msg = seen[-1][3]["_embedded"]["message"]
    links = msg["_links"]
    assert {"self", "participant", "contact", "messaging", "plainMessage"} <= set(links), links
    assert text_of(links["plainMessage"]["href"]) == "then more"
    assert links["self"]["href"] == seen[-1][2]
    assert links["messaging"]["href"] == conv + "/messaging"
    assert alice.get(links["self"]["href"])["direction"] == "Incoming"
    check_participant(alice.get(links["participant"]["href"]), conv, BOB, False)
    assert alice.get(links["contact"]["href"])["uri"] == BOB
    assert alice.get(links["messaging"]["href"])["rel"] == "messaging"


def test_ended_conversation_peer_has_left(alice, outgoing):
    """Once the conversation ended the other side has left: participants
    holds no participant (left out, not an empty array) and bob's
    participant answers 410 Gone; alice's own stays."""
    conv = outgoing["conv"]
    stop(alice, conv)
    st, _, c = alice.call("GET", conv)
    assert st == 200 and c["state"] == "Disconnected", c
    st, _, raw = api(alice.mob, alice.tok, "GET", conv + "/participants")
    assert st == 200, raw
    parts = json.loads(raw)
    assert "participant" not in parts.get("_embedded", {}), raw
    assert b'"participant": []' not in raw and b'"participant":[]' not in raw
    assert parts["_embedded"]["localParticipant"]["uri"] == ALICE
    assert alice.call("GET", participant_href(conv, BOB))[0] == 410
    assert alice.call("GET", participant_href(conv, ALICE))[0] == 200


def test_audio_invitation_from_is_a_participant(alice, bob):
    """An incoming call's invitation names its caller the same way: a
    participant of the call's conversation at participants/<URI>, listed
    in the conversation's participants."""
    bob.dial("alice")
    try:
        seen = alice.wait(lambda e: e[0] == "phoneAudioInvitation" and e[1] == "started")
        inv = seen[-1][3]["_embedded"]["phoneAudioInvitation"]
        conv = inv["_links"]["conversation"]["href"]
        assert inv["_links"]["from"]["href"] == participant_href(conv, BOB), inv
        caller = inv["_embedded"]["from"]
        assert caller["_links"]["self"]["href"] == participant_href(conv, BOB), caller
        assert caller["uri"] == BOB
        assert alice.get(inv["_links"]["from"]["href"])["uri"] == BOB
        # the call's conversation lists him in its participants
        parts = alice.get(alice.get(conv)["_links"]["participants"]["href"])
        assert [p["uri"] for p in members(parts["_embedded"]["participant"])] == [BOB]
    finally:
        bob.hangup()
