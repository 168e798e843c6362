/* cmd-tokenize.c — `magvlt tokenize` and `magvlt detokenize`: the text
 * tokenizer of a model file, as a job sees it.
 * SPDX-License-Identifier: MIT */
#include "magvlt-cli.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

static const char tokenize_description[] =
  "Prints the ids the model sees for TEXT: the tokens, the end-of-text id that\n"
  "follows them when it fits, and the padding up to the model's text length.\n"
  "TEXT - reads standard input verbatim (nothing is stripped, NUL bytes and\n"
  "megabyte inputs included). Text that starts with '-' goes after `--`.\n"
  "\n"
  "With --json, one object on one line:\n"
  "  {\"ids\": [...], \"n_txt\": N, \"tokens\": [...], \"fallback\": true|false}\n"
  "ids: the (truncated) ids followed by the end-of-text id when it fits, without\n"
  "padding; tokens: the vocabulary entry of each id; n_txt: the index of the first\n"
  "end-of-text id + 1, or the text length + 1 when none fits; fallback: the text\n"
  "had characters outside the vocabulary and was encoded again without its\n"
  "non-ASCII characters (as the official code does).\n"
  "\n"
  "Example: magvlt tokenize --json \"A photo of a cat\"";

static const char detokenize_description[] =
  "Prints the text of token ids: up to the first end-of-text id, each\n"
  "end-of-word suffix (\"</w>\") read as a space. IDS are integers, separated by\n"
  "spaces, commas or brackets (so a JSON array works); - reads them from standard\n"
  "input. Ids outside the vocabulary are skipped. --caption applies the official\n"
  "caption post-processing (lowercase, cut at the first '.', repeated words\n"
  "dropped, \" .\" appended); a caption left empty prints an empty line.\n"
  "\n"
  "Example: magvlt detokenize --caption 320 1125 539";

/* GOption leaves the "--" that ends the options in argv; the arguments after
 * it are taken as they are. */
static void
drop_separator (int *argc, char **argv)
{
  if (*argc > 1 && strcmp (argv[1], "--") == 0)
    {
      memmove (argv + 1, argv + 2, (size_t) (*argc - 2) * sizeof *argv);
      (*argc)--;
    }
}

static GByteArray *
read_stdin (void)
{
  GByteArray *data = g_byte_array_new ();
  guint8 chunk[65536];
  size_t n;
  while ((n = fread (chunk, 1, sizeof chunk, stdin)) > 0)
    g_byte_array_append (data, chunk, (guint) n);
  if (ferror (stdin))
    {
      fprintf (stderr, "magvlt: cannot read standard input\n");
      g_byte_array_unref (data);
      return NULL;
    }
  return data;
}

static void
print_json (const magvlt_model *model, const int32_t *ids, const magvlt_tokenize_result *r,
            int32_t text_len)
{
  int32_t n = r->n_tokens < text_len ? r->n_tokens + 1 : r->n_tokens; /* + end of text */
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ids");
  json_builder_begin_array (b);
  for (int32_t i = 0; i < n; i++)
    json_builder_add_int_value (b, ids[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "n_txt");
  json_builder_add_int_value (b, r->n_txt);
  json_builder_set_member_name (b, "tokens");
  json_builder_begin_array (b);
  for (int32_t i = 0; i < n; i++)
    json_builder_add_string_value (b, magvlt_token_get_text (model, ids[i]));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "fallback");
  json_builder_add_boolean_value (b, r->fallback);
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_autofree char *out = json_generator_to_data (gen, NULL);
  printf ("%s\n", out);
}

static void
print_table (const magvlt_model *model, const int32_t *ids, const magvlt_tokenize_result *r,
             int32_t text_len)
{
  int32_t n = r->n_tokens < text_len ? r->n_tokens + 1 : r->n_tokens;
  printf ("%d token%s%s (n_txt %d of %d text slots)\n", r->n_tokens, r->n_tokens == 1 ? "" : "s",
          r->n_tokens < text_len ? " + end of text" : ", no room for the end of text", r->n_txt,
          text_len);
  if (r->fallback)
    printf ("fallback: the text has characters outside the vocabulary, so it was encoded "
            "without its non-ASCII characters\n");
  if (r->truncated)
    printf ("truncated: the text has more than %d tokens; the rest is dropped\n", text_len);
  for (int32_t i = 0; i < n; i++)
    printf ("%5d  %6d  %s\n", i, ids[i], magvlt_token_get_text (model, ids[i]));
  if (n < text_len)
    printf ("%d more slot%s hold%s the padding id %d\n", text_len - n, text_len - n == 1 ? "" : "s",
            text_len - n == 1 ? "s" : "", ids[n]);
}

