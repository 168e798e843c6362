/* vqgan.c — the taming VQGAN (spec §4): encoder, nearest-code search and
 * decoder, the official pixel conversions, and palette previews.
 * SPDX-License-Identifier: MIT
 *
 * Legend: C channels, H W spatial size, P = H·W positions, s the code grid
 * side, R the image side, D the codebook vector size, N the codebook size.
 * Activations are planar [C, H, W]. Three activation buffers of the largest
 * C·H·W rotate through the network: one holds the current value x, the other
 * two take intermediates, so memory stays at 3 activations + one im2col band
 * (≤ 32 MB) + the attention scratch. */
#include "vqgan.h"

#include "context.h"
#include "matmul.h"
#include "matmul_bf16.h"
#include "ops.h"
#include "parallel.h"
#include "status.h"
#include "threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One encode or decode in progress. */
typedef struct {
  magvlt_context *ctx;
  const mv_vqgan *vq;
  float *buf[3];
  int cur;     /* which buf holds x */
  int c, h, w; /* shape of x */
  bool bf16;   /* convolutions on the bf16 kernels (the decoder, bf16 backend) */
} vq_run;

static float *
spare (vq_run *r, int i)
{
  return r->buf[(r->cur + 1 + i) % 3];
}

/* Weights as floats: f32 in place, f16 expanded into the context's scratch. */
static const float *
weights (vq_run *r, const mv_tensor *t)
{
  if (!t->f16)
    return t->data;
  mv_half_to_f32 (t->data, t->bf16, r->ctx->vq_w, (size_t) (t->rows * t->cols));
  return r->ctx->vq_w;
}

static bool
conv (vq_run *r, const mv_conv *cv, const float *x, int h, int w, const mv_conv_geom *g, float *y,
      int *ho, int *wo)
{
  mv_conv2d_out_size (g, h, w, ho, wo);
  const float *wt = weights (r, &cv->w);
  if (r->bf16 && mv_bf16_conv2d (r->ctx, x, cv->ci, h, w, wt, cv->b.data, cv->co, g, y))
    return true;
  if (atomic_load (&r->ctx->cancel))
    return false;
  return mv_par_conv2d (r->ctx, x, cv->ci, h, w, wt, cv->b.data, cv->co, g, y);
}

static const mv_conv_geom same3 = { 3, 1, 1, 1, 1, 1, 1 };
static const mv_conv_geom point1 = { 1, 1, 0, 0, 0, 0, 1 };
/* taming's Downsample: pad one zero column right and one zero row below,
 * then 3×3 stride 2 without padding (spec §4.2) */
static const mv_conv_geom down3 = { 3, 2, 0, 0, 1, 1, 1 };
/* taming's Upsample: nearest ×2, then 3×3 stride 1 padding 1, fused */
static const mv_conv_geom up3 = { 3, 1, 1, 1, 1, 1, 2 };

/* x ← x + conv2(swish(gn2(conv1(swish(gn1(x)))))), with a 1×1 shortcut when
 * the channel count changes. */
static bool
resblock (vq_run *r, const mv_resblock *rb)
{
  float *x = r->buf[r->cur], *t = spare (r, 0), *h = spare (r, 1);
  int hw = r->h * r->w, ho, wo;

  mv_par_group_norm (r->ctx, x, rb->ci, hw, MV_VQ_GROUPS, rb->norm1.w.data, rb->norm1.b.data,
                     MV_VQ_EPS, true, t);
  if (!conv (r, &rb->conv1, t, r->h, r->w, &same3, h, &ho, &wo))
    return false;
  mv_par_group_norm (r->ctx, h, rb->co, hw, MV_VQ_GROUPS, rb->norm2.w.data, rb->norm2.b.data,
                     MV_VQ_EPS, true, t);
  if (!conv (r, &rb->conv2, t, r->h, r->w, &same3, h, &ho, &wo))
    return false;
  size_t n = (size_t) rb->co * hw;
  if (rb->has_nin)
    {
      if (!conv (r, &rb->nin, x, r->h, r->w, &point1, t, &ho, &wo))
        return false;
      for (size_t i = 0; i < n; i++)
        t[i] += h[i];
      r->cur = (r->cur + 1) % 3; /* t is the new x */
    }
  else
    for (size_t i = 0; i < n; i++)
      x[i] += h[i];
  r->c = rb->co;
  return true;
}

