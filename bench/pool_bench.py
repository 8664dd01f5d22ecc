#!/usr/bin/env python3
"""Pool benchmarks (issue 13): one subcommand per figure, each bounded in
count and time, against real mobilityd instances, the project's Kamailio
Front End and redis-server on loopback. Prints figures; asserts nothing.

    bench/pool_bench.py single [--users 5000] [--devices 2] [--threads 16]
                               [--duration 10] [--messages 2000]
                               [--sessions 1000] [--store DIR]
    bench/pool_bench.py redis-memory [--sessions 10000] [--devices 10]
                                     [--threads 16] [--instance NAME]

single        sign-ins per second and IM latency (SIP MESSAGE in -> the
              app's parked event GET answered) on LMDB and then on Redis,
              one instance each, in the same run: the sign-ins with
              bench/signin_bench.py's C client (a new TLS connection each,
              full handshake) for --duration seconds or --users x
              --devices sign-ins, then --sessions idle applications, then
              --messages MESSAGEs measured as bench/im_bench.py does ("in").
redis-memory  Redis memory per idle signed-in session: INFO memory
              (used_memory) and DBSIZE after one warm-up session and after
              --sessions applications (token, application with its
              REGISTER, makeMeAvailable), on a redis-server of the run's
              own with the shipped configuration; with --instance NAME the
              instance runs in pool mode ([store] redis_instance), so its
              lease is in Redis too.

Each run prints the load average before and after: the machine is shared
with other work. Needs a built mobilityd (MOBILITYD, default
build/rel/mobilityd, else as bench/benchlib.py finds it), Kamailio and
redis-server."""
import argparse
import os
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
_rel = os.path.join(HERE, "..", "build", "rel", "mobilityd")
if "MOBILITYD" not in os.environ and os.path.exists(_rel):
    os.environ["MOBILITYD"] = _rel
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
import im_bench  # noqa: E402
import session_bench as sb  # noqa: E402
import signin_bench  # noqa: E402


