#!/usr/bin/env python3
"""Writes a PyTorch-Lightning-style MAGVLT checkpoint with random weights at an official
geometry (base: 371.5M + 76.1M parameters, about 1.8 GB in float32), with torch.save, for
timing `magvlt convert` at full size. Not used by `meson test` (too large); see the README
section "Use the official MAGVLT weights" and issue 6 for the measured figures.

Example:
    /usr/bin/python3 tests/convert/make_random_checkpoint.py --preset base \\
        --out /work/cache/magvlt-base-random.ckpt
    /usr/bin/time -v build/model-runtime/tools/magvlt convert \\
        --ckpt /work/cache/magvlt-base-random.ckpt -o /work/cache/magvlt-base-random.gguf
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "model-runtime", "training"))
from export_gguf import Stage2Geometry, VqganGeometry, stage2_shapes, vqgan_shapes  # noqa: E402

PRESETS = {"base": (1024, 24, 8), "large": (1280, 36, 10)}


class LoopState:
    """Stands for Lightning's loop objects: pickled by reference (__main__.LoopState), which
    the converter must skip without importing anything."""

    def __init__(self) -> None:
        self.epoch_progress = {"current": 3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="base")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    c, n_layers, _ = PRESETS[args.preset]
    g = Stage2Geometry(embed_dim=c, n_layers=n_layers, n_heads=PRESETS[args.preset][2],
                       mlp_hidden=4 * c, ctx_len_img=256, ctx_len_txt=64, vocab_size_img=16384,
                       vocab_size_txt=49408)
    v = VqganGeometry(resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 1, 2, 2, 4],
                      num_res_blocks=2, attn_resolutions=[16], z_channels=256, embed_dim=256,
                      n_embed=16384)
    t0 = time.time()
    gen = torch.Generator().manual_seed(args.seed)
    sd: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    n = 0
    for prefix, shapes in (("model.", stage2_shapes(g)), ("model_vqvae.", vqgan_shapes(v))):
        for k, shape in shapes.items():
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            std = 0.02 if len(shape) < 2 else (1.0 / max(fan_in, 1)) ** 0.5
            t = torch.empty(shape)
            t.normal_(0.0, std, generator=gen)
            if k.endswith(("norm1.weight", "norm2.weight", "norm.weight", "norm_out.weight",
                           "ln1.weight", "ln2.weight", "ln.weight")):
                t.add_(1.0)
            sd[prefix + k] = t
            n += t.numel()
    ckpt = {"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "1.5.10",
            "state_dict": sd, "loops": LoopState(), "hparams_name": "kwargs",
            "hyper_parameters": {"cfg_name": f"magvlt-it2it-{args.preset}"}}
    torch.save(ckpt, args.out)
    print(f"wrote {args.out}: {len(sd)} tensors, {n} parameters, "
          f"{os.path.getsize(args.out) / 2**30:.2f} GiB in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
