/* convert.c — magvlt_convert: official checkpoints → the GGUF model file.
 *
 * Reads the MAGVLT checkpoint (model.* → stage2.*, model_vqvae.* → vqgan.*)
 * and/or a taming VQGAN checkpoint (X → vqgan.X, loss.* dropped; its weights
 * win, as in the official sampling scripts), takes the geometry from the
 * official YAML (or the base/large preset), checks it against the tensor
 * shapes and every tensor against the expected table, adds CLIP's
 * vocabulary from the merges, the sampling defaults and provenance, and
 * streams the tensors out (f32, or f16/bf16 matrices with f32 vectors,
 * codebook and palette). Then it loads the written file with the engine's
 * strict loader, computes the preview palette from the stored weights, and
 * renames the file into place. Metadata and tensors follow
 * model-runtime/training/export_gguf.py key for key and in the same order.
 *
 * Dependencies: libyaml (convert_config.c), zlib (convert_bpe.c, ckpt_zip.c)
 * and cJSON (ckpt_safetensors.c); none of them is used on the inference
 * path (design.md).
 * SPDX-License-Identifier: MIT */
#include "convert.h"
#include "ckpt.h"
#include "gguf_write.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CV_FORMAT_VERSION 1
#define CV_CHUNK (1u << 20) /* elements converted at a time */

typedef struct {
  const char *name; /* without the source prefix */
  ck_tensor *t;
  ck_file *f;
  bool used;
} cv_src;

typedef struct {
  char name[128]; /* in the model file */
  cv_src *src;
  int n_dims;
  int64_t shape[4];
  uint32_t type;
} cv_out;

typedef struct {
  const magvlt_convert_params *p;
  cv_config cfg;
  bool have_cfg;
  const char *cfg_what; /* "config.yaml" or "the base preset", for messages */
  ck_file ckpt, vqf;
  bool have_ckpt, have_vqf;
  cv_src *s2, *vq;
  size_t n_s2, n_vq;
  cv_src **idx[2]; /* s2 and vq sorted by name, for lookups */
  bool vq_from_taming;
  cv_stage2 g;
  int32_t mlp_hidden, n_special;
  bool has_stage2, has_vqgan;
  cv_vqgan v;
  cv_vocab vocab;
  bool has_vocab;
  cv_out *out;
  size_t n_out;
  int n_warnings;
  char sha[4][65]; /* ckpt, vqgan, config, bpe */
  uint64_t hash_total, hash_done;
} cv;

/* ---- small helpers -------------------------------------------------------- */

static void info (cv *c, const char *fmt, ...) MV_PRINTF (2, 3);
static void
info (cv *c, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  mv_log (c->p->log_callback, c->p->log_user_data, MAGVLT_LOG_INFO, "%s", msg);
}

static void warn (cv *c, const char *fmt, ...) MV_PRINTF (2, 3);
static void
warn (cv *c, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  c->n_warnings++;
  mv_log (c->p->log_callback, c->p->log_user_data, MAGVLT_LOG_WARN, "%s", msg);
}

static bool
cancelled (cv *c)
{
  return c->p->cancel && c->p->cancel (c->p->user_data);
}

static magvlt_status
fail_cancel (void)
{
  return mv_fail (MAGVLT_ABORTED, "the conversion was cancelled");
}

static void
progress (cv *c, magvlt_convert_stage stage, double fraction)
{
  if (c->p->progress)
    c->p->progress (stage,
                    (float) (fraction < 0   ? 0
                             : fraction > 1 ? 1
                                            : fraction),
                    c->p->user_data);
}

