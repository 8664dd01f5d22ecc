"""Sessions owned under an instance's pool lease (docs/pool.md), on a real
redis-server, the Kamailio Front End and baresip:

- a lost lease forgets the instance's sessions (nothing sent to the Front
  End, the store left for the next owner), and the instance rejoins once
  the store answers again;
- a second instance takes none of the first one's sessions while it
  lives; killed (-9), its sessions are taken over within the lease time
  plus 2 s: registered again with the same +sip.instance and reg-id
  (one binding per session), subscribed and published again, and the
  event numbering goes on;
- the killed instance restarted under its name takes nothing back while
  the other lives, and signs new sessions in."""
import json
import os
import re
import signal
import time

import pytest

from baresip import registered
from pool import healthz, member, wait_log
from ucwa_client import api, create, im_texts, park, token

# the Front End's log line of a request (deploy/frontend/kamailio.cfg):
# "$rm $ru from $fu via $pr:$si:$sp contact $ct"
REG_RX = re.compile(r"REGISTER \S+ from sip:(\w+)@\S+ via (\S+) contact (.*)")


def wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def registers(fe, since=0, user="alice"):
    """The REGISTERs of user the Front End saw from log offset since:
    (flow, contact) each, the contact with its parameters."""
    out = []
    for line in fe.log_text()[since:].splitlines():
        m = REG_RX.search(line)
        if m and m.group(1) == user:
            out.append((m.group(2), m.group(3)))
    return out


def unregisters(regs):
    return [c for _, c in regs if re.search(r"expires=0\b", c)]


def contact_of(sid, regs):
    """The last REGISTER of session sid (its Contact user): (flow, contact)."""
    found = [r for r in regs if "sip:%s@" % sid in r[1]]
    return found[-1] if found else None


def instance_param(contact):
    m = re.search(r'\+sip\.instance="?<?([^>";]+)', contact)
    return m.group(1) if m else None


def test_lease_lost_forgets_and_rejoins(fe, redis, tmp_path):
    """The lease lapses (Redis stopped): the session leaves the instance's
    memory, its parked P-GET is told to come again (503, Retry-After: 1),
    no un-REGISTER reaches the Front End (its binding stays for the next
    owner to replace) and the session's record stays in Redis. Redis
    answers again: the instance rejoins (a fresh lease, /healthz 200) and
    takes the released session back, registering it with the same
    +sip.instance."""
    m = member(tmp_path / "mob", fe, redis, "mob-a")
    m.start()
    stopped = False
    try:
        tok = token(m, "alice")
        st, h, body = create(m, tok, "forget-1")
        assert st == 201, body
        loc = h["location"]
        sid = loc.rsplit("/", 1)[1]
        fe.wait_registered("alice")
        bindings = fe.registrations("alice")
        first = contact_of(sid, registers(fe))
        assert first, fe.log_text()[-2000:]
        assert redis.keys("mob:{%s}:s" % sid)
        # created under the instance's lease: owned, epoch 1, listed
        assert redis.cli("GET", "mob:{%s}:o" % sid) == "1 mob-a"
        assert redis.cli("SMEMBERS", "mob:own:{mob-a}") == sid
        assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
        st, _, body = api(m, tok, "GET", loc + "/events?ack=1&medium=0&low=0")
        assert st == 200, body
        th, out = park(m, tok, loc + "/events?ack=2&timeout=180", 30)
        time.sleep(1)
        assert m.metric("mobility_applications") == 1

        since = len(fe.log_text())
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        assert wait_log(m, "pool: lease lapsed", 12), m.log()
        th.join(5)
        assert out, "the parked P-GET was not answered"
        st, hdrs, body = out[0]
        assert st == 503, body
        assert hdrs.get("retry-after") == "1", hdrs
        assert m.metric("mobility_applications") == 0
        assert healthz(m) == 503
        time.sleep(1)
        # nothing was sent for it: no refresh, no un-REGISTER
        assert registers(fe, since) == []
        assert len(fe.registrations("alice")) == len(bindings)

        lost_at = len(m.log())
        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False
        assert wait_log(m, "back in the pool", 5), m.log()[lost_at:]
        assert "sessions released" in m.log()[lost_at:]
        assert healthz(m) == 200
        assert redis.keys("mob:lease:*") == ["mob:lease:{mob-a}"]
        # the record was left in Redis: the session comes back here,
        # registered again as the same device, never removed
        assert wait_for(lambda: m.metric("mobility_pool_takeovers_total") == 1, 5), \
            m.log()[lost_at:]
        assert m.metric("mobility_applications") == 1
        # released by the end of the lost lease, taken with the next epoch
        assert redis.cli("GET", "mob:{%s}:o" % sid) == "2 mob-a"
        again = contact_of(sid, registers(fe, since))
        assert again, fe.log_text()[since:]
        assert instance_param(again[1]) == instance_param(first[1])
        assert "reg-id=1" in again[1]
        assert unregisters(registers(fe, since)) == []
        assert len(fe.registrations("alice")) == len(bindings)
        st, _, body = api(m, tok, "GET", loc)
        assert st == 200, body
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        if m.proc:
            m.kill()


