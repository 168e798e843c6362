/* fuzz-gguf.c — libFuzzer target for the GGUF reader
 * (model-runtime/src/gguf.c): any bytes through gguf_parse and the typed
 * accessors; an input that parses is also written to a temporary file and
 * loaded as a model (magvlt_model_load: hyperparameters, tensor binding,
 * the text tokenizer), since the library has no in-memory model load.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-gguf` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-gguf -max_total_time=600 CORPUS tests/fuzz/seeds-gguf
 * SPDX-License-Identifier: MIT */
#include "fuzz-tmpfile.h"
#include "gguf.h"
#include "magvlt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
quiet (magvlt_log_level level, const char *message, void *user_data)
{
  (void) level;
  (void) message;
  (void) user_data;
}

static void
load_as_file (const uint8_t *data, size_t size)
{
  const char *path = fuzz_tmpfile_write ("gguf", data, size);
  if (!path)
    return;
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.log_callback = quiet; /* the messages themselves are not under test here */
  for (int mmap = 0; mmap < 2; mmap++)
    {
      mp.use_mmap = mmap;
      magvlt_model *m = NULL;
      if (magvlt_model_load (path, &mp, &m) == MAGVLT_OK)
        {
          magvlt_model_info info;
          magvlt_model_get_info (m, &info);
          magvlt_tokenizer_info ti;
          if (magvlt_tokenizer_get_info (m, &ti) == MAGVLT_OK)
            {
              int32_t ids[512];
              magvlt_tokenize_result r;
              if (ti.text_len > 0 && ti.text_len <= 512)
                magvlt_tokenize (m, "a photo of a cat", 16, ids, 512, &r);
            }
          magvlt_model_free (m);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gguf_file f;
  if (gguf_parse (data, size, &f) != MAGVLT_OK)
    {
      gguf_clear (&f);
      return 0;
    }
  char buf[128];
  uint32_t u;
  float x;
  for (uint64_t i = 0; i < f.n_kv; i++)
    {
      const char *key = f.kv[i].key;
      gguf_find_kv (&f, key);
      gguf_get_u32 (&f, key, &u);
      gguf_get_f32 (&f, key, &x);
      gguf_get_str (&f, key, buf, sizeof buf);
      gguf_type_name (f.kv[i].type);
    }
  volatile float sink = 0;
  for (uint64_t i = 0; i < f.n_tensors; i++)
    {
      const gguf_tensor *t = gguf_find_tensor (&f, f.tensors[i].name);
      /* the first and the last byte of every tensor must be inside the buffer */
      if (t && t->n_bytes > 0)
        sink += ((const uint8_t *) t->data)[0] + ((const uint8_t *) t->data)[t->n_bytes - 1];
    }
  (void) sink;
  gguf_clear (&f);
  load_as_file (data, size);
  return 0;
}
