/* gguf_write.c — the streaming GGUF v3 writer of gguf_write.h.
 * SPDX-License-Identifier: MIT */
#include "gguf_write.h"

#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GW_ALIGN GGUF_DEFAULT_ALIGNMENT

typedef struct {
  char *name;
  uint32_t n_dims;
  uint64_t ne[GGUF_MAX_DIMS]; /* innermost first */
  uint32_t type;
  uint64_t offset; /* relative to the data section */
  uint64_t n_bytes;
} gw_tensor;

struct gguf_writer {
  uint8_t *kv; /* encoded key/value section */
  size_t kv_len, kv_cap;
  uint64_t n_kv;
  char **keys;
  gw_tensor *tensors;
  size_t n_tensors, cap_tensors;
  uint64_t data_size;

  FILE *fp;
  const char *path;
  uint64_t data_start;
  size_t current;   /* tensor being written */
  uint64_t written; /* bytes of the current tensor so far */
  bool failed;
};

gguf_writer *
gw_new (void)
{
  return calloc (1, sizeof (gguf_writer));
}

void
gw_free (gguf_writer *w)
{
  if (!w)
    return;
  for (uint64_t i = 0; i < w->n_kv; i++)
    free (w->keys[i]);
  free (w->keys);
  for (size_t i = 0; i < w->n_tensors; i++)
    free (w->tensors[i].name);
  free (w->tensors);
  free (w->kv);
  free (w);
}

static bool
put (gguf_writer *w, const void *p, size_t n)
{
  if (n > w->kv_cap - w->kv_len)
    {
      size_t cap = w->kv_cap ? w->kv_cap : 4096;
      while (n > cap - w->kv_len)
        cap *= 2;
      uint8_t *nk = realloc (w->kv, cap);
      if (!nk)
        return false;
      w->kv = nk;
      w->kv_cap = cap;
    }
  memcpy (w->kv + w->kv_len, p, n);
  w->kv_len += n;
  return true;
}

static bool
put_u32 (gguf_writer *w, uint32_t v)
{
  uint8_t b[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };
  return put (w, b, 4);
}

static bool
put_u64 (gguf_writer *w, uint64_t v)
{
  return put_u32 (w, (uint32_t) v) && put_u32 (w, (uint32_t) (v >> 32));
}

static bool
put_str (gguf_writer *w, const char *s)
{
  size_t n = strlen (s);
  return put_u64 (w, n) && put (w, s, n);
}

