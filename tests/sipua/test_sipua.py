"""The SIP user agent against the real Front End (Kamailio 5.6).

tests/sipua/sipua_probe.c drives src/sipua: a credential check, one
registration, a listener. Kamailio shows what happened (ul.lookup, its
request log at debug level 3).
"""
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from frontend import Frontend, available, free_port

SRC = Path(os.environ.get("MOBILITY_SRC",
                          Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MOBILITY_BUILD", SRC / "build"))
PROBE = BUILD / "tests" / "sipua_probe"

pytestmark = pytest.mark.skipif(not available(),
                                reason="Kamailio is not installed")

EACCES = 13
# the users of the Front End in conftest.py (test_sipua_im.py, test_sipua_sub.py)
USERS = {u: f"{u}-pw" for u in
         ("alice", "bob", "carol", "dave", "erin", "fred", "gina")}


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    # level 3 logs every request the Front End receives
    os.environ["FE_LOG_LEVEL"] = "3"
    f = Frontend(tmp_path_factory.mktemp("sipua") / "fe")
    f.start()
    try:
        yield f
    finally:
        f.stop()


class Probe:
    """One sipua_probe process; stdout lines collected from a file."""

    def __init__(self, fe, user, secret, *command, server_name=None,
                 ca_file=None, env=None, tmpdir=None):
        self.out = Path(tmpdir) / f"probe-{uuid.uuid4().hex[:8]}.out"
        self.err = self.out.with_suffix(".err")
        args = [str(PROBE), f"127.0.0.1:{fe.tls_port}",
                str(ca_file or fe.ca_file), server_name or fe.domain, user,
                fe.domain, secret, *map(str, command)]
        e = dict(os.environ, SIPUA_TRACE="1", **(env or {}))
        with open(self.out, "w") as o, open(self.err, "w") as r:
            self.proc = subprocess.Popen(args, stdout=o, stderr=r,
                                         stdin=subprocess.DEVNULL, env=e)

    def lines(self):
        return self.out.read_text().splitlines()

    def trace(self):
        return self.err.read_text(errors="replace")

    def wait_line(self, pattern, count=1, timeout=10):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            hits = [ln for ln in self.lines() if rx.search(ln)]
            if len(hits) >= count:
                return hits
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {count}x {pattern!r}: {self.lines()}")
            time.sleep(0.05)

    def wait(self, timeout=45):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def run_check(fe, tmp_path, user, password, **kw):
    p = Probe(fe, user, password, "check", tmpdir=tmp_path, **kw)
    rc = p.wait()
    return rc, p.lines(), p


def sent_messages(trace):
    """The SIP messages the probe sent (SIPUA_TRACE blocks)."""
    blocks = re.split(r"^(send|recv) \S+ -> \S+$", trace, flags=re.M)
    return [blocks[i + 1] for i in range(1, len(blocks) - 1, 2)
            if blocks[i] == "send"]


def sent_registers(trace):
    return len([m for m in sent_messages(trace)
                if m.lstrip().startswith("REGISTER sip:")])


def fe_registers(fe, user, since):
    """REGISTERs from user logged by the Front End after offset since."""
    return len(re.findall(rf"REGISTER sip:\S+ from sip:{user}@",
                          fe.log_text()[since:]))


def binding(fe, user, instance):
    return [c for c in fe.registrations(user)
            if c.get("Instance") == f"<urn:uuid:{instance}>"]


# ----- transport -----

def test_untrusted_certificate_fails(fe, tmp_path):
    other = tmp_path / "otherca"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "ca", str(other)],
                   check=True, capture_output=True)
    fe.add_user("tls1", "pw-tls1")
    since = len(fe.log_text())
    rc, lines, p = run_check(fe, tmp_path, "tls1", "pw-tls1",
                             ca_file=other / "ca.pem")
    assert rc == 1
    err, scode = lines[-1].split()[1:3]
    assert scode == "0" and int(err) != EACCES, lines
    time.sleep(0.3)
    assert fe_registers(fe, "tls1", since) == 0


def test_wrong_server_name_fails(fe, tmp_path):
    fe.add_user("tls2", "pw-tls2")
    since = len(fe.log_text())
    rc, lines, p = run_check(fe, tmp_path, "tls2", "pw-tls2",
                             server_name="frontend.example.org")
    assert rc == 1
    assert lines[-1].split()[2] == "0", lines
    time.sleep(0.3)
    assert fe_registers(fe, "tls2", since) == 0
    # the same probe with the right name gets through
    rc, lines, p = run_check(fe, tmp_path, "tls2", "pw-tls2")
    assert rc == 0, lines


