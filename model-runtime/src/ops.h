/* ops.h — the numeric kernels of the transformer, and naive references.
 * SPDX-License-Identifier: MIT
 *
 * Legend for the shape comments: N rows (tokens), C channels, K inner
 * dimension, O output features, L sequence length, H heads, D = C / H.
 * All matrices are row-major. Every optimised kernel has a *_naive twin in
 * ops_naive.c, simple enough to trust by reading; tests/model-runtime/
 * test-ops.c compares the two on random inputs. */
#ifndef MAGVLT_OPS_H
#define MAGVLT_OPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* C[M, N] = alpha · op(A) · op(B) + beta · C, op = transpose when t* is set.
 * A is [M, K] (or [K, M] transposed), B is [K, N] (or [N, K]). */
void mv_gemm (bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* x: [N, K], w: [O, K] (PyTorch Linear layout), b: [O] or NULL → y: [N, O].
 * accumulate adds into y (a residual connection) instead of overwriting. */
void mv_linear (const float *x, int n, int k, const float *w, const float *b, int o, float *y,
                bool accumulate);

/* x: [N, C] → y: [N, C] (may alias x); biased variance, affine g, b. */
void mv_layernorm (const float *x, int n, int c, const float *g, const float *b, float eps,
                   float *y);

/* In place, the erf form 0.5·x·(1 + erf(x/√2)) (not the tanh
 * approximation), with erf to 4.2e-7 absolute (ops.c says how). */
void mv_gelu (float *x, size_t n);

/* x[i] ← exp(x[i] − shift) (~1 ulp; ops.c), returns the sum. */
float mv_exp_shifted (float *x, size_t n, float shift);

/* row: [n_total]; softmax over row[0..n_valid), zeros in row[n_valid..n_total). */
void mv_softmax_prefix (float *row, int n_valid, int n_total);

/* Multi-head attention with a prefix mask: query row i may attend to key rows
 * 0..kv_len[i]-1. q, k, v: [L, C] with head h in channels [h·D, (h+1)·D);
 * scores: scratch of L·L floats → out: [L, C]. Scale 1/√D. */
void mv_attention (const float *q, const float *k, const float *v, int l, int c, int h,
                   const int32_t *kv_len, float *scores, float *out);

/* The part of mv_attention for query rows [r0, r1) of one head; scores:
 * scratch of (r1 − r0)·L floats. OpenBLAS runs with its current thread
 * count (the pool's tasks set one). */
void mv_attention_rows (const float *q, const float *k, const float *v, int l, int c, int h,
                        int head, int r0, int r1, const int32_t *kv_len, float *scores, float *out);

/* dst[0..c) += row `row` of a [rows, c] table stored as f32 (kind
 * MV_ROW_F32 = 0), IEEE half (MV_ROW_F16 = 1) or bfloat16 (MV_ROW_BF16). */
enum { MV_ROW_F32 = 0, MV_ROW_F16 = 1, MV_ROW_BF16 = 2 };
void mv_add_row (const void *table, int kind, int64_t row, int c, float *dst);

/* IEEE half → float, n values. Uses F16C when the CPU has it. */
void mv_f16_to_f32 (const uint16_t *src, float *dst, size_t n);

/* bfloat16 → float, n values (exact: a shift into the upper half). */
void mv_bf16_to_f32 (const uint16_t *src, float *dst, size_t n);

/* float → bfloat16, rounded to nearest even (as oneDNN and VCVTNE2PS2BF16
 * round); a NaN stays a NaN. */
static inline uint16_t
mv_f32_to_bf16 (float f)
{
  uint32_t u;
  memcpy (&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000)
    return (uint16_t) ((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t) (u >> 16);
}

/* A 16-bit tensor → float: bfloat16 when bf16, else IEEE half. */
void mv_half_to_f32 (const void *src, bool bf16, float *dst, size_t n);

/* Naive references (ops_naive.c). mv_attention_naive takes a full boolean
 * mask allow: [L, L] (nonzero = may attend) instead of prefix lengths. */
void mv_gemm_naive (bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);
void mv_linear_naive (const float *x, int n, int k, const float *w, const float *b, int o, float *y,
                      bool accumulate);
void mv_layernorm_naive (const float *x, int n, int c, const float *g, const float *b, float eps,
                         float *y);
void mv_gelu_naive (float *x, size_t n);
void mv_softmax_naive (float *row, const uint8_t *allow, int n);
void mv_attention_naive (const float *q, const float *k, const float *v, int l, int c, int h,
                         const uint8_t *allow, float *out);
float mv_f16_to_f32_naive (uint16_t h);

/* ---- image kernels (VQGAN) ---------------------------------------------
 * Legend: CI / CO input / output channels, H W input size, HO WO output
 * size, K = CI·k·k the im2col depth. Images are planar: [channels, H, W]. */

/* One convolution's geometry: square kernel k, stride, zero padding on each
 * side (asymmetric padding is how taming downsamples), and `up`: the input
 * is read as if nearest-neighbour upsampled by that factor first (the
 * decoder's Upsample, fused so the 4× larger input never exists). */
typedef struct {
  int k, stride;
  int pad_top, pad_left, pad_bottom, pad_right;
  int up;
} mv_conv_geom;

void mv_conv2d_out_size (const mv_conv_geom *g, int h, int w, int *ho, int *wo);

/* x: [CI, H, W], wt: [CO, CI, k, k], b: [CO] or NULL → y: [CO, HO, WO].
 * im2col into col (col_floats floats; at least K·WO), one band of output
 * rows at a time, then one sgemm per band. Returns false, leaving y
 * incomplete, when *cancel becomes nonzero (polled per band). */
bool mv_conv2d (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
                const mv_conv_geom *g, float *col, size_t col_floats, float *y,
                const atomic_int *cancel);

/* col: [K, rows·WO] for output rows [r0, r0 + rows): row (c, ky, kx)
 * holds, for every output pixel, the input value under that tap (0 in the
 * padding). */
void mv_im2col (const float *x, int ci, int h, int w, const mv_conv_geom *g, int r0, int rows,
                int wo, float *col);

/* A 1×1 convolution without stride, padding or upsampling (no im2col). */
bool mv_conv_is_pointwise (const mv_conv_geom *g);

/* Output rows [r0, r0 + rows) of mv_conv2d (col: scratch for that band's
 * im2col), OpenBLAS on its current thread count: a pool task's share. */
void mv_conv2d_rows (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
                     const mv_conv_geom *g, int r0, int rows, float *col, float *y);

/* x: [C, HW] → y: [C, HW] (may alias): GroupNorm with `groups` groups
 * (statistics over C/groups channels × HW, biased variance), affine g, b,
 * then swish y·sigmoid(y) when `swish`. */
void mv_group_norm (const float *x, int c, int hw, int groups, const float *g, const float *b,
                    float eps, bool swish, float *y);

/* The part of mv_group_norm for groups [g0, g1). */
void mv_group_norm_groups (const float *x, int c, int hw, int groups, int g0, int g1,
                           const float *g, const float *b, float eps, bool swish, float *y);

/* y[i] = swish(x[i]·scale + shift) = v / (1 + exp(−v)), with the fast exp
 * of mv_exp_shifted. y may alias x. */
void mv_swish_affine (const float *x, float *y, size_t n, float scale, float shift);

/* q, k, v: [C, P] → out: [C, P] = v · softmax(qᵀ·k / √C)ᵀ, single-head
 * attention over the P positions of an image; scores: [P, P] scratch. */
void mv_spatial_attention (const float *q, const float *k, const float *v, int c, int p,
                           float *scores, float *out);

/* z: [D, P] latents, codebook: [N, D], sqnorm: [N] squared norms →
 * codes[P] = argmin_k |z_p|² + |e_k|² − 2·z_p·e_k, the first index on ties
 * (torch.argmin over the same float32 expression). scratch: at least 3·P
 * floats; more lets one sgemm cover more codes. */
void mv_nearest_codes (const float *z, int d, int p, const float *codebook, const float *sqnorm,
                       int n, float *scratch, size_t scratch_floats, int32_t *codes);

void mv_spatial_attention_naive (const float *q, const float *k, const float *v, int c, int p,
                                 float *out);
/* exact squared distances in double */
void mv_nearest_codes_naive (const float *z, int d, int p, const float *codebook, int n,
                             int32_t *codes);
void mv_conv2d_naive (const float *x, int ci, int h, int w, const float *wt, const float *b, int co,
                      const mv_conv_geom *g, float *y);
void mv_group_norm_naive (const float *x, int c, int hw, int groups, const float *g, const float *b,
                          float eps, bool swish, float *y);

#endif
