#!/usr/bin/env bash
# CPU cost of compressed answers (a command that prints figures, not a
# test: nothing here asserts a timing). See docs/http.md.
#
#   bench/compress_bench.sh [ROUNDS]
#
# Builds bench/compress_bench.c with src/web/compress.c at -O2, at zlib
# levels 1, 6 (what mobilityd uses) and 9, and runs it on the answers in
# bench/compress/ (an application, a me and an event channel batch, JSON
# and XML, captured from the test harness).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-20000}
bin=$(mktemp -d "${TMPDIR:-/tmp}/compress_bench.XXXXXX")
trap 'rm -rf "$bin"' EXIT

for level in 1 6 9; do
	cc -O2 -std=gnu11 -Wall -Wextra -Werror -DWEB_COMPRESS_LEVEL=$level \
		-I"$src/src/web" "$src/bench/compress_bench.c" \
		"$src/src/web/compress.c" -o "$bin/compress_bench" \
		$(pkg-config --libs zlib)
	echo "== zlib level $level, $rounds rounds"
	(cd "$src/bench/compress" && "$bin/compress_bench" "$rounds" *)
done
