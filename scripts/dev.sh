#!/usr/bin/env bash
# Builds Berth (release) and runs `berthd dev`: control plane, node agent, registry DNS and
# gateway in one process over the embedded store; then deploys the demo shop
# (examples/shop) with `berth apply`: containers placed by the orchestrator, registered in the
# registry, routed by the gateway; and shows a request answering through it.
# Ctrl-C (or SIGTERM) stops berthd cleanly; containers keep running (a restarted berthd dev
# adopts them); `berth delete app shop/shop` removes the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target berthd berth shop-api shop-web shop-worker

bin=build/release/src/cmd
data_dir=${BERTH_DATA_DIR:-/var/lib/berth}
api=${BERTH_API:-127.0.0.1:7700}
mkdir -p "$data_dir"
gateway=${BERTH_GATEWAY:-127.0.0.1:8080}
"$bin/berthd" dev --data-dir "$data_dir" --api "$api" --gateway "$gateway" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 1 100); do
  curl -fsS "http://$api/v1/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "berthd exited; see the log above" >&2; exit 1; }
  sleep 0.1
done

export BERTH_ADDR="http://$api" BERTH_TOKEN="$(cat "$data_dir/admin.token")"
"$bin/berth" status
if [ "$(id -u)" = 0 ]; then
  BERTH_GATEWAY=$gateway examples/shop/deploy.sh "$bin"
else
  echo "not root: the node agent is off, so the demo containers are not deployed"
fi
cat <<EOM

berthd dev is running (pid $pid). In another shell:
  export BERTH_ADDR=$BERTH_ADDR BERTH_TOKEN=\$(cat $data_dir/admin.token)
  $bin/berth get instances -n shop -o wide && $bin/berth describe app shop/shop
Ctrl-C stops it.
EOM
wait $pid
