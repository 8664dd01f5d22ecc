"""The instance's pool lease on Redis (docs/pool.md): renewed every 2.5 s;
when Redis stops answering (SIGSTOP past the deadline), the instance stops
all SIP before the lease can have expired in Redis (partition safety),
says so in its log and metrics, refuses what needs the SIP side, leaves
the Front End's binding alone (no un-REGISTER: it would remove the
binding a new owner made), and rejoins the pool with a fresh lease once
Redis answers again."""
import os
import re
import signal
import time

import pytest

from pool import healthz, member, wait_log
from ucwa_client import api, create, token


def test_lease_lost_stops_sip(fe, redis, tmp_path):
    m = member(tmp_path / "mob", fe, redis, "mob-a")
    m.start()
    stopped = False
    try:
        tok = token(m, "alice")
        st, h, body = create(m, tok, "pool-lease")
        assert st == 201, body
        loc = h["location"]
        assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
        fe.wait_registered("alice")
        bindings = len(fe.registrations("alice"))
        # the instance's lease is in Redis, and renewed
        assert len(redis.keys("mob:lease:*")) == 1
        time.sleep(3)
        assert "pool: lease lapsed" not in m.log()

        # Redis stops answering: the deadline counts from the confirmed
        # renewal before the last, so SIP stops 3-5.5 s after the stop,
        # before the key (renewed >= 0 s and < 2.5 s before the stop)
        # can expire at 7.5-10 s
        since = len(fe.log_text())
        t0 = time.monotonic()
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        assert wait_log(m, "pool: lease lapsed", 12), m.log()
        elapsed = time.monotonic() - t0
        print("SIP stopped %.2f s after Redis stopped answering" % elapsed)
        assert 2.5 < elapsed < 7.5, elapsed
        assert "SIP stopped for 1 sessions of instance mob-a" in m.log()
        assert m.metric("mobility_pool_lease_lost_total") == 1
        # the load balancer is told to send phones elsewhere
        assert healthz(m) == 503

        # what needs the SIP side is refused
        st, _, body = api(m, tok, "POST", loc + "/communication/messagingInvitations",
                          {"to": "sip:bob@example.test", "operationId": "p1",
                           "message": "after the lease"})
        assert st != 201, body

        # nothing reached the Front End while stopped: no refresh, no
        # removal (an un-REGISTER would remove the binding a new owner
        # made with the same +sip.instance), the binding is still there
        time.sleep(1)
        assert not re.search(r"REGISTER \S+ from sip:alice@", fe.log_text()[since:])
        assert len(fe.registrations("alice")) == bindings

        lost_at = len(m.log())
        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False
        # the lease is ended as soon as Redis answers (a renewal sent
        # before the stop does not keep it alive, and its sessions are
        # released: another instance may take them at once), then the
        # instance rejoins with a fresh lease and says so
        deadline = time.monotonic() + 3
        while "back in the pool" not in m.log()[lost_at:]:
            assert time.monotonic() < deadline, m.log()[lost_at:]
            time.sleep(0.05)
        log = m.log()[lost_at:]
        assert log.index("ended, its sessions released") < log.index("back in the pool")
        assert redis.keys("mob:lease:*") == ["mob:lease:{mob-a}"]
        assert healthz(m) == 200
        # the released session is taken back (here: the only instance),
        # registered again, never removed
        fe.wait_log(r"REGISTER \S+ from sip:alice@", since=since)
        assert not re.search(r"REGISTER \S+ from sip:alice@.*expires=0\b",
                             fe.log_text()[since:])
        assert len(fe.registrations("alice")) == bindings
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        if m.proc:
            m.kill()
