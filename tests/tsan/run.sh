#!/bin/sh
# ThreadSanitizer run (issue 11) of the tests that use threads: the context
# thread pool (pool: every task once, workers asleep and woken, pools freed
# before their workers ran) and, through it, every forward pass below; the
# engine's cancel from another thread (sampler), cancellation and load cancellation
# (api), the jobs, the soak loops with their cancelled jobs (engine and app
# worker), and the app's progress coalescer and worker (display-less). Any report fails the run.
#
#   tests/tsan/run.sh [BUILDDIR (build-tsan)]
#
# Configures BUILDDIR with -Db_sanitize=thread when it does not exist yet,
# builds only what these tests need, and runs them with
# - tests/tsan/suppressions.txt: library noise only (OpenBLAS), explained
#   there;
# - tests/tsan/glib-annotations.c, preloaded: tells TSan about the
#   synchronisation inside Debian's uninstrumented GLib (GMutex, GAsyncQueue,
#   main-loop hand-offs, GTask), instead of suppressing every report that
#   passes through GLib.
# Needs the reference tests (PyTorch) for the tiny models, like `meson test`.
set -u
cd "$(dirname "$0")/../.."
builddir=${1:-build-tsan}
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dreference_tests=enabled -Dfuzzers=disabled || exit 1
fi
ninja -C "$builddir" tests/model-runtime/test-pool tests/model-runtime/test-sampler tests/model-runtime/test-api \
  tests/model-runtime/test-jobs tests/soak/soak tests/soak/soak-worker tests/app/test-coalescer tests/app/test-worker \
  tests/model-runtime/parity-small tests/model-runtime/jobs-model \
  tests/model-runtime/tokenizer/tokenizer-clip || exit 1
shim=$PWD/$builddir/glib-annotations.so
# shellcheck disable=SC2046
cc -shared -fPIC -O1 -g -o "$shim" tests/tsan/glib-annotations.c \
  $(pkg-config --cflags --libs gio-2.0) -ldl || exit 1

TSAN_OPTIONS="suppressions=$PWD/tests/tsan/suppressions.txt second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  meson test -C "$builddir" --no-rebuild --print-errorlogs --num-processes 2 \
  --wrapper "env LD_PRELOAD=$shim" pool sampler api jobs soak soak-worker app-coalescer app-worker
