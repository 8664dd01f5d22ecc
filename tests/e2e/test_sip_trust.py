"""Only the Front End may send SIP to the service. mobilityd's SIP
listener asks for a client certificate: a request on a connection
without the Front End's certificate (none, another CA's, the right CA
but another name) is refused with 403 and counted in /metrics, even with
a valid application id as Request-URI user, while the Front End (its own
certificate, or the flow mobilityd opened to it) is served. The
listener's limits: a connection without a request for [sip]
idle_timeout is closed, and connections over [sip] max_connections are
refused while the Front End's flow still works."""
import json
import secrets
import socket
import ssl
import time

import pytest

from baresip import registered
from mobility import Mobilityd, make_certs
from sippeer import Peer
from ucwa_client import api, create, im_texts, token

IDLE_S = 3
MAX_CONNS = 3
FORGED = "sip:ceo@example.test"


@pytest.fixture(scope="module")
def mob(fe, tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe, extra={
        "sip": ["idle_timeout = %d" % IDLE_S,
                "max_connections = %d" % MAX_CONNS]})
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def bob(fe):
    with registered(fe, "bob", "bob-secret", contacts=["carol"]) as b:
        yield b


@pytest.fixture(scope="module")
def carol(mob, fe):
    tok = token(mob, "carol")
    st, h, body = create(mob, tok, "sip-trust")
    assert st == 201, body
    app = json.loads(body)
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    assert any("sip:%s@" % app["id"] in r["Address"] for r in fe.registrations("carol"))
    return {"tok": tok, "user": app["id"], "next": app["_links"]["events"]["href"]}


