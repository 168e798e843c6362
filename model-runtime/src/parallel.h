/* parallel.h — the transformer's stages split into tasks on the context's
 * thread pool (pool.h): linear layers by output columns, attention by head
 * and query rows, layer norm by rows, GELU by ranges.
 * SPDX-License-Identifier: MIT
 *
 * Legend: see ops.h. Every function computes what its serial twin in ops.h
 * computes; which thread does which part changes nothing in the result
 * (each output element is summed in the same order whatever the split). */
#ifndef MAGVLT_PARALLEL_H
#define MAGVLT_PARALLEL_H

#include "context.h"
#include "ops.h"

/* A weight matrix [O, K] in one of the mv_add_row storage kinds. */
typedef struct {
  const void *data;
  int kind; /* MV_ROW_F32, MV_ROW_F16 or MV_ROW_BF16 */
  int o, k;
} mv_weight;

mv_weight mv_weight_of (const mv_tensor *t);

/* Rows [first, first + count) of w, as a weight of their own. */
mv_weight mv_weight_rows (mv_weight w, int first, int count);

/* y: [N, O] with row stride ldy (+)= x: [N, K] · Wᵀ + b (b may be NULL). */
void mv_par_linear (magvlt_context *ctx, const float *x, int n, mv_weight w, const float *b,
                    float *y, int ldy, bool accumulate);

/* As mv_layernorm, mv_gelu and mv_attention (ops.h). */
void mv_par_layernorm (magvlt_context *ctx, const float *x, int n, int c, const float *g,
                       const float *b, float eps, float *y);
void mv_par_gelu (magvlt_context *ctx, float *x, size_t n);
void mv_par_attention (magvlt_context *ctx, const float *q, const float *k, const float *v, int l,
                       int c, int h, const int32_t *kv_len, float *out);

/* As mv_conv2d (ops.h) with the context's VQGAN scratch: output rows in
 * bands, one band per task (im2col and the product on that thread), or
 * pixel ranges for a 1×1 convolution. False when cancelled. */
bool mv_par_conv2d (magvlt_context *ctx, const float *x, int ci, int h, int w, const float *wt,
                    const float *b, int co, const mv_conv_geom *g, float *y);

/* As mv_group_norm, one group per task. */
void mv_par_group_norm (magvlt_context *ctx, const float *x, int c, int hw, int groups,
                        const float *g, const float *b, float eps, bool swish, float *y);

/* Rows of one query block per attention task: the scratch a thread needs
 * is this many rows of scores. */
#define MV_ATT_ROWS 64

/* The per-thread scratch of mv_par_linear: floats for the f16 → f32
 * expansion of one task's columns of the largest weight of the model. */
size_t mv_par_linear_scratch (const mv_hparams *hp, int n_threads);

#endif
