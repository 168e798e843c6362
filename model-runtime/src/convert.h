/* convert.h — internals of magvlt_convert: the configuration (official YAML
 * or a preset), the expected tensor tables and metadata keys (also used by
 * the random-weight models of random_model.c), and CLIP's vocabulary.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CONVERT_H
#define MAGVLT_CONVERT_H

#include "gguf_write.h"
#include "magvlt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_MAX_LEVELS 8

typedef struct {
  int32_t embed_dim, n_layers, n_heads, ctx_len_img, ctx_len_txt;
  int32_t vocab_size_img, vocab_size_txt;
} cv_stage2;

typedef struct {
  int32_t resolution, in_channels, out_ch, ch, n_levels, ch_mult[CV_MAX_LEVELS];
  int32_t num_res_blocks, n_attn, attn_res[CV_MAX_LEVELS];
  int32_t z_channels, embed_dim, n_embed;
  bool double_z;
} cv_vqgan;

/* One magvlt.sampling.* value (FORMAT.md, "Sampling defaults"). */
typedef enum { CV_U32, CV_F32, CV_STR } cv_kind;
typedef struct {
  const char *key; /* the YAML key, also the GGUF key's last part */
  cv_kind kind;
  bool set;
  uint32_t u;
  float f;
  char s[64];
} cv_sampling;

#define CV_N_SAMPLING 17

typedef struct {
  bool has_stage2, has_stage1;
  cv_stage2 s2;
  cv_vqgan s1;
  cv_sampling sampling[CV_N_SAMPLING];
  int n_unknown_sampling;
  char unknown_sampling[8][64];
  const char *preset; /* "base" / "large" when from a preset */
} cv_config;

/* The official configurations (spec §2.1, §1.3, §3.6): "base" or "large". */
magvlt_status cv_config_preset (const char *name, cv_config *c);

/* The official geometries (spec §2.1, §1.3): "base" or "large" → the
 * transformer's and the VQGAN's; false for any other name. In
 * convert_layout.c, so the random-weight models can use it in a build
 * without the converter. */
bool cv_official_geometry (const char *name, cv_stage2 *s2, cv_vqgan *s1);

/* Reads the official YAML (stage1 / stage2 / sampling sections) with
 * libyaml. Messages name the file and the key. */
magvlt_status cv_config_read_yaml (const char *path, cv_config *c);

/* ---- expected tensors ---------------------------------------------------- */

typedef struct {
  char name[200]; /* without prefix ("blocks.0.ln1.weight", "encoder.conv_in.weight") */
  int n_dims;
  int64_t shape[4];
} cv_expect;

/* Tables in the official state-dict order; *out is malloc'ed
 * (convert_layout.c, like the key writers below). */
magvlt_status cv_stage2_table (const cv_stage2 *g, int32_t mlp_hidden, int32_t n_special,
                               cv_expect **out, size_t *n);
magvlt_status cv_vqgan_table (const cv_vqgan *v, cv_expect **out, size_t *n);

/* ---- metadata keys (FORMAT.md), in export_gguf.py's order ----------------- */

/* The magvlt.* geometry keys of the transformer (g; NULL for a VQGAN-only
 * file) and the magvlt.vqgan.* keys (v; NULL: none). */
magvlt_status cv_add_geometry_keys (gguf_writer *w, const cv_stage2 *g, int32_t mlp_hidden,
                                    int32_t n_special, const cv_vqgan *v);
/* The five magvlt.tokenizer.* keys of a char_bpe tokenizer ("</w>" suffix,
 * lowercasing). */
magvlt_status cv_add_tokenizer_keys (gguf_writer *w, const char *const *vocab, size_t n_vocab,
                                     const char *const *merges, size_t n_merges);

/* ---- the text tokenizer --------------------------------------------------- */

typedef struct {
  char **vocab; /* id order */
  size_t n_vocab;
  char **merges; /* "left right", rank order */
  size_t n_merges;
  bool is_clip; /* the merges are CLIP's (bpe_simple_vocab_16e6, by SHA-256) */
  char *storage;
} cv_vocab;

/* Reads merges from path (gzip or plain text; a first line holding
 * "#version" is a header) and builds CLIP's vocabulary for vocab_size text
 * ids: 256 byte characters, the same with "</w>", vocab_size − 514 merges,
 * <|startoftext|>, <|endoftext|>. */
magvlt_status cv_vocab_load (const char *path, int32_t vocab_size, cv_vocab *v);

/* GPT-2/CLIP's reversible byte → printable character table, as UTF-8
 * (convert_layout.c): the first 256 vocabulary entries of a CLIP-style
 * vocabulary. */
void cv_bytes_to_unicode (char chars[256][5]);
void cv_vocab_free (cv_vocab *v);

#endif
