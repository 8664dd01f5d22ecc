#!/usr/bin/env python3
"""Capacity: sessions held by one mobilityd, each registered and with one
presence subscription, against the project's Kamailio Front End on
loopback. Prints figures; asserts nothing.

    bench/capacity_bench.py [--sessions 10000[,50000,100000]] [--devices 10]
                            [--idle 60] [--expires S] [--threads 16]
                            [--fe-shm MIB] [--store DIR]

For each size (a fresh Front End and mobilityd each time):

1. Users in bulk (sessions / devices of them: mobilityd allows 10
   applications per user), each with a pres-rules document that allows
   every watcher of the domain (one XCAP PUT through the Front End, its
   row copied in SQL for the others), so that every subscription is made
   active by the Front End's first NOTIFY.
2. Sessions: per user a token, then per device an application (its own
   REGISTER) and one presence subscription (POST
   people/presenceSubscriptions naming one other user: its own SIP
   SUBSCRIBE), over keep-alive connections that are closed afterwards.
   Progress every 10 s. Then it waits until mobilityd has accepted an
   active NOTIFY for every subscription (its counter
   mobility_sip_notifies_total{state="active"}, printed as "active": with
   a short --expires, refreshed subscriptions' NOTIFYs count too).
3. RSS, threads and descriptors of mobilityd after one warm-up session
   and after all of them; the difference per session.
4. Idle: nothing is asked for --idle seconds; mobilityd's CPU seconds over
   the window divided by it, the Front End's (all its processes), and the
   requests the Front End received meanwhile (REGISTER and SUBSCRIBE
   refreshes, its own core counters). mobilityd asks for 600 s and
   refreshes at 50-90 % of it, so a window just after creation sees no
   refresh; with --expires 60 the Front End grants 60 s and they all
   fall in the window: then the CPU per refresh is printed, and what it
   comes to with 600 s.

A size's Front End gets --fe-shm MiB of shared memory (default 512, and
1 MiB per 100 sessions above 40,000). The whole run prints its time.

Needs a built mobilityd (MOBILITYD, default build/bench/mobilityd or
build/test/mobilityd) and Kamailio."""
import argparse
import json
import os
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import session_bench as sb  # noqa: E402
from frontend import pres_rules_document  # noqa: E402

PS = "/people/presenceSubscriptions"
DEFAULT_EXPIRES = 600  # what mobilityd asks for, REGISTER and SUBSCRIBE
PS_MINUTES = 30  # the longest UCWA allows: no extension during the run
ACTIVE = 'mobility_sip_notifies_total{state="active"}'
PENDING = 'mobility_sip_notifies_total{state="pending"}'
# the Front End's own counters of what reached it
FE_REQS = ("core:rcv_requests_register", "core:rcv_requests_subscribe")


def allow_domain(fe, users):
    """Every user's pres-rules allow every watcher of the domain: the
    first through the Front End's XCAP server, the others as copies of
    its row (what 10,000 PUTs would store, in one transaction)."""
    one = "sip:any@" + fe.domain
    doc = pres_rules_document({one: "allow"}).replace(
        '<cr:one id="%s"/>' % one, '<cr:many domain="%s"/>' % fe.domain)
    r = fe.xcap_put(users[0], bl.password(users[0]), "pres-rules", doc)
    if r.status not in (200, 201):
        raise RuntimeError("pres-rules PUT: %d %s" % (r.status, r.text))
    first = "sip:%s@" % users[0]
    db = sqlite3.connect(str(fe.db_file), timeout=10)
    with db:
        db.executemany(
            "INSERT INTO xcap (username, domain, doc, doc_type, etag, source, "
            "doc_uri, port) SELECT ?, domain, doc, doc_type, etag, source, "
            "replace(doc_uri, ?, ?), port FROM xcap WHERE username = ?",
            [(u, first, "sip:%s@" % u, users[0]) for u in users[1:]])
    db.close()


def fe_figures(fe):
    """The Front End's request counters and its shared memory in use."""
    st = {}
    for line in fe.ctl("stats.get_statistics", "all", timeout=30).splitlines():
        k, _, v = line.partition(" = ")
        st[k.strip()] = v.strip()
    shm = fe.ctl("core.shmmem", timeout=30)
    used = re.search(r"real_used:\s*(\d+)", shm)
    return {"reqs": {k: int(st[k]) for k in FE_REQS},
            "shm_used": int(used.group(1)) if used else 0}


def store_mib(m):
    """The size of the store's data file, in MiB (its pages in use, up to
    [store] map_size_mb)."""
    path = os.path.join(m.bench_store or os.path.join(m.dir, "store"),
                        "data.mdb")
    return os.path.getsize(path) / (1 << 20)


