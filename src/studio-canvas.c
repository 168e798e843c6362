/* studio-canvas.c — the image, the mask overlay and the brush
 *
 * A snapshot-based widget: the image scaled to fit (or zoomed with
 * Ctrl+wheel around the pointer or the window's zoom keys; panned by
 * scrolling, or dragging with the middle button), the mask drawn over it as
 * a tinted texture, and a round brush outline under the pointer. Mouse and
 * touch paint through GtkGestureDrag; pens through GtkGestureStylus, where
 * pressure scales the brush and the eraser end erases (the drag gesture,
 * which sees the pen's presses too, leaves them to it, so a pen stroke is
 * begun once). Consecutive pointer positions are joined by capsules in the
 * mask, so a fast stroke stays continuous. Holding Alt erases temporarily.
 *
 * Signals: "stroke-begin" before a stroke changes the mask (the window
 * records an undo step there).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-canvas.h"

#include <magvlt.h>

#include <math.h>

struct _StudioCanvas {
  GtkWidget parent_instance;

  GdkTexture *image;
  StudioMask *mask;
  GdkTexture *mask_texture; /* tinted overlay, rebuilt lazily */
  gboolean mask_dirty;
  gulong mask_handler;

  double brush_size; /* diameter in image pixels */
  gboolean erasing;
  double overlay_opacity;
  int feather; /* soft-edge preview width in image pixels */
  gboolean show_mask;

  double zoom;         /* 0 = fit */
  double pan_x, pan_y; /* offset of the image in widget pixels when zoomed */
  double pointer_x, pointer_y;
  gboolean pointer_inside;

  /* the stroke in progress, in image coordinates */
  gboolean stroking;
  gboolean stroke_erase;
  gboolean drag_is_pen; /* the drag gesture saw a pen: the stylus gesture paints */
  double last_x, last_y;
  double drag_start_x, drag_start_y;
  double pan_start_x, pan_start_y;
  double pressure;
};

G_DEFINE_FINAL_TYPE (StudioCanvas, studio_canvas, GTK_TYPE_WIDGET)

enum { STROKE_BEGIN, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- geometry ---------------------------------------------------------- */

static double
get_scale (StudioCanvas *self)
{
  int w = gtk_widget_get_width (GTK_WIDGET (self)), h = gtk_widget_get_height (GTK_WIDGET (self));
  int iw, ih;

  if (!self->image)
    return 1.0;
  if (self->zoom > 0)
    return self->zoom;
  iw = gdk_texture_get_width (self->image);
  ih = gdk_texture_get_height (self->image);
  return MIN ((double) w / iw, (double) h / ih);
}

static void
get_origin (StudioCanvas *self, double *ox, double *oy)
{
  double s = get_scale (self);
  int w = gtk_widget_get_width (GTK_WIDGET (self)), h = gtk_widget_get_height (GTK_WIDGET (self));

  *ox = (w - gdk_texture_get_width (self->image) * s) / 2.0 + (self->zoom > 0 ? self->pan_x : 0);
  *oy = (h - gdk_texture_get_height (self->image) * s) / 2.0 + (self->zoom > 0 ? self->pan_y : 0);
}

static void
to_image (StudioCanvas *self, double wx, double wy, double *ix, double *iy)
{
  double ox, oy, s = get_scale (self);

  get_origin (self, &ox, &oy);
  *ix = (wx - ox) / s;
  *iy = (wy - oy) / s;
}

/* ---- drawing ----------------------------------------------------------- */

static void
rebuild_mask_texture (StudioCanvas *self)
{
  int w = studio_mask_get_width (self->mask), h = studio_mask_get_height (self->mask);
  const guint8 *m = studio_mask_get_data (self->mask);
  g_autoptr (GBytes) bytes = NULL;
  guint8 *px = g_malloc ((gsize) w * h * 4);

  /* the weights the result will be pasted with: the soft edge shows as a
   * fade of the tint (magvlt_feather_alpha, the engine's own function) */
  g_autofree float *alpha = self->feather > 0 ? g_try_new (float, (gsize) w *h) : NULL;
  if (alpha && magvlt_feather_alpha (m, w, h, (size_t) w, self->feather, alpha) != MAGVLT_OK)
    g_clear_pointer (&alpha, g_free);

  /* premultiplied RGBA: a red tint where the mask is set */
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      guint8 a = alpha ? (guint8) (alpha[i] * 255.0f + 0.5f) : m[i] >= 128 ? 255 : 0;
      px[i * 4 + 0] = (guint8) (0xe0 * a / 255);
      px[i * 4 + 1] = (guint8) (0x1b * a / 255);
      px[i * 4 + 2] = (guint8) (0x24 * a / 255);
      px[i * 4 + 3] = a;
    }
  bytes = g_bytes_new_take (px, (gsize) w * h * 4);
  g_clear_object (&self->mask_texture);
  self->mask_texture =
    gdk_memory_texture_new (w, h, GDK_MEMORY_R8G8B8A8_PREMULTIPLIED, bytes, (gsize) w * 4);
  self->mask_dirty = FALSE;
}

