"""A pool of three mobilityd instances behind HAProxy (round robin, no
affinity) on Redis with a replica and three Sentinels, on the real Front
End (docs/pool.md, "The shipped pool"; the HAProxy configuration is
deploy/pool's, through tests/pylib/pool.py):

- a phone whose every request lands on another instance than the one
  before signs in, subscribes to bob's presence, sends and receives IMs
  and presence, and reads its events following only `next`, each once;
- kill -9 of an instance while bob writes numbered MESSAGEs to ten
  sessions: every MESSAGE answered 200 reaches its app exactly once, in
  order; the dead instance's sessions are registered again from another
  instance within the lease time (10 s) + 2 s; the instance started
  again is back in HAProxy's pool and takes new sign-ins;
- kill -9 of the Redis primary under the same traffic: Sentinel promotes
  the replica and nothing acknowledged is lost (every instance runs with
  redis_wait_replicas = 1: a write is acknowledged only once the replica
  has it, docs/pool.md "What the shipped configuration guarantees").

The MESSAGEs come from bob through the Front End (a SIP agent per
session, fe.sip_agent, as test_kill_loop.py's), so that each one's final
answer is known; the IMs and presence of the first test use baresip."""
import json
import re
import subprocess
import threading
import time
import urllib.parse

import pytest

from baresip import Baresip
from pool import Pool
from phone import Phone
from ucwa_client import api, create, im_texts, token, url

SESSIONS = 10
USERS = ["pool%02d" % i for i in range(SESSIONS)]
LEASE = 10  # s, docs/pool.md "Lease time and renewal"
BOB = "sip:bob@example.test"


@pytest.fixture(scope="module")
def users(fe):
    for u in USERS:
        fe.add_user(u, u + "-secret")
    return USERS


@pytest.fixture()
def pool(fe, tmp_path):
    p = Pool(tmp_path / "pool", fe, n=3, wait_replicas=1)
    p.start()
    yield p
    rcs = p.stop()
    assert set(rcs.values()) <= {0}, (rcs, p.log())


