/* model.h — the loaded model: hyper-parameters and tensor views.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_MODEL_H
#define MAGVLT_MODEL_H

#include "gguf.h"
#include "magvlt.h"

/* A view of one tensor inside the model file. Shapes are outermost first
 * (PyTorch order): a Linear weight is [rows = out, cols = in]; a vector has
 * rows = 1. Vectors (norms, biases) are always f32 after loading. */
typedef struct {
  const char *name;
  const void *data;
  bool f16;  /* stored as 16-bit floats: IEEE half, or bfloat16 when bf16 is set */
  bool bf16; /* (with f16) the 16 bits are bfloat16 */
  int64_t rows;
  int64_t cols;
} mv_tensor;

/* Binds tensor `name` of file f and checks that its shape is exactly
 * shape[0..n_dims) (outermost first); the message names both shapes. */
magvlt_status mv_tensor_bind (const gguf_file *f, mv_tensor *t, const char *name, int n_dims,
                              const int64_t *shape);

typedef struct {
  mv_tensor ln1_w, ln1_b, ln2_w, ln2_b;
  mv_tensor q_w, q_b, k_w, k_b, v_w, v_b, proj_w, proj_b;
  mv_tensor fc1_w, fc1_b, fc2_w, fc2_b; /* mlp.0 and mlp.2 */
} mv_block;

typedef struct {
  int32_t embed_dim; /* C */
  int32_t n_layers;
  int32_t n_heads;
  int32_t mlp_hidden;  /* M */
  int32_t ctx_len_img; /* I */
  int32_t ctx_len_txt; /* T */
  int32_t image_grid;
  int32_t seq_len; /* L = 4 + I + T */
  int32_t vocab_size_img;
  int32_t vocab_size_txt;
  int32_t n_special;
  int32_t text_eot_id;
  float layer_norm_eps;
} mv_hparams;

/* Special-token ids (spec §2.2, SPECIAL_TOKENS_HNH). */
enum {
  MV_SPC_BOI = 0,
  MV_SPC_BOT = 1,
  MV_SPC_BOC = 2,
  MV_SPC_BOG = 3,
  MV_SPC_MASK_IMG = 4,
  MV_SPC_MASK_TXT = 5,
};

struct mv_packed_model;
struct mv_bf16_model;

struct magvlt_model {
  /* weights packed for the oneDNN backends, made on first use (matmul.c);
   * the one mutable part of a model, guarded by a lock in matmul.c */
  struct mv_packed_model *packed[4]; /* by mv_backend; the oneDNN ones only */
  /* weights packed for the bf16 backend (matmul_bf16.c), same rules */
  struct mv_bf16_model *bf16;
  gguf_file file;
  char *path;
  char name[256];
  mv_hparams hp;

  mv_tensor tok_emb;     /* [Vi + Vt, C] */
  mv_tensor tok_emb_spc; /* [n_special, C] */
  mv_tensor pos_img;     /* [I, C] */
  mv_tensor pos_txt;     /* [T, C] */
  mv_tensor pos_spc;     /* [L, C] */
  mv_block *blocks;      /* [n_layers] */
  mv_tensor lm_w, lm_b, lm_ln_w, lm_ln_b;
  mv_tensor out_bias; /* [Vi + Vt] */
  mv_tensor len_w;    /* [T, C] */

  struct mv_vqgan *vq; /* NULL when the file has no VQGAN */
  bool has_stage2;     /* false: a VQGAN-only model (no stage2.* tensors); hp
                          then holds only the image grid and codebook size */
  float *converted;    /* f16 vectors converted to f32 at load */
  int64_t n_params_stage2;
  int64_t n_params_vqgan;
  const char *weight_type;
  struct mv_tokenizer *tokenizer;  /* NULL when the file has no text tokenizer */
  magvlt_sampling_params sampling; /* the file's magvlt.sampling.* over the defaults */
};

/* *sp ← the official defaults with the file's magvlt.sampling.* values over
 * them (model_sampling.c); a value out of range is MAGVLT_ERR_FORMAT. */
magvlt_status mv_model_read_sampling (const gguf_file *f, magvlt_sampling_params *sp);

/* Drops the resident pages of [data, data + bytes) when they belong to the
 * model's file mapping (after a backend packed a copy of that tensor): the
 * pages stay in the page cache, and a later read faults them back in. A
 * no-op for a model read into memory, where it would zero the data. */
void mv_model_release_pages (const magvlt_model *model, const void *data, size_t bytes);

#endif
