/* matmul.c — choosing a matrix-product backend, and the oneDNN one.
 * SPDX-License-Identifier: MIT
 *
 * oneDNN's matmul wants its weights in a blocked layout of its own and, for
 * bf16, as bfloat16: both are prepared once per model (mv_matmul_prepare),
 * not per call. Activations are converted to bf16 per call (N·K values, tiny
 * next to the O·K weights). oneDNN keeps created primitives in its own cache,
 * so calling with the same shapes again costs microseconds. After packing,
 * the mapped pages of the model file are released (MADV_DONTNEED),
 * so packing does not double the resident memory. */
#include "matmul.h"

#include "matmul_bf16.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *backend_names[MV_BACKEND_COUNT] = { "openblas", "onednn-f32", "onednn-bf16",
                                                       "bf16" };

const char *
mv_backend_name (mv_backend b)
{
  return b >= 0 && b < MV_BACKEND_COUNT ? backend_names[b] : "unknown";
}

bool
magvlt_backend_name_known (const char *name)
{
  if (!name)
    return false;
  if (strcmp (name, "auto") == 0)
    return true;
  for (int b = 0; b < MV_BACKEND_COUNT; b++)
    if (strcmp (name, backend_names[b]) == 0)
      return true;
  return false;
}

static bool
cpu_has_bf16 (void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports ("avx512bf16");
#else
  return false;
#endif
}

bool
mv_backend_available (mv_backend b)
{
  switch (b)
    {
    case MV_BACKEND_OPENBLAS: return true;
    case MV_BACKEND_BF16: return mv_bf16_available ();
#ifdef MV_HAVE_DNNL
    case MV_BACKEND_ONEDNN_F32: return true;
    case MV_BACKEND_ONEDNN_BF16: return cpu_has_bf16 ();
#endif
    default: return false;
    }
}

magvlt_status
mv_backend_resolve (const char *request, mv_backend *out)
{
  if (!request || !*request)
    request = getenv ("MAGVLT_BACKEND");
  if (!request || !*request || strcmp (request, "auto") == 0)
    {
      /* The engine's own bf16 kernels where the CPU has them: the fastest
       * path on every geometry measured (BENCHMARKS.md); oneDNN's are
       * slower on small models (a primitive per call, its own OpenMP
       * threads) and no faster on the base one. Else OpenBLAS float32. */
      *out = mv_bf16_available () ? MV_BACKEND_BF16 : MV_BACKEND_OPENBLAS;
      return MAGVLT_OK;
    }
  for (int b = 0; b < MV_BACKEND_COUNT; b++)
    if (strcmp (request, backend_names[b]) == 0)
      {
        if (!mv_backend_available ((mv_backend) b))
          return mv_fail (MAGVLT_ERR_UNSUPPORTED, "backend '%s' is not available: %s", request,
                          b == MV_BACKEND_BF16
                            ? "this CPU has no bfloat16 instructions (AVX512-BF16)"
#ifdef MV_HAVE_DNNL
                            : "this CPU has no bfloat16 instructions (AVX512-BF16)"
#else
                            : "this build has no oneDNN (install libdnnl-dev and rebuild)"
#endif
          );
        *out = (mv_backend) b;
        return MAGVLT_OK;
      }
  return mv_fail (MAGVLT_ERR_INVALID_ARG,
                  "unknown backend '%s' (use auto, openblas, bf16, onednn-f32 or onednn-bf16)",
                  request);
}

#ifndef MV_HAVE_DNNL

magvlt_status
mv_matmul_prepare (const magvlt_model *model, mv_backend b)
{
  if (b == MV_BACKEND_BF16)
    return mv_bf16_prepare (model);
  return b == MV_BACKEND_OPENBLAS ? MAGVLT_OK
                                  : mv_fail (MAGVLT_ERR_UNSUPPORTED, "this build has no oneDNN");
}

void
mv_packed_model_free (mv_packed_model *p)
{
}

magvlt_status
mv_dnnl_ctx_new (const magvlt_model *model, mv_backend b, mv_dnnl_ctx **out)
{
  *out = NULL;
  return mv_fail (MAGVLT_ERR_UNSUPPORTED, "this build has no oneDNN");
}

void
mv_dnnl_ctx_free (mv_dnnl_ctx *c)
{
}

bool
mv_dnnl_linear (mv_dnnl_ctx *c, const mv_tensor *w, const float *x, int n, const float *b, float *y,
                bool accumulate)
{
  return false;
}