/* Single-head self-attention over the P positions (spec §4.2):
 * x ← x + proj(v · softmax(qᵀk / √C)ᵀ). */
static bool
attnblock (vq_run *r, const mv_attnblock *ab)
{
  float *x = r->buf[r->cur], *t = spare (r, 0), *o = spare (r, 1);
  int c = ab->c, p = r->h * r->w, ho, wo;
  float *q = r->ctx->vq_attn, *k = q + (size_t) c * p, *v = k + (size_t) c * p;
  float *s = v + (size_t) c * p;

  mv_par_group_norm (r->ctx, x, c, p, MV_VQ_GROUPS, ab->norm.w.data, ab->norm.b.data, MV_VQ_EPS,
                     false, t);
  if (!conv (r, &ab->q, t, r->h, r->w, &point1, q, &ho, &wo)
      || !conv (r, &ab->k, t, r->h, r->w, &point1, k, &ho, &wo)
      || !conv (r, &ab->v, t, r->h, r->w, &point1, v, &ho, &wo))
    return false;
  mv_spatial_attention (q, k, v, c, p, s, t);
  if (!conv (r, &ab->proj, t, r->h, r->w, &point1, o, &ho, &wo))
    return false;
  for (size_t i = 0; i < (size_t) c * p; i++)
    x[i] += o[i];
  return true;
}

/* x ← conv(x) into a spare buffer (resampling and the in/out convs). */
static bool
conv_step (vq_run *r, const mv_conv *cv, const mv_conv_geom *g)
{
  float *y = spare (r, 0);
  int ho, wo;
  if (!conv (r, cv, r->buf[r->cur], r->h, r->w, g, y, &ho, &wo))
    return false;
  r->cur = (r->cur + 1) % 3;
  r->c = cv->co, r->h = ho, r->w = wo;
  return true;
}

/* x ← conv(swish(GroupNorm(x))): the norm_out + conv_out tail. */
static bool
norm_conv_step (vq_run *r, const mv_norm *nm, const mv_conv *cv)
{
  float *x = r->buf[r->cur];
  mv_par_group_norm (r->ctx, x, r->c, r->h * r->w, MV_VQ_GROUPS, nm->w.data, nm->b.data, MV_VQ_EPS,
                     true, x);
  return conv_step (r, cv, &same3);
}

static bool
level (vq_run *r, const mv_vq_level *lv, bool down)
{
  for (int b = 0; b < lv->n_blocks; b++)
    {
      if (!resblock (r, &lv->blocks[b]))
        return false;
      if (lv->attn && !attnblock (r, &lv->attn[b]))
        return false;
    }
  if (lv->has_resample)
    return conv_step (r, &lv->resample, down ? &down3 : &up3);
  return true;
}

static bool
mid (vq_run *r, const mv_resblock *b1, const mv_attnblock *a, const mv_resblock *b2)
{
  return resblock (r, b1) && attnblock (r, a) && resblock (r, b2);
}

/* The VQGAN scratch is allocated on the first image job of a context (a
 * context used only for text needs none of it), never inside a job's loop. */
