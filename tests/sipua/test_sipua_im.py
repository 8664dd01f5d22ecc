"""Instant messages and presence publication of the SIP user agent
against the real Front End (Kamailio 5.6) and baresip.

tests/sipua/sipua_probe.c drives src/sipua: registrations that take
MESSAGE requests and answer them late (sipua_sreq_reply), MESSAGE out
(sipua_message) and PUBLISH (sipua_pub). baresip and raw SIP agents
(tests/pylib/frontend.py) are the other side.
"""
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest

import frontend
from frontend import free_port
from test_sipua import PROBE as BUILD_PROBE, SRC, USERS, Probe, TlsSipServer, sent_messages

pytestmark = pytest.mark.skipif(
    not (frontend.available() and shutil.which("baresip")),
    reason="kamailio and baresip are needed (scripts/install-deps.sh)")

ENOENT, EINVAL, EMSGSIZE = 2, 22, 90


def register(fe, tmp_path, probes, user, app, take="0", expires=600):
    """A registration of user whose Contact user is app; take: the
    SIPUA_TAKE_MESSAGES value (DELAY_MS[,SCODE]) or None."""
    env = {"SIPUA_CONTACT_USER": app}
    if take is not None:
        env["SIPUA_TAKE_MESSAGES"] = take
    p = Probe(fe, user, fe.ha1(user, USERS[user]), "register",
              str(uuid.uuid4()), expires, tmpdir=tmp_path, env=env)
    probes.append(p)
    p.wait_line(rf"^registered {expires} ")
    return p


def message_lines(p):
    """(from URI, content type, body) of every message the probe took."""
    out = []
    for ln in p.lines():
        if ln.startswith("message "):
            _, frm, ctype, hexbody = (ln.split(" ", 3) + [""])[:4]
            out.append((frm, ctype, bytes.fromhex(hexbody).decode()))
    return out


def send(fe, tmp_path, user, to_uri, text, ctype="text/plain"):
    p = Probe(fe, user, fe.ha1(user, USERS[user]), "message", to_uri,
              ctype, text, tmpdir=tmp_path)
    rc = p.wait(40)
    return rc, p.lines()[-1], p


# ----- MESSAGE in -----

def test_incoming_message_answered_after_delay(fe, tmp_path, agents, probes):
    """baresip writes to alice; the session named in the Contact takes
    it and answers 200 1.5 s later; baresip sees no failure. The same
    with 603: baresip shows the 603 only after the delay, so it does see
    our late answer."""
    alice = register(fe, tmp_path, probes, "alice", "app-a1", take="1500")
    regs = fe.registrations("alice")
    assert len(regs) == 1 and "sip:app-a1@" in regs[0]["Address"]
    assert "Allow: OPTIONS, MESSAGE" in alice.trace()

    bob = agents("bob", contacts=["alice"])
    bob.wait_registered()
    text = 'Hi Alice, 3 < 4 & "quoted"'
    t0 = time.monotonic()
    bob.send_message("alice", text)
    alice.wait_line(r"^message ")
    assert message_lines(alice) == [
        (fe.uri("bob"), "text/plain", text)]
    alice.wait_line(r"^answered 200 0 114$", timeout=5)
    assert time.monotonic() - t0 >= 1.4
    # the 200 went out in the server transaction of the MESSAGE
    ok = [m for m in sent_messages(alice.trace())
          if m.lstrip().startswith("SIP/2.0 200 OK") and "MESSAGE" in m]
    assert len(ok) == 1
    time.sleep(1.0)
    assert not re.search(r"^\s*\d{3} ", bob.output(), re.M), bob.output()

    # a late refusal reaches baresip as such, after the delay
    alice.stop()
    alice.wait(10)
    probes.remove(alice)
    declined = register(fe, tmp_path, probes, "alice", "app-a2",
                        take="1500,603")
    t0 = time.monotonic()
    bob.send_message("alice", "second")
    declined.wait_line(r"^message ")
    deadline = time.monotonic() + 6
    while "603 Decline" not in bob.output():
        assert time.monotonic() < deadline, bob.output()
        time.sleep(0.05)
    assert time.monotonic() - t0 >= 1.4


