/* context.h — per-thread state: scratch arena, cancel flag, callbacks.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CONTEXT_H
#define MAGVLT_CONTEXT_H

#include "magvlt.h"
#include "model.h"

#include <stdatomic.h>

/* One position of the compacted sequence (text slots >= n dropped). */
typedef enum { MV_SEG_SPC, MV_SEG_IMG, MV_SEG_TXT } mv_segment;

struct magvlt_context {
  const magvlt_model *model;
  magvlt_context_params params;
  int n_threads;
  atomic_int cancel;
  int backend;              /* mv_backend */
  struct mv_dnnl_ctx *dnnl; /* NULL for OpenBLAS */
  magvlt_callbacks callbacks;
  char last_error[1024];

  /* One arena, carved into named buffers at init (sizes from the model). */
  void *arena;
  size_t arena_bytes;
  float *x;             /* [L, C] residual stream */
  float *h;             /* [L, C] normalised input of a sub-layer */
  float *q, *k, *v;     /* [L, C] */
  float *att;           /* [L, C] attention output before the projection */
  float *mlp;           /* [L, M] */
  struct mv_pool *pool; /* n_threads in all, this context's caller included */
  float *tbuf;          /* [n_threads][tbuf_floats] per-thread weight expansion */
  size_t tbuf_floats;
  float *tscores; /* [n_threads][MV_ATT_ROWS · L] per-thread attention scores */
  uint16_t *xb;   /* bf16 backend: activations rounded to bfloat16 */
  size_t xb_bytes;
  void *attb; /* bf16 backend: attention scratch (matmul_bf16.c) */
  size_t attb_bytes;
  int32_t *kv_len;      /* [L] per query row: keys 0..kv_len-1 are visible */
  int32_t *seq_global;  /* [L] compact index → index in the full layout */
  int32_t *seq_compact; /* [L] full-layout index → compact index, or -1 */
  int32_t *seq_row;     /* [L] row of the token table for each position */
  int32_t *seq_pos;     /* [L] positional-table index */
  uint8_t *seq_seg;     /* [L] mv_segment */
  uint8_t *seq_masked;  /* [L] */
  int32_t *rows;        /* [L] scratch list of compact rows for the LM head */

  /* VQGAN scratch (vqgan.c), allocated on the context's first image job */
  float *vq_arena;
  size_t vq_bytes;
  float *vq_a, *vq_b, *vq_c; /* three activations of the largest C·H·W */
  float *vq_attn;            /* q, k, v and scores of an attention block */
  float *vq_w;               /* one f16 weight expanded to f32 */
  float *vq_col;             /* im2col band, also the code-search scores */
  size_t vq_col_floats;
  uint16_t *vq_wb; /* bf16 backend, decoder: one weight as bfloat16 rows */
  size_t vq_wb_entries;
  uint16_t *vq_panels; /* bf16 backend, decoder: per-thread im2col panels */
  size_t vq_panel_entries;
};

/* Records a failure as both the thread's and the context's last error. */
magvlt_status mv_ctx_fail (magvlt_context *ctx, magvlt_status st, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Copies the thread's last error into the context after a failing helper. */
magvlt_status mv_ctx_keep_error (magvlt_context *ctx, magvlt_status st);

/* True (and the flag cleared) when a cancel request is pending. */
bool mv_ctx_take_cancel (magvlt_context *ctx);

/* Scratch arenas (page-aligned, zero-filled) straight from mmap; NULL when
 * out of memory. mv_arena_free takes the size that was allocated. */
void *mv_arena_alloc (size_t bytes);
void mv_arena_free (void *p, size_t bytes);

#endif
