#!/usr/bin/env python3
"""Minimal GGUF v3 writer and reader (little-endian, F32/F16 tensors only).

Layout written (see model-runtime/FORMAT.md and the GGUF spec):

    magic "GGUF" | u32 version=3 | u64 n_tensors | u64 n_kv
    n_kv x       (string key, u32 value type, value)
    n_tensors x  (string name, u32 n_dims, u64 dims[n_dims] innermost first, u32 ggml type, u64 offset)
    zero padding up to the first multiple of `alignment`
    tensor data, each tensor padded to a multiple of `alignment`; offsets are relative to the data start

A GGUF string is a u64 byte length followed by UTF-8 bytes (no terminator). Values are typed
explicitly by the caller (`GGUFWriter.add_u32`, `add_f32`, `add_string`, `add_array_u32`, ...),
so nothing is guessed from Python types.

Tensors may be given as arrays or as zero-argument callables that return the array when the
data section is written, so a multi-GB file never needs all its tensors in memory at once.

Run as a script to print the header and tensor table of a GGUF file:
    python3 gguf_writer.py MODEL.gguf
"""
from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# GGUF metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
               FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
TYPE_NAMES = {UINT8: "u8", INT8: "i8", UINT16: "u16", INT16: "i16", UINT32: "u32", INT32: "i32",
              FLOAT32: "f32", BOOL: "bool", STRING: "string", ARRAY: "array", UINT64: "u64",
              INT64: "i64", FLOAT64: "f64"}

# ggml tensor types supported here.
GGML_F32, GGML_F16 = 0, 1
_GGML_NP = {GGML_F32: np.dtype("<f4"), GGML_F16: np.dtype("<f2")}

ArrayLike = Union[np.ndarray, Callable[[], np.ndarray]]


@dataclass
class Value:
    """A typed metadata value. For ARRAY, `elem_type` is the element type and `value` a list."""
    type: int
    value: Any
    elem_type: int = -1


@dataclass
class _TensorInfo:
    name: str
    shape: Tuple[int, ...]  # NumPy order, outermost first
    ggml_type: int
    data: ArrayLike
    offset: int = 0

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * _GGML_NP[self.ggml_type].itemsize


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _pack_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pack_scalar(vtype: int, v: Any) -> bytes:
    if vtype == STRING:
        return _pack_string(v)
    if vtype not in _SCALAR_FMT:
        raise ValueError(f"unsupported scalar GGUF type {vtype}")
    return struct.pack(_SCALAR_FMT[vtype], v)


def _pack_value(val: Value) -> bytes:
    if val.type != ARRAY:
        return _pack_scalar(val.type, val.value)
    if val.elem_type in (ARRAY, -1):
        raise ValueError("GGUF arrays need a scalar element type (nested arrays are not allowed)")
    out = [struct.pack("<IQ", val.elem_type, len(val.value))]
    out += [_pack_scalar(val.elem_type, v) for v in val.value]
    return b"".join(out)


class GGUFWriter:
    """Collects metadata and tensors, then writes the whole file with `write(path)`."""

    def __init__(self, alignment: int = DEFAULT_ALIGNMENT) -> None:
        if alignment < 8 or alignment & (alignment - 1):
            raise ValueError("alignment must be a power of two >= 8")
        self.alignment = alignment
        self.kv: Dict[str, Value] = {}
        self.tensors: List[_TensorInfo] = []
        if alignment != DEFAULT_ALIGNMENT:
            self.add_u32("general.alignment", alignment)

    # -- metadata -------------------------------------------------------------------------------
    def add(self, key: str, value: Value) -> None:
        if key in self.kv:
            raise ValueError(f"duplicate metadata key {key!r}")
        self.kv[key] = value

    def add_u32(self, key: str, v: int) -> None:
        if not 0 <= int(v) < 2**32:
            raise ValueError(f"{key}: {v} does not fit in u32")
        self.add(key, Value(UINT32, int(v)))

    def add_u64(self, key: str, v: int) -> None:
        self.add(key, Value(UINT64, int(v)))

    def add_i32(self, key: str, v: int) -> None:
        self.add(key, Value(INT32, int(v)))

    def add_f32(self, key: str, v: float) -> None:
        self.add(key, Value(FLOAT32, float(v)))

    def add_bool(self, key: str, v: bool) -> None:
        self.add(key, Value(BOOL, bool(v)))

    def add_string(self, key: str, v: str) -> None:
        self.add(key, Value(STRING, str(v)))

    def add_array_u32(self, key: str, vs: Sequence[int]) -> None:
        self.add(key, Value(ARRAY, [int(v) for v in vs], UINT32))

    def add_array_string(self, key: str, vs: Sequence[str]) -> None:
        self.add(key, Value(ARRAY, [str(v) for v in vs], STRING))

    # -- tensors --------------------------------------------------------------------------------
    def add_tensor(self, name: str, data: ArrayLike, f16: bool = False,
                   shape: Sequence[int] | None = None) -> None:
        """Add a tensor stored as F16 (`f16=True`) or F32. `data` is an array, or a callable
        returning it at write time (then `shape` is required)."""
        if any(t.name == name for t in self.tensors):
            raise ValueError(f"duplicate tensor name {name!r}")
        if len(name.encode("utf-8")) > 256:
            raise ValueError(f"tensor name too long: {name!r}")
        if shape is None:
            if callable(data):
                raise ValueError(f"{name}: shape is required for lazily produced tensors")
            shape = np.shape(data)
        shape = tuple(int(d) for d in shape)
        if not 1 <= len(shape) <= 4 or min(shape) < 1:
            raise ValueError(f"{name}: unsupported shape {shape} (1..4 dims, each >= 1)")
        self.tensors.append(_TensorInfo(name, shape, GGML_F16 if f16 else GGML_F32, data))

    # -- output ---------------------------------------------------------------------------------
    def write(self, path: str) -> None:
        offset = 0
        for t in self.tensors:
            t.offset = offset
            offset += _pad(t.nbytes, self.alignment)
        with open(path, "wb") as f:
            f.write(GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv)))
            for key, val in self.kv.items():
                f.write(_pack_string(key) + struct.pack("<I", val.type) + _pack_value(val))
            for t in self.tensors:
                dims = t.shape[::-1]  # GGUF: innermost (contiguous) axis first
                f.write(_pack_string(t.name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims,
                                                           t.ggml_type, t.offset))
            f.write(b"\0" * (_pad(f.tell(), self.alignment) - f.tell()))
            data_start = f.tell()
            for t in self.tensors:
                arr = t.data() if callable(t.data) else t.data
                arr = np.ascontiguousarray(arr, dtype=_GGML_NP[t.ggml_type])
                if arr.shape != t.shape:
                    raise ValueError(f"{t.name}: produced shape {arr.shape}, declared {t.shape}")
                assert f.tell() - data_start == t.offset
                arr.tofile(f)
                f.write(b"\0" * (_pad(t.nbytes, self.alignment) - t.nbytes))
                del arr


