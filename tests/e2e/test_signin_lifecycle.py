"""The sign-in lifecycle seen from outside: throttling keyed by the user
at the client's address (so a password guesser elsewhere cannot lock a
user out), client addresses behind a trusted HAProxy, plain http limited
to autodiscover, the 401 challenge built from the configured names,
sign-out, renewal across a restart and up to the maximum lifetime, and the
purge of expired tokens from the store."""
import json
import os
import socket
import ssl
import subprocess
import time

import pytest

from haproxy import HAProxy
from mobility import DOMAIN, EXT_FQDN, INT_FQDN, Mobilityd
from ports import free_port
from ucwa_client import APPS, create

TOKEN = "/WebTicket/oauthtoken"
USER_RES = "/Autodiscover/AutodiscoverService.svc/root/oauth/user"


def ext(mob, path, port=None):
    return "https://%s:%d%s" % (EXT_FQDN, port or mob.https_port, path)


def sign_in(mob, user, password, src="127.0.0.1", port=None, headers=()):
    args = ["-X", "POST", "--interface", src,
            "-H", "Content-Type: application/x-www-form-urlencoded",
            "--data-raw", "grant_type=password&username=%s@%s&password=%s"
            % (user, DOMAIN, password)]
    for h in headers:
        args += ["-H", h]
    st, h, body = mob.curl(ext(mob, TOKEN, port), *args)
    return st, h, json.loads(body) if body else None


def renew(mob, tok):
    st, _, body = mob.curl(ext(mob, TOKEN), "-X", "POST",
                           "-H", "Content-Type: application/x-www-form-urlencoded",
                           "--data-raw", "ms_rtc_renew=" + tok.replace("=", "%3D"))
    return st, json.loads(body) if body else None


def user_status(mob, tok):
    st, _, _ = mob.curl(ext(mob, USER_RES), "-H", "Authorization: Bearer " + tok)
    return st


def test_lockout_is_per_address(mob):
    # five wrong passwords for bob from 127.0.0.2 lock bob there...
    for i in range(5):
        st, _, err = sign_in(mob, "bob", "wrong%d" % i, src="127.0.0.2")
        assert st == 400, err
    st, h, err = sign_in(mob, "bob", "bob-secret", src="127.0.0.2")
    assert st == 429 and int(h["retry-after"]) > 0
    assert "for this user from this address" in err["error_description"]
    # ...and only there: bob's right password from 127.0.0.1 works
    st, _, tok = sign_in(mob, "bob", "bob-secret", src="127.0.0.1")
    assert st == 200, tok


def test_plain_http_is_autodiscover_only(mob):
    # a password over plain http is refused without being checked
    st, _, body = mob.curl(mob.http(EXT_FQDN, TOKEN), "-X", "POST",
                           "-H", "Content-Type: application/x-www-form-urlencoded",
                           "--data-raw", "grant_type=password&username=alice@%s"
                           "&password=alice-secret" % DOMAIN)
    assert st == 403 and b"https is required" in body
    st, _, body = mob.curl(mob.http(EXT_FQDN, APPS))
    assert st == 403 and b"https is required" in body
    # autodiscover still answers there, with https links only
    st, _, body = mob.curl(mob.http("lyncdiscover." + DOMAIN))
    assert st == 200
    links = json.loads(body)["_links"]
    assert links and all(l["href"].startswith("https://") for l in links.values())


@pytest.mark.parametrize("host,fqdn", [("evil.example.net", EXT_FQDN),
                                       (INT_FQDN, INT_FQDN),
                                       (EXT_FQDN, EXT_FQDN)])
def test_challenge_names_the_configured_fqdn(mob, host, fqdn):
    st, h, _ = mob.curl(ext(mob, APPS), "-H", "Host: %s:%d" % (host, mob.https_port))
    assert st == 401
    assert h["www-authenticate"].startswith(
        'MsRtcOAuth href="https://%s:%d%s"' % (fqdn, mob.https_port, TOKEN))
    assert "evil" not in h["www-authenticate"]


def test_sign_out_revokes_the_token(mob):
    st, _, tok = sign_in(mob, "alice", "alice-secret")
    assert st == 200
    tok = tok["access_token"]
    assert user_status(mob, tok) == 200
    st, _, _ = mob.curl(ext(mob, TOKEN), "-X", "DELETE",
                        "-H", "Authorization: Bearer " + tok)
    assert st == 204
    # refused everywhere: a new application, the user resource, renewal
    st, _, _ = create(mob, tok, "7a2c1f0e-0000-4000-8000-00000000a001")
    assert st == 401
    assert user_status(mob, tok) == 401
    st, err = renew(mob, tok)
    assert st == 400 and err["error"] == "invalid_grant"
    # signing out twice is not an error
    st, _, _ = mob.curl(ext(mob, TOKEN), "-X", "DELETE",
                        "-H", "Authorization: Bearer " + tok)
    assert st == 204


