"""A baresip user agent (Debian's baresip 1.0.0) driven from Python.

    from baresip import Baresip

    with Baresip(fe, "alice", "secret", contacts=["bob"]) as alice:
        alice.wait_registered()
        alice.send_message("bob", "hello")
        alice.set_presence("online")
        alice.wait_contact_presence("bob", "Online")
        alice.wait_message(sender="bob")

One instance per user, in its own directory, registered to the Front End
over TLS (RFC 5626 outbound, trusting the Front End's CA), controlled
through baresip's ctrl_tcp module (netstring-framed JSON commands on a
127.0.0.1 port). baresip 1.0.0 reports registrations and calls as
ctrl_tcp events; incoming MESSAGEs and presence changes it only prints
through a user interface, so the stdio module is loaded (its stdin is a
pipe nobody writes to) and those are read from baresip's output.
Presence subscriptions go to the contacts given at start (baresip 1.0.0
reads its contact list once); set_contacts() changes the list and reloads
baresip's contact and presence modules.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from frontend import free_port

BARESIP = os.environ.get("BARESIP", "baresip")
MODULE_PATH = os.environ.get("BARESIP_MODULES", "/usr/lib/baresip/modules")

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# baresip 1.0.0's line for an incoming MESSAGE: 'sip:bob@example.test: "hi"'
_MSG_LINE = re.compile(r'^\r?(?P<peer>sips?:[^\s"]+): "(?P<text>.*)"$')
# its line for a NOTIFY that changed a contact's status
_PRES_LINE = re.compile(
    r"^<(?P<uri>sips?:[^>]+)> changed status from (?P<old>\S+) "
    r"to (?P<new>\S+)$", re.M)


class BaresipError(RuntimeError):
    pass


def _netstring(data):
    return str(len(data)).encode() + b":" + data + b","


class Baresip:
    """One baresip process acting as `user` toward Front End `fe`.

    contacts: users (or SIP URIs) whose presence this user subscribes to
    and to whom send_message() can write.
    transport: "tls" (default), "tcp" or "udp".
    outbound: RFC 5626 (sipnat=outbound: instance-id, reg-id, keepalives).
    answermode: "manual" or "auto" (auto-answered calls play a sine tone).
    password: the one registered with; a wrong one makes registration fail.
    """

    def __init__(self, fe, user, password, contacts=(), transport="tls",
                 outbound=True, answermode="manual", regint=600, pubint=600,
                 workdir=None, start=True, start_timeout=10):
        self.fe = fe
        self.user = user
        self.password = password
        self.transport = transport
        self.outbound = outbound
        self.answermode = answermode
        self.regint = regint
        self.pubint = pubint
        self.start_timeout = start_timeout
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"baresip-{user}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.contacts = [self._uri(c) for c in contacts]
        self.ctrl_port = None
        self.proc = None
        self.pid = None
        self._sock = None
        self._reader = None
        self._lock = threading.Condition()
        self._responses = {}
        self._events = []
        self._token = 0
        if start:
            self.start()

    # ----- configuration -----

    @property
    def aor(self):
        return f"sip:{self.user}@{self.fe.domain}"

    def _uri(self, who):
        return who if who.startswith("sip") else f"sip:{who}@{self.fe.domain}"

    def _proxy(self):
        port = {"tls": self.fe.tls_port, "tcp": self.fe.tcp_port,
                "udp": self.fe.udp_port}[self.transport]
        return f"sip:127.0.0.1:{port};transport={self.transport}"

    def _write_config(self):
        self.ctrl_port = free_port()
        conf = f"""\
