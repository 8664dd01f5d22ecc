"""What the store keeps for one application, and a full store.

An application whose app stays away (never polled) takes incoming
messages only up to its limits ([service] max_unacked_events,
max_unacked_bytes): beyond them a MESSAGE is refused with 480 before
anything is stored, so the Front End keeps it in its offline store
(msilo: bob is told 202) and hands it over once the app has acknowledged
what it had. Many senders or many conversations started and stopped
never lock an application out of new ones. A full store (a small
[store] map_size_mb) fails only what does not fit, keeps taking acks,
and says so: /healthz, the log, /metrics. Changes answered 204 are the
ones committed: a failed note change leaves the old note, a deleted
presence subscription is gone for a GET right after and after a
restart.

Each test has its own mobilityd (and store) on the module's Front End.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from mobility import Mobilityd
from test_kill_loop import HOLD_LOCK
from sippeer import Peer
from ucwa_client import api, create, im_texts, token, url

BIG = "x" * 50000  # a 50 KB message, as in the report


def healthz(m):
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % m.admin_port,
                                timeout=5) as r:
        return r.status, r.read().decode()


def metric_line(m, name, labels):
    """The value of one labelled metric (0 if absent)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                timeout=5) as r:
        text = r.read().decode()
    hit = re.search(r"^%s\{%s\} (\d+)" % (re.escape(name), re.escape(labels)),
                    text, re.M)
    return int(hit.group(1)) if hit else 0


