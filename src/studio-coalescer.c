/* studio-coalescer.c — hands the latest value from a worker thread to the
 * main loop, with at most one pending main-loop source
 *
 * A worker can report progress far faster than the screen refreshes. Each
 * post replaces the value still waiting (latest wins, the older one is
 * dropped) and schedules a main-loop source only if none is pending, so a
 * fast worker can never flood the main loop and freeze the window.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-coalescer.h"

struct _StudioCoalescer {
  gatomicrefcount ref_count;
  GMutex mutex;
  GMainContext *context;
  StudioCoalescerFunc func;
  gpointer user_data;
  GDestroyNotify value_free;
  gpointer pending;
  gboolean has_pending;
  gboolean source_pending;
  gboolean shut_down;
  guint dispatched;
  guint dropped;
};

static void
coalescer_unref (StudioCoalescer *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  if (self->has_pending && self->value_free)
    self->value_free (self->pending);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->mutex);
  g_free (self);
}

StudioCoalescer *
studio_coalescer_new (GMainContext *context, StudioCoalescerFunc func, gpointer user_data,
                      GDestroyNotify value_free)
{
  StudioCoalescer *self = g_new0 (StudioCoalescer, 1);

  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->mutex);
  self->context = g_main_context_ref (context ? context : g_main_context_default ());
  self->func = func;
  self->user_data = user_data;
  self->value_free = value_free;
  return self;
}

static gboolean
dispatch (gpointer data)
{
  StudioCoalescer *self = data;
  gpointer value = NULL;
  gboolean have, alive;

  g_mutex_lock (&self->mutex);
  have = self->has_pending;
  value = self->pending;
  self->has_pending = FALSE;
  self->pending = NULL;
  self->source_pending = FALSE;
  alive = !self->shut_down;
  if (have && alive)
    self->dispatched++;
  g_mutex_unlock (&self->mutex);

  if (have && alive)
    self->func (value, self->user_data);
  if (have && self->value_free)
    self->value_free (value);
  return G_SOURCE_REMOVE;
}

void
studio_coalescer_post (StudioCoalescer *self, gpointer value)
{
  gpointer old = NULL;
  gboolean had = FALSE, schedule = FALSE;

  g_mutex_lock (&self->mutex);
  if (self->shut_down)
    {
      g_mutex_unlock (&self->mutex);
      if (self->value_free)
        self->value_free (value);
      return;
    }
  had = self->has_pending;
  old = self->pending;
  if (had)
    self->dropped++;
  self->pending = value;
  self->has_pending = TRUE;
  if (!self->source_pending)
    schedule = self->source_pending = TRUE;
  g_mutex_unlock (&self->mutex);

  if (had && self->value_free)
    self->value_free (old);
  if (schedule)
    {
      GSource *source = g_idle_source_new ();

      g_atomic_ref_count_inc (&self->ref_count);
      /* idle priority, below GTK's redraws and D-Bus: a worker that posts
       * as fast as it can must not keep a higher-priority source pending
       * all the time and starve them */
      g_source_set_priority (source, G_PRIORITY_DEFAULT_IDLE);
      g_source_set_callback (source, dispatch, self, (GDestroyNotify) coalescer_unref);
      g_source_set_static_name (source, "[studio] progress coalescer");
      g_source_attach (source, self->context);
      g_source_unref (source);
    }
}

/* Drops what is pending and stops dispatching; frees self once no source
 * refers to it any more. */
void
studio_coalescer_shutdown (StudioCoalescer *self)
{
  g_mutex_lock (&self->mutex);
  self->shut_down = TRUE;
  g_mutex_unlock (&self->mutex);
  coalescer_unref (self);
}

guint
studio_coalescer_get_dispatched (StudioCoalescer *self)
{
  guint n;

  g_mutex_lock (&self->mutex);
  n = self->dispatched;
  g_mutex_unlock (&self->mutex);
  return n;
}

guint
studio_coalescer_get_dropped (StudioCoalescer *self)
{
  guint n;

  g_mutex_lock (&self->mutex);
  n = self->dropped;
  g_mutex_unlock (&self->mutex);
  return n;
}
