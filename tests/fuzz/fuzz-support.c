/* fuzz-support.c — the one engine kernel the reader sources use
 * (mv_half_to_f32 of ops.c), for the fuzz builds: ops.c's CPU-feature
 * dispatch does not build with every clang, and the fuzzers need no BLAS.
 * SPDX-License-Identifier: MIT */
#include "ops.h"

#include <math.h>
#include <string.h>

static float
half (uint16_t h)
{
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v = e == 0    ? ldexpf ((float) m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf ((float) (m | 0x400), e - 25);
  return (h & 0x8000) ? -v : v;
}

void
mv_half_to_f32 (const void *src, bool bf16, float *dst, size_t n)
{
  const uint16_t *s = src;
  for (size_t i = 0; i < n; i++)
    {
      uint32_t bits = (uint32_t) s[i] << 16;
      if (bf16)
        memcpy (dst + i, &bits, 4);
      else
        dst[i] = half (s[i]);
    }
}
