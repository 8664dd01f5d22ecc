#!/usr/bin/env bash
# Runs the README's two commands on a fresh minimal Debian 12 root, the kind
# container base images and minimal installs give (debootstrap
# --variant=minbase: no netbase, no recommends, no services), and exits with
# the test command's status. Stages, each timed:
#
#   root      debootstrap --variant=minbase into a temporary directory, from
#             the Debian mirror of this machine's apt sources
#   setup     this machine's apt sources, /etc/hosts, no service starts
#             from package scripts, the checkout's tracked files copied to
#             /root/mobilityd, proc, sys, dev, dev/pts and dev/shm mounted
#   packages  scripts/install-deps.sh (which both commands run first: a
#             stage of its own so that its time is seen apart)
#   demo      scripts/demo.sh, then the autodiscover curl command it prints
#             (https, its test CA) must answer, then scripts/demo.sh stop
#             must leave no process behind
#   suite     scripts/test.sh
#
# The demo runs in a network namespace of its own with only loopback: its
# fixed ports (8443, 5061...) clash with nothing on this machine. The suite
# runs in this machine's network, as on any machine (its tests take free
# ports; Janus' SIP stack needs a reachable DNS server). The root is
# unmounted and removed on every exit path (end, failure, SIGINT, SIGTERM,
# the budget). Every mount lives in a private mount namespace: even after a
# SIGKILL of this script none shows on the machine, and they go with the
# last process of the run (only the directory stays). The last line
# printed is the suite's closing line
# ("tests: N passed, N failed"), or why there is none.
#
#   scripts/fresh-root.sh            (as root)
#
# Environment:
#   FRESH_ROOT_MIRROR  Debian mirror (default: from this machine's apt sources)
#   FRESH_ROOT_BUDGET  seconds for the whole run, 4800 by default (CI allows
#                      90 minutes); each stage gets what is left
#   TMPDIR             where the root is made (about 5 GB), /tmp by default
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "fresh-root: needs root (mounts and chroot): sudo $0" >&2
	exit 2
fi
# Every mount of this run (ours and debootstrap's) goes into a private mount
# namespace: the kernel drops them with the namespace's last process.
if [ "${FRESH_ROOT_NS:-}" != 1 ]; then
	export FRESH_ROOT_NS=1
	exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
top=$(pwd)
budget=${FRESH_ROOT_BUDGET:-4800}
deadline=$((SECONDS + budget))
work=""   # the temporary directory: root/ and the logs
root=""   # the minimal root, $work/root
child=""  # process group of the running stage
current="" # the stage running or last run
failed=""  # the stage that failed
times=()  # "stage N s" of every stage run
SRC=/root/mobilityd           # the checkout, inside the root
SUITE_LOG=/root/suite.log     # the suite's output, inside the root
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "fresh-root: $*"; }

