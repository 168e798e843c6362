#!/usr/bin/env python3
"""Evaluate a MAGVLT GGUF model through the C engine's CLI (`magvlt caption / generate / inpaint /
vq`) on the held-out splits of the emoji dataset (val, test: held-out art style per concept) and
on OpenMoji (an art style never trained on), and write every number to a JSON file.

Metrics
  captioning  concept named: word-level F1 >= 0.5 between the caption and the CLDR name after
              dropping function words (a, an, the, of, with, on, in, and, to, at, is) and the
              words background, emoji, icon, picture, image, style (issue 7); exact match with
              the reference caption; background colour named; BLEU-4 and CIDEr-D (one reference);
              composites: both objects named (each name's content words recalled >= 0.5) and the
              relation phrase right. Baseline: the most frequent training caption.
  generation  the independent classifier (classifier.py, trained on real renders of a fixed
              subset of 300 concepts) on images generated from held-out captions of those
              concepts: top-1 / top-5 of the prompt's concept (chance 5/300), and the
              Frechet distance between classifier features of generated and real images.
              Baselines: random code grids decoded by the same VQGAN; the real images.
  inpainting  the centre 40x40 of a held-out image (the icon) is masked and regenerated from its
              caption; the classifier scores the result. Baseline: the icon erased (filled with
              the background colour).
  VQ          PSNR of `magvlt vq encode` + `vq decode` round trips, codebook usage.

    evaluate.py --model data/models/default.gguf --data DATA --work WORK --out eval.json
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataset import COLOURS, RELATIONS, content_words, word_f1  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CLI = os.path.join(HERE, "..", "..", "build", "model-runtime", "tools", "magvlt")


# ---------------------------------------------------------------------------------------------
# Caption metrics
# ---------------------------------------------------------------------------------------------
def clean(c: str) -> str:
    c = c.strip()
    if c.endswith(" ."):
        c = c[:-2]
    return c.strip()


def ngrams(words: Sequence[str], n: int) -> collections.Counter:
    return collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu4(hyps: List[str], refs: List[str]) -> float:
    """Corpus BLEU-4 (one reference per hypothesis, uniform weights, brevity penalty)."""
    match, total = [0] * 4, [0] * 4
    hl = rl = 0
    for h, r in zip(hyps, refs):
        hw, rw = h.split(), r.split()
        hl, rl = hl + len(hw), rl + len(rw)
        for n in range(1, 5):
            hn, rn = ngrams(hw, n), ngrams(rw, n)
            match[n - 1] += sum((hn & rn).values())
            total[n - 1] += max(0, len(hw) - n + 1)
    if min(match) == 0:
        return 0.0
    logp = sum(math.log(m / t) for m, t in zip(match, total)) / 4
    bp = 1.0 if hl > rl else math.exp(1 - rl / max(hl, 1))
    return bp * math.exp(logp)


def cider_d(hyps: List[str], refs: List[str], sigma: float = 6.0) -> float:
    """CIDEr-D with one reference per image (document frequencies over the references)."""
    N = len(refs)
    df: List[collections.Counter] = [collections.Counter() for _ in range(4)]
    rgrams = []
    for r in refs:
        g = [ngrams(r.split(), n) for n in range(1, 5)]
        rgrams.append(g)
        for n in range(4):
            df[n].update(g[n].keys())
    log_n = math.log(float(N))

    def vec(g, n):
        v = {k: c * (log_n - math.log(max(1.0, df[n][k]))) for k, c in g.items()}
        return v, math.sqrt(sum(x * x for x in v.values()))

    scores = []
    for h, r, rg in zip(hyps, refs, rgrams):
        hw = h.split()
        hg = [ngrams(hw, n) for n in range(1, 5)]
        s = 0.0
        for n in range(4):
            vh, nh = vec(hg[n], n)
            vr, nr = vec(rg[n], n)
            dot = sum(min(vh[k], vr[k]) * vr[k] for k in vh if k in vr)  # clipped (CIDEr-D)
            if nh and nr:
                s += dot / (nh * nr)
        delta = len(hw) - len(r.split())
        scores.append(s / 4 * math.exp(-(delta ** 2) / (2 * sigma ** 2)) * 10)
    return float(np.mean(scores)) if scores else 0.0


def name_recall(caption: str, name: str) -> float:
    a, b = set(content_words(caption)), content_words(name)
    return sum(w in a for w in b) / max(1, len(b))


# ---------------------------------------------------------------------------------------------
# CLI drivers
# ---------------------------------------------------------------------------------------------
class Engine:
    def __init__(self, cli: str, model: str, threads: int = 1, image_args: List[str] | None = None,
                 caption_args: List[str] | None = None) -> None:
        self.cli, self.model, self.threads = cli, model, threads
        # sampling options over the model's own (e.g. --temperature), to choose them on val
        self.image_args, self.caption_args = image_args or [], caption_args or []

    def _run(self, args: List[str]) -> str:
        p = subprocess.run([self.cli] + args + ["-m", self.model, "-t", str(self.threads)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}: {p.stderr.strip()[-500:]}")
        return p.stdout

    def captions(self, paths: List[str], seed: int, chunk: int = 200) -> List[dict]:
        out = []
        for i in range(0, len(paths), chunk):
            args = ["caption", "--json", "--seed", str(seed)] + self.caption_args
            for p in paths[i:i + chunk]:
                args += ["-i", p]
            got = [json.loads(l) for l in self._run(args).splitlines() if l.startswith("{")]
            # with --candidates N the CLI writes N ranked results per image: keep the best
            out += [g for g in got if g.get("rank", 1) == 1]
        return out

    def generate(self, prompt: str, out: str, seed: int) -> dict:
        return json.loads(self._run(["generate", "--json", "-p", prompt, "-o", out, "--seed", str(seed)]
                                    + self.image_args).splitlines()[-1])

    def inpaint(self, image: str, mask: str, prompt: str, out: str, seed: int) -> dict:
        return json.loads(self._run(["inpaint", "--json", "-i", image, "--mask", mask, "-p", prompt, "-o", out,
                                     "--seed", str(seed)] + self.image_args).splitlines()[-1])

    def vq_roundtrip(self, image: str, out: str) -> List[int]:
        codes = json.loads(subprocess.run([self.cli, "vq", "encode", "-m", self.model, "-i", image, "--json",
                                           "-t", str(self.threads)], capture_output=True, text=True,
                                          check=True).stdout)
        cj = out + ".json"
        with open(cj, "w") as f:
            json.dump(codes, f)
        subprocess.run([self.cli, "vq", "decode", "-m", self.model, "--codes", cj, "-o", out,
                        "-t", str(self.threads)], capture_output=True, check=True)
        return codes["codes"] if isinstance(codes, dict) else codes

    def decode(self, codes: List[int], out: str) -> None:
        cj = out + ".json"
        with open(cj, "w") as f:
            json.dump(codes, f)
        subprocess.run([self.cli, "vq", "decode", "-m", self.model, "--codes", cj, "-o", out,
                        "-t", str(self.threads)], capture_output=True, check=True)


def read_png(path: str) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


# ---------------------------------------------------------------------------------------------
# Evaluations
# ---------------------------------------------------------------------------------------------
def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from numpy.linalg import eigvals
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # trace of sqrtm(s1 s2) = sum of sqrt of the eigenvalues of s1 s2 (real, >= 0 up to noise)
    ev = eigvals(s1 @ s2)
    tr = float(np.sum(np.sqrt(np.clip(ev.real, 0, None))))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


def eval_captions(eng: Engine, z, meta, split: int, png_dir: str, n_max: int, seed: int,
                  most_frequent: str) -> dict:
    sp = meta["splits"][split]
    concepts = meta["concepts"]
    res = {}
    for kind, kname in ((0, "single"), (1, "composite")):
        idx = np.nonzero((z["split"] == split) & (z["kind"] == kind))[0]
        idx = idx[np.random.default_rng([seed, split, kind]).permutation(len(idx))[:n_max]]
        idx.sort()
        if len(idx) == 0:
            continue
        paths = [os.path.join(png_dir, sp, f"{j:06d}.png") for j in idx]
        t0 = time.time()
        got = eng.captions(paths, seed)
        dt = time.time() - t0
        hyps = [clean(g.get("caption", "")) for g in got]
        refs = [str(z["captions"][j]) for j in idx]
        ms = [g.get("ms", 0) for g in got]
        r: Dict[str, float] = {"n": int(len(idx)), "bleu4": bleu4(hyps, refs), "cider_d": cider_d(hyps, refs),
                               "exact": float(np.mean([h == r_ for h, r_ in zip(hyps, refs)])),
                               "job_ms_median": float(np.median(ms)), "wall_s": round(dt, 1)}
        base = [most_frequent] * len(refs)
        r["baseline_most_frequent_bleu4"] = bleu4(base, refs)
        r["baseline_most_frequent_cider_d"] = cider_d(base, refs)
        if kind == 0:
            names = [concepts[z["concept"][j]]["label"] for j in idx]
            named = [word_f1(h, n) >= 0.5 for h, n in zip(hyps, names)]
            r["concept_named"] = float(np.mean(named))
            r["baseline_most_frequent_concept_named"] = float(np.mean([word_f1(most_frequent, n) >= 0.5 for n in names]))
            r["colour_named"] = float(np.mean([COLOURS[z["colour"][j]][0] in h.split() for h, j in zip(hyps, idx)]))
        else:
            n1 = [concepts[z["concept"][j]]["label"] for j in idx]
            n2 = [concepts[z["concept2"][j]]["label"] for j in idx]
            both = [name_recall(h, a) >= 0.5 and name_recall(h, b) >= 0.5 for h, a, b in zip(hyps, n1, n2)]
            r["both_named"] = float(np.mean(both))
            r["relation_right"] = float(np.mean([RELATIONS[z["relation"][j]] in h for h, j in zip(hyps, idx)]))
        r["examples"] = [{"ref": a, "hyp": b} for a, b in list(zip(refs, hyps))[:8]]
        res[kname] = r
    return res


def covered(net, z, split: int) -> np.ndarray:
    """Single-icon images of `split` whose concept the classifier covers."""
    from classifier import class_targets
    idx = np.nonzero((z["split"] == split) & (z["kind"] == 0))[0]
    return idx[class_targets(net, z["concept"][idx]) >= 0]


def eval_generation(eng: Engine, net, z, meta, split: int, n: int, seed: int, tmp: str) -> dict:
    from classifier import class_targets, predict, topk_acc
    idx = covered(net, z, split)
    idx = np.sort(idx[np.random.default_rng([seed, split, 9]).permutation(len(idx))[:n]])
    if len(idx) == 0:  # a split without images of the classifier's concepts (tiny datasets)
        return {"n": 0}
    gen, ms = [], []
    for k, j in enumerate(idx):
        out = os.path.join(tmp, f"gen-{k}.png")
        ms.append(eng.generate(str(z["captions"][j]), out, seed + k)["ms"])
        gen.append(read_png(out))
    gen = np.stack(gen)
    real = z["images"][idx]
    target = class_targets(net, z["concept"][idx])
    lg, fg = predict(net, gen)
    lr, fr = predict(net, real)
    rng = np.random.default_rng(seed)
    rand = []
    for k in range(min(n, 100)):
        out = os.path.join(tmp, f"rand-{k}.png")
        eng.decode([int(c) for c in rng.integers(0, int(z["n_codes"]), int(z["n_img"]))], out)
        rand.append(read_png(out))
    lrand, frand = predict(net, np.stack(rand))
    return {"n": int(len(idx)), "top1": topk_acc(lg, target, 1), "top5": topk_acc(lg, target, 5),
            "classifier_classes": int(len(net.classes)), "chance_top5": 5 / len(net.classes),
            "frechet_gen_vs_real": frechet(fg.numpy(), fr.numpy()),
            "real_images_top1": topk_acc(lr, target, 1), "real_images_top5": topk_acc(lr, target, 5),
            "baseline_random_codes_top5": topk_acc(lrand, target[:len(rand)], 5),
            "baseline_random_codes_frechet": frechet(frand.numpy(), fr.numpy()[:len(rand)]),
            "job_ms_median": float(np.median(ms))}


def eval_inpaint(eng: Engine, net, z, split: int, png_dir: str, sp: str, n: int, seed: int, tmp: str) -> dict:
    from PIL import Image
    from classifier import class_targets, predict, topk_acc
    idx = covered(net, z, split)
    idx = np.sort(idx[np.random.default_rng([seed, split, 11]).permutation(len(idx))[:n]])
    if len(idx) == 0:
        return {"n": 0}
    mask = np.zeros((64, 64), np.uint8)
    mask[12:52, 12:52] = 255
    mpath = os.path.join(tmp, "mask.png")
    Image.fromarray(mask).save(mpath)
    outs, erased, ms = [], [], []
    for k, j in enumerate(idx):
        out = os.path.join(tmp, f"inp-{k}.png")
        ms.append(eng.inpaint(os.path.join(png_dir, sp, f"{j:06d}.png"), mpath, str(z["captions"][j]), out,
                              seed + k)["ms"])
        outs.append(read_png(out))
        e = z["images"][j].copy()
        e[12:52, 12:52] = e[0, 0]
        erased.append(e)
    t = class_targets(net, z["concept"][idx])
    lo, _ = predict(net, np.stack(outs))
    le, _ = predict(net, np.stack(erased))
    return {"n": int(len(idx)), "top1": topk_acc(lo, t, 1), "top5": topk_acc(lo, t, 5),
            "baseline_erased_top5": topk_acc(le, t, 5), "job_ms_median": float(np.median(ms))}


def eval_vq(eng: Engine, z, split: int, png_dir: str, sp: str, n: int, tmp: str) -> dict:
    idx = np.nonzero(z["split"] == split)[0][:n]
    if len(idx) == 0:
        return {"n": 0}
    ps, used = [], collections.Counter()
    for k, j in enumerate(idx):
        out = os.path.join(tmp, f"vq-{k}.png")
        codes = eng.vq_roundtrip(os.path.join(png_dir, sp, f"{j:06d}.png"), out)
        used.update(codes)
        a, b = read_png(out).astype(np.float64), z["images"][j].astype(np.float64)
        ps.append(10 * math.log10(255 ** 2 / max(1e-3, ((a - b) ** 2).mean())))
    return {"n": int(len(idx)), "psnr": float(np.mean(ps)), "codes_used": len(used)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="dataset folder (dataset.npz, meta.json, png/)")
    ap.add_argument("--work", required=True, help="work folder with classifier/net.pt")
    ap.add_argument("--out", required=True, help="JSON results")
    ap.add_argument("--cli", default=DEFAULT_CLI)
    ap.add_argument("--splits", default="val,test,openmoji")
    ap.add_argument("--n-caption", type=int, default=100000, help="max images per split and kind")
    ap.add_argument("--n-generate", type=int, default=200)
    ap.add_argument("--n-inpaint", type=int, default=100)
    ap.add_argument("--n-vq", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="openblas",
                    help="the engine's matrix products for every job (MAGVLT_BACKEND): openblas (float32, "
                         "what data/models/eval.json was measured with, so numbers compare like for like), "
                         "bf16 (what the app uses on CPUs with AVX512-BF16), or auto")
    ap.add_argument("--skip", default="", help="comma list of: caption, generate, inpaint, vq")
    ap.add_argument("--image-args", default="", help="extra `magvlt generate|inpaint` options, e.g. "
                    "'--temperature 1.0 --choice-temperature 1.0' (default: the model's sampling values)")
    ap.add_argument("--caption-args", default="", help="extra `magvlt caption` options, e.g. '--temperature 0.3'")
    a = ap.parse_args()
    os.environ["MAGVLT_BACKEND"] = a.backend  # every `magvlt` run below inherits it
    import torch
    torch.set_num_threads(a.threads)
    from classifier import load_net
    zf = np.load(os.path.join(a.data, "dataset.npz"))
    z = {k: zf[k] for k in zf.files}
    with open(os.path.join(a.data, "meta.json")) as f:
        meta = json.load(f)
    info = subprocess.run([a.cli, "info", "-m", a.model], capture_output=True, text=True, check=True).stdout
    eng = Engine(a.cli, a.model, a.threads, shlex.split(a.image_args), shlex.split(a.caption_args))
    g = [l for l in info.splitlines() if l.startswith("vocabularies:")][0]
    z["n_codes"] = int(g.split()[1])
    z["n_img"] = int([l for l in info.splitlines() if l.startswith("sequence:")][0].split("=")[1].split()[2])
    net = load_net(a.work)
    train_caps = collections.Counter(str(c) for c in z["captions"][z["split"] == 0])
    most_frequent = train_caps.most_common(1)[0][0]
    png_dir = os.path.join(a.data, "png")
    skip = set(a.skip.split(","))
    res = {"model": os.path.abspath(a.model), "model_bytes": os.path.getsize(a.model), "seed": a.seed,
           "threads": a.threads, "backend": a.backend, "most_frequent_caption": most_frequent,
           "sampling": [l for l in info.splitlines() if l.startswith("sampling:")][0].split(":", 1)[1].strip(),
           "image_args": a.image_args, "caption_args": a.caption_args, "splits": {}}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for sp in a.splits.split(","):
            i = meta["splits"].index(sp)
            r = {}
            if "caption" not in skip:
                r["caption"] = eval_captions(eng, z, meta, i, png_dir, a.n_caption, a.seed, most_frequent)
            if "generate" not in skip:
                r["generate"] = eval_generation(eng, net, z, meta, i, a.n_generate, a.seed, tmp)
            if "inpaint" not in skip:
                r["inpaint"] = eval_inpaint(eng, net, z, i, png_dir, sp, a.n_inpaint, a.seed, tmp)
            if "vq" not in skip:
                r["vq"] = eval_vq(eng, z, i, png_dir, sp, a.n_vq, tmp)
            res["splits"][sp] = r
            print(sp, json.dumps(r, default=float)[:2000], flush=True)
    res["eval_seconds"] = round(time.time() - t0)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=float)


if __name__ == "__main__":
    main()
