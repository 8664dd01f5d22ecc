#!/usr/bin/env bash
# Builds and starts a demo deployment on this machine: the Front End
# (Kamailio, with users alice, bob and carol @ example.test) and mobilityd,
# with generated certificates, every listener on 127.0.0.1. Then prints the
# curl commands that show autodiscover working.
#
#   scripts/demo.sh          build, (re)start, print the commands
#   scripts/demo.sh stop     stop both (by their PIDs)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
run="$top/run/demo"

HTTP_PORT=${HTTP_PORT:-8080}
HTTPS_PORT=${HTTPS_PORT:-8443}
ADMIN_PORT=${ADMIN_PORT:-9090}
SIP_PORT=${SIP_PORT:-5086}
FE_UDP=${FE_UDP:-5060}
FE_TCP=${FE_TCP:-5060}
FE_TLS=${FE_TLS:-5061}
FE_HTTP=${FE_HTTP:-8088}
DOMAIN=example.test

. scripts/lib/deploy.sh

stop() {
	# its drain ends within drain_timeout (60 s) and 10 s more
	stop_pid "$run/mobilityd.pid" 700
	stop_frontend
}

if [ "${1:-}" = stop ]; then
	stop
	echo "demo stopped"
	exit 0
fi

build_mobilityd
stop
make_certs mob1.$DOMAIN
start_frontend

cat >"$run/mobilityd.conf" <<CONF
# Demo configuration written by scripts/demo.sh
[service]
server_fqdn = mob1.$DOMAIN
sip_domain = $DOMAIN
internal_web_fqdn = mobility-int.$DOMAIN
external_web_fqdn = mobility.$DOMAIN
internal_web_port = $HTTPS_PORT
external_web_port = $HTTPS_PORT
log_level = info

[http]
listen = 127.0.0.1:$HTTP_PORT
listen_tls = 127.0.0.1:$HTTPS_PORT
certificate = $run/certs/web.pem $run/certs/web.key

[frontend]
address = 127.0.0.1:$FE_TLS
tls_server_name = $DOMAIN
ca_file = $run/certs/ca.pem
client_internal_access = fe.$DOMAIN:$FE_TLS
xcap = 127.0.0.1:$FE_HTTP

[sip]
internal_listen = 127.0.0.1:$SIP_PORT
certificate = $run/certs/sip.pem $run/certs/sip.key
# requests only from the Front End's client certificate (mutual TLS)
client_ca_file = $run/certs/ca.pem
client_name = $DOMAIN

[admin]
listen = 127.0.0.1:$ADMIN_PORT

[store]
path = $run/store
CONF

build/demo/mobilityd --check-config "$run/mobilityd.conf"
echo "== mobilityd (log: $run/mobilityd.log)"
nohup build/demo/mobilityd -c "$run/mobilityd.conf" >"$run/mobilityd.log" 2>&1 &
echo $! >"$run/mobilityd.pid"
wait_healthz "$ADMIN_PORT" "$run/mobilityd.log"

R="--resolve lyncdiscover.$DOMAIN:$HTTPS_PORT:127.0.0.1"
R80="--resolve lyncdiscover.$DOMAIN:$HTTP_PORT:127.0.0.1"
RI="--resolve lyncdiscoverinternal.$DOMAIN:$HTTPS_PORT:127.0.0.1"
CA="--cacert $run/certs/ca.pem"
XML="-H 'Accept: application/vnd.microsoft.rtc.autodiscover+xml;v=1'"
cat <<MSG

The demo is running: Front End users alice, bob, carol @ $DOMAIN
(passwords alice-secret, bob-secret, carol-secret), mobilityd pid $(cat "$run/mobilityd.pid").

Autodiscover, JSON over https:
  curl $CA $R https://lyncdiscover.$DOMAIN:$HTTPS_PORT/
Autodiscover, XML over https (internal access location):
  curl $CA $RI $XML https://lyncdiscoverinternal.$DOMAIN:$HTTPS_PORT/
Over plain http (a redirect document to https), JSON and XML:
  curl $R80 http://lyncdiscover.$DOMAIN:$HTTP_PORT/?sipuri=sip:alice@$DOMAIN
  curl $R80 $XML http://lyncdiscover.$DOMAIN:$HTTP_PORT/?sipuri=sip:alice@$DOMAIN
The user resource (401 with the MsRtcOAuth challenge):
  curl -i $CA $R https://lyncdiscover.$DOMAIN:$HTTPS_PORT/Autodiscover/AutodiscoverService.svc/root/oauth/user
Health and metrics:
  curl http://127.0.0.1:$ADMIN_PORT/healthz
  curl http://127.0.0.1:$ADMIN_PORT/metrics

Stop it with: scripts/demo.sh stop
MSG
