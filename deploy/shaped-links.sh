#!/usr/bin/env bash
# One DistRnn run over shaped links: a coordinator and N workers, each in a network namespace of its own, every
# node joined to a switch by a veth pair whose two ends are shaped with `tc` (token bucket at --rate-mbit, so each
# node's link is limited in both directions: upload by the qdisc on the node's end, download by the qdisc on the
# switch's end). Runs `distrnn train` there and prints ONE JSON line on stdout:
#
#   {"topology": "star"|"tree", "workers": N, "rate_mbit": R, "hidden": d, "step_ms_median": …,
#    "coordinator_bytes_per_step": …, "max_node_bytes_per_step": …, "params_sha256": "…",
#    "delay_ms": D, "steps_measured": M}
#
# usage: deploy/shaped-links.sh --workers N --rate-mbit R [--delay-ms D] [--data-plane star|tree]
#                               [--threads T] [--warmup S0] [--keep] [train options…]
#
#   --workers N          worker nodes, 1..64 (each its own namespace and distrnn-worker process)
#   --rate-mbit R        link rate of every node, each direction, in Mbit/s (tbf), e.g. 1000
#   --delay-ms D         one-way delay between two nodes, D/2 added on each end of each link (netem); default 0.
#                        A non-zero D needs the kernel's sch_netem: where it is missing (this machine) the script
#                        says so and exits 1 before starting any node (netem probed on the switch namespace's lo).
#                        D = 0 uses no netem at all. (The netem path, netem root with tbf as its child, has not
#                        run here for want of netem.)
#   --data-plane P       star (default; the coordinator sends the parameters to every worker and receives every
#                        worker's gradient sum) or tree (the workers sum among themselves and pass the parameters
#                        down the same tree; docs/data-plane.md); passed to train as --data-plane P
#   --threads T          compute threads of each worker (default 1)
#   --warmup S0          steps left out of the measurement at the start (default 10; see "What is measured")
#   --keep               keep the run's folder (logs, metrics.jsonl, counters) and print its path on stderr
#   train options        passed to `distrnn train` (e.g. --hidden 256 --seq 32 --batch 32 --steps 100 --seed 1);
#                        --steps defaults to 100 here, --checkpoint-every and --eval-every to never (one
#                        checkpoint, at the end); --corpus FILE is passed to the workers too. The script owns
#                        --listen, --workers, --min-workers, --out, --json, --log-every, --secret-file, --tls-*,
#                        --insecure, --resume and --config, and refuses them.
#
# What is measured. The coordinator runs with --json --log-every 1. The script reads its step events as they are
# printed and snapshots every node's link counters when step S0 is reported and again when step S1 = steps − 1
# is reported. Both snapshots are taken the same way, mid-run, so whatever of the next step is already on the
# wire when a step is reported counts at both ends alike; start-up (joining, the first steps, the data channel's
# frames growing) lies before S0 and the run's ending (last step, checkpoint, workers leaving) after S1.
# Bytes per step = (after − before) / (S1 − S0), a node's bytes being rx_bytes + tx_bytes of its link.
# The counters are the veths' own (/sys/class/net/IF/statistics/{rx,tx}_bytes, read with `ip netns exec`), taken
# at the switch's end of each node's veth pair: a veth counts a packet on both ends at the same moment (the
# switch end's tx_bytes is the node end's rx_bytes and the other way round), and the switch's ends all live in
# one namespace, so one `cat` reads every node's link at one instant. (Read one namespace after the other, the
# node ends' snapshot is skewed by a few ms; at small models that is a whole gradient in flight.) They count all
# traffic of the link: data channel, Akka control and heartbeats, TCP/IP and Ethernet headers, retransmissions;
# nothing else (each namespace holds only its node). coordinator_bytes_per_step is the coordinator's link;
# max_node_bytes_per_step is the largest of any one node's link, the coordinator's included. step_ms_median is
# the median of elapsed_s(s) − elapsed_s(s−1) over s = S0+1..S1, from the coordinator's metrics.jsonl (as
# bench/worker_kill.sh reads step times; elapsed_s has millisecond resolution).
#
# Network. Namespaces drnshp<PID>-sw (the switch: a bridge and one veth end per node), drnshp<PID>-c (the
# coordinator, 10.214.0.1) and drnshp<PID>-wI (worker I, 10.214.0.(1+I)); the addresses exist only inside these
# namespaces, so they cannot meet netns.sh's 10.213.0.0/24 or anything on the host, and no interface, route,
# qdisc or firewall rule is made in the host's own namespace. Everything made is removed on exit (trap on EXIT,
# INT, TERM): the processes started (by id), then the veths, the bridge and the namespaces (qdiscs go with
# their interfaces). The run's nodes prove a fresh shared secret (--secret-file; needed beyond loopback).
#
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`), iproute2 with tc (sch_tbf), python3, and a build:
# dotnet build DistRnn.sln -c Release. Exit: 0 done, 2 bad options (one line), 1 a failure (one line).
set -euo pipefail

me=shaped-links.sh
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
bad() { echo "$me: $*" >&2; exit 2; }
die() { echo "$me: $*" >&2; exit 1; }
note() { echo "$me: $*" >&2; }

workers="" rate="" delay=0 plane=star threads=1 warmup=10 keep=0
train=()
need_val() { [ $# -ge 2 ] && [ -n "$2" ] || bad "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --workers) need_val "$@"; workers=$2; shift 2 ;;
    --rate-mbit) need_val "$@"; rate=$2; shift 2 ;;
    --delay-ms) need_val "$@"; delay=$2; shift 2 ;;
    --data-plane) need_val "$@"; plane=$2; shift 2 ;;
    --threads) need_val "$@"; threads=$2; shift 2 ;;
    --warmup) need_val "$@"; warmup=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --workers=*|--rate-mbit=*|--delay-ms=*|--data-plane=*|--threads=*|--warmup=*)
      bad "$1: write the value after a space (${1%%=*} VALUE)" ;;
    --listen|--min-workers|--out|--json|--log-every|--secret-file|--tls-cert|--tls-ca|--insecure|--resume|--config)
      bad "$1 is set by the script itself (see --help)" ;;
    --) shift; train+=("$@"); break ;;
    *) train+=("$1"); shift ;;
  esac
done

[ -n "$workers" ] || bad "--workers N is required (see --help)"
[ -n "$rate" ] || bad "--rate-mbit R is required (see --help)"
[[ "$workers" =~ ^[0-9]+$ ]] && [ "$workers" -ge 1 ] && [ "$workers" -le 64 ] || bad "--workers $workers: must be an integer from 1 to 64"
[[ "$rate" =~ ^[0-9]+$ ]] && [ "$rate" -ge 1 ] && [ "$rate" -le 100000 ] || bad "--rate-mbit $rate: must be an integer from 1 to 100000"
[[ "$delay" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--delay-ms $delay: must be a non-negative number"
[[ "$threads" =~ ^[0-9]+$ ]] || bad "--threads $threads: must be a non-negative integer"
[[ "$warmup" =~ ^[0-9]+$ ]] && [ "$warmup" -ge 1 ] || bad "--warmup $warmup: must be a positive integer"
case "$plane" in
  star|tree) ;;
  *) bad "--data-plane $plane: must be star or tree" ;;
esac

# what the JSON line and the measurement window need from the train options (train's own defaults otherwise)
steps=100 hidden=128 corpus=() steps_given=0 ckpt_given=0 eval_given=0
for ((i = 0; i < ${#train[@]}; i++)); do
  case "${train[$i]}" in
    --steps) steps=${train[$((i + 1))]:-}; steps_given=1 ;;
    --hidden) hidden=${train[$((i + 1))]:-} ;;
    --checkpoint-every) ckpt_given=1 ;;
    --eval-every) eval_given=1 ;;
    --corpus) corpus=(--corpus "${train[$((i + 1))]:-}") ;;
    --steps=*|--hidden=*|--corpus=*) bad "${train[$i]}: write the value after a space (${train[$i]%%=*} VALUE)" ;;
  esac
done
[[ "$steps" =~ ^[0-9]+$ ]] || bad "--steps $steps: must be an integer"
[ "$steps_given" = 1 ] || train+=(--steps "$steps")
[ "$ckpt_given" = 1 ] || train+=(--checkpoint-every 1000000000)   # no checkpoint but the final one
[ "$eval_given" = 1 ] || train+=(--eval-every 1000000000)         # no validation pass inside the window
[[ "$hidden" =~ ^[0-9]+$ ]] || bad "--hidden $hidden: must be an integer"
s0=$warmup s1=$((steps - 1))
[ "$s1" -gt "$s0" ] || bad "--steps $steps with --warmup $warmup: need steps ≥ warmup + 2 (measured: steps warmup+1 … steps−1)"

# the machine
command -v ip >/dev/null 2>&1 || die "iproute2 ('ip') is not installed"
command -v tc >/dev/null 2>&1 || die "tc (iproute2) is not installed"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read metrics.jsonl"
[ "$(id -u)" -eq 0 ] || die "needs root (CAP_NET_ADMIN) to create network namespaces and shape links; running as uid $(id -u)"
root=$(cd "$(dirname "$0")/.." && pwd)
coord_dll="$root/src/Coordinator/bin/Release/net10.0/distrnn.dll"
worker_dll=$(ls "$root"/src/Worker/bin/Release/net10.0/*.runtimeconfig.json 2>/dev/null | head -1 || true)
worker_dll=${worker_dll%.runtimeconfig.json}.dll
[ -f "$coord_dll" ] && [ -f "$worker_dll" ] || die "build first: dotnet build DistRnn.sln -c Release"
command -v dotnet >/dev/null 2>&1 || die "dotnet is not on PATH"
dotnet=$(command -v dotnet)

tag=drnshp$$
sw=$tag-sw
ns_c=$tag-c
prefix=10.214.0
port=4053                      # inside the coordinator's own namespace: nothing else listens there
nodes=("$ns_c")
for i in $(seq 1 "$workers"); do nodes+=("$tag-w$i"); done
addr_of() { if [ "$1" = "$ns_c" ]; then echo "$prefix.1"; else echo "$prefix.$((1 + ${1##*-w}))"; fi; }
port_of() { if [ "$1" = "$ns_c" ]; then echo "p-c"; else echo "p-w${1##*-w}"; fi; }   # the switch's end
IF=link0                       # the node's end, inside its namespace

work=$(mktemp -d)
pids=()
made_ns=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if ip netns list 2>/dev/null | grep -qw "$sw"; then
    local n
    for n in "${nodes[@]}"; do ip -n "$sw" link del "$(port_of "$n")" 2>/dev/null || true; done
    ip -n "$sw" link del br0 2>/dev/null || true
  fi
  for p in "${made_ns[@]}"; do ip netns del "$p" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then note "run folder kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkns() { ip netns add "$1" || die "cannot create network namespace $1 ('ip netns add' not permitted?)"; made_ns+=("$1"); ip -n "$1" link set lo up; }

# tc on one interface of one namespace: tbf at the rate, under netem when there is a delay
burst=$((rate * 125)); [ "$burst" -ge 16384 ] || burst=16384   # 1 ms at the rate, at least 16 KiB
half_delay_us=$(python3 -c "print(round($delay * 500))")
shape() {
  local ns=$1 dev=$2
  if [ "$half_delay_us" -gt 0 ]; then
    tc -n "$ns" qdisc add dev "$dev" root handle 1: netem delay "${half_delay_us}us" limit 100000 \
      || die "tc netem on $dev in $ns failed"
    tc -n "$ns" qdisc add dev "$dev" parent 1:1 handle 10: tbf rate "${rate}mbit" burst "$burst" latency 25ms \
      || die "tc tbf on $dev in $ns failed"
  else
    tc -n "$ns" qdisc add dev "$dev" root handle 1: tbf rate "${rate}mbit" burst "$burst" latency 25ms \
      || die "tc tbf on $dev in $ns failed (does the kernel have sch_tbf?)"
  fi
}

# the switch, and a probe for netem before anything else is made
mkns "$sw"
if [ "$half_delay_us" -gt 0 ]; then
  if ! tc -n "$sw" qdisc add dev lo root netem delay 1ms 2>/dev/null; then
    die "--delay-ms $delay needs netem, and this kernel has no sch_netem (CONFIG_NET_SCH_NETEM); use --delay-ms 0 here"
  fi
  tc -n "$sw" qdisc del dev lo root 2>/dev/null || true
fi
ip -n "$sw" link add br0 type bridge || die "cannot create a bridge"
ip -n "$sw" link set br0 up
for n in "${nodes[@]}"; do
  mkns "$n"
  ip -n "$sw" link add "$(port_of "$n")" type veth peer name "$IF" netns "$n" || die "cannot create a veth pair for $n"
  ip -n "$sw" link set "$(port_of "$n")" master br0
  ip -n "$sw" link set "$(port_of "$n")" up
  ip -n "$n" addr add "$(addr_of "$n")/24" dev "$IF"
  ip -n "$n" link set "$IF" up
  shape "$n" "$IF"
  shape "$sw" "$(port_of "$n")"
done
note "$workers workers + coordinator, links ${rate} Mbit/s each way (tbf burst $burst B), delay ${delay} ms, $plane data plane"

# the run's secret
(umask 077; openssl rand -hex 32 > "$work/secret" 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret")
sec=(--secret-file "$work/secret")

snapshot() {   # $1 = file: one line per node, "ns rx tx" (the link's counters, all read by one process)
  local n files=()
  for n in "${nodes[@]}"; do files+=("/sys/class/net/$(port_of "$n")/statistics/tx_bytes" "/sys/class/net/$(port_of "$n")/statistics/rx_bytes"); done
  ip netns exec "$sw" cat "${files[@]}" > "$work/cnt" 2>&1 || die "cannot read the interface counters: $(head -n 1 "$work/cnt")"
  : > "$1"
  local k=0 v=()
  mapfile -t v < "$work/cnt"
  for n in "${nodes[@]}"; do echo "$n ${v[$k]} ${v[$((k + 1))]}" >> "$1"; k=$((k + 2)); done
}

mkfifo "$work/coord.fifo"
ip netns exec "$ns_c" "$dotnet" "$coord_dll" train --workers 0 --listen "$prefix.1:$port" --min-workers "$workers" \
  --data-plane "$plane" "${train[@]}" \
  --out "$work/run" --json --log-every 1 "${sec[@]}" > "$work/coord.fifo" 2> "$work/coord.err" &
cpid=$!; pids+=("$cpid")
for i in $(seq 1 "$workers"); do
  n=$tag-w$i
  ip netns exec "$n" "$dotnet" "$worker_dll" --join "$prefix.1:$port" --host "$(addr_of "$n")" --threads "$threads" \
    --give-up-after 120 "${corpus[@]}" "${sec[@]}" > "$work/w$i.log" 2>&1 & pids+=($!)
done

got0=0 got1=0
while IFS= read -r line; do
  printf '%s\n' "$line" >> "$work/coord.out"
  case "$line" in
    *'"event":"step","step":'"$s0"','*) snapshot "$work/before"; got0=1 ;;
    *'"event":"step","step":'"$s1"','*) snapshot "$work/after"; got1=1
      note "steps $s0 → $s1 measured" ;;
  esac
done < "$work/coord.fifo"
wait "$cpid" || die "the coordinator failed: $(tail -n 3 "$work/coord.err" | tr '\n' ' ')"
[ $got0 = 1 ] && [ $got1 = 1 ] || die "the coordinator's output never reported steps $s0 and $s1"
for p in "${pids[@]:1}"; do   # workers leave once the run ends
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done

python3 - "$work/before" "$work/after" "$work/run/metrics.jsonl" "$work/coord.out" "$ns_c" "$s0" "$s1" \
  "$workers" "$rate" "$hidden" "$delay" "$plane" <<'PY'
import json, statistics, sys
before, after, metrics, out, ns_c = sys.argv[1:6]
s0, s1, workers, rate, hidden = (int(x) for x in sys.argv[6:11])
delay = float(sys.argv[11])
plane = sys.argv[12]
def counters(path):
    c = {}
    for line in open(path):
        ns, rx, tx = line.split()
        c[ns] = int(rx) + int(tx)
    return c
b, a = counters(before), counters(after)
per_step = {ns: (a[ns] - b[ns]) / (s1 - s0) for ns in b}
t, w = {}, {}
for line in open(metrics):
    try:
        e = json.loads(line); t[e["step"]] = e["elapsed_s"]; w[e["step"]] = e.get("workers")
    except Exception:
        pass
missing = [s for s in range(s0, s1 + 1) if s not in t]
if missing:
    sys.exit(f"shaped-links.sh: metrics.jsonl lacks steps {missing[:5]}")
short = sorted({w[s] for s in range(s0 + 1, s1 + 1) if w[s] != workers})
if short:
    print(f"shaped-links.sh: warning: some measured steps ran with {short} workers, not {workers}", file=sys.stderr)
done = [json.loads(l) for l in open(out) if '"event":"done"' in l]
if not done:
    sys.exit("shaped-links.sh: the coordinator printed no done event")
step_ms = statistics.median((t[s] - t[s - 1]) * 1000 for s in range(s0 + 1, s1 + 1))
print(json.dumps({
    "topology": plane, "workers": workers, "rate_mbit": rate, "hidden": hidden,
    "step_ms_median": round(step_ms, 2),
    "coordinator_bytes_per_step": round(per_step[ns_c]),
    "max_node_bytes_per_step": round(max(per_step.values())),
    "params_sha256": done[-1]["params_sha256"],
    "delay_ms": delay, "steps_measured": s1 - s0,
}))
PY
