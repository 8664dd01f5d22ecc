"""Presence subscriptions of the SIP user agent (src/sipua/sub.c) against
the real Front End (Kamailio 5.6, presence and RLS) with baresip as the
presentity.

tests/sipua/sipua_probe.c "subscribe" registers a session, subscribes
from its contact and prints every NOTIFY as the handler saw it
("notify N SENT", then "presence URI STATE AVAIL" per entry) and the end
of the subscription ("closed ERRNO SCODE").
"""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

import frontend
from frontend import rls_services_document
from test_sipua import PROBE, SRC, USERS, Probe, TlsSipServer, sent_messages

pytestmark = pytest.mark.skipif(
    not (frontend.available() and shutil.which("baresip")),
    reason="kamailio and baresip are needed (scripts/install-deps.sh)")

EACCES = 13


def subscribe(fe, tmp_path, probes, watcher, target, lst=False, expires=600):
    p = Probe(fe, watcher, fe.ha1(watcher, USERS[watcher]), "subscribe",
              str(uuid.uuid4()), expires, target, int(lst), tmpdir=tmp_path,
              env={"SIPUA_CONTACT_USER": f"app-{watcher}"})
    probes.append(p)
    return p


def presence(p, uri):
    """(state, availability) of every report for uri, in order."""
    out = []
    for ln in p.lines():
        m = re.match(r"^presence (\S+) (\S+) (\S+)$", ln)
        if m and m.group(1) == uri:
            out.append((m.group(2), m.group(3)))
    return out


def sent_subscribes(p):
    return [m for m in sent_messages(p.trace())
            if m.lstrip().startswith("SUBSCRIBE ")]


def test_allowed_changes_refresh_and_drop(fe, tmp_path, agents, probes):
    """bob allows alice: the NOTIFY is active with bob's presence; bob
    going offline is reported; the subscription is refreshed in its
    dialog; dropping it sends Expires: 0 and the Front End ends it."""
    fe.allow_presence("bob", USERS["bob"], "alice")
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")

    bob_uri = fe.uri("bob")
    alice = subscribe(fe, tmp_path, probes, "alice", bob_uri, expires=10)
    alice.wait_line(rf"^presence {bob_uri} active Online$")
    first = sent_subscribes(alice)[0]
    assert "Event: presence" in first
    assert "Accept: application/pidf+xml" in first
    assert "Supported: eventlist" not in first
    assert re.search(r"^Contact: <sip:app-alice@", first, re.M)

    bob.set_presence("offline")
    alice.wait_line(rf"^presence {bob_uri} active Offline$")

    # refreshed at 50-90% of 10 s, in the dialog (a To tag), then the
    # Front End's NOTIFY for the refresh (SENT counts the first
    # SUBSCRIBE and its answer to the 407)
    alice.wait_line(r"^notify 1 [3-9]", timeout=15)
    subs = sent_subscribes(alice)
    refresh = subs[2]
    assert re.search(r"^To: .*;tag=", refresh, re.M | re.I), refresh
    assert re.search(r"^Expires: 10\r?$", refresh, re.M), refresh
    assert "Route:" not in refresh
    assert "Proxy-Authorization" not in refresh
    # only the first, challenged SUBSCRIBE was answered with the HA1
    assert sum("Proxy-Authorization" in m for m in subs) == 1

    alice.stop()
    alice.wait_line(r"^unsubscribed$")
    assert alice.wait(10) == 0
    probes.remove(alice)
    last = sent_subscribes(alice)[-1]
    assert re.search(r"^Expires: 0\r?$", last, re.M), last
    # the Front End ended it: its last NOTIFY says terminated
    trace = alice.trace()
    assert re.search(r"Subscription-State: terminated", trace, re.I), trace


def test_no_rule_pending(fe, tmp_path, agents, probes):
    """carol has no rule for dave: pending, without presence."""
    carol = agents("carol")
    carol.wait_registered()
    carol.set_presence("online")
    uri = fe.uri("carol")
    dave = subscribe(fe, tmp_path, probes, "dave", uri)
    dave.wait_line(rf"^presence {uri} pending -$")
    assert ("active", "Online") not in presence(dave, uri)


