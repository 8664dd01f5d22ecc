"""Fixtures of the conformance tests (written from the public UCWA
reference): a real Front End with the demo users and a mobilityd pointed
at it, as in tests/e2e/conftest.py."""
import os

import pytest

from frontend import Frontend
from mobility import Mobilityd
from ucwa_client import FORMATS

USERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
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
    """Every test using it runs in JSON and in XML."""
    return request.param
