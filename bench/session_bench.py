#!/usr/bin/env python3
"""Memory per idle session and MESSAGE -> parked P-GET latency, against a
real mobilityd and the project's Kamailio Front End on loopback. Prints
figures; asserts nothing.

    bench/session_bench.py [--sessions 10000] [--devices 10]
                           [--messages 10000] [--threads 16] [--store DIR]
                           [--restart]

1. Idle sessions: --sessions applications (--devices per user: mobilityd
   allows 10 per user, Kamailio 20 contacts per address of record), each
   with its own REGISTER, created over keep-alive connections that are
   then closed. RSS, threads and descriptors of mobilityd before (after
   one warm-up session) and after.
2. Messages: a peer sends SIP MESSAGEs over UDP to the Front End for a
   user with one session (the Front End routes them over its flow to
   mobilityd, which stores each, answers the app's parked event GET and
   only then the MESSAGE). The latency of one message is from just before
   the sendto() of the MESSAGE to the return of the first recv() that
   brings the answer of the parked GET on the app's keep-alive TLS
   connection: two timestamps in one Python thread around the two system
   calls, so the interpreter adds tens of microseconds, not milliseconds.
   Each answer is acknowledged by the next GET (one message per batch).
   RSS of mobilityd before the messages (after a warm-up of 20) and after
   all were delivered and acknowledged. --messages 0 leaves this out.
3. With --restart, between the two: mobilityd is killed (SIGKILL) and
   started again on the same configuration and store; the time from the
   kill to every session registered again at the Front End, measured
   with the Front End's own counters (kamcmd stats: registrar
   accepted_regs since the kill, and usrloc location-contacts), polled
   every 50 ms; with the time to /healthz and mobilityd's CPU meanwhile.

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd) and Kamailio."""
import argparse
import json
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEER = "sip:peer@peer.test"
PARK_WAIT = 0.002  # after sending a GET, before the MESSAGE: it parks


def create_sessions(m, ctx, users, devices, threads, each=None):
    """An application for every (user, device), then each(connection,
    token, application href, user) when given; returns (count, errors,
    seconds). Each thread keeps one connection; all are closed after."""
    done = []

    def step(c, u):
        tok = bl.token(c, u)
        for d in range(devices):
            app = bl.application(c, tok, d)
            if each:
                each(c, tok, app, u)
            done.append(1)

    t0 = time.perf_counter()
    errors = bl.pool(m.https_port, ctx, users, threads, step)
    return len(done), errors, time.perf_counter() - t0


def sip_message(user, domain, port, i):
    body = ("bench message %d" % i).encode()
    head = ("MESSAGE sip:{u}@{d} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP {a}:{p};branch=z9hG4bK-bench-{i};rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <{peer}>;tag=bench\r\n"
            "To: <sip:{u}@{d}>\r\n"
            "Call-ID: bench-{i}@{a}\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: {n}\r\n\r\n").format(
                u=user, d=domain, a=bl.PEER_ADDR, p=port, i=i, peer=PEER,
                n=len(body))
    return head.encode() + body


class Events:
    """An app's event channel on its own keep-alive connection: parks the
    GET, reads the answers, follows their links."""

    def __init__(self, c, tok, app):
        self.c, self.tok = c, tok
        self.next = app + "/events?ack=1"

    def read(self):
        """Read one event batch and follow its next (or resync) link:
        (its events as (rel, type, status), time its first bytes came)."""
        st, _, body, first = self.c.read()
        if st != 200:
            raise RuntimeError("events: %d %r" % (st, body[:200]))
        ev = json.loads(body)
        self.next = ev["_links"].get("next", ev["_links"].get("resync"))["href"]
        got = [(e["link"]["rel"], e["type"], e.get("status"), e["link"]["href"])
               for s in ev.get("sender", []) for e in s["events"]]
        return got, first

    def ask(self):
        self.c.send("GET", self.next, tok=self.tok)

    def park(self):
        """Send the GET; drain batches answered at once (events that came
        before) until one stays parked for PARK_WAIT."""
        while True:
            self.ask()
            r, _, _ = select.select([self.c.s], [], [], PARK_WAIT)
            if not r and not self.c.s.pending():
                return
            self.read()

    def wait(self, pred):
        """Read batches (asking again after each) until an event passes
        pred; the time the first bytes of that batch came."""
        while True:
            got, first = self.read()
            if any(pred(e) for e in got):
                return first
            self.ask()