# ----- credential check -----

def test_check_password_right(fe, tmp_path):
    fe.add_user("carol", "carol-pw")
    # carol already has a device registered; the check must not touch it
    with fe.sip_agent("carol", "carol-pw") as dev:
        r = dev.request("REGISTER", contact=dev.contact,
                        headers=["Expires: 600"])
        assert r[-1].status == 200
        before = fe.registrations("carol")
        assert len(before) == 1
        rc, lines, p = run_check(fe, tmp_path, "carol", "carol-pw")
        assert rc == 0, lines
        assert lines[-1] == "ok " + fe.ha1("carol", "carol-pw")
        after = fe.registrations("carol")
    assert [(c["Address"], c["Call-ID"], c["CSeq"]) for c in after] == \
        [(c["Address"], c["Call-ID"], c["CSeq"]) for c in before]
    # a binding query: never a Contact, never "Contact: *"
    assert not [m for m in sent_messages(p.trace()) if "Contact:" in m]
    assert sent_registers(p.trace()) == 2


def test_check_password_wrong_no_retry(fe, tmp_path):
    fe.add_user("dave", "dave-pw")
    since = len(fe.log_text())
    rc, lines, p = run_check(fe, tmp_path, "dave", "not-daves")
    assert rc == 1
    assert lines[-1] == f"fail {EACCES} 401", lines
    time.sleep(1.0)
    # exactly one challenge and one answer, as the Front End saw them
    assert fe_registers(fe, "dave", since) == 2
    assert sent_registers(p.trace()) == 2
    assert "Authorization: Digest" in p.trace()


def test_check_unknown_user(fe, tmp_path):
    rc, lines, p = run_check(fe, tmp_path, "nobody", "x")
    assert rc == 1
    assert lines[-1].startswith(f"fail {EACCES} "), lines


# ----- registration -----

def test_register_refresh_unregister(fe, tmp_path):
    fe.add_user("erin", "erin-pw")
    inst = str(uuid.uuid4())
    with fe.sip_agent("erin", "erin-pw") as dev:
        r = dev.request("REGISTER", contact=dev.contact,
                        headers=["Expires: 600"])
        assert r[-1].status == 200
        p = Probe(fe, "erin", fe.ha1("erin", "erin-pw"), "register", inst,
                  10, tmpdir=tmp_path, env={"SIPUA_LINGER": "1"})
        try:
            p.wait_line(r"^registered 10 1$")
            b = binding(fe, "erin", inst)
            assert len(b) == 1, fe.registrations("erin")
            assert b[0]["Reg-Id"] == "1"
            assert ";ob" in b[0]["Address"]
            first_cseq = int(b[0]["CSeq"])
            # refreshed at 50-90% of the 10 s granted
            t0 = time.monotonic()
            p.wait_line(r"^registered 10 2$", timeout=12)
            assert 4.0 < time.monotonic() - t0 < 10.0
            b = binding(fe, "erin", inst)
            assert len(b) == 1 and int(b[0]["CSeq"]) > first_cseq
            assert "Supported: outbound, path" in p.trace()
            # destroy: this binding goes while the connection is still
            # open (so not by handle_lost_tcp); the other device stays
            p.stop()
            p.wait_line(r"^unregistered$")
            deadline = time.monotonic() + 2.5
            while binding(fe, "erin", inst):
                assert time.monotonic() < deadline, fe.registrations("erin")
                time.sleep(0.05)
            assert p.proc.poll() is None
            regs = fe.registrations("erin")
            assert [c["Address"] for c in regs] == \
                [dev.contact.strip("<>")]
            assert [m for m in sent_messages(p.trace())
                    if re.search(r"reg-id=1;expires=0\r?$", m, re.M)]
            assert p.wait(10) == 0
        finally:
            p.kill()


def test_bad_ha1_fails_once(fe, tmp_path):
    fe.add_user("fred", "fred-pw")
    since = len(fe.log_text())
    p = Probe(fe, "fred", fe.ha1("fred", "other"), "register",
              str(uuid.uuid4()), 60, tmpdir=tmp_path)
    try:
        p.wait_line(rf"^failed {EACCES} 401 1$")
        time.sleep(1.5)
        assert fe_registers(fe, "fred", since) == 2
        assert not fe.registrations("fred")
    finally:
        p.stop()
        p.wait(10)


