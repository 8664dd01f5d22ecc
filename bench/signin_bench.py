#!/usr/bin/env python3
"""Full sign-ins per second: token (checked by the Front End with a
REGISTER) + application (REGISTER of the device) against a real mobilityd
and the project's Kamailio Front End, on loopback. Prints figures;
asserts nothing.

    bench/signin_bench.py [--users 500] [--devices 2] [--procs 2]
                          [--threads 8] [--store DIR] [--redis] [--keepalive]
    bench/signin_bench.py --client c [--users 5000] [--devices 2]
                          [--threads 16] [--duration 10] [--store DIR] [--redis]
                          [--keepalive | --resume]

Every sign-in opens its own TLS connection with a full handshake (what a
phone does when it first signs in) unless --keepalive, which reuses one
connection per client thread and so leaves the TLS handshakes out, or
--resume (C client), where each new connection resumes the TLS session
of its thread's previous one (a session ticket, as a phone coming back
does).

The Python client runs in --procs processes of --threads threads each
(one Python process is held to one CPU by its GIL and was near that
limit at 400 sign-ins/s; its TLS handshakes cost more CPU than
mobilityd's). --client c runs bench/signin_client.c instead (built
here with cc): --threads threads with blocking I/O, a few microseconds
of CPU per request, stopping after --users x --devices sign-ins or
--duration seconds. Besides the rate and the latencies it prints the
CPU time mobilityd and the Front End spent per sign-in: on a shared
machine the rate moves with other load, the CPU per sign-in much less.
Keep --threads below 20: mobilityd takes at most 20 password checks in
flight from one client address (the rest are answered 429, a guard
against password guessing), and every client here is 127.0.0.1.

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd) and Kamailio (usrloc db_mode 2: registrations in
memory, written back by a timer)."""
import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def client(port, ca, work, threads, keepalive, out):
    """One client process: sign in every (user, device) of work; puts
    (latencies, errors, CPU seconds) on out."""
    lat = []
    ctx = bl.client_context(ca)

    def step(c, item):
        t0 = time.perf_counter()
        tok = bl.token(c, item[0])
        t1 = time.perf_counter()
        bl.application(c, tok, item[1])
        t2 = time.perf_counter()
        lat.append((t2 - t0, t1 - t0, t2 - t1))

    errors = bl.pool(port, ctx, work, threads, step, keepalive)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.put((lat, errors, ru.ru_utime + ru.ru_stime))


def python_client(a, m):
    """Sign-ins from --procs Python processes; returns (sign-ins,
    seconds, latencies, errors, client CPU seconds, 0)."""
    users = ["u%05d" % i for i in range(a.users)]
    work = [(u, dev) for dev in range(a.devices) for u in users]
    shares = [work[i::a.procs] for i in range(a.procs)]
    out = multiprocessing.Queue()
    t0 = time.perf_counter()
    ps = [multiprocessing.Process(target=client, args=(
        m.https_port, m.ca, share, a.threads, a.keepalive, out))
        for share in shares]
    for p in ps:
        p.start()
    res = [out.get(timeout=600) for _ in ps]
    dt = time.perf_counter() - t0
    for p in ps:
        p.join()
    lat = [x for r in res for x in r[0]]
    return (len(lat), dt, lat, [x for r in res for x in r[1]],
            sum(r[2] for r in res), 0)


