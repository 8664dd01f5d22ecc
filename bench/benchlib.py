"""What the Python benchmarks share: a Front End and a mobilityd on
loopback, users in bulk, sign-ins over raw keep-alive HTTPS, process
figures (RSS, threads, descriptors, CPU) and percentiles. Prints nothing
itself; asserts nothing."""
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(REPO, "tests", "pylib"))
os.environ.setdefault("MOBILITY_SRC", REPO)
for _cand in ("build/bench/mobilityd", "build/test/mobilityd"):
    _p = os.path.join(REPO, _cand)
    if "MOBILITYD" not in os.environ and os.path.exists(_p):
        os.environ["MOBILITYD"] = _p

from frontend import Frontend  # noqa: E402
from mobility import Mobilityd, EXT_FQDN  # noqa: E402

APPS = "/ucwa/oauth/v1/applications"


def password(user):
    return "pw-" + user


def add_users(fe, users):
    """Users in the Front End's subscriber table in one transaction (what
    fe.sh adduser does one process at a time: only HA1 values)."""
    fe.init()
    rows = []
    for u in users:
        p = password(u)
        rows.append((u, fe.domain, "",
                     hashlib.md5(("%s:%s:%s" % (u, fe.domain, p)).encode()).hexdigest(),
                     hashlib.md5(("%s@%s:%s:%s" % (u, fe.domain, fe.domain, p))
                                 .encode()).hexdigest()))
    db = sqlite3.connect(str(fe.db_file), timeout=10)
    with db:
        db.executemany("INSERT OR REPLACE INTO subscriber (username, domain, "
                       "password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)", rows)
    db.close()


def start(users, store=None, shm_mb=512, extra=None, redis=False,
          redis_replica=False):
    """A Front End with the users and a mobilityd in front of it, with
    connection limits raised for load (extra: more configuration, as
    Mobilityd takes it; redis: the Redis store backend on a redis-server
    of the run's own, deploy/redis/redis.conf in the run directory or
    under store; redis_replica: and a replica of it, with
    redis_wait_replicas = 1); returns (fe, mob, ctx)."""
    d = tempfile.mkdtemp(prefix="mobility-bench-")
    rs = rep = None
    if redis or redis_replica:
        from redis_server import RedisServer
        rs = RedisServer(tempfile.mkdtemp(prefix="mobility-redis-", dir=store)
                         if store else os.path.join(d, "redis")).start()
        extra = dict(extra or {})
        extra["store"] = list(extra.get("store", [])) + rs.store_conf()
    if redis_replica:
        rep = RedisServer(os.path.join(rs.dir, "replica"), replica_of=rs).start()
        for _ in range(100):
            if "state=online" in rs.cli("INFO", "replication"):
                break
            time.sleep(0.1)
        extra["store"].append("redis_wait_replicas = 1")
    os.environ.setdefault("FE_SHM_MB", str(shm_mb))
    # the SIP peer of udp_peer() is a federated partner's user
    os.environ["FE_FEDERATED_PEER"] = PEER_ADDR
    fe = Frontend(os.path.join(d, "fe"))
    add_users(fe, users)
    fe.start()
    m = Mobilityd(os.path.join(d, "mob"), fe=fe, extra=extra,
                  limits={"max_connections_per_address": 50000,
                          "max_connections": 50000})
    m.bench_dir, m.bench_store, m.bench_redis = d, None, rs
    m.bench_redis_replica = rep
    if store and rs:
        m.bench_store = rs.dir
    elif store:
        # a new directory of its own: never sessions of an earlier run
        os.makedirs(store, exist_ok=True)
        m.bench_store = tempfile.mkdtemp(prefix="mobility-bench-", dir=store)
        with open(m.conf_path) as f:
            text = f.read()
        with open(m.conf_path, "w") as f:
            f.write(text.replace("path = " + os.path.join(m.dir, "store"),
                                 "path = " + m.bench_store))
    try:
        m.start(timeout=60)
    except Exception:
        stop(fe, m, keep=True)
        raise
    return fe, m, client_context(m.ca)


def stop(fe, m, keep=False):
    """Stop both (each by its PID) and remove what start() made: the run
    directory (logs, Front End database) unless keep (after a failure),
    and a store made under --store."""
    try:
        if m.proc:
            m.stop()
    finally:
        fe.stop()
        if getattr(m, "bench_redis_replica", None):
            m.bench_redis_replica.stop()
        if m.bench_redis:
            m.bench_redis.stop()
        if m.bench_store:
            shutil.rmtree(m.bench_store, ignore_errors=True)
        if keep:
            print("logs kept in", m.bench_dir)
        else:
            shutil.rmtree(m.bench_dir, ignore_errors=True)


def client_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx


