"""The XCAP client (src/xcap) against the real Front End (Kamailio).

tests/xcap/xcap_probe drives the client with the user's HA1 (as a session
does: the password is never kept): contact list read, changed and read
back, also directly with urllib-level HTTP digest to see what the Front
End stored; presence rules set and read back as a privacy relationship;
wrong HA1, another user's document, a server that never answers and one
that answers too much.
"""

import hashlib
import http.client
import re
import os
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import frontend
from frontend import Frontend

SRC = Path(os.environ.get("MOBILITY_SRC",
                          Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MOBILITY_BUILD", SRC / "build"))
PROBE = BUILD / "tests" / "xcap_probe"

pytestmark = pytest.mark.skipif(not frontend.available(),
                                reason="kamailio is needed "
                                "(scripts/install-deps.sh)")

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw",
         "eve": "eve-pw", "dan": "dan-pw"}
RL = "{urn:ietf:params:xml:ns:resource-lists}"
CP = "{urn:ietf:params:xml:ns:common-policy}"
PR = "{urn:ietf:params:xml:ns:pres-rules}"

EACCES, ENOENT, ETIMEDOUT, EMSGSIZE = 13, 2, 110, 90


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontend")
    front = Frontend(root / "run", ca_dir=root / "ca")
    for user, pw in USERS.items():
        front.add_user(user, pw)
    front.start()
    yield front
    front.stop()


def base(fe):
    return f"http://127.0.0.1:{fe.http_port}/xcap-root"


def run(base_url, user, domain, ha1, *args, env=None, timeout=20):
    res = subprocess.run([str(PROBE), base_url, user, domain, ha1, *args],
                         capture_output=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    assert res.returncode in (0, 1), res.stderr.decode()
    return res.stdout.decode().splitlines()


def probe(fe, user, *args, password=None, env=None):
    ha1 = fe.ha1(user, password or USERS[user])
    return run(base(fe), user, fe.domain, ha1, *args, env=env)


def stored(fe, user, auid):
    """The document as the Front End keeps it, read with our own digest
    (tests/pylib/frontend.py), and its ETag."""
    resp = fe.xcap_get(user, USERS[user], auid)
    assert resp.status == 200, resp
    return ET.fromstring(resp.body), resp.headers.get("ETag")


def test_empty_list(fe):
    # no document yet: 404 on the wire, an empty list for the caller
    assert probe(fe, "carol", "raw", "GET", "resource-lists")[0] \
        .startswith(f"resp {ENOENT} 404 ")
    assert probe(fe, "carol", "get") == ["ok"]


def test_contacts(fe):
    bob, carol = fe.uri("bob"), fe.uri("carol")
    out = probe(fe, "alice", "add", "Friends", bob, 'Bob <B&B> "b"')
    assert out == ["ok", "group Friends -",
                   f'entry Friends {bob} Bob <B&B> "b"']
    probe(fe, "alice", "add", "Work", carol, "Carol")
    out = probe(fe, "alice", "add", "Work", bob)
    assert out == ["ok", "group Friends -",
                   f'entry Friends {bob} Bob <B&B> "b"',
                   "group Work -", f"entry Work {carol} Carol",
                   f"entry Work {bob} -"]

    # what the Front End stored: our XML, escaped, with an ETag
    doc, etag = stored(fe, "alice", "resource-lists")
    assert etag
    assert doc.tag == RL + "resource-lists"
    lists = {lst.get("name"): lst for lst in doc.findall(RL + "list")}
    assert set(lists) == {"Friends", "Work"}
    entries = lists["Friends"].findall(RL + "entry")
    assert [e.get("uri") for e in entries] == [bob]
    assert entries[0].find(RL + "display-name").text == 'Bob <B&B> "b"'
    assert [e.get("uri") for e in lists["Work"].findall(RL + "entry")] \
        == [carol, bob]

    # a second device sees the same list
    assert probe(fe, "alice", "get")[1:] == out[1:]

    # the raw answer carries the same ETag
    resp = probe(fe, "alice", "raw", "GET", "resource-lists")
    assert resp[0] == f"resp 0 200 {etag.strip(chr(34))}"

    # remove from one group, then from all
    out = probe(fe, "alice", "remove", "Work", bob)
    assert f"entry Friends {bob} Bob <B&B> \"b\"" in out
    assert f"entry Work {bob} -" not in out
    out = probe(fe, "alice", "remove", "-", bob)
    assert out == ["ok", "group Friends -", "group Work -",
                   f"entry Work {carol} Carol"]
    assert probe(fe, "alice", "remove", "-", bob) == [f"fail {ENOENT}"]
    doc, etag2 = stored(fe, "alice", "resource-lists")
    assert etag2 != etag
    assert [e.get("uri") for e in doc.iter(RL + "entry")] == [carol]


def _put_if_match(fe, user, auid, body, etag):
    """PUT with If-Match, answering the digest challenge (urllib-level
    HTTP, tests/pylib/frontend.py's digest)."""
    path = fe.xcap_path(user, auid)
    headers = {"Content-Type": frontend.XCAP_TYPES[auid], "If-Match": etag}
    status = None
    for _ in range(2):
        c = http.client.HTTPConnection("127.0.0.1", fe.http_port, timeout=10)
        try:
            c.request("PUT", path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            status = r.status
        finally:
            c.close()
        if status != 401:
            break
        headers["Authorization"] = frontend.digest_authorization(
            "PUT", path, user, r.getheader("WWW-Authenticate"),
            password=USERS[user])
    return status


def test_if_match_precondition(fe):
    """What the read-modify-write relies on: the Front End refuses a PUT
    with a stale ETag (412), so another device's write is not lost."""
    probe(fe, "bob", "add", "G", fe.uri("alice"))
    _, etag = stored(fe, "bob", "resource-lists")
    probe(fe, "bob", "add", "G", fe.uri("carol"))  # another device writes
    empty = ('<?xml version="1.0" encoding="UTF-8"?><resource-lists '
             'xmlns="urn:ietf:params:xml:ns:resource-lists"/>')
    assert _put_if_match(fe, "bob", "resource-lists", empty, etag) == 412
    _, fresh = stored(fe, "bob", "resource-lists")
    # our client reads the fresh ETag and its change goes through
    out = probe(fe, "bob", "add", "G", fe.uri("eve"))
    assert out == ["ok", "group G -", f"entry G {fe.uri('alice')} -",
                   f"entry G {fe.uri('carol')} -",
                   f"entry G {fe.uri('eve')} -"]
    assert stored(fe, "bob", "resource-lists")[1] != fresh


def test_rules_privacy(fe):
    eve, bob = fe.uri("eve"), fe.uri("bob")
    assert probe(fe, "alice", "privacy", eve) == ["privacy External none"]

    out = probe(fe, "alice", "setrule", eve, "polite-block")
    assert out[0] == "ok"
    assert probe(fe, "alice", "privacy", eve) == \
        ["privacy Blocked polite-block"]

    probe(fe, "alice", "setrule", bob, "allow", "Workgroup")
    assert probe(fe, "alice", "privacy", bob) == ["privacy Workgroup allow"]
    assert probe(fe, "alice", "privacy", eve) == \
        ["privacy Blocked polite-block"]

    # the stored rules, as the Front End reads them
    doc, _ = stored(fe, "alice", "pres-rules")
    rules = {r.find(f"{CP}conditions/{CP}identity/{CP}one").get("id"):
             r.find(f"{CP}actions/{PR}sub-handling").text
             for r in doc.findall(CP + "rule")}
    assert rules == {eve: "polite-block", bob: "allow"}

    # a rule written by another client (the harness) is read as well
    fe.set_pres_rules("carol", USERS["carol"], {"eve": "block",
                                                "bob": "allow"})
    assert probe(fe, "carol", "privacy", eve) == ["privacy Blocked block"]
    assert probe(fe, "carol", "privacy", bob) == \
        ["privacy Colleagues allow"]

    # back to no rule
    probe(fe, "alice", "setrule", eve, "none")
    assert probe(fe, "alice", "privacy", eve) == ["privacy External none"]


def _state(notify):
    return (notify.header("subscription-state") or "").split(";")[0].strip()


def test_rules_reach_live_watchers(fe):
    """The Front End applies the rules we write to a live subscription:
    no rule → pending; our allow → active; our block → terminated."""
    with fe.sip_agent("eve", USERS["eve"]) as eve:
        *_, ok = eve.request(
            "SUBSCRIBE", to_user="dan", contact=eve.contact,
            headers=["Event: presence", "Accept: application/pidf+xml",
                     "Expires: 120"])
        assert ok.status in (200, 202)
        first = eve.wait_request("NOTIFY", timeout=10)
        assert _state(first) == "pending"

        since = len(eve.received)
        assert probe(fe, "dan", "setrule", fe.uri("eve"), "allow",
                     "FriendsAndFamily")[0] == "ok"
        eve.wait_request("NOTIFY", timeout=10, since=since,
                         predicate=lambda n: _state(n) == "active")
        assert probe(fe, "dan", "privacy", fe.uri("eve")) == \
            ["privacy FriendsAndFamily allow"]

        since = len(eve.received)
        probe(fe, "dan", "setrule", fe.uri("eve"), "block")
        eve.wait_request("NOTIFY", timeout=10, since=since,
                         predicate=lambda n: _state(n) == "terminated")


def test_wrong_ha1(fe):
    out = probe(fe, "alice", "raw", "GET", "resource-lists",
                password="wrong")
    assert out[0].startswith(f"resp {EACCES} 401 ")
    assert probe(fe, "alice", "get", password="wrong") == [f"fail {EACCES}"]


def test_other_users_document(fe):
    out = probe(fe, "eve", "raw", "GET", "resource-lists",
                env={"XCAP_XUI": "alice"})
    assert out[0].startswith(f"resp {EACCES} 403 ")
    assert probe(fe, "eve", "add", "G", fe.uri("eve"),
                 env={"XCAP_XUI": "alice"}) == [f"fail {EACCES}"]


def _read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
            while len(body) < n:
                body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def _serve(*answers):
    """A TCP server on loopback answering one connection per answer
    (None: read and never answer); returns the base URL and the list
    the requests are recorded in."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    requests = []

    def serve():
        for answer in answers:
            conn, _ = srv.accept()
            try:
                requests.append(_read_request(conn))
                if isinstance(answer, tuple):  # ("close", data)
                    conn.sendall(answer[1])
                    conn.shutdown(socket.SHUT_WR)
                elif answer is not None:
                    conn.sendall(answer)
                conn.recv(65536)  # until the client goes
            except OSError:
                pass
            conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}/xcap-root", requests


def _answer(status, body=b"", etag=None):
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
    if etag:
        head += f'ETag: "{etag}"\r\n'
    return head.encode() + b"\r\n" + body


HA1 = "0" * 32


def test_timeout():
    url, _ = _serve(None)
    out = run(url, "alice", "example.test", HA1, "raw", "GET", "pres-rules",
              env={"XCAP_TIMEOUT_MS": "300"})
    assert out == [f"resp {ETIMEDOUT} 0 -"]


def test_response_too_large():
    url, _ = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 262145\r\n\r\n"
                   + b"x" * 70000)
    out = run(url, "alice", "example.test", HA1, "raw", "GET", "pres-rules")
    assert out == [f"resp {EMSGSIZE} 0 -"]


def test_bad_document():
    body = (b'<!DOCTYPE r [<!ENTITY a "x">]><resource-lists xmlns='
            b'"urn:ietf:params:xml:ns:resource-lists"/>')
    url, _ = _serve(_answer(200, body))
    out = run(url, "alice", "example.test", HA1, "get")
    assert out == ["fail 71"]  # EPROTO


LIST = (b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">'
        b'<list name="G"><entry uri="sip:x@example.test"/></list>'
        b'</resource-lists>')


def test_conflict_retried_once():
    """412 on the PUT: read again and PUT with the new ETag, once."""
    url, reqs = _serve(_answer(200, LIST, "e1"), _answer(412),
                       _answer(200, LIST, "e2"), _answer(200))
    out = run(url, "alice", "example.test", HA1, "add", "G",
              "sip:y@example.test")
    assert out == ["ok", "group G -", "entry G sip:x@example.test -",
                   "entry G sip:y@example.test -"]
    assert [r.split(b" ", 1)[0] for r in reqs] == [b"GET", b"PUT", b"GET",
                                                   b"PUT"]
    assert b'If-Match: "e1"' in reqs[1]
    assert b'If-Match: "e2"' in reqs[3]
    assert reqs[0].startswith(b"GET /xcap-root/resource-lists/users/"
                              b"sip%3Aalice%40example.test/index HTTP/1.1")
    assert b"sip:y@example.test" in reqs[3]


def test_conflict_twice_fails():
    url, reqs = _serve(_answer(200, LIST, "e1"), _answer(412),
                       _answer(200, LIST, "e2"), _answer(412))
    out = run(url, "alice", "example.test", HA1, "remove", "-",
              "sip:x@example.test")
    assert out == ["fail 116"]  # ESTALE
    assert len(reqs) == 4


def test_body_until_close_and_chunked_refused():
    url, _ = _serve(("close", b"HTTP/1.1 200 OK\r\nETag: \"x1\"\r\n\r\n"
                              b"<doc/>"))
    out = run(url, "alice", "example.test", HA1, "raw", "GET", "pres-rules")
    assert out == ["resp 0 200 x1", "<doc/>"]

    url, _ = _serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    b"\r\n6\r\n<doc/>\r\n0\r\n\r\n")
    out = run(url, "alice", "example.test", HA1, "raw", "GET", "pres-rules")
    assert out == ["resp 71 0 -"]  # EPROTO

    url, _ = _serve(b"HTTP/1.1 200 OK\r\nX: " + b"y" * 9000 + b"\r\n\r\n")
    out = run(url, "alice", "example.test", HA1, "raw", "GET", "pres-rules")
    assert out == [f"resp {EMSGSIZE} 0 -"]


def test_digest_answer():
    """One 401 is answered with RFC 2617 qop=auth digest from the HA1;
    a second 401 is final."""
    ha1 = frontend.ha1("alice", "example.test", "pw")
    challenge = (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest '
                 b'realm="example.test", nonce="n0nce", qop="auth", '
                 b'opaque="op"\r\nContent-Length: 0\r\n\r\n')
    url, reqs = _serve(challenge, challenge)
    out = run(url, "alice", "example.test", ha1, "raw", "DELETE",
              "resource-lists")
    assert out == [f"resp {EACCES} 401 -"]
    assert len(reqs) == 2
    assert b"Authorization" not in reqs[0]
    head = reqs[1].decode()
    line = re.search(r"\r\nAuthorization: Digest (.*)\r\n", head).group(1)
    f = dict((k, v or w) for k, v, w in
             re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', line))
    path = "/xcap-root/resource-lists/users/sip%3Aalice%40example.test/index"
    assert head.startswith(f"DELETE {path} HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{url.split(':')[2].split('/')[0]}\r\n" \
        in head
    assert (f["username"], f["realm"], f["nonce"], f["uri"], f["qop"],
            f["opaque"], f["algorithm"]) == \
        ("alice", "example.test", "n0nce", path, "auth", "op", "MD5")
    h2 = hashlib.md5(f"DELETE:{path}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:n0nce:{f['nc']}:{f['cnonce']}:auth:{h2}"
                       .encode()).hexdigest()
    assert f["response"] == want
