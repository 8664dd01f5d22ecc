"""SIGTERM drains mobilityd (README "Stopping", docs/sipua.md "Drain"):
with a few thousand sessions, each registered and subscribed, the Front
End receives and accepts an un-REGISTER, an un-SUBSCRIBE and an
un-PUBLISH for every one of them before mobilityd exits, none lost to
the flow's send queue;
meanwhile /healthz answers 503 "draining" and a new sign-in (token or
application) is refused with 503 and Retry-After.

Sent at once (before the drain), the removals overflowed libre's 512 KiB
send queue on the one TLS flow and the process exited before the Front
End's digest challenges came back: no un-REGISTER was accepted."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import frontend

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "bench"))
import benchlib as bl  # noqa: E402
import session_bench as sb  # noqa: E402
from capacity_bench import allow_domain  # noqa: E402

pytestmark = pytest.mark.skipif(not frontend.available(),
                                reason="needs Kamailio")

DEVICES = 10  # applications per user (mobilityd allows 10)
SESSIONS = 2000
PS = "/people/presenceSubscriptions"


def fe_stats(fe):
    st = {}
    for line in fe.ctl("stats.get_statistics", "all", timeout=30).splitlines():
        k, _, v = line.partition(" = ")
        if v.strip().isdigit():
            st[k.strip()] = int(v)
    return st


def metrics_text(m):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                timeout=5) as r:
        return r.read().decode()


def healthz(m):
    """(status, body) of /healthz, or (None, error) when not answering."""
    try:
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/healthz" % m.admin_port, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_active(m, want, timeout):
    name = 'mobility_sip_notifies_total{state="active"}'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if m.metric(name) >= want:
            return
        time.sleep(0.2)
    raise TimeoutError("%d of %d subscriptions active"
                       % (m.metric(name), want))


def published(fe):
    """Publications the Front End holds (its presentity table)."""
    return int(fe.sql("SELECT count(*) FROM presentity")[0][0])


def wait_published(fe, want, timeout):
    deadline = time.monotonic() + timeout
    while published(fe) < want:
        if time.monotonic() > deadline:
            raise TimeoutError("%d of %d published" % (published(fe), want))
        time.sleep(0.2)


def test_sigterm_removes_every_session_paced(tmp_path):
    nusers = SESSIONS // DEVICES
    users = ["d%05d" % i for i in range(nusers)]
    fe, m, ctx = bl.start(users, store=str(tmp_path))
    ok = False
    try:
        allow_domain(fe, users)

        def subscribe(c, tok, app, user):
            other = users[(int(user[1:]) + 1) % nusers]
            body = json.dumps({"duration": 30, "uris": [
                "sip:%s@%s" % (other, fe.domain)]}).encode()
            st, _, rb, _ = c.request("POST", app + PS, tok=tok, body=body)
            assert st == 201, (st, rb[:200])
            st, _, rb, _ = c.request("POST", app + "/me/makeMeAvailable",
                                     tok=tok, body=b"{}")
            assert st in (200, 204), (st, rb[:200])

        n, errors, _ = sb.create_sessions(m, ctx, users, DEVICES, 8,
                                          each=subscribe)
        assert n == SESSIONS and not errors, errors[:3]
        wait_active(m, SESSIONS, 60)
        wait_published(fe, SESSIONS, 60)
        assert len(fe.registrations(users[0])) == DEVICES
        tok = None
        c = bl.Https(m.https_port, ctx)
        tok = bl.token(c, users[0])
        c.close()
        time.sleep(1)  # the sign-in connections close
        before = fe_stats(fe)

        m.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()

        # the drain: out of the load balancer, no new sign-in
        st, body = healthz(m)
        assert (st, body) == (503, "draining\n"), (st, body)
        c = bl.Https(m.https_port, ctx)
        st, h, rb, _ = c.request(
            "POST", "/WebTicket/oauthtoken",
            body=("grant_type=password&username=%s@example.test&password=%s"
                  % (users[1], bl.password(users[1]))).encode(),
            ctype="application/x-www-form-urlencoded")
        assert st == 503 and h.get("retry-after") == "10", (st, h, rb)
        st, h, rb, _ = c.request(
            "POST", bl.APPS, tok=tok,
            body=json.dumps({"culture": "en-US", "endpointId": "late",
                             "userAgent": "test/1.0"}).encode())
        assert st == 503 and h.get("retry-after") == "10", (st, h, rb)
        c.close()
        # progress in /metrics while it lasts (not asserted: it may end)
        metrics_text(m)

        rc = m.proc.wait(90)
        took = time.monotonic() - t0
        assert rc == 0
        after = fe_stats(fe)
        log = m.log()
        drain_lines = "\n".join(line for line in log.splitlines()
                                if "drain" in line or "queue" in line)

        # every un-REGISTER reached the Front End and was accepted (the
        # registrar counts each 2xx), every un-SUBSCRIBE reached it
        accepted = (after["registrar:accepted_regs"]
                    - before["registrar:accepted_regs"])
        unsubs = (after["core:rcv_requests_subscribe"]
                  - before["core:rcv_requests_subscribe"])
        left = published(fe)
        print("drain of %d sessions: %.1f s; Front End accepted %d "
              "REGISTERs, received %d SUBSCRIBEs, holds %d publications"
              % (SESSIONS, took, accepted, unsubs, left))
        assert accepted >= SESSIONS, (accepted, drain_lines)
        assert unsubs >= SESSIONS, (unsubs, drain_lines)
        # and every un-PUBLISH (unlike bindings, a publication outlives
        # the flow's close)
        assert left == 0, (left, drain_lines)
        for u in users[:20]:
            assert fe.registrations(u) == [], u
        done = re.search(r"drain done: (\d+) removed, (\d+) failed", log)
        assert done and int(done.group(1)) == 3 * SESSIONS, drain_lines
        assert done.group(2) == "0", drain_lines
        # the flow's send queue stayed small (logged from 64 KiB up)
        assert not re.search(r"send queue at \d{6,}", log), drain_lines
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


def fe_pids(fe):
    """The Front End's main process and its workers (by PID)."""
    out = subprocess.run(["pgrep", "-P", str(fe.pid)], capture_output=True,
                         text=True).stdout
    return [fe.pid] + [int(p) for p in out.split()]


