# shellcheck shell=bash
# bench/lib.sh: what the bench scripts share (sourced, not run).

# bench_static_conf DIR PORT: the config of the fast static backend every
# scenario on loopback uses (not a peer): nginx, 1 worker, no logs, files
# from DIR/www, temporary files under DIR/tmp, keep-alive as long as any
# run lasts. Written to DIR/static.conf.
bench_static_conf() {
    local d=$1 port=$2
    mkdir -p "$d/www" "$d/tmp"
    [ -e "$d/www/index.html" ] || echo "static backend" >"$d/www/index.html"
    cat >"$d/static.conf" <<EOC
worker_processes 1;
pid $d/static.pid;
error_log $d/static-error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_body_temp_path $d/tmp/b; proxy_temp_path $d/tmp/p; fastcgi_temp_path $d/tmp/f;
    uwsgi_temp_path $d/tmp/u; scgi_temp_path $d/tmp/s;
    server { listen 127.0.0.1:$port backlog=4096; root $d/www; location / { } }
}
EOC
}
