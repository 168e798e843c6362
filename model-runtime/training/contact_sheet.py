#!/usr/bin/env python3
"""Contact sheet of the shipped model, every image made by the engine's CLI (`magvlt generate`,
`caption`, `inpaint`) with fixed seeds on one thread: generated images with their prompts,
captions of held-out renders (test split and OpenMoji), and inpainting (input, result).

    contact_sheet.py --model data/models/default.gguf --data DATA --out data/models/contact-sheet.png
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import DEFAULT_CLI  # noqa: E402

PROMPTS = ["a red apple on a blue background", "a cat face on a yellow background",
           "a flag of japan on a white background", "a rocket on a black background",
           "a pizza on a green background", "a grinning face on a purple background",
           "a red heart on a pink background", "a tiger on a teal background",
           "a flag of brazil on a gray background", "a snowman on a blue background",
           "a sun on a orange background", "a guitar on a white background",
           "a cat face to the left of a dog face on a yellow background",
           "a red apple above a banana on a blue background",
           "a flag of france to the right of a flag of italy on a white background",
           "a house on a green background"]
CELL, PAD, TEXT_H = 128, 6, 40


def run(args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def label(draw, x, y, text, width=CELL):
    lines = textwrap.wrap(text, width=width // 6)[:3]
    for k, l in enumerate(lines):
        draw.text((x, y + 11 * k), l, fill=(20, 20, 20))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cli", default=DEFAULT_CLI)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    z = np.load(os.path.join(a.data, "dataset.npz"))
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    cols = 8
    rows = []  # list of (image, caption) rows
    with tempfile.TemporaryDirectory() as tmp:
        gen = []
        for k, p in enumerate(PROMPTS):
            out = os.path.join(tmp, f"g{k}.png")
            run([a.cli, "generate", "-m", a.model, "-p", p, "-o", out, "--seed", str(a.seed), "-t", "1"])
            gen.append((Image.open(out).convert("RGB"), p))
        rows += [gen[:8], gen[8:16]]
        for sp in ("test", "openmoji"):
            i = meta["splits"].index(sp)
            idx = np.nonzero((z["split"] == i) & (z["kind"] == 0))[0]
            idx = np.sort(np.random.default_rng([a.seed, i]).permutation(idx)[:cols])
            paths = [os.path.join(a.data, "png", sp, f"{j:06d}.png") for j in idx]
            args = [a.cli, "caption", "-m", a.model, "--json", "--seed", str(a.seed), "-t", "1"]
            for p in paths:
                args += ["-i", p]
            caps = [json.loads(l)["caption"] for l in run(args).splitlines() if l.startswith("{")]
            rows.append([(Image.open(p).convert("RGB"), f"[{sp}] {c}") for p, c in zip(paths, caps)])
        mask = np.zeros((64, 64), np.uint8)
        mask[12:52, 12:52] = 255
        mp = os.path.join(tmp, "mask.png")
        Image.fromarray(mask).save(mp)
        i = meta["splits"].index("test")
        idx = np.nonzero((z["split"] == i) & (z["kind"] == 0))[0]
        idx = np.sort(np.random.default_rng([a.seed, 99]).permutation(idx)[:cols // 2])
        inp = []
        for k, j in enumerate(idx):
            src = os.path.join(a.data, "png", "test", f"{j:06d}.png")
            out = os.path.join(tmp, f"i{k}.png")
            prompt = str(z["captions"][j])
            run([a.cli, "inpaint", "-m", a.model, "-i", src, "--mask", mp, "-p", prompt, "-o", out,
                 "--seed", str(a.seed), "-t", "1"])
            masked = np.asarray(Image.open(src).convert("RGB")).copy()
            masked[mask > 0] = masked[mask > 0] // 3 + 170
            inp += [(Image.fromarray(masked), "inpaint input: " + prompt), (Image.open(out).convert("RGB"), "result")]
        rows.append(inp)
    W = cols * (CELL + PAD) + PAD
    H = len(rows) * (CELL + TEXT_H + PAD) + PAD + 18
    sheet = Image.new("RGB", (W, H), (245, 245, 245))
    d = ImageDraw.Draw(sheet)
    d.text((PAD, 4), "MAGVLT Studio default model - rows 1-2: generate; 3: captions (held-out styles); "
                     "4: captions (OpenMoji, unseen); 5: inpainting. All by the C engine, seed %d." % a.seed,
           fill=(0, 0, 0))
    for r, row in enumerate(rows):
        y = 18 + PAD + r * (CELL + TEXT_H + PAD)
        for c, (im, txt) in enumerate(row):
            x = PAD + c * (CELL + PAD)
            sheet.paste(im.resize((CELL, CELL), Image.NEAREST), (x, y))
            label(d, x, y + CELL + 2, txt)
    sheet.save(a.out, optimize=True)
    print(f"wrote {a.out}: {sheet.size}, {os.path.getsize(a.out) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
