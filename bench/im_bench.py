#!/usr/bin/env python3
"""Instant message latency in both directions, against a real mobilityd
and the project's Kamailio Front End on loopback. Prints a table;
asserts nothing.

    bench/im_bench.py [--sessions 100] [--messages 3000] [--direction both]
                      [--store DIR] [--redis | --redis-replica]
                      [--callgrind FILE]

  in   a peer sends a SIP MESSAGE over UDP to the Front End, which routes
       it over its flow to mobilityd; mobilityd stores it and answers the
       app's parked event GET. From just before the peer's sendto() to the
       return of the app's first recv() of that answer (session_bench.py's
       Messenger, one message per batch, each acknowledged by the next GET).
  out  the app POSTs a message (text/plain) into a conversation with a
       user of the Front End registered over UDP by this benchmark; the
       Front End routes mobilityd's SIP MESSAGE to it. From just before
       the POST's send() to the return of the peer's recv() of the
       MESSAGE (which it answers 200 at once); also, from the same start,
       to the app's recv() of the answer of its parked event GET that
       says the message was delivered ("completed", Success).

Both timestamps of a figure are taken in this one Python thread around
the two system calls: the interpreter adds tens of microseconds. Before
the measured messages, --sessions idle applications (10 per user) make
the service hold some state, and 20 warm-up messages go each way. Per
direction: p50/p90/p99/max, the CPU that mobilityd and the Front End (all
its processes) spent per message, the store's commits per message (from
mobilityd's /metrics) and the load average before and after.

--callgrind FILE runs mobilityd under valgrind's callgrind (files
FILE.PID) and prints the instructions it executed per measured message
(warm-up left out; with --direction both, over both directions): a
figure the machine's load does not move. About 50 times slower: use
small counts (--sessions 200 --messages 200).

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd) and Kamailio."""
import argparse
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import session_bench as sb  # noqa: E402
from frontend import digest_authorization  # noqa: E402

PEER_USER = "rcv"  # the Front End user who receives the app's messages
WARMUP = 20


class UdpPeer:
    """A user of the Front End on a UDP socket: registers with a digest,
    then receives MESSAGEs and answers each 200 at once."""

    def __init__(self, fe, user):
        self.fe, self.user = fe, user
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))  # kept for the whole run
        self.port = self.s.getsockname()[1]
        self.s.settimeout(10)
        self.fe_addr = ("127.0.0.1", fe.udp_port)
        self.cseq = 0

    def _register(self, auth=None):
        self.cseq += 1
        d = self.fe.domain
        h = ["REGISTER sip:%s SIP/2.0" % d,
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-reg-%d;rport"
             % (self.port, self.cseq),
             "Max-Forwards: 70",
             "From: <sip:%s@%s>;tag=reg" % (self.user, d),
             "To: <sip:%s@%s>" % (self.user, d),
             "Call-ID: reg-%s-%d@127.0.0.1" % (self.user, self.port),
             "CSeq: %d REGISTER" % self.cseq,
             "Contact: <sip:%s@127.0.0.1:%d>" % (self.user, self.port),
             "Expires: 600"]
        if auth:
            h.append("Authorization: " + auth)
        h.append("Content-Length: 0")
        self.s.sendto(("\r\n".join(h) + "\r\n\r\n").encode(), self.fe_addr)
        while True:
            data = self.s.recv(65536)
            if data.startswith(b"SIP/2.0") and b"REGISTER" in data:
                return data.decode("utf-8", "replace")

    def register(self):
        ans = self._register()
        if ans.split(" ", 2)[1] == "401":
            ch = re.search(r"(?im)^WWW-Authenticate:\s*(.*)$", ans).group(1)
            ans = self._register(digest_authorization(
                "REGISTER", "sip:" + self.fe.domain, self.user, ch.strip(),
                password=bl.password(self.user)))
        if ans.split(" ", 2)[1] != "200":
            raise RuntimeError("REGISTER of %s: %s" % (self.user,
                                                       ans.splitlines()[0]))

    def recv_message(self):
        """Wait for a MESSAGE; answer it 200; (time of the recv, text)."""
        while True:
            data = self.s.recv(65536)
            t = time.perf_counter()
            if data.startswith(b"MESSAGE "):
                break
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        keep = [x for x in lines[1:] if re.match(
            r"(?i)(via|v|from|f|call-id|i|cseq|to|t)\s*:", x)]
        ans = ["SIP/2.0 200 OK"]
        for x in keep:
            if re.match(r"(?i)(to|t)\s*:", x) and ";tag=" not in x:
                x += ";tag=peer"
            ans.append(x)
        ans.append("Content-Length: 0")
        self.s.sendto(("\r\n".join(ans) + "\r\n\r\n").encode(), self.fe_addr)
        return t, body.decode("utf-8", "replace")

    def close(self):
        self.s.close()


