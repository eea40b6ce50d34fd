#!/usr/bin/env bash
# Berth in cluster mode on one machine: a 3-member etcd cluster, three `berthd server`
# (API, controller and health-check candidacy, registry DNS and a gateway each) and three
# `berthd agent`, with TLS on every link: etcd peers, etcd clients (the servers, with client
# certificates), the API (agents and the CLI verify it against a CA this script makes with
# openssl). The by-hand recipe it automates is in docs/user-guide.md ("Running a cluster").
#
#   scripts/cluster.sh up        start everything (makes the CA and certificates once)
#   scripts/cluster.sh env       print the exports that point `berth` at the cluster
#   scripts/cluster.sh status    what runs, etcd's members, `berth status`
#   scripts/cluster.sh down      stop everything (agents first, so containers stop cleanly)
#   scripts/cluster.sh purge     down, then delete the cluster's directory
#
# Environment: BERTH_CLUSTER_DIR (default /tmp/berth-cluster), BERTH_CLUSTER_PORT (base port,
# default 17000), BERTH_BIN (directory with berthd and berth; default build/release/src/cmd,
# built when missing), BERTH_CLUSTER_AGENTS (default 3; 0 without root). Ports:
#   etcd member i:  client BASE+10+i, peer BASE+20+i
#   server i:       API BASE+100+i, DNS BASE+160+i, gateway BASE+180+i
#   agent i:        node n<i>, address 127.0.10.<i>, bridge bc<i>, subnet 100.80.<i>.0/24
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${BERTH_CLUSTER_DIR:-/tmp/berth-cluster}
base=${BERTH_CLUSTER_PORT:-17000}
bin=${BERTH_BIN:-build/release/src/cmd}
agents=${BERTH_CLUSTER_AGENTS:-3}
[ "$(id -u)" = 0 ] || agents=0
pki=$dir/pki

die() { echo "cluster.sh: $*" >&2; exit 1; }
etcd_client() { echo "127.0.0.1:$((base + 10 + $1))"; }
etcd_peer() { echo "127.0.0.1:$((base + 20 + $1))"; }
api() { echo "127.0.0.1:$((base + 100 + $1))"; }
etcd_endpoints() { echo "$(etcd_client 1),$(etcd_client 2),$(etcd_client 3)"; }
api_urls() { echo "https://$(api 1),https://$(api 2),https://$(api 3)"; }

need() { command -v "$1" >/dev/null || die "$1 is missing: run scripts/deps.sh"; }

binaries() {
  if [ ! -x "$bin/berthd" ] || [ ! -x "$bin/berth" ]; then
    [ -z "${BERTH_BIN:-}" ] || die "$bin has no berthd/berth"
    cmake --preset release >/dev/null
    cmake --build --preset release -j 2 --target berthd berth berth-shim
  fi
  bin=$(cd "$bin" && pwd)
}

# One leaf certificate signed by the cluster's CA, for loopback, usable by servers and clients.
leaf() {
  local name=$1
  [ -f "$pki/$name.pem" ] && return
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "/CN=$name" -out "$pki/$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
    >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 825 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
  chmod 600 "$pki/$name.key"
}

make_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -f "$pki/ca.pem" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -sha256 -days 3650 -subj "/CN=berth-cluster-ca" \
      -out "$pki/ca.pem" 2>/dev/null
    chmod 600 "$pki/ca.key"
  fi
  for name in etcd1 etcd2 etcd3 server etcd-client; do leaf "$name"; done
}

# Starts a process in its own session, its output in logs/NAME.log, its pid in pids/NAME.
spawn() {
  local name=$1
  shift
  mkdir -p "$dir/logs" "$dir/pids"
  if [ -f "$dir/pids/$name" ] && kill -0 "$(cat "$dir/pids/$name")" 2>/dev/null; then
    echo "  $name already runs (pid $(cat "$dir/pids/$name"))"
    return
  fi
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
  echo "  $name pid $!"
}

wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what did not come up; see $dir/logs"
}

etcd_healthy() {
  ETCDCTL_API=3 etcdctl --endpoints "https://$(etcd_client "$1")" --cacert "$pki/ca.pem" \
    --cert "$pki/etcd-client.pem" --key "$pki/etcd-client.key" endpoint health
}

start_etcd() {
  local cluster=""
  for i in 1 2 3; do cluster+="${cluster:+,}m$i=https://$(etcd_peer "$i")"; done
  local state=new
  [ -d "$dir/etcd1/member" ] && state=existing
  for i in 1 2 3; do
    spawn "etcd$i" etcd --name "m$i" --data-dir "$dir/etcd$i" \
      --listen-client-urls "https://$(etcd_client "$i")" \
      --advertise-client-urls "https://$(etcd_client "$i")" \
      --listen-peer-urls "https://$(etcd_peer "$i")" \
      --initial-advertise-peer-urls "https://$(etcd_peer "$i")" \
      --initial-cluster "$cluster" --initial-cluster-token berth-cluster \
      --initial-cluster-state "$state" \
      --cert-file "$pki/etcd$i.pem" --key-file "$pki/etcd$i.key" \
      --trusted-ca-file "$pki/ca.pem" --client-cert-auth \
      --peer-cert-file "$pki/etcd$i.pem" --peer-key-file "$pki/etcd$i.key" \
      --peer-trusted-ca-file "$pki/ca.pem" --peer-client-cert-auth
  done
  for i in 1 2 3; do wait_for "etcd member $i" etcd_healthy "$i"; done
}

