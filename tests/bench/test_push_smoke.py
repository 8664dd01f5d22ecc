"""Smoke runs of the push benchmarks (docs/benchmarks.md): pushes per second
to a local HTTP/2 endpoint (bench/push_bench.sh, nginx) and MESSAGE -> push
latency (bench/push_latency.py, the Front End and the APNs stand-in). Small
counts; each must finish and print its figures. No timing is asserted."""
from benchsmoke import NUM, run, row


def test_push_bench_prints_rate_per_provider():
    out = run(["bench/push_bench.sh"],
              env={"BENCH_PUSHES": "300", "BENCH_WINDOW": "20"})
    for prov in ("apns", "fcm"):
        pushes, sent, failed, wall, rate, cpu = row(
            out, r"^%s\s+(%s) pushes, (%s) sent, (%s) failed: (%s) s, (%s) "
            r"pushes/s, (%s) us CPU per push" % ((prov,) + (NUM,) * 6))
        assert (pushes, sent, failed) == (300, 300, 0)
        assert rate > 0 and cpu > 0


def test_push_latency_prints_percentiles():
    out = run(["/usr/bin/python3", "bench/push_latency.py",
               "--sessions", "5", "--messages", "30"])
    n, = row(out, r"^messages: (%s) MESSAGE -> push" % NUM)
    assert n == 30
    assert "0 without a push" in out
    p50, p90, p99, mx = row(
        out, r"latency p50 (%s) ms, p90 (%s) ms, p99 (%s) ms, max (%s) ms"
        % ((NUM,) * 4))
    assert 0 < p50 <= p90 <= p99 <= mx
