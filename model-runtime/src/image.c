/* image.c — the pixel work around a job: antialiased resizing, square
 * context crops, pixel mask → token mask, the inward feather, paste-back.
 * SPDX-License-Identifier: MIT
 *
 * Images are interleaved RGB (3 bytes per pixel, rows `stride` bytes apart);
 * masks are one byte per pixel, >= 128 meaning "regenerate". */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Triangle-filter weights for one axis, as PIL's antialiased bilinear
 * resampling does: when shrinking by a factor f the filter widens by f, so
 * every source pixel contributes (no aliasing). */
typedef struct {
  int *first; /* [n_out] first source index */
  int *count; /* [n_out] taps */
  float *w;   /* [n_out * max_taps] */
  int max_taps;
} axis_weights;

static bool
axis_init (axis_weights *a, int n_in, int n_out)
{
  double scale = (double) n_in / n_out, support = scale > 1.0 ? scale : 1.0;
  a->max_taps = (int) ceil (support) * 2 + 1;
  a->first = malloc ((size_t) n_out * sizeof (int));
  a->count = malloc ((size_t) n_out * sizeof (int));
  a->w = malloc ((size_t) n_out * a->max_taps * sizeof (float));
  if (!a->first || !a->count || !a->w)
    return false;
  for (int i = 0; i < n_out; i++)
    {
      double center = (i + 0.5) * scale;
      int lo = (int) floor (center - support), hi = (int) ceil (center + support);
      lo = lo < 0 ? 0 : lo;
      hi = hi > n_in ? n_in : hi;
      double sum = 0.0;
      int n = 0;
      float *w = a->w + (size_t) i * a->max_taps;
      for (int j = lo; j < hi && n < a->max_taps; j++, n++)
        {
          double x = fabs ((j + 0.5 - center) / support);
          w[n] = (float) (x < 1.0 ? 1.0 - x : 0.0);
          sum += w[n];
        }
      if (sum <= 0.0)
        {
          /* degenerate: nearest pixel */
          int k = (int) center;
          lo = k < n_in ? k : n_in - 1;
          n = 1;
          w[0] = 1.0f;
          sum = 1.0;
        }
      for (int k = 0; k < n; k++)
        w[k] = (float) (w[k] / sum);
      a->first[i] = lo;
      a->count[i] = n;
    }
  return true;
}

static void
axis_clear (axis_weights *a)
{
  free (a->first);
  free (a->count);
  free (a->w);
}

bool
mv_image_resize (const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw, int dh,
                 size_t dstride)
{
  axis_weights ax = { 0 }, ay = { 0 };
  float *tmp = malloc ((size_t) sh * dw * 3 * sizeof (float));
  bool ok = tmp && axis_init (&ax, sw, dw) && axis_init (&ay, sh, dh);
  if (ok)
    {
      /* horizontal pass into floats, then vertical pass with rounding */
      for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++)
          {
            const float *w = ax.w + (size_t) x * ax.max_taps;
            const uint8_t *s = src + (size_t) y * sstride + 3 * (size_t) ax.first[x];
            float acc[3] = { 0, 0, 0 };
            for (int k = 0; k < ax.count[x]; k++)
              for (int c = 0; c < 3; c++)
                acc[c] += w[k] * s[3 * k + c];
            for (int c = 0; c < 3; c++)
              tmp[((size_t) y * dw + x) * 3 + c] = acc[c];
          }
      for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
          {
            const float *w = ay.w + (size_t) y * ay.max_taps;
            float acc[3] = { 0, 0, 0 };
            for (int k = 0; k < ay.count[y]; k++)
              for (int c = 0; c < 3; c++)
                acc[c] += w[k] * tmp[((size_t) (ay.first[y] + k) * dw + x) * 3 + c];
            for (int c = 0; c < 3; c++)
              {
                float v = acc[c] + 0.5f;
                dst[(size_t) y * dstride + 3 * (size_t) x + c] = (uint8_t) (v < 0.0f     ? 0.0f
                                                                            : v > 255.0f ? 255.0f
                                                                                         : v);
              }
          }
    }
  free (tmp);
  axis_clear (&ax);
  axis_clear (&ay);
  return ok;
}

bool
mv_image_crop_resize (const uint8_t *src, int w, int h, size_t stride, int x0, int y0, int side,
                      uint8_t *dst, int res)
{
  /* copy the square, replicating edge pixels where it leaves the image */
  uint8_t *sq = malloc ((size_t) side * side * 3);
  if (!sq)
    return false;
  for (int y = 0; y < side; y++)
    {
      int sy = y0 + y < 0 ? 0 : y0 + y >= h ? h - 1 : y0 + y;
      for (int x = 0; x < side; x++)
        {
          int sx = x0 + x < 0 ? 0 : x0 + x >= w ? w - 1 : x0 + x;
          memcpy (sq + ((size_t) y * side + x) * 3, src + (size_t) sy * stride + 3 * (size_t) sx,
                  3);
        }
    }
  bool ok = mv_image_resize (sq, side, side, (size_t) side * 3, dst, res, res, (size_t) res * 3);
  free (sq);
  return ok;
}

void
mv_center_crop_box (int w, int h, int *x0, int *y0, int *side)
{
  /* the official Resize(R) + CenterCrop(R) keeps the central square of side
   * min(w, h); top = round((h − side) / 2) */
  *side = w < h ? w : h;
  *x0 = (int) lround ((w - *side) / 2.0);
  *y0 = (int) lround ((h - *side) / 2.0);
}

