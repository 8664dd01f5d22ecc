"""Fixtures shared by the SIP user agent tests that need baresip: a real
Front End (Kamailio from deploy/frontend) with the users of USERS (in
test_sipua.py), baresip agents and sipua_probe processes, all stopped
after each test. test_sipua.py defines its own `fe` (no users)."""
import os

import pytest

from baresip import agents_of
from frontend import Frontend
from test_sipua import USERS


@pytest.fixture(scope="module")
def fe(request, tmp_path_factory):
    # level 3: the Front End logs every request (tests read it)
    os.environ["FE_LOG_LEVEL"] = "3"
    root = tmp_path_factory.mktemp(request.module.__name__)
    f = Frontend(root / "fe", ca_dir=root / "ca")
    for user, pw in USERS.items():
        f.add_user(user, pw)
    f.start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def agents(fe):
    """start(user, **kw): a baresip for user, cleaned up after the test."""
    with agents_of(fe, USERS) as start:
        yield start


@pytest.fixture
def probes():
    """A list the test appends its Probe objects to; each is stopped (and
    killed if it does not leave) after the test."""
    started = []
    yield started
    for p in started:
        p.stop()
        try:
            p.wait(10)
        except Exception:
            p.kill()
