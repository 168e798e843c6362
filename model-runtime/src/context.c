/* context.c — context creation, the scratch arena, cancellation.
 * SPDX-License-Identifier: MIT */
#include "context.h"

#include "matmul.h"
#include "matmul_bf16.h"
#include "parallel.h"
#include "pool.h"
#include "status.h"
#include "threads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

magvlt_context_params
magvlt_context_default_params (void)
{
  magvlt_context_params p = { .n_threads = 0 };
  return p;
}

typedef struct {
  void **ptr;
  size_t bytes;
} arena_item;

static size_t
align64 (size_t n)
{
  return (n + 63) & ~(size_t) 63;
}

/* The context's scratch arenas come straight from mmap, not from malloc:
 * freeing a large malloc'd block raises glibc's mmap threshold to its size
 * (up to 32 MB), so after a model reload the next arena and the jobs'
 * buffers come from the heap, which a process that reloads models (the app)
 * then fragments. Measured with tests/soak/soak-worker on the default model
 * (a reload every 8 jobs): RSS 52 -> 110 MB over 25 reloads with malloc,
 * flat with mmap. Page-aligned, so also 64-byte aligned. */
void *
mv_arena_alloc (size_t bytes)
{
  void *p = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void
mv_arena_free (void *p, size_t bytes)
{
  if (p)
    munmap (p, bytes);
}

magvlt_status
magvlt_context_init (const magvlt_model *model, const magvlt_context_params *params,
                     magvlt_context **out)
{
  if (!out)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_context_init: out is NULL");
  *out = NULL;
  if (!model)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_context_init: model is NULL");
  magvlt_context_params p = params ? *params : magvlt_context_default_params ();
  if (p.n_threads < 0 || p.n_threads > 1024)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "n_threads is %d; use 0 (all physical cores) or 1 to 1024", p.n_threads);

  magvlt_context *ctx = calloc (1, sizeof *ctx);
  if (!ctx)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  ctx->model = model;
  ctx->params = p;
  ctx->n_threads = p.n_threads > 0 ? p.n_threads : mv_physical_cores ();
  if (ctx->n_threads > mv_available_cpus ())
    ctx->n_threads = mv_available_cpus ();
  {
    mv_backend b;
    magvlt_status bst = mv_backend_resolve (p.backend, &b);
    if (bst == MAGVLT_OK && b == MV_BACKEND_BF16 && model->blocks)
      bst = mv_bf16_prepare (model);
    else if (bst == MAGVLT_OK && b != MV_BACKEND_OPENBLAS && model->blocks)
      bst = mv_dnnl_ctx_new (model, b, &ctx->dnnl);
    if (bst != MAGVLT_OK)
      {
        free (ctx);
        return bst;
      }
    ctx->backend = model->blocks ? (int) b : MV_BACKEND_OPENBLAS;
  }
  atomic_init (&ctx->cancel, 0);

  const mv_hparams *hp = &model->hp;
  size_t l = (size_t) hp->seq_len, c = (size_t) hp->embed_dim, m = (size_t) hp->mlp_hidden;
  size_t nt = (size_t) ctx->n_threads;
  ctx->tbuf_floats = model->blocks ? mv_par_linear_scratch (hp, ctx->n_threads) : 0;
  ctx->xb_bytes = ctx->backend == MV_BACKEND_BF16 ? mv_bf16_scratch_bytes (hp) : 0;
  ctx->attb_bytes =
    ctx->backend == MV_BACKEND_BF16 ? mv_bf16_attention_bytes (hp, ctx->n_threads) : 0;

  arena_item items[] = {
    { (void **) &ctx->x, l * c * 4 },
    { (void **) &ctx->h, l * c * 4 },
    { (void **) &ctx->q, l * c * 4 },
    { (void **) &ctx->k, l * c * 4 },
    { (void **) &ctx->v, l * c * 4 },
    { (void **) &ctx->att, l * c * 4 },
    { (void **) &ctx->mlp, l * m * 4 },
    { (void **) &ctx->kv_len, l * 4 },
    { (void **) &ctx->seq_global, l * 4 },
    { (void **) &ctx->seq_compact, l * 4 },
    { (void **) &ctx->seq_row, l * 4 },
    { (void **) &ctx->seq_pos, l * 4 },
    { (void **) &ctx->seq_seg, l },
    { (void **) &ctx->seq_masked, l },
    { (void **) &ctx->rows, l * 4 },
    { (void **) &ctx->tbuf, nt * ctx->tbuf_floats * 4 },
    { (void **) &ctx->tscores, nt * MV_ATT_ROWS * l * 4 },
    { (void **) &ctx->xb, ctx->xb_bytes },
    { (void **) &ctx->attb, ctx->attb_bytes },
  };
  size_t total = 0;
  for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
    total += align64 (items[i].bytes);
  ctx->arena = mv_arena_alloc (total ? total : 64); /* 0 for a VQGAN-only model */
  if (!ctx->arena)
    {
      mv_dnnl_ctx_free (ctx->dnnl);
      free (ctx);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for a %zu-byte context", total);
    }
  ctx->arena_bytes = total ? total : 64;
  if (ctx->n_threads > 1 && !(ctx->pool = mv_pool_new (ctx->n_threads)))
    {
      int workers = ctx->n_threads - 1;
      mv_arena_free (ctx->arena, ctx->arena_bytes);
      mv_dnnl_ctx_free (ctx->dnnl);
      free (ctx);
      return mv_fail (MAGVLT_ERR_NOMEM, "cannot start %d worker threads", workers);
    }
  size_t off = 0;
  for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
    {
      *items[i].ptr = (char *) ctx->arena + off;
      off += align64 (items[i].bytes);
    }
  *out = ctx;
  return MAGVLT_OK;
}

