/* model.c — loading a MAGVLT GGUF file into an immutable model: metadata,
 * hyper-parameter validation, and a shape-checked view of every tensor.
 * SPDX-License-Identifier: MIT */
#include "model.h"

#include "matmul.h"
#include "matmul_bf16.h"
#include "ops.h"
#include "status.h"
#include "tokenizer.h"
#include "vqgan.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MV_FORMAT_VERSION 1

magvlt_model_params
magvlt_model_default_params (void)
{
  magvlt_model_params p = {
    .use_mmap = true,
  };
  return p;
}

static magvlt_status
get_dim (const gguf_file *f, const char *key, int32_t lo, int32_t hi, int32_t *out)
{
  uint32_t v;
  magvlt_status st = gguf_get_u32 (f, key, &v);
  if (st != MAGVLT_OK)
    return st;
  if (v < (uint32_t) lo || v > (uint32_t) hi)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; it must be between %d and %d", key, v, lo, hi);
  *out = (int32_t) v;
  return MAGVLT_OK;
}

static magvlt_status
read_hparams (const gguf_file *f, mv_hparams *hp)
{
  magvlt_status st;
  uint32_t eot;

  if ((st = get_dim (f, "magvlt.embed_dim", 1, 1 << 16, &hp->embed_dim))
      || (st = get_dim (f, "magvlt.n_layers", 1, 1024, &hp->n_layers))
      || (st = get_dim (f, "magvlt.n_heads", 1, 1024, &hp->n_heads))
      || (st = get_dim (f, "magvlt.mlp_hidden", 1, 1 << 18, &hp->mlp_hidden))
      || (st = get_dim (f, "magvlt.ctx_len_img", 1, 1 << 16, &hp->ctx_len_img))
      || (st = get_dim (f, "magvlt.ctx_len_txt", 1, 4096, &hp->ctx_len_txt))
      || (st = get_dim (f, "magvlt.vocab_size_img", 1, 1 << 22, &hp->vocab_size_img))
      || (st = get_dim (f, "magvlt.vocab_size_txt", 1, 1 << 22, &hp->vocab_size_txt))
      || (st = get_dim (f, "magvlt.n_special", 6, 1024, &hp->n_special))
      || (st = gguf_get_u32 (f, "magvlt.text_eot_id", &eot))
      || (st = gguf_get_f32 (f, "magvlt.layer_norm_eps", &hp->layer_norm_eps)))
    return st;

  if (hp->embed_dim % hp->n_heads != 0)
    return mv_fail (MAGVLT_ERR_FORMAT, "magvlt.embed_dim %d is not divisible by magvlt.n_heads %d",
                    hp->embed_dim, hp->n_heads);
  hp->image_grid = (int32_t) lround (sqrt ((double) hp->ctx_len_img));
  if (hp->image_grid * hp->image_grid != hp->ctx_len_img)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "magvlt.ctx_len_img %d is not a perfect square (the image tokens form a "
                    "square grid)",
                    hp->ctx_len_img);
  if (eot >= (uint32_t) hp->vocab_size_txt)
    return mv_fail (MAGVLT_ERR_FORMAT, "magvlt.text_eot_id %u is outside the text vocabulary (%d)",
                    eot, hp->vocab_size_txt);
  hp->text_eot_id = (int32_t) eot;
  if (!(hp->layer_norm_eps > 0.0f) || !isfinite (hp->layer_norm_eps) || hp->layer_norm_eps > 1.0f)
    return mv_fail (MAGVLT_ERR_FORMAT, "magvlt.layer_norm_eps %g is not in (0, 1]",
                    (double) hp->layer_norm_eps);
  hp->seq_len = 4 + hp->ctx_len_img + hp->ctx_len_txt;
  return MAGVLT_OK;
}

