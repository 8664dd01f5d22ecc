"""Fixtures shared by the end-to-end tests: a real Front End (Kamailio from
deploy/frontend) with the demo users, and a mobilityd pointed at it. A
test module that needs something else defines its own fixture of the same
name."""
import pytest

from baresip import registered
# fe, mob and fmt (tests/pylib/fixtures.py), shared with tests/conformance
from fixtures import fe, fmt, mob  # noqa: F401
from mobility import Mobilityd
from pushsrv import PushServer
from redis_server import RedisServer


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


@pytest.fixture()
def redis(tmp_path):
    """A redis-server of the test's own (deploy/redis/redis.conf); a
    mobilityd uses it through pool.member() or redis.store_conf()."""
    with RedisServer(tmp_path / "redis") as r:
        yield r
