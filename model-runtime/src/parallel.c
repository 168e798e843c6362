/* parallel.c — the transformer's stages as tasks on the context's pool.
 * SPDX-License-Identifier: MIT
 *
 * OpenBLAS runs on one thread inside every task (the pool is the
 * parallelism); see pool.h for why. */
#include "parallel.h"

#include "matmul.h"
#include "matmul_bf16.h"
#include "ops.h"
#include "pool.h"
#include "threads.h"

#include <cblas.h>
#include <stdatomic.h>

/* Floats of f16 → f32 expansion one linear task may need: 4 MiB, so a
 * task's columns of the weight stay in the last-level cache between the
 * expansion and the product. */
#define TASK_WEIGHT_FLOATS ((size_t) 1 << 20)

mv_weight
mv_weight_of (const mv_tensor *t)
{
  mv_weight w = { t->data,
                  t->bf16  ? MV_ROW_BF16
                  : t->f16 ? MV_ROW_F16
                           : MV_ROW_F32,
                  (int) t->rows, (int) t->cols };
  return w;
}

mv_weight
mv_weight_rows (mv_weight w, int first, int count)
{
  size_t elem = w.kind == MV_ROW_F32 ? 4 : 2;
  w.data = (const char *) w.data + (size_t) first * w.k * elem;
  w.o = count;
  return w;
}

/* Output columns per linear task: about O / (2 · threads), so each thread
 * gets two tasks and a late one can be made up for; a multiple of 32 (the
 * sgemm kernel's blocking) of at least 64; and small enough that the f16
 * expansion fits TASK_WEIGHT_FLOATS. */
static int
cols_per_task (int o, int k, int threads)
{
  int cols = (o + 2 * threads - 1) / (2 * threads);
  cols = (cols + 31) / 32 * 32;
  if (cols < 64)
    cols = 64;
  int cap = (int) (TASK_WEIGHT_FLOATS / (size_t) (k > 0 ? k : 1)) / 32 * 32;
  if (cols > cap)
    cols = cap > 32 ? cap : 32;
  return cols < o ? cols : o;
}

size_t
mv_par_linear_scratch (const mv_hparams *hp, int n_threads)
{
  int c = hp->embed_dim, m = hp->mlp_hidden;
  int shapes[][2] = {
    { c, c }, { m, c }, { c, m }, { hp->vocab_size_img, c }, { hp->vocab_size_txt, c }
  };
  size_t most = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    {
      size_t f = (size_t) cols_per_task (shapes[i][0], shapes[i][1], n_threads) * shapes[i][1];
      most = f > most ? f : most;
    }
  return most;
}

typedef struct {
  magvlt_context *ctx;
  const float *x;
  int n;
  mv_weight w;
  const float *b;
  float *y;
  int ldy;
  bool accumulate;
  int cols;
} linear_job;

static void
linear_task (void *arg, int task, int thread)
{
  const linear_job *j = arg;
  int k = j->w.k, o0 = task * j->cols;
  int no = j->w.o - o0 < j->cols ? j->w.o - o0 : j->cols;
  mv_weight part = mv_weight_rows (j->w, o0, no);
  const float *wp = part.data;

  if (part.kind != MV_ROW_F32)
    {
      float *buf = j->ctx->tbuf + (size_t) thread * j->ctx->tbuf_floats;
      mv_half_to_f32 (part.data, part.kind == MV_ROW_BF16, buf, (size_t) no * k);
      wp = buf;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, j->n, no, k, 1.0f, j->x, k, wp, k,
               j->accumulate ? 1.0f : 0.0f, j->y + o0, j->ldy);
  if (j->b)
    for (int i = 0; i < j->n; i++)
      {
        float *r = j->y + (size_t) i * j->ldy + o0;
        const float *bb = j->b + o0;
        for (int c = 0; c < no; c++)
          r[c] += bb[c];
      }
}

void
mv_par_linear (magvlt_context *ctx, const float *x, int n, mv_weight w, const float *b, float *y,
               int ldy, bool accumulate)
{
  if (n <= 0 || w.o <= 0)
    return;
  if (ctx->backend == MV_BACKEND_BF16 && mv_bf16_linear (ctx, w, x, n, b, y, ldy, accumulate))
    return;
  int threads = mv_pool_threads (ctx->pool);
  linear_job j = { ctx, x, n, w, b, y, ldy, accumulate, cols_per_task (w.o, w.k, threads) };
  mv_blas_one_thread ();
  mv_pool_run (ctx->pool, (w.o + j.cols - 1) / j.cols, linear_task, &j);
}

typedef struct {
  const float *x;
  int n, c;
  const float *g, *b;
  float eps;
  float *y;
} layernorm_job;

#define NORM_ROWS 8

static void
layernorm_task (void *arg, int task, int thread)
{
  const layernorm_job *j = arg;
  int r0 = task * NORM_ROWS, nr = j->n - r0 < NORM_ROWS ? j->n - r0 : NORM_ROWS;
  mv_layernorm (j->x + (size_t) r0 * j->c, nr, j->c, j->g, j->b, j->eps, j->y + (size_t) r0 * j->c);
}

