/* ops_conv.c — convolution (im2col + sgemm, banded) and GroupNorm(+swish)
 * for the VQGAN. SPDX-License-Identifier: MIT
 * Legend: see ops.h. */
#include "ops.h"

#include "threads.h"

#include <cblas.h>

#include <math.h>
#include <string.h>

void
mv_conv2d_out_size (const mv_conv_geom *g, int h, int w, int *ho, int *wo)
{
  *ho = (h * g->up + g->pad_top + g->pad_bottom - g->k) / g->stride + 1;
  *wo = (w * g->up + g->pad_left + g->pad_right - g->k) / g->stride + 1;
}

/* col: [K, rows·WO] for output rows [r0, r0 + rows). Row (c, ky, kx) of col
 * holds, for every output pixel, the input value under that kernel tap, or 0
 * in the padding. */
void
mv_im2col (const float *x, int ci, int h, int w, const mv_conv_geom *g, int r0, int rows, int wo,
           float *col)
{
  int k = g->k, hu = h * g->up, wu = w * g->up;
  size_t n = (size_t) rows * wo;

  for (int c = 0; c < ci; c++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++)
        {
          float *dst = col + ((size_t) (c * k + ky) * k + kx) * n;
          for (int r = 0; r < rows; r++)
            {
              int iy = (r0 + r) * g->stride - g->pad_top + ky;
              float *d = dst + (size_t) r * wo;
              if (iy < 0 || iy >= hu)
                {
                  memset (d, 0, (size_t) wo * sizeof (float));
                  continue;
                }
              const float *src = x + ((size_t) c * h + iy / g->up) * w;
              if (g->stride == 1 && g->up == 1)
                {
                  /* the common case: one contiguous span plus zero edges */
                  int lo = g->pad_left - kx, x0 = lo > 0 ? lo : 0;
                  int x1 = w + g->pad_left - kx < wo ? w + g->pad_left - kx : wo;
                  for (int ox = 0; ox < x0 && ox < wo; ox++)
                    d[ox] = 0.0f;
                  if (x1 > x0)
                    memcpy (d + x0, src + x0 - g->pad_left + kx,
                            (size_t) (x1 - x0) * sizeof (float));
                  for (int ox = x1 > x0 ? x1 : x0; ox < wo; ox++)
                    d[ox] = 0.0f;
                  continue;
                }
              for (int ox = 0; ox < wo; ox++)
                {
                  int ix = ox * g->stride - g->pad_left + kx;
                  d[ox] = ix < 0 || ix >= wu ? 0.0f : src[ix / g->up];
                }
            }
        }
}

bool
mv_conv_is_pointwise (const mv_conv_geom *g)
{
  return g->k == 1 && g->stride == 1 && g->up == 1 && g->pad_top == 0 && g->pad_left == 0
         && g->pad_bottom == 0 && g->pad_right == 0;
}

/* Output rows [r0, r0 + rows): im2col of the band into col (unless 1×1),
 * one product, the bias. OpenBLAS's thread count is set per product when
 * `set_threads`, else left as it is (inside a pool task). */
static void
conv_rows (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
           const mv_conv_geom *g, int r0, int rows, float *col, float *y, bool set_threads)
{
  int ho, wo;
  mv_conv2d_out_size (g, h, w, &ho, &wo);
  size_t kdim = (size_t) ci * g->k * g->k, npix = (size_t) ho * wo, n = (size_t) rows * wo;
  bool pointwise = mv_conv_is_pointwise (g);
  const float *src = x + (size_t) r0 * wo;
  int ldb = (int) npix;

  if (!pointwise)
    {
      mv_im2col (x, ci, h, w, g, r0, rows, wo, col);
      src = col;
      ldb = (int) n;
    }
  if (set_threads)
    mv_blas_threads_for_flop (2.0 * co * (double) n * (double) kdim);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, co, (int) n, (int) kdim, 1.0f, wt,
               (int) kdim, src, ldb, 0.0f, y + (size_t) r0 * wo, (int) npix);
  if (b)
    for (int c = 0; c < co; c++)
      {
        float *row = y + (size_t) c * npix + (size_t) r0 * wo;
        for (size_t p = 0; p < n; p++)
          row[p] += b[c];
      }
}

void
mv_conv2d_rows (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
                const mv_conv_geom *g, int r0, int rows, float *col, float *y)
{
  conv_rows (x, ci, h, w, wt, b, co, g, r0, rows, col, y, false);
}

