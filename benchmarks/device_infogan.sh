#!/usr/bin/env bash
# Issue 9's InfoGAN sweep on Fashion-MNIST, on a lent GPU (the device tool: 15 minutes of one H200 in all), as
# one prepared script: VARIANTS recipes of preset fashion-infogan side by side on the one GPU, each
# `benchmarks/infogan.py --no-control --seeds SEEDS` in its own process and folder ($RES/vK), every finished
# seed appended to that folder's infogan_runs.jsonl at once (a timeout keeps the seeds done). Results go to
# $RES/infogan/vK/ and, packed, to $OUT/infogan.tgz (the device tool brings back only a few files: one
# archive keeps them all; its first call, on 2026-12-04, lost five folders' logs that way); merge them into benchmarks/results/infogan_sweep_runs.jsonl and write the table with
# `python benchmarks/infogan.py --sweep-table benchmarks/results/infogan_sweep_runs.jsonl`.
set -u
OUT=${OUT:-/tmp/device-out}
RES=${RES:-/tmp/device-res}
LIMIT_S=${LIMIT_S:-480}
SEEDS=${SEEDS:-3}
DEV=${DEV:-cuda}  # DEV=cpu STEPS_SCALE=0.002 for a dry run on a CPU-only machine
STEPS_SCALE=${STEPS_SCALE:-1}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$OUT" "$RES/infogan"
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1; nproc
  $PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
BASE="model.z_std=0.1 model.z_continuous=0"  # the best Fashion-MNIST row of the CPU sweep (46.5% at 4,000 steps)
VARIANTS=(
  "10000|$BASE"
  "20000|$BASE"
  "10000|$BASE train.g_optim.lr=0.001"
  "10000|model.z_continuous=0 model.z_dim=62 train.g_optim.lr=0.001"
  "10000|$BASE objective.terms.info.weight=2"
  "10000|model.z_std=0.1"
  "10000|$BASE data.batch_size=128"
  "10000|$BASE model.d_width=128"
)
i=0
for v in "${VARIANTS[@]}"; do
  steps=$(awk -v s="${v%%|*}" -v k="$STEPS_SCALE" 'BEGIN { printf "%d", s * k }')
  sets=""
  for kv in ${v#*|}; do sets="$sets --set $kv"; done
  mkdir -p "$RES/infogan/v$i"
  timeout "$LIMIT_S" $PY benchmarks/infogan.py --preset fashion-infogan --no-control --seeds "$SEEDS" --resume \
    --steps "$steps" --set train.device=$DEV $sets --out "$RES/infogan/v$i" --workdir "/tmp/ig/v$i" \
    > "$RES/infogan/v$i/log.txt" 2>&1 &
  i=$((i + 1))
done
wait
tar -czf "$OUT/infogan.tgz" -C "$RES" infogan
for d in "$RES"/infogan/v*; do echo "== $d"; grep -h q_cluster_accuracy "$d"/infogan_runs.jsonl 2>/dev/null \
  | $PY -c 'import json,sys; [print(r["extra"], r["steps"], r["seed"], round(r["q_cluster_accuracy"],3), round(r["generated_code_accuracy"],3), r["train_seconds"]) for r in map(json.loads, sys.stdin)]'
  tail -2 "$d/log.txt"; done
