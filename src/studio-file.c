/* studio-file.c — reading and writing image files
 *
 * Reading checks that the path is a readable, non-empty regular file (a FIFO
 * would block forever) and the size in the file's header before decoding, so
 * a 30000×30000 file is refused without allocating gigabytes. Writing is
 * atomic: the PNG is encoded in memory, written to a temporary file in the
 * same folder, synced to disk and renamed over the target, so an interrupted
 * save (or a power cut) never leaves a truncated image behind; a replaced
 * file keeps its permissions. Messages name files as the user sees them
 * (g_filename_display_name), whatever their encoding.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
studio_file_check_size (const char *what, int width, int height, GError **error)
{
  if (width < 1 || height < 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _ ("%s has no pixels (%d × %d)"),
                   what, width, height);
      return FALSE;
    }
  if (width > STUDIO_MAX_IMAGE_SIDE || height > STUDIO_MAX_IMAGE_SIDE
      || (gint64) width * height > STUDIO_MAX_IMAGE_PIXELS)
    {
      g_set_error (
        error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        _ ("%s is too large (%d × %d pixels; at most %d pixels a side and %d megapixels)"), what,
        width, height, STUDIO_MAX_IMAGE_SIDE, STUDIO_MAX_IMAGE_PIXELS >> 20);
      return FALSE;
    }
  return TRUE;
}

/* The file as decoded, with alpha if it has one, EXIF orientation applied. */
GdkPixbuf *
studio_file_load_pixbuf (const char *path, GError **error)
{
  g_autoptr (GdkPixbuf) pixbuf = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *name = g_filename_display_name (path);
  /* TRANSLATORS: a file name in a sentence */
  g_autofree char *subject = g_strdup_printf (_ ("“%s”"), name);
  int width = 0, height = 0;
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   saved == ENOENT ? _ ("“%s” does not exist") : _ ("Cannot open “%s”: %s"), name,
                   g_strerror (saved));
      return NULL;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, _ ("“%s” is a folder, not an image"),
                   name);
      return NULL;
    }
  if (!S_ISREG (st.st_mode) || st.st_size == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   S_ISREG (st.st_mode) ? _ ("“%s” is empty") : _ ("“%s” is not a regular file"),
                   name);
      return NULL;
    }
  if (g_access (path, R_OK) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _ ("Cannot open “%s”: %s"),
                   name, g_strerror (saved));
      return NULL;
    }
  if (!gdk_pixbuf_get_file_info (path, &width, &height))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _ ("“%s” is not an image this system can read"), name);
      return NULL;
    }
  if (!studio_file_check_size (subject, width, height, error))
    return NULL;
  if (!(pixbuf = gdk_pixbuf_new_from_file (path, &local_error)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _ ("Could not read “%s”: %s"), name,
                   local_error->message);
      return NULL;
    }
  if (!studio_file_check_size (subject, gdk_pixbuf_get_width (pixbuf),
                               gdk_pixbuf_get_height (pixbuf), error))
    return NULL;
  return gdk_pixbuf_apply_embedded_orientation (pixbuf);
}

/* 8-bit RGB without alpha: transparent parts composited over white (the
 * emoji-style images the default model knows have white backgrounds). */
GdkPixbuf *
studio_file_flatten (GdkPixbuf *pixbuf, GError **error)
{
  int w = gdk_pixbuf_get_width (pixbuf), h = gdk_pixbuf_get_height (pixbuf);
  GdkPixbuf *rgb;

  if (!studio_file_check_size (_ ("The image"), w, h, error))
    return NULL;
  if (gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB
      || gdk_pixbuf_get_bits_per_sample (pixbuf) != 8)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _ ("Only 8-bit RGB images are supported"));
      return NULL;
    }
  if (!(rgb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, _ ("Not enough memory for the image"));
      return NULL;
    }
  gdk_pixbuf_fill (rgb, 0xffffffff);
  if (gdk_pixbuf_get_has_alpha (pixbuf))
    gdk_pixbuf_composite (pixbuf, rgb, 0, 0, w, h, 0, 0, 1, 1, GDK_INTERP_NEAREST, 255);
  else
    gdk_pixbuf_copy_area (pixbuf, 0, 0, w, h, rgb, 0, 0);
  return rgb;
}

gboolean
studio_file_has_transparency (GdkPixbuf *pixbuf)
{
  int w = gdk_pixbuf_get_width (pixbuf), h = gdk_pixbuf_get_height (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf), n = gdk_pixbuf_get_n_channels (pixbuf);
  const guint8 *px = gdk_pixbuf_read_pixels (pixbuf);

  if (!gdk_pixbuf_get_has_alpha (pixbuf))
    return FALSE;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (px[(gsize) y * stride + (gsize) x * n + n - 1] != 255)
        return TRUE;
  return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize size)
{
  while (size > 0)
    {
      gssize n = write (fd, data, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      size -= (gsize) n;
    }
  return TRUE;
}

gboolean
studio_file_save_pixbuf (GdkPixbuf *pixbuf, const char *path, const char *const *keys,
                         const char *const *values, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *dir_name = g_filename_display_name (dir);
  g_autofree char *name = g_filename_display_name (path);
  g_autofree char *tmpl = g_build_filename (dir, ".magvlt-save-XXXXXX", NULL);
  g_autoptr (GPtrArray) opt_keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) opt_values = g_ptr_array_new ();
  g_autoptr (GError) local_error = NULL;
  g_autofree char *png = NULL;
  gsize png_size = 0;
  GStatBuf st;
  gboolean replacing = g_stat (path, &st) == 0 && S_ISREG (st.st_mode);
  int fd, saved;

  for (int i = 0; keys && keys[i]; i++)
    {
      /* PNG tEXt keywords are Latin-1, 1–79 characters */
      g_ptr_array_add (opt_keys, g_strdup_printf ("tEXt::%s", keys[i]));
      g_ptr_array_add (opt_values, (gpointer) values[i]);
    }
  g_ptr_array_add (opt_keys, NULL);
  g_ptr_array_add (opt_values, NULL);

  if (!gdk_pixbuf_save_to_bufferv (pixbuf, &png, &png_size, "png", (char **) opt_keys->pdata,
                                   (char **) opt_values->pdata, &local_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("Could not save “%s”: %s"), name,
                   local_error->message);
      return FALSE;
    }
  /* a new file gets 0666 less the umask (open applies it), as any program's
   * would; a replaced one keeps its own permissions */
  if ((fd = g_mkstemp_full (tmpl, O_WRONLY, 0666)) < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _ ("Cannot write to the folder “%s”: %s"), dir_name, g_strerror (saved));
      return FALSE;
    }
  if (replacing)
    fchmod (fd, st.st_mode & 07777);
  if (!write_all (fd, png, png_size) || fsync (fd) != 0)
    {
      saved = errno;
      close (fd);
      g_unlink (tmpl);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _ ("Could not save “%s”: %s"),
                   name, g_strerror (saved));
      return FALSE;
    }
  if (close (fd) != 0 || g_rename (tmpl, path) != 0)
    {
      saved = errno;
      g_unlink (tmpl);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _ ("Could not save “%s”: %s"),
                   name, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
