#!/usr/bin/env bash
# HTTP benchmark of mobilityd against Debian's nginx (a command that prints
# figures, not a test: nothing here asserts a timing). See
# docs/benchmarks.md for what each figure means.
#
#   bench/http_bench.sh
#
# 1. Keep-alive GET of the autodiscover root with wrk (one thread, 50
#    connections, pinned to CPU 0) against mobilityd and against nginx
#    serving a static file of the same size, each server pinned to CPU 1,
#    over plain http and over https: req/s and the ratio mobilityd/nginx.
# 2. RSS of a fresh mobilityd before and after it holds 10,000 idle
#    keep-alive connections (each has completed one request), plain http
#    and then TLS: KiB per connection.
#
# Environment (all optional):
#   MOBILITY_BENCH_BUILD  build directory (default build-bench, Release)
#   BENCH_DURATION        seconds per wrk run (default 10)
#   BENCH_CONNECTIONS     wrk connections (default 50)
#   BENCH_IDLE            idle connections to hold (default 10000)
#   BENCH_SERVER_CPU      CPU of the servers (default 1)
#   BENCH_CLIENT_CPU      CPU of wrk and the idle client (default 0)
#
# Everything listens on 127.0.0.1 on free ports; every process started
# here is stopped by its PID; every wait is bounded.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${MOBILITY_BENCH_BUILD:-$src/build-bench}
duration=${BENCH_DURATION:-10}
wrk_conns=${BENCH_CONNECTIONS:-50}
idle=${BENCH_IDLE:-10000}
server_cpu=${BENCH_SERVER_CPU:-1}
client_cpu=${BENCH_CLIENT_CPU:-0}
ld=lyncdiscover.example.test

die() {
	echo "http_bench: $*" >&2
	exit 1
}

for tool in wrk nginx curl taskset ss python3 openssl cmake; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# Each idle connection is a descriptor in the client and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((idle + 256)) ] ||
	die "ulimit -n is $(ulimit -n); $idle idle connections need more"

# --- build ---------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
	echo "http_bench: warning: $build is not a Release build" >&2
cmake --build "$build" --target mobilityd -j "$(nproc)" >/dev/null
mobilityd=$build/mobilityd