def _tls(mob):
    ctx = ssl.create_default_context(cafile=mob.ca)
    s = socket.create_connection(("127.0.0.1", mob.https_port), timeout=10)
    return ctx.wrap_socket(s, server_hostname=EXT_FQDN)


def _status(s):
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_sign_out_is_not_undone_by_a_request_racing_it(mob):
    # a request with the token arriving while the sign-out's delete is
    # being committed reads the token from the store: it must not bring
    # the token back for good once the sign-out is answered
    for _ in range(5):
        st, _, tok = sign_in(mob, "alice", "alice-secret")
        assert st == 200
        tok = tok["access_token"]
        out, use = _tls(mob), _tls(mob)
        out.sendall(("DELETE %s HTTP/1.1\r\nHost: %s\r\n"
                     "Authorization: Bearer %s\r\nContent-Length: 0\r\n\r\n"
                     % (TOKEN, EXT_FQDN, tok)).encode())
        use.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                     "Authorization: Bearer %s\r\n\r\n"
                     % (USER_RES, EXT_FQDN, tok)).encode())
        assert _status(out) == 204
        _status(use)
        out.close()
        use.close()
        assert user_status(mob, tok) == 401


def test_renewal_after_restart(own_mob):
    st, _, tok = sign_in(own_mob, "alice", "alice-secret")
    assert st == 200
    assert own_mob.stop() == 0
    own_mob.start()
    st, new = renew(own_mob, tok["access_token"])
    assert st == 200, new
    assert user_status(own_mob, new["access_token"]) == 200
    assert user_status(own_mob, tok["access_token"]) == 401


def token_records(mob):
    out = subprocess.run(["mdb_stat", "-s", "token", os.path.join(mob.dir, "store")],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split("Entries:")[1].split()[0])


@pytest.fixture()
def short_mob(fe, tmp_path):
    """A mobilityd whose sign-ins may be renewed for 3 s only."""
    m = Mobilityd(tmp_path, fe=fe, extra={"service": ["token_max_lifetime = 3"]})
    m.start()
    yield m
    if m.proc:
        assert m.stop() == 0, m.log()


def test_renewal_stops_at_the_max_lifetime(short_mob):
    st, _, tok = sign_in(short_mob, "alice", "alice-secret")
    assert st == 200 and 0 < tok["expires_in"] <= 3
    st, new = renew(short_mob, tok["access_token"])
    assert st == 200 and 0 < new["expires_in"] <= 3
    time.sleep(3.5)
    assert user_status(short_mob, new["access_token"]) == 401
    st, err = renew(short_mob, new["access_token"])
    assert st == 400 and err["error"] == "invalid_grant"


def test_expired_tokens_are_purged(short_mob):
    for _ in range(3):
        st, _, _ = sign_in(short_mob, "carol", "carol-secret")
        assert st == 200
    assert token_records(short_mob) >= 3
    time.sleep(3.5)
    # the sweep runs a second after start, then every minute
    assert short_mob.stop() == 0
    short_mob.start()
    deadline = time.time() + 10
    while time.time() < deadline and token_records(short_mob):
        time.sleep(0.2)
    assert token_records(short_mob) == 0
    assert short_mob.metric("mobility_store_tokens_purged_total") >= 3


@pytest.fixture()
def proxied(fe, tmp_path):
    """A mobilityd behind a real HAProxy that terminates TLS and adds
    X-Forwarded-For; the mobilityd trusts it (127.0.0.1) and serves the
    API on its plain http listener to it."""
    m = Mobilityd(tmp_path / "mob", fe=fe, extra={
        "http": ["trusted_proxy = 127.0.0.1/32", "behind_tls_proxy = yes"]})
    m.start()
    hp = HAProxy(tmp_path / "haproxy", [(m.cert, m.key), (m.cert2, m.key2)], m.http_port)
    hp.start()
    yield m, hp
    hp.stop()
    assert m.stop() == 0, m.log()


