#!/usr/bin/python3
"""The generation subcommands of `magvlt` end to end on the tiny jobs model (16x16 images, 4x4
codes, CLIP's vocabulary, text length 16): generate, caption, inpaint, edit, infill and joint;
--json fields, seeds and candidates, PNG text chunks, paste-back outside the mask, previews,
progress on a terminal, Ctrl+C, and bad input with its messages and exit codes.

Usage: test-cli-jobs.py MAGVLT JOBS_MODEL MODEL_WITHOUT_VQGAN MODEL_WITHOUT_TOKENIZER
Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed"; exits 1 on any failure.
Standard library only: PNG files are written and read with tests/lib/pngfile.py.
"""
import json
import os
import pty
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402
import pngfile  # noqa: E402
from pngfile import read_png  # noqa: E402

magvlt, model, novq_model, notok_model = map(os.path.abspath, sys.argv[1:5])
tmp = tempfile.mkdtemp(prefix="test-cli-jobs-")


def run(*args, env=None, timeout=120):
    p = subprocess.run([magvlt, *args], capture_output=True, timeout=timeout,
                       env=env, cwd=tmp)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_run(name, args, want_rc, want_out=None, want_err=None, env=None):
    rc, out, err = run(*args, env=env)
    ok = rc == want_rc
    if want_out is not None:
        ok = ok and want_out in out
    if want_err is not None:
        ok = ok and want_err in err
    check(name, ok, f"exit {rc} (wanted {want_rc}); stdout {out[:400]!r}; stderr {err[:400]!r}")
    return rc, out, err


def json_lines(out):
    try:
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    except ValueError:
        return None


def path(name):
    return os.path.join(tmp, name)


# ---- PNG files (tests/lib/pngfile.py) -------------------------------------------

def write_png(name, w, h, channels, pixels):
    return pngfile.write_png(path(name), w, h, channels, pixels)


def png_info(p):
    try:
        return read_png(p)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        return None, None, None, None, {"error": repr(e)}


