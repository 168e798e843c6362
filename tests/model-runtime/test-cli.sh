#!/bin/sh
# test-cli.sh MAGVLT MODEL CASES — the `magvlt` tool: info, forward, and
# its exit codes and messages on bad command lines and bad files.
magvlt=$1 model=$2 cases=$3
. "$(dirname "$0")/../lib/check.sh"

check "info prints the geometry" 0 "2 layers, width 64, 4 heads" -- "$magvlt" info -m "$model"
check "info prints the sequence" 0 "28 = 4 + 16 image tokens (4x4 grid) + 8 text slots" -- "$magvlt" info -m "$model"
check "info of a file not made by the converter: no provenance lines" 0 "" -- sh -c "! '$magvlt' info -m '$model' | grep -q 'converted by'"
check "forward runs every case" 0 "it2i_inpaint .*forward" -- "$magvlt" forward -m "$model" --cases "$cases" --out "$tmp/all"
for f in img_logits txt_logits len_logits hidden emb block_out; do
  check "forward wrote t2i_partial.$f.npy" 0 "NUMPY" -- head -c 16 "$tmp/all/t2i_partial.$f.npy"
done
check "forward --case runs one case" 0 "i2t_partial" -- "$magvlt" forward -m "$model" --cases "$cases" --case i2t_partial --out "$tmp/one"
check "forward --case wrote only that case" 1 "" -- test -e "$tmp/one/t2i_partial.hidden.npy"
check "unknown case" 1 "has no case named nosuch" -- "$magvlt" forward -m "$model" --cases "$cases" --case nosuch --out "$tmp/x"
check "no command" 2 "Usage: magvlt COMMAND" -- "$magvlt"
check "unknown command" 2 "unknown command 'frobnicate'" -- "$magvlt" frobnicate
check "info without -m uses \$MAGVLT_MODEL" 0 "2 layers, width 64, 4 heads" -- env MAGVLT_MODEL="$model" "$magvlt" info
check "info with a stray argument" 2 "give exactly one model" -- "$magvlt" info -m "$model" extra
check "forward --help documents the case format" 0 "stage2_cases" -- "$magvlt" forward --help
check "missing model file" 1 "cannot open" -- "$magvlt" info -m "$tmp/does-not-exist.gguf"
check "a load error is reported once, naming the command" 0 "" -- sh -c "'$magvlt' info -m '$tmp/does-not-exist.gguf' 2>&1 | grep -c \"^magvlt info: cannot load the model: .*cannot open\" | grep -qx 1 && test \"\$('$magvlt' info -m '$tmp/does-not-exist.gguf' 2>&1 | wc -l)\" -eq 1"
printf 'not a model' > "$tmp/bad.gguf"
check "not a GGUF file" 1 "bad magic number" -- "$magvlt" info -m "$tmp/bad.gguf"
printf '{"stage2_cases": {"a": {"layout": "X2Y"}}}' > "$tmp/bad.json"
check "bad case file" 1 "layout must be" -- "$magvlt" forward -m "$model" --cases "$tmp/bad.json" --out "$tmp/y"
summary
