/* bench_matmul.c — magvlt_context_bench_matmul: the speed of a context's
 * matrix-product backend on one shape, the "peak" `magvlt bench` compares
 * the forward pass with.
 * SPDX-License-Identifier: MIT
 *
 * Legend: M rows, K inputs, N outputs (a linear layer x: [M, K] · Wᵀ with
 * W: [N, K], PyTorch's layout). The peak is the library's own best on the
 * context's threads: OpenBLAS's sgemm threaded by OpenBLAS on n_threads
 * threads (whatever the engine does with it: its thread pool splits a
 * product by output columns, one OpenBLAS thread per task), and oneDNN's
 * matmul on weights reordered once into the blocked layout it asks for
 * (matmul.c packs them the same way), with bfloat16 activations for
 * onednn-bf16. What is timed is the product alone: not the f16 → f32
 * expansion of the weights (OpenBLAS) or the activations' conversion to
 * bf16, which a forward pass also pays. The engine's own bf16 backend
 * (matmul_bf16.c) multiplies only the weights it packed from the model, so
 * there the product is the model's own linear layer of that shape, through
 * mv_bf16_linear (activations rounded per call, on the context's pool). */
#include "context.h"
#include "matmul.h"
#include "matmul_bf16.h"
#include "model.h"
#include "parallel.h"
#include "status.h"
#include "threads.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BM_MAX_ELEMENTS (1u << 28) /* 1 GiB of floats per operand */

static double
now_s (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + 1e-9 * (double) t.tv_nsec;
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Values in [-1, 1) from a 32-bit LCG: the speed does not depend on them,
 * only denormals or NaNs would change it, and there are none. */
static void
fill (float *p, size_t n, uint32_t s)
{
  for (size_t i = 0; i < n; i++)
    {
      s = s * 1664525u + 1013904223u;
      p[i] = (float) (s >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
}

static magvlt_status
openblas_runs (magvlt_context *ctx, int m, int n, int k, const float *x, const float *w, float *y,
               double *sec, int repeat)
{
  /* OpenBLAS's thread count is process-wide: set it here (not through the
   * thread gate of mv_gemm, which keeps small products on one thread), and
   * make threads.c tell OpenBLAS again before the engine's next product */
  openblas_set_num_threads (ctx->n_threads);
  for (int r = -1; r < repeat; r++)
    {
      double t0 = now_s ();
      /* y: [M, N] = x: [M, K] · Wᵀ, as mv_linear without the bias */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
      if (r >= 0)
        sec[r] = now_s () - t0;
    }
  mv_blas_set_threads (ctx->n_threads);
  return MAGVLT_OK;
}

/* The bf16 backend: the model's weight of shape [N, K] (block 0's MLP,
 * its second MLP layer or its query), rows in blocks of what the context's
 * scratch holds (the forward pass's L rows of the widest layer). */
static magvlt_status
bf16_runs (magvlt_context *ctx, int m, int n, int k, const float *x, float *y, double *sec,
           int repeat)
{
  const magvlt_model *model = ctx->model;
  const mv_tensor *t = NULL;
  if (model->blocks)
    {
      const mv_block *bl = &model->blocks[0];
      const mv_tensor *ts[] = { &bl->fc1_w, &bl->fc2_w, &bl->q_w };
      for (int i = 0; i < 3 && !t; i++)
        if (ts[i]->rows == n && ts[i]->cols == k)
          t = ts[i];
    }
  if (!t)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "magvlt_context_bench_matmul: the bf16 backend multiplies only the model's "
                    "packed weights, and this model has no %d×%d one (its MLP's is %d×%d)",
                    n, k, model->hp.mlp_hidden, model->hp.embed_dim);
  int block = (int) (ctx->xb_bytes / ((size_t) ((k + 1) / 2) * 4));
  if (block < 1)
    return mv_fail (MAGVLT_ERR_INTERNAL, "magvlt_context_bench_matmul: no bf16 scratch");
  mv_weight w = mv_weight_of (t);
  for (int r = -1; r < repeat; r++)
    {
      double t0 = now_s ();
      for (int i = 0; i < m; i += block)
        {
          int rows = m - i < block ? m - i : block;
          if (!mv_bf16_linear (ctx, w, x + (size_t) i * k, rows, NULL, y + (size_t) i * n, n,
                               false))
            return mv_fail (MAGVLT_ERR_INTERNAL,
                            "magvlt_context_bench_matmul: the bf16 product of %d rows failed",
                            rows);
        }
      if (r >= 0)
        sec[r] = now_s () - t0;
    }
  return MAGVLT_OK;
}

#ifdef MV_HAVE_DNNL

static magvlt_status
onednn_runs (bool bf16, int m, int n, int k, const float *x, const float *w, float *y, double *sec,
             int repeat)
{
  magvlt_status st = MAGVLT_OK;
  dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
  dnnl_engine_t engine = NULL;
  dnnl_stream_t stream = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;
  dnnl_memory_t m_w = NULL, m_src = NULL, m_dst = NULL;
  dnnl_memory_desc_t src, wei, dst, packed;
  dnnl_matmul_desc_t desc;
  dnnl_dims_t ds = { m, k }, dw = { k, n }, dd = { m, n };
  void *wbuf = NULL;
  uint16_t *x16 = NULL;
  const void *src_data = x;

  MV_DNNL_TRY (dnnl_engine_create (&engine, dnnl_cpu, 0), "creating an engine");
  MV_DNNL_TRY (dnnl_stream_create (&stream, engine, dnnl_stream_default_flags),
               "creating a stream");
  dnnl_memory_desc_init_by_tag (&src, 2, ds, dt, dnnl_ab);
  dnnl_memory_desc_init_by_tag (&wei, 2, dw, dt, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag (&dst, 2, dd, dnnl_f32, dnnl_ab);
  MV_DNNL_TRY (dnnl_matmul_desc_init (&desc, &src, &wei, NULL, &dst), "a matmul");
  MV_DNNL_TRY (dnnl_primitive_desc_create (&pd, &desc, NULL, engine, NULL), "a matmul");
  packed = *dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  if (!(wbuf = aligned_alloc (64, (dnnl_memory_desc_get_size (&packed) + 63) & ~(size_t) 63)))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
      goto out;
    }
  if ((st = mv_dnnl_reorder_weight (engine, w, n, k, &packed, wbuf)) != MAGVLT_OK)
    goto out;
  MV_DNNL_TRY (dnnl_memory_create (&m_w, &packed, engine, wbuf), "memory");
  if (bf16)
    {
      if (!(x16 = malloc ((size_t) m * k * sizeof *x16)))
        {
          st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
          goto out;
        }
      for (size_t i = 0; i < (size_t) m * k; i++)
        x16[i] = mv_f32_to_bf16 (x[i]);
      src_data = x16;
    }
  MV_DNNL_TRY (dnnl_memory_create (&m_src, &src, engine, (void *) src_data), "memory");
  MV_DNNL_TRY (dnnl_memory_create (&m_dst, &dst, engine, y), "memory");
  MV_DNNL_TRY (dnnl_primitive_create (&prim, pd), "a matmul");
  for (int r = -1; r < repeat; r++)
    {
      dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, m_src },
                                  { DNNL_ARG_WEIGHTS, m_w },
                                  { DNNL_ARG_DST, m_dst } };
      double t0 = now_s ();
      MV_DNNL_TRY (dnnl_primitive_execute (prim, stream, 3, args), "a matmul");
      MV_DNNL_TRY (dnnl_stream_wait (stream), "a matmul");
      if (r >= 0)
        sec[r] = now_s () - t0;
    }
out:
  if (prim)
    dnnl_primitive_destroy (prim);
  if (pd)
    dnnl_primitive_desc_destroy (pd);
  if (m_w)
    dnnl_memory_destroy (m_w);
  if (m_src)
    dnnl_memory_destroy (m_src);
  if (m_dst)
    dnnl_memory_destroy (m_dst);
  if (stream)
    dnnl_stream_destroy (stream);
  if (engine)
    dnnl_engine_destroy (engine);
  free (wbuf);
  free (x16);
  return st;
}

