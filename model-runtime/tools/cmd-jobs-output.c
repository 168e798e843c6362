/* cmd-jobs-output.c — what the generation subcommands show and write: the
 * progress bar, step previews, result images with text chunks, result lines
 * (text or JSON), and Ctrl+C.
 * SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE /* sigaction flags */
#include "cmd-jobs.h"
#include "image-io.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- Ctrl+C --------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static _Atomic (magvlt_context *) signal_ctx;
static struct sigaction old_action;
static gboolean installed;

/* Async-signal-safe: a flag, and magvlt_context_cancel, an atomic store. */
static void
on_sigint (int sig)
{
  interrupted = 1;
  magvlt_context *ctx = atomic_load (&signal_ctx);
  if (ctx)
    magvlt_context_cancel (ctx);
}

void
cli_jobs_signals_install (void)
{
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  /* system calls go on; a second Ctrl+C kills the process */
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  interrupted = 0;
  installed = sigaction (SIGINT, &sa, &old_action) == 0;
}

void
cli_jobs_signal_context (magvlt_context *ctx)
{
  atomic_store (&signal_ctx, ctx);
  if (ctx && interrupted)
    magvlt_context_cancel (ctx);
}

void
cli_jobs_signals_restore (void)
{
  if (installed)
    sigaction (SIGINT, &old_action, NULL);
  installed = FALSE;
}

gboolean
cli_jobs_interrupted (void)
{
  return interrupted != 0;
}

int
cli_jobs_cancelled (job_run *r)
{
  cli_jobs_progress_clear (r);
  fprintf (stderr, "cancelled\n");
  return CLI_EXIT_CANCELLED;
}

/* ---- progress bar --------------------------------------------------------- */

void
cli_jobs_progress_clear (job_run *r)
{
  if (!r->bar_shown)
    return;
  fputs ("\r\033[K", stderr);
  fflush (stderr);
  r->bar_shown = FALSE;
}

/* The job's done fraction: candidates one after another, each its image
 * steps then its text steps. */
static double
job_fraction (const job_run *r, magvlt_stage stage, int step, int n_steps, int cand, int n_cand)
{
  gboolean has_image = r->kind != JOB_CAPTION && r->kind != JOB_INFILL;
  gboolean has_text = r->kind == JOB_CAPTION || r->kind == JOB_INFILL || r->kind == JOB_JOINT;
  double img = has_image ? r->sp.image_steps : 0, txt = has_text ? r->sp.text_steps : 0;
  double total = img + txt, done = 0.0, s = n_steps > 0 ? (double) step / n_steps : 1.0;
  if (stage == MAGVLT_STAGE_IMAGE)
    done = s * img;
  else if (stage == MAGVLT_STAGE_TEXT)
    done = img + s * txt;
  else if (stage == MAGVLT_STAGE_DECODE)
    done = total;
  else if (stage == MAGVLT_STAGE_LENGTH)
    done = img;
  if (n_cand < 1 || total <= 0)
    return 0.0;
  return (cand * total + done) / (n_cand * total);
}