def test_second_signal_stops_at_once(tmp_path):
    """A second SIGTERM during the drain exits at once."""
    users = ["e%04d" % i for i in range(50)]
    fe, m, ctx = bl.start(users, store=str(tmp_path))
    ok = False
    try:
        n, errors, _ = sb.create_sessions(m, ctx, users, 4, 4)
        assert n == 200 and not errors, errors[:3]
        # a Front End that stops answering keeps the drain going
        pids = fe_pids(fe)
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            m.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while healthz(m)[0] != 503 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert healthz(m) == (503, "draining\n")
            time.sleep(0.5)
            assert m.proc.poll() is None
            t0 = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
            assert m.proc.wait(5) == 0
            assert time.monotonic() - t0 < 3
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        assert "again: stopping now" in m.log()
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


def test_deadline_gives_up(tmp_path):
    """A Front End that stops answering: the drain gives up at [service]
    drain_timeout, says how many removals were left, and exits 0."""
    users = ["f%04d" % i for i in range(50)]
    fe, m, ctx = bl.start(users, store=str(tmp_path),
                          extra={"service": ["drain_timeout = 2"]})
    ok = False
    try:
        n, errors, _ = sb.create_sessions(m, ctx, users, 4, 4)
        assert n == 200 and not errors, errors[:3]
        pids = fe_pids(fe)
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
            assert m.proc.wait(15) == 0
            took = time.monotonic() - t0
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        # 2 s, and at most the 1 s the connections get past it; the upper
        # bound has room for a loaded machine, and a drain that did not
        # keep its deadline would still be waiting on the stopped Front End
        assert 1.5 < took < 10, took
        left = re.search(r"drain_timeout passed with (\d+) SIP removals",
                         m.log())
        assert left and int(left.group(1)) > 0, m.log()[-2000:]
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)
