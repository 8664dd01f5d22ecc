"""An independent minimal UCWA client (ucwa_minimal.py, written from the
public reference) against the service, in JSON and in XML: it knows only
the autodiscover URL, alice's name and password; it signs in, starts a
conversation with bob (on his desktop client) the documented way, reads
the event channel by its next links, exchanges messages both ways, accepts
an invitation from bob and answers it, ends the conversations and signs
out. Every URL it uses is one it was given. Each step asserts what the
reference documents; a deviation fails the step and names it."""
import socket
import time

import pytest

from mobility import DOMAIN
from ucwa_minimal import Client, data_uri, data_uri_text

BOB = "sip:bob@" + DOMAIN


@pytest.fixture(scope="module", autouse=True)
def resolve_test_names():
    """Name resolution: every *.example.test name is 127.0.0.1 (the test
    hosts' DNS); nothing else of the client is told."""
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *a, **kw)

    socket.getaddrinfo = fake
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="module")
def state(mob, fmt, bob):
    """alice's client for this representation and what the steps learn."""
    url = "https://lyncdiscover.%s:%d/" % (DOMAIN, mob.https_port)
    c = Client(url, "alice@" + DOMAIN, "alice-secret", fmt=fmt, cafile=mob.ca)
    return {"c": c, "fmt": fmt}


def need(state, key):
    """What an earlier step learnt; that step's failure named the cause."""
    if key not in state:
        pytest.fail("an earlier step failed before the client learnt its %s" % key)
    return state[key]


def once_each(events):
    """No event of one kind on one resource repeats (started, completed,
    added, deleted happen once; repeated updates may be aggregated)."""
    seen = set()
    for ev in events:
        if ev.type == "updated":
            continue
        k = (ev.sender_href, ev.type, ev.rel, ev.href)
        assert k not in seen, "event delivered twice: %r in %r" % (ev, events)
        seen.add(k)


def index(events, pred):
    for i, ev in enumerate(events):
        if pred(ev):
            return i
    raise AssertionError("no such event in %r" % events)


def conversation_messaging(c, conv_href):
    """The conversation's messaging resource, through its link."""
    conv = c.get(conv_href)
    assert conv.rel == "conversation", conv
    href = conv.link("messaging")
    assert href, "conversation has no messaging link: %r" % conv
    return c.get(href)


def read_participant(c, res, rel):
    """GET the participant res names by rel (a link, or embedded with its
    own href); the Resource, or the failure to hand to the step."""
    try:
        href = res.link(rel) or (res.one(rel).href if res.one(rel) else None)
        assert href, "%s names no %s: %r" % (res.rel, rel, res)
        return c.get(href)
    except AssertionError as e:
        return e


def wait_ended(c, conv):
    """After stopMessaging: the modality goes Disconnected, or the
    conversation is deleted."""
    c.wait_event(lambda e: (e.rel == "conversation" and e.type == "deleted" and e.href == conv)
                 or (e.rel == "messaging" and e.type == "updated" and e.sender_href == conv
                     and e.resource is not None
                     and e.resource.props.get("state") == "Disconnected"))


def test_sign_in(state):
    c = state["c"]
    app = c.sign_in()
    assert app.rel == "application", app
    for rel in ("me", "people", "communication"):
        assert app.one(rel) is not None, "application embeds no %s" % rel
    assert c.communication().link("startMessaging")
    c.make_me_available()


