#!/usr/bin/env python3
"""`magvlt convert` on hostile and unusual inputs, generated here at test time (Python's
standard library only; ckptgen.py writes the files byte by byte).

Usage: test_convert_inputs.py MAGVLT OFFICIAL_DIR WORK_DIR

Every hostile file must give exit status 1 (never a crash or a signal), a message that
names the problem, no output file and no temporary file. Files whose pickles call
os.system / posix.system / builtins.eval carry a command that would create a marker
file; the markers must not exist afterwards (and a control run of Python's own unpickler
on the same payload shows that the payload is live). The alternative containers (ZIP64
records, archives re-packed by Python's zipfile, safetensors, a payload outside the
state dict) must convert to exactly the tensors of the original.
"""
from __future__ import annotations

import glob
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckptgen  # noqa: E402
from ckptgen import Asm, Checkpoint  # noqa: E402

MAGVLT, DATA, WORK = sys.argv[1:4]
CONFIG = os.path.join(DATA, "config.yaml")
VQ_CKPT = os.path.join(DATA, "tiny-vqgan.ckpt")
MAGVLT_CKPT = os.path.join(DATA, "tiny-magvlt.ckpt")
passed = failed = 0


def report(ok: bool, msg: str) -> None:
    global passed, failed
    print(("ok   " if ok else "FAIL ") + msg)
    if ok:
        passed += 1
    else:
        failed += 1


def convert(args, out):
    if os.path.exists(out):
        os.unlink(out)
    r = subprocess.run([MAGVLT, "convert", "-q", *args, "-o", out], capture_output=True,
                       text=True, errors="replace", timeout=120)
    return r.returncode, r.stderr + r.stdout


def gguf_tensors(path):
    """name -> (type, dims, bytes) of a GGUF file (minimal reader, enough for equality)."""
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)
    p = 24

    def s():
        nonlocal p
        n = struct.unpack_from("<Q", b, p)[0]
        p += 8 + n
        return b[p - n:p].decode()

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    meta = {}
    for _ in range(n_kv):
        k = s()
        t = struct.unpack_from("<I", b, p)[0]
        p += 4
        start = p
        if t == 8:
            s()
        elif t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            for _ in range(n):
                if et == 8:
                    s()
                else:
                    p += sizes[et]
        else:
            p += sizes[t]
        meta[k] = b[start:p]
    infos = []
    for _ in range(n_t):
        name = s()
        nd = struct.unpack_from("<I", b, p)[0]
        dims = struct.unpack_from(f"<{nd}Q", b, p + 4)
        typ, off = struct.unpack_from("<IQ", b, p + 4 + 8 * nd)
        p += 4 + 8 * nd + 12
        infos.append((name, typ, dims, off))
    data = (p + 31) // 32 * 32
    out = {}
    for name, typ, dims, off in infos:
        n = 1
        for d in dims:
            n *= d
        out[name] = (typ, dims, b[data + off:data + off + n * (4 if typ == 0 else 2)])
    return meta, out


def leftovers(out):
    return glob.glob(glob.escape(out) + ".tmp-*")


def hostile(name, content, expect, *, as_ckpt=False, config=CONFIG, extra=()):
    """Writes the file, converts it, and checks the failure."""
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(content)
    out = os.path.join(WORK, name + ".gguf")
    args = (["--ckpt", path, "--vqgan", VQ_CKPT] if as_ckpt else ["--vqgan", path])
    args += ["--config", config] if config else []
    rc, msg = convert([*args, *extra], out)
    ok = rc == 1 and expect in msg and not os.path.exists(out) and not leftovers(out)
    report(ok, f"{name}: exit {rc}, {msg.strip().splitlines()[-1][:150] if msg.strip() else ''}")
    if not ok:
        print(f"     wanted exit 1 and a message with {expect!r}; got:\n     " +
              msg.strip().replace("\n", "\n     "))


