#!/usr/bin/python3
"""`magvlt bench`. With a model (the tiny jobs model): --json prints one object with every
documented key, numbers for the stages run and null for the others; --what selects stages; bad
--what and an unknown backend are refused with their exit codes. Without one: --preset default
(random weights of the shipped default model's geometry, made in memory) times the forward pass
and the matrix-product peak, runs the caption and T2I jobs on its synthetic tokenizer, and bad
--preset use is refused with exit code 2.

Usage: test-cli-bench.py MAGVLT [JOBS_MODEL]
Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

magvlt = sys.argv[1]
model = sys.argv[2] if len(sys.argv) > 2 else None
KEYS = ("load_ms", "forward_ms", "forward_i2t_ms", "forward_gflops", "forward_i2t_gflops",
        "peak_gflops", "peak_mlp_gflops", "forward_peak_ratio", "vq_encode_ms", "vq_decode_ms",
        "step_ms", "t2i_ms", "i2t_ms", "caption_ms", "inpaint_ms", "cancel_ms", "cancel_max_ms",
        "context_mb", "peak_rss_mb")
# the cancel figures count only cancels that landed during a job: on a tiny model a job can end
# before any of them arrives (seen on a loaded machine), and then they are null
CANCEL = ("cancel_ms", "cancel_max_ms")


def run(*args):
    p = subprocess.run([magvlt, "bench", "-t", "1", "--repeat", "1", *args],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def json_of(name, rc, out, err):
    try:
        doc = json.loads(out)
    except ValueError as e:
        check(f"{name}: stdout is one JSON object", False, f"rc {rc}, {e}: {out[:200]!r} {err[-300:]}")
        return {}
    check(f"{name}: stdout is one JSON object", rc == 0, f"rc {rc}: {err}")
    return doc


def ran(doc):
    return sorted(k for k in KEYS + ("model_gen_ms",) if doc.get(k) is not None)


def model_checks():
    def bench(*args):
        return run("-m", model, *args)

    rc, out, err = bench("--json")
    doc = json_of("--json", rc, out, err)
    missing = [k for k in ("backend", "threads", "preset", "model_gen_ms") + KEYS if k not in doc]
    check("--json: every documented key", not missing, f"missing {missing}")
    bad = [k for k in KEYS if not (isinstance(doc.get(k), (int, float)) and doc[k] > 0)
           and not (k in CANCEL and doc.get(k) is None)]
    check("all stages: every figure is a positive number (cancel: or null)", not bad,
          f"not positive: {bad}")
    check("-m: preset and model_gen_ms are null",
          doc.get("preset", 0) is None and doc.get("model_gen_ms", 0) is None, doc)
    check("i2t_ms is the caption job", doc.get("i2t_ms") == doc.get("caption_ms"), doc)
    check("--json: readable lines on stderr",
          "T2I job" in err and "inpaint job" in err and "matmul peak" in err, err[-300:])

    rc, out, err = bench("--json", "--what", "caption")
    doc = json.loads(out) if rc == 0 else {}
    check("--what caption: only the caption job (and load and memory)",
          ran(doc) == ["caption_ms", "context_mb", "i2t_ms", "load_ms", "peak_rss_mb"],
          f"rc {rc}, ran {ran(doc)}")
    rc, out, err = bench("--json", "--what", "forward", "--no-peak")
    doc = json.loads(out) if rc == 0 else {}
    check("--what forward --no-peak: no peak",
          doc.get("forward_ms") and doc.get("peak_gflops", 0) is None, f"rc {rc}, ran {ran(doc)}")

    rc, out, err = bench("--what", "forward,bogus")
    check("--what with an unknown stage: usage error (2)", rc == 2 and "bogus" in err,
          f"rc {rc}: {err}")
    rc, out, err = bench("--backend", "no-such-backend")
    check("unknown backend: exit 1 with the library's message",
          rc == 1 and "no-such-backend" in err, f"rc {rc}: {err}")


def preset_checks():
    rc, out, err = run("--preset", "default", "--what", "forward", "--json")
    doc = json_of("--preset default --what forward", rc, out, err)
    missing = [k for k in ("backend", "threads", "preset", "model_gen_ms") + KEYS if k not in doc]
    check("--preset: every documented key", not missing, f"missing {missing}")
    want = ("model_gen_ms", "load_ms", "forward_ms", "forward_i2t_ms", "forward_gflops",
            "forward_i2t_gflops", "peak_gflops", "peak_mlp_gflops", "forward_peak_ratio",
            "context_mb", "peak_rss_mb")
    bad = [k for k in want if not (isinstance(doc.get(k), (int, float)) and doc[k] > 0)]
    check("--preset default --what forward: forward, peak, load and memory are positive", not bad,
          f"not positive: {bad}")
    check("--preset default --what forward: the rest is null", ran(doc) == sorted(want),
          f"ran {ran(doc)}")
    check("--preset: named in the JSON", doc.get("preset") == "default", doc.get("preset"))
    check("--preset: the geometry and where the weights went, on stderr",
          "8 layers, width 256, 4 heads, 64 image + 32 text slots, f16" in err
          and "to a memfd" in err, err[:400])

    # the whole jobs run on the synthetic tokenizer; step alone also times the T2I job
    rc, out, err = run("--preset", "default", "--what", "i2t,step", "--json", "--layers", "2")
    doc = json.loads(out) if rc == 0 else {}
    check("--preset default --layers 2 --what i2t,step: caption job and T2I steps",
          ran(doc) == ["caption_ms", "context_mb", "i2t_ms", "load_ms", "model_gen_ms",
                       "peak_rss_mb", "step_ms", "t2i_ms"]
          and "2 layers, width 256" in err, f"rc {rc}, ran {ran(doc)}: {err[-300:]}")

    for name, args, needle in (
            ("unknown preset", ("--preset", "huge"), "unknown preset 'huge'"),
            ("both -m and --preset", ("-m", "x.gguf", "--preset", "default"), "not both"),
            ("neither -m nor --preset", (), "either -m MODEL or --preset"),
            ("--layers without --preset", ("-m", "x.gguf", "--layers", "2"), "go with --preset"),
            ("unknown --preset-type", ("--preset", "default", "--preset-type", "f8"), "f8"),
            ("width not divisible by the heads",
             ("--preset", "default", "--width", "100", "--heads", "3"), "not divisible"),
            ("unknown stage", ("--preset", "default", "--what", "bogus"), "bogus")):
        rc, out, err = run(*args)
        check(f"{name}: usage error (2) with a message", rc == 2 and needle in err and not out,
              f"rc {rc}: {err}")


if model:
    model_checks()
else:
    preset_checks()
finish()
