/* studio-window.c — the main window: files, the mask, jobs and results
 *
 * The window owns the image being edited, the mask painted over it, and
 * a worker thread that runs engine jobs. A job never blocks the main loop:
 * it runs on the worker, progress arrives coalesced, and its result waits
 * as candidates until the user accepts (an undoable step) or discards it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "studio-window-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "studio-file.h"
#include "studio-import.h"
#include "studio-preferences.h"

G_DEFINE_FINAL_TYPE (StudioWindow, studio_window, ADW_TYPE_APPLICATION_WINDOW)

static void
snapshot_free (gpointer data)
{
  StudioSnapshot *s = data;

  g_clear_object (&s->image);
  g_clear_object (&s->mask);
  g_clear_pointer (&s->provenance, g_ptr_array_unref);
  g_free (s);
}

/* ---- messages ---------------------------------------------------------- */

/* Toast titles are Pango markup in libadwaita 1.2 (no switch until 1.4): a
 * message with "&" or "<" (a file "Tom & Jerry.png") would show an empty
 * toast unless escaped. Invalid UTF-8 (a name from an old USB stick) is
 * made valid first. The last-error observer holds the text of the last
 * toast (ux.md), so tests see notices too. */
void
studio_window_toast (StudioWindow *self, const char *message)
{
  g_autofree char *valid = g_utf8_make_valid (message, -1);
  g_autofree char *markup = g_markup_escape_text (valid, -1);

  studio_window_set_observer (self, "last-error", g_variant_new_string (valid));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (markup));
}

/* A problem: a toast, and a line in the log. */
void
studio_window_error (StudioWindow *self, const char *message)
{
  g_autofree char *valid = g_utf8_make_valid (message, -1);

  g_message ("%s", valid);
  studio_window_toast (self, valid);
}

/* ---- image and mask ---------------------------------------------------- */

static GdkTexture *
texture_for (GdkPixbuf *pixbuf)
{
  return gdk_texture_new_for_pixbuf (pixbuf);
}

void
studio_window_set_dirty (StudioWindow *self, gboolean dirty)
{
  studio_window_set_observer (self, "dirty", g_variant_new_boolean (dirty));
}

static void
update_title (StudioWindow *self)
{
  g_autofree char *base = self->image_path ? g_filename_display_basename (self->image_path) : NULL;

  adw_window_title_set_subtitle (self->window_title, base          ? base
                                                     : self->image ? _ ("New image")
                                                                   : "");
}

void
studio_window_set_image (StudioWindow *self, GdkPixbuf *image, const char *path)
{
  g_autoptr (GdkTexture) texture = texture_for (image);
  gboolean same_size = self->mask
                       && studio_mask_get_width (self->mask) == gdk_pixbuf_get_width (image)
                       && studio_mask_get_height (self->mask) == gdk_pixbuf_get_height (image);

  g_set_object (&self->image, image);
  if (path)
    {
      g_free (self->image_path);
      self->image_path = g_strdup (path);
    }
  if (!same_size)
    {
      /* another size (a new file, a generated result): show it whole */
      studio_canvas_zoom_to_fit (self->canvas);
      g_clear_object (&self->mask);
      self->mask = studio_mask_new (gdk_pixbuf_get_width (image), gdk_pixbuf_get_height (image));
      studio_canvas_set_mask (self->canvas, self->mask);
    }
  studio_canvas_set_image (self->canvas, texture);
  gtk_stack_set_visible_child_name (self->view_stack, "canvas");
  update_title (self);
  studio_window_sync_sensitivity (self);
}

/* What closing, or opening, dropping or pasting another image, would lose:
 * unsaved changes or candidates not accepted. */
static gboolean
has_work_at_risk (StudioWindow *self)
{
  g_autoptr (GVariant) dirty = g_action_group_get_action_state (G_ACTION_GROUP (self), "dirty");

  return self->pending != NULL || g_variant_get_boolean (dirty);
}

/* "Discard Unsaved Work?" with Cancel (the default) and Discard; `body`
 * says what would lose it. The caller connects "response". */
static AdwMessageDialog *
unsaved_work_dialog (StudioWindow *self, const char *body)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _ ("Discard Unsaved Work?"), body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "discard",
                                    _ ("_Discard"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "discard",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  return ADW_MESSAGE_DIALOG (dialog);
}

/* A new document: the image replaces the old one with its candidates, mask,
 * undo history and provenance. Opened from `path`, or pasted (path NULL:
 * saved nowhere yet, so unsaved). */
