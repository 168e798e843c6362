/* studio-application.c — the application: start-up, app actions, model
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "studio-application.h"

#include <glib/gi18n.h>

#include "studio-model-choice.h"
#include "studio-preferences.h"
#include "studio-window.h"

struct _StudioApplication {
  AdwApplication parent_instance;
  char *model_path;
  GSettings *settings; /* NULL without an installed schema */
};

G_DEFINE_FINAL_TYPE (StudioApplication, studio_application, ADW_TYPE_APPLICATION)

/* The model to load at start-up: --model, then $MAGVLT_MODEL, then the
 * model chosen in Preferences (when its file still exists), then the default
 * model installed with the app, then (running from the build folder) the
 * source tree's (studio_model_choice). */
static char *
find_default_model (GSettings *settings, gboolean *chosen_missing)
{
  g_autofree char *chosen =
    settings ? g_settings_get_string (settings, "default-model-path") : NULL;
  g_autofree char *installed =
    g_build_filename (STUDIO_DATADIR, "magvlt-studio", "models", "default.gguf", NULL);

  return studio_model_choice (g_getenv ("MAGVLT_MODEL"), chosen, installed, STUDIO_SOURCE_MODEL,
                              chosen_missing);
}

const char *
studio_application_get_model_path (StudioApplication *self)
{
  return self->model_path;
}

static StudioWindow *
get_window (StudioApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (!window)
    {
      gboolean chosen_missing = FALSE;

      window = GTK_WINDOW (studio_window_new (self));
      if (!self->model_path)
        self->model_path = find_default_model (self->settings, &chosen_missing);
      studio_window_load_model (STUDIO_WINDOW (window), self->model_path);
      if (chosen_missing)
        {
          /* the model chosen in Preferences (an import since deleted, a
           * drive not mounted): say so, and go on with the default model */
          g_autofree char *chosen = g_settings_get_string (self->settings, "default-model-path");
          g_autofree char *name = g_filename_display_name (chosen);
          g_autofree char *msg =
            g_strdup_printf (_ ("The model chosen in Preferences is missing (%s): using the "
                                "default model"),
                             name);
          studio_window_toast (STUDIO_WINDOW (window), msg);
        }
    }
  return STUDIO_WINDOW (window);
}

static void
studio_application_activate (GApplication *app)
{
  gtk_window_present (GTK_WINDOW (get_window (STUDIO_APPLICATION (app))));
}

static void
studio_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  StudioWindow *window = get_window (STUDIO_APPLICATION (app));

  if (n_files > 0)
    studio_window_open_file (window, files[0]);
  gtk_window_present (GTK_WINDOW (window));
}

static int
studio_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  StudioApplication *self = STUDIO_APPLICATION (app);
  const char *model = NULL;

  if (g_variant_dict_lookup (options, "model", "^&ay", &model) && model && *model)
    {
      g_free (self->model_path);
      self->model_path = g_canonicalize_filename (model, NULL);
    }
  return -1;
}

static void
quit_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (user_data));

  for (GList *l = windows; l; l = l->next)
    gtk_window_close (l->data);
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *developers[] = { "MAGVLT Studio developers", NULL };
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (user_data));

  GtkWidget *about = adw_about_window_new ();

  g_object_set (about, "transient-for", parent, "application-name", _ ("MAGVLT Studio"),
                "application-icon", "org.magvlt.Studio", "developer-name",
                "MAGVLT Studio developers", "version", PACKAGE_VERSION, "developers", developers,
                "license-type", GTK_LICENSE_GPL_3_0, "copyright", "© 2026 MAGVLT Studio developers",
                "comments",
                _ ("Inpaint, edit, generate and caption images with a local MAGVLT model"), NULL);
  /* the engine's licence, and the data the default model was trained on */
  adw_about_window_add_legal_section (ADW_ABOUT_WINDOW (about), "libmagvlt", NULL,
                                      GTK_LICENSE_MIT_X11, NULL);
  adw_about_window_add_legal_section (
    ADW_ABOUT_WINDOW (about), _ ("Default model"), NULL, GTK_LICENSE_CUSTOM,
    _ ("Trained on openly licensed emoji and flag artwork: Noto Emoji and Noto Emoji v1 "
       "(Apache-2.0, Google), Twemoji (CC-BY-4.0, Twitter), Emoji One (CC-BY-4.0), Microsoft "
       "Fluent Emoji (MIT), Firefox OS Emoji (Apache-2.0, Mozilla), circle-flags, flag-icons and "
       "flagpack (MIT); names from Unicode CLDR via emojibase-data (MIT, Unicode licence). See "
       "data/models/ATTRIBUTION.md."));
  gtk_window_present (GTK_WINDOW (about));
}

