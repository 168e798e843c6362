/* ckpt.h — reading checkpoints for the converter: PyTorch's ZIP format
 * (ckpt_zip.c), its pickle (ckpt_pickle.c, a restricted VM that never
 * executes anything), safetensors (ckpt_safetensors.c), and the state dict
 * they hold (ckpt.c).
 *
 * Only `magvlt convert` uses this; the inference path never includes it.
 * Nothing in a checkpoint is trusted: every length, count, offset, stride
 * and size is checked before use, and failures return MAGVLT_ERR_FORMAT
 * (MAGVLT_ERR_UNSUPPORTED for valid but unsupported features) with a
 * message naming the entry, key or byte offset.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CKPT_H
#define MAGVLT_CKPT_H

#include "magvlt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- element types ------------------------------------------------------ */

typedef enum {
  CK_DT_UNKNOWN = 0,
  CK_DT_F32,
  CK_DT_F16,
  CK_DT_BF16,
  CK_DT_F64,
  CK_DT_I64,
  CK_DT_I32,
  CK_DT_I16,
  CK_DT_I8,
  CK_DT_U8,
  CK_DT_BOOL,
} ck_dtype;

size_t ck_dtype_size (ck_dtype dt); /* 0 for CK_DT_UNKNOWN */
const char *ck_dtype_name (ck_dtype dt);

/* ---- a read-only file mapping ------------------------------------------- */

typedef struct {
  const uint8_t *data;
  uint64_t size;
  void *map;  /* mmap base, or NULL */
  void *heap; /* malloc copy when mapping failed */
} ck_map;

magvlt_status ck_map_open (const char *path, ck_map *m);
void ck_map_close (ck_map *m);

/* Drops the mapped pages of [p, p + n) from memory (they are read again from
 * the file if touched), so streaming through a multi-GB checkpoint does not
 * keep it resident. A no-op for heap copies. */
void ck_map_release (const ck_map *m, const void *p, uint64_t n);

/* ---- ZIP (ckpt_zip.c) --------------------------------------------------- */

typedef struct {
  char *name; /* NUL-terminated copy */
  uint64_t size, comp_size;
  uint64_t local_offset; /* of the local file header */
  uint32_t crc;
  uint16_t method, flags;
  bool crc_checked;
} ck_zip_entry;

typedef struct {
  const uint8_t *buf;
  uint64_t size;
  ck_zip_entry *entries;
  uint64_t n_entries;
  ck_zip_entry **sorted; /* by name, for lookups */
  bool zip64;            /* the archive uses ZIP64 end records */
} ck_zip;

#define CK_ZIP_MAX_ENTRIES (1u << 22)
#define CK_ZIP_MAX_NAME 4096

/* True when buf starts with a ZIP local file header (or is an empty ZIP). */
bool ck_zip_sniff (const uint8_t *buf, uint64_t size);

/* Parses the end records and the central directory of buf[0..size). */
magvlt_status ck_zip_open (const uint8_t *buf, uint64_t size, ck_zip *z);
void ck_zip_clear (ck_zip *z);

/* The entry named exactly `name`, or NULL. */
ck_zip_entry *ck_zip_find (const ck_zip *z, const char *name);

/* The only entry whose name is `suffix` or ends with "/" + suffix; NULL and
 * MAGVLT_ERR_FORMAT with a message when there is none or more than one. */
magvlt_status ck_zip_find_suffix (const ck_zip *z, const char *suffix, ck_zip_entry **out);

/* Where the entry's bytes lie in the archive: checks its local header, that
 * it is stored (not compressed) and unencrypted, and every bound. */
magvlt_status ck_zip_entry_data (const ck_zip *z, const ck_zip_entry *e, const uint8_t **data);

/* Checks the entry's CRC-32 once (later calls return at once). With a
 * mapping, its pages are released as the check goes (ck_map_release). */
magvlt_status ck_zip_entry_verify (const ck_zip *z, ck_zip_entry *e, const ck_map *release);

/* ---- the restricted pickle VM (ckpt_pickle.c) --------------------------- */

typedef enum {
  PV_NONE,
  PV_BOOL,
  PV_INT,
  PV_BIGINT, /* an integer wider than 64 bits: value not kept */
  PV_FLOAT,
  PV_STR,   /* BINUNICODE & co. (UTF-8 as written; not validated) */
  PV_BYTES, /* BINBYTES, BINSTRING & co. */
  PV_TUPLE,
  PV_LIST,
  PV_SET,
  PV_DICT,    /* dict and collections.OrderedDict, insertion order kept */
  PV_GLOBAL,  /* a module attribute named by GLOBAL / STACK_GLOBAL */
  PV_OBJECT,  /* anything a REDUCE/NEWOBJ of another global would have built */
  PV_STORAGE, /* a torch storage record (BINPERSID) */
  PV_TENSOR,  /* torch._utils._rebuild_tensor_v2(...) */
} pv_kind;

#define CK_MAX_DIMS 8

