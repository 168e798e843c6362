/* cmd-jobs.c — the generation subcommands of `magvlt`: generate, caption,
 * inpaint, edit, infill and joint, over the jobs of magvlt.h. Option
 * parsing, inputs and the job runs live here; the progress bar, previews,
 * result files and lines and Ctrl+C in cmd-jobs-output.c.
 * SPDX-License-Identifier: MIT */
#include "cmd-jobs.h"
#include "image-io.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef MAGVLT_DATADIR
#define MAGVLT_DATADIR "/usr/local/share"
#endif

/* The official configurations' candidate counts (--official-sampling). */
#define OFFICIAL_IMAGE_CANDIDATES 32
#define OFFICIAL_TEXT_CANDIDATES 64
/* Seeds stay below 2^53 so JSON readers (JavaScript included) keep them exact. */
#define MAX_SEED (((guint64) 1 << 53) - 1)

static const char common_description[] =
  "Model: -m MODEL, or else $MAGVLT_MODEL, or else the installed default model\n"
  "(" MAGVLT_DATADIR "/magvlt-studio/models/default.gguf), or else, when magvlt runs\n"
  "from its build folder, data/models/default.gguf of the source tree. The model\n"
  "must include the VQGAN (image tokenizer) and the text tokenizer.\n"
  "\n"
  "Sampling: the defaults are the model file's own (`magvlt info` lists them;\n"
  "an official checkpoint's are the official values: 10 image steps, 12 text\n"
  "steps, temperature 1.4 -> 0.6, choice temperature 2.0 -> 0.2, text temperature\n"
  "0.1, top-k 32). --steps sets the image refinement steps (cosine schedule)\n"
  "of generate, inpaint and edit, the text mask-predict steps of caption and\n"
  "infill, and both for joint. --temperature T sets the start of the image\n"
  "temperature schedule to T and scales its end in proportion for generate,\n"
  "inpaint, edit and joint, and the text temperature for caption and infill;\n"
  "--choice-temperature does the same for the noise on the scores that decide\n"
  "which image codes are kept at each step. --guidance G (generate, inpaint,\n"
  "edit; never for a blank prompt) also runs each image step without the text\n"
  "and moves the prediction G times its difference from that further away\n"
  "(classifier-free guidance; not in the official sampling, so 0 for official\n"
  "checkpoints; the default model's is 1, with which its images match their\n"
  "prompt far more often, at twice the work per step; 0 turns it off).\n"
  "--candidates N draws N independent samples (seeds SEED, SEED+1, ...) and\n"
  "ranks them by the model's mean log-likelihood (guided, with guidance) of the\n"
  "tokens it chose, best first (default 1, for speed).\n"
  "--official-sampling uses the official sampling configurations' candidate\n"
  "counts, 32 for images and 64 for captions (much slower; --candidates wins over\n"
  "it). Without\n"
  "--seed a seed is taken from the clock and printed (\"seed: N\" on stderr,\n"
  "\"seed\" in --json): the same seed, inputs, options and backend give\n"
  "byte-identical results, whatever --threads (\"backend\" in --json and in\n"
  "the PNG's parameters says which ran). A candidate of rank k > 1 comes again\n"
  "alone with --seed (its seed) --candidates 1.\n"
  "\n"
  "Images: any file GdkPixbuf reads (PNG, JPEG, ...), any size up to 16384 pixels\n"
  "a side and 64 megapixels; transparency is composited over white. Written images\n"
  "are PNG files, written whole or not at all (a temporary file renamed), with the\n"
  "prompt, seed and parameters in tEXt chunks (prompt, seed, parameters,\n"
  "Software). With several candidates OUT.png is the best and OUT-2.png,\n"
  "OUT-3.png, ... the others in rank order. -o - writes the image to standard\n"
  "output instead (one candidate, not with --json; the result line goes to\n"
  "stderr), e.g. magvlt generate -p \"a red apple\" -o - | display\n"
  "\n"
  "--json prints one JSON object per result (per candidate) on one line of stdout,\n"
  "with \"seed\" (that candidate's), \"steps\", \"ms\" (the whole job, in\n"
  "milliseconds), \"score\" (mean log-likelihood per generated token), \"rank\"\n"
  "(1 = best), \"candidates\", and \"output\" (the file written) and/or \"caption\".\n"
  "Without --json results are printed as text and timings go to stderr.\n"
  "\n"
  "--preview-dir DIR writes, after every image refinement step, the palette\n"
  "thumbnail of the codes so far (still-masked codes grey) scaled up to the model\n"
  "resolution as DIR/step-NN.png, with --preview-decode-every N also the full\n"
  "VQGAN decode of every N-th step as DIR/step-NN-decoded.png (slower), and after\n"
  "every text step the text so far as DIR/text-step-NN.txt; several candidates\n"
  "add a cK- prefix, several caption inputs an iK- prefix.\n"
  "\n"
  "A progress bar (stage, step n/N, time left) is drawn on stderr when it is a\n"
  "terminal. Ctrl+C cancels cleanly: \"cancelled\" is printed, no output file is\n"
  "left and the exit status is 130. Exit status: 0 done, 1 failed (bad file or\n"
  "input, a model without a VQGAN or tokenizer), 2 bad command line, 130\n"
  "cancelled.";

