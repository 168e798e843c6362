#!/usr/bin/env python3
"""Every screenshot the AppStream metainfo lists is a file in the repository: its URL ends in
data/screenshots/NAME.png, that file exists, is a PNG and stays small (<= 150 KB); there is a
default one and a dark one. Usage: check-screenshots.py METAINFO.xml.in SOURCE_ROOT"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402
import xml.etree.ElementTree as ET

metainfo, root = sys.argv[1:3]


shots = ET.parse(metainfo).getroot().findall("screenshots/screenshot")
check(f"{len(shots)} screenshots listed", len(shots) >= 2)
check("one is the default", any(s.get("type") == "default" for s in shots))
check("one shows the dark style", any("dark" in (s.get("environment") or "") for s in shots))
for s in shots:
    url = s.findtext("image") or ""
    marker = "/data/screenshots/"
    rel = url[url.find(marker) + 1:] if marker in url else None
    check(f"{url}: a repository file over https", rel is not None and url.startswith("https://"))
    if rel is None:
        continue
    path = os.path.join(root, rel)
    size = os.path.getsize(path) if os.path.exists(path) else -1
    png = False
    if size > 0:
        with open(path, "rb") as f:
            png = f.read(8) == b"\x89PNG\r\n\x1a\n"
    check(f"{rel}: PNG of {size} bytes (at most 150 KB)", png and 0 < size <= 150 * 1024)
finish()
