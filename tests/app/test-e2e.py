#!/usr/bin/env python3
"""End-to-end test: launches the real magvlt-studio and drives it only over D-Bus
(org.gtk.Actions on /org/magvlt/Studio/window/1), as a person would through its actions.

Usage (under xvfb-run + dbus-run-session): test-e2e.py MAGVLT_STUDIO MAGVLT_CLI MODEL WORKDIR

Checks: open → seed → caption → busy goes true then false → caption-text equals `magvlt caption`
for the same model, image and seed; load-mask + set-caption + feather 16 + inpaint → accept → save-as → pixels
outside the mask unchanged, the masked region changed; screenshot is a non-blank PNG; bad inputs
(missing file, corrupt PNG, empty mask) set last-error and the app keeps running.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, Gio, GLib  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

APP_ID = "org.magvlt.Studio"
WIN = "/org/magvlt/Studio/window/1"


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class App:
    def __init__(self, exe: str, model: str, env: dict) -> None:
        self.proc = subprocess.Popen([exe, "--model", model], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.bus = Gio.bus_get_sync(Gio.BusType.SESSION)
        self.changes = []  # (name, value) in the order the app announced them
        self.bus.signal_subscribe(APP_ID, "org.gtk.Actions", "Changed", WIN, None,
                                  Gio.DBusSignalFlags.NONE, self._on_changed)
        self.wait(lambda: self._try_state("model-loaded"), 30, "the model to load")

    def _on_changed(self, conn, sender, path, iface, signal, params) -> None:
        removed, enabled, states, added = params.unpack()
        for name, value in states.items():
            self.changes.append((name, value))

    def _call(self, method: str, args: GLib.Variant):
        return self.bus.call_sync(APP_ID, WIN, "org.gtk.Actions", method, args, None,
                                  Gio.DBusCallFlags.NONE, 10000, None)

    def _try_state(self, name: str):
        try:
            return self.state(name)
        except GLib.Error:
            return None

    def pump(self, seconds: float) -> None:
        end = time.time() + seconds
        ctx = GLib.MainContext.default()
        while time.time() < end:
            while ctx.pending():
                ctx.iteration(False)
            time.sleep(0.01)

    def wait(self, cond, timeout: float, what: str) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            self.pump(0.02)
            if cond():
                return True
            if self.proc.poll() is not None:
                raise SystemExit(f"FAIL the app exited while waiting for {what}:\n"
                                 + self.proc.stdout.read())
        print(f"FAIL timed out waiting for {what}")
        return False

    def act(self, name: str, param=None) -> None:
        self._call("Activate", GLib.Variant("(sava{sv})", (name, [param] if param is not None else [], {})))

    def set_state(self, name: str, value: GLib.Variant) -> None:
        self._call("SetState", GLib.Variant("(sva{sv})", (name, value, {})))

    def enabled(self, name: str) -> bool:
        return self._call("Describe", GLib.Variant("(s)", (name,))).unpack()[0][0]

    def state(self, name: str):
        enabled, ptype, state = self._call("Describe", GLib.Variant("(s)", (name,))).unpack()[0]
        return state[0] if state else None

    def run_job(self, name: str, param=None, timeout: float = 60) -> bool:
        self.changes.clear()
        self.act(name, param)
        done = self.wait(lambda: ("busy", True) in self.changes and self.state("busy") is False,
                         timeout, f"{name} to finish")
        return done

    def alive(self) -> bool:
        return self.proc.poll() is None

    def quit(self) -> None:
        try:
            self.bus.call_sync(APP_ID, "/org/magvlt/Studio", "org.gtk.Actions", "Activate",
                               GLib.Variant("(sava{sv})", ("quit", [], {})), None,
                               Gio.DBusCallFlags.NONE, 5000, None)
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def write_png(path: str, w: int, h: int, fn) -> None:
    data = bytearray()
    for y in range(h):
        for x in range(w):
            data += bytes(fn(x, y))
    pb = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(data)), GdkPixbuf.Colorspace.RGB,
                                         False, 8, w, h, w * 3)
    pb.savev(path, "png", [], [])


def pixels(path: str):
    pb = GdkPixbuf.Pixbuf.new_from_file(path)
    w, h, rs, n = pb.get_width(), pb.get_height(), pb.get_rowstride(), pb.get_n_channels()
    raw = pb.get_pixels()
    return w, h, [[tuple(raw[y * rs + x * n: y * rs + x * n + 3]) for x in range(w)] for y in range(h)]


def main() -> None:
    exe, cli, model, workdir, official_ckpt = sys.argv[1:6]
    os.makedirs(workdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="e2e-", dir=workdir)
    img = os.path.join(tmp, "photo.png")
    mask = os.path.join(tmp, "mask.png")
    empty = os.path.join(tmp, "empty-mask.png")
    corrupt = os.path.join(tmp, "corrupt.png")
    out = os.path.join(tmp, "result.png")
    shot = os.path.join(tmp, "screenshot.png")
    W, H = 64, 48
    write_png(img, W, H, lambda x, y: (x * 4 % 256, y * 5 % 256, (x * y) % 256))
    in_mask = lambda x, y: 20 <= x < 40 and 10 <= y < 30  # noqa: E731
    write_png(mask, W, H, lambda x, y: (255, 255, 255) if in_mask(x, y) else (0, 0, 0))
    write_png(empty, W, H, lambda x, y: (0, 0, 0))
    with open(corrupt, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n this is not really a png")

    # imported models go to $XDG_DATA_HOME/magvlt/models: a private one
    data_home = os.path.join(tmp, "data-home")
    app = App(exe, model, dict(os.environ, XDG_DATA_HOME=data_home))
    check(f"model loaded ({app.state('model-name')})", app.state("model-loaded") is True)

    # caption, compared with the CLI on the same model, image and seed
    img_sha = sha256(img)
    app.act("open", GLib.Variant("s", img))
    app.wait(lambda: app.enabled("caption"), 5, "the image")
    app.set_state("seed", GLib.Variant("i", 3))
    check("seed set to 3 over D-Bus", app.state("seed") == 3)
    # 8 candidates, so the job lasts long enough for its busy state to be
    # announced on the bus (GTK sends action changes on idle)
    app.set_state("candidates-per-run", GLib.Variant("i", 8))
    ok = app.run_job("caption")
    check("caption: busy turned true, then false", ok and ("busy", True) in app.changes)
    app_caption = app.state("caption-text")
    cli_out = subprocess.run([cli, "caption", "-m", model, "-i", img, "--seed", "3",
                              "--candidates", "8", "--json"], capture_output=True, text=True)
    try:
        lines = [json.loads(x) for x in cli_out.stdout.strip().splitlines()]
        cli_caption = next(x["caption"] for x in lines if x.get("rank") == 1)
    except Exception:
        cli_caption = f"(CLI failed: {cli_out.stdout} {cli_out.stderr})"
    check(f"caption-text equals `magvlt caption`: {app_caption!r} vs {cli_caption!r}", app_caption == cli_caption)

    # inpaint through a loaded mask, accept, save
    app.set_state("candidates-per-run", GLib.Variant("i", 1))
    app.act("load-mask", GLib.Variant("s", mask))
    app.act("set-caption", GLib.Variant("s", "a red apple on a blue background"))
    app.pump(0.1)
    check("set-caption updates caption-text", app.state("caption-text") == "a red apple on a blue background")
    # GTK sends action changes on idle, so a job of a few milliseconds can
    # start and end between two announcements: wait for its result instead
    # a wide soft edge: the feathered paste-back blends only inside the
    # painted mask, so everything outside it must stay byte-identical
    app.set_state("feather", GLib.Variant("d", 16.0))
    check("feather set to 16 over D-Bus", app.state("feather") == 16.0)
    app.act("inpaint")
    ok = app.wait(lambda: app.state("candidates") == 1 and app.state("busy") is False, 60,
                  "the inpaint result")
    check("inpaint: one candidate waiting", ok)
    app.act("accept-result")
    app.pump(0.1)
    check("accept: result applied, image dirty", app.state("candidates") == 0 and app.state("dirty") is True)
    app.act("save-as", GLib.Variant("s", out))
    app.wait(lambda: os.path.exists(out), 5, "the saved file")
    _, _, before = pixels(img)
    w, h, after = pixels(out)
    outside = sum(before[y][x] != after[y][x] for y in range(H) for x in range(W) if not in_mask(x, y))
    inside = sum(before[y][x] != after[y][x] for y in range(H) for x in range(W) if in_mask(x, y))
    check(f"saved image has the input's size {w}x{h}", (w, h) == (W, H))
    check(f"feathered paste-back: no pixel outside the mask changed ({outside} differ)", outside == 0)
    check(f"the masked region changed ({inside} pixels)", inside > 0)
    check("saving clears dirty", app.state("dirty") is False)
    saved = GdkPixbuf.Pixbuf.new_from_file(out)
    check(f"saved PNG carries prompt and seed ({saved.get_option('tEXt::MAGVLT prompt')!r}, "
          f"{saved.get_option('tEXt::MAGVLT seed')!r})",
          saved.get_option("tEXt::MAGVLT prompt") == "a red apple on a blue background"
          and saved.get_option("tEXt::MAGVLT seed") == "3")
    check(f"saved PNG names the job as the CLI does ({saved.get_option('tEXt::MAGVLT job')!r})",
          saved.get_option("tEXt::MAGVLT job") == "inpaint")
    # enough to make it again: the model and the temperature scale too (default 1, C-locale number)
    # and the text guidance the image steps ran with (this model file has none: 0)
    check(f"saved PNG names the model ({saved.get_option('tEXt::MAGVLT model')!r}), the "
          f"temperature scale ({saved.get_option('tEXt::MAGVLT temperature scale')!r}) and the "
          f"guidance ({saved.get_option('tEXt::MAGVLT guidance')!r})",
          saved.get_option("tEXt::MAGVLT model") == app.state("model-name")
          and saved.get_option("tEXt::MAGVLT temperature scale") == "1.00"
          and saved.get_option("tEXt::MAGVLT guidance") == "0.00")

    # no lost work: the opened file is never written without an explicit save to it
    check("the opened image file is unchanged after inpaint, accept and save-as elsewhere", sha256(img) == img_sha)

    app.act("screenshot", GLib.Variant("s", shot))
    app.wait(lambda: os.path.exists(shot), 5, "the screenshot")
    sw, sh, sp = pixels(shot)
    colours = {sp[y][x] for y in range(0, sh, 7) for x in range(0, sw, 7)}
    check(f"screenshot {sw}x{sh} with {len(colours)} colours", sw > 300 and sh > 200 and len(colours) > 20)

    # bad inputs: a message in last-error (shown as a toast), the app keeps running
    folder = os.path.join(tmp, "a folder.png")
    os.mkdir(folder)
    zero = os.path.join(tmp, "zero.png")
    open(zero, "wb").close()
    fifo = os.path.join(tmp, "pipe.png")
    os.mkfifo(fifo)  # opening it would block forever
    ampersand = os.path.join(tmp, "Tom & Jerry <1>.png")  # toast titles are markup
    with open(ampersand, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n broken")
    for what, action, param, expect in (
            ("missing file", "open", os.path.join(tmp, "nope.png"), "does not exist"),
            ("corrupt PNG", "open", corrupt, corrupt),
            ("corrupt mask", "load-mask", corrupt, corrupt),
            ("a folder", "open", folder, "is a folder"),
            ("an empty file", "open", zero, "is empty"),
            ("a FIFO", "open", fifo, "not a regular file"),
            ("a name with & and <", "open", ampersand, "Tom & Jerry <1>.png")):
        app.act(action, GLib.Variant("s", param))
        app.pump(0.3)
        err = app.state("last-error") or ""
        check(f"{what}: last-error {err!r}, app alive", expect in err and app.alive())
    app.act("load-mask", GLib.Variant("s", empty))
    app.act("inpaint")
    app.pump(0.3)
    err = app.state("last-error") or ""
    check(f"empty mask: last-error {err!r}", "empty" in err and app.alive())
    check("no job started for the empty mask", app.state("busy") is False)

    # a save that cannot complete (the target is a folder): a message, the folder untouched and
    # no temporary file left behind (saves go to a temporary file renamed over the target)
    blocked = os.path.join(tmp, "blocked.png")
    os.mkdir(blocked)
    with open(os.path.join(blocked, "keep"), "w") as f:
        f.write("keep")
    app.act("save-as", GLib.Variant("s", blocked))
    app.wait(lambda: "blocked.png" in (app.state("last-error") or ""), 5, "the save error")
    leftovers = [n for n in os.listdir(tmp) if n.startswith(".magvlt-save-")]
    check(f"failed save: {app.state('last-error')!r}, target untouched, temporary files left: {leftovers}",
          "blocked.png" in (app.state("last-error") or "") and os.listdir(blocked) == ["keep"] and not leftovers)

    # replacing a file keeps its permissions (a private image stays private)
    private = os.path.join(tmp, "private.png")
    app.act("save-as", GLib.Variant("s", private))
    app.wait(lambda: os.path.exists(private), 5, "the private save")
    os.chmod(private, 0o600)
    before_ino = os.stat(private).st_ino
    app.act("save-as", GLib.Variant("s", private))
    app.wait(lambda: os.stat(private).st_ino != before_ino, 5, "the second private save")
    mode = os.stat(private).st_mode & 0o777
    check(f"a replaced file keeps its permissions ({oct(mode)})", mode == 0o600)

    # after the failed opens, the refused job and the failed save, the canvas is what it was
    again = os.path.join(tmp, "again.png")
    app.act("save-as", GLib.Variant("s", again))
    app.wait(lambda: os.path.exists(again), 5, "the second save")
    check("after the failures the canvas still holds the accepted image, pixel for pixel",
          os.path.exists(again) and pixels(again)[2] == pixels(out)[2])

    # a broken model file: a dialog and last-error; the loaded model stays usable
    app.act("use-model", GLib.Variant("s", corrupt))
    app.wait(lambda: "could not be loaded" in (app.state("last-error") or ""), 10, "the model error")
    check(f"broken model file: {app.state('last-error')!r}, previous model kept",
          "could not be loaded" in (app.state("last-error") or "") and app.alive()
          and app.state("model-loaded") is True)

    # importing the official tiny checkpoint (its config.yaml lies next to it)
    app.act("import-model", GLib.Variant("s", official_ckpt))
    # ("Model imported" is a toast, so also in last-error, before the model loads; the broken
    # model's "could not be loaded" is still there from the step before)
    app.wait(lambda: app.state("model-name") == "tiny-magvlt"
             or "could not be imported" in (app.state("last-error") or ""), 120, "the import")
    imported = os.path.join(data_home, "magvlt", "models", "tiny-magvlt.gguf")
    check(f"import-model converted the official checkpoint and switched to it ({app.state('model-name')})",
          app.state("model-name") == "tiny-magvlt" and os.path.exists(imported))

    app.quit()
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