class Channel:
    """An application's event channel read as a phone reads it: the
    events link of the application, then only each answer's `next`, a
    new connection for every request; an abandoned or failed request is
    asked again with the same link."""

    def __init__(self, svc, tok, href):
        self.svc = svc
        self.tok = tok
        self.next = href
        self.acks = []      # the ack= of each answered link, in order
        self.events = []    # (sender rel, event) of every batch, in order
        self.texts = []     # incoming IM texts, in order
        self.failures = {}  # status (or "timeout") -> count
        self.pos = 0        # events before it were looked at by until()
        self.batches = []   # (ack asked, IM texts) of each batch

    def batch(self, wait=3):
        """The next batch; None when nothing came within wait seconds or
        the request failed (the link is kept)."""
        try:
            st, _, body = self.svc.curl(
                url(self.svc, Phone.path(self.next)),
                "-H", "Authorization: Bearer " + self.tok,
                "-H", "Accept: application/json", "--max-time", str(wait))
        except subprocess.CalledProcessError:
            self.failures["timeout"] = self.failures.get("timeout", 0) + 1
            return None
        if st != 200:
            self.failures[st] = self.failures.get(st, 0) + 1
            return None
        b = json.loads(body)
        ack = re.search(r"ack=(\d+)", self.next)
        self.acks.append(int(ack.group(1)) if ack else None)
        self.next = b["_links"]["next"]["href"]
        evs = [(s["rel"], e) for s in b.get("sender", []) for e in s["events"]]
        self.events += evs
        texts = im_texts(b)
        self.texts += texts
        self.batches.append((self.acks[-1], texts))
        return evs

    def until(self, pred, timeout=20):
        """The first event after the one the last call returned that
        pred accepts, reading batches until it came."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.pos, len(self.events)):
                if pred(*self.events[i]):
                    self.pos = i + 1
                    return self.events[i][1]
            if time.monotonic() > deadline:
                raise AssertionError("not seen; got %r" % [
                    (s, e["link"]["rel"], e["type"]) for s, e in self.events[self.pos:]])
            self.batch()

    def drain(self, quiet=3):
        """Batches until one comes empty (or none) for quiet seconds."""
        while self.batch(wait=quiet):
            pass


def presence_of(uri, availability):
    def pred(sender, e):
        emb = e.get("_embedded", {}).get("contactPresence", {})
        return (e["link"]["rel"] == "contactPresence"
                and e["link"]["href"].endswith(urllib.parse.quote(uri, safe="")
                                               + "/contactPresence")
                and emb.get("availability") == availability)
    return pred


def test_every_request_on_another_instance(fe, pool):
    """alice's phone behind round robin: consecutive requests go to the
    three instances in turn, and the session works as on one."""
    fe.allow_presence("bob", "bob-secret", "alice")
    fe.allow_presence("alice", "alice-secret", "bob")
    bob = Baresip(fe, "bob", "bob-secret", contacts=["alice"])
    bob.start()
    try:
        bob.wait_registered()
        bob.set_presence("online")
        before = pool.haproxy.requests()
        n = 0

        def call(*a, **kw):
            nonlocal n
            n += 1
            return api(pool, *a, **kw)

        tok = token(pool, "alice")
        n += 1
        st, h, body = create(pool, tok, "pool-roundrobin")
        n += 1
        assert st == 201, body
        app = h["location"]
        ch = Channel(pool, tok, json.loads(body)["_links"]["events"]["href"])
        st, _, body = call(tok, "POST", app + "/me/makeMeAvailable", {})
        assert st == 204, body
        fe.wait_registered("alice")

        # subscribe to bob's presence: his changes come as events
        st, _, body = call(tok, "POST", app + "/people/presenceSubscriptions",
                           {"duration": 11, "uris": [BOB]})
        assert st == 201, body
        ch.until(lambda s, e: e["link"]["rel"] == "presenceSubscription"
                 and e["type"] == "added")
        ch.until(presence_of(BOB, "Online"))
        bob.set_presence("offline")
        ch.until(presence_of(BOB, "Offline"))
        bob.set_presence("online")
        ch.until(presence_of(BOB, "Online"))

        # alice's presence, seen by bob's desktop client
        bob.wait_contact_presence("alice", "Online", timeout=15)
        assert call(tok, "POST", app + "/me/presence", {"availability": "Busy"})[0] == 204
        bob.wait_contact_presence("alice", "Busy", timeout=15)

        # IM alice -> bob, then bob -> alice
        st, _, body = call(tok, "POST", app + "/communication/messagingInvitations",
                           {"to": BOB, "operationId": "rr1", "message": "rr hello bob"})
        assert st == 201, body
        bob.wait_message(sender="alice", text="rr hello bob", timeout=15)
        ch.until(lambda s, e: e["link"]["rel"] == "messagingInvitation"
                 and e["type"] == "completed")
        for i in range(3):
            bob.send_message("alice", "rr from bob %d" % i)
            ch.until(lambda s, e, i=i: "rr from bob %d" % i in im_texts(
                {"sender": [{"events": [e]}]}))
        ch.drain(quiet=2)
        n += len(ch.acks) + sum(ch.failures.values())
    finally:
        bob.stop()

    # each of bob's messages came once, in order; no batch twice: each
    # link followed was the one after the last
    assert [t for t in ch.texts if t.startswith("rr from bob")] == \
        ["rr from bob %d" % i for i in range(3)], ch.texts
    assert ch.acks == list(range(ch.acks[0], ch.acks[0] + len(ch.acks))), ch.acks
    adds = [e for s, e in ch.events if e["link"]["rel"] == "presenceSubscription"
            and e["type"] == "added"]
    assert len(adds) == 1, adds
    # round robin: the requests were spread evenly over the three
    # instances (each one after another, nothing else talking to HAProxy)
    after = pool.haproxy.requests()
    spread = {k: after[k] - before.get(k, 0) for k in after}
    print("requests per instance:", spread, "of", n, "failures:", ch.failures)
    assert sum(spread.values()) >= n - 1
    assert max(spread.values()) - min(spread.values()) <= 1, spread


class Traffic:
    """bob writes numbered MESSAGEs to each session's user, one SIP agent
    (one thread) per session, one MESSAGE every `period` s each, each
    once the one before has its final answer; the final status of each
    is kept ({user: {number: status}})."""

    def __init__(self, fe, users, prefix, period=0.1):
        self.fe = fe
        self.users = users
        self.prefix = prefix
        self.period = period
        self.status = {u: {} for u in users}
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(u,)) for u in users]

    def run(self, user):
        agent = self.fe.sip_agent("bob", "bob-secret")
        try:
            i = 0
            while not self.stop.is_set():
                t = time.monotonic()
                try:
                    r = agent.request("MESSAGE", to_user=user,
                                      body="%s%04d" % (self.prefix, i), timeout=10)
                    self.status[user][i] = r[-1].status
                except TimeoutError:
                    self.status[user][i] = None
                i += 1
                time.sleep(max(0.0, self.period - (time.monotonic() - t)))
        except Exception as e:  # reported by the test
            self.errors.append(e)
        finally:
            agent.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def numbers(self, texts):
        return [int(t[len(self.prefix):]) for t in texts
                if re.fullmatch(re.escape(self.prefix) + r"\d{4}", t)]


class Reader(threading.Thread):
    """A session's app reading its channel the whole time."""

    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.ch.batch(wait=3)


