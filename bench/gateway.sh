#!/usr/bin/env bash
# Gateway benchmark: Berth's gateway against NGINX and HAProxy, each with ONE worker, in front
# of one fast upstream (NGINX serving a small static body), driven by wrk with the same
# connections and duration. Prints `name value unit` lines (DESIGN.md, Testing).
#
#   bench/gateway.sh [throughput|reload|idle|h2|grpc|all]     (default: all)
#   env: DURATION=10s CONNECTIONS=64 THREADS=1 ROUNDS=3 IDLE_CONNECTIONS=10000 BUILD=1
#        H2_CONNECTIONS=16 H2_STREAMS=10 (h2load -c/-m for the h2 and grpc rounds)
#        BUILD_DIR=build/release BERTH_BIN=<berth-gateway to measure (default: BUILD_DIR's)>
#        BASELINE_BIN=<another berth-gateway, e.g. main's before a change: measured in the
#                      same rounds right before BERTH_BIN, printed as base_* with the ratio>
#
# throughput  req/s and p99 for direct-to-upstream (the ceiling), nginx, haproxy, berth;
#             berth's ratios to nginx and haproxy. ROUNDS rounds, each running the four one
#             after the other, so that all of them meet the same background load; the
#             figures are medians over the rounds (each round is printed as a comment).
#             Also each one's CPU time per request (user+system of the proxy's processes,
#             or of the upstream for direct), which background load disturbs less.
# reload      berth with its route table replaced every 100 ms (config rewritten + SIGHUP)
#             during the run: failed requests (must be 0).
# idle        IDLE_CONNECTIONS idle keep-alive client connections held on each proxy:
#             each one's resident memory.
# h2          HTTP/2 clients (h2load, prior-knowledge h2c, H2_CONNECTIONS connections with
#             H2_STREAMS streams each) through nginx (listen ... http2) and berth to the same
#             HTTP/1.1 upstream: req/s, p99 (from h2load's per-request log), CPU per request;
#             ROUNDS interleaved rounds, medians.
# grpc        unary gRPC calls (h2load posting one gRPC frame to /berth.test.Echo/Unary)
#             through nginx (grpc_pass) and berth (upstream_protocol: h2c) to one
#             grpc_echo_server (tests/grpc); same figures. h2load checks the HTTP status only
#             (a gRPC error is a 200 with grpc-status in the trailers): tests/grpc/grpc_it
#             checks the status passing.
set -euo pipefail
MODE=${1:-all}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/release}
BASELINE=${BASELINE_BIN:-}
WORK=$(mktemp -d /tmp/berth-bench-gateway.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as nobody
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Within the 20000 hard limit: 10k client sockets in the idle client, 10k + upstream in a proxy.
ulimit -n "$(ulimit -Hn)"

if [ "${BUILD:-1}" = 1 ]; then
  # The release preset's cache variables, in the gateway's own build dir; only the targets needed.
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-O2 -g1" >/dev/null
  ninja -C "$BUILD_DIR" -j2 berth-gateway grpc_echo_server >/dev/null
fi
BERTH=${BERTH_BIN:-$BUILD_DIR/src/gateway/berth-gateway}
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
trap 'echo "# load average at end: $(cut -d" " -f1-3 /proc/loadavg)"; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
rss_kb() {  # resident memory of a process and its children, in KiB
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)))
  done
  echo "$total"
}

UP_PORT=$(free_port); NGINX_PORT=$(free_port); HAPROXY_PORT=$(free_port); BERTH_PORT=$(free_port)
BASE_PORT=$(free_port)

# --- the upstream: nginx, one worker, a 13-byte static body
mkdir -p "$WORK/up/www" "$WORK/up/logs" "$WORK/nginx/logs"
printf 'hello, world\n' > "$WORK/up/www/index.html"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $WORK/up/logs/error.log warn;
pid $WORK/up/nginx.pid;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP_PORT reuseport backlog=4096; root $WORK/up/www; location / { index index.html; } }
}
CONF
nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' 2>/dev/null &
UP_PID=$!; PIDS+=($UP_PID)

