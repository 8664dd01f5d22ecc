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
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
import api_bench  # noqa: E402
from frontend import Frontend  # noqa: E402
from pool import Pool  # noqa: E402


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


class PoolRun:
    """A Front End with the users and, per pool(), a tests/pylib/pool.py
    Pool (n instances on Redis with a replica and three Sentinels,
    HAProxy in front); everything stopped by its PID, the run directory
    removed unless something failed."""

    def __init__(self, users, shm_mb=512):
        self.dir = tempfile.mkdtemp(prefix="mobility-pool-bench-")
        os.environ["FE_SHM_MB"] = str(shm_mb)
        os.environ["FE_FEDERATED_PEER"] = bl.PEER_ADDR
        self.fe = Frontend(os.path.join(self.dir, "fe"))
        bl.add_users(self.fe, users)
        self.fe.start()
        self.pools = []
        self.ok = False

    def pool(self, n, balance="roundrobin", replicas=1, wait_replicas=1):
        """A started Pool of n instances. balance "token": HAProxy chooses
        the instance by a hash of the Authorization header (a token's
        requests all reach the instance its application was created on:
        affinity without cookies); "roundrobin": no affinity (the shipped
        configuration)."""
        p = Pool(os.path.join(self.dir, "pool%d" % len(self.pools)), self.fe,
                 n=n, replicas=replicas, wait_replicas=wait_replicas)
        self.pools.append(p)
        p.start()
        if balance == "token":
            h = p.haproxy
            h.stop()
            with open(h.cfg) as f:
                text = f.read()
            with open(h.cfg, "w") as f:
                f.write(text.replace("backend mobilityd\n\tbalance roundrobin",
                                     "backend mobilityd\n\tbalance "
                                     "hdr(Authorization)", 1))
            h.start()
            p.wait_up(range(n))
        return p

    def close(self):
        for p in self.pools:
            p.stop()
        self.fe.stop()
        if self.ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("logs kept in", self.dir)


