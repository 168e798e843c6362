/* studio-mask.h — the painted mask: an A8 buffer, GTK-free
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define STUDIO_TYPE_MASK (studio_mask_get_type ())
G_DECLARE_FINAL_TYPE (StudioMask, studio_mask, STUDIO, MASK, GObject)

StudioMask *studio_mask_new (int width, int height);
StudioMask *studio_mask_copy (StudioMask *self);
void studio_mask_assign (StudioMask *self, StudioMask *other);
int studio_mask_get_width (StudioMask *self);
int studio_mask_get_height (StudioMask *self);
const guint8 *studio_mask_get_data (StudioMask *self);
guint8 studio_mask_get_pixel (StudioMask *self, int x, int y);
void studio_mask_stroke (StudioMask *self, double x0, double y0, double x1, double y1,
                         double radius, gboolean erase);
void studio_mask_clear (StudioMask *self);
void studio_mask_invert (StudioMask *self);
gboolean studio_mask_is_empty (StudioMask *self);
gboolean studio_mask_get_bbox (StudioMask *self, int *x, int *y, int *width, int *height);
gboolean studio_mask_equal (StudioMask *self, StudioMask *other);
gboolean studio_mask_load_png (StudioMask *self, const char *path, gboolean *resized,
                               GError **error);
gboolean studio_mask_save_png (StudioMask *self, const char *path, GError **error);

G_END_DECLS
