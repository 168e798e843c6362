/* convert_layout.c — the model file's layout, shared by the converter
 * (convert.c) and the random-weight models of `magvlt bench --preset`
 * (random_model.c): the expected tensor tables derived from a geometry (the
 * same rules as model-runtime/training/export_gguf.py) and the metadata keys
 * of FORMAT.md. No libyaml, zlib or cJSON here: this file is part of the
 * inference library.
 * SPDX-License-Identifier: MIT */
#include "convert.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- expected tensors ---------------------------------------------------- */

typedef struct {
  cv_expect *v;
  size_t n, cap;
  bool oom;
} table;

bool
cv_official_geometry (const char *name, cv_stage2 *s2, cv_vqgan *s1)
{
  bool large = name && strcmp (name, "large") == 0;
  if (!name || (!large && strcmp (name, "base") != 0))
    return false;
  *s2 = (cv_stage2){
    .embed_dim = large ? 1280 : 1024,
    .n_layers = large ? 36 : 24,
    .n_heads = large ? 10 : 8,
    .ctx_len_img = 256,
    .ctx_len_txt = 64,
    .vocab_size_img = 16384,
    .vocab_size_txt = 49408,
  };
  /* base and large share the VQGAN */
  *s1 = (cv_vqgan){
    .resolution = 256,
    .in_channels = 3,
    .out_ch = 3,
    .ch = 128,
    .n_levels = 5,
    .ch_mult = { 1, 1, 2, 2, 4 },
    .num_res_blocks = 2,
    .n_attn = 1,
    .attn_res = { 16 },
    .z_channels = 256,
    .embed_dim = 256,
    .n_embed = 16384,
  };
  return true;
}

static void
add (table *t, const char *name, int n_dims, int64_t a, int64_t b, int64_t c, int64_t d)
{
  if (t->oom)
    return;
  if (t->n == t->cap)
    {
      size_t cap = t->cap ? 2 * t->cap : 512;
      cv_expect *nv = realloc (t->v, cap * sizeof *nv);
      if (!nv)
        {
          t->oom = true;
          return;
        }
      t->v = nv;
      t->cap = cap;
    }
  cv_expect *e = &t->v[t->n++];
  snprintf (e->name, sizeof e->name, "%s", name);
  e->n_dims = n_dims;
  e->shape[0] = a, e->shape[1] = b, e->shape[2] = c, e->shape[3] = d;
}