def test_polite_block_and_block(fe, tmp_path, agents, probes):
    """erin politely blocks fred: active with an empty body, read as
    Offline although erin is online; then erin blocks fred: the
    subscription ends (rejected) through the close handler."""
    fe.set_pres_rules("erin", USERS["erin"], {"fred": "polite-block"})
    erin = agents("erin")
    erin.wait_registered()
    erin.set_presence("online")
    uri = fe.uri("erin")
    fred = subscribe(fe, tmp_path, probes, "fred", uri)
    fred.wait_line(rf"^presence {uri} active Offline$")
    assert ("active", "Online") not in presence(fred, uri)

    fe.set_pres_rules("erin", USERS["erin"], {"fred": "block"})
    fred.wait_line(rf"^presence {uri} terminated ")
    fred.wait_line(rf"^closed {EACCES} 0$")


RLS_DOC = rls_services_document(
    "sip:alice-friends@example.test",
    ["sip:bob@example.test", "sip:carol@example.test"])


def test_resource_list(fe, tmp_path, agents, probes):
    """alice subscribes to her list of bob and carol through RLS: both
    members are reported, with their states."""
    fe.allow_presence("bob", USERS["bob"], "alice")
    fe.allow_presence("carol", USERS["carol"], "alice")
    assert fe.xcap_put("alice", USERS["alice"], "rls-services",
                       RLS_DOC).status in (200, 201)
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")
    carol = agents("carol")
    carol.wait_registered()
    carol.set_presence("online")

    alice = subscribe(fe, tmp_path, probes, "alice",
                      "sip:alice-friends@example.test", lst=True)
    alice.wait_line(r"^presence sip:bob@example\.test active Online$")
    alice.wait_line(r"^presence sip:carol@example\.test active Online$")
    first = sent_subscribes(alice)[0]
    assert "Supported: eventlist" in first
    assert "multipart/related" in first

    carol.set_presence("offline")
    alice.wait_line(r"^presence sip:carol@example\.test active Offline$")
    assert not [ln for ln in alice.lines() if ln.startswith("closed")]


class ScriptedFrontEnd(TlsSipServer):
    """A TLS Front End on 127.0.0.1 that registers anybody, accepts every
    SUBSCRIBE (Expires: 600) and then runs on_subscribe(conn_index,
    request head) to get the NOTIFYs to send in that dialog, as
    (Subscription-State, Content-Type or None, body) triples; with
    close_after, the connection is closed once the NOTIFYs of the first
    connection are answered. Requests and answers are kept."""

    def __init__(self, certdir, on_subscribe, close_after=False):
        self.on_subscribe = on_subscribe
        self.close_after = close_after
        self.requests = []   # (connection index, head)
        self.answers = []    # (connection index, status line)
        self.pending = {}    # connection index -> NOTIFYs unanswered
        super().__init__(certdir)

    @staticmethod
    def _hdr(head, name):
        m = re.search(rf"^{name}:\s*(.*?)\r?$", head, re.M | re.I)
        return m.group(1) if m else None

    def on_message(self, s, idx, head, body):
        if head.startswith("SIP/2.0 "):
            self.answers.append((idx, head.split("\r\n")[0]))
            self.pending[idx] -= 1
            return not (not self.pending[idx] and self.close_after
                        and idx == 0)
        self.requests.append((idx, head))
        self.pending[idx] = (self.pending.get(idx, 0)
                             + self._request(s, idx, head))
        return True

    def _request(self, s, idx, head):
        lines = head.split("\r\n")
        keep = [ln for ln in lines[1:] if ln.split(":")[0].lower() in
                ("via", "from", "call-id", "cseq")]
        to = self._hdr(head, "To")
        me = f"<sip:127.0.0.1:{self.port};transport=tls>"
        method = lines[0].split(" ")[0]
        if method == "REGISTER":
            extra = [f"To: {to};tag=reg", "Contact: "
                     f"{self._hdr(head, 'Contact')};expires=600"]
        elif method == "SUBSCRIBE":
            extra = [f"To: {to}" + ("" if ";tag=" in to else ";tag=ps"),
                     f"Contact: {me}", "Expires: 600"]
        else:
            extra = [f"To: {to}"]
        s.sendall(("\r\n".join(["SIP/2.0 200 OK", *keep, *extra,
                                "Content-Length: 0"])
                   + "\r\n\r\n").encode())
        if method != "SUBSCRIBE" or ";tag=" in to:
            return 0
        notifies = self.on_subscribe(idx, head)
        ruri = re.search(r"<([^>]*)>", self._hdr(head, "Contact")).group(1)
        ftag = re.search(r"tag=([^;\s]+)", self._hdr(head, "From")).group(1)
        for i, (state, ctype, body) in enumerate(notifies):
            b = body.encode()
            msg = "\r\n".join([
                f"NOTIFY {ruri} SIP/2.0",
                f"Via: SIP/2.0/TLS 127.0.0.1:{self.port};branch=z9hG4bKn"
                f"{idx}x{i}",
                "Max-Forwards: 70",
                f"From: {to};tag=ps",
                f"To: {self._hdr(head, 'From').split(';')[0]};tag={ftag}",
                f"Call-ID: {self._hdr(head, 'Call-ID')}",
                f"CSeq: {i + 1} NOTIFY",
                f"Contact: {me}",
                "Event: presence",
                f"Subscription-State: {state}",
                *([f"Content-Type: {ctype}"] if ctype else []),
                f"Content-Length: {len(b)}", "", ""]).encode() + b
            s.sendall(msg)
        return len(notifies)



