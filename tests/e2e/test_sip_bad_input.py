"""Bad input reaching mobilityd from the SIP side. The Front End reaches a
session over TLS at mobilityd's own SIP listener ([sip] internal_listen),
with the session's Contact user (the application id) as Request-URI
user; these tests connect there as a peer would and send requests over
the limits, XML entity bombs (also inside the dialog of a real
presence subscription), and malformed requests. Each must get a
clear answer (or, where libre itself gives up, a closed connection), and
afterwards the service is healthy and a normal MESSAGE still reaches the
application."""
import json
import re
import secrets
import ssl
import time
import urllib.request

import pytest

from sippeer import Peer
from ucwa_client import api, create, im_texts, token

# a "billion laughs" document: ten levels of ten references
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE presence [\n<!ENTITY l0 "ha">\n'
          + "".join('<!ENTITY l%d "%s">\n' % (i, ("&l%d;" % (i - 1)) * 10)
                    for i in range(1, 10))
          + ']>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
          'entity="sip:bob@example.test"><tuple id="t"><status><basic>'
          "&l9;</basic></status></tuple><note>&l9;</note></presence>\n")


def deep_pidf(depth):
    return ('<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'entity="sip:bob@example.test"><tuple id="t">'
            + "<x>" * depth + "</x>" * depth + "</tuple></presence>\n")


@pytest.fixture(scope="module")
def alice(mob, fe):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "sip-bad-input")
    assert st == 201, body
    app = json.loads(body)
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    # the Front End routes to the Contact user: the application id
    assert any("sip:%s@" % app["id"] in r["Address"] for r in fe.registrations("alice"))
    return {"tok": tok, "app": app, "user": app["id"],
            "next": app["_links"]["events"]["href"]}


