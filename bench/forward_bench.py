#!/usr/bin/env python3
"""What forwarding to the owner costs (docs/pool.md "Forwarding"): two
mobilityd of a pool on one Redis (redis_instance mob-a and mob-b, each
the other's trusted proxy) in front of the project's Kamailio, on
loopback. One session signed in on A (A owns it). Prints a table;
asserts nothing.

    bench/forward_bench.py [--gets 1000] [--messages 300]

  GET presence   GET me/presence on one keep-alive HTTPS connection, one
                 at a time: to A (served in A's memory) and to B
                 (forwarded to A over HTTP/1.1, answer relayed). From the
                 request's send() to the first bytes of the answer.
  IM in          a peer sends a SIP MESSAGE over UDP to the Front End,
                 which routes it to A; the app's event GET is parked on A
                 (local) or on B (forwarded to A, the answer relayed).
                 From just before sendto() to the first bytes of the
                 P-GET's answer (session_bench.py's Messenger).

Needs a built mobilityd (MOBILITYD, default build/test/mobilityd),
Kamailio and redis-server."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import session_bench as sb  # noqa: E402
from mobility import Mobilityd  # noqa: E402


def pool_conf(name):
    return {"store": ["redis_instance = " + name,
                      "redis_instance_url = http://127.0.0.1:HTTP_PORT"],
            "http": ["trusted_proxy = 127.0.0.1", "behind_tls_proxy = yes"]}


def fix_port(m):
    """The URL names the instance's own plain port, known once made."""
    with open(m.conf_path) as f:
        text = f.read()
    if "redis_instance_url" not in text:
        text = text.replace("redis_instance = mob-a\n", "redis_instance = mob-a\n"
                            "redis_instance_url = http://127.0.0.1:HTTP_PORT\n")
    with open(m.conf_path, "w") as f:
        f.write(text.replace("HTTP_PORT", str(m.http_port)))


def second(fe, a, name):
    """Instance B: the same Redis, its own directory and name."""
    extra = pool_conf(name)
    extra["store"] = a.bench_redis.store_conf() + extra["store"]
    b = Mobilityd(os.path.join(a.bench_dir, name), fe=fe, extra=extra,
                  limits={"max_connections_per_address": 50000,
                          "max_connections": 50000})
    fix_port(b)
    b.start(timeout=60)
    return b


def gets(port, ctx, tok, href, n):
    c = bl.Https(port, ctx)
    out = []
    try:
        for i in range(n + 20):
            t0 = time.perf_counter()
            st, _, body, first = c.request("GET", href + "/me/presence", tok=tok)
            if st != 200:
                raise RuntimeError("GET presence: %d %r" % (st, body[:200]))
            if i >= 20:  # warm-up left out
                out.append(first - t0)
    finally:
        c.close()
    return out


def ims(fe, msgr, port, ctx, n):
    """n messages to the app's P-GET parked on the instance at port."""
    msgr.c.close()
    msgr.c = bl.Https(port, ctx)
    # a first answer on the new connection: the TLS session tickets that
    # follow the handshake would look like an answer to park()
    msgr.c.request("GET", msgr.next.rsplit("/events", 1)[0] + "/me/presence",
                   tok=msgr.tok)
    out = []
    for i in range(n + 10):
        d = msgr.one()
        if i >= 10:
            out.append(d)
    return out


def row(what, v):
    ms = [x * 1e3 for x in v]
    print("%-34s %6d %8.3f %8.3f %8.3f %8.3f" % (
        what, len(ms), bl.pct(ms, 50), bl.pct(ms, 90), bl.pct(ms, 99), max(ms)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gets", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=300)
    args = ap.parse_args()

    extra = pool_conf("mob-a")
    extra["store"] = extra["store"][:1]
    fe, a, ctx = bl.start(["u0"], redis=True, extra=extra, shm_mb=256)
    b = None
    try:
        # A was started before its URL was written: again, with it
        a.stop()
        fix_port(a)
        a.start(timeout=60)
        b = second(fe, a, "mob-b")
        ctx_b = bl.client_context(b.ca)  # each instance has its own CA
        msgr = sb.Messenger(fe, a, ctx, "u0")
        sid = msgr.next.split("/")[-2]
        owner = a.bench_redis.cli("GET", "mob:{%s}:o" % sid)
        if not owner.endswith(" mob-a"):
            raise RuntimeError("the session is not owned by mob-a (%r): "
                               "acquire at sign-in is needed" % owner)
        href = msgr.next.rsplit("/events", 1)[0]
        st, _, body, _ = msgr.c.request("POST", href + "/me/makeMeAvailable",
                                        body=b"{}", tok=msgr.tok)
        if st not in (200, 204):
            raise RuntimeError("makeMeAvailable: %d %r" % (st, body[:200]))
        print("load average before: %s" % bl.loadavg())
        print("%-34s %6s %8s %8s %8s %8s" % ("ms", "n", "p50", "p90", "p99", "max"))
        row("GET presence, local (A)", gets(a.https_port, ctx, msgr.tok, href, args.gets))
        row("GET presence, forwarded (B -> A)",
            gets(b.https_port, ctx_b, msgr.tok, href, args.gets))
        row("IM in, P-GET on A (local)", ims(fe, msgr, a.https_port, ctx, args.messages))
        row("IM in, P-GET on B (forwarded)", ims(fe, msgr, b.https_port, ctx_b, args.messages))
        msgr.finish()
        print("MESSAGEs answered 200: %d of %d, other: %r" % (msgr.ok, msgr.n, msgr.other))
        print("load average after: %s" % bl.loadavg())
    finally:
        if b and b.proc:
            b.stop()
        bl.stop(fe, a)


if __name__ == "__main__":
    main()
