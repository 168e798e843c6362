/* cmd-bench.c — `magvlt bench`: median wall times of the engine's stages on
 * a model (any weights: the test tooling makes random ones at the official
 * geometry), and the process's peak memory.
 * SPDX-License-Identifier: MIT */
#include "magvlt-cli.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

typedef magvlt_status (*bench_fn) (void *data);

/* Runs fn `repeat` times after one warm-up run; prints the median and the
 * fastest. */
static gboolean
bench (const char *what, bench_fn fn, void *data, int repeat, double flop)
{
  g_autofree double *ms = g_new (double, repeat);
  magvlt_status st = fn (data); /* warm-up: page in the weights, allocate scratch */
  for (int r = 0; st == MAGVLT_OK && r < repeat; r++)
    {
      double t0 = cli_now_ms ();
      st = fn (data);
      ms[r] = cli_now_ms () - t0;
    }
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt bench: %s: %s\n", what, magvlt_last_error ());
      return FALSE;
    }
  qsort (ms, (size_t) repeat, sizeof *ms, compare_double);
  printf ("%-28s median %8.1f ms   min %8.1f ms", what, ms[repeat / 2], ms[0]);
  if (flop > 0)
    printf ("   %6.1f GFLOP/s", flop / (ms[repeat / 2] * 1e6));
  printf ("   (%d runs)\n", repeat);
  return TRUE;
}

typedef struct {
  magvlt_context *ctx;
  magvlt_model_info in;
  magvlt_forward_input input;
  magvlt_forward_output output;
  int32_t *codes;
  uint8_t *rgb;
} bench_state;

static magvlt_status
run_forward (void *data)
{
  bench_state *b = data;
  return magvlt_forward (b->ctx, &b->input, &b->output);
}

static magvlt_status
run_encode (void *data)
{
  bench_state *b = data;
  magvlt_vq_encode_output out = { .codes = b->codes };
  return magvlt_vq_encode (b->ctx, b->rgb, (size_t) b->in.image_resolution * 3, &out);
}

static magvlt_status
run_decode (void *data)
{
  bench_state *b = data;
  return magvlt_vq_decode (b->ctx, b->codes, b->rgb, (size_t) b->in.image_resolution * 3, NULL);
}

/* ---- whole jobs: step times, the T2I job, cancel latency ---------------- */

typedef struct {
  double last_ms;
  double step_ms[1024];
  int n_steps;
} step_clock;

static void
on_step (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t cand, int32_t n_cand, void *ud)
{
  step_clock *c = ud;
  double now = cli_now_ms ();
  if (stage == MAGVLT_STAGE_IMAGE && step > 0 && c->n_steps < 1024)
    c->step_ms[c->n_steps++] = now - c->last_ms;
  c->last_ms = now;
}

typedef struct {
  magvlt_context *ctx;
  int delay_ms;
  double sent_ms;
} cancel_timer;

static void *
cancel_after (void *data)
{
  cancel_timer *t = data;
  g_usleep ((gulong) t->delay_ms * 1000);
  t->sent_ms = cli_now_ms ();
  magvlt_context_cancel (t->ctx);
  return NULL;
}

