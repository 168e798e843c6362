/* test-sampler.c — the refinement machinery: schedule tables against the
 * official float32 ones (schedules.json), the PRNG, categorical sampling
 * with top-k, and the image/text loops' invariants on a random model:
 * fixed tokens never change, at least one token per step, everything known
 * at the end, same seed ⇒ same output, cancel from another thread.
 *
 * Usage: test-sampler SCHEDULES.json MODEL.gguf */
#include "refine.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_passed, n_failed;

static void
expect (bool ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s ", ok ? "ok  " : "FAIL");
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  ok ? n_passed++ : n_failed++;
}

static void
test_image_schedules (JsonObject *root)
{
  JsonArray *runs = json_object_get_array_member (root, "image");
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonObject *r = json_array_get_object_element (runs, i);
      int steps = (int) json_object_get_int_member (r, "steps");
      int length = (int) json_object_get_int_member (r, "length");
      int masked = (int) json_object_get_int_member (r, "initially_masked");
      JsonArray *want = json_object_get_array_member (r, "unmasked_per_step");
      int n_want = (int) json_array_get_length (want);
      bool ok = true;
      GString *got = g_string_new ("");
      for (int s = 0; s < steps; s++)
        {
          int k = mv_image_unmask_count (s, steps, length, masked, 0.0f);
          g_string_append_printf (got, "%s%d", s ? "," : "", k);
          /* where the official code raises (nothing left), we fix nothing */
          int w = s < n_want ? (int) json_array_get_int_element (want, (guint) s) : 0;
          ok = ok && k == w;
          masked -= k;
        }
      ok = ok && masked == 0;
      expect (ok, "image schedule S=%d, %d tokens: %s%s", steps, length, got->str,
              json_object_has_member (r, "official_code_raises") ? " (official code crashes)" : "");
      g_string_free (got, TRUE);
    }
}

static void
test_text_schedules (JsonObject *root)
{
  JsonObject *text = json_object_get_object_member (root, "text");
  GList *iters = json_object_get_members (text);
  for (GList *l = iters; l; l = l->next)
    {
      int n_iter = atoi (l->data), bad = 0, total = 0;
      JsonObject *byn = json_object_get_object_member (text, l->data);
      GList *ns = json_object_get_members (byn);
      for (GList *m = ns; m; m = m->next)
        {
          int n = atoi (m->data);
          JsonArray *want = json_object_get_array_member (byn, m->data);
          for (int t = 0; t < n_iter; t++, total++)
            bad +=
              mv_text_mask_count (t, n_iter, n) != json_array_get_int_element (want, (guint) t);
        }
      expect (bad == 0, "text schedule n_iter=%d: %d of %d counts as the official table", n_iter,
              total - bad, total);
      g_list_free (ns);
    }
  g_list_free (iters);
}

static void
test_rng_and_sampling (void)
{
  mv_rng a, b, c;
  mv_rng_seed (&a, 42, 0);
  mv_rng_seed (&b, 42, 0);
  mv_rng_seed (&c, 43, 0);
  bool same = true, differ = false, open = true;
  for (int i = 0; i < 1000; i++)
    {
      double x = mv_rng_uniform (&a), y = mv_rng_uniform (&b), z = mv_rng_uniform (&c);
      same = same && x == y;
      differ = differ || x != z;
      open = open && x > 0.0 && x < 1.0;
    }
  expect (same && differ && open, "PRNG: same seed same numbers, other seed other numbers, (0,1)");

  /* top-k: nothing outside the k best; frequencies follow the softmax */
  float logits[8] = { 1.0f, 3.0f, 0.5f, 2.9f, -1.0f, 3.0f, 0.0f, 2.0f };
  float scratch[8];
  int counts[8] = { 0 };
  const int n = 20000;
  double lp_err = 0.0;
  for (int i = 0; i < n; i++)
    {
      double lp;
      int k = mv_sample_categorical (logits, 8, 1.0f, 3, &a, scratch, &lp);
      counts[k]++;
      double z = exp (3.0) * 2 + exp (2.9);
      lp_err = fmax (lp_err, fabs (lp - (logits[k] - log (z))));
    }
  double p1 = exp (3.0) / (2 * exp (3.0) + exp (2.9));
  bool outside = counts[0] + counts[2] + counts[4] + counts[6] + counts[7] > 0;
  expect (!outside && fabs ((double) counts[1] / n - p1) < 0.02 && lp_err < 1e-6,
          "top-3 sampling: only the 3 best drawn (%d/%d/%d), frequency %.3f vs %.3f, logprob ok",
          counts[1], counts[3], counts[5], (double) counts[1] / n, p1);
  /* temperature 0.01 is nearly argmax */
  int top = 0;
  for (int i = 0; i < 1000; i++)
    {
      int k = mv_sample_categorical (logits, 8, 0.01f, 0, &a, scratch, NULL);
      top += k == 1 || k == 5;
    }
  expect (top == 1000, "a low temperature draws the best tokens (%d of 1000)", top);
}

