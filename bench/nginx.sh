# Sourced by the benchmarks that start nginx as a peer (bench/http_bench.sh,
# bench/push_bench.sh).
#
# nginx_conf DIR CPU HTTP: writes DIR/nginx.conf: one worker pinned to CPU
# (the master is idle), pid, logs and temporary files under DIR, no access
# log, unlimited keep-alive requests, and HTTP (server blocks and settings)
# inside http { }.
nginx_conf() {
	local dir=$1 cpu=$2 http=$3 mask=1 i
	for ((i = 0; i < cpu; i++)); do mask+=0; done
	mkdir -p "$dir/logs"
	cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity $mask;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	keepalive_timeout 600;
	keepalive_requests 100000000;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
$http
}
EOF
}
