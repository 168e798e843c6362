/* soak.c — many consecutive jobs in one process on one model and one
 * context (issue 11): generate, caption, inpaint, edit, infill, joint, a VQ
 * encode + decode and a job cancelled half-way, round-robin. After every job
 * it samples the resident set size (/proc/self/statm), the open file
 * descriptors (/proc/self/fd) and the threads (/proc/self/task). After the
 * warm-up (the first round of every kind of job, which allocates the
 * context's VQGAN scratch and the allocator's arenas) the RSS must stay
 * within 5 % of its value at the end of the warm-up, and the descriptor and
 * thread counts must not change.
 *
 * Usage: soak MODEL.gguf [N_JOBS (100)] [WARMUP_JOBS (8)] [MAX_GROWTH_PERCENT (5)]
 * Prints one line per job and a summary; exits 1 when a job fails or a check
 * does not hold. `meson test soak` runs 100 jobs on the tiny jobs model;
 * tests/README.md gives the command for a larger model. */
#include "magvlt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc-usage.h"

enum {
  JOB_GENERATE,
  JOB_CAPTION,
  JOB_INPAINT,
  JOB_EDIT,
  JOB_INFILL,
  JOB_JOINT,
  JOB_VQ,
  JOB_CANCEL,
  N_JOB_KINDS
};

static const char *const job_names[N_JOB_KINDS] = {
  "generate", "caption", "inpaint", "edit", "infill", "joint", "vq", "cancel",
};

/* a smooth test image of any size */
static uint8_t *
make_image (int w, int h)
{
  uint8_t *p = malloc ((size_t) w * h * 3);
  if (!p)
    return NULL;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        p[(y * w + x) * 3 + 0] = (uint8_t) (x * 255 / (w > 1 ? w - 1 : 1));
        p[(y * w + x) * 3 + 1] = (uint8_t) (y * 255 / (h > 1 ? h - 1 : 1));
        p[(y * w + x) * 3 + 2] = (uint8_t) ((x * y) % 256);
      }
  return p;
}

/* cancels the job from its first progress call (the flag is polled after
 * every transformer block, so the job stops inside its first step) */
static void
cancel_on_progress (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t cand, int32_t n_cand,
                    void *ud)
{
  (void) stage, (void) step, (void) n_steps, (void) cand, (void) n_cand;
  magvlt_context_cancel (ud);
}

