/* studio-window-actions.c — every user-visible operation as a GAction
 *
 * The actions live in the window's own GActionMap, so GTK exports them on
 * the session bus (/org/magvlt/Studio/window/N, org.gtk.Actions): the
 * end-to-end tests drive the app through them. Read-only observer actions
 * (busy, progress, caption-text, …) carry state for those tests and refuse
 * changes from outside.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "studio-window-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "studio-file.h"

#define SELF STUDIO_WINDOW (user_data)

static void
studio_window_set_action_state (StudioWindow *self, const char *name, GVariant *value)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  if (action)
    g_simple_action_set_state (G_SIMPLE_ACTION (action), value);
  else
    g_variant_unref (g_variant_ref_sink (value));
}

void
studio_window_set_observer (StudioWindow *self, const char *name, GVariant *value)
{
  studio_window_set_action_state (self, name, value);
}

static gboolean
is_busy (StudioWindow *self)
{
  return self->cancellable != NULL;
}

static void
enable (StudioWindow *self, const char *name, gboolean enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  if (action)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

void
studio_window_sync_sensitivity (StudioWindow *self)
{
  gboolean busy = is_busy (self), model = studio_worker_has_model (self->worker);
  gboolean image = self->image != NULL, pending = self->pending != NULL;
  const char *image_jobs[] = { "caption", "inpaint", "edit", "infill" };
  const char *mask_ops[] = { "clear-mask", "invert-mask", "load-mask", "save-mask" };

  for (gsize i = 0; i < G_N_ELEMENTS (image_jobs); i++)
    enable (self, image_jobs[i], !busy && model && image);
  enable (self, "generate", !busy && model);
  enable (self, "primary", !busy && model);
  /* the main button names what Ctrl+Return does (only when that changes:
   * this runs after every stroke) */
  if (g_strcmp0 (adw_split_button_get_label (self->primary_button),
                 image ? _ ("_Inpaint") : _ ("_Generate"))
      != 0)
    {
      adw_split_button_set_label (self->primary_button, image ? _ ("_Inpaint") : _ ("_Generate"));
      gtk_widget_set_tooltip_text (
        GTK_WIDGET (self->primary_button),
        image ? _ ("Regenerate the painted region from the caption (Ctrl+Return)")
              : _ ("Generate an image from the caption (Ctrl+Return)"));
    }
  enable (self, "joint", !busy && model);
  enable (self, "cancel", busy);
  for (gsize i = 0; i < G_N_ELEMENTS (mask_ops); i++)
    enable (self, mask_ops[i], image && !pending);
  enable (self, "save-as", image && !busy);
  enable (self, "zoom-in", image);
  enable (self, "zoom-out", image);
  enable (self, "zoom-fit", image);
  enable (self, "copy-result", image || pending);
  enable (self, "accept-result", pending);
  enable (self, "discard-result", pending);
  enable (self, "reuse-seed", pending);
  enable (self, "next-candidate", pending && self->pending->candidates->len > 1);
  enable (self, "previous-candidate", pending && self->pending->candidates->len > 1);
  enable (self, "undo", !busy && self->undo && self->undo->len > 0);
  enable (self, "redo", !busy && self->redo && self->redo->len > 0);
  enable (self, "open", !busy);
  enable (self, "paste-image", !busy);
  enable (self, "use-model", !busy);
  enable (self, "import-model", !busy);
}

/* ---- files ------------------------------------------------------------- */

/* The actions that take a path, or show a file dialog when it is empty. */
static void
open_path (StudioWindow *self, const char *path)
{
  studio_window_open_path (self, path);
}

/* Images and masks are saved as PNG (only PNG carries the text chunks that
 * say how an image was made): a name without an extension gets ".png",
 * unless that names an existing file the dialog never asked about; any
 * other extension is refused rather than written as PNG under a
 * misleading name. NULL with a message for the user. */
static char *
png_path_for (StudioWindow *self, const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *dot = strrchr (base, '.');
  g_autofree char *with_ext = NULL;

  if (dot && dot != base && g_ascii_strcasecmp (dot, ".png") == 0)
    return g_strdup (path);
  if (dot && dot != base)
    {
      g_autofree char *msg = g_strdup_printf (
        _ ("“%s” is not a PNG file name: images and masks are saved as PNG. Choose a name "
           "ending in .png"),
        base);
      studio_window_error (self, msg);
      return NULL;
    }
  with_ext = g_strconcat (path, ".png", NULL);
  if (g_file_test (with_ext, G_FILE_TEST_EXISTS))
    {
      g_autofree char *name = g_path_get_basename (with_ext);
      g_autofree char *msg =
        g_strdup_printf (_ ("“%s” already exists: choose it by its full name to replace it"), name);
      studio_window_error (self, msg);
      return NULL;
    }
  return g_steal_pointer (&with_ext);
}

