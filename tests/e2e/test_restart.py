"""A gateway killed with SIGKILL and started again on the same store:
tokens still work, applications come back and register again with the
same +sip.instance."""
import json
import signal
import time
import uuid

import pytest

from mobility import Mobilityd
from ucwa_client import api, create, token

NS = uuid.UUID("5b0e2c71-8f3a-4d52-9a61-27c4e8136fd0")


def test_kill_and_restart(fe, tmp_path):
    m = Mobilityd(tmp_path, fe=fe)
    m.start()
    tok = token(m, "alice")
    st, h, body = create(m, tok, "phone-1")
    assert st == 201, body
    loc = h["location"]
    inst = str(uuid.uuid5(NS, "alice@example.test\nphone-1"))

    # crash: no un-REGISTER, nothing flushed on the way out
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(10)
    m.logf.close()
    m.proc = None

    m.start()
    # the token was committed before it was handed out
    st, _, body = api(m, tok, "GET", loc)
    assert st == 200, body
    assert json.loads(body)["endpointId"] == "phone-1"
    assert "applications restored" in m.log()

    # registered again, same device instance, one binding for it
    deadline = time.time() + 10
    regs = []
    while time.time() < deadline:
        regs = [r for r in fe.registrations("alice") if inst in json.dumps(r)]
        if regs:
            break
        time.sleep(0.2)
    assert len(regs) == 1, fe.registrations("alice")

    # and it still works as before
    st, _, _ = api(m, tok, "POST", loc + "/me/makeMeAvailable", {})
    assert st == 204
    assert m.stop() == 0, m.log()
