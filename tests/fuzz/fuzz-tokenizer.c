/* fuzz-tokenizer.c — libFuzzer target for the text tokenizer
 * (model-runtime/src/tokenizer.c): the input as text through
 * magvlt_tokenize, the ids back through magvlt_detokenize (plain, caption
 * post-processing, keep-EOT), and the input read as raw ids through
 * magvlt_detokenize too. The vocabulary comes from the small CLIP-vocab
 * model the tokenizer tests build, loaded once: $MAGVLT_FUZZ_TOKENIZER_MODEL
 * (set by the meson test), else the build-tree default below.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-tokenizer` runs it for 10 s. By hand:
 *   MAGVLT_FUZZ_TOKENIZER_MODEL=build/tests/model-runtime/tokenizer/tokenizer-clip/model.gguf \
 *   build/tests/fuzz/fuzz-tokenizer -max_total_time=600 CORPUS tests/fuzz/seeds-tokenizer
 * SPDX-License-Identifier: MIT */
#include "magvlt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static magvlt_model *model;
static int32_t text_len;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  const char *path = getenv ("MAGVLT_FUZZ_TOKENIZER_MODEL");
  if (!path || !*path)
    path = "build/tests/model-runtime/tokenizer/tokenizer-clip/model.gguf";
  magvlt_model_params mp = magvlt_model_default_params ();
  if (magvlt_model_load (path, &mp, &model) != MAGVLT_OK)
    {
      fprintf (stderr, "fuzz-tokenizer: cannot load %s: %s\n", path, magvlt_last_error ());
      exit (1);
    }
  magvlt_tokenizer_info ti;
  if (magvlt_tokenizer_get_info (model, &ti) != MAGVLT_OK)
    {
      fprintf (stderr, "fuzz-tokenizer: %s has no text tokenizer\n", path);
      exit (1);
    }
  text_len = ti.text_len;
  return 0;
}

static void
decode (const int32_t *ids, int32_t n)
{
  static const uint32_t flags[] = { 0, MAGVLT_DETOKENIZE_CAPTION, MAGVLT_DETOKENIZE_KEEP_EOT,
                                    MAGVLT_DETOKENIZE_CAPTION | MAGVLT_DETOKENIZE_KEEP_EOT };
  char small[7], big[4096];
  for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
    {
      size_t len = 0, len2 = 0;
      if (magvlt_detokenize (model, ids, n, flags[k], NULL, 0, &len) != MAGVLT_OK)
        continue;
      magvlt_detokenize (model, ids, n, flags[k], small, sizeof small, &len2);
      if (len2 != len || strlen (small) >= sizeof small)
        abort ();
      magvlt_detokenize (model, ids, n, flags[k], big, sizeof big, &len2);
      if (len2 != len || (len < sizeof big && strlen (big) != len))
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* the input as text */
  int32_t *ids = malloc ((size_t) text_len * sizeof *ids);
  if (!ids)
    return 0;
  magvlt_tokenize_result r;
  if (magvlt_tokenize (model, (const char *) data, size, ids, text_len, &r) == MAGVLT_OK)
    {
      if (r.n_tokens < 0 || r.n_tokens > text_len)
        abort ();
      decode (ids, r.n_tokens);
      decode (ids, text_len);
    }
  free (ids);

  /* the input as ids (any values, out of vocabulary included) */
  size_t n = size / sizeof (int32_t);
  if (n > 0)
    {
      int32_t *raw = malloc (n * sizeof *raw);
      if (raw)
        {
          memcpy (raw, data, n * sizeof *raw);
          decode (raw, (int32_t) n);
          free (raw);
        }
    }
  return 0;
}