/* Records every step of the image loop through the preview callback. */
typedef struct {
  int ni, steps_seen, violations, zero_steps;
  int32_t codes[4096];
  uint8_t known[4096];
  atomic_int stepped; /* a step of the running job has ended (read by the canceller) */
} watcher;

static void
on_preview (const magvlt_preview *pv, void *ud)
{
  watcher *w = ud;
  if (pv->stage != MAGVLT_STAGE_IMAGE)
    return;
  int newly = 0;
  for (int i = 0; i < w->ni; i++)
    {
      if (w->known[i] && (!pv->image_known[i] || pv->image_codes[i] != w->codes[i]))
        w->violations++; /* a fixed token was re-masked or changed */
      newly += pv->image_known[i] && !w->known[i];
      w->known[i] = pv->image_known[i];
      w->codes[i] = pv->image_codes[i];
    }
  w->zero_steps += newly == 0;
  w->steps_seen++;
  atomic_store (&w->stepped, 1);
}

typedef struct {
  magvlt_context *ctx;
  const atomic_int *stepped;
  gint64 when;
} canceller;

/* Cancels once the job has ended its first step: with a fixed delay the job
 * (a few tens of ms) sometimes ended first, and the cancel then landed on
 * the next job instead. */
static void *
cancel_later (void *data)
{
  canceller *c = data;
  while (!atomic_load (c->stepped))
    g_usleep (50);
  c->when = g_get_monotonic_time ();
  magvlt_context_cancel (c->ctx);
  return NULL;
}

static magvlt_status
run_image (magvlt_context *ctx, const magvlt_sampling_params *p, uint64_t seed, int32_t *codes,
           uint8_t *known, watcher *w)
{
  const mv_hparams *hp = &ctx->model->hp;
  int32_t txt[hp->ctx_len_txt];
  mv_job job;
  mv_rng rng;
  double ll = 0.0;
  int n_ll = 0;
  for (int j = 0; j < hp->ctx_len_txt; j++)
    txt[j] = j < 3 ? 5 + j : hp->text_eot_id;
  memset (codes, 0, (size_t) hp->ctx_len_img * sizeof *codes);
  memset (w->known, 0, sizeof w->known);
  w->ni = hp->ctx_len_img;
  magvlt_callbacks cb = { .preview = on_preview, .user_data = w };
  magvlt_context_set_callbacks (ctx, &cb);
  magvlt_status st = mv_job_init (ctx, p, &job);
  if (st != MAGVLT_OK)
    return st;
  mv_rng_seed (&rng, seed, 0);
  st = mv_refine_image (&job, txt, 4, codes, known, 0.0f, &rng, &ll, &n_ll);
  mv_job_clear (&job);
  return st;
}

static void
test_image_loop (magvlt_context *ctx)
{
  const mv_hparams *hp = &ctx->model->hp;
  int ni = hp->ctx_len_img;
  int32_t a[ni], b[ni], c[ni];
  uint8_t known[ni];
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  watcher w = { 0 };

  memset (known, 0, sizeof known);
  /* keep a quarter of the tokens fixed, as inpainting does */
  for (int i = 0; i < ni; i += 4)
    known[i] = 1;
  magvlt_status st = run_image (ctx, &p, 7, a, known, &w);
  bool all = true, kept = true;
  for (int i = 0; i < ni; i++)
    {
      all = all && known[i];
      kept = kept && (i % 4 != 0 || a[i] == 0);
    }
  expect (st == MAGVLT_OK && all, "image loop: every token known after %d steps", p.image_steps);
  expect (kept, "image loop: tokens fixed at the start keep their codes");
  expect (w.violations == 0, "image loop: a fixed token is never re-masked or changed");
  expect (w.zero_steps == 0 && w.steps_seen == p.image_steps,
          "image loop: every one of the %d steps fixes at least one token", w.steps_seen);

  memset (known, 0, sizeof known);
  run_image (ctx, &p, 7, b, known, &w);
  memset (known, 0, sizeof known);
  run_image (ctx, &p, 8, c, known, &w);
  memset (known, 0, sizeof known);
  run_image (ctx, &p, 7, a, known, &w);
  expect (memcmp (a, b, sizeof a) == 0, "image loop: same seed, identical codes");
  expect (memcmp (a, c, sizeof a) != 0, "image loop: another seed, other codes");

  /* more steps than tokens to generate: the official code crashes; here the
   * loop stops when everything is known */
  p.image_steps = 40;
  memset (known, 1, sizeof known);
  known[3] = known[9] = 0;
  st = run_image (ctx, &p, 1, a, known, &w);
  expect (st == MAGVLT_OK && known[3] && known[9],
          "40 steps for 2 masked tokens: no crash, both generated");

  /* cancel from another thread: ABORTED, no further step, context reusable */
  p.image_steps = 1000;
  memset (known, 0, sizeof known);
  atomic_store (&w.stepped, 0);
  canceller cl = { ctx, &w.stepped, 0 };
  pthread_t th;
  pthread_create (&th, NULL, cancel_later, &cl);
  gint64 t0 = g_get_monotonic_time ();
  st = run_image (ctx, &p, 3, a, known, &w);
  gint64 t1 = g_get_monotonic_time ();
  pthread_join (th, NULL);
  expect (st == MAGVLT_ABORTED, "cancel from a second thread returns ABORTED (%s)",
          magvlt_status_str (st));
  printf ("     cancel latency %.2f ms (job ran %.1f ms)\n", (double) (t1 - cl.when) / 1000.0,
          (double) (t1 - t0) / 1000.0);
  p.image_steps = 10;
  memset (known, 0, sizeof known);
  st = run_image (ctx, &p, 7, c, known, &w);
  expect (st == MAGVLT_OK && memcmp (b, c, sizeof b) == 0,
          "after a cancel the next job succeeds with the same result as before");
  magvlt_context_set_callbacks (ctx, NULL);
}