def ask_listener(fe, port, cafile, method, user, body=""):
    """One request straight to a probe's own SIP/TLS listener, as the
    Front End (its certificate as client certificate); returns (status
    line, {header: value})."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.load_cert_chain(fe.cert_file, fe.key_file)
    data = body.encode()
    req = [f"{method} sip:{user}@127.0.0.1:{port};transport=tls SIP/2.0",
           "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK"
           + uuid.uuid4().hex[:12],
           "Max-Forwards: 70", f"To: <sip:{user}@example.test>",
           "From: <sip:fred@example.test>;tag=1",
           "Call-ID: " + uuid.uuid4().hex, f"CSeq: 1 {method}"]
    if data:
        req.append("Content-Type: text/plain")
    req.append(f"Content-Length: {len(data)}")
    with socket.create_connection(("127.0.0.1", port), 5) as s, \
            ctx.wrap_socket(s, server_hostname="mob.example.test") as t:
        t.sendall(("\r\n".join(req) + "\r\n\r\n").encode() + data)
        t.settimeout(5)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = t.recv(4096)
            if not chunk:
                break
            got += chunk
    head = got.decode(errors="replace").split("\r\n\r\n")[0].split("\r\n")
    return head[0], {k.strip().lower(): v.strip() for k, _, v in
                     (ln.partition(":") for ln in head[1:])}


def test_requests_dispatched_by_contact_user(fe, tmp_path, probes):
    """Requests to our listener: the Request-URI user picks the session
    (its Contact user); an unknown one gets 404; a session without a
    handler answers MESSAGE with 405; other methods 405 or 501."""
    d = tmp_path / "certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "mob",
                    "mob.example.test"], check=True, capture_output=True)
    ports = [free_port(), free_port()]
    regs = []
    ports.append(free_port())
    for port, app, take in ((ports[0], "sess-1", "0"),
                            (ports[1], "sess-2", None),
                            (ports[2], "sess-3", "drop")):
        env = {"SIPUA_CONTACT_USER": app, "SIPUA_LISTEN":
               f"127.0.0.1:{port}", "SIPUA_CERT": str(d / "mob.pem"),
               "SIPUA_KEY": str(d / "mob.key")}
        if take is not None:
            env["SIPUA_TAKE_MESSAGES"] = take
        p = Probe(fe, "erin", fe.ha1("erin", USERS["erin"]), "register",
                  str(uuid.uuid4()), 600, tmpdir=tmp_path, env=env)
        probes.append(p)
        p.wait_line(r"^registered 600 ")
        regs.append(p)
    a, b, c = regs
    assert "Allow: OPTIONS, MESSAGE" in a.trace()
    assert re.search(r"^Allow: OPTIONS$", b.trace(), re.M)
    addrs = sorted(c["Address"] for c in fe.registrations("erin"))
    assert [x.split("@")[0].lstrip("<") for x in addrs] == \
        ["sip:sess-1", "sip:sess-2", "sip:sess-3"]
    ca = d / "ca.pem"

    line, h = ask_listener(fe, ports[0], ca, "MESSAGE", "sess-1", "to one")
    assert line == "SIP/2.0 200 OK"
    assert [m[2] for m in message_lines(a)] == ["to one"]
    line, h = ask_listener(fe, ports[0], ca, "MESSAGE", "nobody", "x")
    assert line == "SIP/2.0 404 Not Found"
    line, h = ask_listener(fe, ports[0], ca, "INVITE", "sess-1")
    assert line == "SIP/2.0 405 Method Not Allowed"
    assert h["allow"] == "OPTIONS, MESSAGE"
    line, h = ask_listener(fe, ports[0], ca, "FOO", "sess-1")
    assert line == "SIP/2.0 501 Not Implemented"
    line, h = ask_listener(fe, ports[0], ca, "OPTIONS", "sess-1")
    assert line == "SIP/2.0 200 OK" and h["allow"] == "OPTIONS, MESSAGE"
    line, h = ask_listener(fe, ports[1], ca, "MESSAGE", "sess-2", "x")
    assert line == "SIP/2.0 405 Method Not Allowed"
    assert h["allow"] == "OPTIONS"
    assert len(message_lines(a)) == 1 and not message_lines(b)
    # a handler that keeps no reference and does not answer: 500
    line, h = ask_listener(fe, ports[2], ca, "MESSAGE", "sess-3", "lost")
    assert line == "SIP/2.0 500 Server Internal Error"
    assert [m[2] for m in message_lines(c)] == ["lost"]


def test_message_stored_offline_arrives_after_register(fe, tmp_path,
                                                       probes):
    """msilo keeps a MESSAGE for an offline user (202) and hands it over
    on the REGISTER of a session that allows MESSAGE."""
    text = "while you were away"
    with fe.sip_agent("fred", USERS["fred"]) as fred:
        r = fred.request("MESSAGE", to_user="dave", body=text)[-1]
    assert r.status == 202, r
    p = register(fe, tmp_path, probes, "dave", "app-d1", take="200")
    p.wait_line(r"^message ", timeout=15)
    assert message_lines(p) == [(fe.uri("fred"), "text/plain", text)]
    p.wait_line(r"^answered 200 0 114$")


# ----- MESSAGE out -----

def test_message_to_baresip(fe, tmp_path, agents):
    bob = agents("bob")
    bob.wait_registered()
    text = 'Hello Bob: 2 > 1 & <b>"ok"</b>'
    rc, last, p = send(fe, tmp_path, "alice", fe.uri("bob"), text)
    assert (rc, last) == (0, "sent 0 200"), p.trace()
    assert bob.wait_message(text=text, sender="alice")
    req = [m for m in sent_messages(p.trace())
           if m.lstrip().startswith("MESSAGE ")]
    # challenged once (407), answered once with alice's digest
    assert len(req) == 2
    assert "Proxy-Authorization: Digest" in req[1]
    assert re.search(r"^From: <sip:alice@example\.test>;tag=", req[1],
                     re.M)
    assert "Content-Type: text/plain;charset=UTF-8" in req[1]


def test_next_message_answers_the_kept_challenge(fe, tmp_path, agents):
    """The second MESSAGE of a user carries the answer to the 407 of the
    first (nc 2): the Front End takes it without challenging again."""
    bob = agents("bob")
    bob.wait_registered()
    p = Probe(fe, "alice", fe.ha1("alice", USERS["alice"]), "message",
              fe.uri("bob"), "text/plain", "twice", tmpdir=tmp_path,
              env={"SIPUA_MESSAGES": "2"})
    assert p.wait(40) == 0, p.trace()
    assert [x for x in p.lines() if x.startswith("sent ")] == ["sent 0 200"] * 2
    req = [m for m in sent_messages(p.trace())
           if m.lstrip().startswith("MESSAGE ")]
    # the first challenged and answered, the second answered at once
    assert len(req) == 3, p.trace()
    assert "Proxy-Authorization" not in req[0]
    assert "nc=00000001" in req[1] and "nc=00000002" in req[2]
    nonce = re.search(r'nonce="([^"]+)"', req[1]).group(1)
    assert 'nonce="%s"' % nonce in req[2]


def test_message_to_offline_user_stored_then_delivered(fe, tmp_path,
                                                       agents):
    text = "see you tomorrow"
    rc, last, p = send(fe, tmp_path, "alice", fe.uri("carol"), text)
    assert (rc, last) == (0, "sent 0 202"), p.trace()
    carol = agents("carol")
    carol.wait_registered()
    assert carol.wait_message(text=text, sender="alice", timeout=15)


def test_message_to_unknown_user_fails(fe, tmp_path):
    rc, last, p = send(fe, tmp_path, "alice", "sip:nobody@example.test",
                       "hello?")
    assert (rc, last) == (1, f"sent {ENOENT} 404")


def test_message_refused_arguments(fe, tmp_path):
    for uri in ("sip:bob@example.test\r\nX-Injected: 1",
                "sip:bob@example.test;transport=udp", "tel:+14255550100",
                "sip:example.test", "sip:bob bob@example.test"):
        rc, last, p = send(fe, tmp_path, "alice", uri, "x")
        assert (rc, last) == (1, f"sent {EINVAL} 0"), uri
    rc, last, p = send(fe, tmp_path, "alice", fe.uri("bob"), "x",
                       ctype="application/json")
    assert (rc, last) == (1, f"sent {EINVAL} 0")
    rc, last, p = send(fe, tmp_path, "alice", fe.uri("bob"), "x" * 32769)
    assert (rc, last) == (1, f"sent {EMSGSIZE} 0")
    assert not sent_messages(p.trace())


# ----- PUBLISH -----

PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:gina@example.test">
  <tuple id="t-{tag}"><status><basic>{basic}</basic></status>
    <note>{note}</note></tuple>
</presence>
"""


