#!/usr/bin/env python3
"""Train the small taming-architecture VQGAN of the default model on the emoji dataset
(dataset.py), and encode the dataset into code grids for the stage-2 trainer.

The network is vqgan_reference.VqganReference itself (the module the C engine's VQGAN is checked
against), so what is trained is exactly what the engine runs. Geometry (default): 64x64 RGB,
ch 32, ch_mult [1,2,2,4] (32/64/64/128 channels; GroupNorm's 32 groups divide each), one
ResnetBlock per level, attention at the 8x8 level (as the official f16 model has it at 16x16) and in the mid blocks, z_channels 64, codebook 1024 x 32,
f = 8 -> an 8x8 code grid.

Quantiser: nearest code by plain squared L2 distance (as the engine searches), straight-through
gradients, commitment loss 0.25, an EMA codebook (decay 0.99) with dead-code restarts (codes
unused for a while are re-seeded from random encoder outputs of the batch). Losses: L1 + MSE on
pixels in [-1, 1] (no perceptual or adversarial loss: both are costly on CPU and the icons are
flat-shaded).

Commands:
    vqgan_train.py train  --data DIR --work DIR [--steps N]      # resumable (DIR/vqgan/ckpt.pt)
    vqgan_train.py eval   --data DIR --work DIR                  # PSNR + codebook usage (val)
    vqgan_train.py encode --data DIR --work DIR                  # DIR/codes.npz
    vqgan_train.py encode --data DIR --work DIR --reuse OLD.npz  # only the rows after OLD's
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import sys
import time
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_gguf import VqganGeometry  # noqa: E402
from vqgan_reference import VqganReference  # noqa: E402

DEFAULT_GEOMETRY = dict(resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 2, 4],
                        num_res_blocks=1, attn_resolutions=[8], z_channels=64, embed_dim=32,
                        n_embed=1024)


class VqganTrainable(VqganReference):
    """VqganReference with trainable initialisation, a continuous decoder entry and an EMA
    codebook (buffers `ema_size`, `ema_sum`, not exported)."""

    def __init__(self, g: VqganGeometry, seed: int = 0) -> None:
        super().__init__(g)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for k, p in self.params.items():
                name = k.replace("/", ".")
                if name.endswith("quantize.embedding.weight"):
                    p.uniform_(-1 / g.n_embed, 1 / g.n_embed, generator=gen)
                elif p.dim() == 4:  # conv: PyTorch's default (kaiming-uniform, a = sqrt 5)
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    bound = 1 / math.sqrt(fan_in)
                    p.uniform_(-bound, bound, generator=gen)
                    if name.endswith(("conv2.weight", "proj_out.weight")):
                        p.mul_(0.3)  # residual branches start small
                elif name.endswith(".weight"):  # GroupNorm
                    p.fill_(1.0)
                else:
                    p.zero_()
        self.register_buffer("ema_size", torch.ones(g.n_embed))
        self.register_buffer("ema_sum", self.p("quantize.embedding.weight").detach().clone())
        self.register_buffer("last_used", torch.zeros(g.n_embed, dtype=torch.long))

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,3,H,W] -> pre-quant latents [B,D,H/f,W/f] (any H, W divisible by f)."""
        g = self.g
        h = self.conv("encoder.conv_in", x)
        res = g.resolution  # attention placement follows the configured geometry, as in taming
        for lvl in range(len(g.ch_mult)):
            for j in range(g.num_res_blocks):
                h = self.res(f"encoder.down.{lvl}.block.{j}", h)
                if self.attn_here(res):
                    h = self.attn(f"encoder.down.{lvl}.attn.{j}", h)
            if lvl != len(g.ch_mult) - 1:
                h = self.downsample(f"encoder.down.{lvl}.downsample.conv", h)
                res //= 2
        h = self.res("encoder.mid.block_1", h)
        h = self.attn("encoder.mid.attn_1", h)
        h = self.res("encoder.mid.block_2", h)
        enc = self.conv("encoder.conv_out", self.norm("encoder.norm_out", h, True))
        return self.conv("quant_conv", enc)

    def decode_q(self, q: torch.Tensor) -> torch.Tensor:
        g = self.g
        h = self.conv("decoder.conv_in", self.conv("post_quant_conv", q))
        h = self.res("decoder.mid.block_1", h)
        h = self.attn("decoder.mid.attn_1", h)
        h = self.res("decoder.mid.block_2", h)
        res = g.resolution // 2 ** (len(g.ch_mult) - 1)
        for lvl in reversed(range(len(g.ch_mult))):
            for j in range(g.num_res_blocks + 1):
                h = self.res(f"decoder.up.{lvl}.block.{j}", h)
                if self.attn_here(res):
                    h = self.attn(f"decoder.up.{lvl}.attn.{j}", h)
            if lvl != 0:
                h = self.upsample(f"decoder.up.{lvl}.upsample.conv", h)
                res *= 2
        return self.conv("decoder.conv_out", self.norm("decoder.norm_out", h, True))

    def codes_of(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code per latent vector (plain squared L2, first minimum) -> [B, h, w]."""
        b, d, hh, ww = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        e = self.p("quantize.embedding.weight")
        dist = (flat ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * flat @ e.t()
        return dist.argmin(1).reshape(b, hh, ww)

    def quantize(self, z: torch.Tensor, step: int, decay: float = 0.99, train: bool = True):
        b, d, hh, ww = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        with torch.no_grad():
            idx = self.codes_of(z).reshape(-1)
        e = self.p("quantize.embedding.weight")
        q = e.detach()[idx]
        commit = F.mse_loss(flat, q)
        if train:
            with torch.no_grad():
                onehot = F.one_hot(idx, self.g.n_embed).type_as(flat)
                n = onehot.sum(0)
                self.ema_size.mul_(decay).add_(n, alpha=1 - decay)
                self.ema_sum.mul_(decay).add_(onehot.t() @ flat.detach(), alpha=1 - decay)
                tot = self.ema_size.sum()
                size = (self.ema_size + 1e-5) / (tot + self.g.n_embed * 1e-5) * tot
                e.copy_(self.ema_sum / size.unsqueeze(1))
                self.last_used[n > 0] = step
        q_st = flat + (q - flat).detach()
        return q_st.reshape(b, hh, ww, d).permute(0, 3, 1, 2), commit, idx

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor, step: int, patience: int) -> int:
        dead = (step - self.last_used) > patience
        nd = int(dead.sum())
        if nd == 0:
            return 0
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        pick = flat[torch.randint(len(flat), (nd,))]
        pick = pick + 0.01 * pick.std() * torch.randn_like(pick)
        e = self.p("quantize.embedding.weight")
        e[dead] = pick
        self.ema_sum[dead] = pick
        self.ema_size[dead] = 1.0
        self.last_used[dead] = step
        return nd

    def taming_state(self) -> Dict[str, torch.Tensor]:
        return {k.replace("/", "."): p.detach().clone() for k, p in self.params.items()}


def geometry(d: dict) -> VqganGeometry:
    return VqganGeometry(**d)


def to_x(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB on 0..255 uint8-converted pixels (the engine's truncation)."""
    pa = torch.clamp(a * 0.5 + 0.5, 0, 1).mul(255).to(torch.uint8).float()
    pb = torch.clamp(b * 0.5 + 0.5, 0, 1).mul(255).round().float()
    mse = ((pa - pb) ** 2).flatten(1).mean(1).clamp_min(1e-3)
    return 10 * torch.log10(255.0 ** 2 / mse)


def load_data(data: str):
    z = np.load(os.path.join(data, "dataset.npz"))
    return z["images"], z["split"]


def save_ckpt(path: str, state: dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def evaluate(vq: VqganTrainable, images: np.ndarray, idx: np.ndarray, bs: int = 64) -> dict:
    ps, used = [torch.zeros(0)], torch.zeros(vq.g.n_embed, dtype=torch.long)
    for i in range(0, len(idx), bs):
        x = to_x(images[idx[i:i + bs]])
        z = vq.encode_z(x)
        codes = vq.codes_of(z)
        y = vq.decode_q(vq.p("quantize.embedding.weight")[codes].permute(0, 3, 1, 2))
        ps.append(psnr(y, x))
        used += torch.bincount(codes.reshape(-1), minlength=vq.g.n_embed)
    p = used.float() / used.sum()
    ent = -(p[p > 0] * p[p > 0].log()).sum()
    return {"psnr": float(torch.cat(ps).mean()), "codes_used": int((used > 0).sum()),
            "perplexity": float(ent.exp()), "n_images": int(len(idx))}


def train(a) -> None:
    torch.set_num_threads(a.threads)
    wd = os.path.join(a.work, "vqgan")
    os.makedirs(wd, exist_ok=True)
    ck = os.path.join(wd, "ckpt.pt")
    images, split = load_data(a.data)
    tr = np.nonzero(split == 0)[0]
    va = np.nonzero(split == 1)[0]
    if len(va) == 0:  # tiny test subsets may have no validation split
        va = tr
    va = va[np.random.default_rng(0).permutation(len(va))[:a.eval_images]]
    g = geometry(DEFAULT_GEOMETRY if not a.geometry else json.loads(a.geometry))
    vq = VqganTrainable(g, a.seed)
    params = [p for k, p in vq.params.items() if not k.endswith("quantize/embedding/weight")]
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.5, 0.9))
    step = 0
    if os.path.exists(ck):
        st = torch.load(ck)
        vq.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        print(f"resumed at step {step}", flush=True)
    log = open(os.path.join(wd, "log.jsonl"), "a")
    t0 = time.time()
    while step < a.steps:
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        rng = np.random.default_rng([a.seed, step])
        b = images[tr[rng.integers(0, len(tr), a.batch)]]
        x = to_x(b)
        if a.flip:
            flip = torch.from_numpy(rng.random(len(b)) < 0.5)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        z = vq.encode_z(x)
        q, commit, idx = vq.quantize(z, step)
        y = vq.decode_q(q)
        rec = (y - x).abs().mean() + F.mse_loss(y, x)
        loss = rec + 0.25 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        nd = vq.restart_dead(z, step, a.dead_patience) if step % 25 == 0 and step < a.steps * 0.9 else 0
        if step % 20 == 0:
            rec_psnr = float(psnr(y.detach(), x).mean())
            rec_used = int(torch.unique(idx).numel())
            ent = {"step": step, "loss": float(loss), "rec": float(rec), "commit": float(commit),
                   "psnr_train_batch": rec_psnr, "batch_codes": rec_used, "restarted": nd, "lr": lr,
                   "sec": time.time() - t0}
            log.write(json.dumps(ent) + "\n")
            log.flush()
            print(json.dumps(ent), flush=True)
        if step % a.save_every == 0 or step == a.steps:
            save_ckpt(ck, {"model": vq.state_dict(), "opt": opt.state_dict(), "step": step,
                           "geometry": g.__dict__})
        if step % a.eval_every == 0 or step == a.steps:
            vq.eval()
            ev = evaluate(vq, images, va)
            ev["step"] = step
            log.write(json.dumps({"eval": ev}) + "\n")
            log.flush()
            print("eval", json.dumps(ev), flush=True)
            torch.save({"geometry": g.__dict__, "state_dict": vq.taming_state(), "step": step},
                       os.path.join(wd, "vqgan.pt"))
    print("done", flush=True)


