/* studio-import.c — converting an official checkpoint in the background
 *
 * Runs magvlt_convert() on a thread of its own (a conversion is a one-off
 * that may take minutes; the engine worker stays free), writes the model
 * under the user's data folder, and reports progress on the main thread
 * through a coalescer. The official YAML configuration and CLIP's BPE
 * merges are picked up when they lie next to the checkpoint (as the
 * official releases are usually unpacked); without merges the model works
 * for image jobs and refuses text jobs with a clear message.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-import.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <magvlt.h>

#include "studio-coalescer.h"

typedef struct {
  char *checkpoint;
  char *config;
  char *bpe;
  char *out_path;
  GCancellable *cancellable;
  StudioCoalescer *progress;
} ImportData;

typedef struct {
  int stage;
  double fraction;
} ImportStep;

typedef struct {
  StudioImportProgress func;
  gpointer data;
} ProgressTarget;

static void
import_data_free (ImportData *d)
{
  g_free (d->checkpoint);
  g_free (d->config);
  g_free (d->bpe);
  g_free (d->out_path);
  g_clear_object (&d->cancellable);
  g_clear_pointer (&d->progress, studio_coalescer_shutdown);
  g_free (d);
}

/* The checkpoint's stem, its name without the last extension:
 * "magvlt-it2it-base.ckpt" → "magvlt-it2it-base", "model-v1.0.ckpt" →
 * "model-v1.0" (cutting at the first dot made v1.0 and v1.1 one name). */
static char *
checkpoint_stem (const char *checkpoint)
{
  g_autofree char *base = g_path_get_basename (checkpoint);
  const char *dot = strrchr (base, '.');

  return dot && dot != base ? g_strndup (base, (gsize) (dot - base)) : g_strdup (base);
}

char *
studio_import_output_path (const char *checkpoint, const char *out_dir)
{
  g_autofree char *stem = checkpoint_stem (checkpoint);
  char *path = g_strdup_printf ("%s/%s.gguf", out_dir, stem);

  /* another checkpoint of the same name imported before (a "last.ckpt" of
   * another run) keeps its model: the default setting may point at it */
  for (int i = 2; g_file_test (path, G_FILE_TEST_EXISTS) && i < 1000; i++)
    {
      g_free (path);
      path = g_strdup_printf ("%s/%s-%d.gguf", out_dir, stem, i);
    }
  return path;
}

static char *
existing (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);

  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return path;
  g_free (path);
  return NULL;
}

char *
studio_import_find_config (const char *checkpoint)
{
  g_autofree char *dir = g_path_get_dirname (checkpoint);
  g_autofree char *stem = checkpoint_stem (checkpoint);
  g_autofree char *sampling = g_strconcat (stem, "-sampling.yaml", NULL);
  g_autofree char *plain = g_strconcat (stem, ".yaml", NULL);
  g_autoptr (GDir) d = NULL;
  g_autofree char *stem_match = NULL, *only = NULL;
  int n_stem = 0, n_yaml = 0;
  const char *name;
  char *found;

  if ((found = existing (dir, sampling)) || (found = existing (dir, plain)))
    return found;
  d = g_dir_open (dir, 0, NULL);
  while (d && (name = g_dir_read_name (d)))
    {
      if (!g_str_has_suffix (name, ".yaml") && !g_str_has_suffix (name, ".yml"))
        continue;
      n_yaml++;
      g_free (only);
      only = g_strdup (name);
      if (g_str_has_prefix (name, stem))
        {
          n_stem++;
          g_free (stem_match);
          stem_match = g_strdup (name);
        }
    }
  /* one YAML named after the checkpoint, or the folder's only one; several
   * that could belong to it: none, rather than perhaps the wrong one (the
   * converter recognises the official geometries from the weights) */
  if (n_stem == 1)
    return g_build_filename (dir, stem_match, NULL);
  if (n_stem == 0 && n_yaml == 1)
    return g_build_filename (dir, only, NULL);
  return NULL;
}

char *
studio_import_find_merges (const char *checkpoint)
{
  g_autofree char *dir = g_path_get_dirname (checkpoint);
  g_autofree char *stem = checkpoint_stem (checkpoint);
  g_autofree char *own = g_strconcat (stem, "-merges.txt", NULL);
  const char *names[] = { "bpe_simple_vocab_16e6.txt.gz", own, "merges.txt" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *found = existing (dir, names[i]);
      if (found)
        return found;
    }
  return NULL;
}

static void
on_progress (magvlt_convert_stage stage, float fraction, void *user_data)
{
  ImportData *d = user_data;
  ImportStep *step = g_new (ImportStep, 1);

  step->stage = (int) stage;
  step->fraction = fraction;
  studio_coalescer_post (d->progress, step);
}

static bool
on_cancel (void *user_data)
{
  return g_cancellable_is_cancelled (((ImportData *) user_data)->cancellable);
}

static void
import_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ImportData *d = task_data;
  magvlt_convert_params p = magvlt_convert_default_params ();
  magvlt_convert_stats stats;
  magvlt_status st;

  p.ckpt = d->checkpoint;
  p.config = d->config;
  p.bpe = d->bpe;
  p.progress = on_progress;
  p.cancel = on_cancel;
  p.user_data = d;
  st = magvlt_convert (&p, d->out_path, &stats);
  if (st == MAGVLT_ABORTED)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Cancelled"));
  else if (st != MAGVLT_OK)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", magvlt_last_error ());
  else
    g_task_return_pointer (task, g_strdup (d->out_path), g_free);
}

static void
deliver (gpointer value, gpointer user_data)
{
  ProgressTarget *t = user_data;
  ImportStep *step = value;

  if (t->func)
    t->func (step->stage, step->fraction, t->data);
}

void
studio_import_async (const char *checkpoint, const char *out_dir, GCancellable *cancellable,
                     StudioImportProgress progress, gpointer progress_data,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  ImportData *d = g_new0 (ImportData, 1);
  ProgressTarget *target = g_new0 (ProgressTarget, 1);

  target->func = progress;
  target->data = progress_data;
  d->checkpoint = g_strdup (checkpoint);
  d->config = studio_import_find_config (checkpoint);
  d->bpe = studio_import_find_merges (checkpoint);
  d->out_path = studio_import_output_path (checkpoint, out_dir);
  d->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();
  d->progress = studio_coalescer_new (NULL, deliver, target, g_free);
  g_object_set_data_full (G_OBJECT (task), "target", target, g_free);
  g_object_set_data_full (G_OBJECT (task), "has-tokenizer", GINT_TO_POINTER (d->bpe != NULL), NULL);
  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      int saved = errno;
      import_data_free (d);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               _ ("Cannot create the folder “%s”: %s"), out_dir,
                               g_strerror (saved));
      return;
    }
  g_task_set_task_data (task, d, (GDestroyNotify) import_data_free);
  g_task_run_in_thread (task, import_thread);
}

char *
studio_import_finish (GAsyncResult *result, gboolean *has_tokenizer, GError **error)
{
  if (has_tokenizer)
    *has_tokenizer = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (result), "has-tokenizer"));
  return g_task_propagate_pointer (G_TASK (result), error);
}
