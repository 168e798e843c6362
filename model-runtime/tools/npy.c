/* npy.c — NumPy .npy files, format 1.0: magic "\x93NUMPY", version 1.0, a
 * u16 header length, a Python-dict header padded with spaces to a multiple
 * of 64 bytes and ending in '\n', then the raw data.
 * SPDX-License-Identifier: MIT */
#include "npy.h"

#include <string.h>

gboolean
npy_write_f32 (const char *path, const float *data, int n_dims, const int64_t *shape,
               GError **error)
{
  g_autoptr (GString) h = g_string_new ("{'descr': '<f4', 'fortran_order': False, 'shape': (");
  gsize n = 1;
  for (int d = 0; d < n_dims; d++)
    {
      g_string_append_printf (h, "%" G_GINT64_FORMAT "%s", shape[d],
                              n_dims == 1      ? ","
                              : d + 1 < n_dims ? ", "
                                               : "");
      n *= (gsize) shape[d];
    }
  g_string_append (h, "), }");
  while ((10 + h->len + 1) % 64 != 0)
    g_string_append_c (h, ' ');
  g_string_append_c (h, '\n');

  g_autoptr (GByteArray) buf = g_byte_array_sized_new (10 + h->len + n * 4);
  guint8 pre[10] = {
    0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (guint8) (h->len & 0xff), (guint8) (h->len >> 8)
  };
  g_byte_array_append (buf, pre, 10);
  g_byte_array_append (buf, (const guint8 *) h->str, (guint) h->len);
  g_byte_array_append (buf, (const guint8 *) data, (guint) (n * 4));
  return g_file_set_contents (path, (const char *) buf->data, (gssize) buf->len, error);
}

static gboolean
fail (GError **error, const char *path, const char *what)
{
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a supported .npy file: %s", path,
               what);
  return FALSE;
}

gboolean
npy_read (const char *path, npy_array *out, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  memset (out, 0, sizeof *out);
  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  if (len < 10 || memcmp (contents, "\x93NUMPY", 6) != 0 || contents[6] != 1)
    return fail (error, path, "bad magic or version (only format 1.0 is read)");
  gsize hlen = (guint8) contents[8] | ((gsize) (guint8) contents[9] << 8);
  if (10 + hlen > len)
    return fail (error, path, "truncated header");
  g_autofree char *header = g_strndup (contents + 10, hlen);

  if (strstr (header, "'descr': '<f4'"))
    out->dtype = NPY_F32;
  else if (strstr (header, "'descr': '<i8'"))
    out->dtype = NPY_I64;
  else
    return fail (error, path, "dtype is neither <f4 nor <i8");
  if (!strstr (header, "'fortran_order': False"))
    return fail (error, path, "Fortran order");
  const char *s = strstr (header, "'shape': (");
  if (!s)
    return fail (error, path, "no shape");
  s += strlen ("'shape': (");
  out->n_elements = 1;
  while (*s && *s != ')')
    {
      char *end;
      gint64 v = g_ascii_strtoll (s, &end, 10);
      if (end == s || v < 0 || out->n_dims == NPY_MAX_DIMS)
        return fail (error, path, "bad shape");
      out->shape[out->n_dims++] = v;
      out->n_elements *= v;
      s = end;
      while (*s == ',' || *s == ' ')
        s++;
    }
  gsize esize = out->dtype == NPY_F32 ? 4 : 8;
  if ((gsize) out->n_elements * esize != len - 10 - hlen)
    return fail (error, path, "data size does not match the shape");
  out->data = g_memdup2 (contents + 10 + hlen, (gsize) out->n_elements * esize);
  return TRUE;
}

void
npy_array_clear (npy_array *a)
{
  g_free (a->data);
  memset (a, 0, sizeof *a);
}
