/* studio-model-choice.h — which model the app loads at start-up
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The model to load at start-up (newly allocated, or NULL for none):
 * `env` ($MAGVLT_MODEL), then `chosen` (the default-model-path setting),
 * then `installed` (the default model installed with the app), then
 * `source` (the source tree's, when run from the build folder); NULL or ""
 * skips one. A chosen file that no longer exists is skipped, so the app
 * still starts with a working model; *chosen_missing then says so (may be
 * NULL). */
char *studio_model_choice (const char *env, const char *chosen, const char *installed,
                           const char *source, gboolean *chosen_missing);

G_END_DECLS
