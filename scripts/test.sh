#!/usr/bin/env bash
# Runs the whole test suite: unit tests, end-to-end tests against real peers
# (Kamailio, baresip, curl), bad-input tests and fuzz smoke runs; once in a
# plain build and once under AddressSanitizer + UndefinedBehaviorSanitizer.
# Installs the Debian packages it needs first.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1

jobs=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

build() { # dir, cmake args...
	local dir=$1
	shift
	cmake -S . -B "$dir" "$@" >/dev/null &&
		cmake --build "$dir" -j"$jobs" >/dev/null ||
		{ cmake --build "$dir" -j1 2>&1 | tail -40; return 1; }
}

echo "== build (plain)"
build build/test -DCMAKE_BUILD_TYPE=Debug || exit 1
echo "== build (ASan+UBSan, fuzz drivers)"
CC=clang build build/asan -DCMAKE_BUILD_TYPE=Debug -DMOBILITY_SANITIZE=ON \
	-DMOBILITY_FUZZ=ON || exit 1

# The Front End harness does not involve our binaries, and the benchmarks'
# smoke runs only check that each benchmark still runs: both run once.
echo "== tests (plain build)"
(cd build/test && ctest -j2 --output-on-failure) 2>&1 | tee -a "$log"
echo "== tests (ASan+UBSan build)"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest -j2 --output-on-failure -LE "frontend|bench") 2>&1 | tee -a "$log"

# One closing line over both runs.
# exact failure counts from CTest's own lines
failed=$(sed -nE 's/^[0-9]+% tests passed, ([0-9]+) tests failed out of [0-9]+.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
total=$(sed -nE 's/^[0-9]+% tests passed, [0-9]+ tests failed out of ([0-9]+).*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
passed=$(( total - failed ))
runs=$(grep -cE '^[0-9]+% tests passed' "$log")

echo "tests: $passed passed, $failed failed"
if [ "$runs" -ne 2 ] || [ "$failed" -ne 0 ] || [ "$total" -eq 0 ]; then
	exit 1
fi
