#!/usr/bin/env python3
"""evaluate.py's metrics against values worked out by hand (suite 'training'):

  concept named  word-level F1 after dropping the issue's function words, ASCII folding
  BLEU-4         sentence values, brevity penalty, corpus-level pooling of n-gram counts
  CIDEr-D        one reference per image: idf from the references, clipped counts, the
                 length penalty (sigma 6) and the x10 scale of the official scorer
  Frechet        translation and scaling of a feature cloud (closed forms)
  top-k          classifier accuracy and the concept -> class remap

usage: test_metrics.py TRAINING_DIR
"""
import math
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from dataset import content_words, word_f1  # noqa: E402
from evaluate import bleu4, cider_d, clean, frechet, name_recall  # noqa: E402


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# --- concept named -------------------------------------------------------------------------------
assert content_words("A red Apple, on a BLUE background.") == ["red", "apple", "blue"]
assert content_words("the emoji icon of a picture in image style") == []
assert content_words("Piñata") == ["pinata"]  # accents folded as the captions are
assert word_f1("a red apple", "Red Apple") == 1.0
# the background colour is a content word of the caption: precision 2/3, recall 1 -> F1 0.8
assert close(word_f1("a red apple on a blue background", "red apple"), 0.8)
# "apple" alone: precision 1, recall 1/2 -> F1 2/3 (named); "a green apple" vs "red apple": 1/2
assert close(word_f1("an apple", "red apple"), 2 / 3)
assert close(word_f1("a green apple", "red apple"), 0.5)
assert close(word_f1("a green pear with apple leaves", "red apple"), 2 * (1 / 4) * (1 / 2) / (3 / 4))
assert word_f1("a flag", "red apple") == 0.0 and word_f1("", "red apple") == 0.0
assert word_f1("a background", "background") == 0.0  # only dropped words on either side
# repeated words count once per occurrence on both sides (multiset intersection)
assert close(word_f1("apple apple", "apple"), 2 * 0.5 * 1 / 1.5)
assert name_recall("a red apple and a dog", "hot dog") == 0.5
assert clean("a red apple . ") == "a red apple" and clean(" a dog .") == "a dog"

# --- BLEU-4 --------------------------------------------------------------------------------------
ref = "a red apple on a green background"
hyp = "a red apple on a blue background"
# clipped matches 6/7, 4/6, 3/5, 2/4; equal lengths -> no brevity penalty
assert close(bleu4([hyp], [ref]), (6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25)
assert bleu4([ref], [ref]) == 1.0
# a 4-word prefix matches every n-gram; brevity penalty exp(1 - 7/4)
assert close(bleu4(["a red apple on"], [ref]), math.exp(1 - 7 / 4))
# clipping: "a a a a a" has 1-gram precision 2/5 (two a's in the reference) and no 2-gram match
assert bleu4(["a a a a a"], [ref]) == 0.0
# corpus BLEU pools the counts of both pairs (not the mean of the sentence scores)
pooled = ((6 + 4) / (7 + 4) * (4 + 3) / (6 + 3) * (3 + 2) / (5 + 2) * (2 + 1) / (4 + 1)) ** 0.25
assert close(bleu4([hyp, "a red apple on"], [ref, ref]), pooled * math.exp(1 - 14 / 11))

# --- CIDEr-D -------------------------------------------------------------------------------------
refs = ["a red apple", "a blue car", "a green tree"]
# a caption equal to its reference: cosine 1 for n = 1..3 ("a" is in every reference: idf 0),
# no 4-grams (0): (3 / 4) * 10
assert close(cider_d(refs, refs), 7.5)
L = math.log(3.0)  # idf of an n-gram found in one of the three references
# "red apple": 1-gram cosine 1, 2-gram 1/sqrt(2), no 3-gram; one word short -> exp(-1 / 72)
short = (1 + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72) * 10
assert close(cider_d(["red apple", refs[1], refs[2]], refs), (short + 7.5 + 7.5) / 3)
# clipping: "red red red apple" vs "a red apple": 1-grams min(3L, L) L + L L over
# (L sqrt(10))(L sqrt(2)); 2-grams ("red red" x2, "red apple") L L over (L sqrt(5))(L sqrt(2))
clipped = (2 / math.sqrt(20) + 1 / math.sqrt(10)) / 4 * math.exp(-1 / 72) * 10
assert cider_d(["a red apple"], ["a red apple"]) == 0.0  # one reference: every idf is log 1 - log 1
got = cider_d(["red red red apple", refs[1], refs[2]], refs)
assert close(got, (clipped + 7.5 + 7.5) / 3), got
assert cider_d(["the dog", "the cat", "the cow"], refs) == 0.0

# --- Frechet distance ----------------------------------------------------------------------------
rng = np.random.default_rng(0)
a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))  # correlated features
shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.5])
assert abs(frechet(a, a)) < 1e-6 * np.trace(np.cov(a, rowvar=False))
# same covariance: only the squared distance of the means remains
assert close(frechet(a, a + shift), float((shift ** 2).sum()), 1e-6)
# b = 2a: covariance 4S, trace term tr(S) + 4 tr(S) - 2 tr(sqrt(4 S S)) = tr(S); means differ by mean(a)
s = np.cov(a, rowvar=False)
expect = float((a.mean(0) ** 2).sum() + np.trace(s))
assert close(frechet(a, 2 * a), expect, 1e-6), (frechet(a, 2 * a), expect)
# symmetric, and grows with the distance
assert close(frechet(a, 2 * a), frechet(2 * a, a), 1e-6)
assert frechet(a, a + 2 * shift) > frechet(a, a + shift)

# --- top-k accuracy ------------------------------------------------------------------------------
try:
    import torch
    from classifier import topk_acc
except ImportError:
    torch = None
if torch is not None:
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    assert topk_acc(logits, np.array([1, 1, 0]), 1) == 1 / 3
    assert close(topk_acc(logits, np.array([1, 1, 0]), 2), 2 / 3)
    assert topk_acc(logits, np.array([2, 0, 1]), 3) == 1.0
    assert math.isnan(topk_acc(logits[:0], np.array([], np.int64), 1))
print("ok")
