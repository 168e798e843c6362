#!/usr/bin/env python3
"""Independent PyTorch reference of the MAGVLT stage-2 transformer, written from
shared/docs/magvlt-spec.md section 2 (not from the official code).

Legend: C channels, H heads, Dh = C/H, I image slots, T text slots, L = 4 + I + T,
Vi / Vt image / text vocabulary, M MLP hidden width.

Parameter names equal the official `model.*` state-dict keys without the `model.` prefix, in the
official state-dict order, so `MagvltReference.load_state_dict(strip_prefix(sd, "model."))` works
with strict=True.

Run as a script for a smoke test on an official checkpoint:
    python3 reference.py --ckpt tests/data/official/tiny-magvlt.ckpt --config tests/data/official/config.yaml
"""
from __future__ import annotations

import argparse
import math
import pickle
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Special-token ids (spec 2.2, class SPECIAL_TOKENS_HNH).
BOI, BOT, BOC, BOG, MASK_IMG, MASK_TXT = 0, 1, 2, 3, 4, 5
SPC, IMG, TXT = "spc", "img", "txt"


@dataclass
class MagvltConfig:
    embed_dim: int
    n_layers: int
    n_heads: int
    mlp_hidden: int
    ctx_len_img: int
    ctx_len_txt: int
    vocab_size_img: int
    vocab_size_txt: int
    n_special: int = 10
    text_eot_id: int = -1  # -1: vocab_size_txt - 1 (CLIP's 49407 = 49408 - 1)
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.text_eot_id < 0:
            self.text_eot_id = self.vocab_size_txt - 1
        if self.embed_dim % self.n_heads:
            raise ValueError(f"embed_dim {self.embed_dim} not divisible by n_heads {self.n_heads}")

    @property
    def seq_len(self) -> int:
        return 4 + self.ctx_len_img + self.ctx_len_txt


# ---------------------------------------------------------------------------------------------
# Sequence layout, embedding inputs and attention masks (spec 2.3 - 2.5)
# ---------------------------------------------------------------------------------------------
@dataclass
class SequenceInputs:
    """Per-position description of one sequence (all lists have length L)."""
    layout: str
    token_before_mask: List[int]  # id in its own space (special / image / text)
    token_after_mask: List[int]   # masked slots replaced by MASK_IMG / MASK_TXT
    segment: List[str]            # "spc" | "img" | "txt"
    pos: List[int]                # index into that segment's positional table
    masked: List[bool]
    image_offset: int
    text_offset: int
    text_valid_len: int

    @property
    def special_after_mask(self) -> List[bool]:
        return [s == SPC or m for s, m in zip(self.segment, self.masked)]


def build_inputs(cfg: MagvltConfig, layout: str, image_ids: List[int], image_masked: List[bool],
                 text_ids: List[int], text_masked: List[bool], text_valid_len: int) -> SequenceInputs:
    """T2I: BOC BOT text BOG BOI image;  I2T: BOC BOI image BOG BOT text (spc pos 0,1,2,3)."""
    I, T = cfg.ctx_len_img, cfg.ctx_len_txt
    if len(image_ids) != I or len(image_masked) != I or len(text_ids) != T or len(text_masked) != T:
        raise ValueError(f"expected {I} image and {T} text slots")
    if not 1 <= text_valid_len <= T:
        raise ValueError(f"text_valid_len {text_valid_len} outside 1..{T}")
    img = [(IMG, int(t), p, bool(m)) for p, (t, m) in enumerate(zip(image_ids, image_masked))]
    txt = [(TXT, int(t), p, bool(m)) for p, (t, m) in enumerate(zip(text_ids, text_masked))]
    if layout == "T2I":
        seq = [(SPC, BOC, 0, False), (SPC, BOT, 1, False)] + txt + \
              [(SPC, BOG, 2, False), (SPC, BOI, 3, False)] + img
        image_offset, text_offset = 4 + T, 2
    elif layout == "I2T":
        seq = [(SPC, BOC, 0, False), (SPC, BOI, 1, False)] + img + \
              [(SPC, BOG, 2, False), (SPC, BOT, 3, False)] + txt
        image_offset, text_offset = 2, 4 + I
    else:
        raise ValueError(f"unknown layout {layout!r} (T2I or I2T)")
    after = [MASK_IMG if (s == IMG and m) else MASK_TXT if (s == TXT and m) else t
             for s, t, _, m in seq]
    return SequenceInputs(layout, [t for _, t, _, _ in seq], after, [s for s, _, _, _ in seq],
                          [p for _, _, p, _ in seq], [m for _, _, _, m in seq],
                          image_offset, text_offset, text_valid_len)


