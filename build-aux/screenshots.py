#!/usr/bin/env python3
"""Makes the screenshots in data/screenshots/ (metainfo, README, issue notes): starts
magvlt-studio under the current display (use xvfb-run + dbus-run-session), opens an image, loads a
mask, inpaints, and captures the window with the result waiting for Accept, in the light and the
dark style.

    xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- \\
        /usr/bin/python3 build-aux/screenshots.py BUILDDIR MODEL.gguf [IMAGE.png MASK.png "CAPTION"]

Without IMAGE, MASK and CAPTION it draws the scene of the committed screenshots itself (sky, sun,
grass; the mask a rectangle over the grass; caption "a red apple on the grass"), so with the default
model (data/models/default.gguf) the command is all it takes:

    xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- \\
        /usr/bin/python3 build-aux/screenshots.py build data/models/default.gguf

The committed screenshots (2026-11-27) show the default model inpainting a held-out test render
(tests/training/data/heldout-1.png, a sleepy face, scaled to 384x384 with PIL's bicubic filter) under
an ellipse mask (70,70)-(314,314) with the caption "a red heart on an orange background", quantised
to 256 colours with PIL (median cut, no dither).

The window is 1090x710 and the PNGs come out near 120 KB; the metainfo and
tests/app/check-screenshots.py want each one at most 150 KB. SCREENSHOT_DIR=/tmp/x writes them
elsewhere for a trial run.
"""
import os
import subprocess
import sys
import time

import tempfile

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, Gio, GLib  # noqa: E402

WIN = "/org/magvlt/Studio/window/1"


def write_png(path: str, w: int, h: int, fn) -> None:
    data = bytearray()
    for y in range(h):
        for x in range(w):
            data += bytes(fn(x, y))
    pb = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(data)), GdkPixbuf.Colorspace.RGB,
                                         False, 8, w, h, w * 3)
    pb.savev(path, "png", [], [])


def make_scene(folder: str):
    """A 256x192 picture (sky, sun, grass) and a mask over part of the grass."""
    w, h = 256, 192
    image = os.path.join(folder, "shot-in.png")
    mask = os.path.join(folder, "shot-mask.png")

    def scene(x, y):
        if (x - 190) ** 2 + (y - 45) ** 2 < 24 ** 2:
            return (250, 210, 60)
        if y >= 120:
            return (70, 150, 70) if (x // 3) % 2 else (66, 144, 66)
        t = y / 120
        return (int(110 + 60 * t), int(170 + 40 * t), int(230 + 10 * t))

    write_png(image, w, h, scene)
    write_png(mask, w, h, lambda x, y: (255, 255, 255) if 50 <= x < 150 and 95 <= y < 180 else (0, 0, 0))
    return image, mask


def main() -> None:
    build, model = sys.argv[1:3]
    if len(sys.argv) >= 6:
        image, mask, caption = sys.argv[3:6]
    else:
        image, mask = make_scene(tempfile.mkdtemp(prefix="screenshots-"))
        caption = "a red apple on the grass"
    # SCREENSHOT_DIR: somewhere else than data/screenshots/ (a trial run)
    out_dir = os.environ.get("SCREENSHOT_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "screenshots")
    for scheme in ("light", "dark"):
        env = dict(os.environ, GSETTINGS_BACKEND="memory",
                   GSETTINGS_SCHEMA_DIR=os.path.join(build, "data"),
                   ADW_DEBUG_COLOR_SCHEME="prefer-dark" if scheme == "dark" else "prefer-light")
        app = subprocess.Popen([os.path.join(build, "src", "magvlt-studio"), "--model", model],
                               env=env)
        bus = Gio.bus_get_sync(Gio.BusType.SESSION)

        def call(method, args):
            return bus.call_sync("org.magvlt.Studio", WIN, "org.gtk.Actions", method, args, None,
                                 Gio.DBusCallFlags.NONE, 10000, None)

        def act(name, param=None):
            call("Activate", GLib.Variant("(sava{sv})", (name, [param] if param is not None else [], {})))

        def state(name):
            s = call("Describe", GLib.Variant("(s)", (name,))).unpack()[0][2]
            return s[0] if s else None

        for _ in range(300):
            try:
                if state("model-loaded"):
                    break
            except GLib.Error:
                pass
            time.sleep(0.1)
        act("open", GLib.Variant("s", os.path.abspath(image)))
        act("load-mask", GLib.Variant("s", os.path.abspath(mask)))
        act("set-caption", GLib.Variant("s", caption))
        # the painted mask with its soft-edge preview, before running
        call("SetState", GLib.Variant("(sva{sv})", ("feather", GLib.Variant("d", 24.0), {})))
        time.sleep(0.8)
        act("screenshot", GLib.Variant("s", os.path.join(out_dir, f"mask-{scheme}.png")))
        time.sleep(0.5)
        call("SetState", GLib.Variant("(sva{sv})", ("seed", GLib.Variant("i", 7), {})))
        act("inpaint")
        for _ in range(600):
            time.sleep(0.1)
            if state("candidates") and not state("busy"):
                break
        time.sleep(0.5)
        path = os.path.join(out_dir, f"inpaint-{scheme}.png")
        act("screenshot", GLib.Variant("s", path))
        time.sleep(0.5)
        app.terminate()
        app.wait(10)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        print(f"{path}: {size} bytes" + (" — over 150 KB, quantise it (pngquant)" if size > 150 * 1024 else ""))


if __name__ == "__main__":
    main()