typedef struct pv pv;
struct pv {
  pv_kind kind;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      const char *p; /* into the pickle buffer, not NUL-terminated */
      size_t n;
    } s;
    struct {
      pv **v;
      size_t n, cap;
    } seq; /* TUPLE, LIST, SET */
    struct {
      pv **k, **v;
      size_t n, cap;
    } dict;
    struct {
      const char *module, *name; /* NUL-terminated */
    } g;
    struct {
      pv *callable; /* the GLOBAL (or whatever was called) */
      pv *args;
      pv *state; /* from BUILD, or NULL */
      pv *items; /* a PV_DICT for SETITEMS on the object, or NULL */
    } obj;
    struct {
      ck_dtype dtype;    /* CK_DT_UNKNOWN for another storage class */
      const char *cls;   /* "torch.FloatStorage" */
      const char *key;   /* NUL-terminated: the blob is <prefix>data/<key> */
      const char *where; /* location, e.g. "cpu" */
      int64_t numel;
    } st;
    struct {
      pv *storage;
      int64_t offset; /* in elements */
      int n_dims;
      int64_t size[CK_MAX_DIMS], stride[CK_MAX_DIMS];
    } t;
  } u;
};

typedef struct {
  size_t max_bytes; /* memory the VM may allocate (default 512 MiB) */
  int max_marks;    /* nested MARKs (default 10,000) */
} pk_limits;

typedef struct pk_vm pk_vm;

/* Runs the pickle buf[0..n) and returns its value in *root; the values live
 * in (and point into buf through) *vm, which pk_free releases. limits may be
 * NULL for the defaults. Every global becomes an opaque value; only
 * collections.OrderedDict, the torch storage classes (through BINPERSID),
 * torch._utils._rebuild_tensor_v2 and _rebuild_parameter have meaning.
 * Nothing is imported or executed. */
magvlt_status pk_load (const uint8_t *buf, size_t n, const pk_limits *limits, pk_vm **vm,
                       const pv **root);
void pk_free (pk_vm *vm);

/* The value of dict (or object with items) d under the string key, or NULL. */
const pv *pk_dict_get (const pv *d, const char *key);

/* A short printable description ("os.system('...')", "dict of 11") for
 * messages; at most n - 1 bytes. */
void pk_describe (const pv *v, char *buf, size_t n);

/* A printable, quoted copy of a byte string for messages (escapes anything
 * outside printable ASCII), at most n - 1 bytes. */
void ck_quote (const char *s, size_t len, char *buf, size_t n);

/* ---- a state dict: what every input format becomes (ckpt.c) ------------- */

typedef struct {
  char *name; /* the key, NUL-terminated */
  ck_dtype dtype;
  int n_dims;
  int64_t shape[CK_MAX_DIMS]; /* outermost first */
  uint64_t numel;
  const uint8_t *data; /* numel contiguous little-endian elements */
  /* why the tensor cannot be used (non-contiguous, unsupported dtype), or
   * NULL; reported only when the converter needs the tensor */
  const char *problem;
  bool problem_owned;
  ck_zip_entry *blob; /* its storage entry (CRC checked on first use), or NULL */
} ck_tensor;

typedef struct {
  const char *path;
  const char *format; /* "PyTorch checkpoint" or "safetensors" */
  ck_map map;
  ck_zip zip;
  pk_vm *vm;
  void *json; /* safetensors header (cJSON) */
  ck_tensor *tensors;
  size_t n_tensors;
  char **top_keys; /* top-level keys of a checkpoint dict (for messages) */
  size_t n_top_keys;
} ck_file;

/* Opens a PyTorch checkpoint (torch.save ≥ 1.6: ZIP + pickle; Lightning's
 * `state_dict` or a bare state dict) or a safetensors file and lists its
 * tensors in file order. Legacy (pre-1.6) files give MAGVLT_ERR_UNSUPPORTED
 * with a hint to re-save them. Messages are prefixed with the path. */
magvlt_status ck_file_open (const char *path, const pk_limits *limits, ck_file *f);
void ck_file_close (ck_file *f);

/* Opens a state dict from memory (tests and fuzzers): a ZIP archive or a
 * safetensors image in buf, which must outlive f. */
magvlt_status ck_file_open_buffer (const uint8_t *buf, uint64_t size, const char *name,
                                   const pk_limits *limits, ck_file *f);

/* The tensor named `name`, or NULL. */
ck_tensor *ck_file_find (const ck_file *f, const char *name);

/* Checks that t can be read (its problem, if any, as MAGVLT_ERR_UNSUPPORTED
 * or MAGVLT_ERR_FORMAT) and its storage's CRC-32. */
magvlt_status ck_tensor_check (ck_file *f, ck_tensor *t);

/* Converts elements [first, first + n) of t to float32. */
void ck_tensor_read_f32 (const ck_tensor *t, uint64_t first, uint64_t n, float *dst);

/* ---- safetensors (ckpt_safetensors.c) ----------------------------------- */

bool ck_safetensors_sniff (const uint8_t *buf, uint64_t size);
magvlt_status ck_safetensors_open (ck_file *f);
void ck_safetensors_free (void *json);

#endif
