#!/usr/bin/env bash
# One core against one core for the gated and stacked cells (issue 16) and today's Elman rnn: alternates
# `distrnn bench --threads 1` and the PyTorch peer (bench/torch_steps.py: ../shared/bench/torch_rnn.py single
# --threads 1, timing each step too) run by run. One JSON line per run on stdout, with the 1-minute load average
# read just before it. See docs/benchmarks.md.
#   usage: [NICE=-10] bench/compare_cells.sh DISTRNN_EXECUTABLE [ROUNDS]
# NICE (root only when negative) runs both programs under `nice -n $NICE`, so that on a shared machine each gets
# a core most of the time.
# Needs: apt-get install -y python3-torch python3-numpy libopenblas0-pthread (and OpenBLAS selected as libblas.so.3:
# Debian's reference BLAS makes PyTorch several times slower; check with update-alternatives --display
# libblas.so.3-x86_64-linux-gnu)
set -uo pipefail
exe=${1:?usage: compare_cells.sh DISTRNN_EXECUTABLE [ROUNDS]}
rounds=${2:-3}
torch=$(dirname "$0")/torch_steps.py
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

run() { # label, command...
  local label=$1; shift
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local out; out=$(${NICE:+nice -n "$NICE"} "$@" 2>/dev/null | tail -1)
  echo "{\"label\":\"$label\",\"round\":$r,\"loadavg_1m_before\":$load,\"nice\":${NICE:-0},\"result\":${out:-null}}"
}

for r in $(seq 1 "$rounds"); do
  for cell in lstm gru; do
    run "torch-t1-$cell-l2-h256" /usr/bin/python3 "$torch" --threads 1 --cell $cell --layers 2 --hidden 256 --seq 64 --batch 32
    run "distrnn-t1-$cell-l2-h256" "$exe" bench --workers 0 --threads 1 --cell $cell --layers 2 --hidden 256 --seq 64 --batch 32 --json
  done
  run "torch-t1-rnn-h256" /usr/bin/python3 "$torch" --threads 1 --hidden 256 --seq 64 --batch 32
  run "distrnn-t1-rnn-h256" "$exe" bench --workers 0 --threads 1 --hidden 256 --seq 64 --batch 32 --json
done
