/* ops.c — the kernels of the transformer forward. Matrix products go to
 * cblas_sgemm; the rest is plain C the compiler can vectorise.
 * SPDX-License-Identifier: MIT
 * Legend: see ops.h. */
#include "ops.h"

#include "threads.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MV_HAVE_F16C_DISPATCH 1
#endif

void
mv_gemm (bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
         const float *b, int ldb, float beta, float *c, int ldc)
{
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0)
    {
      /* BLAS leaves C untouched for k = 0 only when beta = 1; be explicit. */
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
          c[(size_t) i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t) i * ldc + j];
      return;
    }
  mv_blas_threads_for_flop (2.0 * m * n * k);
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
               k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* x: [N, K], w: [O, K] → y: [N, O] */
void
mv_linear (const float *x, int n, int k, const float *w, const float *b, int o, float *y,
           bool accumulate)
{
  mv_gemm (false, true, n, o, k, 1.0f, x, k, w, k, accumulate ? 1.0f : 0.0f, y, o);
  if (!b)
    return;
  for (int i = 0; i < n; i++)
    {
      float *r = y + (size_t) i * o;
      for (int j = 0; j < o; j++)
        r[j] += b[j];
    }
}

/* x: [N, C] → y: [N, C] */
void
mv_layernorm (const float *x, int n, int c, const float *g, const float *b, float eps, float *y)
{
  for (int i = 0; i < n; i++)
    {
      const float *r = x + (size_t) i * c;
      float *o = y + (size_t) i * c;
      /* Two passes (mean, then centred squares) in double: the one-pass
       * E[x²] − E[x]² form loses digits on rows with a large mean. */
      double mean = 0.0, var = 0.0;
      for (int j = 0; j < c; j++)
        mean += r[j];
      mean /= c;
      for (int j = 0; j < c; j++)
        {
          double d = r[j] - mean;
          var += d * d;
        }
      var /= c;
      float inv = (float) (1.0 / sqrt (var + eps));
      float fm = (float) mean;
      for (int j = 0; j < c; j++)
        o[j] = (r[j] - fm) * inv * g[j] + b[j];
    }
}

void
mv_gelu (float *x, size_t n)
{
  const float inv_sqrt2 = 0.70710678118654752f;
  for (size_t i = 0; i < n; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * inv_sqrt2));
}

/* row: [n_total] */
void
mv_softmax_prefix (float *row, int n_valid, int n_total)
{
  float mx = -INFINITY, sum = 0.0f;
  for (int j = 0; j < n_valid; j++)
    mx = row[j] > mx ? row[j] : mx;
  for (int j = 0; j < n_valid; j++)
    {
      row[j] = expf (row[j] - mx);
      sum += row[j];
    }
  float inv = n_valid > 0 ? 1.0f / sum : 0.0f;
  for (int j = 0; j < n_valid; j++)
    row[j] *= inv;
  for (int j = n_valid; j < n_total; j++)
    row[j] = 0.0f;
}

/* q, k, v: [L, C]; scores: [L, L] scratch → out: [L, C]. Per head:
 * S = q_h · k_hᵀ / √D, softmax over each row's key prefix, out_h = S · v_h.
 * Masked keys get weight exactly zero, so out_h needs no masking. */
void
mv_attention (const float *q, const float *k, const float *v, int l, int c, int h,
              const int32_t *kv_len, float *scores, float *out)
{
  int d = c / h;
  float scale = 1.0f / sqrtf ((float) d);

  for (int hd = 0; hd < h; hd++)
    {
      mv_gemm (false, true, l, l, d, scale, q + hd * d, c, k + hd * d, c, 0.0f, scores, l);
      for (int i = 0; i < l; i++)
        mv_softmax_prefix (scores + (size_t) i * l, kv_len[i], l);
      mv_gemm (false, false, l, d, l, 1.0f, scores, l, v + hd * d, c, 0.0f, out + hd * d, c);
    }
}

void
mv_add_row (const void *table, int kind, int64_t row, int c, float *dst)
{
  if (kind == MV_ROW_F32)
    {
      const float *src = (const float *) table + (size_t) row * c;
      for (int j = 0; j < c; j++)
        dst[j] += src[j];
      return;
    }
  float tmp[256];
  const uint16_t *src = (const uint16_t *) table + (size_t) row * c;
  for (int j0 = 0; j0 < c; j0 += 256)
    {
      int nj = c - j0 < 256 ? c - j0 : 256;
      mv_half_to_f32 (src + j0, kind == MV_ROW_BF16, tmp, (size_t) nj);
      for (int j = 0; j < nj; j++)
        dst[j0 + j] += tmp[j];
    }
}

/* Bit-exact scalar conversion (also handles subnormals, infinities, NaN). */
static inline float
f16_to_f32_scalar (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f)
    bits = sign | 0x7f800000u | (man << 13);
  else if (exp != 0)
    bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (man == 0)
    bits = sign;
  else
    {
      /* subnormal: renormalise */
      int e = -1;
      do
        {
          man <<= 1;
          e++;
        }
      while (!(man & 0x400));
      bits = sign | ((uint32_t) (112 - e) << 23) | ((man & 0x3ff) << 13);
    }
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

#ifdef MV_HAVE_F16C_DISPATCH
__attribute__ ((target ("avx,f16c"))) static void
f16_to_f32_f16c (const uint16_t *src, float *dst, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (dst + i, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (src + i))));
  for (; i < n; i++)
    dst[i] = f16_to_f32_scalar (src[i]);
}
#endif

void
mv_f16_to_f32 (const uint16_t *src, float *dst, size_t n)
{
#ifdef MV_HAVE_F16C_DISPATCH
  /* __builtin_cpu_supports reads a table filled at start-up: cheap, no race. */
  if (__builtin_cpu_supports ("f16c") && __builtin_cpu_supports ("avx"))
    {
      f16_to_f32_f16c (src, dst, n);
      return;
    }
#endif
  for (size_t i = 0; i < n; i++)
    dst[i] = f16_to_f32_scalar (src[i]);
}

void
mv_bf16_to_f32 (const uint16_t *src, float *dst, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      uint32_t bits = (uint32_t) src[i] << 16;
      memcpy (dst + i, &bits, 4);
    }
}

void
mv_half_to_f32 (const void *src, bool bf16, float *dst, size_t n)
{
  if (bf16)
    mv_bf16_to_f32 (src, dst, n);
  else
    mv_f16_to_f32 (src, dst, n);
}