static const char generate_description[] =
  "Generates an image from TEXT (spec section 3.1): all image codes start masked\n"
  "and are filled in over --steps steps of masked refinement, then decoded into an\n"
  "R x R image (R: the model resolution, see `magvlt info`). A prompt longer than\n"
  "the model's text length is cut to it, with a warning.\n"
  "\n"
  "Example: magvlt generate -p \"a red bus on a street\" -o bus.png --seed 7";

static const char caption_description[] =
  "Captions each IMAGE (spec section 3.3): the model sees it as the official\n"
  "scripts prepare it (shorter side resized to the model resolution R with an\n"
  "antialiased bilinear filter, then the centre R x R cut out); the caption length\n"
  "is predicted from the image, then the words are filled in by mask-predict.\n"
  "Several -i are captioned in order with one model load; one result per image\n"
  "(per candidate): the caption alone for one image, \"IMAGE: caption\" for\n"
  "several, and with --json one object per line with \"input\". An image that\n"
  "cannot be read or captioned gives a line with \"input\" and \"error\" (stderr\n"
  "without --json), the others go on, and the exit status is 1 at the end.\n"
  "\n"
  "Example: magvlt caption -i a.jpg -i b.png --json";

static const char inpaint_description[] =
  "Regenerates the masked region of IMAGE from TEXT; every pixel outside the mask\n"
  "keeps its exact value and OUT.png has the input's size. A square around the\n"
  "mask (plus --padding pixels of context, at least R pixels when the image\n"
  "allows) is resized to R x R and encoded; an image code is regenerated when any\n"
  "pixel of its cell is masked; the result is decoded, resized back and pasted\n"
  "through the mask with its edge feathered --feather pixels inwards.\n"
  "\n"
  "MASK: a pixel is masked (regenerated) where the mask's grey value - or its alpha\n"
  "when the file has an alpha channel - is >= 128 (white = regenerate; RGB masks\n"
  "use their luma). A mask of another size than the image is scaled to it with\n"
  "nearest neighbour, and a note says so. An empty mask is an error.\n"
  "\n"
  "Example: magvlt inpaint -i photo.jpg --mask sky.png -p \"a sunset sky\" -o out.png";

static const char edit_description[] =
  "Edits IMAGE towards TEXT: --strength S in (0, 1] re-masks that fraction of the\n"
  "image codes in the region (the mask's, or the whole image without --mask) at\n"
  "random and refines from the matching point of the schedule; 1 regenerates the\n"
  "region entirely (inpainting). The region is handled as in `magvlt inpaint`\n"
  "(see its --help for the mask rules): pixels outside the mask are unchanged and\n"
  "OUT.png has the input's size.\n"
  "\n"
  "Example: magvlt edit -i cat.png -p \"a cat wearing a hat\" --strength 0.5 -o hat.png";

static const char infill_description[] =
  "Fills the [MASK] in TEXT with words that fit IMAGE (prepared as for captioning):\n"
  "TEXT holds exactly one [MASK], e.g. \"a [MASK] on a blue background\". The span's\n"
  "length in text tokens is --span-length, or predicted from the image and the\n"
  "known words (0, the default). Prints the completed text.\n"
  "\n"
  "Example: magvlt infill -i dog.jpg -p \"a [MASK] on the grass\"";

static const char joint_description[] =
  "Generates an image and its caption from nothing (unconditional joint\n"
  "generation; not released officially, spec section 3.5): the image from an empty\n"
  "prompt, then its caption as `magvlt caption` makes it. Writes OUT.png and\n"
  "prints the caption.\n"
  "\n"
  "Example: magvlt joint -o joint.png --seed 3";

/* ---- options -------------------------------------------------------------- */

static void
run_clear (job_run *r)
{
  g_free (r->model_path);
  g_free (r->backend);
  g_free (r->out_path);
  g_free (r->mask_path);
  g_free (r->prompt);
  g_free (r->seed_str);
  g_free (r->steps_arg);
  g_free (r->candidates_arg);
  g_free (r->temperature_arg);
  g_free (r->choice_temperature_arg);
  g_free (r->guidance_arg);
  g_free (r->strength_arg);
  g_free (r->padding_arg);
  g_free (r->feather_arg);
  g_free (r->preview_dir);
  g_strfreev (r->inputs);
  magvlt_context_free (r->ctx);
  magvlt_model_free (r->model);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (job_run, run_clear)

static gboolean
image_job (job_kind k)
{
  return k == JOB_GENERATE || k == JOB_INPAINT || k == JOB_EDIT || k == JOB_JOINT;
}

/* The entries of command kind k: its own, then the common ones. */
static GArray *
job_entries (job_run *r)
{
  job_kind k = r->kind;
  GArray *a = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));