def rss_parts(pid):
    """VmRSS split as the kernel counts it (KiB): anonymous (the heap),
    file-backed (the store's memory map on disk, libraries) and shared
    memory (the store's map when it is on tmpfs)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


class Progress:
    """A line every `every` seconds while sessions are made: how many, the
    rate, mobilityd's RSS and the load average."""

    def __init__(self, pid, total, every=10):
        self.pid, self.total, self.every = pid, total, every
        self.n = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t0 = time.perf_counter()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def add(self):
        with self.lock:
            self.n += 1

    def run(self):
        while not self.stop.wait(self.every):
            dt = time.perf_counter() - self.t0
            print("  ... %d/%d sessions in %.0f s (%.0f/s), RSS %d KiB, load "
                  "average %s" % (self.n, self.total, dt, self.n / dt,
                                  bl.proc_figures(self.pid)["rss"],
                                  bl.loadavg()), flush=True)

    def close(self):
        self.stop.set()
        self.thread.join()


def wait_active(m, want, timeout):
    """Until mobilityd has accepted `want` active NOTIFYs; returns (active,
    pending, seconds waited)."""
    t0 = time.perf_counter()
    while True:
        act, pend = m.metric(ACTIVE), m.metric(PENDING)
        if act >= want or time.perf_counter() - t0 > timeout:
            return int(act), int(pend), time.perf_counter() - t0
        time.sleep(0.2)


def run(size, a, shm_mb):
    """One size: returns its row of figures."""
    nusers = (size + a.devices - 1) // a.devices
    users = ["u%06d" % i for i in range(nusers)]
    os.environ["FE_SHM_MB"] = str(shm_mb)
    if a.expires:
        os.environ["FE_MAX_EXPIRES"] = str(a.expires)
    else:
        os.environ.pop("FE_MAX_EXPIRES", None)
    fe, m, ctx = bl.start(users + ["warm"], store=a.store)
    pid = m.proc.pid
    ok = False
    try:
        bl.banner(fe, m, a.store)
        t = time.perf_counter()
        allow_domain(fe, users + ["warm"])
        print("%d sessions: %d users, pres-rules allowing %s in %.1f s"
              % (size, nusers, fe.domain, time.perf_counter() - t), flush=True)
        load0 = bl.loadavg()

        def subscribe(c, tok, app, user, prog=None):
            # the next user along (the warm-up user follows the first)
            i = 0 if user == "warm" else (int(user[1:]) + 1) % nusers
            body = json.dumps({"duration": PS_MINUTES,
                               "uris": ["sip:%s@%s" % (users[i], fe.domain)]})
            st, _, rb, _ = c.request("POST", app + PS, tok=tok,
                                     body=body.encode())
            if st != 201:
                raise RuntimeError("presenceSubscriptions: %d %r"
                                   % (st, rb[:200]))
            if prog:
                prog.add()

        sb.create_sessions(m, ctx, ["warm"], 1, 1, each=subscribe)
        wait_active(m, 1, 10)
        time.sleep(1)
        before = bl.proc_figures(pid)
        parts0 = rss_parts(pid)
        fcpu0 = bl.group_cpu(fe.pid)
        prog = Progress(pid, size)
        try:
            n, errors, dt = sb.create_sessions(
                m, ctx, users, a.devices, a.threads,
                each=lambda c, tok, app, u: subscribe(c, tok, app, u, prog))
        finally:
            prog.close()
        act, pend, wait = wait_active(m, n + 1, max(30, n / 1000))
        created = bl.proc_figures(pid)
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        print("created %d sessions in %.1f s (%.0f/s), %d errors; %d of %d "
              "subscriptions active (%d pending NOTIFYs) %.1f s later"
              % (n, dt, n / dt, len(errors), act, n + 1, pend, wait))
        if errors:
            print("  first error:", errors[0])
        print("  CPU while creating: mobilityd %.1f s (%.0f us per session), "
              "Front End %.1f s" % (created["cpu"] - before["cpu"],
                                    1e6 * (created["cpu"] - before["cpu"])
                                    / max(n, 1), fcpu), flush=True)

        # -- idle --
        time.sleep(2)  # the sign-in connections close
        after = bl.proc_figures(pid)
        parts = rss_parts(pid)
        fe0 = fe_figures(fe)
        fcpu0 = bl.group_cpu(fe.pid)
        t = time.perf_counter()
        time.sleep(a.idle)
        idle = time.perf_counter() - t
        end = bl.proc_figures(pid)
        fcpu = bl.group_cpu(fe.pid) - fcpu0
        fe1 = fe_figures(fe)
        reqs = {k: fe1["reqs"][k] - fe0["reqs"][k] for k in FE_REQS}
        load1 = bl.loadavg()
        sb.show("before (one warm-up session)", before, before)
        sb.show("after %d sessions" % n, before, after, (n, "session"))
        print("  %-34s %s" % ("", ", ".join(
            "%s %d KiB (%+d)" % (k, v, v - parts0[k])
            for k, v in sorted(parts.items()))))
        print("  idle %.0f s: mobilityd CPU %.3f s (%.2f%% of a core), Front "
              "End %.2f s; it received %d REGISTERs and %d SUBSCRIBEs "
              "(%.1f/s and %.1f/s); RSS %d KiB at the end"
              % (idle, end["cpu"] - after["cpu"],
                 100 * (end["cpu"] - after["cpu"]) / idle, fcpu,
                 reqs[FE_REQS[0]], reqs[FE_REQS[1]],
                 reqs[FE_REQS[0]] / idle, reqs[FE_REQS[1]] / idle,
                 end["rss"]))
        nreq = reqs[FE_REQS[0]] + reqs[FE_REQS[1]]
        if nreq:
            # what the same sessions cost with the expiry mobilityd asks
            # for (600 s, refreshed at 50-90 %: every 420 s on average)
            per = (end["cpu"] - after["cpu"]) / nreq
            print("  mobilityd CPU per request the Front End received: %.0f "
                  "us; with %d s registrations and subscriptions (%.0f "
                  "requests/s) that would be %.2f%% of a core"
                  % (1e6 * per, DEFAULT_EXPIRES,
                     2 * n / (0.7 * DEFAULT_EXPIRES),
                     100 * per * 2 * n / (0.7 * DEFAULT_EXPIRES)))
        print("  store %.1f MiB (%.2f KiB per session, map size 1,024 MiB); "
              "Front End shared memory in use %d of %d MiB; load average "
              "%s before, %s after" % (store_mib(m), store_mib(m) * 1024 / n,
                                       fe1["shm_used"] >> 20,
                                       # what it was given: its own total
                                       # read 0 when given 2,048 MiB
                                       shm_mb, load0, load1),
              flush=True)
        ok = True
        return {"sessions": n, "users": nusers, "create_s": dt,
                "per_s": n / dt,
                "active": act, "rss0": before["rss"], "rss1": after["rss"],
                "kib": (after["rss"] - before["rss"]) / max(n, 1),
                "anon_kib": ((parts["RssAnon"] - parts0["RssAnon"])
                             / max(n, 1)),
                "threads": after["threads"], "fds": after["fds"],
                "idle_s": idle,
                "cpu_pct": 100 * (end["cpu"] - after["cpu"]) / idle,
                "fe_cpu_pct": 100 * fcpu / idle,
                "reg_s": reqs[FE_REQS[0]] / idle,
                "sub_s": reqs[FE_REQS[1]] / idle,
                "fe_shm_mb": fe1["shm_used"] >> 20,
                "load": "%s/%s" % (load0, load1)}
    finally:
        bl.stop(fe, m, keep=not ok)


