/* studio-model-choice.c — which model the app loads at start-up
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-model-choice.h"

char *
studio_model_choice (const char *env, const char *chosen, const char *installed, const char *source,
                     gboolean *chosen_missing)
{
  if (chosen_missing)
    *chosen_missing = FALSE;
  /* the environment is the user's explicit word for this run: taken as is,
   * so a wrong path is reported rather than silently replaced */
  if (env && *env)
    return g_strdup (env);
  if (chosen && *chosen)
    {
      if (g_file_test (chosen, G_FILE_TEST_EXISTS))
        return g_strdup (chosen);
      if (chosen_missing)
        *chosen_missing = TRUE;
    }
  if (installed && *installed && g_file_test (installed, G_FILE_TEST_EXISTS))
    return g_strdup (installed);
  if (source && *source && g_file_test (source, G_FILE_TEST_EXISTS))
    return g_strdup (source);
  return NULL;
}