static gboolean
bench_jobs (magvlt_context *ctx, int repeat)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  magvlt_result r;
  step_clock clock = { 0 };
  magvlt_callbacks cb = { .progress = on_step, .user_data = &clock };
  g_autofree double *job_ms = g_new (double, repeat);
  const char *prompt = "a red apple on a wooden table";

  magvlt_context_set_callbacks (ctx, &cb);
  for (int i = 0; i < repeat; i++)
    {
      double t0 = cli_now_ms ();
      clock.last_ms = t0;
      p.seed = (uint64_t) i;
      if (magvlt_generate_image (ctx, &p, prompt, &r) != MAGVLT_OK)
        {
          fprintf (stderr, "magvlt bench: generate: %s\n", magvlt_last_error ());
          return FALSE;
        }
      job_ms[i] = cli_now_ms () - t0;
      magvlt_result_free (&r);
    }
  qsort (job_ms, (size_t) repeat, sizeof *job_ms, compare_double);
  qsort (clock.step_ms, (size_t) clock.n_steps, sizeof (double), compare_double);
  printf ("%-28s median %8.1f ms   min %8.1f ms   (%d steps)\n", "T2I refinement step",
          clock.step_ms[clock.n_steps / 2], clock.step_ms[0], clock.n_steps);
  printf ("%-28s median %8.1f ms   min %8.1f ms   (%d jobs of %d steps + decode)\n", "T2I job",
          job_ms[repeat / 2], job_ms[0], repeat, p.image_steps);

  /* cancel latency: from magvlt_context_cancel on another thread to the
   * job's return, at delays spread over the job */
  magvlt_context_set_callbacks (ctx, NULL);
  double lat[8];
  int n_lat = 0;
  for (int i = 0; i < 8; i++)
    {
      cancel_timer t = { ctx, (int) (job_ms[0] * (i + 1) / 10.0), 0 };
      pthread_t th;
      pthread_create (&th, NULL, cancel_after, &t);
      magvlt_status st = magvlt_generate_image (ctx, &p, prompt, &r);
      double end = cli_now_ms ();
      pthread_join (th, NULL);
      if (st == MAGVLT_ABORTED)
        lat[n_lat++] = end - t.sent_ms;
      else if (st == MAGVLT_OK)
        {
          /* the request came after the job ended and is still pending */
          magvlt_result_free (&r);
          magvlt_context_reset_cancel (ctx);
        }
    }
  if (n_lat > 0)
    {
      qsort (lat, (size_t) n_lat, sizeof *lat, compare_double);
      printf ("%-28s median %8.2f ms   max %8.2f ms   (%d cancels during a job)\n",
              "cancel latency", lat[n_lat / 2], lat[n_lat - 1], n_lat);
    }
  return TRUE;
}

/* 2·MACs of one forward over P positions with R image-logit rows and the
 * text head on the n text rows (attention counted as 2·P²·C per product). */
static double
forward_flop (const magvlt_model_info *in, int p, int img_rows, int txt_rows)
{
  double c = in->embed_dim, m = in->mlp_hidden;
  double per_layer = 2.0 * p * (4 * c * c + 2 * c * m) + 4.0 * (double) p * p * c;
  double head = 2.0 * (img_rows + txt_rows) * c * c + 2.0 * img_rows * c * in->vocab_size_img
                + 2.0 * txt_rows * c * in->vocab_size_txt;
  return per_layer * in->n_layers + head;
}

