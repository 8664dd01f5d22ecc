"""Payload shapes as the public UCWA 2.0 reference has them.

- A relationship that can hold several resources (the contacts of a list,
  the groups, subscriptions and their memberships, conversation logs and
  missed items) is a JSON array even when it holds one resource: clients
  iterate it. XML has no array: each member is one nested resource.
- contactPrivacyRelationship carries its value in relationshipLevel.
- conversationLogs?since= is "at or after since" to the millisecond: an
  entry made later in the same second as since is listed.
"""
import datetime
import json
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from ucwa_client import UCWA_NS, api, create, token

BOB = "sip:bob@example.test"

# The collections of the reference, by the rel of the resource holding
# them: the rels that are arrays whatever their number of members.
COLLECTIONS = {
    "myContacts": ("contact",),
    "groupContacts": ("contact",),
    "subscribedContacts": ("contact",),
    "myGroups": ("group",),
    "presenceSubscriptions": ("presenceSubscription",),
    "presenceSubscriptionMemberships": ("presenceSubscriptionMembership",),
    "conversationLogs": ("conversationLog", "missedItem"),
}


def get(mob, tok, path, accept=None):
    st, _, body = api(mob, tok, "GET", path, accept=accept)
    assert st == 200, (path, body)
    return body


def collection_members(doc):
    """Check every collection in doc (and in what it embeds) is an array
    in _links and _embedded; returns [(holder rel, member rel, count)]."""
    seen = []
    holds = COLLECTIONS.get(doc.get("rel"), ())
    for part in ("_links", "_embedded"):
        for rel, v in doc.get(part, {}).items():
            if rel in holds:
                assert isinstance(v, list), (doc.get("rel"), part, rel, v)
                seen.append((doc.get("rel"), rel, len(v)))
            if part == "_embedded":
                for child in v if isinstance(v, list) else [v]:
                    seen += collection_members(child)
    return seen


@pytest.fixture(scope="module")
def alice(mob):
    """alice on her phone, available, with one contact (bob, in group
    Friends) and one presence subscription to him."""
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "shapes-phone")
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    st, _, body = api(mob, tok, "POST", app + "/people/contacts",
                      {"uri": BOB, "name": "Bob", "group": "Friends"})
    assert st == 201, body
    st, h, body = api(mob, tok, "POST", app + "/people/presenceSubscriptions",
                      {"duration": 11, "uris": [BOB]})
    assert st == 201, body
    return tok, app, h["location"]


def test_one_contact_is_an_array(mob, alice):
    tok, app, _ = alice
    doc = json.loads(get(mob, tok, app + "/people/contacts"))
    assert doc["rel"] == "myContacts"
    contacts = doc["_embedded"]["contact"]
    assert isinstance(contacts, list), contacts
    assert [c["uri"] for c in contacts] == [BOB]


def test_one_contact_in_xml_is_one_nested_resource(mob, alice):
    tok, app, _ = alice
    xml_tok = token(mob, "alice", fmt="xml")
    root = ET.fromstring(get(mob, xml_tok, app + "/people/contacts",
                             accept="application/xml"))
    assert root.tag == "{%s}resource" % UCWA_NS and root.get("rel") == "myContacts"
    kids = root.findall("{%s}resource" % UCWA_NS)
    assert [k.get("rel") for k in kids] == ["contact"]
    uris = [p.text for p in kids[0].findall("{%s}property" % UCWA_NS)
            if p.get("name") == "uri"]
    assert uris == [BOB]


def test_every_collection_of_the_flows_is_an_array(mob, fe, alice):
    """Each collection the flows above produce, with one member, in JSON."""
    tok, app, sub = alice
    # one conversation and one missed message in the history
    with fe.sip_agent("bob", "bob-secret") as bob:
        finals = bob.request("MESSAGE", to_user="alice", body="hello", timeout=15)
        assert finals[-1].status == 200, finals[-1].raw
    paths = ["/people/contacts", "/people/groups", "/people/groups/Friends/contacts",
             "/people/subscribedContacts", "/people/presenceSubscriptions",
             "/communication/conversationLogs"]
    seen = []
    for p in paths:
        seen += collection_members(json.loads(get(mob, tok, app + p)))
    seen += collection_members(json.loads(get(mob, tok, sub + "/memberships")))
    holders = {(h, r) for h, r, n in seen if n == 1}
    assert holders == {(h, r) for h, rels in COLLECTIONS.items() for r in rels}, seen


def test_privacy_relationship_level(mob, alice):
    tok, app, _ = alice
    rel = app + "/people/contacts/" + urllib.parse.quote(BOB, safe="") + \
        "/contactPrivacyRelationship"
    doc = json.loads(get(mob, tok, rel))
    assert doc["rel"] == "contactPrivacyRelationship"
    assert "relationshipLevel" in doc and "relationship" not in doc, doc
    st, _, body = api(mob, tok, "POST", rel, {"relationshipLevel": "Workgroup"})
    assert st == 204, body
    assert json.loads(get(mob, tok, rel))["relationshipLevel"] == "Workgroup"


def as_ms(v):
    """A date property as ms: JSON /Date(ms)/, XML ISO 8601."""
    m = re.fullmatch(r"/Date\((\d+)\)/", v)
    if m:
        return int(m.group(1))
    d = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return round(d.timestamp() * 1000)


def logs_since(mob, tok, app, since):
    body = get(mob, tok, app + "/communication/conversationLogs?since=%d" % since)
    emb = json.loads(body).get("_embedded", {}).get("conversationLog", [])
    return emb if isinstance(emb, list) else [emb]


def test_history_since_is_read_to_the_millisecond(mob, fe, fmt):
    """A message at T+0.5 s is listed with since=T+0.2 s, and the entry's
    own time is at or after since."""
    tok = token(mob, "carol", fmt=fmt)
    st, h, body = create(mob, tok, "shapes-since-" + fmt)
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    with fe.sip_agent("bob", "bob-secret") as bob:
        # wait for the middle of a second T (bounded: at most one second)
        while not 0.45 <= time.time() % 1 < 0.55:
            time.sleep(0.01)
        since = int(time.time()) * 1000 + 200
        finals = bob.request("MESSAGE", to_user="carol", body="same second " + fmt,
                             timeout=15)
        assert finals[-1].status == 200, finals[-1].raw
    logs = [c for c in logs_since(mob, tok, app, since)
            if c.get("previewMessage") == "same second " + fmt]
    assert len(logs) == 1, logs
    last = as_ms(logs[0]["lastMessageTime"])
    assert last >= since, (last, since)
    # "at or after": the entry's own time lists it, a millisecond later not
    assert len(logs_since(mob, tok, app, last)) == 1
    assert logs_since(mob, tok, app, last + 1) == []
