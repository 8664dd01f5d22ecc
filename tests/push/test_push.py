"""The push service against a local HTTP/2 stand-in for APNs, FCM and the
OAuth2 token endpoint (tests/pylib/pushsrv.py), driven through
tests/push/push_client (the module on a libre loop).

Checks the exact requests (paths, headers, JWTs verified with the public
keys, payloads), every scripted outcome and its result, backoff and
Retry-After, token reuse and refresh, the in-flight and queue limits, the
privacy modes and the metrics.
"""
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from mobility import Mobilityd
from pushsrv import APNS_TEAM_ID, FCM_EMAIL, FCM_PROJECT, PushServer

SRC = Path(os.environ.get("MOBILITY_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MOBILITY_BUILD", SRC / "build" / "test"))
CLIENT = BUILD / "tests" / "push_client"
TOPIC = "com.example.mobility"


@pytest.fixture
def ps(tmp_path):
    with PushServer(tmp_path) as srv:
        yield srv


class Run:
    """What one push_client run printed."""

    def __init__(self, out):
        self.results, self.errors, self.metrics = [], [], {}
        self.totals = None
        for line in out.splitlines():
            if line.startswith("{"):
                j = json.loads(line)
                if "total" in j:
                    self.totals = j
                elif "error" in j:
                    self.errors.append(j)
                else:
                    self.results.append(j)
            elif line.startswith("mobility_push"):
                name, value = line.rsplit(" ", 1)
                self.metrics[name] = int(value)

    def by_token(self, token):
        return [r for r in self.results if r["token"] == token]

    def one(self, token):
        rs = self.by_token(token)
        assert len(rs) == 1, self.results
        return rs[0]


def run(ps, tmp_path, *args, conf=None, apns=True, fcm=True, timeout=60):
    """Run push_client with a configuration holding [push] for ps."""
    d = tmp_path / ("conf%d" % time.monotonic_ns())
    m = Mobilityd(d, extra={"push": ps.conf_lines(apns=apns, fcm=fcm, **(conf or {}))})
    cmd = [str(CLIENT), "-c", m.conf_path, "-m", *args]
    if "-T" not in args and "fcm" not in args:
        cmd += ["-T", TOPIC]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout + p.stderr
    return Run(p.stdout)


def metric(r, name, **labels):
    lab = ",".join('%s="%s"' % kv for kv in labels.items())
    return r.metrics.get("%s{%s}" % (name, lab))


def test_apns_alert_request(ps, tmp_path):
    t0 = time.time()
    r = run(ps, tmp_path, "-t", "a1b2c3", "-s", "Alice Smith", "-x", 'Hi "Bob" é',
            "-C", "conv-42", "-b", "3", "-a", "app-7",
            conf={"apns_ttl": 3600, "alert_text": "full"})
    assert r.one("a1b2c3")["result"] == "sent"
    assert r.one("a1b2c3")["status"] == 200
    [q] = ps.of("apns")
    assert q.method == "POST" and q.path == "/3/device/a1b2c3"
    h = dict(q.headers)
    claims = ps.verify_apns_jwt(q)
    assert claims["iss"] == APNS_TEAM_ID and abs(claims["iat"] - t0) < 60
    assert set(claims) == {"iss", "iat"}
    assert h.pop("apns-topic") == TOPIC
    assert h.pop("apns-push-type") == "alert"
    assert h.pop("apns-priority") == "10"
    assert abs(int(h.pop("apns-expiration")) - (t0 + 3600)) < 60
    assert h.pop("apns-collapse-id") == "conv-42"
    assert h.pop("content-type") == "application/json"
    h.pop("authorization"), h.pop("content-length"), h.pop("accept", None)
    assert h == {}, h
    assert q.json() == {"aps": {"alert": {"title": "Alice Smith", "body": 'Hi "Bob" é'},
                                "badge": 3, "sound": "default", "thread-id": "conv-42"},
                        "kind": "message", "pushId": "app-7"}
    assert ps.connections == 1