static bool
starts (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

static void
shape_str (const int64_t *v, int n, char *buf, size_t len)
{
  size_t o = (size_t) snprintf (buf, len, "[");
  for (int i = 0; i < n && o < len; i++)
    o += (size_t) snprintf (buf + o, len - o, "%s%lld", i ? ", " : "", (long long) v[i]);
  if (o < len)
    snprintf (buf + o, len - o, "]");
}

static int
cmp_src (const void *a, const void *b)
{
  return strcmp ((*(cv_src *const *) a)->name, (*(cv_src *const *) b)->name);
}

/* The entry of list (c->s2 or c->vq) named name, by binary search over a
 * sorted index built on first use (a state dict may be hostile and huge). */
static cv_src *
find (cv *c, cv_src *list, size_t n, const char *name)
{
  cv_src ***idx = &c->idx[list == c->s2 ? 0 : 1];
  if (n == 0)
    return NULL;
  if (!*idx)
    {
      if (!(*idx = malloc (n * sizeof **idx)))
        return NULL;
      for (size_t i = 0; i < n; i++)
        (*idx)[i] = &list[i];
      qsort (*idx, n, sizeof **idx, cmp_src);
    }
  size_t lo = 0, hi = n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int r = strcmp ((*idx)[mid]->name, name);
      if (r == 0)
        return (*idx)[mid];
      if (r < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

static magvlt_status
push_src (cv_src **list, size_t *n, const char *name, ck_tensor *t, ck_file *f)
{
  cv_src *nl = realloc (*list, (*n + 1) * sizeof *nl);
  if (!nl)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  *list = nl;
  nl[(*n)++] = (cv_src){ .name = name, .t = t, .f = f };
  return MAGVLT_OK;
}

/* ---- inputs --------------------------------------------------------------- */

static magvlt_status
classify_ckpt (cv *c)
{
  magvlt_status st;
  ck_file *f = &c->ckpt;
  size_t n_other = 0;
  char other[300] = "";
  for (size_t i = 0; i < f->n_tensors; i++)
    {
      ck_tensor *t = &f->tensors[i];
      if (starts (t->name, "model.") && t->name[6])
        st = push_src (&c->s2, &c->n_s2, t->name + 6, t, f);
      else if (starts (t->name, "model_vqvae.") && t->name[12])
        st = push_src (&c->vq, &c->n_vq, t->name + 12, t, f);
      else
        {
          if (n_other < 5)
            snprintf (other + strlen (other), sizeof other - strlen (other), "%s%.60s",
                      n_other ? ", " : "", t->name);
          n_other++;
          continue;
        }
      if (st != MAGVLT_OK)
        return st;
    }
  if (c->n_s2 == 0)
    {
      bool taming = false;
      for (size_t i = 0; i < f->n_tensors && !taming; i++)
        taming = starts (f->tensors[i].name, "encoder.") || starts (f->tensors[i].name, "decoder.");
      if (taming)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "%s has no model.* tensors but encoder.*/decoder.*: it is a VQGAN "
                        "checkpoint; pass it with --vqgan (alone it makes a VQGAN-only model)",
                        f->path);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "%s has no model.* tensors (its keys start with: %s); is it a MAGVLT "
                      "checkpoint?",
                      f->path, n_other ? other : "nothing");
    }
  if (n_other)
    warn (c,
          "%s: %zu state-dict entries are neither model.* nor model_vqvae.* and are ignored: "
          "%s%s",
          f->path, n_other, other, n_other > 5 ? ", ..." : "");
  return MAGVLT_OK;
}

static magvlt_status
classify_vqgan (cv *c)
{
  magvlt_status st;
  ck_file *f = &c->vqf;
  size_t n_loss = 0, n_magvlt = 0;
  bool has_prefixed = false;
  for (size_t i = 0; i < f->n_tensors; i++)
    has_prefixed = has_prefixed || starts (f->tensors[i].name, "model_vqvae.");
  if (c->n_vq)
    info (c,
          "the taming VQGAN of %s replaces the %zu model_vqvae.* tensors of %s (as the "
          "official sampling scripts do)",
          f->path, c->n_vq, c->ckpt.path);
  free (c->vq);
  c->vq = NULL;
  c->n_vq = 0;
  for (size_t i = 0; i < f->n_tensors; i++)
    {
      ck_tensor *t = &f->tensors[i];
      if (starts (t->name, "loss.") || strcmp (t->name, "loss") == 0)
        {
          n_loss++;
          continue;
        }
      if (has_prefixed)
        {
          /* a MAGVLT file given as --vqgan: its model_vqvae.* */
          if (!starts (t->name, "model_vqvae.") || !t->name[12])
            {
              n_magvlt++;
              continue;
            }
          st = push_src (&c->vq, &c->n_vq, t->name + 12, t, f);
        }
      else
        st = push_src (&c->vq, &c->n_vq, t->name, t, f);
      if (st != MAGVLT_OK)
        return st;
    }
  if (n_loss)
    info (c, "%s: dropped %zu loss.* tensors (the training losses)", f->path, n_loss);
  if (n_magvlt)
    info (c, "%s: used its model_vqvae.* tensors; ignored %zu others", f->path, n_magvlt);
  if (c->n_vq == 0)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s has no VQGAN tensors (encoder.*, decoder.*, ...)",
                    f->path);
  c->vq_from_taming = true;
  return MAGVLT_OK;
}

/* ---- geometry ------------------------------------------------------------- */

static magvlt_status
need2 (cv *c, const char *prefix, cv_src *list, size_t n, const char *name, int n_dims,
       ck_tensor **out)
{
  cv_src *s = find (c, list, n, name);
  if (!s)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: required tensor %s%s is missing",
                    list == c->s2 ? c->ckpt.path : (c->have_vqf ? c->vqf.path : c->ckpt.path),
                    prefix, name);
  if (s->t->n_dims != n_dims)
    {
      char sh[120];
      shape_str (s->t->shape, s->t->n_dims, sh, sizeof sh);
      return mv_fail (MAGVLT_ERR_FORMAT, "%s: tensor %s%s has shape %s; expected %d dimensions",
                      s->f->path, prefix, name, sh, n_dims);
    }
  *out = s->t;
  return MAGVLT_OK;
}

/* The number of blocks: 1 + the largest i of blocks.<i>.* */
static magvlt_status
count_blocks (cv *c, const char *pattern, cv_src *list, size_t n, int *out)
{
  size_t lp = strlen (pattern);
  int most = -1;
  for (size_t i = 0; i < n; i++)
    {
      const char *s = list[i].name;
      if (strncmp (s, pattern, lp) != 0 || s[lp] < '0' || s[lp] > '9')
        continue;
      long v = 0;
      const char *q = s + lp;
      while (*q >= '0' && *q <= '9' && v <= 100000)
        v = v * 10 + (*q++ - '0');
      if (*q != '.' || v > 4096)
        continue; /* not a block index: a leftover */
      most = (int) v > most ? (int) v : most;
    }
  *out = most + 1;
  (void) c;
  return MAGVLT_OK;
}

static const char *
recognise_preset (int32_t width, int32_t layers)
{
  if (width == 1024 && layers == 24)
    return "base";
  if (width == 1280 && layers == 36)
    return "large";
  return NULL;
}