rng = random.Random(5)
W, H = 40, 24
photo = [rng.randrange(256) for _ in range(W * H * 3)]
write_png("photo.png", W, H, 3, photo)
# mask: grey, a rectangle x 12..23, y 6..15 white
mask = [255 if 12 <= x < 24 and 6 <= y < 16 else 0 for y in range(H) for x in range(W)]
write_png("mask.png", W, H, 1, mask)
# the same rectangle at half size: scaled up with nearest neighbour
half = [255 if 6 <= x < 12 and 3 <= y < 8 else 0 for y in range(H // 2) for x in range(W // 2)]
write_png("mask-half.png", W // 2, H // 2, 1, half)
# alpha decides when the file has alpha: black everywhere, opaque in x 0..9, y 0..9
alpha_mask = []
for y in range(H):
    for x in range(W):
        alpha_mask += [0, 0, 0, 255 if x < 10 and y < 10 else 0]
write_png("mask-alpha.png", W, H, 4, alpha_mask)
write_png("mask-empty.png", W, H, 1, [100] * (W * H))
write_png("small.png", 16, 16, 3, photo[:16 * 16 * 3])
open(path("corrupt.png"), "wb").write(open(path("photo.png"), "rb").read()[:70])
open(path("text.png"), "w").write("this is not an image\n")


def outside_unchanged(out_png, mask_fn, name):
    """Checks the output has the input's size, keeps every unmasked pixel and changes a masked one."""
    w, h, bpp, px, _ = png_info(out_png)
    if (w, h) != (W, H) or bpp != 3:
        check(name, False, f"size {w}x{h}x{bpp}, wanted {W}x{H}x3")
        return
    diff_out = [(x, y) for y in range(H) for x in range(W) if not mask_fn(x, y)
                and px[(y * W + x) * 3:(y * W + x) * 3 + 3] != photo[(y * W + x) * 3:(y * W + x) * 3 + 3]]
    changed_in = sum(1 for y in range(H) for x in range(W) if mask_fn(x, y)
                     and px[(y * W + x) * 3:(y * W + x) * 3 + 3] != photo[(y * W + x) * 3:(y * W + x) * 3 + 3])
    check(name, not diff_out and changed_in > 0,
          f"{len(diff_out)} pixels outside the mask changed (first {diff_out[:5]}), "
          f"{changed_in} inside changed")


def rect(x0, x1, y0, y1):
    return lambda x, y: x0 <= x < x1 and y0 <= y < y1


M = ["-m", model, "--threads", "1"]

# ---- help ---------------------------------------------------------------------
check_run("magvlt --help lists the jobs", ["--help"], 0, want_out="generate   generate an image")
for cmd in ["generate", "caption", "inpaint", "edit", "infill", "joint"]:
    check_run(f"{cmd} --help", [cmd, "--help"], 0, want_out="--official-sampling")
check_run("--help documents the mask rule", ["inpaint", "--help"], 0,
          want_out="nearest neighbour, and a note says so")
check_run("--help documents the official candidates", ["generate", "--help"], 0,
          want_out="32 for images and 64 for captions")
check_run("--help documents Ctrl+C", ["caption", "--help"], 0, want_out="exit status is 130")
check_run("--help documents the resize for captions", ["caption", "--help"], 0,
          want_out="antialiased bilinear")

# ---- generate -----------------------------------------------------------------
rc, out, err = check_run("generate --json", ["generate", *M, "-p", "a red bus on a street", "-o", "g1.png",
                                             "--seed", "11", "--json"], 0)
lines = json_lines(out)
ok = lines is not None and len(lines) == 1
o = lines[0] if ok else {}
check("generate --json fields", ok and o.get("output") == "g1.png" and o.get("seed") == 11
      and o.get("steps") == 10 and isinstance(o.get("ms"), int) and isinstance(o.get("score"), float)
      and o.get("rank") == 1 and o.get("prompt") == "a red bus on a street"
      and o.get("width") == 16 and o.get("height") == 16, out)
w, h, bpp, px1, text = png_info(path("g1.png"))
check("generate writes a 16x16 RGB PNG", (w, h, bpp) == (16, 16, 3), f"{w}x{h}x{bpp} {text}")
check("PNG tEXt chunks carry prompt, seed, parameters",
      text.get("prompt") == "a red bus on a street" and text.get("seed") == "11"
      and "command=generate" in text.get("parameters", "") and "steps=10" in text.get("parameters", "")
      and text.get("Software", "").startswith("magvlt "), text)
check_run("generate again with the same seed", ["generate", *M, "-p", "a red bus on a street", "-o", "g2.png",
                                                "--seed", "11"], 0, want_out="g2.png  seed 11")
check("same --seed gives identical file bytes",
      open(path("g1.png"), "rb").read() == open(path("g2.png"), "rb").read(), "files differ")
check_run("generate with another seed", ["generate", *M, "-p", "a red bus on a street", "-o", "g3.png",
                                         "--seed", "12"], 0)
check("another --seed gives other pixels", png_info(path("g3.png"))[3] != px1, "same pixels")

rc, out, err = check_run("generate without --seed prints the seed",
                         ["generate", *M, "-p", "a cat", "-o", "g4.png", "--json"], 0, want_err="seed: ")
lines = json_lines(out) or [{}]
printed = err.split("seed: ", 1)[1].split()[0] if "seed: " in err else None
check("the printed seed is the JSON seed", printed is not None and str(lines[0].get("seed")) == printed,
      f"{printed!r} vs {lines}")
if printed:
    run("generate", *M, "-p", "a cat", "-o", "g5.png", "--seed", printed)
    check("... and repeats the run", png_info(path("g4.png"))[3] == png_info(path("g5.png"))[3],
          "different pixels")

rc, out, err = check_run("generate --candidates 3", ["generate", *M, "-p", "a dog", "-o", "c.png",
                                                     "--seed", "20", "--candidates", "3", "--json"], 0)
lines = json_lines(out) or []
check("three result lines with ranks 1..3 and files c.png, c-2.png, c-3.png",
      [o.get("rank") for o in lines] == [1, 2, 3]
      and [o.get("output") for o in lines] == ["c.png", "c-2.png", "c-3.png"]
      and all(os.path.exists(path(f)) for f in ["c.png", "c-2.png", "c-3.png"]), out)
check("ranked by score, best first",
      len(lines) == 3 and lines[0]["score"] >= lines[1]["score"] >= lines[2]["score"]
      and sorted(o["seed"] for o in lines) == [20, 21, 22], out)
if len(lines) == 3:
    run("generate", *M, "-p", "a dog", "-o", "c-alone.png", "--seed", str(lines[1]["seed"]))
    check("rank 2 comes again alone with its seed",
          png_info(path("c-alone.png"))[3] == png_info(path("c-2.png"))[3], "different pixels")

rc, out, err = check_run("--steps and --temperature", ["generate", *M, "-p", "a dog", "-o", "t.png", "--seed", "1",
                                                      "--steps", "4", "--temperature", "2.8", "--json"], 0)
params = png_info(path("t.png"))[4].get("parameters", "")
check("... are used (steps 4, schedule 2.8 -> 1.2)",
      (json_lines(out) or [{}])[0].get("steps") == 4 and "steps=4 temperature=2.8-1.2 " in params, params)
rc, out, err = check_run("--official-sampling draws 32 image candidates",
                         ["generate", *M, "-p", "a dog", "-o", "off.png", "--seed", "1", "--official-sampling",
                          "--steps", "2", "--json"], 0)
check("... 32 result lines", len(json_lines(out) or []) == 32 and os.path.exists(path("off-32.png")),
      f"{len(out.splitlines())} lines")
long_prompt = " ".join(["a very long prompt about a red bus"] * 6)
check_run("over-long prompt: a warning, and it still succeeds",
          ["generate", *M, "-p", long_prompt, "-o", "long.png", "--seed", "1"], 0,
          want_err="is longer than the model's text length (16 tokens)")
env = dict(os.environ, MAGVLT_MODEL=model)
check_run("$MAGVLT_MODEL is the default model", ["generate", "-p", "x", "-o", "env.png", "--seed", "1"], 0,
          env=env)

# ---- caption ------------------------------------------------------------------
rc, out, err = check_run("caption prints one caption", ["caption", *M, "-i", "g1.png", "--seed", "3"], 0)
check("... on one line", len(out.splitlines()) == 1 and out.strip() != "", repr(out))
rc, out, err = check_run("caption --json", ["caption", *M, "-i", "photo.png", "--seed", "3", "--json"], 0)
o = (json_lines(out) or [{}])[0]
check("caption --json fields", o.get("input") == "photo.png" and isinstance(o.get("caption"), str)
      and o.get("seed") == 3 and o.get("steps") == 12 and "ms" in o and "score" in o, out)
rc2, out2, _ = run("caption", *M, "-i", "photo.png", "--seed", "3", "--json")
check("caption with the same seed gives the same caption",
      (json_lines(out2) or [{}])[0].get("caption") == o.get("caption"), f"{out} vs {out2}")
rc, out, err = check_run("caption of several images, two bad: exit 1 after all",
                         ["caption", *M, "-i", "photo.png", "-i", "nosuch.png", "-i", "g1.png", "-i", "corrupt.png",
                          "-i", "small.png", "--seed", "3", "--json"], 1)
lines = json_lines(out) or []
check("one line per image in order, errors with input and error",
      [o.get("input") for o in lines] == ["photo.png", "nosuch.png", "g1.png", "corrupt.png", "small.png"]
      and "caption" in lines[0] and "No such file" in lines[1].get("error", "")
      and "caption" in lines[2] and "cannot read the image" in lines[3].get("error", "")
      and "caption" in lines[4] and "error" not in lines[0] and "caption" not in lines[1], out)
check("the first image's caption is the one it gets alone",
      len(lines) == 5 and lines[0].get("caption") == o.get("caption"), out)
rc, out, err = check_run("caption of several images as text", ["caption", *M, "-i", "photo.png", "-i", "nosuch.png",
                                                               "--seed", "3"], 1, want_err="nosuch.png")
check("... 'IMAGE: caption' lines", out.startswith("photo.png: ") and len(out.splitlines()) == 1, out)
rc, out, err = check_run("--official-sampling draws 64 caption candidates",
                         ["caption", *M, "-i", "small.png", "--official-sampling", "--steps", "1", "--json"], 0)
check("... 64 lines, ranked", [o.get("rank") for o in json_lines(out) or []] == list(range(1, 65)), out[:300])

# ---- inpaint --------------------------------------------------------------------
rc, out, err = check_run("inpaint --json", ["inpaint", *M, "-i", "photo.png", "--mask", "mask.png", "-p", "a red sky",
                                            "-o", "inp.png", "--seed", "5", "--json"], 0)
o = (json_lines(out) or [{}])[0]
check("inpaint --json fields", o.get("output") == "inp.png" and o.get("width") == W and o.get("height") == H
      and o.get("seed") == 5 and o.get("steps") == 10 and "ms" in o and "score" in o, out)
outside_unchanged(path("inp.png"), rect(12, 24, 6, 16), "inpaint keeps the input's size and every unmasked pixel")
text = png_info(path("inp.png"))[4]
check("inpaint PNG text chunks", text.get("prompt") == "a red sky" and "mask=mask.png" in text.get("parameters", ""),
      text)
run("inpaint", *M, "-i", "photo.png", "--mask", "mask.png", "-p", "a red sky", "-o", "inp2.png", "--seed", "5")
check("inpaint: same seed, same bytes", open(path("inp.png"), "rb").read() == open(path("inp2.png"), "rb").read(),
      "files differ")
check_run("a mask of another size is scaled, with a note",
          ["inpaint", *M, "-i", "photo.png", "--mask", "mask-half.png", "-p", "a red sky", "-o", "inp-half.png",
           "--seed", "5"], 0, want_err="the mask mask-half.png is 20 x 12 and the image 40 x 24: the mask was "
                                       "scaled to the image (nearest neighbour)")
outside_unchanged(path("inp-half.png"), rect(12, 24, 6, 16), "... the scaled mask covers the same pixels")
check_run("inpaint with an alpha mask", ["inpaint", *M, "-i", "photo.png", "--mask", "mask-alpha.png", "-p", "x",
                                         "-o", "inp-alpha.png", "--seed", "5", "--feather", "0", "--padding", "4"], 0)
outside_unchanged(path("inp-alpha.png"), rect(0, 10, 0, 10), "... the alpha channel is the mask")
check_run("empty mask", ["inpaint", *M, "-i", "photo.png", "--mask", "mask-empty.png", "-p", "x", "-o", "e.png"], 1,
          want_err="the mask mask-empty.png is empty")
check("... and no output file", not os.path.exists(path("e.png")), "e.png exists")
check_run("inpaint without --mask", ["inpaint", *M, "-i", "photo.png", "-p", "x", "-o", "e.png"], 2,
          want_err="--mask MASK.png is required")
check_run("missing mask", ["inpaint", *M, "-i", "photo.png", "--mask", "nosuch.png", "-p", "x", "-o", "e.png"], 1,
          want_err="cannot open the mask nosuch.png")

# ---- edit -------------------------------------------------------------------------
rc, out, err = check_run("edit the whole image", ["edit", *M, "-i", "photo.png", "-p", "a blue sky", "--strength",
                                                  "0.5", "-o", "ed.png", "--seed", "5", "--json"], 0)
w, h, bpp, px, text = png_info(path("ed.png"))
check("edit keeps the input's size", (w, h) == (W, H) and "strength=0.5" in text.get("parameters", ""),
      f"{w}x{h} {text}")
check_run("edit with a mask", ["edit", *M, "-i", "photo.png", "--mask", "mask.png", "-p", "a blue sky",
                               "--strength", "1", "-o", "ed-mask.png", "--seed", "5"], 0)
outside_unchanged(path("ed-mask.png"), rect(12, 24, 6, 16), "edit with a mask keeps every unmasked pixel")
check_run("edit without --strength", ["edit", *M, "-i", "photo.png", "-p", "x", "-o", "e.png"], 2,
          want_err="--strength S is required")
check_run("edit --strength out of range", ["edit", *M, "-i", "photo.png", "-p", "x", "--strength", "1.5",
                                           "-o", "e.png"], 2, want_err="--strength must be in (0, 1]")

# ---- infill ---------------------------------------------------------------------
rc, out, err = check_run("infill", ["infill", *M, "-i", "photo.png", "-p", "a [MASK] on a blue background",
                                    "--seed", "2"], 0)
line = out.strip()
check("... keeps the known words", line.startswith("a ") and line.endswith("on a blue background")
      and len(line) > len("a  on a blue background"), repr(out))
rc, out, err = check_run("infill --span-length 2 --json", ["infill", *M, "-i", "photo.png", "-p",
                                                           "a [MASK] on a blue background", "--span-length", "2",
                                                           "--json", "--seed", "2"], 0)
o = (json_lines(out) or [{}])[0]
check("infill --json fields", o.get("input") == "photo.png" and o.get("text") == "a [MASK] on a blue background"
      and o.get("caption", "").endswith("on a blue background") and o.get("steps") == 12, out)
check_run("[MASK] missing for infill", ["infill", *M, "-i", "photo.png", "-p", "a dog on a blue background"], 2,
          want_err="the text has no [MASK]")

# ---- joint ------------------------------------------------------------------------
rc, out, err = check_run("joint --json", ["joint", *M, "-o", "j.png", "--seed", "9", "--json"], 0)
o = (json_lines(out) or [{}])[0]
check("joint --json fields", o.get("output") == "j.png" and isinstance(o.get("caption"), str)
      and o.get("seed") == 9 and o.get("steps") == 10 and o.get("text_steps") == 12, out)
text = png_info(path("j.png"))[4]
check("joint PNG carries the caption", text.get("caption") == o.get("caption") and text.get("seed") == "9", text)

# ---- previews -----------------------------------------------------------------------
prev = path("prev")
check_run("generate --preview-dir", ["generate", *M, "-p", "x", "-o", "p.png", "--seed", "1", "--steps", "5",
                                     "--preview-dir", prev, "--preview-decode-every", "2"], 0)
names = sorted(os.listdir(prev)) if os.path.isdir(prev) else []
want = ["step-01.png", "step-02-decoded.png", "step-02.png", "step-03.png", "step-04-decoded.png", "step-04.png",
        "step-05-decoded.png", "step-05.png"]
check("... writes step-NN.png and the decodes asked for", names == want, names)
sizes = {n: png_info(os.path.join(prev, n))[:2] for n in names}
check("... at the model resolution", all(s == (16, 16) for s in sizes.values()), sizes)
last = png_info(os.path.join(prev, "step-05-decoded.png"))[3]
check("... the last decode is the result", last == png_info(path("p.png"))[3], "differs")
tprev = path("tprev")
check_run("caption --preview-dir", ["caption", *M, "-i", "photo.png", "--steps", "3", "--preview-dir", tprev], 0)
names = sorted(os.listdir(tprev)) if os.path.isdir(tprev) else []
check("... writes text-step-NN.txt", names == ["text-step-01.txt", "text-step-02.txt", "text-step-03.txt"],
      names)

# ---- progress on a terminal -------------------------------------------------------


def run_with_pty_stderr(*args):
    master, slave = pty.openpty()
    p = subprocess.Popen([magvlt, *args], stdout=subprocess.PIPE, stderr=slave, cwd=tmp)
    os.close(slave)
    chunks = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            chunks += data
        elif p.poll() is not None:
            break
    out = p.stdout.read()
    p.wait()
    os.close(master)
    return p.returncode, out.decode(), chunks.decode("utf-8", "replace")


rc, out, err = run_with_pty_stderr("generate", *M, "-p", "x", "-o", "tty.png", "--seed", "1", "--steps", "200")
check("a progress bar with stage, step n/N and ETA on a terminal",
      rc == 0 and "generating image" in err and "step " in err and "/200" in err and "ETA" in err, repr(err[-300:]))
rc, out, err = run("generate", *M, "-p", "x", "-o", "notty.png", "--seed", "1", "--steps", "200")
check("no progress bar when stderr is not a terminal", rc == 0 and "ETA" not in err and "\r" not in err, repr(err))

# ---- Ctrl+C --------------------------------------------------------------------------
# joint: 50 candidates x 1000 image and 1000 text steps (text steps all run: several seconds);
# generate: 1024 candidates (image refinement stops once every code is known)
for cmd, extra in [("joint", ["--steps", "1000", "--candidates", "50"]),
                   ("generate", ["-p", "a long job", "--candidates", "1024"])]:
    cdir = path("cancel-" + cmd)
    os.mkdir(cdir)
    p = subprocess.Popen([magvlt, cmd, *M, *extra, "-o", os.path.join(cdir, "big.png"), "--seed", "1",
                          "--preview-dir", os.path.join(cdir, "previews")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    latency = time.monotonic() - t0
    err = err.decode("utf-8", "replace")
    check(f"SIGINT during {cmd} exits 130 with 'cancelled'", p.returncode == 130 and "cancelled" in err,
          f"exit {p.returncode}; {err[-300:]!r}")
    check("... promptly", latency < 5.0, f"{latency:.2f} s")
    left = sorted(os.listdir(cdir))
    check("... and leaves no output file", left == ["previews"], left)

# ---- bad input and command lines -------------------------------------------------------
check_run("unknown option", ["generate", *M, "-p", "x", "-o", "u.png", "--frobnicate"], 2,
          want_err="Unknown option --frobnicate")
check_run("caption has no -o", ["caption", *M, "-i", "photo.png", "-o", "x.png"], 2, want_err="Unknown option")
check_run("generate without -o", ["generate", *M, "-p", "x"], 2, want_err="-o OUT.png is required")
check_run("generate without -p", ["generate", *M, "-o", "x.png"], 2, want_err="-p TEXT is required")
check_run("caption without -i", ["caption", *M], 2, want_err="give at least one -i IMAGE")
check_run("a stray argument", ["generate", *M, "-p", "x", "-o", "x.png", "extra"], 2,
          want_err="unexpected argument 'extra'")
check_run("bad --seed", ["generate", *M, "-p", "x", "-o", "x.png", "--seed", "-4"], 2, want_err="--seed")
check_run("bad --steps", ["generate", *M, "-p", "x", "-o", "x.png", "--steps", "0"], 2, want_err="--steps must be")
check_run("bad --candidates", ["generate", *M, "-p", "x", "-o", "x.png", "--candidates", "5000"], 2,
          want_err="--candidates must be")
check_run("bad --temperature", ["caption", *M, "-i", "photo.png", "--temperature", "0"], 2,
          want_err="--temperature must be")
# -1 (or any value) given on purpose is checked, never mistaken for "not given".
for opt, cmd in (("--temperature", "generate"), ("--steps", "generate"), ("--candidates", "generate"),
                 ("--padding", "inpaint"), ("--feather", "inpaint")):
    extra = ["-i", "photo.png", "--mask", "mask.png"] if cmd == "inpaint" else []
    check_run(f"{opt} -1 refused", [cmd, *M, *extra, "-p", "x", "-o", "x.png", opt, "-1"], 2,
              want_err=f"{opt} must be")
check_run("--temperature nan refused", ["generate", *M, "-p", "x", "-o", "x.png", "--temperature", "nan"], 2,
          want_err="--temperature must be in (0, 100], not 'nan'")
check_run("--steps 4x refused", ["generate", *M, "-p", "x", "-o", "x.png", "--steps", "4x"], 2,
          want_err="--steps must be 1..1000, not '4x'")
check_run("--strength -1 refused", ["edit", *M, "-i", "photo.png", "-p", "x", "-o", "x.png", "--strength", "-1"], 2,
          want_err="--strength must be in (0, 1]")
check_run("missing image", ["inpaint", *M, "-i", "nosuch.png", "--mask", "mask.png", "-p", "x", "-o", "x.png"], 1,
          want_err="cannot open the image nosuch.png: No such file")
check_run("corrupt image", ["edit", *M, "-i", "corrupt.png", "-p", "x", "--strength", "1", "-o", "x.png"], 1,
          want_err="cannot read the image corrupt.png")
check_run("not an image", ["infill", *M, "-i", "text.png", "-p", "a [MASK]"], 1, want_err="cannot read the image")
check_run("a folder as image", ["caption", *M, "-i", tmp], 1, want_err="is a folder")
check_run("output folder missing", ["generate", *M, "-p", "x", "-o", "no/such/dir/x.png"], 1,
          want_err="the folder no/such/dir does not exist")
# an output folder that refuses new files: chmod 555 for a normal user; root writes through
# permissions, so there a folder of sysfs (which refuses file creation even to root) stands in
ro_dir = path("read-only")
os.mkdir(ro_dir)
os.chmod(ro_dir, 0o555)
if os.geteuid() == 0:
    ro_dir = "/sys/kernel" if os.path.isdir("/sys/kernel") else None
if ro_dir:
    check_run("unwritable output folder", ["generate", *M, "-p", "x", "-o", os.path.join(ro_dir, "x.png")], 1,
              want_err="cannot write")
    check("... and leaves no file there", not os.path.exists(os.path.join(ro_dir, "x.png")))
# the model file deleted while a job runs: the mapping keeps the data, the job completes
doomed = path("doomed.gguf")
shutil.copy(model, doomed)
ddir = path("deleted-model")
os.mkdir(ddir)
p = subprocess.Popen([magvlt, "generate", "-m", doomed, "-p", "a long job", "--candidates", "256", "--seed", "1",
                      "-o", os.path.join(ddir, "out.png")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(0.3)
os.unlink(doomed)
running = p.poll() is None
out, err = p.communicate(timeout=120)
check("model file deleted during a job: the job completes", running and p.returncode == 0
      and len(os.listdir(ddir)) == 256,
      f"still running when deleted: {running}; exit {p.returncode}; {len(os.listdir(ddir))} files; {err.decode('utf-8', 'replace')[-300:]!r}")
check_run("model without a VQGAN", ["generate", "-m", novq_model, "-p", "x", "-o", "x.png"], 1,
          want_err="has no VQGAN (image tokenizer)")
check_run("model without a VQGAN (caption)", ["caption", "-m", novq_model, "-i", "photo.png"], 1,
          want_err="has no VQGAN")
check_run("model without a text tokenizer", ["joint", "-m", notok_model, "-o", "x.png"], 1,
          want_err="has no text tokenizer")
# ---- the bad-input matrix (tests/BAD_INPUTS.md): unusual images, prompts and settings
def write_raw_png(name, w, h, depth, ctype, raw_rows):
    with open(path(name), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + pngfile.chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
                + pngfile.chunk(b"IDAT", zlib.compress(raw_rows)) + pngfile.chunk(b"IEND", b""))


write_raw_png("rgb16.png", 16, 16, 16, 2, b"".join(b"\0" + bytes(range(96)) for _ in range(16)))
write_png("gray.png", 16, 16, 1, photo[:256])
write_png("gray-alpha.png", 16, 16, 2, photo[:512])
write_png("rgba.png", 16, 16, 4, photo[:1024])
write_png("one.png", 1, 1, 3, [200, 10, 10])
write_raw_png("zero.png", 0, 0, 8, 2, b"")
# a 2-frame animated GIF, 4 x 4
open(path("anim.gif"), "wb").write(__import__("base64").b64decode(
    "R0lGODlhBAAEAPAAAP8AAAAA/yH/C05FVFNDQVBFMi4wAwEAAAAh+QQACgAAACwAAAAABAAEAAACBISPqVcAIfkEAAoAAAAsAAAAAAQABAAAAgSEj6lXADs="))
# 30000 x 30000 grey: 860 KB compressed, refused from its header
z, rows = zlib.compressobj(9), []
for _ in range(30000):
    rows.append(z.compress(bytes(30001)))
write_raw_png("huge.png", 30000, 30000, 8, 0, b"".join(rows) + z.flush())
for img in ["rgb16.png", "gray.png", "gray-alpha.png", "rgba.png", "one.png", "anim.gif"]:
    check_run(f"caption of an unusual image: {img}", ["caption", *M, "-i", img, "--seed", "1", "--steps", "2"], 0)
check_run("caption of a 0 x 0 PNG", ["caption", *M, "-i", "zero.png", "--steps", "2"], 1,
          want_err="cannot read the image zero.png")
check_run("caption of a 30000 x 30000 PNG", ["caption", *M, "-i", "huge.png", "--steps", "2"], 1,
          want_err="is 30000 x 30000 pixels; the limit is 16384 pixels a side")
write_png("mask-full.png", W, H, 1, [255] * (W * H))
check_run("inpaint with an all-white mask regenerates everything",
          ["inpaint", *M, "-i", "photo.png", "--mask", "mask-full.png", "-p", "x", "-o", "full.png", "--seed", "1"], 0)
check_run("empty prompt", ["generate", *M, "-p", "", "-o", "empty-p.png", "--seed", "1"], 0)
check_run("10,000-character prompt", ["generate", *M, "-p", "a" * 10000, "-o", "long-p.png", "--seed", "1"], 0,
          want_err="is longer than the model's text length")
check_run("prompt of only emoji", ["generate", *M, "-p", "\U0001F600\U0001F431", "-o", "emoji-p.png", "--seed", "1"],
          0, want_err="outside the model's vocabulary")
rc = subprocess.run([magvlt, "generate", *M, "-p", b"a \xff\xfe cat", "-o", "bad-utf8.png"], capture_output=True,
                    timeout=120, cwd=tmp)
check("prompt with invalid UTF-8: a usage error naming -p", rc.returncode == 2
      and b"-p: the text is not valid UTF-8 (byte 2)" in rc.stderr, f"exit {rc.returncode}; {rc.stderr[:300]!r}")
# UTF-8 prompts under the C locale (containers, cron): -p is read as bytes, not converted
check_run("UTF-8 prompt under LC_ALL=C", ["generate", *M, "-p", "caf\u00e9 au lait", "-o", "c-locale.png", "--seed", "1"],
          0, env=dict(os.environ, LC_ALL="C"))
check_run("empty prompt: a warning that the image follows no text",
          ["generate", *M, "-p", "   ", "-o", "blank-p.png", "--seed", "1"], 0, want_err="gives the model no words")
# outputs that would lose something, or lie about their format, are refused before the job
write_png("keep-in.png", W, H, 3, photo)
write_png("keep-mask.png", W, H, 1, [255 if 4 <= x < 12 else 0 for y in range(H) for x in range(W)])
before = (open(path("keep-in.png"), "rb").read(), open(path("keep-mask.png"), "rb").read())
check_run("-o onto the mask: refused", ["inpaint", *M, "-i", "keep-in.png", "--mask", "keep-mask.png", "-p", "x",
                                        "-o", "keep-mask.png"], 2, want_err="is the mask; refusing to overwrite it")
check_run("-o onto the input image: refused", ["edit", *M, "-i", "keep-in.png", "-p", "x", "--strength", "0.5",
                                               "-o", "keep-in.png"], 2, want_err="is the input image")
write_png("keep-2.png", W, H, 3, photo)
check_run("-o whose second candidate (OUT-2.png) is the input: refused",
          ["edit", *M, "-i", "keep-2.png", "-p", "x", "--strength", "0.5", "-o", "keep.png", "--candidates", "2"],
          2, want_err="keep-2.png is the input image")
check("the input and the mask are untouched",
      (open(path("keep-in.png"), "rb").read(), open(path("keep-mask.png"), "rb").read()) == before)
check_run("-o with another format's extension: refused", ["generate", *M, "-p", "x", "-o", "out.jpg"], 2,
          want_err="give it a .png name")
check("... and nothing written", not os.path.exists(path("out.jpg")))
rc, out, err = check_run("-q: no timings or notes on stderr", ["generate", *M, "-p", "x", "-o", "quiet.png", "-q"], 0)
check("... stderr is empty and the result line is on stdout", err == "" and "quiet.png  seed" in out, repr(err))
check_run("--output is -o's long name too (as in `magvlt convert`)",
          ["generate", *M, "-p", "x", "--output", "long-o.png", "--seed", "1"], 0)
check("... and it wrote the file", os.path.exists(path("long-o.png")))
check_run("-o with an empty name: refused", ["generate", *M, "-p", "x", "-o", ""], 2, want_err="-o needs a file name")
# numbers in PNG text chunks do not follow the locale's decimal comma
de = [l for l in subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
      if l.lower().startswith("de_de.utf")]
if de:
    check_run("generate under a German locale", ["generate", *M, "-p", "x", "-o", "de.png", "--seed", "1",
                                                 "--temperature", "1.5"], 0, env=dict(os.environ, LC_ALL=de[0]))
    params = png_info(path("de.png"))[4].get("parameters", "")
    check(f"PNG parameters use a decimal point under {de[0]} ({params[:80]!r})", "1.5" in params and "1,5" not in params)
else:
    print("skip: no German locale installed for the decimal-comma check")
# results on stdout that cannot be written are a failure
with open("/dev/full", "w") as full:
    p = subprocess.run([magvlt, "info", "-m", model], stdout=full, stderr=subprocess.PIPE, cwd=tmp)
check("stdout on a full disk: exit 1 with a message", p.returncode == 1 and b"cannot write the output" in p.stderr,
      f"exit {p.returncode}; {p.stderr[:200]!r}")
check_run("--steps 10000", ["generate", *M, "-p", "x", "-o", "x.png", "--steps", "10000"], 2,
          want_err="--steps must be 1..1000")
check_run("--threads 1000 works", ["generate", *M, "-p", "x", "-o", "t1000.png", "--threads", "1000", "--seed", "1"], 0)
check_run("--threads 0 means the physical cores", ["generate", *M, "-p", "x", "-o", "t0.png", "--threads", "0",
                                                   "--seed", "1"], 0)
check_run("--threads 1, same seed", ["generate", *M, "-p", "x", "-o", "t1.png", "--seed", "1"], 0)
check("the thread count does not change the result (1, all cores, 1000: identical bytes)",
      open(path("t1.png"), "rb").read() == open(path("t0.png"), "rb").read()
      == open(path("t1000.png"), "rb").read(), "files differ")
rc, out, err = check_run("--backend openblas --json", ["generate", *M, "-p", "x", "-o", "tb.png", "--seed", "1",
                                                       "--backend", "openblas", "--json"], 0)
check("--json names the backend that ran", json.loads(out.splitlines()[-1]).get("backend") == "openblas", out)
check("... and so does the PNG's parameters text", "backend=openblas" in png_info(path("tb.png"))[4].get(
    "parameters", ""), png_info(path("tb.png"))[4])
check_run("--backend no-such: a usage error before the model loads",
          ["generate", *M, "-p", "x", "-o", "x.png", "--backend", "no-such"], 2,
          want_err="--backend must be auto, openblas, bf16, onednn-f32 or onednn-bf16, not 'no-such'")
check_run("--threads 5000", ["generate", *M, "-p", "x", "-o", "x.png", "--threads", "5000"], 2,
          want_err="--threads must be 0..1024")

check_run("missing model", ["generate", "-m", "nosuch.gguf", "-p", "x", "-o", "x.png"], 1,
          want_err="cannot load the model")
env = {k: v for k, v in os.environ.items() if k != "MAGVLT_MODEL"}
rc, out, err = run("generate", "-p", "x", "-o", "nomodel.png", env=env)
if rc == 0:
    print("skip no default model: one is installed")
else:
    check("no -m and no default model", rc == 2 and "no model given and no default model installed; pass -m MODEL"
          in err, f"exit {rc}; {err!r}")
# -o -: the PNG on standard output, byte-identical to the file the same run writes; nothing else there
p = subprocess.run([magvlt, "generate", "-m", model, "-p", "a dog", "-o", "-", "--seed", "4"],
                   capture_output=True, timeout=120, cwd=tmp)
rc, out, err = run("generate", "-m", model, "-p", "a dog", "-o", "stdout-ref.png", "--seed", "4")
same = rc == 0 and open(path("stdout-ref.png"), "rb").read() == p.stdout
check("-o - writes the PNG to standard output, the same bytes as -o FILE, the result line on stderr",
      p.returncode == 0 and p.stdout[:8] == b"\x89PNG\r\n\x1a\n" and same
      and b"(standard output)  seed 4" in p.stderr, f"exit {p.returncode}; {p.stderr[-300:]!r}")
check_run("-o - with 2 candidates is refused", ["generate", "-m", model, "-p", "x", "-o", "-",
                                                "--candidates", "2"], 2, want_err="writes one image")
check_run("-o - with --json is refused", ["generate", "-m", model, "-p", "x", "-o", "-", "--json"], 2,
          want_err="both write to standard output")
master, slave = pty.openpty()
p = subprocess.run([magvlt, "generate", "-m", model, "-p", "x", "-o", "-"], stdout=slave,
                   stderr=subprocess.PIPE, timeout=120, cwd=tmp)
os.close(slave)
os.close(master)
check("-o - to a terminal is refused", p.returncode == 2 and b"standard output is a terminal" in p.stderr,
      p.stderr[-300:])
check("no stray files next to the outputs",
      not [n for n in os.listdir(tmp) if n.startswith(".") or n == "x.png"], os.listdir(tmp))

finish()
