#!/bin/sh
# A longer fuzzing campaign, by command (the CTest smoke runs are short).
#
#   fuzz/run.sh DRIVER SECONDS [JOBS]
#
# DRIVER is one of the drivers in fuzz/CMakeLists.txt without its fuzz_
# prefix: http, adquery, sipmsg, pidf, json, xcap, xmlbody, text, webticket,
# route, message, push, xcapresp, record, proxy; or "all": each of them in
# turn, SECONDS each (the exec counts are in each campaign's log). Builds the
# clang fuzz build in build-fuzz/ if it is missing, then fuzzes for SECONDS
# with JOBS parallel processes (default 1). The growing corpus is kept in
# build-fuzz/campaign/DRIVER/corpus (seeded from fuzz/corpus/DRIVER, which
# is only read); crash, leak and timeout files go to
# build-fuzz/campaign/DRIVER/. Interesting new inputs can be copied into
# fuzz/corpus/DRIVER by hand after minimising (-merge=1).
set -eu

name=${1:?usage: fuzz/run.sh DRIVER SECONDS [JOBS]}
secs=${2:?usage: fuzz/run.sh DRIVER SECONDS [JOBS]}
jobs=${3:-1}
name=${name#fuzz_}

drivers="http adquery sipmsg pidf json xcap xmlbody text webticket route
message push xcapresp record proxy"

case "$secs$jobs" in
*[!0-9]*)
	echo "run.sh: SECONDS and JOBS are whole numbers" >&2
	exit 2
	;;
esac
if [ "$name" = all ]; then
	# one after the other; each log is kept next to its campaign
	logs=$(cd "$(dirname "$0")/.." && pwd)/build-fuzz/campaign
	mkdir -p "$logs"
	failed=0
	for d in $drivers; do
		echo "run.sh: fuzz_$d for ${secs}s, log in $logs/$d.log"
		if ! "$0" "$d" "$secs" "$jobs" >"$logs/$d.log" 2>&1; then
			echo "run.sh: fuzz_$d stopped with a failure" >&2
			failed=1
		fi
		grep -E '^stat::number_of_executed_units|^#[0-9]+[[:space:]]+DONE' \
			"$logs/$d.log" || true
	done
	exit "$failed"
fi
case " $(echo $drivers) " in
*" $name "*) ;;
*)
	echo "run.sh: unknown driver $name (see fuzz/CMakeLists.txt)" >&2
	exit 2
	;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-fuzz
driver=$build/fuzz/fuzz_$name

if [ ! -f "$build/CMakeCache.txt" ]; then
	CC=clang cmake -S "$src" -B "$build" -DMOBILITY_FUZZ=ON \
		-DMOBILITY_SANITIZE=ON
fi
cmake --build "$build" --target "fuzz_$name" -j "$(nproc)"

work=$build/campaign/$name
mkdir -p "$work/corpus"
cd "$work"

echo "run.sh: fuzz_$name for ${secs}s, $jobs job(s); output in $work"
# -jobs > 1 runs that many processes with logs fuzz-N.log in $work.
if [ "$jobs" -gt 1 ]; then
	set -- -jobs="$jobs" -workers="$jobs"
else
	set --
fi
exec "$driver" "$@" -max_total_time="$secs" -max_len=4096 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
	"$work/corpus" "$src/fuzz/corpus/$name"
