#!/usr/bin/python3
"""A model file's own sampling values (magvlt.sampling.*, FORMAT.md) are the CLI's defaults:
`magvlt info` lists them, generate, edit, inpaint and caption use them, the options still win over them, a
file without them gets the official values, and a file with a bad one is refused with a message.

Usage: test-cli-sampling.py MAGVLT JOBS_MODEL
The variants of JOBS_MODEL are written here with gguf-set-keys.py (numpy needed).
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "model-runtime", "training"))
from checks import check, finish  # noqa: E402
from pngfile import read_png  # noqa: E402
from gguf_writer import FLOAT32, STRING, UINT32, Value  # noqa: E402

set_keys = importlib.import_module("gguf-set-keys")

magvlt, model = map(os.path.abspath, sys.argv[1:3])
tmp = tempfile.mkdtemp(prefix="test-cli-sampling-")


def with_keys(name: str, extra: dict) -> str:
    """A copy of the jobs model with `extra` (key -> Value) set."""
    out = os.path.join(tmp, name)
    set_keys.with_keys(model, out, extra)
    return out


def run(*args):
    p = subprocess.run([magvlt, *args], capture_output=True, text=True, cwd=tmp, timeout=120)
    return p.returncode, p.stdout, p.stderr


def png_text(path: str) -> dict:
    return read_png(path)[4]


official = ("sampling:       image 10 steps, temperature 1.4 -> 0.6, choice temperature 2 -> 0.2, guidance 0; "
            "text 12 steps, temperature 0.1, top-k 32")
rc, out, err = run("info", "-m", model)
check("a file without magvlt.sampling keys: the official values", rc == 0 and official in out, out + err)

own = with_keys("own.gguf", {
    "magvlt.sampling.img_num_steps": Value(UINT32, 3),
    "magvlt.sampling.img_temperature_start": Value(FLOAT32, 1.0),
    "magvlt.sampling.img_temperature_end": Value(FLOAT32, 0.25),
    "magvlt.sampling.img_mult_temperature_start": Value(FLOAT32, 0.5),
    "magvlt.sampling.img_mult_temperature_end": Value(FLOAT32, 0.125),
    "magvlt.sampling.txt_num_steps": Value(UINT32, 5),
    "magvlt.sampling.txt_temperature": Value(FLOAT32, 0.5),
    "magvlt.sampling.txt_top_k": Value(UINT32, 8),
    "magvlt.sampling.txt_sample_method": Value(STRING, "sample_rerank"),
    "magvlt.sampling.img_guidance_scale": Value(FLOAT32, 1.5),
})
rc, out, err = run("info", "-m", own)
check("magvlt info lists the file's own values",
      rc == 0 and "sampling:       image 3 steps, temperature 1 -> 0.25, choice temperature 0.5 -> 0.125, guidance 1.5; "
      "text 5 steps, temperature 0.5, top-k 8" in out, out + err)

rc, out, err = run("generate", "-m", own, "-p", "a dog", "-o", "g.png", "--seed", "1", "--json")
params = png_text(os.path.join(tmp, "g.png")).get("parameters", "") if rc == 0 else ""
last = json.loads(out.splitlines()[-1]) if rc == 0 else {}
check("generate uses them", rc == 0 and last.get("steps") == 3 and last.get("guidance") == 1.5
      and "steps=3 temperature=1-0.25 choice-temperature=0.5-0.125 seed=1 guidance=1.5 " in params,
      params + err)

rc, out, err = run("generate", "-m", own, "-p", "a dog", "-o", "o.png", "--seed", "1", "--json",
                   "--steps", "4", "--temperature", "2", "--choice-temperature", "1", "--guidance", "0")
params = png_text(os.path.join(tmp, "o.png")).get("parameters", "") if rc == 0 else ""
check("the options win, the schedules' ends scaled in proportion; --guidance 0 turns it off",
      rc == 0 and "steps=4 temperature=2-0.5 choice-temperature=1-0.25 " in params
      and "guidance" not in params and json.loads(out.splitlines()[-1]).get("guidance") == 0, params + err)

# guidance changes the result (the same seed without it gives other codes), and a model without
# the key samples as officially unless asked
g = {}
for name, m, extra in (("plain", model, []), ("guided", model, ["--guidance", "2"]),
                       ("own", own, []), ("own-off", own, ["--guidance", "0"])):
    rc, out, err = run("generate", "-m", m, "-p", "a dog", "-o", name + ".png", "--seed", "3", *extra)
    g[name] = read_png(os.path.join(tmp, name + ".png"))[3] if rc == 0 else name
check("--guidance 2 gives another image than no guidance for the same seed", g["plain"] != g["guided"])
check("the file's guidance is used unless --guidance 0", g["own"] != g["own-off"])
rc, out, err = run("generate", "-m", own, "-p", "  ", "-o", "blank.png", "--seed", "1", "--json")
params = png_text(os.path.join(tmp, "blank.png")).get("parameters", "") if rc == 0 else ""
check("a blank prompt reports no guidance (the engine skips it) though the file has one",
      rc == 0 and "guidance" not in params and json.loads(out.splitlines()[-1]).get("guidance") == 0,
      params + err)
rc, out, err = run("joint", "-m", own, "-o", "j.png", "--seed", "1", "--guidance", "1")
check("joint has no --guidance (no prompt to guide by)", rc == 2 and "guidance" in err, err)
rc, out, err = run("joint", "-m", own, "-o", "j.png", "--seed", "1", "--json")
params = png_text(os.path.join(tmp, "j.png")).get("parameters", "") if rc == 0 else ""
check("joint reports no guidance though the file has one",
      rc == 0 and "guidance" not in params and json.loads(out.splitlines()[0]).get("guidance") == 0, params + err)
rc, out, err = run("generate", "-m", model, "-p", "x", "-o", "x.png", "--guidance", "nan")
check("--guidance nan is refused", rc == 2 and "--guidance must be in [0, 100]" in err, err)
bad = with_keys("bad-guidance.gguf", {"magvlt.sampling.img_guidance_scale": Value(FLOAT32, 101.0)})
rc, out, err = run("info", "-m", bad)
check("a file with guidance 101 is refused with a message",
      rc != 0 and "magvlt.sampling.img_guidance_scale is 101; it must be in [0, 100] (0 = off)" in err, err)

rc, out, err = run("generate", "-m", model, "-p", "a dog", "-o", "d.png", "--seed", "1",
                   "--choice-temperature", "1")
params = png_text(os.path.join(tmp, "d.png")).get("parameters", "") if rc == 0 else ""
check("--choice-temperature on the official schedule (2 -> 0.2)",
      rc == 0 and "steps=10 temperature=1.4-0.6 choice-temperature=1-0.1 " in params, params + err)

run("generate", "-m", own, "-p", "a cat", "-o", "in.png", "--seed", "2")
rc, out, err = run("caption", "-m", own, "-i", "in.png", "--seed", "1", "--json")
check("caption uses the file's text steps", rc == 0 and json.loads(out.splitlines()[-1]).get("steps") == 5,
      out + err)
rc, out, err = run("edit", "-m", own, "-i", "in.png", "-p", "a cat", "-o", "ip.png", "--seed", "1",
                   "--strength", "1")
params = png_text(os.path.join(tmp, "ip.png")).get("parameters", "") if rc == 0 else ""
check("edit uses them", rc == 0 and "steps=3 temperature=1-0.25 " in params, params + err)

bad = with_keys("bad.gguf", {"magvlt.sampling.img_temperature_start": Value(FLOAT32, -1.0)})
for cmd in (["info", "-m", bad], ["generate", "-m", bad, "-p", "x", "-o", "x.png"]):
    rc, out, err = run(*cmd)
    check(f"magvlt {cmd[0]} refuses a negative temperature with a message",
          rc != 0 and "magvlt.sampling.img_temperature_start is -1; it must be in (0, 100]" in err
          and not os.path.exists(os.path.join(tmp, "x.png")), f"exit {rc}: {err}")
rc, out, err = run("generate", "-m", model, "-p", "x", "-o", "z.png", "--seed", "1", "--choice-temperature", "0")
params = png_text(os.path.join(tmp, "z.png")).get("parameters", "") if rc == 0 else ""
check("--choice-temperature 0 turns the noise off", rc == 0 and "choice-temperature=0-0 " in params, params + err)
rc, out, err = run("generate", "-m", model, "-p", "x", "-o", "x.png", "--choice-temperature", "-1")
check("--choice-temperature -1 is refused", rc == 2 and "--choice-temperature must be in [0, 100]" in err
      and not os.path.exists(os.path.join(tmp, "x.png")), err)
finish()
