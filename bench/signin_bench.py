#!/usr/bin/env python3
"""Full sign-ins per second: token (checked by the Front End with a
REGISTER) + application (REGISTER of the device) against a real mobilityd
and the project's Kamailio Front End, on loopback. Prints figures;
asserts nothing.

    bench/signin_bench.py [--users 500] [--devices 2] [--procs 2]
                          [--threads 8] [--store DIR] [--keepalive]

Every sign-in opens its own TLS connection (what a phone does) unless
--keepalive, which reuses one connection per client thread and so leaves
the TLS handshakes out. The client runs in --procs processes of
--threads threads each (one Python process is held to one CPU by its
GIL and was near that limit at 400 sign-ins/s). Besides the rate and the latency of
each step it prints the CPU time mobilityd and the Front End spent per
sign-in: on a shared machine the rate moves with other load, the CPU
per sign-in much less.

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd) and Kamailio (usrloc db_mode 2: registrations in
memory, written back by a timer)."""
import argparse
import multiprocessing
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def client(port, ca, work, threads, keepalive, out):
    """One client process: sign in every (user, device) of work; puts
    (latencies, errors, CPU seconds) on out."""
    lat = []

    def step(c, item):
        t0 = time.perf_counter()
        tok = bl.token(c, item[0])
        t1 = time.perf_counter()
        bl.application(c, tok, item[1])
        t2 = time.perf_counter()
        lat.append((t2 - t0, t1 - t0, t2 - t1))

    errors = bl.pool(port, bl.client_context(ca), work, threads, step,
                     keepalive)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.put((lat, errors, ru.ru_utime + ru.ru_stime))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--keepalive", action="store_true",
                    help="one connection per client thread (no TLS "
                    "handshake per sign-in)")
    ap.add_argument("--store", help="store directory (e.g. on tmpfs, to "
                    "take the disk's sync latency out of the figure)")
    a = ap.parse_args()

    users = ["u%05d" % i for i in range(a.users)]
    fe, m, _ = bl.start(users, store=a.store)
    ok = False
    try:
        work = [(u, dev) for dev in range(a.devices) for u in users]
        shares = [work[i::a.procs] for i in range(a.procs)]
        out = multiprocessing.Queue()
        cpu0 = bl.proc_figures(m.proc.pid)["cpu"]
        fcpu0 = bl.group_cpu(fe.pid)
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
        cpu = bl.proc_figures(m.proc.pid)["cpu"] - cpu0
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        lat = [x for r in res for x in r[0]]
        errors = [x for r in res for x in r[1]]
        n = len(lat)
        print("sign-ins (token + application + REGISTER): %d in %.2f s = %.0f/s, "
              "%d errors; %d client processes x %d threads, %s"
              % (n, dt, n / dt, len(errors), a.procs, a.threads,
                 "keep-alive connections" if a.keepalive
                 else "a new TLS connection per sign-in"))
        for i, what in enumerate(("sign-in", "token", "application")):
            v = [x[i] for x in lat]
            print("latency per %-11s p50 %.1f ms, p90 %.1f ms, p99 %.1f ms"
                  % (what + ":", 1000 * bl.pct(v, 50), 1000 * bl.pct(v, 90),
                     1000 * bl.pct(v, 99)))
        if n:
            print("CPU per sign-in: mobilityd %.2f ms, Front End %.2f ms, "
                  "client %.2f ms (load average %s)"
                  % (1000 * cpu / n, 1000 * fcpu / n,
                     1000 * sum(r[2] for r in res) / n, bl.loadavg()))
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
        ok = True
    finally:
        bl.stop(fe, m, keep=not ok)


if __name__ == "__main__":
    main()
