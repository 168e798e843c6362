/* test-tokenizer.c — the text tokenizer against the reference vectors of
 * ../shared/fixtures/tokenizer (HuggingFace's Rust tokenizers configured as
 * MAGVLT configures it, plus the official wrapper and token2txt), through a
 * tiny model that carries CLIP's vocabulary; then bad inputs, the
 * detokenizer's buffer contract, the BPE priority queue against its naive
 * reference, and several threads sharing one model.
 *
 * Usage: test-tokenizer MODEL.gguf public.jsonl decode_extra.jsonl
 * Prints "ok   <case>" or "FAIL <case>: <why>" and "N passed, N failed";
 * exits 1 on any failure. */
#include "magvlt.h"
#include "model.h"
#include "tokenizer.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_MAX 4096

static int n_passed, n_failed;
static const magvlt_model *model;
static int32_t text_len, eot_id;

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

/* ---- reading the vectors ------------------------------------------------- */

/* Decodes the JSON string literal at *p (after its opening quote) into
 * bytes. json-glib hands strings out NUL-terminated, which would cut the
 * vector that holds U+0000; this keeps the length. */
static gunichar
hex4 (const char *p)
{
  char b[5] = { p[0], p[1], p[2], p[3], 0 };
  return (gunichar) g_ascii_strtoull (b, NULL, 16);
}

static GByteArray *
json_string_bytes (const char *p)
{
  GByteArray *out = g_byte_array_new ();
  while (*p && *p != '"')
    {
      if (*p != '\\')
        {
          g_byte_array_append (out, (const guint8 *) p++, 1);
          continue;
        }
      p++;
      gunichar c;
      switch (*p)
        {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u':
          {
            c = hex4 (p + 1);
            p += 4;
            if (c >= 0xD800 && c < 0xDC00 && p[1] == '\\' && p[2] == 'u')
              {
                gunichar lo = hex4 (p + 3);
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
              }
            break;
          }
        default: c = (gunichar) (guchar) *p; break;
        }
      p++;
      char u[8];
      g_byte_array_append (out, (const guint8 *) u, (guint) g_unichar_to_utf8 (c, u));
    }
  return out;
}

static GPtrArray *
read_jsonl (const char *path)
{
  g_autofree char *all = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &all, NULL, &error))
    {
      fprintf (stderr, "test-tokenizer: %s\n", error->message);
      exit (1);
    }
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) split = g_strsplit (all, "\n", -1);
  for (char **l = split; *l; l++)
    if (**l)
      g_ptr_array_add (lines, g_strdup (*l));
  return lines;
}

static JsonObject *
parse_line (JsonParser *parser, const char *line)
{
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_data (parser, line, -1, &error))
    {
      fprintf (stderr, "test-tokenizer: bad JSON line: %s\n", error->message);
      exit (1);
    }
  return json_node_get_object (json_parser_get_root (parser));
}

static int32_t *
int_array (JsonArray *a, int *n)
{
  *n = (int) json_array_get_length (a);
  int32_t *v = g_new (int32_t, *n + 1);
  for (int i = 0; i < *n; i++)
    v[i] = (int32_t) json_array_get_int_element (a, (guint) i);
  return v;
}

static char *
ids_str (const int32_t *ids, int n)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i ? " " : "", ids[i]);
  g_string_append (s, "]");
  return g_string_free (s, FALSE);
}

static char *
detok (const int32_t *ids, int n, uint32_t flags, magvlt_status *st)
{
  size_t len = 0;
  *st = magvlt_detokenize (model, ids, n, flags, NULL, 0, &len);
  if (*st != MAGVLT_OK)
    return g_strdup_printf ("<%s: %s>", magvlt_status_str (*st), magvlt_last_error ());
  char *buf = g_malloc (len + 1);
  *st = magvlt_detokenize (model, ids, n, flags, buf, len + 1, NULL);
  return buf;
}

static void
check_decode (const char *name, const char *what, const int32_t *ids, int n, uint32_t flags,
              const char *want)
{
  magvlt_status st;
  g_autofree char *got = detok (ids, n, flags, &st);
  if (st == MAGVLT_OK && strcmp (got, want) == 0)
    check (true, "%s: %s '%s'", name, what, want);
  else
    check (false, "%s: %s is '%s', the reference '%s'", name, what, got, want);
}

/* ---- the public vectors --------------------------------------------------- */

