#!/usr/bin/env bash
# The chaos suite's long variants (issue 21): the cases of tests/chaos run with a longer fault
# schedule than CI gives them, and repeated. Each case prints its figures (`name value unit`)
# and fails on a history that does not linearize, on lost acknowledged writes, on writes
# acknowledged without an etcd quorum.
#
#   scripts/chaos.sh [SECONDS [ROUNDS [REGEX]]]
#     SECONDS  load per case (default 120; CI runs 12-16)
#     ROUNDS   how many times each case runs (default 3)
#     REGEX    ctest -R filter (default chaos_cluster_it)
# Environment: BUILD (default build/asan) — a build with chaos_cluster_it and berthd built.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-120}
rounds=${2:-3}
regex=${3:-chaos_cluster_it}
build=${BUILD:-build/asan}

[ -x "$build/tests/chaos/chaos_cluster_it" ] || {
  echo "chaos.sh: build it first: ninja -C $build chaos_cluster_it berthd" >&2
  exit 1
}
command -v etcd >/dev/null || { echo "chaos.sh: etcd is missing: run scripts/deps.sh" >&2; exit 1; }

echo "chaos.sh: $rounds rounds, $seconds s of load per case, load average $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp /tmp/berth-chaos-XXXXXX.log)
for round in $(seq 1 "$rounds"); do
  echo "=== round $round (log $log)"
  status=0
  BERTH_CHAOS_SECONDS=$seconds ctest --test-dir "$build" -R "$regex" --output-on-failure -V \
    --timeout $((seconds * 4 + 300)) >"$log" 2>&1 || status=$?
  grep -E '^[0-9]+: (chaos_|  [0-9]+ x )|tests passed|tests failed|Failure' "$log" || true
  [ "$status" -eq 0 ] || { echo "chaos.sh: round $round failed (log $log)" >&2; exit 1; }
done
rm -f "$log"
