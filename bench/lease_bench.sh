#!/bin/bash
# Lease benchmark on the Redis backend: Redis memory per idle session with
# a lease, the acquire (takeover) rate, the cost of renewal.
#
#   bench/lease_bench.sh [SESSIONS] [RECORD_BYTES]
#
# Builds bench/lease_bench.c against the store library and runs it on a
# redis-server started here with the shipped deploy/redis/redis.conf
# (AOF, appendfsync always) in a temp directory, stopped by its PID.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${MOBILITY_BENCH_BUILD:-$src/build-bench}
sessions=${1:-30000}
record=${2:-512}

if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target mob_store >/dev/null

bin=$build/lease_bench
cc -O2 -std=gnu11 -Wall -Wextra -Werror \
	-DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DUSE_OPENSSL -D_GNU_SOURCE \
	$(pkg-config --cflags libre) -I"$src/src/core" -I"$src/src/store" \
	"$src/bench/lease_bench.c" -o "$bin" \
	"$build/libmob_store.a" "$build/libmob_core.a" \
	$(pkg-config --libs libre) -llmdb -lhiredis -lpthread

dir=$(mktemp -d "${TMPDIR:-/tmp}/lease_bench.XXXXXX")
port=$((20000 + RANDOM % 10000))
redis-server "$src/deploy/redis/redis.conf" --port "$port" \
	--bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break
	sleep 0.1
done
"$bin" "127.0.0.1:$port" "$port" "$sessions" "$record"