static magvlt_status
stage2_geometry (cv *c)
{
  ck_tensor *tok, *spc, *fc1, *pimg, *ptxt;
  magvlt_status st;
  if ((st = need2 (c, "model.", c->s2, c->n_s2, "tok_emb.weight", 2, &tok))
      || (st = need2 (c, "model.", c->s2, c->n_s2, "tok_emb_spc.weight", 2, &spc))
      || (st = need2 (c, "model.", c->s2, c->n_s2, "blocks.0.mlp.0.weight", 2, &fc1))
      || (st = need2 (c, "model.", c->s2, c->n_s2, "pos_emb_img.pos_embed", 2, &pimg))
      || (st = need2 (c, "model.", c->s2, c->n_s2, "pos_emb_txt.pos_embed", 2, &ptxt)))
    return st;
  int layers;
  count_blocks (c, "blocks.", c->s2, c->n_s2, &layers);
  int64_t width = tok->shape[1], rows = tok->shape[0];
  if (!c->have_cfg)
    {
      const char *preset = recognise_preset ((int32_t) width, layers);
      if (!preset)
        return mv_fail (MAGVLT_ERR_INVALID_ARG,
                        "%s holds a %d-layer transformer of width %lld, which is neither official "
                        "model (base: 24 layers of 1024, large: 36 of 1280); give its YAML "
                        "with --config (the head count is not in the tensors)",
                        c->ckpt.path, layers, (long long) width);
      cv_config_preset (preset, &c->cfg);
      c->have_cfg = true;
      c->cfg_what = preset[0] == 'b' ? "the base preset" : "the large preset";
      info (c, "%s: recognised the %s geometry from the tensor shapes", c->ckpt.path, preset);
    }
  const cv_stage2 *g = &c->cfg.s2;
  const char *w = c->cfg_what;
  if (g->embed_dim != width)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the transformer has width %lld (model.tok_emb.weight is [%lld, %lld]) "
                    "but %s says embed_dim %d; HINT: base vs large?",
                    c->ckpt.path, (long long) width, (long long) rows, (long long) width, w,
                    g->embed_dim);
  if (g->n_layers != layers)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the transformer has %d blocks (model.blocks.0 .. %d) but %s says "
                    "n_layers %d",
                    c->ckpt.path, layers, layers - 1, w, g->n_layers);
  if ((int64_t) g->vocab_size_img + g->vocab_size_txt != rows)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: model.tok_emb.weight has %lld rows but %s says vocab_size_img + "
                    "vocab_size_txt = %d + %d",
                    c->ckpt.path, (long long) rows, w, g->vocab_size_img, g->vocab_size_txt);
  if (g->ctx_len_img != pimg->shape[0] || g->ctx_len_txt != ptxt->shape[0])
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the positional tables hold %lld image and %lld text positions but %s "
                    "says ctx_len_img %d and ctx_len_txt %d",
                    c->ckpt.path, (long long) pimg->shape[0], (long long) ptxt->shape[0], w,
                    g->ctx_len_img, g->ctx_len_txt);
  if (g->embed_dim % g->n_heads)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: embed_dim %d is not divisible by n_heads %d", w,
                    g->embed_dim, g->n_heads);
  int side = (int) lround (sqrt ((double) g->ctx_len_img));
  if (side * side != g->ctx_len_img)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: ctx_len_img %d is not a perfect square", w,
                    g->ctx_len_img);
  if (spc->shape[0] < 6 || spc->shape[0] > 1024)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: model.tok_emb_spc.weight has %lld rows; the special-token table needs "
                    "6 to 1024",
                    c->ckpt.path, (long long) spc->shape[0]);
  if (fc1->shape[0] < 1 || fc1->shape[0] > (1 << 18))
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: model.blocks.0.mlp.0.weight has %lld rows",
                    c->ckpt.path, (long long) fc1->shape[0]);
  c->g = *g;
  c->mlp_hidden = (int32_t) fc1->shape[0];
  c->n_special = (int32_t) spc->shape[0];
  c->has_stage2 = true;
  return MAGVLT_OK;
}

