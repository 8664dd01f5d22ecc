"""mobilityd on the Redis store ([store] backend = redis) against a real
redis-server (deploy/redis/redis.conf: AOF, appendfsync always): sign-in,
an IM out to bob's baresip and one in from him, then mobilityd killed
(SIGKILL) and started again: the token, the application, its presence and
the message the app had not fetched come back from Redis, exactly once.
Nothing is written to the LMDB directory."""
import os
import signal
import time

import pytest

from baresip import registered
from pool import member
from test_restart import check_back, get_events, sign_in, texts
from ucwa_client import api


@pytest.fixture(scope="module")
def bob(fe):
    fe.allow_presence("alice", "alice-secret", "bob")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b


def test_redis_store_survives_a_kill(fe, bob, redis, tmp_path):
    m = member(tmp_path / "mob", fe, redis)
    m.start()
    try:
        tok, loc = sign_in(m, bob, "redis-kill")

        # an IM out: the invitation reaches bob's desktop
        st, _, body = api(m, tok, "POST", loc + "/communication/messagingInvitations",
                          {"to": "sip:bob@example.test", "operationId": "r1",
                           "message": "hello bob from redis"})
        assert st == 201, body
        bob.wait_message(sender="alice", text="hello bob from redis", timeout=10)

        # the session, its token and HA1 are in Redis, tagged by session
        sessions = redis.keys("mob:{*}:s")
        assert len(sessions) == 1, sessions
        assert redis.keys("mob:tok:*") and redis.keys("mob:ha1:*")

        # an IM in, answered 200 only once in Redis's AOF; not fetched
        key_ev = sessions[0][:-2] + ":ev"
        ev_before = int(redis.cli("XLEN", key_ev))
        bob.send_message("alice", "while you were away")
        for _ in range(200):
            if int(redis.cli("XLEN", key_ev)) > ev_before:
                break
            time.sleep(0.05)
        assert int(redis.cli("XLEN", key_ev)) > ev_before

        since = len(fe.log_text())
        m.kill(signal.SIGKILL)
        m.start()
        check_back(m, tok, loc, bob, fe, since)
        assert "applications restored" in m.log()

        # the message comes once, in the numbering the app holds
        ev, got = get_events(m, tok, loc, 2)
        assert "while you were away" in texts(got), got
        assert ev["_links"]["next"]["href"].endswith("ack=3")
        bob.send_message("alice", "after the kill")
        ev, got = get_events(m, tok, loc, 3)
        assert texts(got) == ["after the kill"], got

        # LMDB was never opened
        assert not os.path.exists(os.path.join(m.dir, "store", "data.mdb"))
    finally:
        if m.proc:
            assert m.stop() == 0, m.log()
