/* studio-worker.h — the thread that owns the engine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "studio-job.h"

G_BEGIN_DECLS

#define STUDIO_TYPE_WORKER (studio_worker_get_type ())
G_DECLARE_FINAL_TYPE (StudioWorker, studio_worker, STUDIO, WORKER, GObject)

StudioWorker *studio_worker_new (void);
void studio_worker_load_model_async (StudioWorker *self, const char *path,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
char *studio_worker_load_model_finish (StudioWorker *self, GAsyncResult *result, GError **error);
gboolean studio_worker_has_model (StudioWorker *self);
void studio_worker_run_async (StudioWorker *self, StudioJob *job, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
StudioJobResult *studio_worker_run_finish (StudioWorker *self, GAsyncResult *result,
                                           GError **error);
void studio_worker_set_preview_decode_every (StudioWorker *self, int n);
void studio_worker_set_threads (StudioWorker *self, int n);

G_END_DECLS
