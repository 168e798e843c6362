/* ckpt.c — a checkpoint's state dict: format detection, the torch.save
 * layout (ZIP + data.pkl + data/<key> blobs), and checked tensor views.
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include "ops.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CK_MAX_NUMEL (1ull << 40)

size_t
ck_dtype_size (ck_dtype dt)
{
  switch (dt)
    {
    case CK_DT_F32:
    case CK_DT_I32: return 4;
    case CK_DT_F16:
    case CK_DT_BF16:
    case CK_DT_I16: return 2;
    case CK_DT_F64:
    case CK_DT_I64: return 8;
    case CK_DT_I8:
    case CK_DT_U8:
    case CK_DT_BOOL: return 1;
    case CK_DT_UNKNOWN: return 0;
    }
  return 0;
}

const char *
ck_dtype_name (ck_dtype dt)
{
  switch (dt)
    {
    case CK_DT_F32: return "float32";
    case CK_DT_F16: return "float16";
    case CK_DT_BF16: return "bfloat16";
    case CK_DT_F64: return "float64";
    case CK_DT_I64: return "int64";
    case CK_DT_I32: return "int32";
    case CK_DT_I16: return "int16";
    case CK_DT_I8: return "int8";
    case CK_DT_U8: return "uint8";
    case CK_DT_BOOL: return "bool";
    case CK_DT_UNKNOWN: return "unknown";
    }
  return "unknown";
}

/* ---- mapping ------------------------------------------------------------- */

magvlt_status
ck_map_open (const char *path, ck_map *m)
{
  memset (m, 0, sizeof *m);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mv_fail (MAGVLT_ERR_IO, "cannot open: %s", strerror (errno));
  struct stat sb;
  if (fstat (fd, &sb) != 0 || !S_ISREG (sb.st_mode))
    {
      close (fd);
      return mv_fail (MAGVLT_ERR_IO, "not a regular file");
    }
  if (sb.st_size == 0)
    {
      close (fd);
      return mv_fail (MAGVLT_ERR_FORMAT, "the file is empty");
    }
  m->size = (uint64_t) sb.st_size;
  void *p = mmap (NULL, (size_t) m->size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p != MAP_FAILED)
    {
      m->map = p;
      m->data = p;
      close (fd);
      return MAGVLT_OK;
    }
  /* no mmap (some file systems): read it */
  m->heap = malloc ((size_t) m->size);
  if (!m->heap)
    {
      close (fd);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory reading %llu bytes",
                      (unsigned long long) m->size);
    }
  for (uint64_t done = 0; done < m->size;)
    {
      ssize_t r = read (fd, (char *) m->heap + done, (size_t) (m->size - done));
      if (r <= 0)
        {
          int e = errno;
          close (fd);
          ck_map_close (m);
          return mv_fail (MAGVLT_ERR_IO, "read failed: %s",
                          r == 0 ? "unexpected end" : strerror (e));
        }
      done += (uint64_t) r;
    }
  close (fd);
  m->data = m->heap;
  return MAGVLT_OK;
}

void
ck_map_release (const ck_map *m, const void *p, uint64_t n)
{
  if (!m->map || n == 0)
    return;
  uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t) p + page - 1) & ~(page - 1);
  uintptr_t b = ((uintptr_t) p + (uintptr_t) n) & ~(page - 1);
  if (b > a)
    madvise ((void *) a, b - a, MADV_DONTNEED);
}

void
ck_map_close (ck_map *m)
{
  if (m->map)
    munmap (m->map, (size_t) m->size);
  free (m->heap);
  memset (m, 0, sizeof *m);
}

/* ---- the state dict ------------------------------------------------------ */

static int
cmp_tensor_name (const void *a, const void *b)
{
  return strcmp (((const ck_tensor *) a)->name, ((const ck_tensor *) b)->name);
}

ck_tensor *
ck_file_find (const ck_file *f, const char *name)
{
  for (size_t i = 0; i < f->n_tensors; i++)
    if (strcmp (f->tensors[i].name, name) == 0)
      return &f->tensors[i];
  return NULL;
}