poll_method		epoll
sip_listen		127.0.0.1:0
sip_cafile		{self.fe.ca_file}
call_local_timeout	60
call_max_calls		4
audio_player		aubridge,{self.user}
audio_source		ausine,440
audio_alert		aubridge,{self.user}
ausrc_srate		48000
auplay_srate		48000
ausrc_channels		2
auplay_channels		2
net_interface		127.0.0.1
rtp_ports		20000-40000
module_path		{MODULE_PATH}
module			g711.so
module			ausine.so
module			aubridge.so
module_tmp		uuid.so
module_tmp		account.so
module			stdio.so
module_app		contact.so
module_app		menu.so
module_app		presence.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{self.ctrl_port}
"""
        (self.dir / "config").write_text(conf)
        params = [f"auth_pass={self.password}",
                  f'outbound="{self._proxy()}"',
                  f"regint={self.regint}", f"pubint={self.pubint}",
                  f"answermode={self.answermode}", "mwi=no"]
        if self.outbound:
            params.append("sipnat=outbound")
        (self.dir / "accounts").write_text(
            f"<sip:{self.user}@{self.fe.domain};transport={self.transport}>;"
            + ";".join(params) + "\n")
        self._write_contacts()

    def _write_contacts(self):
        lines = [f'"{c.split(":", 1)[1].split("@")[0]}" <{c}>;presence=p2p'
                 for c in self.contacts]
        (self.dir / "contacts").write_text("\n".join(lines) + "\n")
        cur = self.dir / "current_contact"
        if cur.exists():
            cur.unlink()

    # ----- process -----

    @property
    def out_file(self):
        return self.dir / "baresip.out"

    def start(self):
        """Start baresip unless this object already runs it. The
        constructor starts it by default, and a second process would
        stay behind unstopped (and registered) when self.proc is
        replaced, so a second start() does nothing."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._write_config()
        out = open(self.out_file, "ab")
        try:
            self.proc = subprocess.Popen(
                [BARESIP, "-f", str(self.dir)], cwd=self.dir,
                stdin=subprocess.PIPE, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise BaresipError(
                    f"baresip for {self.user} exited: {self.output()[-2000:]}")
            try:
                self._sock = socket.create_connection(
                    ("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(f"no ctrl_tcp port for {self.user}")
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        return self

    def stop(self, timeout=5):
        """Quit baresip (it unregisters first) and wait; SIGKILL its
        process group if it does not go within the timeout."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self._sock:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc = None

    def kill(self):
        """Vanish without unregistering (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.stop()

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def output(self):
        """Everything baresip printed, colour codes removed."""
        try:
            return ANSI.sub("", self.out_file.read_text(errors="replace"))
        except OSError:
            return ""

    # ----- ctrl_tcp -----

    def _read_loop(self):
        buf = b""
        sock = self._sock
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:
                head, sep, rest = buf.partition(b":")
                if not sep:
                    break
                if not head.isdigit():
                    buf = b""  # out of sync; drop
                    break
                n = int(head)
                if len(rest) < n + 1:
                    break
                payload, buf = rest[:n], rest[n + 1:]
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                with self._lock:
                    if msg.get("response"):
                        self._responses[msg.get("token")] = msg
                    elif msg.get("event"):
                        msg["time"] = time.monotonic()
                        self._events.append(msg)
                    self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()

    def command(self, cmd, params=None, timeout=5):
        """Send one command; return its response data (str). Raise
        BaresipError when baresip answers ok=false."""
        if self._sock is None:
            raise BaresipError("not running")
        with self._lock:
            self._token += 1
            token = f"t{self._token}"
        req = {"command": cmd, "token": token}
        if params is not None:
            req["params"] = params
        self._sock.sendall(_netstring(json.dumps(req).encode()))
        deadline = time.monotonic() + timeout
        with self._lock:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to {cmd} from {self.user}")
                self._lock.wait(left)
            resp = self._responses.pop(token)
        data = ANSI.sub("", resp.get("data") or "")
        if not resp.get("ok", False):
            raise BaresipError(f"{cmd}: {data}")
        return data

    def events(self, type_=None):
        """ctrl_tcp events so far (dicts with class, type, param, ...)."""
        with self._lock:
            evs = list(self._events)
        return [e for e in evs if type_ is None or e.get("type") == type_]

    def wait_event(self, type_, timeout=10, since=0):
        """Wait for an event of that type (e.g. REGISTER_OK, REGISTER_FAIL,
        CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED) after index since."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for e in self._events[since:]:
                    if e.get("type") == type_:
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.user}: no {type_} event")
                self._lock.wait(left)

    # ----- registration -----

    def reginfo(self):
        return self.command("reginfo")

    def registration_status(self):
        """The status column of baresip's registration info: 'OK' when
        registered, 'ERR' when the last attempt failed, 'zzz' before."""
        m = re.search(r"^[>\s]*sips?:\S+\s+(\S+)", self.reginfo(), re.M)
        return m.group(1) if m else None

    def is_registered(self):
        return self.registration_status() == "OK"

    def registration_error(self):
        """The last failed registration's reason, e.g. '401 Unauthorized'."""
        found = re.findall(r"^reg: \S+: (.+?)(?: \(.*\))?$", self.output(),
                           re.M)
        return found[-1] if found else None

    def wait_registered(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            status = self.registration_status()
            if status == "OK":
                return True
            if status == "ERR":
                raise BaresipError(f"{self.user}: registration failed: "
                                   f"{self.registration_error()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.user} not registered ({status})")
            time.sleep(0.05)

    def wait_registration_failed(self, timeout=10):
        """Wait until registration has failed; return the reason."""
        deadline = time.monotonic() + timeout
        while self.registration_status() != "ERR":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.user}: registration did not fail")
            time.sleep(0.05)
        return self.registration_error()

    # ----- messages -----

    def _select_contact(self, uri):
        for _ in range(len(self.contacts) + 1):
            cur = self.command("contact_next")
            if f"<{uri}>" in cur:
                return
        raise BaresipError(f"{uri} is not among {self.user}'s contacts")

    def send_message(self, to, text):
        """SIP MESSAGE (text/plain) to a contact (user or URI)."""
        uri = self._uri(to)
        if uri not in self.contacts:
            raise BaresipError(f"{uri} is not a contact of {self.user}; "
                               "pass it in contacts=")
        self._select_contact(uri)
        self.command("message", text)

    def messages(self):
        """Received MESSAGEs: list of (peer URI, text), oldest first."""
        out = []
        for line in self.output().splitlines():
            m = _MSG_LINE.match(line.strip())
            if m:
                out.append((m.group("peer"), m.group("text")))
        return out

    def wait_message(self, text=None, sender=None, timeout=10):
        """Wait for a MESSAGE (from sender, with text); return (peer, text)."""
        want = self._uri(sender) if sender else None
        deadline = time.monotonic() + timeout
        while True:
            for peer, body in self.messages():
                if (want is None or peer == want) and (
                        text is None or body == text):
                    return peer, body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.user}: no message {text!r} "
                                   f"from {sender}; got {self.messages()}")
            time.sleep(0.05)

    # ----- presence -----

    def set_presence(self, status):
        """Publish own presence: 'online' or 'offline' (PUBLISH, pubint>0)."""
        if status not in ("online", "offline"):
            raise ValueError(status)
        self.command(f"presence_{status}")

    def contact_presence(self, who):
        """The status baresip shows for a contact: 'Unknown', 'Online',
        'Offline', 'Busy', ... (from the contacts list)."""
        uri = self._uri(who)
        for line in self.command("contacts").splitlines():
            if f"<{uri}>" in line:
                m = re.match(r"^[>\s]*(\S+)\s", line)
                return m.group(1) if m else None
        raise BaresipError(f"{uri} is not a contact of {self.user}")

    def wait_contact_presence(self, who, status, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            cur = self.contact_presence(who)
            if cur == status:
                return cur
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.user} sees {who} as {cur}, not {status}")
            time.sleep(0.1)

    def presence_changes(self):
        """(uri, old, new) for every status change baresip logged."""
        return [(m.group("uri"), m.group("old"), m.group("new"))
                for m in _PRES_LINE.finditer(self.output())]

    def set_contacts(self, contacts):
        """Replace the contact list and re-subscribe (reloads baresip's
        presence and contact modules)."""
        self.contacts = [self._uri(c) for c in contacts]
        self._write_contacts()
        self.command("rmmod", "presence")
        self.command("rmmod", "contact")
        self.command("insmod", "contact")
        self.command("insmod", "presence")

    # ----- calls -----

    def dial(self, who):
        self.command("dial", self._uri(who))

    def accept(self):
        self.command("accept")

    def hangup(self):
        self.command("hangup")


@contextlib.contextmanager
def agents_of(fe, passwords):
    """start(user, password=None, **kw) makes a Baresip for user (its
    password from passwords unless given); every one made is cleaned up
    when the block ends. Test modules wrap it in their agents fixture."""
    started = []

    def start(user, password=None, **kw):
        ua = Baresip(fe, user, password or passwords[user], **kw)
        started.append(ua)
        return ua

    try:
        yield start
    finally:
        for ua in started:
            ua.cleanup()


@contextlib.contextmanager
def registered(fe, user, password, **kw):
    """A Baresip for user, started and registered for the block; stopped
    after it, also when registration fails (no process left behind)."""
    ua = Baresip(fe, user, password, **kw)
    ua.start()
    try:
        ua.wait_registered()
        yield ua
    finally:
        ua.stop()