static void
replace_image_now (StudioWindow *self, GdkPixbuf *image, const char *path)
{
  studio_window_discard (self);
  g_clear_pointer (&self->provenance, g_ptr_array_unref);
  g_ptr_array_set_size (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  g_clear_object (&self->mask);
  if (!path)
    g_clear_pointer (&self->image_path, g_free);
  studio_window_set_image (self, image, path);
  studio_canvas_zoom_to_fit (self->canvas);
  studio_window_set_dirty (self, path == NULL);
}

typedef struct {
  StudioWindow *self;
  GdkPixbuf *image;
  char *path;
} ReplaceRequest;

static void
replace_request_free (gpointer data, GClosure *closure)
{
  ReplaceRequest *r = data;

  g_object_unref (r->self);
  g_object_unref (r->image);
  g_free (r->path);
  g_free (r);
}

static void
on_replace_response (AdwMessageDialog *dialog, const char *response, ReplaceRequest *r)
{
  /* a job may have started meanwhile (through D-Bus): its result would land
   * on the new image */
  if (g_str_equal (response, "discard") && r->self->worker && !r->self->cancellable)
    replace_image_now (r->self, r->image, r->path);
}

gboolean
studio_window_replace_image (StudioWindow *self, GdkPixbuf *image, const char *path)
{
  ReplaceRequest *r;
  AdwMessageDialog *dialog;

  if (self->cancellable)
    {
      studio_window_error (self, _ ("Wait for the running job to finish, or cancel it"));
      return FALSE;
    }
  if (!has_work_at_risk (self))
    {
      replace_image_now (self, image, path);
      return TRUE;
    }
  r = g_new0 (ReplaceRequest, 1);
  r->self = g_object_ref (self);
  r->image = g_object_ref (image);
  r->path = g_strdup (path);
  dialog = unsaved_work_dialog (
    self, path ? _ ("The image has changes that are not saved, or a result that was not "
                    "accepted. They are lost if you open another image.")
               : _ ("The image has changes that are not saved, or a result that was not "
                    "accepted. They are lost if you paste another image."));
  g_signal_connect_data (dialog, "response", G_CALLBACK (on_replace_response), r,
                         replace_request_free, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  return TRUE;
}

gboolean
studio_window_open_path (StudioWindow *self, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) decoded = NULL;
  g_autoptr (GdkPixbuf) image = NULL;
  gboolean at_risk;

  if (self->cancellable)
    {
      studio_window_error (self, _ ("Wait for the running job to finish, or cancel it"));
      return FALSE;
    }
  /* read first: a file that cannot be opened asks nothing and loses nothing */
  if (!(decoded = studio_file_load_pixbuf (path, &error))
      || !(image = studio_file_flatten (decoded, &error)))
    {
      studio_window_error (self, error->message);
      return FALSE;
    }
  at_risk = has_work_at_risk (self); /* then it waits for the user's answer */
  if (!studio_window_replace_image (self, image, path))
    return FALSE;
  /* the model sees (and a save writes) the image over white: say so once,
   * rather than let a cut-out icon lose its transparency unnoticed */
  if (!at_risk && studio_file_has_transparency (decoded))
    studio_window_toast (self, _ ("This image has transparent parts: they are shown, edited and "
                                  "saved over white"));
  return TRUE;
}

gboolean
studio_window_open_file (StudioWindow *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);

  if (!path)
    {
      /* e.g. a link dragged from a web browser */
      g_autofree char *uri = g_file_get_uri (file);
      g_autofree char *message = g_strdup_printf (_ ("Only local files can be opened: %s"), uri);

      studio_window_error (self, message);
      return FALSE;
    }
  return studio_window_open_path (self, path);
}

gboolean
studio_window_save_path (StudioWindow *self, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  g_autoptr (GPtrArray) values = g_ptr_array_new ();

  /* the software, and what made the last accepted result (prompt, job,
   * seed, steps), so a saved image says how to make it again */
  g_ptr_array_add (keys, "Software");
  g_ptr_array_add (values, "MAGVLT Studio " PACKAGE_VERSION);
  for (guint i = 0; self->provenance && i + 1 < self->provenance->len; i += 2)
    {
      g_ptr_array_add (keys, self->provenance->pdata[i]);
      g_ptr_array_add (values, self->provenance->pdata[i + 1]);
    }
  g_ptr_array_add (keys, NULL);
  g_ptr_array_add (values, NULL);

  if (!self->image)
    {
      studio_window_error (self, _ ("There is no image to save"));
      return FALSE;
    }
  if (!studio_file_save_pixbuf (self->image, path, (const char *const *) keys->pdata,
                                (const char *const *) values->pdata, &error))
    {
      studio_window_error (self, error->message);
      return FALSE;
    }
  g_free (self->image_path);
  self->image_path = g_strdup (path);
  update_title (self);
  studio_window_set_dirty (self, FALSE);
  studio_window_toast (self, _ ("Saved"));
  return TRUE;
}

char *
studio_window_get_caption (StudioWindow *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->caption_view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

/* Replaces the caption box's text as one undoable edit (Ctrl+Z in the box
 * brings back what was there: gtk_text_buffer_set_text would be
 * irreversible and clear the box's undo history). */
void
studio_window_set_caption (StudioWindow *self, const char *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->caption_view);
  GtkTextIter start, end;

  gtk_text_buffer_begin_user_action (buffer);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  gtk_text_buffer_delete (buffer, &start, &end);
  gtk_text_buffer_insert (buffer, &start, text ? text : "", -1);
  gtk_text_buffer_end_user_action (buffer);
}

/* ---- history ----------------------------------------------------------- */

static StudioSnapshot *
take_snapshot (StudioWindow *self)
{
  StudioSnapshot *s = g_new0 (StudioSnapshot, 1);

  s->image = self->image ? g_object_ref (self->image) : NULL;
  s->mask = self->mask ? studio_mask_copy (self->mask) : NULL;
  s->provenance = self->provenance ? g_ptr_array_ref (self->provenance) : NULL;
  return s;
}

static void
restore_snapshot (StudioWindow *self, StudioSnapshot *s)
{
  if (s->image && s->image != self->image)
    studio_window_set_image (self, s->image, NULL);
  if (s->mask && self->mask && studio_mask_get_width (s->mask) == studio_mask_get_width (self->mask)
      && studio_mask_get_height (s->mask) == studio_mask_get_height (self->mask))
    studio_mask_assign (self->mask, s->mask);
  /* undoing an accepted result also takes back what its save would record */
  g_clear_pointer (&self->provenance, g_ptr_array_unref);
  self->provenance = s->provenance ? g_ptr_array_ref (s->provenance) : NULL;
}

