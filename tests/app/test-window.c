/* test-window.c — display test (Xvfb): the window's template instantiates,
 * and its actions are enabled exactly when they can work: before a model
 * and an image, with them, while a job runs (only Cancel), and after.
 *
 * Usage: test-window MODEL.gguf IMAGE.png */
#include <adwaita.h>
#include <string.h>

#include "studio-application.h"
#include "studio-preferences.h"
#include "studio-window-private.h"

static const char *model_path, *image_path;

static gboolean
enabled (GActionGroup *g, const char *name)
{
  return g_action_group_get_action_enabled (g, name);
}

static gboolean
state_bool (GActionGroup *g, const char *name)
{
  g_autoptr (GVariant) v = g_action_group_get_action_state (g, name);
  return g_variant_get_boolean (v);
}

static void
spin_until (GActionGroup *g, const char *name, gboolean value)
{
  gint64 end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  while (state_bool (g, name) != value && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (state_bool (g, name) == value);
}

static void
on_activate (GApplication *app, gpointer data)
{
}

static void
test_actions (void)
{
  g_autoptr (StudioApplication) app = studio_application_new ();
  StudioWindow *win;
  GActionGroup *g;
  const char *needs_image[] = { "caption", "inpaint", "edit", "infill" };

  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_signal_connect (app, "activate", G_CALLBACK (on_activate), NULL);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));
  win = studio_window_new (app);
  g = G_ACTION_GROUP (win);
  gtk_window_present (GTK_WINDOW (win));

  /* no model, no image: nothing to run, nothing to save */
  g_assert_false (enabled (g, "generate"));
  for (gsize i = 0; i < G_N_ELEMENTS (needs_image); i++)
    g_assert_false (enabled (g, needs_image[i]));
  g_assert_false (enabled (g, "save-as"));
  g_assert_false (enabled (g, "cancel"));
  g_assert_false (enabled (g, "accept-result"));
  g_assert_true (enabled (g, "open"));

  g_assert_false (enabled (g, "primary"));

  /* a model: generation works without an image, and is the primary action
   * (the header bar's main button and Ctrl+Return) */
  studio_window_load_model (win, model_path);
  spin_until (g, "model-loaded", TRUE);
  g_assert_true (enabled (g, "generate"));
  g_assert_false (enabled (g, "caption"));
  g_assert_true (enabled (g, "primary"));
  g_assert_cmpstr (adw_split_button_get_label (win->primary_button), ==, "_Generate");
  g_action_group_change_action_state (g, "steps", g_variant_new_int32 (2));
  g_action_group_activate_action (g, "primary", NULL);
  spin_until (g, "busy", FALSE);
  g_assert_nonnull (win->pending);
  g_assert_cmpint (win->pending->kind, ==, STUDIO_JOB_GENERATE);
  g_action_group_activate_action (g, "discard-result", NULL);

  /* an image: every job; Inpaint is the primary action */
  g_action_group_activate_action (g, "open", g_variant_new_string (image_path));
  for (gsize i = 0; i < G_N_ELEMENTS (needs_image); i++)
    g_assert_true (enabled (g, needs_image[i]));
  g_assert_cmpstr (adw_split_button_get_label (win->primary_button), ==, "_Inpaint");
  g_action_group_activate_action (g, "primary", NULL); /* nothing painted yet */
  g_assert_false (state_bool (g, "busy"));
  {
    g_autoptr (GVariant) error = g_action_group_get_action_state (g, "last-error");
    g_assert_nonnull (strstr (g_variant_get_string (error, NULL), "mask is empty"));
  }
  g_assert_true (enabled (g, "save-as"));
  g_assert_true (enabled (g, "clear-mask"));

  /* busy: only Cancel */
  g_action_group_change_action_state (g, "steps", g_variant_new_int32 (100));
  g_action_group_change_action_state (g, "candidates-per-run", g_variant_new_int32 (16));
  g_action_group_activate_action (g, "generate", NULL);
  g_assert_true (state_bool (g, "busy"));
  g_assert_true (enabled (g, "cancel"));
  g_assert_false (enabled (g, "generate"));
  g_assert_false (enabled (g, "open"));
  for (gsize i = 0; i < G_N_ELEMENTS (needs_image); i++)
    g_assert_false (enabled (g, needs_image[i]));
  g_action_group_activate_action (g, "cancel", NULL);
  spin_until (g, "busy", FALSE);
  g_assert_false (enabled (g, "cancel"));
  g_assert_true (enabled (g, "generate"));
  g_assert_false (enabled (g, "accept-result"));

  /* a finished job: three candidates, cycled; the second accepted; undo
   * restores the exact previous image */
  {
    g_autoptr (GdkPixbuf) before = gdk_pixbuf_copy (win->image);
    GdkPixbuf *second;
    g_autoptr (GVariant) idx = NULL;

    g_action_group_change_action_state (g, "steps", g_variant_new_int32 (4));
    g_action_group_change_action_state (g, "candidates-per-run", g_variant_new_int32 (3));
    g_action_group_activate_action (g, "generate", NULL);
    spin_until (g, "busy", FALSE);
    g_assert_true (enabled (g, "accept-result"));
    g_assert_cmpuint (win->pending->candidates->len, ==, 3);
    g_action_group_activate_action (g, "next-candidate", NULL);
    g_action_group_activate_action (g, "next-candidate", NULL);
    g_action_group_activate_action (g, "next-candidate", NULL); /* wraps to the first */
    g_action_group_activate_action (g, "next-candidate", NULL);
    idx = g_action_group_get_action_state (g, "candidate-index");
    g_assert_cmpint (g_variant_get_int32 (idx), ==, 1);
    second = g_object_ref (g_array_index (win->pending->candidates, StudioCandidate, 1).image);
    g_action_group_activate_action (g, "accept-result", NULL);
    g_assert_false (enabled (g, "accept-result"));
    g_assert_true (state_bool (g, "dirty"));
    g_assert_true (win->image == second);
    g_object_unref (second);
    /* what a save would record: the job as the CLI names it, in any locale */
    g_assert_nonnull (win->provenance);
    g_assert_cmpstr (win->provenance->pdata[0], ==, "MAGVLT job");
    g_assert_cmpstr (win->provenance->pdata[1], ==, "generate");
    g_assert_true (enabled (g, "undo"));
    g_action_group_activate_action (g, "undo", NULL);
    g_assert_null (win->provenance); /* the opened file's: none */
    g_assert_cmpint (gdk_pixbuf_get_width (win->image), ==, gdk_pixbuf_get_width (before));
    g_assert_cmpint (gdk_pixbuf_get_height (win->image), ==, gdk_pixbuf_get_height (before));
    g_assert_cmpmem (gdk_pixbuf_read_pixels (win->image), gdk_pixbuf_get_byte_length (win->image),
                     gdk_pixbuf_read_pixels (before), gdk_pixbuf_get_byte_length (before));
    g_assert_true (enabled (g, "redo"));
    g_action_group_activate_action (g, "redo", NULL);
    g_assert_nonnull (win->provenance);
    g_assert_cmpstr (win->provenance->pdata[1], ==, "generate");
  }

  /* the preferences window (when the schema is installed) instantiates */
  if (studio_application_get_settings (app))
    {
      GtkWidget *prefs =
        studio_preferences_new (GTK_WINDOW (win), studio_application_get_settings (app));
      gtk_window_present (GTK_WINDOW (prefs));
      gtk_window_destroy (GTK_WINDOW (prefs));
    }

  /* the accelerators ux.md names, and app.shortcuts showing the shortcuts
   * window */
  {
    g_auto (GStrv) primary =
      gtk_application_get_accels_for_action (GTK_APPLICATION (app), "win.primary");
    g_auto (GStrv) shortcuts =
      gtk_application_get_accels_for_action (GTK_APPLICATION (app), "app.shortcuts");
    GListModel *toplevels = gtk_window_get_toplevels ();
    gboolean shown = FALSE;

    g_assert_true (primary[0] && g_str_equal (primary[0], "<Control>Return"));
    g_assert_true (shortcuts[0] && g_str_equal (shortcuts[0], "<Control>question"));
    g_action_group_activate_action (G_ACTION_GROUP (app), "shortcuts", NULL);
    while (g_main_context_iteration (NULL, FALSE))
      ;
    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr (GObject) w = g_list_model_get_item (toplevels, i);
        if (GTK_IS_SHORTCUTS_WINDOW (w) && gtk_widget_get_visible (GTK_WIDGET (w)))
          {
            shown = TRUE;
            gtk_window_close (GTK_WINDOW (w));
          }
      }
    g_assert_true (shown);
  }

  /* read-only observers refuse changes from outside */
  g_action_group_change_action_state (g, "busy", g_variant_new_boolean (TRUE));
  g_assert_false (state_bool (g, "busy"));

  gtk_window_destroy (GTK_WINDOW (win));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

int
main (int argc, char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  if (argc < 3)
    {
      g_printerr ("usage: test-window MODEL.gguf IMAGE.png\n");
      return 2;
    }
  model_path = argv[1];
  image_path = argv[2];
  g_test_add_func ("/window/actions", test_actions);
  return g_test_run ();
}