static magvlt_status
check_duplicates (const ck_file *f)
{
  if (f->n_tensors < 2)
    return MAGVLT_OK;
  ck_tensor *s = malloc (f->n_tensors * sizeof *s);
  if (!s)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  memcpy (s, f->tensors, f->n_tensors * sizeof *s);
  qsort (s, f->n_tensors, sizeof *s, cmp_tensor_name);
  for (size_t i = 1; i < f->n_tensors; i++)
    if (strcmp (s[i - 1].name, s[i].name) == 0)
      {
        char q[200];
        ck_quote (s[i].name, strlen (s[i].name), q, sizeof q);
        free (s);
        return mv_fail (MAGVLT_ERR_FORMAT, "the state dict has the key %s twice", q);
      }
  free (s);
  return MAGVLT_OK;
}

static void
shape_str (const int64_t *v, int n, char *buf, size_t len)
{
  size_t o = 0;
  o += (size_t) snprintf (buf, len, "[");
  for (int i = 0; i < n && o < len; i++)
    o += (size_t) snprintf (buf + o, len - o, "%s%lld", i ? ", " : "", (long long) v[i]);
  if (o < len)
    snprintf (buf + o, len - o, "]");
}

/* One state-dict entry of a torch checkpoint → a checked tensor view. */
static magvlt_status
torch_tensor (ck_file *f, const char *prefix, const pv *key, const pv *val, ck_tensor *t)
{
  char name[300], d[200];
  if (key->kind != PV_STR)
    {
      pk_describe (key, d, sizeof d);
      return mv_fail (MAGVLT_ERR_FORMAT, "the state dict has the key %s, which is not a string", d);
    }
  if (key->u.s.n == 0 || key->u.s.n > 255 || memchr (key->u.s.p, 0, key->u.s.n))
    {
      ck_quote (key->u.s.p, key->u.s.n, d, sizeof d);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "the state dict has the key %s (empty, over 255 bytes, or with a NUL)", d);
    }
  if (!(t->name = malloc (key->u.s.n + 1)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  memcpy (t->name, key->u.s.p, key->u.s.n);
  t->name[key->u.s.n] = '\0';
  ck_quote (t->name, key->u.s.n, name, sizeof name);
  if (val->kind != PV_TENSOR)
    {
      pk_describe (val, d, sizeof d);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "state dict entry %s is %s, not a tensor (nothing in it was run: the "
                      "converter never calls what a checkpoint names)",
                      name, d);
    }
  const pv *s = val->u.t.storage;
  char entry[CK_ZIP_MAX_NAME + 80];
  snprintf (entry, sizeof entry, "%sdata/%s", prefix, s->u.st.key);
  ck_zip_entry *e = ck_zip_find (&f->zip, entry);
  if (!e)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "tensor %s: its storage '%s' is not in the archive (damaged or incomplete "
                    "checkpoint)",
                    name, entry);
  const uint8_t *blob;
  magvlt_status st = ck_zip_entry_data (&f->zip, e, &blob);
  if (st != MAGVLT_OK)
    {
      mv_error_prefix ("tensor %s: ", name);
      return st;
    }
  t->blob = e;
  t->dtype = s->u.st.dtype;
  t->n_dims = val->u.t.n_dims;
  memcpy (t->shape, val->u.t.size, sizeof t->shape);
  t->numel = 1;
  for (int i = 0; i < t->n_dims; i++)
    {
      if (t->shape[i] != 0 && t->numel > CK_MAX_NUMEL / (uint64_t) t->shape[i])
        return mv_fail (MAGVLT_ERR_FORMAT, "tensor %s has more than 2^40 elements", name);
      t->numel *= (uint64_t) t->shape[i];
    }
  size_t es = ck_dtype_size (t->dtype);
  if (es == 0)
    {
      /* an unknown storage class: fine unless the converter needs it */
      t->problem = s->u.st.cls;
      return MAGVLT_OK;
    }
  uint64_t snumel = (uint64_t) s->u.st.numel;
  if (snumel > e->size / es)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "tensor %s: its storage record says %llu elements of %s (%llu bytes) but "
                    "'%s' holds %llu bytes",
                    name, (unsigned long long) snumel, ck_dtype_name (t->dtype),
                    (unsigned long long) snumel * es, entry, (unsigned long long) e->size);
  /* the highest element the view touches must lie inside the storage */
  uint64_t last = (uint64_t) val->u.t.offset;
  bool overflow = last > CK_MAX_NUMEL;
  for (int i = 0; i < t->n_dims && t->numel > 0 && !overflow; i++)
    {
      uint64_t span;
      overflow =
        __builtin_mul_overflow ((uint64_t) (t->shape[i] - 1), (uint64_t) val->u.t.stride[i], &span)
        || __builtin_add_overflow (last, span, &last);
    }
  if (t->numel > 0 && (overflow || last >= snumel))
    {
      char sz[120], sd[120];
      shape_str (t->shape, t->n_dims, sz, sizeof sz);
      shape_str (val->u.t.stride, t->n_dims, sd, sizeof sd);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "tensor %s (size %s, stride %s, offset %lld) extends past its storage of "
                      "%llu elements",
                      name, sz, sd, (long long) val->u.t.offset, (unsigned long long) snumel);
    }
  t->data = blob + (uint64_t) val->u.t.offset * es;
  int64_t want = 1;
  for (int i = t->n_dims - 1; i >= 0; i--)
    {
      if (t->shape[i] > 1 && val->u.t.stride[i] != want)
        {
          char sz[120], sd[120], msg[400];
          shape_str (t->shape, t->n_dims, sz, sizeof sz);
          shape_str (val->u.t.stride, t->n_dims, sd, sizeof sd);
          snprintf (msg, sizeof msg,
                    "it is not contiguous (size %s, stride %s); save the state dict again with "
                    "{k: v.contiguous() for k, v in sd.items()}",
                    sz, sd);
          char *p = malloc (strlen (msg) + 1);
          if (!p)
            return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
          strcpy (p, msg);
          t->problem = p;
          t->problem_owned = true;
          t->data = NULL;
          return MAGVLT_OK;
        }
      want *= t->shape[i] ? t->shape[i] : 1;
    }
  return MAGVLT_OK;
}

