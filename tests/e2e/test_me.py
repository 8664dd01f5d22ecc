"""The user's own presence through the API: makeMeAvailable, presence,
note, location, reportMyActivity, and the events they produce, in JSON
and in XML (fmt)."""
import json

import pytest

from ucwa_client import api, create, token


@pytest.fixture(scope="module")
def app(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "me-device-" + fmt)
    assert st == 201, body
    return tok, h["location"]


def test_before_make_me_available(mob, app):
    tok, loc = app
    for res in ("presence", "note", "location"):
        st, _, body = api(mob, tok, "GET", loc + "/me/" + res)
        assert st == 409 and json.loads(body)["subcode"] == "MakeMeAvailableRequired"
    st, _, body = api(mob, tok, "GET", loc + "/me")
    me = json.loads(body)
    assert "makeMeAvailable" in me["_links"] and "presence" not in me["_links"]


def test_make_me_available_and_presence(mob, app):
    tok, loc = app
    st, _, _ = api(mob, tok, "POST", loc + "/me/makeMeAvailable",
                   {"SupportedModalities": ["Messaging"], "inactiveTimeout": 5})
    assert st == 204
    st, _, body = api(mob, tok, "POST", loc + "/me/makeMeAvailable", {})
    assert st == 409 and json.loads(body)["subcode"] == "AlreadyExists"

    st, _, body = api(mob, tok, "GET", loc + "/me/presence")
    assert st == 200 and json.loads(body)["availability"] == "Online"
    for value in ("Busy", "DoNotDisturb", "BeRightBack", "Away", "Offwork", "Online"):
        assert api(mob, tok, "POST", loc + "/me/presence", {"availability": value})[0] == 204
        st, _, body = api(mob, tok, "GET", loc + "/me/presence")
        assert json.loads(body)["availability"] == value
    st, _, body = api(mob, tok, "POST", loc + "/me/presence", {"availability": "IdleOnline"})
    assert st == 400 and json.loads(body)["subcode"] == "ParameterValidationFailure"
    st, _, body = api(mob, tok, "GET", loc + "/me/presence", accept="application/xml")
    assert b'<property name="availability">Online</property>' in body
    assert api(mob, tok, "POST", loc + "/me/reportMyActivity", "")[0] == 204


def test_note_and_location(mob, app):
    tok, loc = app
    note = "in a meeting\r\nVia: evil <x> & y"
    assert api(mob, tok, "POST", loc + "/me/note", {"message": note})[0] == 204
    st, _, body = api(mob, tok, "GET", loc + "/me/note")
    assert json.loads(body)["message"] == note
    st, _, body = api(mob, tok, "GET", loc + "/me/note", accept="application/xml")
    assert b"&lt;x&gt; &amp; y" in body
    assert api(mob, tok, "POST", loc + "/me/location", {"location": "Office 12"})[0] == 204
    st, _, body = api(mob, tok, "POST", loc + "/me/location", {"location": "x" * 61})
    assert st == 400 and "60" in json.loads(body)["message"]
    st, _, body = api(mob, tok, "POST", loc + "/me/note", {"message": "n" * 501})
    assert st == 400


def test_changes_are_events(mob, app):
    tok, loc = app
    st, _, body = api(mob, tok, "GET", loc + "/events?ack=1")
    assert st == 200
    ev = json.loads(body)
    me = [s for s in ev["sender"] if s["rel"] == "me"]
    assert me, ev
    rels = [e["link"]["rel"] for e in me[0]["events"]]
    # repeated presence updates merged into one
    assert rels.count("presence") == 1
    assert "note" in rels and "location" in rels
    assert ev["_links"]["next"]["href"].endswith("events?ack=2")
