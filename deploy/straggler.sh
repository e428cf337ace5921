#!/usr/bin/env bash
# Measures the step time of a WORKERS-worker run on loopback when one worker is slowed 5× (the worker's hidden
# --slowdown knob: each piece takes 5× its compute time, the extra spent idle), with and without backup
# tasks, against the same run at full speed. Runs alternate (normal, slowed, slowed without backups) for
# ROUNDS rounds; prints the median step time of each and checks that every run ends with the same
# params_sha256. Run from anywhere after `dotnet build DistRnn.sln -c Release`.
#
#   deploy/straggler.sh [ROUNDS=2] [STEPS=120] [HIDDEN=256] [WORKERS=2]
#
# Each worker computes on one thread; keep WORKERS at most the number of cores, or the slowed worker's idle
# wait hands its core to the others and the comparison measures the oversubscription instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}; steps=${2:-120}; hidden=${3:-256}; nworkers=${4:-2}
coord="$root/src/Coordinator/bin/Release/net10.0/distrnn.dll"
worker="$root/src/Worker/bin/Release/net10.0/distrnn-worker.dll"
[ -f "$coord" ] && [ -f "$worker" ] || { echo "build first: dotnet build DistRnn.sln -c Release" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# one run: $1 = name, $2 = slowdown of the last worker, $3… = extra coordinator options; prints "median_ms sha"
run() {
  local name=$1 slow=$2; shift 2
  local port=$((20000 + RANDOM % 20000)) out="$work/$name-$RANDOM"
  dotnet "$coord" train --hidden "$hidden" --seq 64 --batch 64 --shards 16 --seed 5 --steps "$steps" --workers 0 \
    --listen "127.0.0.1:$port" --min-workers "$nworkers" --wait-timeout 120 --out "$out" --json --log-every 1 \
    --eval-every 100000 --checkpoint-every 100000 "$@" > "$out.log" 2> "$out.err" &
  local c=$!; pids+=("$c")
  sleep 1
  for s in $(seq 2 "$nworkers" | sed 's/.*/1/') "$slow"; do
    dotnet "$worker" --join "127.0.0.1:$port" --threads 1 --slowdown "$s" --give-up-after 60 >> "$out.workers" 2>&1 & pids+=($!)
  done
  wait "$c" || { echo "$name: the coordinator failed: $(tail -3 "$out.err")" >&2; exit 1; }
  # per-step wall time from metrics.jsonl (elapsed_s at every step); the first 10 steps are warm-up
  python3 - "$out/metrics.jsonl" "$out.log" <<'PY'
import json, sys, statistics
m = [json.loads(l) for l in open(sys.argv[1])]
t = [r["elapsed_s"] for r in m]
d = [1000 * (b - a) for a, b in zip(t, t[1:])][10:]
done = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{"event":"done"')][-1]
print(f"{statistics.median(d):.1f} {done['params_sha256']}")
PY
}

declare -A times
sha=""
for r in $(seq 1 "$rounds"); do
  for cfg in normal slowed slowed-no-backups; do
    case $cfg in
      normal) res=$(run "$cfg" 1) ;;
      slowed) res=$(run "$cfg" 5) ;;
      slowed-no-backups) res=$(run "$cfg" 5 --no-backup-tasks) ;;
    esac
    ms=${res% *}; s=${res#* }
    [ -z "$sha" ] && sha=$s
    [ "$s" = "$sha" ] || { echo "params differ: $cfg gave $s, earlier runs $sha" >&2; exit 1; }
    times[$cfg]="${times[$cfg]:-} $ms"
    echo "round $r  $cfg: median step ${ms} ms"
  done
done
med() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
n=$(med "${times[normal]}"); s=$(med "${times[slowed]}"); x=$(med "${times[slowed-no-backups]}")
echo "hidden $hidden, $nworkers workers (1 thread each), $steps steps, $rounds rounds; all runs params_sha256 $sha"
echo "median step: normal $n ms; one worker 5× slower: $s ms with backup tasks ($(echo "scale=2; $s / $n" | bc)×), $x ms without ($(echo "scale=2; $x / $n" | bc)×)"
