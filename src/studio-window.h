/* studio-window.h — the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "studio-application.h"

G_BEGIN_DECLS

#define STUDIO_TYPE_WINDOW (studio_window_get_type ())
G_DECLARE_FINAL_TYPE (StudioWindow, studio_window, STUDIO, WINDOW, AdwApplicationWindow)

StudioWindow *studio_window_new (StudioApplication *application);
gboolean studio_window_open_file (StudioWindow *self, GFile *file);
/* Shows a message to the user (a toast; also the last-error observer). */
void studio_window_toast (StudioWindow *self, const char *message);

/* Loads a model for this session (the default one at start-up). */
void studio_window_load_model (StudioWindow *self, const char *path);
/* Loads a model the user chose; once it loads it is also the default of
 * later sessions (GSettings default-model-path). */
void studio_window_use_model (StudioWindow *self, const char *path);

G_END_DECLS
