/* studio-file.h — reading and writing image files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gdk-pixbuf/gdk-pixbuf.h>

G_BEGIN_DECLS

#define STUDIO_MAX_IMAGE_SIDE 16384
#define STUDIO_MAX_IMAGE_PIXELS (64 * 1024 * 1024)

/* Whether an image of width × height may be opened (STUDIO_MAX_IMAGE_*);
 * `what` begins the message: "The clipboard image", or a quoted file name. */
gboolean studio_file_check_size (const char *what, int width, int height, GError **error);
GdkPixbuf *studio_file_load_pixbuf (const char *path, GError **error);
GdkPixbuf *studio_file_flatten (GdkPixbuf *pixbuf, GError **error);
/* Whether any pixel is not fully opaque (what flattening changes). */
gboolean studio_file_has_transparency (GdkPixbuf *pixbuf);
gboolean studio_file_save_pixbuf (GdkPixbuf *pixbuf, const char *path, const char *const *keys,
                                  const char *const *values, GError **error);

G_END_DECLS
