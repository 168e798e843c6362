#!/bin/sh
# GPU recipe for the stage-2 transformer (issue 7): one script of <= 6 minutes on a lent device
# machine (its own PyTorch 2.x, CUDA, bf16 autocast; no librsvg needed there).
#
# The dataset is rendered and encoded HERE (dataset.py, vqgan_train.py encode); only the code
# grids travel: WORK/codes.npz (codes + captions + splits, ~6 MB compressed) and WORK/bpe.json.
# Copy them into a git-ignored folder of the working tree and carry it, e.g.
#     mkdir -p build/gpu-work && cp /work/cache/magvlt-train/work/{codes.npz,bpe.json} build/gpu-work/
#     run(command="sh model-runtime/training/gpu_recipe.sh build/gpu-work", carry=["build/gpu-work"],
#         timeout_s=420)
# The checkpoint comes back in $OUT as shards of <= 16 MiB (stage2-ckpt.pt.partNN); join them
# here with `cat stage2-ckpt.pt.part* > WORK/stage2-gpu/ckpt.pt` and export with
# export_default.py --stage2 WORK/stage2-gpu/ckpt.pt.
#
# UNTESTED in the session that wrote it (no device machine was lent); the CPU path is tested.
set -eu
W=${1:?usage: gpu_recipe.sh WORK_DIR_WITH_codes.npz_AND_bpe.json}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
# ~5 minutes of training at most; the last checkpoint (every 250 steps) survives the time limit
timeout 300 python3 model-runtime/training/train.py --work "$W" --device cuda --threads 8 \
    --batch 512 --steps 6000 --lr 2e-3 --warmup 300 --save-every 250 --log-every 50 \
    --embed-dim 256 --n-layers 6 --n-heads 4 || echo "training stopped (time limit): keeping the last checkpoint"
cp "$W/stage2/log.jsonl" "$OUT/stage2-log.jsonl"
split -b 15M -d "$W/stage2/ckpt.pt" "$OUT/stage2-ckpt.pt.part"
ls -l "$OUT"
