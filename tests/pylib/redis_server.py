"""A redis-server of a test's own: the shipped deploy/redis/redis.conf
(AOF, appendfsync always) on 127.0.0.1 and a free port, with its own
directory; stopped by its PID."""
import os
import signal
import subprocess
import time

from ports import free_port

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CONF = os.path.join(SRC, "deploy", "redis", "redis.conf")


class RedisServer:
    def __init__(self, tmpdir):
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def store_conf(self):
        """The [store] lines of a mobilityd using this server."""
        return ["backend = redis", "redis_address = " + self.address]

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            ["redis-server", CONF, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited %d" % self.proc.returncode)
            try:
                if self.cli("PING") == "PONG":
                    return self
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server not ready")

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
