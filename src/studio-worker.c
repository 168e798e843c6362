/* studio-worker.c — the thread that owns the engine
 *
 * One dedicated thread (not GTask's shared pool: a job may run for
 * minutes) holds the engine context and runs requests in order. Requests
 * are GTasks pushed onto a queue; results return to the caller's main
 * context as usual. Cancelling a request's GCancellable calls
 * magvlt_context_cancel(), which the engine polls after every transformer
 * block and VQGAN chunk. Progress goes through a StudioCoalescer, so the
 * main loop sees at most one pending update however fast the steps are.
 *
 * Signals: "progress" (StudioProgress *), emitted on the main thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-worker.h"

#include <glib/gi18n.h>
#include <string.h>

#include "studio-coalescer.h"

struct _StudioWorker {
  GObject parent_instance;
  GThread *thread;
  GAsyncQueue *queue;
  StudioCoalescer *progress;

  /* owned by the worker thread */
  magvlt_model *model;
  magvlt_context *ctx;
  char *model_name; /* general.name, or the file's name */
  gint64 job_start;
  int preview_decode_every;
  int n_threads;

  gboolean has_model; /* main thread's view */
};

G_DEFINE_FINAL_TYPE (StudioWorker, studio_worker, G_TYPE_OBJECT)

enum { PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef enum { REQUEST_LOAD, REQUEST_RUN, REQUEST_QUIT } RequestKind;

typedef struct {
  RequestKind kind;
  GTask *task;
  char *path;
  StudioJob *job;
} Request;

static gboolean
unref_in_owner (gpointer task)
{
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
request_free (Request *r)
{
  /* A task holds a reference on the worker. Dropped here, on the worker
   * thread, it could be the last one, and disposing the worker joins this
   * very thread: so the task goes back to its caller's main context to be
   * released there. */
  if (r->task)
    {
      /* an idle source, never g_main_context_invoke(), which may run the
       * function right here when the main context is free */
      GTask *task = g_steal_pointer (&r->task);
      GSource *source = g_idle_source_new ();

      g_source_set_callback (source, unref_in_owner, task, NULL);
      g_source_attach (source, g_task_get_context (task));
      g_source_unref (source);
    }
  g_free (r->path);
  studio_job_free (r->job);
  g_free (r);
}

/* ---- worker thread ---------------------------------------------------- */

static void
on_engine_progress (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t candidate,
                    int32_t n_candidates, void *user_data)
{
  StudioWorker *self = user_data;
  StudioProgress *p = g_new0 (StudioProgress, 1);
  double elapsed = (g_get_monotonic_time () - self->job_start) / 1e6;

  p->stage = stage;
  p->step = step;
  p->n_steps = n_steps;
  p->candidate = candidate;
  p->n_candidates = MAX (n_candidates, 1);
  /* fraction of the whole job: candidates are equal shares; within one,
   * the refinement steps */
  p->fraction = (candidate + (n_steps > 0 ? (double) step / n_steps : 0.0)) / p->n_candidates;
  p->fraction = CLAMP (p->fraction, 0.0, 1.0);
  p->eta_seconds = p->fraction > 0.02 ? elapsed * (1.0 - p->fraction) / p->fraction : -1.0;
  studio_coalescer_post (self->progress, p);
}

static void
on_engine_preview (const magvlt_preview *pv, void *user_data)
{
  StudioWorker *self = user_data;
  StudioProgress *p;
  double elapsed = (g_get_monotonic_time () - self->job_start) / 1e6;

  if (!pv->thumbnail)
    return;
  p = g_new0 (StudioProgress, 1);
  p->stage = pv->stage;
  p->step = pv->step;
  p->n_steps = pv->n_steps;
  p->candidate = pv->candidate;
  p->n_candidates = MAX (pv->n_candidates, 1);
  p->fraction =
    CLAMP ((pv->candidate + (double) pv->step / MAX (pv->n_steps, 1)) / p->n_candidates, 0.0, 1.0);
  p->eta_seconds = p->fraction > 0.02 ? elapsed * (1.0 - p->fraction) / p->fraction : -1.0;
  if (pv->image)
    {
      p->thumbnail = g_bytes_new (pv->image, (gsize) pv->image_size * pv->image_size * 3);
      p->thumbnail_size = pv->image_size;
    }
  else
    {
      p->thumbnail =
        g_bytes_new (pv->thumbnail, (gsize) pv->thumbnail_size * pv->thumbnail_size * 3);
      p->thumbnail_size = pv->thumbnail_size;
    }
  studio_coalescer_post (self->progress, p);
}

static void
cancel_engine (GCancellable *cancellable, gpointer data)
{
  StudioWorker *self = data;

  /* any thread; magvlt_context_cancel is an atomic store */
  if (self->ctx)
    magvlt_context_cancel (self->ctx);
}

static void
do_load (StudioWorker *self, Request *r)
{
  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  magvlt_model_info info;
  magvlt_status st = magvlt_model_load (r->path, NULL, &model);

  if (st == MAGVLT_OK)
    {
      magvlt_context_params cp = magvlt_context_default_params ();

      cp.n_threads = self->n_threads;
      st = magvlt_context_init (model, &cp, &ctx);
    }
  if (st != MAGVLT_OK)
    {
      g_task_return_new_error (r->task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s",
                               magvlt_last_error ());
      magvlt_model_free (model);
      return;
    }
  magvlt_context_free (self->ctx);
  magvlt_model_free (self->model);
  self->model = model;
  self->ctx = ctx;
  magvlt_model_get_info (model, &info);
  g_free (self->model_name);
  self->model_name = info.name[0] ? g_strdup (info.name) : g_path_get_basename (r->path);
  g_task_return_pointer (r->task, g_strdup (self->model_name), g_free);
}

/* How the model read a job's prompt, for the window to say when it read
 * less than was typed (the CLI warns the same way). On the worker thread:
 * it owns the model. */
static void
check_prompt (StudioWorker *self, const StudioJob *job, StudioJobResult *result)
{
  magvlt_model_info info;
  magvlt_tokenize_result tr;
  g_autofree int32_t *ids = NULL;

  if (!job->prompt
      || !(job->kind == STUDIO_JOB_GENERATE || job->kind == STUDIO_JOB_INPAINT
           || job->kind == STUDIO_JOB_EDIT)
      || magvlt_model_get_info (self->model, &info) != MAGVLT_OK || info.ctx_len_txt <= 0)
    return;
  ids = g_new (int32_t, info.ctx_len_txt);
  if (magvlt_tokenize (self->model, job->prompt, strlen (job->prompt), ids, info.ctx_len_txt, &tr)
      != MAGVLT_OK)
    return;
  result->prompt_checked = TRUE;
  result->prompt_tokens = tr.n_tokens;
  result->prompt_max_tokens = info.ctx_len_txt;
  result->prompt_truncated = tr.truncated;
  result->prompt_fallback = tr.fallback;
}

static void
do_run (StudioWorker *self, Request *r)
{
  GCancellable *cancellable = g_task_get_cancellable (r->task);
  magvlt_callbacks cb = {
    .progress = on_engine_progress,
    .preview = on_engine_preview,
    .preview_decode_every = self->preview_decode_every,
    .user_data = self,
  };
  GError *error = NULL;
  StudioJobResult *result;
  gulong handler = 0;

  if (!self->ctx)
    {
      g_task_return_new_error (r->task, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                               _ ("No model is loaded"));
      return;
    }
  if (g_task_return_error_if_cancelled (r->task))
    return;
  self->job_start = g_get_monotonic_time ();
  /* a cancel that reached the engine after the previous job ended */
  magvlt_context_reset_cancel (self->ctx);
  magvlt_context_set_callbacks (self->ctx, &cb);
  if (cancellable)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_engine), self, NULL);
  studio_job_use_model (r->job, self->model);
  result = studio_job_run (r->job, self->ctx, &error);
  if (cancellable)
    g_cancellable_disconnect (cancellable, handler);
  magvlt_context_set_callbacks (self->ctx, NULL);
  if (result)
    {
      result->model = g_strdup (self->model_name);
      check_prompt (self, r->job, result);
      g_task_return_pointer (r->task, result, (GDestroyNotify) studio_job_result_free);
    }
  else
    g_task_return_error (r->task, error);
}

