"""Smoke run of the IM latency benchmark (docs/benchmarks.md):
bench/im_bench.py in both directions with 10 idle sessions and 30 messages
each way. It must finish and print its table, every figure a number; no
timing is asserted."""
from benchsmoke import NUM, run, row

ROWS = ("MESSAGE -> parked GET", "POST -> peer MESSAGE",
        "POST -> Success event")


def test_im_bench_prints_both_directions():
    out = run(["/usr/bin/python3", "bench/im_bench.py", "--sessions", "10",
               "--messages", "30"])
    for label in ROWS:
        # messages; p50, p90, p99, max; CPU mobilityd, Front End; commits;
        # load average before -> after
        figs = row(out, r"^\| %s\s+\| +(%s) \|" % (label, NUM)
                   + r" +(%s) \|" * 7 % ((NUM,) * 7)
                   + r" (%s) -> (%s) \|$" % (NUM, NUM))
        assert figs[0] == 30
