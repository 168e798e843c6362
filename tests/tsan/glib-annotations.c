/* glib-annotations.c — tells ThreadSanitizer about GLib's synchronisation,
 * for the TSan run of the app's thread tests (tests/tsan/run.sh preloads it).
 *
 * Debian's GLib is not built with TSan, and on Linux its GMutex, GCond,
 * GAsyncQueue and GMainContext lock through futexes and atomics inside
 * libglib, which TSan cannot see. Without help every value our code hands to
 * another thread through GLib — under a GMutex, through a GAsyncQueue, to the
 * main loop through an idle source or a GTask — is reported as a race. This
 * library interposes the GLib calls our code makes (calls from inside libglib
 * stay as they are) and states the happens-before edge each one provides,
 * with __tsan_release / __tsan_acquire:
 *
 * - g_mutex_unlock releases the mutex, g_mutex_lock / g_mutex_trylock
 *   acquire it; g_cond_wait* release and re-acquire the mutex;
 * - g_async_queue_push* releases the queue, a pop that returns data acquires it;
 * - handing a callback to a main loop (g_source_attach, g_idle_add*,
 *   g_timeout_add*, g_main_context_invoke*, g_task_return_*) releases one
 *   token, and the callback acquires it before it runs (the callbacks of
 *   g_source_set_callback, g_idle_add*, g_timeout_add*,
 *   g_main_context_invoke* and g_task_new are wrapped). GLib takes the
 *   context's lock when a source is attached and again before it is
 *   dispatched, so everything before the hand-off happens before the
 *   callback. One token for every context: the tests use one main context.
 *
 * It adds edges only where GLib really synchronises, so a race between two
 * threads that share data without GLib (or without a lock) is still
 * reported. Built without instrumentation (its own bookkeeping is not under
 * test). Only idle and timeout sources are wrapped correctly by
 * g_source_set_callback (their callbacks are GSourceFunc); that is all the
 * code under test uses.
 *
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gio/gio.h>
#include <stdarg.h>

/* weak: preloaded into a process without TSan (a test's Python or shell
 * wrapper), the annotations do nothing */
__attribute__ ((weak)) void __tsan_acquire (void *addr);
__attribute__ ((weak)) void __tsan_release (void *addr);
#define __tsan_acquire(addr) (__tsan_acquire ? __tsan_acquire (addr) : (void) 0)
#define __tsan_release(addr) (__tsan_release ? __tsan_release (addr) : (void) 0)

static char main_loop_token;

#define REAL(name)                                                                                 \
  static __typeof__ (name) *real = NULL;                                                           \
  if (!__atomic_load_n (&real, __ATOMIC_ACQUIRE))                                                  \
  __atomic_store_n (&real, (__typeof__ (name) *) dlsym (RTLD_NEXT, #name), __ATOMIC_RELEASE)

/* ---- GMutex, GCond ----------------------------------------------------- */

void
g_mutex_lock (GMutex *mutex)
{
  REAL (g_mutex_lock);
  real (mutex);
  __tsan_acquire (mutex);
}

gboolean
g_mutex_trylock (GMutex *mutex)
{
  REAL (g_mutex_trylock);
  gboolean ok = real (mutex);
  if (ok)
    __tsan_acquire (mutex);
  return ok;
}

void
g_mutex_unlock (GMutex *mutex)
{
  REAL (g_mutex_unlock);
  __tsan_release (mutex);
  real (mutex);
}

void
g_cond_wait (GCond *cond, GMutex *mutex)
{
  REAL (g_cond_wait);
  __tsan_release (mutex);
  real (cond, mutex);
  __tsan_acquire (mutex);
}

gboolean
g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time)
{
  REAL (g_cond_wait_until);
  __tsan_release (mutex);
  gboolean ok = real (cond, mutex, end_time);
  __tsan_acquire (mutex);
  return ok;
}

/* ---- GAsyncQueue --------------------------------------------------------- */

void
g_async_queue_push (GAsyncQueue *queue, gpointer data)
{
  REAL (g_async_queue_push);
  __tsan_release (queue);
  real (queue, data);
}

void
g_async_queue_push_front (GAsyncQueue *queue, gpointer data)
{
  REAL (g_async_queue_push_front);
  __tsan_release (queue);
  real (queue, data);
}

gpointer
g_async_queue_pop (GAsyncQueue *queue)
{
  REAL (g_async_queue_pop);
  gpointer data = real (queue);
  __tsan_acquire (queue);
  return data;
}

gpointer
g_async_queue_try_pop (GAsyncQueue *queue)
{
  REAL (g_async_queue_try_pop);
  gpointer data = real (queue);
  if (data)
    __tsan_acquire (queue);
  return data;
}

gpointer
g_async_queue_timeout_pop (GAsyncQueue *queue, guint64 timeout)
{
  REAL (g_async_queue_timeout_pop);
  gpointer data = real (queue, timeout);
  if (data)
    __tsan_acquire (queue);
  return data;
}

/* ---- main-loop callbacks --------------------------------------------------- */

typedef struct {
  GSourceFunc func;
  gpointer data;
  GDestroyNotify notify;
} wrapped_source_func;

static gboolean
source_trampoline (gpointer data)
{
  wrapped_source_func *w = data;
  __tsan_acquire (&main_loop_token);
  return w->func (w->data);
}

static void
source_notify (gpointer data)
{
  wrapped_source_func *w = data;
  if (w->notify)
    w->notify (w->data);
  g_free (w);
}

static wrapped_source_func *
wrap_source_func (GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  wrapped_source_func *w = g_new (wrapped_source_func, 1);
  w->func = func;
  w->data = data;
  w->notify = notify;
  return w;
}

void
g_source_set_callback (GSource *source, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  REAL (g_source_set_callback);
  if (!func)
    {
      real (source, func, data, notify);
      return;
    }
  real (source, source_trampoline, wrap_source_func (func, data, notify), source_notify);
}

guint
g_source_attach (GSource *source, GMainContext *context)
{
  REAL (g_source_attach);
  __tsan_release (&main_loop_token);
  return real (source, context);
}

guint
g_idle_add_full (gint priority, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  REAL (g_idle_add_full);
  __tsan_release (&main_loop_token);
  return real (priority, source_trampoline, wrap_source_func (func, data, notify), source_notify);
}

guint
g_idle_add (GSourceFunc func, gpointer data)
{
  return g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, func, data, NULL);
}