def test_listener_rejects_invalid_requests(fe, tmp_path):
    d = tmp_path / "certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "mob",
                    "mob.example.test"], check=True, capture_output=True)
    port = free_port()
    p = Probe(fe, "x", "x", "serve", tmpdir=tmp_path,
              env={"SIPUA_LISTEN": f"127.0.0.1:{port}",
                   "SIPUA_CERT": str(d / "mob.pem"),
                   "SIPUA_KEY": str(d / "mob.key")})
    try:
        p.wait_line("^listening$")
        ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
        # as the Front End: its certificate as client certificate
        ctx.load_cert_chain(fe.cert_file, fe.key_file)

        def ask(lines):
            with socket.create_connection(("127.0.0.1", port), 5) as s, \
                    ctx.wrap_socket(s, server_hostname="mob.example.test") \
                    as t:
                t.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                t.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = t.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.decode(errors="replace").split("\r\n")[0]

        req = ["OPTIONS sip:mob@127.0.0.1 SIP/2.0",
               "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKabc1",
               "Max-Forwards: 70", "To: <sip:mob@example.test>",
               "From: <sip:fe@example.test>;tag=1", "Call-ID: c1",
               "CSeq: 1 OPTIONS", "Content-Length: 0"]
        assert ask([ln for ln in req if not ln.startswith("Max-")]) == \
            "SIP/2.0 400 Missing Max-Forwards header"
        assert ask([ln.replace("1 OPTIONS", "1 INVITE") for ln in req]) == \
            "SIP/2.0 400 CSeq method does not match the request method"
        assert ask([ln for ln in req if not ln.startswith("To:")]) == \
            "SIP/2.0 400 Missing To header"
        # a valid request passes the validator; no session has the
        # Contact user "mob"
        assert ask(req) == "SIP/2.0 404 Not Found"
        # without it: refused, whatever the request
        ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
        assert ask(req) == "SIP/2.0 403 Forbidden"
    finally:
        p.stop()
        p.wait(10)


def test_frontend_restart_reregisters_all(fe, tmp_path):
    """20 devices of one user share one flow; after a Front End restart
    every one registers again by itself, on one new flow."""
    n = 20
    fe.add_user("gina", "gina-pw")
    base = str(uuid.uuid4())
    insts = [base[:32] + f"{i:04x}" for i in range(n)]
    p = Probe(fe, "gina", fe.ha1("gina", "gina-pw"), "register", base, 600,
              n, tmpdir=tmp_path, env={"SIPUA_LINGER": "1"})

    def ours():
        return [c for c in fe.registrations("gina")
                if c.get("Instance", "")[10:-1] in insts]

    try:
        p.wait_line(r"^registered 600 ", count=n)
        b = ours()
        assert sorted(c["Instance"][10:-1] for c in b) == sorted(insts)
        assert all(c["Reg-Id"] == "1" for c in b)
        flows = {c["Received"] for c in b}
        assert len(flows) == 1, flows             # one shared TLS flow
        fe.stop()
        p.wait_line(r"^failed ")                  # the loss was noticed
        fe.start()
        t0 = time.monotonic()
        # back by themselves: retries back off 1, 2, 4... s (50-100%)
        for i in range(n):
            p.wait_line(rf"^registered 600 \d+ #{i}$", count=2, timeout=40)
        assert time.monotonic() - t0 < 40
        b = ours()
        assert sorted(c["Instance"][10:-1] for c in b) == sorted(insts)
        new = {c["Received"] for c in b}
        assert len(new) == 1 and new != flows, (flows, new)
        # destroy: every binding goes while the flow is still open
        p.stop()
        p.wait_line(r"^unregistered$")
        deadline = time.monotonic() + 2.5
        while ours():
            assert time.monotonic() < deadline, ours()
            time.sleep(0.05)
        assert p.proc.poll() is None
        assert p.wait(10) == 0
    finally:
        p.kill()


