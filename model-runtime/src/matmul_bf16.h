/* matmul_bf16.h — the engine's own bfloat16 matrix products (backend
 * "bf16"): weights packed once per model into bfloat16 panels, activations
 * rounded to bfloat16 per call, float32 accumulation with the AVX512-BF16
 * dot-product instruction (VDPBF16PS). No oneDNN needed.
 * SPDX-License-Identifier: MIT
 *
 * Legend: N rows, K inputs, O outputs; weights keep PyTorch's Linear layout
 * [O, K]. */
#ifndef MAGVLT_MATMUL_BF16_H
#define MAGVLT_MATMUL_BF16_H

#include "context.h"
#include "parallel.h"

#include <stdbool.h>

/* Whether this build and this CPU have the instructions. */
bool mv_bf16_available (void);

/* Packs the transformer's linear weights, its LM head and the tied
 * embedding's image and text rows. Once per model (shared by its
 * contexts; the first caller packs, later ones wait); the mapped pages of
 * what was packed are released. */
magvlt_status mv_bf16_prepare (const magvlt_model *model);
void mv_bf16_model_free (struct mv_bf16_model *p);

/* The same for `count` (≤ 4) weights with the same input x: x is rounded
 * once and one loop runs the products of all of them (the attention's q, k
 * and v). False, with nothing computed, when any weight has no packed copy. */
bool mv_bf16_linear_many (magvlt_context *ctx, int count, const mv_weight *w, const float *x, int n,
                          const float *const *b, float *const *y, const int *ldy, bool accumulate);

/* dst[0..c) += row `row` of the tied embedding (image ids first, then text
 * ids, as tok_emb stores them) from the packed bfloat16 copy: the bf16
 * backend's input embedding, so the released file pages stay released.
 * False when the model has no packed copy. */
bool mv_bf16_embedding_row (const magvlt_model *model, int64_t row, int c, float *dst);

/* Bytes of per-context scratch the bf16 products need (the activations
 * rounded to bfloat16). */
size_t mv_bf16_scratch_bytes (const mv_hparams *hp);

/* y: [N, O] (row stride ldy) (+)= x · Wᵀ + b with the packed copy of w on
 * the context's pool. False when w has no packed copy (the caller falls
 * back to float32). */
bool mv_bf16_linear (magvlt_context *ctx, mv_weight w, const float *x, int n, const float *b,
                     float *y, int ldy, bool accumulate);

/* mv_conv2d (ops.h) with the weight and the im2col band rounded to
 * bfloat16 on the micro-kernel, on the context's pool; the VQGAN decoder
 * uses it under the bf16 backend (the encoder stays float32: its output
 * picks codes by nearest distance, which rounding could flip). False when
 * it cannot (no scratch, or a band too wide for it). */
bool mv_bf16_conv2d (magvlt_context *ctx, const float *x, int ci, int h, int w, const float *wt,
                     const float *b, int co, const mv_conv_geom *g, float *y);

/* Tests only: whether mv_bf16_conv2d packs pixel panels straight from the
 * image where it can (true, the default) or always through an im2col band
 * (the older two-pass path); both must give the same bits
 * (tests/model-runtime/test-bf16-conv.c). */
void mv_bf16_conv_set_direct_pack (bool on);

/* Bytes of per-context scratch for mv_bf16_attention with n_threads. */
size_t mv_bf16_attention_bytes (const mv_hparams *hp, int n_threads);

/* mv_attention (ops.h) with q, k, v and the probabilities rounded to
 * bfloat16 and the two products on the micro-kernel; scores, softmax and
 * output in float32. False when it cannot (no scratch, odd head width). */
bool mv_bf16_attention (magvlt_context *ctx, const float *q, const float *k, const float *v, int l,
                        int c, int h, const int32_t *kv_len, float *out);

#endif
