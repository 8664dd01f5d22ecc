#!/usr/bin/env bash
# Test and demo certificates (never for production).
#
#   certs.sh ca DIR                      DIR/ca.pem + DIR/ca.key (kept if present)
#   certs.sh leaf DIR NAME SAN [SAN...]  DIR/NAME.pem (leaf, then the CA) and
#                                        DIR/NAME.key, signed by DIR/ca.*
# A SAN that looks like an IPv4 address becomes an IP entry, others DNS.
set -euo pipefail

cmd=${1:?usage: certs.sh ca DIR | certs.sh leaf DIR NAME SAN...}
dir=${2:?directory}
mkdir -p "$dir"

case "$cmd" in
ca)
	if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/ca.key" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -days 3650 -subj "/CN=Mobility Test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	fi
	;;
leaf)
	name=${3:?name}
	shift 3
	[ $# -gt 0 ] || { echo "certs.sh: at least one SAN" >&2; exit 2; }
	"$0" ca "$dir"
	san=""
	for s in "$@"; do
		if [[ $s =~ ^[0-9.]+$ ]]; then t="IP:$s"; else t="DNS:$s"; fi
		san="${san:+$san,}$t"
	done
	ext=$(mktemp)
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
		"$san" >"$ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$1" -keyout "$dir/$name.key" \
		-out "$dir/$name.csr" 2>/dev/null
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -days 825 \
		-extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
	cat "$dir/$name.crt" "$dir/ca.pem" >"$dir/$name.pem"
	rm -f "$ext" "$dir/$name.csr" "$dir/$name.crt"
	;;
*)
	echo "certs.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