def events_until(mob, a, needle, timeout=15):
    """Every event batch (as text) until one brings the instant message
    needle."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        st, _, body = api(mob, a["tok"], "GET", a["next"])
        assert st == 200, body
        batch = json.loads(body)
        seen.append(body.decode())
        a["next"] = batch["_links"]["next"]["href"]
        if needle in im_texts(batch):
            return seen
    raise AssertionError("%r not seen in %r" % (needle, seen))


def forged(user, method):
    body, ctype = "wire the money", "text/plain"
    if method == "INVITE":
        body, ctype = "v=0\r\n", "application/sdp"
    return Peer.request(method, user, body, ctype=ctype, headers={
        "From": "<%s>;tag=%s" % (FORGED, secrets.token_hex(4)),
        "Contact": "<sip:ceo@127.0.0.1:5999;transport=tls>"})


def test_requests_without_the_front_end_certificate(mob, fe, carol, bob, tmp_path):
    strangers = {
        "no certificate": Peer(mob),
        # a certificate of another CA, with the Front End's name
        "another CA": Peer(mob, make_certs(str(tmp_path), "forged", fe.domain)),
        # the Front End's CA, another name
        "another name": Peer(mob, make_certs(str(fe.ca_dir), "other-" + secrets.token_hex(3),
                                             "other.example.test")),
    }
    before = mob.metric("mobility_sip_forbidden_total")
    for what, peer in strangers.items():
        for method in ("MESSAGE", "INVITE"):
            status, _ = peer.send(forged(carol["user"], method))
            assert status == "SIP/2.0 403 Forbidden", (what, method)
    assert mob.metric("mobility_sip_forbidden_total") - before == 6

    # the Front End itself, on a connection to the listener with its
    # own certificate, is served
    fe_peer = Peer(mob, (fe.cert_file, fe.key_file))
    status, _ = fe_peer.send(Peer.request("OPTIONS", carol["user"]))
    assert status == "SIP/2.0 200 OK"
    assert mob.metric("mobility_sip_forbidden_total") - before == 6

    # healthy, and a real message through the Front End (on the flow)
    # arrives; the forged ones never did
    assert mob.alive(), mob.log()
    text = "from bob " + secrets.token_hex(4)
    bob.send_message("carol", text)
    seen = events_until(mob, carol, text)
    assert not any("ceo" in b or "wire" in b for b in seen), seen


def test_front_end_connection_presents_its_certificate(mob, fe, carol):
    """Kamailio itself opens a TLS connection to the listener (a MESSAGE
    it originates, kamcmd tm.t_uac_start) and presents its client
    certificate: the MESSAGE is taken and reaches the application."""
    before = mob.metric("mobility_sip_forbidden_total")
    ruri = "sip:%s@127.0.0.1:%d;transport=tls" % (carol["user"], mob.sip_port)
    text = "from the Front End itself " + secrets.token_hex(4)
    hdrs = ("From: <sip:bob@%s>;tag=%s\r\nTo: <sip:carol@%s>\r\n"
            "Content-Type: text/plain\r\n"
            % (fe.domain, secrets.token_hex(4), fe.domain))
    fe.ctl("tm.t_uac_start", "MESSAGE", ruri, ".", ".", hdrs, text)
    events_until(mob, carol, text)
    assert mob.metric("mobility_sip_forbidden_total") == before


def test_idle_connection_closed(mob, fe, carol):
    peer = Peer(mob, (fe.cert_file, fe.key_file))
    before = mob.metric("mobility_sip_idle_closed_total")
    s = peer.connect()
    try:
        s.sendall(Peer.request("OPTIONS", carol["user"]))
        s.settimeout(IDLE_S + 10)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        assert got.startswith(b"SIP/2.0 200 OK")
        t0 = time.monotonic()
        try:
            rest = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            rest = b""
        waited = time.monotonic() - t0
    finally:
        s.close()
    assert rest == b""
    assert IDLE_S - 1 <= waited <= IDLE_S + 5, waited
    # (the connection Kamailio opened in the test before goes the same way)
    assert mob.metric("mobility_sip_idle_closed_total") - before >= 1


def test_connections_over_the_cap(mob, fe, carol, bob):
    peer = Peer(mob, (fe.cert_file, fe.key_file))
    before = mob.metric("mobility_sip_connections_refused_total")
    held = [peer.connect() for _ in range(MAX_CONNS)]
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            extra = peer.connect()
            # TLS 1.3: the refusal may come with the first read
            extra.sendall(Peer.request("OPTIONS", carol["user"]))
            extra.settimeout(5)
            if not extra.recv(65536):
                raise ConnectionResetError("closed")
        assert mob.metric("mobility_sip_connections_refused_total") - before >= 1
        # the Front End's flow is not one of them
        text = "over the cap " + secrets.token_hex(4)
        bob.send_message("carol", text)
        events_until(mob, carol, text)
    finally:
        for s in held:
            s.close()
    # a place is free again once one is closed
    deadline = time.monotonic() + 5
    while True:
        try:
            status, _ = peer.send(Peer.request("OPTIONS", carol["user"]))
            break
        except (ssl.SSLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert status == "SIP/2.0 200 OK"


def test_strangers_cannot_hold_the_front_ends_places(mob, fe, carol):
    # strangers take every place and keep their connections: each gets
    # its 403 and then the end of its connection, so the Front End is
    # served at once (not only after idle_timeout)
    stranger = Peer(mob)
    held = [stranger.connect() for _ in range(MAX_CONNS)]
    try:
        for s in held:
            s.sendall(Peer.request("OPTIONS", carol["user"]))
            s.settimeout(IDLE_S - 1)
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            assert got.startswith(b"SIP/2.0 403 Forbidden"), got
        t0 = time.monotonic()
        for s in held:
            try:
                rest = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                rest = b""
            assert rest == b""
        assert time.monotonic() - t0 < IDLE_S - 1
        status, _ = Peer(mob, (fe.cert_file, fe.key_file)).send(
            Peer.request("OPTIONS", carol["user"]))
        assert status == "SIP/2.0 200 OK"
    finally:
        for s in held:
            s.close()


def test_keepalives_alone_do_not_hold_a_place(mob):
    # a stranger that never sends a request but keeps its connection
    # busy with CRLF keepalives (which libre takes as activity) loses it
    # after idle_timeout like any other idle connection
    s = Peer(mob).connect()
    s.settimeout(0.5)
    t0 = time.monotonic()
    closed = False
    try:
        while not closed and time.monotonic() - t0 < IDLE_S + 8:
            try:
                s.sendall(b"\r\n")
                closed = s.recv(65536) == b""
            except (TimeoutError, socket.timeout):
                pass
            except (ConnectionError, ssl.SSLError):
                closed = True
    finally:
        s.close()
    assert closed
    assert time.monotonic() - t0 >= IDLE_S - 1


def test_caps_below_the_descriptor_limit(fe, tmp_path):
    """With 1,000 descriptors the caps are lowered at start-up (256 kept
    for the store, push and the flow; SIP at most half of the rest), each
    with a warning, and the service runs."""
    m = Mobilityd(tmp_path, fe=fe)
    m.start(nofile=1000)
    try:
        log = m.log()
        assert "[sip] max_connections lowered from 1024 to 372" in log, log
        assert "[http] max_connections lowered from 50000 to 372" in log, log
        assert m.metric("mobility_sip_connections_refused_total") == 0
    finally:
        assert m.stop() == 0, m.log()