static void
save_path (StudioWindow *self, const char *path)
{
  /* the opened file is only replaced through an explicit path, or a choice
   * in the dialog, which asks before overwriting */
  g_autofree char *png = png_path_for (self, path);

  if (png)
    studio_window_save_path (self, png);
}

static void
load_mask_path (StudioWindow *self, const char *path)
{
  g_autoptr (StudioMask) loaded = NULL;
  g_autoptr (GError) error = NULL;
  gboolean resized = FALSE;

  if (!self->mask)
    return;
  loaded =
    studio_mask_new (studio_mask_get_width (self->mask), studio_mask_get_height (self->mask));
  if (!studio_mask_load_png (loaded, path, &resized, &error))
    {
      studio_window_error (self, error->message);
      return;
    }
  studio_window_push_undo (self);
  studio_mask_assign (self->mask, loaded);
  if (resized)
    studio_window_toast (self, _ ("The mask was scaled to the image’s size"));
}

static void
save_mask_path (StudioWindow *self, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *png = png_path_for (self, path);

  if (png && self->mask && !studio_mask_save_png (self->mask, png, &error))
    studio_window_error (self, error->message);
}

static const struct {
  const char *action;
  void (*handle) (StudioWindow *self, const char *path);
  const char *title;
  GtkFileChooserAction mode;
} file_actions[] = {
  { "open", open_path, N_ ("Open Image"), GTK_FILE_CHOOSER_ACTION_OPEN },
  { "save-as", save_path, N_ ("Save Image As"), GTK_FILE_CHOOSER_ACTION_SAVE },
  { "use-model", studio_window_use_model, N_ ("Use a Model File"), GTK_FILE_CHOOSER_ACTION_OPEN },
  { "import-model", studio_window_import_model, N_ ("Import Official MAGVLT Checkpoint"),
    GTK_FILE_CHOOSER_ACTION_OPEN },
  { "load-mask", load_mask_path, N_ ("Load Mask"), GTK_FILE_CHOOSER_ACTION_OPEN },
  { "save-mask", save_mask_path, N_ ("Save Mask"), GTK_FILE_CHOOSER_ACTION_SAVE },
};

static void
on_file_dialog_response (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);
      guint i = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (dialog), "file-action"));

      if (path)
        file_actions[i].handle (SELF, path);
      else
        {
          /* a place without a local path (a phone over MTP, sftp without FUSE) */
          g_autofree char *uri = g_file_get_uri (file);
          g_autofree char *msg = g_strdup_printf (_ ("Only local files can be used: %s"), uri);

          studio_window_error (SELF, msg);
        }
    }
  g_object_unref (dialog);
}

/* A save dialog starts in the image's folder with its name as a PNG
 * ("photo.jpg" → "photo.png", the mask "photo-mask.png"; "Untitled.png"
 * for an image saved nowhere yet), and shows PNG files. */
static void
suggest_png_name (StudioWindow *self, GtkFileChooser *chooser, gboolean mask)
{
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();
  g_autofree char *stem = NULL;
  g_autofree char *name = NULL;

  gtk_file_filter_set_name (filter, _ ("PNG images"));
  gtk_file_filter_add_mime_type (filter, "image/png");
  gtk_file_chooser_add_filter (chooser, filter);
  if (self->image_path)
    {
      g_autofree char *base = g_path_get_basename (self->image_path);
      g_autofree char *dir = g_path_get_dirname (self->image_path);
      g_autoptr (GFile) folder = g_file_new_for_path (dir);
      char *dot = strrchr (base, '.');

      if (dot && dot != base)
        *dot = '\0';
      stem = g_strdup (base);
      gtk_file_chooser_set_current_folder (chooser, folder, NULL);
    }
  else
    stem = g_strdup (_ ("Untitled"));
  name = g_strconcat (stem, mask ? "-mask" : "", ".png", NULL);
  gtk_file_chooser_set_current_name (chooser, name);
}

