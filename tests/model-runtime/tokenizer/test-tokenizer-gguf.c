/* test-tokenizer-gguf.c — the magvlt.tokenizer.* keys (FORMAT.md): a tiny
 * hand-made vocabulary that loads and encodes through the same code as
 * CLIP's, a model without a tokenizer, and one bad key per case, each
 * checked for its status and a message that names the fault.
 * SPDX-License-Identifier: MIT
 *
 * The vocabulary (Vt 10, T 4, end of text 9):
 *   0 a  1 b  2 c  3 a</w>  4 b</w>  5 c</w>  6 ab  7 ab</w>  8 abc</w>  9 <|endoftext|>
 * merges, by rank: "a b" → ab, "a b</w>" → ab</w>, "ab c</w>" → abc</w>.
 * Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed". */
#include "gguf-builder.h"
#include "magvlt.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_passed, n_failed;
static char *tmp_dir;

static void G_GNUC_PRINTF (2, 3) check (bool ok, const char *fmt, ...)
{
  va_list ap;
  printf ("%s ", ok ? "ok  " : "FAIL");
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  ok ? n_passed++ : n_failed++;
}

static const char *const vocab[] = {
  "a", "b", "c", "a</w>", "b</w>", "c</w>", "ab", "ab</w>", "abc</w>", "<|endoftext|>",
};
static const char *const merges[] = { "a b", "a b</w>", "ab c</w>" };

static gb_file *
tiny_model (void)
{
  gb_magvlt_params p = gb_magvlt_default_params ();
  p.vocab_size_txt = 10;
  p.text_eot_id = 9;
  p.ctx_len_txt = 4;
  gb_file *f = gb_magvlt_new (&p);
  gb_set_str (f, "magvlt.tokenizer.model", "char_bpe");
  gb_set_str_array (f, "magvlt.tokenizer.vocab", vocab, G_N_ELEMENTS (vocab));
  gb_set_str_array (f, "magvlt.tokenizer.merges", merges, G_N_ELEMENTS (merges));
  gb_set_str (f, "magvlt.tokenizer.end_of_word_suffix", "</w>");
  gb_set_bool_raw (f, "magvlt.tokenizer.lowercase", 1);
  return f;
}

/* The loader's error log would repeat every expected failure on stderr. */
static void
quiet (magvlt_log_level level, const char *message, void *user_data)
{
}

/* Writes f, loads it; returns the model (or NULL with *st set). */
static magvlt_model *
load (gb_file *f, magvlt_status *st)
{
  static int serial;
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  g_autofree char *name = g_strdup_printf ("tok-%d.gguf", serial++);
  g_autofree char *path = g_build_filename (tmp_dir, name, NULL);
  if (!g_file_set_contents (path, (const char *) buf, (gssize) size, NULL))
    {
      fprintf (stderr, "cannot write %s\n", path);
      exit (1);
    }
  free (buf);
  magvlt_model *m = NULL;
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.log_callback = quiet;
  *st = magvlt_model_load (path, &mp, &m);
  g_unlink (path);
  return m;
}

/* A case that must fail to load with status want and a message holding
 * `part`; the fixture is modified by `breaker`. */
static void
check_bad (const char *name, void (*breaker) (gb_file *), magvlt_status want, const char *part)
{
  gb_file *f = tiny_model ();
  breaker (f);
  magvlt_status st;
  magvlt_model *m = load (f, &st);
  const char *msg = magvlt_last_error ();
  check (!m && st == want && strstr (msg, part) && strstr (msg, ".gguf: "), "%s: %s: %s", name,
         magvlt_status_str (st), msg);
  magvlt_model_free (m);
  gb_free (f);
}

static void
no_model_key (gb_file *f)
{
  gb_remove_kv (f, "magvlt.tokenizer.model");
}

static void
other_model (gb_file *f)
{
  gb_set_str (f, "magvlt.tokenizer.model", "wordpiece");
}

static void
short_vocab (gb_file *f)
{
  gb_set_str_array (f, "magvlt.tokenizer.vocab", vocab, G_N_ELEMENTS (vocab) - 1);
}

static void
long_vocab (gb_file *f)
{
  const char *v[G_N_ELEMENTS (vocab) + 1];
  memcpy (v, vocab, sizeof vocab);
  v[G_N_ELEMENTS (vocab)] = "ca";
  gb_set_str_array (f, "magvlt.tokenizer.vocab", v, G_N_ELEMENTS (v));
}

static void
duplicate_entry (gb_file *f)
{
  const char *v[G_N_ELEMENTS (vocab)];
  memcpy (v, vocab, sizeof v);
  v[5] = "a";
  gb_set_str_array (f, "magvlt.tokenizer.vocab", v, G_N_ELEMENTS (v));
}

static void
empty_entry (gb_file *f)
{
  const char *v[G_N_ELEMENTS (vocab)];
  memcpy (v, vocab, sizeof v);
  v[2] = "";
  gb_set_str_array (f, "magvlt.tokenizer.vocab", v, G_N_ELEMENTS (v));
}

