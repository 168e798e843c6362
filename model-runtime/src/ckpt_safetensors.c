/* ckpt_safetensors.c — safetensors input for the converter: an 8-byte
 * little-endian header length, a JSON header (parsed with cJSON) mapping each
 * tensor name to {dtype, shape, data_offsets}, then the raw little-endian
 * data. The same key names as a checkpoint's state dict are expected.
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include "status.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u << 20) /* the limit the safetensors format sets */

static uint64_t
rd64 (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

bool
ck_safetensors_sniff (const uint8_t *buf, uint64_t size)
{
  if (size < 10)
    return false;
  uint64_t n = rd64 (buf);
  return n >= 2 && n <= ST_MAX_HEADER && n <= size - 8 && buf[8] == '{';
}

void
ck_safetensors_free (void *json)
{
  cJSON_Delete (json);
}

static const struct {
  const char *name;
  ck_dtype dt;
} dtypes[] = {
  { "F32", CK_DT_F32 }, { "F16", CK_DT_F16 },   { "BF16", CK_DT_BF16 }, { "F64", CK_DT_F64 },
  { "I64", CK_DT_I64 }, { "I32", CK_DT_I32 },   { "I16", CK_DT_I16 },   { "I8", CK_DT_I8 },
  { "U8", CK_DT_U8 },   { "BOOL", CK_DT_BOOL },
};

/* A JSON number that is an integer in [0, 2^53]. */
static bool
get_uint (const cJSON *j, uint64_t *out)
{
  if (!cJSON_IsNumber (j))
    return false;
  double v = j->valuedouble;
  if (!(v >= 0.0) || v > 9007199254740992.0 || floor (v) != v)
    return false;
  *out = (uint64_t) v;
  return true;
}

static magvlt_status
one_tensor (ck_file *f, const cJSON *item, const uint8_t *data, uint64_t data_size, ck_tensor *t)
{
  char q[300];
  const char *key = item->string ? item->string : "";
  size_t lk = strlen (key);
  ck_quote (key, lk, q, sizeof q);
  if (lk == 0 || lk > 255)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "safetensors header: the tensor name %s is empty or over "
                    "255 bytes",
                    q);
  if (!(t->name = malloc (lk + 1)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  memcpy (t->name, key, lk + 1);
  if (!cJSON_IsObject (item))
    return mv_fail (MAGVLT_ERR_FORMAT, "safetensors header: %s is not an object", q);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive (item, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive (item, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive (item, "data_offsets");
  if (!cJSON_IsString (dt) || !cJSON_IsArray (shape) || !cJSON_IsArray (offs)
      || cJSON_GetArraySize (offs) != 2)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "safetensors header: tensor %s needs \"dtype\" (a string), \"shape\" (an "
                    "array) and \"data_offsets\" ([begin, end])",
                    q);
  int nd = cJSON_GetArraySize (shape);
  if (nd > CK_MAX_DIMS)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "safetensors header: tensor %s has %d dimensions (at most %d)", q, nd,
                    CK_MAX_DIMS);
  t->n_dims = nd;
  t->numel = 1;
  for (int i = 0; i < nd; i++)
    {
      uint64_t v;
      if (!get_uint (cJSON_GetArrayItem (shape, i), &v) || v > (1ull << 40)
          || (v && t->numel > (1ull << 40) / v))
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "safetensors header: tensor %s has a dimension that is not an integer "
                        "in 0 .. 2^40 (or over 2^40 elements in all)",
                        q);
      t->shape[i] = (int64_t) v;
      t->numel *= v;
    }
  uint64_t b, e;
  if (!get_uint (cJSON_GetArrayItem (offs, 0), &b) || !get_uint (cJSON_GetArrayItem (offs, 1), &e)
      || b > e || e > data_size)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "safetensors header: tensor %s has data_offsets outside the %llu data bytes", q,
                    (unsigned long long) data_size);
  t->dtype = CK_DT_UNKNOWN;
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp (dt->valuestring, dtypes[i].name) == 0)
      t->dtype = dtypes[i].dt;
  if (t->dtype == CK_DT_UNKNOWN)
    {
      t->problem = dt->valuestring; /* lives as long as the header */
      return MAGVLT_OK;
    }
  if (e - b != t->numel * ck_dtype_size (t->dtype))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "safetensors header: tensor %s spans %llu bytes, but %llu elements of %s "
                    "need %llu",
                    q, (unsigned long long) (e - b), (unsigned long long) t->numel, dt->valuestring,
                    (unsigned long long) (t->numel * ck_dtype_size (t->dtype)));
  t->data = data + b;
  (void) f;
  return MAGVLT_OK;
}

magvlt_status
ck_safetensors_open (ck_file *f)
{
  const uint8_t *b = f->map.data;
  uint64_t n = rd64 (b);
  cJSON *root = cJSON_ParseWithLength ((const char *) b + 8, (size_t) n);
  if (!root)
    return mv_fail (
      MAGVLT_ERR_FORMAT, "the safetensors header (%llu bytes) is not valid JSON (near byte %lld)",
      (unsigned long long) n,
      cJSON_GetErrorPtr () ? (long long) (cJSON_GetErrorPtr () - (const char *) b) : -1ll);
  f->json = root;
  if (!cJSON_IsObject (root))
    return mv_fail (MAGVLT_ERR_FORMAT, "the safetensors header is not a JSON object");
  const uint8_t *data = b + 8 + n;
  uint64_t data_size = f->map.size - 8 - n;
  size_t count = 0;
  for (const cJSON *it = root->child; it; it = it->next)
    count += !(it->string && strcmp (it->string, "__metadata__") == 0);
  f->tensors = calloc (count ? count : 1, sizeof *f->tensors);
  if (!f->tensors)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  for (const cJSON *it = root->child; it; it = it->next)
    {
      if (it->string && strcmp (it->string, "__metadata__") == 0)
        continue;
      ck_tensor *t = &f->tensors[f->n_tensors++];
      magvlt_status st = one_tensor (f, it, data, data_size, t);
      if (st != MAGVLT_OK)
        return st;
    }
  return MAGVLT_OK;
}
