/* gguf.c — a strict GGUF v3 reader: parse from memory, map or read a file.
 * SPDX-License-Identifier: MIT
 *
 * Layout (all little-endian): magic "GGUF", u32 version, u64 tensor count,
 * u64 key/value count, the key/values, the tensor infos, padding to the
 * alignment, then the tensor data. Every read goes through a cursor that
 * refuses to step past the end of the buffer, so a truncated or hostile file
 * can only produce an error message. */
#include "gguf.h"

#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  const uint8_t *buf;
  uint64_t size;
  uint64_t pos;
} cursor;

static const uint64_t type_size[GGUF_TYPE_COUNT] = {
  [GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,  [GGUF_TYPE_UINT16] = 2,  [GGUF_TYPE_INT16] = 2,
  [GGUF_TYPE_UINT32] = 4,  [GGUF_TYPE_INT32] = 4, [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,
  [GGUF_TYPE_STRING] = 0,  [GGUF_TYPE_ARRAY] = 0, [GGUF_TYPE_UINT64] = 8,  [GGUF_TYPE_INT64] = 8,
  [GGUF_TYPE_FLOAT64] = 8,
};

const char *
gguf_type_name (uint32_t type)
{
  static const char *names[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
  };
  return type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}

static bool
cursor_need (cursor *c, uint64_t n, const char *what)
{
  if (n > c->size - c->pos)
    {
      mv_fail (MAGVLT_ERR_FORMAT,
               "truncated: %s needs %llu bytes at byte %llu but the file ends at byte %llu", what,
               (unsigned long long) n, (unsigned long long) c->pos, (unsigned long long) c->size);
      return false;
    }
  return true;
}

static bool
cursor_read (cursor *c, void *dst, uint64_t n, const char *what)
{
  if (!cursor_need (c, n, what))
    return false;
  memcpy (dst, c->buf + c->pos, n);
  c->pos += n;
  return true;
}

/* Little-endian decoding, independent of the host byte order. */
static uint64_t
load_le (const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static bool
read_u32 (cursor *c, uint32_t *v, const char *what)
{
  uint8_t b[4];
  if (!cursor_read (c, b, 4, what))
    return false;
  *v = (uint32_t) load_le (b, 4);
  return true;
}

static bool
read_u64 (cursor *c, uint64_t *v, const char *what)
{
  uint8_t b[8];
  if (!cursor_read (c, b, 8, what))
    return false;
  *v = load_le (b, 8);
  return true;
}

static bool
read_str (cursor *c, gguf_str *s, uint64_t max_len, const char *what)
{
  uint64_t at = c->pos;
  if (!read_u64 (c, &s->len, what))
    return false;
  if (s->len > max_len)
    {
      mv_fail (MAGVLT_ERR_FORMAT, "%s at byte %llu has length %llu (limit %llu)", what,
               (unsigned long long) at, (unsigned long long) s->len, (unsigned long long) max_len);
      return false;
    }
  if (!cursor_need (c, s->len, what))
    return false;
  s->ptr = (const char *) c->buf + c->pos;
  c->pos += s->len;
  return true;
}

/* A NUL-terminated copy of a name; names with a NUL byte inside are refused
 * because every later lookup and message would silently cut them short. */
static char *
dup_name (gguf_str s, const char *what, uint64_t at)
{
  if (s.len == 0 || memchr (s.ptr, '\0', s.len))
    {
      mv_fail (MAGVLT_ERR_FORMAT, "%s at byte %llu is empty or contains a NUL byte", what,
               (unsigned long long) at);
      return NULL;
    }
  char *d = malloc (s.len + 1);
  if (!d)
    {
      mv_fail (MAGVLT_ERR_NOMEM, "out of memory copying %s", what);
      return NULL;
    }
  memcpy (d, s.ptr, s.len);
  d[s.len] = '\0';
  return d;
}

static bool
read_scalar (cursor *c, gguf_kv *kv, const char *what)
{
  uint8_t b[8];
  uint64_t n = type_size[kv->type];
  if (!cursor_read (c, b, n, what))
    return false;
  uint64_t raw = load_le (b, (int) n);
  switch (kv->type)
    {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_BOOL: kv->v.u = raw; break;
    case GGUF_TYPE_INT8: kv->v.i = (int8_t) raw; break;
    case GGUF_TYPE_INT16: kv->v.i = (int16_t) raw; break;
    case GGUF_TYPE_INT32: kv->v.i = (int32_t) raw; break;
    case GGUF_TYPE_INT64: kv->v.i = (int64_t) raw; break;
    case GGUF_TYPE_FLOAT32:
      {
        uint32_t u32 = (uint32_t) raw;
        float f;
        memcpy (&f, &u32, 4);
        kv->v.f = f;
        break;
      }
    case GGUF_TYPE_FLOAT64: memcpy (&kv->v.f, &raw, 8); break;
    default: return false;
    }
  if (kv->type == GGUF_TYPE_BOOL && raw > 1)
    {
      mv_fail (MAGVLT_ERR_FORMAT, "%s: bool value %llu is neither 0 nor 1", what,
               (unsigned long long) raw);
      return false;
    }
  return true;
}

static bool
read_value (cursor *c, gguf_kv *kv, const char *what)
{
  if (kv->type == GGUF_TYPE_STRING)
    return read_str (c, &kv->v.s, GGUF_MAX_STRING, what);
  if (kv->type != GGUF_TYPE_ARRAY)
    return read_scalar (c, kv, what);

  uint64_t at = c->pos;
  if (!read_u32 (c, &kv->v.arr.type, what) || !read_u64 (c, &kv->v.arr.n, what))
    return false;
  uint32_t et = kv->v.arr.type;
  if (et >= GGUF_TYPE_COUNT || et == GGUF_TYPE_ARRAY)
    {
      mv_fail (MAGVLT_ERR_FORMAT, "%s at byte %llu: array element type %u is %s", what,
               (unsigned long long) at, et,
               et == GGUF_TYPE_ARRAY ? "a nested array (not supported)" : "unknown");
      return false;
    }
  if (kv->v.arr.n > GGUF_MAX_ARRAY)
    {
      mv_fail (MAGVLT_ERR_FORMAT, "%s at byte %llu: array of %llu elements (limit %llu)", what,
               (unsigned long long) at, (unsigned long long) kv->v.arr.n,
               (unsigned long long) GGUF_MAX_ARRAY);
      return false;
    }
  kv->v.arr.data = c->buf + c->pos;
  if (et != GGUF_TYPE_STRING)
    {
      /* n <= 2^28 and size <= 8, so the product cannot overflow. */
      if (!cursor_need (c, kv->v.arr.n * type_size[et], what))
        return false;
      c->pos += kv->v.arr.n * type_size[et];
      return true;
    }
  for (uint64_t i = 0; i < kv->v.arr.n; i++)
    {
      gguf_str s;
      if (!read_str (c, &s, GGUF_MAX_STRING, what))
        return false;
    }
  return true;
}

static magvlt_status
parse_kvs (cursor *c, gguf_file *f)
{
  f->kv = calloc (f->n_kv ? f->n_kv : 1, sizeof *f->kv);
  if (!f->kv)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for %llu key/values",
                    (unsigned long long) f->n_kv);
  for (uint64_t i = 0; i < f->n_kv; i++)
    {
      gguf_kv *kv = &f->kv[i];
      gguf_str key;
      uint64_t at = c->pos;
      char what[64 + GGUF_MAX_NAME];

      snprintf (what, sizeof what, "key %llu", (unsigned long long) i);
      if (!read_str (c, &key, GGUF_MAX_NAME, what))
        return MAGVLT_ERR_FORMAT;
      if (!(kv->key = dup_name (key, what, at)))
        return MAGVLT_ERR_FORMAT;
      snprintf (what, sizeof what, "value of key '%s'", kv->key);
      at = c->pos;
      if (!read_u32 (c, &kv->type, what))
        return MAGVLT_ERR_FORMAT;
      if (kv->type >= GGUF_TYPE_COUNT)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s at byte %llu has unknown type %u", what,
                        (unsigned long long) at, kv->type);
      if (!read_value (c, kv, what))
        return MAGVLT_ERR_FORMAT;
    }
  return MAGVLT_OK;
}

static magvlt_status
check_alignment (gguf_file *f)
{
  f->alignment = GGUF_DEFAULT_ALIGNMENT;
  const gguf_kv *kv = gguf_find_kv (f, "general.alignment");
  if (!kv)
    return MAGVLT_OK;
  if (kv->type != GGUF_TYPE_UINT32)
    return mv_fail (MAGVLT_ERR_FORMAT, "general.alignment has type %s, expected u32",
                    gguf_type_name (kv->type));
  uint64_t a = kv->v.u;
  if (a < 8 || a > 65536 || (a & (a - 1)))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "general.alignment is %llu; it must be a power of two from 8 to 65536",
                    (unsigned long long) a);
  f->alignment = (uint32_t) a;
  return MAGVLT_OK;
}