/* What a history holds: each step's mask copy, and each image once (steps
 * share the image until an accepted result replaces it). */
static gsize
history_bytes (GPtrArray *steps)
{
  gsize total = 0;
  GdkPixbuf *previous = NULL;

  for (guint i = 0; i < steps->len; i++)
    {
      StudioSnapshot *s = steps->pdata[i];
      if (s->mask)
        total += (gsize) studio_mask_get_width (s->mask) * studio_mask_get_height (s->mask);
      if (s->image && s->image != previous)
        total += gdk_pixbuf_get_byte_length (s->image);
      previous = s->image;
    }
  return total;
}

/* Records the current image and mask before a change (a stroke, clear,
 * invert, loaded mask, accepted result). */
void
studio_window_push_undo (StudioWindow *self)
{
  if (!self->image)
    return;
  g_ptr_array_add (self->undo, take_snapshot (self));
  /* at most 100 steps, and at most STUDIO_UNDO_BUDGET bytes of them: every
   * step copies the whole mask, so 100 strokes on a 24-megapixel photo
   * would hold 2.4 GB */
  while (self->undo->len > 100
         || (self->undo->len > 1 && history_bytes (self->undo) > STUDIO_UNDO_BUDGET))
    g_ptr_array_remove_index (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  studio_window_sync_sensitivity (self);
}

void
studio_window_undo (StudioWindow *self, gboolean redo)
{
  GPtrArray *from = redo ? self->redo : self->undo, *to = redo ? self->undo : self->redo;
  StudioSnapshot *s;

  if (from->len == 0)
    return;
  g_ptr_array_add (to, take_snapshot (self));
  s = g_ptr_array_steal_index (from, from->len - 1);
  restore_snapshot (self, s);
  snapshot_free (s);
  studio_window_set_dirty (self, TRUE);
  studio_window_sync_sensitivity (self);
}

static void
on_stroke_begin (StudioCanvas *canvas, StudioWindow *self)
{
  studio_window_push_undo (self);
  studio_window_set_dirty (self, TRUE);
}

/* ---- jobs -------------------------------------------------------------- */

static void
on_progress (StudioWorker *worker, StudioProgress *p, StudioWindow *self)
{
  g_autofree char *text = NULL;
  const char *stage = p->stage == MAGVLT_STAGE_IMAGE    ? _ ("Refining")
                      : p->stage == MAGVLT_STAGE_TEXT   ? _ ("Writing")
                      : p->stage == MAGVLT_STAGE_ENCODE ? _ ("Encoding")
                      : p->stage == MAGVLT_STAGE_DECODE ? _ ("Decoding")
                                                        : _ ("Measuring");

  if (p->n_steps > 1 && p->eta_seconds >= 0)
    text = g_strdup_printf (_ ("%s — step %d of %d · about %.0f s left"), stage, p->step,
                            p->n_steps, MAX (p->eta_seconds, 1.0));
  else if (p->n_steps > 1)
    text = g_strdup_printf (_ ("%s — step %d of %d"), stage, p->step, p->n_steps);
  else
    text = g_strdup_printf ("%s…", stage);
  if (p->n_candidates > 1)
    {
      char *more =
        g_strdup_printf (_ ("%s (candidate %d of %d)"), text, p->candidate + 1, p->n_candidates);
      g_free (text);
      text = more;
    }
  gtk_label_set_text (self->progress_label, text);
  gtk_progress_bar_set_fraction (self->progress_bar, p->fraction);
  studio_window_set_observer (self, "progress", g_variant_new_double (p->fraction));
  if (p->thumbnail)
    {
      g_autoptr (GdkTexture) t =
        gdk_memory_texture_new (p->thumbnail_size, p->thumbnail_size, GDK_MEMORY_R8G8B8,
                                p->thumbnail, (gsize) p->thumbnail_size * 3);
      gtk_picture_set_paintable (self->preview_picture, GDK_PAINTABLE (t));
    }
}

static void
set_busy (StudioWindow *self, gboolean busy)
{
  studio_window_set_observer (self, "busy", g_variant_new_boolean (busy));
  gtk_revealer_set_reveal_child (self->progress_revealer, busy);
  if (busy)
    {
      gtk_progress_bar_set_fraction (self->progress_bar, 0);
      gtk_label_set_text (self->progress_label, _ ("Starting…"));
      gtk_picture_set_paintable (self->preview_picture, NULL);
      studio_window_set_observer (self, "progress", g_variant_new_double (0));
    }
  studio_window_sync_sensitivity (self);
}

static void
on_thumb_clicked (GtkButton *button, StudioWindow *self)
{
  studio_window_show_candidate (self,
                                GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "index")));
}

/* the strip of candidate thumbnails, one toggle per result */
static void
fill_strip (StudioWindow *self)
{
  GtkWidget *child;
  GtkToggleButton *first = NULL;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->candidate_strip))))
    gtk_box_remove (self->candidate_strip, child);
  if (!self->pending || self->pending->candidates->len < 2)
    return;
  for (guint i = 0; i < self->pending->candidates->len; i++)
    {
      StudioCandidate *c = &g_array_index (self->pending->candidates, StudioCandidate, i);
      GtkWidget *button = gtk_toggle_button_new ();
      g_autofree char *name = g_strdup_printf (_ ("Result %u"), i + 1);

      if (c->image)
        {
          g_autoptr (GdkTexture) t = gdk_texture_new_for_pixbuf (c->image);
          GtkWidget *picture = gtk_picture_new_for_paintable (GDK_PAINTABLE (t));

          gtk_widget_set_size_request (picture, 40, 40);
          gtk_button_set_child (GTK_BUTTON (button), picture);
        }
      else
        gtk_button_set_label (GTK_BUTTON (button), name);
      gtk_widget_set_tooltip_text (button, name);
      gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, name,
                                      -1);
      g_object_set_data (G_OBJECT (button), "index", GUINT_TO_POINTER (i));
      if (first)
        gtk_toggle_button_set_group (GTK_TOGGLE_BUTTON (button), first);
      else
        first = GTK_TOGGLE_BUTTON (button);
      g_signal_connect (button, "clicked", G_CALLBACK (on_thumb_clicked), self);
      gtk_box_append (self->candidate_strip, button);
    }
}