magvlt_status
mv_tensor_bind (const gguf_file *f, mv_tensor *t, const char *name, int n_dims,
                const int64_t *shape)
{
  const gguf_tensor *g = gguf_find_tensor (f, name);
  if (!g)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "required tensor '%s' is missing; HINT: the file may come from another "
                    "model or an incomplete conversion — re-convert it with `magvlt convert`",
                    name);
  /* GGUF lists dims innermost first; shape is outermost first */
  bool ok = (int) g->n_dims == n_dims;
  for (int d = 0; ok && d < n_dims; d++)
    ok = (int64_t) g->ne[n_dims - 1 - d] == shape[d];
  if (!ok)
    {
      char found[96], want[96];
      int n = 0;
      for (int d = (int) g->n_dims - 1; d >= 0; d--)
        n += snprintf (found + n, sizeof found - (size_t) n, "%s%llu",
                       d == (int) g->n_dims - 1 ? "" : ", ", (unsigned long long) g->ne[d]);
      n = 0;
      for (int d = 0; d < n_dims; d++)
        n += snprintf (want + n, sizeof want - (size_t) n, "%s%lld", d ? ", " : "",
                       (long long) shape[d]);
      return mv_fail (MAGVLT_ERR_FORMAT, "tensor '%s' has shape [%s] but the metadata says [%s]",
                      name, found, want);
    }
  t->name = g->name;
  t->data = g->data;
  t->f16 = g->type == GGUF_TENSOR_F16 || g->type == GGUF_TENSOR_BF16;
  t->bf16 = g->type == GGUF_TENSOR_BF16;
  t->rows = n_dims == 1 ? 1 : shape[0];
  t->cols = (int64_t) g->n_elements / t->rows;
  return MAGVLT_OK;
}

/* Binds a stage-2 tensor of shape [rows, cols] (cols = 0: a vector). */
static magvlt_status
bind (magvlt_model *m, mv_tensor *t, const char *name, int64_t rows, int64_t cols)
{
  int64_t shape[2] = { rows, cols };
  return mv_tensor_bind (&m->file, t, name, cols == 0 ? 1 : 2, shape);
}

static magvlt_status
bind_block (magvlt_model *m, int i, mv_block *b)
{
  const mv_hparams *hp = &m->hp;
  int64_t c = hp->embed_dim, mh = hp->mlp_hidden;
  struct {
    mv_tensor *t;
    const char *suffix;
    int64_t rows, cols;
  } list[] = {
    { &b->ln1_w, "ln1.weight", c, 0 },        { &b->ln1_b, "ln1.bias", c, 0 },
    { &b->ln2_w, "ln2.weight", c, 0 },        { &b->ln2_b, "ln2.bias", c, 0 },
    { &b->q_w, "attn.query.weight", c, c },   { &b->q_b, "attn.query.bias", c, 0 },
    { &b->k_w, "attn.key.weight", c, c },     { &b->k_b, "attn.key.bias", c, 0 },
    { &b->v_w, "attn.value.weight", c, c },   { &b->v_b, "attn.value.bias", c, 0 },
    { &b->proj_w, "attn.proj.weight", c, c }, { &b->proj_b, "attn.proj.bias", c, 0 },
    { &b->fc1_w, "mlp.0.weight", mh, c },     { &b->fc1_b, "mlp.0.bias", mh, 0 },
    { &b->fc2_w, "mlp.2.weight", c, mh },     { &b->fc2_b, "mlp.2.bias", c, 0 },
  };
  for (size_t j = 0; j < sizeof list / sizeof list[0]; j++)
    {
      char name[128];
      snprintf (name, sizeof name, "stage2.blocks.%d.%s", i, list[j].suffix);
      magvlt_status st = bind (m, list[j].t, name, list[j].rows, list[j].cols);
      if (st != MAGVLT_OK)
        return st;
    }
  return MAGVLT_OK;
}

