"""The event channel as a phone on a bad network uses it: bob writes to
alice through the real Front End while alice's app long-polls, loses
answers, drops connections with a parked request and follows only the
`next` links it was given. Every message must be seen exactly once and
in the order bob sent it."""
import json
import socket
import threading
import time
import urllib.parse

import pytest

from phone import Phone
from ucwa_client import api, create, im_texts, token

PREFIX = "ev-msg-"


def texts(batch):
    """bob's messages in a batch, in order."""
    return [t for t in im_texts(batch) if t.startswith(PREFIX)]


class Bob:
    """bob as a raw SIP agent through the Front End: each MESSAGE is sent
    only once the one before has its final answer (the gateway answers
    200 only once the event is stored), so the order bob sent is the
    order alice must see."""

    def __init__(self, fe):
        self.agent = fe.sip_agent("bob", "bob-secret")
        self.sent = []
        self.errors = []
        self.thread = None

    def send(self, first, count):
        def run():
            try:
                for i in range(first, first + count):
                    text = "%s%03d" % (PREFIX, i)
                    finals = self.agent.request("MESSAGE", to_user="alice",
                                                body=text, timeout=15)
                    assert finals[-1].status == 200, finals[-1].raw
                    self.sent.append(text)
            except Exception as e:  # reported by the test
                self.errors.append(e)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(60)
        assert not self.thread.is_alive(), "bob is still sending"
        assert not self.errors, self.errors

    def close(self):
        self.agent.close()


@pytest.fixture(scope="module")
def phone(mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "events-phone")
    assert st == 201, body
    assert api(mob, tok, "POST", h["location"] + "/me/makeMeAvailable", {})[0] == 204
    return Phone(mob, tok, json.loads(body))


@pytest.fixture(scope="module")
def bob(fe):
    b = Bob(fe)
    yield b
    b.close()


def follow(phone, href, want, lose_every=0, seen=None):
    """Poll from href following only `next` links until `want` messages
    are seen in all; every lose_every-th answer is lost once (read, then
    asked for again with the same link). Returns (next href, seen)."""
    seen = [] if seen is None else seen
    n = 0
    deadline = time.monotonic() + 90
    while len(seen) < want:
        assert time.monotonic() < deadline, seen
        n += 1
        st, body = phone.get(href)
        assert st == 200, body
        if lose_every and n % lose_every == 0:
            # the answer never reached the app: the same link again
            # gives the same batch, byte for byte
            st2, again = phone.get(href)
            assert st2 == 200 and again == body
        batch = json.loads(body)
        assert "resync" not in batch["_links"], batch
        seen.extend(texts(batch))
        href = batch["_links"]["next"]["href"]
    return href, seen


def test_exactly_once_across_lost_answers_and_drops(mob, phone, bob):
    href = phone.app["_links"]["events"]["href"]

    # 1. bob writes while the app polls, losing every second answer
    bob.send(0, 15)
    href, seen = follow(phone, href, 15, lose_every=2)
    bob.join()
    assert seen == bob.sent

    # 2. nothing pending: the request is parked (no answer within a
    # second), then the connection drops with it. Should an event of the
    # session itself come meanwhile, it is read as usual and the app
    # parks again.
    for _ in range(5):
        s = phone.open(href)
        s.settimeout(1)
        try:
            first = s.recv(65536)
        except socket.timeout:
            s.close()
            break
        st, body = phone.read(s, data=first)
        assert st == 200, body
        batch = json.loads(body)
        seen.extend(texts(batch))
        href = batch["_links"]["next"]["href"]
    else:
        raise AssertionError("the request was never parked")
    assert seen == bob.sent
    bob.send(15, 10)
    # the same link from a new connection picks up where the app was
    href, seen = follow(phone, href, 25, seen=seen)

    # 3. connections dropped mid-poll while bob writes: each one either
    # was parked or had its answer lost; the same link again is right in
    # both cases
    bob.join()
    bob.send(25, 15)
    for _ in range(3):
        s = phone.open(href)
        time.sleep(0.2)
        s.close()
        href, seen = follow(phone, href, min(len(seen) + 1, 40), seen=seen)
    href, seen = follow(phone, href, 40, lose_every=3, seen=seen)
    bob.join()

    assert seen == bob.sent
    assert len(set(seen)) == 40
    phone.next = href


def test_out_of_range_ack_resyncs(mob, phone, bob):
    href = phone.next
    ack = int(urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["ack"][0])
    for bad in (ack + 1, ack + 1000, ack - 2, 0):
        st, body = phone.get(href.replace("ack=%d" % ack, "ack=%d" % bad))
        assert st == 200, body
        batch = json.loads(body)
        # no next link: resync, to the batch the app should ask for
        assert "next" not in batch["_links"], batch
        assert batch["_links"]["resync"]["href"].endswith("events?ack=%d" % ack)
        assert not batch.get("sender"), batch
    # the next link still holds and nothing was lost on the way
    bob.send(40, 3)
    href, seen = follow(phone, href, 3)
    bob.join()
    assert seen == bob.sent[40:]
