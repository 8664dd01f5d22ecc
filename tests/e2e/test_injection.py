"""CR LF in text an app sends (a note, a conversation subject) never
becomes a SIP header: bob, a raw SIP agent registered at the Front End,
receives alice's MESSAGE and watches her presence, and we read exactly
what reached him. The API keeps the text as given and answers what it
refuses with a clear error."""
import json
import xml.etree.ElementTree as ET

import pytest

from ucwa_client import api, create, token

INJECT = "\r\nX-Injected: yes\r\nContent-Length: 0\r\n\r\nINVITE sip:x SIP/2.0"
PIDF_NS = "{urn:ietf:params:xml:ns:pidf}"


def head(msg):
    """The start line and header lines of a received SIP message."""
    return msg.raw.partition("\r\n\r\n")[0].split("\r\n")


def assert_no_injection(msg):
    lines = head(msg)
    names = [ln.partition(":")[0].strip().lower() for ln in lines[1:]]
    assert "x-injected" not in names, lines
    assert names.count("content-length") <= 1, lines
    assert not any("INVITE sip:x" in ln for ln in lines), lines


@pytest.fixture(scope="module")
def bob(fe):
    """bob as a raw agent over UDP, registered, answering 200 to all."""
    agent = fe.sip_agent("bob", "bob-secret")
    r = agent.request("REGISTER", contact=agent.contact, headers=["Expires: 300"])[-1]
    assert r.status == 200, r.raw
    yield agent
    agent.request("REGISTER", contact=agent.contact, headers=["Expires: 0"])
    agent.close()


@pytest.fixture(scope="module")
def alice(mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "injection-phone")
    assert st == 201, body
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    return tok, h["location"]


def test_note_with_crlf_stays_in_the_pidf(fe, mob, alice, bob):
    tok, app = alice
    fe.allow_presence("alice", "alice-secret", "bob")
    r = bob.request("SUBSCRIBE", to_user="alice", contact=bob.contact,
                    headers=["Event: presence", "Expires: 60",
                             "Accept: application/pidf+xml"])[-1]
    assert r.status in (200, 202), r.raw
    since = len(bob.received)

    note = "in a meeting" + INJECT
    assert api(mob, tok, "POST", app + "/me/note", {"message": note})[0] == 204
    st, _, body = api(mob, tok, "GET", app + "/me/note")
    assert st == 200 and json.loads(body)["message"] == note

    n = bob.wait_request("NOTIFY", since=since, timeout=15,
                         predicate=lambda m: "in a meeting" in m.body)
    assert_no_injection(n)
    # the note is in the document, whole, as XML text
    doc = ET.fromstring(n.body.encode())
    notes = [e.text for e in doc.iter(PIDF_NS + "note")]
    assert any(t and t.startswith("in a meeting") and "X-Injected: yes" in t
               for t in notes), n.body
    assert "malformed request" not in fe.log_text()


def test_subject_with_crlf_never_reaches_a_header(fe, mob, alice, bob):
    tok, app = alice
    since = len(bob.received)
    subject = "lunch?" + INJECT[:60]
    st, h, body = api(mob, tok, "POST", app + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "subject": subject,
                       "message": "hello bob"})
    assert st == 201, body
    st, _, body = api(mob, tok, "GET", h["location"])
    assert st == 200 and json.loads(body)["subject"] == subject, body
    st, _, xml = api(mob, tok, "GET", h["location"], accept="application/xml")
    assert st == 200 and b"lunch?&#13;&#10;X-Injected: yes" in xml

    m = bob.wait_request("MESSAGE", since=since, timeout=15,
                         predicate=lambda m: m.body == "hello bob")
    assert_no_injection(m)
    assert not any("lunch?" in ln for ln in head(m)), head(m)
    assert "malformed request" not in fe.log_text()


@pytest.mark.parametrize("subject,code", [
    ("é" * 100, 201),            # characters, not bytes
    ("s" * 101, 400),
    ("é" * 101, 400),
], ids=["100-accented", "101-ascii", "101-accented"])
def test_subject_length(mob, alice, subject, code):
    tok, app = alice
    st, h, body = api(mob, tok, "POST", app + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "subject": subject})
    assert st == code, body
    if code == 400:
        err = json.loads(body)
        assert err["subcode"] == "ParameterValidationFailure"
        assert "100 characters" in err["message"]
    else:
        st, _, body = api(mob, tok, "GET", h["location"])
        assert st == 200 and json.loads(body)["subject"] == subject, body
