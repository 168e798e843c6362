/* test-i18n.c — display test: under a German locale the window shows the
 * German strings of po/de.po (template labels and strings from C code).
 *
 * Usage: test-i18n LOCALEDIR   (the build folder's po/, with de/LC_MESSAGES) */
#include <adwaita.h>
#include <glib/gi18n.h>
#include <locale.h>

#include "studio-application.h"
#include "studio-window.h"

static GtkWidget *
find_button (GtkWidget *root, const char *action)
{
  if (GTK_IS_ACTIONABLE (root)
      && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (root)), action) == 0)
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_button (c, action);
      if (found)
        return found;
    }
  return NULL;
}

int
main (int argc, char *argv[])
{
  g_autoptr (StudioApplication) app = NULL;
  StudioWindow *win;
  GtkWidget *open;

  if (argc < 2)
    {
      g_printerr ("usage: test-i18n LOCALEDIR\n");
      return 2;
    }
  g_setenv ("LANGUAGE", "de", TRUE);
  if (!setlocale (LC_ALL, "de_DE.UTF-8"))
    {
      g_printerr (
        "FAIL the de_DE.UTF-8 locale is not available (locale-gen it; install-deps does)\n");
      return 1;
    }
  bindtextdomain (GETTEXT_PACKAGE, argv[1]);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  gtk_init ();
  adw_init ();

  int failed = 0;
  if (g_strcmp0 (_ ("Cancelled"), "Abgebrochen") != 0)
    failed++, g_printerr ("FAIL a C string is not translated: %s\n", _ ("Cancelled"));
  else
    g_print ("ok   C strings are German: %s\n", _ ("Cancelled"));

  app = studio_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, NULL);
  win = studio_window_new (app);
  open = find_button (GTK_WIDGET (win), "win.open");
  if (!open || g_strcmp0 (gtk_button_get_label (GTK_BUTTON (open)), "Ö_ffnen") != 0)
    failed++, g_printerr ("FAIL the Open button reads %s\n",
                          open ? gtk_button_get_label (GTK_BUTTON (open)) : "(missing)");
  else
    g_print ("ok   template labels are German: %s\n", gtk_button_get_label (GTK_BUTTON (open)));
  gtk_window_destroy (GTK_WINDOW (win));
  g_print ("%d passed, %d failed\n", 2 - failed, failed);
  return failed != 0;
}
