#!/bin/sh
# test-cli-vq.sh MAGVLT MODEL EXPECTED PYTHON TRAINING — `magvlt vq encode`
# and `magvlt vq decode` on the official tiny model (8x8 images, 4x4 codes):
# round trip against the official fixtures, the resize/crop path, image and
# code-file formats, and exit codes and messages on bad input.
# PYTHON needs numpy only; PNG files are written here and read with tests/lib/pngfile.py.
# The float32 OpenBLAS path throughout: the fixtures are float32 (auto would
# decode with bfloat16 convolutions on CPUs with AVX512-BF16; their own
# tolerances are test-vqgan-parity's and the regression test's).
export MAGVLT_BACKEND=openblas
magvlt=$1 model=$2 expected=$3 python=$4 training=$5
. "$(dirname "$0")/../lib/check.sh"
fixture_codes="53 11 23 10 35 32 57 61 57 46 51 46 35 59 0 53"

# Prints the codes of an image as one line of numbers (stderr kept apart).
codes_of () {  # codes_of IMAGE
  "$magvlt" vq encode -m "$model" -i "$1" 2>"$tmp/codes.err" | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}
check_codes () {  # check_codes NAME IMAGE EXPECTED_CODES
  got=$(codes_of "$2")
  if [ "$got" = "$3" ]; then
    echo "ok   $1"
    passed=$((passed + 1))
  else
    echo "FAIL $1: codes '$got', wanted '$3'"
    sed 's/^/     /' "$tmp/codes.err"
    failed=$((failed + 1))
  fi
}

cat >"$tmp/png.py" <<'EOF'
"""PNG files from arrays (8-bit, non-interlaced; tests/lib/pngfile.py reads them) and fixture helpers."""
import json, os, struct, sys, zlib
import numpy as np
sys.path.insert(0, os.environ["MAGVLT_TEST_LIB"])
import pngfile
from pngfile import chunk

def write_png(path, a, idat=None, size=None):
    a = np.asarray(a, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    w, h = size or (w, h)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw) if idat is None else idat) + chunk(b"IEND", b""))

def read_png(path):
    w, h, bpp, pixels, _ = pngfile.read_png(path)
    return np.array(pixels, np.int32).reshape(h, w, bpp)

