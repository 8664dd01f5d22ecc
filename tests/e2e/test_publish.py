"""The phone's presence as a desktop user sees it: alice changes her
presence through the API, bob (baresip, allowed by alice's XCAP rules)
sees it through the Front End's presence server."""
import pytest

from baresip import Baresip
from frontend import Frontend
from mobility import Mobilityd
from ucwa_client import api, create, token


@pytest.fixture(scope="module")
def fe(tmp_path_factory):
    f = Frontend(tmp_path_factory.mktemp("fe") / "fe")
    f.start()
    for u in ("alice", "bob"):
        f.add_user(u, u + "-secret")
    f.allow_presence("alice", "alice-secret", "bob")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def mob(fe, tmp_path_factory):
    m = Mobilityd(tmp_path_factory.mktemp("mob"), fe=fe)
    m.start()
    yield m
    assert m.stop() == 0, m.log()


def test_presence_seen_by_a_desktop_user(fe, mob):
    bob = Baresip(fe, "bob", "bob-secret", contacts=["alice"])
    bob.start()
    try:
        bob.wait_registered()
        tok = token(mob, "alice")
        st, h, body = create(mob, tok, "pub-phone")
        assert st == 201, body
        app = h["location"]
        assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
        bob.wait_contact_presence("alice", "Online", timeout=15)
        assert api(mob, tok, "POST", app + "/me/presence", {"availability": "Busy"})[0] == 204
        bob.wait_contact_presence("alice", "Busy", timeout=15)
        # the application ends: its publication is removed
        assert api(mob, tok, "DELETE", app)[0] == 204
        bob.wait_contact_presence("alice", "Offline", timeout=15)
    finally:
        bob.stop()