class App:
    """One application driven as a phone would: follows its next links."""

    def __init__(self, m, user, epid, available=False):
        self.m = m
        self.tok = token(m, user)
        st, h, body = create(m, self.tok, epid)
        assert st == 201, body
        self.loc = h["location"]
        self.body = json.loads(body)
        self.next = self.body["_links"]["events"]["href"]
        if available:
            st, _, body = api(m, self.tok, "POST", self.loc + "/me/makeMeAvailable", {})
            assert st == 204, body

    def batch(self, wait=3):
        """The next batch (following next: acknowledges the one before);
        None when nothing came within wait seconds."""
        try:
            st, _, body = self.m.curl(url(self.m, self.next),
                                      "-H", "Authorization: Bearer " + self.tok,
                                      "-H", "Accept: application/json",
                                      "--max-time", str(wait))
        except subprocess.CalledProcessError:
            return None  # parked: nothing came (the ack was taken)
        if st != 200:
            return None
        b = json.loads(body)
        self.next = b["_links"]["next"]["href"]
        return b

    def texts_until(self, n, timeout=30):
        """Message texts of the next batches until n came (or timeout)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            b = self.batch()
            if b:
                out += im_texts(b)
        return out


def own(fe, tmp_path, **extra):
    m = Mobilityd(tmp_path, fe=fe, extra=extra)
    m.start()
    return m


def test_flood_refused_before_stored_then_delivered_later(fe, tmp_path):
    """bob floods a never-polled application with 50 KB messages: the
    first max_unacked_events are taken (200), the rest refused before
    they are stored, which the Front End turns into its offline store
    (202). carol's messages still go through. A restart brings back the
    accepted ones only; once the app has acknowledged them, the Front End
    hands the refused ones over, each exactly once."""
    m = own(fe, tmp_path, service=["max_unacked_events = 10"])
    try:
        alice = App(m, "alice", "quota-flood")
        carol = App(m, "carol", "quota-other")
        fe.wait_registered("alice")
        fe.wait_registered("carol")

        statuses = []
        with fe.sip_agent("bob", "bob-secret") as bob:
            for i in range(15):
                finals = bob.request("MESSAGE", to_user="alice",
                                     body="%02d %s" % (i, BIG), timeout=15)
                statuses.append(finals[-1].status)
            # other users are not affected
            finals = bob.request("MESSAGE", to_user="carol", body="for carol")
            assert finals[-1].status == 200, finals[-1].raw
        assert statuses == [200] * 10 + [202] * 5, statuses
        assert metric_line(m, "mobility_ucwa_refused_total",
                           'reason="unacked_events"') == 5
        assert "MESSAGE from sip:bob@example.test refused: too many " \
            "unacknowledged events" in m.log()
        assert carol.texts_until(1) == ["for carol"]

        # nothing refused was stored: a crash and a restart bring back
        # the ten that were taken
        m.kill()
        m.start()
        first = alice.batch()
        assert first is not None
        got = im_texts(first)
        assert [t[:2] for t in got] == ["%02d" % i for i in range(10)]
        assert all(t[3:] == BIG for t in got)

        # acknowledged: the Front End hands the other five over
        rest = alice.texts_until(5, timeout=30)
        assert sorted(t[:2] for t in rest) == ["%02d" % i for i in range(10, 15)], \
            [t[:2] for t in rest]
        assert not alice.texts_until(1, timeout=4)
    finally:
        assert m.stop() == 0, m.log()


def test_bytes_limit(fe, tmp_path):
    """The byte limit refuses like the count does."""
    m = own(fe, tmp_path, service=["max_unacked_bytes = 150000"])
    try:
        app = App(m, "alice", "quota-bytes")
        peer = Peer(m, (fe.cert_file, fe.key_file))  # as the Front End
        user = app.body["id"]
        got = [peer.send(peer.request("MESSAGE", user, "%02d %s" % (i, BIG)))[0]
               for i in range(4)]
        assert got == ["SIP/2.0 200 OK"] * 2 + ["SIP/2.0 480 Temporarily Unavailable"] * 2, got
        assert metric_line(m, "mobility_ucwa_refused_total",
                           'reason="unacked_bytes"') == 2
        assert [t[:2] for t in app.texts_until(2)] == ["00", "01"]
    finally:
        assert m.stop() == 0, m.log()


def test_many_senders_and_conversations_never_lock(fe, tmp_path):
    """120 distinct senders, then 110 conversations started and stopped:
    every message is taken and every conversation starts; the oldest idle
    conversations end to make room (the history keeps them)."""
    m = own(fe, tmp_path)
    try:
        app = App(m, "alice", "quota-senders")
        peer = Peer(m, (fe.cert_file, fe.key_file))  # as the Front End
        user = app.body["id"]
        for i in range(120):
            status, raw = peer.send(peer.request(
                "MESSAGE", user, "hello %d" % i,
                headers={"From": "<sip:u%03d@example.test>;tag=%s" % (i, secrets.token_hex(4))}))
            assert status == "SIP/2.0 200 OK", (i, raw)
        texts = app.texts_until(120, timeout=30)
        assert sorted(texts) == sorted("hello %d" % i for i in range(120))

        for i in range(110):
            st, h, body = api(m, app.tok, "POST",
                              app.loc + "/communication/messagingInvitations",
                              {"to": "sip:bob@example.test", "operationId": "c%d" % i})
            assert st == 201, (i, body)
            st, _, body = api(m, app.tok, "GET", h["location"])
            assert st == 200, (i, body)
            inv = json.loads(body)
            conv = inv["_links"]["conversation"]["href"]
            st, _, body = api(m, app.tok, "POST", conv + "/messaging/stopMessaging", {})
            assert st == 204, (i, body)
            if i % 20 == 0:
                app.batch(wait=1)  # the app keeps up with its events
        # a conversation still works after all that
        status, _ = peer.send(peer.request("MESSAGE", user, "still here"))
        assert status == "SIP/2.0 200 OK"
        assert "still here" in app.texts_until(1, timeout=15)
    finally:
        assert m.stop() == 0, m.log()


# Another process sharing the store (as LMDB allows), in one of two
# modes: "fill" puts values in a database of its own (4 KiB, then
# smaller) until the map is full; "pin" holds a read transaction until a
# line comes on stdin (the pages freed after it cannot be used again, so
# filling after it leaves nothing free).
NEIGHBOUR = r"""
import ctypes, sys
lib = ctypes.CDLL("liblmdb.so.0")
class Val(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]
env, dbi = ctypes.c_void_p(), ctypes.c_uint()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
assert lib.mdb_env_set_maxdbs(env, 16) == 0
assert lib.mdb_env_open(env, sys.argv[1].encode(), 0x200000, 0o600) == 0
def txn_do(fn):
    txn = ctypes.c_void_p()
    assert lib.mdb_txn_begin(env, None, 0, ctypes.byref(txn)) == 0
    assert lib.mdb_dbi_open(txn, b"neighbour", 0x40000, ctypes.byref(dbi)) == 0
    rc = fn(txn)
    if rc:
        lib.mdb_txn_abort(txn)
        return rc
    return lib.mdb_txn_commit(txn)
