/* cmd-jobs.h — what cmd-jobs.c (the generation subcommands) and
 * cmd-jobs-output.c (progress bar, previews, result files and lines,
 * Ctrl+C) share.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CMD_JOBS_H
#define MAGVLT_CMD_JOBS_H

#include "magvlt-cli.h"

#include <stdint.h>

typedef enum {
  JOB_GENERATE,
  JOB_CAPTION,
  JOB_INPAINT,
  JOB_EDIT,
  JOB_INFILL,
  JOB_JOINT,
} job_kind;

/* Exit status of a job cancelled with Ctrl+C (128 + SIGINT, as shells report). */
#define CLI_EXIT_CANCELLED 130

typedef struct {
  job_kind kind;
  const char *cmd; /* "generate" */

  /* options */
  char *model_path, *out_path, *mask_path, *prompt, *seed_str, *preview_dir, *backend;
  char **inputs; /* -i, NULL-terminated */
  /* Options with a default of their own are read as text, so that "not
   * given" (NULL) cannot collide with any value a user types. */
  char *steps_arg, *candidates_arg, *temperature_arg, *choice_temperature_arg, *guidance_arg,
    *strength_arg, *padding_arg, *feather_arg;
  int steps, candidates, threads, padding, feather, span_length, preview_decode_every;
  double temperature, choice_temperature, guidance, strength;
  gboolean official, json, quiet;

  /* derived */
  magvlt_sampling_params sp;
  magvlt_edit_params ep;
  uint64_t seed;
  gboolean seed_given;
  int main_steps; /* the steps --steps set (reported as "steps") */

  /* engine */
  magvlt_model *model;
  magvlt_context *ctx;
  magvlt_model_info info;

  /* progress bar (only when stderr is a terminal) */
  gboolean tty, bar_shown;
  double job_t0, last_draw;
  int input_index, n_inputs; /* caption: the image being captioned */

  /* previews */
  gboolean preview_failed;
} job_run;

/* ---- cmd-jobs-output.c ---- */

/* Ctrl+C: installs a SIGINT handler that sets a flag and cancels the job of
 * the context given to cli_jobs_signal_context (an atomic store: safe in a
 * signal handler). A second Ctrl+C kills the process. */
void cli_jobs_signals_install (void);
void cli_jobs_signal_context (magvlt_context *ctx);
void cli_jobs_signals_restore (void);
gboolean cli_jobs_interrupted (void);
/* Prints "cancelled" and returns CLI_EXIT_CANCELLED. */
int cli_jobs_cancelled (job_run *r);

/* Sets the context's progress (when stderr is a terminal) and preview
 * (with --preview-dir) callbacks. */
void cli_jobs_set_callbacks (job_run *r);
/* Erases the progress bar. */
void cli_jobs_progress_clear (job_run *r);

/* OUT.png for rank 1, OUT-2.png, OUT-3.png ... for the others. */
char *cli_jobs_output_path (const char *out, int rank);
/* Writes candidate c (rank 1-based) as a PNG file with text chunks. */
gboolean cli_jobs_write_image (job_run *r, const magvlt_candidate *c, int rank, const char *path);
/* Prints the result line of candidate c (JSON with --json, else text). input
 * and output may be NULL. */
void cli_jobs_print_result (job_run *r, const magvlt_candidate *c, int rank, int n_ranks,
                            const char *input, const char *output, double ms);
/* Prints the line of an input that failed (JSON with --json, else stderr). */
void cli_jobs_print_input_error (job_run *r, const char *input, const char *message);

#endif
