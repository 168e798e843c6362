#!/bin/sh
# valgrind memcheck on one `magvlt` run of each job (issue 11): generate,
# caption, inpaint, edit, infill, joint, and vq (encode, then decode). Every
# run must end with no memcheck error and no definitely, indirectly or
# possibly lost block (--leak-check=full --error-exitcode=99); the exit code
# of the job itself must be 0. Then three failing runs (an image that is not
# one, an empty mask, a truncated model), which must exit 1 just as cleanly.
#
#   tests/valgrind/run.sh MAGVLT MODEL.gguf [LOGDIR]
#   e.g. tests/valgrind/run.sh build-h11/model-runtime/tools/magvlt \
#          build-h11/tests/model-runtime/jobs-model/model.gguf
#
# MODEL is the tiny jobs model the tests build (16x16 images, CLIP's
# vocabulary); each run takes seconds to a minute under valgrind. Logs are
# kept in LOGDIR (default: a temporary folder, printed). Prints "ok   JOB" or
# "FAIL JOB" per run and "N passed, N failed"; exits 77 when valgrind is not
# installed (Debian: apt-get install valgrind).
#
# Settings, and why:
# - OPENBLAS_CORETYPE=Haswell: valgrind 3.19 does not implement AVX-512, so
#   OpenBLAS must not pick its SkylakeX kernels on CPUs that have it.
# - MAGVLT_BACKEND=openblas: oneDNN JIT-compiles AVX-512/AMX code.
# - OPENBLAS_NUM_THREADS=1, -t 2: few threads keep valgrind's serialised run
#   short; the engine's own pool still runs (2 threads).
# - suppressions.supp: known one-time allocations of GLib's type system, with
#   the reason beside each entry; nothing of ours.
set -u
magvlt=${1:?usage: run.sh MAGVLT MODEL.gguf [LOGDIR]}
model=${2:?usage: run.sh MAGVLT MODEL.gguf [LOGDIR]}
here=$(cd "$(dirname "$0")" && pwd)
case $magvlt in /*) ;; *) magvlt=$PWD/$magvlt ;; esac
case $model in /*) ;; *) model=$PWD/$model ;; esac
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skipped"; exit 77; }
logs=${3:-$(mktemp -d "${TMPDIR:-/tmp}/magvlt-valgrind-XXXXXX")}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
echo "logs in $logs"
export OPENBLAS_CORETYPE=Haswell MAGVLT_BACKEND=openblas OPENBLAS_NUM_THREADS=1

# inputs, made without valgrind: a 40x30 photo and a mask (a white block)
python3 - "$logs" <<'EOF' || exit 1
import struct, sys, zlib
def png(path, w, h, ctype, ch, px):
    raw = b"".join(b"\0" + bytes(px[y * w * ch:(y + 1) * w * ch]) for y in range(h))
    c = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + c(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
                           + c(b"IDAT", zlib.compress(raw)) + c(b"IEND", b""))
w, h = 40, 30
png(sys.argv[1] + "/photo.png", w, h, 2, 3,
    [v for y in range(h) for x in range(w) for v in (x * 6, y * 8, (x * y) % 256)])
png(sys.argv[1] + "/mask.png", w, h, 0, 1,
    [255 if 8 <= y < 20 and 10 <= x < 25 else 0 for y in range(h) for x in range(w)])
png(sys.argv[1] + "/mask-empty.png", w, h, 0, 1, [0] * (w * h))
open(sys.argv[1] + "/not-an-image.png", "w").write("not a PNG\n")
EOF
head -c 100000 "$model" >"$logs/truncated.gguf" || exit 1

passed=0 failed=0
# vg NAME WANTED_EXIT MAGVLT-ARGS...
vg() {
  name=$1 want=$2
  shift 2
  valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes --num-callers=30 \
    --suppressions="$here/suppressions.supp" --log-file="$logs/$name.valgrind.log" \
    "$magvlt" "$@" >"$logs/$name.out" 2>"$logs/$name.err"
  rc=$?
  summary=$(grep -E 'ERROR SUMMARY|definitely lost:|indirectly lost:|possibly lost:' "$logs/$name.valgrind.log" |
    sed 's/^==[0-9]*== *//' | tr -s ' \n' '  ')
  if [ $rc -eq "$want" ]; then
    passed=$((passed + 1))
    echo "ok   $name: $summary"
  else
    failed=$((failed + 1))
    echo "FAIL $name (exit $rc, wanted $want): $summary; see $logs/$name.valgrind.log"
  fi
}

M="-m $model -t 2 --seed 1"
cd "$logs" || exit 1
vg generate 0 generate $M -p "a red heart on a white background" -o gen.png --steps 4
vg caption 0 caption $M -i photo.png --steps 4
vg inpaint 0 inpaint $M -i photo.png --mask mask.png -p "a cat" -o inp.png --steps 4
vg edit 0 edit $M -i photo.png --mask mask.png -p "a blue flag" --strength 0.5 -o edit.png --steps 4
vg infill 0 infill $M -i photo.png -p "a [MASK] on a blue background" --steps 4
vg joint 0 joint $M -o joint.png --steps 4
vg vq-encode 0 vq encode -m "$model" -t 2 -i photo.png --json
cp vq-encode.out codes.json
vg vq-decode 0 vq decode -m "$model" -t 2 --codes codes.json -o vq.png
vg caption-not-an-image 1 caption $M -i not-an-image.png
vg inpaint-empty-mask 1 inpaint $M -i photo.png --mask mask-empty.png -p x -o never.png --steps 4
vg generate-truncated-model 1 generate -m truncated.gguf -t 2 -p x -o never.png
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
