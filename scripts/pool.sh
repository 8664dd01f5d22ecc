#!/usr/bin/env bash
# Builds and starts a pool of mobilityd instances on this machine
# (docs/pool.md, "The shipped pool"): HAProxy in front (TLS for the
# external and internal web FQDNs and the autodiscover names, round robin,
# no affinity), three mobilityd instances on Redis, a Redis primary, its
# replica and three Sentinels, and the Front End (Kamailio, users alice,
# bob and carol @ example.test) as scripts/demo.sh has it. Every listener
# is on 127.0.0.1; every process is stopped by its PID file.
#
#   scripts/pool.sh          build, (re)start, print the commands
#   scripts/pool.sh stop     stop everything (by the PID files)
#
#   POOL_AFFINITY=cookie scripts/pool.sh
#                            HAProxy with the old cookie affinity on
#                            MS-WSMAN instead of round robin alone
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
run="$top/run/pool"

HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
STATS_PORT=${STATS_PORT:-8404}
# instance N (1..3): plain http 810N (HAProxy's side), admin 910N, SIP 510N
INSTANCES=(1 2 3)
REDIS_PORT=${REDIS_PORT:-6379}
REPLICA_PORT=${REPLICA_PORT:-6380}
SENTINEL_PORTS=(26379 26380 26381)
FE_UDP=${FE_UDP:-5060}
FE_TCP=${FE_TCP:-5060}
FE_TLS=${FE_TLS:-5061}
FE_HTTP=${FE_HTTP:-8088}
AFFINITY=${POOL_AFFINITY:-none}
DOMAIN=example.test

. scripts/lib/deploy.sh

stop() {
	stop_pid "$run/haproxy.pid"
	# each drains (paced hand-over of its sessions) before it exits
	for n in "${INSTANCES[@]}"; do
		stop_pid "$run/mob$n/mobilityd.pid" 700 &
	done
	wait
	for p in "${SENTINEL_PORTS[@]}"; do
		stop_pid "$run/sentinel$p/pid"
	done
	stop_pid "$run/redis$REPLICA_PORT/pid"
	stop_pid "$run/redis$REDIS_PORT/pid"
	stop_frontend
}

if [ "${1:-}" = stop ]; then
	stop
	echo "pool stopped"
	exit 0
fi
case $AFFINITY in none | cookie) ;; *)
	echo "POOL_AFFINITY: none or cookie" >&2
	exit 2
	;;
esac

build_mobilityd
stop
make_certs mob1.$DOMAIN mob2.$DOMAIN mob3.$DOMAIN
# HAProxy wants the chain and the key in one file
(umask 077 && cat "$run/certs/web.pem" "$run/certs/web.key" >"$run/certs/web-haproxy.pem")

start_frontend

# wait until redis-cli -p PORT PING answers PONG
wait_redis() {
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "redis on port $1 did not start" >&2
	exit 1
}

echo "== Redis primary :$REDIS_PORT, replica :$REPLICA_PORT, Sentinels :${SENTINEL_PORTS[*]}"
for p in "$REDIS_PORT" "$REPLICA_PORT"; do
	d="$run/redis$p"
	mkdir -p "$d"
	if [ "$p" = "$REDIS_PORT" ]; then
		cp deploy/redis/redis.conf "$d/redis.conf"
		extra=()
	else
		# Sentinel rewrites the file of a server it reconfigures
		cp deploy/redis/replica.conf "$d/redis.conf"
		extra=(--replicaof 127.0.0.1 "$REDIS_PORT")
	fi
	nohup redis-server "$d/redis.conf" --port "$p" --bind 127.0.0.1 --dir "$d" \
		--logfile "$d/redis.log" "${extra[@]}" >/dev/null 2>&1 &
	echo $! >"$d/pid"
	wait_redis "$p"
done
for p in "${SENTINEL_PORTS[@]}"; do
	d="$run/sentinel$p"
	mkdir -p "$d"
	sed -e "s/^port 26379/port $p/" -e "s|^dir /tmp|dir $d|" \
		-e "s/^sentinel monitor mobilityd 127.0.0.1 6379 2/sentinel monitor mobilityd 127.0.0.1 $REDIS_PORT 2/" \
		deploy/redis/sentinel.conf >"$d/sentinel.conf"
	nohup redis-sentinel "$d/sentinel.conf" --logfile "$d/sentinel.log" >/dev/null 2>&1 &
	echo $! >"$d/pid"
	wait_redis "$p"
done
sentinels=$(printf '127.0.0.1:%s, ' "${SENTINEL_PORTS[@]}")
sentinels=${sentinels%, }