/* While a result waits: the image as it was (TRUE) or the candidate again. */
static void
compare (StudioWindow *self, gboolean before)
{
  if (!self->pending)
    return;
  if (before && self->image)
    {
      g_autoptr (GdkTexture) t = texture_for (self->image);
      studio_canvas_set_image (self->canvas, t);
    }
  else if (!before)
    studio_window_show_candidate (self, self->candidate_index);
}

static void
on_compare_pressed (GtkGestureClick *gesture, int n_press, double x, double y, StudioWindow *self)
{
  compare (self, TRUE); /* press and hold */
}

static void
on_compare_released (GtkGesture *gesture, GdkEventSequence *sequence, StudioWindow *self)
{
  /* connected to GtkGesture::end, which comes on release and also when the
   * press is cancelled or taken over (pointer grab, window losing focus), so
   * the candidate always comes back */
  compare (self, FALSE);
}

/* Holding backslash compares too, for the keyboard (the button needs a held
 * pointer). Bubble phase: in the caption box the key types its character. */
static gboolean
on_key_pressed (GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state,
                StudioWindow *self)
{
  if (keyval != GDK_KEY_backslash || !self->pending)
    return FALSE;
  compare (self, TRUE); /* auto-repeat presses just show it again */
  return TRUE;
}

static void
on_key_released (GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state,
                 StudioWindow *self)
{
  if (keyval == GDK_KEY_backslash)
    compare (self, FALSE);
}

void
studio_window_show_candidate (StudioWindow *self, guint index)
{
  StudioCandidate *c;
  g_autofree char *seed = NULL;
  g_autofree char *label = NULL;

  if (!self->pending || index >= self->pending->candidates->len)
    return;
  self->candidate_index = index;
  c = &g_array_index (self->pending->candidates, StudioCandidate, index);
  if (c->image)
    {
      g_autoptr (GdkTexture) t = texture_for (c->image);
      studio_canvas_set_image (self->canvas, t);
      studio_canvas_set_show_mask (self->canvas, FALSE);
      gtk_stack_set_visible_child_name (self->view_stack, "canvas");
    }
  seed = g_strdup_printf ("%" G_GUINT64_FORMAT, c->seed);
  /* TRANSLATORS: candidate n of N, and the seed that makes it again */
  label = g_strdup_printf (_ ("Result %u of %u · seed %s"), index + 1,
                           self->pending->candidates->len, seed);
  gtk_label_set_text (self->result_label, label);
  for (GtkWidget *b = gtk_widget_get_first_child (GTK_WIDGET (self->candidate_strip)); b;
       b = gtk_widget_get_next_sibling (b))
    if (GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (b), "index")) == index)
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (b), TRUE);
  studio_window_set_observer (self, "candidate-index", g_variant_new_int32 ((gint32) index));
}

static void
set_pending (StudioWindow *self, StudioJobResult *result)
{
  g_clear_pointer (&self->pending, studio_job_result_free);
  self->pending = result;
  self->candidate_index = 0;
  studio_window_set_observer (self, "candidates",
                              g_variant_new_int32 (result ? (gint32) result->candidates->len : 0));
  gtk_revealer_set_reveal_child (self->result_revealer, result != NULL);
  fill_strip (self);
  if (result)
    studio_window_show_candidate (self, 0);
  else
    {
      studio_canvas_set_show_mask (self->canvas, TRUE);
      if (self->image)
        {
          g_autoptr (GdkTexture) t = texture_for (self->image);
          studio_canvas_set_image (self->canvas, t);
        }
    }
  studio_window_sync_sensitivity (self);
}

static char *
format_number (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  return g_strdup (g_ascii_formatd (buf, sizeof buf, "%.2f", v));
}

void
studio_window_accept (StudioWindow *self)
{
  StudioCandidate *c;

  if (!self->pending)
    return;
  c = &g_array_index (self->pending->candidates, StudioCandidate, self->candidate_index);
  if (c->image)
    {
      g_autoptr (GdkPixbuf) image = g_object_ref (c->image);
      GPtrArray *p = g_ptr_array_new_with_free_func (g_free);

      g_ptr_array_add (p, g_strdup ("MAGVLT job"));
      g_ptr_array_add (p, g_strdup (studio_job_kind_id (self->pending->kind)));
      g_ptr_array_add (p, g_strdup ("MAGVLT prompt"));
      g_ptr_array_add (p, g_strdup (self->pending->prompt ? self->pending->prompt : ""));
      g_ptr_array_add (p, g_strdup ("MAGVLT seed"));
      g_ptr_array_add (p, g_strdup_printf ("%" G_GUINT64_FORMAT, c->seed));
      g_ptr_array_add (p, g_strdup ("MAGVLT steps"));
      g_ptr_array_add (p, g_strdup_printf ("%d", self->pending->steps));
      /* numbers in the C locale: a saved file reads the same everywhere */
      g_ptr_array_add (p, g_strdup ("MAGVLT temperature scale"));
      g_ptr_array_add (p, format_number (self->pending->temperature_scale));
      g_ptr_array_add (p, g_strdup ("MAGVLT guidance"));
      g_ptr_array_add (p, format_number (self->pending->guidance));
      if (self->pending->kind == STUDIO_JOB_EDIT)
        {
          g_ptr_array_add (p, g_strdup ("MAGVLT strength"));
          g_ptr_array_add (p, format_number (self->pending->strength));
        }
      if (self->pending->model)
        {
          g_ptr_array_add (p, g_strdup ("MAGVLT model"));
          g_ptr_array_add (p, g_strdup (self->pending->model));
        }
      /* the undo step keeps the provenance of the image it restores */
      studio_window_push_undo (self);
      g_clear_pointer (&self->provenance, g_ptr_array_unref);
      self->provenance = p;
      set_pending (self, NULL);
      studio_window_set_image (self, image, NULL);
      studio_window_set_dirty (self, TRUE);
    }
  else
    set_pending (self, NULL);
}