static magvlt_status
bind_all (magvlt_model *m)
{
  const mv_hparams *hp = &m->hp;
  int64_t c = hp->embed_dim, v = (int64_t) hp->vocab_size_img + hp->vocab_size_txt;
  magvlt_status st;

  if ((st = bind (m, &m->tok_emb, "stage2.tok_emb.weight", v, c))
      || (st = bind (m, &m->tok_emb_spc, "stage2.tok_emb_spc.weight", hp->n_special, c))
      || (st = bind (m, &m->pos_img, "stage2.pos_emb_img.pos_embed", hp->ctx_len_img, c))
      || (st = bind (m, &m->pos_txt, "stage2.pos_emb_txt.pos_embed", hp->ctx_len_txt, c))
      || (st = bind (m, &m->pos_spc, "stage2.pos_emb_spc.pos_embed", hp->seq_len, c))
      || (st = bind (m, &m->lm_w, "stage2.lm_layer.linear.weight", c, c))
      || (st = bind (m, &m->lm_b, "stage2.lm_layer.linear.bias", c, 0))
      || (st = bind (m, &m->lm_ln_w, "stage2.lm_layer.ln.weight", c, 0))
      || (st = bind (m, &m->lm_ln_b, "stage2.lm_layer.ln.bias", c, 0))
      || (st = bind (m, &m->out_bias, "stage2.lm_layer.output_bias", v, 0))
      || (st = bind (m, &m->len_w, "stage2.length_predictor.weight", hp->ctx_len_txt, c)))
    return st;

  m->blocks = calloc ((size_t) hp->n_layers, sizeof *m->blocks);
  if (!m->blocks)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for %d blocks", hp->n_layers);
  for (int i = 0; i < hp->n_layers; i++)
    if ((st = bind_block (m, i, &m->blocks[i])) != MAGVLT_OK)
      return st;
  return MAGVLT_OK;
}

/* Every vector of the model, so f16 ones can be converted once at load and
 * the forward pass reads plain floats. */
static size_t
list_vectors (magvlt_model *m, mv_tensor **out)
{
  size_t n = 0;
  out[n++] = &m->lm_b;
  out[n++] = &m->lm_ln_w;
  out[n++] = &m->lm_ln_b;
  out[n++] = &m->out_bias;
  for (int i = 0; i < m->hp.n_layers; i++)
    {
      mv_block *b = &m->blocks[i];
      mv_tensor *vs[] = { &b->ln1_w, &b->ln1_b, &b->ln2_w,  &b->ln2_b, &b->q_b,
                          &b->k_b,   &b->v_b,   &b->proj_b, &b->fc1_b, &b->fc2_b };
      for (size_t j = 0; j < sizeof vs / sizeof vs[0]; j++)
        out[n++] = vs[j];
    }
  return n;
}

static magvlt_status
convert_f16_vectors (magvlt_model *m)
{
  size_t cap = 4 + 10 * (size_t) m->hp.n_layers, total = 0;
  mv_tensor **vs = malloc (cap * sizeof *vs);
  if (!vs)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  size_t n = list_vectors (m, vs);
  for (size_t i = 0; i < n; i++)
    if (vs[i]->f16)
      total += (size_t) vs[i]->cols;
  if (total > 0)
    {
      m->converted = malloc (total * sizeof (float));
      if (!m->converted)
        {
          free (vs);
          return mv_fail (MAGVLT_ERR_NOMEM, "out of memory converting f16 vectors");
        }
      float *dst = m->converted;
      for (size_t i = 0; i < n; i++)
        if (vs[i]->f16)
          {
            mv_half_to_f32 (vs[i]->data, vs[i]->bf16, dst, (size_t) vs[i]->cols);
            vs[i]->data = dst;
            vs[i]->f16 = vs[i]->bf16 = false;
            dst += vs[i]->cols;
          }
    }
  free (vs);
  return MAGVLT_OK;
}

static void
count_params (magvlt_model *m)
{
  int n_f16 = 0, n_bf16 = 0, n_mat = 0;
  for (uint64_t i = 0; i < m->file.n_tensors; i++)
    {
      const gguf_tensor *t = &m->file.tensors[i];
      if (strncmp (t->name, "stage2.", 7) == 0)
        {
          m->n_params_stage2 += (int64_t) t->n_elements;
          if (t->n_dims >= 2)
            {
              n_mat++;
              n_f16 += t->type == GGUF_TENSOR_F16;
              n_bf16 += t->type == GGUF_TENSOR_BF16;
            }
        }
      else if (strncmp (t->name, "vqgan.", 6) == 0)
        m->n_params_vqgan += (int64_t) t->n_elements;
    }
  m->weight_type = n_f16 + n_bf16 == 0 ? "f32"
                   : n_f16 == n_mat    ? "f16"
                   : n_bf16 == n_mat   ? "bf16"
                                       : "mixed";
}

/* A file without stage2.* tensors: a VQGAN-only model (`magvlt convert
 * --vqgan` alone) for the vq commands. The transformer's hyper-parameters
 * stay zero except the image grid and codebook size; magvlt_forward and the
 * generation jobs refuse it (MAGVLT_ERR_UNSUPPORTED). */