static void
invalid_utf8_entry (gb_file *f)
{
  const char *v[G_N_ELEMENTS (vocab)];
  memcpy (v, vocab, sizeof v);
  v[2] = "c\xc3";
  gb_set_str_array (f, "magvlt.tokenizer.vocab", v, G_N_ELEMENTS (v));
}

static void
vocab_of_numbers (gb_file *f)
{
  uint32_t v[10] = { 0 };
  gb_set_u32_array (f, "magvlt.tokenizer.vocab", v, 10);
}

static void
vocab_is_string (gb_file *f)
{
  gb_set_str (f, "magvlt.tokenizer.vocab", "a b c");
}

static void
set_merge (gb_file *f, const char *m)
{
  const char *v[G_N_ELEMENTS (merges)];
  memcpy (v, merges, sizeof v);
  v[1] = m;
  gb_set_str_array (f, "magvlt.tokenizer.merges", v, G_N_ELEMENTS (v));
}

static void
merge_unknown_left (gb_file *f)
{
  set_merge (f, "x b");
}

static void
merge_unknown_right (gb_file *f)
{
  set_merge (f, "a x</w>");
}

static void
merge_result_unknown (gb_file *f)
{
  set_merge (f, "b c");
}

static void
merge_no_space (gb_file *f)
{
  set_merge (f, "ab");
}

static void
merge_two_spaces (gb_file *f)
{
  set_merge (f, "a  b");
}

static void
merge_three_parts (gb_file *f)
{
  set_merge (f, "a b c");
}

static void
merge_duplicate (gb_file *f)
{
  set_merge (f, "a b");
}

static void
no_merges (gb_file *f)
{
  gb_remove_kv (f, "magvlt.tokenizer.merges");
}

static void
no_suffix (gb_file *f)
{
  gb_remove_kv (f, "magvlt.tokenizer.end_of_word_suffix");
}

static void
empty_suffix (gb_file *f)
{
  gb_set_str (f, "magvlt.tokenizer.end_of_word_suffix", "");
}

static void
lowercase_not_bool (gb_file *f)
{
  gb_set_u8 (f, "magvlt.tokenizer.lowercase", 1);
}

static void
model_not_string (gb_file *f)
{
  gb_set_u32 (f, "magvlt.tokenizer.model", 1);
}

static void
check_good (void)
{
  gb_file *f = tiny_model ();
  magvlt_status st;
  magvlt_model *m = load (f, &st);
  check (m != NULL, "the tiny vocabulary loads: %s", m ? "" : magvlt_last_error ());
  gb_free (f);
  if (!m)
    return;

  int32_t ids[4];
  magvlt_tokenize_result r;
  st = magvlt_tokenize (m, "ABC ab a cab", 12, ids, 4, &r);
  check (st == MAGVLT_OK && ids[0] == 8 && ids[1] == 7 && ids[2] == 3 && ids[3] == 2
           && r.n_tokens == 4 && r.n_txt == 5 && r.n_mask == 4 && r.truncated && !r.fallback,
         "'ABC ab a cab' → 8 7 3 2 (…7), truncated to T 4, n_txt 5: %d %d %d %d", ids[0], ids[1],
         ids[2], ids[3]);
  st = magvlt_tokenize (m, "ab \xc3\xa9", 5, ids, 4, &r);
  check (st == MAGVLT_OK && ids[0] == 7 && ids[1] == 9 && r.n_txt == 2 && r.fallback,
         "'ab é' falls back to 'ab ' → 7 9 9 9");
  st = magvlt_tokenize (m, "a.b", 3, ids, 4, &r);
  check (st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "'.' (U+002E)")
           && strstr (magvlt_last_error (), "even after removing"),
         "a character outside the vocabulary even after the fallback: %s", magvlt_last_error ());

  char buf[64];
  int32_t dec[] = { 8, 7, 9, 3 };
  size_t len;
  st = magvlt_detokenize (m, dec, 4, 0, buf, sizeof buf, &len);
  check (st == MAGVLT_OK && strcmp (buf, "abc ab") == 0, "8 7 9 3 decodes to 'abc ab': '%s'", buf);
  st = magvlt_detokenize (m, dec, 4, MAGVLT_DETOKENIZE_KEEP_EOT, buf, sizeof buf, &len);
  check (st == MAGVLT_OK && strcmp (buf, "abc ab <|endoftext|>a") == 0, "with KEEP_EOT: '%s'", buf);
  magvlt_model_free (m);

  /* lowercase off: capitals are outside this vocabulary */
  f = tiny_model ();
  gb_set_bool_raw (f, "magvlt.tokenizer.lowercase", 0);
  m = load (f, &st);
  gb_free (f);
  st = m ? magvlt_tokenize (m, "Ab", 2, ids, 4, &r) : st;
  check (st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "'A' (U+0041)"),
         "lowercase false keeps capitals: %s", magvlt_last_error ());
  magvlt_model_free (m);

  /* no tokenizer keys at all: the model loads, tokenizing says why not */
  f = tiny_model ();
  const char *keys[] = { "model", "vocab", "merges", "end_of_word_suffix", "lowercase" };
  for (size_t i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *k = g_strdup_printf ("magvlt.tokenizer.%s", keys[i]);
      gb_remove_kv (f, k);
    }
  m = load (f, &st);
  gb_free (f);
  check (m != NULL, "a model without tokenizer keys loads");
  if (m)
    {
      st = magvlt_tokenize (m, "a", 1, ids, 4, &r);
      bool tok_ok =
        st == MAGVLT_ERR_UNSUPPORTED && strstr (magvlt_last_error (), "has no text tokenizer");
      st = magvlt_detokenize (m, ids, 1, 0, buf, sizeof buf, &len);
      magvlt_tokenizer_info info;
      check (tok_ok && st == MAGVLT_ERR_UNSUPPORTED
               && magvlt_tokenizer_get_info (m, &info) == MAGVLT_ERR_UNSUPPORTED
               && magvlt_token_get_text (m, 0) == NULL,
             "...and tokenize/detokenize/info give MAGVLT_ERR_UNSUPPORTED: %s",
             magvlt_last_error ());
      magvlt_model_free (m);
    }
}