MESSAGE_RELS = ("message", "messagingInvitation")


class Messenger(Events):
    """The app side (one session, its event channel on a keep-alive
    connection: Events) and the peer side (a UDP socket toward the Front
    End)."""

    def __init__(self, fe, m, ctx, user):
        self.fe, self.user = fe, user
        c = bl.Https(m.https_port, ctx)
        tok = bl.token(c, user)
        Events.__init__(self, c, tok, bl.application(c, tok, 0))
        self.udp, self.port = bl.udp_peer()
        self.n = 0
        self.ok = 0
        self.other = {}

    def _answer(self):
        """Read one event batch: (messages in it, time it came)."""
        got, first = self.read()
        return sum(1 for e in got if e[0] in MESSAGE_RELS), first

    def drain_udp(self):
        for code in bl.sip_answers(self.udp):
            if code == "200":
                self.ok += 1
            else:
                self.other[code] = self.other.get(code, 0) + 1

    def one(self):
        """One message to the parked GET; its latency in seconds."""
        self.park()
        msg = sip_message(self.user, self.fe.domain, self.port, self.n)
        self.n += 1
        t0 = time.perf_counter()
        self.udp.sendto(msg, ("127.0.0.1", self.fe.udp_port))
        # something else may come first: wait on
        first = self.wait(lambda e: e[0] in MESSAGE_RELS)
        self.drain_udp()
        return first - t0

    def finish(self):
        """Acknowledge the last batch (the GET parks again) and collect the
        answers of the MESSAGEs still on their way."""
        self.ask()
        deadline = time.time() + 5
        while self.ok + sum(self.other.values()) < self.n and time.time() < deadline:
            time.sleep(0.01)
            self.drain_udp()


def fe_stat(fe, name):
    """One of the Front End's statistics (kamcmd stats.get_statistics;
    asked for by name it answers nothing in 5.6, so all of them)."""
    for line in fe.ctl("stats.get_statistics", "all").splitlines():
        k, _, v = line.partition(" = ")
        if k.strip() == name:
            return int(v)
    raise RuntimeError("no statistic " + name)


def restart(fe, m, sessions, timeout=600):
    """kill -9, start again, and wait until `sessions` REGISTERs more were
    accepted by the Front End and its contacts are back to what they
    were; prints the figures."""
    contacts0 = fe_stat(fe, "usrloc:location_contacts")
    regs0 = fe_stat(fe, "registrar:accepted_regs")
    t0 = time.perf_counter()
    m.kill()
    t_killed = time.perf_counter()
    m.start(timeout=120)
    t_ready = time.perf_counter()
    cpu0 = bl.proc_figures(m.proc.pid)["cpu"]
    fcpu0 = bl.group_cpu(fe.pid)
    low = contacts0
    half = None
    timeline, last = [], 0
    while True:
        regs = fe_stat(fe, "registrar:accepted_regs") - regs0
        contacts = fe_stat(fe, "usrloc:location_contacts")
        low = min(low, contacts)
        now = time.perf_counter()
        if now - last >= 1:
            timeline.append("%.0fs:%d/%d" % (now - t0, regs, contacts))
            last = now
        if half is None and regs >= sessions // 2:
            half = now
        if regs >= sessions and contacts >= contacts0:
            break
        if now - t0 > timeout:
            raise RuntimeError("after %d s: %d REGISTERs accepted, %d contacts"
                               % (timeout, regs, contacts))
        time.sleep(0.05)
    cpu = bl.proc_figures(m.proc.pid)["cpu"] - cpu0
    fcpu = bl.group_cpu(fe.pid) - fcpu0
    print("restart: SIGKILL -> %d sessions registered again in %.2f s "
          "(measured by the Front End: registrar accepted_regs +%d, "
          "usrloc contacts %d -> lowest %d -> %d)"
          % (sessions, now - t0, regs, contacts0, low, contacts))
    print("  kill %.3f s, start to /healthz %.2f s, then half registered at "
          "+%.2f s, all at +%.2f s (%.0f REGISTERs/s after ready)"
          % (t_killed - t0, t_ready - t_killed, half - t_ready, now - t_ready,
             sessions / max(now - t_ready, 1e-3)))
    print("  CPU from ready to all registered: mobilityd %.2f s, Front End "
          "%.2f s; load average %s" % (cpu, fcpu, bl.loadavg()))
    print("  seconds since the kill: REGISTERs accepted / contacts: "
          + " ".join(timeline))
    warn = [x for x in m.log().splitlines() if " warn" in x or "notice" in x]
    print("  mobilityd warnings and notices: %d%s" % (
        len(warn), "".join("\n    " + x for x in warn[:3] + warn[-2:])))


