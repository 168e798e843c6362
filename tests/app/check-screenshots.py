#!/usr/bin/env python3
"""Every screenshot the AppStream metainfo lists is a file in the repository: its URL ends in
data/screenshots/NAME.png, that file exists, is a PNG and stays small (<= 150 KB); there is a
default one and a dark one. Usage: check-screenshots.py METAINFO.xml.in SOURCE_ROOT"""
import os
import sys
import xml.etree.ElementTree as ET

metainfo, root = sys.argv[1:3]
failed = checked = 0


def check(ok, what):
    global failed, checked
    checked += 1
    failed += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {what}")


shots = ET.parse(metainfo).getroot().findall("screenshots/screenshot")
check(len(shots) >= 2, f"{len(shots)} screenshots listed")
check(any(s.get("type") == "default" for s in shots), "one is the default")
check(any("dark" in (s.get("environment") or "") for s in shots), "one shows the dark style")
for s in shots:
    url = s.findtext("image") or ""
    marker = "/data/screenshots/"
    rel = url[url.find(marker) + 1:] if marker in url else None
    check(rel is not None and url.startswith("https://"), f"{url}: a repository file over https")
    if rel is None:
        continue
    path = os.path.join(root, rel)
    size = os.path.getsize(path) if os.path.exists(path) else -1
    png = False
    if size > 0:
        with open(path, "rb") as f:
            png = f.read(8) == b"\x89PNG\r\n\x1a\n"
    check(png and 0 < size <= 150 * 1024, f"{rel}: PNG of {size} bytes (at most 150 KB)")
print(f"{checked - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