def load_trained(work: str, raw: bytes | None = None) -> VqganTrainable:
    """The trained VQGAN of WORK/vqgan/vqgan.pt, or of that file's bytes when given (so a caller
    that also hashes the file loads exactly the bytes it hashed)."""
    st = torch.load(io.BytesIO(raw) if raw is not None else os.path.join(work, "vqgan", "vqgan.pt"))
    vq = VqganTrainable(geometry(st["geometry"]))
    vq.load_named(st["state_dict"])
    return vq.eval().requires_grad_(False)


def squeeze(images: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image
    return np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.BILINEAR, reducing_gap=None))
                     for im in images])


@torch.no_grad()
def encode_all(a) -> None:
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.work, "vqgan", "vqgan.pt"), "rb") as f:
        raw = f.read()
    vq_sha = hashlib.sha256(raw).hexdigest()
    vq = load_trained(a.work, raw)
    images, split = load_data(a.data)
    R = vq.g.resolution
    out = {"full": [], "hhalf": [], "vhalf": []}
    z = np.load(os.path.join(a.data, "dataset.npz"))
    i0 = 0
    if a.reuse:
        # an earlier encode of the same dataset without the rows appended since (dataset.py
        # appends its line-art copies last): its codes stand for the leading rows
        old = np.load(a.reuse)
        if not {"full", "hhalf", "vhalf", "captions", "split"} <= set(old.files):
            sys.exit(f"vqgan_train: {a.reuse} lacks the arrays of a codes.npz from this script's encode")
        i0 = len(old["full"])
        if i0 > len(images) or not np.array_equal(old["captions"], z["captions"][:i0]) \
                or not np.array_equal(old["split"], z["split"][:i0]):
            sys.exit(f"vqgan_train: {a.reuse} is not an encode of this dataset's first {i0} rows")
        if "vqgan_sha256" not in old.files:
            print(f"warning: {a.reuse} does not say which VQGAN coded it (older encode); "
                  "make sure it is this one", flush=True)
        elif str(old["vqgan_sha256"]) != vq_sha:
            sys.exit(f"vqgan_train: {a.reuse} was coded by another VQGAN than {a.work}/vqgan")
        for k in out:
            out[k].append(old[k])
    t0 = time.time()
    s = vq.g.resolution // 2 ** (len(vq.g.ch_mult) - 1)
    for i in range(i0, len(images), 256):
        b = images[i:i + 256]
        out["full"].append(vq.codes_of(vq.encode_z(to_x(b))).numpy().astype(np.int16))
        # half-image codes (MixSel) are only needed for training pairs
        hh = np.zeros((len(b), s, s // 2), np.int16)
        vh = np.zeros((len(b), s // 2, s), np.int16)
        tr = np.nonzero(split[i:i + 256] == 0)[0]
        if len(tr):
            hh[tr] = vq.codes_of(vq.encode_z(to_x(squeeze(b[tr], R // 2, R)))).numpy()
            vh[tr] = vq.codes_of(vq.encode_z(to_x(squeeze(b[tr], R, R // 2)))).numpy()
        out["hhalf"].append(hh)
        out["vhalf"].append(vh)
        if (i - i0) % 5120 == 0:
            print(f"{i}/{len(images)} {time.time() - t0:.0f}s", flush=True)
    extra = {k: z[k] for k in ("captions", "split", "concept", "kind")}  # so stage 2 needs no images
    extra["vqgan_sha256"] = np.array(vq_sha)  # which VQGAN made the codes (checked by --reuse)
    np.savez_compressed(os.path.join(a.work, "codes.npz"), **{k: np.concatenate(v) for k, v in out.items()},
                        **extra)
    print(f"wrote {a.work}/codes.npz in {time.time() - t0:.0f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["train", "eval", "encode"])
    ap.add_argument("--data", required=True, help="dataset folder (dataset.npz)")
    ap.add_argument("--work", required=True, help="work folder (checkpoints, codes.npz)")
    ap.add_argument("--geometry", help="JSON VqganGeometry fields (default: the shipped one)")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--flip", action="store_true", default=True)
    ap.add_argument("--dead-patience", type=int, default=200)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-images", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", help="encode: codes.npz of the dataset's leading rows, kept as they are")
    a = ap.parse_args()
    if a.command == "train":
        train(a)
    elif a.command == "encode":
        encode_all(a)
    else:
        torch.set_num_threads(a.threads)
        vq = load_trained(a.work)
        images, split = load_data(a.data)
        for i, sp in enumerate(["train", "val", "test", "openmoji"]):
            idx = np.nonzero(split == i)[0][:2000]
            print(sp, json.dumps(evaluate(vq, images, idx)))


if __name__ == "__main__":
    main()
