/* matmul.h — the matrix-product backends behind the transformer's linear
 * layers: OpenBLAS float32 (always built; the reference every parity test
 * runs on) and oneDNN (optional; float32, and bfloat16 weights with float32
 * accumulation, which uses AVX512-BF16 / AMX where the CPU has them).
 * SPDX-License-Identifier: MIT
 *
 * Legend: N rows, K inputs, O outputs. Weights keep PyTorch's Linear
 * layout [O, K]. */
#ifndef MAGVLT_MATMUL_H
#define MAGVLT_MATMUL_H

#include "magvlt.h"
#include "model.h"

#include <stdbool.h>

typedef enum {
  MV_BACKEND_OPENBLAS = 0,
  MV_BACKEND_ONEDNN_F32,
  MV_BACKEND_ONEDNN_BF16,
  MV_BACKEND_BF16, /* the engine's own AVX512-BF16 kernels (matmul_bf16.c) */
  MV_BACKEND_COUNT
} mv_backend;

const char *mv_backend_name (mv_backend b);

/* Whether this build and this CPU can run b. */
bool mv_backend_available (mv_backend b);

/* request: NULL or "" (then $MAGVLT_BACKEND, then "auto"), "auto" (bf16
 * where the CPU has AVX512-BF16, else OpenBLAS), or a backend name. Forcing one the build or CPU lacks
 * is MAGVLT_ERR_UNSUPPORTED with a message saying why. */
magvlt_status mv_backend_resolve (const char *request, mv_backend *out);

/* The weights of one model packed for a oneDNN backend: created once per
 * model and backend (shared by all its contexts), freed with the model. */
typedef struct mv_packed_model mv_packed_model;

/* Packs every linear weight of the transformer for backend b (no-op for
 * OpenBLAS; bf16: mv_bf16_prepare). Thread-safe: the first caller packs, later ones wait. */
magvlt_status mv_matmul_prepare (const magvlt_model *model, mv_backend b);
void mv_packed_model_free (mv_packed_model *p);

/* Per-context oneDNN state (engine, stream, activation scratch). */
typedef struct mv_dnnl_ctx mv_dnnl_ctx;

magvlt_status mv_dnnl_ctx_new (const magvlt_model *model, mv_backend b, mv_dnnl_ctx **out);
void mv_dnnl_ctx_free (mv_dnnl_ctx *c);

/* x: [N, K] → y: [N, O] (+)= x·Wᵀ + b with the packed copy of weight w
 * (which must belong to the model the context was made for). Returns false
 * when w was not packed (the caller falls back to OpenBLAS). */
bool mv_dnnl_linear (mv_dnnl_ctx *c, const mv_tensor *w, const float *x, int n, const float *b,
                     float *y, bool accumulate);

#ifdef MV_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

/* In a function with `magvlt_status st` and an `out:` label: a oneDNN call
 * that fails sets st to MAGVLT_ERR_INTERNAL with a message naming `what`. */
#define MV_DNNL_TRY(call, what)                                                                    \
  do                                                                                               \
    {                                                                                              \
      dnnl_status_t s_ = (call);                                                                   \
      if (s_ != dnnl_success)                                                                      \
        {                                                                                          \
          st = mv_fail (MAGVLT_ERR_INTERNAL, "oneDNN: %s failed (status %d)", what, (int) s_);     \
          goto out;                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

/* buf (dnnl_memory_desc_get_size (md) bytes) ← w: [O, K] row-major float32
 * reordered into the packed weight layout md (packing at load, and the
 * in-process matmul peak of bench_matmul.c). */
magvlt_status mv_dnnl_reorder_weight (dnnl_engine_t engine, const float *w, int o, int k,
                                      const dnnl_memory_desc_t *md, void *buf);
#endif

#endif
