"""A real HAProxy (Debian's haproxy 2.6) on 127.0.0.1 in front of a
mobilityd: it terminates TLS with the mobilityd's own certificate and
forwards over plain http with X-Forwarded-For (option forwardfor), or
with a PROXY protocol v2 header on each connection (send-proxy-v2).
Started in the foreground, stopped by its PID."""
import os
import socket
import subprocess
import time

from ports import free_port


class HAProxy:
    def __init__(self, tmpdir, certs, backend_port, proxy_v2=False):
        """certs: (chain, key) pairs, the first the default, the others
        chosen by SNI (as the mobilityd's own)."""
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        crts = ""
        for i, (cert, key) in enumerate(certs):
            pem = os.path.join(self.dir, "haproxy%d.pem" % i)
            with open(pem, "w") as out:
                for p in (cert, key):
                    with open(p) as f:
                        out.write(f.read())
            crts += " crt " + pem
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write("\n".join([
                "global",
                "  maxconn 200",
                "defaults",
                "  mode http",
                "  timeout connect 5s",
                "  timeout client 30s",
                "  timeout server 30s",
                "frontend tls",
                "  bind 127.0.0.1:%d ssl%s" % (self.port, crts),
                *([] if proxy_v2 else ["  option forwardfor"]),
                "  default_backend mob",
                "backend mob",
                "  server m1 127.0.0.1:%d%s" % (backend_port,
                                              " send-proxy-v2" if proxy_v2 else ""),
                ""]))
        self.proc = None
        self.log_path = os.path.join(self.dir, "haproxy.log")

    def start(self, timeout=10):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited: " + open(self.log_path).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("haproxy not ready")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None
