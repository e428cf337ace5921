#!/usr/bin/env bash
# What replication to a standby coordinator costs per step (docs/failover.md): an active coordinator and two worker
# processes on loopback, with and without a standby attached before step 1, runs paired and alternating so a shared
# machine's load hits both alike. The step time is the median over steps 100..STEPS of the active's metrics.jsonl
# (elapsed_s per record / steps per record); every run's params_sha256 is printed (they must all be the same).
#
# usage: bench/standby_cost.sh [ROUNDS=3]    environment: H (hidden, 128), STEPS (400), PORT (first port, 47200)
#        (build first: dotnet build DistRnn.sln -c Release)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=src/Coordinator/bin/Release/net10.0
[ -f $bin/distrnn.dll ] && [ -f $bin/distrnn-worker.dll ] || { echo "build first: dotnet build DistRnn.sln -c Release" >&2; exit 2; }
H=${H:-128}; STEPS=${STEPS:-400}; port=${PORT:-47200}
model=(--hidden "$H" --seq 64 --batch 64 --shards 16 --seed 3 --optimizer adam --lr 0.01 --steps "$STEPS"
       --eval-every 100000 --checkpoint-every 100000 --json --wait-timeout 60 --workers 0)
run() { # $1 = with | without
  local d a b
  d=$(mktemp -d); a=$port; b=$((port + 1)); port=$((port + 2))
  timeout 300 dotnet $bin/distrnn.dll train "${model[@]}" --listen 127.0.0.1:$a --min-workers 2 --out "$d/A" > "$d/A.out" 2> "$d/A.err" &
  sleep 3
  if [ "$1" = with ]; then
    timeout 300 dotnet $bin/distrnn.dll train "${model[@]}" --listen 127.0.0.1:$b --standby 127.0.0.1:$a --out "$d/B" > "$d/B.out" 2> "$d/B.err" &
    # attached before the workers come: it gets the state (a snapshot of step 0) when step 1 starts
    for _ in $(seq 120); do grep -q "attached" "$d/A.out" 2>/dev/null && break; sleep 0.5; done
  fi
  timeout 300 dotnet $bin/distrnn-worker.dll --join 127.0.0.1:$a --threads 1 > /dev/null 2>&1 &
  timeout 300 dotnet $bin/distrnn-worker.dll --join 127.0.0.1:$a --threads 1 > /dev/null 2>&1 &
  wait || { echo "a process of the run with${1#with} a standby failed; its output is in $d" >&2; return 1; }
  python3 - "$d" "$1" <<'PY'
import json, statistics, sys
d, mode = sys.argv[1], sys.argv[2]
rec = [r for r in map(json.loads, open(d + "/A/metrics.jsonl")) if r["step"] >= 100]
ms = [(b["elapsed_s"] - a["elapsed_s"]) / (b["step"] - a["step"]) * 1000 for a, b in zip(rec, rec[1:])]
sha = [json.loads(l) for l in open(d + "/A.out") if '"done"' in l][0]["params_sha256"]
print(json.dumps({"standby": mode, "step_ms_median": round(statistics.median(ms), 3), "params_sha256": sha}))
PY
  rm -rf "$d"
}
for _ in $(seq "$rounds"); do run without; run with; done