static void
check_public (const char *line, int index)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_line (parser, line);
  JsonObject *mv = json_object_get_object_member (o, "magvlt");
  g_autoptr (GByteArray) text = json_string_bytes (strstr (line, "\"text\": \"") + 9);
  g_autofree char *name =
    g_strdup_printf ("public %d (%s)", index, json_object_get_string_member (o, "kind"));
  int n_ref, n_want;
  g_autofree int32_t *ref = int_array (json_object_get_array_member (o, "ids"), &n_ref);
  g_autofree int32_t *want = int_array (json_object_get_array_member (mv, "ids_with_eot"), &n_want);
  JsonArray *tokens = json_object_get_array_member (o, "tokens");
  bool want_fallback = !json_object_get_null_member (o, "encode_error");
  int want_n_txt = (int) json_object_get_int_member (mv, "n_txt");
  int want_mask = (int) json_object_get_int_member (mv, "mask_ones");
  bool want_trunc = json_object_get_boolean_member (mv, "truncated");

  int32_t ids[T_MAX];
  magvlt_tokenize_result r;
  magvlt_status st = magvlt_tokenize (model, (const char *) text->data, text->len, ids, T_MAX, &r);
  if (st != MAGVLT_OK)
    {
      check (false, "%s: magvlt_tokenize: %s: %s", name, magvlt_status_str (st),
             magvlt_last_error ());
      return;
    }

  /* ids: the reference's ids_with_eot, then end-of-text padding to T */
  bool ids_ok = n_want <= text_len;
  for (int i = 0; ids_ok && i < text_len; i++)
    ids_ok = ids[i] == (i < n_want ? want[i] : eot_id);
  g_autofree char *got_s = ids_str (ids, r.n_txt < text_len ? r.n_txt : text_len);
  g_autofree char *want_s = ids_str (want, n_want);
  check (ids_ok, "%s: ids %s%s%s", name, got_s, ids_ok ? "" : ", the reference ",
         ids_ok ? "" : want_s);

  int want_tokens = n_ref < text_len ? n_ref : text_len;
  check (r.n_tokens == want_tokens && r.n_txt == want_n_txt && r.n_mask == want_mask
           && r.fallback == want_fallback && r.truncated == want_trunc,
         "%s: n_tokens %d n_txt %d mask %d fallback %d truncated %d (reference %d %d %d %d %d)",
         name, r.n_tokens, r.n_txt, r.n_mask, r.fallback, r.truncated, want_tokens, want_n_txt,
         want_mask, want_fallback, want_trunc);

  /* token strings, as magvlt tokenize --json prints them */
  bool tokens_ok = (int) json_array_get_length (tokens) == n_ref;
  for (int i = 0; tokens_ok && i < want_tokens; i++)
    {
      const char *t = magvlt_token_get_text (model, ids[i]);
      tokens_ok = t && strcmp (t, json_array_get_string_element (tokens, (guint) i)) == 0;
    }
  check (tokens_ok, "%s: token strings", name);

  /* decode of the untruncated reference ids; the official caption of the
   * padded ids */
  check_decode (name, "decoded", ref, n_ref, 0, json_object_get_string_member (o, "decoded"));
  JsonNode *cap = json_object_get_member (mv, "token2txt_main");
  const char *want_cap = JSON_NODE_HOLDS_NULL (cap) ? "" : json_node_get_string (cap);
  check_decode (name, "caption", want, n_want, MAGVLT_DETOKENIZE_CAPTION, want_cap);
}

static void
check_decode_extra (const char *line, int index)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_line (parser, line);
  g_autofree char *name =
    g_strdup_printf ("decode %d (%s)", index, json_object_get_string_member (o, "note"));
  int n;
  g_autofree int32_t *ids = int_array (json_object_get_array_member (o, "ids"), &n);
  check_decode (name, "HF decode", ids, n, MAGVLT_DETOKENIZE_KEEP_EOT,
                json_object_get_string_member (o, "decoded"));
  check_decode (name, "token2txt", ids, n, 0,
                json_object_get_string_member (o, "decoded_after_eot_cut"));
  JsonNode *cap = json_object_get_member (o, "token2txt_main");
  const char *want_cap = JSON_NODE_HOLDS_NULL (cap) ? "" : json_node_get_string (cap);
  check_decode (name, "caption", ids, n, MAGVLT_DETOKENIZE_CAPTION, want_cap);
}

/* ---- bad and odd inputs --------------------------------------------------- */

typedef struct {
  magvlt_status st;
  int32_t ids[T_MAX];
  magvlt_tokenize_result r;
} encoded;

