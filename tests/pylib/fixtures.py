"""The fixtures every suite of tests against the running service shares
(tests/e2e, tests/conformance): a real Front End (Kamailio from
deploy/frontend) with the demo users, a mobilityd pointed at it, and the
representation a flow runs in. Each suite's conftest.py imports them; a
test module that needs something else defines its own fixture of the
same name."""
import os

import pytest

from frontend import Frontend
from mobility import Mobilityd
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