void
studio_window_discard (StudioWindow *self)
{
  if (self->pending)
    set_pending (self, NULL);
}

/* When the model read less of the caption than was typed, say so once the
 * result is there (as `magvlt` warns): nothing it could read, words cut at
 * its text length, or characters outside its vocabulary left out. */
static void
say_how_prompt_was_read (StudioWindow *self, const StudioJobResult *r)
{
  g_autofree char *msg = NULL;
  g_autofree char *typed = g_strstrip (g_strdup (r->prompt ? r->prompt : ""));

  if (!r->prompt_checked)
    return;
  if (r->prompt_tokens == 0 && *typed)
    msg = g_strdup (_ ("The model could read no words of the caption (it knows English text "
                       "only), so the result follows no caption"));
  else if (r->prompt_tokens == 0)
    msg = g_strdup (_ ("The caption is empty, so the result follows no caption"));
  else if (r->prompt_truncated)
    msg = g_strdup_printf (_ ("The caption is longer than the model reads: only its first %d "
                              "tokens were used"),
                           r->prompt_tokens);
  else if (r->prompt_fallback)
    msg = g_strdup (_ ("Characters the model does not know were left out of the caption"));
  if (msg)
    studio_window_toast (self, msg);
}

static void
on_job_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (StudioWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  StudioJobResult *result = studio_worker_run_finish (STUDIO_WORKER (source), res, &error);

  /* the window was closed while this ran: nothing left to show it in */
  if (!self->worker)
    {
      studio_job_result_free (result);
      return;
    }

  g_clear_object (&self->cancellable);
  set_busy (self, FALSE);
  if (!result)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        studio_window_toast (self, _ ("Cancelled"));
      else
        studio_window_error (self, error->message);
      return;
    }
  if (result->candidates->len == 0)
    {
      studio_job_result_free (result);
      return;
    }
  if (result->kind == STUDIO_JOB_CAPTION || result->kind == STUDIO_JOB_INFILL)
    {
      /* text goes straight into the caption box (one Undo away in the text
       * view); the image is untouched */
      StudioCandidate *c = &g_array_index (result->candidates, StudioCandidate, 0);

      studio_window_set_caption (self, c->text);
      studio_job_result_free (result);
      return;
    }
  if (result->kind == STUDIO_JOB_JOINT)
    {
      StudioCandidate *c = &g_array_index (result->candidates, StudioCandidate, 0);

      studio_window_set_caption (self, c->text);
    }
  say_how_prompt_was_read (self, result);
  set_pending (self, result);
}

static gint64
pick_seed (StudioWindow *self)
{
  gint64 seed = (gint64) gtk_adjustment_get_value (self->seed_adjustment);

  return seed >= 0 ? seed : g_random_int_range (0, G_MAXINT32);
}

