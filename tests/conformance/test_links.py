"""Every href the service emits resolves (the public UCWA 2.0 reference: a
client navigates by the links it is given, and GET is documented on every
resource it names: me, presence, note, contact, message, ...).

A flow (sign in, me, presence, note, contacts, a presence subscription,
an IM both ways with a desktop user) runs in JSON and in XML; every href
of every resource and event it sees, and of every resource those lead to,
is fetched with the token in JSON and in XML and must answer 2xx.

Not fetched, by definition not GET-able resources:
- actions, which the reference documents as POST only (ACTIONS below);
- the event channel's own links (events?ack=...): a GET of it is the
  long poll that hands out and acknowledges the flow's events;
- URIs that are no HTTP resource of the service (data:, sip:, tel:).

One link names a resource that may not exist yet: pushRegistration (our
extension, docs/api.md) is where the app PUTs its push registration; its
GET answers 404 until there is one (NOT_YET below).

A resource that has ended: a conversation stopped stays readable (state
Disconnected) while the application keeps it, then answers 404 with the
messages in it; a message too old to be held answers 410 Gone (a
conversation holds its last 8), and so does the other side's participant
once the conversation has ended (it has left). The walk accepts 410 for
messages and participants only.
"""
import json
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from ucwa_client import api, create, token, url

BOB = "sip:bob@example.test"
CAROL = "sip:carol@example.test"

# POST-only actions of the reference, by link rel.
ACTIONS = {
    "makeMeAvailable", "reportMyActivity", "startMessaging", "stopMessaging",
    "sendMessage", "accept", "decline", "addToPresenceSubscription", "batch",
    "startPhoneAudio", "startAudioVideo", "startOnlineMeeting",
}
# rel: the status its GET documents until the app creates it
NOT_YET = {"pushRegistration": 404}
MAX_HREFS = 400  # the walk is bounded


def hrefs_of(doc, parent=None, out=None):
    """(rel, href) of every link in a JSON document (or an event batch):
    _links, _embedded, event links and their senders, recursively."""
    out = set() if out is None else out
    if isinstance(doc, list):
        for x in doc:
            hrefs_of(x, parent, out)
    elif isinstance(doc, dict):
        if isinstance(doc.get("href"), str):
            out.add((doc.get("rel") or parent, doc["href"]))
        for k, v in doc.items():
            hrefs_of(v, k, out)
    return out


def hrefs_of_xml(data):
    """(rel, href) of every element with an href: <link>, <resource>,
    events' <sender>, <in> and event elements."""
    out = set()
    for el in ET.fromstring(data).iter():
        if el.get("href"):
            out.add((el.get("rel") or "self", el.get("href")))
    return out


def fetchable(rel, href):
    if rel in ACTIONS or href.split(":", 1)[0] in ("data", "sip", "sips", "tel"):
        return False
    path = urllib.parse.urlsplit(href).path
    return not path.endswith("/events")


class Flow:
    def __init__(self, mob, tok, app):
        self.mob, self.tok, self.app = mob, tok, app
        self.ack = 1
        self.links = set()

    def call(self, method, path, body=None):
        st, h, out = api(self.mob, self.tok, method, path, body)
        if out and h.get("content-type", "").startswith("application/"):
            self.links |= hrefs_of(json.loads(out))
        return st, h, out

    def events(self):
        """The next event batch's events as (rel, type, href, event)."""
        st, _, body = self.call("GET", self.app + "/events?ack=%d" % self.ack)
        assert st == 200, body
        self.ack += 1
        return [(e["link"]["rel"], e["type"], e["link"]["href"], e)
                for s in json.loads(body)["sender"] for e in s["events"]]

    def wait(self, pred, timeout=15):
        deadline, seen = time.time() + timeout, []
        while time.time() < deadline:
            batch = self.events()
            seen += batch
            if any(pred(e) for e in batch):
                return seen
        raise AssertionError("not seen: %r" % [e[:3] for e in seen])


