#!/usr/bin/env python3
"""The training pipeline end to end on a tiny subset (suite 'training'):

  dataset.py      30 concepts of two small training styles + OpenMoji: splits, captions true by
                  construction, OpenMoji only in its own split, deterministic rebuild; line-art
                  copies appended after every other row, which keep their indices
  vqgan_train.py  a few steps, then encode (full, left|right and top/bottom halves); encode
                  --reuse codes only the appended rows and matches a whole encode
  charbpe.py      a vocabulary on the tiny caption corpus
  train.py        a few steps single-process, a resume, and 2-process DDP under torchrun (gloo),
                  whose ranks must end with identical weights; a few with CPU bf16 autocast
  export_default  official layout (.ckpt + YAML + merges) -> `magvlt convert` -> GGUF with tokenizer
                  and palette, recording the checkpoint's SHA-256; bad sampling values and a
                  missing converter refused before any model file is written
  C engine        `magvlt info`, `caption`, `generate` load and run the exported model (also
                  through evaluate.py's engine), and `magvlt tokenize` encodes every caption
                  exactly as charbpe.py does
  evaluate.py     a classifier of a few steps, then every metric through the CLI on three splits (one empty)
  diversity.py    distances between seeds and between prompts, with and without guidance

usage: test_pipeline.py MAGVLT_CLI TRAINING_DIR NODE_MODULES
Exit 77 (skipped) when the npm data packages or librsvg are not installed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

cli, training, node_modules = sys.argv[1:4]
py = sys.executable
sys.path.insert(0, training)
from dataset import ink_outline, single_caption  # noqa: E402


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return p.stdout


# ink_outline on a half-transparent square with a red left and a blue right half: opaque inside,
# flat colours, ink on its border and on the red|blue edge, nothing outside
sq = np.zeros((8, 8, 4), np.float32)
sq[2:6, 2:6] = (0.9, 0.1, 0.1, 0.6)
sq[2:6, 4:6, :3] = (0.1, 0.1, 0.9)
lineart = ink_outline(sq, 0.05)
assert np.array_equal(lineart[..., 3], (sq[..., 3] > 0.5).astype(np.float32)), lineart[..., 3]
assert not lineart[sq[..., 3] == 0].any(), "paint outside the shape"
border = np.zeros((8, 8), bool)
border[2:6, 2:6] = True
border[3:5, 3:5] = False
border[2:6, 4] = True  # the colour edge (each pixel compares with its left neighbour)
assert np.allclose(lineart[border, :3], 0.05), lineart[..., 0]
assert np.allclose(lineart[3, 3, :3], (1.0, 0.0, 0.0)), lineart[3, 3]  # 0.9 / 0.1 -> 1 / 0
if not os.path.isdir(os.path.join(node_modules, "@iconify-json", "noto-v1")) or \
        not os.path.isdir(os.path.join(node_modules, "emojibase-data")):
    print("SKIP: npm data packages not installed (npm ci)")
    sys.exit(77)
try:
    import gi
    gi.require_version("Rsvg", "2.0")
except (ImportError, ValueError):
    print("SKIP: librsvg GObject bindings missing (gir1.2-rsvg-2.0, python3-gi-cairo)")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="magvlt-train-test-")
try:
    data, work = os.path.join(tmp, "data"), os.path.join(tmp, "work")
    common = ["--styles", "noto,noto-v1,twemoji,flagpack,openmoji", "--max-concepts", "24",
              "--composites-train", "40", "--composites-eval", "6", "--train-backgrounds", "1",
              "--node-modules", node_modules]
    run([py, os.path.join(training, "dataset.py"), "--out", data] + common)
    z = np.load(os.path.join(data, "dataset.npz"))
    meta = json.load(open(os.path.join(data, "meta.json")))
    split, style, kind, caps = z["split"], z["style"], z["kind"], z["captions"]
    assert z["images"].shape[1:] == (64, 64, 3), z["images"].shape
    om = meta["styles"].index("openmoji")
    assert np.all((style == om) == (split == 3)), "OpenMoji outside its evaluation-only split"
    # (concept, style) pairs of held-out splits never appear in training
    train_pairs = {(c, s) for c, s, sp, k in zip(z["concept"], style, split, kind) if sp == 0 and k == 0}
    held = {(c, s) for c, s, sp, k in zip(z["concept"], style, split, kind) if sp in (1, 2) and k == 0}
    assert held and not (held & train_pairs), "held-out (concept, style) pair in training"
    for c, col, k, j in zip(caps, z["colour"], kind, z["concept"]):
        assert c == c.lower() and c.isascii() and "." not in c, c
        assert c.endswith(f" {meta['colours'][col]} background"), c
        if k == 0:
            assert meta["concepts"][j]["phrase"] in c, (c, meta["concepts"][j])
    assert any(c.startswith("a flag of ") for c in caps), "no flag captions"
    # deterministic, and the line-art copies (one per training icon) come after everything else
    data2 = os.path.join(tmp, "data2")
    run([py, os.path.join(training, "dataset.py"), "--out", data2, "--no-png", "--outline-copies", "1"] + common)
    z2 = np.load(os.path.join(data2, "dataset.npz"))
    n = len(caps)
    for k in z.files:
        assert np.array_equal(z[k], z2[k][:n]), f"{k}: not deterministic, or rows moved by --outline-copies"
    n_icons = int(((split == 0) & (kind == 0)).sum())  # --train-backgrounds 1: one single per icon
    ink = slice(n, None)
    assert len(z2["captions"]) == n + n_icons, (len(z2["captions"]), n, n_icons)
    assert np.all(z2["split"][ink] == 0) and np.all(z2["kind"][ink] == 0)
    for c, col, j in zip(z2["captions"][ink], z2["colour"][ink], z2["concept"][ink]):
        assert c == single_caption(meta["concepts"][j]["phrase"], meta["colours"][col]), c
    # every copy has its dark outline: some pixels near black on a background that is not black
    dark = (z2["images"][ink].max(-1) < 60).reshape(n_icons, -1).sum(1)
    on_light = np.array([meta["colours"][col] != "black" for col in z2["colour"][ink]])
    assert np.all(dark[on_light] >= 20), dark[on_light].min()
    print(f"dataset ok: {meta['counts']}, {n_icons} line-art copies")

    run([py, os.path.join(training, "vqgan_train.py"), "train", "--data", data, "--work", work, "--steps", "3",
         "--batch", "4", "--save-every", "3", "--eval-every", "3", "--eval-images", "8"])
    run([py, os.path.join(training, "vqgan_train.py"), "encode", "--data", data, "--work", work])
    codes = np.load(os.path.join(work, "codes.npz"))
    assert codes["full"].shape == (len(caps), 8, 8) and codes["hhalf"].shape == (len(caps), 8, 4) \
        and codes["vhalf"].shape == (len(caps), 4, 8)
    # --reuse: the line-art dataset coded from these codes plus its appended rows only, the same
    # as coding it whole; refused for codes of another dataset
    for name, extra in (("reuse", ["--reuse", os.path.join(work, "codes.npz")]), ("whole", [])):
        os.makedirs(os.path.join(tmp, name))
        os.symlink(os.path.join(work, "vqgan"), os.path.join(tmp, name, "vqgan"))
        run([py, os.path.join(training, "vqgan_train.py"), "encode", "--data", data2, "--work",
             os.path.join(tmp, name)] + extra)
    reused, whole = (np.load(os.path.join(tmp, d, "codes.npz")) for d in ("reuse", "whole"))
    for k in whole.files:
        assert np.array_equal(reused[k], whole[k]), f"encode --reuse differs from a whole encode in {k}"
    p = subprocess.run([py, os.path.join(training, "vqgan_train.py"), "encode", "--data", data, "--work",
                        os.path.join(tmp, "whole"), "--reuse", os.path.join(tmp, "reuse", "codes.npz")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "is not an encode of this dataset" in p.stderr, p.stderr[-500:]
    other = os.path.join(tmp, "other-vqgan.npz")  # the same rows, coded by another VQGAN
    np.savez(other, **{k: codes[k] for k in codes.files if k != "vqgan_sha256"}, vqgan_sha256=np.array("0" * 64))
    p = subprocess.run([py, os.path.join(training, "vqgan_train.py"), "encode", "--data", data2, "--work",
                        os.path.join(tmp, "whole"), "--reuse", other], capture_output=True, text=True)
    assert p.returncode != 0 and "coded by another VQGAN" in p.stderr, p.stderr[-500:]
    with open(os.path.join(work, "captions.txt"), "w") as f:
        f.write("\n".join(str(c) for c in caps) + "\n")
    run([py, os.path.join(training, "charbpe.py"), "--corpus", os.path.join(work, "captions.txt"),
         "--vocab-size", "600", "--ctx-len", "32", "--out", os.path.join(work, "bpe.json")])
    print("vqgan + tokenizer ok")

    small = ["--work", work, "--data", data, "--batch", "8", "--embed-dim", "64", "--n-layers", "2",
             "--n-heads", "2", "--task-weights", "1,1,1", "--log-every", "1", "--warmup", "2"]
    out = run([py, os.path.join(training, "train.py"), "--steps", "4"] + small)
    log = [json.loads(l) for l in open(os.path.join(work, "stage2", "log.jsonl"))]
    assert len(log) == 4 and all(np.isfinite(e[k]) for e in log for k in e if k.endswith("loss")), log
    out = run([py, os.path.join(training, "train.py"), "--steps", "6"] + small)
    assert "resumed from" in out and "at step 4" in out, out
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # Debian's torch 1.13 torchrun on Python 3.11 needs explicit --redirects/--tee (its default
    # "0" no longer parses), see TRAINING_NOTES.md
    out = run([py, "-m", "torch.distributed.run", "--redirects", "1", "--tee", "1", "--nproc_per_node", "2",
               "--master_port",
               str(29500 + os.getpid() % 1000)] + [os.path.join(training, "train.py"), "--steps", "1000",
                                                   "--out", "ddp", "--time-budget", "3"] + small, env=env)
    # ended by a time budget: the learning rate and the last step follow rank 0's clock on every rank
    assert "ddp: 2 ranks, weights identical" in out, out
    for ab in (["--no-mixsel"], ["--no-unroll"], ["--fuse-passes", "off"]):
        run([py, os.path.join(training, "train.py"), "--steps", "2", "--out", "ab" + ab[0]] + small + ab)
    # bf16 autocast on the CPU (the CPU recipe's setting): LayerNorm kept in float32, losses finite
    run([py, os.path.join(training, "train.py"), "--steps", "2", "--out", "bf16", "--cpu-bf16"] + small)
    log = [json.loads(l) for l in open(os.path.join(work, "bf16", "log.jsonl"))]
    assert len(log) == 2 and all(np.isfinite(e[k]) for e in log for k in e if k.endswith("loss")), log
    print("trainer ok (single, resume, DDP x2, ablation flags incl. separate passes, CPU bf16)")

    gguf = os.path.join(tmp, "model.gguf")
    out = run([py, os.path.join(training, "export_default.py"), "--work", work, "--out", gguf, "--name", "test-tiny",
               "--cli", cli])
    for f in ("test-tiny.ckpt", "test-tiny.yaml", "test-tiny-merges.txt", "test-tiny-vocab.json"):
        assert os.path.exists(os.path.join(work, "official", f)), f
    # made by `magvlt convert` from the official files: the model file records their SHA-256
    import hashlib
    with open(os.path.join(work, "official", "test-tiny.ckpt"), "rb") as f:
        ckpt_sha = hashlib.sha256(f.read()).hexdigest()
    with open(gguf, "rb") as f:
        blob = f.read()
    assert ckpt_sha.encode() in blob and b"magvlt convert" in blob, "not converted from the official files"
    assert not os.path.exists(gguf + ".tmp") and "wrote " in out, out
    info = run([cli, "info", "-m", gguf])
    assert "8x8 grid" in info and "char_bpe" in info and "2 layers" in info, info
    # the YAML's sampling section becomes the model's defaults; --sampling sets values over it
    assert ("sampling:       image 10 steps, temperature 1.4 -> 0.6, choice temperature 2 -> 0.2, guidance 1; "
            "text 12 steps, temperature 0.1, top-k 32") in info, info
    gguf_s = os.path.join(tmp, "sampling.gguf")
    run([py, os.path.join(training, "export_default.py"), "--work", work, "--out", gguf_s, "--name", "test-tiny",
         "--cli", cli,
         "--official-dir", os.path.join(tmp, "official-s"), "--sampling", "img_mult_temperature_start=4.5",
         "--sampling", "txt_num_steps=7"])
    info = run([cli, "info", "-m", gguf_s])
    assert "choice temperature 4.5 -> 0.2, guidance 1; text 7 steps" in info, info
    with open(os.path.join(tmp, "official-s", "test-tiny.yaml")) as f:
        y = f.read()
    assert "img_mult_temperature_start: 4.5" in y and "txt_num_steps: 7" in y, y
    bad = subprocess.run([py, os.path.join(training, "export_default.py"), "--work", work, "--out",
                          os.path.join(tmp, "bad.gguf"), "--official-dir", os.path.join(tmp, "official-b"),
                          "--cli", cli, "--sampling", "txt_temperature=0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "sampling.txt_temperature is 0.0; the engine accepts (0, 100]" in bad.stderr, \
        bad.stderr[-500:]
    assert not os.path.exists(os.path.join(tmp, "bad.gguf"))
    assert not os.path.exists(os.path.join(tmp, "official-b")), "files written before the check"
    bad = subprocess.run([py, os.path.join(training, "export_default.py"), "--work", work, "--out",
                          os.path.join(tmp, "bad.gguf"), "--official-dir", os.path.join(tmp, "official-c"),
                          "--cli", os.path.join(tmp, "no-such-magvlt")], capture_output=True, text=True)
    assert bad.returncode != 0 and "cannot run" in bad.stderr and "--cli" in bad.stderr, bad.stderr[-500:]
    assert not os.path.exists(os.path.join(tmp, "bad.gguf")) and not os.path.exists(os.path.join(tmp, "official-c"))
    png = os.path.join(data, "png", "openmoji", sorted(os.listdir(os.path.join(data, "png", "openmoji")))[0])
    cap = json.loads(run([cli, "caption", "-m", gguf, "-i", png, "--json", "--seed", "3", "-t", "1"]))
    assert "caption" in cap, cap
    g = json.loads(run([cli, "generate", "-m", gguf, "-p", str(caps[0]), "-o", os.path.join(tmp, "g.png"),
                        "--json", "--seed", "3", "-t", "1"]))
    assert g["width"] == 64 and os.path.getsize(os.path.join(tmp, "g.png")) > 0, g
    # evaluate.py's engine: one caption per image, in order, also with ranked candidates
    from evaluate import Engine
    pngs = [os.path.join(os.path.dirname(png), f) for f in sorted(os.listdir(os.path.dirname(png)))[:3]]
    for extra in ([], ["--candidates", "2"]):
        got = Engine(cli, gguf, 1, [], extra).captions(pngs, seed=3)
        assert [r["input"] for r in got] == pngs and all(r.get("rank", 1) == 1 for r in got), (extra, got)
    # evaluate.py end to end on the tiny model with a classifier of a few steps: every metric and
    # baseline present, counts as asked, rates in [0, 1]
    run([py, os.path.join(training, "classifier.py"), "train", "--data", data, "--work", work, "--epochs", "1",
         "--classes", "24", "--batch", "16"])
    ev = os.path.join(tmp, "eval.json")
    run([py, os.path.join(training, "evaluate.py"), "--model", gguf, "--data", data, "--work", work,
         "--out", ev, "--cli", cli, "--splits", "val,test,openmoji", "--n-caption", "3", "--n-generate", "3",
         "--n-inpaint", "2", "--n-vq", "2"])
    res = json.load(open(ev))
    train_caps = set(str(c) for c in caps[split == 0])
    assert res["most_frequent_caption"] in train_caps and res["backend"] == "openblas", res
    # this tiny dataset's val split is empty: every part says n 0 (no division by zero)
    r = res["splits"]["val"]
    assert r["caption"] == {} and r["generate"] == r["inpaint"] == r["vq"] == {"n": 0}, r
    for sp in ("test", "openmoji"):
        r = res["splits"][sp]
        c, g, ip, vq = r["caption"]["single"], r["generate"], r["inpaint"], r["vq"]
        assert c["n"] == 3 and g["n"] == 3 and ip["n"] == 2 and vq["n"] == 2, r
        rates = [c[k] for k in ("concept_named", "colour_named", "exact", "baseline_most_frequent_concept_named")]
        rates += [g[k] for k in ("top1", "top5", "real_images_top5", "baseline_random_codes_top5")]
        rates += [ip["top1"], ip["top5"], ip["baseline_erased_top5"]]
        assert all(0.0 <= x <= 1.0 for x in rates), r
        assert g["top1"] <= g["top5"] and g["chance_top5"] == 5 / 24, g
        assert np.isfinite(g["frechet_gen_vs_real"]) and g["frechet_gen_vs_real"] >= 0, g
        assert 0 < vq["codes_used"] <= 2 * 64 and 5 < vq["psnr"] < 60, vq
        assert len(c["examples"]) == 3 and all(e["ref"] in caps for e in c["examples"]), c
    assert "composite" in res["splits"]["test"]["caption"], res["splits"]["test"]["caption"].keys()
    # diversity.py: distances between seeds of a prompt and between prompts, and the recognition
    div = {}
    for g in ("0", "2"):
        out = os.path.join(tmp, f"div{g}.json")
        run([py, os.path.join(training, "diversity.py"), "--model", gguf, "--data", data, "--work", work,
             "--out", out, "--cli", cli, "--split", "test", "--n-prompts", "3", "--seeds", "2",
             "--backend", "openblas", "--image-args", f"--guidance {g}"])
        div[g] = json.load(open(out))
    for d in div.values():
        assert d["prompts"] == 3 and d["seeds"] == 2 and 0.0 <= d["top5"] <= 1.0, d
        assert d["within_prompt_feature_distance"] > 0 and d["between_prompt_pixel_distance"] > 0, d
    # the setting is recorded, and guidance gives other images, so other distances (the
    # between-prompt distance compares every prompt's first image, which guidance changes too)
    assert div["0"]["image_args"] == "--guidance 0", div
    assert div["0"]["between_prompt_pixel_distance"] != div["2"]["between_prompt_pixel_distance"], div
    from charbpe import CharBpe
    tok = CharBpe.load(os.path.join(work, "bpe.json"))
    distinct = sorted(set(str(c) for c in caps)) + ["A Tiger, on a BLUE background!", "café crème 東京"]
    for c in distinct:
        got = json.loads(run([cli, "tokenize", "-m", gguf, "--json", "--", c]))
        ids, n = tok.encode(c)
        exp = ids[:n] if n <= tok.ctx_len else ids
        assert got["ids"] == exp, (c, got["ids"], exp)
    print(f"export + C engine ok; tokenizer identical on {len(distinct)} texts")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("ok")
