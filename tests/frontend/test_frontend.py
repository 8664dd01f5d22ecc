"""The test Front End (deploy/frontend): Kamailio 5.6 started from the
project's files, seen by real users (baresip over TLS) and by raw SIP and
XCAP requests.

Run: PYTHONPATH=tests/pylib /usr/bin/python3 -m pytest -q tests/frontend
"""

import os
import shutil
import subprocess
import time

import pytest

from baresip import agents_of
import frontend
from frontend import FE_SH, Frontend, rls_services_document

pytestmark = pytest.mark.skipif(
    not (frontend.available() and shutil.which("baresip")),
    reason="kamailio and baresip are needed (scripts/install-deps.sh)")

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw",
         "dave": "dave-pw"}


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontend")
    front = Frontend(root / "run", ca_dir=root / "ca")
    for user, pw in USERS.items():
        front.add_user(user, pw)
    front.start()
    yield front
    front.stop()


@pytest.fixture
def agents(fe):
    """start(user, **kw): a baresip for user, cleaned up after the test."""
    with agents_of(fe, USERS) as start:
        yield start


def listeners_of(pid):
    """Local addresses of every listening/bound socket of pid's group."""
    out = subprocess.run(["ss", "-Hlntup"], capture_output=True, text=True,
                         check=True).stdout
    pids = {str(pid)} | {p for p in os.listdir("/proc") if p.isdigit()
                         and _ppid(p) == str(pid)}
    addrs = []
    for line in out.splitlines():
        if any(f"pid={p}," in line for p in pids):
            addrs.append(line.split()[4])
    return addrs


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[1]
    except OSError:
        return None


def test_starts_from_project_files_on_loopback_only(fe):
    assert fe.pid is not None
    with open(f"/proc/{fe.pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")
    cfg = str(FE_SH.parent / "kamailio.cfg").encode()
    assert cfg in cmdline
    assert fe.uptime() is not None
    addrs = listeners_of(fe.pid)
    for port in (fe.udp_port, fe.tcp_port, fe.tls_port, fe.http_port):
        assert f"127.0.0.1:{port}" in addrs
    assert addrs and all(a.startswith("127.0.0.1:") for a in addrs), addrs
    assert fe.status()
    log = fe.log_text()
    assert " ERROR:" not in log and "CRITICAL" not in log


def test_digest_challenges_and_identity(fe):
    # REGISTER is challenged with 401 in the SIP domain's realm
    (resp,) = fe.sip_request("REGISTER", "alice")
    assert resp.status == 401
    challenge = resp.header("WWW-Authenticate")
    assert 'realm="example.test"' in challenge and "qop" in challenge
    # other out-of-dialog requests with 407
    (resp,) = fe.sip_request("MESSAGE", "alice", to_user="bob", body="hi")
    assert resp.status == 407
    assert 'realm="example.test"' in resp.header("Proxy-Authenticate")
    # right password: a binding query (no Contact) proves it, changes nothing
    ch, ok = fe.sip_request("REGISTER", "alice", USERS["alice"])
    assert (ch.status, ok.status) == (401, 200)
    assert fe.registrations("alice") == []
    # wrong password: challenged again, never accepted
    ch, again = fe.sip_request("REGISTER", "alice", "not-the-password")
    assert again.status == 401
    # the digest user must be the From user
    ch, denied = fe.sip_request("MESSAGE", "bob", USERS["alice"],
                                to_user="carol", body="x", auth_user="alice")
    assert denied.status == 403
    # unknown users are not found; offline users are unavailable
    _, resp = fe.sip_request("INVITE", "alice", USERS["alice"],
                             to_user="nobody", body="v=0")
    assert resp.status == 404
    _, resp = fe.sip_request("INVITE", "alice", USERS["alice"],
                             to_user="dave", body="v=0")
    assert resp.status == 480


def test_register_over_tls_with_outbound(fe, agents):
    alice = agents("alice")
    alice.wait_registered(timeout=10)
    (binding,) = fe.registrations("alice")
    assert binding["Socket"] == f"tls:127.0.0.1:{fe.tls_port}"
    assert binding["Instance"].startswith("<urn:uuid:")
    assert binding["Reg-Id"] == "1"
    assert binding["Received"].endswith(";transport=tls")