servers=()
for n in "${INSTANCES[@]}"; do
	d="$run/mob$n"
	mkdir -p "$d"
	cat >"$d/mobilityd.conf" <<CONF
# Pool instance $n, written by scripts/pool.sh
[service]
server_fqdn = mob$n.$DOMAIN
sip_domain = $DOMAIN
internal_web_fqdn = mobility-int.$DOMAIN
external_web_fqdn = mobility.$DOMAIN
# the port the phones use: HAProxy's
internal_web_port = $HTTPS_PORT
external_web_port = $HTTPS_PORT
log_level = info

[http]
# HAProxy terminates TLS and talks plain http to this listener; it and
# the other instances (forwarding) are trusted proxies on 127.0.0.1
listen = 127.0.0.1:810$n
trusted_proxy = 127.0.0.1/32
behind_tls_proxy = yes

[frontend]
address = 127.0.0.1:$FE_TLS
tls_server_name = $DOMAIN
ca_file = $run/certs/ca.pem
client_internal_access = fe.$DOMAIN:$FE_TLS
xcap = 127.0.0.1:$FE_HTTP

[sip]
internal_listen = 127.0.0.1:510$n
certificate = $run/certs/sip.pem $run/certs/sip.key
client_ca_file = $run/certs/ca.pem
client_name = $DOMAIN

[admin]
listen = 127.0.0.1:910$n

[store]
backend = redis
redis_sentinels = $sentinels
redis_master_name = mobilityd
# a write is acknowledged only once the replica has it too (docs/pool.md)
redis_wait_replicas = 1
redis_instance = mob$n
# where the other instances forward this one's requests (docs/pool.md)
redis_instance_url = http://127.0.0.1:810$n
CONF
	build/demo/mobilityd --check-config "$d/mobilityd.conf"
	nohup build/demo/mobilityd -c "$d/mobilityd.conf" >"$d/mobilityd.log" 2>&1 &
	echo $! >"$d/mobilityd.pid"
	servers+=("mob$n:810$n:910$n")
done
for n in "${INSTANCES[@]}"; do
	wait_healthz "910$n" "$run/mob$n/mobilityd.log"
done

echo "== HAProxy on 127.0.0.1:$HTTPS_PORT (https), :$HTTP_PORT (http), stats :$STATS_PORT"
python3 deploy/pool/haproxy_cfg.py "$run/haproxy.cfg" "$run" "$HTTPS_PORT" "$HTTP_PORT" \
	"$STATS_PORT" "$AFFINITY" "$run/certs/web-haproxy.pem" "${servers[@]}"
haproxy -c -q -f "$run/haproxy.cfg"
nohup haproxy -db -f "$run/haproxy.cfg" >"$run/haproxy.log" 2>&1 &
echo $! >"$run/haproxy.pid"
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$STATS_PORT/stats" >/dev/null && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$STATS_PORT/stats" >/dev/null ||
	{ cat "$run/haproxy.log"; exit 1; }

R="--resolve lyncdiscover.$DOMAIN:$HTTPS_PORT:127.0.0.1"
RI="--resolve lyncdiscoverinternal.$DOMAIN:$HTTPS_PORT:127.0.0.1"
R80="--resolve lyncdiscover.$DOMAIN:$HTTP_PORT:127.0.0.1"
CA="--cacert $run/certs/ca.pem"
cat <<MSG

The pool is running: HAProxy (pid $(cat "$run/haproxy.pid")) in front of
mobilityd mob1, mob2, mob3 (pids $(cat "$run"/mob*/mobilityd.pid | tr '\n' ' '))
on Redis (primary :$REDIS_PORT, replica :$REPLICA_PORT, Sentinels :${SENTINEL_PORTS[*]}),
Front End users alice, bob, carol @ $DOMAIN (passwords alice-secret, ...).
Affinity: $AFFINITY.

Autodiscover through HAProxy, external and internal names:
  curl $CA $R https://lyncdiscover.$DOMAIN:$HTTPS_PORT/
  curl $CA $RI https://lyncdiscoverinternal.$DOMAIN:$HTTPS_PORT/
  curl $R80 http://lyncdiscover.$DOMAIN:$HTTP_PORT/?sipuri=sip:alice@$DOMAIN
Which instance answered: the X-MS-Server-Fqdn header (curl -i).
HAProxy's view of the instances:
  curl 'http://127.0.0.1:$STATS_PORT/stats;csv'
Each instance's health and metrics:
  curl http://127.0.0.1:9101/healthz     (9102, 9103)
  curl http://127.0.0.1:9101/metrics

Stop it with: scripts/pool.sh stop
MSG