static encoded *
encode (const char *text, size_t len)
{
  encoded *e = g_new0 (encoded, 1);
  e->st = magvlt_tokenize (model, text, len, e->ids, T_MAX, &e->r);
  return e;
}

static bool
same_encoding (const encoded *a, const encoded *b)
{
  return a->st == MAGVLT_OK && b->st == MAGVLT_OK
         && memcmp (a->ids, b->ids, (size_t) text_len * sizeof (int32_t)) == 0
         && memcmp (&a->r, &b->r, sizeof a->r) == 0;
}

static bool
is_empty_encoding (const encoded *e, bool fallback)
{
  bool ok = e->st == MAGVLT_OK && e->r.n_tokens == 0 && e->r.n_txt == 1 && e->r.n_mask == 1
            && e->r.fallback == fallback && !e->r.truncated;
  for (int i = 0; ok && i < text_len; i++)
    ok = e->ids[i] == eot_id;
  return ok;
}

static void
check_invalid_utf8 (const char *what, const char *bytes, size_t len, const char *offset)
{
  g_autofree encoded *e = encode (bytes, len);
  check (e->st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "not valid UTF-8")
           && strstr (magvlt_last_error (), offset),
         "invalid UTF-8 (%s) is refused: %s", what, magvlt_last_error ());
}

static void
check_bad_inputs (void)
{
  check_invalid_utf8 ("a lone 0xff", "a cat\xff", 6, "offset 5");
  check_invalid_utf8 ("a truncated sequence", "caf\xc3", 4, "offset 3");
  check_invalid_utf8 ("an overlong '/'", "\xc0\xaf", 2, "offset 0");
  check_invalid_utf8 ("a surrogate", "ab\xed\xa0\x80", 5, "offset 2");
  check_invalid_utf8 ("above U+10FFFF", "\xf4\x90\x80\x80", 4, "offset 0");
  check_invalid_utf8 ("a NUL inside a sequence", "\xc3\x00", 2, "offset 0");

  /* NUL bytes are U+0000, which the normaliser deletes */
  g_autofree encoded *nul = encode ("a c\0at", 6), *plain = encode ("a cat", 5);
  check (same_encoding (nul, plain), "an embedded NUL is deleted: \"a c\\0at\" = \"a cat\"");
  g_autofree encoded *nuls = encode ("\0\0\0", 3);
  check (is_empty_encoding (nuls, false), "only NUL bytes: no tokens, n_txt 1");

  /* categories Cf (soft hyphen, ZWSP), Co (private use) and Cn (unassigned,
   * noncharacters) are deleted, not out-of-vocabulary characters */
  const char deleted[] = "a c\xc2\xad\xe2\x80\x8b"
                         "a\xee\x80\x80"
                         "t\xef\xbf\xbf\xf3\xb0\x80\x80";
  g_autofree encoded *del = encode (deleted, sizeof deleted - 1);
  check (same_encoding (del, plain),
         "U+00AD, U+200B, U+E000, U+FFFF, U+F0000 are deleted: \"a cat\" without fallback");

  g_autofree encoded *empty = encode (NULL, 0);
  check (is_empty_encoding (empty, false), "NULL text of length 0: no tokens");
  const char spaces[] = " \t\n\r\xc2\xa0\xe3\x80\x80\xe2\x80\xa8 ";
  g_autofree encoded *ws = encode (spaces, sizeof spaces - 1);
  check (is_empty_encoding (ws, false), "only whitespace (incl. U+00A0, U+3000, U+2028)");
  const char emoji[] = "\xf0\x9f\x91\x8d\xf0\x9f\x90\xb1\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5";
  g_autofree encoded *em = encode (emoji, sizeof emoji - 1);
  check (is_empty_encoding (em, true), "only emoji: fallback, no tokens, n_txt 1");

  /* 1 MB: a repeated caption, one long word, and emoji */
  const char *unit = "a photo of a cat on a mat. ";
  GString *big = g_string_new (NULL);
  while (big->len < (1u << 20))
    g_string_append (big, unit);
  gint64 t0 = g_get_monotonic_time ();
  g_autofree encoded *e1 = encode (big->str, big->len);
  double ms = (double) (g_get_monotonic_time () - t0) / 1000.0;
  g_autofree encoded *e2 = encode (unit, strlen (unit));
  bool ok = e1->st == MAGVLT_OK && e1->r.n_tokens == text_len && e1->r.n_txt == text_len + 1
            && e1->r.truncated && !e1->r.fallback && e2->st == MAGVLT_OK;
  for (int i = 0; ok && i < text_len; i++)
    ok = e1->ids[i] == e2->ids[i % e2->r.n_tokens];
  check (ok, "a 1 MB caption: the first %d tokens, truncated (%.1f ms)", text_len, ms);

  memset (big->str, 'a', big->len);
  t0 = g_get_monotonic_time ();
  g_autofree encoded *e3 = encode (big->str, big->len);
  ms = (double) (g_get_monotonic_time () - t0) / 1000.0;
  check (e3->st == MAGVLT_OK && e3->r.n_tokens == text_len && e3->r.truncated,
         "a 1 MB single word: %d tokens, truncated (%.1f ms)", e3->r.n_tokens, ms);

  g_string_truncate (big, 0);
  while (big->len < (1u << 20))
    g_string_append (big, "\xf0\x9f\x98\x80 caf\xc3\xa9 ");
  g_autofree encoded *e4 = encode (big->str, big->len);
  g_autofree encoded *e5 = encode (" caf ", 5);
  ok = e4->st == MAGVLT_OK && e4->r.fallback && e4->r.truncated && e5->st == MAGVLT_OK;
  for (int i = 0; ok && i < text_len; i++)
    ok = e4->ids[i] == e5->ids[0];
  check (ok, "1 MB of emoji and accents: fallback keeps 'caf' only");

  g_string_set_size (big, (4u << 20) + 1);
  memset (big->str, 'a', big->len);
  g_autofree encoded *e6 = encode (big->str, big->len);
  check (e6->st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "limit"),
         "text over 4 MiB is refused: %s", magvlt_last_error ());
  g_string_free (big, TRUE);

  /* arguments */
  int32_t ids[T_MAX];
  magvlt_tokenize_result r;
  check (magvlt_tokenize (model, "a", 1, ids, text_len - 1, &r) == MAGVLT_ERR_INVALID_ARG
           && strstr (magvlt_last_error (), "text length is 64"),
         "too small an id buffer is refused: %s", magvlt_last_error ());
  check (magvlt_tokenize (NULL, "a", 1, ids, T_MAX, &r) == MAGVLT_ERR_INVALID_ARG
           && magvlt_tokenize (model, NULL, 1, ids, T_MAX, &r) == MAGVLT_ERR_INVALID_ARG
           && magvlt_tokenize (model, "a", 1, NULL, T_MAX, &r) == MAGVLT_ERR_INVALID_ARG
           && magvlt_tokenize (model, "a", 1, ids, T_MAX, NULL) == MAGVLT_ERR_INVALID_ARG,
         "NULL arguments are refused");

  /* lowercase is per character and locale-free: İ becomes i + U+0307 (not
   * in the vocabulary: fallback), final Σ is not special */
  g_autofree encoded *dotted = encode ("\xc4\xb0stanbul", 9);
  g_autofree encoded *stanbul = encode ("stanbul", 7);
  check (dotted->r.fallback && memcmp (dotted->ids, stanbul->ids, 64 * sizeof (int32_t)) == 0,
         "İstanbul falls back to 'stanbul' (full lowercase İ → i + U+0307)");
}