def test_outbound_reregistration_replaces_the_flow(fe):
    """RFC 5626: the same +sip.instance and reg-id from a new connection
    replace the old binding; the 200 OK carries Flow-Timer."""
    instance = '"<urn:uuid:8d5a1f0e-0000-4000-8000-00000000d0d0>"'
    ports = []
    for _ in range(2):
        with fe.sip_agent("dave", USERS["dave"]) as ua:
            ports.append(ua.port)
            *_, ok = ua.request(
                "REGISTER",
                contact=f"<sip:dave@127.0.0.1:{ua.port};ob>;"
                        f"+sip.instance={instance};reg-id=1",
                headers=["Supported: outbound, path", "Expires: 30"])
            assert ok.status == 200
            assert "outbound" in ok.header("require")
            assert int(ok.header("flow-timer")) > 0
    (binding,) = fe.registrations("dave")
    assert binding["Address"] == f"sip:dave@127.0.0.1:{ports[1]};ob"
    assert binding["Reg-Id"] == "1"
    # unregister, so that dave is offline again for the other tests
    with fe.sip_agent("dave", USERS["dave"]) as ua:
        *_, ok = ua.request(
            "REGISTER", contact=f"<sip:dave@127.0.0.1:{ports[1]};ob>",
            headers=["Expires: 0"])
        assert ok.status == 200
    assert fe.registrations("dave") == []


def test_wrong_password_is_rejected(fe, agents):
    mallory = agents("carol", "guessed-wrong")
    reason = mallory.wait_registration_failed(timeout=10)
    assert reason.startswith("401")
    assert not mallory.is_registered()
    assert fe.registrations("carol") == []


def test_presence_publish_and_subscribe_with_xcap_rules(fe, agents):
    # bob lets alice (not dave) see his presence: pres-rules over XCAP
    fe.allow_presence("bob", USERS["bob"], "alice")
    doc = fe.xcap_get("bob", USERS["bob"], "pres-rules")
    assert doc.status == 200 and "sip:alice@example.test" in doc.text
    # nobody else reads bob's documents
    other = fe.xcap("GET", fe.xcap_path("bob", "pres-rules"), "alice",
                    USERS["alice"])
    assert other.status == 403
    assert fe.xcap_get("bob", "wrong", "pres-rules").status == 401

    bob = agents("bob")
    alice = agents("alice", contacts=["bob"])
    dave = agents("dave", contacts=["bob"])
    for ua in (bob, alice, dave):
        ua.wait_registered()

    bob.set_presence("offline")
    alice.wait_contact_presence("bob", "Offline", timeout=10)
    bob.set_presence("online")
    alice.wait_contact_presence("bob", "Online", timeout=10)
    assert ("sip:bob@example.test", "Offline", "Online") in \
        alice.presence_changes()
    # dave has no rule: his subscription stays pending, he learns nothing
    assert dave.contact_presence("bob") == "Unknown"


def test_message_between_users(fe, agents):
    bob = agents("bob")
    alice = agents("alice", contacts=["bob"])
    alice.wait_registered()
    bob.wait_registered()
    alice.send_message("bob", "hello bob, over TLS")
    peer, text = bob.wait_message(sender="alice", timeout=10)
    assert (peer, text) == ("sip:alice@example.test", "hello bob, over TLS")


def test_unauthenticated_senders_are_refused(fe, agents):
    """Nothing vouches for a sender of another domain: its MESSAGE and
    INVITE are refused (403), not delivered. A From in the local domain
    without credentials is challenged (407)."""
    carol = agents("carol")
    carol.wait_registered()
    for method, body in (("MESSAGE", "the CEO writes"), ("INVITE", "v=0")):
        (resp,) = fe.sip_request(method, "anyone", to_user="carol", body=body,
                                 from_uri="sip:anyone@evil.example")
        assert (method, resp.status) == (method, 403)
        (resp,) = fe.sip_request(method, "bob", to_user="carol", body=body)
        assert (method, resp.status) == (method, 407)
        # the server's own address without its port is not its domain
        (resp,) = fe.sip_request(method, "bob", to_user="carol", body=body,
                                 from_uri="sip:bob@127.0.0.1")
        assert (method, resp.status) == (method, 403)
    # carol's client shows nothing; a real message still arrives
    bob = agents("bob", contacts=["carol"])
    bob.wait_registered()
    bob.send_message("carol", "the real bob")
    peer, text = carol.wait_message(timeout=10)
    assert (peer, text) == ("sip:bob@example.test", "the real bob")
    assert carol.messages() == [(peer, text)]
    assert "CEO" not in carol.output()


def test_message_to_offline_user_is_stored_then_delivered(fe, agents):
    alice = agents("alice", contacts=["carol"])
    alice.wait_registered()
    assert fe.registrations("carol") == []
    alice.send_message("carol", "while you were away")
    # the Front End keeps it (msilo)
    deadline = time.monotonic() + 5
    while not fe.sql("SELECT body FROM silo WHERE username = 'carol'"):
        assert time.monotonic() < deadline, "message not stored"
        time.sleep(0.1)
    # carol comes online and gets it
    carol = agents("carol")
    carol.wait_registered()
    peer, text = carol.wait_message(sender="alice", timeout=10)
    assert text == "while you were away"
    assert carol.messages().count((peer, text)) == 1


