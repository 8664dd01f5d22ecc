"""Start and stop a real mobilityd for end-to-end tests.

The daemon under test is the one CTest built (MOBILITYD); certificates come
from deploy/certs.sh; every listener is on 127.0.0.1 on a free port.
"""
import os
import re
import resource
import signal
import subprocess
import time
import urllib.request

from ports import free_port

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("MOBILITYD", os.path.join(SRC, "build", "test", "mobilityd"))

DOMAIN = "example.test"
OTHER_DOMAIN = "example.org"
EXT_FQDN = "mobility.example.test"
INT_FQDN = "mobility-int.example.test"


def make_certs(d, name, *sans):
    subprocess.run([os.path.join(SRC, "deploy", "certs.sh"), "leaf", d, name, *sans],
                   check=True)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


class Mobilityd:
    """One mobilityd with a generated configuration.

    extra: dict section -> list of "key = value" lines appended to the file.
    """

    def __init__(self, tmpdir, extra=None, domains=(DOMAIN, OTHER_DOMAIN), limits=None,
                 fe=None):
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.http_port = free_port()
        self.https_port = free_port()
        self.admin_port = free_port()
        self.sip_port = free_port()
        self.domains = list(domains)
        self.ca = os.path.join(self.dir, "ca.pem")
        # Two certificates so that SNI has a choice to make: the default
        # (first) one covers the web FQDNs and every domain but example.test,
        # the second covers only example.test's autodiscover names.
        sans = []
        for d in self.domains:
            if d != DOMAIN:
                sans += ["lyncdiscover." + d, "lyncdiscoverinternal." + d]
        self.cert, self.key = make_certs(self.dir, "web", EXT_FQDN, INT_FQDN, *sans)
        self.cert2, self.key2 = make_certs(self.dir, "discover", "lyncdiscover." + DOMAIN,
                                           "lyncdiscoverinternal." + DOMAIN)
        self.sip_cert, self.sip_key = make_certs(self.dir, "sip", "mob1.example.test")
        self.conf_path = os.path.join(self.dir, "mobilityd.conf")
        self.log_path = os.path.join(self.dir, "mobilityd.log")
        self.proc = None
        lim = {"header_timeout": 3, "body_timeout": 3, "idle_timeout": 30}
        lim.update(limits or {})
        sections = {
            "service": [
                "server_fqdn = mob1.example.test",
                *["sip_domain = " + d for d in self.domains],
                "internal_web_fqdn = " + INT_FQDN,
                "external_web_fqdn = " + EXT_FQDN,
                "internal_web_port = %d" % self.https_port,
                "external_web_port = %d" % self.https_port,
                "log_level = info",
            ],
            "http": [
                "listen = 127.0.0.1:%d" % self.http_port,
                "listen_tls = 127.0.0.1:%d" % self.https_port,
                "certificate = %s %s" % (self.cert, self.key),
                "certificate = %s %s" % (self.cert2, self.key2),
                *["%s = %s" % kv for kv in lim.items()],
            ],
            "frontend": [
                # a real Front End (tests/pylib/frontend.py) when given
                "address = 127.0.0.1:%d" % (fe.tls_port if fe else free_port()),
                "tls_server_name = " + (fe.domain if fe else "fe.example.test"),
                "ca_file = %s" % (fe.ca_file if fe else self.ca),
                *(["xcap = 127.0.0.1:%d" % fe.http_port] if fe else []),
                "client_internal_access = fe.example.test:5061",
                "client_external_access = sip.example.test:443",
            ],
            "sip": [
                "internal_listen = 127.0.0.1:%d" % self.sip_port,
                "certificate = %s %s" % (self.sip_cert, self.sip_key),
                # requests only from the Front End's client certificate
                "client_ca_file = %s" % (fe.ca_file if fe else self.ca),
                "client_name = " + (fe.domain if fe else "fe.example.test"),
            ],
            "autodiscover": [],
            "admin": ["listen = 127.0.0.1:%d" % self.admin_port],
            "store": ["path = " + os.path.join(self.dir, "store")],
        }
        for sect, lines in (extra or {}).items():
            sections.setdefault(sect, []).extend(lines)
        with open(self.conf_path, "w") as f:
            for sect, lines in sections.items():
                f.write("[%s]\n" % sect)
                for line in lines:
                    f.write(line + "\n")
                f.write("\n")

    def start(self, timeout=10, nofile=None):
        """Start and wait for /healthz; nofile: RLIMIT_NOFILE (soft and
        hard) of the process."""
        self.logf = open(self.log_path, "wb")
        limit = None
        if nofile:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen([BIN, "-c", self.conf_path],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=limit)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mobilityd exited %d:\n%s" %
                                   (self.proc.returncode, self.log()))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" %
                                            self.admin_port, timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mobilityd not ready:\n" + self.log())

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self, sig=signal.SIGKILL, timeout=15):
        """A crash: the signal (SIGKILL by default: nothing flushed, no
        un-REGISTER), then wait; start() runs it again on the same
        configuration, store and ports."""
        self.proc.send_signal(sig)
        self.proc.wait(timeout)
        self.logf.close()
        self.proc = None

    def metric(self, name):
        """The value of an unlabelled metric of /metrics (0 if absent)."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port,
                                    timeout=2) as r:
            text = r.read().decode()
        m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
        return int(m.group(1)) if m else 0

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- clients -----------------------------------------------------------

    def curl(self, url, *args, host=None):
        """Run curl against this instance, resolving every test name to
        127.0.0.1; returns (status, headers dict (lower-case), body)."""
        from urllib.parse import urlsplit
        u = urlsplit(url)
        h = host or u.hostname
        port = u.port or (443 if u.scheme == "https" else 80)
        cmd = ["curl", "-sS", "-D", "-", "--max-time", "10",
               "--resolve", "%s:%d:127.0.0.1" % (h, port),
               "--cacert", self.ca, *args, url]
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
        return status, headers, body

    def https(self, host, path="/"):
        return "https://%s:%d%s" % (host, self.https_port, path)

    def http(self, host, path="/"):
        return "http://%s:%d%s" % (host, self.http_port, path)
