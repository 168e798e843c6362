#!/usr/bin/env python3
"""Export a trained model (train.py stage-2 checkpoint + vqgan_train.py VQGAN + charbpe.py
vocabulary) in the official layout, then into the GGUF model file the engine loads.

1. Official layout (what the official code and `magvlt convert` read):
     NAME.ckpt          torch file {"state_dict": {"model.*": stage 2, "model_vqvae.*": VQGAN}}
     NAME.yaml          the official config schema (stage1 / stage2 / dataset / sampling)
     NAME-merges.txt    BPE merges with HuggingFace's "#version: 0.2" header
     NAME-vocab.json    {token: id} (HuggingFace CharBPETokenizer vocabulary)
2. GGUF: `magvlt convert --ckpt NAME.ckpt --config NAME.yaml --bpe NAME-merges.txt` (the C
   converter, --cli), the one path from official files to a model file: a trained model is
   converted exactly as a released checkpoint is (its shapes, YAML and merges checked there; it
   records the source files' SHA-256, so a model file names the weights it was made from). The
   converter warns that these merges are not CLIP's: true, and meant (our own vocabulary).

Example:
    python3 export_default.py --work /work/cache/magvlt-train/work --official-dir /tmp/official \\
        --out data/models/default.gguf --f16
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from charbpe import CharBpe  # noqa: E402
from export_gguf import SAMPLING_TYPES, ExportError, check_sampling, sampling_from_yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CLI = os.path.join(HERE, "..", "..", "build", "model-runtime", "tools", "magvlt")


# Sampling values of the shipped model over the official ones (which were tuned for MAGVLT-base
# on photographs), written into the GGUF as this model's defaults. Choose on val, confirm on test.
# - Text guidance 1.0 (img_guidance_scale, ours, not official: refine.c). Validation, 300
#   prompts, bf16: generation top-5 33.7 -> 59.3 % (0.5 / 1.5 / 2 / 3: 47.7 / 54.3 / 58.0 / 56.7 %);
#   held out (300 prompts each): test 36.0 -> 53.0 %, OpenMoji 32.7 -> 51.7 %, inpainting top-5
#   (200 each) 46.5 -> 56.5 % and 25.0 -> 32.0 %. Twice the forwards per image step.
# - The temperatures stay official: a choice temperature of 4.5 -> 0.45 looked better on the
#   VALIDATION split (MODEL_CARD.md, "Sampling"; top-5 24.3 -> 29.3 %) but the held-out check did
#   not bear it out (test 29.0 -> 26.5 %, inpainting 40 -> 34 %); with guidance 1, temperature 1.0
#   or 1.8, choice temperature 1.0 / 3.0 / 4.5 or 16 steps did no better on validation.
DEFAULT_MODEL_SAMPLING: dict = {"img_guidance_scale": 1.0}


def official_yaml(cfg: dict, vq_geom: dict, tok: CharBpe, name: str, args: dict) -> dict:
    return {
        "dataset": {"tokenizer": {"type": "CharBPE", "vocab": f"{name}-vocab.json",
                                  "merges": f"{name}-merges.txt",
                                  "hparams": {"context_length": tok.ctx_len, "bpe_pdrop": 0.0}},
                    "use_hnh_task": True, "hnh_task_scheme": 1},
        "stage1": {"type": "vqgan", "embed_dim": vq_geom["embed_dim"], "n_embed": vq_geom["n_embed"],
                   "hparams": {"double_z": False, "z_channels": vq_geom["z_channels"],
                               "resolution": vq_geom["resolution"], "in_channels": vq_geom["in_channels"],
                               "out_ch": vq_geom["out_ch"], "ch": vq_geom["ch"], "ch_mult": vq_geom["ch_mult"],
                               "num_res_blocks": vq_geom["num_res_blocks"],
                               "attn_resolutions": vq_geom["attn_resolutions"], "pdrop": 0.0}},
        "stage2": {"type": "maskgit", "backbone": "transformer1d",
                   "vocab_size_txt": cfg["vocab_size_txt"], "vocab_size_img": cfg["vocab_size_img"],
                   "mask_hparams": {"task": "it2it-task", "task_weights": args.get("task_weights", "8,1,1"),
                                    "i2t_schedule": "linear", "i2t_n_steps": 12,
                                    "t2i_schedule": "cosine", "t2i_n_steps": 10},
                   "hparams": {"embed_dim": cfg["embed_dim"], "n_layers": cfg["n_layers"],
                               "n_heads": cfg["n_heads"], "ctx_len_img": cfg["ctx_len_img"],
                               "ctx_len_txt": cfg["ctx_len_txt"], "embd_pdrop": 0.0, "resid_pdrop": 0.0,
                               "attn_pdrop": 0.0, "mlp_bias": True, "attn_bias": True,
                               "gelu_use_approx": False, "label_smoothing": args.get("label_smoothing", 0.1),
                               "use_target_vocab_only": True, "use_spc_pos": True,
                               "pos_emb_img_mode": "la1d", "pos_emb_txt_mode": "la1d",
                               "pos_emb_spc_mode": "la1d", "use_unroll_loss": bool(args.get("unroll", True)),
                               "length_loss_coef": args.get("length_coef", 0.01)}},
        "sampling": {"txt_max_len": tok.ctx_len, "txt_num_cand_samples": 64, "txt_sample_size": 32,
                     "txt_sample_method": "sample_rerank", "txt_mask_sample_method": "sample",
                     "txt_top_k": 32, "txt_top_p": 0, "txt_num_steps": 12, "txt_temperature": 0.1,
                     "img_num_cand_samples": 32, "img_mask_sample_method": "multinomial-maskgit",
                     "img_temperature_start": 1.4, "img_temperature_end": 0.6,
                     "img_mult_temperature_start": 2.0, "img_mult_temperature_end": 0.2,
                     "img_num_steps": 10},
    }


def parse_sampling(items: list[str]) -> dict:
    """KEY=VALUE pairs (keys of export_gguf.SAMPLING_TYPES) into typed values."""
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or k not in SAMPLING_TYPES:
            raise SystemExit(f"--sampling {item!r}: expected KEY=VALUE with KEY one of {', '.join(SAMPLING_TYPES)}")
        kind = SAMPLING_TYPES[k]
        try:
            out[k] = int(v) if kind == "u32" else float(v) if kind == "f32" else v
        except ValueError:
            raise SystemExit(f"--sampling {item!r}: {v!r} is not a{'n integer' if kind == 'u32' else ' number'}")
    return out


def write_official(stage2_ckpt: str, vqgan_pt: str, tok: CharBpe, out_dir: str, name: str,
                   sampling: dict | None = None) -> tuple:
    st = torch.load(stage2_ckpt, map_location="cpu")
    vq = torch.load(vqgan_pt, map_location="cpu")
    y = official_yaml(st["config"], vq["geometry"], tok, name, st.get("args", {}))
    y["sampling"].update(sampling or {})
    try:  # the engine's ranges, checked before any file is written
        check_sampling(sampling_from_yaml(y))
    except ExportError as e:
        raise SystemExit(f"export_default: error: {e}") from None
    sd = {"model." + k: v.float() for k, v in st["model"].items()}
    sd.update({"model_vqvae." + k: v.float() for k, v in vq["state_dict"].items()})
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, f"{name}.ckpt")
    # an --export file of a run started from --init weights counts that run's steps in "step" and
    # the whole training in "steps_total"; the official global_step is the whole training
    steps = int(st.get("steps_total", st["step"]))
    torch.save({"state_dict": sd, "global_step": steps}, ckpt)
    cfg_path = os.path.join(out_dir, f"{name}.yaml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(y, f, sort_keys=False)
    with open(os.path.join(out_dir, f"{name}-merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2 - Trained by model-runtime/training/charbpe.py\n")
        f.write("\n".join(tok.merges) + "\n")
    with open(os.path.join(out_dir, f"{name}-vocab.json"), "w", encoding="utf-8") as f:
        json.dump({s: i for i, s in enumerate(tok.vocab)}, f, ensure_ascii=False)
    return ckpt, cfg_path, steps


def convert(cli: str, ckpt: str, cfg_path: str, merges: str, out: str, name: str, f16: bool,
            threads: int) -> None:
    """The official files -> GGUF through `magvlt convert`; nothing at OUT unless it succeeds."""
    tmp = out + ".tmp"
    cmd = [cli, "convert", "--ckpt", ckpt, "--config", cfg_path, "--bpe", merges, "--name", name,
           "--type", "f16" if f16 else "f32", "-t", str(threads), "-q", "-o", tmp]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise SystemExit(f"export_default: error: cannot run {cli} ({e.strerror}); build it first "
                         "(meson compile -C build) or name it with --cli") from None
    if p.returncode != 0:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise SystemExit(f"export_default: error: magvlt convert failed:\n{p.stderr.strip()}")
    for line in p.stderr.splitlines():
        if "are not CLIP's" not in line:  # expected: this model has its own vocabulary
            print(line, file=sys.stderr)
    os.replace(tmp, out)


def main() -> None:
    ap = argparse.ArgumentParser(description="Export the trained default model (official layout, then GGUF).")
    ap.add_argument("--work", required=True)
    ap.add_argument("--stage2", help="stage-2 checkpoint (default WORK/stage2/ckpt.pt)")
    ap.add_argument("--vqgan", help="VQGAN (default WORK/vqgan/vqgan.pt)")
    ap.add_argument("--tokenizer", help="CharBPE JSON (default WORK/bpe.json)")
    ap.add_argument("--official-dir", help="where the official-layout files go (default WORK/official)")
    ap.add_argument("--name", default="magvlt-emoji-default")
    ap.add_argument("--out", required=True, help="GGUF path")
    ap.add_argument("--f16", action="store_true", help="16-bit weights (norms, biases, codebook stay f32)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cli", default=DEFAULT_CLI, help="the magvlt tool that converts (default: the build's)")
    ap.add_argument("--sampling", action="append", default=[], metavar="KEY=VALUE",
                    help="a sampling value written to the YAML and the GGUF (the engine's default for "
                         "this model), over DEFAULT_MODEL_SAMPLING (img_guidance_scale=1.0) over the "
                         "official values, e.g. img_temperature_start=1.0 or img_guidance_scale=0")
    a = ap.parse_args()
    if not (os.path.isfile(a.cli) and os.access(a.cli, os.X_OK)):  # before writing anything
        raise SystemExit(f"export_default: error: cannot run {a.cli}; build it first (meson compile -C build) "
                         "or name it with --cli")
    torch.set_num_threads(a.threads)
    tok = CharBpe.load(a.tokenizer or os.path.join(a.work, "bpe.json"))
    ckpt, cfg, step = write_official(a.stage2 or os.path.join(a.work, "stage2", "ckpt.pt"),
                                     a.vqgan or os.path.join(a.work, "vqgan", "vqgan.pt"), tok,
                                     a.official_dir or os.path.join(a.work, "official"), a.name,
                                     {**DEFAULT_MODEL_SAMPLING, **parse_sampling(a.sampling)})
    convert(a.cli, ckpt, cfg, os.path.join(os.path.dirname(ckpt), f"{a.name}-merges.txt"), a.out, a.name,
            a.f16, a.threads)
    print(f"wrote {a.out}: step {step}, {os.path.getsize(a.out) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
