/* studio-preferences.h — the preferences window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define STUDIO_TYPE_PREFERENCES (studio_preferences_get_type ())
G_DECLARE_FINAL_TYPE (StudioPreferences, studio_preferences, STUDIO, PREFERENCES,
                      AdwPreferencesWindow)

GtkWidget *studio_preferences_new (GtkWindow *parent, GSettings *settings);

/* GSettings integer keys ↔ GtkAdjustment's double "value" */
gboolean studio_settings_get_int_as_double (GValue *value, GVariant *variant, gpointer user_data);
GVariant *studio_settings_set_double_as_int (const GValue *value, const GVariantType *type,
                                             gpointer user_data);
GSettings *studio_settings_new (void);

G_END_DECLS