static void
studio_canvas_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  StudioCanvas *self = STUDIO_CANVAS (widget);
  double ox, oy, s;
  graphene_rect_t r;

  if (!self->image)
    return;
  s = get_scale (self);
  get_origin (self, &ox, &oy);
  r = GRAPHENE_RECT_INIT (ox, oy, gdk_texture_get_width (self->image) * s,
                          gdk_texture_get_height (self->image) * s);
  /* GTK 4.8 scales textures linearly (per-filter scaling came in 4.10) */
  gtk_snapshot_append_texture (snapshot, self->image, &r);

  if (self->mask && self->show_mask && self->overlay_opacity > 0)
    {
      if (self->mask_dirty || !self->mask_texture)
        rebuild_mask_texture (self);
      gtk_snapshot_push_opacity (snapshot, self->overlay_opacity);
      gtk_snapshot_append_texture (snapshot, self->mask_texture, &r);
      gtk_snapshot_pop (snapshot);
    }

  if (self->pointer_inside && self->mask && self->show_mask)
    {
      double radius = self->brush_size * s / 2.0;
      GskRoundedRect circle;
      GdkRGBA dark = { 0, 0, 0, 0.8 }, light = { 1, 1, 1, 0.9 };
      float widths[4] = { 1.5f, 1.5f, 1.5f, 1.5f };
      GdkRGBA darks[4] = { dark, dark, dark, dark }, lights[4] = { light, light, light, light };

      gsk_rounded_rect_init_from_rect (&circle,
                                       &GRAPHENE_RECT_INIT (self->pointer_x - radius,
                                                            self->pointer_y - radius, 2 * radius,
                                                            2 * radius),
                                       (float) radius);
      gtk_snapshot_append_border (snapshot, &circle, widths, self->erasing ? lights : darks);
      gsk_rounded_rect_shrink (&circle, 1.5f, 1.5f, 1.5f, 1.5f);
      gtk_snapshot_append_border (snapshot, &circle, widths, self->erasing ? darks : lights);
    }
}

/* ---- painting ---------------------------------------------------------- */

static void
stroke_to (StudioCanvas *self, double wx, double wy)
{
  double ix, iy;
  double radius = self->brush_size / 2.0 * (self->pressure > 0 ? self->pressure : 1.0);

  to_image (self, wx, wy, &ix, &iy);
  studio_mask_stroke (self->mask, self->last_x, self->last_y, ix, iy, MAX (radius, 0.5),
                      self->stroke_erase);
  self->last_x = ix;
  self->last_y = iy;
}

static void
begin_stroke (StudioCanvas *self, double wx, double wy, gboolean erase)
{
  /* the mask is hidden while a candidate is on show (and while comparing):
   * a stroke then would change a mask nobody can see */
  if (!self->mask || !self->image || !self->show_mask)
    return;
  g_signal_emit (self, signals[STROKE_BEGIN], 0);
  self->stroking = TRUE;
  self->stroke_erase = erase;
  to_image (self, wx, wy, &self->last_x, &self->last_y);
  stroke_to (self, wx, wy);
}

/* Whether the event in progress comes from a pen (it has a device tool). */
static gboolean
event_is_pen (GtkGesture *gesture)
{
  GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (gesture));

  return event && gdk_event_get_device_tool (event) != NULL;
}

