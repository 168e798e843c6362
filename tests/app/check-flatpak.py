#!/usr/bin/env python3
"""The Flatpak manifest parses (JSON, and flatpak-builder --show-manifest when installed), every
remote source is pinned (git commit, or url + sha256), and the sandbox asks for no file access.
Usage: check-flatpak.py MANIFEST"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

path = sys.argv[1]
base = os.path.dirname(path)


manifest = json.load(open(path))
check("app id org.magvlt.Studio", manifest.get("id") == "org.magvlt.Studio")
args = manifest.get("finish-args", [])
check(f"no --filesystem access ({args})", not any(a.startswith("--filesystem") for a in args))


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
            check(f"{m['name']}: git source pinned by commit", len(src.get("commit", "")) == 40)
        elif t in ("archive", "file"):
            check(f"{m['name']}: {t} source pinned by sha256", len(src.get("sha256", "")) == 64)
        elif t == "dir":
            check(f"{m['name']}: local source", True)
        else:
            check(f"{m['name']}: unknown source type {t}", False)

builder = shutil.which("flatpak-builder")
if builder:
    r = subprocess.run([builder, "--show-manifest", path], capture_output=True, text=True)
    check("flatpak-builder --show-manifest parses it", r.returncode == 0)
finish()