static magvlt_status
vqgan_geometry (cv *c)
{
  const char *path = c->have_vqf ? c->vqf.path : c->ckpt.path;
  const char *pre = c->vq_from_taming ? "" : "model_vqvae.";
  ck_tensor *cin, *cb, *dec_in;
  magvlt_status st;
  if ((st = need2 (c, pre, c->vq, c->n_vq, "encoder.conv_in.weight", 4, &cin))
      || (st = need2 (c, pre, c->vq, c->n_vq, "quantize.embedding.weight", 2, &cb))
      || (st = need2 (c, pre, c->vq, c->n_vq, "decoder.conv_in.weight", 4, &dec_in)))
    return st;
  if (!c->have_cfg)
    {
      cv_config_preset ("base", &c->cfg); /* base and large share the VQGAN */
      c->cfg.preset = NULL;
      c->cfg.has_stage2 = false;
      c->have_cfg = true;
      c->cfg_what = "the official VQGAN configuration (vqgan_imagenet_f16_16384)";
    }
  const cv_vqgan *v = &c->cfg.s1;
  const char *w = c->cfg_what;
  int levels, blocks;
  count_blocks (c, "encoder.down.", c->vq, c->n_vq, &levels);
  count_blocks (c, "encoder.down.0.block.", c->vq, c->n_vq, &blocks);
  if (cin->shape[0] != v->ch)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the VQGAN's base width is %lld (%sencoder.conv_in.weight) but %s says "
                    "ch %d",
                    path, (long long) cin->shape[0], pre, w, v->ch);
  if (levels != v->n_levels || blocks != v->num_res_blocks)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the VQGAN encoder has %d levels of %d blocks but %s says %d levels "
                    "(ch_mult) of %d (num_res_blocks)",
                    path, levels, blocks, w, v->n_levels, v->num_res_blocks);
  if (cb->shape[0] != v->n_embed || cb->shape[1] != v->embed_dim)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the codebook (%squantize.embedding.weight) is [%lld, %lld] but %s says "
                    "n_embed %d, embed_dim %d",
                    path, pre, (long long) cb->shape[0], (long long) cb->shape[1], w, v->n_embed,
                    v->embed_dim);
  if (dec_in->shape[1] != v->z_channels)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the latent has %lld channels (%sdecoder.conv_in.weight) but %s says "
                    "z_channels %d",
                    path, (long long) dec_in->shape[1], pre, w, v->z_channels);
  int down = 1 << (v->n_levels - 1);
  if (v->resolution % down)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: resolution %d is not divisible by 2^%d", w,
                    v->resolution, v->n_levels - 1);
  int grid = v->resolution / down;
  if (c->has_stage2)
    {
      if (v->n_embed != c->g.vocab_size_img)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "the VQGAN has %d codes but the transformer's image vocabulary is %d "
                        "(%s)",
                        v->n_embed, c->g.vocab_size_img, w);
      if (grid * grid != c->g.ctx_len_img)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "the VQGAN's %dx%d code grid does not match ctx_len_img %d (%s)", grid,
                        grid, c->g.ctx_len_img, w);
    }
  c->v = *v;
  c->has_vqgan = true;
  return MAGVLT_OK;
}

/* Every expected tensor present with its shape; the rest are warnings. */
static magvlt_status
check_table (cv *c, cv_src *list, size_t n, const cv_expect *e, size_t ne, const char *src_pre,
             const char *out_pre, const char *path)
{
  char problems[1600] = "";
  size_t o = 0;
  int n_problems = 0;
  for (size_t i = 0; i < ne; i++)
    {
      cv_src *s = find (c, list, n, e[i].name);
      char want[120], got[120], line[400];
      shape_str (e[i].shape, e[i].n_dims, want, sizeof want);
      if (!s)
        snprintf (line, sizeof line, "missing tensor %s%s (expected shape %s)", src_pre, e[i].name,
                  want);
      else
        {
          bool same = s->t->n_dims == e[i].n_dims;
          for (int d = 0; same && d < e[i].n_dims; d++)
            same = s->t->shape[d] == e[i].shape[d];
          s->used = true;
          if (same)
            continue;
          shape_str (s->t->shape, s->t->n_dims, got, sizeof got);
          snprintf (line, sizeof line, "tensor %s%s: shape %s but %s says %s", src_pre, e[i].name,
                    got, c->cfg_what, want);
        }
      if (n_problems++ < 12)
        o += (size_t) snprintf (problems + o, sizeof problems - o, "\n  %s", line);
    }
  if (n_problems)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: %d tensor problem(s):%s%s\nHINT: does %s describe this "
                    "checkpoint (base vs large)?",
                    path, n_problems, problems, n_problems > 12 ? "\n  ..." : "", c->cfg_what);
  size_t n_left = 0;
  char left[400] = "";
  for (size_t i = 0; i < n; i++)
    if (!list[i].used)
      {
        if (n_left < 6)
          snprintf (left + strlen (left), sizeof left - strlen (left), "%s%s%.60s",
                    n_left ? ", " : "", src_pre, list[i].name);
        n_left++;
      }
  if (n_left)
    warn (c, "%s: %zu tensor(s) are not part of the model and are left out: %s%s", path, n_left,
          left, n_left > 6 ? ", ..." : "");

  /* the output list, in the source's order */
  for (size_t i = 0; i < n; i++)
    if (list[i].used)
      {
        cv_out *x = &c->out[c->n_out++];
        ck_tensor *t = list[i].t;
        snprintf (x->name, sizeof x->name, "%s%s", out_pre, list[i].name);
        x->src = &list[i];
        x->n_dims = t->n_dims;
        memcpy (x->shape, t->shape, sizeof x->shape);
        bool matrix = t->n_dims >= 2 && strcmp (x->name, "vqgan.quantize.embedding.weight") != 0;
        x->type = c->p->weight_type == MAGVLT_WEIGHTS_F32 || !matrix ? GGUF_TENSOR_F32
                  : c->p->weight_type == MAGVLT_WEIGHTS_BF16         ? GGUF_TENSOR_BF16
                                                                     : GGUF_TENSOR_F16;
        if (t->problem)
          return ck_tensor_check (list[i].f, t);
        if (t->dtype != CK_DT_F32 && t->dtype != CK_DT_F16 && t->dtype != CK_DT_BF16
            && t->dtype != CK_DT_F64)
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "%s: tensor %s%s is %s; model weights are floating point", path, src_pre,
                          list[i].name, ck_dtype_name (t->dtype));
      }
  return MAGVLT_OK;
}

/* ---- hashing (provenance) ------------------------------------------------- */

