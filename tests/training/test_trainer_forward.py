#!/usr/bin/env python3
"""The trainer's batched forward (train.MagvltTrain.run) equals the independent reference
(reference.MagvltReference, which the C engine is checked against) on random weights: both
layouts, and both in one call (the trainer lays every row out in the I2T order, the reference
keeps each layout's own), masked image/text slots, several text lengths in one batch (padding
trimmed to the batch's longest), the length head at the I2T BOT slot."""
import os
import sys

import torch

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else
                os.path.join(os.path.dirname(__file__), "..", "..", "model-runtime", "training"))
from reference import BOC, BOG, BOI, BOT, MagvltConfig  # noqa: E402
from train import MagvltTrain, segment_rows  # noqa: E402

torch.manual_seed(0)
cfg = MagvltConfig(embed_dim=32, n_layers=2, n_heads=4, mlp_hidden=64, ctx_len_img=16, ctx_len_txt=12,
                   vocab_size_img=40, vocab_size_txt=30, n_special=10)
m = MagvltTrain(cfg).double()
m.init_weights(3)
with torch.no_grad():
    for p in m.parameters():
        p.add_(0.05 * torch.randn_like(p))  # non-trivial LayerNorm / bias values
I, T = cfg.ctx_len_img, cfg.ctx_len_txt
B = 5
img = torch.randint(0, cfg.vocab_size_img, (B, I))
n_txt = torch.tensor([1, 4, 7, 9, 3])
Tb = int(n_txt.max())
txt = torch.randint(0, cfg.vocab_size_txt - 1, (B, T))
for b in range(B):
    txt[b, n_txt[b] - 1:] = cfg.text_eot_id
img_m = torch.rand(B, I) < 0.5
txt_m = (torch.rand(B, T) < 0.5) & (torch.arange(T)[None] < n_txt[:, None])
worst = 0.0
mixed = torch.tensor([True, False, False, True, False])  # per-row layouts in one call (True: T2I)
for layout in ("T2I", "I2T", mixed):
    t2i = mixed if layout is mixed else torch.full((B,), layout == "T2I")
    spc = torch.where(t2i[:, None], torch.tensor([BOC, BOT, BOG, BOI]), torch.tensor([BOC, BOI, BOG, BOT]))
    with torch.no_grad():
        h = m.run(layout, spc, img, img_m, txt[:, :Tb], txt_m[:, :Tb], n_txt)
    ri, rt = segment_rows(I, Tb)
    for b in range(B):
        lay = "T2I" if t2i[b] else "I2T"
        ref = m(lay, img[b].tolist(), img_m[b].tolist(), txt[b].tolist(), txt_m[b].tolist(), int(n_txt[b]))
        n = int(n_txt[b])
        with torch.no_grad():
            got_img = m.head(h[b, ri], "img")
            got_txt = m.head(h[b, rt][:n], "txt")
            checks = [(got_img, ref["img_logits"]), (got_txt, ref["txt_logits"][:n])]
            if lay == "I2T":
                checks.append((m.length_predictor(h[b, I + 3]), ref["len_logits"]))
        for got, exp in checks:
            d = float((got - exp).abs().max())
            worst = max(worst, d)
            if d > 1e-9:
                sys.exit(f"FAIL {lay} ({'mixed' if layout is mixed else 'one layout'}) sample {b}: max |diff| {d}")
print(f"ok: batched trainer forward == reference (max |diff| {worst:.2e})")
