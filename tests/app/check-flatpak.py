#!/usr/bin/env python3
"""The Flatpak manifest parses (JSON, and flatpak-builder --show-manifest when installed), every
remote source is pinned (git commit, or url + sha256), and the sandbox asks for no file access.
Usage: check-flatpak.py MANIFEST"""
import json
import os
import shutil
import subprocess
import sys

path = sys.argv[1]
base = os.path.dirname(path)
failed = checked = 0


def check(ok, what):
    global failed, checked
    checked += 1
    failed += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {what}")


manifest = json.load(open(path))
check(manifest.get("id") == "org.magvlt.Studio", "app id org.magvlt.Studio")
args = manifest.get("finish-args", [])
check(not any(a.startswith("--filesystem") for a in args), f"no --filesystem access ({args})")


def modules(mods):
    for m in mods:
        if isinstance(m, str):
            with open(os.path.join(base, m)) as f:
                m = json.load(f)
        yield m
        yield from modules(m.get("modules", []))


for m in modules(manifest["modules"]):
    for src in m.get("sources", []):
        t = src.get("type")
        if t == "git":
            check(len(src.get("commit", "")) == 40, f"{m['name']}: git source pinned by commit")
        elif t in ("archive", "file"):
            check(len(src.get("sha256", "")) == 64, f"{m['name']}: {t} source pinned by sha256")
        elif t == "dir":
            check(True, f"{m['name']}: local source")
        else:
            check(False, f"{m['name']}: unknown source type {t}")

builder = shutil.which("flatpak-builder")
if builder:
    r = subprocess.run([builder, "--show-manifest", path], capture_output=True, text=True)
    check(r.returncode == 0, "flatpak-builder --show-manifest parses it")
print(f"{checked - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