bool
mv_conv2d (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
           const mv_conv_geom *g, float *col, size_t col_floats, float *y, const atomic_int *cancel)
{
  int ho, wo;
  mv_conv2d_out_size (g, h, w, &ho, &wo);
  size_t kdim = (size_t) ci * g->k * g->k;
  int band = mv_conv_is_pointwise (g) ? ho : (int) (col_floats / (kdim * (size_t) wo));
  band = band < 1 ? 1 : band > ho ? ho : band;
  for (int r0 = 0; r0 < ho; r0 += band)
    {
      if (cancel && atomic_load (cancel))
        return false;
      conv_rows (x, ci, h, w, wt, b, co, g, r0, ho - r0 < band ? ho - r0 : band, col, y, true);
    }
  return !(cancel && atomic_load (cancel));
}

void
mv_group_norm_groups (const float *x, int c, int hw, int groups, int g0, int g1, const float *g,
                      const float *b, float eps, bool swish, float *y)
{
  int cpg = c / groups;
  size_t n = (size_t) cpg * hw;

  for (int gi = g0; gi < g1; gi++)
    {
      const float *xs = x + (size_t) gi * n;
      double mean = 0.0, var = 0.0;
      for (size_t i = 0; i < n; i++)
        mean += xs[i];
      mean /= (double) n;
      for (size_t i = 0; i < n; i++)
        var += (xs[i] - mean) * (xs[i] - mean);
      var /= (double) n;
      float inv = (float) (1.0 / sqrt (var + eps)), fm = (float) mean;
      for (int ch = gi * cpg; ch < (gi + 1) * cpg; ch++)
        {
          const float *xr = x + (size_t) ch * hw;
          float *yr = y + (size_t) ch * hw;
          float scale = inv * g[ch], shift = b[ch] - fm * inv * g[ch];
          if (swish)
            mv_swish_affine (xr, yr, (size_t) hw, scale, shift);
          else
            for (int i = 0; i < hw; i++)
              yr[i] = xr[i] * scale + shift;
        }
    }
}

void
mv_group_norm (const float *x, int c, int hw, int groups, const float *g, const float *b, float eps,
               bool swish, float *y)
{
  mv_group_norm_groups (x, c, hw, groups, 0, groups, g, b, eps, swish, y);
}

void
mv_spatial_attention (const float *q, const float *k, const float *v, int c, int p, float *scores,
                      float *out)
{
  /* scores: [P, P] = qᵀ·k / √C, softmax over keys */
  mv_gemm (true, false, p, p, c, 1.0f / sqrtf ((float) c), q, p, k, p, 0.0f, scores, p);
  for (int i = 0; i < p; i++)
    mv_softmax_prefix (scores + (size_t) i * p, p, p);
  /* out: [C, P] = v · scoresᵀ */
  mv_gemm (false, true, c, p, p, 1.0f, v, p, scores, p, 0.0f, out, p);
}

void
mv_nearest_codes (const float *z, int d, int p, const float *codebook, const float *sqnorm, int n,
                  float *scratch, size_t scratch_floats, int32_t *codes)
{
  float *zn = scratch, *best = scratch + p, *dots = scratch + 2 * (size_t) p;
  int chunk = (int) ((scratch_floats - 2 * (size_t) p) / (size_t) p);
  chunk = chunk < 1 ? 1 : chunk > n ? n : chunk;

  for (int i = 0; i < p; i++)
    {
      float s = 0.0f;
      for (int j = 0; j < d; j++)
        s += z[(size_t) j * p + i] * z[(size_t) j * p + i];
      zn[i] = s;
      best[i] = INFINITY;
      codes[i] = 0;
    }
  for (int k0 = 0; k0 < n; k0 += chunk)
    {
      int nk = n - k0 < chunk ? n - k0 : chunk;
      /* dots: [P, nk] = zᵀ · E[k0 : k0 + nk]ᵀ */
      mv_gemm (true, true, p, nk, d, 1.0f, z, p, codebook + (size_t) k0 * d, d, 0.0f, dots, nk);
      for (int i = 0; i < p; i++)
        for (int k = 0; k < nk; k++)
          {
            float dist = zn[i] + sqnorm[k0 + k] - 2.0f * dots[(size_t) i * nk + k];
            if (dist < best[i])
              {
                best[i] = dist;
                codes[i] = k0 + k;
              }
          }
    }
}
