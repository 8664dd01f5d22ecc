"""Smoke runs of the HTTP and store benchmarks (docs/benchmarks.md):
bench/http_bench.sh (mobilityd beside nginx: throughput, first answer,
memory per idle connection) and bench/store_bench.sh (LMDB group commit),
with small counts. Each must finish and print its figures; no timing is
asserted."""
from benchsmoke import NUM, run, row


def test_http_bench_prints_every_table():
    out = run(["bench/http_bench.sh"],
              env={"BENCH_DURATION": "1", "BENCH_IDLE": "200",
                   "BENCH_CONNECTIONS": "4"})
    for server in ("mobilityd", "nginx"):
        for scheme in ("http", "https"):
            rate, = row(out, r"^%s\s+%s\s+%s\s+(%s)" % (server, scheme, NUM, NUM))
            assert rate > 0
            row(out, r"^%s\s+%s\s+(%s) ms\s+(%s) ms" % (server, scheme, NUM, NUM))
    for scheme in ("http", "https"):
        conns, before, after, per = row(
            out, r"^%s\s+(%s)\s+(%s) KiB\s+(%s) KiB\s+(-?%s)$"
            % (scheme, NUM, NUM, NUM, NUM))
        assert conns == 200 and after > 0


def test_store_bench_prints_each_batch_size():
    out = run(["bench/store_bench.sh", "500"])
    for batch in (1, 10, 100, 1000):
        figs = row(out, r"^%d\s+(%s)\s+(%s)\s+(%s)\s+(%s)\s+(%s)\s+(%s)$"
                   % ((batch,) + (NUM,) * 6))
        assert figs[0] > 0 and figs[1] > 0