class TlsSipServer:
    """A SIP peer over TLS on 127.0.0.1 with the Front End's certificate
    from certdir. Connections are served one at a time, numbered from 0;
    each whole message (head, body) goes to on_message(sock, conn_index,
    head, body), which returns False to close the connection. Subclasses
    set their own attributes before calling __init__ (it starts the
    thread)."""

    def __init__(self, certdir, backlog=4):
        import threading
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certdir / "fe.pem"),
                                 str(certdir / "fe.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.conns = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except socket.timeout:
                continue
            try:
                self._serve(self.ctx.wrap_socket(raw, server_side=True),
                            self.conns)
            except (ssl.SSLError, OSError):
                raw.close()
            self.conns += 1

    def _serve(self, s, idx):
        s.settimeout(0.2)
        buf = b""
        while not self.stopping:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            buf += data
            while True:
                buf = buf.lstrip(b"\r\n")
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    break
                m = re.search(rb"^Content-Length:\s*(\d+)", head,
                              re.M | re.I)
                n = int(m.group(1)) if m else 0
                if len(rest) < n:
                    break
                body, buf = rest[:n], rest[n:]
                if self.on_message(s, idx, head.decode(),
                                   body.decode()) is False:
                    s.close()
                    return
        s.close()

    def on_message(self, s, idx, head, body):
        raise NotImplementedError

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class FakeRegistrar(TlsSipServer):
    """A TLS registrar on 127.0.0.1 that answers every REGISTER 200 with
    Flow-Timer: 20 and records CRLF keep-alive pings (RFC 5626 4.4.1);
    it answers them with a CRLF pong only when pong is True."""

    def __init__(self, certdir, pong, challenges=()):
        import threading
        self.pong = pong
        self.challenges = list(challenges)   # WWW-Authenticate values
        self.authorizations = []
        self.events = []          # (monotonic time, conn no, what)
        self.lock = threading.Lock()
        super().__init__(certdir, backlog=8)

    def _log(self, conn, what):
        with self.lock:
            self.events.append((time.monotonic(), conn, what))

    def seen(self, what):
        with self.lock:
            return [e for e in self.events if e[2] == what]

    def _run(self):
        """A thread per connection (numbered from 1), which also sees the
        CRLF keep-alives."""
        import threading
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns += 1
            threading.Thread(target=self._serve, args=(s, self.conns),
                             daemon=True).start()

    def _serve(self, raw, no):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        s.settimeout(0.2)
        self._log(no, "open")
        buf = b""
        while not self.stopping:
            try:
                data = s.recv(65536)
            except socket.timeout:
                self._idle(s)
                continue
            except (ssl.SSLError, OSError):
                break
            if not data:
                break
            buf += data
            while buf:
                if buf.startswith(b"\r\n\r\n"):
                    self._log(no, "ping")
                    if self.pong:
                        s.sendall(b"\r\n")
                    buf = buf[4:]
                elif buf.startswith(b"\r\n"):
                    buf = buf[2:]
                elif b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self._log(no, "request")
                    self._send(s, self._answer(head.decode()))
                else:
                    break
        self._log(no, "closed")
        s.close()

    def _send(self, s, answer):
        s.sendall(answer)

    def _idle(self, s):
        """0.2 s without a byte from the client."""

    def _answer(self, head):
        lines = head.split("\r\n")[1:]
        auth = [ln.partition(":")[2].strip() for ln in lines
                if ln.lower().startswith("authorization:")]
        if self.challenges and not auth:
            return self._ok(head, "401 Unauthorized",
                            [f"WWW-Authenticate: {c}"
                             for c in self.challenges])
        self.authorizations += auth
        return self._ok(head)

    @staticmethod
    def _ok(head, status="200 OK", extra=()):
        lines = head.split("\r\n")[1:]
        keep = [ln for ln in lines if ln.split(":")[0].lower() in
                ("via", "from", "call-id", "cseq")]
        to = next(ln for ln in lines if ln.lower().startswith("to:"))
        contact = [ln + ";expires=600" for ln in lines
                   if ln.lower().startswith("contact:")
                   and "expires=0" not in ln]
        return ("\r\n".join([f"SIP/2.0 {status}", *keep, to + ";tag=fake",
                             *contact, *extra, "Require: outbound",
                             "Flow-Timer: 20", "Content-Length: 0"])
                + "\r\n\r\n").encode()



def test_keepalive_pings_and_lost_flow(fe, tmp_path):
    """One flow answers the CRLF pings, the other does not: the first
    stays, the second is declared lost about 10 s after an unanswered
    ping and the registration moves to a new connection by itself. A
    third flow, to Kamailio, must survive the same time: Kamailio answers
    the pings (else every session would re-register every 30 s)."""
    d = tmp_path / "fe-certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "fe",
                    "fe.example.test"], check=True, capture_output=True)
    good, silent = FakeRegistrar(d, pong=True), FakeRegistrar(d, pong=False)
    probes = []
    fe.add_user("kim", "kim-pw")
    kam = Probe(fe, "kim", fe.ha1("kim", "kim-pw"), "register",
                str(uuid.uuid4()), 600, tmpdir=tmp_path)
    try:
        kam.wait_line(r"^registered 600 1$")
        kam_t0 = time.monotonic()
        kam_flow = fe.registrations("kim")[0]["Received"]
        for reg in (good, silent):
            args = [str(PROBE), f"127.0.0.1:{reg.port}", str(d / "ca.pem"),
                    "fe.example.test", "kim", "example.test", "0" * 32,
                    "register", str(uuid.uuid4()), 600]
            out = open(tmp_path / f"ka-{reg.port}.out", "w")
            probes.append((subprocess.Popen(
                list(map(str, args)), stdout=out, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL), out))
        t0 = time.monotonic()
        # libre pings at 80-100% of max(Flow-Timer, 20 s) and gives the
        # pong 10 s: the silent flow fails 26-30 s after the 200
        deadline = t0 + 45
        while len([e for e in silent.seen("request")]) < 2:
            assert time.monotonic() < deadline, silent.events
            time.sleep(0.2)
        lost = time.monotonic() - t0
        pings = silent.seen("ping")
        assert pings and pings[0][1] == 1
        assert 14 < pings[0][0] - t0 < 22
        closed = [e for e in silent.seen("closed") if e[1] == 1]
        assert closed and 8 < closed[0][0] - pings[0][0] < 12
        assert silent.seen("request")[1][1] == 2   # on a new connection
        assert 22 < lost < 34
        # the answered flow: pinged, still the only connection, one
        # REGISTER
        assert good.seen("ping")
        assert good.conns == 1 and len(good.seen("request")) == 1
        assert not good.seen("closed")
        # the probe of the silent flow saw its registration renewed
        out = tmp_path / f"ka-{silent.port}.out"
        deadline = time.monotonic() + 5
        while "registered 600 2" not in out.read_text():
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # Kamailio's flow outlived an unanswered ping's 10 s: with
        # Flow-Timer 25 the ping leaves 20-25 s after the 200, so a
        # missing pong would have shown by 35 s: one REGISTER, no
        # failure, the same connection
        time.sleep(max(0.0, kam_t0 + 36 - time.monotonic()))
        assert kam.lines() == ["registered 600 1"]
        assert [c["Received"] for c in fe.registrations("kim")] == \
            [kam_flow]
    finally:
        kam.stop()
        for proc, out in probes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        kam.wait(10)
        for proc, out in probes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            out.close()
        good.close()
        silent.close()


