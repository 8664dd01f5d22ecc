#!/usr/bin/env python3
"""Full sign-ins per second: token (checked by the Front End) +
application (REGISTER of the device) against a real mobilityd and the
project's Kamailio Front End, on loopback. Prints figures; asserts nothing.

    bench/signin_bench.py [--users 200] [--devices 2] [--threads 16]

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd). Kamailio here keeps registrations in SQLite written
through (usrloc db_mode 1), which is what limits the rate: say so with the
figure."""
import argparse
import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
os.environ.setdefault("MOBILITY_SRC", os.path.join(HERE, ".."))
for cand in ("build/bench/mobilityd", "build/test/mobilityd"):
    p = os.path.join(HERE, "..", cand)
    if "MOBILITYD" not in os.environ and os.path.exists(p):
        os.environ["MOBILITYD"] = p

from frontend import Frontend  # noqa: E402
from mobility import Mobilityd, EXT_FQDN  # noqa: E402


def conn(m, ctx):
    c = http.client.HTTPSConnection("127.0.0.1", m.https_port, context=ctx, timeout=30)
    c._tunnel_host = None
    return c


def sign_in(m, ctx, user, device, lat):
    c = http.client.HTTPSConnection("127.0.0.1", m.https_port, context=ctx, timeout=60)
    host = "%s:%d" % (EXT_FQDN, m.https_port)
    t0 = time.perf_counter()
    c.request("POST", "/WebTicket/oauthtoken",
              body="grant_type=password&username=%s@example.test&password=pw-%s" % (user, user),
              headers={"Host": host, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    tok = json.loads(r.read())["access_token"]
    c.request("POST", "/ucwa/oauth/v1/applications",
              body=json.dumps({"culture": "en-US", "endpointId": "dev-%d" % device,
                               "userAgent": "bench/1.0"}),
              headers={"Host": host, "Content-Type": "application/json",
                       "Authorization": "Bearer " + tok})
    r = c.getresponse()
    r.read()
    c.close()
    if r.status not in (200, 201):
        raise RuntimeError("application: %d" % r.status)
    lat.append(time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--store", help="store directory (e.g. on tmpfs, to "
                    "take the disk's sync latency out of the figure)")
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="signin-bench-")
    fe = Frontend(os.path.join(d, "fe"))
    fe.start()
    users = ["u%04d" % i for i in range(a.users)]
    for u in users:
        fe.add_user(u, "pw-" + u)
    m = Mobilityd(os.path.join(d, "mob"), fe=fe,
                  limits={"max_connections_per_address": 50000, "max_connections": 50000})
    if a.store:
        with open(m.conf_path) as f:
            text = f.read()
        with open(m.conf_path, "w") as f:
            f.write(text.replace("path = " + os.path.join(m.dir, "store"),
                                 "path = " + a.store))
    m.start()
    ctx = ssl.create_default_context(cafile=m.ca)
    ctx.check_hostname = False
    work = [(u, dev) for dev in range(a.devices) for u in users]
    lat, errors = [], []
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not work:
                    return
                u, dev = work.pop()
            try:
                sign_in(m, ctx, u, dev, lat)
            except Exception as e:  # counted, not fatal
                errors.append(str(e))

    try:
        t0 = time.perf_counter()
        ts = [threading.Thread(target=worker) for _ in range(a.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        n = len(lat)
        import resource
        ru = resource.getrusage(resource.RUSAGE_SELF)
        print("the client itself used %.2f s of CPU in %.2f s (a client "
              "near 1 s/s is its own limit)" % (ru.ru_utime + ru.ru_stime, dt))
        lat.sort()
        print("sign-ins (token + application + REGISTER): %d in %.2f s = %.0f/s, "
              "%d errors, %d threads" % (n, dt, n / dt, len(errors), a.threads))
        if n:
            print("latency per sign-in: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms"
                  % (1000 * lat[n // 2], 1000 * lat[int(n * 0.9)],
                     1000 * lat[min(n - 1, int(n * 0.99))]))
        import urllib.request
        txt = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port).read().decode()
        met = dict(l.rsplit(" ", 1) for l in txt.splitlines()
                   if l.startswith("mobility_store_") and "{" not in l)
        commits = int(met.get("mobility_store_commits_total", 0))
        writes = int(met.get("mobility_store_writes_total", 0))
        lat = int(met.get("mobility_store_commit_latency_us_total", 0))
        if commits:
            print("store: %d writes in %d commits (%.1f per commit), "
                  "%.1f ms per commit on average"
                  % (writes, commits, writes / commits, lat / commits / 1000))
        with open("/proc/%d/status" % m.proc.pid) as f:
            rss = [l for l in f if l.startswith("VmRSS")][0].split()[1]
        print("mobilityd RSS with %d applications: %s KiB" % (n, rss))
        if errors:
            print("first error:", errors[0])
    finally:
        m.stop()
        fe.stop()


if __name__ == "__main__":
    main()