def cmd_haproxy(a):
    """GET presence through HAProxy with 1, 2 and 3 instances."""
    if not shutil.which("wrk"):
        sys.exit("pool_bench: wrk is not installed")
    counts = [int(x) for x in a.instances.split(",")]
    users = ["h%d_%04d" % (n, k) for n in counts for k in range(a.users)]
    run = PoolRun(users)
    rows = []
    try:
        for n in counts:
            p = run.pool(n, a.balance)
            ctx = bl.client_context(p.ca)
            try:
                sessions = [bl.sign_in(p.https_port, ctx, "h%d_%04d" % (n, k))
                            for k in range(a.users)]
            except RuntimeError as e:
                # round robin with no forwarding: sign-in fails as soon as
                # a request reaches another instance than the owner
                print("%d instance(s): sign-in through HAProxy failed: %s"
                      % (n, e), flush=True)
                p.stop()
                continue
            # where each application lives, and what a GET through
            # HAProxy answers before the measurement
            held = [int(m.metric("mobility_applications"))
                    for m in p.instances]
            c = bl.Https(p.https_port, ctx)
            codes = {}
            for tok, href in sessions:
                for _ in range(n):
                    st = c.request("GET", href + "/me/presence", tok=tok)[0]
                    codes[st] = codes.get(st, 0) + 1
            c.close()
            script = os.path.join(run.dir, "presence-%d.lua" % n)
            api_bench.lua_script(script, types.SimpleNamespace(
                https_port=p.https_port), sessions)
            load0 = bl.loadavg()
            pids = [m.proc.pid for m in p.instances] + [p.haproxy.proc.pid]
            cpu0 = [bl.proc_figures(x)["cpu"] for x in pids]
            out = os.path.join(run.dir, "wrk-%d.txt" % n)
            w = subprocess.Popen(
                ["wrk", "-t%d" % a.wrk_threads, "-c%d" % a.connections,
                 "-d%ds" % a.duration, "--latency", "-s", script,
                 "https://127.0.0.1:%d/" % p.https_port],
                stdout=open(out, "w"), stderr=subprocess.STDOUT)
            wcpu = bl.wait_cpu(w, a.duration + 60)
            cpu = [bl.proc_figures(x)["cpu"] - c0 for x, c0 in zip(pids, cpu0)]
            with open(out) as f:
                text = f.read()
            fig = bl.wrk_figures(text)
            if not fig["requests"]:
                print(text)
            fig.update(n=n, held=held, codes=codes, cpu=cpu, wcpu=wcpu,
                       load="%s -> %s" % (load0, bl.loadavg()))
            rows.append(fig)
            print("%d instance(s): %.0f req/s, p50 %.3f ms, p99 %.3f ms, "
                  "non-2xx %d, errors %d; applications per instance %s; "
                  "a GET of each through HAProxy x%d before: %r; load %s"
                  % (n, fig["rps"], fig["p50"], fig["p99"], fig["non2xx"],
                     fig["errors"], held, n, codes, fig["load"]), flush=True)
            p.stop()
        print()
        print("GET .../me/presence through HAProxy (TLS at HAProxy, plain "
              "HTTP to the instances), balance %s, %d users per run, wrk "
              "-t%d -c%d -d%ds" % (a.balance, a.users, a.wrk_threads,
                                   a.connections, a.duration))
        print("| instances | req/s | p50 ms | p99 ms | non-2xx | errors | "
              "CPU s: instances / HAProxy / wrk | us of instance CPU per "
              "request | load avg |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            k = max(r["requests"], 1)
            print("| %d | %.0f | %.3f | %.3f | %d | %d | %s / %.2f / %.2f | "
                  "%.1f | %s |"
                  % (r["n"], r["rps"], r["p50"], r["p99"], r["non2xx"],
                     r["errors"], " + ".join("%.2f" % x for x in r["cpu"][:-1]),
                     r["cpu"][-1], r["wcpu"], 1e6 * sum(r["cpu"][:-1]) / k,
                     r["load"]))
        run.ok = True
    finally:
        run.close()


RELAYED = 'mobility_pool_forwarded_total{result="relayed"}'


def moved_messenger(fe, owner, other, user):
    """A session made on owner (its application, so its SIP side, is
    there) whose event channel is a keep-alive connection to other: the
    P-GET parks on other, which forwards it to owner."""
    ms = sb.Messenger(fe, owner, bl.client_context(owner.ca), user)
    ms.c.close()
    # its MESSAGEs' Call-IDs and branches apart from another Messenger's
    # of the same run (the same ones would be taken as retransmissions)
    ms.n = 1000000
    ms.c = bl.Https(other.https_port, bl.client_context(other.ca))
    # one request first: TLS 1.3 session tickets come after the
    # handshake and would look like an answer to park()'s select()
    st, _, body, _ = ms.c.request("GET", ms.next.split("/events")[0] + "/me",
                                  tok=ms.tok)
    if st != 200:
        raise RuntimeError("GET me on %s: %d %r" % (other.name, st, body[:200]))
    return ms


def cmd_cross_im(a):
    """MESSAGE in -> parked P-GET answered, the P-GET on the owner and on
    another instance, in the same run."""
    run = PoolRun(["local", "cross"])
    try:
        p = run.pool(2, replicas=a.replicas,
                     wait_replicas=1 if a.replicas else 0)
        own, other = p.instances
        print("instances %s (owner) and %s, Redis with %d replica(s); load "
              "average %s" % (own.name, other.name, a.replicas,
                              bl.loadavg()), flush=True)
        res = []
        for what, ms in (
                ("P-GET on the owner", sb.Messenger(
                    run.fe, own, bl.client_context(own.ca), "local")),
                ("P-GET on another instance",
                 moved_messenger(run.fe, own, other, "cross"))):
            f = im_bench.measure(what, run.fe, own, a.messages, ms.one)
            ms.finish()
            f["other_answers"] = dict(ms.other)
            res.append(f)
            print("  %s: done, load %s -> %s; requests relayed by %s so "
                  "far: %d" % (what, f["load0"], f["load1"], other.name,
                               other.metric(RELAYED)), flush=True)
        print()
        print("| MESSAGE -> parked P-GET | msgs | p50 ms | p90 ms | p99 ms | "
              "max ms | owner CPU/msg us | Front End us | commits/msg | "
              "load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for f in res:
            im_bench.row(f, f["lat"], f["what"])
            if f["other_answers"]:
                print("  MESSAGE answers other than 200: %r"
                      % f["other_answers"])
        run.ok = True
    finally:
        run.close()


def cmd_resume(a):
    """A phone moves: a MESSAGE arrives while it is away, then it opens a
    new TLS connection to another instance than the one it last used (and
    than the owner: the non-owners in turn) and asks for its events; from
    just before the connect() to the first bytes of the answer."""
    run = PoolRun(["mover"])
    try:
        p = run.pool(a.instances, replicas=a.replicas,
                     wait_replicas=1 if a.replicas else 0)
        ms = sb.Messenger(run.fe, p.instances[0], bl.client_context(
            p.instances[0].ca), "mover")
        ctxs = [bl.client_context(m.ca) for m in p.instances]
        lat = []
        load0 = bl.loadavg()
        t_end = time.time() + a.timeout
        for i in range(a.moves + 5):
            if time.time() > t_end:
                break
            # the message waits in the store while the phone is away
            ms.c.close()
            msg = sb.sip_message("mover", run.fe.domain, ms.port, ms.n)
            ms.n += 1
            ms.udp.sendto(msg, ("127.0.0.1", run.fe.udp_port))
            deadline = time.time() + 5
            while ms.ok + sum(ms.other.values()) < ms.n \
                    and time.time() < deadline:
                time.sleep(0.002)
                ms.drain_udp()
            # the phone comes back on the next instance along
            # (never the owner: between the others in turn)
            k = 1 + i % (a.instances - 1)
            m = p.instances[k]
            t0 = time.perf_counter()
            ms.c = bl.Https(m.https_port, ctxs[k])
            ms.ask()
            first = ms.wait(lambda e: e[0] in sb.MESSAGE_RELS)
            if i >= 5:  # warm-up left out
                lat.append(first - t0)
        ms.c.close()
        q = [1000 * bl.pct(lat, x) for x in (50, 90, 99, 100)]
        print("resume on another instance (%d instances, owner %s): %d moves, "
              "new TLS connection (full handshake) + GET events answered "
              "with the message that came meanwhile: p50 %.2f ms, p90 %.2f "
              "ms, p99 %.2f ms, max %.2f ms (goal p99 at most 50 ms); "
              "MESSAGEs answered 200: %d, other: %r; load average %s -> %s"
              % (a.instances, p.instances[0].name, len(lat), q[0], q[1],
                 q[2], q[3], ms.ok, ms.other, load0, bl.loadavg()))
        run.ok = True
    finally:
        run.close()


def cmd_takeover(a):
    """kill -9 of an instance owning --sessions sessions: the time until
    the survivors have taken them all over (their
    mobility_pool_takeovers_total) and the Front End has accepted as many
    REGISTERs again (registrar accepted_regs)."""
    nusers = (a.sessions + a.devices - 1) // a.devices
    users = ["t%06d" % k for k in range(nusers)]
    run = PoolRun(users, shm_mb=max(512, a.sessions // 100 + 112))
    try:
        p = run.pool(a.instances, replicas=a.replicas,
                     wait_replicas=1 if a.replicas else 0)
        victim = p.instances[0]
        n, errors, dt = sb.create_sessions(victim, bl.client_context(
            victim.ca), users, a.devices, a.threads)
        print("%d sessions on %s in %.1f s, %d errors%s; load average %s"
              % (n, victim.name, dt, len(errors),
                 " (first: %s)" % errors[0] if errors else "", bl.loadavg()),
              flush=True)
        time.sleep(3)  # the sign-in connections close, a lease renewal
        survivors = p.instances[1:]
        key = "mobility_pool_takeovers_total"
        took0 = sum(m.metric(key) for m in survivors)
        regs0 = sb.fe_stat(run.fe, "registrar:accepted_regs")
        load0 = bl.loadavg()
        t0 = time.perf_counter()
        p.kill(0)
        t_took = t_regs = None
        timeline, last = [], 0
        while time.perf_counter() - t0 < a.timeout:
            took = sum(m.metric(key) for m in survivors) - took0
            regs = sb.fe_stat(run.fe, "registrar:accepted_regs") - regs0
            now = time.perf_counter() - t0
            if t_took is None and took >= n:
                t_took = now
            if t_regs is None and regs >= n:
                t_regs = now
            if now - last >= 1:
                timeline.append("%.0fs:%d/%d" % (now, took, regs))
                last = now
            if t_took is not None and t_regs is not None:
                break
            time.sleep(0.05)
        per = [int(m.metric(key)) for m in survivors]
        contacts = sb.fe_stat(run.fe, "usrloc:location_contacts")
        fmt = (lambda t: "%.2f s" % t if t is not None
               else "not within %d s" % a.timeout)
        print("kill -9 of %s holding %d sessions (%d instances, Kamailio as "
              "the registrar): all taken over by the survivors after %s "
              "(%s each), the Front End accepted %d REGISTERs after %s "
              "(goal: lease time + 2 s = 12 s); location contacts %d; load "
              "average %s -> %s" % (victim.name, n, a.instances, fmt(t_took),
                                    per, n, fmt(t_regs), contacts, load0,
                                    bl.loadavg()))
        print("  seconds since the kill: taken over / REGISTERs accepted: "
              + " ".join(timeline))
        run.ok = True
    finally:
        run.close()


def cmd_capacity(a):
    """Three instances holding --sessions each, made directly on each
    instance (its own https listener), at once from --threads threads per
    instance."""
    nusers = (a.sessions + a.devices - 1) // a.devices
    users = [["c%d_%06d" % (i, k) for k in range(nusers)]
             for i in range(a.instances)]
    shm = a.fe_shm or max(512, a.instances * a.sessions // 100 + 112)
    t0 = time.perf_counter()
    run = PoolRun([u for us in users for u in us], shm_mb=shm)
    try:
        p = run.pool(a.instances, replicas=a.replicas,
                     wait_replicas=1 if a.replicas else 0)
        rs = p.redis.current_primary()
        used0, keys0 = redis_used(rs)
        rss0 = [bl.proc_figures(m.proc.pid)["rss"] for m in p.instances]
        print("Front End pid %s (shared memory %d MiB), instances %s, Redis "
              "primary %s with %d replica(s); setup %.1f s; load average %s"
              % (run.fe.pid, shm, [m.proc.pid for m in p.instances],
                 rs.address, a.replicas, time.perf_counter() - t0,
                 bl.loadavg()), flush=True)
        results = [None] * a.instances
        deadline = time.time() + a.timeout

        def make(i):
            m = p.instances[i]
            ctx = bl.client_context(m.ca)
            done = []

            def step(c, u):
                if time.time() > deadline:
                    raise RuntimeError("out of time")
                tok = bl.token(c, u)
                for d in range(a.devices):
                    bl.application(c, tok, d)
                    done.append(1)

            t = time.perf_counter()
            errs = bl.pool(m.https_port, ctx, users[i], a.threads, step)
            results[i] = (len(done), errs, time.perf_counter() - t)

        import threading
        load0 = bl.loadavg()
        ts = [threading.Thread(target=make, args=(i,))
              for i in range(a.instances)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        while any(th.is_alive() for th in ts):
            next(th for th in ts if th.is_alive()).join(10)
            print("  ... %.0f s: applications %s, load average %s"
                  % (time.perf_counter() - t,
                     [int(m.metric("mobility_applications"))
                      for m in p.instances], bl.loadavg()), flush=True)
        for th in ts:
            th.join()
        dt = time.perf_counter() - t
        time.sleep(3)  # the sign-in connections close
        used1, keys1 = redis_used(rs)
        total = 0
        made = sum(r[0] for r in results)
        print("created %d in %.1f s (%.0f/s), load average %s -> %s"
              % (made, dt, made / dt, load0, bl.loadavg()))
        print("| instance | sessions held | errors | RSS KiB | RSS per "
              "session KiB |")
        print("|---|---|---|---|---|")
        for i, m in enumerate(p.instances):
            held = int(m.metric("mobility_applications"))
            total += held
            rss = bl.proc_figures(m.proc.pid)["rss"]
            n, errs, _ = results[i]
            print("| %s | %d | %d | %d | %.2f |"
                  % (m.name, held, len(errs), rss,
                     (rss - rss0[i]) / max(held, 1)))
            if errs:
                print("  first error:", errs[0])
        contacts = sb.fe_stat(run.fe, "usrloc:location_contacts")
        print("total %d sessions; Front End location contacts %d; Redis "
              "used_memory %d -> %d (%.0f B per session), keys %d -> %d; "
              "redis-server RSS %d KiB; load average %s"
              % (total, contacts, used0, used1,
                 (used1 - used0) / max(total, 1), keys0, keys1,
                 bl.proc_figures(rs.proc.pid)["rss"], bl.loadavg()))
        run.ok = True
    finally:
        run.close()


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
    p = sub.add_parser("haproxy", help="GET presence through HAProxy, 1, 2 "
                       "and 3 instances")
    p.add_argument("--instances", default="1,2,3")
    p.add_argument("--balance", choices=("roundrobin", "token"),
                   default="roundrobin",
                   help="roundrobin: no affinity (needs forwarding with "
                   "more than one instance); token: by the Authorization "
                   "header")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--wrk-threads", type=int, default=2)
    p = sub.add_parser("capacity", help="sessions held by three instances")
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--sessions", type=int, default=100000,
                   help="per instance")
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--threads", type=int, default=8,
                   help="client threads per instance")
    p.add_argument("--replicas", type=int, default=1,
                   help="Redis replicas (0: none, no WAIT)")
    p.add_argument("--fe-shm", type=int, default=0)
    p.add_argument("--timeout", type=int, default=900,
                   help="stop making sessions after this many seconds")
    p = sub.add_parser("cross-im", help="MESSAGE -> P-GET parked on the "
                       "owner and on another instance")
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--replicas", type=int, default=1)
    p = sub.add_parser("resume", help="a phone moves to another instance: "
                       "until its first answered P-GET")
    p.add_argument("--instances", type=int, default=3,
                   help="2 or 3")
    p.add_argument("--moves", type=int, default=500)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--timeout", type=int, default=300)
    p = sub.add_parser("takeover", help="kill -9 of an instance owning "
                       "--sessions sessions")
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--sessions", type=int, default=10000)
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()
    {"single": cmd_single, "redis-memory": cmd_redis_memory,
     "haproxy": cmd_haproxy, "capacity": cmd_capacity,
     "cross-im": cmd_cross_im, "resume": cmd_resume,
     "takeover": cmd_takeover}[a.cmd](a)


if __name__ == "__main__":
    main()