static magvlt_status
parse_tensor_infos (cursor *c, gguf_file *f)
{
  f->tensors = calloc (f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
  if (!f->tensors)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for %llu tensor infos",
                    (unsigned long long) f->n_tensors);
  for (uint64_t i = 0; i < f->n_tensors; i++)
    {
      gguf_tensor *t = &f->tensors[i];
      gguf_str name;
      uint64_t at = c->pos;
      char what[64 + GGUF_MAX_NAME];

      snprintf (what, sizeof what, "tensor info %llu", (unsigned long long) i);
      if (!read_str (c, &name, GGUF_MAX_NAME, what) || !(t->name = dup_name (name, what, at)))
        return MAGVLT_ERR_FORMAT;
      snprintf (what, sizeof what, "tensor '%s'", t->name);
      if (!read_u32 (c, &t->n_dims, what))
        return MAGVLT_ERR_FORMAT;
      if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s has %u dimensions (1 to %d allowed)", what,
                        t->n_dims, GGUF_MAX_DIMS);
      t->n_elements = 1;
      for (uint32_t d = 0; d < t->n_dims; d++)
        {
          if (!read_u64 (c, &t->ne[d], what))
            return MAGVLT_ERR_FORMAT;
          if (t->ne[d] == 0 || t->ne[d] > GGUF_MAX_ELEMENTS
              || t->n_elements > GGUF_MAX_ELEMENTS / t->ne[d])
            return mv_fail (MAGVLT_ERR_FORMAT,
                            "%s: dimension %u is %llu (zero, or the element count exceeds 2^40)",
                            what, d, (unsigned long long) t->ne[d]);
          t->n_elements *= t->ne[d];
        }
      for (uint32_t d = t->n_dims; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
      if (!read_u32 (c, &t->type, what) || !read_u64 (c, &t->offset, what))
        return MAGVLT_ERR_FORMAT;
      if (t->type != GGUF_TENSOR_F32 && t->type != GGUF_TENSOR_F16 && t->type != GGUF_TENSOR_BF16)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "%s has tensor type %u; this engine reads F32 (0), F16 (1) and BF16 (30) "
                        "only",
                        what, t->type);
      t->n_bytes = t->n_elements * (t->type == GGUF_TENSOR_F32 ? 4 : 2);
    }
  return MAGVLT_OK;
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sorting a copy finds duplicates in O(n log n) even for 65,536 names. */
static magvlt_status
check_unique (char **names, uint64_t n, const char *what)
{
  if (n < 2)
    return MAGVLT_OK;
  qsort (names, n, sizeof *names, cmp_names);
  for (uint64_t i = 1; i < n; i++)
    if (strcmp (names[i - 1], names[i]) == 0)
      return mv_fail (MAGVLT_ERR_FORMAT, "duplicate %s '%s'", what, names[i]);
  return MAGVLT_OK;
}