class Https:
    """One keep-alive HTTPS connection to mobilityd with the least Python
    between the socket and the clock: requests are written in one
    sendall(), answers read with Content-Length."""

    def __init__(self, port, ctx):
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname=EXT_FQDN)
        self.host = "%s:%d" % (EXT_FQDN, port)
        self.buf = b""

    def send(self, method, path, body=b"", ctype=None, tok=None):
        h = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.host,
             "Accept: application/json"]
        if tok:
            h.append("Authorization: Bearer " + tok)
        if body or method == "POST":
            h.append("Content-Type: " + (ctype or "application/json"))
            h.append("Content-Length: %d" % len(body))
        self.s.sendall(("\r\n".join(h) + "\r\n\r\n").encode() + body)

    def read(self):
        """(status, headers, body, time the first bytes arrived)."""
        first = time.perf_counter() if self.buf else None
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if first is None:
                first = time.perf_counter()
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", 0))
        while len(rest) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buf = rest[n:]
        return status, hdrs, rest[:n], first

    def request(self, *a, **kw):
        self.send(*a, **kw)
        return self.read()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def pool(port, ctx, items, threads, step, keepalive=True, connect=None):
    """step(connection, item) for every item, from `threads` threads with
    a connection each (a new one per item unless keepalive; a new one
    after an error; connect() makes one, an Https to port by default).
    Returns the errors as strings."""
    work = list(items)
    lock = threading.Lock()
    errors = []

    def worker():
        c = None
        while True:
            with lock:
                if not work:
                    break
                item = work.pop()
            try:
                if c is None:
                    c = connect() if connect else Https(port, ctx)
                step(c, item)
            except Exception as e:  # counted, not fatal
                errors.append("%s: %s" % (item, e))
                if c:
                    c.close()
                c = None
            if c and not keepalive:
                c.close()
                c = None
        if c:
            c.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def token(c, user):
    st, _, body, _ = c.request(
        "POST", "/WebTicket/oauthtoken",
        body=("grant_type=password&username=%s@example.test&password=%s"
              % (user, password(user))).encode(),
        ctype="application/x-www-form-urlencoded")
    if st != 200:
        raise RuntimeError("token for %s: %d %r" % (user, st, body[:200]))
    return json.loads(body)["access_token"]


def application(c, tok, device):
    st, h, body, _ = c.request(
        "POST", APPS, tok=tok,
        body=json.dumps({"culture": "en-US", "endpointId": "dev-%d" % device,
                         "userAgent": "bench/1.0"}).encode())
    if st not in (200, 201):
        raise RuntimeError("application: %d %r" % (st, body[:200]))
    return h.get("location") or json.loads(body)["_links"]["self"]["href"]


def proc_figures(pid):
    """RSS (KiB), threads, open descriptors and CPU seconds of a process."""
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss": int(st["VmRSS"].split()[0]), "threads": int(st["Threads"]),
            "fds": len(os.listdir("/proc/%d/fd" % pid)), "cpu": cpu}


def group_cpu(pid):
    """CPU seconds of a process and its children (Kamailio's workers)."""
    total = 0.0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(p) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def banner(fe, m, store):
    """The first line of a run: who is who, where the store is, and how
    busy the machine is."""
    where = store or "on disk under the run directory"
    if getattr(m, "bench_redis", None):
        where = "redis %s (AOF, appendfsync always) in %s" % (
            m.bench_redis.address, m.bench_redis.dir)
        if getattr(m, "bench_redis_replica", None):
            where += ", a replica %s, redis_wait_replicas = 1" % (
                m.bench_redis_replica.address)
    print("mobilityd pid %d, Front End pid %s, store %s, load average %s"
          % (m.proc.pid, fe.pid, where, loadavg()), flush=True)


def loadavg():
    """The machine's 1-minute load average: other work on a shared
    machine moves latencies (read it next to them)."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def metrics(m):
    """The admin /metrics lines without labels, as {name: float}."""
    txt = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                 timeout=10).read().decode()
    out = {}
    for line in txt.splitlines():
        mt = re.match(r"^([a-z_]+) ([0-9.eE+-]+)$", line)
        if mt:
            out[mt.group(1)] = float(mt.group(2))
    return out


# The address of the SIP peer that sends MESSAGEs from another domain:
# the Front End started by start() takes that domain's requests from it
# without digest (deploy/frontend, FE_FEDERATED_PEER), and from nowhere
# else.
PEER_ADDR = "127.0.0.2"


def udp_peer():
    """A non-blocking UDP socket on PEER_ADDR for a SIP peer, and its port
    (the peer's Via and Contact: the socket is kept as long as the number
    is used)."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((PEER_ADDR, 0))
    udp.setblocking(False)
    return udp, udp.getsockname()[1]


def sip_answers(udp):
    """The status codes of the SIP answers waiting on a non-blocking UDP
    socket ("?" for anything else), read until none is left."""
    codes = []
    while True:
        try:
            data = udp.recv(65536)
        except BlockingIOError:
            return codes
        codes.append(data.split(b" ", 2)[1].decode()
                     if data.startswith(b"SIP/2.0") else "?")


