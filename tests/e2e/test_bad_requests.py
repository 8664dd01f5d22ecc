"""Requests an app should not send, on the resources the other files do
not already cover: another user's application and conversations, bodies
that are not JSON, and texts over their limits. Each gets a clear error
and changes nothing."""
import json

import pytest

from ucwa_client import api, create, token, url


@pytest.fixture(scope="module")
def alice(mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "bad-requests-phone")
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    st, h, body = api(mob, tok, "POST", app + "/communication/messagingInvitations",
                      {"to": "sip:carol@example.test"})
    assert st == 201 and body == b"", body
    # the answer has no body: the invitation is at Location, as in UCWA
    st, _, body = api(mob, tok, "GET", h["location"])
    assert st == 200, body
    conv = json.loads(body)["_links"]["conversation"]["href"]
    return {"tok": tok, "app": app, "conv": conv}


@pytest.fixture(scope="module")
def bob(mob):
    return token(mob, "bob")


def conversations(mob, a):
    """Which of the first conversation numbers exist."""
    base = a["conv"].rsplit("/", 1)[0]
    return [api(mob, a["tok"], "GET", "%s/%d" % (base, i))[0] for i in range(1, 5)]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/me/note", {"message": "not yours"}),
    ("POST", "/me/presence", {"availability": "Away"}),
    ("GET", "/me/presence", None),
    ("POST", "/communication/messagingInvitations", {"to": "sip:bob@example.test"}),
    ("GET", "/communication/conversations/1", None),
    ("POST", "/communication/conversations/1/messaging/stopMessaging", ""),
    ("GET", "/people/contacts", None),
])
def test_another_users_application(mob, alice, bob, method, path, body):
    st, _, out = api(mob, bob, method, alice["app"] + path, body)
    assert st == 404, out
    assert json.loads(out)["subcode"] == "ApplicationNotFound"
    # nothing changed for alice
    st, _, out = api(mob, alice["tok"], "GET", alice["app"] + "/me/presence")
    assert st == 200 and json.loads(out)["availability"] == "Online"
    st, _, out = api(mob, alice["tok"], "GET", alice["conv"] + "/messaging")
    assert st == 200 and json.loads(out)["state"] == "Connected"


@pytest.mark.parametrize("method,path,allow", [
    ("PUT", "", "GET, DELETE"),
    ("DELETE", "/me", "GET"),
    ("GET", "/me/makeMeAvailable", "POST"),
    ("PUT", "/me/presence", "GET, POST"),
    ("GET", "/reportMyActivity", "POST"),
    ("PUT", "/people/contacts", "GET, POST"),
    ("PUT", "/people/contacts/sip%3Acarol%40example.test", "GET, DELETE"),
    ("DELETE", "/people/contacts/sip%3Acarol%40example.test/contactPrivacyRelationship",
     "GET, POST"),
    ("POST", "/people/groups", "GET"),
    ("POST", "/people/groups/Other%20Contacts/contacts", "GET"),
    ("DELETE", "/people/subscribedContacts", "GET"),
    ("PUT", "/people/presenceSubscriptions", "GET, POST"),
    ("PATCH", "/pushRegistration", "GET, POST, PUT, DELETE"),
    ("POST", "/events", "GET"),
    ("POST", "/communication", "GET"),
    ("POST", "/communication/conversationLogs", "GET"),
    ("GET", "/communication/messagingInvitations", "POST"),
    ("GET", "/communication/messagingInvitations/1/accept", "POST"),
    ("POST", "/communication/conversations/1", "GET"),
    ("POST", "/communication/conversations/1/participants", "GET"),
    ("GET", "/communication/conversations/1/messaging/messages", "POST"),
    ("DELETE", "/communication/conversations/1/messaging/messages/1", "GET"),
    ("GET", "/communication/conversations/1/messaging/stopMessaging", "POST"),
    ("GET", "/communication/phoneAudioInvitations/1/decline", "POST"),
])
def test_method_not_allowed(mob, alice, method, path, allow):
    """A resource asked with a method it does not take answers 405 and
    lists the ones it takes, whatever the resource."""
    st, h, out = api(mob, alice["tok"], method, alice["app"] + path)
    assert st == 405, out
    assert h["allow"] == allow


def test_applications_take_post_only(mob, alice):
    st, h, out = api(mob, alice["tok"], "GET", alice["app"].rsplit("/", 1)[0])
    assert st == 405 and h["allow"] == "POST", out


@pytest.mark.parametrize("path", ["/me/note", "/me/presence", "/me/location",
                                  "/communication/messagingInvitations"])
@pytest.mark.parametrize("body", ["{not json", '{"message":"x",}', "[1,2]", '"a string"',
                                  '{"message":"\\ud800"}'],
                         ids=["garbage", "trailing-comma", "array", "string",
                              "lone-surrogate"])
def test_not_json(mob, alice, path, body):
    invite = path.endswith("messagingInvitations")
    before = conversations(mob, alice) if invite else None
    st, _, out = api(mob, alice["tok"], "POST", alice["app"] + path, body)
    assert st == 400, out
    assert json.loads(out)["code"] == "BadRequest"
    if invite:
        assert conversations(mob, alice) == before


def test_first_message_over_the_limit(mob, alice):
    before = conversations(mob, alice)
    st, _, out = api(mob, alice["tok"], "POST",
                     alice["app"] + "/communication/messagingInvitations",
                     {"to": "sip:carol@example.test", "message": "m" * 16385})
    assert st == 400, out
    err = json.loads(out)
    assert err["subcode"] == "ParameterValidationFailure" and "16384" in err["message"]
    # refused before any conversation was made
    assert conversations(mob, alice) == before


@pytest.mark.parametrize("size,code", [(0, 400), (16385, 400)])
def test_send_message_size(mob, alice, size, code):
    st, _, out = mob.curl(url(mob, alice["conv"] + "/messaging/messages"), "-X", "POST",
                          "-H", "Authorization: Bearer " + alice["tok"],
                          "-H", "Content-Type: text/plain", "--data-raw", "m" * size)
    assert st == code, out
    assert json.loads(out)["subcode"] == "ParameterValidationFailure"