static magvlt_status
check_duplicates (const gguf_file *f)
{
  uint64_t n = f->n_kv > f->n_tensors ? f->n_kv : f->n_tensors;
  char **names = malloc ((n ? n : 1) * sizeof *names);
  magvlt_status st;

  if (!names)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory checking names");
  for (uint64_t i = 0; i < f->n_kv; i++)
    names[i] = f->kv[i].key;
  st = check_unique (names, f->n_kv, "key");
  if (st == MAGVLT_OK)
    {
      for (uint64_t i = 0; i < f->n_tensors; i++)
        names[i] = f->tensors[i].name;
      st = check_unique (names, f->n_tensors, "tensor name");
    }
  free (names);
  return st;
}

static magvlt_status
place_tensors (gguf_file *f)
{
  uint64_t data_size = f->size - f->data_offset;
  for (uint64_t i = 0; i < f->n_tensors; i++)
    {
      gguf_tensor *t = &f->tensors[i];
      if (t->offset % f->alignment)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "tensor '%s': offset %llu is not a multiple of the alignment %u", t->name,
                        (unsigned long long) t->offset, f->alignment);
      if (t->offset > data_size || t->n_bytes > data_size - t->offset)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "tensor '%s': %llu bytes at data offset %llu run past the end of the "
                        "file (%llu bytes of tensor data); the file is truncated or corrupt",
                        t->name, (unsigned long long) t->n_bytes, (unsigned long long) t->offset,
                        (unsigned long long) data_size);
      t->data = f->buf + f->data_offset + t->offset;
    }
  return MAGVLT_OK;
}

