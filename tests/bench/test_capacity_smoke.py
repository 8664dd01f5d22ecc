"""bench/capacity_bench.py runs and prints its figures: 200 sessions, each
registered and with one presence subscription, and a 2 s idle window.
Nothing here asserts a timing or a size."""
import os
import re
import subprocess
import sys

import pytest

from frontend import available

REPO = os.environ.get("MOBILITY_SRC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
COLUMNS = ["sessions", "users", "create_s", "per_s", "active", "rss0", "rss1",
           "kib", "anon_kib", "threads", "fds", "idle_s", "cpu_pct",
           "fe_cpu_pct", "reg_s", "sub_s", "fe_shm_mb", "load"]


@pytest.mark.skipif(not available(), reason="needs Kamailio")
def test_capacity_smoke(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "capacity_bench.py"),
         "--sessions", "200", "--devices", "10", "--idle", "2",
         "--threads", "4", "--fe-shm", "128", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "created 200 sessions" in out, out
    header = "| " + " | ".join(COLUMNS) + " |"
    assert header in out, out
    row = out.split(header, 1)[1].splitlines()[2]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert len(cells) == len(COLUMNS), row
    for name, cell in zip(COLUMNS, cells):
        num = r"[0-9]+(\.[0-9]+)?"
        pattern = num + "/" + num if name == "load" else num
        assert re.fullmatch(pattern, cell), (name, cell, out)
    got = dict(zip(COLUMNS, cells))
    # every session and its subscription were made (counts, not timings)
    assert got["sessions"] == "200" and got["active"] == "201", out