static void
on_drag_begin (GtkGestureDrag *gesture, double x, double y, StudioCanvas *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));
  GdkModifierType mods =
    gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));

  self->drag_start_x = x;
  self->drag_start_y = y;
  if (button == GDK_BUTTON_MIDDLE)
    {
      self->pan_start_x = self->pan_x;
      self->pan_start_y = self->pan_y;
      return;
    }
  /* a pen's press reaches this gesture too: GtkGestureStylus paints it,
   * with its pressure (beginning it here as well made two undo steps, and
   * the stylus claiming the press then ended the stroke after one dab) */
  self->drag_is_pen = event_is_pen (GTK_GESTURE (gesture));
  if (self->drag_is_pen)
    return;
  self->pressure = 0;
  /* the canvas takes the keyboard from the caption box, so B, E, [ and ]
   * are tool keys again once one paints */
  gtk_widget_grab_focus (GTK_WIDGET (self));
  begin_stroke (self, x, y, self->erasing || (mods & GDK_ALT_MASK));
}

static void
on_drag_update (GtkGestureDrag *gesture, double dx, double dy, StudioCanvas *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));
  double x = self->drag_start_x + dx, y = self->drag_start_y + dy;

  if (button == GDK_BUTTON_MIDDLE)
    {
      if (self->zoom <= 0)
        self->zoom = get_scale (self);
      self->pan_x = self->pan_start_x + dx;
      self->pan_y = self->pan_start_y + dy;
    }
  else if (self->stroking && !self->drag_is_pen)
    stroke_to (self, x, y);
  self->pointer_x = x;
  self->pointer_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_drag_end (GtkGestureDrag *gesture, double dx, double dy, StudioCanvas *self)
{
  /* a pen's stroke ends with the stylus gesture's "up" */
  if (self->drag_is_pen)
    {
      self->drag_is_pen = FALSE;
      return;
    }
  self->stroking = FALSE;
}

/* The pen's pressure (1 where the device reports none), floored so a light
 * touch still paints. */
static void
read_pressure (GtkGestureStylus *gesture, StudioCanvas *self)
{
  double pressure = 1.0;

  gtk_gesture_stylus_get_axis (gesture, GDK_AXIS_PRESSURE, &pressure);
  self->pressure = CLAMP (pressure, 0.05, 1.0);
}

static void
on_stylus_down (GtkGestureStylus *gesture, double x, double y, StudioCanvas *self)
{
  GdkDeviceTool *tool = gtk_gesture_stylus_get_device_tool (gesture);

  read_pressure (gesture, self);
  gtk_widget_grab_focus (GTK_WIDGET (self));
  begin_stroke (self, x, y,
                self->erasing
                  || (tool && gdk_device_tool_get_tool_type (tool) == GDK_DEVICE_TOOL_TYPE_ERASER));
}

