#!/usr/bin/env python3
"""MAGVLT stage-2 trainer (issue 7, spec section 6) for small models on VQGAN code grids.

Architecture: reference.MagvltReference (the official Transformer1d layout and parameter names,
checked against the official code and the C engine), trained with a batched forward that
reproduces spec 2.4 / 2.5 exactly (masked slots = special MASK row + the spc positional row at the
within-modality slot + the modality positional row; T2I padding rows/columns blocked; I2T padding
columns blocked and the BOT row restricted to indices <= I+3).

Objectives (GUESSes of spec 6 made concrete; see MODEL_CARD.md):
  * tasks t2i / i2t / it2it-mask with weights 8:1:1: by default every batch is split into the
    three tasks in proportion (--task-mixing batch); --task-mixing step draws one task per step
    (spec 6.1's GUESS). With per-step drawing and Adam, the rare text steps barely moved the
    shared weights (captioning did not learn the background colour in 800 steps; see
    MODEL_CARD.md), so mixing within the batch is the default;
  * mask ratios (6.2): r ~ U(0,1) per sample; image k = clamp(ceil(cos(pi r/2) I), 1, I), text
    k = clamp(ceil(r n), 1, n) over the n valid slots (tokens + first end-of-text); it2it uses
    the same r for both;
  * cross-entropy on masked positions only, over the target modality's vocabulary, label
    smoothing 0.1;
  * length loss (coef 0.01): I2T rows for part of the batch (in the first trunk call) exactly
    as the engine's length pass reads the head (model-runtime/src/refine.c,
    mv_length_pass_slots): image codes visible, text all end-of-text, the first T/4 slots
    visible and all masked, BOT row restricted; target class n_txt - 1 (so argmax + 1 = n_txt);
  * UnrollMask (coef 1.0, --no-unroll to disable): for a fraction of the batch the masked slots
    of the first pass are filled with the model's own samples (no gradient, temperature 1), a
    subset at a later schedule point (image: r2 = r + (1-r)u; text: r2 = r u) stays masked, and a
    second pass is trained on it against the ground truth;
  * MixSel (coef 0.5, --no-mixsel to disable): for a fraction of the batch two pairs are mixed:
    t2i -> left|right halves (codes of the 64x32 squeezed images), BOG_LEFT/BOG_RIGHT says which
    half the text describes, only that half is masked and predicted; i2t / it2it -> top/bottom
    halves, BOG_TOP/BOG_BOTTOM says which half's caption is predicted.
Optimiser: AdamW (betas 0.9/0.98, weight decay 0.01 on matrices), linear warm-up, cosine decay to
10 %, gradient clipping 1.0, bf16 autocast on CUDA, and on the CPU with --cpu-bf16 (AMX /
AVX512-BF16: 3.5-5.5x the float32 step rate on this machine's 2 cores, TRAINING_NOTES.md).
Resumable (work/stage2/ckpt.pt), metrics in work/stage2/log.jsonl. Runs as one process or
under torchrun (DDP; gloo on CPU, NCCL on GPU).

Examples:
    python3 train.py --work /work/cache/magvlt-train/work --steps 6000
    torchrun --nproc_per_node 2 train.py --work DIR --steps 10 --batch 8
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import (BOC, BOG, BOI, BOT, MASK_IMG, MASK_TXT,  # noqa: E402
                       MagvltConfig, MagvltReference)

BOG_LEFT, BOG_RIGHT, BOG_TOP, BOG_BOTTOM = 6, 7, 8, 9
TASKS = ["t2i", "i2t", "it2it"]


# ---------------------------------------------------------------------------------------------
# Model with a batched training forward
# ---------------------------------------------------------------------------------------------
class Float32LayerNorm(nn.LayerNorm):
    """LayerNorm in float32 whatever its input's dtype, cast back to it. Under CPU autocast
    torch 1.13 hands layer_norm bfloat16 activations with float32 parameters and fails
    ("expected scalar type BFloat16 but found Float"); CUDA autocast runs it in float32 anyway."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype)


