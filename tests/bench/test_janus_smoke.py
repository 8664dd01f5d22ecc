"""Smoke run of bench/janus_bench.py (docs/benchmarks.md, "Side by side
with Janus"): 5 users of each and 20 messages. Checks that it runs Janus
and mobilityd side by side and prints its table with figures for both;
asserts no timing and no ratio."""
import re
import shutil

import pytest

import frontend
from benchsmoke import NUM, row, run

pytestmark = pytest.mark.skipif(
    not frontend.available() or not shutil.which("janus"),
    reason="needs Kamailio and Debian's janus")

ROWS = ["RSS per registered user (KiB)", "threads per registered user",
        "fds per registered user", "new registrations per second",
        "CPU per registration (ms)", "Front End CPU per registration (ms)",
        "MESSAGE -> long poll p50 (ms)", "MESSAGE -> long poll p90 (ms)",
        "MESSAGE -> long poll p99 (ms)", "MESSAGE -> long poll max (ms)",
        "CPU per message (us)", "RSS kept per message (KiB)"]


def test_janus_bench_prints_its_table():
    out = run(["/usr/bin/python3", "bench/janus_bench.py", "--users", "5",
               "--messages", "20", "--threads", "4"], timeout=120)
    assert row(out, r"^\| registered users \| (%s) \| (%s) \|"
               % (NUM, NUM)) == [5, 5]
    for name in ROWS:
        # Janus, mobilityd, then the ratio ("-" when the divisor is 0)
        row(out, r"^\| %s \| (-?%s) \| (-?%s) \| (?:%s|-) \| "
            r"(?:Janus/mobilityd|mobilityd/Janus) \|$"
            % (re.escape(name), NUM, NUM, NUM))
    # every message reached both clients and was answered 200 OK
    assert "200 OK: Janus user 20 {}, mobilityd user 20 {}" in out, out
    row(out, r"^load average before (%s) %s %s, after (%s)" % ((NUM,) * 4))
    # both were stopped and their directories removed
    assert "kept in" not in out, out
