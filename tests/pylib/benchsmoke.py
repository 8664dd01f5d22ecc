"""Running a benchmark command as a smoke test (TESTING.md: a short version
of each benchmark runs in the suite). The command runs with small counts on
the suite's own build; the test checks that it ends well and prints its
figures, never how good they are: timings on a shared machine are not
something a test may assert."""
import os
import re
import signal
import subprocess

SRC = os.environ.get("MOBILITY_SRC",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MOBILITY_BUILD", os.path.join(SRC, "build", "test"))

NUM = r"[0-9][0-9,]*(?:\.[0-9]+)?"


def run(args, env=None, timeout=180):
    """Run a bench command from the source tree on the suite's build
    (MOBILITY_BENCH_BUILD, MOBILITYD); return its standard output, or fail
    with everything it printed."""
    e = dict(os.environ)
    e["MOBILITY_BENCH_BUILD"] = BUILD
    e.setdefault("MOBILITYD", os.path.join(BUILD, "mobilityd"))
    e["PYTHONPATH"] = os.path.join(SRC, "tests", "pylib")
    e.update(env or {})
    p = subprocess.Popen(args, cwd=SRC, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGINT, not SIGKILL: the benchmark's finally blocks stop the
        # Front End, mobilityd (and Janus) it started, each by its PID
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        raise AssertionError("%s did not end within %d s\n--- stdout\n%s\n"
                             "--- stderr\n%s" % (args, timeout, out, err))
    assert p.returncode == 0, "%s exited %d\n--- stdout\n%s\n--- stderr\n%s" % (
        args, p.returncode, out, err)
    return out


def row(out, pattern):
    """The figures of the first line matching pattern (a regex whose groups
    are numbers), as floats; fails naming the pattern if no line matches."""
    m = re.search(pattern, out, re.M)
    assert m, "no line matches %r in:\n%s" % (pattern, out)
    return [float(g.replace(",", "")) for g in m.groups()]
