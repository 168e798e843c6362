#!/usr/bin/env python3
"""Test: reference.py and export_gguf.py against the official tiny-model fixtures.

Checks (one output line each, PASS/FAIL):
  * per case: sequence layout (per_position) and both L x L attention masks equal the official ones;
  * per case and array: max |diff| of the float64 and float32 reference vs expected/*.npy within
    the fixture README's suggested tolerances (logits 1e-4, hidden/emb/block_out 5e-5), all rows
    including text padding rows; the length head's argmax equals the official one;
  * txt_logprobs_topk (where stored): 1e-3 on finite entries and an identical -inf pattern;
  * vqgan_reference.py (float64 and float32): input normalisation, encoder output, pre-quant
    latents (5e-5), codes (exact), decoded images (5e-5) and pixels (+-1);
  * export_gguf.py round trip (f32 with the taming VQGAN, f16 with model_vqvae.*): metadata,
    tensor names, shapes, dtypes and values; the reference built from the f32 GGUF reproduces
    every case.
Exit status 0 when every check passes, 1 otherwise.

    python3 model-runtime/training/check_reference_against_fixtures.py [--data tests/data/official]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_gguf import export  # noqa: E402
from gguf_writer import read_gguf  # noqa: E402
from reference import (MagvltReference, attention_allow, build_inputs,  # noqa: E402
                       config_from_state_dict, load_gguf_model, load_official_state_dict,
                       strip_prefix)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOL = {"img_logits": 1e-4, "txt_logits": 1e-4, "len_logits": 1e-4,
       "hidden": 5e-5, "emb": 5e-5, "block_out": 5e-5}


class Checker:
    def __init__(self) -> None:
        self.failed = 0
        self.total = 0

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        self.total += 1
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok


def run_case(model: MagvltReference, case: dict) -> Dict[str, np.ndarray]:
    I, T = model.cfg.ctx_len_img, model.cfg.ctx_len_txt
    img_m = [i in case["image_masked_positions"] for i in range(I)]
    txt_m = [i in case["text_masked_positions"] for i in range(T)]
    out = model(case["layout"], case["image_ids"], img_m, case["text_ids"], txt_m,
                case["text_valid_len"])
    return {k: v.double().numpy() for k, v in out.items()}


def mask_strings(m: torch.Tensor) -> List[str]:
    return ["".join("1" if b else "0" for b in row) for row in m.tolist()]


def topk_logprobs(logits: np.ndarray, temperature: float, k: int) -> np.ndarray:
    x = logits / temperature
    kth = np.sort(x, axis=-1)[:, -k][:, None]
    x = np.where(x < kth, -np.inf, x)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def check_cases(c: Checker, model: MagvltReference, cases: dict, data: str, tag: str,
                structure: bool) -> None:
    cfg = model.cfg
    for name, case in cases.items():
        if structure:
            I, T = cfg.ctx_len_img, cfg.ctx_len_txt
            inp = build_inputs(cfg, case["layout"], case["image_ids"],
                               [i in case["image_masked_positions"] for i in range(I)],
                               case["text_ids"], [i in case["text_masked_positions"] for i in range(T)],
                               case["text_valid_len"])
            pp = case["per_position"]
            mine = {"token_before_mask": inp.token_before_mask, "token_after_mask": inp.token_after_mask,
                    "segment": inp.segment, "pos": inp.pos, "masked": inp.masked,
                    "special_after_mask": inp.special_after_mask}
            bad = [k for k in mine if mine[k] != pp[k]]
            c.check(not bad, f"{name} layout per_position", f"differs in {bad}" if bad else "")
            passed, after = attention_allow(cfg, inp)
            c.check(mask_strings(passed) == case["attn_mask_as_passed"] and
                    mask_strings(after) == case["attn_mask_after_forward"], f"{name} attention masks")
        out = run_case(model, case)
        for arr, spec in case["files"].items():
            if arr not in TOL:
                continue
            want = np.load(os.path.join(data, spec["file"])).astype(np.float64)
            got = out[arr]
            if got.shape != want.shape:
                c.check(False, f"{name} {arr} [{tag}]", f"shape {got.shape} != {want.shape}")
                continue
            d = np.abs(got - want).max()
            c.check(bool(d <= TOL[arr]), f"{name} {arr} [{tag}]", f"max|diff| {d:.2e} (tol {TOL[arr]:.0e})")
        n = int(np.argmax(out["len_logits"])) + 1
        want_n = case["predicted_length_argmax_plus_1"]
        c.check(n == want_n, f"{name} length argmax+1 [{tag}]", f"{n} (official {want_n})")
        if "txt_logprobs_topk" in case and structure:
            info = case["txt_logprobs_topk"]
            want = np.load(os.path.join(data, case["files"]["txt_logprobs_topk"]["file"]))
            got = topk_logprobs(out["txt_logits"], info["temperature"], info["top_k"])
            same_inf = np.array_equal(np.isinf(got), np.isinf(want))
            fin = np.isfinite(want)
            d = np.abs(got[fin] - want[fin]).max() if same_inf else float("inf")
            c.check(same_inf and d <= 1e-3, f"{name} txt_logprobs_topk [{tag}]",
                    f"-inf pattern {'equal' if same_inf else 'DIFFERS'}, max|diff| {d:.2e} (tol 1e-03)")


def check_export(c: Checker, data: str, sd: Dict[str, torch.Tensor], vq_sd: Dict[str, torch.Tensor],
                 y: dict, cases: dict, tmp: str) -> None:
    cfg_path = os.path.join(data, "config.yaml")
    ckpt = os.path.join(data, "tiny-magvlt.ckpt")
    hp = y["stage2"]["hparams"]
    want_meta = {"general.architecture": "magvlt", "general.name": "tiny", "magvlt.format_version": 1,
                 "magvlt.embed_dim": hp["embed_dim"], "magvlt.n_layers": hp["n_layers"],
                 "magvlt.n_heads": hp["n_heads"], "magvlt.mlp_hidden": 4 * hp["embed_dim"],
                 "magvlt.ctx_len_img": hp["ctx_len_img"], "magvlt.ctx_len_txt": hp["ctx_len_txt"],
                 "magvlt.vocab_size_img": y["stage2"]["vocab_size_img"],
                 "magvlt.vocab_size_txt": y["stage2"]["vocab_size_txt"], "magvlt.n_special": 10,
                 "magvlt.text_eot_id": y["stage2"]["vocab_size_txt"] - 1,
                 "magvlt.vqgan.ch_mult": y["stage1"]["hparams"]["ch_mult"],
                 "magvlt.vqgan.attn_resolutions": y["stage1"]["hparams"]["attn_resolutions"],
                 "magvlt.vqgan.n_embed": y["stage1"]["n_embed"],
                 "magvlt.vqgan.embed_dim": y["stage1"]["embed_dim"]}
    want = {"stage2." + k[len("model."):]: v.numpy() for k, v in sd.items() if k.startswith("model.")}
    want.update({"vqgan." + k: v.numpy() for k, v in vq_sd.items() if not k.startswith("loss")})
    for f16, vq in ((False, os.path.join(data, "tiny-vqgan.ckpt")), (True, None)):
        tag = "f16" if f16 else "f32"
        out = os.path.join(tmp, f"tiny-{tag}.gguf")
        export(ckpt, cfg_path, out, vq, f16, "tiny")
        meta, tensors = read_gguf(out)
        bad = [k for k, v in want_meta.items() if meta.get(k) != v]
        eps_ok = abs(meta.get("magvlt.layer_norm_eps", 0) - 1e-5) < 1e-10
        c.check(not bad and eps_ok, f"export {tag} metadata", f"wrong: {bad}" if bad else f"{len(meta)} keys")
        c.check(list(tensors) == list(want), f"export {tag} tensor names",
                f"{len(tensors)} tensors (expected {len(want)}, same order)")
        bad_shape = [k for k in want if k in tensors and tensors[k].shape != want[k].shape]
        c.check(not bad_shape, f"export {tag} tensor shapes", f"wrong: {bad_shape[:3]}" if bad_shape else "")
        bad_val, bad_type = [], []
        for k, w in want.items():
            if k not in tensors:
                continue
            t = tensors[k]
            exp_type = np.float16 if (f16 and w.ndim >= 2) else np.float32
            if t.dtype != exp_type:
                bad_type.append(k)
            if not np.array_equal(t, w.astype(exp_type)):
                bad_val.append(k)
        c.check(not bad_type, f"export {tag} tensor types", "rank>=2 F16, 1-D F32" if f16 else "all F32")
        c.check(not bad_val, f"export {tag} tensor values", f"wrong: {bad_val[:3]}" if bad_val else "bit-exact")
        if not f16:
            check_cases(c, load_gguf_model(out), cases, data, "gguf f32 -> f64", structure=False)


def check_vqgan(c: Checker, data: str, vq_sd: Dict[str, torch.Tensor], y: dict) -> None:
    """vqgan_reference.py (built from the taming checkpoint) against the official VQGAN case."""
    from export_gguf import geometry_from_yaml
    from vqgan_reference import VqganReference, from_pixels, to_pixels

    _, v = geometry_from_yaml(y, 1, 10)
    e = lambda name: np.load(os.path.join(data, "expected", f"vqgan.{name}.npy"))  # noqa: E731
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        vq = VqganReference(v).to(dtype).requires_grad_(False)
        vq.load_named({k: t for k, t in vq_sd.items() if not k.startswith("loss.")})
        x = from_pixels(e("vq_input_image_u8"))
        c.check(np.array_equal(x.numpy(), e("vq_input")), f"vqgan {tag} input normalisation")
        enc, z, codes = vq.encode(x[None].to(dtype))
        for name, got, want in (("encoder output", enc[0], e("vq_encoder_out")),
                                ("pre-quant", z[0], e("vq_pre_quant"))):
            d = float(np.abs(got.double().numpy() - want).max())
            c.check(d <= 5e-5, f"vqgan {tag} {name}", f"max|diff| {d:.2e}")
        c.check(np.array_equal(codes[0].numpy(), e("vq_codes")), f"vqgan {tag} codes")
        for codes_f, dec_f, px_f in (("vq_codes", "vq_decoded", "vq_decoded_pixels_u8"),
                                     ("vq_arbitrary_codes", "vq_arbitrary_decoded",
                                      "vq_arbitrary_pixels_u8")):
            y_out = vq.decode_codes(torch.from_numpy(e(codes_f))[None])[0]
            d = float(np.abs(y_out.double().numpy() - e(dec_f)).max())
            c.check(d <= 5e-5, f"vqgan {tag} {dec_f}", f"max|diff| {d:.2e}")
            px = np.abs(to_pixels(y_out.float()).astype(int) - e(px_f)).max()
            c.check(px <= 1, f"vqgan {tag} {px_f}", f"max|diff| {px}")


def main() -> None:
    ap = argparse.ArgumentParser(description="Check reference.py and export_gguf.py against the "
                                             "official tiny-model fixtures. Exit 0 = all checks pass.")
    ap.add_argument("--data", default=os.path.join(REPO, "tests", "data", "official"),
                    help="fixture folder (README.md, cases.json, config.yaml, *.ckpt, expected/)")
    args = ap.parse_args()
    torch.manual_seed(0)
    c = Checker()
    with open(os.path.join(args.data, "cases.json")) as f:
        cases = json.load(f)["stage2_cases"]
    with open(os.path.join(args.data, "config.yaml")) as f:
        y = yaml.safe_load(f)
    sd = load_official_state_dict(os.path.join(args.data, "tiny-magvlt.ckpt"))
    vq_sd = load_official_state_dict(os.path.join(args.data, "tiny-vqgan.ckpt"))
    s2 = strip_prefix(sd, "model.")
    cfg = config_from_state_dict(s2, y["stage2"]["hparams"]["n_heads"], y["stage2"]["vocab_size_img"])
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        model = MagvltReference(cfg).to(dtype)
        model.load_state_dict(s2, strict=True)
        check_cases(c, model, cases, args.data, tag, structure=dtype == torch.float64)
    check_vqgan(c, args.data, vq_sd, y)
    with tempfile.TemporaryDirectory() as tmp:
        check_export(c, args.data, sd, vq_sd, y, cases, tmp)
    print(f"{c.total - c.failed}/{c.total} checks passed")
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
