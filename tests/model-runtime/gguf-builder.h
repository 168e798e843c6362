/* gguf-builder.h — writes GGUF files into memory for the tests: a complete,
 * valid tiny MAGVLT model (model-runtime/FORMAT.md), with knobs to corrupt
 * every part of it (header fields, keys, value types and payloads, tensor
 * names, dims, types and offsets).
 * SPDX-License-Identifier: MIT
 *
 * Plain C11, no dependencies, so a fuzzer can reuse it. A gb_file is a list
 * of key/values and tensors written in order; nothing is validated, which is
 * the point. gb_write() serialises it and records where each part landed
 * (gb_kv.at, gb_tensor.info_at / data_at, gb_file.data_at), so a test can cut
 * the file inside a given field.
 *
 *   gb_magvlt_params p = gb_magvlt_default_params ();
 *   gb_file *f = gb_magvlt_new (&p);
 *   gb_set_u32 (f, "magvlt.n_heads", 3);           // corrupt one thing
 *   size_t size;
 *   uint8_t *buf = gb_write (f, &size);
 *   ...
 *   free (buf);
 *   gb_free (f);
 */
#ifndef GGUF_BUILDER_H
#define GGUF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GGUF value types (the same numbers as gguf.h, repeated so the builder
 * stands alone). */
enum {
  GB_U8 = 0,
  GB_I8 = 1,
  GB_U16 = 2,
  GB_I16 = 3,
  GB_U32 = 4,
  GB_I32 = 5,
  GB_F32 = 6,
  GB_BOOL = 7,
  GB_STRING = 8,
  GB_ARRAY = 9,
  GB_U64 = 10,
  GB_I64 = 11,
  GB_F64 = 12,
};

/* Tensor types. */
enum { GB_TENSOR_F32 = 0, GB_TENSOR_F16 = 1 };

/* More than GGUF's 4, so a test can write n_dims = 5. */
#define GB_MAX_DIMS 8

typedef struct {
  uint8_t *key; /* key_len bytes, may hold a NUL byte; NUL-terminated too */
  size_t key_len;
  uint32_t type;    /* the type field as written */
  uint8_t *payload; /* the encoded value that follows the type field */
  size_t payload_len;
  uint64_t at; /* set by gb_write: byte offset of the key's length field */
} gb_kv;

typedef struct {
  uint8_t *name; /* name_len bytes, may hold a NUL byte; NUL-terminated too */
  size_t name_len;
  uint32_t n_dims;          /* written as is; ne[0..n_dims) follow it */
  uint64_t ne[GB_MAX_DIMS]; /* GGUF order: ne[0] is the contiguous axis */
  uint32_t type;
  bool offset_set; /* write `offset` instead of the real data offset */
  uint64_t offset;
  uint8_t *data; /* written at the next aligned position of the data section */
  size_t data_len;
  uint64_t info_at;  /* set by gb_write: byte offset of the tensor info */
  uint64_t data_at;  /* set by gb_write: absolute byte offset of the data */
  uint64_t data_off; /* set by gb_write: offset relative to the data section */
} gb_tensor;

typedef struct {
  uint8_t magic[4];   /* "GGUF" */
  uint32_t version;   /* 3 */
  bool n_tensors_set; /* write n_tensors instead of the real count */
  uint64_t n_tensors;
  bool n_kv_set; /* write n_kv instead of the real count */
  uint64_t n_kv;
  uint32_t alignment; /* layout alignment of the data (32); general.alignment is a key */

  gb_kv **kvs;
  size_t n_kvs, cap_kvs;
  gb_tensor **tensors;
  size_t n_tens, cap_tens;

  uint64_t rng;       /* state of the random tensor values */
  uint64_t infos_end; /* set by gb_write: first byte after the tensor infos */
  uint64_t data_at;   /* set by gb_write: start of the data section */
} gb_file;

gb_file *gb_new (void);
void gb_free (gb_file *f);

/* Serialises f into a new malloc'd buffer of *size bytes (never NULL, even
 * for 0 bytes) and records the offsets. */
uint8_t *gb_write (gb_file *f, size_t *size);

/* ---- key/values ---------------------------------------------------------- */