static gpointer
worker_main (gpointer data)
{
  StudioWorker *self = data;

  for (;;)
    {
      Request *r = g_async_queue_pop (self->queue);
      RequestKind kind = r->kind;

      if (kind == REQUEST_LOAD)
        do_load (self, r);
      else if (kind == REQUEST_RUN)
        do_run (self, r);
      request_free (r);
      if (kind == REQUEST_QUIT)
        break;
    }
  magvlt_context_free (self->ctx);
  magvlt_model_free (self->model);
  g_clear_pointer (&self->model_name, g_free);
  self->ctx = NULL;
  self->model = NULL;
  return NULL;
}

/* ---- main thread ------------------------------------------------------ */

static void
deliver_progress (gpointer value, gpointer user_data)
{
  g_signal_emit (user_data, signals[PROGRESS], 0, value);
}

static void
studio_worker_dispose (GObject *object)
{
  StudioWorker *self = STUDIO_WORKER (object);

  if (self->thread)
    {
      Request *quit = g_new0 (Request, 1);

      quit->kind = REQUEST_QUIT;
      g_async_queue_push (self->queue, quit);
      g_thread_join (self->thread);
      self->thread = NULL;
    }
  g_clear_pointer (&self->progress, studio_coalescer_shutdown);
  G_OBJECT_CLASS (studio_worker_parent_class)->dispose (object);
}