def test_publish_change_refresh_remove(fe, tmp_path, probes):
    """Our publication as a watcher allowed by gina's pres-rules sees
    it: the document, a change (SIP-If-Match with the new body), a
    refresh (SIP-If-Match, no body) and the removal (Expires: 0)."""
    fe.allow_presence("gina", USERS["gina"], "fred")
    docs = []
    for i, (basic, note) in enumerate([("open", "first-note"),
                                       ("closed", "second-note")]):
        path = tmp_path / f"pidf{i}.xml"
        path.write_text(PIDF.format(tag=i, basic=basic, note=note))
        docs.append(path)
    p = Probe(fe, "gina", fe.ha1("gina", USERS["gina"]), "publish",
              "application/pidf+xml", 10, *docs, tmpdir=tmp_path)
    probes.append(p)
    p.wait_line(r"^published 0 200$")
    with fe.sip_agent("fred", USERS["fred"]) as fred:
        r = fred.request("SUBSCRIBE", to_user="gina", contact=fred.contact,
                         headers=["Event: presence", "Expires: 60",
                                  "Accept: application/pidf+xml"])[-1]
        assert r.status in (200, 202)
        fred.wait_request("NOTIFY", timeout=10,
                          predicate=lambda n: "first-note" in n.body)

        since = len(fred.received)
        p.proc.send_signal(signal.SIGUSR1)
        p.wait_line(r"^published 0 200$", count=2)
        n = fred.wait_request("NOTIFY", timeout=10, since=since,
                              predicate=lambda n: "second-note" in n.body)
        assert "<basic>closed</basic>" in n.body
        pubs = [m for m in sent_messages(p.trace())
                if m.lstrip().startswith("PUBLISH ")]
        etag = re.search(r"^SIP-ETag: (\S+)", p.trace(), re.M).group(1)
        assert "SIP-If-Match" not in pubs[0]
        modify = [m for m in pubs if "second-note" in m]
        assert modify and "SIP-If-Match: " + etag in modify[-1]

        # refresh at 50-90% of the 10 s granted: no body
        p.wait_line(r"^published 0 200$", count=3, timeout=12)
        pubs = [m for m in sent_messages(p.trace())
                if m.lstrip().startswith("PUBLISH ")]
        assert re.search(r"^SIP-If-Match: \S+", pubs[-1], re.M)
        assert re.search(r"^Content-Length: 0\r?$", pubs[-1], re.M)
        assert "Content-Type" not in pubs[-1]

        # removal: the watcher is told the document is gone (Kamailio's
        # presence_xml sends the tuple closed, without our note; a
        # NOTIFY for the refresh may come first, with the note)
        since = len(fred.received)
        p.stop()
        p.wait_line(r"^unpublished$")
        n = fred.wait_request("NOTIFY", timeout=10, since=since,
                              predicate=lambda n: "note" not in n.body)
        assert "<basic>closed</basic>" in n.body
        assert p.wait(10) == 0
    pubs = [m for m in sent_messages(p.trace())
            if m.lstrip().startswith("PUBLISH ")]
    assert re.search(r"^Expires: 0\r?$", pubs[-1], re.M)
    assert re.search(r"^SIP-If-Match: \S+", pubs[-1], re.M)