@pytest.fixture()
def bob(fe):
    fe.allow_presence("alice", "alice-secret", "bob")
    fe.allow_presence("bob", "bob-secret", "alice")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


def events(m, tok, loc, ack):
    st, _, body = api(m, tok, "GET", loc + "/events?ack=%d&medium=0&low=0" % ack)
    assert st == 200, body
    ev = json.loads(body)
    nxt = int(re.search(r"ack=(\d+)", ev["_links"]["next"]["href"]).group(1))
    return ev, nxt


def test_takeover_after_kill(fe, bob, redis, tmp_path):
    """A and B on one Redis; 3 sessions signed in on A. B takes none of
    them while A lives. kill -9 A: B takes all 3 within the lease time
    plus 2 s, registers each with the same +sip.instance and reg-id (one
    binding per session, now through B's flow), subscribes and publishes
    again; bob's MESSAGE then reaches the sessions, read on B with the
    numbering that A's last batch gave. A restarted under its name takes
    nothing back and signs new sessions in."""
    a = member(tmp_path / "a", fe, redis, "mob-a")
    b = member(tmp_path / "b", fe, redis, "mob-b")
    a.start()
    try:
        tok = token(a, "alice")
        sessions = []
        t0 = len(fe.log_text())
        for i in range(3):
            st, h, body = create(a, tok, "take-%d" % i)
            assert st == 201, body
            loc = h["location"]
            assert api(a, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
            sessions.append(loc)
        # one of them follows bob's presence (a SUBSCRIBE of its own)
        st, _, body = api(a, tok, "POST", sessions[0] + "/people/presenceSubscriptions",
                          {"duration": 30, "uris": ["sip:bob@example.test"]})
        assert st in (200, 201), body
        fe.wait_registered("alice", count=3)
        sids = [loc.rsplit("/", 1)[1] for loc in sessions]
        regs_a = registers(fe, t0)
        flows_a = {contact_of(s, regs_a)[0] for s in sids}
        instances = {s: instance_param(contact_of(s, regs_a)[1]) for s in sids}
        assert len(set(instances.values())) == 3, instances

        # a first message, read on A: A's last batch, its next link
        bob.send_message("alice", "before the kill")
        nxt = []
        for loc in sessions:
            ev, n = events(a, tok, loc, 1)
            texts = im_texts(ev)
            if "before the kill" not in texts:
                ev, n = events(a, tok, loc, n)
                texts = im_texts(ev)
            assert "before the kill" in texts, ev
            nxt.append(n)

        # B starts: it takes none of A's sessions
        since_b = len(fe.log_text())
        b.start()
        time.sleep(3)
        assert b.metric("mobility_pool_takeovers_total") == 0
        assert b.metric("mobility_applications") == 0
        assert registers(fe, since_b) == []
        assert len(fe.registrations("alice")) == 3

        # kill -9 A: B takes them over
        since_kill = len(fe.log_text())
        t_kill = time.monotonic()
        a.kill()

        def all_back():
            regs = registers(fe, since_kill)
            return all(contact_of(s, regs) for s in sids)
        assert wait_for(all_back, 12, 0.02), b.log()
        took = time.monotonic() - t_kill
        assert wait_for(lambda: b.metric("mobility_pool_takeovers_total") == 3, 3), b.log()
        print("takeover: all 3 sessions registered again from B %.2f s after "
              "kill -9 of A" % took)
        assert took < 12, took
        assert "pool: took over" in b.log()

        regs_b = registers(fe, since_kill)
        for s in sids:
            flow, contact = contact_of(s, regs_b)
            assert flow not in flows_a, (flow, flows_a)
            assert instance_param(contact) == instances[s]
            assert "reg-id=1" in contact
        assert unregisters(regs_b) == []
        # one binding per session, through B
        assert wait_for(lambda: len(fe.registrations("alice")) == 3, 5), \
            fe.registrations("alice")
        # published and subscribed again, from B
        fe.wait_log(r"PUBLISH sip:alice@example.test ", since=since_kill)
        fe.wait_log(r"SUBSCRIBE sip:bob@example.test from sip:alice@", since=since_kill)

        # bob's MESSAGE reaches the sessions on B; the numbering goes on
        # after A's last batch
        bob.send_message("alice", "after the kill")
        for loc, n in zip(sessions, nxt):
            got, cur = [], n
            deadline = time.monotonic() + 15
            while "after the kill" not in got and time.monotonic() < deadline:
                ev, n2 = events(b, tok, loc, cur)
                # each batch numbered after the last one A gave
                assert n2 == cur + 1, (cur, n2, ev)
                got += im_texts(ev)
                cur = n2
            assert got == ["after the kill"], got

        # A comes back under its name: takes nothing while B lives, and
        # signs a new session in
        since_a = len(fe.log_text())
        a.start()
        time.sleep(3)
        assert a.metric("mobility_pool_takeovers_total") == 0
        assert a.metric("mobility_applications") == 0
        assert registers(fe, since_a) == []
        st, h, body = create(a, tok, "take-new")
        assert st == 201, body
        assert wait_for(lambda: len(fe.registrations("alice")) == 4, 5)
        assert b.metric("mobility_applications") == 3
        assert a.metric("mobility_applications") == 1
    finally:
        for m in (a, b):
            if m.proc:
                m.kill()


def test_takeover_is_paced(fe, redis, tmp_path):
    """[store] takeover_rate = 1: the dead instance's 3 sessions are taken
    over one a second, not at once (the Front End is not stormed)."""
    a = member(tmp_path / "a", fe, redis, "mob-a")
    b = member(tmp_path / "b", fe, redis, "mob-b", store=["takeover_rate = 1"])
    a.start()
    try:
        tok = token(a, "carol")
        sids = []
        for i in range(3):
            st, h, body = create(a, tok, "paced-%d" % i)
            assert st == 201, body
            sids.append(h["location"].rsplit("/", 1)[1])
        fe.wait_registered("carol", count=3)
        b.start()
        since = len(fe.log_text())
        a.kill()
        seen = {}
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            regs = registers(fe, since, user="carol")
            for s in sids:
                if s not in seen and contact_of(s, regs):
                    seen[s] = time.monotonic()
            time.sleep(0.02)
        assert len(seen) == 3, (seen, b.log())
        spread = max(seen.values()) - min(seen.values())
        print("takeover at 1/s: 3 sessions registered again over %.2f s" % spread)
        assert spread > 1.5, spread
        assert b.log().count("pool: took over 1 sessions") == 3, b.log()
    finally:
        for m in (a, b):
            if m.proc:
                m.kill()
