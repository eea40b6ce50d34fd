#!/usr/bin/env bash
# User-space instructions per proxied request of the Berth gateway (callgrind's Ir count):
# a deterministic A/B for changes to the request path, where CPU time per request on this
# shared machine swings by ±10–20% between runs. Kernel work (the system calls, loopback
# TCP) is not counted: it does not change with user-space work on the same system calls.
#
#   bench/gateway_instructions.sh [BINARY ...]     (default: build/gateway-rel's berth-gateway)
#   env: SECONDS_MEASURED=8 CONNECTIONS=64
#
# Each binary runs under valgrind with instrumentation off, takes a 2 s wrk warm-up (pools,
# connections), then counts instructions over SECONDS_MEASURED of wrk -c CONNECTIONS in front
# of one NGINX upstream; prints `<name>_instructions_per_request N Ir`. Repeat runs agree
# within about 2% (requests in flight at the edges of the window).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECONDS_MEASURED:-8}
CONNECTIONS=${CONNECTIONS:-64}
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/build/gateway-rel/src/gateway/berth-gateway")
WORK=$(mktemp -d /tmp/berth-bench-gwinstr.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

UP_PORT=$(free_port)
mkdir -p "$WORK/up/www" "$WORK/up/logs"
printf 'hello, world\n' > "$WORK/up/www/index.html"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/up/logs/error.log warn;
pid $WORK/up/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP_PORT reuseport backlog=4096; root $WORK/up/www; location / { index index.html; } }
}
CONF
nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' 2>/dev/null &
PIDS+=($!)
cat > "$WORK/routes.yaml" <<CONF
routes:
  - name: all
    match: {prefix: /}
    upstreams: ["127.0.0.1:$UP_PORT"]
    circuit_breakers: {max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}
CONF

for bin in "${BINS[@]}"; do
  name=$(basename "$bin")
  port=$(free_port)
  out="$WORK/callgrind-$name"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" \
    --config "$WORK/routes.yaml" --listen "127.0.0.1:$port" --workers 1 \
    --idle-timeout-ms 300000 >"$WORK/$name.log" 2>&1 &
  vpid=$!
  PIDS+=($vpid)
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
  wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null
  callgrind_control -i on "$vpid" >/dev/null 2>&1
  result=$(wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" "http://127.0.0.1:$port/")
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' <<<"$result")
  ir=$(cat "$out".* 2>/dev/null | awk '/^(summary|totals):/ {print $2}' | sort -n | tail -1)
  echo "# $name: $requests requests, $ir instructions"
  echo "${name//-/_}_instructions_per_request $(awk -v a="$ir" -v b="$requests" 'BEGIN { printf "%.0f", a / b }') Ir"
done
