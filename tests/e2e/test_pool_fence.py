"""Fencing in a pool of mobilityd on one Redis (docs/pool.md), watched
from the Front End (Kamailio's location table and log) and a phone
(baresip) sending numbered MESSAGEs:

- the owner A paused (SIGSTOP) past its lease while one of its
  REGISTER refreshes falls due: B takes the session over; A continued
  (SIGCONT) sends nothing (its refresh would take the binding back:
  same +sip.instance and reg-id), the location table never holds two
  contacts, and every MESSAGE baresip saw accepted reaches the app on B
  once, in order;
- another instance takes the session (its owner key in Redis moves on,
  as a takeover's acquire does): A's next write of it, the event of an
  incoming MESSAGE, is refused (ESTALE); A answers 480 (the Front End
  keeps the MESSAGE), forgets the session without an un-REGISTER, and
  says so once (log, mobility_pool_sessions_fenced_total);
- A drained (SIGTERM) while baresip sends: no un-REGISTER, no new
  sign-in on A, the session handed over to B, A exits, every MESSAGE
  accepted reaches the app on B once, in order."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from baresip import registered
from fixtures import USERS
from frontend import Frontend
from pool import member
from ucwa_client import api, create, im_texts, token, url

# registrations (and subscriptions) granted 20 s: refreshes come every
# few seconds, so one falls due while the owner is paused
MAX_EXPIRES = 20
REG_LINE = re.compile(r"REGISTER \S+ from sip:alice@\S+ via tls:[\d.]+:(\d+)")
STORED = "stored undelivered MESSAGE for sip:alice@"
FAILED_LINE = re.compile(r"^\s*[3-6]\d\d [A-Z]", re.M)


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("FE_LOG_LEVEL", "FE_MAX_EXPIRES")}
    os.environ["FE_LOG_LEVEL"] = "3"
    os.environ["FE_MAX_EXPIRES"] = str(MAX_EXPIRES)
    try:
        f = Frontend(tmp_path_factory.mktemp("fe") / "fe")
        f.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for u in USERS:
        f.add_user(u, u + "-secret")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def bob(fe):
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


def instance(tmp_path, fe, redis, name):
    m = member(tmp_path / name, fe, redis, name)
    m.start()
    return m


def sign_in(m, epid):
    tok = token(m, "alice")
    st, h, body = create(m, tok, epid)
    assert st == 201, body
    loc = h["location"]
    assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    return tok, loc


def reg_ports(fe, since=0):
    """Source ports of alice's REGISTERs at the Front End, in order."""
    return [int(p) for p in REG_LINE.findall(fe.log_text()[since:])]


def failed(b, since):
    """MESSAGEs baresip saw refused (a final answer >= 300) since."""
    return len(FAILED_LINE.findall(b.output()[since:]))


def batch(m, tok, loc, ack, wait=3):
    """events?ack=N on m: the batch, or None when nothing came in wait s
    (the P-GET is given up)."""
    try:
        st, _, body = m.curl(url(m, loc + "/events?ack=%d" % ack),
                             "-H", "Authorization: Bearer " + tok,
                             "-H", "Accept: application/json",
                             "--max-time", str(wait))
    except subprocess.CalledProcessError:
        return None
    assert st == 200, body
    return json.loads(body)


def read_texts(m, tok, loc, want, timeout=30):
    """The app's incoming IM texts read from m, batch after batch, until
    every text of want was seen or nothing more comes."""
    got, ack = [], 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = batch(m, tok, loc, ack)
        if b is None:
            if set(want) <= set(got):
                break
            continue
        got += im_texts(b)
        ack += 1
    return got


class Watch(threading.Thread):
    """Polls alice's bindings at the Front End until stopped: the most
    contacts seen at once, and each binding's flow in turn."""

    def __init__(self, fe):
        super().__init__(daemon=True)
        self.fe, self.most, self.done = fe, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.most = max(self.most, len(self.fe.registrations("alice")))
            except Exception:
                pass
            time.sleep(0.1)

    def stop(self):
        self.done.set()
        self.join(5)


def numbered(prefix, n):
    return ["%s %02d" % (prefix, i) for i in range(1, n + 1)]


def check_delivered(sent, got, refused):
    """Each text at most once and in the order sent; every text the
    phone saw accepted is there."""
    assert len(got) == len(set(got)), got
    assert got == [t for t in sent if t in got], got
    assert len(got) >= len(sent) - refused, (sent, got, refused)