guint
g_timeout_add_full (gint priority, guint interval, GSourceFunc func, gpointer data,
                    GDestroyNotify notify)
{
  REAL (g_timeout_add_full);
  __tsan_release (&main_loop_token);
  return real (priority, interval, source_trampoline, wrap_source_func (func, data, notify),
               source_notify);
}

guint
g_timeout_add (guint interval, GSourceFunc func, gpointer data)
{
  return g_timeout_add_full (G_PRIORITY_DEFAULT, interval, func, data, NULL);
}

void
g_main_context_invoke_full (GMainContext *context, gint priority, GSourceFunc func, gpointer data,
                            GDestroyNotify notify)
{
  REAL (g_main_context_invoke_full);
  __tsan_release (&main_loop_token);
  real (context, priority, source_trampoline, wrap_source_func (func, data, notify), source_notify);
}

void
g_main_context_invoke (GMainContext *context, GSourceFunc func, gpointer data)
{
  g_main_context_invoke_full (context, G_PRIORITY_DEFAULT, func, data, NULL);
}

/* ---- GTask --------------------------------------------------------------- */

typedef struct {
  GAsyncReadyCallback func;
  gpointer data;
} wrapped_ready;

static void
ready_trampoline (GObject *source, GAsyncResult *result, gpointer data)
{
  wrapped_ready w = *(wrapped_ready *) data;
  g_free (data);
  __tsan_acquire (&main_loop_token);
  w.func (source, result, w.data);
}

GTask *
g_task_new (gpointer source_object, GCancellable *cancellable, GAsyncReadyCallback callback,
            gpointer callback_data)
{
  REAL (g_task_new);
  if (!callback)
    return real (source_object, cancellable, callback, callback_data);
  wrapped_ready *w = g_new (wrapped_ready, 1);
  w->func = callback;
  w->data = callback_data;
  return real (source_object, cancellable, ready_trampoline, w);
}

void
g_task_return_pointer (GTask *task, gpointer result, GDestroyNotify result_destroy)
{
  REAL (g_task_return_pointer);
  __tsan_release (&main_loop_token);
  real (task, result, result_destroy);
}

void
g_task_return_boolean (GTask *task, gboolean result)
{
  REAL (g_task_return_boolean);
  __tsan_release (&main_loop_token);
  real (task, result);
}

void
g_task_return_int (GTask *task, gssize result)
{
  REAL (g_task_return_int);
  __tsan_release (&main_loop_token);
  real (task, result);
}

void
g_task_return_error (GTask *task, GError *error)
{
  REAL (g_task_return_error);
  __tsan_release (&main_loop_token);
  real (task, error);
}

void
g_task_return_new_error (GTask *task, GQuark domain, gint code, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  GError *error = g_error_new_valist (domain, code, format, ap);
  va_end (ap);
  g_task_return_error (task, error);
}

gboolean
g_task_return_error_if_cancelled (GTask *task)
{
  REAL (g_task_return_error_if_cancelled);
  __tsan_release (&main_loop_token);
  return real (task);
}