def test_trusted_proxy_throttles_the_real_client(proxied):
    mob, hp = proxied
    # 20 failures from 127.0.0.2 through the proxy lock that address...
    for i in range(20):
        st, _, err = sign_in(mob, "nobody%d" % i, "wrong", src="127.0.0.2", port=hp.port)
        assert st == 400, err
    st, _, err = sign_in(mob, "carol", "carol-secret", src="127.0.0.2", port=hp.port)
    assert st == 429 and "address" in err["error_description"]
    # ...not the proxy: another client through it signs in, even one
    # that claims to be 127.0.0.2 (the proxy appends the real address)
    st, _, tok = sign_in(mob, "alice", "alice-secret", src="127.0.0.3", port=hp.port)
    assert st == 200, tok
    st, _, tok = sign_in(mob, "bob", "bob-secret", src="127.0.0.3", port=hp.port,
                         headers=["X-Forwarded-For: 127.0.0.2"])
    assert st == 200, tok


def test_trusted_tls_proxy_gets_the_https_documents(proxied):
    # the client used https to the proxy: autodiscover through it answers
    # the full root document, not the redirect of plain http (a loop)
    mob, hp = proxied
    url = "https://lyncdiscover.%s:%d/" % (DOMAIN, hp.port)
    st, _, body = mob.curl(url)
    assert st == 200
    links = json.loads(body)["_links"]
    assert "user" in links and "redirect" not in links, links
    # the API and the token service answer through it too
    st, _, tok = sign_in(mob, "alice", "alice-secret", port=hp.port)
    assert st == 200, tok
    st, _, _ = mob.curl(ext(mob, USER_RES, hp.port),
                        "-H", "Authorization: Bearer " + tok["access_token"])
    assert st == 200
    # straight to the plain listener, not through the proxy: still 403
    st, _, body = mob.curl(mob.http(EXT_FQDN, APPS), "--interface", "127.0.0.2")
    assert st == 403


@pytest.fixture()
def proxied_v2(fe, tmp_path):
    """The same behind a HAProxy that opens each connection to the
    mobilityd's PROXY listener with a PROXY protocol v2 header."""
    port = free_port()
    m = Mobilityd(tmp_path / "mob", fe=fe, extra={
        "http": ["trusted_proxy = 127.0.0.1", "behind_tls_proxy = yes",
                 "listen_proxy = 127.0.0.1:%d" % port]})
    m.start()
    hp = HAProxy(tmp_path / "haproxy", [(m.cert, m.key)], port, proxy_v2=True)
    hp.start()
    yield m, hp, port
    hp.stop()
    assert m.stop() == 0, m.log()


def test_proxy_v2_throttles_the_real_client(proxied_v2):
    mob, hp, port = proxied_v2
    for i in range(20):
        st, _, err = sign_in(mob, "nobody%d" % i, "wrong", src="127.0.0.2", port=hp.port)
        assert st == 400, err
    st, _, err = sign_in(mob, "carol", "carol-secret", src="127.0.0.2", port=hp.port)
    assert st == 429 and "address" in err["error_description"]
    st, _, tok = sign_in(mob, "alice", "alice-secret", src="127.0.0.3", port=hp.port)
    assert st == 200, tok
    # a peer that is not a trusted proxy cannot send PROXY headers
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12) +
                  b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert s.recv(100) == b""
    except ConnectionResetError:
        pass
    s.close()


def test_trusted_proxy_is_not_one_client(fe, tmp_path):
    # every client behind a proxy comes from its address: the limit of
    # connections per address would cap them all together
    m = Mobilityd(tmp_path / "mob", fe=fe, extra={
        "http": ["trusted_proxy = 127.0.0.1"]},
        limits={"max_connections": 50, "max_connections_per_address": 2})
    m.start()
    held = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", m.http_port), 10)
            held.append(s)
        s = held[-1]
        s.settimeout(10)
        s.sendall(("GET / HTTP/1.1\r\nHost: lyncdiscover.%s\r\n"
                   "Connection: close\r\n\r\n" % DOMAIN).encode())
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        assert got.startswith(b"HTTP/1.1 ") and b" 503 " not in got[:13], got
    finally:
        for s in held:
            s.close()
        assert m.stop() == 0, m.log()


def test_untrusted_forwarded_for_is_ignored(own_mob):
    # no trusted proxy: a client cannot escape its lock by naming others
    for i in range(20):
        st, _, err = sign_in(own_mob, "nobody%d" % i, "wrong", src="127.0.0.4",
                             headers=["X-Forwarded-For: 192.0.2.%d" % i])
        assert st == 400, err
    st, _, err = sign_in(own_mob, "alice", "alice-secret", src="127.0.0.4",
                         headers=["X-Forwarded-For: 192.0.2.200"])
    assert st == 429
