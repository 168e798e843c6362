/* soak-worker.c — many consecutive jobs through the app's worker thread
 * (StudioWorker: GTask, coalesced progress with thumbnails, GdkPixbuf
 * results), display-less: caption, generate, inpaint, edit, infill, joint, a
 * job cancelled from the main thread at its first progress report, and a
 * reload of the model, round-robin. After every job it samples RSS, file
 * descriptors and threads (proc-usage.h); after the warm-up (whole rounds)
 * each job's RSS must stay within the limit of the same job's in the last
 * warm-up round, the descriptor and thread counts must not change, and
 * freeing the worker must end its thread and bring the counts back.
 *
 * Usage: soak-worker MODEL.gguf [N_JOBS (100)] [WARMUP_JOBS (8)] [MAX_GROWTH_PERCENT (5)] */
#include <gio/gio.h>
#include <malloc.h>
#include <stdlib.h>

#include "proc-usage.h"
#include "studio-worker.h"

enum { N_KINDS = 8 };
static const char *const kind_names[N_KINDS] = {
  "caption", "generate", "inpaint", "edit", "infill", "joint", "cancel", "reload",
};

typedef struct {
  GMainLoop *loop;
  StudioJobResult *result;
  char *model_name;
  GError *error;
  GCancellable *cancel_on_progress;
  guint progress_calls;
  guint cancelled; /* cancel jobs that did end cancelled */
} Ctx;

static void
on_loaded (GObject *source, GAsyncResult *res, gpointer data)
{
  Ctx *c = data;

  c->model_name = studio_worker_load_model_finish (STUDIO_WORKER (source), res, &c->error);
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
  if (c->cancel_on_progress)
    g_cancellable_cancel (c->cancel_on_progress);
}

static GdkPixbuf *
make_image (int w, int h)
{
  GdkPixbuf *pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  guint8 *p = gdk_pixbuf_get_pixels (pb);
  int stride = gdk_pixbuf_get_rowstride (pb);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        p[y * stride + x * 3 + 0] = (guint8) (x * 255 / (w - 1));
        p[y * stride + x * 3 + 1] = (guint8) (y * 255 / (h - 1));
        p[y * stride + x * 3 + 2] = (guint8) ((x * y) % 256);
      }
  return pb;
}