#endif /* MV_HAVE_DNNL */

magvlt_status
magvlt_context_bench_matmul (magvlt_context *ctx, int32_t m, int32_t n, int32_t k, int32_t repeat,
                             double *gflops)
{
  if (!ctx || !gflops)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_context_bench_matmul: NULL argument");
  *gflops = 0;
  if (m < 1 || n < 1 || k < 1 || (uint64_t) m * (uint64_t) k > BM_MAX_ELEMENTS
      || (uint64_t) n * (uint64_t) k > BM_MAX_ELEMENTS
      || (uint64_t) m * (uint64_t) n > BM_MAX_ELEMENTS)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_context_bench_matmul: shape %d×%d×%d (each operand at most 2^28 "
                    "values)",
                    m, n, k);
  if (repeat < 1 || repeat > 1000)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_context_bench_matmul: repeat is %d; use 1 to "
                    "1000",
                    repeat);
  float *x = malloc ((size_t) m * k * sizeof *x), *w = malloc ((size_t) n * k * sizeof *w);
  float *y = malloc ((size_t) m * n * sizeof *y);
  double *sec = malloc ((size_t) repeat * sizeof *sec);
  magvlt_status st;
  if (!x || !w || !y || !sec)
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory for a %d×%d×%d product", m, n, k);
  else
    {
      fill (x, (size_t) m * k, 1);
      fill (w, (size_t) n * k, 2);
      switch ((mv_backend) ctx->backend)
        {
#ifdef MV_HAVE_DNNL
        case MV_BACKEND_ONEDNN_F32:
        case MV_BACKEND_ONEDNN_BF16:
          st = onednn_runs (ctx->backend == MV_BACKEND_ONEDNN_BF16, m, n, k, x, w, y, sec, repeat);
          break;
#endif
        case MV_BACKEND_OPENBLAS: st = openblas_runs (ctx, m, n, k, x, w, y, sec, repeat); break;
        case MV_BACKEND_BF16: st = bf16_runs (ctx, m, n, k, x, y, sec, repeat); break;
        default:
          /* a backend this file does not know how to time: say so rather
           * than time another one */
          st = mv_fail (MAGVLT_ERR_UNSUPPORTED,
                        "magvlt_context_bench_matmul: no measurement for the backend '%s' yet",
                        mv_backend_name ((mv_backend) ctx->backend));
          break;
        }
    }
  if (st == MAGVLT_OK)
    {
      qsort (sec, (size_t) repeat, sizeof *sec, compare_double);
      double t = sec[repeat / 2];
      *gflops = t > 0 ? 2.0 * m * n * k / t * 1e-9 : 0;
    }
  free (x);
  free (w);
  free (y);
  free (sec);
  return st;
}
