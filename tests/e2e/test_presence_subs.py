"""Presence subscriptions through the API: the phone (alice) follows bob
(baresip, a desktop) and carol (another phone, a mobility session) on the
real Front End; their changes arrive as contactPresence events. Run twice:
one SUBSCRIBE per contact, and one list subscription through the Front
End's RLS ([frontend] rls = yes). The request bodies also in XML."""
import json
import time
import urllib.parse

import pytest

from baresip import registered
from mobility import Mobilityd
from ucwa_client import api, create, token

BOB = "sip:bob@example.test"
CAROL = "sip:carol@example.test"
PS = "/people/presenceSubscriptions"


def enc(uri):
    return urllib.parse.quote(uri, safe="")


@pytest.fixture(scope="module", params=["per-contact", "rls"])
def mob(request, fe, tmp_path_factory):
    extra = {"frontend": ["rls = yes"]} if request.param == "rls" else None
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe, extra=extra)
    m.rls = request.param == "rls"
    m.start()
    yield m
    assert m.stop() == 0, m.log()


def rls_services(fe):
    r = fe.xcap("GET", fe.xcap_path("alice", "rls-services", "index"),
                "alice", "alice-secret")
    return r.body.decode() if r.status == 200 else ""


@pytest.fixture(scope="module")
def bob(fe):
    fe.allow_presence("bob", "bob-secret", "alice")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


@pytest.fixture(scope="module")
def carol(fe, mob):
    """carol on her phone: available, and alice may see her."""
    fe.allow_presence("carol", "carol-secret", "alice")
    tok = token(mob, "carol")
    st, h, body = create(mob, tok, "carol-phone")
    assert st == 201, body
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    return {"tok": tok, "app": h["location"]}


@pytest.fixture(scope="module")
def alice(mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "psub-phone")
    assert st == 201, body
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    return {"tok": tok, "app": h["location"], "ack": 1}


def batch(mob, a):
    """The next batch of alice's event channel, following only next."""
    st, _, body = api(mob, a["tok"], "GET", a["app"] + "/events?ack=%d" % a["ack"]
                      + "&timeout=180&medium=1")
    assert st == 200, body
    ev = json.loads(body)
    nxt = ev["_links"]["next"]["href"]
    a["ack"] = int(nxt.rsplit("ack=", 1)[1])
    return [(s["rel"], e) for s in ev.get("sender", []) for e in s["events"]]


def wait_event(mob, a, pred, timeout=20):
    """The first event (in order) that pred accepts; those before it are
    passed over, those after it kept for the next call."""
    seen = []
    queue = a.setdefault("queue", [])
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not queue:
            queue.extend(batch(mob, a))
        while queue:
            sender, e = queue.pop(0)
            seen.append((sender, e["link"]["rel"], e["type"]))
            if pred(sender, e):
                return e
    raise AssertionError("not seen; got %r" % seen)


def presence_of(uri, availability):
    def pred(sender, e):
        emb = e.get("_embedded", {}).get("contactPresence", {})
        return (sender == "people" and e["link"]["rel"] == "contactPresence"
                and e["type"] == "updated"
                and e["link"]["href"].endswith(enc(uri) + "/contactPresence")
                and emb.get("availability") == availability)
    return pred


