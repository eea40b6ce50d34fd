#!/usr/bin/env bash
# Deploys the demo shop on a running `berthd dev` (as root, with its node agent): builds one
# image per service with `berth image build`, applies examples/shop/app.yaml (the
# orchestrator places the replicas, the agent runs and probes them, ready ones join the
# registry, each `expose` becomes a gateway route), waits for every service's rollout, and
# checks the answer through the gateway.
# Usage: examples/shop/deploy.sh BIN_DIR   (BIN_DIR holds berth; the shop-* binaries are in
#        BIN_DIR/../../examples/shop). Needs BERTH_ADDR and BERTH_TOKEN.
set -euo pipefail
bin=${1:?usage: deploy.sh BIN_DIR}
berth="$bin/berth"
svc_bin="$bin/../../examples/shop"
here=$(cd "$(dirname "$0")" && pwd)
gateway=${BERTH_GATEWAY:-127.0.0.1:8080}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for svc in api web worker; do
  mkdir -p "$work/$svc/bin"
  cp "$svc_bin/shop-$svc" "$work/$svc/"
  # A shell for `berth exec` and the console's terminal: busybox (Debian's busybox-static).
  if [ -x /bin/busybox ]; then
    cp /bin/busybox "$work/$svc/bin/busybox"
    for applet in sh ls cat ps env; do ln -s busybox "$work/$svc/bin/$applet"; done
  fi
  "$berth" image build "$work/$svc" -t "shop-$svc:v1" --entrypoint "/shop-$svc" >/dev/null
done

"$berth" apply -f "$here/app.yaml"
for svc in api web worker; do
  timeout 180 "$berth" rollout status "shop/shop/$svc" --watch
done

for _ in $(seq 1 150); do
  if curl -fsS "http://$gateway/api/products" >/dev/null 2>&1 && \
     curl -fsS "http://$gateway/" 2>/dev/null | grep -q anchor; then
    break
  fi
  sleep 0.2
done
"$berth" get instances -n shop
echo
echo "The shop answers through the gateway:"
echo "  curl http://$gateway/              # web front (calls the API through the gateway)"
echo "  curl http://$gateway/api/products  # product API"
echo
echo "\$ curl -s http://$gateway/api/products"
curl -fsS "http://$gateway/api/products"
