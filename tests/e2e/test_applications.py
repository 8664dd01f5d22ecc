"""Applications end to end against the real Front End: sign in, create an
application (the device registers with its own +sip.instance), read it
in JSON and XML, owner-only visibility, limits, the event channel, and
delete (the binding goes)."""
import json
import threading
import time
import uuid

import pytest

from ucwa_client import APPS, api, create, token, url
NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")


@pytest.fixture(scope="module")
def alice(mob):
    return token(mob, "alice")


def test_create_registers_the_device(mob, fe, alice):
    st, h, body = create(mob, alice, "device-1")
    assert st == 201, body
    app = json.loads(body)
    assert h["location"] == app["_links"]["self"]["href"]
    assert app["rel"] == "application"
    assert app["endpointId"] == "device-1" and app["culture"] == "en-US"
    assert app["_links"]["events"]["href"] == h["location"] + "/events?ack=1"
    emb = app["_embedded"]
    assert emb["me"]["uri"] == "sip:alice@example.test"
    assert "makeMeAvailable" in emb["me"]["_links"]
    assert "startMessaging" in emb["communication"]["_links"]
    assert "presenceSubscriptions" in emb["people"]["_links"]

    # the Front End has the binding, with the device's stable instance
    inst = str(uuid.uuid5(NS, "alice@example.test\ndevice-1"))
    regs = fe.registrations("alice")
    assert any(inst in json.dumps(r) for r in regs), regs
    assert any("reg_id" in json.dumps(r).lower().replace("-", "_") for r in regs)

    # the same device again: the same application
    st, _, body = create(mob, alice, "device-1")
    assert st == 200 and json.loads(body)["id"] == app["id"]

    # read it back, JSON and XML
    st, _, body = api(mob, alice, "GET", h["location"])
    assert st == 200 and json.loads(body)["id"] == app["id"]
    st, _, body = api(mob, alice, "GET", h["location"], accept="application/xml")
    assert st == 200 and b'<resource rel="application"' in body
    assert b'<property name="endpointId">device-1</property>' in body


def test_owner_only(mob, alice):
    st, h, _ = create(mob, alice, "device-2")
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
    st, h, body = create(mob, alice, "device-3")
    loc = h["location"]
    inst = str(uuid.uuid5(NS, "alice@example.test\ndevice-3"))
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