def test_subscribe_to_bob_sees_his_changes(fe, mob, alice, bob):
    bob.set_presence("online")
    st, h, body = api(mob, alice["tok"], "POST", alice["app"] + PS,
                      {"duration": 11, "uris": [BOB]})
    assert st == 201, body
    ps = json.loads(body)
    href = ps["_links"]["self"]["href"]
    assert h["location"] == href
    assert ps["duration"] == 11 and ps["id"]
    assert {"addToPresenceSubscription", "memberships"} <= set(ps["_links"])

    e = wait_event(mob, alice, lambda s, e: e["link"]["rel"] == "presenceSubscription")
    assert e["type"] == "added" and e["link"]["href"] == href
    e = wait_event(mob, alice, presence_of(BOB, "Online"))
    assert e["in"]["rel"] == "contact"
    # with RLS, the list is a service of alice's rls-services document
    services = rls_services(fe)
    if mob.rls:
        assert services.count("<service ") == 1 and BOB in services, services
    else:
        assert "<service " not in services, services

    # bob goes offline in his desktop client: alice's channel shows it
    bob.set_presence("offline")
    wait_event(mob, alice, presence_of(BOB, "Offline"))
    bob.set_presence("online")
    wait_event(mob, alice, presence_of(BOB, "Online"))

    # the resources agree
    st, _, body = api(mob, alice["tok"], "GET",
                      alice["app"] + "/people/contacts/%s/contactPresence" % enc(BOB))
    assert st == 200 and json.loads(body)["availability"] == "Online", body
    st, _, body = api(mob, alice["tok"], "GET", alice["app"] + "/people/subscribedContacts")
    assert st == 200 and BOB in body.decode()
    st, _, body = api(mob, alice["tok"], "GET", href + "/memberships")
    assert st == 200 and enc(BOB) in body.decode()
    st, _, body = api(mob, alice["tok"], "GET", alice["app"] + PS)
    assert st == 200 and href in body.decode()

    # extend, then end it
    st, _, body = api(mob, alice["tok"], "POST", href, {"duration": 20})
    assert st == 200 and json.loads(body)["duration"] == 20, body
    wait_event(mob, alice, lambda s, e: e["link"]["rel"] == "presenceSubscription"
               and e["type"] == "updated")
    assert api(mob, alice["tok"], "DELETE", href)[0] == 204
    wait_event(mob, alice, lambda s, e: e["link"]["rel"] == "presenceSubscription"
               and e["type"] == "deleted")
    assert api(mob, alice["tok"], "GET", href)[0] == 404
    st, _, body = api(mob, alice["tok"], "GET", alice["app"] + "/people/subscribedContacts")
    assert st == 200 and BOB not in body.decode()
    deadline = time.time() + 10
    while "<service " in rls_services(fe) and time.time() < deadline:
        time.sleep(0.1)
    assert "<service " not in rls_services(fe)


def test_a_phone_contact_is_mobile(mob, alice, carol):
    st, _, body = api(mob, alice["tok"], "POST", alice["app"] + PS,
                      {"duration": 10, "uris": [CAROL]})
    assert st == 201, body
    href = json.loads(body)["_links"]["self"]["href"]
    e = wait_event(mob, alice, presence_of(CAROL, "Online"))
    assert e["_embedded"]["contactPresence"]["deviceType"] == "Mobile"

    # carol's note and a new availability reach alice
    assert api(mob, carol["tok"], "POST", carol["app"] + "/me/note",
               {"message": "on the train"})[0] == 204
    assert api(mob, carol["tok"], "POST", carol["app"] + "/me/presence",
               {"availability": "Busy"})[0] == 204
    wait_event(mob, alice, presence_of(CAROL, "Busy"))
    st, _, body = api(mob, alice["tok"], "GET",
                      alice["app"] + "/people/contacts/%s/contactNote" % enc(CAROL))
    assert st == 200 and json.loads(body)["message"] == "on the train", body
    assert api(mob, alice["tok"], "DELETE", href)[0] == 204


def test_one_time_presence_query(mob, alice, carol):
    """No subscription follows carol: a GET asks the Front End once."""
    st, _, body = api(mob, alice["tok"], "GET",
                      alice["app"] + "/people/contacts/%s/contactPresence" % enc(CAROL))
    assert st == 200, body
    p = json.loads(body)
    assert p["availability"] == "Busy" and p["deviceType"] == "Mobile"


def test_add_to_subscription(mob, alice, bob, carol):
    st, _, body = api(mob, alice["tok"], "POST", alice["app"] + PS,
                      {"duration": 10, "uris": [BOB]})
    assert st == 201, body
    ps = json.loads(body)
    st, _, body = api(mob, alice["tok"], "POST",
                      ps["_links"]["addToPresenceSubscription"]["href"],
                      {"contactUris": [CAROL, BOB]})
    assert st == 200, body
    assert enc(CAROL) in body.decode() and enc(BOB) in body.decode()
    wait_event(mob, alice, presence_of(CAROL, "Busy"))
    assert api(mob, alice["tok"], "DELETE", ps["_links"]["self"]["href"])[0] == 204


def test_subscription_bodies_in_xml(mob, alice, bob, carol):
    """The same requests in the UCWA XML form: uris and contactUris as a
    propertyList, the duration as text; answers read from XML."""
    tok = token(mob, "alice", fmt="xml")
    st, h, body = api(mob, tok, "POST", alice["app"] + PS, {"duration": 11, "uris": [BOB]})
    assert st == 201, body
    ps = json.loads(body)
    href = ps["_links"]["self"]["href"]
    assert h["location"] == href and ps["duration"] == "11"  # XML has no types
    st, _, body = api(mob, tok, "POST", ps["_links"]["addToPresenceSubscription"]["href"],
                      {"contactUris": [CAROL]})
    assert st == 200, body
    assert enc(CAROL) in body.decode() and enc(BOB) in body.decode()
    st, _, body = api(mob, tok, "POST", href, {"duration": 20})
    assert st == 200 and json.loads(body)["duration"] == "20", body
    for bad in ({"duration": "eleven", "uris": [BOB]}, {"duration": 11, "uris": BOB},
                {"duration": 11, "uris": []}):
        st, _, out = api(mob, tok, "POST", alice["app"] + PS, bad)
        assert st == 400 and json.loads(out)["code"] == "BadRequest", (bad, out)
    assert api(mob, tok, "DELETE", href)[0] == 204