def pct(values, p):
    """The p-th percentile (nearest rank) of a list of numbers."""
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def instance(fe, m, name, timeout=60):
    """One more mobilityd in front of the same Front End, in its own
    directory (its own store) under the run directory of m, with the
    same raised limits as start() gives; started. Stop it with its
    own stop()."""
    m2 = Mobilityd(os.path.join(m.bench_dir, name), fe=fe,
                   limits={"max_connections_per_address": 50000,
                           "max_connections": 50000})
    m2.start(timeout=timeout)
    return m2


def pin(pid, cpu):
    """Every thread of a process on one CPU (a process's affinity set
    after it started its threads does not reach them)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        os.sched_setaffinity(int(tid), {cpu})


def sign_in(port, ctx, user, device=0, available=True):
    """Token, application and (when available) makeMeAvailable for one
    user over one keep-alive connection; returns (token, application
    href)."""
    c = Https(port, ctx)
    try:
        tok = token(c, user)
        href = application(c, tok, device)
        if available:
            st, _, body, _ = c.request("POST", href + "/me/makeMeAvailable",
                                       body=b"{}", tok=tok)
            if st not in (200, 204):
                raise RuntimeError("makeMeAvailable: %d %r" % (st, body[:200]))
    finally:
        c.close()
    return tok, href


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_figures(text):
    """What wrk --latency printed, as a dict: requests, secs (the run's
    length), rps, p50, p75, p90, p99 (ms), non2xx, errors (socket errors
    of every kind)."""
    out = {"requests": 0, "rps": 0.0, "non2xx": 0, "errors": 0, "secs": 0.0}
    mt = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)\b", text, re.M)
    if mt:
        out["requests"] = int(mt.group(1))
        out["secs"] = float(mt.group(2)) * _WRK_UNITS[mt.group(3)] / 1000
    mt = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    if mt:
        out["rps"] = float(mt.group(1))
    for p in ("50", "75", "90", "99"):
        mt = re.search(r"^\s*%s%%\s+([0-9.]+)(us|ms|s|m)\b" % p, text, re.M)
        out["p" + p] = (float(mt.group(1)) * _WRK_UNITS[mt.group(2)]
                        if mt else float("nan"))
    mt = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if mt:
        out["non2xx"] = int(mt.group(1))
    mt = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                   r"timeout (\d+)", text)
    if mt:
        out["errors"] = sum(int(x) for x in mt.groups())
    return out


def wait_cpu(p, timeout):
    """Wait for a child process (a subprocess.Popen) and return the CPU
    seconds (user + system) it used; killed after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return ru.ru_utime + ru.ru_stime
        time.sleep(0.05)
    p.kill()
    p.wait()
    raise RuntimeError("%s did not finish in %d s" % (p.args[0], timeout))


def perf_start(pid, path):
    """perf record of a process with call graphs (DWARF: the libraries
    have no frame pointers) into path, until perf_stop()."""
    import subprocess
    return subprocess.Popen(["perf", "record", "--call-graph", "dwarf",
                             "-F", "999", "-e", "cpu-clock", "-o", path,
                             "-p", str(pid)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def perf_stop(perf):
    """Stop a perf_start() recording and wait for its file."""
    import signal
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)


def callgrind(out):
    """Run the mobilityd instances started from now on under valgrind's
    callgrind, counting nothing until callgrind_collect(pid, True):
    instructions executed (all threads, user space only) are a figure
    of the work done that other load on the machine does not move.
    Each process writes out.PID when it exits."""
    import mobility
    wrapper = out + ".sh"
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind -q --tool=callgrind "
                "--instr-atstart=no --callgrind-out-file=%s.%%p %s \"$@\"\n"
                % (out, mobility.BIN))
    os.chmod(wrapper, 0o755)
    mobility.BIN = wrapper


def callgrind_collect(pid, on):
    """Start or stop counting in a process run under callgrind()."""
    import subprocess
    subprocess.run(["callgrind_control", "-i", "on" if on else "off",
                    str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def callgrind_total(out, pid):
    """The instructions a process run under callgrind() counted, read
    from its file once it has exited."""
    with open("%s.%d" % (out, pid)) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s.%d" % (out, pid))


def profile_args(ap, during, per):
    """The profiling options both throughput benchmarks take: --perf
    FILE (perf_start() during the measured part) and --callgrind FILE
    (callgrind(): instructions per operation)."""
    ap.add_argument("--perf", metavar="FILE", help="perf record of "
                    "mobilityd %s into FILE" % during)
    ap.add_argument("--callgrind", metavar="FILE",
                    help="run mobilityd under callgrind (files FILE.PID) "
                    "and print the instructions it executed per %s %s "
                    "(use small counts: about 50 times slower)"
                    % (per, during))
