/* studio-mask.c — the painted mask: an A8 buffer, GTK-free
 *
 * Pixels are 0 (keep) or 255 (regenerate): the engine regenerates where a
 * mask value is >= 128, so a hard-edged binary mask says exactly what will
 * change; soft edges come from the feather at paste-back time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-mask.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "studio-file.h"

struct _StudioMask {
  GObject parent_instance;
  int width;
  int height;
  guint8 *data;
};

G_DEFINE_FINAL_TYPE (StudioMask, studio_mask, G_TYPE_OBJECT)

enum { CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
studio_mask_finalize (GObject *object)
{
  StudioMask *self = STUDIO_MASK (object);

  g_free (self->data);
  G_OBJECT_CLASS (studio_mask_parent_class)->finalize (object);
}

static void
studio_mask_class_init (StudioMaskClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = studio_mask_finalize;

  /* x, y, width, height of the changed area */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
}

static void
studio_mask_init (StudioMask *self)
{
}

StudioMask *
studio_mask_new (int width, int height)
{
  StudioMask *self;

  g_return_val_if_fail (width > 0 && height > 0, NULL);

  self = g_object_new (STUDIO_TYPE_MASK, NULL);
  self->width = width;
  self->height = height;
  self->data = g_malloc0 ((gsize) width * height);
  return self;
}

StudioMask *
studio_mask_copy (StudioMask *self)
{
  StudioMask *copy = studio_mask_new (self->width, self->height);

  memcpy (copy->data, self->data, (gsize) self->width * self->height);
  return copy;
}

void
studio_mask_assign (StudioMask *self, StudioMask *other)
{
  g_return_if_fail (other->width == self->width && other->height == self->height);

  memcpy (self->data, other->data, (gsize) self->width * self->height);
  g_signal_emit (self, signals[CHANGED], 0, 0, 0, self->width, self->height);
}

int
studio_mask_get_width (StudioMask *self)
{
  return self->width;
}

int
studio_mask_get_height (StudioMask *self)
{
  return self->height;
}

const guint8 *
studio_mask_get_data (StudioMask *self)
{
  return self->data;
}

guint8
studio_mask_get_pixel (StudioMask *self, int x, int y)
{
  if (x < 0 || y < 0 || x >= self->width || y >= self->height)
    return 0;
  return self->data[(gsize) y * self->width + x];
}

/* Paints (or erases) every pixel whose centre lies within radius of the
 * segment (x0, y0)–(x1, y1): a capsule, i.e. a line with round caps, so a
 * fast stroke reported as far-apart points is still continuous. */
void
studio_mask_stroke (StudioMask *self, double x0, double y0, double x1, double y1, double radius,
                    gboolean erase)
{
  double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  int bx0, by0, bx1, by1;

  if (!(radius > 0) || !isfinite (x0 + y0 + x1 + y1 + radius))
    return;

  bx0 = MAX (0, (int) floor (MIN (x0, x1) - radius));
  by0 = MAX (0, (int) floor (MIN (y0, y1) - radius));
  bx1 = MIN (self->width, (int) ceil (MAX (x0, x1) + radius) + 1);
  by1 = MIN (self->height, (int) ceil (MAX (y0, y1) + radius) + 1);
  if (bx0 >= bx1 || by0 >= by1)
    return;

  for (int y = by0; y < by1; y++)
    for (int x = bx0; x < bx1; x++)
      {
        double px = x + 0.5, py = y + 0.5;
        double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0.0;
        double cx, cy;

        t = CLAMP (t, 0.0, 1.0);
        cx = x0 + t * dx - px;
        cy = y0 + t * dy - py;
        if (cx * cx + cy * cy <= radius * radius)
          self->data[(gsize) y * self->width + x] = erase ? 0 : 255;
      }
  g_signal_emit (self, signals[CHANGED], 0, bx0, by0, bx1 - bx0, by1 - by0);
}

void
studio_mask_clear (StudioMask *self)
{
  memset (self->data, 0, (gsize) self->width * self->height);
  g_signal_emit (self, signals[CHANGED], 0, 0, 0, self->width, self->height);
}

