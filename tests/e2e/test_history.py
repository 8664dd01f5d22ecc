"""The history resource (communication/conversationLogs, docs/api.md): the
conversations of an application and the events it missed since a time,
so that an app that lost its local state can rebuild it. In JSON and XML;
kept in the store across a kill -9."""
import datetime
import json
import time
import urllib.parse

import pytest

from ucwa_client import api, create, im_texts, token


def as_list(v):
    return v if isinstance(v, list) else [v]


def history(m, tok, loc, since=None):
    path = loc + "/communication/conversationLogs"
    if since is not None:
        path += "?since=" + urllib.parse.quote(str(since), safe="")
    st, _, body = api(m, tok, "GET", path)
    assert st == 200, body
    r = json.loads(body)
    emb = r.get("_embedded", {})
    return (r, as_list(emb.get("conversationLog", [])),
            as_list(emb.get("missedItem", [])))


def events(m, tok, href):
    """One batch from href (answered at once when something is pending);
    returns (batch, next href)."""
    sep = "&" if "?" in href else "?"
    st, _, body = api(m, tok, "GET", href + sep + "medium=0&low=0")
    assert st == 200, body
    b = json.loads(body)
    return b, b["_links"]["next"]["href"]


def wait_events(m, tok, href, want, timeout=20):
    """Follow next links until `want` incoming texts are seen."""
    seen, kinds = [], []
    deadline = time.time() + timeout
    while len(seen) < want:
        assert time.time() < deadline, seen
        b, href = events(m, tok, href)
        seen += im_texts(b)
        kinds += [e["link"]["rel"] for s in b.get("sender", [])
                  for e in s["events"]]
    return href, seen, kinds


def send(agent, text):
    finals = agent.request("MESSAGE", to_user="alice", body=text, timeout=15)
    assert finals[-1].status == 200, finals[-1].raw


@pytest.fixture()
def m(own_mob):
    return own_mob


@pytest.fixture(scope="module")
def bob(fe):
    a = fe.sip_agent("bob", "bob-secret")
    yield a
    a.close()


def sign_in(m, fmt, epid):
    tok = token(m, "alice", fmt=fmt)
    st, h, body = create(m, tok, epid)
    assert st == 201, body
    loc = h["location"]
    app = json.loads(body)
    comm = app["_embedded"]["communication"]["_links"]
    assert comm["conversationLogs"]["href"] == loc + "/communication/conversationLogs"
    assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    return tok, loc, app["_links"]["events"]["href"]


