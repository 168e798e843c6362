/* gguf-builder.c — an in-memory GGUF writer for tests, with corruption knobs.
 * SPDX-License-Identifier: MIT */
#include "gguf-builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tests are the only users: running out of memory here is not a case
 * worth a status code. */
static void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p)
    {
      fprintf (stderr, "gguf-builder: out of memory\n");
      abort ();
    }
  return p;
}

static void *
xmemdup (const void *src, size_t n, size_t extra)
{
  uint8_t *p = xmalloc (n + extra);
  if (n)
    memcpy (p, src, n);
  memset (p + n, 0, extra);
  return p;
}

static void
grow (void ***items, size_t *cap, size_t need)
{
  if (need <= *cap)
    return;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void **p = realloc (*items, n * sizeof *p);
  if (!p)
    {
      fprintf (stderr, "gguf-builder: out of memory\n");
      abort ();
    }
  *items = p;
  *cap = n;
}

/* ---- little-endian encoding ---------------------------------------------- */

static void
put_le (uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

typedef struct {
  uint8_t *buf;
  size_t len, cap;
} bytes;

static void
bytes_add (bytes *b, const void *src, size_t n)
{
  if (b->len + n > b->cap)
    {
      size_t cap = b->cap ? b->cap * 2 : 256;
      while (cap < b->len + n)
        cap *= 2;
      uint8_t *p = realloc (b->buf, cap);
      if (!p)
        {
          fprintf (stderr, "gguf-builder: out of memory\n");
          abort ();
        }
      b->buf = p;
      b->cap = cap;
    }
  if (n)
    memcpy (b->buf + b->len, src, n);
  b->len += n;
}

static void
bytes_u32 (bytes *b, uint32_t v)
{
  uint8_t t[4];
  put_le (t, v, 4);
  bytes_add (b, t, 4);
}

static void
bytes_u64 (bytes *b, uint64_t v)
{
  uint8_t t[8];
  put_le (t, v, 8);
  bytes_add (b, t, 8);
}

static void
bytes_zeros (bytes *b, size_t n)
{
  static const uint8_t zeros[64];
  while (n > 0)
    {
      size_t k = n < sizeof zeros ? n : sizeof zeros;
      bytes_add (b, zeros, k);
      n -= k;
    }
}

/* ---- half floats ----------------------------------------------------------- */

uint16_t
gb_f32_to_f16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;

  if (exp == 0xff) /* Inf, NaN */
    return (uint16_t) (sign | 0x7c00u | (man ? 0x200u : 0));
  int e = (int) exp - 127 + 15;
  if (e >= 31)
    return (uint16_t) (sign | 0x7c00u);
  if (e <= 0)
    {
      /* Subnormal half (or zero): shift the full mantissa into place. */
      if (e < -10)
        return (uint16_t) sign;
      man |= 0x800000u;
      int shift = 14 - e;
      uint32_t h = man >> shift;
      uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
      if (rem > half || (rem == half && (h & 1)))
        h++;
      return (uint16_t) (sign | h);
    }
  uint32_t h = ((uint32_t) e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* may carry into the exponent, which is still right */
  return (uint16_t) (sign | h);
}

float
gb_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t x;

  if (exp == 0x1f)
    x = sign | 0x7f800000u | (man << 13);
  else if (exp != 0)
    x = sign | ((exp - 15 + 127) << 23) | (man << 13);
  else if (man == 0)
    x = sign;
  else
    {
      /* Subnormal: normalise. */
      int e = -1;
      do
        {
          man <<= 1;
          e++;
        }
      while (!(man & 0x400u));
      x = sign | ((uint32_t) (127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  float f;
  memcpy (&f, &x, 4);
  return f;
}

/* ---- the file ---------------------------------------------------------------- */

gb_file *
gb_new (void)
{
  gb_file *f = xmalloc (sizeof *f);
  memset (f, 0, sizeof *f);
  memcpy (f->magic, "GGUF", 4);
  f->version = 3;
  f->alignment = 32;
  f->rng = 0x9e3779b97f4a7c15ull;
  return f;
}

static void
kv_free (gb_kv *kv)
{
  free (kv->key);
  free (kv->payload);
  free (kv);
}

static void
tensor_free (gb_tensor *t)
{
  free (t->name);
  free (t->data);
  free (t);
}

void
gb_free (gb_file *f)
{
  if (!f)
    return;
  for (size_t i = 0; i < f->n_kvs; i++)
    kv_free (f->kvs[i]);
  for (size_t i = 0; i < f->n_tens; i++)
    tensor_free (f->tensors[i]);
  free (f->kvs);
  free (f->tensors);
  free (f);
}

uint8_t *
gb_write (gb_file *f, size_t *size)
{
  bytes b = { 0 };
  uint32_t align = f->alignment ? f->alignment : 1;

  bytes_add (&b, f->magic, 4);
  bytes_u32 (&b, f->version);
  bytes_u64 (&b, f->n_tensors_set ? f->n_tensors : f->n_tens);
  bytes_u64 (&b, f->n_kv_set ? f->n_kv : f->n_kvs);
  for (size_t i = 0; i < f->n_kvs; i++)
    {
      gb_kv *kv = f->kvs[i];
      kv->at = b.len;
      bytes_u64 (&b, kv->key_len);
      bytes_add (&b, kv->key, kv->key_len);
      bytes_u32 (&b, kv->type);
      bytes_add (&b, kv->payload, kv->payload_len);
    }

  /* Data offsets first, so the infos can be written in one pass. */
  uint64_t off = 0;
  for (size_t i = 0; i < f->n_tens; i++)
    {
      gb_tensor *t = f->tensors[i];
      off = (off + align - 1) / align * align;
      t->data_off = off;
      off += t->data_len;
    }
  for (size_t i = 0; i < f->n_tens; i++)
    {
      gb_tensor *t = f->tensors[i];
      t->info_at = b.len;
      bytes_u64 (&b, t->name_len);
      bytes_add (&b, t->name, t->name_len);
      bytes_u32 (&b, t->n_dims);
      for (uint32_t d = 0; d < t->n_dims && d < GB_MAX_DIMS; d++)
        bytes_u64 (&b, t->ne[d]);
      bytes_u32 (&b, t->type);
      bytes_u64 (&b, t->offset_set ? t->offset : t->data_off);
    }
  f->infos_end = b.len;

  /* No padding after the last tensor: the file ends where its data ends, so
   * every shorter prefix of a valid file is invalid. */
  f->data_at = f->n_tens ? (b.len + align - 1) / align * align : b.len;
  for (size_t i = 0; i < f->n_tens; i++)
    {
      gb_tensor *t = f->tensors[i];
      t->data_at = f->data_at + t->data_off;
      bytes_zeros (&b, t->data_at - b.len);
      bytes_add (&b, t->data, t->data_len);
    }
  if (!b.buf)
    b.buf = xmalloc (1);
  *size = b.len;
  return b.buf;
}

/* ---- key/values ---------------------------------------------------------------- */

gb_kv *
gb_find_kv (gb_file *f, const char *key)
{
  size_t n = strlen (key);
  for (size_t i = 0; i < f->n_kvs; i++)
    if (f->kvs[i]->key_len == n && memcmp (f->kvs[i]->key, key, n) == 0)
      return f->kvs[i];
  return NULL;
}

gb_kv *
gb_append_raw (gb_file *f, const void *key, size_t key_len, uint32_t type, const void *payload,
               size_t len)
{
  gb_kv *kv = xmalloc (sizeof *kv);
  memset (kv, 0, sizeof *kv);
  kv->key = xmemdup (key, key_len, 1);
  kv->key_len = key_len;
  kv->type = type;
  kv->payload = xmemdup (payload, len, 0);
  kv->payload_len = len;
  grow ((void ***) &f->kvs, &f->cap_kvs, f->n_kvs + 1);
  f->kvs[f->n_kvs++] = kv;
  return kv;
}

gb_kv *
gb_set_raw (gb_file *f, const char *key, uint32_t type, const void *payload, size_t len)
{
  gb_kv *kv = gb_find_kv (f, key);
  if (!kv)
    return gb_append_raw (f, key, strlen (key), type, payload, len);
  free (kv->payload);
  kv->type = type;
  kv->payload = xmemdup (payload, len, 0);
  kv->payload_len = len;
  return kv;
}

static gb_kv *
set_int (gb_file *f, const char *key, uint32_t type, uint64_t v, int n)
{
  uint8_t p[8];
  put_le (p, v, n);
  return gb_set_raw (f, key, type, p, (size_t) n);
}

gb_kv *
gb_set_u8 (gb_file *f, const char *key, uint8_t v)
{
  return set_int (f, key, GB_U8, v, 1);
}
gb_kv *
gb_set_u16 (gb_file *f, const char *key, uint16_t v)
{
  return set_int (f, key, GB_U16, v, 2);
}
gb_kv *
gb_set_u32 (gb_file *f, const char *key, uint32_t v)
{
  return set_int (f, key, GB_U32, v, 4);
}
gb_kv *
gb_set_i32 (gb_file *f, const char *key, int32_t v)
{
  return set_int (f, key, GB_I32, (uint32_t) v, 4);
}
gb_kv *
gb_set_u64 (gb_file *f, const char *key, uint64_t v)
{
  return set_int (f, key, GB_U64, v, 8);
}
gb_kv *
gb_set_i64 (gb_file *f, const char *key, int64_t v)
{
  return set_int (f, key, GB_I64, (uint64_t) v, 8);
}
gb_kv *
gb_set_bool_raw (gb_file *f, const char *key, uint8_t v)
{
  return set_int (f, key, GB_BOOL, v, 1);
}

gb_kv *
gb_set_f32 (gb_file *f, const char *key, float v)
{
  uint32_t u;
  memcpy (&u, &v, 4);
  return set_int (f, key, GB_F32, u, 4);
}

gb_kv *
gb_set_f64 (gb_file *f, const char *key, double v)
{
  uint64_t u;
  memcpy (&u, &v, 8);
  return set_int (f, key, GB_F64, u, 8);
}

gb_kv *
gb_set_str_raw (gb_file *f, const char *key, const void *v, size_t len, uint64_t claimed_len)
{
  uint8_t *p = xmalloc (8 + len);
  put_le (p, claimed_len, 8);
  if (len)
    memcpy (p + 8, v, len);
  gb_kv *kv = gb_set_raw (f, key, GB_STRING, p, 8 + len);
  free (p);
  return kv;
}

gb_kv *
gb_set_str (gb_file *f, const char *key, const char *v)
{
  return gb_set_str_raw (f, key, v, strlen (v), strlen (v));
}

gb_kv *
gb_set_array_raw (gb_file *f, const char *key, uint32_t elem_type, uint64_t n, const void *elems,
                  size_t len)
{
  uint8_t *p = xmalloc (12 + len);
  put_le (p, elem_type, 4);
  put_le (p + 4, n, 8);
  if (len)
    memcpy (p + 12, elems, len);
  gb_kv *kv = gb_set_raw (f, key, GB_ARRAY, p, 12 + len);
  free (p);
  return kv;
}

gb_kv *
gb_set_u32_array (gb_file *f, const char *key, const uint32_t *v, size_t n)
{
  uint8_t *e = xmalloc (4 * n);
  for (size_t i = 0; i < n; i++)
    put_le (e + 4 * i, v[i], 4);
  gb_kv *kv = gb_set_array_raw (f, key, GB_U32, n, e, 4 * n);
  free (e);
  return kv;
}

gb_kv *
gb_set_str_array (gb_file *f, const char *key, const char *const *v, size_t n)
{
  bytes e = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      bytes_u64 (&e, strlen (v[i]));
      bytes_add (&e, v[i], strlen (v[i]));
    }
  gb_kv *kv = gb_set_array_raw (f, key, GB_STRING, n, e.buf, e.len);
  free (e.buf);
  return kv;
}

bool
gb_remove_kv (gb_file *f, const char *key)
{
  gb_kv *kv = gb_find_kv (f, key);
  if (!kv)
    return false;
  for (size_t i = 0; i < f->n_kvs; i++)
    if (f->kvs[i] == kv)
      {
        memmove (&f->kvs[i], &f->kvs[i + 1], (f->n_kvs - i - 1) * sizeof *f->kvs);
        f->n_kvs--;
        break;
      }
  kv_free (kv);
  return true;
}

gb_kv *
gb_duplicate_kv (gb_file *f, const char *key)
{
  gb_kv *kv = gb_find_kv (f, key);
  if (!kv)
    return NULL;
  return gb_append_raw (f, kv->key, kv->key_len, kv->type, kv->payload, kv->payload_len);
}

void
gb_kv_set_key (gb_kv *kv, const void *key, size_t key_len)
{
  free (kv->key);
  kv->key = xmemdup (key, key_len, 1);
  kv->key_len = key_len;
}

/* ---- tensors --------------------------------------------------------------------- */

/* xorshift64*, uniform in [-0.5, 0.5). */
static float
rand_value (uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  uint64_t r = *s * 0x2545f4914f6cdd1dull;
  return (float) (r >> 40) / (float) (1u << 24) - 0.5f;
}

gb_tensor *
gb_add_tensor (gb_file *f, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type)
{
  gb_tensor *t = xmalloc (sizeof *t);
  memset (t, 0, sizeof *t);
  t->name_len = strlen (name);
  t->name = xmemdup (name, t->name_len, 1);
  t->type = type;
  gb_tensor_set_dims (t, n_dims, ne);

  uint64_t n = 1;
  for (uint32_t d = 0; d < n_dims; d++)
    n *= ne[d];
  size_t esize = type == GB_TENSOR_F16 ? 2 : 4;
  t->data_len = (size_t) n * esize;
  t->data = xmalloc (t->data_len);
  for (uint64_t i = 0; i < n; i++)
    {
      float v = rand_value (&f->rng);
      if (type == GB_TENSOR_F16)
        put_le (t->data + 2 * i, gb_f32_to_f16 (v), 2);
      else
        {
          uint32_t u;
          memcpy (&u, &v, 4);
          put_le (t->data + 4 * i, u, 4);
        }
    }
  grow ((void ***) &f->tensors, &f->cap_tens, f->n_tens + 1);
  f->tensors[f->n_tens++] = t;
  return t;
}

gb_tensor *
gb_add_matrix (gb_file *f, const char *name, uint64_t rows, uint64_t cols, uint32_t type)
{
  uint64_t ne[2] = { cols, rows };
  return gb_add_tensor (f, name, 2, ne, type);
}

gb_tensor *
gb_add_vector (gb_file *f, const char *name, uint64_t n, uint32_t type)
{
  return gb_add_tensor (f, name, 1, &n, type);
}

gb_tensor *
gb_find_tensor (gb_file *f, const char *name)
{
  size_t n = strlen (name);
  for (size_t i = 0; i < f->n_tens; i++)
    if (f->tensors[i]->name_len == n && memcmp (f->tensors[i]->name, name, n) == 0)
      return f->tensors[i];
  return NULL;
}

bool
gb_remove_tensor (gb_file *f, const char *name)
{
  gb_tensor *t = gb_find_tensor (f, name);
  if (!t)
    return false;
  for (size_t i = 0; i < f->n_tens; i++)
    if (f->tensors[i] == t)
      {
        memmove (&f->tensors[i], &f->tensors[i + 1], (f->n_tens - i - 1) * sizeof *f->tensors);
        f->n_tens--;
        break;
      }
  tensor_free (t);
  return true;
}

gb_tensor *
gb_duplicate_tensor (gb_file *f, const char *name)
{
  gb_tensor *src = gb_find_tensor (f, name);
  if (!src)
    return NULL;
  gb_tensor *t = xmalloc (sizeof *t);
  *t = *src;
  t->name = xmemdup (src->name, src->name_len, 1);
  t->data = xmemdup (src->data, src->data_len, 0);
  grow ((void ***) &f->tensors, &f->cap_tens, f->n_tens + 1);
  f->tensors[f->n_tens++] = t;
  return t;
}

void
gb_tensor_set_name (gb_tensor *t, const void *name, size_t name_len)
{
  free (t->name);
  t->name = xmemdup (name, name_len, 1);
  t->name_len = name_len;
}

void
gb_tensor_set_dims (gb_tensor *t, uint32_t n_dims, const uint64_t *ne)
{
  memset (t->ne, 0, sizeof t->ne);
  t->n_dims = n_dims;
  for (uint32_t d = 0; d < n_dims && d < GB_MAX_DIMS; d++)
    t->ne[d] = ne[d];
}

/* ---- the tiny MAGVLT model ------------------------------------------------------------ */

gb_magvlt_params
gb_magvlt_default_params (void)
{
  gb_magvlt_params p = {
    .embed_dim = 8,
    .n_layers = 1,
    .n_heads = 2,
    .mlp_hidden = 16,
    .ctx_len_img = 4,
    .ctx_len_txt = 3,
    .vocab_size_img = 5,
    .vocab_size_txt = 7,
    .n_special = 10,
    .text_eot_id = 6,
    .layer_norm_eps = 1e-5f,
    .format_version = 1,
    .seed = 1,
  };
  return p;
}

gb_file *
gb_magvlt_new (const gb_magvlt_params *p)
{
  gb_file *f = gb_new ();
  uint32_t mt = p->f16_matrices ? GB_TENSOR_F16 : GB_TENSOR_F32;
  uint32_t vt = p->f16_vectors ? GB_TENSOR_F16 : GB_TENSOR_F32;
  uint64_t c = p->embed_dim, m = p->mlp_hidden,
           v = (uint64_t) p->vocab_size_img + p->vocab_size_txt;
  uint64_t l = 4 + (uint64_t) p->ctx_len_img + p->ctx_len_txt;

  f->rng ^= p->seed * 0xbf58476d1ce4e5b9ull;
  if (!f->rng)
    f->rng = 1;

  gb_set_str (f, "general.architecture", "magvlt");
  gb_set_str (f, "general.name", "tiny test model");
  gb_set_u32 (f, "magvlt.format_version", p->format_version);
  gb_set_u32 (f, "magvlt.embed_dim", p->embed_dim);
  gb_set_u32 (f, "magvlt.n_layers", p->n_layers);
  gb_set_u32 (f, "magvlt.n_heads", p->n_heads);
  gb_set_u32 (f, "magvlt.mlp_hidden", p->mlp_hidden);
  gb_set_u32 (f, "magvlt.ctx_len_img", p->ctx_len_img);
  gb_set_u32 (f, "magvlt.ctx_len_txt", p->ctx_len_txt);
  gb_set_u32 (f, "magvlt.vocab_size_img", p->vocab_size_img);
  gb_set_u32 (f, "magvlt.vocab_size_txt", p->vocab_size_txt);
  gb_set_u32 (f, "magvlt.n_special", p->n_special);
  gb_set_u32 (f, "magvlt.text_eot_id", p->text_eot_id);
  gb_set_f32 (f, "magvlt.layer_norm_eps", p->layer_norm_eps);

  gb_add_matrix (f, "stage2.tok_emb.weight", v, c, mt);
  gb_add_matrix (f, "stage2.tok_emb_spc.weight", p->n_special, c, mt);
  gb_add_matrix (f, "stage2.pos_emb_img.pos_embed", p->ctx_len_img, c, mt);
  gb_add_matrix (f, "stage2.pos_emb_txt.pos_embed", p->ctx_len_txt, c, mt);
  gb_add_matrix (f, "stage2.pos_emb_spc.pos_embed", l, c, mt);
  for (uint32_t i = 0; i < p->n_layers; i++)
    {
      char name[128];
#define BLK(suffix) (snprintf (name, sizeof name, "stage2.blocks.%u." suffix, i), name)
      gb_add_vector (f, BLK ("ln1.weight"), c, vt);
      gb_add_vector (f, BLK ("ln1.bias"), c, vt);
      gb_add_vector (f, BLK ("ln2.weight"), c, vt);
      gb_add_vector (f, BLK ("ln2.bias"), c, vt);
      gb_add_matrix (f, BLK ("attn.query.weight"), c, c, mt);
      gb_add_vector (f, BLK ("attn.query.bias"), c, vt);
      gb_add_matrix (f, BLK ("attn.key.weight"), c, c, mt);
      gb_add_vector (f, BLK ("attn.key.bias"), c, vt);
      gb_add_matrix (f, BLK ("attn.value.weight"), c, c, mt);
      gb_add_vector (f, BLK ("attn.value.bias"), c, vt);
      gb_add_matrix (f, BLK ("attn.proj.weight"), c, c, mt);
      gb_add_vector (f, BLK ("attn.proj.bias"), c, vt);
      gb_add_matrix (f, BLK ("mlp.0.weight"), m, c, mt);
      gb_add_vector (f, BLK ("mlp.0.bias"), m, vt);
      gb_add_matrix (f, BLK ("mlp.2.weight"), c, m, mt);
      gb_add_vector (f, BLK ("mlp.2.bias"), c, vt);
#undef BLK
    }
  gb_add_matrix (f, "stage2.lm_layer.linear.weight", c, c, mt);
  gb_add_vector (f, "stage2.lm_layer.linear.bias", c, vt);
  gb_add_vector (f, "stage2.lm_layer.ln.weight", c, vt);
  gb_add_vector (f, "stage2.lm_layer.ln.bias", c, vt);
  gb_add_vector (f, "stage2.lm_layer.output_bias", v, vt);
  gb_add_matrix (f, "stage2.length_predictor.weight", p->ctx_len_txt, c, mt);
  return f;
}
