#!/usr/bin/env python3
"""API throughput: wrk sending authenticated keep-alive
GET .../applications/<id>/me/presence over HTTPS to a real mobilityd
signed in to the project's Kamailio Front End, on one core (one
instance pinned to a CPU, wrk on the other) and on two cores (two
instances, one per CPU, each with its own store and its own signed-in
users, one wrk per instance). Prints figures; asserts nothing.

    bench/api_bench.py [--duration 10] [--connections 50] [--users 20]
                       [--cores 1,2] [--server-cpu 1] [--client-cpu 0]
                       [--perf FILE] [--callgrind FILE]

Each user signs in (token, application, makeMeAvailable) before the
runs; wrk's Lua script sends the users' GETs in turn (each request
carries its user's bearer token), over --connections keep-alive TLS
connections per instance. Besides wrk's req/s, latency percentiles and
errors it prints the CPU each side used: wrk runs on the same two CPUs
as the instances (with two cores it is not pinned at all), so the CPU
per request of mobilityd is the figure that moves least with the load.

--perf FILE records mobilityd (perf record, cpu-clock) during the
one-core run into FILE; --callgrind FILE runs mobilityd under callgrind
and prints the instructions per request of the one-core run (a figure
that other load does not move, for comparing builds).

Needs wrk, a built mobilityd (MOBILITYD, default build/bench/mobilityd
or build/test/mobilityd) and Kamailio."""
import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

LUA = """-- one prebuilt request per signed-in user, sent in turn
local reqs = {
%s
}
local i = 0
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
"""


def lua_script(path, m, sessions):
    """The wrk script: GET presence of each session with its token."""
    host = "%s:%d" % (bl.EXT_FQDN, m.https_port)
    reqs = []
    for tok, href in sessions:
        reqs.append('  "GET %s/me/presence HTTP/1.1\\r\\nHost: %s\\r\\n'
                    'Accept: application/json\\r\\n'
                    'Authorization: Bearer %s\\r\\n\\r\\n",'
                    % (href, host, tok))
    with open(path, "w") as f:
        f.write(LUA % "\n".join(reqs))


def start_wrk(a, m, script, out, cpu=None):
    cmd = ["wrk", "-t1", "-c%d" % a.connections, "-d%ds" % a.duration,
           "--latency", "-s", script, "https://127.0.0.1:%d/" % m.https_port]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    return subprocess.Popen(cmd, stdout=open(out, "w"),
                            stderr=subprocess.STDOUT)


def run(a, mobs, scripts, cpus_wrk, tag):
    """One measurement: a wrk per instance at once. Returns the rows."""
    load0 = bl.loadavg()
    cpu0 = [bl.proc_figures(m.proc.pid)["cpu"] for m in mobs]
    outs = [os.path.join(mobs[0].bench_dir, "wrk-%s-%d.txt" % (tag, i))
            for i in range(len(mobs))]
    perf = (bl.perf_start(mobs[0].proc.pid, a.perf)
            if a.perf and tag == "1core" else None)
    if a.callgrind and tag == "1core":
        bl.callgrind_collect(mobs[0].proc.pid, True)
    t0 = time.perf_counter()
    ws = [start_wrk(a, m, s, o, c)
          for m, s, o, c in zip(mobs, scripts, outs, cpus_wrk)]
    wcpu = [bl.wait_cpu(w, a.duration + 60) for w in ws]
    wall = time.perf_counter() - t0
    bl.perf_stop(perf)
    if a.callgrind and tag == "1core":
        bl.callgrind_collect(mobs[0].proc.pid, False)
    cpu = [bl.proc_figures(m.proc.pid)["cpu"] - c0
           for m, c0 in zip(mobs, cpu0)]
    rows = []
    for i, o in enumerate(outs):
        with open(o) as f:
            text = f.read()
        fig = bl.wrk_figures(text)
        if not fig["requests"]:
            print(text)
        fig.update(cpu=cpu[i], wcpu=wcpu[i], wall=wall)
        rows.append(fig)
    return rows, load0, bl.loadavg()


