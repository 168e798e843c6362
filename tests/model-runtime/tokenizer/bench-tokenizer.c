/* bench-tokenizer.c — encoding speed: the public vector set, repeated for
 * at least a second, on one thread; prints tokens per second.
 * Usage: bench-tokenizer MODEL.gguf public.jsonl [SECONDS] */
#include "magvlt.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf (stderr, "usage: bench-tokenizer MODEL.gguf public.jsonl [SECONDS]\n");
      return 2;
    }
  double seconds = argc > 3 ? g_ascii_strtod (argv[3], NULL) : 1.0;
  magvlt_model *model = NULL;
  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK)
    {
      fprintf (stderr, "bench-tokenizer: %s\n", magvlt_last_error ());
      return 1;
    }
  g_autofree char *all = NULL;
  if (!g_file_get_contents (argv[2], &all, NULL, NULL))
    {
      fprintf (stderr, "bench-tokenizer: cannot read %s\n", argv[2]);
      return 1;
    }
  g_auto (GStrv) lines = g_strsplit (all, "\n", -1);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  size_t bytes = 0;
  for (char **l = lines; *l; l++)
    {
      if (!**l)
        continue;
      g_autoptr (JsonParser) p = json_parser_new ();
      if (!json_parser_load_from_data (p, *l, -1, NULL))
        continue;
      JsonObject *o = json_node_get_object (json_parser_get_root (p));
      g_ptr_array_add (texts, g_strdup (json_object_get_string_member (o, "text")));
      bytes += strlen (g_ptr_array_index (texts, texts->len - 1));
    }

  int32_t ids[4096];
  magvlt_tokenize_result r;
  int64_t tokens = 0, calls = 0, fallbacks = 0;
  int rounds = 0;
  gint64 t0 = g_get_monotonic_time ();
  double elapsed = 0;
  do
    {
      for (guint i = 0; i < texts->len; i++)
        {
          const char *t = g_ptr_array_index (texts, i);
          if (magvlt_tokenize (model, t, strlen (t), ids, 4096, &r) != MAGVLT_OK)
            {
              fprintf (stderr, "bench-tokenizer: %s\n", magvlt_last_error ());
              return 1;
            }
          tokens += r.n_tokens;
          fallbacks += r.fallback;
          calls++;
        }
      rounds++;
      elapsed = (double) (g_get_monotonic_time () - t0) / 1e6;
    }
  while (elapsed < seconds);

  printf ("tokenizer: %u texts (%zu bytes) x %d rounds in %.2f s, one thread\n", texts->len, bytes,
          rounds, elapsed);
  printf ("  %.0f tokens/s, %.0f texts/s, %.1f MB/s of text, %.2f us per text "
          "(%.0f%% of them fall back)\n",
          (double) tokens / elapsed, (double) calls / elapsed,
          (double) bytes * rounds / elapsed / 1e6, elapsed / (double) calls * 1e6,
          100.0 * (double) fallbacks / (double) calls);
  magvlt_model_free (model);
  return 0;
}
