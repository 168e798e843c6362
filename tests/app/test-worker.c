/* test-worker.c — the worker thread without a display: a job runs and
 * returns candidates, progress arrives on the main thread, a job cancelled
 * midway returns promptly and the next one runs, and the main loop never
 * stalls while a job runs (the longest gap is printed; > 250 ms fails).
 *
 * Usage: test-worker MODEL.gguf SAMPLING_MODEL.gguf (the same model with
 * its own magvlt.sampling.* values) */
#include <gio/gio.h>

#include "studio-worker.h"

static const char *model_path;
static const char *sampling_model_path; /* the same model with its own sampling values */

typedef struct {
  GMainLoop *loop;
  StudioJobResult *result;
  GError *error;
  guint progress_calls;
  gint64 last_tick;
  gint64 max_gap;
  guint ticks;
  GThread *main_thread;
  gboolean progress_off_main;
} Ctx;

static void
on_loaded (GObject *source, GAsyncResult *res, gpointer data)
{
  Ctx *c = data;
  g_autofree char *name = studio_worker_load_model_finish (STUDIO_WORKER (source), res, &c->error);

  g_main_loop_quit (c->loop);
}

static void
on_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Ctx *c = data;

  c->result = studio_worker_run_finish (STUDIO_WORKER (source), res, &c->error);
  g_main_loop_quit (c->loop);
}

static void
on_progress (StudioWorker *worker, StudioProgress *p, Ctx *c)
{
  c->progress_calls++;
  if (g_thread_self () != c->main_thread)
    c->progress_off_main = TRUE;
}