#define ADD(...)                                                                                   \
  do                                                                                               \
    {                                                                                              \
      GOptionEntry e = { __VA_ARGS__ };                                                            \
      g_array_append_val (a, e);                                                                   \
    }                                                                                              \
  while (0)
  if (k == JOB_CAPTION)
    ADD ("image", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &r->inputs,
         "Image to caption (repeat for several)", "IMAGE");
  else if (k != JOB_GENERATE && k != JOB_JOINT)
    ADD ("image", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &r->inputs, "Input image", "IMAGE");
  if (k == JOB_INPAINT)
    ADD ("mask", 0, 0, G_OPTION_ARG_FILENAME, &r->mask_path,
         "Mask: grey (or alpha) >= 128 = regenerate", "MASK.png");
  if (k == JOB_EDIT)
    ADD ("mask", 0, 0, G_OPTION_ARG_FILENAME, &r->mask_path,
         "Region to edit (default: the whole image)", "MASK.png");
  if (k == JOB_INFILL)
    ADD ("prompt", 'p', 0, G_OPTION_ARG_FILENAME, &r->prompt, "Text with one [MASK] to fill",
         "TEXT");
  else if (k != JOB_CAPTION && k != JOB_JOINT)
    ADD ("prompt", 'p', 0, G_OPTION_ARG_FILENAME, &r->prompt, "What the image shows", "TEXT");
  if (k == JOB_EDIT)
    ADD ("strength", 0, 0, G_OPTION_ARG_STRING, &r->strength_arg,
         "Fraction of the region's codes regenerated, in (0, 1]", "S");
  if (image_job (k))
    {
      ADD ("out", 'o', 0, G_OPTION_ARG_FILENAME, &r->out_path,
           "Output image (PNG; - for standard output)", "OUT.png");
      /* `convert` spells it --output: both work everywhere */
      ADD ("output", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &r->out_path, NULL, NULL);
    }
  if (k == JOB_INPAINT || k == JOB_EDIT)
    {
      ADD ("padding", 0, 0, G_OPTION_ARG_STRING, &r->padding_arg,
           "Context pixels around the mask's bounding box (default 32)", "PX");
      ADD ("feather", 0, 0, G_OPTION_ARG_STRING, &r->feather_arg,
           "Width of the soft edge inside the mask (default 8)", "PX");
    }
  if (k == JOB_INFILL)
    ADD ("span-length", 0, 0, G_OPTION_ARG_INT, &r->span_length,
         "Text tokens for the [MASK] (default 0: predicted)", "N");
  ADD ("model", 'm', 0, G_OPTION_ARG_FILENAME, &r->model_path,
       "Model file (GGUF; default: see below)", "MODEL");
  ADD ("steps", 0, 0, G_OPTION_ARG_STRING, &r->steps_arg,
       k == JOB_CAPTION || k == JOB_INFILL ? "Text refinement steps (default: the model's)"
       : k == JOB_JOINT ? "Image and text refinement steps (default: the model's)"
                        : "Image refinement steps (default: the model's)",
       "N");
  ADD ("candidates", 0, 0, G_OPTION_ARG_STRING, &r->candidates_arg,
       "Independent samples, ranked (default 1)", "N");
  ADD ("seed", 0, 0, G_OPTION_ARG_STRING, &r->seed_str,
       "Random seed, 0 to 2^53-1 (default: from the clock, printed)", "N");
  ADD ("temperature", 0, 0, G_OPTION_ARG_STRING, &r->temperature_arg,
       k == JOB_CAPTION || k == JOB_INFILL ? "Text sampling temperature (default: the model's)"
                                           : "Start of the image temperature schedule (default: "
                                             "the model's; the end follows in proportion)",
       "T");
  if (image_job (k))
    ADD ("choice-temperature", 0, 0, G_OPTION_ARG_STRING, &r->choice_temperature_arg,
         "Start of the schedule of the noise on which image codes are kept (default: the "
         "model's; the end follows in proportion; 0 = none)",
         "T");
  if (image_job (k) && k != JOB_JOINT)
    ADD ("guidance", 0, 0, G_OPTION_ARG_STRING, &r->guidance_arg,
         "Text guidance of the image steps, 0 = none as officially (default: the model's)", "G");
  ADD ("official-sampling", 0, 0, G_OPTION_ARG_NONE, &r->official,
       k == JOB_CAPTION || k == JOB_INFILL ? "The official candidate count (64 for captions)"
                                           : "The official candidate count (32 for images)",
       NULL);
  ADD ("threads", 't', 0, G_OPTION_ARG_INT, &r->threads, "Threads (default: physical cores)", "N");
  ADD ("backend", 'b', 0, G_OPTION_ARG_STRING, &r->backend,
       "Matrix products: auto, openblas, bf16, onednn-f32 or onednn-bf16 (default: "
       "$MAGVLT_BACKEND, else auto)",
       "B");
  ADD ("preview-dir", 0, 0, G_OPTION_ARG_FILENAME, &r->preview_dir,
       "Write each refinement step's preview into DIR", "DIR");
  if (k != JOB_CAPTION && k != JOB_INFILL)
    ADD ("preview-decode-every", 0, 0, G_OPTION_ARG_INT, &r->preview_decode_every,
         "With --preview-dir, also a full decode every N image steps", "N");
  ADD ("json", 0, 0, G_OPTION_ARG_NONE, &r->json, "One JSON object per result on stdout", NULL);
  ADD ("quiet", 'q', 0, G_OPTION_ARG_NONE, &r->quiet,
       "No timings or notes on stderr (warnings and errors still show)", NULL);
#undef ADD
  return a;
}