static void
test_text_loop (magvlt_context *ctx)
{
  const mv_hparams *hp = &ctx->model->hp;
  int ni = hp->ctx_len_img, nt = hp->ctx_len_txt;
  int32_t codes[ni], t1[nt], t2[nt], t3[nt];
  uint8_t editable[nt];
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  mv_job job;
  mv_rng rng;
  double ll = 0.0;
  int n_ll = 0, n = nt - 2, len = 0;

  for (int i = 0; i < ni; i++)
    codes[i] = (i * 13) % hp->vocab_size_img;
  mv_job_init (ctx, &p, &job);
  for (int j = 0; j < nt; j++)
    t1[j] = t2[j] = t3[j] = hp->text_eot_id;
  mv_rng_seed (&rng, 5, 1);
  magvlt_status st = mv_refine_text (&job, codes, t1, n, NULL, &rng, &ll, &n_ll);
  bool tail = true;
  for (int j = n; j < nt; j++)
    tail = tail && t1[j] == hp->text_eot_id;
  expect (st == MAGVLT_OK && n_ll == n && tail,
          "text loop: %d slots sampled, slots beyond n untouched", n);
  mv_rng_seed (&rng, 5, 1);
  mv_refine_text (&job, codes, t2, n, NULL, &rng, &ll, &n_ll);
  expect (memcmp (t1, t2, sizeof t1) == 0, "text loop: same seed, identical text");

  /* infilling: only the editable slots may change */
  for (int j = 0; j < nt; j++)
    {
      t3[j] = j < n ? 10 + j : hp->text_eot_id;
      editable[j] = j >= 2 && j < 5;
    }
  mv_rng_seed (&rng, 6, 1);
  st = mv_refine_text (&job, codes, t3, n, editable, &rng, &ll, &n_ll);
  bool fixed = true;
  for (int j = 0; j < nt; j++)
    fixed = fixed && (editable[j] || t3[j] == (j < n ? 10 + j : hp->text_eot_id));
  expect (st == MAGVLT_OK && fixed, "text infilling: slots outside the span never change");

  int32_t eot[nt];
  uint8_t m[nt];
  for (int j = 0; j < nt; j++)
    eot[j] = hp->text_eot_id, m[j] = j < mv_length_pass_slots (ctx->model);
  st = mv_predict_length (&job, codes, eot, m, mv_length_pass_slots (ctx->model), &len);
  expect (st == MAGVLT_OK && len >= 1 && len <= nt, "length pass predicts %d of %d slots", len, nt);
  mv_job_clear (&job);
}

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: test-sampler SCHEDULES.json MODEL.gguf\n");
      return 2;
    }
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_file (parser, argv[1], &error))
    {
      printf ("FAIL %s\n", error->message);
      return 1;
    }
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  test_image_schedules (root);
  test_text_schedules (root);
  test_rng_and_sampling ();

  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  if (magvlt_model_load (argv[2], NULL, &model) != MAGVLT_OK
      || magvlt_context_init (model, NULL, &ctx) != MAGVLT_OK)
    {
      printf ("FAIL %s\n", magvlt_last_error ());
      return 1;
    }
  test_image_loop (ctx);
  test_text_loop (ctx);
  magvlt_context_free (ctx);
  magvlt_model_free (model);
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed != 0;
}
