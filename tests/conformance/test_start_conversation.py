"""Starting a conversation as the reference documents it: a POST on the
startMessaging link answers 201 Created with the invitation's Location and
no body (the invitation and its progress come on the event channel, or by
GET on Location), and a first message given as a data: URI link reaches
the other side."""
import json

import pytest

from ucwa_client import api, create, token


@pytest.fixture(scope="module")
def alice(mob, fmt):
    tok = token(mob, "alice", fmt=fmt)
    st, h, body = create(mob, tok, "start-phone-" + fmt)
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    # the client finds startMessaging where the reference puts it
    st, _, body = api(mob, tok, "GET", app)
    assert st == 200, body
    comm = json.loads(body)["_embedded"]["communication"]
    return {"tok": tok, "app": app, "fmt": fmt,
            "start": comm["_links"]["startMessaging"]["href"]}


def test_created_with_location_and_no_body(mob, alice, bob):
    st, h, body = api(mob, alice["tok"], "POST", alice["start"],
                      {"to": "sip:bob@example.test", "operationId": "s1-" + alice["fmt"],
                       "subject": "plans " + alice["fmt"],
                       "message": "first words " + alice["fmt"]})
    assert st == 201, body
    assert body == b"", body
    assert int(h.get("content-length", "0")) == 0, h
    loc = h["location"]
    # Location is the invitation: a client GETs it to learn the rest
    st, _, body = api(mob, alice["tok"], "GET", loc)
    assert st == 200, body
    inv = json.loads(body)
    assert inv["rel"] == "messagingInvitation"
    assert inv["_links"]["self"]["href"] == loc
    assert inv["subject"] == "plans " + alice["fmt"]
    assert "conversation" in inv["_links"]
    bob.wait_message(sender="alice", text="first words " + alice["fmt"], timeout=10)


def test_first_message_as_a_data_uri_reaches_bob(mob, alice, bob):
    if alice["fmt"] != "json":
        pytest.skip("the reference gives the data: link in JSON bodies")
    text = "Hello Bob, as documented"
    st, h, body = api(mob, alice["tok"], "POST", alice["start"],
                      {"to": "sip:bob@example.test", "operationId": "s2",
                       "_links": {"message": {
                           "href": "data:text/plain;charset=utf8,Hello%20Bob%2C%20as%20documented"}}})
    assert st == 201 and body == b"", body
    assert h["location"]
    peer, got = bob.wait_message(sender="alice", text=text, timeout=10)
    assert got == text