static bool
all_tensors (const pv *d)
{
  if (!d || d->kind != PV_DICT || d->u.dict.n == 0)
    return false;
  for (size_t i = 0; i < d->u.dict.n; i++)
    if (d->u.dict.v[i]->kind != PV_TENSOR)
      return false;
  return true;
}

static magvlt_status
open_torch (ck_file *f, const pk_limits *limits)
{
  magvlt_status st;
  ck_zip_entry *pkl;
  const uint8_t *pdata;
  const pv *root;

  if ((st = ck_zip_open (f->map.data, f->map.size, &f->zip)) != MAGVLT_OK
      || (st = ck_zip_find_suffix (&f->zip, "data.pkl", &pkl)) != MAGVLT_OK
      || (st = ck_zip_entry_data (&f->zip, pkl, &pdata)) != MAGVLT_OK
      || (st = ck_zip_entry_verify (&f->zip, pkl, NULL)) != MAGVLT_OK)
    return st;
  char prefix[CK_ZIP_MAX_NAME + 1];
  size_t lp = strlen (pkl->name) - strlen ("data.pkl");
  if (lp > CK_ZIP_MAX_NAME)
    return mv_fail (MAGVLT_ERR_FORMAT, "the archive's entry names are too long");
  memcpy (prefix, pkl->name, lp);
  prefix[lp] = '\0';
  if ((st = pk_load (pdata, (size_t) pkl->size, limits, &f->vm, &root)) != MAGVLT_OK)
    {
      mv_error_prefix ("%sdata.pkl: ", prefix);
      return st;
    }

  char d[200];
  if (root->kind != PV_DICT)
    {
      pk_describe (root, d, sizeof d);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "the checkpoint holds %s, not a dict with a state dict (nothing in it was "
                      "run)",
                      d);
    }
  for (size_t i = 0; i < root->u.dict.n && i < 64; i++)
    if (root->u.dict.k[i]->kind == PV_STR)
      f->n_top_keys++;
  f->top_keys = calloc (f->n_top_keys ? f->n_top_keys : 1, sizeof *f->top_keys);
  if (!f->top_keys)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  for (size_t i = 0, j = 0; i < root->u.dict.n && j < f->n_top_keys; i++)
    if (root->u.dict.k[i]->kind == PV_STR)
      {
        const pv *k = root->u.dict.k[i];
        if (!(f->top_keys[j] = malloc (k->u.s.n + 1)))
          return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
        memcpy (f->top_keys[j], k->u.s.p, k->u.s.n);
        f->top_keys[j++][k->u.s.n] = '\0';
      }

  /* Lightning and taming: ckpt["state_dict"]; a bare torch.save(state_dict)
   * has the tensors at the top. */
  const pv *sd = pk_dict_get (root, "state_dict");
  if (!sd && all_tensors (root))
    sd = root;
  if (!sd)
    {
      char keys[400] = "";
      size_t o = 0;
      for (size_t i = 0; i < f->n_top_keys && i < 12 && o < sizeof keys; i++)
        o += (size_t) snprintf (keys + o, sizeof keys - o, "%s%s", i ? ", " : "", f->top_keys[i]);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "the checkpoint has no 'state_dict' (its top-level keys: %s); is it a "
                      "MAGVLT or taming checkpoint?",
                      f->n_top_keys ? keys : "none");
    }
  if (sd->kind == PV_OBJECT && sd->u.obj.items)
    sd = sd->u.obj.items;
  if (sd->kind != PV_DICT)
    {
      pk_describe (sd, d, sizeof d);
      return mv_fail (MAGVLT_ERR_FORMAT, "'state_dict' is %s, not a dict", d);
    }
  f->tensors = calloc (sd->u.dict.n ? sd->u.dict.n : 1, sizeof *f->tensors);
  if (!f->tensors)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < sd->u.dict.n; i++)
    {
      f->n_tensors = i + 1;
      if ((st = torch_tensor (f, prefix, sd->u.dict.k[i], sd->u.dict.v[i], &f->tensors[i]))
          != MAGVLT_OK)
        return st;
    }
  f->n_tensors = sd->u.dict.n;
  return check_duplicates (f);
}