def test_history_and_missed_items(m, fe, bob, fmt):
    tok, loc, href = sign_in(m, fmt, "hist-" + fmt)
    t0 = int(time.time() * 1000) - 1000
    for i in range(3):
        send(bob, "hist %d" % i)

    # three messages the app has not had: one conversation, three missed
    r, convs, missed = history(m, tok, loc)
    assert r["rel"] == "conversationLogs"
    assert len(convs) == 1, convs
    c = convs[0]
    assert c["direction"] == "Incoming"
    assert str(c["messageCount"]) == "3"
    assert c["previewMessage"] == "hist 2"
    assert c["previewDirection"] == "Incoming"
    assert c["_links"]["from"]["href"] == "sip:bob@example.test"
    assert c["_links"]["conversation"]["href"] == loc + "/communication/conversations/1"
    assert [x["previewMessage"] for x in missed] == ["hist 2", "hist 1", "hist 0"]
    assert all(x["type"] == "Message" for x in missed)
    assert all(x["_links"]["from"]["href"] == "sip:bob@example.test" for x in missed)

    # the app gets them and acknowledges: nothing missed any more
    href, seen, _ = wait_events(m, tok, href, 3)
    assert seen == ["hist 0", "hist 1", "hist 2"]
    # following next acknowledges the batch; a presence change makes the
    # next one answered at once (timeout is at least 180 s)
    assert api(m, tok, "POST", loc + "/me/presence", {"availability": "Busy"})[0] == 204
    events(m, tok, href)
    _, convs, missed = history(m, tok, loc)
    assert missed == [], missed

    # alice answers, and writes to carol with a subject
    st, _, body = api(m, tok, "POST", loc + "/communication/conversations/1/messaging/messages",
                      "my reply", ctype="text/plain")
    assert st == 201, body
    st, _, body = api(m, tok, "POST", loc + "/communication/messagingInvitations",
                      {"to": "sip:carol@example.test", "subject": "lunch?",
                       "operationId": "op1"})
    assert st == 201, body
    _, convs, missed = history(m, tok, loc)
    assert len(convs) == 2
    carol, bobc = convs
    assert carol["direction"] == "Outgoing" and carol["subject"] == "lunch?"
    assert carol["_links"]["to"]["href"] == "sip:carol@example.test"
    assert str(carol["messageCount"]) == "0" and "previewMessage" not in carol
    assert str(bobc["messageCount"]) == "4"
    assert bobc["previewMessage"] == "my reply"
    assert bobc["previewDirection"] == "Outgoing"

    # since: milliseconds or ISO 8601; later than everything gives nothing
    future = int(time.time() * 1000) + 60000
    _, convs, missed = history(m, tok, loc, since=future)
    assert convs == [] and missed == []
    iso = datetime.datetime.fromtimestamp(t0 / 1000, datetime.timezone.utc)
    for s in (t0, iso.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
              iso.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
              .strftime("%Y-%m-%dT%H:%M:%S+02:00")):
        _, convs, _ = history(m, tok, loc, since=s)
        assert len(convs) == 2, s
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "2026-11-24T01:00:00",
                "99999999999999999999"):
        st, _, body = api(m, tok, "GET", loc + "/communication/conversationLogs?since="
                          + urllib.parse.quote(bad))
        assert st == 400, (bad, body)
        assert json.loads(body)["subcode"] == "ParameterValidationFailure"
    st, _, _ = api(m, tok, "POST", loc + "/communication/conversationLogs", {})
    assert st == 405

    # the most recently active first: bob writes again
    send(bob, "hist again")
    _, convs, missed = history(m, tok, loc)
    assert [c["_links"].get("from", c["_links"].get("to"))["href"]
            for c in convs] == ["sip:bob@example.test", "sip:carol@example.test"]
    assert [x["previewMessage"] for x in missed] == ["hist again"]


def test_history_survives_kill_and_conversation_goes_on(m, fe, bob):
    """kill -9 with a message of an accepted conversation not yet
    acknowledged: after the restart the history is there, the stored
    message comes again as a message of conversation 1 (not a new
    invitation), and bob's next message goes on in it."""
    tok, loc, href = sign_in(m, "json", "hist-kill")
    send(bob, "before 0")
    href, seen, kinds = wait_events(m, tok, href, 1)
    assert "messagingInvitation" in kinds
    st, _, body = api(m, tok, "POST",
                      loc + "/communication/messagingInvitations/1/accept", {})
    assert st == 204, body
    send(bob, "before 1")
    # the app gets it (batch N) but never acknowledges it
    b, _ = events(m, tok, href)
    while "before 1" not in im_texts(b):
        href = b["_links"]["next"]["href"]
        b, _ = events(m, tok, href)
    _, convs, missed = history(m, tok, loc)
    assert len(convs) == 1 and len(missed) == 1

    m.kill()
    m.start(timeout=30)
    deadline = time.time() + 10
    while api(m, tok, "GET", loc)[0] == 503 and time.time() < deadline:
        time.sleep(0.05)

    _, convs, missed = history(m, tok, loc)
    assert len(convs) == 1, convs
    assert str(convs[0]["messageCount"]) == "2"
    assert convs[0]["previewMessage"] == "before 1"
    assert [x["previewMessage"] for x in missed] == ["before 1"]
    assert convs[0]["_links"]["conversation"]["href"] == loc + "/communication/conversations/1"

    # the lost answer again: the message, in conversation 1, as a message
    b, nxt = events(m, tok, href)
    assert im_texts(b) == ["before 1"]
    evs = [e for s in b["sender"] for e in s["events"]]
    assert [e["link"]["rel"] for e in evs if e["link"]["rel"] != "presence"] == ["message"], evs
    assert evs[-1]["in"]["href"] == loc + "/communication/conversations/1"

    send(bob, "after")
    _, seen, kinds = wait_events(m, tok, nxt, 1)
    assert seen == ["after"]
    assert "messagingInvitation" not in kinds
    _, convs, missed = history(m, tok, loc)
    assert str(convs[0]["messageCount"]) == "3"
    # "before 1" was acknowledged by following next
    assert [x["previewMessage"] for x in missed] == ["after"]
