/* vqgan_model.c — binding the VQGAN from the model file: geometry from the
 * magvlt.vqgan.* metadata, every tensor shape-checked against it, the
 * codebook prepared for the nearest-code search, and the scratch sizes a
 * context needs. Nothing here is specific to the official 256×256 model.
 * SPDX-License-Identifier: MIT */
#include "vqgan.h"

#include "ops.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* State while binding: the file, and the f16 vectors converted to f32. */
typedef struct {
  const gguf_file *f;
  mv_vqgan *vq;
  void **owned;
  int n_owned, cap_owned;
} binder;

static magvlt_status
own (binder *bd, void *p)
{
  if (bd->n_owned == bd->cap_owned)
    {
      int cap = bd->cap_owned ? 2 * bd->cap_owned : 64;
      void **n = realloc (bd->owned, (size_t) cap * sizeof *n);
      if (!n)
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
      bd->owned = n;
      bd->cap_owned = cap;
    }
  bd->owned[bd->n_owned++] = p;
  return MAGVLT_OK;
}

/* Vectors are read as plain floats by the kernels: convert f16 ones once. */
static magvlt_status
bind_vec (binder *bd, mv_tensor *t, const char *name, int64_t n)
{
  magvlt_status st = mv_tensor_bind (bd->f, t, name, 1, &n);
  if (st != MAGVLT_OK || !t->f16)
    return st;
  float *v = malloc ((size_t) n * sizeof (float));
  if (!v || own (bd, v) != MAGVLT_OK)
    {
      free (v);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  mv_half_to_f32 (t->data, t->bf16, v, (size_t) n);
  t->data = v;
  t->f16 = t->bf16 = false;
  return MAGVLT_OK;
}

static magvlt_status
bind_conv (binder *bd, mv_conv *cv, const char *name, int co, int ci, int k)
{
  char n[160];
  int64_t shape[4] = { co, ci, k, k };
  magvlt_status st;
  cv->co = co, cv->ci = ci, cv->k = k;
  snprintf (n, sizeof n, "vqgan.%s.weight", name);
  if ((st = mv_tensor_bind (bd->f, &cv->w, n, 4, shape)) != MAGVLT_OK)
    return st;
  if (cv->w.f16 && (size_t) co * ci * k * k > bd->vq->max_weight)
    bd->vq->max_weight = (size_t) co * ci * k * k;
  if ((size_t) ci * k * k > bd->vq->widest_k)
    bd->vq->widest_k = (size_t) ci * k * k;
  if ((size_t) co * ((size_t) ci * k * k + 1) / 2 * 2 > bd->vq->max_rows)
    bd->vq->max_rows = (size_t) co * (((size_t) ci * k * k + 1) / 2 * 2);
  snprintf (n, sizeof n, "vqgan.%s.bias", name);
  return bind_vec (bd, &cv->b, n, co);
}

static magvlt_status
bind_norm (binder *bd, mv_norm *nm, const char *name, int c)
{
  char n[160];
  magvlt_status st;
  nm->c = c;
  if (c % MV_VQ_GROUPS != 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "VQGAN %s has %d channels, not a multiple of the %d GroupNorm groups", name, c,
                    MV_VQ_GROUPS);
  snprintf (n, sizeof n, "vqgan.%s.weight", name);
  if ((st = bind_vec (bd, &nm->w, n, c)) != MAGVLT_OK)
    return st;
  snprintf (n, sizeof n, "vqgan.%s.bias", name);
  return bind_vec (bd, &nm->b, n, c);
}

static magvlt_status
bind_res (binder *bd, mv_resblock *rb, const char *name, int ci, int co)
{
  char n[160];
  magvlt_status st;
  rb->ci = ci, rb->co = co, rb->has_nin = ci != co;
#define SUB(s) (snprintf (n, sizeof n, "%s.%s", name, s), n)
  if ((st = bind_norm (bd, &rb->norm1, SUB ("norm1"), ci))
      || (st = bind_conv (bd, &rb->conv1, SUB ("conv1"), co, ci, 3))
      || (st = bind_norm (bd, &rb->norm2, SUB ("norm2"), co))
      || (st = bind_conv (bd, &rb->conv2, SUB ("conv2"), co, co, 3)))
    return st;
  if (rb->has_nin)
    return bind_conv (bd, &rb->nin, SUB ("nin_shortcut"), co, ci, 1);
  return MAGVLT_OK;
}

static magvlt_status
bind_attn (binder *bd, mv_attnblock *ab, const char *name, int c, int res)
{
  char n[160];
  magvlt_status st;
  size_t p = (size_t) res * res, need = 4 * (size_t) c * p + p * p;
  ab->c = c;
  if (need > bd->vq->max_attn)
    bd->vq->max_attn = need;
  if ((st = bind_norm (bd, &ab->norm, SUB ("norm"), c))
      || (st = bind_conv (bd, &ab->q, SUB ("q"), c, c, 1))
      || (st = bind_conv (bd, &ab->k, SUB ("k"), c, c, 1))
      || (st = bind_conv (bd, &ab->v, SUB ("v"), c, c, 1))
      || (st = bind_conv (bd, &ab->proj, SUB ("proj_out"), c, c, 1)))
    return st;
  return MAGVLT_OK;
#undef SUB
}

static bool
has_attn (const mv_vqgan *vq, int res)
{
  for (int i = 0; i < vq->n_attn_res; i++)
    if (vq->attn_res[i] == res)
      return true;
  return false;
}

static void
note_act (mv_vqgan *vq, int c, int res)
{
  size_t n = (size_t) c * res * res;
  if (n > vq->max_act)
    vq->max_act = n;
}

/* Binds one level's blocks; the encoder has num_res_blocks per level, the
 * decoder one more. */
static magvlt_status
bind_level (binder *bd, mv_vq_level *lv, const char *prefix, int n_blocks, int ci, int co, int res)
{
  char n[160];
  magvlt_status st;
  mv_vqgan *vq = bd->vq;
  lv->n_blocks = n_blocks;
  lv->res = res;
  lv->blocks = calloc ((size_t) n_blocks, sizeof *lv->blocks);
  if (!lv->blocks || own (bd, lv->blocks) != MAGVLT_OK)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  if (has_attn (vq, res))
    {
      lv->attn = calloc ((size_t) n_blocks, sizeof *lv->attn);
      if (!lv->attn || own (bd, lv->attn) != MAGVLT_OK)
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  for (int b = 0; b < n_blocks; b++)
    {
      snprintf (n, sizeof n, "%s.block.%d", prefix, b);
      note_act (vq, b == 0 ? ci : co, res);
      note_act (vq, co, res);
      if ((st = bind_res (bd, &lv->blocks[b], n, b == 0 ? ci : co, co)) != MAGVLT_OK)
        return st;
      if (lv->attn)
        {
          snprintf (n, sizeof n, "%s.attn.%d", prefix, b);
          if ((st = bind_attn (bd, &lv->attn[b], n, co, res)) != MAGVLT_OK)
            return st;
        }
    }
  return MAGVLT_OK;
}

static magvlt_status
read_array (const gguf_file *f, const char *key, int *out, int min, int max, int *n_out)
{
  const gguf_kv *kv = gguf_find_kv (f, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", key);
  if (kv->type != GGUF_TYPE_ARRAY || kv->v.arr.type != GGUF_TYPE_UINT32)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' must be an array of u32", key);
  if (kv->v.arr.n < (uint64_t) min || kv->v.arr.n > (uint64_t) max)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has %llu entries (%d to %d allowed)", key,
                    (unsigned long long) kv->v.arr.n, min, max);
  for (uint64_t i = 0; i < kv->v.arr.n; i++)
    {
      const uint8_t *p = kv->v.arr.data + 4 * i;
      uint32_t v =
        (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
      if (v < 1 || v > 65536)
        return mv_fail (MAGVLT_ERR_FORMAT, "key '%s'[%llu] is %u (1 to 65536 allowed)", key,
                        (unsigned long long) i, v);
      out[i] = (int) v;
    }
  *n_out = (int) kv->v.arr.n;
  return MAGVLT_OK;
}

static magvlt_status
get_int (const gguf_file *f, const char *key, int lo, int hi, int *out)
{
  uint32_t v;
  magvlt_status st = gguf_get_u32 (f, key, &v);
  if (st != MAGVLT_OK)
    return st;
  if (v < (uint32_t) lo || v > (uint32_t) hi)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; it must be between %d and %d", key, v, lo, hi);
  *out = (int) v;
  return MAGVLT_OK;
}

static magvlt_status
read_geometry (const gguf_file *f, const mv_hparams *hp, mv_vqgan *vq)
{
  magvlt_status st;
  if ((st = get_int (f, "magvlt.vqgan.resolution", 1, 8192, &vq->resolution))
      || (st = get_int (f, "magvlt.vqgan.in_channels", 3, 3, &vq->in_channels))
      || (st = get_int (f, "magvlt.vqgan.out_ch", 3, 3, &vq->out_ch))
      || (st = get_int (f, "magvlt.vqgan.ch", 1, 4096, &vq->ch))
      || (st =
            read_array (f, "magvlt.vqgan.ch_mult", vq->ch_mult, 1, MV_VQ_MAX_LEVELS, &vq->n_levels))
      || (st = get_int (f, "magvlt.vqgan.num_res_blocks", 1, 16, &vq->num_res_blocks))
      || (st = read_array (f, "magvlt.vqgan.attn_resolutions", vq->attn_res, 0, MV_VQ_MAX_LEVELS,
                           &vq->n_attn_res))
      || (st = get_int (f, "magvlt.vqgan.z_channels", 1, 4096, &vq->z_channels))
      || (st = get_int (f, "magvlt.vqgan.embed_dim", 1, 4096, &vq->embed_dim))
      || (st = get_int (f, "magvlt.vqgan.n_embed", 1, 1 << 22, &vq->n_embed)))
    return st;
  int down = 1 << (vq->n_levels - 1);
  if (vq->resolution % down != 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "magvlt.vqgan.resolution %d is not divisible by 2^%d (one halving per level "
                    "after the first)",
                    vq->resolution, vq->n_levels - 1);
  vq->grid = vq->resolution / down;
  if (!hp) /* a VQGAN-only model: nothing to cross-check */
    return MAGVLT_OK;
  if (vq->n_embed != hp->vocab_size_img)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "magvlt.vqgan.n_embed %d differs from magvlt.vocab_size_img %d", vq->n_embed,
                    hp->vocab_size_img);
  if (vq->grid * vq->grid != hp->ctx_len_img)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the VQGAN's %dx%d code grid does not hold magvlt.ctx_len_img = %d tokens",
                    vq->grid, vq->grid, hp->ctx_len_img);
  return MAGVLT_OK;
}

static magvlt_status
bind_encoder (binder *bd)
{
  mv_vqgan *vq = bd->vq;
  magvlt_status st;
  char n[160];
  int res = vq->resolution, ci = vq->ch;

  note_act (vq, vq->in_channels, res);
  note_act (vq, vq->ch, res);
  if ((st = bind_conv (bd, &vq->enc_conv_in, "encoder.conv_in", vq->ch, vq->in_channels, 3)))
    return st;
  for (int l = 0; l < vq->n_levels; l++)
    {
      int co = vq->ch * vq->ch_mult[l];
      snprintf (n, sizeof n, "encoder.down.%d", l);
      if ((st = bind_level (bd, &vq->enc[l], n, vq->num_res_blocks, ci, co, res)))
        return st;
      ci = co;
      if (l != vq->n_levels - 1)
        {
          vq->enc[l].has_resample = true;
          snprintf (n, sizeof n, "encoder.down.%d.downsample.conv", l);
          if ((st = bind_conv (bd, &vq->enc[l].resample, n, ci, ci, 3)))
            return st;
          res /= 2;
        }
    }
  if ((st = bind_res (bd, &vq->enc_mid1, "encoder.mid.block_1", ci, ci))
      || (st = bind_attn (bd, &vq->enc_mid_attn, "encoder.mid.attn_1", ci, res))
      || (st = bind_res (bd, &vq->enc_mid2, "encoder.mid.block_2", ci, ci))
      || (st = bind_norm (bd, &vq->enc_norm_out, "encoder.norm_out", ci))
      || (st = bind_conv (bd, &vq->enc_conv_out, "encoder.conv_out", vq->z_channels, ci, 3))
      || (st = bind_conv (bd, &vq->quant_conv, "quant_conv", vq->embed_dim, vq->z_channels, 1)))
    return st;
  return MAGVLT_OK;
}

static magvlt_status
bind_decoder (binder *bd)
{
  mv_vqgan *vq = bd->vq;
  magvlt_status st;
  char n[160];
  int res = vq->grid, ci = vq->ch * vq->ch_mult[vq->n_levels - 1];

  if ((st =
         bind_conv (bd, &vq->post_quant_conv, "post_quant_conv", vq->z_channels, vq->embed_dim, 1))
      || (st = bind_conv (bd, &vq->dec_conv_in, "decoder.conv_in", ci, vq->z_channels, 3))
      || (st = bind_res (bd, &vq->dec_mid1, "decoder.mid.block_1", ci, ci))
      || (st = bind_attn (bd, &vq->dec_mid_attn, "decoder.mid.attn_1", ci, res))
      || (st = bind_res (bd, &vq->dec_mid2, "decoder.mid.block_2", ci, ci)))
    return st;
  for (int l = vq->n_levels - 1; l >= 0; l--)
    {
      int co = vq->ch * vq->ch_mult[l];
      snprintf (n, sizeof n, "decoder.up.%d", l);
      if ((st = bind_level (bd, &vq->dec[l], n, vq->num_res_blocks + 1, ci, co, res)))
        return st;
      ci = co;
      if (l != 0)
        {
          vq->dec[l].has_resample = true;
          snprintf (n, sizeof n, "decoder.up.%d.upsample.conv", l);
          if ((st = bind_conv (bd, &vq->dec[l].resample, n, ci, ci, 3)))
            return st;
          res *= 2;
          note_act (vq, ci, res);
        }
    }
  note_act (vq, vq->out_ch, res);
  if ((st = bind_norm (bd, &vq->dec_norm_out, "decoder.norm_out", ci))
      || (st = bind_conv (bd, &vq->dec_conv_out, "decoder.conv_out", vq->out_ch, ci, 3)))
    return st;
  return MAGVLT_OK;
}

static magvlt_status
bind_codebook (binder *bd)
{
  mv_vqgan *vq = bd->vq;
  mv_tensor cb, pal;
  int64_t shape[2] = { vq->n_embed, vq->embed_dim };
  magvlt_status st = mv_tensor_bind (bd->f, &cb, "vqgan.quantize.embedding.weight", 2, shape);
  if (st != MAGVLT_OK)
    return st;
  size_t n = (size_t) vq->n_embed * vq->embed_dim;
  if (cb.f16)
    {
      vq->codebook_owned = malloc (n * sizeof (float));
      if (!vq->codebook_owned)
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for the codebook");
      mv_half_to_f32 (cb.data, cb.bf16, vq->codebook_owned, n);
      vq->codebook = vq->codebook_owned;
    }
  else
    vq->codebook = cb.data;
  vq->codebook_sqnorm = malloc ((size_t) vq->n_embed * sizeof (float));
  if (!vq->codebook_sqnorm)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for the codebook");
  for (int k = 0; k < vq->n_embed; k++)
    {
      /* float accumulation, as torch.sum(e**2, dim=1) */
      float s = 0.0f;
      const float *e = vq->codebook + (size_t) k * vq->embed_dim;
      for (int d = 0; d < vq->embed_dim; d++)
        s += e[d] * e[d];
      vq->codebook_sqnorm[k] = s;
    }

  /* the palette is optional: previews fall back to grey without it */
  if (gguf_find_tensor (bd->f, "vqgan.palette"))
    {
      int64_t pshape[2] = { vq->n_embed, 3 };
      if ((st = mv_tensor_bind (bd->f, &pal, "vqgan.palette", 2, pshape)) != MAGVLT_OK)
        return st;
      if (pal.f16)
        return mv_fail (MAGVLT_ERR_FORMAT, "tensor 'vqgan.palette' must be F32");
      vq->palette = pal.data;
    }
  return MAGVLT_OK;
}

magvlt_status
mv_vqgan_load (const gguf_file *f, const mv_hparams *hp, mv_vqgan **out)
{
  *out = NULL;
  if (!gguf_find_kv (f, "magvlt.vqgan.resolution"))
    return MAGVLT_OK;
  mv_vqgan *vq = calloc (1, sizeof *vq);
  if (!vq)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  binder bd = { .f = f, .vq = vq };
  magvlt_status st;
  if ((st = read_geometry (f, hp, vq)) != MAGVLT_OK || (st = bind_encoder (&bd)) != MAGVLT_OK
      || (st = bind_decoder (&bd)) != MAGVLT_OK || (st = bind_codebook (&bd)) != MAGVLT_OK)
    {
      for (int i = 0; i < bd.n_owned; i++)
        free (bd.owned[i]);
      free (bd.owned);
      free (vq->codebook_owned);
      free (vq->codebook_sqnorm);
      free (vq);
      return st;
    }
  /* no convolution's output is wider than the image */
  vq->widest_row = vq->widest_k * (size_t) vq->resolution;
  /* im2col band: enough for one output row of the widest conv, at most 32 MB */
  size_t widest = (size_t) 9 * 512 * (size_t) vq->resolution;
  size_t cap = (32u << 20) / sizeof (float);
  vq->col_floats = widest > cap ? widest : cap;
  size_t need_all = (size_t) 9 * (size_t) vq->max_act; /* whole image at once */
  if (need_all < vq->col_floats)
    vq->col_floats = need_all;
  /* the levels' arrays and the converted vectors live as long as the VQGAN */
  vq->owned_list = bd.owned;
  vq->n_owned = bd.n_owned;
  *out = vq;
  return MAGVLT_OK;
}

void
mv_vqgan_free (mv_vqgan *vq)
{
  if (!vq)
    return;
  for (int i = 0; i < vq->n_owned; i++)
    free (vq->owned_list[i]);
  free (vq->owned_list);
  free (vq->codebook_owned);
  free (vq->codebook_sqnorm);
  free (vq);
}
