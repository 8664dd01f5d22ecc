"""Sessions owned under an instance's pool lease (docs/pool.md): a lost
lease forgets them (nothing sent to the Front End, the store left for the
next owner); a dead instance's sessions are taken over by another one,
which registers them again with the same +sip.instance and reg-id."""
import os
import re
import signal
import time

import pytest

from mobility import Mobilityd
from redis_server import RedisServer
from ucwa_client import api, create, park, token


@pytest.fixture()
def redis(tmp_path):
    with RedisServer(tmp_path / "redis") as r:
        yield r


def wait_log(m, text, timeout):
    deadline = time.monotonic() + timeout
    while text not in m.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def pool_member(tmp_path, fe, redis, name, sub="mob"):
    return Mobilityd(tmp_path / sub, fe=fe,
                     extra={"store": redis.store_conf() + ["redis_instance = " + name]})


def test_lease_lost_forgets_sessions(fe, redis, tmp_path):
    """The lease lapses: the session leaves the instance's memory, its
    parked P-GET is told to come again (503, Retry-After: 1), no
    un-REGISTER reaches the Front End (its binding stays for the next
    owner to replace) and the session's record stays in Redis."""
    m = pool_member(tmp_path, fe, redis, "mob-a")
    m.start()
    stopped = False
    try:
        tok = token(m, "alice")
        st, h, body = create(m, tok, "forget-1")
        assert st == 201, body
        loc = h["location"]
        sid = loc.rsplit("/", 1)[1]
        fe.wait_registered("alice")
        bindings = fe.registrations("alice")
        assert redis.keys("mob:{%s}:s" % sid)
        assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
        st, _, body = api(m, tok, "GET", loc + "/events?ack=1&medium=0&low=0")
        assert st == 200, body
        th, out = park(m, tok, loc + "/events?ack=2&timeout=180", 30)
        time.sleep(1)
        assert m.metric("mobility_applications") == 1

        since = len(fe.log_text())
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        assert wait_log(m, "pool: lease lapsed", 12), m.log()
        th.join(5)
        assert out, "the parked P-GET was not answered"
        st, hdrs, body = out[0]
        assert st == 503, body
        assert hdrs.get("retry-after") == "1", hdrs
        assert m.metric("mobility_applications") == 0

        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False
        assert wait_log(m, "pool: lease of instance", 3), m.log()
        time.sleep(1)
        # nothing was sent for it: no refresh, no un-REGISTER
        assert not re.search(r"REGISTER \S+ from sip:alice@", fe.log_text()[since:])
        regs = fe.registrations("alice")
        assert [r.get("Instance") for r in regs] == \
            [r.get("Instance") for r in bindings]
        # the record is the next owner's
        assert redis.keys("mob:{%s}:s" % sid)
        assert m.stop() == 0, m.log()
        assert not re.search(r"REGISTER \S+ from sip:alice@", fe.log_text()[since:])
        assert redis.keys("mob:{%s}:s" % sid)
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        if m.proc:
            m.kill()