class FakePresenceServer(TlsSipServer):
    """A TLS presence server on 127.0.0.1 answering PUBLISH requests from
    a script: answers[i] is (status line, extra headers) for the i-th
    request; every request is kept as (head, body)."""

    def __init__(self, certdir, answers):
        self.answers = list(answers)
        self.requests = []
        super().__init__(certdir)

    def on_message(self, s, idx, head, body):
        self.requests.append((head, body))
        s.sendall(self._answer(head))

    def _answer(self, head):
        status, extra = (self.answers.pop(0) if self.answers
                         else ("500 Out Of Script", []))
        lines = head.split("\r\n")[1:]
        keep = [ln for ln in lines if ln.split(":")[0].lower() in
                ("via", "from", "call-id", "cseq")]
        to = next(ln for ln in lines if ln.lower().startswith("to:"))
        return ("\r\n".join([f"SIP/2.0 {status}", *keep, to + ";tag=ps",
                             *extra, "Content-Length: 0"])
                + "\r\n\r\n").encode()


def test_publish_423_and_412_start_over(tmp_path):
    """423: once more with Min-Expires. 412 to a change (the server lost
    the entity tag): the whole document again, without SIP-If-Match.
    Removal uses the new entity tag."""
    d = tmp_path / "fe-certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "fe",
                    "fe.example.test"], check=True, capture_output=True)
    srv = FakePresenceServer(d, [
        ("423 Interval Too Brief", ["Min-Expires: 30"]),
        ("200 OK", ["SIP-ETag: e1", "Expires: 30"]),
        ("412 Conditional Request Failed", []),
        ("200 OK", ["SIP-ETag: e2", "Expires: 30"]),
        ("200 OK", ["SIP-ETag: e2", "Expires: 0"]),
    ])
    docs = []
    for i in range(2):
        path = tmp_path / f"doc{i}.xml"
        path.write_text(f"<presence>doc-{i}</presence>")
        docs.append(path)
    out = tmp_path / "pub.out"
    with open(out, "w") as o:
        proc = subprocess.Popen(
            [str(BUILD_PROBE), f"127.0.0.1:{srv.port}", str(d / "ca.pem"),
             "fe.example.test", "gina", "example.test", "0" * 32, "publish",
             "application/pidf+xml", "10", *map(str, docs)],
            stdout=o, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        def wait_lines(n):
            deadline = time.monotonic() + 10
            while len(out.read_text().splitlines()) < n:
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.05)
        wait_lines(1)
        proc.send_signal(signal.SIGUSR1)
        wait_lines(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.close()
    assert out.read_text().splitlines() == [
        "published 0 200", "published 0 200", "unpublished"]
    heads = [h for h, _ in srv.requests]
    bodies = [b for _, b in srv.requests]
    assert len(heads) == 5
    assert all(h.startswith("PUBLISH sip:gina@example.test ")
               for h in heads)
    assert all("\r\nEvent: presence" in h for h in heads)
    exp = [re.search(r"^Expires: (\d+)", h, re.M).group(1) for h in heads]
    assert exp == ["10", "30", "30", "30", "0"]
    ifm = [(re.search(r"^SIP-If-Match: (\S+)", h, re.M) or [None, None])[1]
           for h in heads]
    assert ifm == [None, None, "e1", None, "e2"]
    assert bodies == ["<presence>doc-0</presence>"] * 2 + \
        ["<presence>doc-1</presence>"] * 2 + [""]
