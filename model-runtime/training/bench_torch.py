#!/usr/bin/env python3
"""Time one MAGVLT forward pass in PyTorch and in the C engine on the same weights, and print
engine/PyTorch ratios.

Both sides read the same GGUF file (e.g. the random base-geometry model of
`make_parity_cases.py --geometry base --f16`): PyTorch loads its stage-2 tensors into
reference.MagvltReference (float16 tensors widened to float32, so both compute with the same
values). Two passes are timed, the same ones `magvlt bench` times:

  T2I: every image slot masked, all text slots valid, image logits of every image slot over the
       image vocabulary (the first step of text-to-image);
  I2T: every text slot masked, the image visible, text logits of every text slot over the text
       vocabulary.

PyTorch is run at its best rather than as reference.py's forward() is written: the input
embedding is computed once outside the timing (a Python loop there would cost milliseconds),
and the tied head is computed only for the rows and the vocabulary slice the engine computes.
Three PyTorch variants: float32 eager; bfloat16 autocast (torch.autocast("cpu", bfloat16),
float32 weights cast at each call); bfloat16 weights (a bfloat16 copy of the model, so nothing
is cast per call). "PyTorch bf16" in the ratios is the faster of the two bfloat16 variants.

The engine is timed by running `magvlt bench --json --no-vq --no-jobs` once per backend per
round; PyTorch runs in this process. Rounds alternate engine and PyTorch (--rounds), so load
from other processes falls on both; every figure is the median of all its timed runs (each run
after one warm-up per round). Same thread count on both sides (--threads; torch.set_num_threads).

Example:
    python3 make_parity_cases.py --geometry base --seed 3 --f16 --no-vqgan --out /tmp/base
    python3 bench_torch.py --model /tmp/base/model.gguf --engine build/model-runtime/tools/magvlt \\
        --threads 2 --json /tmp/torch-vs-engine.json
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_writer import read_gguf  # noqa: E402
from reference import MagvltConfig, MagvltReference, attention_allow, build_inputs  # noqa: E402

BACKENDS = ("openblas", "bf16", "onednn-f32", "onednn-bf16", "auto")
VARIANTS = ("float32", "bf16-autocast", "bf16-weights")


def load_model(path: str) -> MagvltReference:
    """MagvltReference in float32 with the stage-2 tensors of a GGUF file."""
    meta, tensors = read_gguf(path)
    keys = ("embed_dim", "n_layers", "n_heads", "mlp_hidden", "ctx_len_img", "ctx_len_txt",
            "vocab_size_img", "vocab_size_txt", "n_special", "text_eot_id", "layer_norm_eps")
    cfg = MagvltConfig(**{k: meta["magvlt." + k] for k in keys})
    model = MagvltReference(cfg).float().eval()
    sd = {k[len("stage2."):]: torch.from_numpy(np.asarray(v, dtype=np.float32))
          for k, v in tensors.items() if k.startswith("stage2.")}
    model.load_state_dict(sd, strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def make_passes(model: MagvltReference) -> Dict[str, Callable[[MagvltReference, torch.dtype], torch.Tensor]]:
    """The T2I and I2T passes `magvlt bench` times (same token ids), as functions of a model copy
    and the activation dtype."""
    cfg = model.cfg
    I, T, Vi, Vt = cfg.ctx_len_img, cfg.ctx_len_txt, cfg.vocab_size_img, cfg.vocab_size_txt
    img = [(j * 97 + 3) % Vi for j in range(I)]
    txt = [(j * 31 + 7) % Vt if j + 1 < T else cfg.text_eot_id for j in range(T)]
    passes = {}
    for name, layout, img_m, txt_m in (("t2i", "T2I", [True] * I, [False] * T),
                                       ("i2t", "I2T", [False] * I, [True] * T)):
        inp = build_inputs(cfg, layout, img, img_m, txt, txt_m, T)
        _, allow = attention_allow(cfg, inp)
        with torch.no_grad():
            emb = model.embed(inp)
        rows = slice(inp.image_offset, inp.image_offset + I) if name == "t2i" else \
            slice(inp.text_offset, inp.text_offset + T)
        vocab = slice(0, Vi) if name == "t2i" else slice(Vi, Vi + Vt)

        def run(m: MagvltReference, dtype: torch.dtype, emb=emb, allow=allow, rows=rows,
                vocab=vocab) -> torch.Tensor:
            x = emb.to(dtype)
            for blk in m.blocks:
                x = blk(x, allow)
            lm = m.lm_layer
            h = F.gelu(lm.linear(x[rows]), approximate="none")
            g = lm.ln(h.to(lm.ln.weight.dtype))  # torch 1.13's CPU autocast leaves LN alone
            return g @ m.tok_emb.weight[vocab].t() + lm.output_bias[vocab]
        passes[name] = run
    return passes


def time_torch(fn: Callable[[], torch.Tensor], repeat: int) -> List[float]:
    with torch.inference_mode():
        fn()  # warm-up
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def time_engine(engine: str, model: str, backend: str, threads: int, repeat: int) -> dict:
    cmd = [engine, "bench", "-m", model, "-t", str(threads), "-b", backend, "--repeat",
           str(repeat), "--json", "--no-vq", "--no-jobs"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--model", required=True, help="GGUF model file (stage 2 is enough)")
    ap.add_argument("--engine", help="the magvlt binary; without it only PyTorch is timed")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (2)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per round (3)")
    ap.add_argument("--rounds", type=int, default=2, help="engine/PyTorch alternations (2)")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="engine backends, comma-separated (%(default)s)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16)
    passes = make_passes(model)
    c = model.cfg
    print(f"model: {c.n_layers} layers, width {c.embed_dim}, {c.n_heads} heads, "
          f"{c.ctx_len_img} image + {c.ctx_len_txt} text slots; torch {torch.__version__}, "
          f"{args.threads} threads", flush=True)

    variants = {
        "float32": lambda p: (lambda: p(model, torch.float32)),
        "bf16-autocast": lambda p: (lambda: _autocast(p, model)),
        "bf16-weights": lambda p: (lambda: p(model_bf16, torch.bfloat16)),
    }
    backends = [b for b in args.backends.split(",") if b] if args.engine else []
    samples: Dict[str, List[float]] = {}
    resolved: Dict[str, str] = {}
    errors: Dict[str, str] = {}
    for rnd in range(args.rounds):
        for b in backends:
            if b in errors:
                continue
            r = time_engine(args.engine, args.model, b, args.threads, args.repeat)
            if "error" in r:
                errors[b] = r["error"]
                print(f"engine {b}: {r['error']}", flush=True)
                continue
            resolved[b] = r["backend"]
            for name, key in (("t2i", "forward_ms"), ("i2t", "forward_i2t_ms")):
                samples.setdefault(f"engine/{b}/{name}", []).append(r[key])
            print(f"round {rnd + 1}: engine {b:<12} T2I {r['forward_ms']:8.1f} ms  "
                  f"I2T {r['forward_i2t_ms']:8.1f} ms (medians of {args.repeat})", flush=True)
        for v in VARIANTS:
            for name, p in passes.items():
                ms = time_torch(variants[v](p), args.repeat)
                samples.setdefault(f"torch/{v}/{name}", []).extend(ms)
                print(f"round {rnd + 1}: torch {v:<13} {name.upper()} {statistics.median(ms):8.1f} ms",
                      flush=True)

    med = {k: statistics.median(v) for k, v in samples.items()}
    result = {"threads": args.threads, "repeat": args.repeat, "rounds": args.rounds,
              "torch": torch.__version__, "median_ms": med, "resolved": resolved,
              "errors": errors, "ratios": {}}
    print("\nmedians (ms) and ratios engine/PyTorch (> 1: the engine is faster by that factor)")
    for name in ("t2i", "i2t"):
        t32 = med[f"torch/float32/{name}"]
        tbf = min(med[f"torch/bf16-autocast/{name}"], med[f"torch/bf16-weights/{name}"])
        print(f"{name.upper()}: PyTorch float32 {t32:.1f}, bf16 autocast "
              f"{med[f'torch/bf16-autocast/{name}']:.1f}, bf16 weights "
              f"{med[f'torch/bf16-weights/{name}']:.1f}")
        for b in backends:
            k = f"engine/{b}/{name}"
            if k not in med:
                continue
            e = med[k]
            ratio = {"vs_float32": t32 / e, "vs_bf16": tbf / e}
            result["ratios"][f"{b}/{name}"] = ratio
            label = b if resolved.get(b) == b else f"{b} ({resolved.get(b)})"
            print(f"  engine {label:<24} {e:8.1f} ms   PyTorch float32 / engine "
                  f"{ratio['vs_float32']:5.2f}x   PyTorch bf16 / engine {ratio['vs_bf16']:5.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


def _autocast(p, model: MagvltReference) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return p(model, torch.float32)


if __name__ == "__main__":
    main()
