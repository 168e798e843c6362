#!/usr/bin/env python3
"""Every control in the UI templates can be named by assistive technology: buttons have a
label or an accessible label (an icon-only button's tooltip is only its description to GTK 4.8's
accessibility, not its name), and a tooltip when they have no label; scales, spin buttons, text views,
pictures, progress bars and the canvas have an accessible label. Usage: check-accessibility.py UI..."""
import sys
import xml.etree.ElementTree as ET

NEED_LABEL = {"GtkScale", "GtkSpinButton", "GtkTextView", "GtkPicture", "GtkProgressBar",
              "StudioCanvas", "GtkEntry"}
BUTTONS = {"GtkButton", "GtkToggleButton", "GtkMenuButton", "AdwSplitButton"}

failed = 0
checked = 0
for path in sys.argv[1:]:
    for obj in ET.parse(path).iter("object"):
        cls = obj.get("class")
        props = {p.get("name") for p in obj.findall("property")}
        acc = {p.get("name") for a in obj.findall("accessibility") for p in a.findall("property")}
        if cls in NEED_LABEL:
            checked += 1
            if "label" not in acc:
                print(f"FAIL {path}: {cls} id={obj.get('id')} has no accessible label")
                failed += 1
        elif cls in BUTTONS:
            checked += 1
            if not ("label" in props or "label" in acc):
                print(f"FAIL {path}: {cls} id={obj.get('id')} has no label and no accessible label")
                failed += 1
            elif "label" not in props and "tooltip-text" not in props:
                print(f"FAIL {path}: {cls} id={obj.get('id')} shows only an icon and has no tooltip")
                failed += 1
print(f"{checked - failed} passed, {failed} failed")
sys.exit(1 if failed or checked == 0 else 0)