class Sender:
    """The app side of "out": a conversation with the peer, its event
    channel on one keep-alive connection, POSTs on another."""

    def __init__(self, fe, m, ctx, user, peer):
        self.peer = peer
        self.c = bl.Https(m.https_port, ctx)  # POSTs
        self.tok = bl.token(self.c, user)
        app = bl.application(self.c, self.tok, 0)
        self.ev = sb.Events(bl.Https(m.https_port, ctx), self.tok, app)
        st, _, body, _ = self.c.request(
            "POST", app + "/me/makeMeAvailable", body=b"{}", tok=self.tok)
        if st != 204:
            raise RuntimeError("makeMeAvailable: %d %r" % (st, body[:200]))
        st, _, body, _ = self.c.request(
            "POST", app + "/communication/messagingInvitations",
            tok=self.tok, body=json.dumps({
                "to": "sip:%s@%s" % (peer.user, fe.domain),
                "operationId": "bench", "message": "first"}).encode())
        if st != 201:
            raise RuntimeError("messagingInvitation: %d %r" % (st, body[:200]))
        peer.recv_message()
        conv = []
        self.ev.ask()
        self.ev.wait(lambda e: e[0] == "conversation" and not conv.append(e[3]))
        self.path = conv[0] + "/messaging/messages"
        self.n = 0

    def one(self):
        """One message: (seconds to the peer's recv, to the app's event)."""
        self.ev.park()
        self.n += 1
        body = ("bench out %d" % self.n).encode()
        t0 = time.perf_counter()
        self.c.send("POST", self.path, body=body, ctype="text/plain",
                    tok=self.tok)
        t1, text = self.peer.recv_message()
        st, _, rb, _ = self.c.read()
        if st != 201:
            raise RuntimeError("message: %d %r" % (st, rb[:200]))
        if text != body.decode():
            raise RuntimeError("the peer got %r for %r" % (text, body))
        # the app is told the message was delivered (something else may
        # come first: wait on)
        t2 = self.ev.wait(lambda e: e[:3] == ("message", "completed", "Success"))
        return t1 - t0, t2 - t0


def measure(what, fe, m, n, one, cg=False):
    """Run one() n times after the warm-up; figures as a dict. cg: count
    instructions (callgrind) during the n only."""
    for _ in range(WARMUP):
        one()
    time.sleep(0.5)
    if cg:
        bl.callgrind_collect(m.proc.pid, True)
    load0 = bl.loadavg()
    cpu0 = bl.proc_figures(m.proc.pid)["cpu"]
    fcpu0 = bl.group_cpu(fe.pid)
    com0 = bl.metrics(m).get("mobility_store_commits_total", 0)
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        lat.append(one())
    dt = time.perf_counter() - t0
    if cg:
        bl.callgrind_collect(m.proc.pid, False)
    cpu = bl.proc_figures(m.proc.pid)["cpu"] - cpu0
    fcpu = bl.group_cpu(fe.pid) - fcpu0
    com = bl.metrics(m).get("mobility_store_commits_total", 0) - com0
    return {"what": what, "n": n, "lat": lat, "secs": dt, "cpu": cpu / n,
            "fcpu": fcpu / n, "commits": com / n, "load0": load0,
            "load1": bl.loadavg()}


