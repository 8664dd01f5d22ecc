"""Contacts, groups and privacy relationships through the API, kept on
the Front End's XCAP server (shared by all of a user's devices); a
desktop user blocked by the phone's user sees her Offline. The phone's
flows run in JSON and in XML (fmt); the block, a Front End matter, in
JSON."""
import json
import time
import urllib.parse

import pytest

from baresip import registered
from ucwa_client import api, create, token

BOB = "sip:bob@example.test"


@pytest.fixture(scope="module")
def alice(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "people-phone-" + fmt)
    assert st == 201, body
    return tok, h["location"]


def contacts(mob, tok, app):
    st, _, body = api(mob, tok, "GET", app + "/people/contacts")
    assert st == 200, body
    emb = json.loads(body).get("_embedded", {}).get("contact", [])
    return emb if isinstance(emb, list) else [emb]


def test_people_links(mob, alice):
    tok, app = alice
    st, _, body = api(mob, tok, "GET", app + "/people")
    links = json.loads(body)["_links"]
    assert {"myContacts", "myGroups", "presenceSubscriptions"} <= set(links)


def test_add_list_remove_contacts(mob, alice):
    tok, app = alice
    assert contacts(mob, tok, app) == []
    st, h, body = api(mob, tok, "POST", app + "/people/contacts",
                      {"uri": BOB, "name": "Bob <B>", "group": "Friends"})
    assert st == 201, body
    c = json.loads(body)
    assert c["uri"] == BOB and c["name"] == "Bob <B>"
    assert h["location"] == c["_links"]["self"]["href"]
    assert "contactPresence" in c["_links"] and "contactPrivacyRelationship" in c["_links"]

    got = contacts(mob, tok, app)
    assert [x["uri"] for x in got] == [BOB]
    st, _, body = api(mob, tok, "GET", app + "/people/groups")
    groups = json.loads(body)["_embedded"]["group"]
    groups = groups if isinstance(groups, list) else [groups]
    assert [g["name"] for g in groups] == ["Friends"]
    st, _, body = api(mob, tok, "GET", app + "/people/groups/Friends/contacts")
    assert st == 200 and BOB in body.decode()

    # another device of the same user sees the same list
    st, h2, _ = create(mob, tok, "people-tablet-" + tok.fmt)
    assert st == 201
    assert [x["uri"] for x in contacts(mob, tok, h2["location"])] == [BOB]

    # one contact, then removed
    enc = urllib.parse.quote(BOB, safe="")
    st, _, body = api(mob, tok, "GET", app + "/people/contacts/" + enc)
    assert st == 200 and json.loads(body)["name"] == "Bob <B>"
    assert api(mob, tok, "DELETE", app + "/people/contacts/" + enc)[0] == 204
    assert contacts(mob, tok, app) == []
    # no longer listed: still a contact resource (a user the app may look
    # up), without the name the list gave
    st, _, body = api(mob, tok, "GET", app + "/people/contacts/" + enc)
    assert st == 200 and "Bob <B>" not in body.decode(), body


@pytest.mark.parametrize("body", [{"uri": "bob@example.test"}, {"uri": "sip:bob@x\r\nVia: y"},
                                  {"name": "no uri"}, {"uri": BOB, "group": ""}])
def test_bad_contacts(mob, alice, body):
    tok, app = alice
    st, _, out = api(mob, tok, "POST", app + "/people/contacts", body)
    assert st == 400, out


@pytest.mark.parametrize("fmt", ["json"], indirect=True)
def test_blocked_contact_sees_offline(fe, mob, alice):
    tok, app = alice
    enc = urllib.parse.quote(BOB, safe="")
    rel = app + "/people/contacts/" + enc + "/contactPrivacyRelationship"
    # bob may see alice; he watches her from his desktop
    # the name before relationshipLevel is still accepted
    assert api(mob, tok, "POST", rel, {"relationship": "Colleagues"})[0] == 204
    st, _, body = api(mob, tok, "GET", rel)
    assert json.loads(body)["relationshipLevel"] == "Colleagues"
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as bob:
        assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
        bob.wait_contact_presence("alice", "Online", timeout=15)
        # blocked: polite-block. The Front End sends bob an empty
        # NOTIFY (no presence, no sign of a block); baresip 1.0.0 shows
        # that as "Unknown", our own PIDF reader as Offline
        # (docs/presence.md). Either way he no longer sees her.
        assert api(mob, tok, "POST", rel, {"relationshipLevel": "Blocked"})[0] == 204
        st, _, body = api(mob, tok, "GET", rel)
        assert json.loads(body)["relationshipLevel"] == "Blocked"
        deadline = time.time() + 15
        while time.time() < deadline and bob.contact_presence("alice") == "Online":
            time.sleep(0.2)
        assert bob.contact_presence("alice") in ("Offline", "Unknown")
        # and stays so when she changes her presence
        assert api(mob, tok, "POST", app + "/me/presence", {"availability": "Busy"})[0] == 204
        time.sleep(2)
        assert bob.contact_presence("alice") in ("Offline", "Unknown")


def test_group_of_a_long_name(mob, fe, fmt):
    """A group named with 100 non-ASCII characters: its href (the name
    percent-encoded, 600 bytes) and its groupContacts link are whole, and
    the link lists the group's contact."""
    user = "grouper-" + fmt
    fe.add_user(user, user + "-secret")
    try:
        tok = token(mob, user, fmt=fmt)
        st, h, body = create(mob, tok, "group-phone")
        assert st == 201, body
        app = h["location"]
        name = "\u00e9" * 100
        st, _, body = api(mob, tok, "POST", app + "/people/contacts",
                          {"uri": BOB, "group": name})
        assert st == 201, body
        st, _, body = api(mob, tok, "GET", app + "/people/groups")
        assert st == 200, body
        g = json.loads(body)["_embedded"]["group"]
        g = g[0] if isinstance(g, list) else g
        enc = urllib.parse.quote(name, safe="")
        assert g["name"] == name
        assert g["_links"]["self"]["href"].endswith("/people/groups/" + enc)
        link = g["_links"]["groupContacts"]["href"]
        assert link.endswith("/people/groups/%s/contacts" % enc)
        st, _, body = api(mob, tok, "GET", link)
        assert st == 200 and BOB in body.decode(), body
    finally:
        fe.del_user(user)