def test_apns_call_request(ps, tmp_path):
    t0 = time.time()
    r = run(ps, tmp_path, "-k", "call", "-t", "dev1", "-v", "voip1", "-s", "Alice",
            "-C", "conv-1", "-a", "app-1")
    assert r.one("dev1")["result"] == "sent"
    [q] = ps.of("apns")
    assert q.path == "/3/device/voip1"
    assert q.headers["apns-topic"] == TOPIC + ".voip"
    assert q.headers["apns-push-type"] == "voip"
    assert q.headers["apns-priority"] == "10"
    assert 0 < int(q.headers["apns-expiration"]) - t0 <= 31 + 5
    assert "apns-collapse-id" not in q.headers
    assert q.json() == {"aps": {}, "kind": "call", "from": "Alice", "pushId": "app-1"}


def test_apns_outcomes(ps, tmp_path):
    ps.script("d410", "410")
    ps.script("dbad", "BadDeviceToken")
    ps.script("dtopic", "DeviceTokenNotForTopic")
    ps.script("dother", "BadTopic")
    ps.script("d500", "500", "503", "200")
    ps.script("dfail", "500")
    toks = ["d410", "dbad", "dtopic", "dother", "d500", "dfail", "dok"]
    args = [a for t in toks for a in ("-t", t)]
    r = run(ps, tmp_path, *args, "-n", str(len(toks)),
            conf={"retries": 2, "retry_base_ms": 20})
    assert (r.one("d410")["result"], r.one("d410")["status"],
            r.one("d410")["reason"]) == ("drop_token", 410, "Unregistered")
    assert (r.one("dbad")["result"], r.one("dbad")["reason"]) == ("drop_token", "BadDeviceToken")
    assert r.one("dtopic")["result"] == "drop_token"
    assert (r.one("dother")["result"], r.one("dother")["status"]) == ("failed", 400)
    assert r.one("d500")["result"] == "sent"
    assert r.one("dfail")["result"] == "failed" and r.one("dfail")["status"] == 500
    assert r.one("dok")["result"] == "sent"
    # no retry of what cannot succeed; 1 + retries attempts at most
    assert [len(ps.of(token=t)) for t in toks] == [1, 1, 1, 1, 3, 3, 1]
    assert metric(r, "mobility_push_total", provider="apns", outcome="sent") == 2
    assert metric(r, "mobility_push_total", provider="apns", outcome="dropped_token") == 3
    assert metric(r, "mobility_push_total", provider="apns", outcome="failed") == 2
    assert metric(r, "mobility_push_total", provider="apns", outcome="retried") == 4
    assert metric(r, "mobility_push_in_flight", provider="apns") == 0
    assert metric(r, "mobility_push_queued", provider="apns") == 0
    assert metric(r, "mobility_push_latency_ms_count", provider="apns") == 2
    assert r.totals["total"] == 7 and r.totals["sent"] == 2


def test_retry_after_and_backoff(ps, tmp_path):
    ps.script("ra", "429:1", "200")
    ps.script("bo", "500", "500", "500", "200")
    r = run(ps, tmp_path, "-t", "ra", "-t", "bo", "-n", "2",
            conf={"retry_base_ms": 200, "retries": 3})
    assert r.one("ra")["result"] == "sent" and r.one("bo")["result"] == "sent"
    ra = ps.of(token="ra")
    assert len(ra) == 2 and ra[1].t - ra[0].t >= 1.0   # Retry-After: 1
    bo = [q.t for q in ps.of(token="bo")]
    gaps = [b - a for a, b in zip(bo, bo[1:])]
    # base 200 ms doubled each time, at least half of it (jitter)
    assert len(gaps) == 3
    for i, g in enumerate(gaps):
        assert g >= 0.2 * 2 ** i / 2 - 0.01, gaps


def test_apns_jwt_reused_and_renewed(ps, tmp_path):
    ps.script("exp1", "ExpiredProviderToken", "200")
    ps.script("exp2", "ExpiredProviderToken")
    r = run(ps, tmp_path, "-t", "j1", "-t", "j2", "-t", "j3", "-n", "3")
    jwts = {q.headers["authorization"] for q in ps.of("apns")}
    assert len(jwts) == 1 and metric(r, "mobility_push_tokens_total",
                                     provider="apns", outcome="ok") == 1
    r = run(ps, tmp_path, "-t", "exp1", "-t", "exp2", "-n", "2", "-j", "1")
    assert r.one("exp1")["result"] == "sent"
    e1 = ps.of(token="exp1")
    assert len(e1) == 2
    assert e1[0].headers["authorization"] != e1[1].headers["authorization"]
    ps.verify_apns_jwt(e1[1])
    # renewed once only: then it fails
    assert r.one("exp2")["result"] == "failed"
    assert r.one("exp2")["reason"] == "ExpiredProviderToken"
    assert len(ps.of(token="exp2")) == 2


