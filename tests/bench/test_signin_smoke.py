"""Smoke run of bench/signin_bench.py with its C client (docs/benchmarks.md):
40 sign-ins with a full TLS handshake each, with resumed TLS sessions, and
over keep-alive connections. Each must finish and print its figures; no
timing is asserted."""
import shutil

import pytest

import frontend
from benchsmoke import NUM, row, run

pytestmark = pytest.mark.skipif(
    not frontend.available() or not shutil.which("cc"),
    reason="needs Kamailio and a C compiler")


@pytest.mark.parametrize("mode", [[], ["--resume"], ["--keepalive"]],
                         ids=["full", "resume", "keepalive"])
def test_signin_bench_prints_its_figures(mode):
    out = run(["bench/signin_bench.py", "--client", "c", "--users", "20",
               "--devices", "2", "--threads", "4", "--duration", "20",
               *mode])
    n, secs, rate, errors = row(
        out, r"^sign-ins \(token \+ application \+ REGISTER\): (%s) in "
        r"(%s) s = (%s)/s, (%s) errors" % (NUM, NUM, NUM, NUM))
    # every sign-in answered 201
    assert n == 40 and errors == 0, out
    if mode == ["--resume"]:
        # the first connection of each thread has nothing to resume
        resumed, = row(out, r"\((%s) of them resumed\)" % NUM)
        assert 0 < resumed <= 40, out
    row(out, r"^latency per sign-in: p50 (%s) ms, p90 (%s) ms, p99 (%s) ms$"
        % (NUM, NUM, NUM))
    row(out, r"^CPU per sign-in: mobilityd (%s) ms, Front End (%s) ms, "
        r"client (%s) ms" % (NUM, NUM, NUM))
    row(out, r"^load average (%s) before, (%s) after$" % (NUM, NUM))