int
cli_tokenize (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF; default $MAGVLT_MODEL, else the installed default model)", "MODEL" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object (see below)", NULL },
    { NULL },
  };
  if (!cli_parse ("tokenize", "TEXT — Print the text ids a MAGVLT model sees for TEXT.",
                  tokenize_description, entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  drop_separator (&argc, argv);
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || argc != 2)
    {
      fprintf (stderr, "magvlt tokenize: give a model with -m MODEL and the text as one argument "
                       "(quoted), or - to read standard input\n");
      return CLI_EXIT_USAGE;
    }

  g_autoptr (GByteArray) input = NULL;
  const char *text = argv[1];
  size_t len = strlen (text);
  if (strcmp (text, "-") == 0)
    {
      if (!(input = read_stdin ()))
        return CLI_EXIT_FAILED;
      text = (const char *) input->data;
      len = input->len;
    }

  magvlt_model *model = cli_load_model (model_path);
  if (!model)
    return CLI_EXIT_FAILED;
  magvlt_model_info info;
  magvlt_model_get_info (model, &info);
  if (!cli_need_transformer ("tokenize", model_path, &info))
    {
      magvlt_model_free (model);
      return CLI_EXIT_FAILED;
    }
  g_autofree int32_t *ids = g_new (int32_t, info.ctx_len_txt);
  magvlt_tokenize_result r;
  magvlt_status st = magvlt_tokenize (model, text, len, ids, info.ctx_len_txt, &r);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt tokenize: %s: %s\n", magvlt_status_str (st), magvlt_last_error ());
      magvlt_model_free (model);
      return CLI_EXIT_FAILED;
    }
  if (json)
    print_json (model, ids, &r, info.ctx_len_txt);
  else
    print_table (model, ids, &r, info.ctx_len_txt);
  magvlt_model_free (model);
  return CLI_EXIT_OK;
}

/* Appends the ids in s (separated by spaces, commas or brackets). */
static gboolean
parse_ids (const char *s, GArray *ids)
{
  const char *seps = " \t\r\n,[]";
  while (*s)
    {
      if (strchr (seps, *s))
        {
          s++;
          continue;
        }
      size_t n = strcspn (s, seps);
      g_autofree char *word = g_strndup (s, n);
      char *end = NULL;
      gint64 v = g_ascii_strtoll (word, &end, 10);
      if (end == word || *end || v < INT32_MIN || v > INT32_MAX)
        {
          fprintf (stderr, "magvlt detokenize: '%s' is not a token id\n", word);
          return FALSE;
        }
      int32_t id = (int32_t) v;
      g_array_append_val (ids, id);
      s += n;
    }
  return TRUE;
}

int
cli_detokenize (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  gboolean caption = FALSE, keep_eot = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF; default $MAGVLT_MODEL, else the installed default model)", "MODEL" },
    { "caption", 0, 0, G_OPTION_ARG_NONE, &caption, "Apply the official caption post-processing",
      NULL },
    { "keep-eot", 0, 0, G_OPTION_ARG_NONE, &keep_eot,
      "Decode every id (like HuggingFace's decode()), not only those before the first "
      "end-of-text id",
      NULL },
    { NULL },
  };
  if (!cli_parse ("detokenize", "IDS… — Print the text of text token ids.", detokenize_description,
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  drop_separator (&argc, argv);
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || argc < 2)
    {
      fprintf (stderr, "magvlt detokenize: give a model with -m MODEL and the ids (or - to read "
                       "them from standard input)\n");
      return CLI_EXIT_USAGE;
    }
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "-") == 0)
        {
          g_autoptr (GByteArray) in = read_stdin ();
          if (!in)
            return CLI_EXIT_FAILED;
          g_byte_array_append (in, (const guint8 *) "", 1);
          if (memchr (in->data, '\0', in->len - 1))
            {
              fprintf (stderr, "magvlt detokenize: standard input holds a NUL byte\n");
              return CLI_EXIT_USAGE;
            }
          if (!parse_ids ((const char *) in->data, ids))
            return CLI_EXIT_USAGE;
        }
      else if (!parse_ids (argv[i], ids))
        return CLI_EXIT_USAGE;
    }

  magvlt_model *model = cli_load_model (model_path);
  if (!model)
    return CLI_EXIT_FAILED;
  uint32_t flags =
    (caption ? MAGVLT_DETOKENIZE_CAPTION : 0) | (keep_eot ? MAGVLT_DETOKENIZE_KEEP_EOT : 0);
  size_t len = 0;
  const int32_t *data = (const int32_t *) (void *) ids->data;
  magvlt_status st = magvlt_detokenize (model, data, (int32_t) ids->len, flags, NULL, 0, &len);
  g_autofree char *text = NULL;
  if (st == MAGVLT_OK)
    {
      text = g_malloc (len + 1);
      st = magvlt_detokenize (model, data, (int32_t) ids->len, flags, text, len + 1, NULL);
    }
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt detokenize: %s: %s\n", magvlt_status_str (st), magvlt_last_error ());
      magvlt_model_free (model);
      return CLI_EXIT_FAILED;
    }
  fwrite (text, 1, len, stdout);
  putchar ('\n');
  magvlt_model_free (model);
  return CLI_EXIT_OK;
}
