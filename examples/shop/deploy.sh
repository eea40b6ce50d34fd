#!/usr/bin/env bash
# Deploys the demo shop on a running `berthd dev` (as root, with the node agent): builds one
# image per service with `berth image build`, runs the containers with published ports,
# registers them in the service registry, and checks the answer through the gateway.
# Usage: examples/shop/deploy.sh BIN_DIR   (BIN_DIR holds berth and the shop-* binaries'
#        build dir is BIN_DIR/../../examples/shop). Needs BERTH_ADDR and BERTH_TOKEN.
set -euo pipefail
bin=${1:?usage: deploy.sh BIN_DIR}
berth="$bin/berth"
svc_bin="$bin/../../examples/shop"
gateway=${BERTH_GATEWAY:-127.0.0.1:8080}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for svc in api web worker; do
  mkdir -p "$work/$svc"
  cp "$svc_bin/shop-$svc" "$work/$svc/"
  "$berth" image build "$work/$svc" -t "shop-$svc:v1" --entrypoint "/shop-$svc" >/dev/null
done

# Replace an earlier deployment of the demo.
for name in shop-api shop-web shop-worker; do
  "$berth" rm --force "$name" >/dev/null 2>&1 || true
done

"$berth" run --name shop-api -e PORT=8081 -e VERSION=v1 -p 18081:8081 --memory 64m --pids 64 \
  --restart on-failure shop-api:v1 >/dev/null
api_ip=$("$berth" -o json inspect shop-api | sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p' | head -1)
# The web front calls the API over the container network, straight to its address.
"$berth" run --name shop-web -e PORT=8080 -e "API_URL=http://$api_ip:8081" -p 18082:8080 \
  --memory 64m --pids 64 --restart on-failure shop-web:v1 >/dev/null
"$berth" run --name shop-worker -e PORT=8082 --memory 32m --pids 32 --restart always \
  shop-worker:v1 >/dev/null

"$berth" service register shop-api --addr 127.0.0.1:18081 --id shop-api-1 \
  --check-http http://127.0.0.1:18081/healthz --interval 2s >/dev/null
"$berth" service register shop-web --addr 127.0.0.1:18082 --id shop-web-1 \
  --check-http http://127.0.0.1:18082/healthz --interval 2s >/dev/null

for _ in $(seq 1 100); do
  if curl -fsS "http://$gateway/api/products" >/dev/null 2>&1 && \
     curl -fsS "http://$gateway/" | grep -q anchor; then
    break
  fi
  sleep 0.2
done
"$berth" ps
echo
echo "The shop answers through the gateway:"
echo "  curl http://$gateway/              # web front (calls the API)"
echo "  curl http://$gateway/api/products  # product API"
echo
echo "\$ curl -s http://$gateway/api/products"
curl -fsS "http://$gateway/api/products"
