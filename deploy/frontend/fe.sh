#!/usr/bin/env bash
# fe.sh -- the Mobility Service's test and demo Front End (Kamailio 5.6).
#
#   fe.sh init RUNDIR [--domain D] [--udp-port N] [--tcp-port N]
#                     [--tls-port N] [--http-port N] [--ca-dir DIR]
#   fe.sh adduser RUNDIR USER PASSWORD
#   fe.sh deluser RUNDIR USER
#   fe.sh start RUNDIR
#   fe.sh stop RUNDIR
#   fe.sh status RUNDIR
#   fe.sh ctl RUNDIR COMMAND [ARG...]      (kamcmd on the control socket)
#
# RUNDIR holds everything of one Front End: fe.env (its settings), the
# SQLite database, the db_text directory of the rls tables, its TLS
# certificate, the sqlite busy-timeout shim, pid file, control socket and
# log. The configuration itself is deploy/frontend/kamailio.cfg, read from
# the repository at every start with the settings passed as -A defines.
# Every listener is on 127.0.0.1.
set -euo pipefail

# kamailio and kamcmd live in /usr/sbin, not always on a user's PATH
PATH="$PATH:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CFG="$HERE/kamailio.cfg"
SHIM_SRC="$HERE/sqlite_busy.c"
SCHEMA_DIR=${FE_SCHEMA_DIR:-/usr/share/kamailio/db_sqlite}
DBTEXT_SRC=${FE_DBTEXT_SRC:-/usr/share/kamailio/dbtext/kamailio}
KAMAILIO=${KAMAILIO:-kamailio}
KAMCMD=${KAMCMD:-kamcmd}
START_TIMEOUT=${FE_START_TIMEOUT:-15}
STOP_TIMEOUT=${FE_STOP_TIMEOUT:-10}

usage() {
	sed -n '4,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

die() {
	echo "fe.sh: $*" >&2
	exit 1
}

# Values that end up inside the Kamailio configuration or SQL: keep them
# to a safe alphabet instead of quoting them.
check_path() {
	[[ $1 =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
		die "path '$1' must be absolute and use only [A-Za-z0-9._/+-]"
}

check_port() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 1024 ] || [ "$1" -gt 65535 ]; then
		die "port '$1' must be a number from 1024 to 65535"
	fi
}

check_user() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$ ]] ||
		die "user '$1' must match [A-Za-z0-9][A-Za-z0-9._+-]* (64 max)"
}

abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd)
}

load_env() {
	RUNDIR=$(cd "${1:?RUNDIR}" 2>/dev/null && pwd) ||
		die "no run directory $1 (run: fe.sh init $1)"
	[ -f "$RUNDIR/fe.env" ] || die "$RUNDIR is not initialised (run: fe.sh init $RUNDIR)"
	# shellcheck source=/dev/null
	. "$RUNDIR/fe.env"
	PIDFILE="$RUNDIR/kamailio.pid"
	CTL="$RUNDIR/kamailio_ctl"
	LOG="$RUNDIR/kamailio.log"
	DB="$RUNDIR/fe.sqlite"
}

# The PID of the running Front End of RUNDIR, or nothing. A PID is only
# trusted when that process is a kamailio started with this RUNDIR.
running_pid() {
	local pid cmd
	[ -s "$PIDFILE" ] || return 0
	pid=$(tr -dc '0-9' <"$PIDFILE")
	[ -n "$pid" ] || return 0
	[ -r "/proc/$pid/cmdline" ] || return 0
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
	case "$cmd" in
	*kamailio*"$RUNDIR/kamailio.pid"*) echo "$pid" ;;
	esac
}

sql() {
	sqlite3 -batch -bail -cmd '.timeout 10000' "$DB" "$@"
}

md5() {
	printf '%s' "$1" | md5sum | cut -d' ' -f1
}

