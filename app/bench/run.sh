#!/usr/bin/env bash
# Throughput and latency of the shop's hot routes, side by side with nginx serving the same JSON bodies as
# static files, under wrk at 64 connections. The servers run in alternation for several rounds and the
# table shows per-round medians, so a load change on a shared machine hits both sides alike. Prints a
# markdown table; everything runs on loopback and is stopped on exit.
# Usage: app/bench/run.sh [seconds per run, default 10] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
rounds=${2:-3}
connections=64
threads=2

for tool in wrk nginx redis-server curl; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx workers run as an unprivileged user when started as root
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

cargo build --release -q -p herd-shop
bin=target/release/herd-shop

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
pids+=($!)
shop_port=$(free_port)
PORT=$shop_port BIND_ADDRESS=127.0.0.1 REDIS_URL="redis://127.0.0.1:$redis_port/" POD_NAME=bench \
  JWT_SECRET=bench-secret-bench-secret-bench-secret RUST_LOG=warn "$bin" 2>"$tmp/shop.log" &
shop_pid=$!
pids+=($shop_pid)
shop="http://127.0.0.1:$shop_port"
for _ in $(seq 100); do curl -sf "$shop/readyz" >/dev/null && break; sleep 0.1; done

token=$(curl -sf "$shop/login" -H 'content-type: application/json' \
  -d '{"username":"alice","password":"wonderland-42"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
for id in 3 17 42 99 150; do
  curl -sf "$shop/cart/items" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"productId\":$id,\"quantity\":2}" >/dev/null
done
catalog_path="/products?category=books"
mkdir -p "$tmp/www"
curl -sf "$shop$catalog_path" >"$tmp/www/catalog.json"
curl -sf "$shop/cart" -H "authorization: Bearer $token" >"$tmp/www/cart.json"

nginx_port=$(free_port)
cat >"$tmp/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    default_type application/json;
    location = /products { alias $tmp/www/catalog.json; }
    location = /cart { alias $tmp/www/cart.json; }
  }
}
CONF
nginx -e "$tmp/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
nginx="http://127.0.0.1:$nginx_port"
for _ in $(seq 50); do curl -sf "$nginx/cart" >/dev/null && break; sleep 0.1; done
cmp -s <(curl -sf "$nginx$catalog_path") "$tmp/www/catalog.json" || { echo "nginx serves a different body" >&2; exit 1; }

# wrk --latency prints "50%  1.23ms" lines; convert to milliseconds.
to_ms() { python3 -c 'import sys,re; v,u=re.match(r"([\d.]+)(us|ms|s)",sys.argv[1]).groups(); print(round(float(v)*{"us":0.001,"ms":1,"s":1000}[u],2))' "$1"; }
declare -A rps p50 p99
median() { python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 2))' "$@"; }
run() { # name url [header]: appends this run's numbers to the name's lists
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t$threads -c$connections -d"${duration}s" --latency -H "$3" "$2"); else
    out=$(wrk -t$threads -c$connections -d"${duration}s" --latency "$2"); fi
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: wrk saw non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
  rps[$1]+=" $(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50[$1]+=" $(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")"
  p99[$1]+=" $(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")"
}
wrk -t1 -c8 -d2s "$shop$catalog_path" >/dev/null # warm-up
for _ in $(seq "$rounds"); do
  run nginx-catalog "$nginx$catalog_path"
  run shop-catalog "$shop$catalog_path"
  run nginx-cart "$nginx/cart"
  run shop-cart "$shop/cart" "authorization: Bearer $token"
done
peak_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$shop_pid/status")

# Median of the per-round ratios: each round's two runs saw the same machine load.
ratio() { python3 -c 'import statistics,sys; a,b=sys.argv[1].split(),sys.argv[2].split(); print(f"{statistics.median(float(x)/float(y) for x,y in zip(a,b)):.2f}")' "$1" "$2"; }
echo "wrk -t$threads -c$connections -d${duration}s, $rounds alternating rounds (medians); body sizes: catalog $(wc -c <"$tmp/www/catalog.json") B, cart $(wc -c <"$tmp/www/cart.json") B; $(nproc) cores"
echo
echo "| route | server | requests/s | p50 ms | p99 ms | shop/nginx throughput |"
echo "|---|---|---:|---:|---:|---:|"
for route in catalog cart; do
  for server in nginx shop; do
    key=$server-$route
    label=$([ "$server" = nginx ] && echo "nginx (static file)" || echo herd-shop)
    r=$([ "$server" = shop ] && ratio "${rps[$key]}" "${rps[nginx-$route]}" || true)
    # shellcheck disable=SC2086 # the lists are space-separated on purpose
    echo "| $route | $label | $(median ${rps[$key]}) | $(median ${p50[$key]}) | $(median ${p99[$key]}) | $r |"
  done
done
echo
echo "per-round shop/nginx: catalog $(python3 -c 'import sys; a,b=sys.argv[1].split(),sys.argv[2].split(); print(" ".join(f"{float(x)/float(y):.2f}" for x,y in zip(a,b)))' "${rps[shop-catalog]}" "${rps[nginx-catalog]}")"
echo "herd-shop peak resident memory (VmHWM): $((peak_rss_kib / 1024)) MiB ($peak_rss_kib KiB)"