start_server() {
  local i=$1
  mkdir -p "$dir/server$i"
  spawn "server$i" "$bin/berthd" server --data-dir "$dir/server$i" --api "$(api "$i")" \
    --store "etcd://$(etcd_endpoints)" --etcd-cacert "$pki/ca.pem" \
    --etcd-cert "$pki/etcd-client.pem" --etcd-key "$pki/etcd-client.key" \
    --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" \
    --dns "127.0.0.1:$((base + 160 + i))" --gateway "127.0.0.1:$((base + 180 + i))"
  wait_for "server $i" curl -fsS --cacert "$pki/ca.pem" "https://$(api "$i")/v1/health"
}

admin_token() {
  for i in 1 2 3; do
    [ -s "$dir/server$i/admin.token" ] && { cat "$dir/server$i/admin.token"; return; }
  done
  die "no server wrote an admin token"
}

# A token bound to node `name` (it may act for that node only).
node_token() {
  local name=$1 file=$dir/agent-$1/token
  [ -s "$file" ] && return
  curl -fsS --cacert "$pki/ca.pem" -H "Authorization: Bearer $(admin_token)" \
    -H 'Content-Type: application/json' -d "{\"node\":\"$name\"}" \
    "https://$(api 1)/v1/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$file"
  [ -s "$file" ] || die "could not create a token for node $name"
  chmod 600 "$file"
}

start_agent() {
  local i=$1 name=n$1
  mkdir -p "$dir/agent-$name"
  node_token "$name"
  spawn "agent$i" "$bin/berthd" agent --server "$(api_urls)" --ca-file "$pki/ca.pem" \
    --token-file "$dir/agent-$name/token" --node-name "$name" --data-dir "$dir/agent-$name" \
    --address "127.0.10.$i" --bridge "bc$i" --subnet "100.80.$i.0/24" \
    --labels "zone=z$i"
  wait_for "agent $i" curl -fsS --cacert "$pki/ca.pem" -H "Authorization: Bearer $(admin_token)" \
    "https://$(api 1)/v1/nodes/$name"
}

stop() {
  local name=$1 pid
  [ -f "$dir/pids/$name" ] || return 0
  pid=$(cat "$dir/pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$dir/pids/$name"
}

print_env() {
  echo "export BERTH_ADDR=$(api_urls)"
  echo "export BERTH_CA_FILE=$pki/ca.pem"
  echo "export BERTH_TOKEN=$(admin_token)"
}

case "${1:-}" in
  up)
    need etcd
    need etcdctl
    need openssl
    need curl
    binaries
    make_pki
    echo "etcd (3 members, TLS for peers and clients):"
    start_etcd
    echo "servers (API over HTTPS, etcd over TLS with a client certificate):"
    start_server 1  # first: it creates the admin token
    start_server 2
    start_server 3
    if [ "$agents" -gt 0 ]; then
      echo "agents:"
      for i in $(seq 1 "$agents"); do start_agent "$i"; done
    else
      echo "agents: none (they need root: containers, bridges, network namespaces)"
    fi
    echo
    echo "The cluster runs (logs in $dir/logs). To use it:"
    print_env | sed 's/^/  /'
    echo "  $bin/berth status"
    ;;
  env) print_env ;;
  status)
    for f in "$dir"/pids/*; do
      [ -f "$f" ] || continue
      if kill -0 "$(cat "$f")" 2>/dev/null; then s=running; else s=dead; fi
      printf '  %-8s pid %-8s %s\n' "$(basename "$f")" "$(cat "$f")" "$s"
    done
    ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --cacert "$pki/ca.pem" \
      --cert "$pki/etcd-client.pem" --key "$pki/etcd-client.key" endpoint status -w table || true
    eval "$(print_env)"
    "${bin}/berth" status || true
    ;;
  down | purge)
    for i in 1 2 3 4 5 6 7 8 9; do stop "agent$i"; done
    for i in 1 2 3; do stop "server$i"; done
    for i in 1 2 3; do stop "etcd$i"; done
    if [ "$(id -u)" = 0 ]; then
      for i in 1 2 3 4 5 6 7 8 9; do ip link delete "bc$i" 2>/dev/null || true; done
    fi
    if [ "$1" = purge ]; then
      rm -rf "$dir"
      echo "cluster stopped and $dir removed"
    else
      echo "cluster stopped (data kept in $dir; 'up' starts it again)"
    fi
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
