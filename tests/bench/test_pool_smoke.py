"""Smoke run of the pool benchmarks (docs/benchmarks.md, "Pool"):
bench/pool_bench.py single, redis-memory and haproxy with small counts.
Each must finish and print its figures, every figure a number; no timing
or size is asserted."""
from benchsmoke import NUM, run, row

PY = "/usr/bin/python3"


def test_single_prints_both_backends():
    out = run([PY, "bench/pool_bench.py", "single", "--users", "20",
               "--duration", "2", "--sessions", "10", "--messages", "30"])
    for backend in ("lmdb", "redis"):
        # sign-ins/s; MESSAGE -> parked GET p50, p90, p99, max; messages
        figs = row(out, r"^\| %s \| (%s) \(.*\| (%s) / (%s) / (%s) / (%s) "
                   r"\| (%s) \|" % ((backend,) + (NUM,) * 6))
        assert figs[5] == 30


def test_redis_memory_prints_bytes_per_session():
    out = run([PY, "bench/pool_bench.py", "redis-memory", "--sessions", "50",
               "--devices", "5"])
    row(out, r"^Redis memory per idle signed-in session: (%s) B" % NUM)
    n, = row(out, r"^(%s) sessions signed in" % NUM)
    assert n == 50


def test_haproxy_prints_a_row_per_instance_count():
    out = run([PY, "bench/pool_bench.py", "haproxy", "--instances", "1,2",
               "--balance", "token", "--users", "4", "--duration", "2",
               "--connections", "8"])
    for n in (1, 2):
        # req/s, p50, p99
        row(out, r"^\| %d \| (%s) \| (%s) \| (%s) \|" % (n, NUM, NUM, NUM))


def test_cross_im_prints_both_rows():
    out = run([PY, "bench/pool_bench.py", "cross-im", "--messages", "30"])
    for label in ("P-GET on the owner", "P-GET on another instance"):
        figs = row(out, r"^\| %s\s+\| +(%s) \| +(%s) \| +(%s) \| +(%s) \|"
                   % (label, NUM, NUM, NUM, NUM))
        assert figs[0] == 30


def test_resume_prints_percentiles():
    out = run([PY, "bench/pool_bench.py", "resume", "--moves", "10"])
    figs = row(out, r"^resume on another instance .*: (%s) moves, .* p50 (%s) "
               r"ms, p90 (%s) ms, p99 (%s) ms" % (NUM, NUM, NUM, NUM))
    assert figs[0] == 10


def test_takeover_prints_its_times():
    out = run([PY, "bench/pool_bench.py", "takeover", "--sessions", "100",
               "--timeout", "60"])
    row(out, r"^kill -9 of mob1 holding (%s) sessions .* all taken over by "
        r"the survivors after (%s) s" % (NUM, NUM))
