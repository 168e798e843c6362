#!/bin/sh
# Long libFuzzer runs by hand (issue 11: each target >= 10 minutes, zero
# findings). Runs the targets ONE AT A TIME, each under `nice -n 19` for
# SECONDS (default 600), with its own growing corpus and crash artifacts in
# OUTDIR (default /work/cache/fuzz-logs; keep it out of git), and prints one
# summary line per target: executions, corpus size, findings.
#
#   tests/fuzz/run-long.sh BUILDDIR [SECONDS] [OUTDIR] [TARGET...]
#   e.g. nohup tests/fuzz/run-long.sh build-h11 600 /work/cache/fuzz-logs &
#
# TARGET is pickle, zip, safetensors, yaml, gguf, tokenizer or mask-png (all
# seven when none is given). A target whose binary is not built yet is waited
# for (up to 30 minutes), so the runs can start while the rest still builds.
# A crash, leak or timeout leaves OUTDIR/NAME/crash-* (or leak-*, timeout-*);
# copy it into tests/fuzz/seeds-NAME/ as a regression input with the fix.
set -u
builddir=${1:?usage: run-long.sh BUILDDIR [SECONDS] [OUTDIR] [TARGET...]}
secs=${2:-600}
out=${3:-/work/cache/fuzz-logs}
[ $# -ge 3 ] && shift 3 || shift $#
targets=${*:-pickle zip safetensors yaml gguf tokenizer mask-png}
src=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "$builddir" && pwd)
mkdir -p "$out"

for name in $targets; do
  exe=$builddir/tests/fuzz/fuzz-$name
  waited=0
  while [ ! -x "$exe" ] && [ $waited -lt 1800 ]; do
    sleep 30
    waited=$((waited + 30))
  done
  if [ ! -x "$exe" ]; then
    echo "$name: $exe not built; skipped" | tee -a "$out/summary.txt"
    continue
  fi
  dir=$out/$name
  mkdir -p "$dir/corpus"
  # the tokenizer target loads the CLIP-vocabulary model of the tokenizer tests
  MAGVLT_FUZZ_TOKENIZER_MODEL=$builddir/tests/model-runtime/tokenizer/tokenizer-clip/model.gguf \
    nice -n 19 "$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
      -artifact_prefix="$dir/" -print_final_stats=1 \
      "$dir/corpus" "$src/seeds-$name" > "$dir/log.txt" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log.txt" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log.txt" | tail -1)
  corpus=$(ls "$dir/corpus" | wc -l)
  findings=$(ls "$dir" | grep -cE '^(crash|leak|timeout|oom|slow-unit)-' || true)
  line="$name: rc=$rc ${secs}s execs=${execs:-?} exec/s=${rate:-?} corpus=$corpus findings=$findings"
  echo "$(date -u +%FT%TZ) $line" | tee -a "$out/summary.txt"
done