void
magvlt_context_free (magvlt_context *ctx)
{
  if (!ctx)
    return;
  mv_pool_free (ctx->pool);
  mv_dnnl_ctx_free (ctx->dnnl);
  mv_arena_free (ctx->arena, ctx->arena_bytes);
  mv_arena_free (ctx->vq_arena, ctx->vq_bytes);
  free (ctx);
}

void
magvlt_context_cancel (magvlt_context *ctx)
{
  if (ctx)
    atomic_store (&ctx->cancel, 1);
}

void
magvlt_context_set_callbacks (magvlt_context *ctx, const magvlt_callbacks *callbacks)
{
  if (!ctx)
    return;
  if (callbacks)
    ctx->callbacks = *callbacks;
  else
    memset (&ctx->callbacks, 0, sizeof ctx->callbacks);
}

const char *
magvlt_context_get_backend (const magvlt_context *ctx)
{
  return ctx ? mv_backend_name ((mv_backend) ctx->backend) : "";
}

void
magvlt_context_reset_cancel (magvlt_context *ctx)
{
  if (ctx)
    atomic_store (&ctx->cancel, 0);
}

const char *
magvlt_context_last_error (const magvlt_context *ctx)
{
  return ctx ? ctx->last_error : "";
}

size_t
magvlt_context_memory_size (const magvlt_context *ctx)
{
  return ctx ? sizeof *ctx + ctx->arena_bytes + ctx->vq_bytes : 0;
}

magvlt_status
mv_ctx_keep_error (magvlt_context *ctx, magvlt_status st)
{
  snprintf (ctx->last_error, sizeof ctx->last_error, "%s", magvlt_last_error ());
  mv_log (ctx->params.log_callback, ctx->params.log_user_data,
          st == MAGVLT_ABORTED ? MAGVLT_LOG_INFO : MAGVLT_LOG_ERROR, "%s", ctx->last_error);
  return st;
}

magvlt_status
mv_ctx_fail (magvlt_context *ctx, magvlt_status st, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  mv_fail (st, "%s", msg);
  return mv_ctx_keep_error (ctx, st);
}

bool
mv_ctx_take_cancel (magvlt_context *ctx)
{
  return atomic_exchange (&ctx->cancel, 0) != 0;
}
