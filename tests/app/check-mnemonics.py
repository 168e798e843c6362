#!/usr/bin/env python3
"""No two controls of the main window share a mnemonic (Alt+letter) in any language: GTK moves
the focus between the targets of a shared mnemonic instead of activating one, so Alt+I would not
Inpaint while "Invert" is on screen. Checks the labels of studio-window.ui's widgets (menu items
have their own mnemonic scope) and the primary button's two labels set in the code, in English
and in every po/*.po. "_Cancel" is left out: it is only sensitive while a job runs, when every
job and result button is not. Usage: check-mnemonics.py SOURCE_ROOT"""
import ast
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

root = sys.argv[1]
ui = ET.parse(os.path.join(root, "ui", "studio-window.ui"))
labels = [p.text for obj in ui.iter("object") for p in obj.findall("property")
          if p.get("name") == "label" and p.get("translatable") == "yes" and p.text and "_" in p.text]
labels += ["_Inpaint", "_Generate"]  # the primary button's (studio-window-actions.c)
labels = sorted(set(labels) - {"_Cancel"})


def read_po(path):
    out, msgid = {}, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("msgid "):
            msgid = ast.literal_eval(line[6:].strip())
        elif line.startswith("msgstr ") and msgid is not None:
            out[msgid] = ast.literal_eval(line[7:].strip())
            msgid = None
    return out


failed = checked = 0
for lang, table in [("en", {})] + [(os.path.basename(p)[:-3], read_po(p))
                                   for p in sorted(glob.glob(os.path.join(root, "po", "*.po")))]:
    seen, before = {}, failed
    for msgid in labels:
        text = table.get(msgid) or msgid
        m = re.search(r"_(\w)", text)
        if not m:
            continue
        key = m.group(1).lower()
        checked += 1
        if key in seen:
            print(f"FAIL {lang}: '{text}' and '{seen[key]}' share Alt+{key}")
            failed += 1
        else:
            seen[key] = text
    if failed == before:
        print(f"ok   {lang}: {len(seen)} mnemonics, all different")
print(f"{checked - failed} passed, {failed} failed")
sys.exit(1 if failed or checked == 0 else 0)
