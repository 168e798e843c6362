"""Independent PyTorch implementation of the taming VQGAN as MAGVLT uses it (spec section 4),
written from the specification, used as the numerical reference for the C engine's VQGAN and to
compute the per-code preview palette the exporters store in the model file.

Parameter names are taming's state-dict names without prefix (``encoder.down.0.block.0.conv1``,
``quantize.embedding.weight``, ...), so official weights load with ``load_state_dict(strict=True)``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from export_gguf import VqganGeometry, vqgan_shapes

GROUPS = 32
EPS = 1e-6


class VqganReference(torch.nn.Module):
    def __init__(self, g: VqganGeometry) -> None:
        super().__init__()
        self.g = g
        self.shapes = vqgan_shapes(g)
        # flat parameter table keyed by taming names ('.' is not allowed in module names)
        self.params = torch.nn.ParameterDict(
            {k.replace(".", "/"): torch.nn.Parameter(torch.zeros(s)) for k, s in self.shapes.items()})

    # -- parameters -------------------------------------------------------------------------
    def p(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "/")]

    def load_named(self, tensors: Dict[str, np.ndarray | torch.Tensor]) -> None:
        missing = set(self.shapes) - set(tensors)
        if missing:
            raise KeyError(f"missing VQGAN tensors: {sorted(missing)[:5]}")
        with torch.no_grad():
            for k, s in self.shapes.items():
                t = torch.as_tensor(np.asarray(tensors[k], dtype=np.float64) if not
                                    isinstance(tensors[k], torch.Tensor) else tensors[k])
                if tuple(t.shape) != tuple(s):
                    raise ValueError(f"{k}: shape {tuple(t.shape)}, expected {s}")
                self.p(k).copy_(t)

    # -- building blocks (spec 4.2) ---------------------------------------------------------
    def conv(self, name: str, x: torch.Tensor, stride: int = 1, pad: int | None = None) -> torch.Tensor:
        w, b = self.p(name + ".weight"), self.p(name + ".bias")
        k = w.shape[-1]
        return F.conv2d(x, w, b, stride=stride, padding=(k // 2) if pad is None else pad)

    def norm(self, name: str, x: torch.Tensor, swish: bool) -> torch.Tensor:
        y = F.group_norm(x, GROUPS, self.p(name + ".weight"), self.p(name + ".bias"), eps=EPS)
        return y * torch.sigmoid(y) if swish else y

    def res(self, name: str, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(name + ".conv1", self.norm(name + ".norm1", x, True))
        h = self.conv(name + ".conv2", self.norm(name + ".norm2", h, True))
        if name + ".nin_shortcut.weight" in self.shapes:
            x = self.conv(name + ".nin_shortcut", x)
        return x + h

    def attn(self, name: str, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(name + ".norm", x, False)
        q, k, v = (self.conv(f"{name}.{n}", h) for n in ("q", "k", "v"))
        b, c, hh, ww = q.shape
        q, k, v = (t.reshape(b, c, hh * ww) for t in (q, k, v))
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=2)  # [B, P, P]
        out = torch.bmm(v, w.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.conv(name + ".proj_out", out)

    def downsample(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.conv(name, F.pad(x, (0, 1, 0, 1)), stride=2, pad=0)  # right/bottom only

    def upsample(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.conv(name, F.interpolate(x, scale_factor=2.0, mode="nearest"))

    def attn_here(self, res: int) -> bool:
        return res in self.g.attn_resolutions

    # -- encoder / quantiser / decoder (spec 4.3, 4.4) --------------------------------------
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [B, 3, R, R] in [-1, 1] -> (encoder output, pre-quant latents, codes [B, s, s])."""
        g, res = self.g, self.g.resolution
        h = self.conv("encoder.conv_in", x)
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
        z = self.conv("quant_conv", enc)
        return enc, z, self.nearest(z)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        b, d, s, _ = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        e = self.p("quantize.embedding.weight")
        dist = (flat ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * flat @ e.t()
        return dist.argmin(1).reshape(b, s, s)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, s, s] -> decoder output [B, 3, R, R] (no tanh)."""
        g = self.g
        q = self.p("quantize.embedding.weight")[codes].permute(0, 3, 1, 2)  # [B, D, s, s]
        h = self.conv("decoder.conv_in", self.conv("post_quant_conv", q))
        h = self.res("decoder.mid.block_1", h)
        h = self.attn("decoder.mid.attn_1", h)
        h = self.res("decoder.mid.block_2", h)
        res = codes.shape[-1]
        for lvl in reversed(range(len(g.ch_mult))):
            for j in range(g.num_res_blocks + 1):
                h = self.res(f"decoder.up.{lvl}.block.{j}", h)
                if self.attn_here(res):
                    h = self.attn(f"decoder.up.{lvl}.attn.{j}", h)
            if lvl != 0:
                h = self.upsample(f"decoder.up.{lvl}.upsample.conv", h)
                res *= 2
        return self.conv("decoder.conv_out", self.norm("decoder.norm_out", h, True))


def to_pixels(y: torch.Tensor) -> np.ndarray:
    """[3, R, R] decoder output -> uint8 [R, R, 3], truncating as the official samplers do."""
    v = torch.clamp(y * 0.5 + 0.5, 0, 1) * 255
    return v.permute(1, 2, 0).to(torch.uint8).numpy()


def from_pixels(img: np.ndarray) -> torch.Tensor:
    """uint8 [R, R, 3] -> float32 [3, R, R], ToTensor + Normalize(0.5, 0.5)."""
    x = torch.from_numpy(img.astype(np.uint8)).permute(2, 0, 1).float().div(255)
    return (x - 0.5) / 0.5


@torch.no_grad()
def compute_palette(vq: VqganReference, batch: int = 8) -> np.ndarray:
    """Mean colour (0..1) of each code's patch, decoding grids that each hold s*s different codes
    (codes g0 .. g0+s*s-1, wrapping), exactly as the engine's magvlt_vq_compute_palette."""
    g = vq.g
    s = g.resolution // 2 ** (len(g.ch_mult) - 1)
    p, patch, n = s * s, g.resolution // s, g.n_embed
    starts: List[int] = list(range(0, n, p))
    out = np.zeros((n, 3), np.float64)
    dtype = vq.p("quantize.embedding.weight").dtype
    for b0 in range(0, len(starts), batch):
        chunk = starts[b0:b0 + batch]
        codes = torch.stack([(torch.arange(p) + g0) % n for g0 in chunk]).reshape(-1, s, s)
        y = vq.decode_codes(codes).to(dtype)
        v = torch.clamp(y * 0.5 + 0.5, 0, 1)  # [B, 3, R, R]
        means = v.reshape(len(chunk), 3, s, patch, s, patch).mean(dim=(3, 5))  # [B, 3, s, s]
        for i, g0 in enumerate(chunk):
            m = means[i].reshape(3, p).t().double().numpy()
            k = min(p, n - g0)
            out[g0:g0 + k] = m[:k]
    return out.astype(np.float32)


def load_gguf_vqgan(path: str, dtype: torch.dtype = torch.float64) -> VqganReference:
    from gguf_writer import read_gguf

    meta, tensors = read_gguf(path)
    v = VqganGeometry(resolution=meta["magvlt.vqgan.resolution"],
                      in_channels=meta["magvlt.vqgan.in_channels"], out_ch=meta["magvlt.vqgan.out_ch"],
                      ch=meta["magvlt.vqgan.ch"], ch_mult=list(meta["magvlt.vqgan.ch_mult"]),
                      num_res_blocks=meta["magvlt.vqgan.num_res_blocks"],
                      attn_resolutions=list(meta["magvlt.vqgan.attn_resolutions"]),
                      z_channels=meta["magvlt.vqgan.z_channels"], embed_dim=meta["magvlt.vqgan.embed_dim"],
                      n_embed=meta["magvlt.vqgan.n_embed"])
    vq = VqganReference(v).to(dtype).requires_grad_(False)
    vq.load_named({k[len("vqgan."):]: t for k, t in tensors.items()
                   if k.startswith("vqgan.") and k != "vqgan.palette"})
    return vq
