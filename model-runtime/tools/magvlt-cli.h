/* magvlt-cli.h — shared bits of the `magvlt` command-line tool.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CLI_H
#define MAGVLT_CLI_H

#include "magvlt.h"

#include <glib.h>

/* Exit codes: 0 success, 1 the job failed (bad file, bad input, cancelled),
 * 2 the command line is wrong. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

int cli_info (int argc, char **argv);
int cli_convert (int argc, char **argv);
int cli_forward (int argc, char **argv);
int cli_bench (int argc, char **argv);
int cli_vq (int argc, char **argv);
int cli_tokenize (int argc, char **argv);
int cli_detokenize (int argc, char **argv);
/* cmd-jobs.c: the generation jobs */
int cli_generate (int argc, char **argv);
int cli_caption (int argc, char **argv);
int cli_inpaint (int argc, char **argv);
int cli_edit (int argc, char **argv);
int cli_infill (int argc, char **argv);
int cli_joint (int argc, char **argv);

/* Parses argv with entries; prints the error and returns FALSE on failure.
 * A summary "ARGS — Does this." puts ARGS in the usage line
 * ("magvlt tokenize [OPTION…] TEXT") and shows "Does this." below it. */
gboolean cli_parse (const char *command, const char *summary, const char *description,
                    const GOptionEntry *entries, int *argc, char ***argv);

/* The model to use without -m (newly allocated), or NULL: $MAGVLT_MODEL,
 * the installed default model, or the source tree's when run from the build. */
char *cli_default_model (void);

/* Loads a model, printing the library's message on failure. */
magvlt_model *cli_load_model (const char *path);

/* FALSE, with a message, for a VQGAN-only model (no transformer). */
gboolean cli_need_transformer (const char *command, const char *path,
                               const magvlt_model_info *info);

/* Wall-clock milliseconds. */
double cli_now_ms (void);

#endif