static magvlt_status
load_vqgan_only (magvlt_model *m)
{
  magvlt_status st = mv_vqgan_load (&m->file, NULL, &m->vq);
  if (st != MAGVLT_OK)
    return st;
  if (!m->vq)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the file has neither stage2.* tensors (a transformer) nor magvlt.vqgan.* "
                    "metadata (a VQGAN)");
  m->hp.vocab_size_img = m->vq->n_embed;
  m->hp.image_grid = m->vq->grid;
  m->hp.ctx_len_img = m->vq->grid * m->vq->grid;
  for (uint64_t i = 0; i < m->file.n_tensors; i++)
    if (strncmp (m->file.tensors[i].name, "vqgan.", 6) == 0)
      m->n_params_vqgan += (int64_t) m->file.tensors[i].n_elements;
  m->weight_type = "none";
  return MAGVLT_OK;
}

static magvlt_status
load_into (magvlt_model *m, const char *path, const magvlt_model_params *p)
{
  char arch[64];
  uint32_t version;
  magvlt_status st;

  if ((st = gguf_open (path, p->use_mmap, p->progress_callback, p->progress_user_data, &m->file))
      != MAGVLT_OK)
    return st;
  if (!gguf_find_kv (&m->file, "general.architecture"))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "general.architecture is missing; this GGUF file is not a MAGVLT model");
  if ((st = gguf_get_str (&m->file, "general.architecture", arch, sizeof arch)) != MAGVLT_OK)
    return st;
  if (strcmp (arch, "magvlt") != 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "general.architecture is '%s', not 'magvlt': this is not a MAGVLT model", arch);
  if ((st = gguf_get_u32 (&m->file, "magvlt.format_version", &version)) != MAGVLT_OK)
    return st;
  if (version != MV_FORMAT_VERSION)
    return mv_fail (version > MV_FORMAT_VERSION ? MAGVLT_ERR_UNSUPPORTED : MAGVLT_ERR_FORMAT,
                    "magvlt.format_version is %u; this engine reads version %d%s", version,
                    MV_FORMAT_VERSION,
                    version > MV_FORMAT_VERSION ? " (HINT: update MAGVLT Studio)" : "");
  if (gguf_find_kv (&m->file, "general.name")
      && (st = gguf_get_str (&m->file, "general.name", m->name, sizeof m->name)) != MAGVLT_OK)
    return st;
  for (uint64_t i = 0; i < m->file.n_tensors && !m->has_stage2; i++)
    m->has_stage2 = strncmp (m->file.tensors[i].name, "stage2.", 7) == 0;
  m->sampling = magvlt_sampling_default_params ();
  if (!m->has_stage2)
    {
      if ((st = load_vqgan_only (m)) != MAGVLT_OK)
        return st;
    }
  else
    {
      if ((st = read_hparams (&m->file, &m->hp)) != MAGVLT_OK || (st = bind_all (m)) != MAGVLT_OK
          || (st = convert_f16_vectors (m)) != MAGVLT_OK
          || (st = mv_vqgan_load (&m->file, &m->hp, &m->vq)) != MAGVLT_OK)
        return st;
      if ((st = mv_tokenizer_load (&m->file, m->hp.vocab_size_txt, m->hp.text_eot_id,
                                   m->hp.ctx_len_txt, &m->tokenizer))
          != MAGVLT_OK)
        return st;
      if ((st = mv_model_read_sampling (&m->file, &m->sampling)) != MAGVLT_OK)
        return st;
      count_params (m);
    }
  if (p->progress_callback && !p->progress_callback (1.0f, p->progress_user_data))
    return mv_fail (MAGVLT_ABORTED, "loading was cancelled");
  return MAGVLT_OK;
}