/* The key and its type; checks the name and its uniqueness. */
static magvlt_status
key (gguf_writer *w, const char *k, uint32_t type)
{
  if (!k || !*k || strlen (k) > GGUF_MAX_NAME)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "GGUF key '%s' is empty or over 256 bytes", k ? k : "");
  for (uint64_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->keys[i], k) == 0)
      return mv_fail (MAGVLT_ERR_INTERNAL, "GGUF key '%s' added twice", k);
  char **nk = realloc (w->keys, (w->n_kv + 1) * sizeof *nk);
  if (!nk)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  w->keys = nk;
  if (!(w->keys[w->n_kv] = strdup (k)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  w->n_kv++;
  if (!put_str (w, k) || !put_u32 (w, type))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  return MAGVLT_OK;
}

magvlt_status
gw_add_str (gguf_writer *w, const char *k, const char *value)
{
  magvlt_status st = key (w, k, GGUF_TYPE_STRING);
  if (st == MAGVLT_OK && !put_str (w, value))
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  return st;
}

magvlt_status
gw_add_u32 (gguf_writer *w, const char *k, uint32_t value)
{
  magvlt_status st = key (w, k, GGUF_TYPE_UINT32);
  if (st == MAGVLT_OK && !put_u32 (w, value))
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  return st;
}

magvlt_status
gw_add_f32 (gguf_writer *w, const char *k, float value)
{
  uint32_t bits;
  memcpy (&bits, &value, 4);
  magvlt_status st = key (w, k, GGUF_TYPE_FLOAT32);
  if (st == MAGVLT_OK && !put_u32 (w, bits))
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  return st;
}

magvlt_status
gw_add_bool (gguf_writer *w, const char *k, bool value)
{
  uint8_t b = value ? 1 : 0;
  magvlt_status st = key (w, k, GGUF_TYPE_BOOL);
  if (st == MAGVLT_OK && !put (w, &b, 1))
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  return st;
}

magvlt_status
gw_add_arr_u32 (gguf_writer *w, const char *k, const uint32_t *v, size_t n)
{
  magvlt_status st = key (w, k, GGUF_TYPE_ARRAY);
  bool ok = st == MAGVLT_OK && put_u32 (w, GGUF_TYPE_UINT32) && put_u64 (w, n);
  for (size_t i = 0; ok && i < n; i++)
    ok = put_u32 (w, v[i]);
  return st != MAGVLT_OK ? st : ok ? MAGVLT_OK : mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
}

magvlt_status
gw_add_arr_str (gguf_writer *w, const char *k, const char *const *v, size_t n)
{
  magvlt_status st = key (w, k, GGUF_TYPE_ARRAY);
  bool ok = st == MAGVLT_OK && put_u32 (w, GGUF_TYPE_STRING) && put_u64 (w, n);
  for (size_t i = 0; ok && i < n; i++)
    ok = put_str (w, v[i]);
  return st != MAGVLT_OK ? st : ok ? MAGVLT_OK : mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
}

static uint64_t
pad (uint64_t n)
{
  return (n + GW_ALIGN - 1) / GW_ALIGN * GW_ALIGN;
}

magvlt_status
gw_add_tensor (gguf_writer *w, const char *name, int n_dims, const int64_t *shape, uint32_t type,
               size_t *index)
{
  if (!name || !*name || strlen (name) > GGUF_MAX_NAME)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "tensor name '%s' is empty or over 256 bytes",
                    name ? name : "");
  if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "tensor '%s' has %d dimensions (1 to 4 allowed)", name,
                    n_dims);
  if (type != GGUF_TENSOR_F32 && type != GGUF_TENSOR_F16 && type != GGUF_TENSOR_BF16)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "tensor '%s': type %u is not written", name, type);
  for (size_t i = 0; i < w->n_tensors; i++)
    if (strcmp (w->tensors[i].name, name) == 0)
      return mv_fail (MAGVLT_ERR_INTERNAL, "tensor '%s' added twice", name);
  if (w->n_tensors == w->cap_tensors)
    {
      size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 256;
      gw_tensor *nt = realloc (w->tensors, cap * sizeof *nt);
      if (!nt)
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
      w->tensors = nt;
      w->cap_tensors = cap;
    }
  gw_tensor *t = &w->tensors[w->n_tensors];
  memset (t, 0, sizeof *t);
  uint64_t n = 1;
  for (int d = 0; d < n_dims; d++)
    {
      if (shape[d] < 1 || (uint64_t) shape[d] > GGUF_MAX_ELEMENTS / n)
        return mv_fail (MAGVLT_ERR_INVALID_ARG, "tensor '%s': dimension %d is %lld", name, d,
                        (long long) shape[d]);
      n *= (uint64_t) shape[d];
      t->ne[n_dims - 1 - d] = (uint64_t) shape[d];
    }
  if (!(t->name = strdup (name)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  t->n_dims = (uint32_t) n_dims;
  t->type = type;
  t->n_bytes = n * (type == GGUF_TENSOR_F32 ? 4 : 2);
  t->offset = w->data_size;
  w->data_size += pad (t->n_bytes);
  if (index)
    *index = w->n_tensors;
  w->n_tensors++;
  return MAGVLT_OK;
}

static magvlt_status
io_fail (gguf_writer *w)
{
  w->failed = true;
  return mv_fail (MAGVLT_ERR_IO, "%s: write failed: %s", w->path, strerror (errno));
}

static bool
fw (gguf_writer *w, const void *p, size_t n)
{
  return fwrite (p, 1, n, w->fp) == n;
}

static bool
fw_zeros (gguf_writer *w, uint64_t n)
{
  static const uint8_t z[GW_ALIGN];
  while (n > 0)
    {
      size_t k = n > sizeof z ? sizeof z : (size_t) n;
      if (!fw (w, z, k))
        return false;
      n -= k;
    }
  return true;
}

magvlt_status
gw_begin (gguf_writer *w, FILE *fp, const char *path)
{
  w->fp = fp;
  w->path = path;
  /* header and tensor infos are built in the kv buffer's tail, then written */
  size_t kv_len = w->kv_len;
  uint8_t head[24] = { 'G', 'G', 'U', 'F', 3, 0, 0, 0 };
  for (int i = 0; i < 8; i++)
    {
      head[8 + i] = (uint8_t) ((uint64_t) w->n_tensors >> (8 * i));
      head[16 + i] = (uint8_t) (w->n_kv >> (8 * i));
    }
  bool ok = true;
  for (size_t i = 0; ok && i < w->n_tensors; i++)
    {
      const gw_tensor *t = &w->tensors[i];
      ok = put_str (w, t->name) && put_u32 (w, t->n_dims);
      for (uint32_t d = 0; ok && d < t->n_dims; d++)
        ok = put_u64 (w, t->ne[d]);
      ok = ok && put_u32 (w, t->type) && put_u64 (w, t->offset);
    }
  if (!ok)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  uint64_t header = 24 + (uint64_t) w->kv_len;
  w->data_start = pad (header);
  if (!fw (w, head, sizeof head) || !fw (w, w->kv, w->kv_len)
      || !fw_zeros (w, w->data_start - header))
    {
      w->kv_len = kv_len;
      return io_fail (w);
    }
  w->kv_len = kv_len;
  w->current = 0;
  w->written = 0;
  return MAGVLT_OK;
}

magvlt_status
gw_write (gguf_writer *w, const void *data, size_t n)
{
  if (w->current >= w->n_tensors || n > w->tensors[w->current].n_bytes - w->written)
    return mv_fail (MAGVLT_ERR_INTERNAL, "GGUF writer: more data than tensor '%s' holds",
                    w->current < w->n_tensors ? w->tensors[w->current].name : "(none)");
  if (!fw (w, data, n))
    return io_fail (w);
  w->written += n;
  return MAGVLT_OK;
}

magvlt_status
gw_end_tensor (gguf_writer *w)
{
  if (w->current >= w->n_tensors || w->written != w->tensors[w->current].n_bytes)
    return mv_fail (MAGVLT_ERR_INTERNAL, "GGUF writer: tensor '%s' is incomplete",
                    w->current < w->n_tensors ? w->tensors[w->current].name : "(none)");
  const gw_tensor *t = &w->tensors[w->current];
  if (!fw_zeros (w, pad (t->n_bytes) - t->n_bytes))
    return io_fail (w);
  w->current++;
  w->written = 0;
  return MAGVLT_OK;
}

magvlt_status
gw_finish (gguf_writer *w)
{
  if (w->current != w->n_tensors)
    return mv_fail (MAGVLT_ERR_INTERNAL, "GGUF writer: %zu of %zu tensors written", w->current,
                    w->n_tensors);
  if (fflush (w->fp) != 0 || ferror (w->fp))
    return io_fail (w);
  return MAGVLT_OK;
}

uint64_t
gw_tensor_file_offset (const gguf_writer *w, size_t index)
{
  return w->data_start + w->tensors[index].offset;
}

uint64_t
gw_tensor_bytes (const gguf_writer *w, size_t index)
{
  return w->tensors[index].n_bytes;
}

size_t
gw_n_tensors (const gguf_writer *w)
{
  return w->n_tensors;
}

uint16_t
gw_f32_to_f16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)
    {
      if (ax == 0x7f800000u)
        return (uint16_t) (sign | 0x7c00u);
      /* NaN: the top mantissa bits, never zero (as NumPy) */
      uint32_t h = 0x7c00u + ((ax & 0x7fffffu) >> 13);
      return (uint16_t) (sign | (h == 0x7c00u ? h + 1 : h));
    }
  if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
    return (uint16_t) (sign | 0x7c00u);
  if (ax < 0x38800000u) /* below 2^-14: a subnormal half or zero */
    {
      if (ax <= 0x33000000u) /* <= 2^-25: zero (the tie goes to even) */
        return (uint16_t) sign;
      uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
      uint32_t shift = 126 - e; /* 14 .. 24 */
      uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
      if (rem > half || (rem == half && (h & 1)))
        h++;
      return (uint16_t) (sign | h);
    }
  uint32_t h = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++;
  return (uint16_t) (sign | h);
}

uint16_t
gw_f32_to_bf16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return 0x7fc0u; /* NaN: torch's quiet NaN */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t) (x >> 16);
}
