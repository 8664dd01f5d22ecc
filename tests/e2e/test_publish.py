"""The phone's presence as a desktop user sees it: alice changes her
presence through the API, bob (baresip, allowed by alice's XCAP rules)
sees it through the Front End's presence server."""
import pytest

from baresip import Baresip
from ucwa_client import api, create, token


def test_presence_seen_by_a_desktop_user(fe, mob):
    fe.allow_presence("alice", "alice-secret", "bob")
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