# --- NGINX as the proxy: one worker, keep-alive to the upstream
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>/dev/null &
NGINX_PID=$!; PIDS+=($NGINX_PID)

# --- HAProxy: one thread, connection reuse to the upstream
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  # maxsock = 2 * maxconn + 14 must fit the 20000 open-files hard limit: HAProxy can hold
  # at most 9990 client connections here (reported by haproxy_idle_ok).
  maxconn 9990
  ulimit-n 20000
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
frontend f
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend b
backend b
  server up 127.0.0.1:$UP_PORT
CONF
haproxy -f "$WORK/haproxy.cfg" -db 2>/dev/null &
HAPROXY_PID=$!; PIDS+=($HAPROXY_PID)

# --- Berth: one worker
cat > "$WORK/routes.yaml" <<CONF
routes:
  - name: all
    match: {prefix: /}
    upstreams: ["127.0.0.1:$UP_PORT"]
    # no lower limits than the peers have (their defaults queue without bound)
    circuit_breakers: {max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}
CONF
"$BERTH" --config "$WORK/routes.yaml" --listen "127.0.0.1:$BERTH_PORT" --workers 1 \
  --idle-timeout-ms 300000 >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!; PIDS+=($BERTH_PID)
PORTS="$UP_PORT $NGINX_PORT $HAPROXY_PORT $BERTH_PORT"
if [ -n "$BASELINE" ]; then
  "$BASELINE" --config "$WORK/routes.yaml" --listen "127.0.0.1:$BASE_PORT" --workers 1 \
    --idle-timeout-ms 300000 >"$WORK/base.log" 2>&1 &
  BASE_PID=$!; PIDS+=($BASE_PID)
  PORTS="$PORTS $BASE_PORT"
fi