def out_of_order(sent, got):
    """The fewest texts of got whose removal leaves got in the order of
    sent (got: each once, all in sent)."""
    idx = [sent.index(t) for t in got]
    # longest increasing run kept (patience sort, with back links)
    tails, tail_at, prev = [], [], [None] * len(idx)
    for i, v in enumerate(idx):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        prev[i] = tail_at[lo - 1] if lo else None
        if lo == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[lo], tail_at[lo] = v, i
    keep, i = set(), tail_at[-1] if tail_at else None
    while i is not None:
        keep.add(i)
        i = prev[i]
    return [t for i, t in enumerate(got) if i not in keep]


def test_paused_owner_sends_nothing(fe, bob, redis, tmp_path):
    a = instance(tmp_path, fe, redis, "mob-a")
    b = None
    stopped = False
    watch = Watch(fe)
    try:
        tok, loc = sign_in(a, "fence-pause")
        fe.wait_registered("alice")
        b = instance(tmp_path, fe, redis, "mob-b")
        watch.start()
        out0 = len(bob.output())
        sent = numbered("before", 3)
        for t in sent:
            bob.send_message("alice", t)
            time.sleep(0.3)

        # alice's REGISTERs come from A's flow; time two refreshes
        since = len(fe.log_text())
        ports, seen = [], []
        deadline = time.monotonic() + 3 * MAX_EXPIRES
        while len(seen) < 2 and time.monotonic() < deadline:
            now = reg_ports(fe, since)
            # a refresh is a REGISTER and, challenged, its answer
            if len(now) > len(ports) and (
                    not seen or time.monotonic() - seen[-1] > 1):
                seen.append(time.monotonic())
            ports = now
            time.sleep(0.05)
        assert len(seen) == 2, fe.log_text()[since:]
        a_port = ports[-1]
        period = seen[1] - seen[0]
        # paused 2.5 s before the next refresh is due, so that it is
        # overdue before the lease's deadline (3-5.5 s after the pause)
        time.sleep(max(0.0, seen[1] + period - 2.5 - time.monotonic()))
        since = len(fe.log_text())
        os.kill(a.proc.pid, signal.SIGSTOP)
        stopped = True
        t0 = time.monotonic()
        for t in numbered("during", 3):
            sent.append(t)
            bob.send_message("alice", t)
            time.sleep(1)

        # B takes the session over once A's lease has expired (>= 10 s)
        # and registers it from its own flow
        deadline = t0 + 25
        while time.monotonic() < deadline and not any(
                p != a_port for p in reg_ports(fe, since)):
            time.sleep(0.1)
        assert any(p != a_port for p in reg_ports(fe, since)), \
            fe.log_text()[since:]
        time.sleep(max(0.0, t0 + 12.5 - time.monotonic()))
        os.kill(a.proc.pid, signal.SIGCONT)
        stopped = False
        assert a.alive()
        time.sleep(3)
        for t in numbered("after", 3):
            sent.append(t)
            bob.send_message("alice", t)
            time.sleep(0.3)
        # a refresh of B's comes and goes meanwhile
        time.sleep(MAX_EXPIRES / 2)

        # the Front End heard A no more once B had registered: A's
        # overdue refresh was not sent
        order = reg_ports(fe, since)
        print("refresh period %.2f s, REGISTER flows %s" % (period, order))
        first_b = next(i for i, p in enumerate(order) if p != a_port)
        assert a_port not in order[first_b:], order
        assert "pool: lease lapsed" in a.log(), a.log()
        # one binding at a time, B's in the end
        watch.stop()
        assert watch.most == 1, watch.most
        regs = fe.registrations("alice")
        assert len(regs) == 1, regs
        print("bindings %s" % regs)
        assert not re.search(r":%d\b" % a_port, regs[0].get("Received", "")), regs

        # what baresip saw accepted is on B, once. A MESSAGE the paused
        # A could not take is kept by the Front End (408: its offline
        # store, 202 to baresip) and sent again at alice's next
        # REGISTER, B's: msilo sends its stored messages from several
        # workers at once, so those come in no particular order (after
        # later ones too); the others come in the order sent
        got = read_texts(b, tok, loc, sent)
        print("sent %s\ngot %s" % (sent, got))
        check_delivered([t for t in sent if not t.startswith("during")],
                        [t for t in got if not t.startswith("during")], 0)
        during = [t for t in got if t.startswith("during")]
        assert len(during) == len(set(during)), got
        assert len(got) >= len(sent) - failed(bob, out0), (sent, got)
        # A wrote nothing after the takeover: the guard kept it from
        # taking the MESSAGEs waiting on its socket; anything it tried
        # would be fenced (counted)
        print("A fenced %s, guard refused %s" % (
            a.metric("mobility_pool_sessions_fenced_total"),
            a.metric("mobility_sip_guard_refused_total")))
    finally:
        watch.stop()
        if stopped:
            os.kill(a.proc.pid, signal.SIGCONT)
        for m in (a, b):
            if m and m.proc:
                m.kill()


