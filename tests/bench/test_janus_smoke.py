"""Smoke run of bench/janus_bench.py: 5 users of each and 20 messages.
Checks that the benchmark runs Janus and mobilityd side by side and
prints its table with numbers for both; asserts no timing and no ratio
(docs/benchmarks.md, "Side by side with Janus")."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import frontend

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.join(os.path.dirname(__file__), "..", ".."))

pytestmark = pytest.mark.skipif(
    not frontend.available() or not shutil.which("janus"),
    reason="needs Kamailio and Debian's janus")

NUM = r"[0-9]+(?:\.[0-9]+)?"
ROWS = ["registered users", "RSS per registered user (KiB)",
        "threads per registered user", "fds per registered user",
        "new registrations per second", "CPU per registration (ms)",
        "Front End CPU per registration (ms)",
        "MESSAGE -> long poll p50 (ms)", "MESSAGE -> long poll p90 (ms)",
        "MESSAGE -> long poll p99 (ms)", "MESSAGE -> long poll max (ms)",
        "CPU per message (us)", "RSS kept per message (KiB)"]


def test_janus_bench_prints_its_table():
    out = subprocess.run(
        [sys.executable, os.path.join(SRC, "bench", "janus_bench.py"),
         "--users", "5", "--messages", "20", "--threads", "4"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for name in ROWS:
        m = re.search(r"^\| %s \| (-?%s) \| (-?%s) \| (%s|-) \| "
                      r"(Janus/mobilityd|mobilityd/Janus) \|$"
                      % (re.escape(name), NUM, NUM, NUM), text, re.M)
        assert m, name + "\n" + text
    assert re.search(r"^\| registered users \| 5 \| 5 \|", text, re.M), text
    # every message was delivered to both clients and answered 200 OK
    assert re.search(r"200 OK: Janus user 20 \{\}, mobilityd user 20 \{\}",
                     text), text
    assert re.search(r"load average before %s %s %s, after %s %s %s"
                     % ((NUM,) * 6), text), text
    # both processes are stopped and their directories removed
    assert "kept in" not in text, text