COLUMNS = (("sessions", "%d"), ("users", "%d"), ("create_s", "%.1f"),
           ("per_s", "%.0f"), ("active", "%d"), ("rss0", "%d"),
           ("rss1", "%d"), ("kib", "%.2f"), ("anon_kib", "%.2f"),
           ("threads", "%d"), ("fds", "%d"), ("idle_s", "%.0f"),
           ("cpu_pct", "%.2f"), ("fe_cpu_pct", "%.1f"), ("reg_s", "%.1f"),
           ("sub_s", "%.1f"), ("fe_shm_mb", "%d"), ("load", "%s"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", default="10000",
                    help="a size or a comma-separated list "
                    "(10000,50000,100000)")
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--idle", type=float, default=60,
                    help="seconds of the idle window")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--fe-shm", type=int, default=0,
                    help="Front End shared memory in MiB (default: 512, "
                    "and 1 MiB per 100 sessions above 40,000)")
    ap.add_argument("--store", help="store directory (e.g. /dev/shm)")
    ap.add_argument("--expires", type=int, default=0,
                    help="the Front End grants registrations and "
                    "subscriptions at most this many seconds (e.g. 60: "
                    "they are refreshed during the idle window; default "
                    "its own 3600, so mobilityd's 600 s)")
    a = ap.parse_args()
    if not 1 <= a.devices <= 10:
        ap.error("--devices: 1 to 10 (mobilityd's applications per user)")
    sizes = [int(x) for x in a.sessions.split(",")]
    rows = []
    t0 = time.perf_counter()
    for size in sizes:
        rows.append(run(size, a, a.fe_shm or max(512, size // 100 + 112)))
    print("\ncapacity (%.0f s in all)" % (time.perf_counter() - t0))
    print("| " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(f % r[c] for c, f in COLUMNS) + " |")


if __name__ == "__main__":
    main()
