#!/usr/bin/env python3
"""Side by side with the Janus SIP gateway: Debian's janus (its SIP plugin
driven over its HTTP API) and mobilityd, on loopback, in the same run,
against the same Kamailio Front End. Prints figures; asserts nothing.

    bench/janus_bench.py [--users 500] [--mob-extra 0] [--threads 8]
                         [--messages 1000] [--store DIR]
                         [--session-timeout 60] [--timeout-check]

1. Registered users. Janus: for each user a session, a handle attached to
   janus.plugin.sip and a "register" request (username, secret, proxy =
   the Front End over UDP); done when the session's long poll brings the
   "registered" event. mobilityd: a token and an application (its
   REGISTER), as session_bench.py's idle sessions. --threads clients at a
   time for each, each on a keep-alive connection; the rate of new
   registrations, the CPU per registration, then (client connections
   closed) RSS, threads and descriptors per registered user.
   --mob-extra K adds K more mobilityd users after that (a larger N).
2. Messages: a peer (sip:peer@peer.test over UDP) sends SIP MESSAGEs to
   the Front End for one user of each, alternately. The latency of one
   runs from just before the sendto() to the first recv() bringing the
   answer of the client's parked HTTP request (Janus: GET
   /janus/<session>?maxev=1 answering the "message" event;
   mobilityd: the parked event GET), as session_bench.py measures it. RSS
   of both before and after (delivered and acknowledged), per message.
   A third MESSAGE each time goes to a UDP user of the Front End itself
   (no gateway): the Front End's own share of both figures, a floor.
3. --timeout-check (takes session_timeout + 30 s): both clients stop
   polling; messages are sent before and after Janus's session timeout;
   then both clients come back (Janus: a new session, registered again)
   and count what they are given.

Janus runs from bench/janus/*.jcfg (the settings and why are there and in
docs/benchmarks.md), in a temporary directory, on a free port of
127.0.0.1; it is stopped by its PID. Needs Debian's janus, Kamailio and
a built mobilityd (MOBILITYD, default build/bench/mobilityd)."""
import argparse
import faulthandler
import glob
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
import im_bench  # noqa: E402
import session_bench as sb  # noqa: E402
from ports import free_port  # noqa: E402

JANUS = os.environ.get("JANUS") or shutil.which("janus") or "/usr/bin/janus"
# Debian's multiarch folder (plugins/, transports/), or JANUS_LIB.
JANUS_LIB = os.environ.get("JANUS_LIB") or next(
    iter(glob.glob("/usr/lib/*/janus")), "/usr/lib/x86_64-linux-gnu/janus")
KEEPALIVE_EVERY = 15  # s at most; Janus drops a session silent for
# session_timeout, so a third of that when it is shorter
JANUS_OFFSET = 1000000
FLOOR_OFFSET = 2000000
# The SIP plugin's event for an incoming MESSAGE (1.1.2 names it "message";
# "messagedelivery" and "messagesent" are about MESSAGEs it sends).
INCOMING = "message"  # Janus's MESSAGEs get other Call-IDs and branches

_txn = itertools.count()