def sign_in_sessions(fe, pool, users, epid):
    """A session per user through HAProxy, available (registered): its
    Channel and the instance whose listener its binding names. The
    sessions are created one after the other (round robin spreads them
    over the instances: a session is created on the instance that
    takes its POST)."""
    toks = {u: token(pool, u) for u in users}
    out = {}
    for u in users:
        st, h, body = create(pool, toks[u], epid)
        assert st == 201, body
        out[u] = {"loc": h["location"],
                  "ch": Channel(pool, toks[u], json.loads(body)["_links"]["events"]["href"])}
    for u in users:
        st, _, b = api(pool, toks[u], "POST", out[u]["loc"] + "/me/makeMeAvailable", {})
        assert st == 204, b
    for u in users:
        fe.wait_registered(u)
        out[u]["owner"] = pool.bindings(u)[0]["owner"]
    return out


def drain_all(sessions):
    """Each session's channel read until a batch comes empty, all at
    once (one thread each)."""
    ths = [threading.Thread(target=s["ch"].drain) for s in sessions.values()]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)


def check_delivery(traffic, sessions):
    """Every MESSAGE answered 200 reached its app exactly once, in
    order; nothing bob did not send. A MESSAGE answered otherwise (503:
    the write failed, yet may have been applied; the Front End keeps it
    and hands it over again, docs/pool.md "What the shipped
    configuration guarantees") may come twice. Returns (sent, answered
    200, numbers that came twice)."""
    sent = ok = 0
    twice = {}
    for u, s in sessions.items():
        got = traffic.numbers(s["ch"].texts)
        status = traffic.status[u]
        acked = [k for k in sorted(status) if status[k] == 200]
        sent += len(status)
        ok += len(acked)
        assert set(got) <= set(status), (u, sorted(set(got) - set(status)))
        dup = sorted({k for k in got if got.count(k) > 1})
        if dup:
            twice[u] = {k: status[k] for k in dup}
        assert all(status[k] != 200 for k in dup), (
            u, "200 twice", twice[u], "batches (ack, texts):",
            [b for b in s["ch"].batches if any(traffic.prefix + "%04d" % k in b[1]
                                               for k in dup)])
        assert [k for k in got if k in acked] == acked, \
            (u, "missing", sorted(set(acked) - set(got)), "got", got)
    return sent, ok, twice


