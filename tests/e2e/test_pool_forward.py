"""Any instance serves any request (docs/pool.md "Forwarding"): two
mobilityd on one Redis, each the other's trusted proxy, a real Front End
and bob on baresip. alice signs in on A; her requests sent to B (B's own
listener, the same token) are forwarded to A, the owner of her SIP side,
and A's answers relayed: her resource, a presence change bob sees, an IM
bob receives, bob's IM answering a P-GET parked on B, a second P-GET on A
replacing the one on B (409 PGetReplaced on B's), events exactly once
following only `next`. A request forwarded once is never forwarded again
(503, Retry-After, Mob-Not-Owner)."""
import json
import re
import threading
import urllib.request
import time

import pytest

from baresip import registered
from pool import member
from test_restart import texts
from ucwa_client import api, create, park as park_for, token, url


@pytest.fixture(scope="module")
def bob(fe):
    fe.allow_presence("alice", "alice-secret", "bob")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


@pytest.fixture()
def pool(fe, redis, tmp_path):
    a = member(tmp_path / "a", fe, redis, "mob-a", forward=True)
    b = member(tmp_path / "b", fe, redis, "mob-b", forward=True)
    a.start()
    try:
        b.start()
    except Exception:
        a.stop()
        raise
    yield a, b
    for m in (a, b):
        if m.proc:
            assert m.stop() == 0, m.log()


def events(m, tok, href):
    """GET the events href (the `next` link) on instance m; returns the
    status and the parsed batch."""
    st, _, body = api(m, tok, "GET", href + "&medium=0&low=0")
    return st, (json.loads(body) if body else {})


def park(m, tok, href, out, key):
    """A P-GET in a thread on instance m; out[key] gets its answer."""
    def run():
        out[key] = api(m, tok, "GET", href + "&medium=0&low=0")
    th = threading.Thread(target=run)
    th.start()
    return th


def batch(ev):
    """(sender rel, rel, type, event) of an event batch, as texts() takes."""
    return [(s["rel"], e["link"]["rel"], e["type"], e)
            for s in ev.get("sender", []) for e in s["events"]]


