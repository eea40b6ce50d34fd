#!/usr/bin/env bash
# Installs every dependency of Berth (build, tests, benchmarks) from Debian's packages.
# Safe to run twice: apt-get skips what is already installed. Needs root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache clang libclang-rt-14-dev lld pkg-config git
  # libraries
  libasio-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libssl-dev libfmt-dev
  libspdlog-dev libcli11-dev libre2-dev libarchive-dev libzstd-dev libnghttp2-dev
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev zlib1g-dev libsnappy-dev
  # etcd's gRPC API (store/etcd): the library and the code generators
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libtomlplusplus-dev
  # store peers
  etcd-server etcd-client
  # containers and networks
  runc crun containernetworking-plugins busybox-static iproute2 iptables skopeo docker-registry
  # tests and benchmarks
  dnsutils curl wrk nginx haproxy podman procps psmisc python3 hyperfine valgrind
  # HTTP/2 through the gateway: nghttp and h2load (tests, bench/gateway.sh)
  nghttp2-client
  # log center peers (bench/logs): ripgrep and zstd (Debian has no Grafana Loki, Vector or
  # Fluent Bit; its "loki" package is a genetics tool)
  ripgrep zstd
  # scanner references: dpkg --compare-versions (dpkg), rpm.vercmp (rpm), PEP 440 (packaging)
  dpkg rpm python3-packaging
  # shells the CLI's completion scripts are tested under
  bash zsh
  # the web console's browser tests (tests/ui): Debian's Chromium, driven by playwright-core
  chromium chromium-driver
)
# The web console (ui/) is built with Node.js and npm. Debian's packages unless a Node.js is
# already there (a nodesource nodejs bundles its own npm, which Debian's npm would fight).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  # Keep package scripts from starting daemons (nginx, haproxy, etcd, registry) on install:
  # the tests and benchmarks start their own on free loopback ports.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi

# Package scripts may have started daemons anyway on some hosts; stop the ones we only
# use as benchmark peers so they don't hold the default ports.
for svc in nginx haproxy etcd docker-registry; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
pkill -x etcd 2>/dev/null || true
exit 0