class JanusHttp(bl.Https):
    """One keep-alive plain-HTTP connection to Janus: benchlib's raw
    client without TLS (Janus's transport is plain HTTP here)."""

    def __init__(self, port):  # pylint: disable=super-init-not-called
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = "127.0.0.1:%d" % port
        self.buf = b""

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def read(self):
        """(status, headers, body, time the first bytes arrived), as
        benchlib's, and chunked bodies: Janus (libmicrohttpd) sends those."""
        first = time.perf_counter() if self.buf else None
        while b"\r\n\r\n" not in self.buf:
            self._more()
            if first is None:
                first = time.perf_counter()
        pos = self.buf.index(b"\r\n\r\n") + 4
        head = self.buf[:pos].decode("latin-1")
        if "transfer-encoding: chunked" not in head.lower():
            st, hdrs, body, _ = super().read()
            return st, hdrs, body, first
        body = b""
        while True:
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                self._more()
                continue
            n = int(self.buf[pos:eol].split(b";")[0], 16)
            if len(self.buf) < eol + 2 + n + 2:
                self._more()
                continue
            body += self.buf[eol + 2:eol + 2 + n]
            pos = eol + 2 + n + 2
            if n == 0:  # the last chunk; Janus sends no trailers
                break
        self.buf = self.buf[pos:]
        lines = head.strip().split("\r\n")
        hdrs = dict((k.strip().lower(), v.strip()) for k, _, v in
                    (line.partition(":") for line in lines[1:]))
        return int(lines[0].split()[1]), hdrs, body, first

    def api(self, path, janus, **kw):
        """A Janus API request; its JSON answer (an error raises)."""
        kw.update(janus=janus, transaction="t%d" % next(_txn))
        st, _, body, _ = self.request("POST", path, body=json.dumps(kw).encode())
        ans = json.loads(body) if body else {}
        if st != 200 or ans.get("janus") == "error":
            raise RuntimeError("janus %s %s: %d %r" % (janus, path, st, body[:200]))
        return ans

    def events(self, sid):
        """Answer of one long poll: a list of events."""
        st, _, body, first = self.read()
        if st != 200:
            raise RuntimeError("janus poll %d: %d %r" % (sid, st, body[:200]))
        ev = json.loads(body)
        return (ev if isinstance(ev, list) else [ev]), first


def sip_event(ev):
    """The SIP plugin's event name in a Janus event (or None)."""
    res = ev.get("plugindata", {}).get("data", {}).get("result", {})
    return res.get("event")


