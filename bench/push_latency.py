#!/usr/bin/env python3
"""MESSAGE -> push request latency, against a real mobilityd, the
project's Kamailio Front End and the local APNs stand-in
(tests/pylib/pushsrv.py) on loopback. Prints figures; asserts nothing.

    bench/push_latency.py [--sessions 1000] [--messages 2000] [--window 1]
                          [--threads 16] [--store DIR]

1. --sessions applications (one per user, so that a MESSAGE reaches one
   application), each with an APNs push registration of its own device
   token and no P-GET: every incoming message is pushed.
2. A SIP peer sends MESSAGEs over UDP to the Front End, to the users in
   turn, --window of them outstanding at a time (1: one after the other,
   the latency of an idle service). The Front End routes each over its
   flow to mobilityd, which stores the message, answers 200 and sends the
   push over HTTP/2. The latency of one message is from just before the
   sendto() of the MESSAGE to the time the stand-in has read the whole
   push request (time.monotonic() in its server thread, when the HTTP/2
   stream ends). The stand-in is Python (h2 on asyncio) in this process:
   its parsing is part of the figure, and the GIL is shared with the
   sender.
3. The load average before and after, mobilityd's CPU per message, and the
   push service's counters.

Needs a built mobilityd with the push service (MOBILITYD, default
build/bench/mobilityd or build/test/mobilityd), Kamailio and python3-h2."""
import argparse
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import session_bench as sb  # noqa: E402
from pushsrv import PushServer  # noqa: E402  (benchlib set the path)

TOPIC = "com.example.bench"


def device_token(i):
    return "%064x" % (0xbe000000 + i)


def create_sessions(m, ctx, users, threads):
    """One application per user with its push registration; returns
    (count, errors, seconds)."""
    def register(c, tok, app, u):
        body = ('{"provider":"apns","token":"%s","topic":"%s"}'
                % (device_token(int(u[1:])), TOPIC)).encode()
        st, _, out, _ = c.request("PUT", app + "/pushRegistration", body=body, tok=tok)
        if st != 201:
            raise RuntimeError("pushRegistration: %d %r" % (st, out[:200]))

    return sb.create_sessions(m, ctx, users, 1, threads, each=register)


class Sender:
    """MESSAGEs to the users in turn, at most window outstanding; each
    matched with the push to its user's token (a user has one message
    outstanding at a time when window <= users)."""

    def __init__(self, fe, push, users, window):
        self.fe, self.push, self.users, self.window = fe, push, users, window
        self.udp, self.port = bl.udp_peer()
        self.n = 0
        self.codes = {}

    def drain_udp(self):
        for code in bl.sip_answers(self.udp):
            self.codes[code] = self.codes.get(code, 0) + 1

    def run(self, count, timeout=30):
        """Send count messages; returns (latencies in s, lost)."""
        seen = len(self.push.requests)
        waiting = {}  # token -> time sent
        lat, lost = [], 0
        sent = 0
        while sent < count or waiting:
            while sent < count and len(waiting) < self.window:
                i = self.n % len(self.users)
                u = self.users[i]
                tok = device_token(int(u[1:]))
                if tok in waiting:
                    break
                msg = sb.sip_message(u, self.fe.domain, self.port, self.n)
                self.n += 1
                sent += 1
                waiting[tok] = time.monotonic()
                self.udp.sendto(msg, ("127.0.0.1", self.fe.udp_port))
            reqs = self.push.requests
            for r in reqs[seen:]:
                t = waiting.pop(r.token, None)
                if t is not None:
                    lat.append(r.t - t)
            seen = len(reqs)
            now = time.monotonic()
            for tok in [k for k, t in waiting.items() if now - t > timeout]:
                del waiting[tok]
                lost += 1
            self.drain_udp()
            time.sleep(0.0002)
        return lat, lost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--window", type=int, default=1,
                    help="MESSAGEs outstanding at a time (1: one by one)")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--store", help="store directory (e.g. on tmpfs, to "
                    "take the disk's sync latency out of the figures)")
    a = ap.parse_args()
    if not 1 <= a.window <= a.sessions:
        ap.error("--window: 1 to --sessions")

    users = ["u%05d" % i for i in range(a.sessions)]
    pdir = tempfile.mkdtemp(prefix="mobility-bench-push-")
    push = PushServer(pdir).start()
    fe, m, ctx = bl.start(users, store=a.store, extra={"push": push.conf_lines(fcm=False)})
    pid = m.proc.pid
    ok = False
    try:
        bl.banner(fe, m, a.store)
        n, errors, dt = create_sessions(m, ctx, users, a.threads)
        print("sessions: %d with a push registration in %.1f s, %d errors"
              % (n, dt, len(errors)))
        if errors:
            print("  first error:", errors[0])

        s = Sender(fe, push, users, a.window)
        s.run(min(20, a.messages))  # warm-up: connections, JWT
        time.sleep(1)
        load0 = bl.loadavg()
        cpu0 = bl.proc_figures(pid)["cpu"]
        fcpu0 = bl.group_cpu(fe.pid)
        t0 = time.perf_counter()
        lat, lost = s.run(a.messages)
        dt = time.perf_counter() - t0
        cpu = bl.proc_figures(pid)["cpu"] - cpu0
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        time.sleep(1)
        s.drain_udp()
        print("messages: %d MESSAGE -> push in %.1f s (%.0f/s), window %d; "
              "%d without a push; SIP answers %r"
              % (len(lat), dt, len(lat) / dt, a.window, lost, s.codes))
        print("  latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms"
              % tuple(1000 * bl.pct(lat, p) for p in (50, 90, 99, 100)))
        print("  CPU per message: mobilityd %.0f us, Front End %.0f us"
              % (1e6 * cpu / max(1, len(lat)), 1e6 * fcpu / max(1, len(lat))))
        print("  load average before %s, after %s" % (load0, bl.loadavg()))
        print("  push stand-in: %d connections, at most %d requests at once"
              % (push.connections, push.max_concurrent))
        # the push counters carry labels (provider, outcome)
        txt = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                     timeout=10).read().decode()
        for line in txt.splitlines():
            if line.startswith("mobility_push"):
                print("  metric", line)
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)
        push.stop()


if __name__ == "__main__":
    main()
