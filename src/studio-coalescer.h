/* studio-coalescer.h — hands the latest value from a worker thread to the
 * main loop, with at most one pending main-loop source
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _StudioCoalescer StudioCoalescer;

typedef void (*StudioCoalescerFunc) (gpointer value, gpointer user_data);

StudioCoalescer *studio_coalescer_new (GMainContext *context, StudioCoalescerFunc func,
                                       gpointer user_data, GDestroyNotify value_free);
void studio_coalescer_post (StudioCoalescer *self, gpointer value);
void studio_coalescer_shutdown (StudioCoalescer *self);
guint studio_coalescer_get_dispatched (StudioCoalescer *self);
guint studio_coalescer_get_dropped (StudioCoalescer *self);

G_END_DECLS