static void
file_action_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *name = g_action_get_name (G_ACTION (action));
  const char *path = g_variant_get_string (param, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (file_actions); i++)
    {
      GtkFileChooserNative *dialog;

      if (!g_str_equal (name, file_actions[i].action))
        continue;
      if (*path)
        {
          file_actions[i].handle (SELF, path);
          return;
        }
      dialog = gtk_file_chooser_native_new (_ (file_actions[i].title), GTK_WINDOW (SELF),
                                            file_actions[i].mode, NULL, NULL);
      if (file_actions[i].mode == GTK_FILE_CHOOSER_ACTION_SAVE)
        suggest_png_name (SELF, GTK_FILE_CHOOSER (dialog), g_str_equal (name, "save-mask"));
      g_object_set_data (G_OBJECT (dialog), "file-action", GUINT_TO_POINTER (i));
      gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
      g_signal_connect (dialog, "response", G_CALLBACK (on_file_dialog_response), SELF);
      gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
      return;
    }
}

static void
on_paste_ready (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (StudioWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkTexture) texture =
    gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), res, &error);
  g_autoptr (GdkPixbuf) rgb = NULL;
  g_autofree guint8 *bgra = NULL;
  int w, h;

  if (!texture)
    {
      studio_window_error (self, _ ("The clipboard holds no image"));
      return;
    }
  /* the limits Open applies, before any copy of the pixels */
  w = gdk_texture_get_width (texture);
  h = gdk_texture_get_height (texture);
  if (!studio_file_check_size (_ ("The clipboard image"), w, h, &error))
    {
      studio_window_error (self, error->message);
      return;
    }
  /* straight to 8-bit RGB over white (as opened files are flattened), with
   * no PNG round trip: the download is premultiplied, so over white each
   * channel is its value plus 255 - alpha */
  if (!(bgra = g_try_malloc ((gsize) w * h * 4))
      || !(rgb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h)))
    {
      studio_window_error (self, _ ("Not enough memory for the image"));
      return;
    }
  gdk_texture_download (texture, bgra, (gsize) w * 4);
  {
    guint8 *out = gdk_pixbuf_get_pixels (rgb);
    int stride = gdk_pixbuf_get_rowstride (rgb);

    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        {
          const guint8 *p = bgra + ((gsize) y * w + x) * 4;
          guint8 *q = out + (gsize) y * stride + (gsize) x * 3;
          /* GDK_MEMORY_DEFAULT: B, G, R, A in memory on little-endian
           * machines, A, R, G, B on big-endian ones */
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
          int r = p[2], g = p[1], b = p[0], white = 255 - p[3];
#else
          int r = p[1], g = p[2], b = p[3], white = 255 - p[0];
#endif

          q[0] = (guint8) MIN (255, r + white);
          q[1] = (guint8) MIN (255, g + white);
          q[2] = (guint8) MIN (255, b + white);
        }
  }
  /* like opening a file: a new unsaved image, asking first when that would
   * lose work */
  studio_window_replace_image (self, rgb, NULL);
}

static void
paste_image_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (SELF));

  gdk_clipboard_read_texture_async (clipboard, NULL, on_paste_ready, g_object_ref (SELF));
}

static void
copy_result_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;
  GdkPixbuf *image = self->image;
  g_autoptr (GdkTexture) texture = NULL;

  if (self->pending)
    {
      StudioCandidate *c =
        &g_array_index (self->pending->candidates, StudioCandidate, self->candidate_index);
      if (c->image)
        image = c->image;
    }
  if (!image)
    return;
  texture = gdk_texture_new_for_pixbuf (image);
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (self)), texture);
}

/* ---- mask -------------------------------------------------------------- */

static void
mask_op_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;
  const char *name = g_action_get_name (G_ACTION (action));

  if (!self->mask)
    return;
  studio_window_push_undo (self);
  if (g_str_equal (name, "clear-mask"))
    studio_mask_clear (self->mask);
  else
    studio_mask_invert (self->mask);
  studio_window_set_dirty (self, TRUE);
}

static void
undo_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  studio_window_undo (SELF, g_str_equal (g_action_get_name (G_ACTION (action)), "redo"));
}

/* ---- stateful settings ------------------------------------------------- */