class MagvltTrain(MagvltReference):
    def init_weights(self, seed: int) -> None:
        """Spec 6.6: Linear/Embedding N(0, 0.02), biases 0, LayerNorm (1, 0), positional tables and
        length head N(0, 0.02), output bias 0."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias") or name == "lm_layer.output_bias":
                    p.zero_()
                elif ".ln" in name or name.startswith("lm_layer.ln"):
                    p.fill_(1.0)
                else:
                    p.normal_(0.0, 0.02, generator=g)

    def embed_batch(self, t2i: torch.Tensor, spc: torch.Tensor, img: torch.Tensor, img_m: torch.Tensor,
                    txt: torch.Tensor, txt_m: torch.Tensor) -> torch.Tensor:
        """t2i [B] bool (the row's task layout), spc [B,4] special ids in slot order; img [B,I];
        txt [B,Tb] (Tb <= T). -> [B,L,C] in the one sequence order of every row (see trunk_order)."""
        cfg = self.cfg
        Vi, I, Tb = cfg.vocab_size_img, img.shape[1], txt.shape[1]
        spc_w, tok_w = self.tok_emb_spc.weight, self.tok_emb.weight
        pos_spc = self.pos_emb_spc.pos_embed
        e_spc = spc_w[spc] + pos_spc[:4]
        e_img = torch.where(img_m[..., None], (spc_w[MASK_IMG] + pos_spc[:I])[None], tok_w[img])
        e_img = e_img + self.pos_emb_img.pos_embed[:I]
        e_txt = torch.where(txt_m[..., None], (spc_w[MASK_TXT] + pos_spc[:Tb])[None], tok_w[txt + Vi])
        e_txt = e_txt + self.pos_emb_txt.pos_embed[:Tb]
        return torch.cat([e_spc[:, :2], e_img, e_spc[:, 2:], e_txt], dim=1)

    def attn_bias(self, t2i: torch.Tensor, I: int, Tb: int, n_txt: torch.Tensor) -> torch.Tensor:
        """Additive attention bias [B,1,L,L] (0 allowed / -inf blocked) of spec 2.5, per row's
        layout, in the one sequence order: padding text columns blocked for every row; T2I rows
        also block the padding text rows (which then attend to themselves only); I2T rows
        restrict the BOT slot (I+3) to indices <= I+3."""
        B = n_txt.shape[0]
        L = 4 + I + Tb
        o = I + 4
        dev = n_txt.device
        pad = torch.arange(Tb, device=dev)[None] >= n_txt[:, None]  # [B,Tb]
        allow = torch.ones(B, L, L, dtype=torch.bool, device=dev)
        allow[:, :, o:] &= ~pad[:, None, :]
        allow[:, o:, :] &= ~(pad & t2i[:, None])[:, :, None]
        dead = ~allow.any(-1, keepdim=True)
        allow = allow | (dead & torch.eye(L, dtype=torch.bool, device=dev)[None])
        allow[:, I + 3, o:] &= t2i[:, None]
        bias = torch.zeros(B, 1, L, L, device=dev)
        return bias.masked_fill(~allow[:, None], float("-inf"))

    def trunk(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        H = self.cfg.n_heads
        Dh = C // H
        for blk in self.blocks:
            h = blk.ln1(x)
            a = blk.attn
            q = a.query(h).view(B, L, H, Dh).transpose(1, 2)
            k = a.key(h).view(B, L, H, Dh).transpose(1, 2)
            v = a.value(h).view(B, L, H, Dh).transpose(1, 2)
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(Dh)) + bias
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, L, C)
            x = x + a.proj(y)
            x = x + blk.mlp(blk.ln2(x))
        return x

    def head(self, h: torch.Tensor, modality: str) -> torch.Tensor:
        """h [N,C] -> logits over the image or text vocabulary (tied head, spec 2.7)."""
        Vi = self.cfg.vocab_size_img
        lm = self.lm_layer
        g = lm.ln(F.gelu(lm.linear(h), approximate="none"))
        if modality == "img":
            return g @ self.tok_emb.weight[:Vi].t() + lm.output_bias[:Vi]
        return g @ self.tok_emb.weight[Vi:].t() + lm.output_bias[Vi:]

    def run(self, layout, spc, img, img_m, txt, txt_m, n_txt) -> torch.Tensor:
        """layout: "T2I", "I2T", or a [B] bool tensor (True: T2I) when rows of both tasks share
        the call. -> [B,L,C] in the one sequence order (segment_rows)."""
        B = img.shape[0]
        t2i = (torch.full((B,), layout == "T2I", dtype=torch.bool, device=img.device)
               if isinstance(layout, str) else layout)
        x = self.embed_batch(t2i, spc, img, img_m, txt, txt_m)
        return self.trunk(x, self.attn_bias(t2i, img.shape[1], txt.shape[1], n_txt))


def segment_rows(I: int, Tb: int) -> Tuple[slice, slice]:
    """Image and text rows of run()'s output. Every row, T2I or I2T, is laid out in the I2T order
    [BOC, BOI|BOT, image, BOG, BOT|BOI, text] (the special ids keep their layout's slots): the
    transformer has no position-by-index (every slot's positional row comes from its modality's
    table, or the special slots' table by slot), so a T2I sequence [BOC BOT text BOG BOI image]
    reordered this way, its attention mask reordered with it, gives the same outputs
    (tests/training/test_trainer_forward.py checks both layouts against the reference, which
    keeps each layout's own order). One order lets the rows of all tasks and the length pass
    share one trunk call, and all UnrollMask rows a second: 2 calls per step instead of 7."""
    return slice(2, 2 + I), slice(4 + I, 4 + I + Tb)


# ---------------------------------------------------------------------------------------------
# Masks (spec 6.2 / 6.4)
# ---------------------------------------------------------------------------------------------
def random_subset(cand: torch.Tensor, k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """cand [B,N] bool candidate slots, k [B] counts (<= |cand|) -> [B,N] bool with k random
    candidates chosen per row (random-scores top-k)."""
    scores = torch.rand(cand.shape, generator=gen, device=cand.device)
    scores = scores.masked_fill(~cand, -1.0)
    order = scores.argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(cand.shape[1], device=cand.device).expand_as(order))
    return (rank < k[:, None]) & cand


def image_count(r: torch.Tensor, n: int | torch.Tensor, floor: bool = False) -> torch.Tensor:
    g = torch.cos(math.pi * r / 2) * n
    k = torch.floor(g) if floor else torch.ceil(g)
    return torch.clamp(k.long(), min=1) if isinstance(n, int) else torch.minimum(torch.clamp(k.long(), min=1), n)


def text_count(r: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.clamp(torch.ceil(r * n).long(), min=1), n)


def masked_ce(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross-entropy of every slot: logits [B, N, V], target [B, N] -> [B, N] (float32). Targets
    of slots that are not predicted may be anything valid; the caller weights them by 0."""
    V = logits.shape[-1]
    t = target.clamp(0, V - 1)
    return F.cross_entropy(logits.float().reshape(-1, V), t.reshape(-1), label_smoothing=smoothing,
                           reduction="none").view(target.shape)


# ---------------------------------------------------------------------------------------------
# One training step as a module (so DDP sees exactly one forward per backward)
# ---------------------------------------------------------------------------------------------
class Objective(nn.Module):
    def __init__(self, model: MagvltTrain, args) -> None:
        super().__init__()
        self.model = model
        self.a = args

    def forward(self, tasks, batch: Dict[str, torch.Tensor], gen: torch.Generator) -> Dict[str, torch.Tensor]:
        """tasks: one task name for the whole batch (--task-mixing step), or a list of
        (task, first row, end row) groups (--task-mixing batch). Task losses are means over their
        masked tokens, weighted by the group's share of the batch; plus the length pass.
        Fused (the default) two trunk calls: the first pass of every group together with the
        length pass, then the UnrollMask pass of every group (segment_rows says why rows of both
        layouts can share one); with --fuse-passes off one call per group and pass (up to seven),
        each only as wide as it needs (TRAINING_NOTES.md has both timed)."""
        m, a, cfg = self.model, self.a, self.model.cfg
        I, T = cfg.ctx_len_img, cfg.ctx_len_txt
        img, n_txt = batch["img"], batch["n_txt"]
        B = img.shape[0]
        groups = [(tasks, 0, B)] if isinstance(tasks, str) else tasks
        groups = [(t, r0, r1) for t, r0, r1 in groups if r1 > r0]
        n_len = max(1, int(round(B * a.length_frac)))
        Ls = T // 4 if T >= 4 else 1
        fuse = self.a.fuse_passes == "on"
        # text slots of the calls: the batch's longest caption, from the CPU copy of the lengths
        # (no device sync), and at least the length pass's, so that fused and separate calls draw
        # the same masks (padding slots are blocked columns)
        Tb = max(Ls, int(batch["n_txt_cpu"].max()) if "n_txt_cpu" in batch else int(n_txt.max()))

        # ---- first pass: every group's masked inputs and the length rows in one call -------------
        firsts = [self.first_inputs(task, {k: v[r0:r1] for k, v in batch.items()}, gen, Tb)
                  for task, r0, r1 in groups]
        h_all = run_parts(m, firsts + [self.length_inputs(img[:n_len], Tb if fuse else Ls)], fuse)
        rows_img, rows_txt = segment_rows(I, Tb)
        out: Dict[str, torch.Tensor] = {}
        losses = [[] for _ in groups]
        seconds = []
        for g, (task, _, _) in enumerate(groups):
            p, h = firsts[g], h_all[g]
            first = {}
            # Losses are computed densely over every slot of the segment and weighted by the mask:
            # selecting the masked slots (`x[mask]`) has a data-dependent size, and each such
            # selection makes the CPU wait for the GPU, which dominated the step time on an H100.
            for mod, rows, mk, tgt in (("img", rows_img, p["img_m"], p["img"]),
                                       ("txt", rows_txt, p["txt_m"], p["txt"])):
                if not p["active"][mod]:
                    continue
                logits = m.head(h[:, rows], mod)  # [B, N, V]
                per = masked_ce(logits, tgt, a.label_smoothing)
                mkf = mk.float()
                w = p["weight"][:, None] * mkf
                losses[g].append((per * w).sum() / w.sum().clamp_min(1e-6))
                with torch.no_grad():
                    n = mkf.sum().clamp_min(1.0)
                    out[f"{task}/acc_{mod}"] = ((logits.argmax(-1) == tgt).float() * mkf).sum() / n
                    out[f"{task}/loss_{mod}"] = (per.detach() * mkf).sum() / n
                first[mod] = (mk, logits.detach())
            if p["n_unroll"] and first:
                seconds.append((g, self.unroll_inputs(p, first, gen)))

        # ---- UnrollMask: second pass on the model's own samples, every group in one call ---------
        if seconds:
            h2_all = run_parts(m, [q for _, q in seconds], fuse)
            for (g, q), h2 in zip(seconds, h2_all):
                for mod, rows, mk, tgt in (("img", rows_img, q["img_m"], q["target_img"]),
                                           ("txt", rows_txt, q["txt_m"], q["target_txt"])):
                    if mod in q["unrolled"]:  # every unrolled row keeps >= 1 masked slot of each
                        per = masked_ce(m.head(h2[:, rows], mod), tgt, a.label_smoothing)
                        mkf = mk.float()
                        l2 = (per * mkf).sum() / mkf.sum().clamp_min(1.0)
                        losses[g].append(a.unroll_coef * l2)
                        out[f"{groups[g][0]}/unroll_{mod}"] = l2.detach()

        total = img.new_zeros((), dtype=torch.float32)
        for g, (task, r0, r1) in enumerate(groups):
            group_loss = sum(losses[g]) if losses[g] else h_all[g].sum() * 0.0
            total = total + group_loss * ((r1 - r0) / B)

        # ---- length pass, exactly as the engine reads the head ----------------------------------
        len_logits = m.length_predictor(h_all[-1][:, I + 3])
        len_tgt = torch.clamp(n_txt[:n_len] - 1, 0, T - 1)
        l_len = F.cross_entropy(len_logits.float(), len_tgt)
        out["loss_len"] = l_len.detach()
        out["acc_len"] = (len_logits.argmax(-1) == len_tgt).float().mean().detach()
        out["loss"] = total + a.length_coef * l_len
        return out

    def length_inputs(self, img: torch.Tensor, Tb: int) -> Dict[str, torch.Tensor]:
        """The engine's length pass (refine.c, mv_length_pass_slots): I2T, image visible, the first
        T/4 text slots end-of-text and masked, the rest (up to Tb) padding."""
        cfg = self.model.cfg
        n, dev = img.shape[0], img.device
        Ls = cfg.ctx_len_txt // 4 if cfg.ctx_len_txt >= 4 else 1
        txt_m = torch.zeros(n, Tb, dtype=torch.bool, device=dev)
        txt_m[:, :Ls] = True
        return {"t2i": torch.zeros(n, dtype=torch.bool, device=dev),
                "spc": torch.tensor([BOC, BOI, BOG, BOT], device=dev).expand(n, 4),
                "img": img, "img_m": torch.zeros(n, cfg.ctx_len_img, dtype=torch.bool, device=dev),
                "txt": torch.full((n, Tb), cfg.text_eot_id, dtype=torch.long, device=dev), "txt_m": txt_m,
                "n_txt": torch.full((n,), Ls, dtype=torch.long, device=dev)}

    def first_inputs(self, task: str, batch: Dict[str, torch.Tensor], gen: torch.Generator,
                     Tb: int) -> Dict[str, object]:
        """One task group's first-pass inputs: MixSel rows, mask ratios and masks (spec 6.2 / 6.4)."""
        a, cfg = self.a, self.model.cfg
        I = cfg.ctx_len_img
        img, txt, n_txt = batch["img"], batch["txt"], batch["n_txt"]
        B, dev = img.shape[0], img.device

        # ---- which rows get MixSel / UnrollMask ---------------------------------------------------
        n_mix = int(round(B * a.mixsel_frac)) if a.mixsel else 0
        n_unroll = int(round(B * a.unroll_frac)) if a.unroll else 0
        n_unroll = min(n_unroll, B - n_mix)
        spc = torch.empty(B, 4, dtype=torch.long, device=dev)
        t2i = task == "t2i"
        spc[:] = torch.tensor([BOC, BOT, BOG, BOI] if t2i else [BOC, BOI, BOG, BOT], device=dev)
        img_in, n_in = img.clone(), n_txt.clone()
        txt_in = txt[:, :Tb].clone()
        img_cand = torch.ones(B, I, dtype=torch.bool, device=dev)
        r = torch.rand(B, generator=gen, device=dev)
        if n_mix:
            # partner = the next sample in the batch (cyclic): a random other pair
            mix = slice(B - n_mix, B)
            part = torch.roll(torch.arange(B, device=dev), -1)[mix]
            side = torch.rand(n_mix, generator=gen, device=dev) < 0.5  # True: target first half
            s = int(math.isqrt(I))
            if t2i:
                a_h, b_h = batch["hhalf"][mix], batch["hhalf"][part]  # [n,s,s/2]
                grid = torch.where(side[:, None, None], torch.cat([a_h, b_h], 2), torch.cat([b_h, a_h], 2))
                col = torch.arange(s, device=dev)[None, None, :].expand(n_mix, s, s)
                mine = torch.where(side[:, None, None], col < s // 2, col >= s // 2)
                spc[mix, 2] = torch.where(side, BOG_LEFT, BOG_RIGHT)
            else:
                a_v, b_v = batch["vhalf"][mix], batch["vhalf"][part]  # [n,s/2,s]
                grid = torch.where(side[:, None, None], torch.cat([a_v, b_v], 1), torch.cat([b_v, a_v], 1))
                row = torch.arange(s, device=dev)[None, :, None].expand(n_mix, s, s)
                mine = torch.where(side[:, None, None], row < s // 2, row >= s // 2)
                spc[mix, 2] = torch.where(side, BOG_TOP, BOG_BOTTOM)
            img_in[mix] = grid.reshape(n_mix, I)
            img_cand[mix] = mine.reshape(n_mix, I)
        weight = torch.ones(B, device=dev)
        if n_mix:
            weight[B - n_mix:] = a.mixsel_coef

        # Which modalities this task predicts, known without looking at the masks (a `mask.any()`
        # would make the CPU wait for the GPU): the image unless I2T (or IT2IT with every row a
        # MixSel row, whose image stays visible); the text unless T2I.
        active = {"img": t2i or (task == "it2it" and n_mix < B), "txt": not t2i}

        valid = torch.arange(Tb, device=dev)[None] < n_in[:, None]
        img_m = torch.zeros(B, I, dtype=torch.bool, device=dev)
        txt_m = torch.zeros(B, Tb, dtype=torch.bool, device=dev)
        if task in ("t2i", "it2it"):
            n_cand = img_cand.sum(1)
            k_img = torch.where(n_cand == I, image_count(r, I), image_count(r, n_cand, floor=True))
            if task == "it2it" and n_mix:  # I2T MixSel: the image stays visible
                k_img[B - n_mix:] = 0
            img_m = random_subset(img_cand, k_img, gen)
        if task in ("i2t", "it2it"):
            txt_m = random_subset(valid, text_count(r, n_in), gen)
        return {"t2i": torch.full((B,), t2i, dtype=torch.bool, device=dev), "spc": spc, "img": img_in,
                "img_m": img_m, "txt": txt_in, "txt_m": txt_m, "n_txt": n_in,
                "weight": weight, "active": active, "r": r, "n_unroll": n_unroll}

    def unroll_inputs(self, p: Dict[str, object], first: Dict[str, tuple],
                      gen: torch.Generator) -> Dict[str, object]:
        """UnrollMask inputs of a group's first n_unroll rows: the first pass's masked slots filled
        with the model's own samples (no gradient, temperature 1), a subset at a later schedule
        point still masked; targets are the ground truth."""
        I = self.model.cfg.ctx_len_img
        n_unroll = p["n_unroll"]
        u = slice(0, n_unroll)
        ru = p["r"][u]
        img2, txt2 = p["img"][u].clone(), p["txt"][u].clone()
        dev = img2.device
        img_m2 = torch.zeros(n_unroll, I, dtype=torch.bool, device=dev)
        txt_m2 = torch.zeros(n_unroll, txt2.shape[1], dtype=torch.bool, device=dev)
        for mod, (mk, logits) in first.items():
            mk_u = mk[u]
            with torch.no_grad():
                lu = logits[u].float()  # [n_unroll, N, V]
                samp = torch.multinomial(lu.softmax(-1).flatten(0, 1), 1, generator=gen).view(lu.shape[:2])
            full_u = torch.where(mk_u, samp, torch.full_like(samp, -1))
            if mod == "img":
                r2 = ru + (1 - ru) * torch.rand(n_unroll, generator=gen, device=dev)
                k2 = torch.minimum(image_count(r2, I, floor=True), mk_u.sum(1))
                img_m2 = random_subset(mk_u, k2, gen)
                img2 = torch.where(mk_u & ~img_m2, full_u, img2)
            else:
                r2 = ru * torch.rand(n_unroll, generator=gen, device=dev)
                k2 = torch.minimum(text_count(r2, p["n_txt"][u]), mk_u.sum(1))
                txt_m2 = random_subset(mk_u, k2, gen)
                txt2 = torch.where(mk_u & ~txt_m2, full_u, txt2)
        return {"t2i": p["t2i"][u], "spc": p["spc"][u], "img": img2, "img_m": img_m2, "txt": txt2,
                "txt_m": txt_m2, "n_txt": p["n_txt"][u], "target_img": p["img"][u],
                "target_txt": p["txt"][u], "unrolled": set(first)}


def run_parts(m: MagvltTrain, parts, fuse: bool) -> list:
    """The trunk over several input sets (dicts with t2i, spc, img, img_m, txt, txt_m, n_txt):
    fused, one call over their concatenated rows (all of the same text width); else one call
    each. Returns each set's output."""
    keys = ("t2i", "spc", "img", "img_m", "txt", "txt_m", "n_txt")
    if not fuse:
        return [m.run(*(p[k] for k in keys)) for p in parts]
    cat = {k: torch.cat([p[k] for p in parts]) for k in keys}
    h = m.run(cat["t2i"], cat["spc"], cat["img"], cat["img_m"], cat["txt"], cat["txt_m"], cat["n_txt"])
    return list(h.split([p["img"].shape[0] for p in parts]))


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
class Data:
    def __init__(self, work: str, data: str, tok, split: int = 0, limit: int = 0) -> None:
        c = np.load(os.path.join(work, "codes.npz"))
        # codes.npz carries captions and splits (vqgan_train.py encode); older ones need the dataset
        z = c if "captions" in c.files else np.load(os.path.join(data, "dataset.npz"))
        sel = np.nonzero(z["split"] == split)[0]
        if limit:
            sel = sel[:limit]
        self.idx = sel
        self.full = torch.from_numpy(c["full"][sel].astype(np.int64)).flatten(1)
        self.hhalf = torch.from_numpy(c["hhalf"][sel].astype(np.int64))
        self.vhalf = torch.from_numpy(c["vhalf"][sel].astype(np.int64))
        enc = [tok.encode(str(s)) for s in z["captions"][sel]]
        self.txt = torch.tensor([e[0] for e in enc], dtype=torch.long)
        self.n_txt = torch.tensor([min(e[1], tok.ctx_len) for e in enc], dtype=torch.long)
        self.captions = z["captions"][sel]

    def __len__(self) -> int:
        return len(self.idx)

    def batch(self, rows: np.ndarray, dev) -> Dict[str, torch.Tensor]:
        r = torch.from_numpy(rows)
        return {"img": self.full[r].to(dev), "txt": self.txt[r].to(dev), "n_txt": self.n_txt[r].to(dev),
                "hhalf": self.hhalf[r].to(dev), "vhalf": self.vhalf[r].to(dev),
                "n_txt_cpu": self.n_txt[r]}  # stays on the CPU: sizes are read from it without a sync


def batch_rows(n: int, batch: int, step: int, seed: int) -> np.ndarray:
    """Global batch of step `step`: epochs are seeded permutations, so any step can be recomputed
    after a resume without saving data-loader state."""
    per_epoch = n // batch
    epoch, k = divmod(step, max(1, per_epoch))
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[k * batch:(k + 1) * batch] if per_epoch else perm[np.arange(batch) % n]


def draw_task(step: int, seed: int, weights) -> str:
    p = np.asarray(weights, np.float64)
    return TASKS[int(np.random.default_rng([seed, step, 7]).choice(3, p=p / p.sum()))]


def task_groups(n: int, weights) -> list:
    """Split n rows into contiguous task groups in proportion to the weights (largest
    remainder), e.g. 32 rows at 3:1:1 -> t2i 19, i2t 7, it2it 6."""
    w = np.asarray(weights, np.float64) / sum(weights)
    k = np.floor(w * n).astype(int)
    for i in np.argsort(-(w * n - k), kind="stable")[:n - k.sum()]:
        k[i] += 1
    groups, r = [], 0
    for t, c in zip(TASKS, k):
        groups.append((t, r, r + int(c)))
        r += int(c)
    return groups


# ---------------------------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------------------------
def model_config(a, tok) -> MagvltConfig:
    return MagvltConfig(embed_dim=a.embed_dim, n_layers=a.n_layers, n_heads=a.n_heads,
                        mlp_hidden=4 * a.embed_dim, ctx_len_img=a.ctx_len_img, ctx_len_txt=tok.ctx_len,
                        vocab_size_img=a.vocab_size_img, vocab_size_txt=len(tok.vocab), n_special=10)


def progress(step: int, a, elapsed: float = 0.0) -> float:
    """Fraction of the run done: by steps, or by wall time when --time-budget is set (a run on a
    lent GPU has a fixed number of minutes, and its cosine decay must end when they do, not at a
    step count guessed before its speed is known). Whichever is further along wins."""
    prog = step / max(1, a.steps)
    if a.time_budget > 0:
        prog = max(prog, elapsed / a.time_budget)
    return min(1.0, prog)


def lr_at(step: int, a, elapsed: float = 0.0) -> float:
    warm = min(1.0, (step + 1) / max(1, a.warmup))
    prog = progress(step, a, elapsed)
    return a.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def save_atomic(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="MAGVLT stage-2 trainer (see the module docstring).")
    ap.add_argument("--work", required=True, help="work folder: codes.npz, bpe.json; writes <out>/")
    ap.add_argument("--data", help="dataset folder (default: WORK/../data)")
    ap.add_argument("--out", default="stage2", help="sub-folder of WORK for checkpoints and logs")
    ap.add_argument("--tokenizer", help="CharBPE JSON (default WORK/bpe.json)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=48, help="global batch (split over ranks)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--embed-dim", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=6)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--ctx-len-img", type=int, default=64)
    ap.add_argument("--vocab-size-img", type=int, default=1024)
    ap.add_argument("--task-weights", default="8,1,1")
    ap.add_argument("--task-mixing", choices=["batch", "step"], default="batch",
                    help="batch: every batch holds the three tasks in proportion (default); step: one "
                         "task per step, drawn with the weights (spec 6.1's GUESS)")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--length-coef", type=float, default=0.01)
    ap.add_argument("--length-frac", type=float, default=0.25)
    ap.add_argument("--no-unroll", dest="unroll", action="store_false")
    ap.add_argument("--unroll-coef", type=float, default=1.0)
    ap.add_argument("--unroll-frac", type=float, default=0.25)
    ap.add_argument("--no-mixsel", dest="mixsel", action="store_false")
    ap.add_argument("--mixsel-coef", type=float, default=0.5)
    ap.add_argument("--mixsel-frac", type=float, default=0.25)
    ap.add_argument("--fuse-passes", choices=["on", "off"], default="on",
                    help="on: the first passes of all tasks and the length pass as one trunk call, all "
                         "UnrollMask passes as a second; off: one call per task and pass (seven)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training pairs (tests)")
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="seconds of training (0: none); the schedule decays over min(steps, budget) "
                         "and the run ends when either is spent")
    ap.add_argument("--cpu-bf16", action="store_true",
                    help="bf16 autocast on the CPU too (on CUDA it is always on); fast on CPUs with AMX or "
                         "AVX512-BF16, slow elsewhere")
    ap.add_argument("--export", help="also write the final weights alone (no optimiser state) here")
    ap.add_argument("--export-half", action="store_true",
                    help="--export in float16 (half the size: what comes back from a lent GPU is capped)")
    ap.add_argument("--init", help="start from these weights (an --export file, e.g. the shipped model's) "
                                   "with a fresh optimiser; ignored when WORK/OUT/ckpt.pt resumes")
    return ap


def main(argv=None) -> None:
    a = build_parser().parse_args(argv)

    from charbpe import CharBpe
    torch.set_num_threads(a.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if a.device == "auto" else a.device))
    if world > 1:
        import torch.distributed as dist
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
    out_dir = os.path.join(a.work, a.out)
    os.makedirs(out_dir, exist_ok=True)
    tok = CharBpe.load(a.tokenizer or os.path.join(a.work, "bpe.json"))
    data = Data(a.work, a.data or os.path.join(a.work, "..", "data"), tok, limit=a.limit)
    cfg = model_config(a, tok)
    model = MagvltTrain(cfg)
    model.init_weights(a.seed)
    model.to(dev)
    if a.cpu_bf16 and dev.type == "cpu":
        for mod in model.modules():  # same parameters and state_dict keys
            if type(mod) is nn.LayerNorm:
                mod.__class__ = Float32LayerNorm
    decay = [p for n, p in model.named_parameters() if n.endswith(".weight") and p.dim() == 2
             and not n.startswith(("tok_emb", "pos_emb"))]
    other = [p for n, p in model.named_parameters() if all(p is not q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": other, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.98))
    ck = os.path.join(out_dir, "ckpt.pt")
    step = 0
    steps_before = 0  # steps of the --init weights, so exports count the whole training
    if a.init and not os.path.exists(ck):
        st = torch.load(a.init, map_location="cpu")
        steps_before = int(st.get("steps_total", st.get("step", 0)))
        model.load_state_dict({k: v.float() for k, v in st["model"].items()})
        if rank == 0:
            print(f"initialised from {a.init} (trained {st.get('step')} steps)", flush=True)
    if os.path.exists(ck):
        st = torch.load(ck, map_location="cpu")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        steps_before = int(st.get("steps_before", 0))
        if rank == 0:
            print(f"resumed from {ck} at step {step}", flush=True)
    obj: nn.Module = Objective(model, a)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        obj = DDP(obj, device_ids=[dev.index] if dev.type == "cuda" else None)
    weights = [float(x) for x in a.task_weights.split(",")]
    per_rank = a.batch // world
    log = open(os.path.join(out_dir, "log.jsonl"), "a") if rank == 0 else None
    if rank == 0:
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump({"args": vars(a), "model": asdict(cfg), "world": world, "n_train": len(data)}, f, indent=1)
    t0, acc = time.time(), {}
    while step < a.steps:
        elapsed = time.time() - t0
        if a.time_budget > 0:
            if world > 1:
                # the schedule and the stop follow rank 0's clock: with each rank's own, the
                # learning rates (and so the weights) would drift apart and ranks stop apart
                import torch.distributed as dist
                clock = torch.tensor([elapsed], dtype=torch.float64, device=dev)
                dist.broadcast(clock, 0)
                elapsed = float(clock.item())
            if progress(step, a, elapsed) >= 1.0:
                break
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, a, elapsed)
        task = draw_task(step, a.seed, weights) if a.task_mixing == "step" else task_groups(per_rank, weights)
        rows = batch_rows(len(data), per_rank * world, step, a.seed)[rank * per_rank:(rank + 1) * per_rank]
        batch = data.batch(rows, dev)
        gen = torch.Generator(device=dev).manual_seed(a.seed * 1000003 + step * 101 + rank)
        amp = (torch.autocast(dev.type, dtype=torch.bfloat16) if dev.type == "cuda" or a.cpu_bf16
               else contextlib.nullcontext())
        with amp:
            out = obj(task, batch, gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        # kept on the device until the log line: a float() per value per step would make the
        # CPU wait for the GPU about twenty times a step
        for k, v in out.items():
            acc.setdefault(f"{task}/{k}" if isinstance(task, str) else k, []).append(v.detach().float())
        acc.setdefault("grad_norm", []).append(gn.detach().float())
        if rank == 0 and (step % a.log_every == 0 or step == a.steps):
            ent = {"step": step, "lr": lr_at(step - 1, a, elapsed), "sec": round(time.time() - t0, 1),
                   "progress": round(progress(step, a, elapsed), 4)}
            ent.update({k: round(float(torch.stack(v).mean()), 4) for k, v in acc.items()})
            acc = {}
            log.write(json.dumps(ent) + "\n")
            log.flush()
            print(json.dumps(ent), flush=True)
        if rank == 0 and step % a.save_every == 0 and step < a.steps:
            save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                         "config": asdict(cfg), "args": vars(a), "steps_before": steps_before}, ck)
    if rank == 0:
        # the final state, whether the step count or the time budget ended the run
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                     "config": asdict(cfg), "args": vars(a), "steps_before": steps_before}, ck)
        if a.export:
            dt = torch.float16 if a.export_half else torch.float32
            save_atomic({"model": {k: v.to(dt) for k, v in model.state_dict().items()}, "step": step,
                         "steps_total": steps_before + step, "config": asdict(cfg), "args": vars(a),
                         "sec": round(time.time() - t0, 1)}, a.export)
    if world > 1:
        import torch.distributed as dist
        # every rank must hold the same weights after the same steps (gradients all-reduced)
        sig = torch.tensor([float(sum(p.double().sum() for p in model.parameters()))], device=dev)
        sigs = [torch.zeros_like(sig) for _ in range(world)]
        dist.all_gather(sigs, sig)
        if rank == 0:
            same = all(float(x) == float(sigs[0]) for x in sigs)
            print(f"ddp: {world} ranks, weights {'identical' if same else 'DIFFER'}", flush=True)
            if not same:
                sys.exit(1)
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        print("done", flush=True)


if __name__ == "__main__":
    main()