static magvlt_status
sha256_file (cv *c, const char *path, const ck_map *mapped, char out[65])
{
  ck_map own = { 0 };
  magvlt_status st;
  if (!mapped)
    {
      if ((st = ck_map_open (path, &own)) != MAGVLT_OK)
        {
          mv_error_prefix ("%s: ", path);
          return st;
        }
      mapped = &own;
    }
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  st = MAGVLT_OK;
  for (uint64_t done = 0; done < mapped->size;)
    {
      uint64_t k = mapped->size - done > (16u << 20) ? (16u << 20) : mapped->size - done;
      g_checksum_update (sum, mapped->data + done, (gssize) k);
      ck_map_release (mapped, mapped->data + done, k);
      done += k;
      c->hash_done += k;
      progress (c, MAGVLT_CONVERT_READ,
                c->hash_total ? (double) c->hash_done / (double) c->hash_total : 1.0);
      if (cancelled (c))
        {
          st = fail_cancel ();
          break;
        }
    }
  snprintf (out, 65, "%s", g_checksum_get_string (sum));
  g_checksum_free (sum);
  ck_map_close (&own);
  return st;
}

/* ---- writing ---------------------------------------------------------------- */

static magvlt_status
add_metadata (cv *c, gguf_writer *w)
{
  magvlt_status st;
  const magvlt_convert_params *p = c->p;
  char name[256];
  if (p->name)
    snprintf (name, sizeof name, "%s", p->name);
  else
    {
      gchar *base = g_path_get_basename (p->ckpt ? p->ckpt : p->vqgan);
      char *dot = strrchr (base, '.');
      if (dot && dot != base)
        *dot = '\0';
      snprintf (name, sizeof name, "%s", base);
      g_free (base);
    }
  if ((st = gw_add_str (w, "general.architecture", "magvlt"))
      || (name[0] && (st = gw_add_str (w, "general.name", name)))
      || (st = gw_add_u32 (w, "magvlt.format_version", CV_FORMAT_VERSION)))
    return st;
  if ((st = cv_add_geometry_keys (w, c->has_stage2 ? &c->g : NULL, c->mlp_hidden, c->n_special,
                                  c->has_vqgan ? &c->v : NULL)))
    return st;
  if (c->has_vocab
      && (st = cv_add_tokenizer_keys (w, (const char *const *) c->vocab.vocab, c->vocab.n_vocab,
                                      (const char *const *) c->vocab.merges, c->vocab.n_merges)))
    return st;
  /* sampling defaults (FORMAT.md) */
  if (c->has_stage2)
    for (int i = 0; i < CV_N_SAMPLING; i++)
      {
        const cv_sampling *s = &c->cfg.sampling[i];
        char key[128];
        if (!s->set)
          continue;
        snprintf (key, sizeof key, "magvlt.sampling.%s", s->key);
        st = s->kind == CV_U32   ? gw_add_u32 (w, key, s->u)
             : s->kind == CV_F32 ? gw_add_f32 (w, key, s->f)
                                 : gw_add_str (w, key, s->s);
        if (st)
          return st;
      }
  /* provenance */
  char conv[64];
  snprintf (conv, sizeof conv, "magvlt convert %d.%d.%d", MAGVLT_VERSION_MAJOR,
            MAGVLT_VERSION_MINOR, MAGVLT_VERSION_MICRO);
  if ((st = gw_add_str (w, "magvlt.source.converter", conv)))
    return st;
  const char *files[4] = { p->ckpt, p->vqgan, p->config, p->bpe };
  const char *keys[4] = { "ckpt", "vqgan", "config", "bpe" };
  for (int i = 0; i < 4; i++)
    if (files[i])
      {
        char key[64];
        gchar *base = g_path_get_basename (files[i]);
        snprintf (key, sizeof key, "magvlt.source.%s", keys[i]);
        st = gw_add_str (w, key, base);
        g_free (base);
        snprintf (key, sizeof key, "magvlt.source.%s_sha256", keys[i]);
        if (st || (st = gw_add_str (w, key, c->sha[i])))
          return st;
      }
  if (!p->config && c->cfg.preset && (st = gw_add_str (w, "magvlt.source.preset", c->cfg.preset)))
    return st;
  if (c->has_vqgan
      && (st = gw_add_str (w, "magvlt.source.vqgan_weights",
                           c->vq_from_taming ? "taming checkpoint"
                                             : "model_vqvae.* of the MAGVLT checkpoint")))
    return st;
  return MAGVLT_OK;
}

static magvlt_status
write_tensor (cv *c, gguf_writer *w, const cv_out *x, float *fbuf, uint16_t *hbuf, uint64_t *done,
              uint64_t total)
{
  ck_tensor *t = x->src->t;
  magvlt_status st = ck_tensor_check (x->src->f, t);
  if (st != MAGVLT_OK)
    return st;
  for (uint64_t i = 0; i < t->numel; i += CV_CHUNK)
    {
      size_t k = (size_t) (t->numel - i < CV_CHUNK ? t->numel - i : CV_CHUNK);
      ck_tensor_read_f32 (t, i, k, fbuf);
      if (x->type == GGUF_TENSOR_F32)
        st = gw_write (w, fbuf, k * 4);
      else
        {
          if (x->type == GGUF_TENSOR_F16)
            for (size_t j = 0; j < k; j++)
              hbuf[j] = gw_f32_to_f16 (fbuf[j]);
          else
            for (size_t j = 0; j < k; j++)
              hbuf[j] = gw_f32_to_bf16 (fbuf[j]);
          st = gw_write (w, hbuf, k * 2);
        }
      if (st != MAGVLT_OK)
        return st;
      ck_map_release (&x->src->f->map, t->data + i * ck_dtype_size (t->dtype),
                      (uint64_t) k * ck_dtype_size (t->dtype));
      *done += k;
      progress (c, MAGVLT_CONVERT_WRITE, (double) *done / (double) (total ? total : 1));
      if (cancelled (c))
        return fail_cancel ();
    }
  return gw_end_tensor (w);
}

