#!/usr/bin/env python3
"""Makes the screenshots in data/screenshots/ (metainfo, README, issue notes): starts
magvlt-studio under the current display (use xvfb-run + dbus-run-session), opens an image, loads a
mask, inpaints, and captures the window with the result waiting for Accept, in the light and the
dark style.

    xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- \\
        /usr/bin/python3 build-aux/screenshots.py build MODEL.gguf IMAGE.png MASK.png "CAPTION"
"""
import os
import subprocess
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

WIN = "/org/magvlt/Studio/window/1"


def main() -> None:
    build, model, image, mask, caption = sys.argv[1:6]
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "screenshots")
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
        print(path)


if __name__ == "__main__":
    main()
