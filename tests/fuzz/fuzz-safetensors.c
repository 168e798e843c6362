/* fuzz-safetensors.c — libFuzzer target for the safetensors reader
 * (model-runtime/src/ckpt_safetensors.c). An input that already looks like
 * a safetensors file (8-byte header length, then '{') is read as one; any
 * other input becomes the JSON header of a file with 256 data bytes, so the
 * fuzzer spends its time in the header's JSON and tensor entries rather than
 * in the length prefix. Every tensor accepted is read as floats.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-safetensors` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-safetensors -max_total_time=600 CORPUS tests/fuzz/seeds-safetensors
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
read_all (const uint8_t *buf, size_t size)
{
  pk_limits lim = { .max_bytes = 64u << 20, .max_marks = 10000 };
  ck_file f;
  if (ck_file_open_buffer (buf, size, "fuzz.safetensors", &lim, &f) != MAGVLT_OK)
    return;
  float out[64];
  for (size_t i = 0; i < f.n_tensors; i++)
    {
      ck_tensor *t = &f.tensors[i];
      ck_file_find (&f, t->name);
      if (ck_tensor_check (&f, t) != MAGVLT_OK || ck_dtype_size (t->dtype) == 0)
        continue;
      uint64_t n = t->numel < 64 ? t->numel : 64;
      ck_tensor_read_f32 (t, 0, n, out);
      if (t->numel > 64)
        ck_tensor_read_f32 (t, t->numel - 64, 64, out);
    }
  ck_file_close (&f);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (ck_safetensors_sniff (data, size))
    {
      read_all (data, size);
      return 0;
    }
  /* wrap: u64 little-endian header length, the header, 256 data bytes */
  size_t total = 8 + size + 256;
  uint8_t *buf = malloc (total);
  if (!buf)
    return 0;
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t) ((uint64_t) size >> (8 * i));
  memcpy (buf + 8, data, size);
  for (size_t i = 0; i < 256; i++)
    buf[8 + size + i] = (uint8_t) i;
  read_all (buf, total);
  free (buf);
  return 0;
}