/* Progress and cancel while the engine decodes the palette. */
typedef struct {
  cv *c;
  magvlt_context *ctx;
} palette_cb;

static void
palette_progress (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t cand, int32_t n_cand,
                  void *ud)
{
  palette_cb *pc = ud;
  (void) stage, (void) cand, (void) n_cand;
  progress (pc->c, MAGVLT_CONVERT_PALETTE, n_steps ? (double) step / n_steps : 0.0);
  if (cancelled (pc->c))
    magvlt_context_cancel (pc->ctx);
}

static void
quiet_log (magvlt_log_level level, const char *message, void *ud)
{
  (void) level, (void) message, (void) ud; /* failures come back as the last error */
}

static bool
load_progress (float fraction, void *ud)
{
  (void) fraction;
  return !cancelled (ud);
}

/* Loads the written file with the engine's loader (a full check of what was
 * written) and, with a VQGAN, computes the palette into its reserved place. */
static magvlt_status
finish_palette (cv *c, const char *tmp, bool want, uint64_t offset)
{
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.progress_callback = load_progress;
  mp.progress_user_data = c;
  mp.log_callback = quiet_log;
  magvlt_model *model = NULL;
  magvlt_status st = magvlt_model_load (tmp, &mp, &model);
  if (st == MAGVLT_ABORTED)
    return st;
  if (st != MAGVLT_OK)
    {
      mv_error_prefix ("the engine cannot load the converted file (a converter bug, please "
                       "report it): ");
      return MAGVLT_ERR_INTERNAL;
    }
  if (!want)
    {
      magvlt_model_free (model);
      return MAGVLT_OK;
    }
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = c->p->n_threads;
  cp.backend = "openblas"; /* the palette only decodes: nothing to pack for the transformer */
  magvlt_context *ctx = NULL;
  magvlt_model_info mi;
  magvlt_model_get_info (model, &mi);
  float *pal = malloc ((size_t) mi.vocab_size_img * 3 * sizeof (float));
  if (!pal || (st = magvlt_context_init (model, &cp, &ctx)) != MAGVLT_OK)
    {
      free (pal);
      magvlt_model_free (model);
      return pal ? st : mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  palette_cb pc = { c, ctx };
  magvlt_callbacks cb = { .progress = palette_progress, .user_data = &pc };
  magvlt_context_set_callbacks (ctx, &cb);
  info (c, "computing the preview palette (%d decodes)",
        (mi.vocab_size_img + mi.ctx_len_img - 1) / mi.ctx_len_img);
  st = magvlt_vq_compute_palette (ctx, pal);
  if (st == MAGVLT_ABORTED)
    st = fail_cancel ();
  magvlt_context_free (ctx);
  magvlt_model_free (model);
  if (st == MAGVLT_OK)
    {
      int fd = open (tmp, O_WRONLY | O_CLOEXEC);
      size_t n = (size_t) mi.vocab_size_img * 3 * sizeof (float);
      if (fd < 0 || pwrite (fd, pal, n, (off_t) offset) != (ssize_t) n || fsync (fd) != 0)
        st = mv_fail (MAGVLT_ERR_IO, "%s: writing the palette failed: %s", tmp, strerror (errno));
      if (fd >= 0)
        close (fd);
      progress (c, MAGVLT_CONVERT_PALETTE, 1.0);
    }
  free (pal);
  return st;
}

/* Zeros in the palette's place; finish_palette fills it in. */
static magvlt_status
write_zeros (gguf_writer *w, uint64_t n, float *buf)
{
  magvlt_status st = MAGVLT_OK;
  memset (buf, 0, CV_CHUNK * sizeof (float));
  while (st == MAGVLT_OK && n > 0)
    {
      size_t k = n > CV_CHUNK * sizeof (float) ? CV_CHUNK * sizeof (float) : (size_t) n;
      st = gw_write (w, buf, k);
      n -= k;
    }
  return st == MAGVLT_OK ? gw_end_tensor (w) : st;
}

static magvlt_status
write_file (cv *c, gguf_writer *w, const char *tmp, FILE *fp, size_t pal_index, bool pal,
            uint64_t total)
{
  magvlt_status st;
  float *fbuf = malloc (CV_CHUNK * sizeof (float));
  uint16_t *hbuf = malloc (CV_CHUNK * sizeof (uint16_t));
  uint64_t done = 0;
  if (!fbuf || !hbuf)
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  else
    st = gw_begin (w, fp, tmp);
  for (size_t i = 0; st == MAGVLT_OK && i < c->n_out; i++)
    st = write_tensor (c, w, &c->out[i], fbuf, hbuf, &done, total);
  if (st == MAGVLT_OK && pal)
    st = write_zeros (w, gw_tensor_bytes (w, pal_index), fbuf);
  if (st == MAGVLT_OK)
    st = gw_finish (w);
  free (fbuf);
  free (hbuf);
  return st;
}

static magvlt_status
write_model (cv *c, const char *out_path, magvlt_convert_stats *stats)
{
  magvlt_status st;
  size_t pal_index = 0;
  bool pal = c->has_vqgan && c->p->palette;
  uint64_t total = 0;
  gguf_writer *w = gw_new ();
  if (!w)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  st = add_metadata (c, w);
  for (size_t i = 0; st == MAGVLT_OK && i < c->n_out; i++)
    {
      st =
        gw_add_tensor (w, c->out[i].name, c->out[i].n_dims, c->out[i].shape, c->out[i].type, NULL);
      total += c->out[i].src->t->numel;
    }
  if (st == MAGVLT_OK && pal)
    {
      int64_t shape[2] = { c->v.n_embed, 3 };
      st = gw_add_tensor (w, "vqgan.palette", 2, shape, GGUF_TENSOR_F32, &pal_index);
    }
  if (st != MAGVLT_OK)
    {
      gw_free (w);
      return st;
    }

  /* a temporary file beside the output, renamed into place when complete */
  char *tmp = g_strdup_printf ("%s.tmp-XXXXXX", out_path);
  int fd = mkstemp (tmp);
  FILE *fp = NULL;
  if (fd < 0)
    {
      st = mv_fail (MAGVLT_ERR_IO, "%s: cannot create the output: %s", out_path, strerror (errno));
      g_free (tmp);
      gw_free (w);
      return st;
    }
  if (fchmod (fd, 0644) != 0 || !(fp = fdopen (fd, "wb")))
    {
      st = mv_fail (MAGVLT_ERR_IO, "%s: %s", tmp, strerror (errno));
      close (fd);
    }
  else
    {
      setvbuf (fp, NULL, _IOFBF, 1u << 20);
      st = write_file (c, w, tmp, fp, pal_index, pal, total);
      if (fsync (fileno (fp)) != 0 && st == MAGVLT_OK)
        st = mv_fail (MAGVLT_ERR_IO, "%s: %s", tmp, strerror (errno));
      if (fclose (fp) != 0 && st == MAGVLT_OK)
        st = mv_fail (MAGVLT_ERR_IO, "%s: %s", tmp, strerror (errno));
    }
  if (st == MAGVLT_OK)
    st = finish_palette (c, tmp, pal, pal ? gw_tensor_file_offset (w, pal_index) : 0);
  if (st == MAGVLT_OK && rename (tmp, out_path) != 0)
    st = mv_fail (MAGVLT_ERR_IO, "%s: cannot rename the finished file into place: %s", out_path,
                  strerror (errno));
  if (st != MAGVLT_OK)
    unlink (tmp);
  else if (stats)
    {
      struct stat sb;
      stats->n_tensors = (int32_t) gw_n_tensors (w);
      stats->n_params = (int64_t) total + (pal ? (int64_t) c->v.n_embed * 3 : 0);
      stats->file_size = stat (out_path, &sb) == 0 ? (uint64_t) sb.st_size : 0;
    }
  g_free (tmp);
  gw_free (w);
  return st;
}

/* ---- the entry point ------------------------------------------------------ */

magvlt_convert_params
magvlt_convert_default_params (void)
{
  magvlt_convert_params p = {
    .weight_type = MAGVLT_WEIGHTS_F16,
    .palette = true,
  };
  return p;
}

static magvlt_status
check_params (const magvlt_convert_params *p, const char *out_path)
{
  if (!out_path || !*out_path)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "no output file given");
  if (!p->ckpt && !p->vqgan)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "give a MAGVLT checkpoint (--ckpt), a VQGAN checkpoint (--vqgan), or both");
  if (p->config && p->preset)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "give either a config (--config) or a preset (--preset), not both");
  if (p->preset && strcmp (p->preset, "base") != 0 && strcmp (p->preset, "large") != 0)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "unknown preset '%s' (use base or large)", p->preset);
  if (p->weight_type != MAGVLT_WEIGHTS_F16 && p->weight_type != MAGVLT_WEIGHTS_F32
      && p->weight_type != MAGVLT_WEIGHTS_BF16)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "unknown weight type %d", (int) p->weight_type);
  if (p->bpe && !p->ckpt)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "a tokenizer (--bpe) needs the MAGVLT checkpoint (--ckpt): a VQGAN-only "
                    "model has no text side");
  if (p->n_threads < 0 || p->n_threads > 1024)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "n_threads is %d; use 0 to 1024", p->n_threads);
  const char *ins[4] = { p->ckpt, p->vqgan, p->config, p->bpe };
  for (int i = 0; i < 4; i++)
    if (ins[i] && strcmp (ins[i], out_path) == 0)
      return mv_fail (MAGVLT_ERR_INVALID_ARG, "the output %s is also an input", out_path);
  return MAGVLT_OK;
}