magvlt_status
gguf_parse (const uint8_t *buf, uint64_t size, gguf_file *out)
{
  cursor c = { buf, size, 0 };
  uint8_t magic[4];
  magvlt_status st;
  gguf_file f = { .buf = buf, .size = size };

  *out = f;
  if (size == 0)
    return mv_fail (MAGVLT_ERR_FORMAT, "the file is empty (0 bytes); it is not a GGUF model");
  if (size >= 4 && memcmp (buf, "PK\x03\x04", 4) == 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "this is a ZIP archive (a PyTorch checkpoint?), not a GGUF model; "
                    "HINT: convert it with `magvlt convert`");
  if (!cursor_read (&c, magic, 4, "the magic number"))
    return MAGVLT_ERR_FORMAT;
  if (memcmp (magic, "GGUF", 4) != 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "bad magic number %02x %02x %02x %02x (expected 'GGUF'); not a GGUF model",
                    magic[0], magic[1], magic[2], magic[3]);
  if (!read_u32 (&c, &f.version, "the version"))
    return MAGVLT_ERR_FORMAT;
  if (f.version != 2 && f.version != 3)
    return mv_fail (MAGVLT_ERR_FORMAT, "GGUF version %u is not supported (expected 3)", f.version);
  if (!read_u64 (&c, &f.n_tensors, "the tensor count")
      || !read_u64 (&c, &f.n_kv, "the key/value count"))
    return MAGVLT_ERR_FORMAT;
  if (f.n_tensors > GGUF_MAX_TENSORS)
    return mv_fail (MAGVLT_ERR_FORMAT, "tensor count %llu exceeds the limit of %d",
                    (unsigned long long) f.n_tensors, GGUF_MAX_TENSORS);
  if (f.n_kv > GGUF_MAX_KV)
    return mv_fail (MAGVLT_ERR_FORMAT, "key/value count %llu exceeds the limit of %d",
                    (unsigned long long) f.n_kv, GGUF_MAX_KV);

  if ((st = parse_kvs (&c, &f)) != MAGVLT_OK || (st = check_alignment (&f)) != MAGVLT_OK
      || (st = parse_tensor_infos (&c, &f)) != MAGVLT_OK
      || (st = check_duplicates (&f)) != MAGVLT_OK)
    {
      gguf_clear (&f);
      return st;
    }

  /* The data section starts at the first aligned offset after the infos;
   * a file with no tensors may end right after the infos. */
  f.data_offset = (c.pos + f.alignment - 1) / f.alignment * f.alignment;
  if (f.data_offset > size)
    {
      if (f.n_tensors > 0)
        {
          uint64_t start = f.data_offset;
          gguf_clear (&f);
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "truncated: the tensor data section should start at byte %llu "
                          "(after the header ending at byte %llu) but the file has %llu bytes",
                          (unsigned long long) start, (unsigned long long) c.pos,
                          (unsigned long long) size);
        }
      f.data_offset = size;
    }
  if ((st = place_tensors (&f)) != MAGVLT_OK)
    {
      gguf_clear (&f);
      return st;
    }
  *out = f;
  return MAGVLT_OK;
}

void
gguf_clear (gguf_file *f)
{
  if (!f)
    return;
  if (f->kv)
    for (uint64_t i = 0; i < f->n_kv; i++)
      free (f->kv[i].key);
  if (f->tensors)
    for (uint64_t i = 0; i < f->n_tensors; i++)
      free (f->tensors[i].name);
  free (f->kv);
  free (f->tensors);
  if (f->mmapped && f->buf)
    munmap ((void *) f->buf, f->size);
  free (f->owned);
  memset (f, 0, sizeof *f);
}