@pytest.mark.parametrize("body", [
    {"duration": 9, "uris": [BOB]}, {"duration": 31, "uris": [BOB]},
    {"duration": "11", "uris": [BOB]}, {"uris": [BOB]}, {"duration": 11},
    {"duration": 11, "uris": []}, {"duration": 11, "uris": BOB},
    {"duration": 11, "uris": ["bob@example.test"]},
    {"duration": 11, "uris": ["sip:bob@x\r\nVia: y"]},
])
def test_bad_subscriptions(mob, alice, body):
    st, _, out = api(mob, alice["tok"], "POST", alice["app"] + PS, body)
    assert st == 400, out
    assert json.loads(out)["code"] == "BadRequest"


def test_limits(mob, alice, carol):
    if mob.rls:
        pytest.skip("the limits are the same with RLS (checked before any SIP)")
    uris = ["sip:u%d@example.test" % i for i in range(101)]
    st, _, out = api(mob, alice["tok"], "POST", alice["app"] + PS,
                     {"duration": 11, "uris": uris})
    assert st == 403 and json.loads(out)["subcode"] == "LimitExceeded", out

    made = []
    try:
        while True:
            st, _, out = api(mob, alice["tok"], "POST", alice["app"] + PS,
                             {"duration": 11, "uris": [CAROL]})
            if st != 201:
                break
            made.append(json.loads(out)["_links"]["self"]["href"])
            assert len(made) <= 64
        assert st == 403 and json.loads(out)["subcode"] == "LimitExceeded", out
        assert len(made) == 32
    finally:
        for href in made:
            assert api(mob, alice["tok"], "DELETE", href)[0] == 204
    # at most 200 contacts in one presence subscription (its record)
    st, _, out = api(mob, alice["tok"], "POST", alice["app"] + PS,
                     {"duration": 11, "uris": uris[:100]})
    assert st == 201, out
    ps = json.loads(out)["_links"]
    try:
        st, _, out = api(mob, alice["tok"], "POST", ps["addToPresenceSubscription"]["href"],
                         {"contactUris": ["sip:v%d@example.test" % i for i in range(100)]})
        assert st == 200, out
        st, _, out = api(mob, alice["tok"], "POST", ps["addToPresenceSubscription"]["href"],
                         {"contactUris": [CAROL]})
        assert st == 403 and json.loads(out)["subcode"] == "LimitExceeded", out
    finally:
        assert api(mob, alice["tok"], "DELETE", ps["self"]["href"])[0] == 204
    # another user's token sees nothing
    other = token(mob, "carol")
    assert api(mob, other, "GET", alice["app"] + PS)[0] == 404


def test_subscription_outlives_a_restart(fe, mob, alice, bob):
    """The gateway restarts (SIGTERM): the presence subscription is still
    there, with its contacts followed again, and bob's changes still reach
    alice's event channel through the link she holds."""
    bob.set_presence("online")
    st, _, body = api(mob, alice["tok"], "POST", alice["app"] + PS,
                      {"duration": 12, "uris": [BOB]})
    assert st == 201, body
    href = json.loads(body)["_links"]["self"]["href"]
    wait_event(mob, alice, presence_of(BOB, "Online"))

    assert mob.stop() == 0, mob.log()
    mob.start()
    st, _, body = api(mob, alice["tok"], "GET", href)
    assert st == 200 and json.loads(body)["duration"] == 12, body
    st, _, body = api(mob, alice["tok"], "GET", alice["app"] + "/people/subscribedContacts")
    assert st == 200 and BOB in body.decode()

    bob.set_presence("offline")
    wait_event(mob, alice, presence_of(BOB, "Offline"))
    bob.set_presence("online")
    wait_event(mob, alice, presence_of(BOB, "Online"))
    assert api(mob, alice["tok"], "DELETE", href)[0] == 204
    if mob.rls:
        deadline = time.time() + 10
        while "<service " in rls_services(fe) and time.time() < deadline:
            time.sleep(0.1)
        assert "<service " not in rls_services(fe)
