/* cmd-bench.c — `magvlt bench`: median wall times of the engine's stages on
 * a model file or on random weights of a preset geometry made in memory
 * (--preset), the matrix-product peak of the backend, and the process's peak
 * memory.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memfd_create */
#include "magvlt-cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

typedef magvlt_status (*bench_fn) (void *data);

/* Human-readable lines go here: stdout, or stderr with --json (stdout then
 * carries only the JSON object). */
static FILE *report;

/* Runs fn `repeat` times after one warm-up run; prints the median and the
 * fastest and stores the median in *median_ms. */
static gboolean
bench (const char *what, bench_fn fn, void *data, int repeat, double flop, double *median_ms)
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
  *median_ms = ms[repeat / 2];
  fprintf (report, "%-28s median %8.1f ms   min %8.1f ms", what, ms[repeat / 2], ms[0]);
  if (flop > 0)
    fprintf (report, "   %6.1f GFLOP/s", flop / (ms[repeat / 2] * 1e6));
  fprintf (report, "   (%d runs)\n", repeat);
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

/* ---- whole jobs: T2I, caption, inpaint, step times, cancel latency ------ */

/* The medians a run measured; negative = not run. */
typedef struct {
  double forward_ms, forward_i2t_ms, forward_gflops, forward_i2t_gflops;
  double peak_gflops, peak_mlp_gflops;
  double vq_encode_ms, vq_decode_ms;
  double step_ms, t2i_ms, caption_ms, inpaint_ms;
  double cancel_ms, cancel_max_ms;
  double model_gen_ms, load_ms;
} bench_results;

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

typedef enum { JOB_T2I, JOB_CAPTION, JOB_INPAINT } job_kind;

static const char *job_names[] = { "T2I job", "caption job", "inpaint job" };

/* The inputs of the jobs: a prompt, and an R×R test image with a mask over
 * its centre quarter (a quarter of the codes regenerated). */
typedef struct {
  magvlt_context *ctx;
  magvlt_sampling_params p;
  magvlt_edit_params ep;
  const char *prompt;
  magvlt_image image;
  uint8_t *mask;
} job_inputs;

static magvlt_status
run_job (job_inputs *j, job_kind kind, uint64_t seed)
{
  magvlt_result r;
  magvlt_status st;
  j->p.seed = seed;
  if (kind == JOB_T2I)
    st = magvlt_generate_image (j->ctx, &j->p, j->prompt, &r);
  else if (kind == JOB_CAPTION)
    st = magvlt_caption (j->ctx, &j->p, &j->image, &r);
  else
    st = magvlt_edit_image (j->ctx, &j->p, &j->ep, &j->image, j->mask, (size_t) j->image.width,
                            j->prompt, &r);
  if (st == MAGVLT_OK)
    magvlt_result_free (&r);
  return st;
}

/* Median wall time of `repeat` jobs of one kind after one warm-up job. */
static gboolean
time_job (job_inputs *j, job_kind kind, int repeat, double *median_ms)
{
  g_autofree double *ms = g_new (double, repeat);
  for (int i = -1; i < repeat; i++)
    {
      double t0 = cli_now_ms ();
      if (run_job (j, kind, (uint64_t) (i + 1)) != MAGVLT_OK)
        {
          fprintf (stderr, "magvlt bench: %s: %s\n", job_names[kind], magvlt_last_error ());
          return FALSE;
        }
      if (i >= 0)
        ms[i] = cli_now_ms () - t0;
    }
  qsort (ms, (size_t) repeat, sizeof *ms, compare_double);
  *median_ms = ms[repeat / 2];
  return TRUE;
}

/* What --what selected (step: the T2I job's refinement steps, which are
 * timed during the T2I jobs). */
typedef struct {
  gboolean forward, peak, vq, t2i, caption, inpaint, cancel;
} bench_what;

