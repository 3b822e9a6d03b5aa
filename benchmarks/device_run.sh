#!/usr/bin/env bash
# What this project runs on a lent GPU machine, as one prepared script (the device tool gives a session
# 15 minutes of one H200 in all). Run from the repository root with the Fashion-MNIST IDX files in
# $GANKIT_DATA; every result goes to $OUT (default /tmp/device-out). Each part has its own time limit and
# writes as it goes, so one failing part or a timeout leaves the others' results.
#
#   1. benchmarks/gpu.py: the loop's images/s on CUDA in fp32, bf16, fp16 (GradScaler) and the fast path,
#      many seeds in one process, and several processes sharing the GPU;
#   2. tests/test_cuda.py: the CUDA path's tests (skipped on CPU-only machines such as CI);
#   3. at the same time, fixed-step-count benchmarks whose scores do not depend on the device:
#      benchmarks/tricks.py --suite fashion (issue 14's Fashion-MNIST ablation), --suite grid --tricks minibatch,
#      and benchmarks/recipes.py (issue 10's unconditional recipes at 20,000 steps).
set -u
OUT=${OUT:-/tmp/device-out}
RES=${RES:-/tmp/device-res}
PHASE_S=${PHASE_S:-330}
mkdir -p "$OUT" "$RES"/{tricks,grid,recipes}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PY:-python3}
DEV=${DEV:-cuda}  # a dry run on a CPU-only machine: DEV=cpu with small SMALL below
SMALL=${SMALL:-}  # e.g. SMALL="--steps 20 --n 300" (recipes) for a dry run
FASHION_STEPS=${FASHION_STEPS:-2000}
GRID_STEPS=${GRID_STEPS:-}
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'
  nproc
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# the runs already recorded (benchmarks/results/*_runs.jsonl) are reused: a second call goes on where one stopped
for part in tricks grid; do cp benchmarks/results/tricks_runs.jsonl "$RES/$part/" 2>/dev/null; done
cp benchmarks/results/recipes_runs.jsonl "$RES/recipes/" 2>/dev/null

# 1. alone on the machine, so its timings are not shared with the benchmarks below (SKIP_GPU_PY=1: not again)
[ -n "${SKIP_GPU_PY:-}" ] || timeout 200 $PY benchmarks/gpu.py --time-limit 60 --concurrent 1,4,8 --out "$OUT/gpu" > "$RES/gpu.log" 2>&1
echo "gpu.py rc $?"; tail -3 "$RES/gpu.log" 2>/dev/null

# 2 and 3 side by side
timeout "$PHASE_S" $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py > "$OUT/tests.txt" 2>&1 &
timeout "$PHASE_S" $PY benchmarks/recipes.py --device "$DEV" --jobs 7 $SMALL --time-limit 1 --resume \
  --variants base,hinge,lr-decay,ema-0.9999,d-sn-hinge,r1,lr-decay-ema-0.9999 --out "$RES/recipes" \
  > "$RES/recipes.log" 2>&1 &
timeout "$PHASE_S" $PY benchmarks/tricks.py --suite fashion --seeds 3 --fashion-steps "$FASHION_STEPS" --device "$DEV" --jobs 6 \
  --time-limit $(( (PHASE_S - 90) / 60 )) --resume --out "$RES/tricks" > "$RES/tricks.log" 2>&1 &
timeout "$PHASE_S" $PY benchmarks/tricks.py --suite grid --tricks minibatch --seeds 10 ${GRID_STEPS:+--steps $GRID_STEPS} --device "$DEV" --jobs 3 \
  --time-limit $(( (PHASE_S - 90) / 60 )) --resume --out "$RES/grid" > "$RES/grid.log" 2>&1 &
wait
tail -3 "$OUT/tests.txt"
grep -h -v "^gankit:" "$RES"/*.log | tail -60
tar -czf "$OUT/results.tgz" -C "$RES" . && ls -la "$OUT"
