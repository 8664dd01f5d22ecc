"""Payload shapes as the public UCWA 2.0 reference has them.

- A relationship that can hold several resources (the contacts of a list,
  the groups, subscriptions and their memberships, conversation logs and
  missed items) is a JSON array even when it holds one resource: clients
  iterate it. XML has no array: each member is one nested resource.
- contactPrivacyRelationship carries its value in relationshipLevel.
"""
import json
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
