"""The project's test Front End (Kamailio 5.6) driven from Python.

    from frontend import Frontend

    with Frontend(tmp_path / "fe") as fe:       # picks free ports, starts
        fe.add_user("alice", "secret")
        ...
        fe.registrations("alice")                # ul.lookup, parsed

Everything goes through deploy/frontend/fe.sh, so tests run the same
configuration, database set-up and start/stop logic as the demo. Every
listener is on 127.0.0.1; every wait is bounded.
"""

import hashlib
import http.client
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

from ports import free_port  # noqa: F401 (also used by the tests through here)

REPO = Path(__file__).resolve().parents[2]
FE_SH = REPO / "deploy" / "frontend" / "fe.sh"
KAMCMD = (os.environ.get("KAMCMD") or shutil.which("kamcmd")
          or "/usr/sbin/kamcmd")
KAMAILIO = (os.environ.get("KAMAILIO") or shutil.which("kamailio")
            or "/usr/sbin/kamailio")


def available():
    """True when Kamailio (and kamcmd) are installed."""
    return os.access(KAMAILIO, os.X_OK) and os.access(KAMCMD, os.X_OK)


def ha1(user, realm, password):
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def _parse_challenge(value):
    scheme, _, rest = value.partition(" ")
    params = dict(
        (k.lower(), v if v is not None and v != "" else w)
        for k, v, w in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', rest)
    )
    return scheme.strip(), params


def digest_authorization(method, uri, user, challenge, password=None,
                         ha1_hex=None, cnonce="0a4f113b", nc=1):
    """Value of an Authorization header answering a Digest challenge
    (RFC 2617, MD5, qop=auth or none). Give password or ha1_hex."""
    scheme, ch = _parse_challenge(challenge)
    if scheme.lower() != "digest":
        raise ValueError(f"not a digest challenge: {challenge!r}")
    realm, nonce = ch["realm"], ch["nonce"]
    h1 = ha1_hex or ha1(user, realm, password)
    h2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    qops = [q.strip() for q in ch.get("qop", "").split(",") if q.strip()]
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"',
              f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in qops:
        ncv = f"{nc:08x}"
        resp = hashlib.md5(
            f"{h1}:{nonce}:{ncv}:{cnonce}:auth:{h2}".encode()).hexdigest()
        fields += [f'response="{resp}"', "qop=auth", f"nc={ncv}",
                   f'cnonce="{cnonce}"']
    else:
        resp = hashlib.md5(f"{h1}:{nonce}:{h2}".encode()).hexdigest()
        fields.append(f'response="{resp}"')
    if "opaque" in ch:
        fields.append(f'opaque="{ch["opaque"]}"')
    return "Digest " + ", ".join(fields)


class FrontendError(RuntimeError):
    pass


class XcapResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<XcapResponse {self.status} {self.reason}>"


PRES_RULES_NS = (
    'xmlns="urn:ietf:params:xml:ns:pres-rules" '
    'xmlns:pr="urn:ietf:params:xml:ns:pres-rules" '
    'xmlns:cr="urn:ietf:params:xml:ns:common-policy"'
)


def rls_services_document(service, members):
    """A user's rls-services document with one presence service whose
    list holds the members' URIs (RFC 4826)."""
    entries = "".join('      <rl:entry uri="%s"/>\n' % m for m in members)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rls-services xmlns="urn:ietf:params:xml:ns:rls-services"\n'
            '    xmlns:rl="urn:ietf:params:xml:ns:resource-lists">\n'
            '  <service uri="%s">\n    <list name="list">\n%s    </list>\n'
            '    <packages><package>presence</package></packages>\n'
            '  </service>\n</rls-services>\n' % (service, entries))


