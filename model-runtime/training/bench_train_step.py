#!/usr/bin/env python3
"""Time stage-2 training steps (objective forward + backward + AdamW step) of one or more
trainer versions on the same synthetic batches, and print medians and ratios.

Each --impl is a folder holding a train.py (default: this one); put an older version beside it
with `git worktree add /tmp/base <commit>` and pass `--impl /tmp/base/model-runtime/training`.
Every version runs in its own subprocess (its train.py and reference.py imported from its folder),
one round at a time, rounds alternating between versions, so load from other processes falls on
all of them; a round builds the model (seeded weights), runs --warmup untimed steps and then
--steps timed ones. The figure per version is the median over all its timed steps.

The batch is synthetic but shaped like the real one: random image codes and half-image codes,
caption lengths drawn from 6..--max-len tokens (the dataset's captions: mean 10.8, max 29), the
trainer's default task mixing (--task-weights over the batch), UnrollMask, MixSel and the length
pass at their defaults. Nothing is learned, so only the time means anything.

A version may carry its own train.py options after "::" (`--impl ".::--fuse-passes on"`), so one
folder can be timed against itself with different settings; --train-args applies to every version.

Examples (this machine; the CPU recipe's geometry, and the shipped model's):
    python3 bench_train_step.py --impl /tmp/base/model-runtime/training --impl . --bf16 --threads 2
    python3 bench_train_step.py --impl /tmp/base/... --impl . --embed-dim 256 --n-layers 8 --batch 256 --bf16
On a GPU (bf16 autocast is always on there, as in train.py): add --device cuda --batch 2048.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def worker(a) -> None:
    """One round of one version: prints {"times": [seconds per timed step]}."""
    sys.path.insert(0, os.path.abspath(a.impl))
    import numpy as np
    import torch
    import train

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    parser = getattr(train, "build_parser", None)
    if parser is None:  # trees before build_parser (4fa7c55 and older): this folder's options
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "bench_own_train", os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.py"))
        own = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(own)
        parser = own.build_parser
    targs = parser().parse_args(["--work", "-", "--task-weights", a.task_weights] + shlex.split(a.train_args))
    cfg = train.MagvltConfig(embed_dim=a.embed_dim, n_layers=a.n_layers, n_heads=a.n_heads,
                             mlp_hidden=4 * a.embed_dim, ctx_len_img=64, ctx_len_txt=32,
                             vocab_size_img=1024, vocab_size_txt=3072, n_special=10)
    model = train.MagvltTrain(cfg)
    model.init_weights(0)
    model.to(dev)
    bf16 = dev.type == "cuda" or a.bf16
    if bf16 and dev.type == "cpu":
        for mod in model.modules():  # as train.py --cpu-bf16 does
            if type(mod) is torch.nn.LayerNorm:
                mod.__class__ = train.Float32LayerNorm
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    obj = train.Objective(model, targs)
    weights = [float(x) for x in a.task_weights.split(",")]
    rng = np.random.default_rng(a.seed)
    times = []
    for i in range(a.warmup + a.steps):
        B, T = a.batch, cfg.ctx_len_txt
        n = torch.from_numpy(rng.integers(6, a.max_len + 1, B)).long()
        txt = torch.from_numpy(rng.integers(0, cfg.vocab_size_txt - 1, (B, T))).long()
        txt[torch.arange(T)[None] >= (n - 1)[:, None]] = cfg.text_eot_id
        batch = {"img": torch.from_numpy(rng.integers(0, 1024, (B, 64))).long(), "txt": txt, "n_txt": n,
                 "hhalf": torch.from_numpy(rng.integers(0, 1024, (B, 8, 4))).long(),
                 "vhalf": torch.from_numpy(rng.integers(0, 1024, (B, 4, 8))).long()}
        batch = {k: v.to(dev) for k, v in batch.items()}
        batch["n_txt_cpu"] = n
        gen = torch.Generator(device=dev).manual_seed(i)
        amp = torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with amp:
            out = obj(train.task_groups(B, weights), batch, gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--impl", action="append",
                    help="folder with a train.py, optionally '::' and train.py options of its own "
                         "(repeat; default: this folder)")
    ap.add_argument("--embed-dim", type=int, default=192)
    ap.add_argument("--n-layers", type=int, default=6)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=20, help="longest synthetic caption (tokens)")
    ap.add_argument("--task-weights", default="3,1,1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU (train.py --cpu-bf16)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--train-args", default="", help="more train.py options for every version, e.g. "
                                                     "'--fuse-passes on --no-unroll'")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.impl = a.impl[0]
        worker(a)
        return
    impls = a.impl or [here]
    for spec in impls:
        p = spec.split("::", 1)[0]
        if not os.path.isfile(os.path.join(p, "train.py")):
            sys.exit(f"bench_train_step: no train.py in {p}")
    shared = [f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items()
              if k in ("embed_dim", "n_layers", "n_heads", "batch", "max_len", "task_weights", "threads",
                       "device", "steps", "warmup", "seed")] + (["--bf16"] if a.bf16 else [])
    times = {p: [] for p in impls}
    for r in range(a.rounds):
        for p in impls:
            path, _, own = p.partition("::")
            args = shared + [f"--train-args={a.train_args} {own}".rstrip()]
            res = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                  "--impl", os.path.abspath(path)] + args, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"bench_train_step: {p} failed:\n{res.stderr[-2000:]}")
            times[p] += json.loads(res.stdout.strip().splitlines()[-1])["times"]
    base = statistics.median(times[impls[0]])
    geometry = (f"C {a.embed_dim}, {a.n_layers} layers, batch {a.batch}, {a.device}"
                f"{' bf16' if a.bf16 or a.device.startswith('cuda') else ' float32'}, {a.threads} threads")
    print(f"training step (forward + backward + AdamW), {geometry}; median of {a.rounds} x {a.steps} steps")
    rows = []
    for p in impls:
        med = statistics.median(times[p])
        rows.append({"impl": p, "median_s": med, "min_s": min(times[p]), "rows_per_s": a.batch / med,
                     "speedup_vs_first": base / med})
        print(f"  {med * 1000:8.1f} ms  (min {min(times[p]) * 1000:.1f})  {a.batch / med:7.1f} rows/s  "
              f"x{base / med:.2f} vs first  {p}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"geometry": geometry, "results": rows, "times": times}, f, indent=1)


if __name__ == "__main__":
    main()
