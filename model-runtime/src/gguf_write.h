/* gguf_write.h — a streaming GGUF v3 writer (the converter's output).
 * SPDX-License-Identifier: MIT
 *
 * Metadata and tensor infos are collected first; gw_begin writes the header,
 * then each tensor's data is streamed in the order the tensors were added
 * (gw_write, gw_end_tensor), so a multi-GB model never sits in memory. The
 * layout is the one model-runtime/training/gguf_writer.py writes (keys in
 * the order added, 32-byte alignment, each tensor padded with zeros). */
#ifndef MAGVLT_GGUF_WRITE_H
#define MAGVLT_GGUF_WRITE_H

#include "gguf.h"

#include <stdio.h>

typedef struct gguf_writer gguf_writer;

gguf_writer *gw_new (void);
void gw_free (gguf_writer *w);

/* Metadata: keys are unique, at most 256 bytes, without NUL. Values are
 * copied. */
magvlt_status gw_add_str (gguf_writer *w, const char *key, const char *value);
magvlt_status gw_add_u32 (gguf_writer *w, const char *key, uint32_t value);
magvlt_status gw_add_f32 (gguf_writer *w, const char *key, float value);
magvlt_status gw_add_bool (gguf_writer *w, const char *key, bool value);
magvlt_status gw_add_arr_u32 (gguf_writer *w, const char *key, const uint32_t *v, size_t n);
magvlt_status gw_add_arr_str (gguf_writer *w, const char *key, const char *const *v, size_t n);

/* A tensor of shape[0..n_dims) (outermost first, 1 to 4 dims, each >= 1) and
 * type GGUF_TENSOR_F32, _F16 or _BF16. Returns its index in *index. */
magvlt_status gw_add_tensor (gguf_writer *w, const char *name, int n_dims, const int64_t *shape,
                             uint32_t type, size_t *index);

/* Writes the header to fp (path is for messages). */
magvlt_status gw_begin (gguf_writer *w, FILE *fp, const char *path);
/* Appends bytes of the current tensor (the next one not yet ended). */
magvlt_status gw_write (gguf_writer *w, const void *data, size_t n);
/* Checks the current tensor got exactly its size and pads it. */
magvlt_status gw_end_tensor (gguf_writer *w);
/* Checks every tensor was written and flushes. */
magvlt_status gw_finish (gguf_writer *w);

/* The absolute file offset of tensor `index`'s data (after gw_begin). */
uint64_t gw_tensor_file_offset (const gguf_writer *w, size_t index);
uint64_t gw_tensor_bytes (const gguf_writer *w, size_t index);
size_t gw_n_tensors (const gguf_writer *w);

/* float32 → IEEE half and bfloat16, round to nearest even (as NumPy's
 * astype(float16) and torch's bfloat16 conversion: overflow to infinity,
 * subnormals rounded, NaN kept NaN). */
uint16_t gw_f32_to_f16 (float f);
uint16_t gw_f32_to_bf16 (float f);

#endif
