#!/usr/bin/env bash
# Paired throughput of two builds of distrnn (e.g. before and after a refactor), alternating them run by run so
# that load from other processes hits both alike. One JSON line per run on stdout; the summary (the median of the
# per-round after/before ratios of chars_per_s for each configuration) on stderr.
#   usage: bench/compare_builds.sh BEFORE_EXECUTABLE AFTER_EXECUTABLE [ROUNDS]
set -uo pipefail
before=${1:?usage: compare_builds.sh BEFORE AFTER [ROUNDS]}
after=${2:?usage: compare_builds.sh BEFORE AFTER [ROUNDS]}
rounds=${3:-5}
export DOTNET_CLI_TELEMETRY_OPTOUT=1
out=$(mktemp)
for r in $(seq 1 "$rounds"); do
  for cfg in "0 256" "1 256" "0 1024" "1 1024"; do
    set -- $cfg
    for build in before after; do
      exe=$before; [ "$build" = after ] && exe=$after
      line=$("$exe" bench --workers "$1" --hidden "$2" --json 2>/dev/null | tail -1)
      echo "{\"build\":\"$build\",\"round\":$r,\"workers\":$1,\"hidden\":$2,\"result\":${line:-null}}" | tee -a "$out"
    done
  done
done
python3 - "$out" >&2 <<'PY'
import json, sys, statistics
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for x in runs:
    if x["result"] is None: continue
    by.setdefault((x["workers"], x["hidden"], x["round"]), {})[x["build"]] = x["result"]["chars_per_s"]
for cfg in sorted({k[:2] for k in by}):
    ratios = [v["after"] / v["before"] for k, v in by.items() if k[:2] == cfg and len(v) == 2]
    print(f"workers {cfg[0]} hidden {cfg[1]}: after/before chars_per_s median {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{q:.3f}' for q in ratios)})")
PY
rm -f "$out"
