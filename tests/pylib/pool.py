"""A pool of mobilityd instances for tests and benchmarks (docs/pool.md,
"The shipped pool"): N instances (1..3) on one Redis (a primary, its
replica(s) and three Sentinels: redis_server.SentinelSet), HAProxy in
front with the configuration of deploy/pool (the same template and
renderer as scripts/pool.sh), all on the given Front End
(tests/pylib/frontend.py). Every process on 127.0.0.1, stopped by its
PID.

The Pool object stands for the service as the phones see it: ucwa_client
(token, api, create, url) and phone.Phone take it where they take a
Mobilityd (https_port is HAProxy's, ca the CA of its certificate, curl()
resolves every name to 127.0.0.1). pool.instances[i] is a Mobilityd
reachable directly (its own https listener and CA, its admin port).

member(), healthz() and wait_log(): one instance on a given Redis, for
the tests that start their instances one by one (tests/e2e/test_pool_*.py,
test_redis_store.py)."""
import csv
import io
import os
import signal
import sys
import time
import urllib.error
import urllib.request

from haproxy import HAProxy
from mobility import SRC, Mobilityd
from ports import free_port
from redis_server import SentinelSet

sys.path.insert(0, os.path.join(SRC, "deploy", "pool"))
import haproxy_cfg  # noqa: E402  (deploy/pool/haproxy_cfg.py)


def has_conf_key(key):
    """Whether this tree's mobilityd knows a configuration key (its
    row in docs/configuration.md)."""
    with open(os.path.join(SRC, "docs", "configuration.md")) as f:
        return "`%s`" % key in f.read()


def member(d, fe, redis, name=None, store=(), forward=False):
    """A mobilityd (not started) in d on redis (a RedisServer or
    SentinelSet), pool instance name (redis_instance) when given, more
    [store] lines in store. forward: the other instances reach it on its
    plain listener (redis_instance_url) as trusted proxies that
    terminated TLS, as the pool's HAProxy does."""
    lines = redis.store_conf()
    if name:
        lines.append("redis_instance = " + name)
    lines += store
    extra = {"store": lines}
    if forward:
        lines.append("redis_instance_url = http://127.0.0.1:HTTP_PORT")
        extra["http"] = ["trusted_proxy = 127.0.0.1", "behind_tls_proxy = yes"]
    m = Mobilityd(d, fe=fe, extra=extra)
    if forward:
        with open(m.conf_path) as f:
            conf = f.read().replace("HTTP_PORT", str(m.http_port))
        with open(m.conf_path, "w") as f:
            f.write(conf)
    return m


def healthz(m):
    """The status of instance m's /healthz (its admin listener)."""
    try:
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/healthz" % m.admin_port, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_log(m, text, timeout, since=0):
    """Whether text comes in m's log (from offset since) within timeout s."""
    deadline = time.monotonic() + timeout
    while text not in m.log()[since:]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _pem(dir_, name, cert, key):
    path = os.path.join(dir_, name)
    with open(path, "w") as out:
        for p in (cert, key):
            with open(p) as f:
                out.write(f.read())
    return path


class PoolHAProxy(HAProxy):
    """HAProxy with deploy/pool/haproxy.cfg.in in front of instances."""

    def __init__(self, tmpdir, certs, instances, affinity=False):
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        self.stats_port = free_port()
        pems = [_pem(self.dir, "haproxy%d.pem" % i, c, k) for i, (c, k) in enumerate(certs)]
        servers = [(m.name, m.http_port, m.admin_port) for m in instances]
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(haproxy_cfg.render(self.dir, self.port, self.http_port, self.stats_port,
                                       pems, servers, affinity))
        self.proc = None
        self.log_path = os.path.join(self.dir, "haproxy.log")

    def stats(self):
        """HAProxy's view of the web backend: {server name: status}
        (UP, DOWN, "UP 1/2", ...)."""
        return {r["svname"]: r["status"] for r in self._rows()}

    def requests(self):
        """Requests HAProxy sent to each instance so far: {name: n}
        (its sessions count: one request each, as curl closes)."""
        return {r["svname"]: int(r["stot"]) for r in self._rows()}

    def _rows(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/stats;csv" % self.stats_port,
                                    timeout=2) as r:
            text = r.read().decode().lstrip("# ")
        return [r for r in csv.DictReader(io.StringIO(text))
                if r["pxname"] == "mobilityd" and r["svname"] not in ("BACKEND", "FRONTEND")]