build_shim() {
	if [ ! -s "$RUNDIR/sqlite_busy.so" ] ||
		[ "$SHIM_SRC" -nt "$RUNDIR/sqlite_busy.so" ]; then
		cc -shared -fPIC -O2 -Wall -o "$RUNDIR/sqlite_busy.so.tmp" \
			"$SHIM_SRC" -ldl
		mv "$RUNDIR/sqlite_busy.so.tmp" "$RUNDIR/sqlite_busy.so"
	fi
}

cmd_init() {
	local rundir=${1:-}
	[ -n "$rundir" ] || usage
	shift
	local domain=example.test udp=5060 tcp=5060 tls=5061 http=8088 ca=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--domain) domain=${2:?--domain needs a value}; shift 2 ;;
		--udp-port) udp=${2:?}; shift 2 ;;
		--tcp-port) tcp=${2:?}; shift 2 ;;
		--tls-port) tls=${2:?}; shift 2 ;;
		--http-port) http=${2:?}; shift 2 ;;
		--ca-dir) ca=${2:?}; shift 2 ;;
		*) die "init: unknown option $1" ;;
		esac
	done
	[[ $domain =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]] ||
		die "domain '$domain' is not a host name"
	for p in "$udp" "$tcp" "$tls" "$http"; do check_port "$p"; done
	if [ "$tcp" = "$tls" ] || [ "$tcp" = "$http" ] || [ "$tls" = "$http" ]; then
		die "TCP, TLS and HTTP ports must differ"
	fi

	RUNDIR=$(abs_dir "$rundir")
	check_path "$RUNDIR"
	[ ! -e "$RUNDIR/fe.env" ] ||
		die "$RUNDIR is already initialised (remove it to start afresh)"
	if [ -z "$ca" ]; then ca="$RUNDIR/ca"; fi
	ca=$(abs_dir "$ca")
	check_path "$ca"

	# database: the Debian schema files, then WAL mode (set once: it is
	# a property of the file; the module's own setting would re-run it in
	# every process)
	DB="$RUNDIR/fe.sqlite"
	rm -f "$DB" "$DB-wal" "$DB-shm"
	local f
	for f in standard auth_db usrloc presence msilo; do
		[ -r "$SCHEMA_DIR/$f-create.sql" ] ||
			die "missing $SCHEMA_DIR/$f-create.sql (package kamailio-sqlite-modules)"
		sql <"$SCHEMA_DIR/$f-create.sql"
	done
	sql 'PRAGMA journal_mode=WAL;' >/dev/null

	# rls tables in db_text (the rls module crashes on db_sqlite); the
	# version file rows need their id column
	mkdir -p "$RUNDIR/dbtext"
	cp "$DBTEXT_SRC/rls_watchers" "$DBTEXT_SRC/rls_presentity" "$RUNDIR/dbtext/"
	{
		head -n1 "$DBTEXT_SRC/version"
		grep -E '^[0-9]+:rls_(watchers|presentity):' "$DBTEXT_SRC/version" |
			awk -F: '{ printf "%d:%s:%s\n", NR, $2, $3 }'
	} >"$RUNDIR/dbtext/version"

	# TLS certificate for 127.0.0.1, localhost and the domain, signed by
	# the CA of --ca-dir (created there when absent)
	mkdir -p "$RUNDIR/tls"
	local name="fe-$$-$RANDOM"
	"$REPO/deploy/certs.sh" leaf "$ca" "$name" "$domain" localhost 127.0.0.1
	mv "$ca/$name.pem" "$RUNDIR/tls/fe.pem"
	mv "$ca/$name.key" "$RUNDIR/tls/fe.key"
	chmod 600 "$RUNDIR/tls/fe.key"

	build_shim

	{
		echo "# Front End settings, written by fe.sh init"
		echo "FE_DOMAIN=$domain"
		echo "FE_UDP_PORT=$udp"
		echo "FE_TCP_PORT=$tcp"
		echo "FE_TLS_PORT=$tls"
		echo "FE_HTTP_PORT=$http"
		echo "FE_CA_DIR=$ca"
		echo "FE_CA_FILE=$ca/ca.pem"
		echo "FE_TLS_CERT=$RUNDIR/tls/fe.pem"
		echo "FE_TLS_KEY=$RUNDIR/tls/fe.key"
	} >"$RUNDIR/fe.env"
	echo "initialised $RUNDIR (domain $domain, udp $udp, tcp $tcp, tls $tls, http $http)"
}