static void
preferences_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  StudioApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (self->settings)
    gtk_window_present (GTK_WINDOW (studio_preferences_new (parent, self->settings)));
}

/* The keyboard shortcuts window (ui/gtk/help-overlay.ui, which GTK attaches
 * to every window as win.show-help-overlay) of the active window, under the
 * name ux.md gives it. */
static void
shortcuts_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (user_data));

  if (window)
    gtk_widget_activate_action (GTK_WIDGET (window), "win.show-help-overlay", NULL);
}

static const GActionEntry app_entries[] = {
  { "quit", quit_activated },
  { "about", about_activated },
  { "preferences", preferences_activated },
  { "shortcuts", shortcuts_activated },
};

GSettings *
studio_application_get_settings (StudioApplication *self)
{
  return self->settings;
}

static void
studio_application_startup (GApplication *app)
{
  static const struct {
    const char *action;
    const char *accels[3];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "app.shortcuts", { "<Control>question", NULL } },
    { "win.open('')", { "<Control>o", NULL } },
    { "win.save-as('')", { "<Control><Shift>s", NULL } },
    /* Ctrl+C/V/Z, B, E, [, ], Return and Delete are the window's own
     * shortcuts (studio-window.c), not application accelerators: those run
     * before the focused widget, so they would take the keys from someone
     * typing in the caption box or a number field */
    { "win.primary", { "<Control>Return", NULL } },
    { "win.cancel", { "Escape", NULL } },
    { "win.zoom-in", { "<Control>plus", "<Control>equal", NULL } },
    { "win.zoom-out", { "<Control>minus", NULL } },
    { "win.zoom-fit", { "<Control>0", NULL } },
    { "win.next-candidate", { "<Alt>Right", NULL } },
    { "win.previous-candidate", { "<Alt>Left", NULL } },
  };

  G_APPLICATION_CLASS (studio_application_parent_class)->startup (app);
  g_action_map_add_action_entries (G_ACTION_MAP (app), app_entries, G_N_ELEMENTS (app_entries),
                                   app);
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);
}

static void
studio_application_finalize (GObject *object)
{
  g_free (STUDIO_APPLICATION (object)->model_path);
  g_clear_object (&STUDIO_APPLICATION (object)->settings);
  G_OBJECT_CLASS (studio_application_parent_class)->finalize (object);
}

static void
studio_application_class_init (StudioApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = studio_application_finalize;
  app_class->activate = studio_application_activate;
  app_class->open = studio_application_open;
  app_class->startup = studio_application_startup;
  app_class->handle_local_options = studio_application_handle_local_options;
}

static void
studio_application_init (StudioApplication *self)
{
  const GOptionEntry options[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL, N_ ("Model file (GGUF) to use"), N_ ("MODEL") },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), options);
  /* NULL when the schema is not installed: built-in defaults, no
   * preferences window */
  self->settings = studio_settings_new ();
}

StudioApplication *
studio_application_new (void)
{
  return g_object_new (STUDIO_TYPE_APPLICATION, "application-id", "org.magvlt.Studio", "flags",
                       G_APPLICATION_HANDLES_OPEN, "resource-base-path", "/org/magvlt/Studio",
                       NULL);
}