# --- scratch directory and clean-up ----------------------------------------
tmp=$(mktemp -d /tmp/mobility-bench.XXXXXX)
chmod 755 "$tmp" # nginx workers may run as another user
pids=()

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Six free TCP ports on 127.0.0.1, below the ephemeral range (tests/pylib/ports.py).
read -r p_http p_https p_admin p_sip p_nhttp p_nhttps < <(cd "$src/tests/pylib" && python3 -c '
from ports import free_port
print(*[free_port() for _ in range(6)])')

# Until the URL answers 200 (at most 10 s).
wait_http() {
	local i
	for i in $(seq 100); do
		curl -sfk -o /dev/null --max-time 1 "$@" && return 0
		sleep 0.1
	done
	return 1
}

# --- certificates and configuration ---------------------------------------
"$src/deploy/certs.sh" leaf "$tmp/certs" web "$ld" \
	lyncdiscoverinternal.example.test mobility.example.test \
	mobility-int.example.test 127.0.0.1
chmod 644 "$tmp"/certs/*

cat >"$tmp/mobilityd.conf" <<EOF
[service]
server_fqdn = mobility1.example.test
sip_domain = example.test
internal_web_fqdn = mobility-int.example.test
external_web_fqdn = mobility.example.test
log_level = notice

[http]
listen = 127.0.0.1:$p_http
listen_tls = 127.0.0.1:$p_https
certificate = $tmp/certs/web.pem $tmp/certs/web.key
max_connections = $((idle * 2 + 1000))
max_connections_per_address = $((idle * 2 + 1000))
idle_timeout = 600

[frontend]
address = 127.0.0.1:5061
tls_server_name = fe.example.test
ca_file = $tmp/certs/ca.pem

[sip]
internal_listen = 127.0.0.1:$p_sip
client_ca_file = $tmp/certs/ca.pem
client_name = fe.example.test

[admin]
listen = 127.0.0.1:$p_admin
EOF

mob_pid=
start_mobilityd() {
	taskset -c "$server_cpu" "$mobilityd" -c "$tmp/mobilityd.conf" \
		>>"$tmp/mobilityd.log" 2>&1 &
	mob_pid=$!
	pids+=("$mob_pid")
	wait_http "http://127.0.0.1:$p_admin/healthz" || {
		cat "$tmp/mobilityd.log" >&2
		die "mobilityd did not start"
	}
}

rss_kib() { # PID
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# --- the bodies nginx serves: what mobilityd answers on the root -----------
start_mobilityd
mkdir -p "$tmp/nginx/http" "$tmp/nginx/https" "$tmp/nginx/logs"
curl -sf -o "$tmp/nginx/http/root.json" -H "Host: $ld" \
	"http://127.0.0.1:$p_http/" || die "GET http://$ld/ failed"
curl -sf -o "$tmp/nginx/https/root.json" --cacert "$tmp/certs/ca.pem" \
	--resolve "$ld:$p_https:127.0.0.1" "https://$ld:$p_https/" ||
	die "GET https://$ld/ failed"
chmod -R a+rX "$tmp/nginx"
size_http=$(stat -c %s "$tmp/nginx/http/root.json")
size_https=$(stat -c %s "$tmp/nginx/https/root.json")

# One worker pinned to the same CPU as mobilityd.
. "$src/bench/nginx.sh"
nginx_conf "$tmp/nginx" "$server_cpu" "
	default_type application/json;
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen 127.0.0.1:$p_nhttp;
		root $tmp/nginx/http;
		location / {
			try_files /root.json =404;
		}
	}
	server {
		listen 127.0.0.1:$p_nhttps ssl;
		ssl_certificate $tmp/certs/web.pem;
		ssl_certificate_key $tmp/certs/web.key;
		root $tmp/nginx/https;
		location / {
			try_files /root.json =404;
		}
	}"
taskset -c "$server_cpu" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" \
	-g 'daemon off;' >"$tmp/nginx/logs/stderr.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")
wait_http "http://127.0.0.1:$p_nhttp/" || {
	cat "$tmp/nginx/logs/stderr.log" "$tmp/nginx/logs/error.log" >&2
	die "nginx did not start"
}
for s in http https; do
	p=$p_nhttp
	[ $s = https ] && p=$p_nhttps
	n=$(curl -sfk -H "Host: $ld" "$s://127.0.0.1:$p/" | wc -c)
	want=$size_http
	[ $s = https ] && want=$size_https
	[ "$n" -eq "$want" ] || die "nginx $s body is $n bytes, want $want"
done

# --- throughput ---------------------------------------------------------
declare -A rps
run_wrk() { # SERVER SCHEME URL
	local out=$tmp/wrk-$1-$2.txt
	taskset -c "$client_cpu" wrk -t1 -c"$wrk_conns" -d"${duration}s" \
		-H "Host: $ld" -H "Accept: application/json" "$3" >"$out"
	if grep -qE 'Non-2xx|Socket errors' "$out"; then
		echo "http_bench: $1 $2: errors during the run:" >&2
		grep -E 'Non-2xx|Socket errors' "$out" >&2
	fi
	rps[$1-$2]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
}

echo "== machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r)"
echo "== wrk -t1 -c$wrk_conns -d${duration}s on CPU $client_cpu; servers on CPU $server_cpu"
for s in http https; do
	p_m=$p_http p_n=$p_nhttp
	[ $s = https ] && p_m=$p_https p_n=$p_nhttps
	run_wrk mobilityd $s "$s://127.0.0.1:$p_m/"
	run_wrk nginx $s "$s://127.0.0.1:$p_n/"
done

printf '\n%-10s %-6s %6s %12s %8s\n' server scheme body req/s ratio
for s in http https; do
	size=$size_http
	[ $s = https ] && size=$size_https
	ratio=$(awk -v a="${rps[mobilityd-$s]}" -v b="${rps[nginx-$s]}" \
		'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	printf '%-10s %-6s %6s %12s %8s\n' mobilityd $s "$size" \
		"${rps[mobilityd-$s]}" "$ratio"
	printf '%-10s %-6s %6s %12s %8s\n' nginx $s "$size" \
		"${rps[nginx-$s]}" ""
done
echo "(ratio = mobilityd req/s / nginx req/s; goal >= 0.70)"

# --- first answer on a new connection -------------------------------------
# Median of 9 fresh curl connections: time from connect to TLS established
# and from TLS established to the first byte of the answer.
first_answer() { # SCHEME PORT
	local i
	for i in $(seq 9); do
		curl -sf -o /dev/null --cacert "$tmp/certs/ca.pem" \
			--resolve "$ld:$2:127.0.0.1" -w \
			'%{time_connect} %{time_appconnect} %{time_starttransfer}\n' \
			"$1://$ld:$2/"
	done | python3 -c '
import statistics, sys
rows = [[float(x) for x in l.split()] for l in sys.stdin if l.strip()]
up = [r[1] if r[1] > 0 else r[0] for r in rows]
tls = [(u - r[0]) * 1000 for u, r in zip(up, rows)]
first = [(r[2] - u) * 1000 for u, r in zip(up, rows)]
print("%8.2f ms %8.2f ms" % (statistics.median(tls), statistics.median(first)))'
}
printf '\n%-10s %-6s %11s %11s\n' server scheme handshake "first byte"
for s in http https; do
	p_m=$p_http p_n=$p_nhttp
	[ $s = https ] && p_m=$p_https p_n=$p_nhttps
	printf '%-10s %-6s %s\n' mobilityd $s "$(first_answer $s "$p_m")"
	printf '%-10s %-6s %s\n' nginx $s "$(first_answer $s "$p_n")"
done
echo "(medians of 9 new connections with curl; first byte counted from" \
	"the end of the handshake, or from connect over http)"

stop_pid "$ngx_pid"
stop_pid "$mob_pid"

# --- memory per idle connection --------------------------------------------
# A fresh mobilityd for each scheme, so that memory freed by one run is
# not reused by the next and hidden from the count.
declare -A rss0 rss1 held
for s in http https; do
	start_mobilityd
	# Connections opened at a time. A new TLS 1.3 connection waits
	# ~40 ms for its first answer (see docs/benchmarks.md), so many
	# are opened at once to keep this phase short.
	p=$p_http
	opts=(--concurrency 64)
	if [ $s = https ]; then
		p=$p_https
		opts+=(--tls --cafile "$tmp/certs/ca.pem")
	fi
	# one request first: lazily allocated state is not counted per conn
	curl -sfk -o /dev/null -H "Host: $ld" --resolve "$ld:$p:127.0.0.1" \
		"$s://$ld:$p/"
	sleep 0.5
	rss0[$s]=$(rss_kib "$mob_pid")

	out=$tmp/idle-$s.txt
	taskset -c "$client_cpu" python3 "$src/bench/idle_conns.py" \
		--port "$p" --hostname "$ld" --count "$idle" \
		--open-timeout 45 --hold 120 "${opts[@]}" >"$out" \
		2>"$tmp/idle-$s.err" &
	cli_pid=$!
	pids+=("$cli_pid")
	for i in $(seq 500); do # up to 50 s
		grep -qs "^ready" "$out" && break
		kill -0 "$cli_pid" 2>/dev/null || break
		sleep 0.1
	done
	read -r _ ok failed <"$out" || die "idle client ($s) failed: $(cat "$tmp/idle-$s.err")"
	[ "$failed" -eq 0 ] || {
		cat "$tmp/idle-$s.err" >&2
		die "idle client ($s): $failed of $idle connections failed"
	}
	sleep 1
	rss1[$s]=$(rss_kib "$mob_pid")
	# established server-side sockets on the port, counted by the kernel
	held[$s]=$(ss -Htn state established "( sport = :$p )" | wc -l)
	[ "${held[$s]}" -ge "$ok" ] ||
		echo "http_bench: $s: the client holds $ok connections," \
			"the server ${held[$s]}" >&2
	stop_pid "$cli_pid"
	stop_pid "$mob_pid"
done

printf '\n%-6s %12s %14s %13s %9s\n' scheme connections "RSS before" \
	"RSS after" KiB/conn
for s in http https; do
	per=$(awk -v a="${rss0[$s]}" -v b="${rss1[$s]}" -v n="${held[$s]}" \
		'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	printf '%-6s %12s %10s KiB %9s KiB %9s\n' $s "${held[$s]}" \
		"${rss0[$s]}" "${rss1[$s]}" "$per"
done
awk -v a0="${rss0[http]}" -v a1="${rss1[http]}" -v an="${held[http]}" \
	-v b0="${rss0[https]}" -v b1="${rss1[https]}" -v bn="${held[https]}" \
	'BEGIN { if (an > 0 && bn > 0) printf "TLS state per connection " \
	"(https - http): %.2f KiB\n", (b1 - b0) / bn - (a1 - a0) / an }'
echo "(goal: http <= 4 KiB per idle connection; https adds the TLS state)"
