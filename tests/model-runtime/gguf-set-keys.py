#!/usr/bin/python3
"""gguf-set-keys.py SRC DST KEY=TYPE:VALUE...: a copy of the GGUF file SRC with the given key/values
set (TYPE u32, f32 or str), written to DST; the tensors are copied as stored. For the tests of a
model file's own sampling values (test-cli-sampling.py, test-worker.c).

    gguf-set-keys.py model.gguf own.gguf magvlt.sampling.img_num_steps=u32:3
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model-runtime",
                                "training"))
from gguf_writer import FLOAT32, STRING, UINT32, GGUFWriter, Value, read_gguf  # noqa: E402

TYPES = {"u32": (UINT32, int), "f32": (FLOAT32, float), "str": (STRING, str)}


def with_keys(src: str, dst: str, extra: dict) -> None:
    """extra: key -> gguf_writer.Value."""
    meta, tensors = read_gguf(src, typed=True)
    w = GGUFWriter()
    for k, v in {**meta, **extra}.items():
        if k != "general.alignment":
            w.add(k, v)
    for n, t in tensors.items():
        w.add_tensor(n, t, f16=t.dtype.itemsize == 2, shape=t.shape)
    w.write(dst)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    extra = {}
    for item in sys.argv[3:]:
        key, _, tv = item.partition("=")
        kind, _, val = tv.partition(":")
        if kind not in TYPES:
            sys.exit(f"gguf-set-keys: {item!r}: TYPE must be u32, f32 or str")
        vtype, conv = TYPES[kind]
        extra[key] = Value(vtype, conv(val))
    with_keys(sys.argv[1], sys.argv[2], extra)


if __name__ == "__main__":
    main()