static int usage_error (job_run *r, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static int
usage_error (job_run *r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "magvlt %s: %s\nRun `magvlt %s --help` for usage.\n", r->cmd, msg, r->cmd);
  return CLI_EXIT_USAGE;
}

/* Reads option NAME's text S (NULL: not given, *out untouched) as a whole
 * decimal integer in [MIN, MAX]; returns a usage exit status, or -1. */
static int
int_option (job_run *r, const char *name, const char *s, int min, int max, int *out)
{
  gint64 v;
  if (!s)
    return -1;
  if (!g_ascii_string_to_signed (s, 10, min, max, &v, NULL))
    return usage_error (r, "%s must be %d..%d, not '%s'", name, min, max, s);
  *out = (int) v;
  return -1;
}

/* Reads option NAME's text S (NULL: not given) as a finite number in
 * (0, MAX], or [0, MAX] when ZERO_OK; returns a usage exit status, or -1. */
static int
double_option (job_run *r, const char *name, const char *s, double max, gboolean zero_ok,
               double *out)
{
  char *end = NULL;
  if (!s)
    return -1;
  errno = 0;
  double v = g_ascii_strtod (s, &end);
  if (end == s || *end || errno || !((zero_ok ? v >= 0.0 : v > 0.0) && v <= max))
    return usage_error (r, "%s must be in %s0, %g], not '%s'", name, zero_ok ? "[" : "(", max, s);
  *out = v;
  return -1;
}

/* A schedule start → end made to start at t, its end in proportion; one
 * that starts at 0 keeps its end (nothing to scale), and t = 0 turns it off. */
static void
restart_schedule (float *start, float *end, double t)
{
  if (*start > 0.0f)
    *end *= (float) t / *start;
  if (t == 0.0)
    *end = 0.0f;
  *start = (float) t;
}

/* r->sp ← base (the defaults until the model is loaded, then the model's
 * own, magvlt_model_sampling_params) with the options over it. */
static void
set_sampling (job_run *r, magvlt_sampling_params base)
{
  magvlt_sampling_params *sp = &r->sp;
  job_kind k = r->kind;
  *sp = base;
  sp->seed = r->seed;
  gboolean text = k == JOB_CAPTION || k == JOB_INFILL;
  if (r->official)
    sp->n_candidates = text ? OFFICIAL_TEXT_CANDIDATES : OFFICIAL_IMAGE_CANDIDATES;
  if (r->candidates_arg)
    sp->n_candidates = r->candidates;
  if (r->steps_arg && (text || k == JOB_JOINT))
    sp->text_steps = r->steps;
  if (r->steps_arg && !text)
    sp->image_steps = r->steps;
  r->main_steps = text ? sp->text_steps : sp->image_steps;
  if (r->temperature_arg && text)
    sp->text_temperature = (float) r->temperature;
  else if (r->temperature_arg)
    restart_schedule (&sp->image_temperature_start, &sp->image_temperature_end, r->temperature);
  if (r->choice_temperature_arg)
    restart_schedule (&sp->image_choice_temperature_start, &sp->image_choice_temperature_end,
                      r->choice_temperature);
  if (r->guidance_arg)
    sp->image_guidance = (float) r->guidance;
}

/* Checks the options and fills the sampling parameters; returns an exit
 * status, or -1 to go on. */
