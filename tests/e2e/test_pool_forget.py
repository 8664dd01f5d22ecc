"""An application forgotten while an incoming MESSAGE's write is in flight
(docs/pool.md): Redis stops answering (SIGSTOP) with the write of a
MESSAGE sent, the lease lapses and the instance forgets its applications;
when Redis answers again, that write's answer must find nothing (its
handle went with the application): the instance lives on, rejoins the
pool, takes the session back, and the app gets the message once. Run it
on the ASan build (MOBILITYD=build/asan/mobilityd) to see a use after
free as such."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from pool import member, wait_log
from ucwa_client import api, create, im_texts, token, url


def texts(m, tok, loc, ack, wait):
    """The IM texts of the batches that come within wait seconds from
    ack on, following each answer's next link; returns (texts, ack)."""
    got = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            st, _, body = m.curl(
                url(m, loc + "/events?ack=%d" % ack),
                "-H", "Authorization: Bearer " + tok,
                "-H", "Accept: application/json", "--max-time", "2")
        except subprocess.CalledProcessError:
            continue
        if st != 200:
            time.sleep(0.2)
            continue
        b = json.loads(body)
        got += im_texts(b)
        ack = int(re.search(r"ack=(\d+)", b["_links"]["next"]["href"]).group(1))
    return got, ack


def test_forget_with_message_write_in_flight(fe, redis, tmp_path):
    m = member(tmp_path / "mob", fe, redis, "mob-f")
    m.start()
    stopped = False
    try:
        tok = token(m, "alice")
        st, h, body = create(m, tok, "pool-forget")
        assert st == 201, body
        loc = h["location"]
        assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
        fe.wait_registered("alice")
        _, ack = texts(m, tok, loc, 1, 1)

        # the MESSAGE's write is sent to a Redis that does not answer
        answers = []
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        since = len(m.log())
        sender = threading.Thread(target=lambda: answers.append(
            fe.sip_request("MESSAGE", "bob", "bob-secret", to_user="alice",
                           body="forget-me", timeout=20)))
        sender.start()
        assert wait_log(m, "applications forgotten", 12, since), m.log()[since:]
        # its answer comes after the forget
        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False
        assert wait_log(m, "back in the pool", 10, since), m.log()[since:]
        time.sleep(1)
        assert m.proc.poll() is None, m.log()[since:]
        assert "AddressSanitizer" not in m.log(), m.log()[since:]
        sender.join(25)
        # the forgotten instance said nothing to the Front End (no 200
        # for a write it no longer follows): the Front End keeps the
        # message and hands it to the session's owner, taken back here
        got, _ = texts(m, tok, loc, ack, 15)
        assert got.count("forget-me") == 1, (got, answers)
        assert m.proc.poll() is None
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        if m.proc:
            m.kill()