void
mv_par_layernorm (magvlt_context *ctx, const float *x, int n, int c, const float *g, const float *b,
                  float eps, float *y)
{
  layernorm_job j = { x, n, c, g, b, eps, y };
  mv_pool_run (ctx->pool, (n + NORM_ROWS - 1) / NORM_ROWS, layernorm_task, &j);
}

typedef struct {
  float *x;
  size_t n;
} gelu_job;

#define GELU_FLOATS 16384

static void
gelu_task (void *arg, int task, int thread)
{
  const gelu_job *j = arg;
  size_t i0 = (size_t) task * GELU_FLOATS;
  mv_gelu (j->x + i0, j->n - i0 < GELU_FLOATS ? j->n - i0 : GELU_FLOATS);
}

void
mv_par_gelu (magvlt_context *ctx, float *x, size_t n)
{
  gelu_job j = { x, n };
  mv_pool_run (ctx->pool, (int) ((n + GELU_FLOATS - 1) / GELU_FLOATS), gelu_task, &j);
}

typedef struct {
  magvlt_context *ctx;
  const float *q, *k, *v;
  int l, c, h, blocks;
  const int32_t *kv_len;
  float *out;
} attention_job;

static void
attention_task (void *arg, int task, int thread)
{
  const attention_job *j = arg;
  int head = task / j->blocks, r0 = task % j->blocks * MV_ATT_ROWS;
  int r1 = r0 + MV_ATT_ROWS < j->l ? r0 + MV_ATT_ROWS : j->l;
  float *scores = j->ctx->tscores + (size_t) thread * MV_ATT_ROWS * j->l;
  mv_attention_rows (j->q, j->k, j->v, j->l, j->c, j->h, head, r0, r1, j->kv_len, scores, j->out);
}

void
mv_par_attention (magvlt_context *ctx, const float *q, const float *k, const float *v, int l, int c,
                  int h, const int32_t *kv_len, float *out)
{
  if (ctx->backend == MV_BACKEND_BF16 && mv_bf16_attention (ctx, q, k, v, l, c, h, kv_len, out))
    return;
  attention_job j = { ctx, q, k, v, l, c, h, (l + MV_ATT_ROWS - 1) / MV_ATT_ROWS, kv_len, out };
  mv_blas_one_thread ();
  mv_pool_run (ctx->pool, h * j.blocks, attention_task, &j);
}

typedef struct {
  const float *x;
  int ci, h, w;
  const float *wt, *b;
  int co;
  const mv_conv_geom *g;
  float *y;
  int ho, wo, band;
  float *col;
  size_t col_floats; /* per thread */
  const atomic_int *cancel;
} conv_job;

static void
conv_band_task (void *arg, int task, int thread)
{
  const conv_job *j = arg;
  if (atomic_load (j->cancel))
    return;
  int r0 = task * j->band, rows = j->ho - r0 < j->band ? j->ho - r0 : j->band;
  mv_conv2d_rows (j->x, j->ci, j->h, j->w, j->wt, j->b, j->co, j->g, r0, rows,
                  j->col + (size_t) thread * j->col_floats, j->y);
}

bool
mv_par_conv2d (magvlt_context *ctx, const float *x, int ci, int h, int w, const float *wt,
               const float *b, int co, const mv_conv_geom *g, float *y)
{
  int threads = mv_pool_threads (ctx->pool), ho, wo;
  mv_conv2d_out_size (g, h, w, &ho, &wo);
  size_t per_thread = ctx->vq_col_floats / (size_t) threads;
  size_t row_floats = (size_t) ci * g->k * g->k * (size_t) wo;
  if (threads == 1 || per_thread < row_floats)
    return mv_conv2d (x, ci, h, w, wt, b, co, g, ctx->vq_col, ctx->vq_col_floats, y, &ctx->cancel);
  /* bands of rows: what a thread's share of the scratch holds, and at
   * least two bands per thread */
  int band = (int) (per_thread / row_floats), fair = (ho + 2 * threads - 1) / (2 * threads);
  band = band > fair ? fair : band;
  band = band < 1 ? 1 : band;
  conv_job j = {
    x, ci, h, w, wt, b, co, g, y, ho, wo, band, ctx->vq_col, per_thread, &ctx->cancel
  };
  mv_blas_one_thread ();
  mv_pool_run (ctx->pool, (ho + band - 1) / band, conv_band_task, &j);
  return !atomic_load (&ctx->cancel);
}

typedef struct {
  const float *x;
  int c, hw, groups;
  const float *g, *b;
  float eps;
  bool swish;
  float *y;
} group_norm_job;

static void
group_norm_task (void *arg, int task, int thread)
{
  const group_norm_job *j = arg;
  mv_group_norm_groups (j->x, j->c, j->hw, j->groups, task, task + 1, j->g, j->b, j->eps, j->swish,
                        j->y);
}

void
mv_par_group_norm (magvlt_context *ctx, const float *x, int c, int hw, int groups, const float *g,
                   const float *b, float eps, bool swish, float *y)
{
  group_norm_job j = { x, c, hw, groups, g, b, eps, swish, y };
  mv_pool_run (ctx->pool, groups, group_norm_task, &j);
}