magvlt_status
magvlt_model_load (const char *path, const magvlt_model_params *params, magvlt_model **out)
{
  magvlt_model_params p = params ? *params : magvlt_model_default_params ();
  magvlt_status st;

  if (!out)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_model_load: out is NULL");
  *out = NULL;
  if (!path || !*path)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_model_load: no path given");

  magvlt_model *m = calloc (1, sizeof *m);
  if (!m || !(m->path = strdup (path)))
    {
      free (m);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  st = load_into (m, path, &p);
  if (st != MAGVLT_OK)
    {
      mv_error_prefix ("%s: ", path);
      mv_log (p.log_callback, p.log_user_data, MAGVLT_LOG_ERROR, "%s", magvlt_last_error ());
      magvlt_model_free (m);
      return st;
    }
  if (m->has_stage2)
    mv_log (p.log_callback, p.log_user_data, MAGVLT_LOG_INFO,
            "loaded %s: %d layers, width %d, %d heads, %s weights%s", path, m->hp.n_layers,
            m->hp.embed_dim, m->hp.n_heads, m->weight_type, m->file.mmapped ? ", mapped" : "");
  else
    mv_log (p.log_callback, p.log_user_data, MAGVLT_LOG_INFO,
            "loaded %s: a VQGAN-only model (%dx%d codes, %d-entry codebook)%s", path,
            m->hp.image_grid, m->hp.image_grid, m->hp.vocab_size_img,
            m->file.mmapped ? ", mapped" : "");
  *out = m;
  return MAGVLT_OK;
}

void
mv_model_release_pages (const magvlt_model *model, const void *data, size_t bytes)
{
  if (!model->file.mmapped)
    return;
  long page = sysconf (_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t) data + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  uintptr_t e = ((uintptr_t) data + bytes) & ~((uintptr_t) page - 1);
  if (e > a)
    madvise ((void *) a, e - a, MADV_DONTNEED);
}

void
magvlt_model_free (magvlt_model *m)
{
  if (!m)
    return;
  for (int b = 0; b < MV_BACKEND_COUNT; b++)
    mv_packed_model_free (m->packed[b]);
  mv_bf16_model_free (m->bf16);
  mv_vqgan_free (m->vq);
  mv_tokenizer_free (m->tokenizer);
  gguf_clear (&m->file);
  free (m->blocks);
  free (m->converted);
  free (m->path);
  free (m);
}

magvlt_status
magvlt_model_get_meta_str (const magvlt_model *m, const char *key, char *buf, size_t size)
{
  if (!m || !key || !buf || size == 0)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_model_get_meta_str: NULL argument or size 0");
  buf[0] = '\0';
  const gguf_kv *kv = gguf_find_kv (&m->file, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "%s has no metadata key '%s'", m->path, key);
  if (kv->type != GGUF_TYPE_STRING)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "metadata key '%s' of %s holds a %s, not a string", key,
                    m->path, gguf_type_name (kv->type));
  /* the reader's checks (no NUL inside) still apply: a string read here is a C string */
  magvlt_status st = gguf_get_str (&m->file, key, buf, size);
  if (st != MAGVLT_OK)
    buf[0] = '\0';
  return st;
}

magvlt_status
magvlt_model_get_info (const magvlt_model *m, magvlt_model_info *info)
{
  if (!m || !info)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_model_get_info: NULL argument");
  const mv_hparams *hp = &m->hp;
  *info = (magvlt_model_info){
    .architecture = "magvlt",
    .name = m->name,
    .path = m->path,
    .file_size = m->file.size,
    .gguf_version = (int32_t) m->file.version,
    .n_tensors = (int64_t) m->file.n_tensors,
    .n_params_stage2 = m->n_params_stage2,
    .n_params_vqgan = m->n_params_vqgan,
    .weight_type = m->weight_type,
    .mmapped = m->file.mmapped,
    .embed_dim = hp->embed_dim,
    .n_layers = hp->n_layers,
    .n_heads = hp->n_heads,
    .mlp_hidden = hp->mlp_hidden,
    .ctx_len_img = hp->ctx_len_img,
    .ctx_len_txt = hp->ctx_len_txt,
    .image_grid = hp->image_grid,
    .seq_len = hp->seq_len,
    .vocab_size_img = hp->vocab_size_img,
    .vocab_size_txt = hp->vocab_size_txt,
    .n_special = hp->n_special,
    .text_eot_id = hp->text_eot_id,
    .has_vqgan = m->vq != NULL,
    .has_palette = m->vq && m->vq->palette,
    .image_resolution = m->vq ? m->vq->resolution : 0,
    .vq_z_channels = m->vq ? m->vq->z_channels : 0,
    .vq_embed_dim = m->vq ? m->vq->embed_dim : 0,
    .has_transformer = m->has_stage2,
  };
  return MAGVLT_OK;
}
