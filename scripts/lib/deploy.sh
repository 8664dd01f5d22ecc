# shellcheck shell=bash
# Shell functions shared by scripts/demo.sh and scripts/pool.sh; sourced
# (not run) from the top of the tree, with $run (the run folder) and
# $DOMAIN and the FE_* ports set.
# shellcheck disable=SC2154 # run, DOMAIN and FE_*: set by the caller

# SIGTERM the process of a PID file, wait up to $2 tenths of a second
# (default 50), then SIGKILL; remove the file
stop_pid() {
	local f=$1 tenths=${2:-50} pid
	[ -s "$f" ] || {
		rm -f "$f"
		return 0
	}
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq "$tenths"); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
		fi
	fi
	rm -f "$f"
}

# Stop the Front End of $run/fe, if there is one
stop_frontend() {
	if [ -d "$run/fe" ]; then
		deploy/frontend/fe.sh stop "$run/fe" >/dev/null 2>&1 || true
	fi
}

# Install the Debian packages and build build/demo/mobilityd
build_mobilityd() {
	bash scripts/install-deps.sh
	echo "== building"
	cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/demo -j"$(nproc)" --target mobilityd >/dev/null
}

# The test CA and the certificates in $run/certs: web (the web FQDNs and
# the autodiscover names) and sip (the names given as arguments)
make_certs() {
	mkdir -p "$run/certs"
	echo "== certificates (test CA in $run/certs/ca.pem)"
	deploy/certs.sh leaf "$run/certs" web "mobility.$DOMAIN" \
		"mobility-int.$DOMAIN" "lyncdiscover.$DOMAIN" \
		"lyncdiscoverinternal.$DOMAIN"
	deploy/certs.sh leaf "$run/certs" sip "$@"
}

# The Front End in $run/fe (made the first time, with users alice, bob
# and carol), started
start_frontend() {
	echo "== Front End (Kamailio) on 127.0.0.1:$FE_TLS (TLS)"
	if [ ! -f "$run/fe/fe.env" ]; then
		deploy/frontend/fe.sh init "$run/fe" --domain "$DOMAIN" \
			--udp-port "$FE_UDP" --tcp-port "$FE_TCP" \
			--tls-port "$FE_TLS" --http-port "$FE_HTTP" \
			--ca-dir "$run/certs"
		for u in alice bob carol; do
			deploy/frontend/fe.sh adduser "$run/fe" "$u" "$u-secret"
		done
	fi
	deploy/frontend/fe.sh start "$run/fe"
}

# Wait up to 10 s for http://127.0.0.1:$1/healthz; if it does not answer,
# show the end of the log $2 and fail
wait_healthz() {
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0
		sleep 0.1
	done
	tail -20 "$2"
	exit 1
}
