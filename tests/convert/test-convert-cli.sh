#!/bin/sh
# test-convert-cli.sh MAGVLT VQGAN_ONLY_MODEL FULL_MODEL OFFICIAL_DIR — the
# `magvlt convert` command line (usage errors, messages, the progress bar on a
# terminal, --type), and the other commands on a VQGAN-only model.
magvlt=$1 vqonly=$2 full=$3 data=$4
. "$(dirname "$0")/../lib/check.sh"

ckpt=$data/tiny-magvlt.ckpt vq=$data/tiny-vqgan.ckpt cfg=$data/config.yaml
check "convert listed in magvlt --help" 0 "convert" -- "$magvlt" --help
check "convert --help shows an example" 0 "bpe_simple_vocab_16e6.txt.gz" -- "$magvlt" convert --help
check "no inputs: usage error" 2 "give --ckpt and/or --vqgan" -- "$magvlt" convert -o "$tmp/x.gguf"
check "no output: usage error" 2 "OUT.gguf" -- "$magvlt" convert --vqgan "$vq"
check "bad --type" 2 "f16, bf16 or f32" -- "$magvlt" convert --vqgan "$vq" --type f8 -o "$tmp/x.gguf"
check "bad --preset" 2 "base or large" -- "$magvlt" convert --vqgan "$vq" --preset huge -o "$tmp/x.gguf"
check "--config with --preset" 2 "not both" -- "$magvlt" convert --vqgan "$vq" --preset base --config "$cfg" -o "$tmp/x.gguf"
check "--bpe without --ckpt" 2 "needs --ckpt" -- "$magvlt" convert --vqgan "$vq" --bpe "$cfg" -o "$tmp/x.gguf"
check "missing input file" 1 "cannot open" -- "$magvlt" convert --vqgan "$tmp/none.ckpt" --config "$cfg" -o "$tmp/x.gguf"
check "output folder missing" 1 "cannot create the output" -- "$magvlt" convert --vqgan "$vq" --config "$cfg" -o "$tmp/no/such/dir/x.gguf"
check "a bad merges file for this model" 1 "fewer than the 514 fixed entries" -- "$magvlt" convert --ckpt "$ckpt" --config "$cfg" --bpe "$cfg" -o "$tmp/x.gguf"
check "bf16 conversion" 0 "wrote" -- "$magvlt" convert --ckpt "$ckpt" --vqgan "$vq" --config "$cfg" --type bf16 --no-palette -o "$tmp/bf16.gguf"
check "--out is --output's other name (as in the job commands)" 0 "wrote" -- "$magvlt" convert --vqgan "$vq" --config "$cfg" --no-palette --out "$tmp/out-alias.gguf"
check "info: bf16 weights" 0 "weights:        bf16" -- "$magvlt" info -m "$tmp/bf16.gguf"
check "info: f32 weights" 0 "weights:        f32" -- "$magvlt" info -m "$full"
# the provenance the converter records, with the SHA-256 of each input as sha256sum computes it
ckpt_sha=$(sha256sum "$ckpt" | cut -d' ' -f1) cfg_sha=$(sha256sum "$cfg" | cut -d' ' -f1)
check "info: converted by" 0 "^converted by:   magvlt convert [0-9]" -- "$magvlt" info -m "$tmp/bf16.gguf"
check "info: the checkpoint and its SHA-256" 0 "^  checkpoint:   tiny-magvlt.ckpt (sha256 $ckpt_sha)" -- "$magvlt" info -m "$tmp/bf16.gguf"
check "info: the config and its SHA-256" 0 "^  config:       config.yaml (sha256 $cfg_sha)" -- "$magvlt" info -m "$tmp/bf16.gguf"
check "info: where the VQGAN came from" 0 "^  VQGAN from:   taming checkpoint" -- "$magvlt" info -m "$tmp/bf16.gguf"
check "no output file after a failure" 1 "" -- test -e "$tmp/x.gguf"

# the progress bar, on a terminal only
check "no progress bar without a terminal" 1 "" -- sh -c "'$magvlt' convert --vqgan '$vq' --config '$cfg' -o '$tmp/p.gguf' 2>&1 | grep -q '%'"
if command -v script >/dev/null 2>&1; then
  check "progress bar on a terminal" 0 "writing  \[####################" -- script -qec "'$magvlt' convert --vqgan '$vq' --config '$cfg' -o '$tmp/p.gguf'" /dev/null
fi

# a VQGAN-only model: info explains, transformer commands refuse
check "info on a VQGAN-only model" 0 "transformer:    none (a VQGAN-only model" -- "$magvlt" info -m "$vqonly"
check "forward refuses a VQGAN-only model" 1 "is a VQGAN-only model" -- "$magvlt" forward -m "$vqonly" --cases "$data/cases.json" -o "$tmp/fw"
check "generate refuses a VQGAN-only model" 1 "only \`magvlt vq\` works" -- "$magvlt" generate -m "$vqonly" -p "a cat" -o "$tmp/g.png"
check "tokenize refuses a VQGAN-only model" 1 "is a VQGAN-only model" -- "$magvlt" tokenize -m "$vqonly" "a cat"
echo "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 63]" >"$tmp/codes.json"
check "vq decode works on a VQGAN-only model" 0 "" -- "$magvlt" vq decode -m "$vqonly" --codes "$tmp/codes.json" -o "$tmp/d.png"
check "the decoded image exists" 0 "" -- test -s "$tmp/d.png"

summary
