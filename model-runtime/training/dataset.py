#!/usr/bin/env python3
"""Build the image-caption dataset of the default model from openly licensed emoji and flag icon
sets (shared/docs/datasets.md), rendered with librsvg in-process at 64x64 px.

Sources (npm, pinned in the repository's package.json / package-lock.json; `npm ci` installs them
into node_modules/; only their data files are read):

    style          package                          licence       images used
    noto           @iconify-json/noto 1.2.9         Apache-2.0    codepoint -> CLDR label
    twemoji        @iconify-json/twemoji 1.2.5      CC-BY-4.0     codepoint -> CLDR label
    fluent-flat    @iconify-json/fluent-emoji-flat  MIT           codepoint -> CLDR label
    fluent-3d      @iconify-json/fluent-emoji       MIT           slug -> CLDR label
    emojione       @iconify-json/emojione           CC-BY-4.0     slug -> CLDR label
    noto-v1        @iconify-json/noto-v1            Apache-2.0    slug -> CLDR label
    fxemoji        @iconify-json/fxemoji            Apache-2.0    run-together name -> CLDR label
    circle-flags, flag-icons, flagpack (MIT)                      ISO code -> CLDR territory
    openmoji       @iconify-json/openmoji           CC-BY-SA-4.0  EVALUATION ONLY, never trained on
    names          emojibase-data 17.0.0            MIT (data: Unicode licence)

Captions are true by construction: the CLDR label rewritten to a phrase ("flag: Japan" -> "flag of
japan", "man: red hair" -> "man with red hair"), ASCII-folded and lower-cased, the transparent icon
composited on one of 12 named background colours ("a tiger on a blue background"), and spatial
composites of two icons ("a red apple to the left of a cat face on a blue background").
Skin-tone variants are left out (they are ~55 % of the sets and differ only by a colour).

Splits are deterministic (SHA-256 of the concept and style names, no RNG state involved):
for every concept with >= 3 training styles one style is held out as `test`; with >= 4 styles a
second one as `val`; all other renders are `train`. Composites in val/test are built only from
held-out renders, so their (object, object, relation) combinations are never seen in training.
OpenMoji renders of the known concepts form the `openmoji` split (unseen art style).

Why 64x64: the default model must finish a job in <= 0.5 s on 2 cores. At 64 px a VQGAN with
f = 8 gives an 8x8 grid (64 image tokens), so a transformer pass is ~90 tokens instead of 324, and
the VQGAN decode costs ~0.4 GMAC instead of ~200; emoji stay recognisable at that size.

Example (one command, ~2-4 minutes on 2 cores):
    /usr/bin/python3 dataset.py --node-modules ../../node_modules --out /work/cache/magvlt-train/data
Tiny subset for tests:
    /usr/bin/python3 dataset.py --styles noto-v1,flagpack,openmoji --max-concepts 30 --out /tmp/ds
With line-art copies of the training icons (--outline-copies N: N more training singles per icon,
drawn by ink_outline() with dark outlines and flat colours, a style close to OpenMoji's which the
training sets lack), appended after every other row, so `vqgan_train.py encode --reuse` can code
only them:
    /usr/bin/python3 dataset.py ... --outline-copies 1 --no-png --out DATA_INK
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

SIZE = 64
FORMAT = 1

# style name -> (npm package, licence, how names map to concepts)
STYLES: Dict[str, Tuple[str, str, str]] = {
    "noto": ("@iconify-json/noto", "Apache-2.0", "emoji"),
    "twemoji": ("@iconify-json/twemoji", "CC-BY-4.0", "emoji"),
    "fluent-flat": ("@iconify-json/fluent-emoji-flat", "MIT", "emoji"),
    "fluent-3d": ("@iconify-json/fluent-emoji", "MIT", "emoji"),
    "emojione": ("@iconify-json/emojione", "CC-BY-4.0", "emoji"),
    "noto-v1": ("@iconify-json/noto-v1", "Apache-2.0", "emoji"),
    "fxemoji": ("@iconify-json/fxemoji", "Apache-2.0", "emoji"),
    "circle-flags": ("@iconify-json/circle-flags", "MIT", "flag"),
    "flag-icons": ("@iconify-json/flag", "MIT", "flag"),
    "flagpack": ("@iconify-json/flagpack", "MIT", "flag"),
    "openmoji": ("@iconify-json/openmoji", "CC-BY-SA-4.0", "emoji"),
}
EVAL_ONLY_STYLES = {"openmoji"}
CLDR_PACKAGE = "emojibase-data"

# 12 named background colours (sRGB); each sample jitters every channel by up to +-10.
COLOURS: List[Tuple[str, Tuple[int, int, int]]] = [
    ("white", (250, 250, 250)), ("black", (15, 15, 15)), ("gray", (128, 128, 128)),
    ("red", (215, 35, 35)), ("orange", (245, 135, 25)), ("yellow", (250, 215, 35)),
    ("green", (45, 155, 60)), ("blue", (35, 85, 215)), ("purple", (125, 55, 175)),
    ("pink", (245, 150, 190)), ("brown", (115, 70, 35)), ("teal", (0, 128, 128)),
]
RELATIONS = ["to the left of", "to the right of", "above", "below"]
SPLITS = ["train", "val", "test", "openmoji"]
KIND_SINGLE, KIND_COMPOSITE = 0, 1


# ---------------------------------------------------------------------------------------------
# Deterministic pseudo-randomness (independent of Python's hash seed and of numpy versions)
# ---------------------------------------------------------------------------------------------
def h64(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "little")


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(h64(*parts)))


# ---------------------------------------------------------------------------------------------
# CLDR names -> caption phrases
# ---------------------------------------------------------------------------------------------
def ascii_fold(s: str) -> str:
    s = s.replace("\u2019", "'").replace("\u201c", "").replace("\u201d", "").replace("&", "and")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(s).lower()).strip("-")


def phrase(label: str) -> str:
    """CLDR label -> lower-case ASCII noun phrase used in captions."""
    s = ascii_fold(label).lower().strip()
    s = s.replace("(", "").replace(")", "").replace(".", "")  # post_caption cuts at "."
    if ":" in s:
        head, tail = (x.strip() for x in s.split(":", 1))
        if head == "flag":
            s = f"flag of {tail}"
        elif tail == "bald":
            s = f"bald {head}"
        elif tail.endswith("hair") or tail == "beard":
            s = f"{head} with {tail}"
        elif "," in tail:
            items = [t.strip() for t in tail.split(",")]
            s = f"{head} of {', '.join(items[:-1])} and {items[-1]}"
        else:
            s = f"{head} {tail}"
    return re.sub(r"\s+", " ", s)


def article(p: str) -> str:
    return "an" if p[:1] in "aeiou" else "a"


def single_caption(p: str, colour: str) -> str:
    return f"{article(p)} {p} on {article(colour)} {colour} background"


def composite_caption(p1: str, rel: str, p2: str, colour: str) -> str:
    return f"{article(p1)} {p1} {rel} {article(p2)} {p2} on {article(colour)} {colour} background"


FUNCTION_WORDS = {"a", "an", "the", "of", "with", "on", "in", "and", "to", "at", "is",
                  "background", "emoji", "icon", "picture", "image", "style"}


def content_words(text: str) -> List[str]:
    """Words for the "concept named" rule of issue 7 (function words and the words background,
    emoji, icon, picture, image, style dropped)."""
    return [w for w in re.findall(r"[a-z0-9]+", ascii_fold(text).lower()) if w not in FUNCTION_WORDS]


def word_f1(caption: str, name: str) -> float:
    a, b = content_words(caption), content_words(name)
    if not a or not b:
        return 0.0
    from collections import Counter
    common = sum((Counter(a) & Counter(b)).values())
    if common == 0:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


@dataclass
class Concept:
    key: str      # emojibase hexcode of the base emoji (no skin tone)
    label: str    # CLDR label as in emojibase-data
    phrase: str   # caption phrase
    group: int


@dataclass
class Cldr:
    concepts: Dict[str, Concept] = field(default_factory=dict)   # hexcode -> concept
    by_slug: Dict[str, str] = field(default_factory=dict)        # slug -> hexcode
    by_flat: Dict[str, str] = field(default_factory=dict)        # slug without '-' -> hexcode
    by_region: Dict[str, str] = field(default_factory=dict)      # 'jp', 'gb-eng' -> hexcode


def load_cldr(node_modules: str) -> Cldr:
    base = os.path.join(node_modules, CLDR_PACKAGE, "en")
    with open(os.path.join(base, "data.json"), encoding="utf-8") as f:
        data = json.load(f)
    c = Cldr()
    for e in data:
        g = e.get("group")
        if g is None or g == 2 or "skin tone" in e["label"]:
            continue  # regional indicators, components
        hx = e["hexcode"].upper()
        c.concepts[hx] = Concept(hx, e["label"], phrase(e["label"]), int(g))
        s = slug(e["label"])
        c.by_slug.setdefault(s, hx)
        c.by_flat.setdefault(s.replace("-", ""), hx)
        parts = hx.split("-")
        if e["label"].startswith("flag:"):
            if len(parts) == 2 and all(0x1F1E6 <= int(p, 16) <= 0x1F1FF for p in parts):
                c.by_region["".join(chr(int(p, 16) - 0x1F1E6 + ord("a")) for p in parts)] = hx
            elif parts[0] == "1F3F4" and len(parts) > 2:  # subdivision tag sequence
                tag = "".join(chr(int(p, 16) - 0xE0000) for p in parts[1:-1])
                c.by_region[tag[:2] + "-" + tag[2:]] = hx
    for fn in ("github.json", "emojibase.json", "iamcal.json"):
        path = os.path.join(base, "shortcodes", fn)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            sc = json.load(f)
        for hx, names in sc.items():
            hx = hx.upper()
            if hx not in c.concepts:
                continue
            for n in names if isinstance(names, list) else [names]:
                c.by_flat.setdefault(slug(n).replace("-", ""), hx)
    return c


# ---------------------------------------------------------------------------------------------
# Icon sets
# ---------------------------------------------------------------------------------------------
@dataclass
class Icon:
    style: str
    name: str
    svg: str
    concept: str


def iconify_svg(ic: dict, W: int, H: int) -> str:
    w, h = ic.get("width", W), ic.get("height", H)
    return ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{ic.get("left", 0)} {ic.get("top", 0)} {w} {h}" width="{w}" height="{h}">'
            f'{ic["body"]}</svg>')


def concept_for(style: str, kind: str, name: str, chars_inv: Dict[str, str], c: Cldr) -> Optional[str]:
    if kind == "flag":
        n = name[:-4] if name.endswith(("-4x3", "-1x1")) else name
        return c.by_region.get(n)
    hx = chars_inv.get(name)
    if hx and hx.upper() in c.concepts:
        return hx.upper()
    n = name.replace("flag-for-flag-", "flag-").replace("flag-for-", "flag-")
    if n in c.by_slug:
        return c.by_slug[n]
    return c.by_flat.get(n.replace("-", ""))


def load_style(node_modules: str, style: str, c: Cldr) -> List[Icon]:
    pkg, _, kind = STYLES[style]
    d = os.path.join(node_modules, pkg)
    with open(os.path.join(d, "icons.json"), encoding="utf-8") as f:
        j = json.load(f)
    chars_inv: Dict[str, str] = {}
    if os.path.exists(os.path.join(d, "chars.json")):
        with open(os.path.join(d, "chars.json"), encoding="utf-8") as f:
            chars_inv = {v: k for k, v in json.load(f).items()}
    W, H = j.get("width", 16), j.get("height", 16)
    icons, seen = [], set()
    for name in sorted(j["icons"]):
        if style == "flag-icons" and name.endswith("-1x1"):
            continue
        if re.search(r"(skin-tone|-tone[1-5]|-(light|medium-light|medium|medium-dark|dark))$", name):
            continue
        hx = concept_for(style, kind, name, chars_inv, c)
        if hx is None or hx in seen:
            continue
        seen.add(hx)
        icons.append(Icon(style, name, iconify_svg(j["icons"][name], W, H), hx))
    return icons


class Renderer:
    """librsvg in-process; SVG handles are cached per icon."""

    def __init__(self) -> None:
        import gi
        gi.require_version("Rsvg", "2.0")
        from gi.repository import Rsvg  # noqa: E402
        import cairo  # noqa: E402
        self.Rsvg, self.cairo = Rsvg, cairo
        self.handles: Dict[Tuple[str, str], object] = {}

    def rgba(self, icon: Icon, size: int) -> Optional[np.ndarray]:
        """Straight (non-premultiplied) RGBA float [size, size, 4] in 0..1, or None on failure."""
        key = (icon.style, icon.name)
        try:
            if key not in self.handles:
                self.handles[key] = self.Rsvg.Handle.new_from_data(icon.svg.encode())
            surf = self.cairo.ImageSurface(self.cairo.FORMAT_ARGB32, size, size)
            ctx = self.cairo.Context(surf)
            r = self.Rsvg.Rectangle()
            r.x, r.y, r.width, r.height = 0, 0, size, size
            self.handles[key].render_document(ctx, r)
        except Exception:  # two Fluent 3-D icons fail in librsvg
            return None
        surf.flush()
        stride = surf.get_stride()
        a = np.ndarray((size, stride // 4, 4), np.uint8, surf.get_data())[:, :size].astype(np.float32) / 255
        bgra, alpha = a[..., :3], a[..., 3:4]
        rgb = bgra[..., ::-1] / np.maximum(alpha, 1e-6)  # un-premultiply
        out = np.concatenate([np.clip(rgb, 0, 1) * (alpha > 0), alpha], axis=-1)
        if alpha.max() == 0:
            return None
        return out


def paste(canvas: np.ndarray, rgba: np.ndarray, x: int, y: int) -> None:
    s = rgba.shape[0]
    a = rgba[..., 3:4]
    region = canvas[y:y + s, x:x + s]
    region[:] = region * (1 - a) + rgba[..., :3] * a


def ink_outline(rgba: np.ndarray, ink: float) -> np.ndarray:
    """Line-art variant of a rendered icon, a training augmentation toward outlined flat styles
    such as OpenMoji's (which the model never sees): the shape made opaque, colours flattened to
    five levels per channel, and a dark line of value `ink` where it meets the background and
    along strong colour edges. The concept is unchanged, so the icon's caption stays true."""
    rgb, inside = rgba[..., :3], rgba[..., 3] > 0.5
    flat = np.round(rgb * 4) / 4
    pin = np.pad(inside, 1)
    contour = inside & ~(pin[:-2, 1:-1] & pin[2:, 1:-1] & pin[1:-1, :-2] & pin[1:-1, 2:])
    p = np.pad(flat, ((1, 1), (1, 1), (0, 0)), mode="edge")
    jump = np.maximum(np.abs(flat - p[:-2, 1:-1]).sum(-1), np.abs(flat - p[1:-1, :-2]).sum(-1))
    line = contour | (inside & (jump > 0.6))
    out = np.where(line[..., None], np.float32(ink), flat) * inside[..., None]
    return np.concatenate([out, inside[..., None].astype(np.float32)], axis=-1).astype(np.float32)