def walk(mob, tok, start):
    """GET every href reachable from start in JSON and in XML; returns
    {(href, format): status} and the rels each href was seen under."""
    todo, done, rels = list(start), {}, {}
    while todo:
        rel, href = todo.pop()
        rels.setdefault(href, set()).add(rel)
        if not fetchable(rel, href) or (href, "json") in done:
            continue
        assert len(done) < 2 * MAX_HREFS, "too many hrefs: %d" % len(done)
        path = urllib.parse.urlsplit(href).path
        if urllib.parse.urlsplit(href).query:
            path += "?" + urllib.parse.urlsplit(href).query
        for fmt, accept in (("json", "application/json"), ("xml", "application/xml")):
            st, h, out = api(mob, tok, "GET", path, accept=accept)
            done[(href, fmt)] = (st, out[:200])
            if st // 100 != 2 or not out:
                continue
            ctype = h.get("content-type", "")
            if ctype.startswith("application/json"):
                todo += sorted(hrefs_of(json.loads(out)))
            elif ctype.startswith("application/xml"):
                todo += sorted(hrefs_of_xml(out))
    return done, rels


@pytest.fixture(scope="module")
def flow(mob, fmt, bob):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "links-" + fmt)
    assert st == 201, body
    f = Flow(mob, tok, h["location"])
    f.links.add(("application", h["location"]))
    f.call("GET", f.app)
    assert f.call("POST", f.app + "/me/makeMeAvailable", {})[0] == 204
    for sub in ("/me", "/me/presence", "/me/note", "/people", "/people/contacts",
                "/people/groups", "/communication"):
        f.call("GET", f.app + sub)
    assert f.call("POST", f.app + "/me/note", {"message": "walking " + fmt})[0] == 204
    f.wait(lambda e: e[0] == "note")

    # a listed contact, and a subscription to one that is not listed
    st, _, body = f.call("POST", f.app + "/people/contacts", {"uri": CAROL, "name": "Carol", "group": "Close friends"})
    assert st == 201, body
    bob.set_presence("online")
    st, h, body = f.call("POST", f.app + "/people/presenceSubscriptions",
                         {"duration": 30, "uris": [BOB]})
    assert st == 201, body
    f.call("GET", h["location"])
    f.call("GET", h["location"] + "/memberships")
    f.wait(lambda e: e[0] == "contactPresence")

    # an IM both ways with bob: invitation, a second message, an answer
    st, h, body = f.call("POST", f.app + "/communication/messagingInvitations",
                         {"to": BOB, "operationId": "links", "message": "hi bob " + fmt})
    assert st == 201, body
    f.links.add(("messagingInvitation", h["location"]))
    bob.wait_message(sender="alice", text="hi bob " + fmt)
    seen = f.wait(lambda e: e[0] == "messagingInvitation" and e[1] == "completed")
    conv = [e[2] for e in seen if e[0] == "conversation"][0]
    st, h, _ = mob.curl(
        url(mob, conv + "/messaging/messages"), "-X", "POST", "-H", "Authorization: Bearer " + tok,
        "-H", "Content-Type: text/plain", "--data-raw", "second " + fmt)
    assert st == 201
    f.links.add(("message", h["location"]))
    bob.wait_message(sender="alice", text="second " + fmt)
    f.wait(lambda e: e[0] == "message" and e[1] == "completed")
    bob.send_message("alice", "back to alice " + fmt)
    f.wait(lambda e: e[0] == "message" and "Incoming" in json.dumps(e[3]))
    f.call("GET", conv)
    f.call("GET", conv + "/messaging")
    return {"f": f, "conv": conv}


def unexpected(done, seen_as):
    """The answers that are neither 2xx nor documented for what the href
    names (NOT_YET; 410 for a message no longer held or a participant
    who has left)."""
    def allowed(href, st):
        rels = seen_as[href]
        if st // 100 == 2 or (st == 410 and rels <= {"message", "self"}):
            return True
        # a participant who has left (its conversation ended)
        if st == 410 and "/participants/" in urllib.parse.urlsplit(href).path:
            return True
        return {NOT_YET.get(r) for r in rels} == {st}
    return {k: v for k, v in done.items() if not allowed(k[0], v[0])}


