"""The Front End restarts under a signed-in phone: alice's application,
available, loses its flow when Kamailio stops; once Kamailio is back (same
database) the session registers again by itself, and instant messages go
both ways with bob (baresip) in the same application. A session whose
password changed meanwhile is refused once and does not try again."""
import json
import re
import time
import urllib.parse
import urllib.request
import uuid

from baresip import registered
from ucwa_client import api, create, token, url

NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")


def binding(fe, inst, user="alice"):
    """user's binding of that device instance, or None."""
    for r in fe.registrations(user):
        if inst in r.get("Instance", ""):
            return r
    return None


def live_binding(fe, inst, timeout=40, user="alice"):
    """Wait for a binding on a live connection: after a restart Kamailio
    restores the old one from its database with Tcpconn-Id -1; a REGISTER
    on the new flow replaces it."""
    deadline = time.monotonic() + timeout
    while True:
        b = binding(fe, inst, user)
        if b and b.get("Tcpconn-Id", "-1") != "-1":
            return b
        assert time.monotonic() < deadline, fe.registrations(user)
        time.sleep(0.2)


def wait_events(mob, tok, a, pred, timeout=20):
    """Follow the next links until an event matches; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, _, body = api(mob, tok, "GET", a["next"])
        assert st == 200, body
        batch = json.loads(body)
        a["next"] = batch["_links"]["next"]["href"]
        for s in batch["sender"]:
            for e in s["events"]:
                if pred(e):
                    return e
    raise AssertionError("no such event")


def test_session_registers_again_after_front_end_restart(fe, mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "restart-phone")
    assert st == 201, body
    app = h["location"]
    inst = str(uuid.uuid5(NS, "alice@example.test\nrestart-phone"))
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    before = live_binding(fe, inst, timeout=10)
    a = {"next": json.loads(body)["_links"]["events"]["href"]}

    fe.stop()
    assert not fe.status()
    fe.start()  # a new log (the old one is kept as kamailio.log.1)

    # registered again by itself, on a new connection: a REGISTER from
    # alice in the new Kamailio's log and a live binding of the device
    after = live_binding(fe, inst)
    assert after["Address"] == before["Address"]
    fe.wait_log(r"REGISTER \S+ from sip:alice@example.test .*instance=\"<urn:uuid:%s>\""
                r".*expires=[1-9]" % inst, timeout=5)
    assert len([r for r in fe.registrations("alice")
                if inst in r.get("Instance", "")]) == 1
    assert api(mob, tok, "GET", app)[0] == 200

    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as bob:
        # bob reaches alice's session: the invitation in her application
        bob.send_message("alice", "after the restart")
        e = wait_events(mob, tok, a, lambda e: e["link"]["rel"] == "messagingInvitation"
                        and e["type"] == "started")
        inv = e["_embedded"]["messagingInvitation"]
        assert urllib.parse.unquote(
            inv["_links"]["message"]["href"].split(",", 1)[1]) == "after the restart"
        assert api(mob, tok, "POST", inv["_links"]["accept"]["href"], "")[0] == 204

        # and alice answers bob in that conversation, from the same
        # application
        conv = inv["_links"]["conversation"]["href"]
        assert conv.startswith(app + "/")
        st, _, body = mob.curl(url(mob, conv + "/messaging/messages"), "-X", "POST",
                               "-H", "Authorization: Bearer " + tok,
                               "-H", "Content-Type: text/plain", "--data-raw", "alice is back")
        assert st == 201, body
        assert bob.wait_message(sender="alice", text="alice is back", timeout=15)
    assert mob.alive()


def registers(fe, user):
    """REGISTERs from user in the running Kamailio's log."""
    return len(re.findall(r"REGISTER \S+ from sip:%s@" % user, fe.log_text()))


def test_password_changed_meanwhile_no_register_storm(fe, mob):
    """carol's password changes on the Front End while her session is
    registered; after a restart the session's REGISTER is refused, and
    it stays at one challenge and one answer: no retries."""
    tok = token(mob, "carol")
    st, h, body = create(mob, tok, "storm-phone")
    assert st == 201, body
    inst = str(uuid.uuid5(NS, "carol@example.test\nstorm-phone"))
    live_binding(fe, inst, timeout=10, user="carol")
    fe.del_user("carol")
    fe.add_user("carol", "carol-new-secret")

    fe.stop()
    fe.start()
    # refused (mobilityd logs it; before, while Kamailio was down, the
    # connection was refused and the session kept trying, as it should)
    refused = re.compile(r"\(%s\) not registered: .*\(401\)" % json.loads(body)["id"])
    deadline = time.monotonic() + 30
    while not refused.search(mob.log()):
        assert time.monotonic() < deadline, mob.log()
        time.sleep(0.2)
    assert registers(fe, "carol") == 2      # the challenge and our answer
    # a retry would come after 1 s, then 2 s, 4 s (50-100 % of each)
    time.sleep(8)
    assert registers(fe, "carol") == 2, fe.log_text()[-3000:]
    b = binding(fe, inst, user="carol")
    assert b is None or b.get("Tcpconn-Id") == "-1", b
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % mob.admin_port,
                                timeout=5) as r:
        assert r.status == 200