def c_client(a, m):
    """Sign-ins from bench/signin_client.c (built here) for at most
    --duration seconds; returns (sign-ins, seconds, its figures, errors,
    its CPU seconds, sign-ins answered 200)."""
    exe = os.path.join(m.bench_dir, "signin_client")
    subprocess.run(["cc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                    os.path.join(bl.HERE, "signin_client.c"), "-o", exe,
                    "-lssl", "-lcrypto", "-lpthread"], check=True)
    mode = "keep" if a.keepalive else "resume" if a.resume else "full"
    out = subprocess.run(
        [exe, str(m.https_port), "%s:%d" % (bl.EXT_FQDN, m.https_port),
         m.ca, str(a.threads), str(a.users), str(a.devices),
         str(a.duration), mode], capture_output=True, text=True,
        timeout=a.duration + 120)
    fig = {}
    for line in out.stdout.splitlines():
        k, _, v = line.partition(" ")
        fig[k] = v
    if out.returncode or "signins" not in fig:
        raise RuntimeError("signin_client failed:\n" + out.stdout +
                           out.stderr)
    n = int(fig["signins"])
    errors = (["%s errors, the first: %s" % (fig["errors"],
                                             fig.get("first_error"))]
              if int(fig["errors"]) else [])
    return (n, float(fig["seconds"]), fig, errors, float(fig["cpu"]),
            int(fig["again"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=("python", "c"), default="python")
    ap.add_argument("--users", type=int, default=None,
                    help="users (500; with the C client 5000)")
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--procs", type=int, default=2,
                    help="Python client processes")
    ap.add_argument("--threads", type=int, default=None,
                    help="client threads (per process: 8; C client: 16)")
    ap.add_argument("--duration", type=int, default=10,
                    help="C client: stop after this many seconds")
    ap.add_argument("--keepalive", action="store_true",
                    help="one connection per client thread (no TLS "
                    "handshake per sign-in)")
    ap.add_argument("--resume", action="store_true",
                    help="C client: each new connection resumes the TLS "
                    "session of the thread's previous one")
    bl.profile_args(ap, "during the sign-ins", "sign-in")
    ap.add_argument("--store", help="store directory (e.g. on tmpfs, to "
                    "take the disk's sync latency out of the figure)")
    ap.add_argument("--redis", action="store_true",
                    help="the Redis store backend, on a redis-server of the "
                    "run's own (deploy/redis/redis.conf; under --store if "
                    "given)")
    a = ap.parse_args()
    cc = a.client == "c"
    if a.users is None:
        a.users = 5000 if cc else 500
    if a.threads is None:
        a.threads = 16 if cc else 8
    if a.resume and (not cc or a.keepalive):
        sys.exit("signin_bench: --resume is for the C client, without "
                 "--keepalive")

    users = ["u%05d" % i for i in range(a.users)]
    load0 = bl.loadavg()
    if a.callgrind:
        bl.callgrind(a.callgrind)
    fe, m, _ = bl.start(users, store=a.store, redis=a.redis)
    ok = False
    try:
        cpu0 = bl.proc_figures(m.proc.pid)["cpu"]
        fcpu0 = bl.group_cpu(fe.pid)
        perf = bl.perf_start(m.proc.pid, a.perf) if a.perf else None
        if a.callgrind:
            bl.callgrind_collect(m.proc.pid, True)
        n, dt, lat, errors, ccpu, again = (c_client if cc
                                           else python_client)(a, m)
        if a.callgrind:
            bl.callgrind_collect(m.proc.pid, False)
        bl.perf_stop(perf)
        cpu = bl.proc_figures(m.proc.pid)["cpu"] - cpu0
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        conns = ("keep-alive connections" if a.keepalive else
                 "a new TLS connection per sign-in, %s"
                 % ("resumed" if a.resume else "full handshake"))
        if a.resume:
            conns += " (%s of them resumed)" % lat["resumed"]
        who = ("the C client, %d threads" % a.threads if cc else
               "%d Python client processes x %d threads" % (a.procs,
                                                            a.threads))
        print("sign-ins (token + application + REGISTER): %d in %.2f s = "
              "%.0f/s, %d errors; %s, %s"
              % (n, dt, n / dt if dt else 0, len(errors), who, conns))
        if cc:
            print("latency per sign-in: p50 %s ms, p90 %s ms, p99 %s ms"
                  % (lat.get("p50"), lat.get("p90"), lat.get("p99")))
            if again:
                print("warning: %d devices signed in again (answered 200, "
                      "not counted)" % again)
        else:
            for i, what in enumerate(("sign-in", "token", "application")):
                v = [x[i] for x in lat]
                print("latency per %-11s p50 %.1f ms, p90 %.1f ms, "
                      "p99 %.1f ms"
                      % (what + ":", 1000 * bl.pct(v, 50),
                         1000 * bl.pct(v, 90), 1000 * bl.pct(v, 99)))
        if n:
            print("CPU per sign-in: mobilityd %.3f ms, Front End %.3f ms, "
                  "client %.3f ms; mobilityd used %.2f s of CPU in %.2f s"
                  % (1000 * cpu / n, 1000 * fcpu / n, 1000 * ccpu / n, cpu,
                     dt))
        print("load average %s before, %s after" % (load0, bl.loadavg()))
        met = bl.metrics(m)
        commits = met.get("mobility_store_commits_total", 0)
        if commits:
            print("store: %d writes in %d commits (%.1f per commit), "
                  "%.1f ms per commit on average"
                  % (met.get("mobility_store_writes_total", 0), commits,
                     met.get("mobility_store_writes_total", 0) / commits,
                     met.get("mobility_store_commit_latency_us_total", 0)
                     / commits / 1000))
        print("mobilityd RSS with %d applications: %d KiB"
              % (n, bl.proc_figures(m.proc.pid)["rss"]))
        if errors:
            print("first error:", errors[0])
        if a.callgrind and n:
            pid = m.proc.pid
            m.stop()
            print("instructions per sign-in (callgrind, mobilityd, all "
                  "threads): %.0f" % (bl.callgrind_total(a.callgrind, pid)
                                      / n))
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


if __name__ == "__main__":
    main()