static void
progress_cb (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t cand, int32_t n_cand,
             void *user_data)
{
  job_run *r = user_data;
  double now = cli_now_ms ();
  if (r->bar_shown && now - r->last_draw < 50.0)
    return;
  r->last_draw = now;
  double f = job_fraction (r, stage, step, n_steps, cand, n_cand);
  double elapsed = now - r->job_t0;
  char eta[32] = "--:--";
  if (f > 0.01 && elapsed > 200.0)
    {
      long left = lround (elapsed * (1.0 - f) / f / 1000.0);
      if (left >= 3600)
        snprintf (eta, sizeof eta, "%ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
      else
        snprintf (eta, sizeof eta, "%ld:%02ld", left / 60, left % 60);
    }
  char bar[21];
  int filled = (int) (f * 20.0 + 0.5);
  for (int i = 0; i < 20; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[20] = 0;
  g_autofree char *input = r->n_inputs > 1
                             ? g_strdup_printf ("image %d/%d  ", r->input_index + 1, r->n_inputs)
                             : g_strdup ("");
  g_autofree char *candidate =
    n_cand > 1 ? g_strdup_printf ("candidate %d/%d  ", cand + 1, n_cand) : g_strdup ("");
  fprintf (stderr, "\r\033[K%s%s%-17s step %d/%d [%s] %3d%%  ETA %s", input, candidate,
           magvlt_stage_str (stage), step, n_steps, bar, (int) (f * 100.0), eta);
  fflush (stderr);
  r->bar_shown = TRUE;
}

/* ---- previews ------------------------------------------------------------- */

static char *
preview_path (job_run *r, const magvlt_preview *pv, const char *kind, const char *suffix)
{
  int digits = 2;
  for (int n = pv->n_steps; n >= 100; n /= 10)
    digits++;
  g_autofree char *in =
    r->n_inputs > 1 ? g_strdup_printf ("i%d-", r->input_index + 1) : g_strdup ("");
  g_autofree char *cand =
    pv->n_candidates > 1 ? g_strdup_printf ("c%d-", pv->candidate + 1) : g_strdup ("");
  g_autofree char *name =
    g_strdup_printf ("%s%s%s%0*d%s", in, cand, kind, digits, pv->step, suffix);
  return g_build_filename (r->preview_dir, name, NULL);
}

static void
preview_failed (job_run *r, const char *message)
{
  cli_jobs_progress_clear (r);
  fprintf (stderr, "magvlt %s: warning: %s; no more previews are written\n", r->cmd, message);
  r->preview_failed = TRUE;
}

static void
preview_cb (const magvlt_preview *pv, void *user_data)
{
  job_run *r = user_data;
  g_autoptr (GError) error = NULL;
  if (!r->preview_dir || r->preview_failed)
    return;
  if (pv->stage == MAGVLT_STAGE_IMAGE && pv->thumbnail && pv->thumbnail_size > 0)
    {
      /* the palette thumbnail scaled up to the model resolution, nearest */
      int s = pv->thumbnail_size, res = r->info.image_resolution > 0 ? r->info.image_resolution : s;
      g_autofree uint8_t *big = g_malloc ((size_t) res * res * 3);
      for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++)
          memcpy (big + ((size_t) y * res + x) * 3,
                  pv->thumbnail + ((size_t) (y * s / res) * s + (size_t) (x * s / res)) * 3, 3);
      g_autofree char *path = preview_path (r, pv, "step-", ".png");
      if (!cli_png_write_atomic (path, big, res, res, (size_t) res * 3, NULL, NULL, &error))
        {
          preview_failed (r, error->message);
          return;
        }
    }
  if (pv->stage == MAGVLT_STAGE_IMAGE && pv->image && pv->image_size > 0)
    {
      g_autofree char *path = preview_path (r, pv, "step-", "-decoded.png");
      if (!cli_png_write_atomic (path, pv->image, pv->image_size, pv->image_size,
                                 (size_t) pv->image_size * 3, NULL, NULL, &error))
        {
          preview_failed (r, error->message);
          return;
        }
    }
  if (pv->stage == MAGVLT_STAGE_TEXT && pv->text_ids && pv->n_text > 0)
    {
      size_t len = 0;
      if (magvlt_detokenize (r->model, pv->text_ids, pv->n_text, 0, NULL, 0, &len) != MAGVLT_OK)
        return;
      g_autofree char *text = g_malloc (len + 2);
      magvlt_detokenize (r->model, pv->text_ids, pv->n_text, 0, text, len + 1, NULL);
      text[len] = '\n', text[len + 1] = 0;
      g_autofree char *path = preview_path (r, pv, "text-step-", ".txt");
      if (!g_file_set_contents (path, text, (gssize) len + 1, &error))
        {
          preview_failed (r, error->message);
          return;
        }
    }
}

void
cli_jobs_set_callbacks (job_run *r)
{
  magvlt_callbacks cb = {
    .progress = r->tty ? progress_cb : NULL,
    .preview = r->preview_dir ? preview_cb : NULL,
    .preview_decode_every = r->preview_dir ? r->preview_decode_every : 0,
    .user_data = r,
  };
  magvlt_context_set_callbacks (r->ctx, &cb);
}

/* ---- result images -------------------------------------------------------- */

char *
cli_jobs_output_path (const char *out, int rank)
{
  if (rank <= 1)
    return g_strdup (out);
  /* the suffix goes before the extension of the file name (not of a folder) */
  const char *base = strrchr (out, G_DIR_SEPARATOR);
  const char *dot = strrchr (base ? base + 1 : out, '.');
  if (!dot || dot == (base ? base + 1 : out))
    return g_strdup_printf ("%s-%d", out, rank);
  return g_strdup_printf ("%.*s-%d%s", (int) (dot - out), out, rank, dot);
}

static const char *
basename_of (const char *path)
{
  const char *b = path ? strrchr (path, G_DIR_SEPARATOR) : NULL;
  return b ? b + 1 : path;
}

/* The parameters of a result, as one line for the PNG text chunk. */
static char *
parameters_text (job_run *r, const magvlt_candidate *c, int rank)
{
  const magvlt_sampling_params *p = &r->sp;
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "command=%s model=%s", r->cmd, basename_of (r->model_path));
  if (r->inputs && r->inputs[0])
    g_string_append_printf (s, " input=%s", basename_of (r->inputs[0]));
  if (r->mask_path)
    g_string_append_printf (s, " mask=%s", basename_of (r->mask_path));
  if (r->kind == JOB_EDIT)
    g_string_append_printf (s, " strength=%g", (double) r->ep.strength);
  if (r->kind == JOB_EDIT || r->kind == JOB_INPAINT)
    g_string_append_printf (s, " padding=%d feather=%d", r->ep.padding, r->ep.feather);
  g_string_append_printf (
    s, " steps=%d temperature=%g-%g choice-temperature=%g-%g seed=%" G_GUINT64_FORMAT,
    p->image_steps, (double) p->image_temperature_start, (double) p->image_temperature_end,
    (double) p->image_choice_temperature_start, (double) p->image_choice_temperature_end, c->seed);
  if (c->image_guidance > 0.0f)
    g_string_append_printf (s, " guidance=%g", (double) c->image_guidance);
  if (r->kind == JOB_JOINT)
    g_string_append_printf (s, " text-steps=%d text-temperature=%g text-top-k=%d", p->text_steps,
                            (double) p->text_temperature, p->text_top_k);
  g_string_append_printf (s, " candidates=%d rank=%d score=%.6f backend=%s", p->n_candidates, rank,
                          c->score, magvlt_context_get_backend (r->ctx));
  return g_string_free (s, FALSE);
}

