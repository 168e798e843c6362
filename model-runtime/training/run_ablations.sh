#!/bin/sh
# Short-budget ablation (issue 7): full / without MixSel / without UnrollMask, small model
# (C 128, 4 layers, 4 heads), same data, steps, seed and task weights; each exported and
# evaluated through the C engine on the validation split (captions of 300 single icons,
# 150 generations scored by the classifier). Results: $WORK/ablation/*.eval.json
set -eu
CACHE=${CACHE:-/work/cache/magvlt-train}
DATA=$CACHE/data
WORK=$CACHE/work
STEPS=${STEPS:-800}
T=model-runtime/training
PY="nice -n 10 /usr/bin/python3"
mkdir -p "$WORK/ablation"
for v in full no-mixsel no-unroll; do
    case $v in full) flag="";; no-mixsel) flag=--no-mixsel;; no-unroll) flag=--no-unroll;; esac
    $PY $T/train.py --work "$WORK" --data "$DATA" --out "ablation/$v" --steps "$STEPS" --batch 32 \
        --embed-dim 128 --n-layers 4 --n-heads 4 --lr 1e-3 --warmup 100 --task-weights 3,1,1 \
        --save-every 100 --log-every 50 $flag
    $PY $T/export_default.py --work "$WORK" --stage2 "$WORK/ablation/$v/ckpt.pt" \
        --official-dir "$WORK/ablation/$v/official" --name "ablation-$v" --out "$WORK/ablation/$v.gguf"
    $PY $T/evaluate.py --model "$WORK/ablation/$v.gguf" --data "$DATA" --work "$WORK" \
        --out "$WORK/ablation/$v.eval.json" --splits val --n-caption 300 --n-generate 150 \
        --skip inpaint,vq
done