def row(f, lat, label):
    q = [1000 * bl.pct(lat, p) for p in (50, 90, 99, 100)]
    print("| %-22s | %6d | %6.3f | %6.3f | %6.3f | %7.3f | %5.0f | %5.0f "
          "| %4.2f | %s -> %s |"
          % (label, f["n"], q[0], q[1], q[2], q[3], 1e6 * f["cpu"],
             1e6 * f["fcpu"], f["commits"], f["load0"], f["load1"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100,
                    help="idle applications besides the measured ones")
    ap.add_argument("--messages", type=int, default=3000,
                    help="measured messages per direction")
    ap.add_argument("--direction", choices=("in", "out", "both"),
                    default="both")
    ap.add_argument("--store", help="store directory (e.g. /dev/shm, to "
                    "take the disk's sync latency out of the figures)")
    ap.add_argument("--redis", action="store_true",
                    help="the Redis store backend, on a redis-server of the "
                    "run's own (deploy/redis/redis.conf; under --store if "
                    "given)")
    ap.add_argument("--redis-replica", action="store_true",
                    help="as --redis, with a replica (deploy/redis/"
                    "replica.conf) and redis_wait_replicas = 1")
    ap.add_argument("--callgrind", metavar="FILE",
                    help="run mobilityd under callgrind (files FILE.PID) "
                    "and print the instructions it executed per measured "
                    "message (use small counts: about 50 times slower)")
    a = ap.parse_args()
    if a.callgrind:
        bl.callgrind(a.callgrind)

    nusers = (a.sessions + 9) // 10
    users = ["u%05d" % i for i in range(nusers)]
    fe, m, ctx = bl.start(users + ["msg", "snd", PEER_USER], store=a.store, redis=a.redis,
                          redis_replica=a.redis_replica)
    ok = False
    peer = None
    pid = m.proc.pid
    try:
        bl.banner(fe, m, a.store)
        if a.sessions:
            n, errors, dt = sb.create_sessions(m, ctx, users, 10, 8)
            print("idle sessions: %d in %.1f s, %d errors"
                  % (n, dt, len(errors)), flush=True)
        res = []
        if a.direction in ("in", "both"):
            ms = sb.Messenger(fe, m, ctx, "msg")
            res.append(measure("in", fe, m, a.messages, ms.one,
                               bool(a.callgrind)))
            ms.finish()
            if ms.other:
                print("  MESSAGE answers other than 200: %r" % ms.other)
        if a.direction in ("out", "both"):
            peer = UdpPeer(fe, PEER_USER)
            peer.register()
            snd = Sender(fe, m, ctx, "snd", peer)
            res.append(measure("out", fe, m, a.messages, snd.one,
                               bool(a.callgrind)))
        print()
        print("| direction              | msgs   | p50 ms | p90 ms | p99 ms "
              "| max ms  | CPU/msg mobilityd us | Front End us | commits/msg "
              "| load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for f in res:
            if f["what"] == "in":
                row(f, f["lat"], "MESSAGE -> parked GET")
            else:
                row(f, [x[0] for x in f["lat"]], "POST -> peer MESSAGE")
                row(f, [x[1] for x in f["lat"]], "POST -> Success event")
        ok = True
    finally:
        if peer:
            peer.close()
        bl.stop(fe, m, keep=not ok)
    if ok and a.callgrind:
        n = sum(f["n"] for f in res)
        print("instructions per message (callgrind, mobilityd, all "
              "threads, %s): %.0f" % (a.direction,
                                      bl.callgrind_total(a.callgrind, pid)
                                      / n))


if __name__ == "__main__":
    main()
