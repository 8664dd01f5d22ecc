#!/usr/bin/env bash
# Push benchmark: how many pushes per second the push service sends on one
# core (a command that prints figures, not a test). docs/benchmarks.md.
#
#   bench/push_bench.sh
#
# nginx (Debian's nginx-light has http_v2) on 127.0.0.1 over TLS answers
# POST /3/device/... (APNs) and POST /v1/projects/.../messages:send (FCM)
# with 200, and the token endpoint with an access token. tests/push/
# push_client sends BENCH_PUSHES pushes through the module with BENCH_WINDOW
# outstanding, pinned to one CPU, nginx on the other: pushes/s and the
# tool's CPU time per push, for APNs then FCM.
#
# Environment (all optional):
#   MOBILITY_BENCH_BUILD  build directory (default build-bench, Release)
#   BENCH_PUSHES          pushes per provider (default 50000)
#   BENCH_WINDOW          pushes outstanding, also [push] in_flight (1000)
#   BENCH_SERVER_CPU      CPU of nginx (default 1)
#   BENCH_CLIENT_CPU      CPU of the push client (default 0)
#
# Ports from tests/pylib/ports.py; every process started here is stopped by
# its PID; every wait is bounded.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${MOBILITY_BENCH_BUILD:-$src/build-bench}
pushes=${BENCH_PUSHES:-50000}
window=${BENCH_WINDOW:-1000}
server_cpu=${BENCH_SERVER_CPU:-1}
client_cpu=${BENCH_CLIENT_CPU:-0}

die() {
	echo "push_bench: $*" >&2
	exit 1
}

for tool in nginx curl taskset openssl cmake python3; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# --- build ---------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
grep -Eq '^CMAKE_BUILD_TYPE:STRING=(Release|RelWithDebInfo)$' \
	"$build/CMakeCache.txt" ||
	echo "push_bench: warning: $build is not an optimised build" >&2
cmake --build "$build" --target push_client -j 2 >/dev/null
client=$build/tests/push_client

# --- scratch directory and clean-up ----------------------------------------
tmp=$(mktemp -d /tmp/mobility-push-bench.XXXXXX)
chmod 755 "$tmp" # nginx workers may run as another user
ngx_pid=

cleanup() {
	local i
	if [ -n "$ngx_pid" ]; then
		kill "$ngx_pid" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$ngx_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$ngx_pid" 2>/dev/null || true
		wait "$ngx_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r p_ngx p_sip p_admin p_fe p_http < <(cd "$src/tests/pylib" && python3 -c '
from ports import free_port
print(*[free_port() for _ in range(5)])')

# --- keys, certificates ----------------------------------------------------
"$src/deploy/certs.sh" leaf "$tmp/certs" push 127.0.0.1 >/dev/null
"$src/deploy/certs.sh" leaf "$tmp/certs" apns 127.0.0.1 >/dev/null # .p8: EC P-256 PKCS#8
chmod 644 "$tmp"/certs/*
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$tmp/fcm.key" 2>/dev/null
python3 - "$tmp" "$p_ngx" <<'EOF'
import json, sys
tmp, port = sys.argv[1], sys.argv[2]
json.dump({"type": "service_account", "project_id": "bench",
           "client_email": "bench@bench.iam.gserviceaccount.com",
           "private_key": open(tmp + "/fcm.key").read(),
           "token_uri": "https://127.0.0.1:%s/token" % port},
          open(tmp + "/fcm.json", "w"))
EOF

# --- nginx: one worker on the server CPU ------------------------------------
. "$src/bench/nginx.sh"
nginx_conf "$tmp/nginx" "$server_cpu" "
	http2_max_concurrent_streams $window;
	server {
		listen 127.0.0.1:$p_ngx ssl http2;
		ssl_certificate $tmp/certs/push.pem;
		ssl_certificate_key $tmp/certs/push.key;
		default_type application/json;
		# APNs answers 200 with no body; nginx's empty \"return 200\" over
		# HTTP/2 came at ~600 answers/s here under load (a local h2
		# server answering with no body did not slow the client), so
		# the stand-in answers {}
		location /3/device/ {
			add_header apns-id 00000000-0000-0000-0000-000000000001;
			return 200 '{}';
		}
		location /v1/projects/ {
			return 200 '{\"name\":\"projects/bench/messages/1\"}';
		}
		location = /token {
			return 200 '{\"access_token\":\"bench\",\"expires_in\":3600}';
		}
	}"
taskset -c "$server_cpu" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" \
	-g 'daemon off;' >"$tmp/nginx/logs/stderr.log" 2>&1 &
ngx_pid=$!
for i in $(seq 100); do
	curl -sf -o /dev/null --max-time 1 --cacert "$tmp/certs/ca.pem" \
		-X POST "https://127.0.0.1:$p_ngx/token" && break
	[ "$i" -lt 100 ] || {
		cat "$tmp/nginx/logs/stderr.log" "$tmp/nginx/logs/error.log" >&2
		die "nginx did not start"
	}
	sleep 0.1
done

# --- configuration (the service needs a whole mobilityd.conf) --------------
cat >"$tmp/mobilityd.conf" <<EOF
[service]
sip_domain = example.test
internal_web_fqdn = mobility-int.example.test
external_web_fqdn = mobility.example.test
log_level = warn

[http]
listen = 127.0.0.1:$p_http

[frontend]
address = 127.0.0.1:$p_fe
tls_server_name = fe.example.test
ca_file = $tmp/certs/ca.pem

[sip]
internal_listen = 127.0.0.1:$p_sip
certificate = $tmp/certs/push.pem $tmp/certs/push.key
client_ca_file = $tmp/certs/ca.pem
client_name = fe.example.test

[admin]
listen = 127.0.0.1:$p_admin

[push]
apns_url = https://127.0.0.1:$p_ngx
apns_key = $tmp/certs/apns.key
apns_key_id = BENCHKEY01
apns_team_id = BENCHTEAM1
fcm_url = https://127.0.0.1:$p_ngx
fcm_credentials = $tmp/fcm.json
ca_file = $tmp/certs/ca.pem
in_flight = $window
queue = $((pushes + window))
EOF

echo "push_bench: $pushes pushes per provider, $window outstanding," \
	"client on CPU $client_cpu, nginx on CPU $server_cpu"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# the APNs topic is the app's bundle id; the FCM "topic" is the project,
# which must be the credentials' own (or an [push] fcm_project)
for prov in apns fcm; do
	topic=com.example.bench
	[ "$prov" = apns ] || topic=bench
	out=$(taskset -c "$client_cpu" "$client" -c "$tmp/mobilityd.conf" -q \
		-p "$prov" -T "$topic" -t 0123456789abcdef \
		-s Alice -x "Hello, this is a benchmark message" -C conv-1 \
		-b 1 -n "$pushes" -j "$window" 2>"$tmp/client.log") || {
		echo "$out" | tail -5 >&2
		cat "$tmp/client.log" >&2
		die "push_client failed"
	}
	python3 - "$prov" "$out" <<'EOF'
import json, sys
t = json.loads(sys.argv[2].splitlines()[-1])
print("%-5s %6d pushes, %d sent, %d failed: %.2f s, %.0f pushes/s, "
      "%.1f us CPU per push" % (sys.argv[1], t["total"], t["sent"], t["failed"],
                                t["seconds"], t["per_second"], t["cpu_us_per_push"]))
EOF
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