def test_instance_killed_sessions_move(fe, users, pool):
    sessions = sign_in_sessions(fe, pool, users, "pool-kill")
    owners = [s["owner"] for s in sessions.values()]
    assert None not in owners, owners
    victim = max(set(owners), key=owners.count)
    moved = [u for u, s in sessions.items() if s["owner"] == victim]
    print("owners:", owners, "killing mob%d with %d sessions" % (victim + 1, len(moved)))
    readers = [Reader(s["ch"]) for s in sessions.values()]
    for r in readers:
        r.start()
    try:
        with Traffic(fe, users, "pk-") as traffic:
            time.sleep(3)
            t_kill = time.monotonic()
            pool.kill(victim)
            # each of its sessions registered again from a survivor
            back = {}
            while len(back) < len(moved) and time.monotonic() < t_kill + LEASE + 2:
                for u in moved:
                    if u not in back:
                        bs = pool.bindings(u)
                        if bs and all(b["owner"] not in (None, victim) for b in bs):
                            back[u] = time.monotonic() - t_kill
                time.sleep(0.1)
            print("registered again after (s):", back)
            assert len(back) == len(moved), (back, pool.log())
            time.sleep(3)
        assert not traffic.errors, traffic.errors
    finally:
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(10)
    drain_all(sessions)
    sent, ok, twice = check_delivery(traffic, sessions)
    print("%d MESSAGEs, %d answered 200, came twice (not answered 200): %s"
          % (sent, ok, twice))

    # the instance started again is back in HAProxy's pool and takes new
    # sign-ins (directly, and through HAProxy in turn)
    pool.restart(victim)
    pool.wait_up([victim], timeout=10)
    m = pool.instances[victim]
    tok = token(m, "carol")
    st, h, body = create(m, tok, "pool-after-restart")
    assert st == 201, body
    assert api(m, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    fe.wait_registered("carol")
    assert any(b["owner"] == victim for b in pool.bindings("carol")), pool.bindings("carol")
    before = pool.haproxy.requests()[m.name]
    for _ in range(3):
        assert token(pool, "carol")
    assert pool.haproxy.requests()[m.name] > before


def test_redis_primary_killed_nothing_acknowledged_lost(fe, users, pool):
    sessions = sign_in_sessions(fe, pool, users[:6], "pool-redis")
    readers = [Reader(s["ch"]) for s in sessions.values()]
    for r in readers:
        r.start()
    restarted = False
    try:
        with Traffic(fe, list(sessions), "pr-") as traffic:
            time.sleep(2)
            t_kill = time.monotonic()
            old = pool.kill_primary()
            # a Sentinel that saw its clock jump or its process stall
            # (a loaded machine) enters TILT for 30 s and fails nothing
            # over meanwhile: the bound covers one
            deadline = t_kill + 60
            while time.monotonic() < deadline:
                # promoted: the old primary comes back (as its supervisor
                # would start it) and becomes the new one's replica
                if pool.redis.current_primary() in pool.redis.replicas:
                    t_switch = time.monotonic() - t_kill
                    old.start()
                    restarted = True
                    break
                time.sleep(0.1)
            assert restarted, "no switch"
            # traffic goes on until every session has 10 answered 200 in
            # a row again
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(len(st) > 10 and all(st.get(k) == 200 for k in
                                            range(max(st) - 10, max(st)))
                       for st in traffic.status.values()):
                    break
                time.sleep(0.2)
            t_ok = time.monotonic() - t_kill
        assert not traffic.errors, traffic.errors
    finally:
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(10)
    drain_all(sessions)
    sent, ok, twice = check_delivery(traffic, sessions)
    other = {}
    for st in traffic.status.values():
        for v in st.values():
            if v != 200:
                other[v] = other.get(v, 0) + 1
    print("switch after %.2f s; all sessions answered 200 again after %.2f s; "
          "%d MESSAGEs, %d answered 200, other: %s; came twice (not answered 200): %s"
          % (t_switch, t_ok, sent, ok, other, twice))
    # every instance still serves: its sessions registered, healthz 200
    for i in range(len(pool.instances)):
        assert pool.healthz(i) == 200, pool.log()


@pytest.mark.parametrize("affinity", [False, True], ids=["roundrobin", "cookie"])
def test_haproxy_serves_both_sites(fe, tmp_path, affinity):
    """deploy/pool's HAProxy: the external and the internal web FQDN and
    both autodiscover names on one listener in front of the same
    instances; plain http gives autodiscover's redirect and nothing
    else (HAProxy's plain requests are not trusted as https); with the
    cookie option a client keeping MS-WSMAN stays on one instance,
    without it consecutive requests go round."""
    with Pool(tmp_path / "pool", fe, n=3, affinity=affinity) as p:
        for host in ("lyncdiscover.example.test", "lyncdiscoverinternal.example.test"):
            st, _, body = p.curl(p.https(host, "/?sipuri=sip:alice@example.test"))
            assert st == 200 and b"user" in body, body
        tok = token(p, "alice")
        for host in ("mobility.example.test", "mobility-int.example.test"):
            st, h, body = p.curl("https://%s:%d/ucwa/oauth/v1/applications" % (host, p.https_port),
                                 "-H", "Authorization: Bearer " + tok,
                                 "-H", "Accept: application/json", "-X", "POST",
                                 "-H", "Content-Type: application/json",
                                 "--data-raw", json.dumps({"UserAgent": "t/1", "EndpointId":
                                                           "site-" + host, "Culture": "en-US"}))
            assert st == 201, body
        plain = "http://lyncdiscover.example.test:%d/?sipuri=sip:alice@example.test" % p.http_port
        st, _, body = p.curl(plain)
        assert st == 200 and b"redirect" in body, body
        st, _, body = p.curl("http://mobility.example.test:%d/WebTicket/oauthtoken" % p.http_port,
                             "-X", "POST", "--data-raw",
                             "grant_type=password&username=alice@example.test"
                             "&password=alice-secret")
        assert st == 403, body

        jar = str(tmp_path / "cookies")
        served = []
        for _ in range(6):
            st, h, _ = p.curl(p.https("lyncdiscover.example.test"), "-b", jar, "-c", jar)
            assert st == 200
            served.append(p.which(h))
        if affinity:
            assert len(set(served)) == 1, served
        else:
            assert served == [served[0], (served[0] + 1) % 3, (served[0] + 2) % 3] * 2, served