static int
check_options (job_run *r, int argc, char **argv)
{
  job_kind k = r->kind;
  int n_inputs = r->inputs ? (int) g_strv_length (r->inputs) : 0;
  if (argc > 1)
    return usage_error (r, "unexpected argument '%s'", argv[1]);
  if (k == JOB_CAPTION && n_inputs < 1)
    return usage_error (r, "give at least one -i IMAGE");
  if (k != JOB_CAPTION && k != JOB_GENERATE && k != JOB_JOINT && n_inputs != 1)
    return usage_error (r, n_inputs ? "give one -i IMAGE, not %d" : "-i IMAGE is required",
                        n_inputs);
  if (k == JOB_INPAINT && !r->mask_path)
    return usage_error (r, "--mask MASK.png is required (use `magvlt edit` to change the "
                           "whole image)");
  if (k != JOB_CAPTION && k != JOB_JOINT && !r->prompt)
    return usage_error (r, "-p TEXT is required");
  /* -p is taken as bytes (G_OPTION_ARG_FILENAME): as a string, GOption
   * converts it from the locale's charset, which refuses UTF-8 under the C
   * locale of containers and cron; the text must be UTF-8 whatever the locale */
  const char *bad;
  if (r->prompt && !g_utf8_validate (r->prompt, -1, &bad))
    return usage_error (r, "-p: the text is not valid UTF-8 (byte %d)", (int) (bad - r->prompt));
  if (image_job (k) && r->out_path && !*r->out_path)
    return usage_error (r, "-o needs a file name");
  /* a name the library knows; whether this build has that backend is the
   * library's to say when the model loads */
  if (r->backend && !magvlt_backend_name_known (r->backend))
    return usage_error (r,
                        "--backend must be auto, openblas, bf16, onednn-f32 or onednn-bf16, "
                        "not '%s'",
                        r->backend);
  if (image_job (k) && !r->out_path)
    return usage_error (r, "-o OUT.png is required");
  if (k == JOB_EDIT && !r->strength_arg)
    return usage_error (r, "--strength S is required: the fraction of the region to "
                           "regenerate, in (0, 1] (1 = inpaint)");
  int rc;
  if ((rc = int_option (r, "--steps", r->steps_arg, 1, 1000, &r->steps)) >= 0
      || (rc = int_option (r, "--candidates", r->candidates_arg, 1, 1024, &r->candidates)) >= 0
      || (rc =
            double_option (r, "--temperature", r->temperature_arg, 100.0, FALSE, &r->temperature))
           >= 0
      /* 0: no noise on the scores that pick the codes to keep */
      || (rc = double_option (r, "--choice-temperature", r->choice_temperature_arg, 100.0, TRUE,
                              &r->choice_temperature))
           >= 0
      || (rc = double_option (r, "--guidance", r->guidance_arg, 100.0, TRUE, &r->guidance)) >= 0
      || (rc = double_option (r, "--strength", r->strength_arg, 1.0, FALSE, &r->strength)) >= 0
      || (rc = int_option (r, "--padding", r->padding_arg, 0, 65536, &r->padding)) >= 0
      || (rc = int_option (r, "--feather", r->feather_arg, 0, 4096, &r->feather)) >= 0)
    return rc;
  if (r->threads < 0 || r->threads > 1024)
    return usage_error (r, "--threads must be 0..1024");
  if (r->span_length < 0 || r->span_length > 1000)
    return usage_error (r, "--span-length must be 0 (predict) or a token count");
  if (r->preview_decode_every < 0 || r->preview_decode_every > 1000)
    return usage_error (r, "--preview-decode-every must be 0..1000");
  if (r->seed_str)
    {
      g_autoptr (GError) error = NULL;
      guint64 v;
      if (!g_ascii_string_to_unsigned (r->seed_str, 10, 0, MAX_SEED, &v, &error))
        return usage_error (r, "--seed: %s", error->message);
      r->seed = v, r->seed_given = TRUE;
    }
  else
    r->seed = ((guint64) g_get_real_time () ^ ((guint64) getpid () << 16)) & 0xffffffffu;

  set_sampling (r, magvlt_sampling_default_params ());
  r->ep = magvlt_edit_default_params ();
  if (k == JOB_EDIT)
    r->ep.strength = (float) r->strength;
  if (r->padding_arg)
    r->ep.padding = r->padding;
  if (r->feather_arg)
    r->ep.feather = r->feather;
  return -1;
}

/* ---- model ---------------------------------------------------------------- */

static void
log_cb (magvlt_log_level level, const char *message, void *user_data)
{
  job_run *r = user_data;
  /* errors come back through the status and are printed by the caller; the
   * prompt's truncation is warned about before the job */
  if (level != MAGVLT_LOG_WARN || g_str_has_prefix (message, "the prompt has more than"))
    return;
  cli_jobs_progress_clear (r);
  fprintf (stderr, "magvlt %s: warning: %s\n", r->cmd, message);
}

static bool
load_progress_cb (float fraction, void *user_data)
{
  return !cli_jobs_interrupted ();
}

/* Loads the model and makes the context; returns an exit status or -1. */
static int
open_model (job_run *r)
{
  if (!r->model_path && !(r->model_path = cli_default_model ()))
    return usage_error (r, "no model given and no default model installed; pass -m MODEL");
  double t0 = cli_now_ms ();
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.log_callback = log_cb, mp.log_user_data = r;
  mp.progress_callback = load_progress_cb;
  magvlt_status st = magvlt_model_load (r->model_path, &mp, &r->model);
  if (st == MAGVLT_ABORTED)
    return cli_jobs_cancelled (r);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: cannot load the model (%s): %s\n", r->cmd,
               magvlt_status_str (st), magvlt_last_error ());
      return CLI_EXIT_FAILED;
    }
  magvlt_model_get_info (r->model, &r->info);
  set_sampling (r, magvlt_model_sampling_params (r->model));
  magvlt_tokenizer_info ti;
  if (!cli_need_transformer (r->cmd, r->model_path, &r->info))
    return CLI_EXIT_FAILED;
  if (!r->info.has_vqgan || r->info.image_resolution <= 0)
    {
      fprintf (stderr,
               "magvlt %s: %s has no VQGAN (image tokenizer), so it cannot make or read "
               "images; use a model file that includes one\n",
               r->cmd, r->model_path);
      return CLI_EXIT_FAILED;
    }
  if (magvlt_tokenizer_get_info (r->model, &ti) != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: %s has no text tokenizer; use a model file that includes one\n",
               r->cmd, r->model_path);
      return CLI_EXIT_FAILED;
    }
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = r->threads;
  cp.backend = r->backend;
  cp.log_callback = log_cb, cp.log_user_data = r;
  if ((st = magvlt_context_init (r->model, &cp, &r->ctx)) != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: %s: %s\n", r->cmd, magvlt_status_str (st), magvlt_last_error ());
      return CLI_EXIT_FAILED;
    }
  cli_jobs_signal_context (r->ctx);
  cli_jobs_set_callbacks (r);
  if (!r->json && !r->quiet)
    fprintf (stderr, "model: %.1f ms\n", cli_now_ms () - t0);
  return -1;
}