/* runs job number i; returns TRUE when it did what it should */
static gboolean
run_one (StudioWorker *w, Ctx *c, const char *model_path, int i, GdkPixbuf *image, GBytes *mask)
{
  int kind = i % N_KINDS;
  g_autoptr (GCancellable) cancellable = NULL;
  StudioJob *job;

  if (kind == 7)
    {
      studio_worker_load_model_async (w, model_path, NULL, on_loaded, c);
      g_main_loop_run (c->loop);
      g_clear_pointer (&c->model_name, g_free);
      return c->error == NULL;
    }
  job = studio_job_new (kind == 6 ? STUDIO_JOB_GENERATE : (StudioJobKind) kind);
  job->params.seed = (guint64) i;
  job->params.image_steps = 4;
  job->params.text_steps = 4;
  job->edit.padding = 4;
  job->edit.feather = 2;
  switch (kind)
    {
    case STUDIO_JOB_CAPTION: job->image = g_object_ref (image); break;
    case STUDIO_JOB_GENERATE:
      job->prompt = g_strdup ("a red heart on a white background");
      job->params.n_candidates = 2;
      break;
    case STUDIO_JOB_INPAINT:
    case STUDIO_JOB_EDIT:
      job->image = g_object_ref (image);
      job->mask = g_bytes_ref (mask);
      job->prompt = g_strdup ("a cat");
      job->edit.strength = kind == STUDIO_JOB_EDIT ? 0.5f : 1.0f;
      break;
    case STUDIO_JOB_INFILL:
      job->image = g_object_ref (image);
      job->prompt = g_strdup ("a [MASK] on a blue background");
      break;
    case STUDIO_JOB_JOINT: break;
    default: /* 6: a long generate, cancelled at its first progress report */
      job->prompt = g_strdup ("a cancelled job");
      job->params.image_steps = 1000;
      cancellable = g_cancellable_new ();
      c->cancel_on_progress = cancellable;
      break;
    }
  studio_worker_run_async (w, job, cancellable, on_done, c);
  g_main_loop_run (c->loop);
  c->cancel_on_progress = NULL;
  gboolean was_cancelled = g_error_matches (c->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  gboolean finished = c->error == NULL && c->result && c->result->candidates->len > 0;
  /* The cancel comes from the main thread when the first progress report
   * arrives there, which is on idle: on a busy machine a small model can
   * finish all its steps first. Either end is right for that job (nothing
   * may leak either way); main() checks that most cancels took effect. */
  gboolean ok = kind == 6 ? was_cancelled || finished : finished;
  if (kind == 6 && was_cancelled)
    c->cancelled++;
  g_clear_pointer (&c->result, studio_job_result_free);
  if (ok)
    g_clear_error (&c->error);
  return ok;
}

/* runs what is pending on the main context (the worker's tasks drop their
 * last references there) */
static void
drain (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

static StudioWorker *
new_loaded_worker (Ctx *c, const char *path)
{
  StudioWorker *w = studio_worker_new ();

  studio_worker_set_threads (w, 2);
  g_signal_connect (w, "progress", G_CALLBACK (on_progress), c);
  studio_worker_load_model_async (w, path, NULL, on_loaded, c);
  g_main_loop_run (c->loop);
  g_clear_pointer (&c->model_name, g_free);
  if (c->error)
    {
      g_printerr ("soak-worker: %s\n", c->error->message);
      exit (1);
    }
  return w;
}

/* frees the worker; FALSE when it is still alive (and its thread running)
 * 5 s later. The worker's last task drops its reference on the main
 * context, from an idle source the worker thread attaches just after it
 * returned the result, so the main context runs until that has happened. */
static gboolean
free_worker (StudioWorker *w)
{
  gpointer weak = w;
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  g_object_add_weak_pointer (G_OBJECT (w), &weak);
  g_object_unref (w);
  while (weak && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  drain ();
  return weak == NULL;
}

int
main (int argc, char *argv[])
{
  if (argc < 2)
    {
      g_printerr ("usage: soak-worker MODEL.gguf [N_JOBS] [WARMUP_JOBS] [MAX_GROWTH_PERCENT]\n");
      return 2;
    }
  int n_jobs = argc > 2 ? atoi (argv[2]) : 100;
  int warmup = argc > 3 ? atoi (argv[3]) : N_KINDS;
  double max_growth = argc > 4 ? g_ascii_strtod (argv[4], NULL) : 5.0;
  if (n_jobs <= warmup || warmup < N_KINDS || warmup % N_KINDS != 0)
    {
      g_printerr ("soak-worker: WARMUP_JOBS must be whole rounds of %d jobs, fewer than N_JOBS\n",
                  N_KINDS);
      return 2;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);
  /* glibc raises its mmap threshold to the size of the largest mmapped
   * block freed (up to 32 MB), so after a model reload more of the next
   * round's blocks come from the heap. The engine's scratch arenas bypass
   * malloc for that reason (context.c; before, the default model climbed
   * from 52 to 110 MB over 25 reloads, now flat); the model's own tables
   * still move the threshold, which on the tiny model makes the RSS climb
   * by up to ~25 % over a few rounds and level off. A fixed threshold
   * measures our allocations rather than that heuristic;
   * SOAK_GLIBC_MALLOC=1 keeps glibc's default. */
  if (!g_getenv ("SOAK_GLIBC_MALLOC"))
    mallopt (M_MMAP_THRESHOLD, 128 * 1024);

  Ctx c = { .loop = g_main_loop_new (NULL, FALSE) };
  int failures = 0;

  /* a first worker's whole life (load, a job, free) brings up GLib's own
   * helper thread ("gmain") and its descriptor once; what is open after it
   * is the baseline the second worker's life must return to */
  StudioWorker *w = new_loaded_worker (&c, argv[1]);
  g_autoptr (GdkPixbuf) image = make_image (53, 37);
  guint8 *m = g_malloc0 (53 * 37);
  for (int y = 8; y < 20; y++)
    memset (m + y * 53 + 10, 255, 20);
  g_autoptr (GBytes) mask = g_bytes_new_take (m, 53 * 37);
  if (!run_one (w, &c, argv[1], 0, image, mask) || !free_worker (w))
    {
      printf ("FAIL the first worker: a job failed or the worker was not freed\n");
      failures++;
    }
  proc_usage start = proc_usage_sample ();
  w = new_loaded_worker (&c, argv[1]);
  proc_usage loaded = proc_usage_sample ();
  printf ("start: rss %ld kB, %d fds, %d threads; worker + model: rss %ld kB, %d fds, %d threads\n",
          start.rss_kb, start.fds, start.threads, loaded.rss_kb, loaded.fds, loaded.threads);

  /* RSS after each kind of job in the last warm-up round: the reload frees
   * the context, so the RSS dips and recovers within every round; each job
   * is compared with the same job of that round */
  long base_rss[N_KINDS] = { 0 };
  proc_usage base = { 0 }, last = { 0 }, first = { 0 };
  double growth = 0, shrink = 0;
  long rss_max = 0;
  for (int i = 0; i < n_jobs; i++)
    {
      int k = i % N_KINDS;
      gboolean ok = run_one (w, &c, argv[1], i, image, mask);
      proc_usage u = proc_usage_sample ();
      printf ("job %3d %-8s %-4s rss %7ld kB  fds %2d  threads %2d%s\n", i + 1, kind_names[k],
              ok ? "ok" : "FAIL", u.rss_kb, u.fds, u.threads,
              i + 1 == warmup ? "  <- end of warm-up" : "");
      if (!ok)
        {
          printf ("FAIL job %d (%s): %s\n", i + 1, kind_names[k],
                  c.error ? c.error->message : "no result");
          g_clear_error (&c.error);
          failures++;
        }
      if (i == 0)
        first = u;
      if (i >= warmup - N_KINDS && i < warmup)
        base_rss[k] = u.rss_kb;
      if (i + 1 == warmup)
        base = u;
      if (i + 1 > warmup)
        {
          double d = 100.0 * (double) (u.rss_kb - base_rss[k]) / (double) base_rss[k];
          growth = MAX (growth, d);
          if (-d > shrink)
            shrink = -d;
          rss_max = MAX (rss_max, u.rss_kb);
          if (u.fds != base.fds || u.threads != base.threads)
            {
              printf ("FAIL job %d: %d fds and %d threads, %d and %d after the warm-up\n", i + 1,
                      u.fds, u.threads, base.fds, base.threads);
              failures++;
            }
        }
      last = u;
    }

  printf ("RSS after job 1 %ld kB; after the warm-up (job %d) %ld kB; last %ld kB; max after the "
          "warm-up %ld kB; against the same job of the last warm-up round %+.2f %% / -%.2f %% "
          "(limit %.1f %%); %u progress reports\n",
          first.rss_kb, warmup, base.rss_kb, last.rss_kb, rss_max, growth, shrink, max_growth,
          c.progress_calls);
  printf ("fds %d -> %d, threads %d -> %d (after the warm-up -> last)\n", base.fds, last.fds,
          base.threads, last.threads);
  guint n_cancel_jobs = (guint) (n_jobs / N_KINDS + (n_jobs % N_KINDS > 6));
  printf ("%u of %u cancel jobs ended cancelled\n", c.cancelled, n_cancel_jobs);
  if (n_cancel_jobs > 0 && c.cancelled * 2 < n_cancel_jobs)
    {
      printf ("FAIL fewer than half the cancels took effect\n");
      failures++;
    }
  if (SOAK_SANITIZER)
    printf ("RSS check skipped: built with a sanitizer (its allocator keeps freed memory)\n");
  else if (growth > max_growth || shrink > max_growth)
    {
      printf ("FAIL RSS is not flat within %.1f %% after the warm-up\n", max_growth);
      failures++;
    }

  if (!free_worker (w))
    {
      printf ("FAIL the worker was not freed\n");
      failures++;
    }
  g_main_loop_unref (c.loop);
  proc_usage end = proc_usage_sample ();
  printf ("after freeing the worker: %d fds, %d threads (before it %d, %d)\n", end.fds, end.threads,
          start.fds, start.threads);
  proc_print_threads (stdout);
  if (end.fds != start.fds || end.threads != start.threads)
    {
      printf ("FAIL descriptors or threads left behind after the worker was freed\n");
      failures++;
    }
  printf ("%s: %d jobs, %d failures\n", failures ? "FAIL" : "ok", n_jobs, failures);
  return failures ? 1 : 0;
}