def same_tensors(a, b, what, ignore=("general.name",)):
    ma, ta = gguf_tensors(a)
    mb, tb = gguf_tensors(b)
    keys_a = {k for k in ma if not k.startswith("magvlt.source.") and k not in ignore}
    keys_b = {k for k in mb if not k.startswith("magvlt.source.") and k not in ignore}
    ok = list(ta) == list(tb) and all(ta[k] == tb[k] for k in ta) and keys_a == keys_b and all(
        ma[k] == mb[k] for k in keys_a)
    report(ok, f"{what}: the same metadata and tensors as the original")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    vq = ckptgen.read_checkpoint(VQ_CKPT)
    ref = os.path.join(WORK, "reference.gguf")
    rc, msg = convert(["--vqgan", VQ_CKPT, "--config", CONFIG], ref)
    report(rc == 0, f"the tiny VQGAN converts as the reference ({msg.strip()[:100]})")

    def ck_with(pkl: bytes, **kw) -> bytes:
        return ckptgen.torch_zip(vq, pkl, **kw)

    def sd_with(**values) -> bytes:
        return ck_with(ckptgen.state_dict_pickle(vq, values=values))

    # --- controls: the generator's own checkpoint equals torch's -------------------------
    ok_path = os.path.join(WORK, "regenerated.ckpt")
    open(ok_path, "wb").write(ck_with(ckptgen.state_dict_pickle(vq)))
    out = ok_path + ".gguf"
    rc, msg = convert(["--vqgan", ok_path, "--config", CONFIG], out)
    report(rc == 0, f"regenerated checkpoint converts ({msg.strip()[:80]})")
    if rc == 0:
        same_tensors(ref, out, "regenerated checkpoint")

    # --- code execution attempts: nothing may run ----------------------------------------
    markers = {k: os.path.join(WORK, f"MARKER-{k}") for k in ("os", "posix", "eval", "extras")}

    def call(module, fn, arg):
        return bytes(Asm().glob(module, fn).mark().str(arg).tuple().raw(b"R").b[2:])

    touch = {k: f"touch {v}" for k, v in markers.items()}
    evil_eval = f"__import__('os').system('touch {markers['eval']}')"
    payload = call("os", "system", touch["os"])
    # control: Python's own unpickler does run this payload
    ctrl = markers["os"] + "-control"
    pickle.loads(b"\x80\x02" + call("os", "system", f"touch {ctrl}") + b".")
    report(os.path.exists(ctrl), "control: Python's pickle.loads runs the os.system payload")
    if os.path.exists(ctrl):
        os.unlink(ctrl)

    hostile("os-system-in-state-dict.ckpt", sd_with(**{"encoder.conv_in.weight": payload}),
            "is os.system('touch")
    a = Asm().raw(b"}").mark().str("state_dict").raw(call("posix", "system", touch["posix"]))
    hostile("posix-system-as-state-dict.ckpt", ck_with(bytes(a.raw(b"u.").b)),
            "'state_dict' is posix.system(")
    a = Asm().raw(call("builtins", "eval", evil_eval)).raw(b".")
    hostile("builtins-eval-top-level.ckpt", ck_with(bytes(a.b)),
            "the checkpoint holds builtins.eval(")
    # a payload outside the state dict: converts, and still runs nothing
    extras_ck = replace(vq, extras=bytes(Asm().str("hyper_parameters").raw(
        call("os", "system", touch["extras"])).str("loops").glob("evil.module", "Loop")
        .raw(b")\x81").raw(b"}").str("x").raw(call("subprocess", "call", touch["extras"]))
        .raw(b"sb").b[2:]))
    path = os.path.join(WORK, "payload-in-extras.ckpt")
    open(path, "wb").write(ckptgen.torch_zip(extras_ck, ckptgen.state_dict_pickle(extras_ck)))
    rc, msg = convert(["--vqgan", path, "--config", CONFIG], path + ".gguf")
    report(rc == 0, "payload outside the state dict (os.system, NEWOBJ + BUILD of an unknown "
                    f"class): converts, the payload stays data ({msg.strip()[:80]})")
    if rc == 0:
        same_tensors(ref, path + ".gguf", "payload-in-extras")

    # --- unknown globals and malformed pickles -------------------------------------------
    a = Asm().raw(b"}").mark().str("state_dict").glob("evil_module", "Thing").raw(b")\x81u.")
    hostile("unknown-global-state-dict.ckpt", ck_with(bytes(a.b)),
            "'state_dict' is evil_module.Thing(")
    hostile("memo-out-of-range.ckpt", ck_with(b"\x80\x02}q\x00h\x07."),
            "memo index 7 was never stored")
    hostile("long-binget-out-of-range.ckpt", ck_with(b"\x80\x02}r\x00\x00\x00\x00j\xff\xff\xff\x7f."),
            "memo index 2147483647 was never stored")
    hostile("deep-marks.ckpt", ck_with(b"\x80\x02" + b"(" * 1000000 + b"."),
            "more than 10000 nested MARKs")
    hostile("oversize-binunicode.ckpt", ck_with(b"\x80\x02X\xf0\xff\xff\xffabc."),
            "needs 4294967280 more bytes")
    hostile("oversize-binbytes.ckpt", ck_with(b"\x80\x02B\x00\x00\x00\x80abc."),
            "needs 2147483648 more bytes")
    hostile("oversize-binunicode8.ckpt",
            ck_with(b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b"."), "more bytes")
    hostile("truncated-pickle.ckpt", ck_with(ckptgen.state_dict_pickle(vq)[:-200]),
            "truncated")
    hostile("unknown-opcode.ckpt", ck_with(b"\x80\x02\xff."), "unknown opcode 0xff")
    hostile("protocol-0-opcode.ckpt", ck_with(b"\x80\x02I1\n."), "protocol-0 text opcode INT")
    hostile("protocol-6.ckpt", ck_with(b"\x80\x06}."), "protocol 6 is newer")
    hostile("stack-underflow.ckpt", ck_with(b"\x80\x02R."), "the stack is empty")
    hostile("bad-persistent-id.ckpt",
            sd_with(**{"encoder.conv_in.weight": bytes(Asm().str("hello").raw(b"Q").b[2:])}),
            "not a torch storage record")
    hostile("non-string-key.ckpt",
            ck_with(bytes(Asm().raw(b"}").mark().str("state_dict").ordered_dict()
                          .int(5).tensor(vq.tensors[0]).raw(b"su.").b)),
            "which is not a string")

    # --- storages and tensor views -------------------------------------------------------
    def mutate(key, **changes):
        ck = replace(vq, tensors=[replace(t, **changes) if t.key == key else t
                                  for t in vq.tensors])
        return ckptgen.torch_zip(ck, ckptgen.state_dict_pickle(ck))

    cb = "quantize.embedding.weight"
    hostile("storage-key-missing.ckpt", mutate(cb, storage="999"),
            "its storage 'tiny-vqgan/data/999' is not in the archive")
    hostile("tensor-past-storage.ckpt", mutate(cb, offset=10),
            "extends past its storage of 1024 elements")
    hostile("storage-larger-than-blob.ckpt", mutate(cb, numel=4096),
            "holds 4096 bytes")
    hostile("non-contiguous.ckpt", mutate(cb, stride=(1, 64)), "it is not contiguous")
    hostile("wrong-dtype-class.ckpt", mutate(cb, cls="ComplexFloatStorage"),
            "is stored as torch.ComplexFloatStorage")
    hostile("storage-class-not-torch.ckpt", mutate(cb, cls_module="os", cls="system"),
            "is stored as os.system")
    hostile("integer-weights.ckpt", mutate(cb, cls="IntStorage"),
            "is int32; model weights are floating point")

    # --- containers ----------------------------------------------------------------------
    good_pkl = ckptgen.state_dict_pickle(vq)
    hostile("compressed-entries.ckpt",
            ck_with(good_pkl, deflate=[f"{vq.prefix}/data.pkl"]), "is compressed (method 8")
    z64 = ck_with(good_pkl, zip64=True)
    eocd64 = z64.rfind(struct.pack("<I", 0x06064B50))
    hostile("zip64-locator-dangling.ckpt",
            z64[:eocd64] + b"\0\0\0\0" + z64[eocd64 + 4:], "no ZIP64 end record")
    loc = z64.rfind(struct.pack("<I", 0x07064B50))
    hostile("zip64-without-locator.ckpt", z64[:loc] + b"\0" * 20 + z64[loc + 20:],
            "no ZIP64 locator")
    hostile("truncated-zip.ckpt", ck_with(good_pkl)[:-5000], "truncated")
    body = bytearray(ck_with(good_pkl))
    blob = bytes(vq.blobs[vq.tensors[0].storage])
    at = body.find(blob)
    body[at + 3] ^= 0x40
    hostile("crc-mismatch.ckpt", bytes(body), "fails its CRC-32 check")
    hostile("duplicate-entry.ckpt",
            ck_with(good_pkl, duplicate=f"{vq.prefix}/data/{vq.tensors[0].storage}"),
            "has two entries named")
    hostile("no-data-pkl.zip", ckptgen.write_zip([("readme.txt", b"hello")]),
            "no entry '.../data.pkl'")
    hostile("not-a-checkpoint.bin", bytes(range(256)) * 8, "not a PyTorch checkpoint")
    hostile("legacy-torch.pt", bytes.fromhex("80028a0a6cfc9c46f9206aa85019") + b"\x00" * 64,
            "legacy PyTorch file")
    hostile("empty.ckpt", b"", "the file is empty")

    # --- checkpoint contents ---------------------------------------------------------------
    a = Asm().raw(b"}").mark().str("epoch").int(3).str("global_step").int(99).raw(b"u.")
    hostile("missing-state-dict.ckpt", ck_with(bytes(a.b)),
            "has no 'state_dict' (its top-level keys: epoch, global_step)")
    drop = replace(vq, tensors=[t for t in vq.tensors if t.key != "decoder.norm_out.bias"])
    hostile("missing-required-tensor.ckpt",
            ckptgen.torch_zip(drop, ckptgen.state_dict_pickle(drop)),
            "missing tensor decoder.norm_out.bias")
    hostile("shape-mismatch.ckpt", mutate("decoder.conv_out.bias", size=(2,), stride=(1,)),
            "tensor decoder.conv_out.bias: shape [2] but")
    bad_yaml = os.path.join(WORK, "config-ch64.yaml")
    open(bad_yaml, "w").write(open(CONFIG).read().replace("ch: 32", "ch: 64"))
    hostile("yaml-mismatch-vqgan.ckpt", open(VQ_CKPT, "rb").read(), "says ch 64",
            config=bad_yaml)
    bad_yaml2 = os.path.join(WORK, "config-layers3.yaml")
    open(bad_yaml2, "w").write(open(CONFIG).read().replace("n_layers: 2", "n_layers: 3"))
    hostile("yaml-mismatch-layers.ckpt", open(MAGVLT_CKPT, "rb").read(),
            "has 2 blocks (model.blocks.0 .. 1) but", as_ckpt=True, config=bad_yaml2)
    bad_yaml3 = os.path.join(WORK, "config-broken.yaml")
    open(bad_yaml3, "w").write("stage1: [unclosed\n")
    hostile("yaml-broken.ckpt", open(VQ_CKPT, "rb").read(), "YAML error", config=bad_yaml3)
    hostile("vqgan-as-ckpt.ckpt", open(VQ_CKPT, "rb").read(), "pass it with --vqgan",
            as_ckpt=True)
    # sampling values the engine would refuse at load: refused here, with the YAML key named,
    # rather than written into a file nothing loads
    for n, (old_line, new_line, expect) in enumerate([
            ("img_num_steps: 6", "img_num_steps: 0", "sampling.img_num_steps is 0; refinement steps must be 1 to 1000"),
            ("txt_temperature: 0.1", "txt_temperature: 0", "sampling.txt_temperature is 0; it must be in (0, 100]"),
            ("img_temperature_end: 0.6", "img_temperature_end: 250", "sampling.img_temperature_end is 250; it must be in (0, 100]"),
            ("txt_num_steps: 6", "txt_num_steps: 5000", "sampling.txt_num_steps is 5000; refinement steps must be 1 to 1000")]):
        bad = os.path.join(WORK, f"config-sampling{n}.yaml")
        open(bad, "w").write(open(CONFIG).read().replace(old_line, new_line))
        hostile(f"yaml-sampling{n}.ckpt", open(MAGVLT_CKPT, "rb").read(), expect, as_ckpt=True,
                config=bad)

    # --- safetensors --------------------------------------------------------------------------
    st_path = os.path.join(WORK, "tiny-vqgan.safetensors")
    open(st_path, "wb").write(ckptgen.safetensors(vq))
    rc, msg = convert(["--vqgan", st_path, "--config", CONFIG], st_path + ".gguf")
    report(rc == 0, f"safetensors input converts ({msg.strip()[:80]})")
    if rc == 0:
        same_tensors(ref, st_path + ".gguf", "safetensors")
    hostile("st-bad-offsets.safetensors", ckptgen.safetensors(vq, {
        cb: {"dtype": "F32", "shape": [64, 16], "data_offsets": [0, 99999999]}}),
        "data_offsets outside")
    hostile("st-size-mismatch.safetensors", ckptgen.safetensors(vq, {
        cb: {"dtype": "F32", "shape": [64, 17], "data_offsets": [0, 4096]}}), "spans 4096 bytes")
    hostile("st-bad-json.safetensors", struct.pack("<Q", 12) + b"{not json!!}", "not valid JSON")
    hostile("st-unknown-dtype.safetensors", ckptgen.safetensors(vq, {
        cb: {"dtype": "F8_E5M2", "shape": [64, 16], "data_offsets": [0, 1024]}}),
        "is stored as F8_E5M2")

    # --- other valid containers -------------------------------------------------------------
    z64_path = os.path.join(WORK, "zip64.ckpt")
    open(z64_path, "wb").write(z64)
    rc, msg = convert(["--vqgan", z64_path, "--config", CONFIG], z64_path + ".gguf")
    report(rc == 0, f"ZIP64 records (saturated fields, ZIP64 extra fields and end records) "
                    f"convert ({msg.strip()[:80]})")
    if rc == 0:
        same_tensors(ref, z64_path + ".gguf", "ZIP64")
    rz = os.path.join(WORK, "repacked.ckpt")
    with zipfile.ZipFile(VQ_CKPT) as src, zipfile.ZipFile(rz, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("tiny-vqgan/", "other-prefix/"),
                         src.read(info.filename))
    rc, msg = convert(["--vqgan", rz, "--config", CONFIG], rz + ".gguf")
    report(rc == 0, f"an archive re-packed by Python's zipfile (other prefix, unaligned data) "
                    f"converts ({msg.strip()[:80]})")
    if rc == 0:
        same_tensors(ref, rz + ".gguf", "re-packed archive")

    for k, m in markers.items():
        report(not os.path.exists(m), f"nothing ran: the {k} payload's marker file does not "
                                      "exist")
    n_files = len([f for f in os.listdir(WORK) if not f.endswith(".gguf")])
    report(n_files >= 20, f"{n_files} generated input files")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
