"""Smoke run of bench/session_bench.py (docs/benchmarks.md, "Session
benchmark"): 6 idle sessions (3 users, 2 devices each) and 10 messages to a
parked GET. It must finish and print its figures; no timing and no size is
asserted."""
import pytest

import frontend
from benchsmoke import NUM, row, run

pytestmark = pytest.mark.skipif(not frontend.available(),
                                reason="needs Kamailio")


def test_session_bench_prints_its_figures():
    out = run(["/usr/bin/python3", "bench/session_bench.py", "--sessions",
               "6", "--devices", "2", "--messages", "10", "--threads", "2"],
              timeout=120)
    n, errors = row(out, r"^idle sessions: (%s) created in %s s \(%s/s; .*\), "
                    r"(%s) errors$" % (NUM, NUM, NUM, NUM))
    assert n == 6 and errors == 0, out
    row(out, r"^ +RSS \+-?(%s) KiB = (-?%s) KiB per session; threads "
        r"[+-]?(%s), fds [+-]?(%s)$" % ((NUM,) * 4))
    # every message answered 200 OK, none otherwise
    sent, ok = row(out, r"^messages: (%s) MESSAGE -> parked GET in %s s; "
                   r"200 OK for (%s), other answers \{\}$" % (NUM, NUM, NUM))
    assert sent == 10 and ok == 10, out
    row(out, r"^  latency p50 (%s) ms, p90 (%s) ms, p99 (%s) ms, max (%s) ms$"
        % ((NUM,) * 4))
    row(out, r"^  CPU per message: mobilityd (%s) us, Front End (%s) us "
        r"\(load average (%s) -> (%s)\)$" % ((NUM,) * 4))
    row(out, r"^ +RSS \+-?(%s) KiB = (-?%s) KiB per message; threads "
        r"[+-]?(%s), fds [+-]?(%s)$" % ((NUM,) * 4))
