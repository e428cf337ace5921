#!/usr/bin/env bash
# What a SIGKILLed worker costs: a coordinator and three worker processes on loopback (hidden 256, 300 steps),
# one worker killed with SIGKILL once the coordinator reports step 100. Time lost = (step 100 → step 300 with the
# kill) − (the same without), from the coordinator's metrics.jsonl (elapsed_s of each step), runs paired and
# alternating (with, without, with, …) so a shared machine's load hits both alike; prints each pair, the medians,
# and checks that every run ends with the same params_sha256.
#
# usage: bench/worker_kill.sh [ROUNDS=3] [extra train options…]    (build first: dotnet build DistRnn.sln -c Release)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; shift || true
bin=src/Coordinator/bin/Release/net10.0
[ -f $bin/distrnn.dll ] && [ -f $bin/distrnn-worker.dll ] || { echo "build first: dotnet build DistRnn.sln -c Release" >&2; exit 2; }
tmp=$(mktemp -d)
pids=()
# KEEP=1 keeps the runs' logs (the folder is printed)
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; if [ "${KEEP:-0}" = 1 ]; then echo "logs in $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# one run: $1 = 1 to kill a worker at step 100; prints "seconds_from_step_100_to_300 sha"
run() {
  local kill=$1 port out cpid step; shift
  port=$(free_port); out=$tmp/run-$RANDOM
  mkdir -p "$out"
  dotnet $bin/distrnn.dll train --listen 127.0.0.1:$port --workers 0 --min-workers 3 --hidden 256 --steps 300 \
    --checkpoint-every 300 --eval-every 100000 --log-every 1 --json --out "$out/run" "$@" > "$out/coord.log" 2> "$out/coord.err" &
  cpid=$!; pids=("$cpid")
  local workers=()
  for i in 1 2 3; do dotnet $bin/distrnn-worker.dll --join 127.0.0.1:$port --threads 1 --give-up-after 60 > /dev/null 2> "$out/w$i.err" & workers+=($!); done
  pids+=("${workers[@]}")
  trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT # this subshell's own processes, by id
  while kill -0 $cpid 2>/dev/null; do
    if [ "$kill" = 1 ]; then
      step=$(tail -n 1 "$out/coord.log" | grep -o '"step":[0-9]*' | cut -d: -f2 || true)
      if [ -n "$step" ] && [ "$step" -ge 100 ]; then kill -9 "${workers[0]}"; kill=done; fi
    fi
    sleep 0.05
  done
  wait $cpid || { echo "the coordinator failed:" >&2; tail -5 "$out/coord.err" >&2; exit 1; }
  for p in "${workers[@]}"; do wait "$p" 2>/dev/null || true; done
  python3 - "$out/run/metrics.jsonl" "$out/coord.log" <<'PY'
import json, sys
t = {}
for line in open(sys.argv[1]):
    try: e = json.loads(line); t[e["step"]] = e["elapsed_s"]
    except Exception: pass
done = [json.loads(l) for l in open(sys.argv[2]) if '"event":"done"' in l][-1]
print(f"{t[300] - t[100]:.3f} {done['params_sha256']}")
PY
}

with=(); without=(); shas=()
for r in $(seq 1 "$rounds"); do
  read -r a sa < <(run 1 "$@"); with+=("$a"); shas+=("$sa")
  read -r b sb < <(run 0 "$@"); without+=("$b"); shas+=("$sb")
  echo "round $r: with kill $a s, without $b s, lost $(python3 -c "print(f'{$a - $b:.3f}')") s"
done
python3 - "${with[*]}" "${without[*]}" <<'PY'
import statistics, sys
w = [float(x) for x in sys.argv[1].split()]; o = [float(x) for x in sys.argv[2].split()]
print(f"median step 100→300: with kill {statistics.median(w):.3f} s, without {statistics.median(o):.3f} s; "
      f"median of paired losses {statistics.median([a - b for a, b in zip(w, o)]):.3f} s")
PY
if [ "$(printf '%s\n' "${shas[@]}" | sort -u | wc -l)" = 1 ]; then echo "params_sha256 identical in all ${#shas[@]} runs: ${shas[0]}"
else echo "params_sha256 DIFFER: ${shas[*]}"; exit 1; fi