static magvlt_status
convert (cv *c, const char *out_path, magvlt_convert_stats *stats)
{
  const magvlt_convert_params *p = c->p;
  magvlt_status st;

  /* configuration */
  if (p->config)
    {
      if ((st = cv_config_read_yaml (p->config, &c->cfg)) != MAGVLT_OK)
        return st;
      c->have_cfg = true;
      c->cfg_what = p->config;
      for (int i = 0; i < c->cfg.n_unknown_sampling && i < 8; i++)
        warn (c, "%s: sampling.%s is not a setting the engine knows; it is not stored", p->config,
              c->cfg.unknown_sampling[i]);
    }
  else if (p->preset)
    {
      if ((st = cv_config_preset (p->preset, &c->cfg)) != MAGVLT_OK)
        return st;
      c->have_cfg = true;
      c->cfg_what = p->preset[0] == 'b' ? "the base preset" : "the large preset";
    }

  /* inputs */
  progress (c, MAGVLT_CONVERT_READ, 0.0);
  if (p->ckpt)
    {
      if ((st = ck_file_open (p->ckpt, NULL, &c->ckpt)) != MAGVLT_OK)
        return st;
      c->have_ckpt = true;
      info (c, "%s: %s with %zu tensors", p->ckpt, c->ckpt.format, c->ckpt.n_tensors);
      if ((st = classify_ckpt (c)) != MAGVLT_OK)
        return st;
    }
  if (cancelled (c))
    return fail_cancel ();
  if (p->vqgan)
    {
      if ((st = ck_file_open (p->vqgan, NULL, &c->vqf)) != MAGVLT_OK)
        return st;
      c->have_vqf = true;
      info (c, "%s: %s with %zu tensors", p->vqgan, c->vqf.format, c->vqf.n_tensors);
      if ((st = classify_vqgan (c)) != MAGVLT_OK)
        return st;
    }
  if (cancelled (c))
    return fail_cancel ();

  /* geometry and the strict tensor check */
  if (c->have_ckpt && (st = stage2_geometry (c)) != MAGVLT_OK)
    return st;
  if (c->n_vq)
    {
      if ((st = vqgan_geometry (c)) != MAGVLT_OK)
        return st;
    }
  else
    warn (c,
          "%s has no VQGAN (model_vqvae.*) and no --vqgan was given: the model cannot read or "
          "make images",
          p->ckpt);
  c->out = calloc (c->n_s2 + c->n_vq + 1, sizeof *c->out);
  if (!c->out)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  if (c->has_stage2)
    {
      cv_expect *e;
      size_t ne;
      if ((st = cv_stage2_table (&c->g, c->mlp_hidden, c->n_special, &e, &ne)) != MAGVLT_OK)
        return st;
      st = check_table (c, c->s2, c->n_s2, e, ne, "model.", "stage2.", p->ckpt);
      free (e);
      if (st != MAGVLT_OK)
        return st;
    }
  if (c->has_vqgan)
    {
      cv_expect *e;
      size_t ne;
      if ((st = cv_vqgan_table (&c->v, &e, &ne)) != MAGVLT_OK)
        return st;
      st = check_table (c, c->vq, c->n_vq, e, ne, c->vq_from_taming ? "" : "model_vqvae.", "vqgan.",
                        c->have_vqf ? p->vqgan : p->ckpt);
      free (e);
      if (st != MAGVLT_OK)
        return st;
    }

  /* tokenizer */
  if (p->bpe)
    {
      if ((st = cv_vocab_load (p->bpe, c->g.vocab_size_txt, &c->vocab)) != MAGVLT_OK)
        return st;
      c->has_vocab = true;
      if (c->vocab.is_clip)
        info (c, "%s: CLIP's merges (bpe_simple_vocab_16e6), %zu of them: the official ids", p->bpe,
              c->vocab.n_merges);
      else
        warn (c,
              "%s: these %zu merges are not CLIP's (bpe_simple_vocab_16e6), so text ids "
              "will not match the official MAGVLT models",
              p->bpe, c->vocab.n_merges);
    }
  else if (c->has_stage2)
    info (c, "no --bpe: the model will have no tokenizer (forward and vq work; text jobs refuse)");

  /* provenance: SHA-256 of every input */
  const char *files[4] = { p->ckpt, p->vqgan, p->config, p->bpe };
  const ck_map *maps[4] = { c->have_ckpt ? &c->ckpt.map : NULL, c->have_vqf ? &c->vqf.map : NULL,
                            NULL, NULL };
  for (int i = 0; i < 4; i++)
    if (files[i])
      {
        struct stat sb;
        if (maps[i])
          c->hash_total += maps[i]->size;
        else if (stat (files[i], &sb) == 0)
          c->hash_total += (uint64_t) sb.st_size;
      }
  for (int i = 0; i < 4; i++)
    if (files[i] && (st = sha256_file (c, files[i], maps[i], c->sha[i])) != MAGVLT_OK)
      return st;
  progress (c, MAGVLT_CONVERT_READ, 1.0);

  return write_model (c, out_path, stats);
}

magvlt_status
magvlt_convert (const magvlt_convert_params *params, const char *out_path,
                magvlt_convert_stats *stats)
{
  if (!params)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_convert: params is NULL");
  magvlt_status st = check_params (params, out_path);
  if (st != MAGVLT_OK)
    return st;
  if (stats)
    memset (stats, 0, sizeof *stats);
  int64_t t0 = g_get_monotonic_time ();
  cv c = { .p = params };
  st = convert (&c, out_path, stats);
  if (st == MAGVLT_OK && stats)
    {
      stats->n_warnings = c.n_warnings;
      stats->seconds = (double) (g_get_monotonic_time () - t0) / 1e6;
    }
  if (st != MAGVLT_OK)
    mv_log (params->log_callback, params->log_user_data, MAGVLT_LOG_DEBUG, "%s",
            magvlt_last_error ());
  if (c.have_ckpt)
    ck_file_close (&c.ckpt);
  if (c.have_vqf)
    ck_file_close (&c.vqf);
  cv_vocab_free (&c.vocab);
  free (c.s2);
  free (c.vq);
  free (c.idx[0]);
  free (c.idx[1]);
  free (c.out);
  return st;
}
