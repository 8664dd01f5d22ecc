#!/usr/bin/env bash
# Store benchmark: LMDB group commit (a command that prints figures, not a
# test: nothing here asserts a timing). See docs/store.md.
#
#   bench/store_bench.sh [WRITES]
#   bench/store_bench.sh --redis [WRITES]   the Redis backend, on a
#                        redis-server started here with the shipped
#                        deploy/redis/redis.conf (appendfsync always) in a
#                        temp directory, stopped by its PID
#   bench/store_bench.sh --redis-replica [WRITES]   the same with a replica
#                        (deploy/redis/replica.conf) and
#                        redis_wait_replicas = 1: each turn waits for WAIT
#
# Builds mob_store in Release in build-bench/ (MOBILITY_BENCH_BUILD), links
# bench/store_bench.c against it and runs it on a fresh LMDB environment
# in a temp directory under $TMPDIR (default /tmp: use a directory on the
# disk you want to measure; tmpfs makes fsync free).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${MOBILITY_BENCH_BUILD:-$src/build-bench}
backend=lmdb
replica=
if [ "${1:-}" = --redis ]; then
	backend=redis
	shift
elif [ "${1:-}" = --redis-replica ]; then
	backend=redis
	replica=1
	shift
fi
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
	$(pkg-config --libs libre) -llmdb -lhiredis -lpthread

dir=$(mktemp -d "${TMPDIR:-/tmp}/store_bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
if [ "$backend" = redis ]; then
	port=$((20000 + RANDOM % 10000))
	redis-server "$src/deploy/redis/redis.conf" --port "$port" \
		--bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" &
	rpid=$!
	trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$dir"' EXIT
	for _ in $(seq 100); do
		redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break
		sleep 0.1
	done
	if [ -n "$replica" ]; then
		mkdir "$dir/replica"
		cp "$src/deploy/redis/replica.conf" "$dir/replica/"
		redis-server "$dir/replica/replica.conf" --port $((port + 1)) \
			--bind 127.0.0.1 --dir "$dir/replica" \
			--logfile "$dir/replica/redis.log" \
			--replicaof 127.0.0.1 "$port" &
		rpid2=$!
		trap 'kill $rpid $rpid2 2>/dev/null; wait $rpid $rpid2 2>/dev/null; rm -rf "$dir"' EXIT
		for _ in $(seq 100); do
			redis-cli -p "$port" INFO replication |
				grep -q "state=online" && break
			sleep 0.1
		done
		export STORE_BENCH_WAIT=1
		echo "store_bench: a replica on 127.0.0.1:$((port + 1))," \
			"redis_wait_replicas = 1 (WAIT 1 after each turn)"
	fi
	echo "store_bench: $writes writes of 256 bytes per batch size," \
		"Redis 127.0.0.1:$port (AOF, appendfsync always) in $dir"
	"$bin" "redis=127.0.0.1:$port" "$writes"
	exit
fi
echo "store_bench: $writes writes of 256 bytes per batch size, LMDB in $dir"
"$bin" "$dir" "$writes"