static GtkAdjustment *
adjustment_for (StudioWindow *self, const char *name)
{
  if (g_str_equal (name, "brush-size"))
    return self->brush_adjustment;
  if (g_str_equal (name, "feather"))
    return self->feather_adjustment;
  if (g_str_equal (name, "overlay-opacity"))
    return self->opacity_adjustment;
  if (g_str_equal (name, "steps"))
    return self->steps_adjustment;
  if (g_str_equal (name, "candidates-per-run"))
    return self->candidates_adjustment;
  if (g_str_equal (name, "seed"))
    return self->seed_adjustment;
  if (g_str_equal (name, "strength"))
    return self->strength_adjustment;
  return NULL;
}

static void
setting_change_state (GSimpleAction *action, GVariant *value, gpointer user_data)
{
  StudioWindow *self = SELF;
  GtkAdjustment *adj = adjustment_for (self, g_action_get_name (G_ACTION (action)));
  double v = g_variant_is_of_type (value, G_VARIANT_TYPE_INT32) ? g_variant_get_int32 (value)
                                                                : g_variant_get_double (value);

  v = CLAMP (v, gtk_adjustment_get_lower (adj), gtk_adjustment_get_upper (adj));
  g_simple_action_set_state (action, g_variant_is_of_type (value, G_VARIANT_TYPE_INT32)
                                       ? g_variant_new_int32 ((gint32) v)
                                       : g_variant_new_double (v));
  if (!self->updating)
    {
      self->updating = TRUE;
      gtk_adjustment_set_value (adj, v);
      self->updating = FALSE;
    }
}

static void
on_adjustment_changed (GtkAdjustment *adj, StudioWindow *self)
{
  const char *name = g_object_get_data (G_OBJECT (adj), "action");
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);
  double v = gtk_adjustment_get_value (adj);
  const GVariantType *type = g_action_get_state_type (action);

  if (g_str_equal (name, "brush-size"))
    studio_canvas_set_brush_size (self->canvas, v);
  else if (g_str_equal (name, "overlay-opacity"))
    studio_canvas_set_overlay_opacity (self->canvas, v);
  else if (g_str_equal (name, "feather"))
    studio_canvas_set_feather (self->canvas, (int) v);
  if (self->updating)
    return;
  self->updating = TRUE;
  g_simple_action_set_state (G_SIMPLE_ACTION (action),
                             g_variant_type_equal (type, G_VARIANT_TYPE_INT32)
                               ? g_variant_new_int32 ((gint32) v)
                               : g_variant_new_double (v));
  self->updating = FALSE;
}

static void
tool_change_state (GSimpleAction *action, GVariant *value, gpointer user_data)
{
  const char *tool = g_variant_get_string (value, NULL);

  if (!g_str_equal (tool, "brush") && !g_str_equal (tool, "eraser"))
    return;
  g_simple_action_set_state (action, value);
  studio_canvas_set_erasing (SELF->canvas, g_str_equal (tool, "eraser"));
}

static void
brush_step_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkAdjustment *adj = SELF->brush_adjustment;
  double v = gtk_adjustment_get_value (adj);
  gboolean grow = g_str_equal (g_action_get_name (G_ACTION (action)), "brush-grow");

  gtk_adjustment_set_value (adj, grow ? v * 1.25 + 1 : v / 1.25);
}

static void
read_only_change_state (GSimpleAction *action, GVariant *value, gpointer user_data)
{
  /* observers are set by the window only */
}

/* ---- jobs -------------------------------------------------------------- */

static void
job_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *name = g_action_get_name (G_ACTION (action));
  StudioJobKind kind = g_str_equal (name, "caption")    ? STUDIO_JOB_CAPTION
                       : g_str_equal (name, "generate") ? STUDIO_JOB_GENERATE
                       : g_str_equal (name, "inpaint")  ? STUDIO_JOB_INPAINT
                       : g_str_equal (name, "edit")     ? STUDIO_JOB_EDIT
                       : g_str_equal (name, "infill")   ? STUDIO_JOB_INFILL
                                                        : STUDIO_JOB_JOINT;

  studio_window_start_job (SELF, kind, param ? g_variant_get_string (param, NULL) : NULL);
}

/* The header bar's main button and Ctrl+Return: Inpaint the open image, or
 * Generate one from the caption when none is open (the empty state's
 * promise). */
static void
primary_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;

  studio_window_start_job (self, self->image ? STUDIO_JOB_INPAINT : STUDIO_JOB_GENERATE, NULL);
}

static void
zoom_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;
  const char *name = g_action_get_name (G_ACTION (action));

  if (g_str_equal (name, "zoom-fit"))
    studio_canvas_zoom_to_fit (self->canvas);
  else
    studio_canvas_zoom_by (self->canvas, g_str_equal (name, "zoom-in") ? 1.25 : 0.8);
}

