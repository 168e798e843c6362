#!/usr/bin/python3
"""How varied a model's generations of one prompt are: for N prompts of a split (single icons of
concepts the classifier covers), K seeds each through the engine's CLI, then the mean pairwise
distance between the K images of a prompt, in the independent classifier's feature space and in
pixels, beside the same distance between images of different prompts (for scale) and the
classifier's top-5 recognition. Written for comparing sampling settings, e.g. text guidance:

    diversity.py --model M.gguf --data DATA --work WORK --out div.json --image-args "--guidance 0"

Same seeds, prompts and backend for every setting, so the settings compare like for like.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from evaluate import DEFAULT_CLI, Engine, covered, read_png  # noqa: E402


def mean_pairwise(x: np.ndarray) -> float:
    """Mean Euclidean distance over the distinct pairs of the rows of x."""
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True, help="work folder with classifier/net.pt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cli", default=DEFAULT_CLI)
    ap.add_argument("--split", default="val")
    ap.add_argument("--n-prompts", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", default="bf16")
    ap.add_argument("--image-args", default="")
    a = ap.parse_args()
    os.environ["MAGVLT_BACKEND"] = a.backend
    import torch
    torch.set_num_threads(1)
    from classifier import class_targets, load_net, predict, topk_acc
    zf = np.load(os.path.join(a.data, "dataset.npz"))
    z = {k: zf[k] for k in zf.files}
    with open(os.path.join(a.data, "meta.json")) as f:
        split = json.load(f)["splits"].index(a.split)
    net = load_net(a.work)
    eng = Engine(a.cli, a.model, 1, shlex.split(a.image_args))
    idx = covered(net, z, split)
    idx = np.sort(idx[np.random.default_rng([a.seed, split, 11]).permutation(len(idx))[:a.n_prompts]])
    images, prompt_of = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, j in enumerate(idx):
            for s in range(a.seeds):
                out = os.path.join(tmp, f"g-{k}-{s}.png")
                eng.generate(str(z["captions"][j]), out, a.seed + 1000 * k + s)
                images.append(read_png(out))
                prompt_of.append(k)
    images_np = np.stack(images)
    logits, feats = predict(net, images_np)
    f = feats.numpy().astype(np.float64)
    px = images_np.reshape(len(images_np), -1).astype(np.float64) / 255.0
    prompt = np.array(prompt_of)
    within_f = [mean_pairwise(f[prompt == k]) for k in range(len(idx))]
    within_px = [mean_pairwise(px[prompt == k]) for k in range(len(idx))]
    # one image per prompt (its first seed) against the first image of every other prompt
    first = np.array([np.nonzero(prompt == k)[0][0] for k in range(len(idx))])
    target = class_targets(net, np.repeat(z["concept"][idx], a.seeds))
    info = subprocess.run([a.cli, "info", "-m", a.model], capture_output=True, text=True, check=True).stdout
    res = {"model": os.path.abspath(a.model), "split": a.split, "prompts": int(len(idx)), "seeds": a.seeds,
           "backend": a.backend, "image_args": a.image_args,
           "sampling": [l for l in info.splitlines() if l.startswith("sampling:")][0].split(":", 1)[1].strip(),
           "within_prompt_feature_distance": float(np.mean(within_f)),
           "between_prompt_feature_distance": mean_pairwise(f[first]),
           "within_prompt_pixel_distance": float(np.mean(within_px)),
           "between_prompt_pixel_distance": mean_pairwise(px[first]),
           "top5": topk_acc(logits, target, 5)}
    res["within_over_between_features"] = res["within_prompt_feature_distance"] / res[
        "between_prompt_feature_distance"]
    with open(a.out, "w") as fo:
        json.dump(res, fo, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
