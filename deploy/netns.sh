#!/usr/bin/env bash
# Puts DistRnn nodes in their own Linux network namespaces so that one can be cut off and healed.
#
# Topology: a bridge on the host side with 10.213.0.1/24, and per node a namespace with a veth pair — one end
# in the namespace (10.213.0.N/24), the other end a port of the bridge. The coordinator (and any host-side
# worker) binds 10.213.0.1; a node in a namespace binds its own address. Only these addresses are created;
# nothing else on the host is touched (no forwarding, no firewall rules, no other routes).
# Cutting a node off sets its bridge port down: its packets go nowhere, its TCP connections stall as on a
# pulled cable. Healing sets it up again.
#
#   netns.sh check                     exit 0 if namespaces, veth and bridges can be made here (else says why, exit 1)
#   netns.sh up NODE N                 namespace drnn-NODE with address 10.213.0.N (N in 2..254); prints the address
#   netns.sh exec NODE CMD [ARGS…]     run CMD inside the namespace (exec: CMD keeps this process id)
#   netns.sh cut NODE | heal NODE      take the node off the network / put it back
#   netns.sh down NODE                 remove the namespace (and its veth pair)
#   netns.sh teardown                  remove every drnn-* namespace and the bridge
#   netns.sh demo                      coordinator + 3 workers (one in a namespace, cut off for 10 s), compared
#                                      against a failure-free run (run from the repository root after building)
#
# Needs root (CAP_NET_ADMIN) and iproute2. Names: NODE is up to 8 letters, digits or '-'.
set -euo pipefail

PREFIX=10.213.0
BRIDGE=drnn-br0
HOST_ADDR=$PREFIX.1

die() { echo "netns.sh: $*" >&2; exit 1; }
ns_of() { echo "drnn-$1"; }
host_end() { echo "drnh-$1"; }   # interface names are at most 15 characters
node_end() { echo "drnn-$1"; }

check_node() {
  [[ "$1" =~ ^[A-Za-z0-9-]{1,8}$ ]] || die "node name '$1': 1 to 8 letters, digits or '-'"
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_ADDR/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

cmd_check() {
  command -v ip >/dev/null 2>&1 || die "iproute2 ('ip') is not installed"
  [ "$(id -u)" -eq 0 ] || die "needs root (CAP_NET_ADMIN) to create network namespaces; running as uid $(id -u)"
  local probe="drnn-probe$$"
  ip netns add "$probe" 2>/dev/null || die "'ip netns add' is not permitted here"
  local ok=1 why=""
  if ! ip link add "drnp$$" type veth peer name "drnq$$" netns "$probe" 2>/dev/null; then ok=0; why="cannot create a veth pair"; fi
  if [ $ok -eq 1 ] && ! ip link add "drnb$$" type bridge 2>/dev/null; then ok=0; why="cannot create a bridge"; fi
  ip link del "drnb$$" 2>/dev/null || true
  ip link del "drnp$$" 2>/dev/null || true
  ip netns del "$probe" 2>/dev/null || true
  [ $ok -eq 1 ] || die "$why"
  echo "network namespaces available"
}

cmd_up() {
  local node=$1 n=$2
  check_node "$node"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ "$n" -le 254 ] || die "address suffix '$n': 2 to 254"
  local ns; ns=$(ns_of "$node")
  ip netns list | grep -qw "$ns" && die "namespace $ns exists already (netns.sh down $node)"
  ensure_bridge
  ip netns add "$ns"
  ip link add "$(host_end "$node")" type veth peer name "$(node_end "$node")" netns "$ns"
  ip link set "$(host_end "$node")" master "$BRIDGE"
  ip link set "$(host_end "$node")" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$PREFIX.$n/24" dev "$(node_end "$node")"
  ip -n "$ns" link set "$(node_end "$node")" up
  echo "$PREFIX.$n"
}

cmd_exec() {
  local node=$1; shift
  check_node "$node"
  exec ip netns exec "$(ns_of "$node")" "$@"
}

cmd_cut()  { check_node "$1"; ip link set "$(host_end "$1")" down; }
cmd_heal() { check_node "$1"; ip link set "$(host_end "$1")" up; }

cmd_down() {
  check_node "$1"
  ip netns del "$(ns_of "$1")" 2>/dev/null || true   # takes the veth pair with it
  ip link del "$(host_end "$1")" 2>/dev/null || true
  # the bridge goes when its last port is gone
  if ip link show "$BRIDGE" >/dev/null 2>&1 && [ -z "$(ip -o link show master "$BRIDGE" 2>/dev/null)" ]; then
    ip link del "$BRIDGE" 2>/dev/null || true
  fi
}

