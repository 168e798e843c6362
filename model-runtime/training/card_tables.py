#!/usr/bin/env python3
"""Markdown tables for data/models/MODEL_CARD.md from evaluate.py's JSON files, so that the card's
numbers are copied by a program, not by hand.

    card_tables.py --eval data/models/eval.json --data DATA \\
        [--ablation NAME=full.json,no-mixsel.json,no-unroll.json ...] [--regression data/models/regression.json]

--data adds a baseline evaluate.py does not compute: the caption "a flag on a <colour>
background", which names the concept (word F1 >= 0.5) of every "flag of X" concept, so a model that
answers "flag" for everything scores what this baseline scores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def flag_baselines(data: str) -> dict:
    """The "a flag" baseline of every split, over all its single icons: {split name: fraction}."""
    from dataset import word_f1
    z = np.load(os.path.join(data, "dataset.npz"))
    meta = json.load(open(os.path.join(data, "meta.json")))
    split, kind, concept = z["split"], z["kind"], z["concept"]  # the images are never decompressed
    out = {}
    for i, name in enumerate(meta["splits"]):
        idx = np.nonzero((split == i) & (kind == 0))[0]
        names = [meta["concepts"][concept[j]]["label"] for j in idx]
        out[name] = float(np.mean([word_f1("a flag on a blue background", n) >= 0.5 for n in names])) if names else 0.0
    return out


def main_tables(ev: dict, data: str | None) -> str:
    out = []
    sp = ev["splits"]
    flags = flag_baselines(data) if data else {}
    out.append("#### Captioning, single icons\n")
    out.append("| split | n | concept named | most-frequent baseline | \"a flag\" baseline | colour named | "
               "exact | BLEU-4 (baseline) | CIDEr-D (baseline) | job median |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, s in sp.items():
        c = s.get("caption", {}).get("single")
        if not c:
            continue
        fb = pct(flags[name]) if name in flags else "—"
        out.append(f"| {name} | {c['n']} | **{pct(c['concept_named'])}** | "
                   f"{pct(c['baseline_most_frequent_concept_named'])} | {fb} | {pct(c['colour_named'])} | "
                   f"{pct(c['exact'])} | {c['bleu4']:.3f} ({c['baseline_most_frequent_bleu4']:.3f}) | "
                   f"{c['cider_d']:.3f} ({c['baseline_most_frequent_cider_d']:.3f}) | {c['job_ms_median']:.0f} ms |")
    out.append("\n#### Captioning, two-icon composites\n")
    out.append("| split | n | both named | relation right | BLEU-4 (baseline) | CIDEr-D (baseline) |")
    out.append("|---|---|---|---|---|---|")
    for name, s in sp.items():
        c = s.get("caption", {}).get("composite")
        if not c:
            continue
        out.append(f"| {name} | {c['n']} | {pct(c['both_named'])} | {pct(c['relation_right'])} | "
                   f"{c['bleu4']:.3f} ({c['baseline_most_frequent_bleu4']:.3f}) | "
                   f"{c['cider_d']:.3f} ({c['baseline_most_frequent_cider_d']:.3f}) |")
    out.append("\n#### Generation (classifier over 300 concepts; chance top-5 = 1.7 %)\n")
    out.append("| split | n | top-1 | top-5 | random codes top-5 | real renders top-1 / top-5 | "
               "Fréchet gen–real (random codes) | job median |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name, s in sp.items():
        g = s.get("generate")
        if not g:
            continue
        out.append(f"| {name} | {g['n']} | {pct(g['top1'])} | **{pct(g['top5'])}** | "
                   f"{pct(g['baseline_random_codes_top5'])} | {pct(g['real_images_top1'])} / "
                   f"{pct(g['real_images_top5'])} | {g['frechet_gen_vs_real']:.1f} "
                   f"({g['baseline_random_codes_frechet']:.1f}) | {g['job_ms_median']:.0f} ms |")
    out.append("\n#### Inpainting (centre 40×40 of 64×64 regenerated from the caption) and VQ round trip\n")
    out.append("| split | inpaint n | top-1 | top-5 | icon erased top-5 | job median | VQ n | PSNR | codes used |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for name, s in sp.items():
        p, v = s.get("inpaint"), s.get("vq")
        if not p and not v:
            continue
        pc = (f"{p['n']} | {pct(p['top1'])} | {pct(p['top5'])} | {pct(p['baseline_erased_top5'])} | "
              f"{p['job_ms_median']:.0f} ms") if p else "— | — | — | — | —"
        vc = f"{v['n']} | {v['psnr']:.2f} dB | {v['codes_used']}" if v else "— | — | —"
        out.append(f"| {name} | {pc} | {vc} |")
    return "\n".join(out)


def ablation_table(title: str, files: list[str]) -> str:
    out = [f"#### {title}\n",
           "| variant | steps | concept named | colour named | BLEU-4 | CIDEr-D | composites: relation right | "
           "generation top-1 | top-5 | Fréchet |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for f in files:
        ev = json.load(open(f))
        s = ev["splits"]["val"]
        c, cc, g = s["caption"]["single"], s["caption"]["composite"], s["generate"]
        name = os.path.basename(f).split(".")[0].replace("abl-", "")
        steps = ev.get("steps", "?")
        out.append(f"| {name} | {steps} | {pct(c['concept_named'])} | {pct(c['colour_named'])} | "
                   f"{c['bleu4']:.3f} | {c['cider_d']:.3f} | {pct(cc['relation_right'])} | {pct(g['top1'])} | "
                   f"{pct(g['top5'])} | {g['frechet_gen_vs_real']:.1f} |")
    return "\n".join(out)


def sweep_table(files: list[str]) -> str:
    """The sampling sweep on the validation split: one row per evaluate.py JSON run with
    --image-args or --caption-args (its generation or captioning metrics)."""
    out = ["| options over the official values | generation top-1 | top-5 | Fréchet | "
           "captions: concept named | BLEU-4 | CIDEr-D |",
           "|---|---|---|---|---|---|---|"]
    for f in files:
        ev = json.load(open(f))
        s = ev["splits"]["val"]
        args = " ".join(x for x in (ev.get("image_args", ""), ev.get("caption_args", "")) if x) or "(none)"
        g, c = s.get("generate"), s.get("caption", {}).get("single")
        gc = f"{pct(g['top1'])} | {pct(g['top5'])} | {g['frechet_gen_vs_real']:.1f}" if g else "— | — | —"
        cc = (f"{pct(c['concept_named'])} | {c['bleu4']:.3f} | {c['cider_d']:.3f}" if c else "— | — | —")
        out.append(f"| `{args}` | {gc} | {cc} |")
    return "\n".join(out)


def regression_section(path: str) -> str:
    """The card's regression table and codes, from record_regression.py's JSON."""
    rec = json.load(open(path))
    out = [f"| image (held-out test split) | style | reference | caption (seed {rec['captions'][0]['seed']}, "
           f"{'one thread' if rec['threads'] == 1 else str(rec['threads']) + ' threads'}) |",
           "|---|---|---|---|"]
    out += [f"| `{c['image']}` | {c['style']} | {c['reference']} | {c['caption']} |" for c in rec["captions"]]
    for g in rec["generations"]:
        out += ["", f"Generation \"{g['prompt']}\", seed {g['seed']}: codes {' '.join(map(str, g['codes']))}"]
    out += ["", f"Model sha256: `{rec['sha256']}`."]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", required=True)
    ap.add_argument("--data")
    ap.add_argument("--ablation", action="append", default=[],
                    help="TITLE=a.json,b.json,... (val split; 'steps' read from each JSON when present)")
    ap.add_argument("--regression", help="also the regression section, from this regression.json")
    ap.add_argument("--sweep", nargs="+", default=[], help="also a sampling-sweep table from these "
                    "evaluate.py JSON files (validation split, --image-args / --caption-args runs)")
    a = ap.parse_args()
    print(main_tables(json.load(open(a.eval)), a.data))
    for spec in a.ablation:
        title, files = spec.split("=", 1)
        print()
        print(ablation_table(title, files.split(",")))
    if a.sweep:
        print()
        print(sweep_table(a.sweep))
    if a.regression:
        print()
        print(regression_section(a.regression))


if __name__ == "__main__":
    main()
