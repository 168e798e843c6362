/* studio-canvas.h — the image, the mask overlay and the brush
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "studio-mask.h"

G_BEGIN_DECLS

#define STUDIO_TYPE_CANVAS (studio_canvas_get_type ())
G_DECLARE_FINAL_TYPE (StudioCanvas, studio_canvas, STUDIO, CANVAS, GtkWidget)

GtkWidget *studio_canvas_new (void);
void studio_canvas_set_image (StudioCanvas *self, GdkTexture *image);
GdkTexture *studio_canvas_get_image (StudioCanvas *self);
void studio_canvas_set_mask (StudioCanvas *self, StudioMask *mask);
void studio_canvas_set_brush_size (StudioCanvas *self, double size);
double studio_canvas_get_brush_size (StudioCanvas *self);
void studio_canvas_set_erasing (StudioCanvas *self, gboolean erasing);
void studio_canvas_set_overlay_opacity (StudioCanvas *self, double opacity);
void studio_canvas_set_feather (StudioCanvas *self, int feather);
void studio_canvas_set_show_mask (StudioCanvas *self, gboolean show);
void studio_canvas_zoom_to_fit (StudioCanvas *self);
void studio_canvas_zoom_by (StudioCanvas *self, double factor);
double studio_canvas_get_scale (StudioCanvas *self);

G_END_DECLS
