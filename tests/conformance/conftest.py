"""Fixtures of the conformance tests: the same real Front End and mobilityd
as the end-to-end tests (tests/pylib/fixtures.py); tests/pylib is on the
path (tests/CMakeLists.txt sets PYTHONPATH)."""
from fixtures import fe, fmt, mob  # noqa: F401