/* ---- the detokenizer's buffer contract ---------------------------------- */

static void
check_detokenize_api (void)
{
  int32_t cafe[2] = { 3471, 421 }; /* "caf" "é</w>" → "café" (5 bytes) */
  char buf[16];
  size_t len = 0;
  magvlt_status st = magvlt_detokenize (model, cafe, 2, 0, NULL, 0, &len);
  check (st == MAGVLT_OK && len == 5, "detokenize with no buffer reports the length (%zu)", len);
  memset (buf, 'x', sizeof buf);
  st = magvlt_detokenize (model, cafe, 2, 0, buf, 5, &len);
  check (st == MAGVLT_OK && len == 5 && strcmp (buf, "caf") == 0,
         "a short buffer is cut at a character boundary: '%s'", buf);
  st = magvlt_detokenize (model, cafe, 2, 0, buf, 6, &len);
  check (st == MAGVLT_OK && strcmp (buf, "caf\xc3\xa9") == 0, "an exact buffer holds it all");
  st = magvlt_detokenize (model, cafe, 2, 0x80, buf, sizeof buf, &len);
  check (st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "unknown flags"),
         "unknown flags are refused: %s", magvlt_last_error ());
  st = magvlt_detokenize (model, cafe, -1, 0, buf, sizeof buf, &len);
  check (st == MAGVLT_ERR_INVALID_ARG, "a negative count is refused: %s", magvlt_last_error ());
  st = magvlt_detokenize (model, NULL, 0, MAGVLT_DETOKENIZE_CAPTION, buf, sizeof buf, &len);
  check (st == MAGVLT_OK && len == 0 && buf[0] == '\0', "no ids: the empty caption \"\"");
  int32_t neg[3] = { -5, 320, 49408 };
  st = magvlt_detokenize (model, neg, 3, 0, buf, sizeof buf, &len);
  check (st == MAGVLT_OK && strcmp (buf, "a") == 0, "ids outside the vocabulary are skipped");

  /* the official post_caption crashes on these; here they give "" */
  const char *crashers[] = { "...", "-", "", "   ", "!!!", "<>", "- / -" };
  for (size_t i = 0; i < G_N_ELEMENTS (crashers); i++)
    {
      int32_t ids[T_MAX];
      magvlt_tokenize_result r;
      magvlt_tokenize (model, crashers[i], strlen (crashers[i]), ids, T_MAX, &r);
      magvlt_status s2;
      g_autofree char *cap = detok (ids, text_len, MAGVLT_DETOKENIZE_CAPTION, &s2);
      bool want_empty = strcmp (crashers[i], "!!!") != 0;
      check (s2 == MAGVLT_OK && (want_empty ? cap[0] == '\0' : strcmp (cap, "! .") == 0),
             "caption of '%s' is '%s'", crashers[i], cap);
    }

  /* pre_caption's lstrip(",.!?*#:;~") only strips the first character here,
   * as the pieces are space-separated; '<person>' and '< person >' become
   * 'person' */
  const struct {
    const char *text, *caption;
  } captions[] = {
    { ", a cat", "a cat ." },      { "~ a cat", "a cat ." },
    { "*#: x", "# : x ." },        { "a <person> on a horse", "a person on a horse ." },
    { "a dog. a dog", "a dog ." }, { "x-ray / a-ha", "x ray a ha ." },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (captions); i++)
    {
      int32_t ids[T_MAX];
      magvlt_tokenize_result r;
      magvlt_tokenize (model, captions[i].text, strlen (captions[i].text), ids, T_MAX, &r);
      magvlt_status s2;
      g_autofree char *cap = detok (ids, text_len, MAGVLT_DETOKENIZE_CAPTION, &s2);
      check (s2 == MAGVLT_OK && strcmp (cap, captions[i].caption) == 0,
             "caption of '%s' is '%s' (want '%s')", captions[i].text, cap, captions[i].caption);
    }

  magvlt_tokenizer_info info;
  st = magvlt_tokenizer_get_info (model, &info);
  check (st == MAGVLT_OK && info.vocab_size == 49408 && info.n_merges == 48894
           && info.text_len == 64 && info.eot_id == 49407
           && strcmp (info.end_of_word_suffix, "</w>") == 0 && info.lowercase
           && strcmp (info.model, "char_bpe") == 0,
         "tokenizer info: %s, %d entries, %d merges", info.model, info.vocab_size, info.n_merges);
  check (magvlt_token_get_text (model, 49407)
           && !strcmp (magvlt_token_get_text (model, 49407), "<|endoftext|>")
           && magvlt_token_get_text (model, 49408) == NULL
           && magvlt_token_get_text (model, -1) == NULL,
         "magvlt_token_get_text: 49407 is <|endoftext|>, 49408 and -1 are NULL");
}

