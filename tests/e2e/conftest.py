"""Fixtures shared by the end-to-end tests: a real Front End (Kamailio from
deploy/frontend) with the demo users, and a mobilityd pointed at it. A
test module that needs something else defines its own fixture of the same
name."""
import os

import pytest

from baresip import registered
from frontend import Frontend
from mobility import Mobilityd
from pushsrv import PushServer
from ucwa_client import FORMATS

USERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    # level 3: the Front End logs every request (tests count REGISTERs)
    os.environ["FE_LOG_LEVEL"] = "3"
    f = Frontend(tmp_path_factory.mktemp("fe") / "fe")
    f.start()
    for u in USERS:
        f.add_user(u, u + "-secret")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def mob(fe, tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe)
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module", params=FORMATS)
def fmt(request):
    """The representation a flow runs in: every test using it runs in JSON
    and in XML (request bodies, Accept, answers; tests/pylib/ucwa_client.py)."""
    return request.param


@pytest.fixture()
def own_mob(fe, tmp_path):
    """A mobilityd of the test's own (its own store, which the test may
    kill and start again: Mobilityd.kill(), start()), on the shared
    Front End."""
    m = Mobilityd(tmp_path, fe=fe)
    m.start()
    yield m
    if m.proc:
        assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def push(tmp_path_factory):
    """The local APNs/FCM stand-in (tests/pylib/pushsrv.py); a mobilityd
    uses it with extra={"push": push.conf_lines()}."""
    with PushServer(tmp_path_factory.mktemp("push")) as p:
        yield p


@pytest.fixture(scope="module")
def push_mob(fe, push, request, tmp_path_factory):
    """A mobilityd with the push stand-in's APNs and FCM; a module's
    LIFETIMES = (short, long) sets the session lifetimes in seconds."""
    short, long_ = getattr(request.module, "LIFETIMES", (3600, 259200))
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe, extra={
        "push": push.conf_lines(),
        "service": ["session_expiration = %d" % long_,
                    "session_short_expiration = %d" % short]})
    m.start()
    yield m
    assert m.stop() == 0, m.log()


@pytest.fixture(scope="module")
def bob_ua(fe):
    """bob on baresip (his desktop), registered; alice may see his
    presence."""
    fe.allow_presence("bob", "bob-secret", "alice")
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b