/* Warns when the model reads only part of the prompt; fails on text it
 * cannot encode (invalid UTF-8). */
static gboolean
check_prompt (job_run *r, const char *text, const char *what)
{
  int32_t t = r->info.ctx_len_txt;
  g_autofree int32_t *ids = g_new (int32_t, t);
  magvlt_tokenize_result tr;
  magvlt_status st = magvlt_tokenize (r->model, text, strlen (text), ids, t, &tr);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: %s: %s\n", r->cmd, what, magvlt_last_error ());
      return FALSE;
    }
  if (tr.truncated)
    fprintf (stderr,
             "magvlt %s: warning: %s is longer than the model's text length (%d tokens); only "
             "its first %d tokens are used\n",
             r->cmd, what, t, tr.n_tokens);
  if (tr.fallback)
    fprintf (stderr,
             "magvlt %s: warning: %s has characters outside the model's vocabulary; it is read "
             "without its non-ASCII characters (as the official code does)\n",
             r->cmd, what);
  if (tr.n_tokens == 0)
    fprintf (stderr,
             "magvlt %s: warning: %s gives the model no words (it is empty, or only characters "
             "outside its vocabulary): the result follows no text (`magvlt joint` makes an image "
             "from nothing on purpose)\n",
             r->cmd, what);
  return TRUE;
}

/* ---- inputs --------------------------------------------------------------- */

/* An input image as RGB at its own size. */
typedef struct {
  int width, height;
  uint8_t *rgb;
} rgb_image;

static gboolean
read_rgb (const char *path, rgb_image *img, GError **error)
{
  g_autoptr (GdkPixbuf) pb = cli_image_read (path, "the image", error);
  if (!pb)
    return FALSE;
  img->width = gdk_pixbuf_get_width (pb), img->height = gdk_pixbuf_get_height (pb);
  img->rgb = g_malloc ((size_t) img->width * img->height * 3);
  cli_image_to_rgb (pb, 0, 0, img->width, img->height, img->rgb);
  return TRUE;
}

static magvlt_image
as_magvlt_image (const rgb_image *img)
{
  magvlt_image m = { img->width, img->height, (size_t) img->width * 3, img->rgb };
  return m;
}

/* The mask file at the image's size, or NULL after printing why not. */
static uint8_t *
read_mask (job_run *r, const rgb_image *img)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) pb = cli_image_read (r->mask_path, "the mask", &error);
  if (!pb)
    {
      fprintf (stderr, "magvlt %s: %s\n", r->cmd, error->message);
      return NULL;
    }
  gboolean scaled = FALSE;
  gint64 n = 0;
  uint8_t *mask = cli_mask_from_pixbuf (pb, img->width, img->height, &scaled, &n);
  if (scaled)
    fprintf (stderr,
             "magvlt %s: note: the mask %s is %d x %d and the image %d x %d: the mask was "
             "scaled to the image (nearest neighbour)\n",
             r->cmd, r->mask_path, gdk_pixbuf_get_width (pb), gdk_pixbuf_get_height (pb),
             img->width, img->height);
  if (n == 0)
    {
      fprintf (stderr,
               "magvlt %s: the mask %s is empty: no pixel has a %s >= 128; paint the region to "
               "regenerate white\n",
               r->cmd, r->mask_path, gdk_pixbuf_get_has_alpha (pb) ? "alpha" : "grey value");
      g_free (mask);
      return NULL;
    }
  return mask;
}

/* Whether two paths name one existing file. */
static gboolean
same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;
  return a && b && g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

/* Refuses, before the job runs, an output that could not be written (its
 * folder missing, a folder in its place), one that is not a PNG name (the
 * file would be PNG whatever its name says), and one that is an input or
 * the mask (overwriting it would lose it). An exit status, or -1. */
static int
check_output (job_run *r)
{
  int n = r->sp.n_candidates;
  g_autofree char *base = g_path_get_basename (r->out_path);
  const char *dot = strrchr (base, '.');

  if (strcmp (r->out_path, "-") == 0)
    {
      /* one PNG stream on standard output, and nothing else there */
      if (n > 1)
        return usage_error (r,
                            "-o - writes one image to standard output; give a file name for "
                            "%d candidates",
                            n);
      if (r->json)
        return usage_error (r, "-o - and --json would both write to standard output");
      if (isatty (STDOUT_FILENO))
        return usage_error (r, "-o -: standard output is a terminal; redirect it to a file or a "
                               "program, or give a file name");
      return -1;
    }
  if (dot && dot != base && g_ascii_strcasecmp (dot, ".png") != 0)
    {
      fprintf (stderr, "magvlt %s: %s: the output is a PNG image; give it a .png name\n", r->cmd,
               r->out_path);
      return CLI_EXIT_USAGE;
    }
  for (int rank = 1; rank <= n; rank++)
    {
      g_autofree char *path = cli_jobs_output_path (r->out_path, rank);
      g_autofree char *dir = g_path_get_dirname (path);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          fprintf (stderr, "magvlt %s: cannot write %s: it is a folder\n", r->cmd, path);
          return CLI_EXIT_FAILED;
        }
      if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
        {
          fprintf (stderr, "magvlt %s: cannot write %s: the folder %s does not exist\n", r->cmd,
                   path, dir);
          return CLI_EXIT_FAILED;
        }
      for (int i = 0; r->inputs && r->inputs[i]; i++)
        if (same_file (path, r->inputs[i]))
          {
            fprintf (stderr, "magvlt %s: %s is the input image; refusing to overwrite it\n", r->cmd,
                     path);
            return CLI_EXIT_USAGE;
          }
      if (same_file (path, r->mask_path))
        {
          fprintf (stderr, "magvlt %s: %s is the mask; refusing to overwrite it\n", r->cmd, path);
          return CLI_EXIT_USAGE;
        }
    }
  return -1;
}

