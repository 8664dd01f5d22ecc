#!/bin/sh
# Short fuzz run for CTest: the seed corpus, then mutated inputs for
# FUZZ_SMOKE_SECONDS (default 15; a bound on time, not a timing check).
#
#   smoke.sh DRIVER SEED_DIR WORK_DIR
#
# WORK_DIR is emptied first. New inputs are written to WORK_DIR/corpus (the
# first corpus directory is the one libFuzzer writes to), crash files to
# WORK_DIR/; the seed directory in the tree is only read.
set -eu

driver=$(realpath "${1:?driver}")
seeds=$(realpath "${2:?seed directory}")
work=${3:?work directory}

rm -rf "$work"
mkdir -p "$work/corpus"
work=$(realpath "$work")
cd "$work"

exec "$driver" -max_total_time="${FUZZ_SMOKE_SECONDS:-15}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/" \
	"$work/corpus" "$seeds"
