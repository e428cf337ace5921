#!/usr/bin/env bash
# Scaling run on a many-core machine (the lent 16-core device machine; no .NET there, so it runs a
# self-contained publish). Alternates DistRnn and the PyTorch peer, one JSON line per run, into $OUT.
#   usage: bench/device_scaling.sh DIR_WITH_distrnn_AND_torch_rnn.py CORPUS
set -uo pipefail
dir=${1:?dir}; corpus=${2:?corpus}; out=${OUT:-/tmp}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 DOTNET_gcServer=0
py=$(command -v python3)
log=$out/scaling.jsonl; : > "$log"
run() { local label=$1; shift; local t0=$(date +%s.%N); local r; r=$("$@" 2>/dev/null | tail -1); echo "{\"label\":\"$label\",\"wall_s\":$(awk "BEGIN{print $(date +%s.%N) - $t0}"),\"result\":${r:-null}}" | tee -a "$log"; }
nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|MHz" | head -5
for round in 1 2; do
  for h in 256 1024; do
    run "torch-single-t1-h$h" $py "$dir/torch_rnn.py" single --corpus "$corpus" --threads 1 --hidden $h --seq 64 --batch 32 --steps 20
    run "distrnn-w0-t1-h$h" "$dir/distrnn" bench --workers 0 --threads 1 --hidden $h --seq 64 --batch 32 --steps 20 --json
  done
done
for n in 1 2 4 8; do
  run "torch-ddp-weak-w$n-h256" $py "$dir/torch_rnn.py" ddp --corpus "$corpus" --world $n --scaling weak --hidden 256 --seq 64 --batch 32 --steps 20 --port $((29500 + n))
  run "distrnn-weak-w$n-t1-h256" "$dir/distrnn" bench --workers $n --threads 1 --hidden 256 --seq 64 --batch $((32 * n)) --steps 20 --json
done
run "distrnn-w0-t8-h1024-b64" "$dir/distrnn" bench --workers 0 --threads 8 --hidden 1024 --seq 64 --batch 64 --steps 10 --json
run "distrnn-w4-t2-h1024-b64" "$dir/distrnn" bench --workers 4 --threads 2 --hidden 1024 --seq 64 --batch 64 --steps 10 --json
echo "done"