class Pool:
    """n mobilityd instances (mob1..mobN) + HAProxy + Redis with Sentinels.

    wait_replicas: [store] redis_wait_replicas of every instance (1: a
    write is acknowledged only once the replica has it). extra: more
    configuration lines per section for every instance."""

    def __init__(self, tmpdir, fe, n=3, replicas=1, wait_replicas=1, affinity=False,
                 extra=None):
        assert 1 <= n <= 3
        self.dir = str(tmpdir)
        self.fe = fe
        self.redis = SentinelSet(os.path.join(self.dir, "redis"), replicas=replicas)
        self.wait_replicas = wait_replicas
        self.affinity = affinity
        self.extra = extra or {}
        self.instances = []
        self.n = n
        self.haproxy = None

    # -- start and stop ------------------------------------------------------

    def _instance(self, i):
        name = "mob%d" % (i + 1)
        store = self.redis.store_conf(self.wait_replicas) + ["redis_instance = " + name]
        extra = {"store": store,
                 # HAProxy (and the other instances, forwarding) on 127.0.0.1
                 "http": ["trusted_proxy = 127.0.0.1/32", "behind_tls_proxy = yes"]}
        for sect, lines in self.extra.items():
            extra.setdefault(sect, []).extend(lines)
        m = Mobilityd(os.path.join(self.dir, name), fe=self.fe, extra=extra)
        m.name = name
        m.fqdn = "%s.example.test" % name
        with open(m.conf_path) as f:
            text = f.read()
        text = text.replace("server_fqdn = mob1.example.test", "server_fqdn = " + m.fqdn)
        # where the other instances forward this one's requests (the
        # key comes with forwarding)
        if has_conf_key("redis_instance_url"):
            text = text.replace("redis_instance = %s\n" % name,
                                "redis_instance = %s\nredis_instance_url = "
                                "http://127.0.0.1:%d\n" % (name, m.http_port))
        with open(m.conf_path, "w") as f:
            f.write(text)
        return m

    def _links_to(self, m, port):
        with open(m.conf_path) as f:
            text = f.read()
        for k in ("internal_web_port", "external_web_port"):
            text = text.replace("%s = %d\n" % (k, m.https_port), "%s = %d\n" % (k, port))
        with open(m.conf_path, "w") as f:
            f.write(text)

    def start(self):
        self.redis.start()
        self.instances = [self._instance(i) for i in range(self.n)]
        first = self.instances[0]
        self.haproxy = PoolHAProxy(os.path.join(self.dir, "haproxy"),
                                   [(first.cert, first.key), (first.cert2, first.key2)],
                                   self.instances, self.affinity)
        for m in self.instances:
            self._links_to(m, self.haproxy.port)
            m.start(timeout=20)
        self.haproxy.start()
        self.wait_up(range(self.n))
        return self

    def stop(self):
        """Everything stopped (instances by SIGTERM: each drains); the
        exit codes of the instances that were running."""
        rcs = {}
        if self.haproxy:
            self.haproxy.stop()
        for m in self.instances:
            if m.proc:
                if m.proc.poll() is None:
                    try:
                        os.kill(m.proc.pid, signal.SIGCONT)
                    except OSError:
                        pass
                rcs[m.name] = m.stop(timeout=30)
        self.redis.stop()
        return rcs

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *a):
        self.stop()

    # -- the service as the phones see it --------------------------------------

    @property
    def https_port(self):
        return self.haproxy.port

    @property
    def http_port(self):
        return self.haproxy.http_port

    @property
    def ca(self):
        return self.instances[0].ca

    def curl(self, url, *args, host=None):
        """Mobilityd.curl through HAProxy (same answer shape)."""
        return Mobilityd.curl(self, url, *args, host=host)

    def https(self, host, path="/"):
        return "https://%s:%d%s" % (host, self.https_port, path)

    def instance_url(self, i, path="/", host="mobility.example.test"):
        """The URL of path on instance i directly (its own https
        listener; curl it with pool.instances[i].curl)."""
        return "https://%s:%d%s" % (host, self.instances[i].https_port, path)

    def log(self):
        return "\n".join("==== %s\n%s" % (m.name, m.log()[-20000:]) for m in self.instances)

    # -- faults ----------------------------------------------------------------

    def kill(self, i, sig=signal.SIGKILL):
        """A crash of instance i (SIGKILL: nothing flushed, no
        un-REGISTER); restart(i) starts it again (same configuration,
        ports and instance name)."""
        self.instances[i].kill(sig)

    def pause(self, i):
        os.kill(self.instances[i].proc.pid, signal.SIGSTOP)

    def resume(self, i):
        os.kill(self.instances[i].proc.pid, signal.SIGCONT)

    def term(self, i, timeout=60):
        """SIGTERM (the drain) and wait; the exit code."""
        return self.instances[i].stop(timeout)

    def restart(self, i, timeout=20):
        self.instances[i].start(timeout=timeout)

    def kill_primary(self):
        """SIGKILL of the Redis primary the Sentinels name now; the
        killed server (start() brings it back, as a supervisor would)."""
        p = self.redis.current_primary()
        p.stop(signal.SIGKILL)
        return p

    # -- observation -----------------------------------------------------------

    def healthz(self, i):
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/healthz" % self.instances[i].admin_port,
                    timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def wait_up(self, idx, timeout=10):
        """Wait until HAProxy's health checks have instances idx UP."""
        names = [self.instances[i].name for i in idx]
        deadline = time.monotonic() + timeout
        while True:
            st = self.haproxy.stats()
            if all(st.get(n) == "UP" for n in names):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError("HAProxy sees %r" % st)
            time.sleep(0.1)

    def which(self, headers):
        """The index of the instance that answered (X-MS-Server-Fqdn)."""
        fqdn = headers.get("x-ms-server-fqdn", "")
        return next((i for i, m in enumerate(self.instances) if m.fqdn == fqdn), None)

    def bindings(self, user):
        """The Front End's location table for user (kamcmd ul.lookup):
        a list of dicts (Address, Instance, Reg-Id, Received, ...), each
        with "owner": the index of the instance whose SIP listener the
        binding's Contact names (None if none)."""
        out = []
        for b in self.fe.registrations(user):
            addr = b.get("Address", "")
            b["owner"] = next((i for i, m in enumerate(self.instances)
                               if ":%d" % m.sip_port in addr), None)
            out.append(b)
        return out
