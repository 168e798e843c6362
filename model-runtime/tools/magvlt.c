/* magvlt.c — the `magvlt` command-line tool: subcommand dispatch.
 * SPDX-License-Identifier: MIT */
#include "magvlt-cli.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "generate", cli_generate, "generate an image from a text prompt" },
  { "caption", cli_caption, "caption one or more images" },
  { "inpaint", cli_inpaint, "regenerate the masked region of an image from a prompt" },
  { "edit", cli_edit, "edit an image (or a masked region) towards a prompt" },
  { "infill", cli_infill, "fill the [MASK] in a caption from an image" },
  { "joint", cli_joint, "generate an image and its caption from nothing" },
  { "info", cli_info, "print a model file's architecture, geometry and size" },
  { "convert", cli_convert, "convert official MAGVLT / VQGAN checkpoints into a model file" },
  { "forward", cli_forward, "run one transformer forward pass per case and save the outputs" },
  { "bench", cli_bench, "time the engine's stages on a model and print medians" },
  { "vq", cli_vq, "encode an image into VQGAN codes, or decode codes into an image" },
  { "tokenize", cli_tokenize, "print the text ids a model sees for a prompt" },
  { "detokenize", cli_detokenize, "print the text of text ids (optionally as a caption)" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: magvlt COMMAND [OPTIONS]\n\nCommands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun `magvlt COMMAND --help` for a command's options.\n");
}

gboolean
cli_parse (const char *command, const char *summary, const char *description,
           const GOptionEntry *entries, int *argc, char ***argv)
{
  g_autofree char *prgname = g_strdup_printf ("magvlt %s", command);
  /* "TEXT — what it does": TEXT goes into the usage line after [OPTION…] */
  const char *dash = strstr (summary, " — ");
  g_autofree char *params = dash ? g_strndup (summary, (gsize) (dash - summary)) : NULL;
  g_autoptr (GOptionContext) oc = g_option_context_new (params);
  g_autoptr (GError) error = NULL;

  g_option_context_set_summary (oc, dash ? dash + strlen (" — ") : summary);
  if (description)
    g_option_context_set_description (oc, description);
  g_option_context_add_main_entries (oc, entries, NULL);
  g_set_prgname (prgname); /* GLib copies it */
  if (!g_option_context_parse (oc, argc, argv, &error))
    {
      fprintf (stderr, "magvlt %s: %s\nRun `magvlt %s --help` for usage.\n", command,
               error->message, command);
      return FALSE;
    }
  return TRUE;
}

/* The model to use without -m: $MAGVLT_MODEL, else the installed default
 * model, else (run from the build folder) the source tree's; NULL if none. */
char *
cli_default_model (void)
{
  const char *env = g_getenv ("MAGVLT_MODEL");
  if (env && *env)
    return g_strdup (env);
  char *p = g_build_filename (MAGVLT_DATADIR, "magvlt-studio", "models", "default.gguf", NULL);
  if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
    return p;
  g_free (p);
#if defined(MAGVLT_BUILD_ROOT) && defined(MAGVLT_SOURCE_ROOT)
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe && g_str_has_prefix (exe, MAGVLT_BUILD_ROOT G_DIR_SEPARATOR_S))
    {
      p = g_build_filename (MAGVLT_SOURCE_ROOT, "data", "models", "default.gguf", NULL);
      if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
        return p;
      g_free (p);
    }
#endif
  return NULL;
}

/* The library's messages while loading: warnings as they come, errors not
 * (cli_load_model reports the one that failed the load, once). */
static void
on_load_log (magvlt_log_level level, const char *message, void *user_data)
{
  if (level == MAGVLT_LOG_WARN)
    fprintf (stderr, "%s: warning: %s\n", g_get_prgname (), message);
}

magvlt_model *
cli_load_model (const char *path)
{
  magvlt_model *model = NULL;
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.log_callback = on_load_log;
  magvlt_status st = magvlt_model_load (path, &mp, &model);
  if (st != MAGVLT_OK)
    {
      /* g_get_prgname (): "magvlt COMMAND", set by cli_parse */
      fprintf (stderr, "%s: cannot load the model: %s\n", g_get_prgname (), magvlt_last_error ());
      return NULL;
    }
  return model;
}

gboolean
cli_need_transformer (const char *command, const char *path, const magvlt_model_info *info)
{
  if (info->has_transformer)
    return TRUE;
  fprintf (stderr,
           "magvlt %s: %s is a VQGAN-only model (converted from a VQGAN checkpoint alone): it has "
           "no transformer, so only `magvlt vq` works with it; convert the MAGVLT checkpoint with "
           "`magvlt convert --ckpt`\n",
           command, path);
  return FALSE;
}

double
cli_now_ms (void)
{
  return (double) g_get_monotonic_time () / 1000.0;
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* numbers in JSON and in PNG text chunks are written with a '.', whatever
   * the user's locale ("1,5" made `bench --json` invalid under de_DE) */
  setlocale (LC_NUMERIC, "C");
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("magvlt %d.%d.%d\n", MAGVLT_VERSION_MAJOR, MAGVLT_VERSION_MINOR,
              MAGVLT_VERSION_MICRO);
      return CLI_EXIT_OK;
    }
  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      {
        int rc = commands[i].run (argc - 1, argv + 1);
        /* results on stdout that could not be written (a full disk, a closed
         * pipe) are a failure, not a success with nothing in the file */
        if (fflush (stdout) != 0 || ferror (stdout))
          {
            fprintf (stderr, "magvlt %s: cannot write the output: %s\n", argv[1],
                     g_strerror (errno));
            if (rc == CLI_EXIT_OK)
              rc = CLI_EXIT_FAILED;
          }
        return rc;
      }
  fprintf (stderr, "magvlt: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return CLI_EXIT_USAGE;
}