/* torch < 1.6 wrote a sequence of pickles starting with a magic number, and
 * torch < 0.4 a tar archive. */
static bool
legacy_torch (const uint8_t *b, uint64_t n)
{
  static const uint8_t magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                   0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };
  if (n >= sizeof magic && memcmp (b, magic, sizeof magic) == 0)
    return true;
  return n >= 262 && memcmp (b + 257, "ustar", 5) == 0;
}

static magvlt_status
open_any (ck_file *f, const pk_limits *limits)
{
  const uint8_t *b = f->map.data;
  uint64_t n = f->map.size;
  if (ck_zip_sniff (b, n))
    {
      f->format = "PyTorch checkpoint";
      return open_torch (f, limits);
    }
  if (legacy_torch (b, n))
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "this is a legacy PyTorch file (written by torch < 1.6, or with "
                    "_use_new_zipfile_serialization=False), which is unsupported: re-save it with "
                    "torch >= 1.6, e.g. python3 -c \"import torch; torch.save(torch.load('OLD', "
                    "map_location='cpu'), 'NEW.ckpt')\"");
  if (ck_safetensors_sniff (b, n))
    {
      f->format = "safetensors";
      magvlt_status st = ck_safetensors_open (f);
      return st != MAGVLT_OK ? st : check_duplicates (f);
    }
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
    return mv_fail (MAGVLT_ERR_FORMAT, "this is a gzip file; unpack it first");
  if (b[0] == 0x80)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "this is a bare pickle, not a PyTorch checkpoint (a ZIP archive); re-save it "
                    "with torch.save (torch >= 1.6)");
  return mv_fail (MAGVLT_ERR_FORMAT,
                  "not a PyTorch checkpoint (a ZIP archive written by torch.save) or a "
                  "safetensors file");
}

magvlt_status
ck_file_open (const char *path, const pk_limits *limits, ck_file *f)
{
  memset (f, 0, sizeof *f);
  f->path = path;
  magvlt_status st = ck_map_open (path, &f->map);
  if (st == MAGVLT_OK)
    st = open_any (f, limits);
  if (st != MAGVLT_OK)
    {
      mv_error_prefix ("%s: ", path);
      ck_file_close (f);
    }
  return st;
}

