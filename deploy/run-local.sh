#!/usr/bin/env bash
# Starts a coordinator and N worker processes on this machine (loopback), waits for the run to end and
# prints its result. Every process is a real one, exactly as on separate machines, only on 127.0.0.1.
#
#   deploy/run-local.sh [N] [train options …]
#   deploy/run-local.sh 2 --hidden 512 --steps 20 --precision float64
#
# Environment: PORT (default: a free one), OUT (default: a new temporary folder), CONFIGURATION (Release),
# WORKER_THREADS (default: cores / N), NO_BUILD=1 to use the existing build.
# Exit code: 0 when the coordinator and every worker exit 0 and no frame was dropped, 1 otherwise.
set -euo pipefail

N=${1:-2}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then echo "error: N must be a positive number of workers, got '$N'" >&2; exit 2; fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONFIGURATION=${CONFIGURATION:-Release}
if [[ -z "${PORT:-}" ]]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 4053)
fi
OUT=${OUT:-$(mktemp -d /tmp/distrnn-local.XXXXXX)/run}
LOGS=$(dirname "$OUT")/logs
mkdir -p "$LOGS"
CORES=$(nproc 2>/dev/null || echo 2)
WORKER_THREADS=${WORKER_THREADS:-$(( CORES / N > 0 ? CORES / N : 1 ))}

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  echo "building ($CONFIGURATION) …" >&2
  dotnet build "$ROOT/DistRnn.sln" -c "$CONFIGURATION" -v quiet -nologo >/dev/null
fi
COORDINATOR="$ROOT/src/Coordinator/bin/$CONFIGURATION/net10.0/distrnn.dll"
WORKER="$ROOT/src/Worker/bin/$CONFIGURATION/net10.0/distrnn-worker.dll"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

echo "coordinator on 127.0.0.1:$PORT, $N workers × $WORKER_THREADS threads, output $OUT, logs $LOGS" >&2
dotnet "$COORDINATOR" train --workers 0 --listen "127.0.0.1:$PORT" --min-workers "$N" --out "$OUT" --json "$@" \
  >"$LOGS/coordinator.out" 2>"$LOGS/coordinator.err" &
COORD_PID=$!
PIDS+=("$COORD_PID")
WORKER_PIDS=()
for i in $(seq 1 "$N"); do
  dotnet "$WORKER" --join "127.0.0.1:$PORT" --threads "$WORKER_THREADS" --give-up-after 120 >"$LOGS/worker-$i.log" 2>&1 &
  WORKER_PIDS+=("$!")
  PIDS+=("$!")
done

status=0
wait "$COORD_PID" || status=$?
echo "coordinator exit $status" >&2
for i in "${!WORKER_PIDS[@]}"; do
  s=0
  wait "${WORKER_PIDS[$i]}" || s=$?
  echo "worker $((i + 1)) exit $s" >&2
  [[ $s -eq 0 ]] || status=1
done
PIDS=()

if grep -qi "oversized" "$LOGS"/*; then echo "error: a frame was dropped (oversized payload), see $LOGS" >&2; status=1; fi
if [[ $status -ne 0 ]]; then
  echo "--- coordinator stderr ---" >&2; tail -n 20 "$LOGS/coordinator.err" >&2
fi
grep '"event":"done"' "$LOGS/coordinator.out" || { echo "error: the run did not finish, see $LOGS" >&2; status=1; }
exit $(( status == 0 ? 0 : 1 ))