def test_drain_hands_over(fe, bob, redis, tmp_path):
    a = instance(tmp_path, fe, redis, "mob-a")
    b = None
    watch = Watch(fe)
    try:
        tok, loc = sign_in(a, "fence-drain")
        regs = fe.wait_registered("alice")
        b = instance(tmp_path, fe, redis, "mob-b")
        watch.start()
        since = len(fe.log_text())
        out0 = len(bob.output())
        sent = numbered("im", 24)
        stored = []
        # the phone keeps sending while A drains
        for i, t in enumerate(sent):
            mark = len(fe.log_text())
            bob.send_message("alice", t)
            if i == 5:
                os.kill(a.proc.pid, signal.SIGTERM)
            if i == 7:
                # no new sign-in on A once it drains
                try:
                    st, _, _ = create(a, token(b, "alice"), "fence-new")
                    assert st == 503, st
                except subprocess.CalledProcessError:
                    pass  # A already closed its listeners
            time.sleep(0.3)
            # between A's forget and B's REGISTER: 480, kept by the
            # Front End (202 to baresip) for alice's next REGISTER
            if STORED in fe.log_text()[mark:]:
                stored.append(t)

        # A exits by itself, having removed nothing at the Front End
        assert a.proc.wait(30) == 0, a.log()
        assert not re.search(r"REGISTER \S+ from sip:alice@\S+ .*expires=0",
                             fe.log_text()[since:])
        # B holds the session, registered from its own flow
        fe.wait_registered("alice")
        time.sleep(2)
        watch.stop()
        assert watch.most == 1, watch.most
        now = fe.registrations("alice")
        assert len(now) == 1, now
        assert now[0].get("Received") != regs[0].get("Received") or \
            now[0].get("Socket") != regs[0].get("Socket"), (regs, now)

        got = read_texts(b, tok, loc, sent)
        print("got %s, kept by the Front End %s" % (got, stored))
        # answered by the app (200): once, in order; kept by the Front
        # End: once (msilo sends them again in no particular order). A
        # MESSAGE that reached A after its pool ended gets no answer (the
        # guard) and is kept only when the Front End's transaction times
        # out, after the 0.3 s looked at above: such ones are told by the
        # Front End's count of kept MESSAGEs, not by the window
        kept_late = fe.log_text()[since:].count(STORED) - len(stored)
        rest = [t for t in got if t not in stored]
        late = out_of_order(sent, rest)
        assert len(late) <= kept_late, (rest, late, kept_late)
        check_delivered([t for t in sent if t not in stored],
                        [t for t in rest if t not in late], 0)
        assert len(got) == len(set(got)), got
        assert len(got) >= len(sent) - failed(bob, out0), (sent, got)
        assert got[-1] == sent[-1], got
        assert "pool: drain: 1 sessions to hand over" in a.log(), a.log()
        assert "drain done: 1 sessions handed over" in a.log(), a.log()
    finally:
        watch.stop()
        for m in (a, b):
            if m and m.proc:
                m.kill()


def test_stale_write_forgets_the_session(fe, bob, redis, tmp_path):
    a = instance(tmp_path, fe, redis, "mob-a")
    try:
        tok, loc = sign_in(a, "fence-stale")
        fe.wait_registered("alice")
        bob.send_message("alice", "while mine")
        assert "while mine" in read_texts(a, tok, loc, ["while mine"])
        keys = redis.keys("mob:{*}:s")
        assert len(keys) == 1, keys
        sid = keys[0][len("mob:{"):-len("}:s")]
        owner = redis.cli("GET", "mob:{%s}:o" % sid).split()
        assert owner[1] == "mob-a", owner
        xlen = int(redis.cli("XLEN", "mob:{%s}:ev" % sid))

        # another instance acquires it: epoch + 1
        redis.cli("SET", "mob:{%s}:o" % sid, "%d mob-b" % (int(owner[0]) + 1))
        since = len(fe.log_text())
        bob.send_message("alice", "after the takeover")
        fe.wait_log(STORED, timeout=10, since=since)
        line = "pool: session %s taken by another instance" % sid
        deadline = time.monotonic() + 5
        while line not in a.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        # nothing of A's went into the log; A let go of the session
        # without a word to the Front End (no un-REGISTER: the binding
        # is the next owner's to replace)
        assert int(redis.cli("XLEN", "mob:{%s}:ev" % sid)) == xlen
        assert a.log().count(line) == 1, a.log()
        assert a.metric("mobility_pool_sessions_fenced_total") == 1
        assert not re.search(r"REGISTER \S+ from sip:alice@\S+ .*expires=0",
                             fe.log_text()[since:])
        assert len(fe.registrations("alice")) == 1
    finally:
        if a.proc:
            a.kill()