def test_check_answers_the_md5_challenge_of_several(tmp_path):
    """RFC 8760: of several challenges, the first we can answer (MD5) is
    answered; the response is right for the HA1 of that realm."""
    import hashlib
    d = tmp_path / "fe-certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "fe",
                    "fe.example.test"], check=True, capture_output=True)
    reg = FakeRegistrar(d, pong=True, challenges=[
        'Digest realm="sha.test", nonce="n1", algorithm=SHA-256, '
        'qop="auth"',
        'Digest realm="md5.test", nonce="n2", qop="auth,auth-int", '
        'opaque="op"'])
    try:
        proc = subprocess.run(
            [str(PROBE), f"127.0.0.1:{reg.port}", str(d / "ca.pem"),
             "fe.example.test", "lee", "example.test", "lee-pw", "check"],
            capture_output=True, text=True, timeout=40)
        ha1 = hashlib.md5(b"lee:md5.test:lee-pw").hexdigest()
        assert proc.stdout.splitlines()[-1] == "ok " + ha1
        assert len(reg.authorizations) == 1
        a = dict(re.findall(r'(\w+)="?([^",]*)"?', reg.authorizations[0]))
        assert a["realm"] == "md5.test" and a["nonce"] == "n2"
        assert a["algorithm"] == "MD5" and a["qop"] == "auth"
        assert a["opaque"] == "op" and a["nc"] == "00000001"
        ha2 = hashlib.md5(f"REGISTER:{a['uri']}".encode()).hexdigest()
        want = hashlib.md5(f"{ha1}:n2:{a['nc']}:{a['cnonce']}:auth:{ha2}"
                           .encode()).hexdigest()
        assert a["response"] == want
    finally:
        reg.close()