static magvlt_status
prepare (magvlt_context *ctx, const mv_vqgan **vq_out)
{
  const mv_vqgan *vq = ctx->model->vq;
  if (!vq)
    return mv_ctx_fail (ctx, MAGVLT_ERR_UNSUPPORTED,
                        "this model file has no VQGAN (no magvlt.vqgan.* metadata)");
  *vq_out = vq;
  if (mv_ctx_take_cancel (ctx))
    return mv_ctx_fail (ctx, MAGVLT_ABORTED, "cancelled before the image job started");
  mv_blas_set_threads (ctx->n_threads);
  if (ctx->vq_arena)
    return MAGVLT_OK;
  /* bf16 backend: the decoder's weight rows and per-thread im2col panels
   * (bfloat16, two per float of the arena; each thread's share of the band
   * plus a panel of padding per kernel tap) */
  bool bf16 = ctx->backend == MV_BACKEND_BF16;
  size_t wb = bf16 ? vq->max_rows : 0;
  /* each thread's share of the im2col band holds at least one output row
   * of the widest convolution, so the pool's paths never fall back for
   * want of room (a fallback would change a bf16 result with the thread
   * count) */
  size_t nt = (size_t) ctx->n_threads, per_thread = vq->col_floats / nt;
  if (per_thread < vq->widest_row)
    per_thread = vq->widest_row;
  size_t col = per_thread * nt;
  size_t panels = bf16 ? col + nt * 32 * (vq->widest_k + 2) : 0;
  size_t sizes[] = {
    vq->max_act,    vq->max_act, vq->max_act,    vq->max_attn, vq->max_weight ? vq->max_weight : 1,
    vq->col_floats, wb / 2 + 16, panels / 2 + 16
  };
  size_t total = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    total += (sizes[i] + 15) & ~(size_t) 15;
  ctx->vq_arena = mv_arena_alloc (total * sizeof (float));
  if (!ctx->vq_arena)
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory for %zu MB of VQGAN scratch",
                        total * sizeof (float) >> 20);
  float *p = ctx->vq_arena;
  float *wb_at, *panels_at;
  float **dst[] = { &ctx->vq_a, &ctx->vq_b,   &ctx->vq_c, &ctx->vq_attn,
                    &ctx->vq_w, &ctx->vq_col, &wb_at,     &panels_at };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    {
      *dst[i] = p;
      p += (sizes[i] + 15) & ~(size_t) 15;
    }
  ctx->vq_col_floats = col;
  ctx->vq_wb = bf16 ? (uint16_t *) wb_at : NULL;
  ctx->vq_wb_entries = wb;
  ctx->vq_panels = bf16 ? (uint16_t *) panels_at : NULL;
  /* per-thread shares must keep the panels 64-byte aligned */
  ctx->vq_panel_entries = panels / ((size_t) ctx->n_threads * 32) * ((size_t) ctx->n_threads * 32);
  ctx->vq_bytes = total * sizeof (float);
  return MAGVLT_OK;
}

static vq_run
run_start (magvlt_context *ctx, const mv_vqgan *vq)
{
  vq_run r = { .ctx = ctx, .vq = vq, .buf = { ctx->vq_a, ctx->vq_b, ctx->vq_c } };
  return r;
}

static magvlt_status
aborted (magvlt_context *ctx, const char *what)
{
  atomic_store (&ctx->cancel, 0);
  return mv_ctx_fail (ctx, MAGVLT_ABORTED, "cancelled during %s", what);
}

static magvlt_status
encode (magvlt_context *ctx, const mv_vqgan *vq, magvlt_vq_encode_output *out)
{
  vq_run r = run_start (ctx, vq);
  r.c = 3, r.h = r.w = vq->resolution; /* the caller put the image in buf[0] */

  if (!conv_step (&r, &vq->enc_conv_in, &same3))
    return aborted (ctx, "encoding");
  for (int l = 0; l < vq->n_levels; l++)
    if (!level (&r, &vq->enc[l], true))
      return aborted (ctx, "encoding");
  if (!mid (&r, &vq->enc_mid1, &vq->enc_mid_attn, &vq->enc_mid2)
      || !norm_conv_step (&r, &vq->enc_norm_out, &vq->enc_conv_out))
    return aborted (ctx, "encoding");
  int p = r.h * r.w;
  if (out->encoder_out)
    memcpy (out->encoder_out, r.buf[r.cur], (size_t) vq->z_channels * p * sizeof (float));
  if (!conv_step (&r, &vq->quant_conv, &point1))
    return aborted (ctx, "encoding");
  if (out->pre_quant)
    memcpy (out->pre_quant, r.buf[r.cur], (size_t) vq->embed_dim * p * sizeof (float));
  mv_nearest_codes (r.buf[r.cur], vq->embed_dim, p, vq->codebook, vq->codebook_sqnorm, vq->n_embed,
                    ctx->vq_col, ctx->vq_col_floats, out->codes);
  return MAGVLT_OK;
}