def run_single(a, backend):
    """One backend: its row of figures (sign-ins, then IM latency)."""
    users = ["u%05d" % i for i in range(a.users)]
    idle = ["i%05d" % i for i in range((a.sessions + 9) // 10)]
    redis = backend == "redis"
    load0 = bl.loadavg()
    fe, m, ctx = bl.start(users + idle + ["msg"], store=a.store, redis=redis)
    ok = False
    try:
        bl.banner(fe, m, a.store)
        cpu0 = bl.proc_figures(m.proc.pid)["cpu"]
        sa = types.SimpleNamespace(threads=a.threads, users=a.users,
                                   devices=a.devices, duration=a.duration,
                                   keepalive=False, resume=False)
        n, dt, fig, errors, _, _ = signin_bench.c_client(sa, m)
        cpu = bl.proc_figures(m.proc.pid)["cpu"] - cpu0
        print("  %s: %d sign-ins in %.2f s = %.0f/s, %d errors, p50 %s ms, "
              "p99 %s ms, mobilityd CPU %.3f ms per sign-in; load %s"
              % (backend, n, dt, n / dt if dt else 0, len(errors),
                 fig.get("p50"), fig.get("p99"), 1000 * cpu / max(n, 1),
                 bl.loadavg()), flush=True)
        if errors:
            print("  first error:", errors[0])
        if a.sessions:
            k, err, sdt = sb.create_sessions(m, ctx, idle, 10, 8)
            print("  %s: %d idle applications more in %.1f s, %d errors"
                  % (backend, k, sdt, len(err)), flush=True)
        ms = sb.Messenger(fe, m, ctx, "msg")
        f = im_bench.measure("in", fe, m, a.messages, ms.one)
        ms.finish()
        other = dict(ms.other)
        ok = True
        return {"backend": backend, "signins": n, "secs": dt,
                "rate": n / dt if dt else 0, "errors": len(errors),
                "sp50": fig.get("p50"), "sp99": fig.get("p99"),
                "scpu": 1000 * cpu / max(n, 1), "im": f, "other": other,
                "load": "%s -> %s" % (load0, bl.loadavg())}
    finally:
        bl.stop(fe, m, keep=not ok)


def cmd_single(a):
    rows = [run_single(a, b) for b in ("lmdb", "redis")]
    print()
    print("| backend | sign-ins/s | sign-in p50 / p99 ms | mobilityd CPU "
          "per sign-in ms | MESSAGE -> parked GET p50 / p90 / p99 / max ms "
          "| messages | commits/msg | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = r["im"]["lat"]
        q = [1000 * bl.pct(lat, p) for p in (50, 90, 99, 100)]
        print("| %s | %.0f (%d in %.1f s, %d errors) | %s / %s | %.3f | "
              "%.3f / %.3f / %.3f / %.3f | %d | %.2f | %s |"
              % (r["backend"], r["rate"], r["signins"], r["secs"],
                 r["errors"], r["sp50"], r["sp99"], r["scpu"], q[0], q[1],
                 q[2], q[3], r["im"]["n"], r["im"]["commits"], r["load"]))
        if r["other"]:
            print("  %s: MESSAGE answers other than 200: %r"
                  % (r["backend"], r["other"]))


def redis_used(rs):
    """used_memory (bytes) and DBSIZE of a RedisServer."""
    info = rs.cli("INFO", "memory")
    used = int(next(x for x in info.splitlines()
                    if x.startswith("used_memory:")).split(":")[1])
    return used, int(rs.cli("DBSIZE"))


def cmd_redis_memory(a):
    nusers = (a.sessions + a.devices - 1) // a.devices
    users = ["u%05d" % i for i in range(nusers)]
    extra = {"store": ["redis_instance = " + a.instance]} if a.instance else None
    load0 = bl.loadavg()
    fe, m, ctx = bl.start(users + ["warm"], redis=True, extra=extra)
    rs = m.bench_redis
    ok = False

    def available(c, tok, app, user):
        st, _, body, _ = c.request("POST", app + "/me/makeMeAvailable",
                                   body=b"{}", tok=tok)
        if st not in (200, 204):
            raise RuntimeError("makeMeAvailable: %d %r" % (st, body[:200]))

    try:
        bl.banner(fe, m, None)
        sb.create_sessions(m, ctx, ["warm"], 1, 1, each=available)
        time.sleep(1)
        used0, keys0 = redis_used(rs)
        n, errors, dt = sb.create_sessions(m, ctx, users, a.devices,
                                           a.threads, each=available)
        time.sleep(2)  # the last writes and the sign-in connections close
        used1, keys1 = redis_used(rs)
        held = m.metric("mobility_applications")
        print("%d sessions signed in (token, application, makeMeAvailable) "
              "in %.1f s (%.0f/s), %d errors; mobilityd holds %d "
              "applications" % (n, dt, n / dt, len(errors), held))
        if errors:
            print("  first error:", errors[0])
        print("Redis used_memory %d -> %d bytes (+%d), keys %d -> %d "
              "(%.2f per session)" % (used0, used1, used1 - used0, keys0,
                                      keys1, (keys1 - keys0) / max(n, 1)))
        kinds = {}
        for k in rs.keys("*"):
            # mob:{SID}:s and the like (the id may be binary)
            # (binary ids split across lines are left out)
            if k.startswith("mob:{") and "}:" in k:
                kind = "mob:{SID}:" + k.rpartition("}:")[2]
            elif k.startswith("mob:"):
                kind = k[:k.index(":", 4) + 1] if ":" in k[4:] else k
            else:
                continue
            kinds[kind] = kinds.get(kind, 0) + 1
        print("  keys by kind: " + ", ".join(
            "%s %d" % kv for kv in sorted(kinds.items())))
        print("Redis memory per idle signed-in session: %.0f B (goal at "
              "most 2048 B)%s; load average %s -> %s"
              % ((used1 - used0) / max(n, 1),
                 ", pool mode (redis_instance = %s)" % a.instance
                 if a.instance else "", load0, bl.loadavg()))
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("single", help="sign-ins/s and IM latency, LMDB and "
                       "Redis, one instance each")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--sessions", type=int, default=1000,
                   help="idle applications before the messages")
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--store", help="store directory (LMDB's, and Redis's "
                   "AOF), e.g. /dev/shm")
    p = sub.add_parser("redis-memory", help="Redis memory per idle session")
    p.add_argument("--sessions", type=int, default=10000)
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--instance", help="[store] redis_instance (pool mode)")
    a = ap.parse_args()
    {"single": cmd_single, "redis-memory": cmd_redis_memory}[a.cmd](a)


if __name__ == "__main__":
    main()