def pres_rules_document(rules):
    """A pres-rules document from {watcher_uri: action}; action is one of
    allow, block, polite-block, confirm. Allowed watchers get every
    service, person, device and attribute."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             f"<cr:ruleset {PRES_RULES_NS}>"]
    for i, (watcher, action) in enumerate(rules.items()):
        parts.append(f'  <cr:rule id="r{i}">')
        parts.append("    <cr:conditions><cr:identity>"
                     f'<cr:one id="{watcher}"/>'
                     "</cr:identity></cr:conditions>")
        parts.append("    <cr:actions><pr:sub-handling>"
                     f"{action}</pr:sub-handling></cr:actions>")
        if action == "allow":
            parts.append(
                "    <cr:transformations>"
                "<pr:provide-services><pr:all-services/></pr:provide-services>"
                "<pr:provide-persons><pr:all-persons/></pr:provide-persons>"
                "<pr:provide-devices><pr:all-devices/></pr:provide-devices>"
                "<pr:provide-all-attributes/>"
                "</cr:transformations>")
        parts.append("  </cr:rule>")
    parts.append("</cr:ruleset>")
    return "\n".join(parts) + "\n"


XCAP_TYPES = {
    "pres-rules": "application/auth-policy+xml",
    "resource-lists": "application/resource-lists+xml",
    "rls-services": "application/rls-services+xml",
}


class Frontend:
    """One Front End in its own run directory, on free 127.0.0.1 ports.

    Attributes: domain, udp_port, tcp_port, tls_port, http_port, ca_file,
    ca_dir, cert_file, key_file, rundir, pid (None when stopped), log_file.
    """

    def __init__(self, rundir, domain="example.test", ca_dir=None,
                 start_timeout=20):
        self.rundir = Path(rundir).resolve()
        self.domain = domain
        self.ca_dir = Path(ca_dir).resolve() if ca_dir else self.rundir / "ca"
        self.start_timeout = start_timeout
        env_file = self.rundir / "fe.env"
        if env_file.exists():
            self._load_env()
        else:
            self.udp_port = free_port(udp_too=True)
            self.tcp_port = self.udp_port
            self.tls_port = free_port()
            self.http_port = free_port()

    # ----- set-up -----

    def _run(self, *args, timeout=60, check=True):
        proc = subprocess.run(
            ["bash", str(FE_SH), *[str(a) for a in args]],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout)
        if check and proc.returncode != 0:
            raise FrontendError(
                f"fe.sh {' '.join(map(str, args))} failed "
                f"({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def _load_env(self):
        env = {}
        for line in (self.rundir / "fe.env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k.strip()] = v.strip()
        self.domain = env["FE_DOMAIN"]
        self.udp_port = int(env["FE_UDP_PORT"])
        self.tcp_port = int(env["FE_TCP_PORT"])
        self.tls_port = int(env["FE_TLS_PORT"])
        self.http_port = int(env["FE_HTTP_PORT"])
        self.ca_dir = Path(env["FE_CA_DIR"])

    def init(self):
        """fe.sh init (start() does it when needed)."""
        if (self.rundir / "fe.env").exists():
            return
        self._run("init", self.rundir, "--domain", self.domain,
                  "--udp-port", self.udp_port, "--tcp-port", self.tcp_port,
                  "--tls-port", self.tls_port, "--http-port", self.http_port,
                  "--ca-dir", self.ca_dir)
        self._load_env()

    def start(self):
        self.init()
        self._run("start", self.rundir, timeout=self.start_timeout + 30)
        return self

    def stop(self):
        if (self.rundir / "fe.env").exists():
            self._run("stop", self.rundir, timeout=30)

    def status(self):
        """True when running (fe.sh status)."""
        if not (self.rundir / "fe.env").exists():
            return False
        return self._run("status", self.rundir, check=False).returncode == 0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ----- users -----

    def add_user(self, user, password):
        self.init()
        self._run("adduser", self.rundir, user, password)

    def del_user(self, user):
        self._run("deluser", self.rundir, user)

    def ha1(self, user, password):
        return ha1(user, self.domain, password)

    def uri(self, user):
        return f"sip:{user}@{self.domain}"

    # ----- files -----

    @property
    def ca_file(self):
        return self.ca_dir / "ca.pem"

    @property
    def cert_file(self):
        """Its certificate chain, which it also presents as a TLS client
        (to mobilityd's listeners)."""
        return self.rundir / "tls" / "fe.pem"

    @property
    def key_file(self):
        return self.rundir / "tls" / "fe.key"

    @property
    def pid_file(self):
        return self.rundir / "kamailio.pid"

    @property
    def ctl_socket(self):
        return self.rundir / "kamailio_ctl"

    @property
    def log_file(self):
        return self.rundir / "kamailio.log"

    @property
    def db_file(self):
        return self.rundir / "fe.sqlite"

    @property
    def pid(self):
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None

    def log_text(self):
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10, since=0):
        """Wait until the log (from offset `since`) matches the regex."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.log_text()[since:])
            if m:
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} in {self.log_file}")
            time.sleep(0.1)

    def sql(self, query):
        """Run a read-only query on the Front End's database (sqlite3 CLI);
        returns rows as lists of strings."""
        out = subprocess.run(
            ["sqlite3", "-batch", "-separator", "\t", "-cmd", ".timeout 5000",
             f"file:{self.db_file}?mode=ro", query],
            capture_output=True, text=True, timeout=30, check=True).stdout
        return [line.split("\t") for line in out.splitlines()]

    # ----- control socket -----

    def ctl(self, *args, timeout=10):
        """kamcmd on the control socket; returns its output."""
        proc = subprocess.run(
            [KAMCMD, "-s", f"unix:{self.ctl_socket}", *map(str, args)],
            capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise FrontendError(f"kamcmd {args}: {proc.stderr}{proc.stdout}")
        return proc.stdout

    @staticmethod
    def _parse_contacts(text):
        contacts, cur = [], None
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("Contact: {"):
                cur = {}
                contacts.append(cur)
            elif line.startswith("}"):
                cur = None
            elif cur is not None and ": " in line:
                k, _, v = line.partition(": ")
                cur[k] = v
        return [c for c in contacts if c]

    def registrations(self, user):
        """The user's bindings (ul.lookup), each a dict with keys such as
        Address, Expires, Received, Instance, Reg-Id, Socket, User-Agent."""
        out = self.ctl("ul.lookup", "location", user)
        if out.lower().startswith("error"):
            return []
        return self._parse_contacts(out)

    def wait_registered(self, user, count=1, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            regs = self.registrations(user)
            if len(regs) >= count:
                return regs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{user} has {len(regs)} bindings")
            time.sleep(0.1)

    def uptime(self):
        m = re.search(r"uptime:\s*(\d+)", self.ctl("core.uptime"))
        return int(m.group(1)) if m else None

    # ----- XCAP -----

    def xcap_path(self, user, auid, document="index"):
        xui = urllib.parse.quote(f"sip:{user}@{self.domain}", safe=":@")
        return f"/xcap-root/{auid}/users/{xui}/{document}"

    def xcap(self, method, path, user=None, password=None, body=None,
             content_type=None, timeout=10):
        """One XCAP request with HTTP digest (answers one challenge)."""
        headers = {"Host": f"127.0.0.1:{self.http_port}"}
        if content_type:
            headers["Content-Type"] = content_type
        data = body.encode() if isinstance(body, str) else body

        def send(extra):
            conn = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                              timeout=timeout)
            try:
                conn.request(method, path, body=data,
                             headers={**headers, **extra})
                r = conn.getresponse()
                return XcapResponse(r.status, r.reason, dict(r.getheaders()),
                                    r.read())
            finally:
                conn.close()

        resp = send({})
        if resp.status == 401 and user is not None:
            challenge = resp.headers.get("WWW-Authenticate", "")
            auth = digest_authorization(method, path, user, challenge,
                                        password=password)
            resp = send({"Authorization": auth})
        return resp

    def xcap_put(self, user, password, auid, document, name="index"):
        return self.xcap("PUT", self.xcap_path(user, auid, name), user,
                         password, document, XCAP_TYPES.get(auid))

    def xcap_get(self, user, password, auid, name="index"):
        return self.xcap("GET", self.xcap_path(user, auid, name), user,
                         password)

    def set_pres_rules(self, user, password, rules):
        """PUT user's pres-rules: {watcher user or URI: action}."""
        full = {(w if w.startswith("sip:") else self.uri(w)): a
                for w, a in rules.items()}
        resp = self.xcap_put(user, password, "pres-rules",
                             pres_rules_document(full))
        if resp.status not in (200, 201):
            raise FrontendError(f"XCAP PUT pres-rules: {resp.status} "
                                f"{resp.reason} {resp.text}")
        return resp

    def allow_presence(self, user, password, *watchers):
        return self.set_pres_rules(user, password,
                                   {w: "allow" for w in watchers})

    # ----- raw SIP over UDP (checks of the Front End itself) -----

    def sip_agent(self, user, password=None):
        """A SipAgent acting as user (close it, or use it with `with`)."""
        return SipAgent(self, user, password)

    def sip_request(self, method, user, password=None, **kw):
        """One out-of-dialog request over UDP as `user` from a throw-away
        socket (see SipAgent.request); returns the final responses."""
        with SipAgent(self, user, password) as agent:
            return agent.request(method, **kw)


