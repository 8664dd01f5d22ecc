"""Smoke run of bench/api_bench.py (docs/benchmarks.md): the one- and
two-core runs of wrk against mobilityd signed in to the Front End, for one
second with 3 users and 4 connections per instance. It must finish and
print its table; no timing is asserted."""
import shutil

import pytest

import frontend
from benchsmoke import NUM, row, run

pytestmark = pytest.mark.skipif(
    not frontend.available() or not shutil.which("wrk"),
    reason="needs Kamailio and wrk")


def test_api_bench_prints_its_table():
    out = run(["bench/api_bench.py", "--duration", "1", "--users", "3",
               "--connections", "4"])
    # requests, req/s, p50, p90, p99, non-2xx, errors, CPU per request of
    # mobilityd and of wrk: once for one core, once per instance and the
    # total for two
    figs = r"\s+(%s)" % NUM
    one = row(out, r"^== 1 core[^\n]*\n[^\n]*\n1" + figs * 9 + "$")
    two = [row(out, r"^== 2 cores[^\n]*\n[^\n]*\n(?:[^\n]*\n)?%s" % i
               + figs * 9 + "$") for i in (1, 2)]
    total = row(out, r"^total\s+(%s)\s+(%s)\s+(%s)\s+(%s)\s+(%s)\s+(%s)$"
                % ((NUM,) * 6))
    for f in [one] + two:
        # answered, every one 200, no socket error
        assert f[0] > 0 and f[5] == 0 and f[6] == 0, out
    assert total[0] == two[0][0] + two[1][0], out
    row(out, r"^CPU used over (%s) s: mobilityd (%s) s, wrk (%s) s$"
        % (NUM, NUM, NUM))