static gboolean
bench_jobs (magvlt_context *ctx, const magvlt_model *model, const magvlt_model_info *in, int repeat,
            const bench_what *w, bench_results *res)
{
  step_clock clock = { 0 };
  magvlt_callbacks cb = { .progress = on_step, .user_data = &clock };
  int side = in->image_resolution;
  /* the model's own sampling values, as `magvlt generate` and the app use
   * them (the default model's include text guidance: two forwards a step) */
  job_inputs j = { ctx, magvlt_model_sampling_params (model), magvlt_edit_default_params (),
                   "a red apple on a wooden table" };
  g_autofree uint8_t *rgb = g_new (uint8_t, (size_t) side * side * 3);
  g_autofree uint8_t *mask = g_new0 (uint8_t, (size_t) side * side);
  gboolean ok = TRUE;

  /* a smooth picture (gradients and a disc), so encoding sees structure */
  for (int y = 0; y < side; y++)
    for (int x = 0; x < side; x++)
      {
        uint8_t *px = rgb + ((size_t) y * side + x) * 3;
        int dx = x - side / 2, dy = y - side / 3;
        gboolean disc = dx * dx + dy * dy < side * side / 16;
        px[0] = (uint8_t) (disc ? 220 : 255 * x / side);
        px[1] = (uint8_t) (disc ? 40 : 255 * y / side);
        px[2] = (uint8_t) (disc ? 30 : 128);
        mask[(size_t) y * side + x] =
          (x >= side / 4 && x < 3 * side / 4 && y >= side / 4 && y < 3 * side / 4) ? 255 : 0;
      }
  j.image = (magvlt_image){ side, side, (size_t) side * 3, rgb };
  j.mask = mask;

  magvlt_context_set_callbacks (ctx, &cb);
  clock.last_ms = cli_now_ms ();
  ok = !w->t2i || time_job (&j, JOB_T2I, repeat, &res->t2i_ms);
  magvlt_context_set_callbacks (ctx, NULL);
  if (ok && w->t2i)
    {
      qsort (clock.step_ms, (size_t) clock.n_steps, sizeof (double), compare_double);
      res->step_ms = clock.step_ms[clock.n_steps / 2];
      fprintf (report, "%-28s median %8.1f ms   min %8.1f ms   (%d steps)\n", "T2I refinement step",
               res->step_ms, clock.step_ms[0], clock.n_steps);
      fprintf (report, "%-28s median %8.1f ms   (%d jobs: %d steps + decode)\n", job_names[JOB_T2I],
               res->t2i_ms, repeat, j.p.image_steps);
      if (j.p.image_guidance > 0.0f)
        fprintf (report, "%-28s (text guidance %g: two forward passes a step)\n", "",
                 (double) j.p.image_guidance);
    }
  ok = ok && (!w->caption || time_job (&j, JOB_CAPTION, repeat, &res->caption_ms));
  if (ok && w->caption)
    fprintf (report, "%-28s median %8.1f ms   (%d jobs: encode + length + %d text steps)\n",
             job_names[JOB_CAPTION], res->caption_ms, repeat, j.p.text_steps);
  ok = ok && (!w->inpaint || time_job (&j, JOB_INPAINT, repeat, &res->inpaint_ms));
  if (ok && w->inpaint)
    fprintf (report,
             "%-28s median %8.1f ms   (%d jobs: %dx%d image, centre quarter masked, "
             "encode + %d steps + decode)\n",
             job_names[JOB_INPAINT], res->inpaint_ms, repeat, side, side, j.p.image_steps);
  if (!ok || !w->cancel)
    return ok;

  /* cancel latency: from magvlt_context_cancel on another thread to the
   * job's return, at delays spread over a T2I job */
  double lat[8];
  int n_lat = 0;
  for (int i = 0; i < 8; i++)
    {
      if (i == 0 && res->t2i_ms < 0 && !time_job (&j, JOB_T2I, 1, &res->t2i_ms))
        return FALSE;
      cancel_timer t = { ctx, (int) (res->t2i_ms * (i + 1) / 10.0), 0 };
      pthread_t th;
      pthread_create (&th, NULL, cancel_after, &t);
      magvlt_status st = run_job (&j, JOB_T2I, 0);
      double end = cli_now_ms ();
      pthread_join (th, NULL);
      if (st == MAGVLT_ABORTED)
        lat[n_lat++] = end - t.sent_ms;
      else if (st == MAGVLT_OK)
        magvlt_context_reset_cancel (ctx); /* it came after the job ended */
    }
  if (n_lat > 0)
    {
      qsort (lat, (size_t) n_lat, sizeof *lat, compare_double);
      res->cancel_ms = lat[n_lat / 2];
      res->cancel_max_ms = lat[n_lat - 1];
      fprintf (report, "%-28s median %8.2f ms   max %8.2f ms   (%d cancels during a job)\n",
               "cancel latency", res->cancel_ms, res->cancel_max_ms, n_lat);
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

/* One JSON number, or null for what was not run. */
static void
json_number (const char *key, double v, gboolean last)
{
  if (v < 0)
    printf ("  \"%s\": null%s\n", key, last ? "" : ",");
  else
    printf ("  \"%s\": %.3f%s\n", key, v, last ? "" : ",");
}

/* ---- --preset: random weights written in memory, then loaded ------------ */

/* Writes the random model of rp into a memfd (or, without one, a temporary
 * file in $TMPDIR, unlinked once loaded) and loads it by its path with the
 * ordinary loader, so the file is mapped as any model file is. Nothing is
 * written to the working directory. *exit_code: CLI_EXIT_USAGE for
 * parameters the library refuses, else CLI_EXIT_FAILED. */
static magvlt_model *
load_preset (const magvlt_random_model_params *rp, bench_results *res, int *exit_code)
{
  magvlt_model *model = NULL;
  g_autofree char *path = NULL, *tmp = NULL;
  int fd = memfd_create ("magvlt-bench-model", MFD_CLOEXEC);
  if (fd >= 0)
    {
      path = g_strdup_printf ("/proc/self/fd/%d", fd);
      if (access (path, W_OK) != 0) /* no /proc: fall back to a file */
        {
          close (fd);
          fd = -1;
          g_clear_pointer (&path, g_free);
        }
    }
  if (fd < 0)
    {
      GError *err = NULL;
      fd = g_file_open_tmp ("magvlt-bench-XXXXXX.gguf", &tmp, &err);
      if (fd < 0)
        {
          fprintf (stderr, "magvlt bench: cannot create a temporary file: %s\n", err->message);
          g_error_free (err);
          *exit_code = CLI_EXIT_FAILED;
          return NULL;
        }
      path = g_strdup (tmp);
    }
  magvlt_convert_stats stats = { 0 };
  double t0 = cli_now_ms ();
  magvlt_status st = magvlt_random_model_write (rp, path, &stats);
  res->model_gen_ms = cli_now_ms () - t0;
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt bench: --preset %s: %s\n", rp->preset, magvlt_last_error ());
      *exit_code = st == MAGVLT_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
    }
  else
    {
      fprintf (report,
               "random weights: preset %s, seed %llu, %d tensors, %.1f MiB written %s in %.0f ms\n",
               rp->preset, (unsigned long long) rp->seed, stats.n_tensors,
               (double) stats.file_size / (1 << 20), tmp ? "to a temporary file" : "to a memfd",
               res->model_gen_ms);
      t0 = cli_now_ms ();
      model = cli_load_model (path);
      res->load_ms = cli_now_ms () - t0;
      *exit_code = CLI_EXIT_FAILED;
    }
  close (fd); /* the loader's mapping keeps the memory */
  if (tmp)
    unlink (tmp);
  return model;
}

/* The backend's matrix-product speed at the model's MLP weight (M × C) with
 * 1024 rows and with the T2I forward's L rows (1024×4096×1024 and
 * 324×4096×1024 for MAGVLT-base), median of at least 3. The model's shape,
 * not a fixed one, because the bf16 backend multiplies only the model's
 * packed weights, and one shape for every backend keeps them comparable. */
static gboolean
bench_peak (magvlt_context *ctx, const magvlt_model_info *in, int repeat, bench_results *res)
{
  int runs = repeat < 3 ? 3 : repeat;
  struct {
    const char *what;
    int32_t m, n, k;
    double *out;
  } shapes[] = {
    { "matmul peak", 1024, in->mlp_hidden, in->embed_dim, &res->peak_gflops },
    { "matmul MLP", in->seq_len, in->mlp_hidden, in->embed_dim, &res->peak_mlp_gflops },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      magvlt_status st = magvlt_context_bench_matmul (ctx, shapes[i].m, shapes[i].n, shapes[i].k,
                                                      runs, shapes[i].out);
      if (st == MAGVLT_ERR_UNSUPPORTED)
        {
          /* a backend the library cannot time alone: the other stages still run */
          fprintf (report, "%-28s not measured: %s\n", shapes[i].what, magvlt_last_error ());
          *shapes[i].out = -1;
          return TRUE;
        }
      if (st != MAGVLT_OK)
        {
          fprintf (stderr, "magvlt bench: %s: %s\n", shapes[i].what, magvlt_last_error ());
          return FALSE;
        }
      char label[64];
      g_snprintf (label, sizeof label, "%s %dx%dx%d", shapes[i].what, shapes[i].m, shapes[i].n,
                  shapes[i].k);
      fprintf (report, "%-28s %6.1f GFLOP/s   (%s, median of %d)\n", label, *shapes[i].out,
               magvlt_context_get_backend (ctx), runs);
    }
  return TRUE;
}

/* --what: the stages named in a comma-separated list. */
static gboolean
parse_what (const char *what, bench_what *w)
{
  g_auto (GStrv) parts = g_strsplit (what, ",", -1);
  *w = (bench_what){ FALSE };
  for (char **p = parts; *p; p++)
    {
      gboolean *flag = !strcmp (*p, "forward")                          ? &w->forward
                       : !strcmp (*p, "peak")                           ? &w->peak
                       : !strcmp (*p, "vq")                             ? &w->vq
                       : !strcmp (*p, "t2i") || !strcmp (*p, "step")    ? &w->t2i
                       : !strcmp (*p, "i2t") || !strcmp (*p, "caption") ? &w->caption
                       : !strcmp (*p, "inpaint")                        ? &w->inpaint
                       : !strcmp (*p, "cancel")                         ? &w->cancel
                                                                        : NULL;
      if (!flag && **p)
        {
          fprintf (stderr,
                   "magvlt bench: --what: unknown stage '%s' (use forward, peak, step, t2i, "
                   "i2t, vq, inpaint, cancel)\n",
                   *p);
          return FALSE;
        }
      if (flag)
        *flag = TRUE;
    }
  return TRUE;
}

int
cli_bench (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *backend = NULL, *what = NULL, *preset = NULL;
  g_autofree char *preset_type = NULL;
  int n_threads = 0, repeat = 5;
  gboolean no_forward = FALSE, no_vq = FALSE, no_jobs = FALSE, no_peak = FALSE, json = FALSE;
  magvlt_random_model_params rp = magvlt_random_model_default_params ();
  gint64 seed = (gint64) rp.seed;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Model file (GGUF)", "MODEL" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset,
      "Instead of -m: random weights of this geometry, made in memory: base, large or default",
      "NAME" },
    { "preset-type", 0, 0, G_OPTION_ARG_STRING, &preset_type,
      "Weights of --preset: f16 (default), bf16 or f32", "TYPE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the --preset weights (default 1)", "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &rp.n_layers, "With --preset: this many layers", "N" },
    { "width", 0, 0, G_OPTION_ARG_INT, &rp.embed_dim,
      "With --preset: this width (the MLP is 4× it)", "C" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &rp.n_heads, "With --preset: this many heads", "H" },
    { "image-grid", 0, 0, G_OPTION_ARG_INT, &rp.image_grid,
      "With --preset: G×G image codes (the VQGAN's resolution follows)", "G" },
    { "text-len", 0, 0, G_OPTION_ARG_INT, &rp.ctx_len_txt, "With --preset: this many text slots",
      "T" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Threads (default: physical cores)", "N" },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &backend,
      "Matrix products: auto, openblas, bf16, onednn-f32 or onednn-bf16", "B" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "Timed runs per stage (default 5)", "N" },
    { "no-forward", 0, 0, G_OPTION_ARG_NONE, &no_forward, "Skip the transformer", NULL },
    { "no-peak", 0, 0, G_OPTION_ARG_NONE, &no_peak, "Skip the matrix-product peak", NULL },
    { "no-vq", 0, 0, G_OPTION_ARG_NONE, &no_vq, "Skip the VQGAN", NULL },
    { "no-jobs", 0, 0, G_OPTION_ARG_NONE, &no_jobs, "Skip the whole-job timings", NULL },
    { "what", 0, 0, G_OPTION_ARG_STRING, &what,
      "Only these stages, comma-separated: forward, peak, step, t2i, i2t (or caption), vq, "
      "inpaint, cancel",
      "LIST" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print one JSON object on stdout (the readable lines go to stderr)", NULL },
    { NULL },
  };
  if (!cli_parse ("bench", "Time the engine's stages on a model and print medians.",
                  "Stages: a T2I forward pass with every image slot masked and the image\n"
                  "logits of all of them (the first step of text-to-image), an I2T forward\n"
                  "with the text logits of every visible slot, VQGAN encode and decode, and\n"
                  "(models with a tokenizer) whole jobs with the model's own sampling values\n"
                  "(`magvlt info`; one candidate):\n"
                  "text-to-image (its refinement steps, and the job with the decode), a caption\n"
                  "(i2t: encode, length prediction, text steps) and an inpainting of the centre\n"
                  "quarter of an R×R image (encode, image steps, decode, paste) — and the\n"
                  "latency of a cancel sent from another thread during a text-to-image job.\n"
                  "The numbers are wall-clock medians after one warm-up run; GFLOP/s counts\n"
                  "the matrix products. Peak memory is the process's maximum resident size.\n"
                  "\n"
                  "With the forward pass comes the backend's matrix-product peak (stage peak):\n"
                  "products y = x·Wᵀ at the model's MLP weight W (M × C) with 1024 rows and\n"
                  "with the forward pass's L rows (rows × outputs × inputs: 1024×4096×1024 and\n"
                  "324×4096×1024 for MAGVLT-base), the library's best: OpenBLAS's sgemm\n"
                  "threaded by OpenBLAS on --threads threads, oneDNN's matmul on packed weights\n"
                  "(f32 or bf16) on OpenMP's threads ($OMP_NUM_THREADS), or the bf16 backend's\n"
                  "own product of that weight; median of at least 3 after a warm-up.\n"
                  "forward_gflops / peak_gflops is how much of it the forward pass reaches.\n"
                  "Stage step is the T2I job's refinement steps (it runs the T2I jobs).\n"
                  "\n"
                  "--preset NAME replaces -m MODEL with random weights made in memory (a memfd,\n"
                  "or an unlinked file in $TMPDIR; never in the working directory) and loaded\n"
                  "through the ordinary loader: base = MAGVLT-base (24 layers, width 1024, 8\n"
                  "heads, MLP 4096, 16×16 image codes from a 256×256 VQGAN with 16,384 codes,\n"
                  "64 text slots, 49,408 text ids), large = MAGVLT-large (36 layers, width\n"
                  "1280, 10 heads, MLP 5120, otherwise as base), default = the geometry of the\n"
                  "shipped default model (8 layers, width 256, 4 heads, 8×8 codes from a 64×64\n"
                  "VQGAN with 1,024 codes, 32 text slots, 3,072 text ids). The weights have\n"
                  "trained-like scales (those of make_parity_cases.py), f16 matrices unless\n"
                  "--preset-type says otherwise, and are the same for the same --seed. The\n"
                  "text tokenizer is synthetic, of the right size: CLIP's 256 byte characters\n"
                  "(and the same with </w>), then merges that build lowercase words of up to\n"
                  "four letters, so the jobs run; its tokens are not CLIP's. --layers, --width,\n"
                  "--heads, --image-grid and --text-len change the preset's geometry. The base\n"
                  "model takes ~0.9 GB of memory (f16), large ~1.8 GB.\n"
                  "\n"
                  "--json keys (milliseconds unless named otherwise; null = not run):\n"
                  "backend, threads, preset (null with -m), model_gen_ms (--preset), load_ms,\n"
                  "forward_ms (T2I), forward_i2t_ms, forward_gflops, forward_i2t_gflops,\n"
                  "peak_gflops, peak_mlp_gflops, forward_peak_ratio, vq_encode_ms, vq_decode_ms,\n"
                  "step_ms, t2i_ms, i2t_ms (the caption job; also as caption_ms), inpaint_ms,\n"
                  "cancel_ms, cancel_max_ms, context_mb, peak_rss_mb.",
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc > 1 || repeat < 1 || repeat > 1000)
    {
      fprintf (stderr, "magvlt bench: unexpected arguments or --repeat outside 1..1000\n");
      return CLI_EXIT_USAGE;
    }
  if (!model_path == !preset)
    {
      fprintf (stderr, "magvlt bench: give either -m MODEL or --preset base|large|default%s\n",
               model_path ? ", not both" : "");
      return CLI_EXIT_USAGE;
    }
  gboolean sizes = rp.n_layers || rp.embed_dim || rp.n_heads || rp.image_grid || rp.ctx_len_txt;
  if (!preset && (preset_type || sizes))
    {
      fprintf (stderr, "magvlt bench: --preset-type, --layers, --width, --heads, --image-grid "
                       "and --text-len go with --preset\n");
      return CLI_EXIT_USAGE;
    }
  if (preset && strcmp (preset, "base") && strcmp (preset, "large") && strcmp (preset, "default"))
    {
      fprintf (stderr, "magvlt bench: unknown preset '%s' (use base, large or default)\n", preset);
      return CLI_EXIT_USAGE;
    }
  if (preset_type)
    {
      if (!strcmp (preset_type, "f16"))
        rp.weight_type = MAGVLT_WEIGHTS_F16;
      else if (!strcmp (preset_type, "bf16"))
        rp.weight_type = MAGVLT_WEIGHTS_BF16;
      else if (!strcmp (preset_type, "f32"))
        rp.weight_type = MAGVLT_WEIGHTS_F32;
      else
        {
          fprintf (stderr, "magvlt bench: --preset-type '%s' (use f16, bf16 or f32)\n",
                   preset_type);
          return CLI_EXIT_USAGE;
        }
    }
  if (seed < 0)
    {
      fprintf (stderr, "magvlt bench: --seed must be 0 or more\n");
      return CLI_EXIT_USAGE;
    }
  rp.seed = (uint64_t) seed;
  rp.preset = preset;
  bench_what w = { !no_forward, !no_forward && !no_peak, !no_vq, !no_jobs, !no_jobs, !no_jobs,
                   !no_jobs };
  if (what)
    {
      if (!parse_what (what, &w))
        return CLI_EXIT_USAGE;
      if (w.forward && !no_peak)
        w.peak = TRUE;
    }
  report = json ? stderr : stdout;
  bench_results res;
  for (double *v = (double *) &res; v < (double *) (&res + 1); v++)
    *v = -1;
  magvlt_model *model;
  if (preset)
    {
      int code;
      if (!(model = load_preset (&rp, &res, &code)))
        return code;
    }
  else
    {
      double t0 = cli_now_ms ();
      if (!(model = cli_load_model (model_path)))
        return CLI_EXIT_FAILED;
      res.load_ms = cli_now_ms () - t0;
    }
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
  fprintf (report,
           "model: %d layers, width %d, %d heads, %d image + %d text slots, %s weights "
           "(loaded in %.0f ms)\n",
           in->n_layers, in->embed_dim, in->n_heads, in->ctx_len_img, in->ctx_len_txt,
           in->weight_type, res.load_ms);
  fprintf (report, "backend: %s (context ready in %.0f ms, including any weight packing)\n",
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

  if (w.forward)
    {
      double f_t2i = forward_flop (in, 4 + ni + n, ni, 0),
             f_i2t = forward_flop (in, 4 + ni + n, 0, n);
      b.input = (magvlt_forward_input){ MAGVLT_LAYOUT_T2I, img, all, txt, NULL, n };
      b.output = (magvlt_forward_output){ .image_logits = img_logits };
      ok = bench ("forward T2I (image head)", run_forward, &b, repeat, f_t2i, &res.forward_ms);
      b.input = (magvlt_forward_input){ MAGVLT_LAYOUT_I2T, img, NULL, txt, all, n };
      b.output = (magvlt_forward_output){ .text_logits = txt_logits };
      ok =
        ok
        && bench ("forward I2T (text head)", run_forward, &b, repeat, f_i2t, &res.forward_i2t_ms);
      if (ok)
        {
          res.forward_gflops = f_t2i / (res.forward_ms * 1e6);
          res.forward_i2t_gflops = f_i2t / (res.forward_i2t_ms * 1e6);
        }
    }
  if (ok && w.peak && in->has_transformer)
    {
      ok = bench_peak (b.ctx, in, repeat, &res);
      if (ok && res.forward_gflops > 0 && res.peak_gflops > 0)
        fprintf (report, "%-28s %6.2f   (T2I forward GFLOP/s / peak GFLOP/s)\n", "forward / peak",
                 res.forward_gflops / res.peak_gflops);
    }
  if (ok && w.vq && in->has_vqgan)
    {
      size_t px = (size_t) in->image_resolution * in->image_resolution * 3;
      b.rgb = g_new (uint8_t, px);
      b.codes = g_new (int32_t, ni);
      for (size_t i = 0; i < px; i++)
        b.rgb[i] = (uint8_t) ((i * 2654435761u) >> 24);
      ok = bench ("VQGAN encode", run_encode, &b, repeat, 0, &res.vq_encode_ms)
           && bench ("VQGAN decode", run_decode, &b, repeat, 0, &res.vq_decode_ms);
      g_free (b.rgb);
      g_free (b.codes);
    }
  magvlt_tokenizer_info ti;
  if (ok && (w.t2i || w.caption || w.inpaint || w.cancel) && in->has_vqgan
      && magvlt_tokenizer_get_info (model, &ti) == MAGVLT_OK)
    ok = bench_jobs (b.ctx, model, in, repeat, &w, &res);
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  double ctx_mb = (double) magvlt_context_memory_size (b.ctx) / (1 << 20);
  double rss_mb = (double) ru.ru_maxrss / 1024.0;
  fprintf (report,
           "context scratch: %.1f MiB; peak resident memory: %.1f MiB (includes the weights paged "
           "in)\n",
           ctx_mb, rss_mb);
  if (json && ok)
    {
      printf ("{\n  \"backend\": \"%s\",\n  \"threads\": %d,\n", magvlt_context_get_backend (b.ctx),
              n_threads);
      if (preset)
        printf ("  \"preset\": \"%s\",\n", preset);
      else
        printf ("  \"preset\": null,\n");
      json_number ("model_gen_ms", res.model_gen_ms, FALSE);
      json_number ("load_ms", res.load_ms, FALSE);
      json_number ("forward_ms", res.forward_ms, FALSE);
      json_number ("forward_i2t_ms", res.forward_i2t_ms, FALSE);
      json_number ("forward_gflops", res.forward_gflops, FALSE);
      json_number ("forward_i2t_gflops", res.forward_i2t_gflops, FALSE);
      json_number ("peak_gflops", res.peak_gflops, FALSE);
      json_number ("peak_mlp_gflops", res.peak_mlp_gflops, FALSE);
      json_number (
        "forward_peak_ratio",
        res.forward_gflops > 0 && res.peak_gflops > 0 ? res.forward_gflops / res.peak_gflops : -1,
        FALSE);
      json_number ("vq_encode_ms", res.vq_encode_ms, FALSE);
      json_number ("vq_decode_ms", res.vq_decode_ms, FALSE);
      json_number ("step_ms", res.step_ms, FALSE);
      json_number ("t2i_ms", res.t2i_ms, FALSE);
      json_number ("i2t_ms", res.caption_ms, FALSE);
      json_number ("caption_ms", res.caption_ms, FALSE);
      json_number ("inpaint_ms", res.inpaint_ms, FALSE);
      json_number ("cancel_ms", res.cancel_ms, FALSE);
      json_number ("cancel_max_ms", res.cancel_max_ms, FALSE);
      json_number ("context_mb", ctx_mb, FALSE);
      json_number ("peak_rss_mb", rss_mb, TRUE);
      printf ("}\n");
    }
  g_free (img), g_free (txt), g_free (all), g_free (img_logits), g_free (txt_logits);
  magvlt_context_free (b.ctx);
  magvlt_model_free (model);
  return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