def attention_allow(cfg: MagvltConfig, inp: SequenceInputs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Boolean [L, L] masks (True = query row may attend to key column): as passed to the
    transformer, and after the attention layer switched on the diagonal of all-blocked rows."""
    L, T, o, n = cfg.seq_len, cfg.ctx_len_txt, inp.text_offset, inp.text_valid_len
    allow = torch.ones(L, L, dtype=torch.bool)
    pad = slice(o + n, o + T)  # text slots j >= n
    allow[:, pad] = False
    if inp.layout == "T2I":
        allow[pad, :] = False
    else:
        bot = cfg.ctx_len_img + 3  # BOT row may only see indices <= I+3
        allow[bot, bot + 1:] = False
    as_passed = allow.clone()
    dead = ~allow.any(dim=1)
    allow[dead, dead] = True  # diagonal of every all-blocked row
    return as_passed, allow


# ---------------------------------------------------------------------------------------------
# Modules (declaration order = official state-dict order, spec Appendix B)
# ---------------------------------------------------------------------------------------------
class PosEmbed(nn.Module):
    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(n, dim))


class Attention(nn.Module):
    def __init__(self, cfg: MagvltConfig) -> None:
        super().__init__()
        C = cfg.embed_dim
        self.n_heads = cfg.n_heads
        self.key, self.query, self.value, self.proj = (nn.Linear(C, C) for _ in range(4))

    def forward(self, x: torch.Tensor, allow: torch.Tensor) -> torch.Tensor:
        # x: [L, C], allow: [L, L] -> [L, C]
        L, C = x.shape
        H, Dh = self.n_heads, C // self.n_heads
        q = self.query(x).view(L, H, Dh).transpose(0, 1)  # [H, L, Dh]
        k = self.key(x).view(L, H, Dh).transpose(0, 1)
        v = self.value(x).view(L, H, Dh).transpose(0, 1)
        att = (q @ k.transpose(1, 2)) / math.sqrt(Dh)       # [H, L, L]
        att = att.masked_fill(~allow, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(L, C)         # heads concatenated
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, cfg: MagvltConfig) -> None:
        super().__init__()
        C, eps = cfg.embed_dim, cfg.layer_norm_eps
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(C, cfg.mlp_hidden), nn.GELU(approximate="none"),
                                 nn.Linear(cfg.mlp_hidden, C))

    def forward(self, x: torch.Tensor, allow: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), allow)
        return x + self.mlp(self.ln2(x))


class LMLayer(nn.Module):
    """G = LN(GELU(X W^T + b)); logits = G tok_emb^T + output_bias (tied head, spec 2.7)."""

    def __init__(self, cfg: MagvltConfig) -> None:
        super().__init__()
        C = cfg.embed_dim
        self.output_bias = nn.Parameter(torch.zeros(cfg.vocab_size_img + cfg.vocab_size_txt))
        self.linear = nn.Linear(C, C)
        self.ln = nn.LayerNorm(C, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, tok_emb: torch.Tensor) -> torch.Tensor:
        # x: [N, C], tok_emb: [Vi+Vt, C] -> [N, Vi+Vt]
        g = self.ln(F.gelu(self.linear(x), approximate="none"))
        return g @ tok_emb.t() + self.output_bias


class MagvltReference(nn.Module):
    def __init__(self, cfg: MagvltConfig) -> None:
        super().__init__()
        self.cfg = cfg
        C, I, T = cfg.embed_dim, cfg.ctx_len_img, cfg.ctx_len_txt
        self.tok_emb = nn.Embedding(cfg.vocab_size_img + cfg.vocab_size_txt, C)
        self.tok_emb_spc = nn.Embedding(cfg.n_special, C)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.lm_layer = LMLayer(cfg)
        self.pos_emb_img = PosEmbed(I, C)
        self.pos_emb_txt = PosEmbed(T, C)
        self.pos_emb_spc = PosEmbed(cfg.seq_len, C)
        self.length_predictor = nn.Linear(C, T, bias=False)

    def embed(self, inp: SequenceInputs) -> torch.Tensor:
        """Spec 2.4, including the quirk: a masked slot gets the special token + the special
        positional row at its within-modality slot + its modality positional row."""
        Vi = self.cfg.vocab_size_img
        rows = []
        for tok, seg, p, m in zip(inp.token_after_mask, inp.segment, inp.pos, inp.masked):
            if seg == SPC or m:
                e = self.tok_emb_spc.weight[tok] + self.pos_emb_spc.pos_embed[p]
            else:
                e = self.tok_emb.weight[tok + (Vi if seg == TXT else 0)]
            if seg == IMG:
                e = e + self.pos_emb_img.pos_embed[p]
            elif seg == TXT:
                e = e + self.pos_emb_txt.pos_embed[p]
            rows.append(e)
        return torch.stack(rows)

    @torch.no_grad()
    def forward(self, layout: str, image_ids: List[int], image_masked: List[bool],
                text_ids: List[int], text_masked: List[bool], text_valid_len: int
                ) -> Dict[str, torch.Tensor]:
        """Returns emb [L,C], block_out [n_layers,L,C], hidden [L,C], img_logits [I,Vi],
        txt_logits [T,Vt], len_logits [T] (length head at index I+3, for both layouts)."""
        cfg = self.cfg
        I, T, Vi = cfg.ctx_len_img, cfg.ctx_len_txt, cfg.vocab_size_img
        inp = build_inputs(cfg, layout, image_ids, image_masked, text_ids, text_masked,
                           text_valid_len)
        _, allow = attention_allow(cfg, inp)
        x = emb = self.embed(inp)
        outs = []
        for blk in self.blocks:
            x = blk(x, allow)
            outs.append(x)
        io, to = inp.image_offset, inp.text_offset
        tok_emb = self.tok_emb.weight
        # The head is computed over the whole shared table and sliced (spec 2.7).
        img_logits = self.lm_layer(x[io:io + I], tok_emb)[:, :Vi]
        txt_logits = self.lm_layer(x[to:to + T], tok_emb)[:, Vi:]
        len_logits = self.length_predictor(x[I + 3])
        return {"emb": emb, "block_out": torch.stack(outs), "hidden": x,
                "img_logits": img_logits, "txt_logits": txt_logits, "len_logits": len_logits}


# ---------------------------------------------------------------------------------------------
# Checkpoint loading
# ---------------------------------------------------------------------------------------------
class OpaqueObject:
    """Stand-in for any class a checkpoint references that we do not know (e.g. Lightning loop
    state). Accepts construction and BUILD state without executing anything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self._state = state


_ALLOWED_GLOBALS = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                    ("torch._utils", "_rebuild_parameter"), ("torch", "Size")}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals a state_dict needs; everything else becomes OpaqueObject.
    (torch.load adds its own handling of `torch.*Storage` names before calling us.)"""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or (module == "torch" and name.endswith("Storage")):
            return super().find_class(module, name)
        return type(name, (OpaqueObject,), {"__module__": "opaque." + module})


def load_official_state_dict(ckpt_path: str) -> Dict[str, torch.Tensor]:
    """Read a Lightning .ckpt (or a taming .ckpt) and return its `state_dict`.

    torch 1.13 ignores `pickle_module` unless weights_only=True, so `pickle.Unpickler` is swapped
    for `_SafeUnpickler` for the duration of the call; torch.load subclasses it at call time."""
    saved = pickle.Unpickler
    pickle.Unpickler = _SafeUnpickler  # type: ignore[misc]
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu")
    finally:
        pickle.Unpickler = saved  # type: ignore[misc]
    sd = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    if not isinstance(sd, dict):
        raise ValueError(f"{ckpt_path}: no state_dict found")
    return sd


def strip_prefix(sd: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def config_from_state_dict(sd: Dict[str, Any], n_heads: int, vocab_size_img: int,
                           layer_norm_eps: float = 1e-5) -> MagvltConfig:
    """Derive the geometry from stage-2 tensor shapes (keys without prefix). Head count and the
    image/text vocabulary split are not recoverable from shapes, so they are passed in."""
    V, C = sd["tok_emb.weight"].shape
    n_layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    return MagvltConfig(embed_dim=C, n_layers=n_layers, n_heads=n_heads,
                        mlp_hidden=sd["blocks.0.mlp.0.weight"].shape[0],
                        ctx_len_img=sd["pos_emb_img.pos_embed"].shape[0],
                        ctx_len_txt=sd["pos_emb_txt.pos_embed"].shape[0],
                        vocab_size_img=vocab_size_img, vocab_size_txt=V - vocab_size_img,
                        n_special=sd["tok_emb_spc.weight"].shape[0], layer_norm_eps=layer_norm_eps)


def load_gguf_model(path: str) -> MagvltReference:
    """Build a float64 reference from a GGUF model file (FORMAT.md); F16 tensors are widened, so
    the reference sees exactly the rounded values an engine reads."""
    from gguf_writer import read_gguf
    meta, tensors = read_gguf(path)
    keys = ("embed_dim", "n_layers", "n_heads", "mlp_hidden", "ctx_len_img", "ctx_len_txt",
            "vocab_size_img", "vocab_size_txt", "n_special", "text_eot_id", "layer_norm_eps")
    cfg = MagvltConfig(**{k: meta["magvlt." + k] for k in keys})
    model = MagvltReference(cfg).double()
    sd = {k[len("stage2."):]: torch.from_numpy(v.astype("float64")) for k, v in tensors.items()
          if k.startswith("stage2.")}
    model.load_state_dict(sd, strict=True)
    return model


def main() -> None:
    import yaml
    ap = argparse.ArgumentParser(description="Smoke-test the reference on an official MAGVLT "
                                             "checkpoint: one T2I forward with every image slot masked.")
    ap.add_argument("--ckpt", required=True, help="Lightning .ckpt with model.* keys")
    ap.add_argument("--config", required=True, help="official YAML config (stage2.hparams.n_heads, vocab sizes)")
    args = ap.parse_args()
    with open(args.config) as f:
        y = yaml.safe_load(f)
    sd = strip_prefix(load_official_state_dict(args.ckpt), "model.")
    cfg = config_from_state_dict(sd, y["stage2"]["hparams"]["n_heads"], y["stage2"]["vocab_size_img"])
    model = MagvltReference(cfg).double()
    model.load_state_dict(sd, strict=True)
    I, T = cfg.ctx_len_img, cfg.ctx_len_txt
    out = model("T2I", [0] * I, [True] * I, [cfg.text_eot_id] * T, [False] * T, 1)
    for k, v in out.items():
        print(k, tuple(v.shape), f"max|x|={v.abs().max().item():.4g}")


if __name__ == "__main__":
    main()
