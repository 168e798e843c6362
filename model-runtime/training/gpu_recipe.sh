#!/bin/sh
# GPU recipe for the stage-2 transformer (issue 7): one script of <= 6 minutes on a lent device
# machine (its own PyTorch 2.x, CUDA, bf16 autocast; no librsvg needed there).
#
# The dataset is rendered and encoded HERE (dataset.py, vqgan_train.py encode); only the code
# grids travel: WORK/codes.npz (codes + captions + splits, ~9 MB) and WORK/bpe.json. Copy them
# into a git-ignored folder of the working tree and carry it:
#     mkdir -p build/gpu-work && cp /work/cache/magvlt-train/work/{codes.npz,bpe.json} build/gpu-work/
#     run(command="sh model-runtime/training/gpu_recipe.sh build/gpu-work", carry=["build/gpu-work"],
#         timeout_s=420)
# To go on training the shipped model rather than start afresh, also carry its weights as
# build/gpu-work/init.pt (an --export file; the shipped one's is kept in the training cache,
# WORK/gpu7/run/main.pt, 15 MB in float16 -- see TRAINING_NOTES.md; carry float16, not float32:
# the repository (29 MB) + codes (9 MB) + 30 MB of float32 weights is over the 64 MiB that
# travels): the run then starts from them with a fresh optimiser, a short warm-up and a new cosine
# decay over its time budget.
#
# The default model (C 256, 8 layers, 4 heads, batch 2048) trains alone unless ABLATE=1, which
# also trains the ablation (full / without MixSel / without UnrollMask at C 192, 6 layers, batch
# 256) beside it on the same GPU; each of the four then gets about a quarter of the steps.
# Every run's cosine schedule ends when its time budget does (train.py --time-budget), so the
# weights that come back are the decayed ones, not a snapshot cut off mid-schedule.
#
# Measured on an H100 (2026-11-27, PyTorch 2.11): batch 512, about 0.21 s per step for the default
# model alone and 0.28 s with the three ablation runs beside it -- the step is bound by Python and
# kernel launches (seven small forward passes per step then), not by the GPU; see TRAINING_NOTES.md.
# Since run 7, train.py fuses them into two trunk calls (--fuse-passes, default on; unmeasured on
# a GPU): compare the next run's first 200 steps with run 4's 51.1 s at batch 2048 on an H100.
# Batch 2048 (the default now, run 4): 0.25 s per step (first 200 steps: 51.1 s), so 3.3 times
# the samples per second of batch 512; 1,335 steps in a 320 s budget, 342 s for the whole script.
# On an H200 (run 5): 0.21 s per step at batch 2048, 1,405 steps in a 300 s budget, 320 s in all.
# Batch 4096 on an H100 (run 6): 0.41 s per step, only 1.27 times the rows per second of 2048.
# Two calls on one warm machine (runs 6 and 7): the second, within the 30 s the machine stays
# warm, carries nothing and starts from the first's weights, which are still there:
#     cp W/run/main.pt W/init.pt && rm -rf W/run W/main && sh .../gpu_recipe.sh W
# (W/main/ckpt.pt left over would resume the finished run instead of starting from init.pt).
#
# What comes back in $OUT: gpu-results.tar.gz split into parts of <= 15 MiB (float16 weights
# without optimiser state, logs; at most 64 MiB in all). Here:
#     mkdir -p WORK/gpu && cat OUTDIR/gpu-results.tar.gz.part* | tar xzf - -C WORK/gpu
# then export with export_default.py --stage2 WORK/gpu/run/main.pt --f16.
#
# Test it here on the CPU with tiny settings:
#     DEVICE=cpu BUDGET=15 MAIN="--embed-dim 64 --n-layers 2 --batch 32" ABLATE=1 \
#         ABL="--embed-dim 32 --n-layers 1 --batch 16" ABL_STEPS=5 OUT=/tmp/o PY=/usr/bin/python3 \
#         sh model-runtime/training/gpu_recipe.sh W
set -u
W=${1:?usage: gpu_recipe.sh WORK_DIR_WITH_codes.npz_AND_bpe.json}
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-320}
ABLATE=${ABLATE:-0}
ABL_STEPS=${ABL_STEPS:-2000}
MAIN=${MAIN:---embed-dim 256 --n-layers 8 --n-heads 4 --batch 2048}
ABL=${ABL:---embed-dim 192 --n-layers 6 --n-heads 4 --batch 256}
PY=${PY:-python3}
T=model-runtime/training
R=$W/run
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$R"
$PY -c 'import sys, torch, numpy
print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")'

common="--device $DEVICE --threads 2 --time-budget $BUDGET --task-weights 2,1,1 --log-every 50 --export-half"
if [ -f "$W/init.pt" ]; then
    start="--init $W/init.pt --lr 1e-3 --warmup 50"  # runs 6-7: 1.2e-3/100 first raised the loss
else
    start="--lr 2e-3 --warmup 200"
fi
# shellcheck disable=SC2086
$PY $T/train.py --work "$W" --out main $common $start $MAIN --steps 100000 --save-every 1000 \
    --export "$R/main.pt" > "$R/main.log" 2>&1 &
pids=$!
if [ "$ABLATE" = 1 ]; then
    for v in full no-mixsel no-unroll; do
        case $v in full) flag="" ;; no-mixsel) flag=--no-mixsel ;; no-unroll) flag=--no-unroll ;; esac
        # shellcheck disable=SC2086
        $PY $T/train.py --work "$W" --out "abl-$v" $common --lr 2e-3 --warmup 200 $ABL --steps "$ABL_STEPS" \
            --save-every 1000 $flag --export "$R/abl-$v.pt" > "$R/abl-$v.log" 2>&1 &
        pids="$pids $!"
    done
fi
status=0
for pid in $pids; do wait "$pid" || status=1; done
for f in "$R"/*.log; do echo "== $f"; tail -n 2 "$f" | cut -c1-400; done
for d in main abl-full abl-no-mixsel abl-no-unroll; do
    [ -f "$W/$d/log.jsonl" ] && cp "$W/$d/log.jsonl" "$R/$d.jsonl"
done
tar czf "$W/gpu-results.tar.gz" -C "$W" run
split -b 15M -d "$W/gpu-results.tar.gz" "$OUT/gpu-results.tar.gz.part"
ls -l "$OUT"
exit $status