n = 0
if sys.argv[2] == "fill":
    # its own database, then the main one (a put there takes the fewest
    # pages), so that even a small write finds no page left
    for size, db in ((4096, None), (512, None), (64, None), (8, None), (1, 1)):
        buf = ctypes.create_string_buffer(b"f" * size, size)
        while n < 100000:
            key = ctypes.create_string_buffer(b"%s%08d" % (sys.argv[3].encode(), n), 9)
            k = Val(9, ctypes.cast(key, ctypes.c_void_p))
            v = Val(size, ctypes.cast(buf, ctypes.c_void_p))
            if txn_do(lambda t: lib.mdb_put(t, db or dbi, ctypes.byref(k), ctypes.byref(v), 0)):
                break
            n += 1
else:  # pin
    txn = ctypes.c_void_p()
    assert lib.mdb_txn_begin(env, None, 0x20000, ctypes.byref(txn)) == 0
    print("pinned", flush=True)
    sys.stdin.readline()
    lib.mdb_txn_abort(txn)
print(n, flush=True)
lib.mdb_env_close(env)
"""


def neighbour(m, *args):
    out = subprocess.run([sys.executable, "-c", NEIGHBOUR, os.path.join(m.dir, "store"),
                          *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_full_store_is_loud_and_keeps_acks(fe, tmp_path):
    """A 1 MiB store filled by messages to an app that is away: a MESSAGE
    that does not fit is refused 503 (the Front End keeps it), /healthz
    says degraded, the log has the error and /metrics counts it; the app
    still gets and acknowledges its events, which makes room again."""
    m = own(fe, tmp_path, store=["map_size_mb = 1"])
    try:
        app = App(m, "alice", "quota-full", available=True)
        peer = Peer(m, (fe.cert_file, fe.key_file))  # as the Front End
        user = app.body["id"]
        assert healthz(m) == (200, "ok\n")
        got = []
        for i in range(40):
            status, _ = peer.send(peer.request("MESSAGE", user, "%02d %s" % (i, BIG)))
            got.append(status)
            if status != "SIP/2.0 200 OK":
                break
        assert got[-1] == "SIP/2.0 503 Service Unavailable", got
        taken = len(got) - 1
        assert taken >= 5
        assert healthz(m) == (200, "degraded: store full\n")
        assert "store: full, 1 write(s) refused (ENOSPC)" in m.log()
        assert m.metric("mobility_store_full_total") >= 1
        assert m.metric("mobility_store_full") == 1
        # the app gets what was taken and acknowledges it: room again
        texts = app.texts_until(taken, timeout=20)
        assert [t[:2] for t in texts] == ["%02d" % i for i in range(taken)]
        app.batch(wait=1)
        status, _ = peer.send(peer.request("MESSAGE", user, "after the ack"))
        assert status == "SIP/2.0 200 OK"
        assert healthz(m) == (200, "ok\n")
        assert app.texts_until(1) == ["after the ack"]
    finally:
        assert m.stop() == 0, m.log()


def test_note_change_that_fails_leaves_the_old_note(fe, tmp_path):
    """The store is full to the brim (another process sharing it filled
    it, while a reader kept the pages it freed): a note change is answered
    503 and the note is the old one, for the app and after a restart with
    a bigger map, where a change is 204 again."""
    m = own(fe, tmp_path, store=["map_size_mb = 1"])
    try:
        app = App(m, "alice", "quota-note", available=True)
        note = app.loc + "/me/note"
        assert api(m, app.tok, "POST", note, {"message": "before"})[0] == 204
        assert neighbour(m, "fill", "a") > 0
        pin = subprocess.Popen([sys.executable, "-c", NEIGHBOUR,
                                os.path.join(m.dir, "store"), "pin"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert pin.stdout.readline().strip() == "pinned"
            neighbour(m, "fill", "b")  # what was freed before the pin
            st, _, body = api(m, app.tok, "POST", note, {"message": "after"})
            assert st == 503, body
            st, _, body = api(m, app.tok, "GET", note)
            assert st == 200 and json.loads(body)["message"] == "before", body
        finally:
            pin.communicate("\n", timeout=30)
        # the operator's way out: a bigger map
        m.stop()
        with open(m.conf_path) as f:
            conf = f.read()
        with open(m.conf_path, "w") as f:
            f.write(conf.replace("map_size_mb = 1\n", "map_size_mb = 4\n"))
        m.start()
        st, _, body = api(m, app.tok, "GET", note)
        assert st == 200 and json.loads(body)["message"] == "before", body
        assert api(m, app.tok, "POST", note, {"message": "later"})[0] == 204
        st, _, body = api(m, app.tok, "GET", note)
        assert json.loads(body)["message"] == "later", body
    finally:
        assert m.stop() == 0, m.log()


def deleted_for_good(m, tok, href, what):
    """DELETE href while another process holds the store's write lock for
    3 s: the 204 comes only once the delete is committed (after the
    lock), so a crash right after the 204 keeps it deleted, and a GET
    right after it is 404."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK,
                               os.path.join(m.dir, "store"), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        st, _, body = api(m, tok, "DELETE", href)
        assert st == 204, body
        assert time.monotonic() - t0 > 1.5, what + " answered before its commit"
        assert api(m, tok, "GET", href)[0] == 404
        m.kill()
    finally:
        holder.wait(30)
    m.start()
    deadline = time.monotonic() + 10
    st = None
    while time.monotonic() < deadline:
        st = api(m, tok, "GET", href)[0]
        if st != 503:  # being restored
            break
        time.sleep(0.2)
    assert st == 404, what + " came back after the restart"


