"""Fixtures of the conformance tests: the same real Front End and mobilityd
as the end-to-end tests (tests/pylib/fixtures.py), and bob's desktop
client; tests/pylib is on the path (tests/CMakeLists.txt sets
PYTHONPATH)."""
import pytest

from baresip import registered
from fixtures import fe, fmt, mob  # noqa: F401


@pytest.fixture(scope="module")
def bob(fe):  # noqa: F811
    """bob on baresip (his desktop), registered, alice in his contacts."""
    with registered(fe, "bob", "bob-secret", contacts=["alice"]) as b:
        yield b