def test_every_href_resolves(mob, flow):
    f = flow["f"]
    rels = {r for r, _ in f.links}
    # the flow saw what the walk is about
    assert {"me", "presence", "note", "contact", "message", "conversation",
            "from", "to", "participant"} <= rels, rels
    done, seen_as = walk(mob, f.tok, f.links)
    bad = unexpected(done, seen_as)
    assert not bad, "\n".join("%s %s %s %s %r" % (st, fm, href, sorted(seen_as[href]), out)
                              for (href, fm), (st, out) in sorted(bad.items()))
    assert len(done) >= 40, len(done)


def test_me_event_links_to_me(mob, flow):
    f = flow["f"]
    hrefs = {h for r, h in f.links if r == "me"}
    assert hrefs == {f.app + "/me"}, hrefs


def test_message_resource(mob, flow):
    """GET on a message the conversation holds: its direction and status."""
    f, conv = flow["f"], flow["conv"]
    st, _, body = api(mob, f.tok, "GET", conv + "/messaging/messages/2")
    assert st == 200, body
    m = json.loads(body)
    assert m["direction"] == "Outgoing" and m["status"] == "Success", m
    st, _, body = api(mob, f.tok, "GET", conv + "/messaging/messages/3")
    assert st == 200 and json.loads(body)["direction"] == "Incoming", body
    # a number never given
    assert api(mob, f.tok, "GET", conv + "/messaging/messages/99")[0] == 404


def test_contact_not_listed_resolves(mob, flow):
    """A subscribed contact who is not in the contact list is a contact
    resource too (as contactPresence is)."""
    f = flow["f"]
    enc = urllib.parse.quote(BOB, safe="")
    st, _, body = api(mob, f.tok, "GET", f.app + "/people/contacts/" + enc)
    assert st == 200, body
    assert json.loads(body)["uri"] == BOB


def test_message_no_longer_held_is_gone(mob, flow):
    """A live conversation holds its last 8 messages: an older one answers
    410 Gone, a number never given 404."""
    f, conv = flow["f"], flow["conv"]
    for i in range(8):
        st, _, body = mob.curl(url(mob, conv + "/messaging/messages"), "-X", "POST",
                               "-H", "Authorization: Bearer " + f.tok,
                               "-H", "Content-Type: text/plain", "--data-raw", "more %d" % i)
        assert st == 201, body
    st, _, body = api(mob, f.tok, "GET", conv + "/messaging/messages/2")
    assert st == 410, body
    assert api(mob, f.tok, "GET", conv + "/messaging/messages/11")[0] == 200
    assert api(mob, f.tok, "GET", conv + "/messaging/messages/12")[0] == 404


def test_ended_conversation_links_resolve(mob, flow):
    """Once stopped, the conversation is kept a while (state Disconnected):
    every link seen so far, the deleted event's too, still resolves."""
    f, conv = flow["f"], flow["conv"]
    assert f.call("POST", conv + "/messaging/stopMessaging", {})[0] == 204
    f.wait(lambda e: e[0] == "conversation" and e[1] == "deleted")
    st, _, body = api(mob, f.tok, "GET", conv)
    assert st == 200, body
    done, seen_as = walk(mob, f.tok, f.links)
    bad = unexpected(done, seen_as)
    assert not bad, bad


def test_incoming_invitation_links_resolve(mob, flow, bob):
    """bob writes again after the stop: an incoming invitation, accepted
    by its own accept link, then a message; every link still resolves."""
    f = flow["f"]
    bob.send_message("alice", "again " + f.tok.fmt)
    seen = f.wait(lambda e: e[0] == "messagingInvitation" and e[1] == "started")
    inv = [e[3] for e in seen if e[0] == "messagingInvitation" and e[1] == "started"][-1]
    accept = inv["_embedded"]["messagingInvitation"]["_links"]["accept"]["href"]
    assert f.call("POST", accept, {})[0] == 204
    f.wait(lambda e: e[0] == "messagingInvitation" and e[1] == "completed")
    bob.send_message("alice", "and again " + f.tok.fmt)
    f.wait(lambda e: e[0] == "message" and e[1] == "completed")
    done, seen_as = walk(mob, f.tok, f.links)
    # the incoming invitation and its conversation were walked
    assert inv["link"]["href"] in seen_as and (inv["link"]["href"], "xml") in done
    bad = unexpected(done, seen_as)
    assert not bad, bad