static void
studio_worker_finalize (GObject *object)
{
  StudioWorker *self = STUDIO_WORKER (object);

  g_async_queue_unref (self->queue);
  G_OBJECT_CLASS (studio_worker_parent_class)->finalize (object);
}

static void
studio_worker_class_init (StudioWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = studio_worker_dispose;
  object_class->finalize = studio_worker_finalize;

  signals[PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
studio_worker_init (StudioWorker *self)
{
  self->queue = g_async_queue_new ();
  self->progress =
    studio_coalescer_new (NULL, deliver_progress, self, (GDestroyNotify) studio_progress_free);
  self->preview_decode_every = 0;
  self->thread = g_thread_new ("magvlt-worker", worker_main, self);
}

StudioWorker *
studio_worker_new (void)
{
  return g_object_new (STUDIO_TYPE_WORKER, NULL);
}

void
studio_worker_set_preview_decode_every (StudioWorker *self, int n)
{
  /* read by the worker at the start of each job; a word-sized store */
  self->preview_decode_every = MAX (n, 0);
}

void
studio_worker_set_threads (StudioWorker *self, int n)
{
  /* read by the worker when it next loads a model */
  self->n_threads = CLAMP (n, 0, 256);
}

void
studio_worker_load_model_async (StudioWorker *self, const char *path, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  Request *r = g_new0 (Request, 1);

  r->kind = REQUEST_LOAD;
  r->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (r->task, studio_worker_load_model_async);
  r->path = g_strdup (path);
  g_async_queue_push (self->queue, r);
}

char *
studio_worker_load_model_finish (StudioWorker *self, GAsyncResult *result, GError **error)
{
  char *name = g_task_propagate_pointer (G_TASK (result), error);

  if (name)
    self->has_model = TRUE;
  return name;
}

gboolean
studio_worker_has_model (StudioWorker *self)
{
  return self->has_model;
}

void
studio_worker_run_async (StudioWorker *self, StudioJob *job, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  Request *r = g_new0 (Request, 1);

  r->kind = REQUEST_RUN;
  r->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (r->task, studio_worker_run_async);
  r->job = job;
  g_async_queue_push (self->queue, r);
}

StudioJobResult *
studio_worker_run_finish (StudioWorker *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