@contextlib.contextmanager
def probe_against(regcls, tmp_path, *command, env=None):
    """A registrar of regcls (its certificate made here) and a probe run
    against it as user kim; yields the registrar and the probe's output
    file; stops both."""
    d = tmp_path / "fe-certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "fe",
                    "fe.example.test"], check=True, capture_output=True)
    reg = regcls(d)
    path = tmp_path / "probe.out"
    out = open(path, "w")
    proc = subprocess.Popen(
        [str(PROBE), f"127.0.0.1:{reg.port}", str(d / "ca.pem"),
         "fe.example.test", "kim", "example.test", "0" * 32,
         *map(str, command)],
        stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})})
    try:
        yield reg, path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
        reg.close()


class GrantingRegistrar(FakeRegistrar):
    """A FakeRegistrar that grants 30 s in the Contact, written as
    Kamailio writes it: expires first, then a received parameter whose
    quoted value holds a ';', then the instance."""

    def __init__(self, certdir):
        super().__init__(certdir, pong=True)

    def _answer(self, head):
        ans = super()._answer(head).decode()
        req = next(ln for ln in head.split("\r\n")
                   if ln.lower().startswith("contact:"))
        uri = re.search(r"<[^>]*>", req).group(0)
        inst = re.search(r'\+sip\.instance="([^"]*)"', req).group(1)
        contact = (f"Contact: {uri};expires=30;"
                   f'received="sip:127.0.0.1:9;transport=tls";'
                   f'+sip.instance="{inst}";reg-id=1')
        return re.sub(r"Contact: [^\r]*", lambda m: contact, ans,
                      count=1).encode()


def test_grant_read_from_our_contact(tmp_path):
    """We ask for 600 s; the registrar grants 30 s on our Contact (its
    instance names it): the registration reports 30."""
    with probe_against(GrantingRegistrar, tmp_path, "register",
                       uuid.uuid4(), 600) as (reg, out):
        deadline = time.monotonic() + 10
        while "registered" not in out.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first = out.read_text().splitlines()[0]
        assert first == "registered 30 1", first


class HoldingRegistrar(FakeRegistrar):
    """A FakeRegistrar that holds its answers while REGISTERs keep coming
    and answers all it holds after 0.2 s without one: each burst the
    client sent before waiting for an answer is one entry of .bursts."""

    def __init__(self, certdir):
        self.bursts, self.held = [], []
        super().__init__(certdir, pong=True)

    def _send(self, s, answer):
        self.held.append(answer)

    def _idle(self, s):
        if self.held:
            with self.lock:
                self.bursts.append(len(self.held))
            s.sendall(b"".join(self.held))
            self.held = []


def test_registers_in_flight_are_bounded(tmp_path):
    """150 registrations start at once (a restart brings every session
    back): at most 64 REGISTERs are sent before answers come, the others
    go as answers arrive, and all are registered."""
    with probe_against(HoldingRegistrar, tmp_path, "register",
                       uuid.uuid4(), 600, 150) as (reg, out):
        deadline = time.monotonic() + 20
        while sum(reg.bursts) < 150:
            assert time.monotonic() < deadline, reg.bursts
            time.sleep(0.1)
        assert max(reg.bursts) <= 64 and reg.bursts[0] == 64, reg.bursts
        deadline = time.monotonic() + 5
        while out.read_text().count("registered") < 150:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_subscribes_in_flight_are_bounded(tmp_path):
    """150 subscriptions start at once (thousands of sessions refreshing
    at the same moment): they share the flow's turns with REGISTER, so
    at most 64 SUBSCRIBEs are sent before answers come and the others go
    as answers arrive, in bursts of at most 64."""
    with probe_against(HoldingRegistrar, tmp_path, "subscribe",
                       uuid.uuid4(), 600, "sip:lee@example.test", 0,
                       env={"SIPUA_SUBSCRIPTIONS": "150"}) as (reg, _):
        # the REGISTER alone, then the SUBSCRIBEs
        deadline = time.monotonic() + 20
        while sum(reg.bursts) < 1 + 150:
            assert time.monotonic() < deadline, reg.bursts
            time.sleep(0.1)
        assert reg.bursts[0] == 1, reg.bursts
        subs = reg.bursts[1:]
        assert max(subs) <= 64 and subs[0] == 64, reg.bursts
        assert sum(subs) == 150, reg.bursts
