/* studio-preferences.c — the preferences window
 *
 * Every control is bound to a key of org.magvlt.Studio, so a change applies
 * at once and persists. Without an installed schema (running uninstalled
 * with no GSETTINGS_SCHEMA_DIR) the app works with built-in defaults and
 * this window is not offered.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "studio-preferences.h"

#include <glib/gi18n.h>

struct _StudioPreferences {
  AdwPreferencesWindow parent_instance;

  GSettings *settings;
  GtkAdjustment *steps_adjustment;
  GtkAdjustment *candidates_adjustment;
  GtkAdjustment *temperature_adjustment;
  GtkAdjustment *guidance_adjustment;
  GtkAdjustment *threads_adjustment;
  GtkAdjustment *padding_adjustment;
  GtkAdjustment *feather_adjustment;
  GtkAdjustment *preview_adjustment;
  AdwActionRow *model_row;
};

G_DEFINE_FINAL_TYPE (StudioPreferences, studio_preferences, ADW_TYPE_PREFERENCES_WINDOW)

GSettings *
studio_settings_new (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  if (source)
    schema = g_settings_schema_source_lookup (source, "org.magvlt.Studio", TRUE);
  return schema ? g_settings_new_full (schema, NULL, NULL) : NULL;
}

gboolean
studio_settings_get_int_as_double (GValue *value, GVariant *variant, gpointer user_data)
{
  g_value_set_double (value, g_variant_get_int32 (variant));
  return TRUE;
}

GVariant *
studio_settings_set_double_as_int (const GValue *value, const GVariantType *type,
                                   gpointer user_data)
{
  return g_variant_new_int32 ((gint32) (g_value_get_double (value) + 0.5));
}

static void
bind_int (StudioPreferences *self, const char *key, GtkAdjustment *adjustment)
{
  g_settings_bind_with_mapping (self->settings, key, adjustment, "value", G_SETTINGS_BIND_DEFAULT,
                                studio_settings_get_int_as_double,
                                studio_settings_set_double_as_int, NULL, NULL);
}

static void
update_model_row (StudioPreferences *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "default-model-path");

  adw_action_row_set_subtitle (self->model_row, *path ? path : _ ("The default model"));
}

static void
on_model_chosen (GtkNativeDialog *dialog, int response, StudioPreferences *self)
{
  /* the preferences window may have been closed meanwhile (it is not the
   * chooser's modal parent on every platform): the reference below keeps it
   * alive, and its settings are gone once it is disposed */
  if (response == GTK_RESPONSE_ACCEPT && self->settings)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);

      g_settings_set_string (self->settings, "default-model-path", path ? path : "");
    }
  g_object_unref (dialog);
}

static void
choose_model (GtkButton *button, StudioPreferences *self)
{
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (
    _ ("Choose a Model File"), GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_OPEN, NULL, NULL);

  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_object_set_data_full (G_OBJECT (dialog), "preferences", g_object_ref (self), g_object_unref);
  g_signal_connect (dialog, "response", G_CALLBACK (on_model_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
reset_model (GtkButton *button, StudioPreferences *self)
{
  g_settings_reset (self->settings, "default-model-path");
}

static void
studio_preferences_dispose (GObject *object)
{
  StudioPreferences *self = STUDIO_PREFERENCES (object);

  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), STUDIO_TYPE_PREFERENCES);
  G_OBJECT_CLASS (studio_preferences_parent_class)->dispose (object);
}

static void
studio_preferences_class_init (StudioPreferencesClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = studio_preferences_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/magvlt/Studio/studio-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, steps_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, candidates_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, temperature_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, guidance_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, threads_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, padding_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, feather_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, preview_adjustment);
  gtk_widget_class_bind_template_child (widget_class, StudioPreferences, model_row);
  gtk_widget_class_bind_template_callback (widget_class, choose_model);
  gtk_widget_class_bind_template_callback (widget_class, reset_model);
}

static void
studio_preferences_init (StudioPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
studio_preferences_new (GtkWindow *parent, GSettings *settings)
{
  StudioPreferences *self =
    g_object_new (STUDIO_TYPE_PREFERENCES, "transient-for", parent, "modal", TRUE, NULL);

  self->settings = g_object_ref (settings);
  bind_int (self, "steps", self->steps_adjustment);
  bind_int (self, "candidates", self->candidates_adjustment);
  g_settings_bind (settings, "temperature-scale", self->temperature_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "guidance-scale", self->guidance_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);
  bind_int (self, "threads", self->threads_adjustment);
  bind_int (self, "padding", self->padding_adjustment);
  bind_int (self, "feather", self->feather_adjustment);
  bind_int (self, "preview-decode-interval", self->preview_adjustment);
  g_signal_connect_object (settings, "changed::default-model-path", G_CALLBACK (update_model_row),
                           self, G_CONNECT_SWAPPED);
  update_model_row (self);
  return GTK_WIDGET (self);
}
