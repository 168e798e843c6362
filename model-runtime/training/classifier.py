#!/usr/bin/env python3
"""A small independent image classifier (emoji concept of a 64x64 image) trained on real renders
only, used to score generated and inpainted images (evaluate.py): top-1 / top-5 accuracy of the
prompt's concept and a Frechet distance on its 128-d penultimate features.

It shares nothing with the MAGVLT model: plain CNN on pixels, trained on the single-icon
training renders (all training art styles, four backgrounds each) plus on-the-fly re-coloured
backgrounds; its own accuracy is measured on the held-out styles (val/test) and OpenMoji.

It covers a fixed subset of K concepts (default 300: the concepts with the most training
renders, ties broken by a hash of the name), not all 1,913: a 1,913-way classifier from scratch
did not get past 2 % top-1 on its own training images within the CPU budget, which would make
it useless as a judge. Generation is scored on prompts of these K concepts (chance top-5 = 5/K).

    classifier.py train --data DIR --work DIR [--epochs N]
    classifier.py eval  --data DIR --work DIR
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Stride-2 stem, then four stages of two 3x3 conv-BN-ReLU (32 -> 4 px; width w, w, 2w, 4w,
    8w channels), global average pooling, a 128-d feature layer and the class layer."""

    def __init__(self, n_classes: int, width: int = 24) -> None:
        super().__init__()
        w = width

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w),
                                  nn.ReLU(inplace=True))                      # 32
        self.b1, self.b2, self.b3, self.b4 = block(w, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 8 * w)
        self.feat = nn.Linear(8 * w, 128)
        self.fc = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.b1(self.stem(x))
        h = self.b2(F.max_pool2d(h, 2))          # 16
        h = self.b3(F.max_pool2d(h, 2))          # 8
        h = self.b4(F.max_pool2d(h, 2))          # 4
        return F.relu(self.feat(h.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def to_x(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def recolour(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Swap the background (the colour of the four corners, when they agree) for a random one."""
    out = batch.copy()
    for i, im in enumerate(batch):
        c = im[0, 0].astype(np.int16)
        if rng.random() < 0.5 and all(np.abs(im[y, x].astype(np.int16) - c).max() <= 2
                                      for y, x in ((0, -1), (-1, 0), (-1, -1))):
            bg = np.all(np.abs(im.astype(np.int16) - c) <= 2, axis=-1)
            out[i][bg] = rng.integers(0, 256, 3)
    return out


def load(data: str):
    z = np.load(os.path.join(data, "dataset.npz"))
    with open(os.path.join(data, "meta.json")) as f:
        meta = json.load(f)
    return z, meta


def load_net(work: str) -> Net:
    """The trained classifier; net.classes[k] = concept index of output k."""
    st = torch.load(os.path.join(work, "classifier", "net.pt"), map_location="cpu")
    net = Net(st["n_classes"], st["width"])
    net.load_state_dict(st["model"])
    net.classes = np.array(st["classes"], np.int64)
    return net.eval()


def class_targets(net: Net, concepts: np.ndarray) -> np.ndarray:
    """Concept indices -> output indices of the classifier (-1: not covered)."""
    remap = np.full(int(max(net.classes.max(), concepts.max(initial=0))) + 1, -1, np.int64)
    remap[net.classes] = np.arange(len(net.classes))
    return remap[concepts]


@torch.no_grad()
def predict(net: Net, images: np.ndarray, bs: int = 256):
    logits, feats = [], []
    for i in range(0, len(images), bs):
        f = net.features(to_x(images[i:i + bs]))
        feats.append(f)
        logits.append(net.fc(f))
    if not logits:
        return torch.zeros(0, net.fc.out_features), torch.zeros(0, 128)
    return torch.cat(logits), torch.cat(feats)


def topk_acc(logits: torch.Tensor, target: np.ndarray, k: int) -> float:
    if len(target) == 0:
        return float("nan")
    top = logits.topk(k, dim=1).indices.numpy()
    return float(np.mean([t in row for t, row in zip(target, top)]))


def choose_classes(z, meta, k: int) -> np.ndarray:
    """The K concepts with the most single training renders (ties: SHA-256 of the key)."""
    import hashlib
    tr = (z["split"] == 0) & (z["kind"] == 0)
    counts = np.bincount(z["concept"][tr], minlength=len(meta["concepts"]))
    keys = [(-int(counts[i]), hashlib.sha256(c["key"].encode()).hexdigest(), i)
            for i, c in enumerate(meta["concepts"])]
    return np.array(sorted(i for _, _, i in sorted(keys)[:k]), np.int64)


def train(a) -> None:
    torch.set_num_threads(a.threads)
    z, meta = load(a.data)
    classes = choose_classes(z, meta, a.classes)
    remap = np.full(len(meta["concepts"]), -1, np.int64)
    remap[classes] = np.arange(len(classes))
    sel = np.nonzero((z["split"] == 0) & (z["kind"] == 0) & (remap[z["concept"]] >= 0))[0]
    images, labels = z["images"][sel], remap[z["concept"][sel]]
    n_classes = len(classes)
    wd = os.path.join(a.work, "classifier")
    os.makedirs(wd, exist_ok=True)
    net = Net(n_classes, a.width)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=5e-4)
    steps = a.epochs * (len(sel) // a.batch)
    ck = os.path.join(wd, "ckpt.pt")
    step = 0
    if os.path.exists(ck):
        st = torch.load(ck)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    t0 = time.time()
    net.train()
    while step < steps:
        lr = a.lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([a.seed, step])
        idx = rng.integers(0, len(sel), a.batch)
        xb = recolour(images[idx], rng)
        # small random translations (the renders are placed at random anyway)
        dx, dy = rng.integers(-4, 5, 2)
        x = torch.roll(to_x(xb), shifts=(int(dy), int(dx)), dims=(2, 3))
        loss = F.cross_entropy(net(x), torch.from_numpy(labels[idx]), label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(json.dumps({"step": step, "of": steps, "loss": round(float(loss), 4), "lr": lr,
                              "sec": round(time.time() - t0)}), flush=True)
        if step % 500 == 0 or step == steps:
            torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step}, ck)
    torch.save({"model": net.state_dict(), "n_classes": n_classes, "width": a.width,
                "classes": classes.tolist()}, os.path.join(wd, "net.pt"))
    print(json.dumps(evaluate(a.data, a.work)), flush=True)


def evaluate(data: str, work: str) -> dict:
    z, meta = load(data)
    net = load_net(work)
    res = {}
    for i, sp in enumerate(meta["splits"]):
        sel = np.nonzero((z["split"] == i) & (z["kind"] == 0))[0]
        t = class_targets(net, z["concept"][sel])
        sel, t = sel[t >= 0], t[t >= 0]
        logits, _ = predict(net, z["images"][sel])
        res[sp] = {"n": int(len(sel)), "top1": topk_acc(logits, t, 1), "top5": topk_acc(logits, t, 5)}
    res["classes"] = int(len(net.classes))
    with open(os.path.join(work, "classifier", "accuracy.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["train", "eval"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--classes", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.command == "train":
        train(a)
    else:
        torch.set_num_threads(a.threads)
        print(json.dumps(evaluate(a.data, a.work), indent=1))


if __name__ == "__main__":
    main()
