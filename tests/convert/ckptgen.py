"""Writing PyTorch-format checkpoints byte by byte, without torch: a pickle
assembler that emits what torch.save emits (protocol 2), a ZIP writer with
stored or deflated entries and optional ZIP64 records, a reader for the
official tiny checkpoints' records, and safetensors output. Used by
test_convert_inputs.py to build the hostile corpus and the alternative
containers at test time (nothing here is executed by the converter).
"""
from __future__ import annotations

import json
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple


# ---------------------------------------------------------------------------------------------
# Records of a torch checkpoint's state dict
# ---------------------------------------------------------------------------------------------
@dataclass
class TensorRec:
    key: str
    cls: str                 # storage class name in module torch, e.g. "FloatStorage"
    storage: str             # storage key: the blob is <prefix>/data/<storage>
    numel: int               # storage elements
    offset: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]
    cls_module: str = "torch"


@dataclass
class Checkpoint:
    tensors: List[TensorRec]
    blobs: Dict[str, bytes]  # storage key -> bytes
    prefix: str = "archive"
    extras: bytes = b""      # extra top-level items (already assembled pickle code)


class _Stub:
    """Stands in for every global while reading the fixtures with Python's
    own unpickler: calls are recorded, nothing is imported."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):
        return ("call", self.module, self.name, args)


class _Reader(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            import collections
            return collections.OrderedDict
        return _Stub(module, name)

    def persistent_load(self, pid):
        return ("storage", pid)


def read_checkpoint(path: str) -> Checkpoint:
    """The state dict of a torch.save ZIP checkpoint as records + blobs."""
    z = zipfile.ZipFile(path)
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    prefix = pkl[: -len("/data.pkl")]
    import io
    root = _Reader(io.BytesIO(z.read(pkl))).load()
    sd = root["state_dict"] if "state_dict" in root else root
    recs, blobs = [], {}
    for key, v in sd.items():
        assert v[0] == "call" and v[2] == "_rebuild_tensor_v2", key
        st, off, size, stride = v[3][:4]
        _, (_, cls, skey, _loc, numel) = st
        recs.append(TensorRec(key, cls.name, skey, numel, off, tuple(size), tuple(stride)))
        if skey not in blobs:
            blobs[skey] = z.read(f"{prefix}/data/{skey}")
    return Checkpoint(recs, blobs, prefix)


# ---------------------------------------------------------------------------------------------
# Pickle assembler (protocol 2 opcodes, as torch.save writes them)
# ---------------------------------------------------------------------------------------------
class Asm:
    def __init__(self) -> None:
        self.b = bytearray(b"\x80\x02")

    def raw(self, b: bytes) -> "Asm":
        self.b += b
        return self

    def str(self, s: str) -> "Asm":
        e = s.encode("utf-8")
        return self.raw(b"X" + struct.pack("<I", len(e)) + e)

    def int(self, i: int) -> "Asm":
        if 0 <= i < 256:
            return self.raw(b"K" + bytes([i]))
        if 0 <= i < 65536:
            return self.raw(b"M" + struct.pack("<H", i))
        if -2**31 <= i < 2**31:
            return self.raw(b"J" + struct.pack("<i", i))
        n = (i.bit_length() + 8) // 8
        return self.raw(b"\x8a" + bytes([n]) + i.to_bytes(n, "little", signed=True))

    def glob(self, module: str, name: str) -> "Asm":
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def mark(self) -> "Asm":
        return self.raw(b"(")

    def tuple(self) -> "Asm":
        return self.raw(b"t")

    def int_tuple(self, v: Sequence[int]) -> "Asm":
        if not v:
            return self.raw(b")")
        self.mark()
        for x in v:
            self.int(x)
        return self.tuple()

    def ordered_dict(self) -> "Asm":
        return self.glob("collections", "OrderedDict").raw(b")R")

    def tensor(self, t: TensorRec) -> "Asm":
        self.glob("torch._utils", "_rebuild_tensor_v2").mark()
        self.mark().str("storage").glob(t.cls_module, t.cls).str(t.storage).str("cpu")
        self.int(t.numel).tuple().raw(b"Q")
        self.int(t.offset).int_tuple(t.size).int_tuple(t.stride).raw(b"\x89")
        self.ordered_dict()
        return self.tuple().raw(b"R")


def state_dict_pickle(ck: Checkpoint, values: Optional[Dict[str, bytes]] = None,
                      top_key: str = "state_dict") -> bytes:
    """{top_key: OrderedDict(key -> tensor)} plus ck.extras; `values` replaces the pickle code
    of some entries (key -> assembled code pushing one value)."""
    a = Asm().raw(b"}")
    a.mark()
    a.str(top_key).ordered_dict().mark()
    for t in ck.tensors:
        a.str(t.key)
        if values and t.key in values:
            a.raw(values[t.key])
        else:
            a.tensor(t)
    a.raw(b"u")   # SETITEMS into the OrderedDict
    a.raw(ck.extras)
    a.raw(b"u.")  # SETITEMS into the top-level dict, STOP
    return bytes(a.b)


# ---------------------------------------------------------------------------------------------
# ZIP writer
# ---------------------------------------------------------------------------------------------
def write_zip(entries: Sequence[Tuple[str, bytes]], *, zip64: bool = False,
              deflate: Sequence[str] = (), align: int = 64,
              duplicate: Optional[str] = None) -> bytes:
    """A ZIP archive of stored entries (deflated for names in `deflate`), data aligned like
    torch's; zip64=True writes ZIP64 extra fields and end records even though nothing needs
    them (saturated 32-bit fields, as a > 4 GiB checkpoint has)."""
    out = bytearray()
    central = bytearray()
    items = list(entries)
    if duplicate:
        items.append((duplicate, dict(items)[duplicate]))
    for name, data in items:
        nb = name.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        method = 8 if name in deflate else 0
        body = data
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = c.compress(data) + c.flush()
        off = len(out)
        z64 = struct.pack("<HHQQ", 1, 16, len(data), len(body)) if zip64 else b""
        pad = (-(off + 30 + len(nb) + len(z64) + 4)) % align if align else 0
        extra = z64 + (struct.pack("<HH", 0xCAFE, pad) + b"Z" * pad if align else b"")
        size32 = 0xFFFFFFFF if zip64 else len(data)
        csize32 = 0xFFFFFFFF if zip64 else len(body)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, method, 0, 0x21,
                           crc, csize32, size32, len(nb), len(extra))
        out += nb + extra + body
        cz64 = struct.pack("<HHQQQ", 1, 24, len(data), len(body), off) if zip64 else b""
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, 0,
                               method, 0, 0x21, crc, csize32, size32, len(nb), len(cz64), 0, 0,
                               0, 0, 0xFFFFFFFF if zip64 else off)
        central += nb + cz64
    cd_off = len(out)
    out += central
    n = len(items)
    if zip64:
        eocd64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                           0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_off, 0)
    return bytes(out)


def torch_zip(ck: Checkpoint, pkl: bytes, **kw) -> bytes:
    entries = [(f"{ck.prefix}/data.pkl", pkl)]
    entries += [(f"{ck.prefix}/data/{k}", v) for k, v in ck.blobs.items()]
    entries.append((f"{ck.prefix}/version", b"3\n"))
    return write_zip(entries, **kw)


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------
_ST_DTYPES = {"FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2),
              "BFloat16Storage": ("BF16", 2), "DoubleStorage": ("F64", 8),
              "LongStorage": ("I64", 8), "IntStorage": ("I32", 4)}


def safetensors(ck: Checkpoint, header_patch: Optional[dict] = None) -> bytes:
    """The state dict as safetensors (contiguous tensors only)."""
    header: Dict[str, dict] = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for t in ck.tensors:
        dt, es = _ST_DTYPES[t.cls]
        n = 1
        for s in t.size:
            n *= s
        blob = ck.blobs[t.storage][t.offset * es:(t.offset + n) * es]
        header[t.key] = {"dtype": dt, "shape": list(t.size),
                         "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if header_patch:
        for k, v in header_patch.items():
            if v is None:
                header.pop(k, None)
            else:
                header[k] = v
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + bytes(data)