PIDF_OPEN = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
             'entity="sip:bob@example.test"><tuple id="t1"><status>'
             '<basic>open</basic></status></tuple></presence>')


def test_bad_notifies_and_flow_lost(tmp_path):
    """NOTIFYs over the parser's limits or unreadable get an error answer
    and the handler never sees them; a good one after them is reported.
    The connection lost, the session registers again and makes a new
    subscription (new Call-ID, no To tag); the Front End ending it with
    noresource closes it."""
    d = tmp_path / "fe-certs"
    subprocess.run([str(SRC / "deploy" / "certs.sh"), "leaf", str(d), "fe",
                    "fe.example.test"], check=True, capture_output=True)
    deep = ('<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'entity="sip:bob@example.test">' + "<x>" * 40 + "</x>" * 40
            + "</presence>")
    pidf = "application/pidf+xml"

    def on_subscribe(idx, head):
        if idx == 0:
            return [("active;expires=600", pidf, deep),
                    ("active;expires=600", pidf, "<presence"),
                    ("bogus", pidf, PIDF_OPEN),
                    ("active;expires=600", "text/plain", "hi"),
                    ("active;expires=600", pidf, PIDF_OPEN)]
        return [("terminated;reason=noresource", None, "")]

    srv = ScriptedFrontEnd(d, on_subscribe, close_after=True)
    out = tmp_path / "sub.out"
    err = tmp_path / "sub.err"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(
            [str(PROBE), f"127.0.0.1:{srv.port}", str(d / "ca.pem"),
             "fe.example.test", "alice", "example.test", "0" * 32,
             "subscribe", str(uuid.uuid4()), "600", "sip:bob@example.test",
             "0"], stdout=o, stderr=e,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, SIPUA_CONTACT_USER="app-alice"))
    try:
        deadline = time.monotonic() + 20
        while "closed 2 0" not in out.read_text():
            assert time.monotonic() < deadline, (out.read_text(),
                                                 srv.answers)
            time.sleep(0.05)
        assert proc.poll() is None       # still up
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        srv.close()

    lines = out.read_text().splitlines()
    assert [ln for ln in lines if not ln.startswith("registered")] == [
        "notify 1 1", "presence sip:bob@example.test active Online",
        "notify 1 2", "presence sip:bob@example.test terminated -",
        "closed 2 0", "unsubscribed", "unregistered"]
    first = [a for i, a in srv.answers if i == 0]
    assert [a.split(" ")[1] for a in first] == [
        "413", "400", "400", "415", "200"]
    subs = [(i, h) for i, h in srv.requests if h.startswith("SUBSCRIBE ")]
    assert [i for i, _ in subs] == [0, 1]
    callids = {ScriptedFrontEnd._hdr(h, "Call-ID") for _, h in subs}
    assert len(callids) == 2
    assert ";tag=" not in ScriptedFrontEnd._hdr(subs[1][1], "To")
    assert [a.split(" ")[1] for i, a in srv.answers if i == 1] == ["200"]