for p in $PORTS; do wait_port "$p"; done
for p in $PORTS; do
  curl -sf "http://127.0.0.1:$p/" >/dev/null || { echo "port $p does not answer (upstream $UP_PORT nginx $NGINX_PORT haproxy $HAPROXY_PORT berth $BERTH_PORT)" >&2; cat "$WORK"/*/logs/error.log "$WORK/berth.log" >&2; exit 1; }
done

# CPU ticks (user+system) of processes and their children.
cpu_ticks() {
  local t=0 p q
  for p in "$@"; do
    [ -n "$p" ] || continue
    for q in $p $(pgrep -P "$p" || true); do
      t=$((t + $(awk '{print $14 + $15}' /proc/"$q"/stat 2>/dev/null || echo 0)))
    done
  done
  echo "$t"
}
# run_wrk PORT [PID] -> "rps p99_ms non2xx errors cpu_us_per_request" (cpu of PID's processes)
run_wrk() {
  local out t0 t1 reqs cpu=nan
  t0=$(cpu_ticks "${2:-}")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/")
  t1=$(cpu_ticks "${2:-}")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  if [ -n "${2:-}" ] && [ "${reqs:-0}" -gt 0 ]; then
    cpu=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
  fi
  echo "$out" > "$WORK/wrk-$1.txt"
  local rps p99 non2xx errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out"); errors=${errors:-0}
  echo "$rps $p99 $non2xx $errors $cpu"
  cp "$WORK/wrk-$1.txt" "$WORK/wrk-$1-$(date +%s%N).txt"
}
median() { tr ' ' '\n' <<<"$*" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }

if [ "$MODE" = throughput ] || [ "$MODE" = all ]; then
  echo "# throughput: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, ${ROUNDS:-3} rounds (medians), one worker each, upstream nginx static 13 B"
  wrk -t1 -c16 -d2s "http://127.0.0.1:$BERTH_PORT/" >/dev/null  # warm-up (pools)
  [ -n "$BASELINE" ] && wrk -t1 -c16 -d2s "http://127.0.0.1:$BASE_PORT/" >/dev/null
  declare -A V
  for r in $(seq 1 "${ROUNDS:-3}"); do
    read -r d_rps d_p99 _ _ d_cpu < <(run_wrk "$UP_PORT" "$UP_PID")
    read -r n_rps n_p99 n_bad n_err n_cpu < <(run_wrk "$NGINX_PORT" "$NGINX_PID")
    read -r h_rps h_p99 h_bad h_err h_cpu < <(run_wrk "$HAPROXY_PORT" "$HAPROXY_PID")
    if [ -n "$BASELINE" ]; then
      read -r a_rps a_p99 _ _ a_cpu < <(run_wrk "$BASE_PORT" "$BASE_PID")
      V[A_RPS]+=" $a_rps"; V[A_P99]+=" $a_p99"; V[A_CPU]+=" $a_cpu"
      echo "# round $r baseline: req/s $a_rps p99 ms $a_p99 cpu us/req $a_cpu"
    fi
    read -r b_rps b_p99 b_bad b_err b_cpu < <(run_wrk "$BERTH_PORT" "$BERTH_PID")
    echo "# round $r: req/s direct $d_rps nginx $n_rps haproxy $h_rps berth $b_rps; p99 ms nginx $n_p99 haproxy $h_p99 berth $b_p99; cpu us/req upstream $d_cpu nginx $n_cpu haproxy $h_cpu berth $b_cpu; load $(cut -d' ' -f1 /proc/loadavg)"
    V[D_RPS]+=" $d_rps"; V[D_P99]+=" $d_p99"; V[D_CPU]+=" $d_cpu"
    V[N_RPS]+=" $n_rps"; V[N_P99]+=" $n_p99"; V[N_CPU]+=" $n_cpu"
    V[H_RPS]+=" $h_rps"; V[H_P99]+=" $h_p99"; V[H_CPU]+=" $h_cpu"
    V[B_RPS]+=" $b_rps"; V[B_P99]+=" $b_p99"; V[B_CPU]+=" $b_cpu"
    V[B_ERRS]=$(( ${V[B_ERRS]:-0} + b_bad + b_err ))
  done
  D_RPS=$(median ${V[D_RPS]}); D_P99=$(median ${V[D_P99]}); D_CPU=$(median ${V[D_CPU]})
  N_RPS=$(median ${V[N_RPS]}); N_P99=$(median ${V[N_P99]}); N_CPU=$(median ${V[N_CPU]})
  H_RPS=$(median ${V[H_RPS]}); H_P99=$(median ${V[H_P99]}); H_CPU=$(median ${V[H_CPU]})
  B_RPS=$(median ${V[B_RPS]}); B_P99=$(median ${V[B_P99]}); B_CPU=$(median ${V[B_CPU]})
  echo "direct_rps $D_RPS req/s"
  echo "direct_p99 $D_P99 ms"
  echo "nginx_rps $N_RPS req/s"
  echo "nginx_p99 $N_P99 ms"
  echo "haproxy_rps $H_RPS req/s"
  echo "haproxy_p99 $H_P99 ms"
  echo "berth_rps $B_RPS req/s"
  echo "berth_p99 $B_P99 ms"
  echo "upstream_cpu_per_request $D_CPU us"
  echo "nginx_cpu_per_request $N_CPU us"
  echo "haproxy_cpu_per_request $H_CPU us"
  echo "berth_cpu_per_request $B_CPU us"
  echo "berth_errors ${V[B_ERRS]} requests"
  echo "berth_vs_nginx_rps $(ratio "$B_RPS" "$N_RPS") x"
  echo "berth_vs_haproxy_rps $(ratio "$B_RPS" "$H_RPS") x"
  echo "berth_vs_nginx_p99 $(ratio "$B_P99" "$N_P99") x"
  echo "berth_vs_haproxy_p99 $(ratio "$B_P99" "$H_P99") x"
  echo "berth_vs_direct_rps $(ratio "$B_RPS" "$D_RPS") x"
  echo "berth_vs_nginx_cpu_per_request $(ratio "$B_CPU" "$N_CPU") x"
  if [ -n "$BASELINE" ]; then
    A_RPS=$(median ${V[A_RPS]}); A_P99=$(median ${V[A_P99]}); A_CPU=$(median ${V[A_CPU]})
    echo "base_rps $A_RPS req/s"
    echo "base_p99 $A_P99 ms"
    echo "base_cpu_per_request $A_CPU us"
    echo "base_vs_nginx_rps $(ratio "$A_RPS" "$N_RPS") x"
    echo "berth_vs_base_rps $(ratio "$B_RPS" "$A_RPS") x"
    echo "berth_vs_base_cpu_per_request $(ratio "$B_CPU" "$A_CPU") x"
  fi
fi

if [ "$MODE" = reload ] || [ "$MODE" = all ]; then
  echo "# reload: berth's route table replaced every 100 ms during wrk -c$CONNECTIONS -d$DURATION"
  cp "$WORK/routes.yaml" "$WORK/routes-a.yaml"
  cat > "$WORK/routes-b.yaml" <<CONF
services:
  up:
    endpoints: ["127.0.0.1:$UP_PORT"]
    lb: least_request
    circuit_breakers: {max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}
routes:
  - {name: other, match: {prefix: /other}, upstreams: ["127.0.0.1:$UP_PORT"]}
  - {name: all-b, match: {prefix: /}, service: up}
CONF
  ( # builtins only (printf, kill) besides mv and sleep: forks are slow on a loaded machine
    A=$(<"$WORK/routes-a.yaml"); B=$(<"$WORK/routes-b.yaml"); i=0
    while [ ! -e "$WORK/stop-reloading" ]; do
      if [ $((i % 2)) = 0 ]; then printf '%s\n' "$B" > "$WORK/routes.yaml.tmp"; else printf '%s\n' "$A" > "$WORK/routes.yaml.tmp"; fi
      mv "$WORK/routes.yaml.tmp" "$WORK/routes.yaml"
      kill -HUP "$BERTH_PID"
      i=$((i + 1)); printf '%s\n' "$i" > "$WORK/reloads"
      sleep 0.1
    done
  ) &
  RELOADER=$!
  read -r R_RPS R_P99 R_BAD R_ERR _ < <(run_wrk "$BERTH_PORT")
  touch "$WORK/stop-reloading"; wait "$RELOADER" || true
  echo "berth_reload_count $(cat "$WORK/reloads") reloads"
  echo "berth_reload_rps $R_RPS req/s"
  echo "berth_reload_p99 $R_P99 ms"
  echo "berth_reload_failed_requests $((R_BAD + R_ERR)) requests"
fi

if [ "$MODE" = idle ] || [ "$MODE" = all ]; then
  echo "# idle: $IDLE_CONNECTIONS idle keep-alive connections (one request each, then held)"
  hold_idle() {  # port -> holds connections until $WORK/release-$port exists
    python3 - "$1" "$IDLE_CONNECTIONS" "$WORK/held-$1" "$WORK/release-$1" <<'PY'
import os, resource, socket, sys, time
port, n, held, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
ok = 0
deadline = time.time() + 60
for s in socks:  # one response each: head, then Content-Length bytes
    # A proxy that never accepted a connection (over its maxconn) never answers it.
    remaining = deadline - time.time()
    if remaining <= 0: break
    s.settimeout(remaining)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length": length = int(v)
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk: break
            body += chunk
    except socket.timeout:
        break
    ok += head.startswith(b"HTTP/1.1 200")
open(held, "w").write(str(ok))
while not os.path.exists(release):
    time.sleep(0.1)
PY
  }
  TARGETS=("nginx $NGINX_PORT $NGINX_PID" "haproxy $HAPROXY_PORT $HAPROXY_PID")
  [ -n "$BASELINE" ] && TARGETS+=("base $BASE_PORT $BASE_PID")
  TARGETS+=("berth $BERTH_PORT $BERTH_PID")
  for target in "${TARGETS[@]}"; do
    read -r name port pid <<<"$target"
    before=$(rss_kb "$pid")
    hold_idle "$port" &
    holder=$!
    for _ in $(seq 1 1200); do [ -e "$WORK/held-$port" ] && break; sleep 0.1; done
    sleep 0.5
    after=$(rss_kb "$pid")
    echo "${name}_idle_ok $(cat "$WORK/held-$port" 2>/dev/null || echo 0) connections"
    echo "${name}_idle_rss $((after / 1024)) MiB"
    echo "${name}_idle_rss_growth $(((after - before) / 1024)) MiB"
    touch "$WORK/release-$port"; wait "$holder" || true
  done
fi

# --- HTTP/2 and gRPC: h2load against nginx and berth, interleaved rounds
# run_h2load PORT PID PATH [h2load args...] -> "rps p99_ms failed cpu_us_per_request"
run_h2load() {
  local port=$1 pid=$2 path=$3 out t0 t1 done_ cpu=nan log="$WORK/h2load-$1.log"
  shift 3
  rm -f "$log"
  t0=$(cpu_ticks "$pid")
  out=$(h2load -t1 -c"${H2_CONNECTIONS:-16}" -m"${H2_STREAMS:-10}" -D "${DURATION%s}" \
    --warm-up-time=1 --log-file="$log" "$@" "http://127.0.0.1:$port$path" 2>&1)
  t1=$(cpu_ticks "$pid")
  done_=$(awk '/^requests:/ {print $8}' <<<"$out")
  local rps failed p99
  rps=$(awk '/^finished in/ {gsub(",",""); print $4}' <<<"$out")
  failed=$(awk '/^requests:/ {f = $10 + $12 + $14} /^status codes:/ {f += $7 + $9} END {print f + 0}' <<<"$out")
  # the log: start time, status, duration in us, per request
  p99=$(awk '{print $3}' "$log" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 } }')
  if [ "${done_:-0}" -gt 0 ]; then
    cpu=$(awk -v d=$((t1 - t0)) -v n="$done_" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
  fi
  echo "$out" > "$WORK/h2load-$port-$(date +%s%N).txt"
  echo "${rps:-0} ${p99:-nan} ${failed:-0} $cpu"
}

h2_rounds() {  # name nginx_port berth_port path [h2load args...]
  local name=$1 np=$2 bp=$3 path=$4 r
  shift 4
  local NR="" NP="" NC="" BR="" BP="" BC="" FAILED=0
  h2load -t1 -c4 -m4 -n 2000 "$@" "http://127.0.0.1:$bp$path" >/dev/null 2>&1 || true  # warm-up
  for r in $(seq 1 "${ROUNDS:-3}"); do
    read -r n_rps n_p99 n_bad n_cpu < <(run_h2load "$np" "$H2_NGINX_PID" "$path" "$@")
    read -r b_rps b_p99 b_bad b_cpu < <(run_h2load "$bp" "$H2_BERTH_PID" "$path" "$@")
    echo "# $name round $r: req/s nginx $n_rps berth $b_rps; p99 ms nginx $n_p99 berth $b_p99; cpu us/req nginx $n_cpu berth $b_cpu; failed nginx $n_bad berth $b_bad; load $(cut -d' ' -f1 /proc/loadavg)"
    NR+=" $n_rps"; NP+=" $n_p99"; NC+=" $n_cpu"; BR+=" $b_rps"; BP+=" $b_p99"; BC+=" $b_cpu"
    FAILED=$((FAILED + b_bad))
  done
  local nr np_ nc br bp_ bc
  nr=$(median $NR); np_=$(median $NP); nc=$(median $NC); br=$(median $BR); bp_=$(median $BP); bc=$(median $BC)
  echo "nginx_${name}_rps $nr req/s"
  echo "nginx_${name}_p99 $np_ ms"
  echo "nginx_${name}_cpu_per_request $nc us"
  echo "berth_${name}_rps $br req/s"
  echo "berth_${name}_p99 $bp_ ms"
  echo "berth_${name}_cpu_per_request $bc us"
  echo "berth_${name}_failed $FAILED requests"
  echo "berth_vs_nginx_${name}_rps $(ratio "$br" "$nr") x"
  echo "berth_vs_nginx_${name}_p99 $(ratio "$bp_" "$np_") x"
  echo "berth_vs_nginx_${name}_cpu_per_request $(ratio "$bc" "$nc") x"
}

if [ "$MODE" = h2 ] || [ "$MODE" = grpc ] || [ "$MODE" = all ]; then
  command -v h2load >/dev/null || { echo "h2load missing: scripts/deps.sh installs nghttp2-client" >&2; exit 1; }
  H2_NGINX_PORT=$(free_port); H2_BERTH_PORT=$(free_port); GRPC_PORT=$(free_port)
  GRPC_NGINX_PORT=$(free_port); GRPC_BERTH_PORT=$(free_port)
  GRPC_SERVER=${GRPC_SERVER:-$BUILD_DIR/tests/grpc/grpc_echo_server}
  "$GRPC_SERVER" --port "$GRPC_PORT" --name bench >"$WORK/grpc.log" 2>&1 &
  PIDS+=($!)
  mkdir -p "$WORK/nginx-h2/logs"
  cat > "$WORK/nginx-h2/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $WORK/nginx-h2/logs/error.log warn;
pid $WORK/nginx-h2/nginx.pid;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  http2_max_requests 10000000;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; }
  upstream grpc_up { server 127.0.0.1:$GRPC_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$H2_NGINX_PORT http2 backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$GRPC_NGINX_PORT http2 backlog=4096;
    location / { grpc_pass grpc://grpc_up; }
  }
}
CONF
  nginx -p "$WORK/nginx-h2" -c "$WORK/nginx-h2/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx-h2/stderr" &
  H2_NGINX_PID=$!; PIDS+=($H2_NGINX_PID)
  cat > "$WORK/routes-h2.yaml" <<CONF
routes:
  - name: grpc
    match: {prefix: /berth.test.Echo/}
    upstreams: ["127.0.0.1:$GRPC_PORT"]
    upstream_protocol: h2c
    circuit_breakers: {max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}
  - name: all
    match: {prefix: /}
    upstreams: ["127.0.0.1:$UP_PORT"]
    circuit_breakers: {max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}
CONF
  # One berth process, one worker, serving both (nginx's one worker serves both too).
  "$BERTH" --config "$WORK/routes-h2.yaml" --listen "127.0.0.1:$H2_BERTH_PORT" --workers 1 \
    --idle-timeout-ms 300000 >"$WORK/berth-h2.log" 2>&1 &
  H2_BERTH_PID=$!; PIDS+=($H2_BERTH_PID)
  GRPC_BERTH_PORT=$H2_BERTH_PORT
  for p in "$GRPC_PORT" "$H2_NGINX_PORT" "$H2_BERTH_PORT" "$GRPC_NGINX_PORT"; do wait_port "$p"; done
  for p in "$H2_NGINX_PORT" "$H2_BERTH_PORT"; do
    curl -sf --http2-prior-knowledge "http://127.0.0.1:$p/" >/dev/null || { echo "h2c on port $p does not answer" >&2; cat "$WORK/nginx-h2/logs/error.log" "$WORK/berth-h2.log" >&2; exit 1; }
  done
fi

if [ "$MODE" = h2 ] || [ "$MODE" = all ]; then
  echo "# h2: h2load -c${H2_CONNECTIONS:-16} -m${H2_STREAMS:-10} -D ${DURATION%s}s (h2c prior knowledge), ${ROUNDS:-3} rounds (medians), one worker each, upstream nginx static 13 B over HTTP/1.1"
  h2_rounds h2 "$H2_NGINX_PORT" "$H2_BERTH_PORT" /
fi

if [ "$MODE" = grpc ] || [ "$MODE" = all ]; then
  # One unary call's request: a gRPC frame (uncompressed, 4-byte length) around EchoRequest
  # {message: "hello, world"} (field 1, wire type 2).
  printf '\x00\x00\x00\x00\x0e\x0a\x0chello, world' > "$WORK/grpc-unary.bin"
  GRPC_ARGS=(-d "$WORK/grpc-unary.bin" -H 'content-type: application/grpc' -H 'te: trailers')
  echo "# grpc: h2load unary /berth.test.Echo/Unary -c${H2_CONNECTIONS:-16} -m${H2_STREAMS:-10} -D ${DURATION%s}s, ${ROUNDS:-3} rounds (medians), one worker each, upstream grpc_echo_server (h2c)"
  h2_rounds grpc "$GRPC_NGINX_PORT" "$GRPC_BERTH_PORT" /berth.test.Echo/Unary "${GRPC_ARGS[@]}"
fi