class Janus:
    """Debian's janus in a temporary directory from bench/janus/*.jcfg."""

    def __init__(self, session_timeout=60, debug_level=3):
        self.dir = tempfile.mkdtemp(prefix="janus-bench-")
        self.port = free_port()
        self.proc = None
        conf = os.path.join(self.dir, "conf")
        for sub in ("conf", "plugins", "transports", "events", "loggers"):
            os.makedirs(os.path.join(self.dir, sub))
        # only the SIP plugin and the HTTP transport get loaded
        os.symlink(os.path.join(JANUS_LIB, "plugins", "libjanus_sip.so"),
                   os.path.join(self.dir, "plugins", "libjanus_sip.so"))
        os.symlink(os.path.join(JANUS_LIB, "transports", "libjanus_http.so"),
                   os.path.join(self.dir, "transports", "libjanus_http.so"))
        values = {"@DIR@": self.dir, "@HTTP_PORT@": str(self.port),
                  "@SESSION_TIMEOUT@": str(session_timeout),
                  "@DEBUG_LEVEL@": str(debug_level)}
        for src in glob.glob(os.path.join(HERE, "janus", "*.jcfg")):
            with open(src) as f:
                text = f.read()
            for k, v in values.items():
                text = text.replace(k, v)
            with open(os.path.join(conf, os.path.basename(src)), "w") as f:
                f.write(text)
        self.conf = os.path.join(conf, "janus.jcfg")
        self.log = os.path.join(self.dir, "janus.log")

    def start(self, timeout=20):
        out = open(os.path.join(self.dir, "janus.out"), "w")
        self.proc = subprocess.Popen(
            [JANUS, "-C", self.conf, "-F", os.path.dirname(self.conf)],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
        out.close()
        deadline = time.time() + timeout
        while True:
            try:
                c = JanusHttp(self.port)
                st, _, body, _ = c.request("GET", "/janus/info")
                c.close()
                if st == 200:
                    return json.loads(body)
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop(keep=True)
                raise RuntimeError("janus did not start; see " + self.dir)
            time.sleep(0.1)

    def stop(self, keep=False):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if keep:
            print("janus files kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class JanusUser:
    """A Janus session with a SIP handle, registered as `user`."""

    def __init__(self, c, fe, user):
        self.sid = c.api("/janus", "create")["data"]["id"]
        self.hid = c.api("/janus/%d" % self.sid, "attach",
                         plugin="janus.plugin.sip")["data"]["id"]
        c.api("/janus/%d/%d" % (self.sid, self.hid), "message", body={
            "request": "register",
            "username": "sip:%s@%s" % (user, fe.domain),
            "secret": bl.password(user),
            "proxy": "sip:127.0.0.1:%d" % fe.udp_port})
        self.events = []  # what came with and after "registered"
        while True:
            c.send("GET", "/janus/%d?maxev=10" % self.sid)
            evs, _ = c.events(self.sid)
            for i, ev in enumerate(evs):
                name = sip_event(ev)
                if name == "registered":
                    self.events = evs[i:]
                    return
                if name == "registration_failed":
                    raise RuntimeError("%s: %r" % (user, ev))


class Keepalive(threading.Thread):
    """Keeps Janus sessions alive (a keepalive request each, every
    KEEPALIVE_EVERY s or a third of the session timeout, on one
    connection): the benchmark's users are registered but their clients
    do not poll."""

    def __init__(self, port, session_timeout):
        super().__init__(daemon=True)
        self.port, self.sids = port, []
        self.every = (min(KEEPALIVE_EVERY, session_timeout / 3)
                      if session_timeout > 0 else KEEPALIVE_EVERY)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.errors = 0

    def add(self, sid):
        with self.lock:
            self.sids.append(sid)

    def run(self):
        c = JanusHttp(self.port)
        while not self.done.wait(self.every):
            with self.lock:
                sids = list(self.sids)
            for sid in sids:
                try:
                    c.api("/janus/%d" % sid, "keepalive")
                except (RuntimeError, OSError):
                    self.errors += 1
                    c.close()
                    c = JanusHttp(self.port)
        c.close()


def janus_register(jan, fe, users, threads, keep):
    """Register every user with Janus; (sessions, errors, seconds)."""
    done = []

    def step(c, u):
        j = JanusUser(c, fe, u)
        keep.add(j.sid)
        done.append(j)

    t0 = time.perf_counter()
    errors = bl.pool(jan.port, None, users, threads, step,
                     connect=lambda: JanusHttp(jan.port))
    return done, errors, time.perf_counter() - t0


class JanusMessenger:
    """session_bench.Messenger's counterpart for Janus: one registered
    user whose session's long poll is parked on a keep-alive connection,
    and the peer's UDP socket."""

    def __init__(self, jan, fe, user):
        self.jan, self.fe, self.user = jan, fe, user
        self.c = JanusHttp(jan.port)
        self.j = JanusUser(self.c, fe, user)
        self.poll = "/janus/%d?maxev=1" % self.j.sid
        self.udp, self.port = bl.udp_peer()
        self.n = JANUS_OFFSET
        self.ok = 0
        self.other = {}
        self.parked = False

    def _answer(self):
        evs, first = self.c.events(self.j.sid)
        self.parked = False
        return sum(1 for e in evs if sip_event(e) == INCOMING), first

    def park(self):
        """Send the long poll; drain answers given at once (events that
        came before) until one stays parked for PARK_WAIT."""
        while True:
            if not self.parked:
                self.c.send("GET", self.poll)
                self.parked = True
            r, _, _ = select.select([self.c.s], [], [], sb.PARK_WAIT)
            if not r:
                return
            self._answer()

    drain_udp = sb.Messenger.drain_udp

    def send(self):
        msg = sb.sip_message(self.user, self.fe.domain, self.port, self.n)
        self.n += 1
        self.udp.sendto(msg, ("127.0.0.1", self.fe.udp_port))

    def one(self):
        self.park()
        t0 = time.perf_counter()
        self.send()
        msgs, first = self._answer()
        while not msgs:  # a keepalive event came first: poll on
            self.c.send("GET", self.poll)
            self.parked = True
            msgs, first = self._answer()
        self.drain_udp()
        return first - t0

    def finish(self):
        """Park the next poll and collect the MESSAGEs' answers."""
        self.park()
        deadline = time.time() + 5
        while (self.ok + sum(self.other.values()) < self.n - JANUS_OFFSET
               and time.time() < deadline):
            time.sleep(0.01)
            self.drain_udp()


class FloorMessenger:
    """No gateway: a user of the Front End registered over UDP by the
    benchmark itself receives the MESSAGE. From the peer's sendto() to
    that user's recv() is the part of either gateway's figure that is the
    Front End's forwarding and this client's own timing: a floor no
    gateway behind this Front End can go under."""

    def __init__(self, fe, user):
        self.fe, self.user = fe, user
        self.peer = im_bench.UdpPeer(fe, user)
        self.peer.register()
        self.udp, self.port = bl.udp_peer()
        self.n = FLOOR_OFFSET
        self.ok = 0
        self.other = {}

    drain_udp = sb.Messenger.drain_udp

    def one(self):
        msg = sb.sip_message(self.user, self.fe.domain, self.port, self.n)
        self.n += 1
        t0 = time.perf_counter()
        self.udp.sendto(msg, ("127.0.0.1", self.fe.udp_port))
        t, _ = self.peer.recv_message()
        self.drain_udp()
        return t - t0

    def close(self):
        self.peer.close()
        self.udp.close()


def per_user(before, after, n):
    return {"rss": (after["rss"] - before["rss"]) / n,
            "threads": (after["threads"] - before["threads"]) / n,
            "fds": (after["fds"] - before["fds"]) / n}


def table(rows):
    """rows: (figure, janus, mobilityd, format, way) -> a Markdown table
    with the ratio taken the way the goals read: Janus over mobilityd for
    costs ("j/m": memory, latency, CPU), mobilityd over Janus for rates
    ("m/j"); "-" when the divisor is 0."""
    print("| figure | Janus | mobilityd | ratio | as |")
    print("|---|---|---|---|---|")
    for name, j, m, fmt, way in rows:
        num, den = (j, m) if way == "j/m" else (m, j)
        r = "%.2f" % (num / den) if den else "-"
        print("| %s | %s | %s | %s | %s |" % (
            name, fmt % j, fmt % m, r,
            "Janus/mobilityd" if way == "j/m" else "mobilityd/Janus"))


def contents(evs):
    """The bodies of the incoming MESSAGEs among Janus events."""
    return [e["plugindata"]["data"]["result"].get("content", "")
            for e in evs if sip_event(e) == INCOMING]


def timeout_check(jan, fe, jm, mm, session_timeout, count=5):
    """Both clients stop polling; `count` MESSAGEs each before Janus's
    session timeout and `count` after; then both come back and count
    what they are given, the Janus client by the messages' bodies."""
    print("timeout check: both clients stop polling now; Janus "
          "session_timeout %d s" % session_timeout, flush=True)
    # one more message each, so that no request is left parked: an event
    # handed to a poll on a closed connection would be lost for that
    # reason alone
    jm.one()
    mm.one()
    time.sleep(0.5)  # their 200 OKs to the peer, before the count starts
    jm.drain_udp()
    mm.drain_udp()
    jm.c.close()
    mm.c.close()
    t0 = time.time()
    rss0 = bl.proc_figures(jan.proc.pid)["rss"]
    bursts = []

    def burst(when):
        time.sleep(max(0, t0 + when - time.time()))
        first = jm.n
        jm.ok = mm.ok = 0
        jm.other, mm.other = {}, {}
        for _ in range(count):
            jm.send()
            mm.udp.sendto(sb.sip_message(mm.user, fe.domain, mm.port, mm.n),
                          ("127.0.0.1", fe.udp_port))
            mm.n += 1
        time.sleep(2)
        jm.drain_udp()
        mm.drain_udp()
        bursts.append(set("bench message %d" % i for i in range(first, jm.n)))
        print("  +%d s: %d MESSAGEs to each; answers to the peer: Janus user "
              "200 x%d %r (Front End bindings: %d), mobilityd user 200 x%d %r"
              % (when, count, jm.ok, jm.other, len(fe.registrations(jm.user)),
                 mm.ok, mm.other), flush=True)

    burst(5)
    burst(session_timeout + 20)
    # what the session's messages held, once the session is gone
    print("  Janus RSS %d KiB when the client stopped polling, %d KiB after "
          "its session timed out" % (rss0, bl.proc_figures(jan.proc.pid)["rss"]))
    # the Janus client comes back: its session, then a new one
    c = JanusHttp(jan.port)
    c.send("GET", "/janus/%d?maxev=10" % jm.j.sid)
    st, _, body, _ = c.read()
    print("  +%.0f s: the Janus client polls its session again: %d %s"
          % (time.time() - t0, st, body[:100].decode(errors="replace")))
    seen = []
    if st == 200:
        ans = json.loads(body)
        seen += contents(ans if isinstance(ans, list) else [ans])
    j2 = JanusUser(c, fe, jm.user)
    seen += contents(j2.events)
    end = time.time() + 5
    while time.time() < end:
        c.send("GET", "/janus/%d?maxev=10" % j2.sid)
        r, _, _ = select.select([c.s], [], [], end - time.time())
        if not r:
            break
        seen += contents(c.events(j2.sid)[0])
    c.close()
    # the mobilityd client comes back: its application's next link
    mm.c = bl.Https(mm.mob.https_port, mm.ctx)
    seen_m = 0
    while True:
        mm.c.send("GET", mm.next, tok=mm.tok)
        r, _, _ = select.select([mm.c.s], [], [], 2)
        if not r and not mm.c.s.pending():
            break
        seen_m += mm._answer()[0]
    mm.c.close()
    print("  the Janus client, in a new session registered again, was given "
          "%d of the %d sent before its session timed out and %d of the %d "
          "sent after; the mobilityd client, polling its application "
          "again, %d of all %d"
          % (len(bursts[0] & set(seen)), count, len(bursts[1] & set(seen)),
             count, seen_m, 2 * count))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=500,
                    help="registered users of each (Janus: a session, a "
                    "SIP handle and its threads each)")
    ap.add_argument("--mob-extra", type=int, default=0,
                    help="then this many more mobilityd users (larger N)")
    ap.add_argument("--threads", type=int, default=8,
                    help="registrations in parallel, for each")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--store", help="mobilityd's store directory (e.g. "
                    "/dev/shm: Janus keeps nothing on disk)")
    ap.add_argument("--session-timeout", type=int, default=60,
                    help="Janus's session_timeout (its default: 60 s)")
    ap.add_argument("--timeout-check", action="store_true",
                    help="what happens after Janus's session timeout "
                    "(session_timeout + 30 s more)")
    a = ap.parse_args()
    if a.timeout_check and a.session_timeout <= 0:
        ap.error("--timeout-check needs a session timeout (0 disables it)")
    # a SIGTERM (timeout, CTest) stops what was started, as an error does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    faulthandler.register(signal.SIGUSR1)  # kill -USR1: where it waits

    jusers = ["j%05d" % i for i in range(a.users)]
    musers = ["m%05d" % i for i in range(a.users + a.mob_extra)]
    load0 = open("/proc/loadavg").read().split()[:3]
    fe, m, ctx = bl.start(jusers + musers + ["jwarm", "mwarm", "jmsg", "mmsg",
                                            "fmsg"],
                          store=a.store)
    jan = Janus(session_timeout=a.session_timeout)
    keep = Keepalive(jan.port, a.session_timeout)
    ok = False
    try:
        info = jan.start()
        keep.start()
        bl.banner(fe, m, a.store)
        print("janus %s pid %d on 127.0.0.1:%d, plugins %s, transports %s, "
              "session_timeout %d s" % (
                  info.get("version_string"), jan.proc.pid, jan.port,
                  ",".join(info.get("plugins", {})),
                  ",".join(info.get("transports", {})), a.session_timeout),
              flush=True)
        jpid, mpid = jan.proc.pid, m.proc.pid

        # -- registered users: mobilityd, then Janus --
        sb.create_sessions(m, ctx, ["mwarm"], 1, 1)
        c = JanusHttp(jan.port)
        keep.add(JanusUser(c, fe, "jwarm").sid)
        c.close()
        time.sleep(1)
        mb, jb = bl.proc_figures(mpid), bl.proc_figures(jpid)
        fcpu0 = bl.group_cpu(fe.pid)
        n_m, err_m, dt_m = sb.create_sessions(m, ctx, musers[:a.users], 1,
                                              a.threads)
        fcpu_m = bl.group_cpu(fe.pid) - fcpu0
        mcpu = bl.proc_figures(mpid)["cpu"] - mb["cpu"]
        fcpu0 = bl.group_cpu(fe.pid)
        js, err_j, dt_j = janus_register(jan, fe, jusers, a.threads, keep)
        n_j = len(js)
        fcpu_j = bl.group_cpu(fe.pid) - fcpu0
        jcpu = bl.proc_figures(jpid)["cpu"] - jb["cpu"]
        time.sleep(2)  # the clients' connections close
        ma, ja = bl.proc_figures(mpid), bl.proc_figures(jpid)
        pm, pj = per_user(mb, ma, max(n_m, 1)), per_user(jb, ja, max(n_j, 1))
        print("registered users: Janus %d in %.1f s (%d errors), mobilityd "
              "%d in %.1f s (%d errors), %d at a time; load average %s"
              % (n_j, dt_j, len(err_j), n_m, dt_m, len(err_m), a.threads,
                 bl.loadavg()))
        for e in (err_j[:1] + err_m[:1]):
            print("  first error:", e)
        for name, b, af in (("Janus", jb, ja), ("mobilityd", mb, ma)):
            print("  %-9s RSS %7d -> %7d KiB, threads %3d -> %4d, fds %3d "
                  "-> %4d" % (name, b["rss"], af["rss"], b["threads"],
                              af["threads"], b["fds"], af["fds"]))
        extra = None
        if a.mob_extra:
            n_x, err_x, dt_x = sb.create_sessions(m, ctx, musers[a.users:], 1,
                                                  a.threads)
            time.sleep(2)
            mx = bl.proc_figures(mpid)
            extra = per_user(mb, mx, n_m + n_x)
            print("  mobilityd with %d more users (%d errors, %.0f/s): RSS "
                  "%d KiB, threads %d, fds %d: %.2f KiB, %.4f threads, "
                  "%.4f fds per user over all %d"
                  % (n_x, len(err_x), n_x / dt_x, mx["rss"], mx["threads"],
                     mx["fds"], extra["rss"], extra["threads"], extra["fds"],
                     n_m + n_x))

        # -- messages, alternately --
        jm = JanusMessenger(jan, fe, "jmsg")
        mm = sb.Messenger(fe, m, ctx, "mmsg")
        mm.mob, mm.ctx = m, ctx
        fm = FloorMessenger(fe, "fmsg")
        for _ in range(20):
            jm.one()
            mm.one()
            fm.one()
        jm.finish()
        mm.finish()
        time.sleep(1)
        mb2, jb2 = bl.proc_figures(mpid), bl.proc_figures(jpid)
        fcpu0 = bl.group_cpu(fe.pid)
        lat_j, lat_m, lat_f = [], [], []
        t0 = time.perf_counter()
        for _ in range(a.messages):
            lat_j.append(jm.one())
            lat_m.append(mm.one())
            lat_f.append(fm.one())
        dt = time.perf_counter() - t0
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        jcpu_msg = bl.proc_figures(jpid)["cpu"] - jb2["cpu"]
        mcpu_msg = bl.proc_figures(mpid)["cpu"] - mb2["cpu"]
        jm.finish()
        mm.finish()
        time.sleep(2)  # acknowledged events leave mobilityd's store
        ma2, ja2 = bl.proc_figures(mpid), bl.proc_figures(jpid)
        nmsg = max(len(lat_j), 1)
        print("messages: %d to each, alternately, in %.1f s; 200 OK: Janus "
              "user %d %r, mobilityd user %d %r; load average %s"
              % (a.messages, dt, jm.ok - 20, jm.other, mm.ok - 20, mm.other,
                 bl.loadavg()))
        for name, b, af in (("Janus", jb2, ja2), ("mobilityd", mb2, ma2)):
            print("  %-9s RSS %7d -> %7d KiB over the messages"
                  % (name, b["rss"], af["rss"]))
        print("  Front End CPU per message (all three kinds): %.0f us"
              % (1e6 * fcpu / (3 * nmsg)))
        print("  Front End alone (its UDP user receives the MESSAGE): p50 "
              "%.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms; 200 OK %d %r"
              % tuple([1000 * bl.pct(lat_f, q) for q in (50, 90, 99, 100)]
                      + [fm.ok, fm.other]))
        fm.close()

        ms = lambda v, p: 1000 * bl.pct(v, p)  # noqa: E731
        rows = [
            ("registered users", n_j, n_m, "%d", "m/j"),
            ("RSS per registered user (KiB)", pj["rss"], pm["rss"], "%.2f", "j/m"),
            ("threads per registered user", pj["threads"], pm["threads"],
             "%.3f", "j/m"),
            ("fds per registered user", pj["fds"], pm["fds"], "%.3f", "j/m"),
            ("new registrations per second", n_j / dt_j, n_m / dt_m, "%.1f",
             "m/j"),
            ("CPU per registration (ms)", 1000 * jcpu / max(n_j, 1),
             1000 * mcpu / max(n_m, 1), "%.2f", "j/m"),
            ("Front End CPU per registration (ms)", 1000 * fcpu_j / max(n_j, 1),
             1000 * fcpu_m / max(n_m, 1), "%.2f", "j/m"),
            ("MESSAGE -> long poll p50 (ms)", ms(lat_j, 50), ms(lat_m, 50),
             "%.3f", "j/m"),
            ("MESSAGE -> long poll p90 (ms)", ms(lat_j, 90), ms(lat_m, 90),
             "%.3f", "j/m"),
            ("MESSAGE -> long poll p99 (ms)", ms(lat_j, 99), ms(lat_m, 99),
             "%.3f", "j/m"),
            ("MESSAGE -> long poll max (ms)", ms(lat_j, 100), ms(lat_m, 100),
             "%.3f", "j/m"),
            ("CPU per message (us)", 1e6 * jcpu_msg / nmsg,
             1e6 * mcpu_msg / nmsg, "%.0f", "j/m"),
            ("RSS kept per message (KiB)", (ja2["rss"] - jb2["rss"]) / nmsg,
             (ma2["rss"] - mb2["rss"]) / nmsg, "%.3f", "j/m"),
        ]
        print("load average before %s, after %s (1, 5, 15 min)"
              % (" ".join(load0), " ".join(open("/proc/loadavg").read().split()[:3])))
        table(rows)
        if extra:
            print("(mobilityd at %d users: %.2f KiB, %.4f threads, %.4f fds "
                  "per user)" % (n_m + n_x, extra["rss"], extra["threads"],
                                 extra["fds"]))

        if a.timeout_check:
            timeout_check(jan, fe, jm, mm, a.session_timeout)
        if keep.errors:
            print("Janus keepalive requests that failed: %d" % keep.errors)
        ok = True
    finally:
        keep.done.set()
        jan.stop(keep=not ok)
        bl.stop(fe, m, keep=not ok)


if __name__ == "__main__":
    main()
