"""Smoke run of bench/capacity_bench.py (docs/benchmarks.md, "Capacity"):
200 sessions, each registered and with one presence subscription, and a
2 s idle window. Checks that it runs and prints its table with figures;
asserts no timing and no size."""
import pytest

import frontend
from benchsmoke import NUM, row, run

pytestmark = pytest.mark.skipif(not frontend.available(),
                                reason="needs Kamailio")

COLUMNS = ["sessions", "users", "create_s", "per_s", "active", "rss0", "rss1",
           "kib", "anon_kib", "threads", "fds", "idle_s", "cpu_pct",
           "fe_cpu_pct", "reg_s", "sub_s", "fe_shm_mb", "load"]


def test_capacity_bench_prints_its_table(tmp_path):
    out = run(["/usr/bin/python3", "bench/capacity_bench.py", "--sessions",
               "200", "--idle", "2", "--threads", "4", "--fe-shm", "128",
               "--store", str(tmp_path)], timeout=120)
    assert "| " + " | ".join(COLUMNS) + " |" in out, out
    # one row: every column a number, the load average two
    cells = row(out, r"^\| " + r" \| ".join(
        ["(%s)" % NUM] * (len(COLUMNS) - 1) + ["(%s)/(%s)" % (NUM, NUM)])
        + r" \|$")
    got = dict(zip(COLUMNS, cells))
    # every session and its subscription were made (counts, not timings),
    # the warm-up session's subscription included
    assert got["sessions"] == 200 and got["active"] == 201, out
    # both were stopped and their directories removed
    assert "kept in" not in out, out