int
cli_bench (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *backend = NULL;
  int n_threads = 0, repeat = 5;
  gboolean no_forward = FALSE, no_vq = FALSE, no_jobs = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Model file (GGUF)", "MODEL" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Threads (default: physical cores)", "N" },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &backend,
      "Matrix products: auto, openblas, onednn-f32 or onednn-bf16", "B" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "Timed runs per stage (default 5)", "N" },
    { "no-forward", 0, 0, G_OPTION_ARG_NONE, &no_forward, "Skip the transformer", NULL },
    { "no-vq", 0, 0, G_OPTION_ARG_NONE, &no_vq, "Skip the VQGAN", NULL },
    { "no-jobs", 0, 0, G_OPTION_ARG_NONE, &no_jobs, "Skip the whole-job timings", NULL },
    { NULL },
  };
  if (!cli_parse ("bench", "Time the engine's stages on a model and print medians.",
                  "Stages: a T2I forward pass with every image slot masked and the image\n"
                  "logits of all of them (the first step of text-to-image), an I2T forward\n"
                  "with the text logits of every visible slot, VQGAN encode and decode, and\n"
                  "(models with a tokenizer) a whole T2I job — its refinement steps, the job\n"
                  "with the decode — and the latency of a cancel from another thread.\n"
                  "The numbers are wall-clock medians after one warm-up run; GFLOP/s counts\n"
                  "the matrix products. Peak memory is the process's maximum resident size.",
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (!model_path || argc > 1 || repeat < 1 || repeat > 1000)
    {
      fprintf (stderr, "magvlt bench: -m MODEL is required; --repeat 1..1000\n");
      return CLI_EXIT_USAGE;
    }
  magvlt_model *model = cli_load_model (model_path);
  if (!model)
    return CLI_EXIT_FAILED;
  bench_state b = { 0 };
  magvlt_model_get_info (model, &b.in);
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = n_threads;
  cp.backend = backend;
  double t_init = cli_now_ms ();
  if (magvlt_context_init (model, &cp, &b.ctx) != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt bench: %s\n", magvlt_last_error ());
      magvlt_model_free (model);
      return CLI_EXIT_FAILED;
    }
  const magvlt_model_info *in = &b.in;
  printf ("model: %d layers, width %d, %d heads, %d image + %d text slots, %s weights\n",
          in->n_layers, in->embed_dim, in->n_heads, in->ctx_len_img, in->ctx_len_txt,
          in->weight_type);
  printf ("backend: %s (context ready in %.0f ms, including any weight packing)\n",
          magvlt_context_get_backend (b.ctx), cli_now_ms () - t_init);
  int ni = in->ctx_len_img, nt = in->ctx_len_txt, n = nt;
  int32_t *img = g_new0 (int32_t, ni), *txt = g_new0 (int32_t, nt);
  uint8_t *all = g_new (uint8_t, ni > nt ? ni : nt);
  memset (all, 1, (size_t) (ni > nt ? ni : nt));
  for (int j = 0; j < nt; j++)
    txt[j] = j + 1 < nt ? (j * 31 + 7) % in->vocab_size_txt : in->text_eot_id;
  for (int j = 0; j < ni; j++)
    img[j] = (j * 97 + 3) % in->vocab_size_img;
  float *img_logits = g_new (float, (size_t) ni * in->vocab_size_img);
  float *txt_logits = g_new (float, (size_t) nt * in->vocab_size_txt);
  gboolean ok = TRUE;

  if (!no_forward)
    {
      b.input = (magvlt_forward_input){ MAGVLT_LAYOUT_T2I, img, all, txt, NULL, n };
      b.output = (magvlt_forward_output){ .image_logits = img_logits };
      ok = bench ("forward T2I (image head)", run_forward, &b, repeat,
                  forward_flop (in, 4 + ni + n, ni, 0));
      b.input = (magvlt_forward_input){ MAGVLT_LAYOUT_I2T, img, NULL, txt, all, n };
      b.output = (magvlt_forward_output){ .text_logits = txt_logits };
      ok = ok
           && bench ("forward I2T (text head)", run_forward, &b, repeat,
                     forward_flop (in, 4 + ni + n, 0, n));
    }
  if (ok && !no_vq && in->has_vqgan)
    {
      size_t px = (size_t) in->image_resolution * in->image_resolution * 3;
      b.rgb = g_new (uint8_t, px);
      b.codes = g_new (int32_t, ni);
      for (size_t i = 0; i < px; i++)
        b.rgb[i] = (uint8_t) ((i * 2654435761u) >> 24);
      ok = bench ("VQGAN encode", run_encode, &b, repeat, 0)
           && bench ("VQGAN decode", run_decode, &b, repeat, 0);
      g_free (b.rgb);
      g_free (b.codes);
    }
  magvlt_tokenizer_info ti;
  if (ok && !no_jobs && in->has_vqgan && magvlt_tokenizer_get_info (model, &ti) == MAGVLT_OK)
    ok = bench_jobs (b.ctx, repeat);
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf (
    "context scratch: %.1f MiB; peak resident memory: %.1f MiB (includes the weights paged in)\n",
    (double) magvlt_context_memory_size (b.ctx) / (1 << 20), (double) ru.ru_maxrss / 1024.0);
  g_free (img), g_free (txt), g_free (all), g_free (img_logits), g_free (txt_logits);
  magvlt_context_free (b.ctx);
  magvlt_model_free (model);
  return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