magvlt_status
magvlt_vq_encode_float (magvlt_context *ctx, const float *image, magvlt_vq_encode_output *out)
{
  const mv_vqgan *vq;
  if (!ctx || !image || !out || !out->codes)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_vq_encode_float: NULL argument");
  magvlt_status st = prepare (ctx, &vq);
  if (st != MAGVLT_OK)
    return st;
  size_t n = 3 * (size_t) vq->resolution * vq->resolution;
  for (size_t i = 0; i < n; i++)
    if (!isfinite (image[i]))
      return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "image value %zu is not finite", i);
  memcpy (ctx->vq_a, image, n * sizeof (float));
  return encode (ctx, vq, out);
}

magvlt_status
magvlt_vq_encode (magvlt_context *ctx, const uint8_t *rgb, size_t stride,
                  magvlt_vq_encode_output *out)
{
  const mv_vqgan *vq;
  if (!ctx || !rgb || !out || !out->codes)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_vq_encode: NULL argument");
  magvlt_status st = prepare (ctx, &vq);
  if (st != MAGVLT_OK)
    return st;
  int res = vq->resolution;
  if (stride < (size_t) res * 3)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "stride %zu is less than %d bytes per row",
                        stride, res * 3);
  /* ToTensor + Normalize(0.5, 0.5), in float32 as torchvision does */
  for (int y = 0; y < res; y++)
    for (int x = 0; x < res; x++)
      for (int c = 0; c < 3; c++)
        ctx->vq_a[((size_t) c * res + y) * res + x] =
          ((float) rgb[(size_t) y * stride + 3 * (size_t) x + c] / 255.0f - 0.5f) / 0.5f;
  return encode (ctx, vq, out);
}

magvlt_status
magvlt_vq_decode (magvlt_context *ctx, const int32_t *codes, uint8_t *rgb, size_t stride,
                  float *raw)
{
  const mv_vqgan *vq;
  if (!ctx || !codes)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_vq_decode: NULL argument");
  magvlt_status st = prepare (ctx, &vq);
  if (st != MAGVLT_OK)
    return st;
  int s = vq->grid, p = s * s, d = vq->embed_dim, res = vq->resolution;
  if (rgb && stride < (size_t) res * 3)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "stride %zu is less than %d bytes per row",
                        stride, res * 3);
  for (int i = 0; i < p; i++)
    if (codes[i] < 0 || codes[i] >= vq->n_embed)
      return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                          "codes[%d] = %d is outside the codebook (0..%d)", i, codes[i],
                          vq->n_embed - 1);

  /* q: [D, s, s], the codebook vectors of the codes */
  vq_run r = run_start (ctx, vq);
  r.bf16 = ctx->backend == MV_BACKEND_BF16;
  for (int i = 0; i < p; i++)
    for (int j = 0; j < d; j++)
      r.buf[0][(size_t) j * p + i] = vq->codebook[(size_t) codes[i] * d + j];
  r.c = d, r.h = r.w = s;
  if (!conv_step (&r, &vq->post_quant_conv, &point1) || !conv_step (&r, &vq->dec_conv_in, &same3)
      || !mid (&r, &vq->dec_mid1, &vq->dec_mid_attn, &vq->dec_mid2))
    return aborted (ctx, "decoding");
  for (int l = vq->n_levels - 1; l >= 0; l--)
    if (!level (&r, &vq->dec[l], false))
      return aborted (ctx, "decoding");
  if (!norm_conv_step (&r, &vq->dec_norm_out, &vq->dec_conv_out))
    return aborted (ctx, "decoding");

  const float *y = r.buf[r.cur];
  size_t plane = (size_t) res * res;
  if (raw)
    memcpy (raw, y, 3 * plane * sizeof (float));
  if (rgb)
    for (int yy = 0; yy < res; yy++)
      for (int x = 0; x < res; x++)
        for (int c = 0; c < 3; c++)
          {
            /* clamp(0.5·y + 0.5, 0, 1)·255, truncated like torch's .to(uint8) */
            float v = y[c * plane + (size_t) yy * res + x] * 0.5f + 0.5f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            rgb[(size_t) yy * stride + 3 * (size_t) x + c] = (uint8_t) (v * 255.0f);
          }
  return MAGVLT_OK;
}

