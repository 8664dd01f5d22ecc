#!/usr/bin/env bash
# Installs the Debian packages the project builds, tests and demos with.
# Idempotent: when every package is already installed it does nothing.
#
#   scripts/install-deps.sh               build, tests, demo, benchmarks
#   scripts/install-deps.sh --fresh-root  only what scripts/fresh-root.sh
#                                         (.ci/run) needs on the machine
#                                         itself (the minimal root it makes
#                                         gets the full list)
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config clang clang-format
	libfuzzer-14-dev libclang-rt-14-dev
	libre-dev libjansson-dev libexpat1-dev liblmdb-dev libssl-dev
	libcurl4-openssl-dev openssl zlib1g-dev
	# the Redis store backend (hiredis) and the Redis it is tested with
	libhiredis-dev redis-server redis-tools redis-sentinel
	# the Front End (Kamailio) and real peers used by tests and the demo
	kamailio kamailio-tls-modules kamailio-presence-modules
	kamailio-xml-modules kamailio-outbound-modules kamailio-sqlite-modules
	sqlite3 baresip-core sip-tester curl procps iproute2 lmdb-utils
	# HAProxy 2.6: the pool's load balancer (scripts/pool.sh, deploy/pool)
	# and the tests behind a proxy
	haproxy
	python3 python3-pytest python3-httpx python3-h2
	python3-cryptography python3-jwt
	# /etc/protocols, without which Kamailio cannot open TCP or TLS
	# listeners ("could not get TCP protocol number"); minimal roots and
	# container images lack it
	netbase
	# benchmarks (janus: bench/janus_bench.py, side by side)
	wrk nginx-light janus
)
if [ "${1:-}" = --fresh-root ]; then
	PKGS=(debootstrap git)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian's janus package enables a system-wide janus.service (HTTP and
# WebSocket APIs on every address) and starts it where systemd runs;
# bench/janus_bench.py starts its own instance on 127.0.0.1 only, so the
# service is stopped and disabled right after installing.
if [[ " ${missing[*]} " == *" janus "* ]] && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now janus.service || true
fi