cmd_adduser() {
	load_env "${1:-}"
	local user=${2:-} pass=${3-}
	if [ -z "$user" ] || [ $# -ne 3 ]; then usage; fi
	check_user "$user"
	[ -n "$pass" ] || die "empty password"
	local ha1 ha1b
	ha1=$(md5 "$user:$FE_DOMAIN:$pass")
	ha1b=$(md5 "$user@$FE_DOMAIN:$FE_DOMAIN:$pass")
	# only HA1 values are stored, never the password
	sql "INSERT INTO subscriber (username, domain, password, ha1, ha1b)
	     VALUES ('$user', '$FE_DOMAIN', '', '$ha1', '$ha1b')
	     ON CONFLICT (username, domain) DO UPDATE
	     SET ha1 = excluded.ha1, ha1b = excluded.ha1b;"
	echo "user $user@$FE_DOMAIN set"
}

cmd_deluser() {
	load_env "${1:-}"
	local user=${2:-}
	[ -n "$user" ] || usage
	check_user "$user"
	local n
	n=$(sql "DELETE FROM subscriber WHERE username = '$user'; SELECT changes();")
	[ "$n" != 0 ] || die "no user $user"
	echo "user $user@$FE_DOMAIN removed"
}

kam_args() {
	local q='"'
	ARGS=(
		-f "$CFG" -P "$PIDFILE" -w "$RUNDIR" -Y "$RUNDIR"
		-m "${FE_SHM_MB:-256}" -M "${FE_PKG_MB:-16}" -DD -E
		-A "FE_DOMAIN=$q$FE_DOMAIN$q"
		-A "FE_UDP_PORT=$FE_UDP_PORT"
		-A "FE_TCP_PORT=$FE_TCP_PORT"
		-A "FE_TLS_PORT=$FE_TLS_PORT"
		-A "FE_HTTP_PORT=$FE_HTTP_PORT"
		-A "FE_DB_URL=${q}sqlite:///$DB$q"
		-A "FE_DBTEXT_URL=${q}text://$RUNDIR/dbtext$q"
		-A "FE_CTL=${q}unix:$CTL$q"
		-A "FE_TLS_CERT=$q$FE_TLS_CERT$q"
		-A "FE_TLS_KEY=$q$FE_TLS_KEY$q"
		-A "FE_SELF_URI=${q}sip:127.0.0.1:$FE_UDP_PORT$q"
		-A "FE_RLS_URI=${q}sip:rls@127.0.0.1:$FE_TLS_PORT;transport=tls$q"
		-A "FE_LOG_LEVEL=${FE_LOG_LEVEL:-2}"
		-A "FE_MAX_EXPIRES=${FE_MAX_EXPIRES:-3600}"
		-A "FE_CLOSE_EXPIRED_TCP=${FE_CLOSE_EXPIRED_TCP:-0}"
	)
	# a federated peer, by its IPv4 address (kamailio.cfg, route[AUTH])
	if [ -n "${FE_FEDERATED_PEER:-}" ]; then
		[[ $FE_FEDERATED_PEER =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
			die "FE_FEDERATED_PEER=$FE_FEDERATED_PEER is not an IPv4 address"
		ARGS+=(-A "FE_FEDERATED_PEER=$q$FE_FEDERATED_PEER$q")
	fi
}

log_tail() {
	echo "---- last lines of $LOG ----" >&2
	tail -n "${1:-40}" "$LOG" >&2 || true
}

# Errors Kamailio logs at start-up even when it runs fine.
BENIGN_ERRORS='sctp|SCTP'

cmd_start() {
	load_env "${1:-}"
	local pid
	pid=$(running_pid)
	[ -z "$pid" ] || die "already running (pid $pid)"
	rm -f "$PIDFILE" "$CTL"
	build_shim
	kam_args
	"$KAMAILIO" -c "${ARGS[@]}" >"$RUNDIR/config-check.log" 2>&1 || {
		cat "$RUNDIR/config-check.log" >&2
		die "configuration check failed"
	}
	[ ! -f "$LOG" ] || mv -f "$LOG" "$LOG.1"
	(
		cd "$RUNDIR"
		export LD_PRELOAD="$RUNDIR/sqlite_busy.so"
		export FE_SQLITE_BUSY_MS="${FE_SQLITE_BUSY_MS:-10000}"
		exec setsid "$KAMAILIO" "${ARGS[@]}" </dev/null >>"$LOG" 2>&1
	) &
	local child=$! deadline=$((SECONDS + START_TIMEOUT)) ready=""
	while [ $SECONDS -lt $deadline ]; do
		if ! kill -0 "$child" 2>/dev/null; then
			log_tail
			die "kamailio exited during start-up"
		fi
		if [ -S "$CTL" ] && "$KAMCMD" -s "unix:$CTL" core.uptime >/dev/null 2>&1; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [ -z "$ready" ]; then
		log_tail
		kill -TERM "$child" 2>/dev/null || true
		die "not ready after ${START_TIMEOUT}s"
	fi
	pid=$(running_pid)
	if [ -z "$pid" ]; then
		log_tail
		kill -TERM "$child" 2>/dev/null || true
		die "no pid file $PIDFILE"
	fi
	# kamailio -c passes with wrong runtime paths: read the log
	if grep -E ' (ERROR|CRITICAL|ALERT|BUG|EMERG):' "$LOG" |
		grep -vE "$BENIGN_ERRORS" | grep -q .; then
		log_tail 60
		FE_QUIET=1 cmd_stop "$RUNDIR" || true
		die "errors in the log at start-up"
	fi
	echo "started pid $pid: sip udp/tcp 127.0.0.1:$FE_UDP_PORT/$FE_TCP_PORT," \
		"tls 127.0.0.1:$FE_TLS_PORT, xcap http://127.0.0.1:$FE_HTTP_PORT/xcap-root/," \
		"domain $FE_DOMAIN, log $LOG"
}

cmd_stop() {
	load_env "${1:-}"
	local pid
	pid=$(running_pid)
	if [ -z "$pid" ]; then
		rm -f "$PIDFILE" "$CTL"
		[ -n "${FE_QUIET:-}" ] || echo "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "fe.sh: pid $pid still there after ${STOP_TIMEOUT}s, killing its process group" >&2
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
			sleep 0.1
		done
		! kill -0 "$pid" 2>/dev/null || die "pid $pid does not go away"
	fi
	rm -f "$PIDFILE" "$CTL"
	[ -n "${FE_QUIET:-}" ] || echo "stopped pid $pid"
}

cmd_status() {
	load_env "${1:-}"
	local pid uptime
	pid=$(running_pid)
	if [ -z "$pid" ]; then
		echo "stopped ($RUNDIR)"
		return 3
	fi
	uptime=$("$KAMCMD" -s "unix:$CTL" core.uptime 2>/dev/null |
		awk '$1 == "uptime:" { print $2 }' || true)
	echo "running pid $pid, up ${uptime:-?}s: domain $FE_DOMAIN," \
		"udp $FE_UDP_PORT, tcp $FE_TCP_PORT, tls $FE_TLS_PORT, http $FE_HTTP_PORT"
}

cmd_ctl() {
	load_env "${1:-}"
	shift
	[ $# -gt 0 ] || usage
	[ -n "$(running_pid)" ] || die "not running"
	exec "$KAMCMD" -s "unix:$CTL" "$@"
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case "$cmd" in
init) cmd_init "$@" ;;
adduser) cmd_adduser "$@" ;;
deluser) cmd_deluser "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
ctl) cmd_ctl "$@" ;;
-h | --help | help) usage ;;
*) echo "fe.sh: unknown command $cmd" >&2; usage ;;
esac