static gboolean
tick (gpointer data)
{
  Ctx *c = data;
  gint64 now = g_get_monotonic_time ();

  if (c->last_tick)
    c->max_gap = MAX (c->max_gap, now - c->last_tick);
  c->ticks++;
  c->last_tick = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
cancel_later (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static StudioWorker *
loaded_worker (Ctx *c)
{
  StudioWorker *w = studio_worker_new ();

  studio_worker_load_model_async (w, model_path, NULL, on_loaded, c);
  g_main_loop_run (c->loop);
  g_assert_no_error (c->error);
  g_assert_true (studio_worker_has_model (w));
  return w;
}

static void
test_job_and_progress (void)
{
  Ctx c = { .loop = g_main_loop_new (NULL, FALSE), .main_thread = g_thread_self () };
  g_autoptr (StudioWorker) w = loaded_worker (&c);
  StudioJob *job = studio_job_new (STUDIO_JOB_JOINT);
  guint ticker;

  g_signal_connect (w, "progress", G_CALLBACK (on_progress), &c);
  /* long enough (hundreds of forward passes) to measure the main loop */
  job->params.n_candidates = 20;
  /* the ticker runs at idle priority, like redraws and D-Bus replies: a
   * flood of progress sources at a higher priority would starve it */
  ticker = g_timeout_add_full (G_PRIORITY_DEFAULT_IDLE, 5, tick, &c, NULL);
  studio_worker_run_async (w, job, NULL, on_done, &c);
  g_main_loop_run (c.loop);
  g_source_remove (ticker);
  g_assert_no_error (c.error);
  g_assert_nonnull (c.result);
  g_assert_cmpuint (c.result->candidates->len, ==, 20);
  g_assert_cmpuint (c.ticks, >=, 10);
  g_assert_nonnull (g_array_index (c.result->candidates, StudioCandidate, 0).image);
  g_assert_cmpuint (c.progress_calls, >, 0);
  g_assert_false (c.progress_off_main);
  g_printerr ("# longest main-loop gap during a job of %u ticks: %.1f ms (fails above 250 ms)\n",
              c.ticks, c.max_gap / 1000.0);
  g_assert_cmpint (c.max_gap, <, 250000);
  studio_job_result_free (c.result);
  g_main_loop_unref (c.loop);
}

static void
test_cancel (void)
{
  Ctx c = { .loop = g_main_loop_new (NULL, FALSE), .main_thread = g_thread_self () };
  g_autoptr (StudioWorker) w = loaded_worker (&c);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  StudioJob *job = studio_job_new (STUDIO_JOB_GENERATE);
  gint64 t0;

  /* a job that would run for many seconds */
  job->prompt = g_strdup ("a cat");
  job->params.image_steps = 1000;
  job->params.n_candidates = 50;
  studio_worker_run_async (w, job, cancellable, on_done, &c);
  g_timeout_add (100, cancel_later, cancellable);
  t0 = g_get_monotonic_time ();
  g_main_loop_run (c.loop);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (c.result);
  g_printerr ("# cancelled job returned %.1f ms after the start (cancel sent at 100 ms)\n",
              (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
  g_clear_error (&c.error);

  /* the next job runs normally */
  job = studio_job_new (STUDIO_JOB_GENERATE);
  job->prompt = g_strdup ("a dog");
  studio_worker_run_async (w, job, NULL, on_done, &c);
  g_main_loop_run (c.loop);
  g_assert_no_error (c.error);
  g_assert_nonnull (c.result);
  studio_job_result_free (c.result);
  g_main_loop_unref (c.loop);
}

static void
test_bad_model (void)
{
  Ctx c = { .loop = g_main_loop_new (NULL, FALSE) };
  g_autoptr (StudioWorker) w = studio_worker_new ();
  StudioJob *job = studio_job_new (STUDIO_JOB_GENERATE);

  studio_worker_load_model_async (w, "/nonexistent/model.gguf", NULL, on_loaded, &c);
  g_main_loop_run (c.loop);
  g_assert_nonnull (c.error);
  g_assert_false (studio_worker_has_model (w));
  g_clear_error (&c.error);
  /* a job without a model fails cleanly */
  studio_worker_run_async (w, job, NULL, on_done, &c);
  g_main_loop_run (c.loop);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
  g_clear_error (&c.error);
  g_main_loop_unref (c.loop);
}

/* A job runs with the model's own sampling values under what the window
 * chose: seed, candidates, image steps, and the temperature and text
 * guidance as scales of the model's own. */
static void
test_model_sampling (void)
{
  magvlt_model *model = NULL;
  StudioJob *job = studio_job_new (STUDIO_JOB_GENERATE);
  magvlt_sampling_params own;

  magvlt_sampling_params official = magvlt_sampling_default_params ();

  g_assert_cmpint (magvlt_model_load (sampling_model_path, NULL, &model), ==, MAGVLT_OK);
  own = magvlt_model_sampling_params (model);
  /* the file's values differ from the official ones, so a merge that ignored
   * the model would fail below */
  g_assert_cmpfloat (own.image_temperature_start, !=, official.image_temperature_start);
  g_assert_cmpfloat (own.image_choice_temperature_start, !=,
                     official.image_choice_temperature_start);
  g_assert_cmpint (own.text_steps, !=, official.text_steps);
  g_assert_cmpfloat (own.text_temperature, !=, official.text_temperature);
  g_assert_cmpfloat (own.image_guidance, ==, 1.5f);
  job->params.seed = 9;
  job->params.n_candidates = 3;
  job->params.image_steps = 4;
  job->params.text_steps = 99; /* not the window's to choose */
  job->temperature_scale = 0.5;
  job->guidance_scale = 2.0;
  studio_job_use_model (job, model);
  g_assert_cmpuint (job->params.seed, ==, 9);
  g_assert_cmpint (job->params.n_candidates, ==, 3);
  g_assert_cmpint (job->params.image_steps, ==, 4);
  g_assert_cmpint (job->params.text_steps, ==, own.text_steps);
  g_assert_cmpfloat (job->params.image_temperature_start, ==, own.image_temperature_start * 0.5f);
  g_assert_cmpfloat (job->params.image_temperature_end, ==, own.image_temperature_end * 0.5f);
  g_assert_cmpfloat (job->params.image_choice_temperature_start, ==,
                     own.image_choice_temperature_start);
  g_assert_cmpfloat (job->params.image_choice_temperature_end, ==,
                     own.image_choice_temperature_end);
  g_assert_cmpfloat (job->params.text_temperature, ==, own.text_temperature);
  g_assert_cmpint (job->params.text_top_k, ==, own.text_top_k);
  g_assert_cmpfloat (job->params.image_guidance, ==, own.image_guidance * 2.0f);
  studio_job_free (job);
  magvlt_model_free (model);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 3)
    {
      g_printerr ("usage: test-worker MODEL.gguf SAMPLING_MODEL.gguf\n");
      return 2;
    }
  model_path = argv[1];
  sampling_model_path = argv[2];
  g_test_add_func ("/worker/job-and-progress", test_job_and_progress);
  g_test_add_func ("/worker/cancel", test_cancel);
  g_test_add_func ("/worker/bad-model", test_bad_model);
  g_test_add_func ("/worker/model-sampling", test_model_sampling);
  return g_test_run ();
}