fixture = np.load(sys.argv[2] + "/vqgan.vq_input_image_u8.npy").astype(np.uint8)  # [8, 8, 3]
cmd, args = sys.argv[1], sys.argv[3:]
rng = np.random.default_rng(5)
if cmd == "images":
    d = args[0]
    write_png(d + "/fixture.png", fixture)
    write_png(d + "/rgba-opaque.png", np.dstack([fixture, np.full((8, 8), 255, np.uint8)]))
    write_png(d + "/rgba-clear.png", np.dstack([fixture, np.zeros((8, 8), np.uint8)]))
    write_png(d + "/white.png", np.full((8, 8, 3), 255, np.uint8))
    grey = fixture[:, :, 1]
    write_png(d + "/grey.png", grey)
    write_png(d + "/grey-rgb.png", np.dstack([grey, grey, grey]))
    # 13x8: shorter side already 8, so only cropped, at left round(5/2) = 2 (half to even)
    wide = rng.integers(0, 256, (8, 13, 3), dtype=np.uint8)
    wide[:, 2:10] = fixture
    write_png(d + "/crop-13x8.png", wide)
    # 8x20 (w x h): top = round(12/2) = 6
    tall = rng.integers(0, 256, (20, 8, 3), dtype=np.uint8)
    tall[6:14] = fixture
    write_png(d + "/crop-8x20.png", tall)
    # 26x16: every pixel doubled; halving it is exact, then cropped like crop-13x8
    write_png(d + "/resize-26x16.png", wide.repeat(2, axis=0).repeat(2, axis=1))
    # 16x16: rows alternate between the fixture and its negative, so halving
    # averages every pixel to 127.5 (-> 128), where sampling would not
    stripes = fixture.repeat(2, axis=0).repeat(2, axis=1)
    stripes[1::2] = 255 - stripes[1::2]
    write_png(d + "/stripes-16x16.png", stripes)
    write_png(d + "/grey128.png", np.full((8, 8, 3), 128, np.uint8))
    write_png(d + "/odd-20x12.png", rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    write_png(d + "/huge.png", fixture, idat=b"", size=(20000, 20000))
    open(d + "/truncated.png", "wb").write(open(d + "/fixture.png", "rb").read()[:60])
elif cmd == "json":  # encode --json output
    o = json.load(open(args[0]))
    assert o["grid"] == [4, 4], o
    assert " ".join(map(str, o["codes"])) == args[1], o
elif cmd == "npy":  # NAME SHAPE EXPECTED-NAME TOLERANCE
    a = np.load(args[0])
    assert a.dtype == np.float32 and list(a.shape) == json.loads(args[1]), (a.dtype, a.shape)
    e = np.load(sys.argv[2] + "/" + args[2])
    err = float(np.abs(a - e).max())
    assert err <= float(args[3]), "max |diff| %g" % err
    print("max |diff| %.3g" % err)
elif cmd == "png":  # PNG EXPECTED-NAME: pixels within +-1
    a = read_png(args[0])
    e = np.load(sys.argv[2] + "/" + args[1]).astype(np.int32)
    assert a.shape == e.shape, (a.shape, e.shape)
    err = int(np.abs(a - e).max())
    assert err <= 1, "max |diff| %d" % err
    print("max |diff| %d" % err)
elif cmd == "same-png":  # two PNGs with identical pixels
    assert (read_png(args[0]) == read_png(args[1])).all()
EOF
test_lib=$(cd "$(dirname "$0")/../lib" && pwd)
pyrun () { cmd=$1; shift; MAGVLT_TEST_LIB=$test_lib "$python" "$tmp/png.py" "$cmd" "$expected" "$@"; }

pyrun images "$tmp" || { echo "FAIL cannot write the test images"; exit 1; }

# ---- encode: the official fixture image, and how images are prepared ----
check_codes "encode gives the fixture's codes" "$tmp/fixture.png" "$fixture_codes"
check "encode prints its timing" 0 "^encode: [0-9.]* ms" -- "$magvlt" vq encode -m "$model" -i "$tmp/fixture.png"
no_note () {  # fails when encoding IMAGE prints a note
  "$magvlt" vq encode -m "$model" -i "$1" >"$tmp/note.out" 2>&1 || return 1
  ! grep note: "$tmp/note.out"
}
check "an R x R image is used as is (no note)" 0 "" -- no_note "$tmp/fixture.png"
"$magvlt" vq encode -m "$model" -i "$tmp/fixture.png" --json --raw "$tmp/pre_quant.npy" >"$tmp/codes.json" 2>"$tmp/err"
check "encode --json parses" 0 "" -- pyrun json "$tmp/codes.json" "$fixture_codes"
check "encode --raw writes pre_quant [16, 4, 4]" 0 "max |diff|" -- pyrun npy "$tmp/pre_quant.npy" "[16, 4, 4]" vqgan.vq_pre_quant.npy 5e-5
check_codes "opaque RGBA gives the same codes" "$tmp/rgba-opaque.png" "$fixture_codes"
check_codes "transparent RGBA is composited over white" "$tmp/rgba-clear.png" "$(codes_of "$tmp/white.png")"
check_codes "grey is expanded to RGB" "$tmp/grey.png" "$(codes_of "$tmp/grey-rgb.png")"
check_codes "13x8 is centre-cropped at left 2" "$tmp/crop-13x8.png" "$fixture_codes"
check "13x8 crop gives a note" 0 "is 13 x 8, not 8 x 8: centre-cropped at left 2, top 0" -- "$magvlt" vq encode -m "$model" -i "$tmp/crop-13x8.png"
check_codes "8x20 is centre-cropped at top 6" "$tmp/crop-8x20.png" "$fixture_codes"
check_codes "26x16 is halved and cropped" "$tmp/resize-26x16.png" "$fixture_codes"
check_codes "16x16 is filtered when halved, not sampled" "$tmp/stripes-16x16.png" "$(codes_of "$tmp/grey128.png")"
check "26x16 resize gives a note" 0 "is 26 x 16, not 8 x 8: resized to 13 x 8 (bilinear) and centre-cropped at left 2, top 0" -- "$magvlt" vq encode -m "$model" -i "$tmp/resize-26x16.png"
check "20x12 is resized to 13x8 and cropped" 0 "resized to 13 x 8 (bilinear) and centre-cropped at left 2, top 0" -- "$magvlt" vq encode -m "$model" -i "$tmp/odd-20x12.png"

# ---- decode ---------------------------------------------------------------
check "decode writes the image" 0 "^decode: [0-9.]* ms" -- "$magvlt" vq decode -m "$model" --codes "$tmp/codes.json" -o "$tmp/decoded.png" --raw "$tmp/decoded.npy"
check "decoded pixels match the fixture within 1" 0 "max |diff|" -- pyrun png "$tmp/decoded.png" vqgan.vq_decoded_pixels_u8.npy
check "decode --raw writes [3, 8, 8]" 0 "max |diff|" -- pyrun npy "$tmp/decoded.npy" "[3, 8, 8]" vqgan.vq_decoded.npy 5e-5
echo "[$(echo "$fixture_codes" | sed 's/ /, /g')]" >"$tmp/flat.json"
check "decode reads a bare array" 0 "" -- "$magvlt" vq decode -m "$model" --codes "$tmp/flat.json" -o "$tmp/flat.png"
check "... with the same pixels" 0 "" -- pyrun same-png "$tmp/flat.png" "$tmp/decoded.png"
echo "[[53, 11, 23, 10], [35, 32, 57, 61], [57, 46, 51, 46], [35, 59, 0, 53]]" >"$tmp/rows.json"
check "decode reads an array of rows" 0 "" -- "$magvlt" vq decode -m "$model" --codes "$tmp/rows.json" -o "$tmp/rows.png"
check "... with the same pixels" 0 "" -- pyrun same-png "$tmp/rows.png" "$tmp/decoded.png"
echo '[0,63,1,62,2,61,3,60,4,59,5,58,6,57,7,56]' >"$tmp/any.json"
check "decode takes codes 0 and 63" 0 "" -- "$magvlt" vq decode -m "$model" --codes "$tmp/any.json" -o "$tmp/any.png"

# ---- bad images -------------------------------------------------------------
check "missing image" 1 "cannot open the image .*No such file" -- "$magvlt" vq encode -m "$model" -i "$tmp/nosuch.png"
: >"$tmp/empty.png"
check "0-byte image" 1 "is empty (0 bytes)" -- "$magvlt" vq encode -m "$model" -i "$tmp/empty.png"
echo "this is not an image" >"$tmp/text.png"
check "text file named .png" 1 "cannot read the image" -- "$magvlt" vq encode -m "$model" -i "$tmp/text.png"
head -c 300 "$model" >"$tmp/model.bin"
check "not an image" 1 "cannot read the image" -- "$magvlt" vq encode -m "$model" -i "$tmp/model.bin"
check "truncated PNG" 1 "cannot read the image" -- "$magvlt" vq encode -m "$model" -i "$tmp/truncated.png"
check "folder as image" 1 "is a folder" -- "$magvlt" vq encode -m "$model" -i "$tmp"
check "huge image refused from its header" 1 "20000 x 20000 pixels; the limit is 16384" -- "$magvlt" vq encode -m "$model" -i "$tmp/huge.png"

# ---- bad code files -------------------------------------------------------
bad_codes () {  # bad_codes NAME JSON PATTERN
  printf '%s' "$2" >"$tmp/bad.json"
  check "$1" 1 "$3" -- "$magvlt" vq decode -m "$model" --codes "$tmp/bad.json" -o "$tmp/bad.png"
}
bad_codes "code out of range" '[53,11,23,10,35,32,57,61,57,46,51,46,35,59,0,64]' "code 64 at row 3, column 3 (index 15) is outside the codebook (0..63)"
bad_codes "negative code" '{"grid":[4,4],"codes":[-1,11,23,10,35,32,57,61,57,46,51,46,35,59,0,5]}' "code -1 at row 0, column 0"
bad_codes "wrong count" '[53,11,23,10,35,32,57,61,57,46,51,46,35,59,0]' "holds 15 codes; this model needs 16 (a 4 x 4 grid)"
bad_codes "wrong grid" '{"grid":[2,8],"codes":[53,11,23,10,35,32,57,61,57,46,51,46,35,59,0,5]}' "code grid is 2 x 8 (from its grid); this model's is 4 x 4"
bad_codes "ragged rows" '[[1,2,3,4],[1,2,3],[1,2,3,4],[1,2,3,4]]' "codes\[1\] has 3 codes, but codes\[0\] has 4"
bad_codes "not an integer" '[53,11,23,10,35,32,57,61,57,46,51,46,35,59,0,5.5]' "is 5.5, not an integer code"
bad_codes "a string code" '[53,11,23,10,35,32,57,61,57,46,51,46,35,59,0,"5"]' "not an integer code"
bad_codes "malformed JSON" '{"grid": [4, 4], "codes": [1, 2' "not valid JSON"
bad_codes "whitespace only" '   ' "holds no JSON value"
bad_codes "neither object nor array" '"53 11"' "must hold an object"
bad_codes "object without codes" '{"grid": [4, 4]}' "no array member \"codes\""
: >"$tmp/empty.json"
check "0-byte code file" 1 "is empty (0 bytes)" -- "$magvlt" vq decode -m "$model" --codes "$tmp/empty.json" -o "$tmp/x.png"
check "missing code file" 1 "cannot open the code file .*No such file" -- "$magvlt" vq decode -m "$model" --codes "$tmp/nosuch.json" -o "$tmp/x.png"
check "unwritable output" 1 "cannot write $tmp/no/such/dir/x.png" -- "$magvlt" vq decode -m "$model" --codes "$tmp/codes.json" -o "$tmp/no/such/dir/x.png"

# ---- models and command lines -----------------------------------------------
if "$python" "$training/make_parity_cases.py" --geometry small --seed 1 --no-vqgan --out "$tmp/novq" >/dev/null 2>&1; then
  check "encode with a model without a VQGAN" 1 "has no VQGAN" -- "$magvlt" vq encode -m "$tmp/novq/model.gguf" -i "$tmp/fixture.png"
  check "decode with a model without a VQGAN" 1 "has no VQGAN" -- "$magvlt" vq decode -m "$tmp/novq/model.gguf" --codes "$tmp/codes.json" -o "$tmp/x.png"
else
  echo "FAIL cannot make a model without a VQGAN"
  failed=$((failed + 1))
fi
check "missing model" 1 "cannot open" -- "$magvlt" vq encode -m "$tmp/nosuch.gguf" -i "$tmp/fixture.png"
check "encode without -i" 2 "-m MODEL and -i IMAGE are required" -- "$magvlt" vq encode -m "$model"
check "encode without -m uses \$MAGVLT_MODEL" 0 "" -- env MAGVLT_MODEL="$model" "$magvlt" vq encode -i "$tmp/fixture.png"
check "decode without -m uses \$MAGVLT_MODEL" 0 "" -- env MAGVLT_MODEL="$model" "$magvlt" vq decode --codes "$tmp/codes.json" -o "$tmp/x.png"
check "decode without -m wrote the image" 0 "" -- test -s "$tmp/x.png"
check "decode without -o" 2 "are required" -- "$magvlt" vq decode -m "$model" --codes "$tmp/codes.json"
check "unknown option" 2 "Unknown option" -- "$magvlt" vq encode -m "$model" -i "$tmp/fixture.png" --frob
check "vq without a command" 2 "Usage: magvlt vq COMMAND" -- "$magvlt" vq
check "vq with an unknown command" 2 "unknown command 'frob'" -- "$magvlt" vq frob
check "magvlt --help lists vq" 0 "vq  *encode an image" -- "$magvlt" --help
check "encode --help documents alpha" 0 "composited over white" -- "$magvlt" vq encode --help
check "encode --help documents the resize" 0 "PIL's antialiased bilinear" -- "$magvlt" vq encode --help
check "decode --help documents the code file" 0 '"grid": \[s, s\]' -- "$magvlt" vq decode --help
summary