void
studio_window_start_job (StudioWindow *self, StudioJobKind kind, const char *text)
{
  g_autoptr (StudioJob) job = NULL;
  g_autofree char *caption = studio_window_get_caption (self);
  g_autofree char *marked = NULL;
  gboolean needs_image = kind == STUDIO_JOB_CAPTION || kind == STUDIO_JOB_INPAINT
                         || kind == STUDIO_JOB_EDIT || kind == STUDIO_JOB_INFILL;

  if (self->cancellable)
    {
      studio_window_error (self, _ ("A job is already running"));
      return;
    }
  if (!studio_worker_has_model (self->worker))
    {
      studio_window_error (self, _ ("No model is loaded yet"));
      return;
    }
  if (needs_image && !self->image)
    {
      studio_window_error (self, _ ("Open an image first"));
      return;
    }
  if (kind == STUDIO_JOB_INPAINT && (!self->mask || studio_mask_is_empty (self->mask)))
    {
      studio_window_error (self, _ ("The mask is empty: paint over the part to regenerate"));
      return;
    }
  if (kind == STUDIO_JOB_INFILL && !(text && *text))
    {
      /* the words selected in the caption box become the span to regenerate */
      GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->caption_view);
      GtkTextIter a, b, start, end;

      if (gtk_text_buffer_get_selection_bounds (buffer, &a, &b))
        {
          g_autofree char *head = NULL, *tail = NULL;

          gtk_text_buffer_get_bounds (buffer, &start, &end);
          head = gtk_text_buffer_get_text (buffer, &start, &a, FALSE);
          tail = gtk_text_buffer_get_text (buffer, &b, &end, FALSE);
          marked = g_strconcat (head, "[MASK]", tail, NULL);
          text = marked;
        }
    }
  if (kind == STUDIO_JOB_INFILL && !strstr (text && *text ? text : caption, "[MASK]"))
    {
      studio_window_error (self, _ ("Select the words to regenerate in the caption, or mark "
                                    "them with [MASK]"));
      return;
    }
  job = studio_job_new (kind);
  job->prompt = g_strdup (kind == STUDIO_JOB_INFILL && text && *text ? text : caption);
  if (kind == STUDIO_JOB_CAPTION || kind == STUDIO_JOB_INFILL)
    {
      /* text jobs write only the caption box: the candidates waiting stay,
       * and the image described is the one on show */
      StudioCandidate *c = self->pending ? &g_array_index (self->pending->candidates,
                                                           StudioCandidate, self->candidate_index)
                                         : NULL;

      job->image = g_object_ref (c && c->image ? c->image : self->image);
    }
  else
    {
      /* running an image job again replaces the candidates not accepted */
      studio_window_discard (self);
      if (needs_image)
        job->image = g_object_ref (self->image);
    }
  if ((kind == STUDIO_JOB_INPAINT || kind == STUDIO_JOB_EDIT) && self->mask
      && !studio_mask_is_empty (self->mask))
    job->mask =
      g_bytes_new (studio_mask_get_data (self->mask), (gsize) studio_mask_get_width (self->mask)
                                                        * studio_mask_get_height (self->mask));
  job->params.seed = (guint64) pick_seed (self);
  job->params.n_candidates = (int) gtk_adjustment_get_value (self->candidates_adjustment);
  /* the Steps setting is the image refinement's; text jobs keep the
   * model's own (magvlt_model_sampling_params), as `magvlt caption` does,
   * so both give one result */
  job->params.image_steps = (int) gtk_adjustment_get_value (self->steps_adjustment);
  job->edit.feather = (int) gtk_adjustment_get_value (self->feather_adjustment);
  if (self->settings)
    {
      /* × the model's own schedule (studio_job_use_model) */
      job->temperature_scale = g_settings_get_double (self->settings, "temperature-scale");
      job->guidance_scale = g_settings_get_double (self->settings, "guidance-scale");
      job->edit.padding = g_settings_get_int (self->settings, "padding");
      studio_worker_set_preview_decode_every (
        self->worker, g_settings_get_int (self->settings, "preview-decode-interval"));
    }
  job->edit.strength =
    kind == STUDIO_JOB_EDIT ? (float) gtk_adjustment_get_value (self->strength_adjustment) : 1.0f;

  self->running = kind;
  self->cancellable = g_cancellable_new ();
  set_busy (self, TRUE);
  studio_worker_run_async (self->worker, g_steal_pointer (&job), self->cancellable, on_job_done,
                           g_object_ref (self));
}

void
studio_window_cancel_job (StudioWindow *self)
{
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
}

/* ---- model ------------------------------------------------------------- */

static void
on_model_error_response (AdwMessageDialog *dialog, const char *response, StudioWindow *self)
{
  if (g_str_equal (response, "choose"))
    g_action_group_activate_action (G_ACTION_GROUP (self), "use-model", g_variant_new_string (""));
}

/* A model load in flight: the window, and the path to keep as the default
 * model once it loads (NULL: loaded for this session only, as the default
 * itself at start-up). */
typedef struct {
  StudioWindow *self;
  char *remember_path;
} ModelLoad;

static void
model_load_free (ModelLoad *load)
{
  g_object_unref (load->self);
  g_free (load->remember_path);
  g_free (load);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ModelLoad, model_load_free)

static void
on_model_loaded (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (ModelLoad) load = user_data;
  StudioWindow *self = load->self;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = studio_worker_load_model_finish (STUDIO_WORKER (source), res, &error);

  /* the window was closed while this ran: nothing left to show it in */
  if (!self->worker)
    return;

  if (!name)
    {
      g_autofree char *msg =
        g_strdup_printf (_ ("The model could not be loaded: %s"), error->message);
      GtkWidget *dialog;

      /* the worker keeps the model it had: the label goes on naming it */
      if (studio_worker_has_model (self->worker))
        {
          g_autoptr (GVariant) name_before =
            g_action_group_get_action_state (G_ACTION_GROUP (self), "model-name");
          gtk_label_set_text (self->model_label, g_variant_get_string (name_before, NULL));
        }
      else
        gtk_label_set_text (self->model_label, _ ("No model loaded"));
      studio_window_set_observer (self, "last-error", g_variant_new_string (msg));
      g_message ("%s", msg);
      /* a broken model is not a passing problem: say so in a dialog that
       * offers the way out */
      dialog = adw_message_dialog_new (GTK_WINDOW (self), _ ("The Model Could Not Be Loaded"), msg);
      adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "close", _ ("_Close"),
                                        "choose", _ ("_Choose Another File…"), NULL);
      adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "choose",
                                                  ADW_RESPONSE_SUGGESTED);
      adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "choose");
      g_signal_connect (dialog, "response", G_CALLBACK (on_model_error_response), self);
      gtk_window_present (GTK_WINDOW (dialog));
      studio_window_sync_sensitivity (self);
      return;
    }
  /* a file the user chose stays the model of later sessions, as an imported
   * one does (Preferences can reset it) */
  if (self->settings && load->remember_path)
    g_settings_set_string (self->settings, "default-model-path", load->remember_path);
  gtk_label_set_text (self->model_label, name);
  studio_window_set_observer (self, "model-name", g_variant_new_string (name));
  studio_window_set_observer (self, "model-loaded", g_variant_new_boolean (TRUE));
  studio_window_sync_sensitivity (self);
}