magvlt_status
magvlt_vq_compute_palette (magvlt_context *ctx, float *palette)
{
  const mv_vqgan *vq;
  if (!ctx || !palette)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_vq_compute_palette: NULL argument");
  if (!(vq = ctx->model->vq))
    return mv_ctx_fail (ctx, MAGVLT_ERR_UNSUPPORTED, "this model file has no VQGAN");
  int s = vq->grid, p = s * s, res = vq->resolution, patch = res / s;
  size_t plane = (size_t) res * res;
  int32_t *codes = malloc ((size_t) p * sizeof *codes);
  float *raw = malloc (3 * plane * sizeof (float));
  magvlt_status st =
    codes && raw ? MAGVLT_OK : mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");

  /* Each decode holds P different codes, so N/P decodes cover the codebook;
   * a code's colour is the mean of its patch (neighbours bleed in a little:
   * it is a preview colour, not a reconstruction). */
  for (int g0 = 0; st == MAGVLT_OK && g0 < vq->n_embed; g0 += p)
    {
      if (ctx->callbacks.progress)
        ctx->callbacks.progress (MAGVLT_STAGE_DECODE, g0 / p, (vq->n_embed + p - 1) / p, 0, 1,
                                 ctx->callbacks.user_data);
      for (int i = 0; i < p; i++)
        codes[i] = (g0 + i) % vq->n_embed;
      st = magvlt_vq_decode (ctx, codes, NULL, 0, raw);
      for (int i = 0; st == MAGVLT_OK && i < p && g0 + i < vq->n_embed; i++)
        for (int c = 0; c < 3; c++)
          {
            double sum = 0.0;
            for (int yy = 0; yy < patch; yy++)
              for (int x = 0; x < patch; x++)
                {
                  float v = raw[c * plane + (size_t) ((i / s) * patch + yy) * res
                                + (size_t) (i % s) * patch + x]
                              * 0.5f
                            + 0.5f;
                  sum += v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                }
            palette[(size_t) (g0 + i) * 3 + c] = (float) (sum / (patch * patch));
          }
    }
  free (codes);
  free (raw);
  return st;
}

magvlt_status
magvlt_vq_preview (const magvlt_model *model, const int32_t *codes, const uint8_t *known,
                   uint8_t *rgb)
{
  if (!model || !codes || !rgb)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_vq_preview: NULL argument");
  const mv_vqgan *vq = model->vq;
  if (!vq)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "this model file has no VQGAN");
  int p = vq->grid * vq->grid;
  for (int i = 0; i < p; i++)
    {
      bool valid = (!known || known[i]) && codes[i] >= 0 && codes[i] < vq->n_embed;
      for (int c = 0; c < 3; c++)
        {
          /* unknown (still masked) codes and models without a palette: mid grey */
          float v = valid && vq->palette ? vq->palette[(size_t) codes[i] * 3 + c] : 0.5f;
          v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
          rgb[3 * i + c] = (uint8_t) (v * 255.0f + 0.5f);
        }
    }
  return MAGVLT_OK;
}