def test_fcm_requests_and_token_reuse(ps, tmp_path):
    t0 = time.time()
    toks = ["fcm-tok_%d:x" % i for i in range(20)]
    args = [a for t in toks for a in ("-t", t)]
    r = run(ps, tmp_path, "-p", "fcm", *args, "-n", "20", "-s", "Alice", "-x", "hello",
            "-C", "conv-9", "-b", "2", "-a", "app-3",
            conf={"apns_ttl": 600, "alert_text": "full"})
    assert r.totals["sent"] == 20
    assert ps.token_fetches == 1
    [tq] = ps.of("token")
    assert tq.headers["content-type"] == "application/x-www-form-urlencoded"
    c = ps.verify_fcm_grant(tq)
    assert c["iss"] == FCM_EMAIL
    assert c["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert abs(c["iat"] - t0) < 60 and 0 < c["exp"] - c["iat"] <= 3600
    msgs = ps.of("fcm")
    assert len(msgs) == 20 and ps.requests.index(tq) == 0
    q = ps.of("fcm", token=toks[0])[0]
    assert q.path == "/v1/projects/%s/messages:send" % FCM_PROJECT
    assert q.headers["authorization"] == "Bearer access-1"
    assert q.headers["content-type"].startswith("application/json")
    assert q.json() == {"message": {
        "token": toks[0],
        "notification": {"title": "Alice", "body": "hello"},
        "data": {"kind": "message", "pushId": "app-3", "badge": "2"},
        "android": {"priority": "high", "ttl": "600s", "collapse_key": "conv-9"}}}
    assert metric(r, "mobility_push_tokens_total", provider="fcm", outcome="ok") == 1
    assert ps.connections == 1


def test_fcm_call_and_project(ps, tmp_path):
    # a project that is neither the key's nor configured: refused
    r = run(ps, tmp_path, "-p", "fcm", "-k", "call", "-t", "c0", "-s", "Alice",
            "-C", "conv-1", "-a", "app-1", "-T", "other-project")
    assert [e["error"] for e in r.errors] == ["Operation not permitted"], r.errors
    assert ps.of("fcm") == []
    r = run(ps, tmp_path, "-p", "fcm", "-k", "call", "-t", "c1", "-s", "Alice",
            "-C", "conv-1", "-a", "app-1", "-T", "other-project",
            conf={"fcm_project": "other-project"})
    assert r.one("c1")["result"] == "sent"
    [q] = ps.of("fcm")
    assert q.path == "/v1/projects/other-project/messages:send"
    assert q.json() == {"message": {
        "token": "c1", "data": {"kind": "call", "pushId": "app-1", "from": "Alice"},
        "android": {"priority": "high", "ttl": "30s"}}}


def test_fcm_outcomes(ps, tmp_path):
    ps.script("unreg", "UNREGISTERED")
    ps.script("inval", "INVALID_TOKEN")
    ps.script("badreq", "400")
    ps.script("auth", "401", "200")
    ps.script("f500", "500", "200")
    toks = ["unreg", "inval", "badreq", "auth", "f500"]
    args = [a for t in toks for a in ("-t", t)]
    r = run(ps, tmp_path, "-p", "fcm", *args, "-n", "5", "-j", "1",
            conf={"retry_base_ms": 20})
    assert (r.one("unreg")["result"], r.one("unreg")["status"],
            r.one("unreg")["reason"]) == ("drop_token", 404, "UNREGISTERED")
    assert r.one("inval")["result"] == "drop_token"
    assert (r.one("badreq")["result"], r.one("badreq")["status"]) == ("failed", 400)
    assert r.one("auth")["result"] == "sent"
    a = ps.of("fcm", token="auth")
    assert [q.headers["authorization"] for q in a] == ["Bearer access-1", "Bearer access-2"]
    assert ps.token_fetches == 2
    assert r.one("f500")["result"] == "sent" and len(ps.of(token="f500")) == 2


def test_fcm_token_refreshed_before_expiry(tmp_path):
    with PushServer(tmp_path, token_expires_in=2) as ps:
        for i in range(8):
            ps.script("s%d" % i, "slow:0.4")
        args = [a for i in range(8) for a in ("-t", "s%d" % i)]
        r = run(ps, tmp_path, "-p", "fcm", *args, "-n", "8", "-j", "1")
        assert r.totals["sent"] == 8
        auths = [q.headers["authorization"] for q in ps.of("fcm")]
        # 3.2 s of pushes with 2 s tokens fetched again at 80%
        assert ps.token_fetches >= 2
        assert auths[0] == "Bearer access-1" and auths[-1] != "Bearer access-1"
        fetch_t = [q.t for q in ps.of("token")]
        assert fetch_t[1] - fetch_t[0] >= 1.4  # at 80% of 2 s, not at once


def test_fcm_token_endpoint_down(ps, tmp_path):
    ps.script_token_endpoint("500")
    r = run(ps, tmp_path, "-p", "fcm", "-t", "w1", "-t", "w2", "-n", "2",
            conf={"retries": 2, "retry_base_ms": 20})
    assert [x["result"] for x in r.results] == ["failed", "failed"]
    assert r.results[0]["reason"] == "no FCM access token"
    assert ps.token_fetches == 3 and not ps.of("fcm")
    assert metric(r, "mobility_push_tokens_total", provider="fcm", outcome="failed") == 3


def test_in_flight_and_queue_limits(ps, tmp_path):
    for i in range(12):
        ps.script("q%d" % i, "slow:0.3")
    args = [a for i in range(12) for a in ("-t", "q%d" % i)]
    r = run(ps, tmp_path, *args, "-n", "12", conf={"in_flight": 3})
    assert r.totals["sent"] == 12
    assert ps.max_concurrent == 3
    assert ps.connections == 1
    # in order of push_send(): the first alone until the connection is up,
    # then three at a time (streams of one batch may arrive in any order)
    got = [int(q.token[1:]) for q in ps.of("apns")]
    assert got[0] == 0 and sorted(got) == list(range(12))
    assert all(abs(i - k) < 3 for k, i in enumerate(got)), got

    r = run(ps, tmp_path, "-t", "z", "-n", "12", conf={"in_flight": 1, "queue": 5})
    assert len(r.results) == 5 and len(r.errors) == 7
    assert all(e["error"] == "No buffer space available" for e in r.errors)


@pytest.mark.parametrize("mode", ["full", "sender", "none"])
def test_privacy(ps, tmp_path, mode):
    r = run(ps, tmp_path, "-t", "p1", "-s", "Alice", "-x", "secret plan",
            conf={"alert_text": mode})
    r2 = run(ps, tmp_path, "-p", "fcm", "-t", "p2", "-s", "Alice", "-x", "secret plan",
             conf={"alert_text": mode})
    r3 = run(ps, tmp_path, "-k", "missed_call", "-t", "p3", "-s", "Alice",
             conf={"alert_text": mode})
    assert r.totals["sent"] == r2.totals["sent"] == r3.totals["sent"] == 1
    apns = ps.of("apns", token="p1")[0].json()["aps"]["alert"]
    fcm = ps.of("fcm")[0].json()["message"]["notification"]
    missed = ps.of("apns", token="p3")[0].json()["aps"]["alert"]
    want = {"full": {"title": "Alice", "body": "secret plan"},
            "sender": {"body": "New message from Alice"},
            "none": {"body": "New message"}}[mode]
    assert apns == want and fcm == want
    assert missed == ({"body": "Missed call"} if mode == "none"
                      else {"body": "Missed call from Alice"})
    for q in ps.of("apns") + ps.of("fcm"):
        if mode != "full":
            assert b"secret" not in q.body
        if mode == "none":
            assert b"Alice" not in q.body


def test_cancel_drops_only_the_handler(ps, tmp_path):
    r = run(ps, tmp_path, "-d", "-t", "c1", "-t", "c2", "-n", "4")
    assert r.results == []
    assert len(ps.of("apns")) == 4
    assert metric(r, "mobility_push_total", provider="apns", outcome="sent") == 4


def test_long_collapse_id_hashed(ps, tmp_path):
    coll = "conversation:" + "x" * 100
    run(ps, tmp_path, "-t", "lc", "-C", coll)
    [q] = ps.of("apns")
    assert q.headers["apns-collapse-id"] == hashlib.sha256(coll.encode()).hexdigest()


def test_bad_targets_refused(ps, tmp_path):
    r = run(ps, tmp_path, "-t", "../../x", "-t", "ok", "-n", "2")
    assert r.errors == [{"i": 0, "error": "Invalid argument"}]
    assert r.one("ok")["result"] == "sent"
    assert [q.path for q in ps.of("apns")] == ["/3/device/ok"]
    # FCM not configured: not available
    r = run(ps, tmp_path, "-p", "fcm", "-t", "x", fcm=False)
    assert r.errors == [{"i": 0, "error": "Operation not supported"}]



def test_bad_topics_refused(ps, tmp_path):
    # APNs: a topic is required and must keep to the alphabet
    for topic in ("", "com.example/app"):
        r = run(ps, tmp_path, "-t", "tk", "-T", topic)
        assert r.errors == [{"i": 0, "error": "Invalid argument"}], topic
    # FCM: the project is optional, but a given one keeps to it too
    r = run(ps, tmp_path, "-p", "fcm", "-t", "x", "-T", "a/b")
    assert r.errors == [{"i": 0, "error": "Invalid argument"}]
    assert ps.of("apns") == [] and ps.of("fcm") == []

def test_provider_down_then_failed(ps, tmp_path):
    """Connection refused: retried with backoff, then failed."""
    ps.stop()
    r = run(ps, tmp_path, "-t", "down", conf={"retries": 2, "retry_base_ms": 20})
    assert r.one("down")["result"] == "failed" and r.one("down")["status"] == 0
    assert metric(r, "mobility_push_total", provider="apns", outcome="retried") == 2


def test_mobilityd_runs_the_service(ps, tmp_path):
    """mobilityd starts the service from [push] and counts it in /metrics;
    --check-config reports a key file it cannot read."""
    import urllib.request
    m = Mobilityd(tmp_path / "mob", extra={"push": ps.conf_lines()})
    with m:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.admin_port,
                                    timeout=5) as r:
            text = r.read().decode()
        assert 'mobility_push_total{provider="apns",outcome="sent"} 0' in text
        assert 'mobility_push_in_flight{provider="fcm"} 0' in text
    assert "push: APNs https://127.0.0.1:%d, FCM https://127.0.0.1:%d" % (
        ps.port, ps.port) in m.log()

    os.unlink(ps.fcm_key_path)
    p = subprocess.run([os.environ.get("MOBILITYD", str(BUILD / "mobilityd")),
                        "--check-config", m.conf_path],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "cannot read the FCM service-account key" in p.stdout + p.stderr


def test_one_connection_beyond_the_server_streams(ps, tmp_path):
    """More pushes in flight than the server allows streams (100 for the
    stand-in): they wait for a stream instead of opening connections."""
    r = run(ps, tmp_path, "-t", "many", "-n", "300")
    assert r.totals["sent"] == 300
    assert ps.connections == 1
    assert 1 < ps.max_concurrent <= 100


def test_service_dropped_with_pushes_out(ps, tmp_path):
    """Dropping the service with pushes queued, in flight and in backoff
    frees them without calling their handlers (checked under ASan too)."""
    ps.script("slow", "slow:2")
    ps.script("again", "500")
    args = ["-t", "fast", "-t", "slow", "-t", "again", "-t", "fast"]
    t0 = time.monotonic()
    r = run(ps, tmp_path, *args, "-n", "12", "-e", "3",
            conf={"in_flight": 4, "retry_base_ms": 5000})
    assert len(r.results) == 3
    assert all(x["token"] == "fast" for x in r.results)
    assert time.monotonic() - t0 < 10  # not waiting for the slow answers