static gboolean
make_preview_dir (job_run *r)
{
  if (r->preview_dir && g_mkdir_with_parents (r->preview_dir, 0777) != 0)
    {
      fprintf (stderr, "magvlt %s: cannot make the preview folder %s: %s\n", r->cmd, r->preview_dir,
               g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* ---- jobs ----------------------------------------------------------------- */

/* After a job: the cancelled or failed status, or -1 when it succeeded. */
static int
job_status (job_run *r, magvlt_status st)
{
  cli_jobs_progress_clear (r);
  if (st == MAGVLT_ABORTED || (st == MAGVLT_OK && cli_jobs_interrupted ()))
    return cli_jobs_cancelled (r);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: %s: %s\n", r->cmd, magvlt_status_str (st),
               magvlt_context_last_error (r->ctx));
      return CLI_EXIT_FAILED;
    }
  return -1;
}

/* Writes every candidate's image, then prints the result lines. */
static int
finish_images (job_run *r, magvlt_result *res, const char *input, double ms)
{
  int n = res->n_candidates;
  if (cli_jobs_interrupted ())
    return cli_jobs_cancelled (r);
  g_auto (GStrv) paths = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      paths[i] = cli_jobs_output_path (r->out_path, i + 1);
      if (!cli_jobs_write_image (r, &res->candidates[i], i + 1, paths[i]))
        return CLI_EXIT_FAILED;
    }
  for (int i = 0; i < n; i++)
    cli_jobs_print_result (r, &res->candidates[i], i + 1, n, input, paths[i], ms);
  return CLI_EXIT_OK;
}

static void
print_seed (job_run *r)
{
  if (r->seed_given || r->quiet)
    return;
  fprintf (stderr,
           "seed: %" G_GUINT64_FORMAT " (from the clock; --seed %" G_GUINT64_FORMAT
           " repeats this run)\n",
           r->seed, r->seed);
}

static int
run_image_job (job_run *r)
{
  int rc;
  rgb_image img = { 0 };
  g_autofree uint8_t *mask = NULL;
  g_autoptr (GError) error = NULL;
  const char *input = r->inputs ? r->inputs[0] : NULL;

  if ((rc = check_output (r)) >= 0)
    return rc;
  if (input && !read_rgb (input, &img, &error))
    {
      fprintf (stderr, "magvlt %s: %s\n", r->cmd, error->message);
      return CLI_EXIT_FAILED;
    }
  if (r->mask_path && !(mask = read_mask (r, &img)))
    {
      g_free (img.rgb);
      return CLI_EXIT_FAILED;
    }
  if ((rc = open_model (r)) >= 0 || (r->prompt && !check_prompt (r, r->prompt, "the prompt")))
    {
      g_free (img.rgb);
      return rc >= 0 ? rc : CLI_EXIT_FAILED;
    }
  print_seed (r);

  magvlt_result res = { 0 };
  magvlt_image mi = as_magvlt_image (&img);
  magvlt_status st;
  r->job_t0 = cli_now_ms ();
  if (r->kind == JOB_GENERATE)
    st = magvlt_generate_image (r->ctx, &r->sp, r->prompt, &res);
  else if (r->kind == JOB_JOINT)
    st = magvlt_generate_joint (r->ctx, &r->sp, &res);
  else
    st = magvlt_edit_image (r->ctx, &r->sp, &r->ep, &mi, mask, (size_t) img.width, r->prompt, &res);
  double ms = cli_now_ms () - r->job_t0;
  g_free (img.rgb);
  if ((rc = job_status (r, st)) >= 0)
    {
      magvlt_result_free (&res);
      return rc;
    }
  if (!r->json && !r->quiet)
    fprintf (stderr, "%s: %.1f ms\n", r->cmd, ms);
  rc = finish_images (r, &res, input, ms);
  magvlt_result_free (&res);
  return rc;
}

