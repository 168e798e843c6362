#!/usr/bin/env python3
"""The trainer's batched forward (train.MagvltTrain.run) equals the independent reference
(reference.MagvltReference, which the C engine is checked against) on random weights: both
layouts, and both in one call (the trainer lays every row out in the I2T order, the reference
keeps each layout's own), masked image/text slots, several text lengths in one batch (padding
trimmed to the batch's longest), the length head at the I2T BOT slot. Then the whole training
objective (train.Objective: three task groups, MixSel, UnrollMask, the length pass) with its
passes fused into two trunk calls equals the same objective run one call per pass: every loss and
every gradient."""
import os
import sys

import torch

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else
                os.path.join(os.path.dirname(__file__), "..", "..", "model-runtime", "training"))
from reference import BOC, BOG, BOI, BOT, MagvltConfig  # noqa: E402
from train import MagvltTrain, Objective, build_parser, segment_rows, task_groups  # noqa: E402

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

# ---- the objective, fused passes against one call per pass ------------------------------------
B = 24
img = torch.randint(0, cfg.vocab_size_img, (B, I))
n_txt = torch.randint(1, T + 1, (B,))
txt = torch.randint(0, cfg.vocab_size_txt - 1, (B, T))
for b in range(B):
    txt[b, n_txt[b] - 1:] = cfg.text_eot_id
s = int(I ** 0.5)
batch = {"img": img, "txt": txt, "n_txt": n_txt, "n_txt_cpu": n_txt.clone(),
         "hhalf": torch.randint(0, cfg.vocab_size_img, (B, s, s // 2)),
         "vhalf": torch.randint(0, cfg.vocab_size_img, (B, s // 2, s))}
results = {}
for fuse in ("on", "off"):
    args = build_parser().parse_args(["--work", "-", "--fuse-passes", fuse])
    out = Objective(m, args)(task_groups(B, [3, 1, 1]), batch, torch.Generator().manual_seed(11))
    m.zero_grad()
    out["loss"].backward()
    results[fuse] = ({k: float(v) for k, v in out.items()},
                     [p.grad.clone() for p in m.parameters() if p.grad is not None])
(lo_on, g_on), (lo_off, g_off) = results["on"], results["off"]
if set(lo_on) != set(lo_off) or len(lo_on) < 15 or len(g_on) != len(g_off):
    sys.exit(f"FAIL objective: different outputs {sorted(set(lo_on) ^ set(lo_off))} or gradients")
d_loss = max(abs(lo_on[k] - lo_off[k]) for k in lo_on)
d_grad = max(float((a - b).abs().max()) for a, b in zip(g_on, g_off))
if d_loss > 1e-9 or d_grad > 1e-9:
    sys.exit(f"FAIL objective: fused passes differ from separate ones (loss {d_loss:.2e}, grad {d_grad:.2e})")
print(f"ok: objective with fused passes == one call per pass ({len(lo_on)} outputs, loss |diff| "
      f"{d_loss:.1e}, gradient |diff| {d_grad:.1e})")
