/* gguf.h — a strict reader for GGUF v3 files (model-runtime/FORMAT.md).
 * SPDX-License-Identifier: MIT
 *
 * gguf_parse() works on any byte buffer, so tests and fuzzers can feed it
 * memory directly; gguf_open() maps (or reads) a file and parses it. Nothing
 * is trusted: every count, length, offset and size is checked against the
 * buffer before use, and failures return MAGVLT_ERR_FORMAT with a message
 * that names the field and its byte offset. */
#ifndef MAGVLT_GGUF_H
#define MAGVLT_GGUF_H

#include "magvlt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_type {
  GGUF_TYPE_UINT8 = 0,
  GGUF_TYPE_INT8 = 1,
  GGUF_TYPE_UINT16 = 2,
  GGUF_TYPE_INT16 = 3,
  GGUF_TYPE_UINT32 = 4,
  GGUF_TYPE_INT32 = 5,
  GGUF_TYPE_FLOAT32 = 6,
  GGUF_TYPE_BOOL = 7,
  GGUF_TYPE_STRING = 8,
  GGUF_TYPE_ARRAY = 9,
  GGUF_TYPE_UINT64 = 10,
  GGUF_TYPE_INT64 = 11,
  GGUF_TYPE_FLOAT64 = 12,
  GGUF_TYPE_COUNT
};

enum gguf_tensor_type {
  GGUF_TENSOR_F32 = 0,
  GGUF_TENSOR_F16 = 1,
  GGUF_TENSOR_BF16 = 30, /* bfloat16: the upper 16 bits of an IEEE float */
};

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_TENSORS 65536
#define GGUF_MAX_KV 65536
#define GGUF_MAX_STRING (1u << 20)
#define GGUF_MAX_NAME 256
#define GGUF_MAX_ARRAY (1ull << 28)
#define GGUF_MAX_ELEMENTS (1ull << 40)
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
  const char *ptr; /* into the file buffer; not NUL-terminated */
  uint64_t len;
} gguf_str;

typedef struct {
  char *key;     /* NUL-terminated copy */
  uint32_t type; /* enum gguf_type */
  union {
    uint64_t u; /* any unsigned integer or bool */
    int64_t i;  /* any signed integer */
    double f;   /* float32 or float64 */
    gguf_str s;
    struct {
      uint32_t type; /* element type (never ARRAY) */
      uint64_t n;
      const uint8_t *data; /* raw elements (for STRING: a packed run of gguf strings) */
    } arr;
  } v;
} gguf_kv;

typedef struct {
  char *name; /* NUL-terminated copy */
  uint32_t n_dims;
  uint64_t ne[GGUF_MAX_DIMS]; /* GGUF order: ne[0] is the contiguous axis */
  uint32_t type;              /* enum gguf_tensor_type */
  uint64_t offset;            /* relative to the data section */
  uint64_t n_elements;
  uint64_t n_bytes;
  const void *data; /* inside the buffer */
} gguf_tensor;

typedef struct gguf_file {
  const uint8_t *buf;
  uint64_t size;
  uint32_t version;
  uint32_t alignment;
  uint64_t data_offset;
  uint64_t n_kv;
  gguf_kv *kv;
  uint64_t n_tensors;
  gguf_tensor *tensors;

  /* set by gguf_open */
  bool mmapped;
  void *owned; /* heap copy when not mapped */
} gguf_file;

/* Parses buf[0..size). The file keeps pointers into buf, which must outlive
 * it. On failure the file is left empty (gguf_clear is still safe). */
magvlt_status gguf_parse (const uint8_t *buf, uint64_t size, gguf_file *out);

/* Maps (or reads, when use_mmap is false or mapping fails) and parses path.
 * progress may be NULL; returning false from it aborts a read. */
magvlt_status gguf_open (const char *path, bool use_mmap, magvlt_load_progress_callback progress,
                         void *progress_ud, gguf_file *out);

/* Frees what gguf_parse/gguf_open allocated, including the mapping. */
void gguf_clear (gguf_file *file);

const gguf_kv *gguf_find_kv (const gguf_file *file, const char *key);
const gguf_tensor *gguf_find_tensor (const gguf_file *file, const char *name);

/* Typed getters: MAGVLT_ERR_FORMAT (with a message) when the key is missing
 * (unless the getter has a default), has another type, or is out of range. */
magvlt_status gguf_get_u32 (const gguf_file *file, const char *key, uint32_t *out);
magvlt_status gguf_get_f32 (const gguf_file *file, const char *key, float *out);
/* Copies a string value into out (NUL-terminated, truncated to out_size). */
magvlt_status gguf_get_str (const gguf_file *file, const char *key, char *out, size_t out_size);

const char *gguf_type_name (uint32_t type);

#endif
