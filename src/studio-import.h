/* studio-import.h — converting an official checkpoint in the background
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* stage: 0 reading, 1 writing, 2 palette; fraction of that stage */
typedef void (*StudioImportProgress) (int stage, double fraction, gpointer user_data);

void studio_import_async (const char *checkpoint, const char *out_dir, GCancellable *cancellable,
                          StudioImportProgress progress, gpointer progress_data,
                          GAsyncReadyCallback callback, gpointer user_data);
char *studio_import_finish (GAsyncResult *result, gboolean *has_tokenizer, GError **error);

/* The files beside a checkpoint that the import uses (NULL: none):
 * the YAML "STEM-sampling.yaml", "STEM.yaml", the only "STEM*.yaml", or the
 * folder's only YAML; never a guess among several. The merges
 * "bpe_simple_vocab_16e6.txt.gz", "STEM-merges.txt" or "merges.txt". STEM is
 * the checkpoint's name without its last extension. */
char *studio_import_find_config (const char *checkpoint);
char *studio_import_find_merges (const char *checkpoint);

/* Where the import writes its model: OUT_DIR/STEM.gguf, or STEM-2.gguf, … when
 * that exists (an earlier import is never replaced). */
char *studio_import_output_path (const char *checkpoint, const char *out_dir);

G_END_DECLS
