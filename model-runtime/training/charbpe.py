#!/usr/bin/env python3
"""A small CharBPE text vocabulary for our own models, trained on the caption corpus, and a Python
encoder/decoder with the semantics of the engine's tokenizer (model-runtime/FORMAT.md, "Text
tokenizer"; HuggingFace's CharBPETokenizer as MAGVLT configures it).

The vocabulary is written through the same `magvlt.tokenizer.*` GGUF keys as CLIP's
(clip_vocab.TextTokenizer), so the C tokenizer encodes exactly what this module encodes; the
training test checks that with `magvlt tokenize` on every distinct caption.

Vocabulary layout (ids):
    0 .. 255      CLIP's 256 single characters (bytes_to_unicode, so everything CLIP's vocabulary
                  can encode without the fallback stays encodable)
    256 .. 511    the same characters + "</w>"
    512 .. V-3    the merge results in merge order (merges whose result is already an entry are
                  never chosen, so every merge adds exactly one entry)
    V-2, V-1      "<|startoftext|>" (never produced), "<|endoftext|>" (end of text = padding,
                  magvlt.text_eot_id)
This is exactly how CLIP's simple_tokenizer builds its vocabulary from its merges, so the merges
file alone (NAME-merges.txt) determines the vocabulary, as for the official models.

Example:
    python3 charbpe.py --corpus captions.txt --vocab-size 2048 --out vocab.json
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import unicodedata
from typing import Dict, Iterable, List, Optional, Tuple

from clip_vocab import END_OF_WORD_SUFFIX, TextTokenizer, bytes_to_unicode

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
_CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def normalize(text: str) -> str:
    out = []
    for ch in text:
        o = ord(ch)
        cat = unicodedata.category(ch)
        if o == 0 or o == 0xFFFD:
            continue
        if ch in "\t\n\r" or cat in ("Zs", "Zl", "Zp"):
            out.append(" ")
            continue
        if cat in ("Cc", "Cf", "Cn", "Co", "Cs"):
            continue
        if any(a <= o <= b for a, b in _CJK):
            out.append(f" {ch} ")
            continue
        out.append("i\u0307" if ch == "\u0130" else ch.lower())
    return "".join(out)


def is_punct(ch: str) -> bool:
    o = ord(ch)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def pre_tokenize(text: str) -> List[str]:
    words = []
    for piece in text.split(" "):
        cur = ""
        for ch in piece:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def word_symbols(word: str) -> List[str]:
    s = list(word)
    s[-1] += END_OF_WORD_SUFFIX
    return s



def merge_pair(sym: List[str], a: str, b: str) -> List[str]:
    """Every occurrence of the pair (a, b) in sym merged into a + b, left to right."""
    out, i = [], 0
    while i < len(sym):
        if i < len(sym) - 1 and sym[i] == a and sym[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(sym[i])
            i += 1
    return out

class CharBpe:
    def __init__(self, vocab: List[str], merges: List[str], ctx_len: int) -> None:
        self.vocab, self.merges, self.ctx_len = vocab, merges, ctx_len
        self.ids = {s: i for i, s in enumerate(vocab)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.eot = self.ids[EOT]
        self.cache: Dict[str, List[int]] = {}

    # --- encoding ---------------------------------------------------------------------------
    def _bpe(self, word: str) -> Optional[List[int]]:
        if word in self.cache:
            return self.cache[word]
        sym = word_symbols(word)
        if any(s not in self.ids for s in sym):
            return None
        while len(sym) > 1:
            best, bi = None, -1
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            # merge every occurrence of that pair, left to right
            sym = merge_pair(sym, sym[bi], sym[bi + 1])
        ids = [self.ids[s] for s in sym]
        self.cache[word] = ids
        return ids

    def _encode_words(self, text: str) -> Optional[List[int]]:
        ids: List[int] = []
        for w in pre_tokenize(normalize(text)):
            got = self._bpe(w)
            if got is None:
                return None
            ids += got
        return ids

    def encode(self, text: str) -> Tuple[List[int], int]:
        """-> (ids padded to ctx_len with EOT, n_txt = index of the first EOT + 1 or T + 1)."""
        ids = self._encode_words(text)
        if ids is None:
            ids = self._encode_words("".join(ch for ch in text if ord(ch) < 128))
            if ids is None:
                raise ValueError(f"text {text!r} has characters outside the vocabulary")
        T = self.ctx_len
        ids = ids[:T]
        n_txt = len(ids) + 1
        return ids + [self.eot] * (T - len(ids)), n_txt

    def tokens(self, text: str) -> List[int]:
        ids, n = self.encode(text)
        return ids[:n - 1]

    # --- decoding ---------------------------------------------------------------------------
    def decode(self, ids: Iterable[int]) -> str:
        toks = []
        for i in ids:
            if i == self.eot:
                break
            if 0 <= i < len(self.vocab):
                toks.append(self.vocab[i])
        return "".join(toks).replace(END_OF_WORD_SUFFIX, " ").strip()

    # --- GGUF ---------------------------------------------------------------------------------
    def gguf_tokenizer(self) -> TextTokenizer:
        t = TextTokenizer(vocab=list(self.vocab), merges=list(self.merges), source="charbpe.py")
        t.check()
        return t

    def to_json(self) -> dict:
        return {"vocab": self.vocab, "merges": self.merges, "ctx_len": self.ctx_len}

    @classmethod
    def from_json(cls, d: dict) -> "CharBpe":
        return cls(d["vocab"], d["merges"], d["ctx_len"])

    @classmethod
    def load(cls, path: str) -> "CharBpe":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))


def train_bpe(texts: Iterable[str], vocab_size: int, ctx_len: int) -> CharBpe:
    """Classic BPE merge learning on word frequencies (most frequent adjacent pair first; ties
    broken by the pair's string for determinism) until the vocabulary has vocab_size entries or
    every word is a single symbol."""
    freq: collections.Counter = collections.Counter()
    for t in texts:
        freq.update(pre_tokenize(normalize(t)))
    base = list(bytes_to_unicode().values())
    vocab = base + [c + END_OF_WORD_SUFFIX for c in base]
    in_vocab = set(vocab)
    words = {w: word_symbols(w) for w in freq if all(s in in_vocab for s in word_symbols(w))}
    merges: List[str] = []

    def pair_counts():
        pc: collections.Counter = collections.Counter()
        where: Dict[Tuple[str, str], set] = collections.defaultdict(set)
        for w, sym in words.items():
            for a, b in zip(sym, sym[1:]):
                pc[(a, b)] += freq[w]
                where[(a, b)].add(w)
        return pc, where

    pc, where = pair_counts()
    while len(vocab) < vocab_size - 2 and pc:
        cands = [kv for kv in pc.items() if kv[1] > 0 and kv[0][0] + kv[0][1] not in in_vocab]
        if not cands:
            break
        best = max(cands, key=lambda kv: (kv[1], kv[0]))[0]
        a, b = best
        merges.append(f"{a} {b}")
        vocab.append(a + b)
        in_vocab.add(a + b)
        for w in list(where.get(best, ())):
            sym = words[w]
            for x, y in zip(sym, sym[1:]):
                pc[(x, y)] -= freq[w]
                if pc[(x, y)] <= 0:
                    del pc[(x, y)]
                where[(x, y)].discard(w)
            out = merge_pair(sym, a, b)
            words[w] = out
            for x, y in zip(out, out[1:]):
                pc[(x, y)] += freq[w]
                where[(x, y)].add(w)
    vocab += [SOT, EOT]
    return CharBpe(vocab, merges, ctx_len)


def main() -> None:
    ap = argparse.ArgumentParser(description="Train a CharBPE vocabulary on a caption corpus.")
    ap.add_argument("--corpus", required=True, help="text file, one caption per line")
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--ctx-len", type=int, default=24)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    tok = train_bpe(lines, a.vocab_size, a.ctx_len)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(tok.to_json(), f, ensure_ascii=False)
    lens = [len(tok.tokens(l)) for l in lines]
    print(f"{len(tok.vocab)} entries, {len(tok.merges)} merges; tokens per caption mean "
          f"{sum(lens) / max(1, len(lens)):.2f}, max {max(lens)}", file=sys.stderr)


if __name__ == "__main__":
    main()
