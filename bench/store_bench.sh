#!/usr/bin/env bash
# Store benchmark: LMDB group commit (a command that prints figures, not a
# test: nothing here asserts a timing). See docs/store.md.
#
#   bench/store_bench.sh [WRITES]
#
# Builds mob_store in Release in build-bench/ (MOBILITY_BENCH_BUILD), links
# bench/store_bench.c against it and runs it on a fresh LMDB environment
# in a temp directory under $TMPDIR (default /tmp: use a directory on the
# disk you want to measure; tmpfs makes fsync free).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${MOBILITY_BENCH_BUILD:-$src/build-bench}
writes=${1:-20000}

# An existing build directory is used as it is (the smoke test passes the
# test suite's own); only a new one is configured, for Release.
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target mob_store >/dev/null

bin=$build/store_bench
cc -O2 -std=gnu11 -Wall -Wextra -Werror \
	-DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DUSE_OPENSSL -D_GNU_SOURCE \
	$(pkg-config --cflags libre) -I"$src/src/core" -I"$src/src/store" \
	"$src/bench/store_bench.c" -o "$bin" \
	"$build/libmob_store.a" "$build/libmob_core.a" \
	$(pkg-config --libs libre) -llmdb -lpthread

dir=$(mktemp -d "${TMPDIR:-/tmp}/store_bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "store_bench: $writes writes of 256 bytes per batch size, LMDB in $dir"
"$bin" "$dir" "$writes"