static void
on_stylus_motion (GtkGestureStylus *gesture, double x, double y, StudioCanvas *self)
{
  if (!self->stroking)
    return;
  read_pressure (gesture, self);
  stroke_to (self, x, y);
  self->pointer_x = x;
  self->pointer_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_stylus_up (GtkGestureStylus *gesture, double x, double y, StudioCanvas *self)
{
  self->stroking = FALSE;
  self->pressure = 0;
}

static void
on_motion (GtkEventControllerMotion *motion, double x, double y, StudioCanvas *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  self->pointer_inside = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_leave (GtkEventControllerMotion *motion, StudioCanvas *self)
{
  self->pointer_inside = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Zooms by `factor` keeping the widget point (wx, wy) over the same image
 * point. */
static void
zoom_around (StudioCanvas *self, double factor, double wx, double wy)
{
  double ix, iy, ox, oy;

  to_image (self, wx, wy, &ix, &iy);
  self->zoom = CLAMP (get_scale (self) * factor, 0.02, 64.0);
  self->pan_x = 0;
  self->pan_y = 0;
  get_origin (self, &ox, &oy);
  self->pan_x = wx - (ox + ix * self->zoom);
  self->pan_y = wy - (oy + iy * self->zoom);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
on_scroll (GtkEventControllerScroll *scroll, double dx, double dy, StudioCanvas *self)
{
  GdkModifierType mods =
    gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (scroll));
  /* a wheel click is one unit; a touchpad sends many small surface-pixel
   * deltas, each a small part of a step */
  gboolean wheel = gtk_event_controller_scroll_get_unit (scroll) == GDK_SCROLL_UNIT_WHEEL;

  if (!self->image)
    return FALSE;
  if (mods & GDK_CONTROL_MASK)
    {
      /* 1.25× per wheel click, in proportion for a touchpad (so a swipe is
       * no longer a jump to the zoom limits) */
      double steps = CLAMP (wheel ? dy : dy / 20.0, -4.0, 4.0);
      zoom_around (self, pow (1.25, -steps), self->pointer_x, self->pointer_y);
      return TRUE;
    }
  if (self->zoom <= 0)
    return FALSE; /* the whole image is in view: nothing to scroll to */
  /* scrolling (two fingers on a touchpad, Shift+wheel sideways) pans */
  self->pan_x -= wheel ? dx * 48 : dx;
  self->pan_y -= wheel ? dy * 48 : dy;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

static void
on_mask_changed (StudioMask *mask, int x, int y, int w, int h, StudioCanvas *self)
{
  self->mask_dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- object ------------------------------------------------------------ */

static void
studio_canvas_dispose (GObject *object)
{
  StudioCanvas *self = STUDIO_CANVAS (object);

  studio_canvas_set_mask (self, NULL);
  g_clear_object (&self->image);
  g_clear_object (&self->mask_texture);
  G_OBJECT_CLASS (studio_canvas_parent_class)->dispose (object);
}

static void
studio_canvas_class_init (StudioCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = studio_canvas_dispose;
  widget_class->snapshot = studio_canvas_snapshot;

  signals[STROKE_BEGIN] = g_signal_new ("stroke-begin", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_css_name (widget_class, "studio-canvas");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
studio_canvas_init (StudioCanvas *self)
{
  GtkGesture *drag = gtk_gesture_drag_new ();
  GtkGesture *stylus = gtk_gesture_stylus_new ();
  GtkEventController *motion = gtk_event_controller_motion_new ();
  GtkEventController *scroll =
    gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);

  self->brush_size = 24;
  self->overlay_opacity = 0.5;
  self->show_mask = TRUE;
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);

  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), 0);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (on_drag_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  g_signal_connect (stylus, "down", G_CALLBACK (on_stylus_down), self);
  g_signal_connect (stylus, "motion", G_CALLBACK (on_stylus_motion), self);
  g_signal_connect (stylus, "up", G_CALLBACK (on_stylus_up), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (stylus));

  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "crosshair");
}

GtkWidget *
studio_canvas_new (void)
{
  return g_object_new (STUDIO_TYPE_CANVAS, NULL);
}

void
studio_canvas_set_image (StudioCanvas *self, GdkTexture *image)
{
  g_set_object (&self->image, image);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

GdkTexture *
studio_canvas_get_image (StudioCanvas *self)
{
  return self->image;
}

void
studio_canvas_set_mask (StudioCanvas *self, StudioMask *mask)
{
  if (self->mask)
    {
      g_clear_signal_handler (&self->mask_handler, self->mask);
      g_clear_object (&self->mask);
    }
  if (mask)
    {
      self->mask = g_object_ref (mask);
      self->mask_handler = g_signal_connect (mask, "changed", G_CALLBACK (on_mask_changed), self);
    }
  self->mask_dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
studio_canvas_set_brush_size (StudioCanvas *self, double size)
{
  self->brush_size = CLAMP (size, 1, 1024);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
studio_canvas_get_brush_size (StudioCanvas *self)
{
  return self->brush_size;
}

void
studio_canvas_set_erasing (StudioCanvas *self, gboolean erasing)
{
  self->erasing = erasing;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
studio_canvas_set_overlay_opacity (StudioCanvas *self, double opacity)
{
  self->overlay_opacity = CLAMP (opacity, 0, 1);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
studio_canvas_set_feather (StudioCanvas *self, int feather)
{
  if (self->feather == feather)
    return;
  self->feather = MAX (feather, 0);
  self->mask_dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
studio_canvas_set_show_mask (StudioCanvas *self, gboolean show)
{
  self->show_mask = show;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Zooms in (factor > 1) or out around the view's centre. */
void
studio_canvas_zoom_by (StudioCanvas *self, double factor)
{
  if (!self->image)
    return;
  zoom_around (self, factor, gtk_widget_get_width (GTK_WIDGET (self)) / 2.0,
               gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

/* Image pixels per widget pixel as drawn now. */
double
studio_canvas_get_scale (StudioCanvas *self)
{
  return get_scale (self);
}

void
studio_canvas_zoom_to_fit (StudioCanvas *self)
{
  self->zoom = 0;
  self->pan_x = self->pan_y = 0;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