def test_start_conversation_documented_way(state, bob):
    c, fmt = state["c"], state["fmt"]
    first = "Hello Bob, %s first" % fmt
    # JSON: the first message as a data: link, as "Send an IM" has it; the
    # reference's XML sample has no first message: it is sent once connected
    loc = c.start_messaging(BOB, data_uri(first) if fmt == "json" else None)
    inv = c.get(loc)
    assert inv.rel == "messagingInvitation", inv
    assert inv.href == loc
    state["inv"] = inv
    # the outcome on the event channel: the invitation completes Success
    done, _ = c.wait_event(lambda e: e.rel == "messagingInvitation" and e.type == "completed")
    assert done.href == loc, done
    assert done.fields.get("status") == "Success", done
    conv = inv.link("conversation")
    assert conv, "invitation has no conversation link: %r" % inv
    state["conv"] = conv
    messaging = conversation_messaging(c, conv)
    assert messaging.props.get("state") == "Connected", messaging
    assert messaging.link("sendMessage"), messaging
    state["messaging"] = messaging
    # the walkthrough's order: started, then the modality Connected, then
    # the invitation's outcome last (clients take the last as the outcome)
    started = index(c.seen, lambda e: e.type == "started" and e.href == loc)
    connected = index(c.seen, lambda e: e.rel == "messaging" and e.type == "updated"
                      and e.sender_href == conv)
    assert started < connected < c.seen.index(done), c.seen
    once_each(c.seen)
    if fmt != "json":
        c.send_message(messaging, first)
    bob.wait_message(sender="alice", text=first, timeout=10)


def test_outgoing_invitation_names_both_sides(state):
    """"Send an IM": the outgoing invitation's to names bob (a people
    resource there; a participant would do) and its from is alice's
    participant in the conversation; both resolve."""
    c, inv = state["c"], need(state, "inv")
    who = read_participant(c, inv, "to")
    if isinstance(who, Exception):
        raise who
    assert who.rel in ("contact", "participant"), who
    assert who.props.get("uri") == BOB, who
    me = read_participant(c, inv, "from")
    if isinstance(me, Exception):
        raise me
    assert me.rel == "participant", me
    assert me.props.get("uri") == "sip:alice@" + DOMAIN, me


def _wait_incoming_message(c, text):
    ev, _ = c.wait_event(lambda e: e.rel == "message" and e.type in ("added", "completed")
                         and e.resource is not None
                         and e.resource.props.get("direction") == "Incoming")
    plain = ev.resource.link("plainMessage")
    assert plain, "incoming message event without a plainMessage link: %r" % ev.resource
    assert data_uri_text(plain) == text, plain
    return ev


def test_bob_answers_on_event_channel(state, bob):
    c = state["c"]
    before = len(c.seen)
    text = "Hi Alice, bob here (%s)" % state["fmt"]
    bob.send_message("alice", text)
    ev = _wait_incoming_message(c, text)
    assert ev.sender_rel == "conversation" and ev.sender_href == need(state, "conv"), ev
    state["incoming_message"] = ev.resource
    once_each(c.seen[before:])


def test_incoming_message_names_its_participant(state):
    """Who said it: the incoming message's participant link is bob's
    participant resource in the conversation."""
    c, msg = state["c"], need(state, "incoming_message")
    href = msg.link("participant")
    assert href, "incoming message without a participant link: %r" % msg
    who = c.get(href)
    assert who.rel == "participant", who
    assert who.props.get("uri") == BOB, who


def test_more_messages_both_ways(state, bob):
    c, fmt = state["c"], state["fmt"]
    for i in range(3):
        out = "alice %s says %d" % (fmt, i)
        loc = c.send_message(need(state, "messaging"), out)
        assert loc, "sendMessage answered 201 without Location"
        bob.wait_message(sender="alice", text=out, timeout=10)
        done, _ = c.wait_event(lambda e: e.rel == "message" and e.type == "completed"
                               and e.href == loc)
        assert done.fields.get("status") == "Success", done
        back = "bob %s answers %d" % (fmt, i)
        bob.send_message("alice", back)
        _wait_incoming_message(c, back)
    once_each(c.seen)


def test_end_conversation(state):
    c = state["c"]
    messaging = conversation_messaging(c, need(state, "conv"))
    c.post_link(messaging, "stopMessaging")
    wait_ended(c, need(state, "conv"))
    once_each(c.seen)


