#!/bin/sh
# CPU recipe of a default model (issue 7): the whole pipeline on 2 cores. The model it trains is
# smaller than the shipped one (which was trained on lent GPUs, gpu_recipe.sh) and is written to
# $WORK/cpu-default.gguf with its evaluation beside it; replace data/models/default.gguf with it
# only if that evaluation beats data/models/eval.json (then also contact_sheet.py,
# record_regression.py and the card, as TRAINING_NOTES.md describes). Every step resumes from its
# checkpoint in $WORK when re-run, so the script can be restarted after an interruption. Run from
# the source root with Debian's /usr/bin/python3 (python3-torch, python3-numpy, python3-pil, python3-yaml,
# gir1.2-rsvg-2.0, python3-gi-cairo) after `npm ci` and a meson build (for the evaluation CLI).
# Each step runs at nice 10 (the machine is shared), stage 2 on both cores with bf16 autocast
# (--cpu-bf16: this machine's AMX units; 0.8-1.0 s per step at batch 64 over a whole run; at
# batch 32 0.52 s against 2.85 s in float32 -- on a CPU without AVX512-BF16 or AMX drop it);
# see TRAINING_NOTES.md.
set -eu
CACHE=${CACHE:-/work/cache/magvlt-train}
DATA=$CACHE/data
WORK=${WORK:-$CACHE/work}
T=model-runtime/training
PY="nice -n 10 /usr/bin/python3"
mkdir -p "$WORK"

# 1. dataset: 64x64 renders + captions + splits (~2 min)
[ -f "$DATA/dataset.npz" ] || $PY $T/dataset.py --out "$DATA"
# 2. VQGAN (taming architecture, 8x8 codes, 1024 codes) and the code grids
[ -f "$WORK/vqgan/vqgan.pt" ] && grep -q '"step": 2000' "$WORK/vqgan/log.jsonl" || \
    $PY $T/vqgan_train.py train --data "$DATA" --work "$WORK" --steps 2000
[ -f "$WORK/codes.npz" ] || $PY $T/vqgan_train.py encode --data "$DATA" --work "$WORK"
# 3. text vocabulary (CharBPE, 3,072 entries, 32 text slots) on the train/val/test captions
[ -f "$WORK/bpe.json" ] || {
    /usr/bin/python3 -c "import numpy as np; z = np.load('$DATA/dataset.npz'); \
open('$WORK/captions.txt', 'w').write('\n'.join(z['captions'][z['split'] < 3]) + '\n')"
    $PY $T/charbpe.py --corpus "$WORK/captions.txt" --vocab-size 3072 --ctx-len 32 --out "$WORK/bpe.json"; }
# 4. the independent evaluation classifier (real renders only)
[ -f "$WORK/classifier/net.pt" ] || $PY $T/classifier.py train --data "$DATA" --work "$WORK"
# 5. stage 2 (resumable; ~3 h: 12,000 steps of 64 pairs, 0.9-1.0 s each on 2 cores in bf16;
#    the shipped model is larger and was trained on a lent GPU: gpu_recipe.sh)
#    Its own folder: a stage2/ checkpoint of other settings would otherwise be resumed.
$PY $T/train.py --work "$WORK" --data "$DATA" --out stage2-cpu --steps 12000 --batch 64 \
    --embed-dim 192 --n-layers 6 --n-heads 4 --lr 1e-3 --warmup 300 --task-weights 3,1,1 \
    --save-every 100 --log-every 20 --threads 2 --cpu-bf16
# 6. export (official layout -> GGUF) and evaluation, beside the other work files
$PY $T/export_default.py --work "$WORK" --stage2 "$WORK/stage2-cpu/ckpt.pt" \
    --official-dir "$WORK/official-cpu" --out "$WORK/cpu-default.gguf" --threads 2
$PY $T/evaluate.py --model "$WORK/cpu-default.gguf" --data "$DATA" --work "$WORK" \
    --out "$WORK/cpu-default.eval.json" --threads 2