def background(rng: np.random.Generator, ci: int) -> np.ndarray:
    rgb = np.array(COLOURS[ci][1], np.float32) + rng.integers(-10, 11, 3)
    return np.broadcast_to(np.clip(rgb, 0, 255) / 255, (SIZE, SIZE, 3)).copy()


def to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Splits and samples
# ---------------------------------------------------------------------------------------------
def assign_splits(icons: List[Icon]) -> Dict[Tuple[str, str], str]:
    """(concept, style) -> split. Per concept: one held-out style for test when it has >= 3
    training styles, a second for val when >= 4; OpenMoji -> 'openmoji'."""
    by_concept: Dict[str, List[str]] = {}
    for ic in icons:
        if ic.style not in EVAL_ONLY_STYLES:
            by_concept.setdefault(ic.concept, []).append(ic.style)
    out: Dict[Tuple[str, str], str] = {}
    for hx, styles in by_concept.items():
        order = sorted(styles, key=lambda s: h64("split", hx, s))
        for i, s in enumerate(order):
            split = "train"
            if len(order) >= 3 and i == 0:
                split = "test"
            elif len(order) >= 4 and i == 1:
                split = "val"
            out[(hx, s)] = split
    for ic in icons:
        if ic.style in EVAL_ONLY_STYLES:
            out[(ic.concept, ic.style)] = "openmoji"
    return out


