"""A redis-server of a test's own: the shipped deploy/redis/redis.conf
(AOF, appendfsync always) on 127.0.0.1 and a free port, with its own
directory; stopped by its PID. Replicas (deploy/redis/replica.conf) and
Sentinels (deploy/redis/sentinel.conf) likewise, each on a copy of its
configuration file (Sentinel rewrites them)."""
import os
import shutil
import signal
import subprocess
import time

from ports import free_port

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CONF = os.path.join(SRC, "deploy", "redis", "redis.conf")
REPLICA_CONF = os.path.join(SRC, "deploy", "redis", "replica.conf")
SENTINEL_CONF = os.path.join(SRC, "deploy", "redis", "sentinel.conf")
MASTER_NAME = "mobilityd"


class RedisServer:
    def __init__(self, tmpdir, replica_of=None):
        """replica_of: a RedisServer this one is started as the replica
        of (deploy/redis/replica.conf)."""
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.replica_of = replica_of
        # a copy: Sentinel rewrites the file of a server it reconfigures
        self.conf = os.path.join(self.dir, "redis.conf")
        shutil.copy(REPLICA_CONF if replica_of else CONF, self.conf)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def store_conf(self):
        """The [store] lines of a mobilityd using this server."""
        return ["backend = redis", "redis_address = " + self.address]

    def start(self, timeout=10):
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.replica_of:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self.proc = subprocess.Popen(
            ["redis-server", self.conf, *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self._wait_ping("redis-server", timeout)

    def _wait_ping(self, name, timeout):
        """Wait until the process answers PING; self."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %d" % (name, self.proc.returncode))
            try:
                if self.cli("PING") == "PONG":
                    return self
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not ready" % name)

    def cli(self, *args):
        """redis-cli against this server; its output, stripped."""
        return subprocess.run(["redis-cli", "-p", str(self.port), *args],
                              capture_output=True, check=True, timeout=10,
                              text=True, errors="replace").stdout.strip()

    def keys(self, pattern):
        out = self.cli("--scan", "--pattern", pattern)
        return [k for k in out.splitlines() if k]

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


class Sentinel(RedisServer):
    """A redis-sentinel (deploy/redis/sentinel.conf) watching primary,
    by the name MASTER_NAME."""

    def __init__(self, tmpdir, primary):
        super().__init__(tmpdir)
        with open(SENTINEL_CONF) as f:
            text = f.read()
        text = text.replace("port 26379", "port %d" % self.port)
        text = text.replace("dir /tmp", "dir " + self.dir)
        text = text.replace("%s 127.0.0.1 6379 2" % MASTER_NAME,
                            "%s 127.0.0.1 %d 2" % (MASTER_NAME, primary.port))
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            ["redis-sentinel", self.conf, "--logfile",
             os.path.join(self.dir, "sentinel.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self._wait_ping("redis-sentinel", timeout)

    def primary_port(self):
        """The port of the primary this Sentinel names now."""
        out = self.cli("SENTINEL", "get-master-addr-by-name", MASTER_NAME).split()
        return int(out[1]) if len(out) == 2 else None


class SentinelSet:
    """A primary, its replicas and three Sentinels (quorum 2), all on
    127.0.0.1; stopped by PID."""

    def __init__(self, tmpdir, replicas=1):
        tmpdir = str(tmpdir)
        self.primary = RedisServer(os.path.join(tmpdir, "primary"))
        self.replicas = [RedisServer(os.path.join(tmpdir, "replica%d" % i),
                                     replica_of=self.primary)
                         for i in range(replicas)]
        self.sentinels = []
        self.tmpdir = tmpdir

    @property
    def servers(self):
        return [self.primary] + self.replicas

    def store_conf(self, wait_replicas=1):
        return ["backend = redis",
                "redis_sentinels = " + ", ".join(s.address for s in self.sentinels),
                "redis_master_name = " + MASTER_NAME,
                "redis_wait_replicas = %d" % wait_replicas]

    def start(self, timeout=30):
        self.primary.start()
        for r in self.replicas:
            r.start()
        self.sentinels = [Sentinel(os.path.join(self.tmpdir, "sentinel%d" % i),
                                   self.primary).start() for i in range(3)]
        # ready: the replicas in sync, each Sentinel knows them and the
        # two other Sentinels (a failover needs a vote)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._ready():
                return self
            time.sleep(0.2)
        raise RuntimeError("Sentinels not ready")

    def _ready(self):
        info = self.primary.cli("INFO", "replication")
        if "connected_slaves:%d" % len(self.replicas) not in info:
            return False
        for s in self.sentinels:
            reps = s.cli("SENTINEL", "replicas", MASTER_NAME)
            peers = s.cli("SENTINEL", "sentinels", MASTER_NAME)
            if reps.count("\nflags\nslave\n") < len(self.replicas) or \
                    peers.count("\nflags\nsentinel\n") < 2:
                return False
        return True

    def current_primary(self):
        """The server all Sentinels name now, or None."""
        ports = {s.primary_port() for s in self.sentinels}
        if len(ports) != 1:
            return None
        port = ports.pop()
        return next((r for r in self.servers if r.port == port), None)

    def stop(self):
        for s in self.sentinels + self.servers:
            s.stop()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *a):
        self.stop()