RLS_DOC = rls_services_document(
    "sip:alice-buddies@example.test",
    ["sip:bob@example.test", "sip:carol@example.test"])


def test_resource_list_subscription(fe, agents):
    fe.allow_presence("bob", USERS["bob"], "alice")
    resp = fe.xcap_put("alice", USERS["alice"], "rls-services", RLS_DOC)
    assert resp.status == 200
    bob = agents("bob")
    bob.wait_registered()
    bob.set_presence("online")

    with fe.sip_agent("alice", USERS["alice"]) as watcher:
        *_, ok = watcher.request(
            "SUBSCRIBE", to_user="alice-buddies", contact=watcher.contact,
            headers=["Event: presence", "Supported: eventlist",
                     "Accept: application/pidf+xml, application/rlmi+xml, "
                     "multipart/related", "Expires: 120"])
        assert ok.status == 200
        assert "eventlist" in ok.header("require")
        # first NOTIFY: the whole list, as multipart/related with RLMI
        first = watcher.wait_request("NOTIFY", timeout=5)
        ctype = first.header("content-type")
        assert ctype.startswith("multipart/related")
        assert "application/rlmi+xml" in ctype
        assert 'fullState="true"' in first.body
        for member in ("sip:bob@example.test", "sip:carol@example.test"):
            assert f'<resource uri="{member}"' in first.body
        # then bob's state (alice may see it; carol's rules say nothing)
        update = watcher.wait_request(
            "NOTIFY", timeout=10,
            predicate=lambda n: "<basic>open</basic>" in n.body)
        assert 'entity="sip:bob@example.test"' in update.body
        assert 'entity="sip:carol@example.test"' not in update.body


def test_call_between_users(fe, agents):
    bob = agents("bob", answermode="auto")
    alice = agents("alice", contacts=["bob"])
    alice.wait_registered()
    bob.wait_registered()
    alice.dial("bob")
    assert alice.wait_event("CALL_ESTABLISHED", timeout=10)["peeruri"] \
        .startswith("sip:bob@example.test")
    assert bob.wait_event("CALL_ESTABLISHED", timeout=10)["peeruri"] == \
        "sip:alice@example.test"
    # the BYE crosses the Front End back to the caller's TLS connection
    bob.hangup()
    alice.wait_event("CALL_CLOSED", timeout=10)


def test_sqlite_waits_for_a_locked_database(fe, tmp_path):
    """The shim Kamailio runs with gives every SQLite connection a busy
    timeout: a writer waits for a lock instead of failing at once."""
    assert fe.sql("PRAGMA journal_mode") == [["wal"]]
    db = tmp_path / "locked.sqlite"
    subprocess.run(["sqlite3", db, "CREATE TABLE t (x)"], check=True)
    holder = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect('{db}', isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "c.execute('INSERT INTO t VALUES (1)')\n"
         "print('locked', flush=True); time.sleep(1); c.execute('COMMIT')"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        plain = subprocess.run(["sqlite3", db, "INSERT INTO t VALUES (2)"],
                               capture_output=True, text=True, timeout=10)
        assert plain.returncode != 0 and "locked" in plain.stderr
        env = dict(os.environ, LD_PRELOAD=str(fe.rundir / "sqlite_busy.so"),
                   FE_SQLITE_BUSY_MS="5000")
        waited = subprocess.run(["sqlite3", db, "INSERT INTO t VALUES (3)"],
                                capture_output=True, text=True, timeout=10,
                                env=env)
        assert waited.returncode == 0, waited.stderr
    finally:
        holder.wait(timeout=10)


def test_stops_cleanly(tmp_path):
    fe = Frontend(tmp_path / "run")
    fe.start()
    pid = fe.pid
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    t0 = time.monotonic()
    fe.stop()
    # bounded: SIGTERM, up to 10 s (FE_STOP_TIMEOUT), then SIGKILL; how
    # long the SIGTERM takes moves with the machine's load (10.5 s seen)
    assert time.monotonic() - t0 < 20
    assert not os.path.exists(f"/proc/{pid}")
    assert not fe.pid_file.exists()
    assert not fe.status()
    # a second stop is harmless, and it starts again from the same run dir
    fe.stop()
    fe.start()
    assert fe.pid not in (None, pid)
    fe.stop()