magvlt_status
ck_file_open_buffer (const uint8_t *buf, uint64_t size, const char *name, const pk_limits *limits,
                     ck_file *f)
{
  memset (f, 0, sizeof *f);
  f->path = name;
  if (size == 0)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: the file is empty", name);
  f->map.data = buf;
  f->map.size = size;
  magvlt_status st = open_any (f, limits);
  if (st != MAGVLT_OK)
    {
      mv_error_prefix ("%s: ", name);
      ck_file_close (f);
    }
  return st;
}

void
ck_file_close (ck_file *f)
{
  for (size_t i = 0; f->tensors && i < f->n_tensors; i++)
    {
      free (f->tensors[i].name);
      if (f->tensors[i].problem_owned)
        free ((char *) f->tensors[i].problem);
    }
  free (f->tensors);
  for (size_t i = 0; f->top_keys && i < f->n_top_keys; i++)
    free (f->top_keys[i]);
  free (f->top_keys);
  pk_free (f->vm);
  ck_zip_clear (&f->zip);
  ck_safetensors_free (f->json);
  ck_map_close (&f->map);
  memset (f, 0, sizeof *f);
}

magvlt_status
ck_tensor_check (ck_file *f, ck_tensor *t)
{
  char q[300];
  ck_quote (t->name, strlen (t->name), q, sizeof q);
  if (t->problem)
    {
      if (ck_dtype_size (t->dtype) == 0)
        return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                        "%s: tensor %s is stored as %s, which is not a tensor type the "
                        "converter reads (float32, float16, bfloat16, float64)",
                        f->path, q, t->problem);
      return mv_fail (MAGVLT_ERR_UNSUPPORTED, "%s: tensor %s: %s", f->path, q, t->problem);
    }
  if (t->blob && !t->blob->crc_checked)
    {
      /* pages are dropped as the check goes; the conversion reads them
       * again from the page cache */
      magvlt_status st = ck_zip_entry_verify (&f->zip, t->blob, &f->map);
      if (st != MAGVLT_OK)
        {
          mv_error_prefix ("%s: tensor %s: ", f->path, q);
          return st;
        }
    }
  return MAGVLT_OK;
}

void
ck_tensor_read_f32 (const ck_tensor *t, uint64_t first, uint64_t n, float *dst)
{
  size_t es = ck_dtype_size (t->dtype);
  const uint8_t *src = t->data + first * es;
  switch (t->dtype)
    {
    case CK_DT_F32: memcpy (dst, src, (size_t) n * 4); return;
    case CK_DT_F16:
    case CK_DT_BF16:
      {
        /* through an aligned copy: the source may be unaligned */
        uint16_t tmp[2048];
        for (uint64_t i = 0; i < n; i += 2048)
          {
            size_t k = (size_t) (n - i < 2048 ? n - i : 2048);
            memcpy (tmp, src + i * 2, k * 2);
            mv_half_to_f32 (tmp, t->dtype == CK_DT_BF16, dst + i, k);
          }
        return;
      }
    case CK_DT_F64:
      for (uint64_t i = 0; i < n; i++)
        {
          double v;
          memcpy (&v, src + i * 8, 8);
          dst[i] = (float) v;
        }
      return;
    case CK_DT_I64:
      for (uint64_t i = 0; i < n; i++)
        {
          int64_t v;
          memcpy (&v, src + i * 8, 8);
          dst[i] = (float) v;
        }
      return;
    case CK_DT_I32:
      for (uint64_t i = 0; i < n; i++)
        {
          int32_t v;
          memcpy (&v, src + i * 4, 4);
          dst[i] = (float) v;
        }
      return;
    case CK_DT_I16:
      for (uint64_t i = 0; i < n; i++)
        {
          int16_t v;
          memcpy (&v, src + i * 2, 2);
          dst[i] = (float) v;
        }
      return;
    case CK_DT_I8:
      for (uint64_t i = 0; i < n; i++)
        dst[i] = (float) (int8_t) src[i];
      return;
    case CK_DT_U8:
    case CK_DT_BOOL:
      for (uint64_t i = 0; i < n; i++)
        dst[i] = (float) src[i];
      return;
    case CK_DT_UNKNOWN: break;
    }
  memset (dst, 0, (size_t) n * sizeof *dst);
}
