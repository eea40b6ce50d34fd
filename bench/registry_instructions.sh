#!/usr/bin/env bash
# User-space instructions per registration of the registry's control plane (callgrind's Ir
# count, every thread): a deterministic A/B for changes to the registration path, where the
# registrations/s of bench_registry swing by ±20% between runs on this shared machine.
# Kernel work (system calls, loopback TCP, fsync) is not counted.
#
#   bench/registry_instructions.sh [BENCH_REGISTRY_BINARY ...]
#       (default: build/release/bench/bench_registry)
#   env: SECONDS_MEASURED=10 CONNECTIONS=32
#
# Each binary's `serve` mode (the control plane of bench_registry: durable sqlite store,
# registry component, REST API with token auth and audit) runs under valgrind with
# instrumentation off; wrk PUTs registrations like bench_registry's (32 connections,
# /v1/registry/bench/svc{c}/i{n % 500}, a 2 s warm-up first), then instructions are counted
# over SECONDS_MEASURED. Prints `<name>_instructions_per_registration N Ir`, and the same
# without the periodic Registry::Sweep (see below). Group commit
# makes the count depend a little on how many writes share a batch (a few %).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECONDS_MEASURED:-10}
CONNECTIONS=${CONNECTIONS:-32}
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/build/release/bench/bench_registry")
WORK=$(mktemp -d /tmp/berth-bench-reginstr.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/put.lua" <<'LUA'
local n = 0
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BERTH_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  local path = string.format("/v1/registry/bench/svc%d/i%d", n % 32, math.floor(n / 32) % 500)
  local body = string.format(
    '{"address":"10.%d.%d.%d","port":%d,"tags":["v1","bench"],"metadata":{"zone":"a"}}',
    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256, 1 + n % 60000)
  return wrk.format("PUT", path, nil, body)
end
function response(status, headers, body)
  if status ~= 200 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
end
LUA

for bin in "${BINS[@]}"; do
  name=$(basename "$bin")
  name=${name//[-.]/_}
  mkdir -p "$WORK/$name"
  out="$WORK/callgrind-$name"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" \
    serve "$WORK/$name" "$WORK/$name.info" >"$WORK/$name.log" 2>&1 &
  vpid=$!
  PIDS+=($vpid)
  for _ in $(seq 1 300); do [ -f "$WORK/$name.info" ] && break; sleep 0.2; done
  port=$(sed -n 1p "$WORK/$name.info")
  export BERTH_TOKEN=$(sed -n 2p "$WORK/$name.info")
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/put.lua" "http://127.0.0.1:$port/" >/dev/null
  callgrind_control -i on "$vpid" >/dev/null 2>&1
  result=$(wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" -s "$WORK/put.lua" "http://127.0.0.1:$port/")
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' <<<"$result")
  ir=$(cat "$out".* 2>/dev/null | awk '/^(summary|totals):/ {print $2}' | sort -n | tail -1)
  if [ -n "${KEEP_PROFILE:-}" ]; then cp "$out".* "$KEEP_PROFILE" 2>/dev/null || true; fi
  # The health leader's Sweep runs once a second whatever the load; under valgrind a second
  # holds ~25x fewer registrations than natively, so it is also printed left out (its
  # inclusive count: the largest of its entries, which callgrind splits by source path).
  sweep=$(callgrind_annotate --inclusive=yes "$out".* 2>/dev/null |
    awk '/Registry::Sweep\(\)/ {gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0} END {print max + 0}' ||
    true)
  sweep=${sweep:-0}
  echo "# $name: $requests registrations, $ir instructions ($sweep in Registry::Sweep)"
  echo "${name}_instructions_per_registration $(awk -v a="$ir" -v b="$requests" 'BEGIN { printf "%.0f", a / b }') Ir"
  echo "${name}_instructions_per_registration_without_sweep $(awk -v a="$ir" -v s="$sweep" -v b="$requests" 'BEGIN { printf "%.0f", (a - s) / b }') Ir"
done
