/* fuzz-zip.c — libFuzzer target for the checkpoint container readers: the
 * ZIP reader (model-runtime/src/ckpt_zip.c) on any bytes, then the whole
 * state-dict path (ckpt.c: ZIP + pickle + tensor views, or safetensors),
 * reading every tensor it accepts.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-zip` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-zip -max_total_time=600 CORPUS tests/fuzz/seeds-zip
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* the directory alone: every entry's data and CRC, suffix lookups */
  ck_zip z;
  if (ck_zip_open (data, size, &z) == MAGVLT_OK)
    {
      for (uint64_t i = 0; i < z.n_entries; i++)
        {
          const uint8_t *d;
          if (ck_zip_entry_data (&z, &z.entries[i], &d) == MAGVLT_OK)
            ck_zip_entry_verify (&z, &z.entries[i], NULL);
          ck_zip_find (&z, z.entries[i].name);
        }
      ck_zip_entry *e;
      ck_zip_find_suffix (&z, "data.pkl", &e);
      ck_zip_clear (&z);
    }

  /* the state dict, and every tensor read as floats */
  pk_limits lim = { .max_bytes = 64u << 20, .max_marks = 10000 };
  ck_file f;
  if (ck_file_open_buffer (data, size, "fuzz", &lim, &f) == MAGVLT_OK)
    {
      float buf[64];
      for (size_t i = 0; i < f.n_tensors; i++)
        {
          ck_tensor *t = &f.tensors[i];
          if (ck_tensor_check (&f, t) != MAGVLT_OK || ck_dtype_size (t->dtype) == 0)
            continue;
          uint64_t n = t->numel < 64 ? t->numel : 64;
          ck_tensor_read_f32 (t, 0, n, buf);
          if (t->numel > 64)
            ck_tensor_read_f32 (t, t->numel - 64, 64, buf);
        }
      ck_file_close (&f);
    }
  return 0;
}
