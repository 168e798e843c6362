#!/usr/bin/env python3
"""Record the regression data of the shipped default model: seeded captions of a few held-out
test images (copied to tests/training/data/) and the codes of seeded generations (via the
gen-codes driver built from tests/training/gen-codes.c), on one thread, into
data/models/regression.json. tests/training/test_regression.py checks them.

    record_regression.py --data DATA --cli build/model-runtime/tools/magvlt \\
        --gen-codes build/tests/training/gen-codes
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--gen-codes", required=True)
    ap.add_argument("--models", default=os.path.join(ROOT, "data", "models"))
    ap.add_argument("--images", default=os.path.join(ROOT, "tests", "training", "data"))
    ap.add_argument("--n", type=int, default=4)
    a = ap.parse_args()
    z = np.load(os.path.join(a.data, "dataset.npz"))
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    permissive = [i for i, s in enumerate(meta["styles"]) if s in ("noto", "twemoji", "fluent-flat", "noto-v1")]
    idx = np.nonzero((z["split"] == 2) & (z["kind"] == 0) & np.isin(z["style"], permissive))[0]
    idx = idx[np.random.default_rng(2024).permutation(len(idx))[:a.n]]
    model = os.path.join(a.models, "default.gguf")
    os.makedirs(a.images, exist_ok=True)
    rec = {"model": "default.gguf", "sha256": hashlib.sha256(open(model, "rb").read()).hexdigest(),
           "threads": 1, "backend": "openblas", "captions": [], "generations": []}
    for k, j in enumerate(sorted(idx)):
        name = f"heldout-{k}.png"
        shutil.copy(os.path.join(a.data, "png", "test", f"{j:06d}.png"), os.path.join(a.images, name))
        out = subprocess.run([a.cli, "caption", "-m", model, "-i", os.path.join(a.images, name), "--json",
                              "--seed", "1", "-t", "1", "--backend", "openblas"],
                             capture_output=True, text=True, check=True)
        rec["captions"].append({"image": name, "seed": 1, "caption": json.loads(out.stdout)["caption"],
                                "reference": str(z["captions"][j]),
                                "style": meta["styles"][z["style"][j]]})
    for prompt in ("a red apple on a blue background", "a flag of japan on a white background"):
        out = subprocess.run([a.gen_codes, model, prompt, "7"], capture_output=True, text=True, check=True)
        rec["generations"].append({"prompt": prompt, "seed": 7, "codes": json.loads(out.stdout)})
    with open(os.path.join(a.models, "regression.json"), "w") as f:
        json.dump(rec, f, indent=1)
    print(json.dumps(rec["captions"], indent=1))


if __name__ == "__main__":
    main()