static magvlt_status
finish (table *t, cv_expect **out, size_t *n)
{
  if (t->oom)
    {
      free (t->v);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  *out = t->v;
  *n = t->n;
  return MAGVLT_OK;
}

magvlt_status
cv_stage2_table (const cv_stage2 *g, int32_t mlp_hidden, int32_t n_special, cv_expect **out,
                 size_t *n)
{
  table t = { 0 };
  char nm[160];
  int64_t c = g->embed_dim, m = mlp_hidden, v = (int64_t) g->vocab_size_img + g->vocab_size_txt;
  add (&t, "tok_emb.weight", 2, v, c, 0, 0);
  add (&t, "tok_emb_spc.weight", 2, n_special, c, 0, 0);
  for (int i = 0; i < g->n_layers; i++)
    {
      static const char *ln[] = { "ln1", "ln2" }, *lin[] = { "key", "query", "value", "proj" };
      for (int j = 0; j < 2; j++)
        {
          snprintf (nm, sizeof nm, "blocks.%d.%s.weight", i, ln[j]);
          add (&t, nm, 1, c, 0, 0, 0);
          snprintf (nm, sizeof nm, "blocks.%d.%s.bias", i, ln[j]);
          add (&t, nm, 1, c, 0, 0, 0);
        }
      for (int j = 0; j < 4; j++)
        {
          snprintf (nm, sizeof nm, "blocks.%d.attn.%s.weight", i, lin[j]);
          add (&t, nm, 2, c, c, 0, 0);
          snprintf (nm, sizeof nm, "blocks.%d.attn.%s.bias", i, lin[j]);
          add (&t, nm, 1, c, 0, 0, 0);
        }
      snprintf (nm, sizeof nm, "blocks.%d.mlp.0.weight", i);
      add (&t, nm, 2, m, c, 0, 0);
      snprintf (nm, sizeof nm, "blocks.%d.mlp.0.bias", i);
      add (&t, nm, 1, m, 0, 0, 0);
      snprintf (nm, sizeof nm, "blocks.%d.mlp.2.weight", i);
      add (&t, nm, 2, c, m, 0, 0);
      snprintf (nm, sizeof nm, "blocks.%d.mlp.2.bias", i);
      add (&t, nm, 1, c, 0, 0, 0);
    }
  add (&t, "lm_layer.output_bias", 1, v, 0, 0, 0);
  add (&t, "lm_layer.linear.weight", 2, c, c, 0, 0);
  add (&t, "lm_layer.linear.bias", 1, c, 0, 0, 0);
  add (&t, "lm_layer.ln.weight", 1, c, 0, 0, 0);
  add (&t, "lm_layer.ln.bias", 1, c, 0, 0, 0);
  add (&t, "pos_emb_img.pos_embed", 2, g->ctx_len_img, c, 0, 0);
  add (&t, "pos_emb_txt.pos_embed", 2, g->ctx_len_txt, c, 0, 0);
  add (&t, "pos_emb_spc.pos_embed", 2, 4 + g->ctx_len_img + g->ctx_len_txt, c, 0, 0);
  add (&t, "length_predictor.weight", 2, g->ctx_len_txt, c, 0, 0);
  return finish (&t, out, n);
}

/* nm = a + b (+ c), cut at 159 bytes (names are far shorter). */
static void
join3 (char nm[160], const char *a, const char *b, const char *c)
{
  size_t o = 0;
  const char *parts[3] = { a, b, c };
  for (int i = 0; i < 3; i++)
    for (const char *q = parts[i]; q && *q && o < 159; q++)
      nm[o++] = *q;
  nm[o] = '\0';
}

static void
join (char nm[160], const char *a, const char *b)
{
  join3 (nm, a, b, NULL);
}

static void
conv (table *t, const char *name, int64_t co, int64_t ci, int64_t k)
{
  char nm[160];
  join (nm, name, ".weight");
  add (t, nm, 4, co, ci, k, k);
  join (nm, name, ".bias");
  add (t, nm, 1, co, 0, 0, 0);
}

static void
norm (table *t, const char *name, int64_t c)
{
  char nm[160];
  join (nm, name, ".weight");
  add (t, nm, 1, c, 0, 0, 0);
  join (nm, name, ".bias");
  add (t, nm, 1, c, 0, 0, 0);
}

static void
res (table *t, const char *name, int64_t ci, int64_t co)
{
  char nm[160];
  join (nm, name, ".norm1");
  norm (t, nm, ci);
  join (nm, name, ".conv1");
  conv (t, nm, co, ci, 3);
  join (nm, name, ".norm2");
  norm (t, nm, co);
  join (nm, name, ".conv2");
  conv (t, nm, co, co, 3);
  if (ci != co)
    {
      join (nm, name, ".nin_shortcut");
      conv (t, nm, co, ci, 1);
    }
}

static void
attn (table *t, const char *name, int64_t c)
{
  static const char *parts[] = { "q", "k", "v", "proj_out" };
  char nm[160];
  join (nm, name, ".norm");
  norm (t, nm, c);
  for (int i = 0; i < 4; i++)
    {
      join3 (nm, name, ".", parts[i]);
      conv (t, nm, c, c, 1);
    }
}

static void
mid (table *t, const char *prefix, int64_t c)
{
  char nm[160];
  join (nm, prefix, ".mid.block_1");
  res (t, nm, c, c);
  join (nm, prefix, ".mid.attn_1");
  attn (t, nm, c);
  join (nm, prefix, ".mid.block_2");
  res (t, nm, c, c);
}

static bool
has_attn (const cv_vqgan *v, int lvl)
{
  int r = v->resolution >> lvl;
  for (int i = 0; i < v->n_attn; i++)
    if (v->attn_res[i] == r)
      return true;
  return false;
}

/* taming's Encoder / Decoder module order (export_gguf.py vqgan_shapes). */
magvlt_status
cv_vqgan_table (const cv_vqgan *v, cv_expect **out, size_t *n)
{
  table t = { 0 };
  char nm[160];
  int nl = v->n_levels;
  int64_t ch = v->ch, ci = ch;
  conv (&t, "encoder.conv_in", ch, v->in_channels, 3);
  for (int l = 0; l < nl; l++)
    {
      int64_t co = ch * v->ch_mult[l];
      for (int j = 0; j < v->num_res_blocks; j++)
        {
          snprintf (nm, sizeof nm, "encoder.down.%d.block.%d", l, j);
          res (&t, nm, ci, co);
          ci = co;
        }
      if (has_attn (v, l))
        for (int j = 0; j < v->num_res_blocks; j++)
          {
            snprintf (nm, sizeof nm, "encoder.down.%d.attn.%d", l, j);
            attn (&t, nm, ci);
          }
      if (l != nl - 1)
        {
          snprintf (nm, sizeof nm, "encoder.down.%d.downsample.conv", l);
          conv (&t, nm, ci, ci, 3);
        }
    }
  mid (&t, "encoder", ci);
  norm (&t, "encoder.norm_out", ci);
  conv (&t, "encoder.conv_out", v->double_z ? 2 * v->z_channels : v->z_channels, ci, 3);

  int64_t top = ch * v->ch_mult[nl - 1];
  conv (&t, "decoder.conv_in", top, v->z_channels, 3);
  mid (&t, "decoder", top);
  for (int l = 0; l < nl; l++)
    {
      int64_t cin = ch * v->ch_mult[l + 1 < nl ? l + 1 : nl - 1], co = ch * v->ch_mult[l];
      for (int j = 0; j < v->num_res_blocks + 1; j++)
        {
          snprintf (nm, sizeof nm, "decoder.up.%d.block.%d", l, j);
          res (&t, nm, j == 0 ? cin : co, co);
        }
      if (has_attn (v, l))
        for (int j = 0; j < v->num_res_blocks + 1; j++)
          {
            snprintf (nm, sizeof nm, "decoder.up.%d.attn.%d", l, j);
            attn (&t, nm, co);
          }
      if (l != 0)
        {
          snprintf (nm, sizeof nm, "decoder.up.%d.upsample.conv", l);
          conv (&t, nm, co, co, 3);
        }
    }
  norm (&t, "decoder.norm_out", ch * v->ch_mult[0]);
  conv (&t, "decoder.conv_out", v->out_ch, ch * v->ch_mult[0], 3);
  add (&t, "quantize.embedding.weight", 2, v->n_embed, v->embed_dim, 0, 0);
  conv (&t, "quant_conv", v->embed_dim, v->z_channels, 1);
  conv (&t, "post_quant_conv", v->z_channels, v->embed_dim, 1);
  return finish (&t, out, n);
}

/* ---- metadata keys --------------------------------------------------------- */

magvlt_status
cv_add_geometry_keys (gguf_writer *w, const cv_stage2 *g, int32_t mlp_hidden, int32_t n_special,
                      const cv_vqgan *v)
{
  magvlt_status st;
  if (g)
    {
      struct {
        const char *k;
        int32_t v;
      } kv[] = {
        { "magvlt.embed_dim", g->embed_dim },
        { "magvlt.n_layers", g->n_layers },
        { "magvlt.n_heads", g->n_heads },
        { "magvlt.mlp_hidden", mlp_hidden },
        { "magvlt.ctx_len_img", g->ctx_len_img },
        { "magvlt.ctx_len_txt", g->ctx_len_txt },
        { "magvlt.vocab_size_img", g->vocab_size_img },
        { "magvlt.vocab_size_txt", g->vocab_size_txt },
        { "magvlt.n_special", n_special },
        { "magvlt.text_eot_id", g->vocab_size_txt - 1 }, /* CLIP: 49407 */
      };
      for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if ((st = gw_add_u32 (w, kv[i].k, (uint32_t) kv[i].v)))
          return st;
      if ((st = gw_add_f32 (w, "magvlt.layer_norm_eps", 1e-5f)))
        return st;
    }
  if (v)
    {
      uint32_t mult[CV_MAX_LEVELS], attn_res[CV_MAX_LEVELS];
      for (int i = 0; i < v->n_levels; i++)
        mult[i] = (uint32_t) v->ch_mult[i];
      for (int i = 0; i < v->n_attn; i++)
        attn_res[i] = (uint32_t) v->attn_res[i];
      if ((st = gw_add_u32 (w, "magvlt.vqgan.resolution", (uint32_t) v->resolution))
          || (st = gw_add_u32 (w, "magvlt.vqgan.in_channels", (uint32_t) v->in_channels))
          || (st = gw_add_u32 (w, "magvlt.vqgan.out_ch", (uint32_t) v->out_ch))
          || (st = gw_add_u32 (w, "magvlt.vqgan.ch", (uint32_t) v->ch))
          || (st = gw_add_arr_u32 (w, "magvlt.vqgan.ch_mult", mult, (size_t) v->n_levels))
          || (st = gw_add_u32 (w, "magvlt.vqgan.num_res_blocks", (uint32_t) v->num_res_blocks))
          || (st =
                gw_add_arr_u32 (w, "magvlt.vqgan.attn_resolutions", attn_res, (size_t) v->n_attn))
          || (st = gw_add_u32 (w, "magvlt.vqgan.z_channels", (uint32_t) v->z_channels))
          || (st = gw_add_u32 (w, "magvlt.vqgan.embed_dim", (uint32_t) v->embed_dim))
          || (st = gw_add_u32 (w, "magvlt.vqgan.n_embed", (uint32_t) v->n_embed)))
        return st;
    }
  return MAGVLT_OK;
}

magvlt_status
cv_add_tokenizer_keys (gguf_writer *w, const char *const *vocab, size_t n_vocab,
                       const char *const *merges, size_t n_merges)
{
  magvlt_status st;
  if ((st = gw_add_str (w, "magvlt.tokenizer.model", "char_bpe"))
      || (st = gw_add_arr_str (w, "magvlt.tokenizer.vocab", vocab, n_vocab))
      || (st = gw_add_arr_str (w, "magvlt.tokenizer.merges", merges, n_merges))
      || (st = gw_add_str (w, "magvlt.tokenizer.end_of_word_suffix", "</w>"))
      || (st = gw_add_bool (w, "magvlt.tokenizer.lowercase", true)))
    return st;
  return MAGVLT_OK;
}

/* ---- CLIP's byte characters --------------------------------------------- */

void
cv_bytes_to_unicode (char chars[256][5])
{
  int cps[256], n = 0, extra = 0;
  bool used[256] = { false };
  for (int b = '!'; b <= '~'; b++)
    used[b] = true;
  for (int b = 0xa1; b <= 0xac; b++)
    used[b] = true;
  for (int b = 0xae; b <= 0xff; b++)
    used[b] = true;
  /* printable bytes first, in byte order, then the rest mapped to 256 + k */
  for (int b = 0; b < 256; b++)
    if (used[b])
      cps[n++] = b;
  for (int b = 0; b < 256; b++)
    if (!used[b])
      cps[n++] = 256 + extra++;
  /* as UTF-8: every code point is below U+0800, one or two bytes */
  for (int i = 0; i < 256; i++)
    {
      int cp = cps[i], len = 0;
      if (cp < 0x80)
        chars[i][len++] = (char) cp;
      else
        {
          chars[i][len++] = (char) (0xc0 | (cp >> 6));
          chars[i][len++] = (char) (0x80 | (cp & 0x3f));
        }
      chars[i][len] = '\0';
    }
}