static void
set_caption_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  studio_window_set_caption (SELF, g_variant_get_string (param, NULL));
}

static void
cancel_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  studio_window_cancel_job (SELF);
}

static void
result_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;
  const char *name = g_action_get_name (G_ACTION (action));

  if (g_str_equal (name, "accept-result"))
    studio_window_accept (self);
  else if (g_str_equal (name, "discard-result"))
    studio_window_discard (self);
  else if (self->pending)
    {
      guint n = self->pending->candidates->len;
      guint i = (self->candidate_index + (g_str_equal (name, "next-candidate") ? 1 : n - 1)) % n;

      studio_window_show_candidate (self, i);
    }
}

static void
reuse_seed_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioWindow *self = SELF;
  StudioCandidate *c;

  if (!self->pending)
    return;
  c = &g_array_index (self->pending->candidates, StudioCandidate, self->candidate_index);
  gtk_adjustment_set_value (self->seed_adjustment, (double) MIN (c->seed, G_MAXINT32));
}

static void
screenshot_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!studio_window_screenshot (SELF, g_variant_get_string (param, NULL), &error))
    studio_window_error (SELF, error->message);
}

static const GActionEntry entries[] = {
  { "open", file_action_activated, "s" },
  { "save-as", file_action_activated, "s" },
  { "use-model", file_action_activated, "s" },
  { "import-model", file_action_activated, "s" },
  { "paste-image", paste_image_activated },
  { "copy-result", copy_result_activated },
  { "undo", undo_activated },
  { "redo", undo_activated },
  { "clear-mask", mask_op_activated },
  { "invert-mask", mask_op_activated },
  { "load-mask", file_action_activated, "s" },
  { "save-mask", file_action_activated, "s" },
  { "tool", NULL, "s", "'brush'", tool_change_state },
  { "brush-size", NULL, NULL, "24.0", setting_change_state },
  { "brush-grow", brush_step_activated },
  { "brush-shrink", brush_step_activated },
  { "feather", NULL, NULL, "8.0", setting_change_state },
  { "overlay-opacity", NULL, NULL, "0.5", setting_change_state },
  { "steps", NULL, NULL, "int32 10", setting_change_state },
  { "candidates-per-run", NULL, NULL, "int32 1", setting_change_state },
  { "seed", NULL, NULL, "int32 -1", setting_change_state },
  { "strength", NULL, NULL, "0.6", setting_change_state },
  { "set-caption", set_caption_activated, "s" },
  { "caption", job_activated },
  { "generate", job_activated },
  { "inpaint", job_activated },
  { "edit", job_activated },
  { "infill", job_activated, "s" },
  { "joint", job_activated },
  { "primary", primary_activated },
  { "zoom-in", zoom_activated },
  { "zoom-out", zoom_activated },
  { "zoom-fit", zoom_activated },
  { "cancel", cancel_activated },
  { "accept-result", result_activated },
  { "discard-result", result_activated },
  { "next-candidate", result_activated },
  { "previous-candidate", result_activated },
  { "reuse-seed", reuse_seed_activated },
  { "screenshot", screenshot_activated, "s" },
  { "busy", NULL, NULL, "false", read_only_change_state },
  { "progress", NULL, NULL, "0.0", read_only_change_state },
  { "caption-text", NULL, NULL, "''", read_only_change_state },
  { "candidates", NULL, NULL, "int32 0", read_only_change_state },
  { "candidate-index", NULL, NULL, "int32 0", read_only_change_state },
  { "dirty", NULL, NULL, "false", read_only_change_state },
  { "model-loaded", NULL, NULL, "false", read_only_change_state },
  { "model-name", NULL, NULL, "''", read_only_change_state },
  { "last-error", NULL, NULL, "''", read_only_change_state },
};

void
studio_window_install_actions (StudioWindow *self)
{
  const char *settings[] = { "brush-size",         "feather", "overlay-opacity", "steps",
                             "candidates-per-run", "seed",    "strength" };

  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
  for (gsize i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      GtkAdjustment *adj = adjustment_for (self, settings[i]);

      g_object_set_data (G_OBJECT (adj), "action", (gpointer) settings[i]);
      g_signal_connect (adj, "value-changed", G_CALLBACK (on_adjustment_changed), self);
      on_adjustment_changed (adj, self);
    }
}