static magvlt_status
read_whole (int fd, uint64_t size, magvlt_load_progress_callback progress, void *ud, uint8_t **out)
{
  const uint64_t chunk = 64u << 20;
  uint8_t *buf = malloc (size ? size : 1);
  if (!buf)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory reading %llu bytes",
                    (unsigned long long) size);
  for (uint64_t done = 0; done < size;)
    {
      uint64_t want = size - done < chunk ? size - done : chunk;
      ssize_t got = read (fd, buf + done, want);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          free (buf);
          return mv_fail (MAGVLT_ERR_IO, "read failed at byte %llu: %s", (unsigned long long) done,
                          got < 0 ? strerror (errno) : "the file shrank while reading");
        }
      done += (uint64_t) got;
      if (progress && !progress (0.9f * (float) done / (float) size, ud))
        {
          free (buf);
          return mv_fail (MAGVLT_ABORTED, "loading was cancelled");
        }
    }
  *out = buf;
  return MAGVLT_OK;
}

magvlt_status
gguf_open (const char *path, bool use_mmap, magvlt_load_progress_callback progress,
           void *progress_ud, gguf_file *out)
{
  struct stat sb;
  const uint8_t *buf = NULL;
  uint8_t *owned = NULL;
  bool mapped = false;
  magvlt_status st;

  memset (out, 0, sizeof *out);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mv_fail (MAGVLT_ERR_IO, "cannot open: %s", strerror (errno));
  if (fstat (fd, &sb) != 0 || !S_ISREG (sb.st_mode))
    {
      close (fd);
      return mv_fail (MAGVLT_ERR_IO, "not a regular file");
    }
  uint64_t size = (uint64_t) sb.st_size;
  if (use_mmap && size > 0)
    {
      void *p = mmap (NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED)
        {
          buf = p;
          mapped = true;
        }
    }
  if (!mapped && size > 0)
    {
      st = read_whole (fd, size, progress, progress_ud, &owned);
      if (st != MAGVLT_OK)
        {
          close (fd);
          return st;
        }
      buf = owned;
    }
  close (fd);

  st = gguf_parse (buf, size, out);
  if (st != MAGVLT_OK)
    {
      if (mapped)
        munmap ((void *) buf, size);
      free (owned);
      return st;
    }
  out->mmapped = mapped;
  out->owned = owned;
  return MAGVLT_OK;
}

const gguf_kv *
gguf_find_kv (const gguf_file *f, const char *key)
{
  for (uint64_t i = 0; i < f->n_kv; i++)
    if (strcmp (f->kv[i].key, key) == 0)
      return &f->kv[i];
  return NULL;
}

const gguf_tensor *
gguf_find_tensor (const gguf_file *f, const char *name)
{
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (strcmp (f->tensors[i].name, name) == 0)
      return &f->tensors[i];
  return NULL;
}

static bool
is_unsigned (uint32_t t)
{
  return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32
         || t == GGUF_TYPE_UINT64;
}

static bool
is_signed (uint32_t t)
{
  return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32
         || t == GGUF_TYPE_INT64;
}

magvlt_status
gguf_get_u32 (const gguf_file *f, const char *key, uint32_t *out)
{
  const gguf_kv *kv = gguf_find_kv (f, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", key);
  if (is_unsigned (kv->type) && kv->v.u <= UINT32_MAX)
    *out = (uint32_t) kv->v.u;
  else if (is_signed (kv->type) && kv->v.i >= 0 && kv->v.i <= (int64_t) UINT32_MAX)
    *out = (uint32_t) kv->v.i;
  else if (is_unsigned (kv->type) || is_signed (kv->type))
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' is out of range for an unsigned 32-bit value",
                    key);
  else
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s, expected an integer", key,
                    gguf_type_name (kv->type));
  return MAGVLT_OK;
}

magvlt_status
gguf_get_f32 (const gguf_file *f, const char *key, float *out)
{
  const gguf_kv *kv = gguf_find_kv (f, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", key);
  if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s, expected f32", key,
                    gguf_type_name (kv->type));
  *out = (float) kv->v.f;
  return MAGVLT_OK;
}

magvlt_status
gguf_get_str (const gguf_file *f, const char *key, char *out, size_t out_size)
{
  const gguf_kv *kv = gguf_find_kv (f, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", key);
  if (kv->type != GGUF_TYPE_STRING)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s, expected string", key,
                    gguf_type_name (kv->type));
  if (memchr (kv->v.s.ptr, '\0', kv->v.s.len))
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' contains a NUL byte", key);
  size_t n = kv->v.s.len < out_size - 1 ? (size_t) kv->v.s.len : out_size - 1;
  memcpy (out, kv->v.s.ptr, n);
  out[n] = '\0';
  return MAGVLT_OK;
}