static void
load_model (StudioWindow *self, const char *path, gboolean remember)
{
  ModelLoad *load;

  if (!path || !*path)
    {
      gtk_label_set_text (self->model_label, _ ("No model — use Main Menu › Use Model File…"));
      return;
    }
  gtk_label_set_text (self->model_label, _ ("Loading the model…"));
  if (self->settings)
    studio_worker_set_threads (self->worker, g_settings_get_int (self->settings, "threads"));
  load = g_new0 (ModelLoad, 1);
  load->self = g_object_ref (self);
  load->remember_path = remember ? g_strdup (path) : NULL;
  studio_worker_load_model_async (self->worker, path, NULL, on_model_loaded, load);
}

void
studio_window_load_model (StudioWindow *self, const char *path)
{
  load_model (self, path, FALSE);
}

void
studio_window_use_model (StudioWindow *self, const char *path)
{
  load_model (self, path, TRUE);
}

/* ---- importing an official checkpoint ------------------------------------ */

static void
on_import_progress (int stage, double fraction, gpointer user_data)
{
  StudioWindow *self = user_data; /* alive: the import's callback holds a reference */
  const char *what = stage == 0 ? _ ("reading") : stage == 1 ? _ ("converting") : _ ("colours");
  g_autofree char *text =
    g_strdup_printf (_ ("Importing the model — %s %.0f %%"), what, fraction * 100.0);
  /* reading, writing and the palette take roughly a third each */
  double total = CLAMP ((stage + fraction) / 3.0, 0.0, 1.0);

  /* closed while the import runs: its widgets are gone */
  if (!self->worker)
    return;
  gtk_label_set_text (self->progress_label, text);
  gtk_progress_bar_set_fraction (self->progress_bar, total);
  studio_window_set_observer (self, "progress", g_variant_new_double (total));
}

static void
on_import_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (StudioWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  gboolean has_tokenizer = FALSE;
  g_autofree char *path = studio_import_finish (res, &has_tokenizer, &error);

  /* the window was closed while this ran: nothing left to show it in */
  if (!self->worker)
    return;

  g_clear_object (&self->cancellable);
  set_busy (self, FALSE);
  if (!path)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        studio_window_toast (self, _ ("Import cancelled"));
      else
        {
          g_autofree char *msg =
            g_strdup_printf (_ ("The checkpoint could not be imported: %s"), error->message);
          studio_window_error (self, msg);
        }
      return;
    }
  studio_window_toast (self, has_tokenizer
                               ? _ ("Model imported")
                               : _ ("Model imported without CLIP’s BPE merges: image "
                                    "jobs work, text jobs need "
                                    "bpe_simple_vocab_16e6.txt.gz next to the checkpoint"));
  studio_window_use_model (self, path);
}

void
studio_window_import_model (StudioWindow *self, const char *checkpoint)
{
  g_autofree char *out_dir = g_build_filename (g_get_user_data_dir (), "magvlt", "models", NULL);

  if (self->cancellable)
    {
      studio_window_error (self, _ ("Wait for the running job to finish, or cancel it"));
      return;
    }
  self->cancellable = g_cancellable_new ();
  set_busy (self, TRUE);
  gtk_label_set_text (self->progress_label, _ ("Importing the model…"));
  studio_import_async (checkpoint, out_dir, self->cancellable, on_import_progress, self,
                       on_import_done, g_object_ref (self));
}

/* ---- screenshot -------------------------------------------------------- */

gboolean
studio_window_screenshot (StudioWindow *self, const char *path, GError **error)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (self));

  if (!renderer || w <= 0 || h <= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("The window is not shown"));
      return FALSE;
    }
  gdk_paintable_snapshot (paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (!node)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("Nothing to render"));
      return FALSE;
    }
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("Could not write “%s”"), path);
      return FALSE;
    }
  return TRUE;
}

/* ---- drag and drop ----------------------------------------------------- */

static GdkDragAction
on_drop_enter (GtkDropTarget *target, double x, double y, StudioWindow *self)
{
  gtk_revealer_set_reveal_child (self->drop_revealer, TRUE);
  return GDK_ACTION_COPY;
}

static void
on_drop_leave (GtkDropTarget *target, StudioWindow *self)
{
  gtk_revealer_set_reveal_child (self->drop_revealer, FALSE);
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, StudioWindow *self)
{
  GFile *file = NULL;
  GSList *files = NULL;
  gboolean opened;

  gtk_revealer_set_reveal_child (self->drop_revealer, FALSE);
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      files = gdk_file_list_get_files (g_value_get_boxed (value));
      file = files ? files->data : NULL;
    }
  else if (G_VALUE_HOLDS (value, G_TYPE_FILE))
    file = g_value_get_object (value);
  /* the first file only; a drop that could not be opened is refused, so
   * the source does not delete a moved file */
  opened = file && studio_window_open_file (self, file);
  if (opened && files && files->next)
    {
      g_autofree char *msg =
        g_strdup_printf (_ ("Opened the first of the %u dropped files"), g_slist_length (files));
      studio_window_toast (self, msg);
    }
  g_slist_free (files);
  return opened;
}

/* ---- object ------------------------------------------------------------ */

static void
on_caption_changed (GtkTextBuffer *buffer, StudioWindow *self)
{
  g_autofree char *text = studio_window_get_caption (self);

  studio_window_set_observer (self, "caption-text", g_variant_new_string (text));
}

static gboolean
close_when_idle (gpointer window)
{
  gtk_window_close (GTK_WINDOW (window));
  return G_SOURCE_REMOVE;
}