def build(node_modules: str, out_dir: str, styles: List[str], max_concepts: int = 0,
          train_backgrounds: int = 4, composites_train: int = 16000, composites_eval: int = 600,
          outline_copies: int = 0, write_png: bool = True, log=print) -> dict:
    t0 = time.time()
    c = load_cldr(node_modules)
    icons: List[Icon] = []
    for st in styles:
        got = load_style(node_modules, st, c)
        log(f"{st}: {len(got)} icons mapped to CLDR concepts")
        icons += got
    trained = {ic.concept for ic in icons if ic.style not in EVAL_ONLY_STYLES}
    icons = [ic for ic in icons if ic.concept in trained]  # openmoji only for known concepts
    keys = sorted(trained)
    if max_concepts:
        keys = sorted(keys, key=lambda k: h64("subset", k))[:max_concepts]
        keys.sort()
        icons = [ic for ic in icons if ic.concept in set(keys)]
    concept_index = {k: i for i, k in enumerate(keys)}
    style_index = {s: i for i, s in enumerate(styles)}
    split_of = assign_splits(icons)
    r = Renderer()

    images, captions, concept, concept2, style, split, kind, colour, relation = ([] for _ in range(9))
    icon_pool: Dict[str, List[Icon]] = {s: [] for s in SPLITS}
    failed = 0

    def add(img, cap, c1, c2, st, sp, kd, col, rel):
        images.append(to_u8(img)); captions.append(cap); concept.append(c1); concept2.append(c2)
        style.append(st); split.append(SPLITS.index(sp)); kind.append(kd); colour.append(col)
        relation.append(rel)

    for ic in icons:
        sp = split_of[(ic.concept, ic.style)]
        n_bg = train_backgrounds if sp == "train" else 1
        rng = rng_for("single", ic.style, ic.name)
        cols = rng.permutation(len(COLOURS))[:n_bg]
        ok = False
        for ci in cols:
            size = int(rng.integers(46, 61)) if sp == "train" else 54
            rgba = r.rgba(ic, size)
            if rgba is None:
                break
            x, y = (int(rng.integers(0, SIZE - size + 1)) for _ in range(2)) if sp == "train" \
                else ((SIZE - size) // 2,) * 2
            img = background(rng, int(ci))
            paste(img, rgba, x, y)
            p = c.concepts[ic.concept].phrase
            add(img, single_caption(p, COLOURS[ci][0]), concept_index[ic.concept], -1,
                style_index[ic.style], sp, KIND_SINGLE, int(ci), -1)
            ok = True
        if ok:
            icon_pool[sp].append(ic)
        else:
            failed += 1
    log(f"singles: {len(images)} images ({failed} icons failed to render) in {time.time() - t0:.1f}s")

    n_comp = {"train": composites_train, "val": composites_eval, "test": composites_eval,
              "openmoji": composites_eval}
    for sp in SPLITS:
        pool = icon_pool[sp]
        if len(pool) < 2:
            continue
        rng = rng_for("composite", sp)
        for _ in range(n_comp[sp]):
            i1, i2 = rng.choice(len(pool), 2, replace=False)
            a, b = pool[i1], pool[i2]
            if a.concept == b.concept:
                continue
            ri = int(rng.integers(len(RELATIONS)))
            ci = int(rng.integers(len(COLOURS)))
            s1, s2 = (int(rng.integers(26, 32)) for _ in range(2))
            ra, rb = r.rgba(a, s1), r.rgba(b, s2)
            if ra is None or rb is None:
                continue
            img = background(rng, ci)
            # A is the first-named object: its half follows the relation
            halves = [(0, 0, 32, 64), (32, 0, 32, 64), (0, 0, 64, 32), (0, 32, 64, 32)]
            ca, cb = {0: (0, 1), 1: (1, 0), 2: (2, 3), 3: (3, 2)}[ri]

            def spot(cell, s):
                x0, y0, w, h = halves[cell]
                return (x0 + int(rng.integers(0, w - s + 1)), y0 + int(rng.integers(0, h - s + 1)))
            xa, ya = spot(ca, s1)
            xb, yb = spot(cb, s2)
            paste(img, ra, xa, ya)
            paste(img, rb, xb, yb)
            cap = composite_caption(c.concepts[a.concept].phrase, RELATIONS[ri],
                                    c.concepts[b.concept].phrase, COLOURS[ci][0])
            add(img, cap, concept_index[a.concept], concept_index[b.concept],
                style_index[a.style], sp, KIND_COMPOSITE, ci, ri)
    log(f"with composites: {len(images)} images in {time.time() - t0:.1f}s")

    # Line-art copies of the training icons (ink_outline), appended last so that every other
    # sample keeps its index (and the evaluation PNGs their names) whether or not they are built.
    for ic in icon_pool["train"] if outline_copies else []:
        rng = rng_for("outline", ic.style, ic.name)
        for ci in rng.permutation(len(COLOURS))[:outline_copies]:
            size = int(rng.integers(46, 61))
            rgba = r.rgba(ic, size)
            if rgba is None:  # rendered at the singles' size but not at this one
                continue
            x, y = (int(rng.integers(0, SIZE - size + 1)) for _ in range(2))
            img = background(rng, int(ci))
            paste(img, ink_outline(rgba, float(rng.uniform(0.03, 0.2))), x, y)
            add(img, single_caption(c.concepts[ic.concept].phrase, COLOURS[ci][0]),
                concept_index[ic.concept], -1, style_index[ic.style], "train", KIND_SINGLE, int(ci), -1)
    if outline_copies:
        log(f"with line-art copies: {len(images)} images in {time.time() - t0:.1f}s")

    os.makedirs(out_dir, exist_ok=True)
    arrays = dict(images=np.stack(images), captions=np.array(captions), concept=np.array(concept, np.int32),
                  concept2=np.array(concept2, np.int32), style=np.array(style, np.int16),
                  split=np.array(split, np.int8), kind=np.array(kind, np.int8),
                  colour=np.array(colour, np.int8), relation=np.array(relation, np.int8))
    np.savez_compressed(os.path.join(out_dir, "dataset.npz"), **arrays)
    meta = {
        "format": FORMAT, "size": SIZE, "styles": styles, "splits": SPLITS,
        "colours": [n for n, _ in COLOURS], "relations": RELATIONS,
        "concepts": [{"key": k, "label": c.concepts[k].label, "phrase": c.concepts[k].phrase,
                      "group": c.concepts[k].group} for k in keys],
        "counts": {sp: int((arrays["split"] == i).sum()) for i, sp in enumerate(SPLITS)},
        "licences": {s: STYLES[s][1] for s in styles},
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    if write_png:  # evaluation inputs for the C engine
        from PIL import Image
        for i, sp in enumerate(SPLITS[1:], 1):
            d = os.path.join(out_dir, "png", sp)
            os.makedirs(d, exist_ok=True)
            for j in np.nonzero(arrays["split"] == i)[0]:
                Image.fromarray(arrays["images"][j]).save(os.path.join(d, f"{j:06d}.png"))
    log(f"wrote {out_dir}: {meta['counts']} in {time.time() - t0:.1f}s")
    return meta


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Render the emoji/flag image-caption dataset (64x64).")
    ap.add_argument("--node-modules", default=os.path.join(here, "..", "..", "node_modules"))
    ap.add_argument("--out", required=True, help="output folder (dataset.npz, meta.json, png/)")
    ap.add_argument("--styles", default=",".join(STYLES), help="comma-separated subset of: " + ", ".join(STYLES))
    ap.add_argument("--max-concepts", type=int, default=0, help="keep a fixed subset of N concepts (tests)")
    ap.add_argument("--train-backgrounds", type=int, default=4)
    ap.add_argument("--composites-train", type=int, default=16000)
    ap.add_argument("--composites-eval", type=int, default=600)
    ap.add_argument("--outline-copies", type=int, default=0,
                    help="line-art copies (dark outlines, flat colours) of each training icon")
    ap.add_argument("--no-png", action="store_true")
    a = ap.parse_args()
    styles = [s for s in a.styles.split(",") if s]
    bad = [s for s in styles if s not in STYLES]
    if bad:
        sys.exit(f"dataset: unknown style(s) {bad}")
    try:
        build(a.node_modules, a.out, styles, a.max_concepts, a.train_backgrounds, a.composites_train,
              a.composites_eval, outline_copies=a.outline_copies, write_png=not a.no_png)
    except FileNotFoundError as e:
        sys.exit(f"dataset: {e}\nHINT: run `npm ci` in the source root to install the data packages")


if __name__ == "__main__":
    main()