def forwarded(m, result):
    """mobility_pool_forwarded_total{result=...} of instance m."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                timeout=2) as r:
        text = r.read().decode()
    g = re.search(r'^mobility_pool_forwarded_total\{result="%s"\} (\d+)' % result,
                  text, re.M)
    return int(g.group(1)) if g else 0


def wait_parked():
    """Time for a P-GET to be parked at the owner (forwarded or not)."""
    time.sleep(0.5)


def test_requests_on_another_instance_reach_the_owner(fe, bob, pool):
    a, b = pool
    tok = token(a, "alice")
    st, h, body = create(a, tok, "pool-forward")
    assert st == 201, body
    loc = h["location"]
    assert api(a, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    fe.wait_registered("alice")

    # the application resource and me, read on B
    st, _, body = api(b, tok, "GET", loc)
    assert st == 200, body
    st, _, body = api(b, tok, "GET", loc + "/me")
    assert st == 200, body
    assert json.loads(body)["uri"] == "sip:alice@example.test"
    assert forwarded(b, "relayed") >= 2

    # presence changed through B: published by A, bob sees it
    st, _, body = api(b, tok, "POST", loc + "/me/presence", {"availability": "Busy"})
    assert st == 204, body
    bob.wait_contact_presence("alice", "Busy", timeout=15)

    # an IM sent through B: A's SIP side sends it, bob's desktop gets it
    st, h2, body = api(b, tok, "POST", loc + "/communication/messagingInvitations",
                       {"to": "sip:bob@example.test", "operationId": "f1",
                        "message": "hello bob through B"})
    assert st == 201, body
    assert h2["location"].startswith(loc + "/communication/")
    bob.wait_message(sender="alice", text="hello bob through B", timeout=10)

    # the events so far, read on B, following only next
    time.sleep(1)
    st, ev = events(b, tok, loc + "/events?ack=1")
    assert st == 200, ev
    nxt = ev["_links"]["next"]["href"]
    seen = texts(batch(ev))

    # bob's IM answers a P-GET parked on B (again on B if another event
    # came first)
    out = {}
    th = park(b, tok, nxt, out, "b")
    wait_parked()
    t0 = time.monotonic()
    bob.send_message("alice", "to the P-GET on B")
    for _ in range(5):
        th.join(15)
        st, _, body = out.pop("b")
        assert st == 200, body
        ev = json.loads(body)
        seen += texts(batch(ev))
        nxt = ev["_links"]["next"]["href"]
        if "to the P-GET on B" in seen:
            break
        th = park(b, tok, nxt, out, "b")
    print("bob's IM answered the P-GET parked on B %.1f ms after it was "
          "sent" % ((time.monotonic() - t0) * 1e3))
    assert "to the P-GET on B" in seen, seen

    # a second P-GET on A replaces the one parked on B
    th_b = park(b, tok, nxt, out, "b")
    wait_parked()
    th_a = park(a, tok, nxt, out, "a")
    th_b.join(10)
    st, _, body = out["b"]
    assert st == 409 and json.loads(body)["subcode"] == "PGetReplaced", (st, body)

    # ... and A's gets bob's next message
    bob.send_message("alice", "to the P-GET on A")
    th_a.join(15)
    st, _, body = out["a"]
    assert st == 200, body
    ev = json.loads(body)
    seen += texts(batch(ev))
    nxt = ev["_links"]["next"]["href"]

    # one more on B; every message came once, in order
    bob.send_message("alice", "the last one")
    for _ in range(5):
        if "the last one" in seen:
            break
        st, ev = events(b, tok, nxt)
        assert st == 200, ev
        seen += texts(batch(ev))
        nxt = ev["_links"]["next"]["href"]
    assert seen == ["to the P-GET on B", "to the P-GET on A", "the last one"], seen


def test_forwarded_request_is_never_forwarded_again(fe, pool):
    a, b = pool
    tok = token(a, "alice")
    st, h, body = create(a, tok, "pool-loop")
    assert st == 201, body
    loc = h["location"]
    # as if A had forwarded it to B: B does not hold it, and says so
    st, hdrs, body = b.curl(url(b, loc + "/me"), "-H", "Authorization: Bearer " + tok,
                            "-H", "Accept: application/json",
                            "-H", "Mob-Forwarded-By: mob-a")
    assert st == 503, body
    assert hdrs.get("retry-after") == "1"
    assert hdrs.get("mob-not-owner") == "1"
    assert forwarded(b, "refused") == 1
    # A, the owner, still serves it whatever the header says
    st, _, body = api(a, tok, "GET", loc + "/me")
    assert st == 200, body


def test_owner_gone_then_taken_over(fe, bob, pool):
    """A dies (kill -9): while its lease is alive, B cannot reach it and
    says to try again (503, Retry-After); once the lease lapsed, the
    session is taken over (by B: the only instance left) and B serves
    it, SIP side included."""
    a, b = pool
    tok = token(a, "alice")
    st, h, body = create(a, tok, "pool-dead-owner")
    assert st == 201, body
    loc = h["location"]
    assert api(a, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    fe.wait_registered("alice")
    assert api(b, tok, "GET", loc + "/me")[0] == 200

    t0 = time.monotonic()
    a.kill()
    st, hdrs, body = api(b, tok, "GET", loc + "/me")
    assert st == 503 and hdrs.get("retry-after") == "1", (st, body)
    assert forwarded(b, "retried") >= 1

    # served by B within the lease time (10 s) and a poll or two
    while True:
        st, _, body = api(b, tok, "GET", loc + "/me")
        if st == 200 or time.monotonic() - t0 > 20:
            break
        assert st == 503, body
        time.sleep(0.25)
    took = time.monotonic() - t0
    assert st == 200, body
    assert json.loads(body)["uri"] == "sip:alice@example.test"
    print("served by B %.1f s after A was killed" % took)
    assert took < 14, took

    st, _, body = api(b, tok, "POST", loc + "/communication/messagingInvitations",
                      {"to": "sip:bob@example.test", "operationId": "d1",
                       "message": "hello bob from the new owner"})
    assert st == 201, body
    bob.wait_message(sender="alice", text="hello bob from the new owner", timeout=10)


def open_conns(m):
    """HTTP connections open on m's public listeners."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                timeout=2) as r:
        text = r.read().decode()
    return sum(int(v) for v in re.findall(
        r'^mobility_http_connections_open\{listener="public"\} (\d+)', text, re.M))


def test_client_gone_aborts_the_forwarded_p_get(fe, pool):
    """A phone that gives up its P-GET parked through B: B aborts the
    forwarded request, and the owner sees its client gone (the
    connection B had opened to it is closed)."""
    a, b = pool
    tok = token(a, "alice")
    st, h, body = create(a, tok, "pool-gone")
    assert st == 201, body
    loc = h["location"]
    st, _, body = api(b, tok, "GET", loc + "/me")
    assert st == 200, body
    nxt = loc + "/events?ack=1"  # nothing pending: it stays parked
    time.sleep(0.3)
    before = open_conns(a)  # B's kept-alive connection among them

    th, out = park_for(b, tok, nxt, 2)  # given up after 2 s, nothing came
    time.sleep(1)
    assert open_conns(a) == before
    th.join(10)
    assert out == []
    deadline = time.monotonic() + 3
    while open_conns(a) != before - 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_conns(a) == before - 1
    # and the session goes on through B
    st, _, body = api(b, tok, "GET", loc + "/me")
    assert st == 200, body
