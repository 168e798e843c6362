#!/usr/bin/env python3
"""`magvlt tokenize` and `magvlt detokenize`: every public vector through `tokenize --json -`
(standard input, verbatim), the table output, the decode vectors through `detokenize`, bad input
and bad command lines with their exit codes and messages.

Usage: test-tokenizer-cli.py MAGVLT MODEL_WITH_TOKENIZER MODEL_WITHOUT public.jsonl decode_extra.jsonl
Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from checks import check, finish  # noqa: E402

magvlt, model, bare_model, public_path, extra_path = sys.argv[1:6]


def run(*args, stdin=b""):
    p = subprocess.run([magvlt, *args], input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_run(name, args, want_rc, want_out=None, want_err=None, stdin=b"", exact=False):
    rc, out, err = run(*args, stdin=stdin)
    ok = rc == want_rc
    if want_out is not None:
        ok = ok and (out == want_out if exact else want_out in out)
    if want_err is not None:
        ok = ok and want_err in err
    check(name, ok, f"exit {rc} (wanted {want_rc}); stdout {out[:300]!r}; stderr {err[:300]!r}")
    return out


# every public vector, fed on standard input so NUL bytes arrive as they are
with open(public_path, encoding="utf-8") as f:
    vectors = [json.loads(line) for line in f if line.strip()]
for i, v in enumerate(vectors):
    m = v["magvlt"]
    want = {"ids": m["ids_with_eot"], "n_txt": m["n_txt"],
            "tokens": (v["tokens"] + ["<|endoftext|>"])[:len(m["ids_with_eot"])],
            "fallback": v["encode_error"] is not None}
    rc, out, err = run("tokenize", "-m", model, "--json", "-", stdin=v["text"].encode("utf-8"))
    try:
        got = json.loads(out)
        one_line = out.count("\n") == 1
    except ValueError:
        got, one_line = None, False
    check(f"tokenize --json - public {i} ({v['kind']})", rc == 0 and got == want and one_line,
          f"exit {rc}, got {out.strip()[:300]!r}, wanted {json.dumps(want)[:300]}; {err[:200]}")

out = check_run("--json keys and layout", ["tokenize", "-m", model, "--json", "a photo of a cat"], 0,
                '{"ids":[320,1125,539,320,2368,49407],"n_txt":6,"tokens":["a</w>","photo</w>",'
                '"of</w>","a</w>","cat</w>","<|endoftext|>"],"fallback":false}\n', exact=True)
check_run("table: summary line", ["tokenize", "-m", model, "A photo of a cat"], 0,
          "5 tokens + end of text (n_txt 6 of 64 text slots)")
check_run("table: one row per token", ["tokenize", "-m", model, "A photo of a cat"], 0,
          "    1    1125  photo</w>\n")
check_run("table: padding line", ["tokenize", "-m", model, "A photo of a cat"], 0,
          "58 more slots hold the padding id 49407")
check_run("table: fallback explained", ["tokenize", "-m", model, "Caf\u00e9 \u6771\u4eac"], 0,
          "fallback: the text has characters outside the vocabulary")
check_run("table: truncation explained", ["tokenize", "-m", model, "cat " * 80], 0,
          "truncated: the text has more than 64 tokens")
check_run("text after --", ["tokenize", "-m", model, "--json", "--", "-5 degrees"], 0,
          '"tokens":["-</w>","5</w>","degrees</w>","<|endoftext|>"]')

# standard input is read verbatim: NUL bytes, a megabyte, no stripping
check_run("stdin: an embedded NUL is deleted like U+0000", ["tokenize", "-m", model, "--json", "-"], 0,
          '{"ids":[320,2368,49407]', stdin=b"a c\0at")
check_run("stdin: 1 MB", ["tokenize", "-m", model, "-"], 0,
          "truncated: the text has more than 64 tokens", stdin=b"a cat on a mat " * 70000)
check_run("stdin: only emoji", ["tokenize", "-m", model, "--json", "-"], 0,
          '{"ids":[49407],"n_txt":1,"tokens":["<|endoftext|>"],"fallback":true}\n',
          stdin="\U0001F44D\U0001F431".encode("utf-8"), exact=True)
check_run("stdin: only whitespace", ["tokenize", "-m", model, "--json", "-"], 0,
          '{"ids":[49407],"n_txt":1,"tokens":["<|endoftext|>"],"fallback":false}\n',
          stdin=b" \t\r\n\n", exact=True)
check_run("stdin: invalid UTF-8", ["tokenize", "-m", model, "-"], 1,
          want_err="not valid UTF-8: byte 0xff at offset 2", stdin=b"ab\xff")

# detokenize
with open(extra_path, encoding="utf-8") as f:
    extras = [json.loads(line) for line in f if line.strip()]
for i, v in enumerate(extras):
    ids = [str(x) for x in v["ids"]] or ["[]"]
    check_run(f"detokenize decode {i} ({v['note'][:40]})", ["detokenize", "-m", model, *ids], 0,
              v["decoded_after_eot_cut"] + "\n", exact=True)
    check_run(f"detokenize --keep-eot decode {i}", ["detokenize", "-m", model, "--keep-eot", *ids],
              0, v["decoded"] + "\n", exact=True)
    cap = v["token2txt_main"] if v["token2txt_main"] is not None else ""
    check_run(f"detokenize --caption decode {i}", ["detokenize", "-m", model, "--caption", *ids], 0,
              cap + "\n", exact=True)
check_run("detokenize a JSON array", ["detokenize", "-m", model, "[320, 1125, 49407, 320]"], 0,
          "a photo\n", exact=True)
check_run("detokenize ids from stdin", ["detokenize", "-m", model, "-"], 0, "a cat\n",
          stdin=b"320,\n2368\n", exact=True)
check_run("detokenize --caption of '...'", ["detokenize", "-m", model, "--caption", "269 269 269"],
          0, "\n", exact=True)

# bad command lines and models
check_run("tokenize without text", ["tokenize", "-m", model], 2, want_err="give a model with -m MODEL")
check_run("tokenize with two texts", ["tokenize", "-m", model, "a", "cat"], 2,
          want_err="the text as one argument")
check_run("detokenize: not an id", ["detokenize", "-m", model, "320", "cat"], 2,
          want_err="'cat' is not a token id")
check_run("detokenize: out of range", ["detokenize", "-m", model, "99999999999"], 2,
          want_err="'99999999999' is not a token id")
check_run("a model without tokenizer", ["tokenize", "-m", bare_model, "a cat"], 1,
          want_err="has no text tokenizer")
check_run("info names the tokenizer", ["info", "-m", model], 0,
          "tokenizer:      char_bpe, 49408 entries, 48894 merges, end-of-word suffix '</w>', lowercase")
check_run("info of a model without one", ["info", "-m", bare_model], 0, "tokenizer:      none")
check_run("tokenize --help documents --json", ["tokenize", "--help"], 0, '"fallback": true|false')
check_run("tokenize --help shows TEXT in its usage line", ["tokenize", "--help"], 0, "magvlt tokenize [OPTION…] TEXT")
check_run("detokenize --help shows IDS in its usage line", ["detokenize", "--help"], 0, "magvlt detokenize [OPTION…] IDS…")
check_run("magvlt --help lists tokenize", ["--help"], 0, "tokenize")

finish()