bool
mv_mask_bbox (const uint8_t *mask, int w, int h, size_t stride, int *bx0, int *by0, int *bx1,
              int *by1)
{
  int x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (mask[(size_t) y * stride + x] >= 128)
        {
          x0 = x < x0 ? x : x0;
          x1 = x > x1 ? x : x1;
          y0 = y < y0 ? y : y0;
          y1 = y > y1 ? y : y1;
        }
  if (x1 < 0)
    return false;
  *bx0 = x0, *by0 = y0, *bx1 = x1 + 1, *by1 = y1 + 1;
  return true;
}

void
mv_context_square (int w, int h, int bx0, int by0, int bx1, int by1, int padding, int res, int *x0,
                   int *y0, int *side)
{
  int bw = bx1 - bx0, bh = by1 - by0;
  int s = (bw > bh ? bw : bh) + 2 * padding;
  /* at least R pixels when the image has them: a small region is then seen
   * at the model's own scale instead of blown up */
  int big = w > h ? w : h, floor_side = res < big ? res : big;
  s = s < floor_side ? floor_side : s;
  int cx = (bx0 + bx1) / 2, cy = (by0 + by1) / 2;
  int sx = cx - s / 2, sy = cy - s / 2;
  /* slide the square inside the image where it fits */
  if (s <= w)
    sx = sx < 0 ? 0 : sx + s > w ? w - s : sx;
  else
    sx = (w - s) / 2;
  if (s <= h)
    sy = sy < 0 ? 0 : sy + s > h ? h - s : sy;
  else
    sy = (h - s) / 2;
  *x0 = sx, *y0 = sy, *side = s;
}

void
mv_mask_to_tokens (const uint8_t *mask, int w, int h, size_t stride, int x0, int y0, int side,
                   int grid, uint8_t *tokens)
{
  /* a code is regenerated when any pixel of its cell is masked: cells are
   * the side/grid squares of the context square in image coordinates */
  for (int gy = 0; gy < grid; gy++)
    for (int gx = 0; gx < grid; gx++)
      {
        int cx0 = x0 + (int) ((long) gx * side / grid),
            cx1 = x0 + (int) ((long) (gx + 1) * side / grid);
        int cy0 = y0 + (int) ((long) gy * side / grid),
            cy1 = y0 + (int) ((long) (gy + 1) * side / grid);
        cx1 = cx1 > cx0 ? cx1 : cx0 + 1;
        cy1 = cy1 > cy0 ? cy1 : cy0 + 1;
        bool any = false;
        for (int y = cy0 < 0 ? 0 : cy0; !any && y < cy1 && y < h; y++)
          for (int x = cx0 < 0 ? 0 : cx0; !any && x < cx1 && x < w; x++)
            any = mask[(size_t) y * stride + x] >= 128;
        tokens[gy * grid + gx] = any;
      }
}

bool
mv_feather_alpha (const uint8_t *mask, int w, int h, size_t stride, int feather, float *alpha)
{
  /* alpha = min(1, d / feather) inside the mask, where d is the chamfer
   * distance (1, √2 steps) to the nearest unmasked pixel or the image edge;
   * 0 outside. So the blend fades towards the mask's edge from the inside
   * and nothing outside the mask changes. */
  size_t n = (size_t) w * h;
  for (size_t i = 0; i < n; i++)
    alpha[i] = mask[(i / w) * stride + i % w] >= 128 ? INFINITY : 0.0f;
  if (feather <= 0)
    {
      for (size_t i = 0; i < n; i++)
        alpha[i] = alpha[i] > 0.0f ? 1.0f : 0.0f;
      return true;
    }
  const float d1 = 1.0f, d2 = 1.41421356f;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float *a = &alpha[(size_t) y * w + x];
        if (*a == 0.0f)
          continue;
        float best = *a;
        /* pixels beyond the image edge count as unmasked at distance 1 */
        if (x == 0 || y == 0 || x == w - 1 || y == h - 1)
          best = best < d1 ? best : d1;
        if (x > 0)
          best = fminf (best, a[-1] + d1);
        if (y > 0)
          {
            best = fminf (best, a[-w] + d1);
            if (x > 0)
              best = fminf (best, a[-w - 1] + d2);
            if (x < w - 1)
              best = fminf (best, a[-w + 1] + d2);
          }
        *a = best;
      }
  for (int y = h - 1; y >= 0; y--)
    for (int x = w - 1; x >= 0; x--)
      {
        float *a = &alpha[(size_t) y * w + x];
        if (*a == 0.0f)
          continue;
        float best = *a;
        if (x < w - 1)
          best = fminf (best, a[1] + d1);
        if (y < h - 1)
          {
            best = fminf (best, a[w] + d1);
            if (x < w - 1)
              best = fminf (best, a[w + 1] + d2);
            if (x > 0)
              best = fminf (best, a[w - 1] + d2);
          }
        *a = best;
      }
  for (size_t i = 0; i < n; i++)
    alpha[i] = alpha[i] >= (float) feather ? 1.0f : alpha[i] / (float) feather;
  return true;
}

void
mv_paste (uint8_t *dst, int w, int h, size_t stride, const uint8_t *src, int x0, int y0, int side,
          const float *alpha)
{
  for (int y = y0 < 0 ? 0 : y0; y < y0 + side && y < h; y++)
    for (int x = x0 < 0 ? 0 : x0; x < x0 + side && x < w; x++)
      {
        float a = alpha[(size_t) y * w + x];
        if (a <= 0.0f)
          continue; /* outside the mask: the input's bytes, untouched */
        uint8_t *d = dst + (size_t) y * stride + 3 * (size_t) x;
        const uint8_t *s = src + ((size_t) (y - y0) * side + (x - x0)) * 3;
        for (int c = 0; c < 3; c++)
          d[c] = (uint8_t) (a >= 1.0f ? s[c] : lrintf (a * s[c] + (1.0f - a) * d[c]));
      }
}
