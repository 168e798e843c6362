/* vqgan.h — the taming VQGAN (spec §4) as bound from the model file.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_VQGAN_H
#define MAGVLT_VQGAN_H

#include "gguf.h"
#include "model.h"

#define MV_VQ_MAX_LEVELS 8
#define MV_VQ_GROUPS 32 /* GroupNorm groups, fixed by taming's Normalize() */
#define MV_VQ_EPS 1e-6f /* GroupNorm epsilon */

typedef struct {
  mv_tensor w, b; /* w: [CO, CI, k, k] */
  int co, ci, k;
} mv_conv;

typedef struct {
  mv_tensor w, b; /* [C] each */
  int c;
} mv_norm;

typedef struct {
  mv_norm norm1, norm2;
  mv_conv conv1, conv2, nin; /* nin only when ci != co */
  bool has_nin;
  int ci, co;
} mv_resblock;

typedef struct {
  mv_norm norm;
  mv_conv q, k, v, proj;
  int c;
} mv_attnblock;

/* One resolution level: its ResnetBlocks, optional AttnBlocks (one after each
 * block), and the resampling conv (encoder: downsample after the level,
 * decoder: upsample after it). */
typedef struct {
  int n_blocks;
  mv_resblock *blocks;
  mv_attnblock *attn; /* NULL when the level has no attention */
  bool has_resample;
  mv_conv resample;
  int res; /* spatial size at this level */
} mv_vq_level;

typedef struct mv_vqgan {
  /* geometry (FORMAT.md magvlt.vqgan.*) */
  int resolution, in_channels, out_ch, ch, n_levels, ch_mult[MV_VQ_MAX_LEVELS];
  int num_res_blocks, n_attn_res, attn_res[MV_VQ_MAX_LEVELS];
  int z_channels, embed_dim, n_embed;
  int grid; /* resolution / 2^(n_levels - 1) */

  mv_conv enc_conv_in, enc_conv_out, quant_conv, post_quant_conv, dec_conv_in, dec_conv_out;
  mv_vq_level enc[MV_VQ_MAX_LEVELS], dec[MV_VQ_MAX_LEVELS];
  mv_resblock enc_mid1, enc_mid2, dec_mid1, dec_mid2;
  mv_attnblock enc_mid_attn, dec_mid_attn;
  mv_norm enc_norm_out, dec_norm_out;

  const float *codebook; /* [n_embed, embed_dim], f32 (converted at load if f16) */
  float *codebook_owned;
  float *codebook_sqnorm; /* [n_embed] */
  const float *palette;   /* [n_embed, 3] in [0, 1], or NULL */

  /* scratch sizes a context needs (floats) */
  size_t max_act;    /* largest activation C·H·W */
  size_t max_attn;   /* 4·C·P + P·P over attention levels */
  size_t max_weight; /* largest f16 weight to expand */
  size_t max_rows;   /* largest co · (ci·k·k rounded up to even): bf16 weight rows */
  size_t col_floats; /* im2col band buffer */
  size_t widest_row; /* floats of one output row of the widest im2col: K · WO */
  size_t widest_k;   /* the largest K = ci · k · k */

  void **owned_list; /* allocations freed with the VQGAN */
  int n_owned;
} mv_vqgan;

/* Binds the VQGAN when the file has magvlt.vqgan.* metadata (*out NULL
 * otherwise). Checks the geometry and every tensor's shape; hp NULL (a
 * VQGAN-only model) skips the cross-checks against the transformer. */
magvlt_status mv_vqgan_load (const gguf_file *file, const mv_hparams *hp, mv_vqgan **out);
void mv_vqgan_free (mv_vqgan *vq);

#endif
