"""Applications end to end against the real Front End: sign in, create an
application (the device registers with its own +sip.instance), read it
in JSON and XML, owner-only visibility, limits, the event channel, and
delete (the binding goes). Flows run in JSON and in XML (fmt); XML
bodies with a DTD or of another media type are refused."""
import json
import threading
import time
import uuid

import pytest

from ucwa_client import APPS, UCWA_NS, api, create, token, url
NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")


@pytest.fixture(scope="module")
def alice(mob, fmt):
    return token(mob, "alice", fmt=fmt)


def test_create_registers_the_device(mob, fe, alice):
    dev = "device-1-" + alice.fmt
    st, h, body = create(mob, alice, dev)
    assert st == 201, body
    app = json.loads(body)
    assert h["location"] == app["_links"]["self"]["href"]
    assert app["rel"] == "application"
    assert app["endpointId"] == dev and app["culture"] == "en-US"
    assert app["_links"]["events"]["href"] == h["location"] + "/events?ack=1"
    emb = app["_embedded"]
    assert emb["me"]["uri"] == "sip:alice@example.test"
    assert "makeMeAvailable" in emb["me"]["_links"]
    assert "startMessaging" in emb["communication"]["_links"]
    assert "presenceSubscriptions" in emb["people"]["_links"]

    # the Front End has the binding, with the device's stable instance
    inst = str(uuid.uuid5(NS, "alice@example.test\n" + dev))
    regs = fe.registrations("alice")
    assert any(inst in json.dumps(r) for r in regs), regs
    assert any("reg_id" in json.dumps(r).lower().replace("-", "_") for r in regs)

    # the same device again: the same application
    st, _, body = create(mob, alice, dev)
    assert st == 200 and json.loads(body)["id"] == app["id"]

    # read it back, JSON and XML
    st, _, body = api(mob, alice, "GET", h["location"])
    assert st == 200 and json.loads(body)["id"] == app["id"]
    st, _, body = api(mob, alice, "GET", h["location"], accept="application/xml")
    assert st == 200 and b'<resource rel="application"' in body
    assert b'<property name="endpointId">%s</property>' % dev.encode() in body


def test_owner_only(mob, alice):
    st, h, _ = create(mob, alice, "device-2-" + alice.fmt)
    assert st == 201
    bob = token(mob, "bob")
    for method in ("GET", "DELETE"):
        st, _, body = api(mob, bob, method, h["location"])
        assert st == 404 and json.loads(body)["subcode"] == "ApplicationNotFound"
    st, _, body = api(mob, bob, "GET", h["location"] + "/events?ack=1")
    assert st == 404
    st, _, _ = api(mob, alice, "GET", h["location"])
    assert st == 200
    # no token, a made-up token
    st, hh, _ = mob.curl(url(mob, h["location"]))
    assert st == 401 and "MsRtcOAuth" in hh["www-authenticate"]
    st, _, _ = api(mob, "cwt=" + "A" * 43, "GET", h["location"])
    assert st == 401


@pytest.mark.parametrize("body,word", [
    ("{not json", "JSON"),
    ('{"culture":"en-US","endpointId":"x","userAgent":"y",}', "JSON"),
    ('{"culture":"en-US","userAgent":"y"}', "endpointId"),
    ('{"culture":"en-US","endpointId":"%s","userAgent":"y"}' % ("e" * 101), "endpointId"),
    ('{"culture":"en-US","endpointId":"x","userAgent":"y","USERAGENT":"z"}', "twice"),
    ('{"culture":"en-US","endpointId":7,"userAgent":"y"}', "endpointId"),
])
def test_bad_bodies(mob, alice, body, word):
    st, _, out = api(mob, alice, "POST", APPS, body)
    assert st == 400, out
    assert word in json.loads(out)["message"]


def test_field_of_100_characters_accepted(mob, alice):
    st, _, body = create(mob, alice, "é" * 100)  # characters, not bytes
    assert st == 201, body
    st, _, _ = api(mob, alice, "DELETE", json.loads(body)["_links"]["self"]["href"])
    assert st == 204