static void
on_close_response (AdwMessageDialog *dialog, const char *response, StudioWindow *self)
{
  if (g_str_equal (response, "discard"))
    {
      self->close_confirmed = TRUE;
      /* not from inside the dialog's response: closing the window now
       * frees it while the dialog, still transient for it, is being torn
       * down, which then touches the freed window */
      g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, close_when_idle, g_object_ref (self),
                       g_object_unref);
    }
}

static gboolean
on_close_request (GtkWindow *window)
{
  StudioWindow *self = STUDIO_WINDOW (window);

  if (!self->close_confirmed && has_work_at_risk (self))
    {
      /* unsaved edits or an unaccepted result: ask before losing them */
      AdwMessageDialog *dialog =
        unsaved_work_dialog (self, _ ("The image has changes that are not saved, or a result "
                                      "that was not accepted. They are lost if you close."));

      g_signal_connect (dialog, "response", G_CALLBACK (on_close_response), self);
      gtk_window_present (GTK_WINDOW (dialog));
      return TRUE;
    }
  studio_window_cancel_job (self);
  return FALSE;
}

static void
studio_window_dispose (GObject *object)
{
  StudioWindow *self = STUDIO_WINDOW (object);

  studio_window_cancel_job (self);
  g_clear_pointer (&self->pending, studio_job_result_free);
  g_clear_object (&self->worker);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->image);
  g_clear_object (&self->mask);
  g_clear_pointer (&self->image_path, g_free);
  g_clear_pointer (&self->provenance, g_ptr_array_unref);
  g_clear_pointer (&self->undo, g_ptr_array_unref);
  g_clear_pointer (&self->redo, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), STUDIO_TYPE_WINDOW);
  G_OBJECT_CLASS (studio_window_parent_class)->dispose (object);
}

static void
studio_window_class_init (StudioWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = studio_window_dispose;
  window_class->close_request = on_close_request;

  g_type_ensure (STUDIO_TYPE_CANVAS);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/magvlt/Studio/studio-window.ui");
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, primary_button);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, canvas);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, caption_view);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, brush_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, feather_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, opacity_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, steps_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, candidates_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, seed_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, strength_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, progress_revealer);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, progress_label);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, preview_picture);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, result_revealer);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, result_label);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, model_label);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, candidate_strip);
  gtk_widget_class_bind_template_child (widget_class, StudioWindow, drop_revealer);
  gtk_widget_class_bind_template_callback (widget_class, on_compare_pressed);
  gtk_widget_class_bind_template_callback (widget_class, on_compare_released);

  /* Shortcuts that a focused text field or button needs for itself: they
   * run after it (bubble phase), so typing "b" in the caption box types a
   * b, and Ctrl+C there copies the selected words, not the image.
   * Ctrl+Return, Escape and Alt+arrows stay application accelerators. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_c, GDK_CONTROL_MASK, "win.copy-result",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK, "win.paste-image",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "win.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Z, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_b, 0, "win.tool", "s", "brush");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, 0, "win.tool", "s", "eraser");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketright, 0, "win.brush-grow",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketleft, 0, "win.brush-shrink",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, 0, "win.accept-result", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Enter, 0, "win.accept-result",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "win.discard-result", NULL);
}

static void
studio_window_init (StudioWindow *self)
{
  GtkDropTarget *drop;
  GtkEventController *keys;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->worker = studio_worker_new ();
  self->undo = g_ptr_array_new_with_free_func (snapshot_free);
  self->redo = g_ptr_array_new_with_free_func (snapshot_free);
  g_signal_connect_object (self->worker, "progress", G_CALLBACK (on_progress), self, 0);
  g_signal_connect (self->canvas, "stroke-begin", G_CALLBACK (on_stroke_begin), self);
  g_signal_connect (gtk_text_view_get_buffer (self->caption_view), "changed",
                    G_CALLBACK (on_caption_changed), self);

  keys = gtk_event_controller_key_new ();
  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_key_pressed), self);
  g_signal_connect (keys, "key-released", G_CALLBACK (on_key_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), keys);

  drop = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (drop, (GType[]){ GDK_TYPE_FILE_LIST, G_TYPE_FILE }, 2);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  g_signal_connect (drop, "enter", G_CALLBACK (on_drop_enter), self);
  g_signal_connect (drop, "leave", G_CALLBACK (on_drop_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));

  studio_window_install_actions (self);
  studio_window_sync_sensitivity (self);
}

static void
bind_setting (StudioWindow *self, const char *key, GtkAdjustment *adjustment, gboolean is_int)
{
  if (is_int)
    g_settings_bind_with_mapping (self->settings, key, adjustment, "value", G_SETTINGS_BIND_DEFAULT,
                                  studio_settings_get_int_as_double,
                                  studio_settings_set_double_as_int, NULL, NULL);
  else
    g_settings_bind (self->settings, key, adjustment, "value", G_SETTINGS_BIND_DEFAULT);
}

StudioWindow *
studio_window_new (StudioApplication *application)
{
  StudioWindow *self = g_object_new (STUDIO_TYPE_WINDOW, "application", application, NULL);
  GSettings *settings = studio_application_get_settings (application);

  if (settings)
    {
      /* the window's settings follow the preferences, and remember their values */
      self->settings = g_object_ref (settings);
      bind_setting (self, "steps", self->steps_adjustment, TRUE);
      bind_setting (self, "candidates", self->candidates_adjustment, TRUE);
      bind_setting (self, "feather", self->feather_adjustment, TRUE);
      bind_setting (self, "brush-size", self->brush_adjustment, FALSE);
      bind_setting (self, "overlay-opacity", self->opacity_adjustment, FALSE);
    }
  return self;
}