/* ---- BPE: the priority queue against the naive reference ---------------- */

static int32_t
symbol (const mv_tokenizer *tok, gunichar c, bool last)
{
  char buf[16];
  int n = g_unichar_to_utf8 (c, buf);
  if (last)
    {
      memcpy (buf + n, "</w>", 4);
      n += 4;
    }
  return mv_tokenizer_lookup (tok, buf, (size_t) n);
}

static void
check_bpe (void)
{
  const mv_tokenizer *tok = model->tokenizer;
  const char *alphabet = "etaoinshrdlucmfwypvbgkqjxz0123456789";
  GRand *rng = g_rand_new_with_seed (42);
  int n_words = 20000, n_diff = 0, longest = 5000;
  int32_t *a = g_new (int32_t, longest), *b = g_new (int32_t, longest);
  void *work = g_malloc (mv_tokenizer_bpe_work_size (longest));
  for (int w = 0; w < n_words; w++)
    {
      int n = w == 0 ? longest : g_rand_int_range (rng, 1, w % 100 == 0 ? 200 : 20);
      /* few letters make long merge chains; repeats make ties */
      int span = g_rand_int_range (rng, 1, (int) strlen (alphabet));
      for (int i = 0; i < n; i++)
        a[i] = symbol (tok, (gunichar) alphabet[g_rand_int_range (rng, 0, span)], i == n - 1);
      memcpy (b, a, (size_t) n * sizeof *a);
      int na = mv_tokenizer_bpe (tok, a, n, work);
      int nb = mv_tokenizer_bpe_naive (tok, b, n);
      if (na != nb || memcmp (a, b, (size_t) na * sizeof *a) != 0)
        {
          if (n_diff++ < 3)
            printf ("     word %d (%d symbols): %d ids, the reference %d\n", w, n, na, nb);
        }
    }
  check (n_diff == 0, "BPE priority queue = naive reference on %d random words (%d differ)",
         n_words, n_diff);
  g_free (a);
  g_free (b);
  g_free (work);
  g_rand_free (rng);

  int32_t rank = -1;
  int32_t merged = mv_tokenizer_merge (tok, mv_tokenizer_lookup (tok, "i", 1),
                                       mv_tokenizer_lookup (tok, "n", 1), &rank);
  check (merged == mv_tokenizer_lookup (tok, "in", 2) && rank == 0,
         "merge rank 0 is 'i n' → 'in' (%d)", merged);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct {
  GPtrArray *texts;
  int32_t *expected; /* [n_texts, T] */
  int rounds;
  int mismatches;
} thread_job;

static gpointer
thread_run (gpointer data)
{
  thread_job *job = data;
  int32_t ids[T_MAX];
  magvlt_tokenize_result r;
  for (int k = 0; k < job->rounds; k++)
    for (guint i = 0; i < job->texts->len; i++)
      {
        GByteArray *t = g_ptr_array_index (job->texts, i);
        if (magvlt_tokenize (model, (const char *) t->data, t->len, ids, T_MAX, &r) != MAGVLT_OK
            || memcmp (ids, job->expected + (size_t) i * text_len, (size_t) text_len * sizeof *ids))
          job->mismatches++;
      }
  return NULL;
}

static void
check_threads (GPtrArray *lines)
{
  GPtrArray *texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  int32_t *expected = g_new (int32_t, (size_t) lines->len * text_len);
  for (guint i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);
      GByteArray *t = json_string_bytes (strstr (line, "\"text\": \"") + 9);
      g_ptr_array_add (texts, t);
      magvlt_tokenize_result r;
      magvlt_tokenize (model, (const char *) t->data, t->len, expected + (size_t) i * text_len,
                       text_len, &r);
    }
  thread_job jobs[4];
  GThread *threads[4];
  for (int i = 0; i < 4; i++)
    {
      jobs[i] = (thread_job){ .texts = texts, .expected = expected, .rounds = 30 };
      threads[i] = g_thread_new ("tokenize", thread_run, &jobs[i]);
    }
  int mismatches = 0;
  for (int i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      mismatches += jobs[i].mismatches;
    }
  check (mismatches == 0, "4 threads tokenizing with one model agree with one thread (%d differ)",
         mismatches);
  g_free (expected);
  g_ptr_array_unref (texts);
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    {
      fprintf (stderr, "usage: test-tokenizer MODEL.gguf public.jsonl decode_extra.jsonl\n");
      return 2;
    }
  magvlt_model *m = NULL;
  if (magvlt_model_load (argv[1], NULL, &m) != MAGVLT_OK)
    {
      fprintf (stderr, "test-tokenizer: %s\n", magvlt_last_error ());
      return 1;
    }
  model = m;
  magvlt_model_info info;
  magvlt_model_get_info (model, &info);
  text_len = info.ctx_len_txt;
  eot_id = info.text_eot_id;

  g_autoptr (GPtrArray) pub = read_jsonl (argv[2]);
  g_autoptr (GPtrArray) extra = read_jsonl (argv[3]);
  check (pub->len == 66 && extra->len == 9, "%u public vectors, %u decode vectors", pub->len,
         extra->len);
  for (guint i = 0; i < pub->len; i++)
    check_public (g_ptr_array_index (pub, i), (int) i);
  for (guint i = 0; i < extra->len; i++)
    check_decode_extra (g_ptr_array_index (extra, i), (int) i);
  check_bad_inputs ();
  check_detokenize_api ();
  check_bpe ();
  check_threads (pub);

  magvlt_model_free (m);
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
