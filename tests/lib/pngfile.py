"""PNG files for the Python tests, standard library only: write_png() writes 8-bit grey / RGB(A)
images; read_png() reads 8-bit RGB(A) ones back with their text chunks (tEXt and uncompressed
iTXt, as the CLI and the app write them).

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from pngfile import read_png, write_png
"""
import struct
import zlib


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)


def write_png(path, w, h, channels, pixels):
    """Writes an 8-bit PNG (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA channels) to path and returns it;
    pixels: flat list of h*w*channels bytes, row-major."""
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    stride = w * channels
    raw = b"".join(b"\0" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def read_png(p):
    """(width, height, channels, flat pixel list, {text key: value})"""
    data = open(p, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, text = 8, b"", {}
    while pos < len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        d = data[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            w, h, depth, ctype, _, _, lace = struct.unpack(">IIBBBBB", d)
            assert depth == 8 and ctype in (2, 6) and lace == 0, (depth, ctype, lace)
            bpp = 3 if ctype == 2 else 4
        elif t == b"IDAT":
            idat += d
        elif t == b"tEXt":
            k, v = d.split(b"\0", 1)
            text[k.decode("latin-1")] = v.decode("latin-1")
        elif t == b"iTXt":
            k, rest = d.split(b"\0", 1)
            assert rest[0] == 0, "compressed iTXt"
            _lang, _tkey, value = rest[2:].split(b"\0", 2)
            text[k.decode("latin-1")] = value.decode("utf-8")
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    out, prev = [], [0] * stride
    for y in range(h):
        ft, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        cur = [0] * stride
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if ft == 0:
                p_ = 0
            elif ft == 1:
                p_ = a
            elif ft == 2:
                p_ = b
            elif ft == 3:
                p_ = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p_ = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p_) & 255
        out += cur
        prev = cur
    return w, h, bpp, out, text