class SipMessage:
    """A parsed SIP request or response (headers by lower-case name)."""

    def __init__(self, raw):
        text = raw.decode("utf-8", "replace")
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        first = lines[0].split(" ", 2) + ["", ""]
        if first[0].startswith("SIP/"):
            self.method = None
            self.status = int(first[1])
            self.reason = first[2]
            self.uri = None
        else:
            self.method, self.uri = first[0], first[1]
            self.status = self.reason = None
        self.headers = {}
        self.order = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            name = {"f": "from", "t": "to", "i": "call-id", "v": "via",
                    "m": "contact", "c": "content-type", "l": "content-length",
                    "o": "event", "k": "supported"}.get(
                        k.strip().lower(), k.strip().lower())
            self.headers.setdefault(name, []).append(v.strip())
            self.order.append((k.strip(), v.strip()))
        self.raw = text

    @property
    def is_request(self):
        return self.method is not None

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def cseq(self):
        num, _, method = (self.header("cseq") or "0 ?").partition(" ")
        return int(num), method.strip()

    def __repr__(self):
        if self.is_request:
            return f"<SipMessage {self.method} {self.uri}>"
        return f"<SipMessage {self.status} {self.reason}>"


class SipAgent:
    """A minimal SIP user agent over UDP on 127.0.0.1, for checks of the
    Front End: sends out-of-dialog requests (answering one digest
    challenge), answers every request it receives with 200 OK and keeps
    it in .received. Single-threaded: requests are taken in while waiting
    for responses or in wait_request()."""

    def __init__(self, fe, user, password=None):
        self.fe = fe
        self.user = user
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.contact = f"<sip:{user}@127.0.0.1:{self.port}>"
        self.received = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _dest(self):
        return ("127.0.0.1", self.fe.udp_port)

    def _recv(self):
        """One message, or None after the socket timeout. Requests are
        answered with 200 OK and recorded."""
        try:
            raw, addr = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        msg = SipMessage(raw)
        if msg.is_request:
            if msg.method != "ACK":
                self._answer(msg, addr)
            self.received.append(msg)
        return msg

    def _answer(self, req, addr, status=200, reason="OK"):
        to = req.header("to") or ""
        if ";tag=" not in to:
            to += f";tag={secrets.token_hex(4)}"
        hdrs = [f"Via: {v}" for v in req.headers.get("via", [])]
        hdrs += [f"From: {req.header('from')}", f"To: {to}",
                 f"Call-ID: {req.header('call-id')}",
                 f"CSeq: {req.header('cseq')}"]
        if req.method in ("SUBSCRIBE", "INVITE"):
            hdrs.append(f"Contact: {self.contact}")
        hdrs.append("Content-Length: 0")
        self.sock.sendto((f"SIP/2.0 {status} {reason}\r\n"
                          + "\r\n".join(hdrs) + "\r\n\r\n").encode(), addr)

    def request(self, method, to_user=None, headers=(), body="",
                content_type="text/plain", contact=None, auth_user=None,
                ruri=None, from_uri=None, timeout=5):
        """Send one out-of-dialog request (to to_user, default self;
        from from_uri, default the agent's AOR); when the agent has a
        password, answer one digest challenge (as auth_user, default the
        agent's user). Returns the final responses: [challenge, answer]
        or [answer]."""
        to_user = to_user or self.user
        ruri = ruri or (f"sip:{self.fe.domain}" if method == "REGISTER"
                        else f"sip:{to_user}@{self.fe.domain}")
        call_id = secrets.token_hex(8)
        tag = secrets.token_hex(4)
        finals = []
        extra = list(headers)
        for cseq in (1, 2):
            hdrs = [
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;"
                f"branch=z9hG4bK{secrets.token_hex(8)}",
                "Max-Forwards: 70",
                f"From: <{from_uri or self.fe.uri(self.user)}>;tag={tag}",
                f"To: <sip:{to_user}@{self.fe.domain}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} {method}",
            ]
            if contact:
                hdrs.append(f"Contact: {contact}")
            hdrs += extra
            data = body.encode() if isinstance(body, str) else body
            if data:
                hdrs.append(f"Content-Type: {content_type}")
            hdrs.append(f"Content-Length: {len(data)}")
            msg = (f"{method} {ruri} SIP/2.0\r\n" + "\r\n".join(hdrs)
                   + "\r\n\r\n").encode() + data
            resp = self._exchange(msg, call_id, cseq, timeout)
            finals.append(resp)
            if (resp.status not in (401, 407) or self.password is None
                    or cseq == 2):
                break
            www = resp.status == 401
            auth = digest_authorization(
                method, ruri, auth_user or self.user,
                resp.header("www-authenticate" if www
                            else "proxy-authenticate"),
                password=self.password)
            extra = list(headers) + [
                f"{'Authorization' if www else 'Proxy-Authorization'}: "
                f"{auth}"]
        return finals

    def _exchange(self, msg, call_id, cseq, timeout):
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                self.sock.sendto(msg, self._dest())
                next_send = time.monotonic() + 0.5
            resp = self._recv()
            if (resp is None or resp.is_request
                    or resp.header("call-id") != call_id
                    or resp.cseq()[0] != cseq):
                continue
            if resp.status >= 200:
                return resp
            next_send = deadline  # provisional: stop retransmitting
        raise TimeoutError("no final response from the Front End")

    def wait_request(self, method, predicate=None, timeout=5, since=0):
        """Wait for a received request (answered 200 already) of that
        method, after index `since` of .received, matching predicate."""
        deadline = time.monotonic() + timeout
        while True:
            for req in self.received[since:]:
                if req.method == method and (predicate is None
                                             or predicate(req)):
                    return req
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} for {self.user}")
            self._recv()