def message_texts(mob, a, timeout=15):
    """Follow the next links until bob's messages appear; return their
    texts (from the invitation or the message events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, _, body = api(mob, a["tok"], "GET", a["next"])
        assert st == 200, body
        batch = json.loads(body)
        a["next"] = batch["_links"]["next"]["href"]
        out = im_texts(batch)
        if out:
            return out
    raise AssertionError("no message event")


def assert_healthy(mob, a, peer):
    """/healthz answers and a normal MESSAGE is taken and reaches the
    application."""
    assert mob.alive(), mob.log()
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % mob.admin_port,
                                timeout=5) as r:
        assert r.status == 200
    text = "still here " + secrets.token_hex(4)
    status, _ = peer.send(peer.request("MESSAGE", a["user"], text))
    assert status == "SIP/2.0 200 OK"
    assert message_texts(mob, a) == [text]


@pytest.fixture(scope="module")
def peer(mob, fe):
    return Peer(mob, (fe.cert_file, fe.key_file))


def test_normal_message_first(mob, alice, peer):
    assert_healthy(mob, alice, peer)


def test_message_over_the_size_limit(mob, alice, peer):
    # over SIPUA_MAX_MSG_BYTES (60000), under libre's 64 KiB
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], "x" * 60001))
    assert status == "SIP/2.0 513 Message Too Large"
    assert_healthy(mob, alice, peer)
    # over 64 KiB libre drops the connection before anything is answered
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], "x" * 70000))
    assert status is None
    assert_healthy(mob, alice, peer)


def test_message_with_xml_bodies(mob, alice, peer):
    # a PIDF (or any non-text) MESSAGE is not an instant message
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], LAUGHS,
                                       ctype="application/pidf+xml"))
    assert status == "SIP/2.0 415 Unsupported Media Type"
    # as text it is only text: delivered as sent, nothing expanded
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], LAUGHS))
    assert status == "SIP/2.0 200 OK"
    assert message_texts(mob, alice) == [LAUGHS]
    assert_healthy(mob, alice, peer)


def test_message_charsets(mob, alice, peer):
    """The app is given UTF-8: ISO-8859-1 converted, ill-formed UTF-8
    bytes shown as U+FFFD, another charset refused (415)."""
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], "caf\u00e9 \u00fc".encode("latin-1"),
                                       ctype="text/plain;charset=ISO-8859-1"))
    assert status == "SIP/2.0 200 OK"
    assert message_texts(mob, alice) == ["caf\u00e9 \u00fc"]
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], b"ok \xff\xfe end",
                                       ctype="text/plain; charset=utf-8"))
    assert status == "SIP/2.0 200 OK"
    assert message_texts(mob, alice) == ["ok \ufffd\ufffd end"]
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], "\u3042".encode("shift_jis"),
                                       ctype="text/plain;charset=Shift_JIS"))
    assert status == "SIP/2.0 415 Unsupported Media Type"
    assert_healthy(mob, alice, peer)


@pytest.mark.parametrize("body", [LAUGHS, deep_pidf(40), "x" * 60001],
                         ids=["billion-laughs", "depth-40", "oversized"])
def test_notify_no_subscription(mob, alice, peer, body):
    """A NOTIFY with a PIDF body: in a dialog the session does not have
    (To tag) it is 481, outside one 405 (a session takes MESSAGE, calls
    and OPTIONS); over the size limit 513 before anything else. The
    answer comes at once: the body is never expanded."""
    hdr = {"Event": "presence", "Subscription-State": "active;expires=600"}
    big = len(body) > 60000
    t0 = time.monotonic()
    status, _ = peer.send(peer.request(
        "NOTIFY", alice["user"], body, ctype="application/pidf+xml",
        headers={**hdr, "To": "<sip:alice@example.test>;tag=abc"}))
    assert status == ("SIP/2.0 513 Message Too Large" if big
                      else "SIP/2.0 481 Subscription Does Not Exist")
    status, answer = peer.send(peer.request(
        "NOTIFY", alice["user"], body, ctype="application/pidf+xml", headers=hdr))
    if big:
        assert status == "SIP/2.0 513 Message Too Large"
    else:
        assert status == "SIP/2.0 405 Method Not Allowed"
        assert (b"\r\nAllow: OPTIONS, MESSAGE, INVITE, ACK, CANCEL, BYE\r\n"
                in answer)
    assert time.monotonic() - t0 < 5
    assert_healthy(mob, alice, peer)


@pytest.mark.parametrize("kw,reason", [
    ({"drop": ["Max-Forwards"]}, "400 Missing Max-Forwards header"),
    ({"headers": {"Max-Forwards": "256"}}, "400 Malformed Max-Forwards header"),
    ({"drop": ["To"]}, "400 Missing To header"),
    ({"extra": ["To: <sip:carol@example.test>"]}, "400 More than one To header"),
    ({"headers": {"Call-ID": ""}}, "400 Empty Call-ID header"),
    ({"headers": {"CSeq": "2147483648 MESSAGE"}}, "400 Malformed CSeq header"),
    ({"headers": {"CSeq": "1 INVITE"}},
     "400 CSeq method does not match the request method"),
    ({"extra": ["Via: SIP/2.0/TLS 10.0.0.%d:5061;branch=z9hG4bK%d" % (i, i)
                for i in range(16)]}, "400 Too many Via headers"),
    ({"extra": ["X-Filler-%d: y" % i for i in range(100)]}, "400 Too many header fields"),
    # a name-addr without its '>': libre would read "<sip:bob@..." as
    # the sender's URI
    ({"headers": {"From": "<sip:bob@example.test;tag=1"}},
     "400 Malformed To or From header"),
    # CR LF inside the From (the rest becomes a header of its own)
    ({"headers": {"From": "<sip:bob@example.test\r\nVia: x>;tag=1"}},
     "400 Malformed To or From header"),
    # a sender longer than UCWA_URI_MAX (256) is refused, not cut short
    ({"headers": {"From": "<sip:%s@example.test>;tag=1" % ("b" * 250)}},
     "400 From URI too long"),
])
def test_malformed_message(mob, alice, peer, kw, reason):
    status, _ = peer.send(peer.request("MESSAGE", alice["user"], "hello", **kw))
    assert status == "SIP/2.0 " + reason
    assert_healthy(mob, alice, peer)


def test_not_sip_at_all(mob, alice, peer):
    """Bytes that are not SIP get no answer; libre closes such a
    connection when no request has come within its accept timeout (32
    s). Meanwhile the service serves everyone else."""
    junk = [peer.connect() for _ in range(2)]
    junk[0].sendall(b"\x16\x03\x01garbage\r\n\r\n")
    junk[1].sendall(b"HELLO\r\n\r\n")
    status, _ = peer.send(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: -5\r\n\r\n")
    assert status == "SIP/2.0 400 Missing Via header"
    assert_healthy(mob, alice, peer)
    for s in junk:
        s.settimeout(90)
        try:
            assert s.recv(4096) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
        finally:
            s.close()
    assert_healthy(mob, alice, peer)



def pidf(basic, extra=""):
    return ('<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'entity="sip:bob@example.test"><tuple id="t"><status><basic>%s</basic>'
            "</status>%s</tuple></presence>\n" % (basic, extra))


def bob_availability(mob, a):
    st, _, body = api(mob, a["tok"], "GET", a["app"]["_links"]["self"]["href"]
                      + "/people/contacts/sip%3Abob%40example.test/contactPresence")
    return json.loads(body).get("availability") if st == 200 else None


def wait_availability(mob, a, want, timeout=15):
    deadline = time.monotonic() + timeout
    while bob_availability(mob, a) != want:
        assert time.monotonic() < deadline, bob_availability(mob, a)
        time.sleep(0.2)


def test_notify_in_the_subscription_dialog(fe, mob, alice, peer):
    """alice's application follows bob; NOTIFYs in that very dialog
    (its Call-ID and tags, read from the Front End's debug log) with a
    billion-laughs document, nesting 40 deep or 1100 elements are refused
    (400, 413, 413) and change nothing; good ones around them are taken,
    so the dialog is the right one and still works after."""
    fe.allow_presence("bob", "bob-secret", "alice")
    st, _, body = api(mob, alice["tok"], "POST", alice["app"]["_links"]["self"]["href"]
                      + "/people/presenceSubscriptions",
                      {"duration": 11, "uris": ["sip:bob@example.test"]})
    assert st == 201, body
    dialog = fe.wait_log(r"(?s)pres_uri: sip:bob@example.test\n.*?"
                         r"watcher_user@watcher_domain: alice@example.test\n.*?"
                         r"callid/from_tag/to_tag: (\S+)/(\S+)/(\S+)\n.*?"
                         r"local_cseq/remote_cseq: (\d+)/", timeout=15)
    callid, ours, theirs, cseq = dialog.groups()
    # bob has published nothing: the Front End's first NOTIFY says so
    wait_availability(mob, alice, "Offline")

    def notify(body):
        notify.cseq += 1
        status, _ = peer.send(peer.request(
            "NOTIFY", alice["user"], body, ctype="application/pidf+xml",
            headers={"From": "<sip:bob@example.test>;tag=" + theirs,
                     "To": "<sip:alice@example.test>;tag=" + ours,
                     "Call-ID": callid, "CSeq": "%d NOTIFY" % notify.cseq,
                     "Event": "presence",
                     "Subscription-State": "active;expires=600"}))
        return status
    notify.cseq = int(cseq) + 100

    assert notify(pidf("open")) == "SIP/2.0 200 OK"
    wait_availability(mob, alice, "Online")
    assert notify(LAUGHS) == "SIP/2.0 400 Bad Body"
    assert notify(deep_pidf(40)) == "SIP/2.0 413 Request Entity Too Large"
    assert notify(pidf("closed", "<x/>" * 1100)) == "SIP/2.0 413 Request Entity Too Large"
    assert bob_availability(mob, alice) == "Online"
    assert notify(pidf("closed")) == "SIP/2.0 200 OK"
    wait_availability(mob, alice, "Offline")
    assert_healthy(mob, alice, peer)


def responses(s, n, timeout=10):
    """The next n answers on connection s (no bodies): their status lines
    and the To tag of the last one."""
    s.settimeout(timeout)
    got = b""
    while got.count(b"\r\n\r\n") < n:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    answers = got.decode().split("\r\n\r\n")[:n]
    tag = re.search(r"(?m)^To: .*;tag=(\S+)\r?$", answers[-1])
    return [a.split("\r\n")[0] for a in answers], tag and tag.group(1)


def call_events(mob, a, n, timeout=15):
    """The completed phoneAudioInvitation events until there are n: the
    subcodes of their reasons, in order."""
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < n:
        assert time.monotonic() < deadline, out
        st, _, body = api(mob, a["tok"], "GET", a["next"])
        assert st == 200, body
        batch = json.loads(body)
        a["next"] = batch["_links"]["next"]["href"]
        out += [e["_embedded"]["phoneAudioInvitation"]["_embedded"]["reason"]["subcode"]
                for s in batch.get("sender", []) for e in s["events"]
                if e["link"]["rel"] == "phoneAudioInvitation" and e["type"] == "completed"]
    return out


def test_invites(mob, alice, peer):
    """INVITEs as the Front End forwards them: without a Contact 400; a
    BYE or a re-INVITE for a dialog that does not exist 481; four calls
    ring at once (180) and a fifth is busy (486); each CANCEL is answered
    200 and its INVITE 487, the one whose Reason says answered elsewhere
    ends so, the others as missed calls. The service stays healthy."""
    user = alice["user"]
    contact = ["Contact: <sip:bob@127.0.0.1:5061;transport=tls>"]

    def new_call():
        return {"Via": "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK" + secrets.token_hex(8),
                "From": "<sip:bob@example.test>;tag=" + secrets.token_hex(4),
                "Call-ID": secrets.token_hex(10), "CSeq": "1 INVITE"}

    status, _ = peer.send(peer.request("INVITE", user, headers={"CSeq": "1 INVITE"}))
    assert status == "SIP/2.0 400 Missing Contact header"
    long_from = "<sip:%s@example.test>;tag=1" % ("b" * 250)
    status, _ = peer.send(peer.request("INVITE", user, extra=contact, headers={
        "CSeq": "1 INVITE", "From": long_from}))
    assert status == "SIP/2.0 400 From URI too long"
    dialog = {"To": "<sip:alice@example.test>;tag=gone"}
    status, _ = peer.send(peer.request("BYE", user, headers={**dialog, "CSeq": "2 BYE"}))
    assert status == "SIP/2.0 481 Call/Transaction Does Not Exist"
    status, _ = peer.send(peer.request("INVITE", user, headers={**dialog, "CSeq": "2 INVITE"},
                                       extra=contact))
    assert status == "SIP/2.0 481 Call/Transaction Does Not Exist"

    calls = []
    try:
        for _ in range(4):
            h, s = new_call(), peer.connect()
            calls.append((s, h))
            s.sendall(peer.request("INVITE", user, headers=h, extra=contact))
            assert responses(s, 1)[0] == ["SIP/2.0 180 Ringing"]
        status, _ = peer.send(peer.request("INVITE", user, headers=new_call(), extra=contact))
        assert status == "SIP/2.0 486 Busy Here"
        for i, (s, h) in enumerate(calls):
            why = ['Reason: SIP ;cause=200 ;text="Call completed elsewhere"'] if i == 0 else []
            s.sendall(peer.request("CANCEL", user, headers={**h, "CSeq": "1 CANCEL"}, extra=why))
            lines, tag = responses(s, 2)
            assert lines == ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
            # the ACK of the 487 goes to the transaction, unanswered
            s.sendall(peer.request("ACK", user, headers={
                **h, "CSeq": "1 ACK", "To": "<sip:alice@example.test>;tag=" + tag}))
    finally:
        for s, _ in calls:
            s.close()
    assert call_events(mob, alice, 4) == ["AnsweredElsewhere", "Missed", "Missed", "Missed"]
    assert_healthy(mob, alice, peer)