# The Debian mirror of this machine's apt sources (deb822 or one-line form).
host_mirror() {
	local m="" f=/etc/apt/sources.list.d/debian.sources
	if [ -r "$f" ]; then
		m=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' "$f")
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && !/security/ {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

# PIDs of the processes whose root directory is the minimal root.
root_pids() {
	[ -n "$root" ] || return 0
	find /proc -mindepth 2 -maxdepth 2 -name root \
		\( -lname "$root" -o -lname "$root/*" \) 2>/dev/null | cut -d/ -f3
}

# Stops what runs in the root (what the demo or a test left, or a stage
# interrupted): TERM, 10 s, then KILL. All of them were started by this run.
kill_root_pids() {
	local pids
	pids=$(root_pids)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086 # one PID per word
	kill -TERM $pids 2>/dev/null
	for _ in $(seq 50); do
		pids=$(root_pids)
		[ -n "$pids" ] || return 0
		sleep 0.2
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	sleep 0.5
}

# Mount points at or under the root, deepest first.
root_mounts() {
	[ -n "$root" ] || return 0
	awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

unmount_root() {
	local m
	for _ in 1 2 3; do
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done < <(root_mounts)
		[ -n "$(root_mounts)" ] || return 0
		sleep 1
	done
	return 1
}

# Removes the temporary directory, only once nothing is mounted under it:
# rm -rf through a bind mount of /dev would empty the machine's /dev.
remove_work() {
	[ -n "$work" ] && [ -d "$work" ] || return 0
	if [ -n "$(root_mounts)" ]; then
		log "mounts remain under $root, $work is NOT removed:"
		root_mounts
		return 1
	fi
	rm -rf --one-file-system "$work"
}

# Runs on every exit: stop the stage and the root's processes, keep the
# suite's closing line, unmount, remove, print the times, then that line.
cleanup() {
	local rc=$? closing="" sig
	trap - EXIT INT TERM
	if [ -n "$child" ]; then
		for sig in TERM KILL; do
			kill -"$sig" -- -"$child" 2>/dev/null || break
			for _ in $(seq 50); do
				kill -0 -- -"$child" 2>/dev/null || break 2
				sleep 0.2
			done
		done
	fi
	kill_root_pids
	if [ -n "$root" ] && [ -f "$root$SUITE_LOG" ]; then
		closing=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed$' \
			"$root$SUITE_LOG" | tail -1)
	fi
	unmount_root || log "could not unmount everything under $root"
	remove_work || { [ "$rc" -ne 0 ] || rc=1; }
	log "times: $([ ${#times[@]} -eq 0 ] || printf '%s, ' "${times[@]}")total $SECONDS s"
	if [ -n "$closing" ]; then
		echo "$closing"
	else
		log "no test results: stage '${failed:-?}' did not complete (status $rc)"
	fi
	exit "$rc"
}

on_signal() {
	log "interrupted by SIG$1 in stage ${current:-start}"
	failed=${failed:-${current:-start}}
	exit "$2"
}

# Runs a stage's command in a process group of its own (an interrupt stops
# all of it) within the time left, stdin closed, optionally its output to a
# log shown only on failure. Records how long it took.
stage() { # name [--log FILE] command...
	local name=$1 out="" left rc start
	shift
	if [ "$1" = --log ]; then out=$2; shift 2; fi
	left=$((deadline - SECONDS))
	if [ "$left" -le 0 ]; then
		failed=$name
		log "no time left for stage $name"
		return 124
	fi
	echo "== fresh-root: $name"
	current=$name
	start=$SECONDS
	if [ -n "$out" ]; then
		setsid -w timeout -k 30 "$left" "$@" </dev/null >"$out" 2>&1 &
	else
		setsid -w timeout -k 30 "$left" "$@" </dev/null &
	fi
	child=$!
	wait "$child"
	rc=$?
	child=""
	times+=("$name $((SECONDS - start)) s")
	echo "== fresh-root: $name took $((SECONDS - start)) s (status $rc)"
	if [ "$rc" -ne 0 ]; then
		failed=$name
		[ -z "$out" ] || tail -n 40 "$out"
	fi
	return "$rc"
}

# What a real machine has and a debootstrapped directory lacks: Debian's
# apt sources of this machine (security updates), /etc/hosts, and, as in
# container images, package scripts that start no service (they would run
# outside the network namespace, on this machine's ports).
prepare_root() {
	local f=/etc/apt/sources.list.d/debian.sources
	if [ -r "$f" ] && grep -q bookworm "$f"; then
		cp "$f" "$root/etc/apt/sources.list.d/" &&
			rm -f "$root/etc/apt/sources.list"
	elif [ -r /etc/apt/sources.list ] && grep -q bookworm /etc/apt/sources.list; then
		cp /etc/apt/sources.list "$root/etc/apt/sources.list"
	fi || return 1
	apt-config dump 2>/dev/null | grep -i '::proxy ' \
		>"$root/etc/apt/apt.conf.d/90host-proxy" ||
		rm -f "$root/etc/apt/apt.conf.d/90host-proxy"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" || return 1
	if [ ! -e "$root/etc/hosts" ]; then
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
			>"$root/etc/hosts" || return 1
	fi
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" &&
		chmod 755 "$root/usr/sbin/policy-rc.d" || return 1
	# the checkout's tracked files as they are now: no build or run dirs
	mkdir -p "$root$SRC" &&
		git -C "$top" ls-files -z |
		tar -C "$top" --null --ignore-failed-read -T - -cf - |
			tar -C "$root$SRC" -xf - || return 1
	mount -t proc proc "$root/proc" &&
		mount -t sysfs sysfs "$root/sys" &&
		mount --bind /dev "$root/dev" &&
		mount --bind /dev/pts "$root/dev/pts" &&
		mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
}

# Inside the root: the demo as the README says, its printed autodiscover
# command (JSON over https with the demo's CA), then its stop command.
demo_script() {
	cat <<'EOF'
set -u
ip link set lo up || exit 1
cd /root/mobilityd || exit 1
scripts/demo.sh 2>&1 | tee /root/demo.out
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
	line=$(grep -m1 -E '^  curl --cacert [^ ]+ --resolve lyncdiscover\.[^ ]+ https://lyncdiscover\.[^ ]+/$' /root/demo.out)
	read -ra cmd <<<"$line"
	if [ ${#cmd[@]} -eq 0 ]; then
		echo "the demo printed no autodiscover command"
		rc=1
	else
		echo "+ ${cmd[*]}"
		body=$("${cmd[@]}" -fsS --max-time 10) || rc=1
		echo "$body"
		case $body in
		*'"user":{"href":"https://'*) ;;
		*) echo "autodiscover gave no user link"; rc=1 ;;
		esac
	fi
fi
scripts/demo.sh stop || rc=1
exit "$rc"
EOF
}

suite_script() {
	cat <<'EOF'
set -u
cd /root/mobilityd || exit 1
scripts/test.sh 2>&1 | tee /root/suite.log
exit "${PIPESTATUS[0]}"
EOF
}

main() {
	local mirror start left netns=(unshare --net) in_root
	command -v debootstrap >/dev/null || bash scripts/install-deps.sh --fresh-root
	for t in debootstrap chroot unshare setsid timeout git tar; do
		command -v "$t" >/dev/null || { log "$t is missing"; failed=host; return 1; }
	done
	if ! unshare --net true 2>/dev/null; then
		log "no network namespace here: the demo and suite use this machine's ports"
		netns=()
	fi
	mirror=${FRESH_ROOT_MIRROR:-$(host_mirror)}
	work=$(mktemp -d "${TMPDIR:-/tmp}/mobility-fresh-root.XXXXXX") &&
		work=$(cd "$work" && pwd -P) || return 1
	root=$work/root
	[[ $root =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
		{ log "unusable directory $root"; failed=host; return 1; }
	log "root $root, mirror $mirror, budget $budget s"

	stage root --log "$work/debootstrap.log" debootstrap --variant=minbase \
		--include=ca-certificates,git,sudo bookworm "$root" "$mirror" || return
	echo "== fresh-root: setup"
	current=setup
	start=$SECONDS
	prepare_root || { failed=setup; return 1; }
	times+=("setup $((SECONDS - start)) s")

	# a login's environment, nothing of this shell's
	in_root=(chroot "$root" /usr/bin/env -i "PATH=$PATH_IN" HOME=/root
		USER=root LOGNAME=root SHELL=/bin/bash TERM=dumb CI="${CI:-}")
	for v in http_proxy https_proxy no_proxy; do
		[ -z "${!v:-}" ] || in_root+=("$v=${!v}")
	done
	stage packages --log "$work/packages.log" "${in_root[@]}" \
		bash -c "cd $SRC && bash scripts/install-deps.sh" || return
	stage demo "${netns[@]}" "${in_root[@]}" bash -c "$(demo_script)" || return
	if [ -n "$(root_pids)" ]; then
		log "scripts/demo.sh stop left processes running:"
		ps -o pid,args -p "$(root_pids | paste -sd,)"
		failed=demo
		return 1
	fi
	stage suite "${in_root[@]}" bash -c "$(suite_script)"
}

trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
main