void
studio_mask_invert (StudioMask *self)
{
  gsize n = (gsize) self->width * self->height;

  for (gsize i = 0; i < n; i++)
    self->data[i] = self->data[i] >= 128 ? 0 : 255;
  g_signal_emit (self, signals[CHANGED], 0, 0, 0, self->width, self->height);
}

gboolean
studio_mask_is_empty (StudioMask *self)
{
  return !studio_mask_get_bbox (self, NULL, NULL, NULL, NULL);
}

gboolean
studio_mask_get_bbox (StudioMask *self, int *x, int *y, int *width, int *height)
{
  int x0 = self->width, y0 = self->height, x1 = -1, y1 = -1;

  for (int yy = 0; yy < self->height; yy++)
    for (int xx = 0; xx < self->width; xx++)
      if (self->data[(gsize) yy * self->width + xx] >= 128)
        {
          x0 = MIN (x0, xx);
          x1 = MAX (x1, xx);
          y0 = MIN (y0, yy);
          y1 = MAX (y1, yy);
        }
  if (x1 < 0)
    return FALSE;
  if (x)
    *x = x0;
  if (y)
    *y = y0;
  if (width)
    *width = x1 - x0 + 1;
  if (height)
    *height = y1 - y0 + 1;
  return TRUE;
}

gboolean
studio_mask_equal (StudioMask *self, StudioMask *other)
{
  return self->width == other->width && self->height == other->height
         && memcmp (self->data, other->data, (gsize) self->width * self->height) == 0;
}

/* Mask files (design.md): masked where the grey value — or the alpha, when
 * the file has an alpha channel — is >= 128; another size is scaled to the
 * mask's with nearest neighbour (reported through *resized). */
gboolean
studio_mask_load_png (StudioMask *self, const char *path, gboolean *resized, GError **error)
{
  g_autoptr (GdkPixbuf) pixbuf = NULL;
  int w, h, n_channels, stride;
  gboolean alpha;
  const guint8 *px;

  if (!(pixbuf = studio_file_load_pixbuf (path, error)))
    return FALSE;
  w = gdk_pixbuf_get_width (pixbuf);
  h = gdk_pixbuf_get_height (pixbuf);
  n_channels = gdk_pixbuf_get_n_channels (pixbuf);
  alpha = gdk_pixbuf_get_has_alpha (pixbuf);
  stride = gdk_pixbuf_get_rowstride (pixbuf);
  px = gdk_pixbuf_read_pixels (pixbuf);
  if (resized)
    *resized = w != self->width || h != self->height;

  /* exactly as `magvlt inpaint --mask` reads a mask (tools/image-io.c,
   * cli_mask_from_pixbuf), so one file selects the same pixels in both: the
   * source pixel under each target pixel's centre; alpha when there is one,
   * else luma (so pure green counts as painted, as it looks) */
  for (int y = 0; y < self->height; y++)
    for (int x = 0; x < self->width; x++)
      {
        int sx = (int) (((gint64) 2 * x + 1) * w / ((gint64) 2 * self->width));
        int sy = (int) (((gint64) 2 * y + 1) * h / ((gint64) 2 * self->height));
        const guint8 *p = px + (gsize) sy * stride + (gsize) sx * n_channels;
        unsigned v =
          alpha ? p[n_channels - 1] : (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;

        self->data[(gsize) y * self->width + x] = v >= 128 ? 255 : 0;
      }
  g_signal_emit (self, signals[CHANGED], 0, 0, 0, self->width, self->height);
  return TRUE;
}

gboolean
studio_mask_save_png (StudioMask *self, const char *path, GError **error)
{
  g_autoptr (GdkPixbuf) pixbuf =
    gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, self->width, self->height);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  guint8 *px = gdk_pixbuf_get_pixels (pixbuf);

  for (int y = 0; y < self->height; y++)
    for (int x = 0; x < self->width; x++)
      memset (px + (gsize) y * stride + (gsize) x * 3, self->data[(gsize) y * self->width + x], 3);
  return studio_file_save_pixbuf (pixbuf, path, NULL, NULL, error);
}