def print_rows(title, rows, where, load0, load1):
    print("\n== %s; %s; load average %s before, %s after"
          % (title, where, load0, load1))
    print("%-10s %10s %10s %9s %9s %9s %8s %7s %12s %12s"
          % ("instance", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms",
             "non-2xx", "errors", "mob us/req", "wrk us/req"))
    tot = {"requests": 0, "rps": 0.0, "non2xx": 0, "errors": 0, "cpu": 0.0,
           "wcpu": 0.0}
    for i, r in enumerate(rows):
        n = max(r["requests"], 1)
        print("%-10s %10d %10.0f %9.3f %9.3f %9.3f %8d %7d %12.1f %12.1f"
              % (i + 1, r["requests"], r["rps"], r["p50"], r["p90"],
                 r["p99"], r["non2xx"], r["errors"], 1e6 * r["cpu"] / n,
                 1e6 * r["wcpu"] / n))
        for k in tot:
            tot[k] += r[k]
    n = max(tot["requests"], 1)
    if len(rows) > 1:
        print("%-10s %10d %10.0f %9s %9s %9s %8d %7d %12.1f %12.1f"
              % ("total", tot["requests"], tot["rps"], "", "", "",
                 tot["non2xx"], tot["errors"], 1e6 * tot["cpu"] / n,
                 1e6 * tot["wcpu"] / n))
    wall = rows[0]["wall"]
    print("CPU used over %.1f s: mobilityd %s s, wrk %s s"
          % (wall, " + ".join("%.2f" % r["cpu"] for r in rows),
             " + ".join("%.2f" % r["wcpu"] for r in rows)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50,
                    help="wrk keep-alive connections per instance")
    ap.add_argument("--users", type=int, default=20,
                    help="signed-in users per instance")
    ap.add_argument("--cores", default="1,2",
                    help="which runs: 1 (one instance), 2 (two)")
    ap.add_argument("--server-cpu", type=int, default=1,
                    help="CPU of the instance in the one-core run")
    ap.add_argument("--client-cpu", type=int, default=0,
                    help="CPU of wrk in the one-core run")
    bl.profile_args(ap, "during the one-core run", "request")
    a = ap.parse_args()
    cores = [int(x) for x in a.cores.split(",")]
    if not shutil.which("wrk"):
        sys.exit("api_bench: wrk is not installed")

    users = [["i%du%04d" % (i, k) for k in range(a.users)] for i in (1, 2)]
    if a.callgrind:
        bl.callgrind(a.callgrind)
    fe, m1, _ = bl.start(users[0] + users[1])
    mobs = [m1]
    ok = False
    try:
        if 2 in cores:
            mobs.append(bl.instance(fe, m1, "mob2"))
        scripts = []
        for i, m in enumerate(mobs):
            ctx = bl.client_context(m.ca)  # each instance has its own CA
            sessions = [bl.sign_in(m.https_port, ctx, u) for u in users[i]]
            st, _, body, _ = bl.Https(m.https_port, ctx).request(
                "GET", sessions[0][1] + "/me/presence", tok=sessions[0][0])
            if st != 200:
                raise RuntimeError("GET presence: %d %r" % (st, body[:200]))
            scripts.append(os.path.join(m1.bench_dir, "presence-%d.lua" % i))
            lua_script(scripts[-1], m, sessions)
        print("mobilityd %s, %d users signed in per instance, wrk -t1 -c%d "
              "-d%ds per instance, GET .../me/presence over HTTPS keep-alive"
              % (os.environ.get("MOBILITYD"), a.users, a.connections,
                 a.duration), flush=True)

        if 1 in cores:
            bl.pin(m1.proc.pid, a.server_cpu)
            rows, l0, l1 = run(a, mobs[:1], scripts[:1], [a.client_cpu],
                               "1core")
            print_rows("1 core: one mobilityd on CPU %d" % a.server_cpu, rows,
                       "wrk on CPU %d" % a.client_cpu, l0, l1)
            one = rows[0]["requests"]
        if 2 in cores:
            for i, m in enumerate(mobs):
                bl.pin(m.proc.pid, i)
            rows, l0, l2 = run(a, mobs, scripts, [None, None], "2cores")
            print_rows("2 cores: mobilityd 1 on CPU 0, mobilityd 2 on CPU 1",
                       rows, "two wrk (one per instance) not pinned, "
                       "on the same two CPUs", l0, l2)
        if a.callgrind and 1 in cores and one:
            pid = m1.proc.pid
            m1.stop()
            print("instructions per request (callgrind, mobilityd, all "
                  "threads, one-core run): %.0f"
                  % (bl.callgrind_total(a.callgrind, pid) / one))
        ok = True
    finally:
        for m in mobs[1:]:
            m.stop()
        bl.stop(fe, m1, keep=not ok)


if __name__ == "__main__":
    main()
