#!/usr/bin/python3
"""`magvlt bench` on the tiny jobs model: --json prints one object with every documented key,
numbers for the stages run and null for the others; --what selects stages; bad --what and an
unknown backend are refused with their exit codes.

Usage: test-cli-bench.py MAGVLT JOBS_MODEL
Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

magvlt, model = sys.argv[1:3]
KEYS = ("forward_ms", "forward_i2t_ms", "forward_gflops", "forward_i2t_gflops", "vq_encode_ms",
        "vq_decode_ms", "step_ms", "t2i_ms", "caption_ms", "inpaint_ms", "cancel_ms",
        "cancel_max_ms", "context_mb", "peak_rss_mb")


def bench(*args):
    p = subprocess.run([magvlt, "bench", "-m", model, "-t", "1", "--repeat", "1", *args],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


rc, out, err = bench("--json")
try:
    doc = json.loads(out)
except ValueError as e:
    doc = {}
    check("--json: stdout is one JSON object", False, f"{e}: {out[:200]!r}")
else:
    check("--json: stdout is one JSON object", rc == 0, f"rc {rc}: {err}")
missing = [k for k in ("backend", "threads") + KEYS if k not in doc]
check("--json: every documented key", not missing, f"missing {missing}")
# the cancel figures count only cancels that landed during a job: on this tiny model a job can
# end before any of them arrives (seen on a loaded machine), and then they are null
CANCEL = ("cancel_ms", "cancel_max_ms")
bad = [k for k in KEYS if not (isinstance(doc.get(k), (int, float)) and doc[k] > 0)
       and not (k in CANCEL and doc.get(k) is None)]
check("all stages: every figure is a positive number (cancel: or null)", not bad, f"not positive: {bad}")
check("--json: readable lines on stderr", "T2I job" in err and "inpaint job" in err, err[-300:])

rc, out, err = bench("--json", "--what", "caption")
doc = json.loads(out) if rc == 0 else {}
ran = sorted(k for k in KEYS if doc.get(k) is not None)
check("--what caption: only the caption job (and memory)",
      ran == ["caption_ms", "context_mb", "peak_rss_mb"], f"rc {rc}, ran {ran}")

rc, out, err = bench("--what", "forward,bogus")
check("--what with an unknown stage: usage error (2)", rc == 2 and "bogus" in err, f"rc {rc}: {err}")
rc, out, err = bench("--backend", "no-such-backend")
check("unknown backend: exit 1 with the library's message",
      rc == 1 and "no-such-backend" in err, f"rc {rc}: {err}")

finish()