cmd_teardown() {
  for ns in $(ip netns list | awk '{print $1}' | grep '^drnn-' || true); do ip netns del "$ns" || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
}

cmd_demo() {
  local root; root=$(cd "$(dirname "$0")/.." && pwd)
  local cfg=(--hidden 48 --seq 48 --batch 64 --steps 1500 --seed 7 --checkpoint-every 500 --eval-every 100000 --json)
  local coord="$root/src/Coordinator/bin/Release/net10.0/distrnn.dll"
  local worker; worker=$(ls "$root"/src/Worker/bin/Release/net10.0/*.runtimeconfig.json 2>/dev/null | head -1)
  worker=${worker%.runtimeconfig.json}.dll
  [ -f "$coord" ] && [ -f "$worker" ] || die "build first: dotnet build DistRnn.sln -c Release"
  local work; work=$(mktemp -d)
  local port=$((20000 + RANDOM % 20000))
  local pids=()
  cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; cmd_down demo1 2>/dev/null || true; }
  trap cleanup EXIT
  echo "reference run (no cluster)…"
  dotnet "$coord" train "${cfg[@]}" --workers 0 --out "$work/ref" | tail -1 > "$work/ref.done"
  cmd_up demo1 11 >/dev/null
  echo "coordinator on $HOST_ADDR:$port, workers: two on the host, one in namespace drnn-demo1 ($PREFIX.11)"
  # beyond loopback every node needs the run's secret (or TLS)
  (umask 077; openssl rand -hex 32 > "$work/secret" 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret")
  local sec=(--secret-file "$work/secret")
  dotnet "$coord" train "${cfg[@]}" --workers 0 --listen "$HOST_ADDR:$port" --min-workers 3 --out "$work/run" "${sec[@]}" > "$work/coord.out" 2> "$work/coord.err" & pids+=($!)
  for i in 1 2; do
    dotnet "$worker" --join "$HOST_ADDR:$port" --host "$HOST_ADDR" --threads 1 --slowdown 3 "${sec[@]}" > "$work/w$i.log" 2>&1 & pids+=($!)
  done
  ip netns exec drnn-demo1 dotnet "$worker" --join "$HOST_ADDR:$port" --host "$PREFIX.11" --threads 1 --slowdown 3 "${sec[@]}" > "$work/w3.log" 2>&1 & pids+=($!)
  until grep -q '"event":"step","step":50,' "$work/coord.out" 2>/dev/null; do sleep 0.2; kill -0 "${pids[0]}" || die "coordinator ended early: $(tail -3 "$work/coord.err")"; done
  echo "step 50: cutting drnn-demo1 off for 10 s"; cmd_cut demo1; sleep 10; cmd_heal demo1; echo "healed"
  wait "${pids[0]}" || die "coordinator failed: $(tail -3 "$work/coord.err")"
  local a b
  a=$(grep -o '"params_sha256":"[0-9a-f]*"' "$work/ref.done"); b=$(grep -o '"params_sha256":"[0-9a-f]*"' "$work/coord.out" | tail -1)
  echo "reference: $a"; echo "with cut:  $b"
  echo "coordinator's notes:"; grep -v '"event":"step"' "$work/coord.out" | grep -v '^{"event":"checkpoint"' | head -20; head -20 "$work/coord.err"
  echo "steps by worker count:"; grep -o '"workers":[0-9]*' "$work/coord.out" | sort | uniq -c
  echo "the cut-off worker said:"; cat "$work/w3.log"
  [ "$a" = "$b" ] && echo "identical" || die "parameters differ"
}

[ $# -ge 1 ] || { sed -n '2,21p' "$0"; exit 2; }
cmd=$1; shift
case "$cmd" in
  check) cmd_check ;;
  up) [ $# -eq 2 ] || die "usage: netns.sh up NODE N"; cmd_up "$@" ;;
  exec) [ $# -ge 2 ] || die "usage: netns.sh exec NODE CMD [ARGS…]"; cmd_exec "$@" ;;
  cut|heal|down) [ $# -eq 1 ] || die "usage: netns.sh $cmd NODE"; "cmd_$cmd" "$1" ;;
  teardown) cmd_teardown ;;
  demo) cmd_demo ;;
  *) die "unknown command '$cmd' (check, up, exec, cut, heal, down, teardown, demo)" ;;
esac