# ---------------------------------------------------------------------------------------------
# Reader (for round-trip self-checks; the engine has its own C reader)
# ---------------------------------------------------------------------------------------------
class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise ValueError("string runs past the end of the file")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8")
        self.pos += n
        return s

    def value(self, vtype: int) -> Any:
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, count = self.take("<IQ")
            if etype == ARRAY:
                raise ValueError("nested arrays are not supported")
            return Value(ARRAY, [self.value(etype) for _ in range(count)], etype)
        return self.take(_SCALAR_FMT[vtype])


def read_gguf(path: str, typed: bool = False) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read a GGUF v3 file. Returns (metadata, tensors): metadata maps key -> Python value (a list
    for arrays), or key -> `Value` when `typed` is true; tensors map name -> read-only NumPy array
    (memory-mapped, NumPy shape order, dtype float32 or float16 as stored)."""
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(memoryview(mm))
    if bytes(cur.buf[:4]) != GGUF_MAGIC:
        raise ValueError(f"{path}: not a GGUF file (bad magic)")
    cur.pos = 4
    version, n_tensors, n_kv = cur.take("<IQQ")
    if version != GGUF_VERSION:
        raise ValueError(f"{path}: GGUF version {version}, expected {GGUF_VERSION}")
    meta: Dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        vtype = cur.take("<I")
        raw = cur.value(vtype)
        if isinstance(raw, Value):
            meta[key] = raw if typed else raw.value
        else:
            meta[key] = Value(vtype, raw) if typed else raw
    align_val = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    alignment = align_val.value if isinstance(align_val, Value) else align_val
    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.take("<I")
        dims = [cur.take("<Q") for _ in range(n_dims)]
        ggml_type, offset = cur.take("<IQ")
        if ggml_type not in _GGML_NP:
            raise ValueError(f"tensor {name}: unsupported ggml type {ggml_type}")
        if offset % alignment:
            raise ValueError(f"tensor {name}: offset {offset} not aligned to {alignment}")
        infos.append((name, tuple(dims[::-1]), ggml_type, offset))
    data_start = _pad(cur.pos, alignment)
    tensors: Dict[str, np.ndarray] = {}
    for name, shape, ggml_type, offset in infos:
        dt = _GGML_NP[ggml_type]
        count = int(np.prod(shape, dtype=np.int64))
        start = data_start + offset
        if start + count * dt.itemsize > len(mm):
            raise ValueError(f"tensor {name}: data runs past the end of the file")
        tensors[name] = mm[start:start + count * dt.itemsize].view(dt).reshape(shape)
    return meta, tensors


def main() -> None:
    ap = argparse.ArgumentParser(description="Print the metadata and tensor table of a GGUF v3 file "
                                             "(uses the minimal reader in this module).")
    ap.add_argument("path", help="GGUF file to inspect")
    ap.add_argument("--max-array", type=int, default=16, help="print at most this many array elements")
    args = ap.parse_args()
    meta, tensors = read_gguf(args.path, typed=True)
    for key, val in meta.items():
        if val.type == ARRAY:
            shown = val.value[:args.max_array]
            more = " ..." if len(val.value) > args.max_array else ""
            print(f"{key} [array of {TYPE_NAMES[val.elem_type]} x{len(val.value)}] = {shown}{more}")
        else:
            print(f"{key} [{TYPE_NAMES[val.type]}] = {val.value!r}")
    total = 0
    for name, arr in tensors.items():
        total += arr.nbytes
        print(f"{name} {list(arr.shape)} {arr.dtype}")
    print(f"{len(tensors)} tensors, {total / 2**20:.1f} MiB of tensor data")


if __name__ == "__main__":
    main()