int
main (void)
{
  g_autoptr (GError) error = NULL;
  tmp_dir = g_dir_make_tmp ("magvlt-tokenizer-XXXXXX", &error);
  if (!tmp_dir)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  check_good ();
  check_bad ("vocabulary without magvlt.tokenizer.model", no_model_key, MAGVLT_ERR_FORMAT,
             "'magvlt.tokenizer.model' is missing");
  check_bad ("unknown tokenizer model", other_model, MAGVLT_ERR_UNSUPPORTED,
             "is 'wordpiece'; this engine knows 'char_bpe'");
  check_bad ("model key of another type", model_not_string, MAGVLT_ERR_FORMAT,
             "'magvlt.tokenizer.model' has type u32");
  check_bad ("vocabulary size differs from vocab_size_txt", short_vocab, MAGVLT_ERR_FORMAT,
             "has 9 entries but magvlt.vocab_size_txt is 10");
  check_bad ("vocabulary longer than vocab_size_txt", long_vocab, MAGVLT_ERR_FORMAT,
             "has 11 entries but magvlt.vocab_size_txt is 10");
  check_bad ("duplicate vocabulary entry", duplicate_entry, MAGVLT_ERR_FORMAT,
             "entry 5 'a' repeats entry 0");
  check_bad ("empty vocabulary entry", empty_entry, MAGVLT_ERR_FORMAT, "entry 2 is empty");
  check_bad ("vocabulary entry not UTF-8", invalid_utf8_entry, MAGVLT_ERR_FORMAT,
             "entry 2 is not valid UTF-8");
  check_bad ("vocabulary of numbers", vocab_of_numbers, MAGVLT_ERR_FORMAT,
             "has type array of u32, expected an array of strings");
  check_bad ("vocabulary as one string", vocab_is_string, MAGVLT_ERR_FORMAT,
             "has type string, expected an array of strings");
  check_bad ("merge of an unknown left symbol", merge_unknown_left, MAGVLT_ERR_FORMAT,
             "entry 1 'x b': its left symbol 'x' is not in the vocabulary");
  check_bad ("merge of an unknown right symbol", merge_unknown_right, MAGVLT_ERR_FORMAT,
             "entry 1 'a x</w>': its right symbol 'x</w>' is not in the vocabulary");
  check_bad ("merge result outside the vocabulary", merge_result_unknown, MAGVLT_ERR_FORMAT,
             "entry 1 'b c': the merged symbol 'bc' is not in the vocabulary");
  check_bad ("merge without a space", merge_no_space, MAGVLT_ERR_FORMAT,
             "entry 1 'ab' is not two symbols separated by one space");
  check_bad ("merge with two spaces", merge_two_spaces, MAGVLT_ERR_FORMAT,
             "entry 1 'a  b' is not two symbols");
  check_bad ("merge of three symbols", merge_three_parts, MAGVLT_ERR_FORMAT,
             "entry 1 'a b c' is not two symbols");
  check_bad ("duplicate merge", merge_duplicate, MAGVLT_ERR_FORMAT,
             "magvlt.tokenizer.merges: entry 1 'a b' repeats entry 0");
  check_bad ("merges missing", no_merges, MAGVLT_ERR_FORMAT,
             "required key 'magvlt.tokenizer.merges' is missing");
  check_bad ("suffix missing", no_suffix, MAGVLT_ERR_FORMAT,
             "required key 'magvlt.tokenizer.end_of_word_suffix' is missing");
  check_bad ("empty suffix", empty_suffix, MAGVLT_ERR_FORMAT, "must be 1 to 63 bytes");
  check_bad ("lowercase not a bool", lowercase_not_bool, MAGVLT_ERR_FORMAT,
             "'magvlt.tokenizer.lowercase' has type u8, expected bool");

  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
