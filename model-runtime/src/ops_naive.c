/* ops_naive.c — scalar references for every kernel in ops.c, written for
 * obviousness (double accumulators, no blocking), used only by tests.
 * SPDX-License-Identifier: MIT */
#include "ops.h"

#include <math.h>
#include <string.h>

void
mv_gemm_naive (bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      {
        double s = 0.0;
        for (int p = 0; p < k; p++)
          {
            double av = ta ? a[(size_t) p * lda + i] : a[(size_t) i * lda + p];
            double bv = tb ? b[(size_t) j * ldb + p] : b[(size_t) p * ldb + j];
            s += av * bv;
          }
        float *cv = &c[(size_t) i * ldc + j];
        *cv = (float) (alpha * s + (beta == 0.0f ? 0.0 : (double) beta * *cv));
      }
}

void
mv_linear_naive (const float *x, int n, int k, const float *w, const float *b, int o, float *y,
                 bool accumulate)
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < o; j++)
      {
        double s = b ? b[j] : 0.0;
        for (int p = 0; p < k; p++)
          s += (double) x[(size_t) i * k + p] * w[(size_t) j * k + p];
        y[(size_t) i * o + j] = (float) (accumulate ? y[(size_t) i * o + j] + s : s);
      }
}

void
mv_layernorm_naive (const float *x, int n, int c, const float *g, const float *b, float eps,
                    float *y)
{
  for (int i = 0; i < n; i++)
    {
      const float *r = x + (size_t) i * c;
      double mean = 0.0, var = 0.0;
      for (int j = 0; j < c; j++)
        mean += r[j];
      mean /= c;
      for (int j = 0; j < c; j++)
        var += (r[j] - mean) * (r[j] - mean);
      var /= c;
      double inv = 1.0 / sqrt (var + eps);
      for (int j = 0; j < c; j++)
        y[(size_t) i * c + j] = (float) ((r[j] - mean) * inv * g[j] + b[j]);
    }
}

void
mv_gelu_naive (float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (0.5 * x[i] * (1.0 + erf (x[i] / sqrt (2.0))));
}

void
mv_softmax_naive (float *row, const uint8_t *allow, int n)
{
  double mx = -INFINITY, sum = 0.0;
  for (int j = 0; j < n; j++)
    if (allow[j] && row[j] > mx)
      mx = row[j];
  for (int j = 0; j < n; j++)
    sum += allow[j] ? exp (row[j] - mx) : 0.0;
  for (int j = 0; j < n; j++)
    row[j] = allow[j] ? (float) (exp (row[j] - mx) / sum) : 0.0f;
}

void
mv_attention_naive (const float *q, const float *k, const float *v, int l, int c, int h,
                    const uint8_t *allow, float *out)
{
  int d = c / h;
  double scale = 1.0 / sqrt ((double) d);
  float w[l > 0 ? l : 1];

  for (int hd = 0; hd < h; hd++)
    for (int i = 0; i < l; i++)
      {
        for (int j = 0; j < l; j++)
          {
            double s = 0.0;
            for (int e = 0; e < d; e++)
              s += (double) q[(size_t) i * c + hd * d + e] * k[(size_t) j * c + hd * d + e];
            w[j] = (float) (s * scale);
          }
        mv_softmax_naive (w, allow + (size_t) i * l, l);
        for (int e = 0; e < d; e++)
          {
            double s = 0.0;
            for (int j = 0; j < l; j++)
              s += (double) w[j] * v[(size_t) j * c + hd * d + e];
            out[(size_t) i * c + hd * d + e] = (float) s;
          }
      }
}

float
mv_f16_to_f32_naive (uint16_t h)
{
  int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0)
    v = ldexp (man, -24); /* zero or subnormal */
  else if (exp == 31)
    v = man ? NAN : INFINITY;
  else
    v = ldexp (man + 1024, exp - 25);
  return (float) (sign ? -v : v);
}

void
mv_conv2d_naive (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
                 const mv_conv_geom *g, float *y)
{
  int ho, wo, k = g->k;
  mv_conv2d_out_size (g, h, w, &ho, &wo);
  for (int o = 0; o < co; o++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++)
        {
          double s = b ? b[o] : 0.0;
          for (int c = 0; c < ci; c++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++)
                {
                  /* position in the (virtually upsampled, padded) input */
                  int iy = oy * g->stride - g->pad_top + ky, ix = ox * g->stride - g->pad_left + kx;
                  if (iy < 0 || ix < 0 || iy >= h * g->up || ix >= w * g->up)
                    continue;
                  double v = x[((size_t) c * h + iy / g->up) * w + ix / g->up];
                  s += v * wt[(((size_t) o * ci + c) * k + ky) * k + kx];
                }
          y[((size_t) o * ho + oy) * wo + ox] = (float) s;
        }
}

void
mv_group_norm_naive (const float *x, int c, int hw, int groups, const float *g, const float *b,
                     float eps, bool swish, float *y)
{
  int cpg = c / groups;
  for (int gi = 0; gi < groups; gi++)
    {
      double mean = 0.0, var = 0.0, n = (double) cpg * hw;
      for (int ch = gi * cpg; ch < (gi + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++)
          mean += x[(size_t) ch * hw + i];
      mean /= n;
      for (int ch = gi * cpg; ch < (gi + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++)
          var += (x[(size_t) ch * hw + i] - mean) * (x[(size_t) ch * hw + i] - mean);
      var /= n;
      for (int ch = gi * cpg; ch < (gi + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++)
          {
            double v = (x[(size_t) ch * hw + i] - mean) / sqrt (var + eps) * g[ch] + b[ch];
            y[(size_t) ch * hw + i] = (float) (swish ? v / (1.0 + exp (-v)) : v);
          }
    }
}

void
mv_spatial_attention_naive (const float *q, const float *k, const float *v, int c, int p,
                            float *out)
{
  double w[p > 0 ? p : 1];
  for (int i = 0; i < p; i++)
    {
      double mx = -INFINITY, sum = 0.0;
      for (int j = 0; j < p; j++)
        {
          double s = 0.0;
          for (int ch = 0; ch < c; ch++)
            s += (double) q[(size_t) ch * p + i] * k[(size_t) ch * p + j];
          w[j] = s / sqrt ((double) c);
          mx = w[j] > mx ? w[j] : mx;
        }
      for (int j = 0; j < p; j++)
        sum += (w[j] = exp (w[j] - mx));
      for (int ch = 0; ch < c; ch++)
        {
          double s = 0.0;
          for (int j = 0; j < p; j++)
            s += w[j] / sum * v[(size_t) ch * p + j];
          out[(size_t) ch * p + i] = (float) s;
        }
    }
}

void
mv_nearest_codes_naive (const float *z, int d, int p, const float *codebook, int n, int32_t *codes)
{
  for (int i = 0; i < p; i++)
    {
      double best = INFINITY;
      for (int k = 0; k < n; k++)
        {
          double s = 0.0;
          for (int j = 0; j < d; j++)
            {
              double diff = (double) z[(size_t) j * p + i] - codebook[(size_t) k * d + j];
              s += diff * diff;
            }
          if (s < best)
            {
              best = s;
              codes[i] = k;
            }
        }
    }
}