gboolean
cli_jobs_write_image (job_run *r, const magvlt_candidate *c, int rank, const char *path)
{
  g_autoptr (GError) error = NULL;
  if (!c->image)
    {
      fprintf (stderr, "magvlt %s: the job gave no image\n", r->cmd);
      return FALSE;
    }
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, c->seed);
  g_autofree char *params = parameters_text (r, c, rank);
  g_autofree char *software = g_strdup_printf ("magvlt %d.%d.%d", MAGVLT_VERSION_MAJOR,
                                               MAGVLT_VERSION_MINOR, MAGVLT_VERSION_MICRO);
  char *keys[6], *values[6];
  int n = 0;
  if (r->prompt)
    keys[n] = "prompt", values[n++] = r->prompt;
  if (c->text)
    keys[n] = "caption", values[n++] = c->text;
  keys[n] = "seed", values[n++] = seed;
  keys[n] = "parameters", values[n++] = params;
  keys[n] = "Software", values[n++] = software;
  keys[n] = values[n] = NULL;
  if (!cli_png_write_atomic (path, c->image, c->width, c->height, (size_t) c->width * 3, keys,
                             values, &error))
    {
      fprintf (stderr, "magvlt %s: %s\n", r->cmd, error->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- result lines --------------------------------------------------------- */

static void
print_json (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *line = json_to_string (root, FALSE);
  printf ("%s\n", line);
  fflush (stdout);
}

void
cli_jobs_print_result (job_run *r, const magvlt_candidate *c, int rank, int n_ranks,
                       const char *input, const char *output, double ms)
{
  if (!r->json)
    {
      if (output && strcmp (output, "-") == 0)
        {
          /* standard output holds the image: the line goes to stderr */
          if (!r->quiet)
            fprintf (stderr, "(standard output)  seed %" G_GUINT64_FORMAT "  score %.4f%s%s\n",
                     c->seed, c->score, c->text ? "  caption: " : "", c->text ? c->text : "");
          return;
        }
      if (output)
        printf ("%s  seed %" G_GUINT64_FORMAT "  score %.4f%s%s\n", output, c->seed, c->score,
                c->text ? "  caption: " : "", c->text ? c->text : "");
      else if (r->n_inputs > 1)
        printf ("%s: %s\n", input, c->text ? c->text : "");
      else
        printf ("%s\n", c->text ? c->text : "");
      fflush (stdout);
      return;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (input)
    {
      g_autofree char *name = g_filename_display_name (input);
      json_builder_set_member_name (b, "input");
      json_builder_add_string_value (b, name);
    }
  if (output)
    {
      g_autofree char *name = g_filename_display_name (output);
      json_builder_set_member_name (b, "output");
      json_builder_add_string_value (b, name);
    }
  if (r->prompt)
    {
      json_builder_set_member_name (b, r->kind == JOB_INFILL ? "text" : "prompt");
      json_builder_add_string_value (b, r->prompt);
    }
  if (c->text)
    {
      json_builder_set_member_name (b, "caption");
      json_builder_add_string_value (b, c->text);
    }
  if (c->image)
    {
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, c->width);
      json_builder_set_member_name (b, "height");
      json_builder_add_int_value (b, c->height);
    }
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) c->seed);
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, r->main_steps);
  if (c->image)
    {
      json_builder_set_member_name (b, "guidance");
      json_builder_add_double_value (b, c->image_guidance);
    }
  if (r->kind == JOB_JOINT)
    {
      json_builder_set_member_name (b, "text_steps");
      json_builder_add_int_value (b, r->sp.text_steps);
    }
  json_builder_set_member_name (b, "ms");
  json_builder_add_int_value (b, (gint64) llround (ms)); /* milliseconds */
  json_builder_set_member_name (b, "backend");
  json_builder_add_string_value (b, magvlt_context_get_backend (r->ctx));
  json_builder_set_member_name (b, "score");
  if (isfinite (c->score))
    json_builder_add_double_value (b, c->score);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "rank");
  json_builder_add_int_value (b, rank);
  json_builder_set_member_name (b, "candidates");
  json_builder_add_int_value (b, n_ranks);
  json_builder_end_object (b);
  print_json (b);
}

void
cli_jobs_print_input_error (job_run *r, const char *input, const char *message)
{
  if (!r->json)
    {
      cli_jobs_progress_clear (r);
      if (strstr (message, input))
        fprintf (stderr, "magvlt %s: %s\n", r->cmd, message);
      else
        fprintf (stderr, "magvlt %s: %s: %s\n", r->cmd, input, message);
      return;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *name = g_filename_display_name (input);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "input");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  print_json (b);
}