#else /* MV_HAVE_DNNL */

#include "ops.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

/* The row count packing is planned for; oneDNN's blocked weight layouts do
 * not depend on it, and every call checks that its layout matches. */
#define PLAN_ROWS 256

typedef struct {
  const void *key; /* the tensor's data pointer in the model file */
  int o, k;
  dnnl_memory_desc_t md; /* packed layout */
  void *buf;
} packed_weight;

struct mv_packed_model {
  mv_backend backend;
  dnnl_engine_t engine;
  int n;
  packed_weight *w; /* sorted by key */
};

struct mv_dnnl_ctx {
  const magvlt_model *model;
  mv_packed_model *packed;
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  uint16_t *src_bf16; /* activations converted to bf16 */
  size_t src_cap;
};

static pthread_mutex_t pack_lock = PTHREAD_MUTEX_INITIALIZER;

static dnnl_data_type_t
weight_type (mv_backend b)
{
  return b == MV_BACKEND_ONEDNN_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* The packed weight layout a matmul of [rows, k] × [k, o] would use. */
static dnnl_status_t
plan_layout (dnnl_engine_t engine, mv_backend b, int rows, int k, int o, dnnl_memory_desc_t *md)
{
  dnnl_memory_desc_t src, wei, dst;
  dnnl_dims_t ds = { rows, k }, dw = { k, o }, dd = { rows, o };
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd;
  dnnl_status_t s;

  dnnl_memory_desc_init_by_tag (&src, 2, ds, weight_type (b), dnnl_ab);
  dnnl_memory_desc_init_by_tag (&wei, 2, dw, weight_type (b), dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag (&dst, 2, dd, dnnl_f32, dnnl_ab);
  if ((s = dnnl_matmul_desc_init (&desc, &src, &wei, NULL, &dst)) != dnnl_success
      || (s = dnnl_primitive_desc_create (&pd, &desc, NULL, engine, NULL)) != dnnl_success)
    return s;
  *md = *dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  dnnl_primitive_desc_destroy (pd);
  return dnnl_success;
}

magvlt_status
mv_dnnl_reorder_weight (dnnl_engine_t engine, const float *w, int o, int k,
                        const dnnl_memory_desc_t *md, void *buf)
{
  magvlt_status st = MAGVLT_OK;
  dnnl_memory_desc_t plain;
  dnnl_dims_t dw = { k, o };
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t from = NULL, to = NULL;
  dnnl_stream_t stream = NULL;

  /* W is [O, K] row-major: as the [K, O] weights of a matmul that is "ba" */
  dnnl_memory_desc_init_by_tag (&plain, 2, dw, dnnl_f32, dnnl_ba);
  MV_DNNL_TRY (dnnl_memory_create (&from, &plain, engine, (void *) w), "memory");
  MV_DNNL_TRY (dnnl_memory_create (&to, md, engine, buf), "memory");
  MV_DNNL_TRY (dnnl_reorder_primitive_desc_create (&rpd, &plain, engine, md, engine, NULL),
               "a weight reorder");
  MV_DNNL_TRY (dnnl_primitive_create (&reorder, rpd), "a weight reorder");
  MV_DNNL_TRY (dnnl_stream_create (&stream, engine, dnnl_stream_default_flags), "a stream");
  {
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    MV_DNNL_TRY (dnnl_primitive_execute (reorder, stream, 2, args), "a weight reorder");
    MV_DNNL_TRY (dnnl_stream_wait (stream), "a weight reorder");
  }
out:
  if (reorder)
    dnnl_primitive_destroy (reorder);
  if (rpd)
    dnnl_primitive_desc_destroy (rpd);
  if (from)
    dnnl_memory_destroy (from);
  if (to)
    dnnl_memory_destroy (to);
  if (stream)
    dnnl_stream_destroy (stream);
  return st;
}

static magvlt_status
pack_one (mv_packed_model *p, const magvlt_model *model, const mv_tensor *t, float *scratch,
          packed_weight *out)
{
  magvlt_status st = MAGVLT_OK;
  int o = (int) t->rows, k = (int) t->cols;
  const float *f32 = t->data;

  out->key = t->data;
  out->o = o, out->k = k;
  MV_DNNL_TRY (plan_layout (p->engine, p->backend, PLAN_ROWS, k, o, &out->md), "planning a layout");
  if (!(out->buf = aligned_alloc (64, (dnnl_memory_desc_get_size (&out->md) + 63) & ~(size_t) 63)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory packing '%s'", t->name);
  if (t->f16)
    {
      mv_half_to_f32 (t->data, t->bf16, scratch, (size_t) o * k);
      f32 = scratch;
    }
  if ((st = mv_dnnl_reorder_weight (p->engine, f32, o, k, &out->md, out->buf)) != MAGVLT_OK)
    return st;
  /* the file's pages of this weight (float32 or f16) are not needed any
   * more: drop them from this process's resident memory (they stay in the
   * page cache, and a product the packed copy cannot serve reads them back) */
  mv_model_release_pages (model, t->data, (size_t) o * k * (t->f16 ? 2 : 4));
out:
  return st;
}

static int
cmp_key (const void *a, const void *b)
{
  const void *x = ((const packed_weight *) a)->key, *y = ((const packed_weight *) b)->key;
  return (x > y) - (x < y);
}

void
mv_packed_model_free (mv_packed_model *p)
{
  if (!p)
    return;
  for (int i = 0; i < p->n; i++)
    free (p->w[i].buf);
  free (p->w);
  if (p->engine)
    dnnl_engine_destroy (p->engine);
  free (p);
}

magvlt_status
mv_matmul_prepare (const magvlt_model *model, mv_backend b)
{
  magvlt_model *m = (magvlt_model *) model; /* the packed cache only */
  magvlt_status st = MAGVLT_OK;
  const mv_hparams *hp = &model->hp;

  if (b == MV_BACKEND_OPENBLAS)
    return MAGVLT_OK;
  if (b == MV_BACKEND_BF16)
    return mv_bf16_prepare (model);
  if (!model->blocks)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "this model has no transformer");
  pthread_mutex_lock (&pack_lock);
  if (m->packed[b])
    {
      pthread_mutex_unlock (&pack_lock);
      return MAGVLT_OK;
    }
  mv_packed_model *p = calloc (1, sizeof *p);
  int max_n = 6 * hp->n_layers + 1;
  size_t scratch_n = (size_t) hp->mlp_hidden * hp->embed_dim;
  float *scratch = malloc ((scratch_n > (size_t) hp->embed_dim * hp->embed_dim
                              ? scratch_n
                              : (size_t) hp->embed_dim * hp->embed_dim)
                           * sizeof (float));
  if (!p || !scratch || !(p->w = calloc ((size_t) max_n, sizeof *p->w)))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory packing the weights");
      goto done;
    }
  p->backend = b;
  if (dnnl_engine_create (&p->engine, dnnl_cpu, 0) != dnnl_success)
    {
      st = mv_fail (MAGVLT_ERR_INTERNAL, "oneDNN: no CPU engine");
      goto done;
    }
  for (int l = 0; l < hp->n_layers && st == MAGVLT_OK; l++)
    {
      const mv_block *bl = &model->blocks[l];
      const mv_tensor *ws[] = { &bl->q_w, &bl->k_w, &bl->v_w, &bl->proj_w, &bl->fc1_w, &bl->fc2_w };
      for (int j = 0; j < 6 && st == MAGVLT_OK; j++)
        st = pack_one (p, model, ws[j], scratch, &p->w[p->n++]);
    }
  if (st == MAGVLT_OK)
    st = pack_one (p, model, &model->lm_w, scratch, &p->w[p->n++]);
  qsort (p->w, (size_t) p->n, sizeof *p->w, cmp_key);
done:
  free (scratch);
  if (st == MAGVLT_OK)
    m->packed[b] = p;
  else
    mv_packed_model_free (p);
  pthread_mutex_unlock (&pack_lock);
  return st;
}

magvlt_status
mv_dnnl_ctx_new (const magvlt_model *model, mv_backend b, mv_dnnl_ctx **out)
{
  magvlt_status st = mv_matmul_prepare (model, b);
  mv_dnnl_ctx *c;

  *out = NULL;
  if (st != MAGVLT_OK)
    return st;
  if (!(c = calloc (1, sizeof *c)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  c->model = model;
  c->packed = model->packed[b];
  c->src_cap = (size_t) model->hp.seq_len
               * (size_t) (model->hp.mlp_hidden > model->hp.embed_dim ? model->hp.mlp_hidden
                                                                      : model->hp.embed_dim);
  c->src_bf16 = malloc (c->src_cap * sizeof (uint16_t));
  if (!c->src_bf16 || dnnl_engine_create (&c->engine, dnnl_cpu, 0) != dnnl_success
      || dnnl_stream_create (&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success)
    {
      mv_dnnl_ctx_free (c);
      return mv_fail (MAGVLT_ERR_INTERNAL, "oneDNN: cannot create an engine and stream");
    }
  *out = c;
  return MAGVLT_OK;
}

void
mv_dnnl_ctx_free (mv_dnnl_ctx *c)
{
  if (!c)
    return;
  if (c->stream)
    dnnl_stream_destroy (c->stream);
  if (c->engine)
    dnnl_engine_destroy (c->engine);
  free (c->src_bf16);
  free (c);
}

bool
mv_dnnl_linear (mv_dnnl_ctx *c, const mv_tensor *w, const float *x, int n, const float *b, float *y,
                bool accumulate)
{
  magvlt_status st = MAGVLT_OK;
  packed_weight key = { .key = w->data }, *pw;
  mv_backend be = c->packed->backend;
  dnnl_memory_desc_t src, dst, bias, want;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;
  dnnl_memory_t ms = NULL, mw = NULL, mb = NULL, md = NULL;
  bool done = false;

  pw = bsearch (&key, c->packed->w, (size_t) c->packed->n, sizeof key, cmp_key);
  if (!pw || (size_t) n * (size_t) pw->k > c->src_cap)
    return false;
  dnnl_dims_t ds = { n, pw->k }, dd = { n, pw->o }, db = { 1, pw->o };
  const void *src_data = x;
  if (be == MV_BACKEND_ONEDNN_BF16)
    {
      for (size_t i = 0; i < (size_t) n * pw->k; i++)
        c->src_bf16[i] = mv_f32_to_bf16 (x[i]);
      src_data = c->src_bf16;
    }
  dnnl_memory_desc_init_by_tag (&src, 2, ds, weight_type (be), dnnl_ab);
  dnnl_memory_desc_init_by_tag (&dst, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_memory_desc_init_by_tag (&bias, 2, db, dnnl_f32, dnnl_ab);
  MV_DNNL_TRY (dnnl_primitive_attr_create (&attr), "attributes");
  if (accumulate)
    {
      /* the residual connection: y += x·Wᵀ + b */
      MV_DNNL_TRY (dnnl_post_ops_create (&po), "post-ops");
      MV_DNNL_TRY (dnnl_post_ops_append_sum (po, 1.0f), "a sum post-op");
      MV_DNNL_TRY (dnnl_primitive_attr_set_post_ops (attr, po), "post-ops");
    }
  MV_DNNL_TRY (dnnl_matmul_desc_init (&desc, &src, &pw->md, b ? &bias : NULL, &dst), "a matmul");
  MV_DNNL_TRY (dnnl_primitive_desc_create (&pd, &desc, attr, c->engine, NULL), "a matmul");
  want = *dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  if (!dnnl_memory_desc_equal (&want, &pw->md))
    goto out; /* this shape wants another layout: let OpenBLAS do it */
  MV_DNNL_TRY (dnnl_primitive_create (&prim, pd), "a matmul");
  MV_DNNL_TRY (dnnl_memory_create (&ms, &src, c->engine, (void *) src_data), "memory");
  MV_DNNL_TRY (dnnl_memory_create (&mw, &pw->md, c->engine, pw->buf), "memory");
  MV_DNNL_TRY (dnnl_memory_create (&md, &dst, c->engine, y), "memory");
  if (b)
    MV_DNNL_TRY (dnnl_memory_create (&mb, &bias, c->engine, (void *) b), "memory");
  {
    dnnl_exec_arg_t args[4] = {
      { DNNL_ARG_SRC, ms }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, md }, { DNNL_ARG_BIAS, mb }
    };
    MV_DNNL_TRY (dnnl_primitive_execute (prim, c->stream, b ? 4 : 3, args), "a matmul");
    MV_DNNL_TRY (dnnl_stream_wait (c->stream), "a matmul");
  }
  done = true;
out:
  if (prim)
    dnnl_primitive_destroy (prim);
  if (pd)
    dnnl_primitive_desc_destroy (pd);
  if (po)
    dnnl_post_ops_destroy (po);
  if (attr)
    dnnl_primitive_attr_destroy (attr);
  if (ms)
    dnnl_memory_destroy (ms);
  if (mw)
    dnnl_memory_destroy (mw);
  if (mb)
    dnnl_memory_destroy (mb);
  if (md)
    dnnl_memory_destroy (md);
  (void) st;
  return done;
}

#endif /* MV_HAVE_DNNL */
