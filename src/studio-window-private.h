/* studio-window-private.h — the window's state, shared by its files
 * (studio-window.c: lifecycle, files, jobs; studio-window-actions.c: the
 * action map)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "studio-canvas.h"
#include "studio-job.h"
#include "studio-mask.h"
#include "studio-window.h"
#include "studio-worker.h"

G_BEGIN_DECLS

/* The most memory the undo history may hold (its oldest steps go first). */
#define STUDIO_UNDO_BUDGET ((gsize) 512 * 1024 * 1024)

/* One undo step: the image and mask as they were, and what made the image
 * (the text chunks a save writes; NULL for none). */
typedef struct {
  GdkPixbuf *image;
  StudioMask *mask;
  GPtrArray *provenance;
} StudioSnapshot;

struct _StudioWindow {
  AdwApplicationWindow parent_instance;

  /* template children */
  AdwToastOverlay *toast_overlay;
  AdwWindowTitle *window_title;
  AdwSplitButton *primary_button;
  GtkStack *view_stack;
  StudioCanvas *canvas;
  GtkTextView *caption_view;
  GtkAdjustment *brush_adjustment;
  GtkAdjustment *feather_adjustment;
  GtkAdjustment *opacity_adjustment;
  GtkAdjustment *steps_adjustment;
  GtkAdjustment *candidates_adjustment;
  GtkAdjustment *seed_adjustment;
  GtkAdjustment *strength_adjustment;
  GtkRevealer *progress_revealer;
  GtkLabel *progress_label;
  GtkProgressBar *progress_bar;
  GtkPicture *preview_picture;
  GtkRevealer *result_revealer;
  GtkLabel *result_label;
  GtkLabel *model_label;
  GtkBox *candidate_strip;
  GtkRevealer *drop_revealer;

  /* state */
  StudioWorker *worker;
  GCancellable *cancellable;
  GdkPixbuf *image; /* RGB, what the user edits */
  char *image_path;
  StudioMask *mask;
  StudioJobResult *pending; /* candidates waiting for accept / discard */
  guint candidate_index;
  StudioJobKind running;
  GPtrArray *undo; /* StudioSnapshot */
  GPtrArray *redo;
  gboolean updating; /* guards adjustment ↔ action loops */
  gboolean close_confirmed;
  GPtrArray *provenance; /* tEXt keys and values for saved PNGs (alternating) */
  GSettings *settings;   /* may be NULL (no installed schema) */
};

/* studio-window-actions.c */
void studio_window_install_actions (StudioWindow *self);
void studio_window_set_observer (StudioWindow *self, const char *name, GVariant *value);
void studio_window_sync_sensitivity (StudioWindow *self);

/* studio-window.c */
void studio_window_error (StudioWindow *self, const char *message);
gboolean studio_window_open_path (StudioWindow *self, const char *path);
gboolean studio_window_replace_image (StudioWindow *self, GdkPixbuf *image, const char *path);
gboolean studio_window_save_path (StudioWindow *self, const char *path);
void studio_window_start_job (StudioWindow *self, StudioJobKind kind, const char *text);
void studio_window_import_model (StudioWindow *self, const char *checkpoint);
void studio_window_cancel_job (StudioWindow *self);
void studio_window_accept (StudioWindow *self);
void studio_window_discard (StudioWindow *self);
void studio_window_show_candidate (StudioWindow *self, guint index);
void studio_window_push_undo (StudioWindow *self);
void studio_window_undo (StudioWindow *self, gboolean redo);
char *studio_window_get_caption (StudioWindow *self);
void studio_window_set_caption (StudioWindow *self, const char *text);
gboolean studio_window_screenshot (StudioWindow *self, const char *path, GError **error);
void studio_window_set_image (StudioWindow *self, GdkPixbuf *image, const char *path);
void studio_window_set_dirty (StudioWindow *self, gboolean dirty);

G_END_DECLS