def show(what, before, after, per=None):
    print("  %-34s RSS %7d KiB  threads %2d  fds %3d"
          % (what, after["rss"], after["threads"], after["fds"]))
    if per:
        print("  %-34s RSS +%d KiB = %.2f KiB per %s; threads %+d, fds %+d"
              % ("", after["rss"] - before["rss"],
                 (after["rss"] - before["rss"]) / per[0], per[1],
                 after["threads"] - before["threads"], after["fds"] - before["fds"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--store", help="store directory (e.g. on tmpfs, to "
                    "take the disk's sync latency out of the figures)")
    ap.add_argument("--restart", action="store_true",
                    help="kill -9 and start mobilityd after the idle "
                    "sessions; time until all are registered again")
    a = ap.parse_args()
    if not 1 <= a.devices <= 10:
        ap.error("--devices: 1 to 10 (mobilityd's applications per user)")

    nusers = (a.sessions + a.devices - 1) // a.devices
    users = ["u%05d" % i for i in range(nusers)]
    fe, m, ctx = bl.start(users + ["warm", "msg"], store=a.store)
    pid = m.proc.pid
    ok = False
    try:
        bl.banner(fe, m, a.store)

        # -- idle sessions --
        n, errors, dt = create_sessions(m, ctx, ["warm"], 1, 1)
        time.sleep(1)
        before = bl.proc_figures(pid)
        cpu0, fcpu0 = before["cpu"], bl.group_cpu(fe.pid)
        n, errors, dt = create_sessions(m, ctx, users, a.devices, a.threads)
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        time.sleep(2)  # the sign-in connections close
        after = bl.proc_figures(pid)
        met = bl.metrics(m)
        print("idle sessions: %d created in %.1f s (%.0f/s; token per user, "
              "then %d applications each), %d errors"
              % (n, dt, n / dt, a.devices, len(errors)))
        print("  CPU during creation: mobilityd %.1f s, Front End %.1f s"
              % (after["cpu"] - cpu0, fcpu))
        show("before (one warm-up session)", before, before)
        show("after %d idle sessions" % n, before, after, (n, "session"))
        for k in sorted(met):
            if k.startswith(("mobility_process", "mobility_http_conn",
                             "mobility_ucwa_app", "mobility_sip")):
                print("  metric %s %g" % (k, met[k]))
        if errors:
            print("  first error:", errors[0])

        # -- restart --
        if a.restart:
            restart(fe, m, n + 1)  # and the warm-up session
            pid = m.proc.pid
        if a.messages <= 0:
            ok = True
            return

        # -- messages --
        ms = Messenger(fe, m, ctx, "msg")
        for _ in range(20):
            ms.one()
        ms.finish()
        time.sleep(1)
        before = bl.proc_figures(pid)
        fcpu0 = bl.group_cpu(fe.pid)
        load0 = bl.loadavg()
        lat = []
        t0 = time.perf_counter()
        for _ in range(a.messages):
            lat.append(ms.one())
        dt = time.perf_counter() - t0
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        cpu = bl.proc_figures(pid)["cpu"] - before["cpu"]
        ms.finish()
        time.sleep(2)  # acknowledged events leave the store
        after = bl.proc_figures(pid)
        print("messages: %d MESSAGE -> parked GET in %.1f s; 200 OK for %d, "
              "other answers %r" % (len(lat), dt, ms.ok - 20, ms.other))
        print("  latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms"
              % tuple(1000 * bl.pct(lat, p) for p in (50, 90, 99, 100)))
        print("  CPU per message: mobilityd %.0f us, Front End %.0f us "
              "(load average %s -> %s)" % (1e6 * cpu / len(lat),
                                           1e6 * fcpu / len(lat), load0,
                                           bl.loadavg()))
        show("before (after 20 warm-up messages)", before, before)
        show("after %d acknowledged messages" % len(lat), before, after,
             (len(lat), "message"))
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


if __name__ == "__main__":
    main()