def test_first_message_in_base64(state, bob):
    """The startMessaging reference's JSON sample gives the first message
    as a base64 data: URI; bob reads it."""
    c, fmt = state["c"], state["fmt"]
    if fmt != "json":
        pytest.skip("the reference's XML sample carries no first message")
    text = "Hello Bob, in base64"
    loc = c.start_messaging(BOB, data_uri(text, base64_=True))
    done, _ = c.wait_event(lambda e: e.rel == "messagingInvitation" and e.type == "completed"
                           and e.href == loc)
    assert done.fields.get("status") == "Success", done
    conv = c.get(loc).link("conversation")
    c.post_link(conversation_messaging(c, conv), "stopMessaging")
    wait_ended(c, conv)
    bob.wait_message(sender="alice", text=text, timeout=10)


def test_accept_invitation_from_bob_and_reply(state, bob):
    c, fmt = state["c"], state["fmt"]
    before = len(c.seen)
    first = "bob %s starts anew" % fmt
    bob.send_message("alice", first)
    ev, _ = c.wait_event(lambda e: e.rel == "messagingInvitation" and e.type == "started"
                         and e.resource is not None
                         and e.resource.props.get("direction") == "Incoming")
    inv = ev.resource
    state["incoming"] = inv
    # who calls, read while the conversation is up (step below asserts it)
    state["from"] = read_participant(c, inv, "from")
    state["from_embedded"] = inv.one("from")
    assert ev.sender_rel == "communication", ev
    assert data_uri_text(inv.link("message")) == first, inv
    c.post_link(inv, "accept")
    done, _ = c.wait_event(lambda e: e.rel == "messagingInvitation" and e.type == "completed"
                           and e.href == inv.href)
    assert done.fields.get("status") == "Success", done
    conv = inv.link("conversation")
    assert conv, inv
    messaging = conversation_messaging(c, conv)
    assert messaging.props.get("state") == "Connected", messaging
    reply = "alice %s accepted" % fmt
    c.send_message(messaging, reply)
    bob.wait_message(sender="alice", text=reply, timeout=10)
    c.post_link(messaging, "stopMessaging")
    wait_ended(c, conv)
    once_each(c.seen[before:])
    # the walkthrough: after accept, the invitation's first message comes
    # as the conversation's message event too
    got = [e for e in c.seen[before:] if e.rel == "message" and e.sender_href == conv
           and e.resource is not None and e.resource.link("plainMessage")
           and data_uri_text(e.resource.link("plainMessage")) == first]
    assert len(got) == 1, "first message after accept: %r" % c.seen[before:]
    # "Receive an IM": the modality is Connected before the invitation's
    # outcome (the last event is the outcome)
    after = c.seen[before:]
    connected = [i for i, e in enumerate(after) if e.rel == "messaging"
                 and e.type == "updated" and e.sender_href == conv]
    assert connected and connected[0] < after.index(done), \
        "messaging Connected not before the invitation completed: %r" % after


def test_invitation_from_is_a_participant(state):
    """The incoming invitation's from is a participant resource (uri)."""
    who = need(state, "from")
    if isinstance(who, Exception):
        raise who
    emb = state.get("from_embedded")
    assert emb is not None, "the invitation does not embed from"
    if state["fmt"] == "json":
        # the walkthrough's embedded from says what it is: a participant
        assert emb.rel == "participant", "embedded from has rel %r" % emb.rel
    assert emb.props.get("uri") == BOB, emb
    assert who.rel == "participant", who
    assert who.props.get("uri") == BOB, who


def test_events_in_time_order(state):
    """Every invitation was started before it completed and every
    conversation added before it was deleted, on the one channel."""
    c = state["c"]
    first = {}
    for i, ev in enumerate(c.seen):
        if ev.rel not in ("messagingInvitation", "conversation"):
            continue
        if ev.type in ("added", "started"):
            first.setdefault(ev.href, i)
        elif ev.type in ("completed", "deleted"):
            assert ev.href in first, "%r before it started: %r" % (ev, c.seen)


def test_sign_out(state):
    c = state["c"]
    app_href = c.app.href
    c.sign_out()
    deadline = time.monotonic() + 5
    while c.request("GET", app_href).status_code not in (404, 410):
        assert time.monotonic() < deadline, "application still there after DELETE"
        time.sleep(0.2)