gb_kv *gb_find_kv (gb_file *f, const char *key);
/* Replaces the type and payload of `key`, or appends it when absent. */
gb_kv *gb_set_raw (gb_file *f, const char *key, uint32_t type, const void *payload, size_t len);
/* Always appends (duplicates allowed); the key may contain NUL bytes. */
gb_kv *gb_append_raw (gb_file *f, const void *key, size_t key_len, uint32_t type,
                      const void *payload, size_t len);
gb_kv *gb_set_u8 (gb_file *f, const char *key, uint8_t v);
gb_kv *gb_set_u16 (gb_file *f, const char *key, uint16_t v);
gb_kv *gb_set_u32 (gb_file *f, const char *key, uint32_t v);
gb_kv *gb_set_i32 (gb_file *f, const char *key, int32_t v);
gb_kv *gb_set_u64 (gb_file *f, const char *key, uint64_t v);
gb_kv *gb_set_i64 (gb_file *f, const char *key, int64_t v);
gb_kv *gb_set_f32 (gb_file *f, const char *key, float v);
gb_kv *gb_set_f64 (gb_file *f, const char *key, double v);
gb_kv *gb_set_bool_raw (gb_file *f, const char *key, uint8_t v); /* any byte, 2 included */
gb_kv *gb_set_str (gb_file *f, const char *key, const char *v);
/* A string whose length field says `claimed_len` but carries only the
 * `len` bytes of v (claimed_len == len for an honest string). */
gb_kv *gb_set_str_raw (gb_file *f, const char *key, const void *v, size_t len,
                       uint64_t claimed_len);
gb_kv *gb_set_u32_array (gb_file *f, const char *key, const uint32_t *v, size_t n);
gb_kv *gb_set_str_array (gb_file *f, const char *key, const char *const *v, size_t n);
/* An array header with any element type and count, followed by `len` bytes. */
gb_kv *gb_set_array_raw (gb_file *f, const char *key, uint32_t elem_type, uint64_t n,
                         const void *elems, size_t len);
bool gb_remove_kv (gb_file *f, const char *key);
/* Appends a copy of `key` (a duplicate key). */
gb_kv *gb_duplicate_kv (gb_file *f, const char *key);
void gb_kv_set_key (gb_kv *kv, const void *key, size_t key_len);

/* ---- tensors ------------------------------------------------------------- */

/* Adds a tensor with GGUF dims ne[0..n_dims) and random values in
 * [-0.5, 0.5) of the given type. */
gb_tensor *gb_add_tensor (gb_file *f, const char *name, uint32_t n_dims, const uint64_t *ne,
                          uint32_t type);
/* Shapes the FORMAT.md way, outermost first: [rows, cols] or a vector [n]. */
gb_tensor *gb_add_matrix (gb_file *f, const char *name, uint64_t rows, uint64_t cols,
                          uint32_t type);
gb_tensor *gb_add_vector (gb_file *f, const char *name, uint64_t n, uint32_t type);
gb_tensor *gb_find_tensor (gb_file *f, const char *name);
bool gb_remove_tensor (gb_file *f, const char *name);
gb_tensor *gb_duplicate_tensor (gb_file *f, const char *name);
void gb_tensor_set_name (gb_tensor *t, const void *name, size_t name_len);
/* Sets the dims (GGUF order) without touching the data. */
void gb_tensor_set_dims (gb_tensor *t, uint32_t n_dims, const uint64_t *ne);

/* ---- the tiny MAGVLT model ------------------------------------------------ */

typedef struct {
  uint32_t embed_dim, n_layers, n_heads, mlp_hidden;
  uint32_t ctx_len_img, ctx_len_txt, vocab_size_img, vocab_size_txt;
  uint32_t n_special, text_eot_id;
  float layer_norm_eps;
  uint32_t format_version;
  bool f16_matrices; /* the matrices (and embeddings) as F16 */
  bool f16_vectors;  /* norms and biases as F16 ("F16 accepted") */
  uint64_t seed;
} gb_magvlt_params;

/* C=8, 1 layer, 2 heads, mlp 16, I=4, T=3, Vi=5, Vt=7, n_special 10, eot 6,
 * eps 1e-5, format_version 1, all F32. */
gb_magvlt_params gb_magvlt_default_params (void);

/* Every key and every stage2.* tensor of FORMAT.md, in its order. */
gb_file *gb_magvlt_new (const gb_magvlt_params *p);

/* IEEE half conversions (round to nearest even). */
uint16_t gb_f32_to_f16 (float f);
float gb_f16_to_f32 (uint16_t h);

#endif
