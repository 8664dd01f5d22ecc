"""Bad input against a real mobilityd: every limit answers with its status
and a body naming the limit, and the service stays healthy."""
import re
import socket
import time

import pytest

from mobility import Mobilityd, DOMAIN

HOST = "lyncdiscover." + DOMAIN
PER_ADDR = 1500
TOTAL = 1600


@pytest.fixture(scope="module")
def mob(tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("lim"), limits={
        "max_request_line": 1024,
        "max_header_bytes": 4096,
        "max_headers": 20,
        "max_body_bytes": 2048,
        "header_timeout": 3,
        "body_timeout": 3,
        "max_connections": TOTAL,
        "max_connections_per_address": PER_ADDR,
    })
    m.start()
    yield m
    assert m.stop() == 0, m.log()


def raw(mob, data, src="127.0.0.1", timeout=10):
    """Send bytes on a plain connection; return everything read until the
    server closes (or the timeout)."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", mob.http_port))
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def status(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def healthy(mob):
    st, _, body = mob.curl(mob.https(HOST))
    return st == 200 and body.startswith(b"{")


GOOD = ("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % HOST).encode()


def test_good_request(mob):
    r = raw(mob, GOOD)
    assert status(r) == 200


@pytest.mark.parametrize("req,code,word", [
    (b"GARBAGE\r\n\r\n", 400, b"request line"),
    (b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, b"request line"),
    (b"GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", 400, b"path"),
    (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, b"HTTP/1"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, b"Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n bad-fold\r\n\r\n", 400, b"folded"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, b"control"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411, b"Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, b"Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
     b"Content-Length"),
])
def test_malformed(mob, req, code, word):
    r = raw(mob, req)
    assert status(r) == code, r
    assert word in r.split(b"\r\n\r\n", 1)[1]
    assert b"Connection: close" in r
    assert healthy(mob)


def test_uri_too_long(mob):
    r = raw(mob, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status(r) == 414 and b"request line too long" in r
    assert healthy(mob)


def test_headers_too_large(mob):
    r = raw(mob, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n")
    assert status(r) == 431 and b"too large" in r
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(30))
    r = raw(mob, b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")
    assert status(r) == 431 and b"too many header fields" in r
    assert healthy(mob)


def test_body_too_large(mob):
    # refused from the head alone: the client need not send the body
    r = raw(mob, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
    assert status(r) == 413 and b"body too large" in r
    # and when it sends it anyway, it still reads the answer (no reset)
    r = raw(mob, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
    assert status(r) == 413
    assert healthy(mob)


def test_slow_headers_408(mob):
    """One byte per second: closed with 408 at header_timeout (3 s), not
    kept alive by each byte."""
    s = socket.create_connection(("127.0.0.1", mob.http_port))
    s.settimeout(0.1)
    start = time.time()
    got = b""
    for b in GOOD:
        try:
            s.send(bytes([b]))
        except OSError:
            break
        try:
            got += s.recv(4096)
        except socket.timeout:
            pass
        if got or time.time() - start > 8:
            break
        time.sleep(1)
    s.settimeout(2)
    try:
        got += s.recv(4096)
    except OSError:
        pass
    elapsed = time.time() - start
    assert status(got) == 408, got
    assert b"header not received in time" in got
    assert 2.5 <= elapsed <= 6
    assert healthy(mob)


def test_slow_body_408(mob):
    s = socket.create_connection(("127.0.0.1", mob.http_port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    s.settimeout(8)
    got = s.recv(4096)
    assert status(got) == 408 and b"body" in got


def test_pipelined_error_stops_the_connection(mob):
    r = raw(mob, GOOD.replace(b"Connection: close\r\n", b"") + b"BROKEN\r\n\r\n" + GOOD)
    codes = re.findall(rb"HTTP/1\.1 (\d{3})", r)
    assert codes == [b"200", b"400"]


def metric(mob, name, labels='listener="public"'):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mob.admin_port) as r:
        text = r.read().decode()
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1))


def test_thousands_of_idle_connections_bounded(mob):
    """2,000 idle connections from one address: the per-address limit keeps
    PER_ADDR of them, the rest get 503; clients on another address are
    served all along."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    idle = []
    try:
        for i in range(2000):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", mob.http_port))
            idle.append(s)
            if i % 500 == 0:
                assert healthy(mob)
        # over-limit connections that sent nothing are gone after 1 s
        time.sleep(1.5)
        assert healthy(mob)
        assert metric(mob, "mobility_http_connections_open") <= TOTAL
        # an over-limit connection is told which limit
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", mob.http_port))
        s.sendall(GOOD)
        r = s.recv(4096)
        s.close()
        assert status(r) == 503 and b"too many connections" in r
        # the accepted idle ones still work
        idle[0].sendall(GOOD)
        idle[0].settimeout(5)
        assert status(idle[0].recv(4096)) == 200
        assert metric(mob, "mobility_http_connections_rejected_total") >= 400
        assert metric(mob, "mobility_http_responses_total",
                      'listener="public",class="5xx"') >= 1
        assert metric(mob, "mobility_http_responses_total",
                      'listener="public",class="4xx"') >= 10
    finally:
        for s in idle:
            s.close()
    deadline = time.time() + 10
    while time.time() < deadline and metric(mob, "mobility_http_connections_open") > 5:
        time.sleep(0.1)
    assert metric(mob, "mobility_http_connections_open") <= 5
    assert healthy(mob)


def test_sigterm_stops_cleanly(tmp_path):
    m = Mobilityd(tmp_path).start()
    s = socket.create_connection(("127.0.0.1", m.http_port))  # idle conn
    assert m.stop(timeout=5) == 0
    assert "stopped" in m.log()
    s.close()