def test_deletes_answered_once_committed(fe, tmp_path):
    """DELETE of a presence subscription and of an application are
    answered once their records are gone."""
    m = own(fe, tmp_path)
    try:
        app = App(m, "alice", "quota-psub", available=True)
        st, h, body = api(m, app.tok, "POST",
                          app.loc + "/people/presenceSubscriptions",
                          {"duration": 11, "uris": ["sip:bob@example.test"]})
        assert st == 201, body
        deleted_for_good(m, app.tok, h["location"], "the subscription")
        deleted_for_good(m, app.tok, app.loc, "the application")
    finally:
        assert m.stop() == 0, m.log()


def test_user_token_limit(fe, tmp_path):
    """A user signing in again and again keeps at most user_max_tokens
    live tokens: each sign-in past it revokes the oldest, also across a
    restart (it is deleted from the store)."""
    m = own(fe, tmp_path, service=["user_max_tokens = 3"])
    try:
        toks = [token(m, "alice") for _ in range(5)]
        # the two oldest are revoked; the three newest work
        got = [create(m, t, "quota-tokens")[0] for t in toks]
        assert got == [401, 401, 201, 200, 200], got
        assert m.log().count("alice@example.test has more than 3 tokens") == 2
        m.kill()
        m.start()
        got = [create(m, t, "quota-tokens")[0] for t in toks]
        assert got == [401, 401, 200, 200, 200], got
    finally:
        assert m.stop() == 0, m.log()