static int
run_caption (job_run *r)
{
  int rc, n = (int) g_strv_length (r->inputs);
  gboolean failed = FALSE;
  if ((rc = open_model (r)) >= 0)
    return rc;
  print_seed (r);
  r->n_inputs = n;
  for (int i = 0; i < n; i++)
    {
      const char *input = r->inputs[i];
      rgb_image img = { 0 };
      g_autoptr (GError) error = NULL;
      if (cli_jobs_interrupted ())
        return cli_jobs_cancelled (r);
      r->input_index = i;
      if (!read_rgb (input, &img, &error))
        {
          cli_jobs_print_input_error (r, input, error->message);
          failed = TRUE;
          continue;
        }
      magvlt_result res = { 0 };
      magvlt_image mi = as_magvlt_image (&img);
      r->job_t0 = cli_now_ms ();
      magvlt_status st = magvlt_caption (r->ctx, &r->sp, &mi, &res);
      double ms = cli_now_ms () - r->job_t0;
      g_free (img.rgb);
      cli_jobs_progress_clear (r);
      if (st == MAGVLT_ABORTED)
        return cli_jobs_cancelled (r);
      if (st != MAGVLT_OK)
        {
          g_autofree char *msg =
            g_strdup_printf ("%s: %s", magvlt_status_str (st), magvlt_context_last_error (r->ctx));
          cli_jobs_print_input_error (r, input, msg);
          failed = TRUE;
          continue;
        }
      if (!r->json && !r->quiet)
        fprintf (stderr, "caption %s: %.1f ms\n", input, ms);
      for (int k = 0; k < res.n_candidates; k++)
        cli_jobs_print_result (r, &res.candidates[k], k + 1, res.n_candidates, input, NULL, ms);
      magvlt_result_free (&res);
    }
  return failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

static int
run_infill (job_run *r)
{
  int rc;
  rgb_image img = { 0 };
  g_autoptr (GError) error = NULL;
  const char *input = r->inputs[0];
  const char *mark = strstr (r->prompt, "[MASK]");
  if (!mark)
    {
      fprintf (stderr,
               "magvlt infill: the text has no [MASK]: mark where words are to be generated, "
               "e.g. -p \"a [MASK] on a blue background\"\n");
      return CLI_EXIT_USAGE;
    }
  if (strstr (mark + 6, "[MASK]"))
    {
      fprintf (stderr, "magvlt infill: the text has more than one [MASK]; give exactly one\n");
      return CLI_EXIT_USAGE;
    }
  if (!read_rgb (input, &img, &error))
    {
      fprintf (stderr, "magvlt %s: %s\n", r->cmd, error->message);
      return CLI_EXIT_FAILED;
    }
  if ((rc = open_model (r)) >= 0)
    {
      g_free (img.rgb);
      return rc;
    }
  print_seed (r);
  magvlt_result res = { 0 };
  magvlt_image mi = as_magvlt_image (&img);
  r->job_t0 = cli_now_ms ();
  magvlt_status st = magvlt_infill_text (r->ctx, &r->sp, &mi, r->prompt, r->span_length, &res);
  double ms = cli_now_ms () - r->job_t0;
  g_free (img.rgb);
  if ((rc = job_status (r, st)) >= 0)
    return rc;
  if (!r->json && !r->quiet)
    fprintf (stderr, "infill: %.1f ms\n", ms);
  for (int k = 0; k < res.n_candidates; k++)
    cli_jobs_print_result (r, &res.candidates[k], k + 1, res.n_candidates, input, NULL, ms);
  magvlt_result_free (&res);
  return CLI_EXIT_OK;
}

static int
run_command (job_kind kind, const char *cmd, const char *summary, const char *description, int argc,
             char **argv)
{
  g_auto (job_run) r = {
    .kind = kind,
    .cmd = cmd,
  };
  g_autoptr (GArray) entries = job_entries (&r);
  g_autofree char *desc = g_strconcat (description, "\n\n", common_description, NULL);
  if (!cli_parse (cmd, summary, desc, (const GOptionEntry *) entries->data, &argc, &argv))
    return CLI_EXIT_USAGE;
  int rc = check_options (&r, argc, argv);
  if (rc >= 0)
    return rc;
  r.tty = isatty (STDERR_FILENO) && !r.quiet; /* the progress bar: only on a terminal */
  if (!make_preview_dir (&r))
    return CLI_EXIT_FAILED;
  cli_jobs_signals_install ();
  if (kind == JOB_CAPTION)
    rc = run_caption (&r);
  else if (kind == JOB_INFILL)
    rc = run_infill (&r);
  else
    rc = run_image_job (&r);
  cli_jobs_progress_clear (&r);
  cli_jobs_signal_context (NULL);
  cli_jobs_signals_restore ();
  return rc;
}

int
cli_generate (int argc, char **argv)
{
  return run_command (JOB_GENERATE, "generate", "Generate an image from a text prompt.",
                      generate_description, argc, argv);
}

int
cli_caption (int argc, char **argv)
{
  return run_command (JOB_CAPTION, "caption", "Caption one or more images.", caption_description,
                      argc, argv);
}

int
cli_inpaint (int argc, char **argv)
{
  return run_command (JOB_INPAINT, "inpaint",
                      "Regenerate the masked region of an image from a text prompt.",
                      inpaint_description, argc, argv);
}

int
cli_edit (int argc, char **argv)
{
  return run_command (JOB_EDIT, "edit", "Edit an image (or a masked region) towards a prompt.",
                      edit_description, argc, argv);
}

int
cli_infill (int argc, char **argv)
{
  return run_command (JOB_INFILL, "infill", "Fill the [MASK] in a caption from an image.",
                      infill_description, argc, argv);
}

int
cli_joint (int argc, char **argv)
{
  return run_command (JOB_JOINT, "joint", "Generate an image and its caption from nothing.",
                      joint_description, argc, argv);
}
