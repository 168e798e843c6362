/* image-io.c — image files for the `magvlt` command-line tool (image-io.h).
 * SPDX-License-Identifier: MIT */
#include "image-io.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

gboolean
cli_check_input_file (const char *path, const char *what, goffset max_size, GError **error)
{
  GStatBuf sb;
  if (g_stat (path, &sb) != 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot open %s %s: %s", what,
                   path, g_strerror (e));
      return FALSE;
    }
  if (S_ISDIR (sb.st_mode))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, "%s %s is a folder", what, path);
      return FALSE;
    }
  if (sb.st_size == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s %s is empty (0 bytes)", what, path);
      return FALSE;
    }
  if (max_size > 0 && sb.st_size > max_size)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s %s is too large (%lld bytes; the limit is %lld)", what, path,
                   (long long) sb.st_size, (long long) max_size);
      return FALSE;
    }
  return TRUE;
}

static gboolean
size_ok (const char *path, const char *what, int w, int h, GError **error)
{
  if (w <= 0 || h <= 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s %s has no pixels (%d x %d)", what,
                   path, w, h);
      return FALSE;
    }
  if (w > CLI_IMAGE_MAX_SIDE || h > CLI_IMAGE_MAX_SIDE || (gint64) w * h > CLI_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s %s is %d x %d pixels; the limit is %d pixels a side and %lld megapixels",
                   what, path, w, h, CLI_IMAGE_MAX_SIDE, (long long) (CLI_IMAGE_MAX_PIXELS >> 20));
      return FALSE;
    }
  return TRUE;
}

GdkPixbuf *
cli_image_read (const char *path, const char *what, GError **error)
{
  if (!cli_check_input_file (path, what, 0, error))
    return NULL;
  /* The size from the header, where the format tells it, before decoding. */
  int w = 0, h = 0;
  if (gdk_pixbuf_get_file_info (path, &w, &h) && w > 0 && h > 0
      && !size_ok (path, what, w, h, error))
    return NULL;
  g_autoptr (GError) load_error = NULL;
  GdkPixbuf *pb = gdk_pixbuf_new_from_file (path, &load_error);
  if (!pb)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "cannot read %s %s: %s", what, path,
                   load_error->message);
      return NULL;
    }
  if (!size_ok (path, what, gdk_pixbuf_get_width (pb), gdk_pixbuf_get_height (pb), error))
    {
      g_object_unref (pb);
      return NULL;
    }
  if (gdk_pixbuf_get_colorspace (pb) != GDK_COLORSPACE_RGB
      || gdk_pixbuf_get_bits_per_sample (pb) != 8
      || gdk_pixbuf_get_n_channels (pb) != (gdk_pixbuf_get_has_alpha (pb) ? 4 : 3))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s %s: unsupported pixel layout", what,
                   path);
      g_object_unref (pb);
      return NULL;
    }
  return pb;
}

void
cli_image_to_rgb (GdkPixbuf *pb, int left, int top, int w, int h, uint8_t *rgb)
{
  int nc = gdk_pixbuf_get_n_channels (pb);
  int stride = gdk_pixbuf_get_rowstride (pb);
  const guint8 *px = gdk_pixbuf_read_pixels (pb);
  for (int y = 0; y < h; y++)
    {
      const guint8 *row = px + (size_t) (top + y) * stride + (size_t) left * nc;
      uint8_t *o = rgb + (size_t) y * w * 3;
      for (int x = 0; x < w; x++, row += nc, o += 3)
        for (int c = 0; c < 3; c++)
          {
            if (nc == 4)
              {
                /* over white: a·v + (1 − a)·255, rounded */
                unsigned a = row[3];
                o[c] = (uint8_t) ((row[c] * a + 255u * (255u - a) + 127u) / 255u);
              }
            else
              o[c] = row[c];
          }
    }
}

uint8_t *
cli_mask_from_pixbuf (GdkPixbuf *pb, int width, int height, gboolean *scaled, gint64 *n_masked)
{
  int mw = gdk_pixbuf_get_width (pb), mh = gdk_pixbuf_get_height (pb);
  int nc = gdk_pixbuf_get_n_channels (pb), stride = gdk_pixbuf_get_rowstride (pb);
  gboolean alpha = gdk_pixbuf_get_has_alpha (pb);
  const guint8 *px = gdk_pixbuf_read_pixels (pb);
  uint8_t *mask = g_malloc ((size_t) width * height);
  int *col = g_new (int, width);
  gint64 n = 0;

  /* nearest neighbour: the source pixel under each target pixel's centre */
  for (int x = 0; x < width; x++)
    col[x] = (int) (((gint64) 2 * x + 1) * mw / ((gint64) 2 * width));
  for (int y = 0; y < height; y++)
    {
      int sy = (int) (((gint64) 2 * y + 1) * mh / ((gint64) 2 * height));
      const guint8 *row = px + (size_t) sy * stride;
      for (int x = 0; x < width; x++)
        {
          const guint8 *p = row + (size_t) col[x] * nc;
          unsigned v;
          if (alpha)
            v = p[3];
          else
            /* luma ×1000, rounded; grey files have R = G = B = the grey value */
            v = (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;
          mask[(size_t) y * width + x] = v >= 128 ? 255 : 0;
          n += v >= 128;
        }
    }
  g_free (col);
  if (scaled)
    *scaled = mw != width || mh != height;
  if (n_masked)
    *n_masked = n;
  return mask;
}

gboolean
cli_png_write_atomic (const char *path, const uint8_t *rgb, int width, int height, size_t stride,
                      char **keys, char **values, GError **error)
{
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new_from_data (rgb, GDK_COLORSPACE_RGB, FALSE, 8, width,
                                                       height, (int) stride, NULL, NULL);
  if (!pb)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "cannot write %s: out of memory", path);
      return FALSE;
    }
  g_autoptr (GPtrArray) k = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; keys && keys[i]; i++)
    g_ptr_array_add (k, g_strdup_printf ("tEXt::%s", keys[i]));
  g_ptr_array_add (k, NULL);

  g_autofree gchar *buf = NULL;
  gsize len = 0;
  g_autoptr (GError) e = NULL;
  if (strcmp (path, "-") == 0)
    {
      /* standard output (`-o -`): the whole image is encoded first, so a
       * failed encode writes nothing */
      if (!gdk_pixbuf_save_to_bufferv (pb, &buf, &len, "png", (char **) k->pdata, values, &e))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                       "cannot write the image to standard output: %s", e->message);
          return FALSE;
        }
      if (fwrite (buf, 1, len, stdout) != len || fflush (stdout) != 0)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                       "cannot write the image to standard output: %s", g_strerror (errno));
          return FALSE;
        }
      return TRUE;
    }
  if (!gdk_pixbuf_save_to_bufferv (pb, &buf, &len, "png", (char **) k->pdata, values, &e)
      /* a temporary file in the same folder, renamed over path */
      || !g_file_set_contents_full (path, buf, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, 0666,
                                    &e))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path,
                   e->message);
      return FALSE;
    }
  return TRUE;
}
