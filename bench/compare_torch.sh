#!/usr/bin/env bash
# Side-by-side throughput of `distrnn bench` and the PyTorch peer (../shared/bench/torch_rnn.py) on this
# machine, alternating the two so that load from other processes hits both alike. One JSON line per run
# on stdout, each with the peak RSS of the process from /usr/bin/time -v. See docs/benchmarks.md.
#   usage: bench/compare_torch.sh DISTRNN_EXECUTABLE [ROUNDS [WORKER_EXECUTABLE]]
# With WORKER_EXECUTABLE it ends with the peak RSS of a coordinator (train --listen) and of one worker
# process (--join) training 30 steps at hidden 256 and 1024.
# Needs: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
set -uo pipefail
exe=${1:?usage: compare_torch.sh DISTRNN_EXECUTABLE [ROUNDS]}
rounds=${2:-3}
worker=${3:-}
torch=${TORCH_RNN:-$(dirname "$0")/../../shared/bench/torch_rnn.py}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

run() { # label, command...
  local label=$1; shift
  local err; err=$(mktemp)
  local out; out=$(/usr/bin/time -v "$@" 2>"$err" | tail -1)
  local rss; rss=$(grep "Maximum resident set size" "$err" | grep -Eo '[0-9]+')
  echo "{\"label\":\"$label\",\"round\":$r,\"max_rss_kb\":${rss:-0},\"result\":${out:-null}}"
  rm -f "$err"
}

for r in $(seq 1 "$rounds"); do
  for h in 128 256 512 1024; do
    run "torch-single-h$h" /usr/bin/python3 "$torch" single --threads 1 --hidden "$h" --seq 64 --batch 32
    run "distrnn-w0-h$h" "$exe" bench --workers 0 --hidden "$h" --seq 64 --batch 32 --json
  done
  run "torch-ddp2-h256" /usr/bin/python3 "$torch" ddp --world 2 --hidden 256 --seq 64 --batch 32
  run "distrnn-w2-b64-h256" "$exe" bench --workers 2 --hidden 256 --seq 64 --batch 64 --json
  run "distrnn-w1-h256" "$exe" bench --workers 1 --hidden 256 --seq 64 --batch 32 --json
  run "distrnn-w0b-h256" "$exe" bench --workers 0 --hidden 256 --seq 64 --batch 32 --json
  run "distrnn-w2-h1024" "$exe" bench --workers 2 --hidden 1024 --seq 64 --batch 32 --json
  run "distrnn-w1-h1024" "$exe" bench --workers 1 --hidden 1024 --seq 64 --batch 32 --json
  for h in 256 1024; do  # one core against one core
    run "torch-single-t1-h$h" /usr/bin/python3 "$torch" single --threads 1 --hidden "$h" --seq 64 --batch 32
    run "distrnn-w0-t1-h$h" "$exe" bench --workers 0 --threads 1 --hidden "$h" --seq 64 --batch 32 --json
  done
done

if [ -n "$worker" ]; then
  for h in 256 1024; do
    port=$((47000 + RANDOM % 1000)); out=$(mktemp -d); cerr=$(mktemp); werr=$(mktemp)
    /usr/bin/time -v "$exe" train --workers 0 --listen "127.0.0.1:$port" --min-workers 1 --hidden "$h" --steps 30 \
      --checkpoint-every 1000 --out "$out/run" --json >/dev/null 2>"$cerr" &
    cpid=$!
    sleep 3
    /usr/bin/time -v "$worker" --join "127.0.0.1:$port" --give-up-after 60 >/dev/null 2>"$werr"
    wait $cpid
    echo "{\"label\":\"rss-coordinator-h$h\",\"max_rss_kb\":$(grep 'Maximum resident' "$cerr" | grep -Eo '[0-9]+')}"
    echo "{\"label\":\"rss-worker-h$h\",\"max_rss_kb\":$(grep 'Maximum resident' "$werr" | grep -Eo '[0-9]+')}"
    rm -rf "$out" "$cerr" "$werr"
  done
fi
