/* test-model-choice.c — display-less: the model the app loads at start-up
 * (studio_model_choice): $MAGVLT_MODEL as given, the model chosen in
 * Preferences while its file exists, else the installed default model (and
 * the chosen one reported missing), else the source tree's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>

#include "studio-model-choice.h"

static void
test_choice (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-model-choice-XXXXXX", NULL);
  g_autofree char *chosen = g_build_filename (dir, "chosen.gguf", NULL);
  g_autofree char *installed = g_build_filename (dir, "installed.gguf", NULL);
  g_autofree char *source = g_build_filename (dir, "source.gguf", NULL);
  g_autofree char *gone = g_build_filename (dir, "deleted-import.gguf", NULL);
  gboolean missing = TRUE;
  char *got;

  g_assert_true (g_file_set_contents (chosen, "x", -1, NULL));
  g_assert_true (g_file_set_contents (installed, "x", -1, NULL));
  g_assert_true (g_file_set_contents (source, "x", -1, NULL));

  /* the environment as given, even a path that does not exist (reported by the load) */
  got = studio_model_choice ("/no/such/env.gguf", chosen, installed, source, &missing);
  g_assert_cmpstr (got, ==, "/no/such/env.gguf");
  g_assert_false (missing);
  g_free (got);
  /* the chosen model while it exists */
  got = studio_model_choice ("", chosen, installed, source, &missing);
  g_assert_cmpstr (got, ==, chosen);
  g_assert_false (missing);
  g_free (got);
  /* a chosen model deleted since: the installed default, and said so */
  got = studio_model_choice (NULL, gone, installed, source, &missing);
  g_assert_cmpstr (got, ==, installed);
  g_assert_true (missing);
  g_free (got);
  /* nothing chosen, nothing installed: the source tree's */
  got = studio_model_choice (NULL, "", "/no/installed.gguf", source, &missing);
  g_assert_cmpstr (got, ==, source);
  g_assert_false (missing);
  g_free (got);
  /* nothing at all */
  g_assert_null (studio_model_choice (NULL, NULL, NULL, "/no/source.gguf", NULL));

  g_unlink (chosen);
  g_unlink (installed);
  g_unlink (source);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model-choice/order", test_choice);
  return g_test_run ();
}