static magvlt_status
run_job (magvlt_context *ctx, const magvlt_model_info *info, int kind, uint64_t seed,
         const magvlt_image *img, const uint8_t *mask)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  p.seed = seed;
  p.image_steps = 4;
  p.text_steps = 4;
  magvlt_edit_params ep = magvlt_edit_default_params ();
  ep.padding = 4;
  ep.feather = 2;
  magvlt_result r = { 0 };
  magvlt_status st = MAGVLT_OK;
  switch (kind)
    {
    case JOB_GENERATE:
      p.n_candidates = 2;
      st = magvlt_generate_image (ctx, &p, "a red heart on a white background", &r);
      break;
    case JOB_CAPTION: st = magvlt_caption (ctx, &p, img, &r); break;
    case JOB_INPAINT:
      st = magvlt_edit_image (ctx, &p, &ep, img, mask, (size_t) img->width, "a cat", &r);
      break;
    case JOB_EDIT:
      ep.strength = 0.5f;
      st = magvlt_edit_image (ctx, &p, &ep, img, mask, (size_t) img->width, "a blue flag", &r);
      break;
    case JOB_INFILL:
      st = magvlt_infill_text (ctx, &p, img, "a [MASK] on a blue background", 0, &r);
      break;
    case JOB_JOINT: st = magvlt_generate_joint (ctx, &p, &r); break;
    case JOB_VQ:
      {
        int32_t res = info->image_resolution, n = info->image_grid * info->image_grid;
        uint8_t *rgb = make_image (res, res), *out = malloc ((size_t) res * res * 3);
        int32_t *codes = malloc ((size_t) n * sizeof *codes);
        if (!rgb || !out || !codes)
          st = MAGVLT_ERR_NOMEM;
        else
          {
            magvlt_vq_encode_output eo = { .codes = codes };
            st = magvlt_vq_encode (ctx, rgb, (size_t) res * 3, &eo);
            if (st == MAGVLT_OK)
              st = magvlt_vq_decode (ctx, codes, out, (size_t) res * 3, NULL);
          }
        free (rgb), free (out), free (codes);
        return st;
      }
    case JOB_CANCEL:
      {
        magvlt_callbacks cb = { .progress = cancel_on_progress, .user_data = ctx };
        magvlt_context_set_callbacks (ctx, &cb);
        st = magvlt_generate_image (ctx, &p, "a cancelled job", &r);
        magvlt_context_set_callbacks (ctx, NULL);
        magvlt_result_free (&r);
        return st == MAGVLT_ABORTED ? MAGVLT_OK : (st == MAGVLT_OK ? MAGVLT_ERR_INVALID_ARG : st);
      }
    }
  if (st == MAGVLT_OK && r.n_candidates < 1)
    st = MAGVLT_ERR_INVALID_ARG;
  magvlt_result_free (&r);
  return st;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: soak MODEL.gguf [N_JOBS] [WARMUP_JOBS] [MAX_GROWTH_PERCENT]\n");
      return 2;
    }
  int n_jobs = argc > 2 ? atoi (argv[2]) : 100;
  int warmup = argc > 3 ? atoi (argv[3]) : N_JOB_KINDS;
  double max_growth = argc > 4 ? atof (argv[4]) : 5.0;
  if (n_jobs <= warmup || warmup < 1)
    {
      fprintf (stderr, "soak: need 1 <= WARMUP_JOBS < N_JOBS\n");
      return 2;
    }

  setvbuf (stdout, NULL, _IOLBF, 0); /* one line per job, also into a log file */
  proc_usage start = proc_usage_sample ();
  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = 2;
  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK
      || magvlt_context_init (model, &cp, &ctx) != MAGVLT_OK)
    {
      fprintf (stderr, "soak: %s: %s\n", argv[1], magvlt_last_error ());
      return 1;
    }
  magvlt_model_info info;
  magvlt_model_get_info (model, &info);
  if (!info.has_vqgan || !info.has_transformer)
    {
      fprintf (stderr, "soak: %s needs both a transformer and a VQGAN\n", argv[1]);
      return 1;
    }
  proc_usage loaded = proc_usage_sample ();
  printf ("start: rss %ld kB, %d fds, %d threads; model + context: rss %ld kB, %d fds, %d "
          "threads\n",
          start.rss_kb, start.fds, start.threads, loaded.rss_kb, loaded.fds, loaded.threads);

  /* an image of another size than the model's, so every job resizes */
  int w = 3 * info.image_resolution + 5, h = 2 * info.image_resolution + 3;
  uint8_t *rgb = make_image (w, h), *mask = calloc ((size_t) w * h, 1);
  if (!rgb || !mask)
    return 1;
  for (int y = h / 4; y < h / 2; y++)
    memset (mask + (size_t) y * w + w / 3, 255, (size_t) w / 4);
  magvlt_image img = { w, h, (size_t) w * 3, rgb };

  int failures = 0;
  proc_usage base = { 0 }, last = { 0 }, first = { 0 };
  long rss_min = 0, rss_max = 0;
  for (int i = 0; i < n_jobs; i++)
    {
      int kind = i % N_JOB_KINDS;
      magvlt_status st = run_job (ctx, &info, kind, (uint64_t) i, &img, mask);
      proc_usage u = proc_usage_sample ();
      printf ("job %3d %-8s %-8s rss %7ld kB  fds %2d  threads %2d%s\n", i + 1, job_names[kind],
              st == MAGVLT_OK ? "ok" : magvlt_status_str (st), u.rss_kb, u.fds, u.threads,
              i + 1 == warmup ? "  <- end of warm-up" : "");
      if (st != MAGVLT_OK)
        {
          printf ("FAIL job %d (%s): %s\n", i + 1, job_names[kind],
                  magvlt_context_last_error (ctx));
          failures++;
        }
      if (i == 0)
        first = u;
      if (i + 1 == warmup)
        base = u, rss_min = rss_max = u.rss_kb;
      if (i + 1 > warmup)
        {
          rss_min = u.rss_kb < rss_min ? u.rss_kb : rss_min;
          rss_max = u.rss_kb > rss_max ? u.rss_kb : rss_max;
          if (u.fds != base.fds || u.threads != base.threads)
            {
              printf ("FAIL job %d: %d fds and %d threads, %d and %d after the warm-up\n", i + 1,
                      u.fds, u.threads, base.fds, base.threads);
              failures++;
            }
        }
      last = u;
    }

  double growth = 100.0 * (double) (rss_max - base.rss_kb) / (double) base.rss_kb;
  double shrink = 100.0 * (double) (base.rss_kb - rss_min) / (double) base.rss_kb;
  printf ("RSS after job 1 %ld kB; after the warm-up (job %d) %ld kB; last %ld kB; after the "
          "warm-up min %ld kB, max %ld kB (%+.2f %% / -%.2f %%, limit %.1f %%)\n",
          first.rss_kb, warmup, base.rss_kb, last.rss_kb, rss_min, rss_max, growth, shrink,
          max_growth);
  printf ("fds %d -> %d, threads %d -> %d (after the warm-up -> last)\n", base.fds, last.fds,
          base.threads, last.threads);
  if (SOAK_SANITIZER)
    printf ("RSS check skipped: built with a sanitizer (its allocator keeps freed memory)\n");
  else if (growth > max_growth || shrink > max_growth)
    {
      printf ("FAIL RSS is not flat within %.1f %% after the warm-up\n", max_growth);
      failures++;
    }

  magvlt_context_free (ctx);
  magvlt_model_free (model);
  free (rgb);
  free (mask);
  proc_usage end = proc_usage_sample ();
  printf ("after freeing the context and the model: %d fds, %d threads (at start %d, %d)\n",
          end.fds, end.threads, start.fds, start.threads);
  if (end.fds != start.fds || end.threads != start.threads)
    {
      printf ("FAIL descriptors or threads left behind after magvlt_model_free\n");
      failures++;
    }
  printf ("%s: %d jobs, %d failures\n", failures ? "FAIL" : "ok", n_jobs, failures);
  return failures ? 1 : 0;
}