def test_too_many_applications(mob):
    bob = token(mob, "bob")
    made = []
    for i in range(10):
        st, h, _ = create(mob, bob, "bob-dev-%d" % i)
        assert st == 201
        made.append(h["location"])
    st, _, body = create(mob, bob, "bob-dev-10")
    assert st == 409 and json.loads(body)["subcode"] == "TooManyApplications"
    for loc in made:
        assert api(mob, bob, "DELETE", loc)[0] == 204


def test_event_channel_and_delete(mob, fe, alice):
    dev = "device-3-" + alice.fmt
    st, h, body = create(mob, alice, dev)
    loc = h["location"]
    inst = str(uuid.uuid5(NS, "alice@example.test\n" + dev))
    results = {}

    def pget(name):
        results[name] = api(mob, alice, "GET", loc + "/events?ack=1")

    t1 = threading.Thread(target=pget, args=("first",))
    t1.start()
    time.sleep(0.5)
    t2 = threading.Thread(target=pget, args=("second",))
    t2.start()
    t1.join(10)
    st, _, body = results["first"]
    assert st == 409 and json.loads(body)["subcode"] == "PGetReplaced"

    # deleting the application answers the parked request and
    # un-registers the device
    time.sleep(0.3)
    assert api(mob, alice, "DELETE", loc)[0] == 204
    t2.join(10)
    st, _, body = results["second"]
    assert st == 404 and json.loads(body)["subcode"] == "ApplicationNotFound"
    assert api(mob, alice, "GET", loc)[0] == 404
    deadline = time.time() + 5
    while time.time() < deadline and inst in json.dumps(fe.registrations("alice")):
        time.sleep(0.1)
    assert inst not in json.dumps(fe.registrations("alice"))


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE input ['
                  '<!ENTITY a "aaaaaaaaaa">'
                  + "".join('<!ENTITY %s "%s">' % (chr(98 + i), ("&%s;" % chr(97 + i)) * 10)
                            for i in range(9))
                  + ']><input xmlns="%s"><property name="culture">&j;</property>'
                  '<property name="endpointId">laughs</property>'
                  '<property name="userAgent">x</property></input>' % UCWA_NS)


@pytest.mark.parametrize("body,ctype,code,word", [
    # entity expansion: refused before any entity is declared
    (BILLION_LAUGHS, "application/xml", 400, "DTD"),
    ('<!DOCTYPE input SYSTEM "file:///etc/passwd"><input/>',
     "application/vnd.microsoft.com.ucwa+xml", 400, "DTD"),
    ('<input><property name="culture">en-US</property>', "application/xml", 400, "XML"),
    ('<input xmlns="%s"><property name="culture">en-US</property>'
     '<property name="Culture">en-GB</property></input>' % UCWA_NS, "application/xml", 400, "twice"),
    ('<presence xmlns="urn:ietf:params:xml:ns:pidf"/>', "application/xml", 400, "namespace"),
    ('<presence/>', "application/xml", 400, "<input>"),
    ('{"culture":"en-US","endpointId":"x","userAgent":"y"}', "application/xml", 400, "XML"),
    ('{"culture":"en-US","endpointId":"x","userAgent":"y"}', "text/plain", 415, "application/json"),
    ('<input xmlns="%s"/>' % UCWA_NS, "text/xml", 415, "application/xml"),
], ids=["billion-laughs", "external-entity", "unclosed", "key-twice", "pidf-namespace",
        "other-root", "json-as-xml", "text-plain", "text-xml"])
def test_bad_xml_bodies(mob, body, ctype, code, word):
    tok = token(mob, "carol")
    st, _, out = api(mob, tok, "POST", APPS, body, ctype=ctype)
    assert st == code, out
    assert word in json.loads(out)["message"]
    # and the service goes on serving
    assert mob.alive()
    st, h, out = create(mob, tok, "after-bad-xml")
    assert st in (200, 201), out
