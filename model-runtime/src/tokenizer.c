/* tokenizer.c — MAGVLT's text tokenizer and detokenizer (spec §5), byte-exact
 * with HuggingFace's Rust `tokenizers` configured as the official code
 * configures it: CharBPETokenizer(vocab, merges, unk_token="[UNK]",
 * lowercase=True), where "[UNK]" is not in the vocabulary, so a character
 * outside it makes the encode fail and MAGVLT's wrapper encodes the text
 * again without its non-ASCII characters.
 * SPDX-License-Identifier: MIT
 *
 * Encoding, per attempt:
 *   1. normalise (BertNormalizer: clean_text, handle_chinese_chars, no accent
 *      stripping; then Lowercase), one code point at a time:
 *        U+0000, U+FFFD and categories Cc Cf Cn Co Cs except \t \n \r: deleted
 *        (so U+000B, U+000C, U+0085, U+001C..U+001F are deleted, not spaces);
 *        \t \n \r and categories Zs Zl Zp (= the other White_Space chars): ' ';
 *        CJK ideographs: ' ' c ' ';
 *        lowercase: Rust's char::to_lowercase, i.e. the simple mapping
 *        (g_unichar_tolower) except U+0130 -> "i" U+0307, the one
 *        unconditional multi-character lowercase mapping of SpecialCasing.txt.
 *        GLib's g_utf8_strdown is not used: it follows the process locale
 *        (Turkish, Lithuanian) and applies the final-sigma rule.
 *   2. pre-tokenise (BertPreTokenizer): split on whitespace, isolate every
 *      punctuation code point (ASCII punctuation or a P* category).
 *   3. BPE each word: one symbol per code point, the end-of-word suffix
 *      appended to the last; every symbol must be in the vocabulary (else the
 *      attempt fails); then merge the leftmost lowest-rank pair until no pair
 *      has a merge.
 * Unicode properties come from GLib (its tables follow the Unicode version of
 * the installed GLib; see FORMAT.md for what that means at the edges).
 *
 * Only the first T + 1 ids are ever needed, so once every symbol of the text
 * is known to be in the vocabulary, BPE stops at the word that takes the
 * count past T. */
#include "tokenizer.h"

#include "model.h"
#include "status.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_SUFFIX 64
/* bytes accepted by magvlt_tokenize: bounds the memory of one call (about
 * 8 bytes per byte, plus 68 per character of the longest word) */
#define TOK_MAX_TEXT (4u << 20)
#define TOK_CHAR_TABLE 0x800 /* code points with a direct symbol table (1-2 byte UTF-8) */

typedef struct {
  uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
  int32_t rank;
  int32_t merged;
} merge_slot;

struct mv_tokenizer {
  int32_t n_vocab;
  char *pool;       /* every entry NUL-terminated, in id order */
  uint32_t *offset; /* [n_vocab + 1] into pool */

  int32_t *vocab_slots; /* open addressing: id or -1 */
  uint32_t vocab_mask;

  merge_slot *merge_slots;
  uint32_t merge_mask;
  int32_t n_merges;

  /* symbol ids of code points < TOK_CHAR_TABLE alone and with the suffix
   * (-1: not in the vocabulary), so most lookups skip the hash */
  int32_t *char_id;
  int32_t *char_id_eow;

  char suffix[TOK_MAX_SUFFIX];
  size_t suffix_len;
  bool lowercase;
  int32_t eot_id;
  int32_t text_len;
};

/* ---- hashing -------------------------------------------------------------- */

static uint32_t
hash_bytes (const char *s, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t) s[i]) * 0x100000001b3ull;
  return (uint32_t) (h ^ (h >> 32));
}

static uint32_t
hash_pair (uint64_t key)
{
  key ^= key >> 33; /* murmur3 finaliser */
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  key ^= key >> 33;
  return (uint32_t) key;
}

/* A power of two with room for n entries at a load factor <= 1/2. */
static uint32_t
table_size (uint32_t n)
{
  uint32_t size = 16;
  while (size < 2 * n)
    size *= 2;
  return size;
}

static const char *
entry (const mv_tokenizer *tok, int32_t id, size_t *len)
{
  *len = tok->offset[id + 1] - tok->offset[id] - 1;
  return tok->pool + tok->offset[id];
}

int32_t
mv_tokenizer_lookup (const mv_tokenizer *tok, const char *s, size_t len)
{
  for (uint32_t i = hash_bytes (s, len) & tok->vocab_mask;; i = (i + 1) & tok->vocab_mask)
    {
      int32_t id = tok->vocab_slots[i];
      if (id < 0)
        return -1;
      size_t n;
      const char *e = entry (tok, id, &n);
      if (n == len && memcmp (e, s, len) == 0)
        return id;
    }
}

static uint64_t
pair_key (int32_t left, int32_t right)
{
  return (uint64_t) (uint32_t) left << 32 | (uint32_t) right;
}

int32_t
mv_tokenizer_merge (const mv_tokenizer *tok, int32_t left, int32_t right, int32_t *rank)
{
  uint64_t key = pair_key (left, right);
  for (uint32_t i = hash_pair (key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask)
    {
      const merge_slot *s = &tok->merge_slots[i];
      if (s->key == UINT64_MAX)
        return -1;
      if (s->key == key)
        {
          if (rank)
            *rank = s->rank;
          return s->merged;
        }
    }
}

/* ---- loading -------------------------------------------------------------- */

static const char KEY_MODEL[] = "magvlt.tokenizer.model";
static const char KEY_VOCAB[] = "magvlt.tokenizer.vocab";
static const char KEY_MERGES[] = "magvlt.tokenizer.merges";
static const char KEY_SUFFIX[] = "magvlt.tokenizer.end_of_word_suffix";
static const char KEY_LOWERCASE[] = "magvlt.tokenizer.lowercase";

/* Walks a GGUF array of strings. gguf_parse has bounds-checked every
 * element; the checks here only keep this walker safe on its own. */
typedef struct {
  const uint8_t *p, *end;
} str_iter;

static bool
str_next (str_iter *it, const char **s, size_t *len)
{
  if (it->end - it->p < 8)
    return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = (n << 8) | it->p[i];
  it->p += 8;
  if (n > (uint64_t) (it->end - it->p))
    return false;
  *s = (const char *) it->p;
  *len = (size_t) n;
  it->p += n;
  return true;
}

static magvlt_status
get_str_array (const gguf_file *f, const char *key, str_iter *it, uint64_t *n)
{
  const gguf_kv *kv = gguf_find_kv (f, key);
  if (!kv)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "required key '%s' is missing (the file has %s, so it must have every "
                    "magvlt.tokenizer.* key)",
                    key, KEY_MODEL);
  if (kv->type != GGUF_TYPE_ARRAY || kv->v.arr.type != GGUF_TYPE_STRING)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s%s%s, expected an array of strings",
                    key, gguf_type_name (kv->type), kv->type == GGUF_TYPE_ARRAY ? " of " : "",
                    kv->type == GGUF_TYPE_ARRAY ? gguf_type_name (kv->v.arr.type) : "");
  it->p = kv->v.arr.data;
  it->end = f->buf + f->size;
  *n = kv->v.arr.n;
  return MAGVLT_OK;
}

/* A printable excerpt of an entry for messages (bytes as they are; at most
 * 40 of them). */
static int
excerpt_len (size_t len)
{
  return len > 40 ? 40 : (int) len;
}

static bool
valid_text (const char *s, size_t len)
{
  return memchr (s, '\0', len) == NULL && g_utf8_validate (s, (gssize) len, NULL);
}

static magvlt_status
load_vocab (mv_tokenizer *tok, const gguf_file *f, int32_t vocab_size)
{
  str_iter it;
  uint64_t n;
  magvlt_status st = get_str_array (f, KEY_VOCAB, &it, &n);
  if (st != MAGVLT_OK)
    return st;
  if (n != (uint64_t) vocab_size)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s has %llu entries but magvlt.vocab_size_txt is %d; HINT: the tokenizer "
                    "and the text embedding must come from the same model",
                    KEY_VOCAB, (unsigned long long) n, vocab_size);

  /* sizes first, then one pool */
  str_iter scan = it;
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; i++)
    {
      const char *s;
      size_t len;
      if (!str_next (&scan, &s, &len))
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: entry %llu runs past the end of the file",
                        KEY_VOCAB, (unsigned long long) i);
      if (len == 0)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: entry %llu is empty", KEY_VOCAB,
                        (unsigned long long) i);
      if (!valid_text (s, len))
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: entry %llu is not valid UTF-8 (or holds a NUL)",
                        KEY_VOCAB, (unsigned long long) i);
      total += len + 1;
    }
  if (total > UINT32_MAX)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: %llu bytes of entries (limit 4 GiB)", KEY_VOCAB,
                    (unsigned long long) total);

  tok->n_vocab = vocab_size;
  tok->pool = malloc ((size_t) total);
  tok->offset = malloc (((size_t) n + 1) * sizeof *tok->offset);
  tok->vocab_mask = table_size ((uint32_t) n) - 1;
  tok->vocab_slots = malloc (((size_t) tok->vocab_mask + 1) * sizeof *tok->vocab_slots);
  if (!tok->pool || !tok->offset || !tok->vocab_slots)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for a vocabulary of %llu entries",
                    (unsigned long long) n);
  memset (tok->vocab_slots, 0xff, ((size_t) tok->vocab_mask + 1) * sizeof *tok->vocab_slots);

  uint32_t at = 0;
  for (int32_t id = 0; id < vocab_size; id++)
    {
      const char *s = NULL;
      size_t len = 0;
      str_next (&it, &s, &len); /* cannot fail: the first pass read every entry */
      tok->offset[id] = at;
      memcpy (tok->pool + at, s, len);
      tok->pool[at + len] = '\0';
      at += (uint32_t) len + 1;

      uint32_t i = hash_bytes (s, len) & tok->vocab_mask;
      for (; tok->vocab_slots[i] >= 0; i = (i + 1) & tok->vocab_mask)
        {
          size_t other_len;
          const char *other = entry (tok, tok->vocab_slots[i], &other_len);
          if (other_len == len && memcmp (other, s, len) == 0)
            return mv_fail (MAGVLT_ERR_FORMAT,
                            "%s: entry %d '%.*s' repeats entry %d; every vocabulary entry must "
                            "be unique",
                            KEY_VOCAB, id, excerpt_len (len), s, tok->vocab_slots[i]);
        }
      tok->vocab_slots[i] = id;
    }
  tok->offset[vocab_size] = at;
  return MAGVLT_OK;
}

static magvlt_status
load_merges (mv_tokenizer *tok, const gguf_file *f)
{
  str_iter it;
  uint64_t n;
  magvlt_status st = get_str_array (f, KEY_MERGES, &it, &n);
  if (st != MAGVLT_OK)
    return st;
  if (n > (uint64_t) INT32_MAX / 2)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s has %llu entries (too many)", KEY_MERGES,
                    (unsigned long long) n);
  tok->n_merges = (int32_t) n;
  tok->merge_mask = table_size ((uint32_t) n) - 1;
  tok->merge_slots = malloc (((size_t) tok->merge_mask + 1) * sizeof *tok->merge_slots);
  if (!tok->merge_slots)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for %llu merges", (unsigned long long) n);
  for (uint32_t i = 0; i <= tok->merge_mask; i++)
    tok->merge_slots[i] = (merge_slot){ .key = UINT64_MAX };

  char *joined = NULL;
  size_t joined_cap = 0;
  for (int32_t rank = 0; rank < tok->n_merges; rank++)
    {
      const char *s;
      size_t len;
      if (!str_next (&it, &s, &len))
        {
          free (joined);
          return mv_fail (MAGVLT_ERR_FORMAT, "%s: entry %d runs past the end of the file",
                          KEY_MERGES, rank);
        }
      const char *space = memchr (s, ' ', len);
      size_t left_len = space ? (size_t) (space - s) : 0;
      if (!space || left_len == 0 || left_len + 1 == len
          || memchr (space + 1, ' ', len - left_len - 1))
        {
          free (joined);
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "%s: entry %d '%.*s' is not two symbols separated by one space",
                          KEY_MERGES, rank, excerpt_len (len), s);
        }
      if (len > joined_cap)
        {
          char *p = realloc (joined, len);
          if (!p)
            {
              free (joined);
              return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
            }
          joined = p;
          joined_cap = len;
        }
      memcpy (joined, s, left_len);
      memcpy (joined + left_len, space + 1, len - left_len - 1);
      int32_t left = mv_tokenizer_lookup (tok, s, left_len);
      int32_t right = mv_tokenizer_lookup (tok, space + 1, len - left_len - 1);
      int32_t merged = mv_tokenizer_lookup (tok, joined, len - 1);
      if (left < 0 || right < 0 || merged < 0)
        {
          const char *what = left < 0 ? s : right < 0 ? space + 1 : joined;
          size_t what_len = left < 0 ? left_len : right < 0 ? len - left_len - 1 : len - 1;
          magvlt_status fail_st = mv_fail (
            MAGVLT_ERR_FORMAT, "%s: entry %d '%.*s': %s '%.*s' is not in the vocabulary (%s)",
            KEY_MERGES, rank, excerpt_len (len), s,
            left < 0    ? "its left symbol"
            : right < 0 ? "its right symbol"
                        : "the merged symbol",
            excerpt_len (what_len), what, KEY_VOCAB);
          free (joined);
          return fail_st;
        }
      uint64_t key = pair_key (left, right);
      uint32_t i = hash_pair (key) & tok->merge_mask;
      for (; tok->merge_slots[i].key != UINT64_MAX; i = (i + 1) & tok->merge_mask)
        if (tok->merge_slots[i].key == key)
          {
            free (joined);
            return mv_fail (MAGVLT_ERR_FORMAT, "%s: entry %d '%.*s' repeats entry %d", KEY_MERGES,
                            rank, excerpt_len (len), s, tok->merge_slots[i].rank);
          }
      tok->merge_slots[i] = (merge_slot){ .key = key, .rank = rank, .merged = merged };
    }
  free (joined);
  return MAGVLT_OK;
}

static magvlt_status
build_char_tables (mv_tokenizer *tok)
{
  tok->char_id = malloc (2 * TOK_CHAR_TABLE * sizeof *tok->char_id);
  if (!tok->char_id)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  tok->char_id_eow = tok->char_id + TOK_CHAR_TABLE;
  for (uint32_t c = 0; c < TOK_CHAR_TABLE; c++)
    {
      char buf[8 + TOK_MAX_SUFFIX];
      int n = g_unichar_to_utf8 (c, buf);
      memcpy (buf + n, tok->suffix, tok->suffix_len);
      tok->char_id[c] = mv_tokenizer_lookup (tok, buf, (size_t) n);
      tok->char_id_eow[c] = mv_tokenizer_lookup (tok, buf, (size_t) n + tok->suffix_len);
    }
  return MAGVLT_OK;
}

static magvlt_status
load_into (mv_tokenizer *tok, const gguf_file *f, int32_t vocab_size)
{
  char model[64];
  magvlt_status st;
  const gguf_kv *kv;

  if ((st = gguf_get_str (f, KEY_MODEL, model, sizeof model)) != MAGVLT_OK)
    return st;
  if (strcmp (model, "char_bpe") != 0)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "%s is '%s'; this engine knows 'char_bpe' (HINT: update MAGVLT Studio)",
                    KEY_MODEL, model);

  if (!(kv = gguf_find_kv (f, KEY_SUFFIX)))
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", KEY_SUFFIX);
  if (kv->type != GGUF_TYPE_STRING)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s, expected string", KEY_SUFFIX,
                    gguf_type_name (kv->type));
  if (kv->v.s.len == 0 || kv->v.s.len >= TOK_MAX_SUFFIX
      || !valid_text (kv->v.s.ptr, (size_t) kv->v.s.len))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s must be 1 to %d bytes of UTF-8 without NUL (it is %llu bytes)", KEY_SUFFIX,
                    TOK_MAX_SUFFIX - 1, (unsigned long long) kv->v.s.len);
  tok->suffix_len = (size_t) kv->v.s.len;
  memcpy (tok->suffix, kv->v.s.ptr, tok->suffix_len);

  if (!(kv = gguf_find_kv (f, KEY_LOWERCASE)))
    return mv_fail (MAGVLT_ERR_FORMAT, "required key '%s' is missing", KEY_LOWERCASE);
  if (kv->type != GGUF_TYPE_BOOL)
    return mv_fail (MAGVLT_ERR_FORMAT, "key '%s' has type %s, expected bool", KEY_LOWERCASE,
                    gguf_type_name (kv->type));
  tok->lowercase = kv->v.u != 0;

  if ((st = load_vocab (tok, f, vocab_size)) != MAGVLT_OK
      || (st = load_merges (tok, f)) != MAGVLT_OK || (st = build_char_tables (tok)) != MAGVLT_OK)
    return st;
  return MAGVLT_OK;
}

magvlt_status
mv_tokenizer_load (const gguf_file *f, int32_t vocab_size, int32_t eot_id, int32_t text_len,
                   mv_tokenizer **out)
{
  *out = NULL;
  if (!gguf_find_kv (f, KEY_MODEL))
    {
      for (uint64_t i = 0; i < f->n_kv; i++)
        if (strncmp (f->kv[i].key, "magvlt.tokenizer.", 17) == 0)
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "key '%s' is present but '%s' is missing; a tokenizer needs every "
                          "magvlt.tokenizer.* key (FORMAT.md)",
                          f->kv[i].key, KEY_MODEL);
      return MAGVLT_OK;
    }
  mv_tokenizer *tok = calloc (1, sizeof *tok);
  if (!tok)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  tok->eot_id = eot_id;
  tok->text_len = text_len;
  magvlt_status st = load_into (tok, f, vocab_size);
  if (st != MAGVLT_OK)
    {
      mv_tokenizer_free (tok);
      return st;
    }
  *out = tok;
  return MAGVLT_OK;
}

void
mv_tokenizer_free (mv_tokenizer *tok)
{
  if (!tok)
    return;
  free (tok->pool);
  free (tok->offset);
  free (tok->vocab_slots);
  free (tok->merge_slots);
  free (tok->char_id);
  free (tok);
}

/* ---- Unicode classes ------------------------------------------------------ */

/* BertNormalizer's is_control: Cc Cf Cn Co Cs, but not \t \n \r. */
static bool
is_other (GUnicodeType t)
{
  return t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT || t == G_UNICODE_UNASSIGNED
         || t == G_UNICODE_PRIVATE_USE || t == G_UNICODE_SURROGATE;
}

/* White_Space minus its Cc members (deleted before this test) is exactly
 * Zs Zl Zp. */
static bool
is_separator (GUnicodeType t)
{
  return t == G_UNICODE_SPACE_SEPARATOR || t == G_UNICODE_LINE_SEPARATOR
         || t == G_UNICODE_PARAGRAPH_SEPARATOR;
}

static bool
is_cjk (uint32_t c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
         || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
         || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
         || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BertPreTokenizer's is_bert_punc: ASCII punctuation or a P* category. */
static bool
is_punct (uint32_t c)
{
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
           || (c >= 0x7B && c <= 0x7E);
  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONNECT_PUNCTUATION:
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION: return true;
    default: return false;
    }
}

/* Python's str.isspace (and re's \s): bidi classes WS, B, S or category Zs. */
static bool
is_py_space (uint32_t c)
{
  if (c < 0x80)
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || is_separator (g_unichar_type (c));
}

/* Rust's char::to_lowercase (and Python's str.lower, but for final sigma):
 * appends 1 or 2 code points. */
static size_t
lower_char (uint32_t c, uint32_t *out)
{
  if (c == 0x130) /* İ: SpecialCasing.txt's one unconditional 2-character lowercase */
    {
      out[0] = 'i';
      out[1] = 0x307;
      return 2;
    }
  out[0] = c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : g_unichar_tolower (c);
  return 1;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* Decodes one code point at s[*i] (NUL bytes included); false on invalid
 * UTF-8 (overlong, surrogate, > U+10FFFF, truncated), with *c = U+FFFD and
 * *i past the first byte, so a loop over unchecked bytes still ends. */
static bool
utf8_next (const char *s, size_t len, size_t *i, uint32_t *c)
{
  uint8_t b = (uint8_t) s[*i];
  if (b < 0x80)
    {
      *c = b;
      *i += 1;
      return true;
    }
  size_t left = len - *i;
  gunichar u = g_utf8_get_char_validated (s + *i, left > 8 ? 8 : (gssize) left);
  if (u == (gunichar) -1 || u == (gunichar) -2)
    {
      *c = 0xFFFD;
      *i += 1;
      return false;
    }
  *c = u;
  *i += (size_t) g_utf8_skip[b];
  return true;
}

static size_t
utf8_invalid_at (const char *s, size_t len)
{
  size_t i = 0;
  uint32_t c = 0;
  while (i < len)
    {
      size_t at = i;
      if (!utf8_next (s, len, &i, &c))
        return at;
    }
  return len;
}

/* ---- a growing byte buffer (no GString: libmagvlt uses GLib for Unicode
 * only) ---------------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  bool failed;
} strbuf;

static void
sb_add (strbuf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 64;
      while (cap < b->len + n + 1)
        cap *= 2;
      char *p = realloc (b->p, cap);
      if (!p)
        {
          b->failed = true;
          return;
        }
      b->p = p;
      b->cap = cap;
    }
  memcpy (b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void
sb_add_char (strbuf *b, uint32_t c)
{
  char u[8];
  sb_add (b, u, (size_t) g_unichar_to_utf8 (c, u));
}

/* ---- BPE -------------------------------------------------------------------- */

typedef struct {
  int32_t rank, pos;   /* heap order: lowest rank, then leftmost */
  int32_t left, right; /* the pair when pushed; stale once either changed */
  int32_t merged;
} bpe_item;

typedef struct {
  int32_t *prev, *next; /* -1 = none; a merged-away symbol has id -1 */
  bpe_item *heap;
  int32_t n_heap;
} bpe_work;

size_t
mv_tokenizer_bpe_work_size (int32_t n)
{
  /* prev, next; every merge pushes at most 2 items, plus n - 1 at the start */
  return 2 * (size_t) n * sizeof (int32_t) + 3 * (size_t) n * sizeof (bpe_item) + 16;
}

static bool
item_less (const bpe_item *a, const bpe_item *b)
{
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void
heap_push (bpe_work *w, bpe_item it)
{
  int32_t i = w->n_heap++;
  while (i > 0)
    {
      int32_t parent = (i - 1) / 2;
      if (!item_less (&it, &w->heap[parent]))
        break;
      w->heap[i] = w->heap[parent];
      i = parent;
    }
  w->heap[i] = it;
}

static bpe_item
heap_pop (bpe_work *w)
{
  bpe_item top = w->heap[0], last = w->heap[--w->n_heap];
  int32_t i = 0, n = w->n_heap;
  for (;;)
    {
      int32_t c = 2 * i + 1;
      if (c >= n)
        break;
      if (c + 1 < n && item_less (&w->heap[c + 1], &w->heap[c]))
        c++;
      if (!item_less (&w->heap[c], &last))
        break;
      w->heap[i] = w->heap[c];
      i = c;
    }
  if (n > 0)
    w->heap[i] = last;
  return top;
}

static void
push_pair (const mv_tokenizer *tok, bpe_work *w, const int32_t *ids, int32_t pos, int32_t right)
{
  bpe_item it = { .pos = pos, .left = ids[pos], .right = ids[right] };
  it.merged = mv_tokenizer_merge (tok, it.left, it.right, &it.rank);
  if (it.merged >= 0)
    heap_push (w, it);
}

int32_t
mv_tokenizer_bpe (const mv_tokenizer *tok, int32_t *ids, int32_t n, void *work)
{
  if (n < 2)
    return n;
  bpe_work w = { .prev = work };
  w.next = w.prev + n;
  w.heap = (bpe_item *) (((uintptr_t) (w.next + n) + 15) & ~(uintptr_t) 15);
  for (int32_t i = 0; i < n; i++)
    {
      w.prev[i] = i - 1;
      w.next[i] = i + 1 < n ? i + 1 : -1;
    }
  for (int32_t i = 0; i + 1 < n; i++)
    push_pair (tok, &w, ids, i, i + 1);

  while (w.n_heap > 0)
    {
      bpe_item it = heap_pop (&w);
      int32_t right = w.next[it.pos];
      if (ids[it.pos] != it.left || right < 0 || ids[right] != it.right)
        continue; /* stale: a neighbour was merged since */
      ids[it.pos] = it.merged;
      ids[right] = -1;
      w.next[it.pos] = w.next[right];
      if (w.next[right] >= 0)
        w.prev[w.next[right]] = it.pos;
      if (w.prev[it.pos] >= 0)
        push_pair (tok, &w, ids, w.prev[it.pos], it.pos);
      if (w.next[it.pos] >= 0)
        push_pair (tok, &w, ids, it.pos, w.next[it.pos]);
    }
  int32_t m = 0;
  for (int32_t i = 0; i >= 0; i = w.next[i])
    ids[m++] = ids[i];
  return m;
}

int32_t
mv_tokenizer_bpe_naive (const mv_tokenizer *tok, int32_t *ids, int32_t n)
{
  for (;;)
    {
      int32_t best = -1, best_rank = INT32_MAX, best_merged = -1;
      for (int32_t i = 0; i + 1 < n; i++)
        {
          int32_t rank, merged = mv_tokenizer_merge (tok, ids[i], ids[i + 1], &rank);
          if (merged >= 0 && rank < best_rank)
            {
              best = i;
              best_rank = rank;
              best_merged = merged;
            }
        }
      if (best < 0)
        return n;
      ids[best] = best_merged;
      memmove (ids + best + 1, ids + best + 2, (size_t) (n - best - 2) * sizeof *ids);
      n--;
    }
}

/* ---- encoding ----------------------------------------------------------------- */

typedef struct {
  uint32_t *cps; /* normalised code points */
  int32_t *sym;  /* initial symbol id per code point of a word (spaces: unset) */
  size_t n;
  void *bpe_work;
  size_t work_size;
  uint32_t oov; /* set when an attempt fails: the character outside the vocabulary */
} encoder;

/* Step 1: BertNormalizer + Lowercase. text is valid UTF-8; cps has room for
 * len code points: a character of k bytes gives at most k code points (İ:
 * 2 bytes, 2 code points; a CJK ideograph: 3 or 4 bytes, 3 code points). */
static size_t
normalize (const mv_tokenizer *tok, const char *text, size_t len, uint32_t *cps)
{
  size_t n = 0, i = 0;
  while (i < len)
    {
      uint32_t c = 0;
      utf8_next (text, len, &i, &c);
      if (c == '\t' || c == '\n' || c == '\r')
        {
          cps[n++] = ' ';
          continue;
        }
      if (c < 0x80 && c >= 0x20 && c < 0x7F) /* the common case */
        {
          cps[n++] = tok->lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c;
          continue;
        }
      if (c == 0 || c == 0xFFFD)
        continue;
      GUnicodeType t = g_unichar_type (c);
      if (is_other (t))
        continue;
      if (is_separator (t))
        {
          cps[n++] = ' ';
          continue;
        }
      bool cjk = is_cjk (c);
      if (cjk)
        cps[n++] = ' ';
      if (tok->lowercase)
        n += lower_char (c, cps + n);
      else
        cps[n++] = c;
      if (cjk)
        cps[n++] = ' ';
    }
  return n;
}

static int32_t
symbol_id (const mv_tokenizer *tok, uint32_t c, bool last)
{
  if (c < TOK_CHAR_TABLE)
    return last ? tok->char_id_eow[c] : tok->char_id[c];
  char buf[8 + TOK_MAX_SUFFIX];
  int n = g_unichar_to_utf8 (c, buf);
  if (last)
    {
      memcpy (buf + n, tok->suffix, tok->suffix_len);
      n += (int) tok->suffix_len;
    }
  return mv_tokenizer_lookup (tok, buf, (size_t) n);
}

/* The next word at or after *i (steps 2): [*start, *end); false at the end. */
static bool
next_word (const uint32_t *cps, size_t n, size_t *i, size_t *start, size_t *end)
{
  while (*i < n && cps[*i] == ' ') /* the normaliser turned every whitespace into ' ' */
    (*i)++;
  if (*i >= n)
    return false;
  *start = *i;
  if (is_punct (cps[*i]))
    (*i)++;
  else
    while (*i < n && cps[*i] != ' ' && !is_punct (cps[*i]))
      (*i)++;
  *end = *i;
  return true;
}

/* One encode attempt of valid UTF-8 text: the first min(count, cap) ids into
 * ids[0..*n_ids); *more when the text has further tokens. *oov (with
 * enc->oov) when a character is outside the vocabulary. */
static magvlt_status
encode_once (const mv_tokenizer *tok, encoder *enc, const char *text, size_t len, int32_t *ids,
             int32_t cap, int32_t *n_ids, bool *more, bool *oov)
{
  size_t i = 0, start, end, longest = 0;

  *n_ids = 0;
  *more = false;
  *oov = false;
  enc->n = normalize (tok, text, len, enc->cps);

  /* every symbol first: one unknown character anywhere fails the attempt */
  while (next_word (enc->cps, enc->n, &i, &start, &end))
    {
      for (size_t k = start; k < end; k++)
        if ((enc->sym[k] = symbol_id (tok, enc->cps[k], k + 1 == end)) < 0)
          {
            enc->oov = enc->cps[k];
            *oov = true;
            return MAGVLT_OK;
          }
      if (end - start > longest)
        longest = end - start;
    }
  if (longest > 1 && mv_tokenizer_bpe_work_size ((int32_t) longest) > enc->work_size)
    {
      free (enc->bpe_work);
      enc->work_size = mv_tokenizer_bpe_work_size ((int32_t) longest);
      if (!(enc->bpe_work = malloc (enc->work_size)))
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for a word of %zu characters", longest);
    }

  /* BPE word by word until the ids are past cap (each word gives >= 1 id) */
  int32_t count = 0;
  i = 0;
  while (next_word (enc->cps, enc->n, &i, &start, &end))
    {
      if (count == cap)
        {
          *more = true;
          break;
        }
      int32_t *word = enc->sym + start;
      int32_t m = mv_tokenizer_bpe (tok, word, (int32_t) (end - start), enc->bpe_work);
      for (int32_t k = 0; k < m; k++)
        {
          if (count == cap)
            {
              *more = true;
              break;
            }
          ids[count++] = word[k];
        }
    }
  *n_ids = count;
  return MAGVLT_OK;
}

static magvlt_status
no_tokenizer (const magvlt_model *model, const char *fn)
{
  return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                  "%s: %s: this model has no text tokenizer (no magvlt.tokenizer.* keys, "
                  "FORMAT.md); HINT: re-export it with a tokenizer",
                  model->path, fn);
}

magvlt_status
magvlt_tokenize (const magvlt_model *model, const char *text, size_t len, int32_t *ids,
                 int32_t n_ids_max, magvlt_tokenize_result *result)
{
  if (!model || !ids || !result || (!text && len > 0))
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_tokenize: %s is NULL",
                    !model    ? "model"
                    : !ids    ? "ids"
                    : !result ? "result"
                              : "text");
  const mv_tokenizer *tok = model->tokenizer;
  if (!tok)
    return no_tokenizer (model, "magvlt_tokenize");
  int32_t t = tok->text_len;
  if (n_ids_max < t)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_tokenize: ids has room for %d ids; the model's text length is %d",
                    n_ids_max, t);
  if (len > TOK_MAX_TEXT)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_tokenize: the text is %zu bytes; the limit is %u MiB (a prompt "
                    "keeps only its first %d tokens)",
                    len, TOK_MAX_TEXT >> 20, t);
  size_t bad = utf8_invalid_at (text, len);
  if (bad < len)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_tokenize: the text is not valid UTF-8: byte 0x%02x at offset %zu",
                    (uint8_t) text[bad], bad);

  /* each input byte gives at most one code point (see normalize) */
  encoder enc = { 0 };
  char *ascii = NULL;
  enc.cps = malloc ((len + 1) * sizeof *enc.cps);
  enc.sym = malloc ((len + 1) * sizeof *enc.sym);
  magvlt_status st = MAGVLT_OK;
  int32_t n = 0;
  bool more = false, oov = false, fallback = false;
  if (!enc.cps || !enc.sym)
    st = mv_fail (MAGVLT_ERR_NOMEM, "magvlt_tokenize: out of memory for %zu bytes of text", len);
  if (st == MAGVLT_OK)
    st = encode_once (tok, &enc, text, len, ids, t, &n, &more, &oov);
  if (st == MAGVLT_OK && oov)
    {
      /* MAGVLT's TokenizerUtils.get_input: delete every non-ASCII
       * character of the original text and encode again */
      uint32_t first_oov = enc.oov;
      size_t m = 0;
      fallback = true;
      if (!(ascii = malloc (len + 1)))
        st = mv_fail (MAGVLT_ERR_NOMEM, "magvlt_tokenize: out of memory");
      for (size_t i = 0; st == MAGVLT_OK && i < len; i++)
        if ((uint8_t) text[i] < 0x80)
          ascii[m++] = text[i];
      if (st == MAGVLT_OK)
        st = encode_once (tok, &enc, ascii, m, ids, t, &n, &more, &oov);
      if (st == MAGVLT_OK && oov)
        {
          char u[8];
          u[g_unichar_to_utf8 (enc.oov, u)] = '\0';
          st = mv_fail (MAGVLT_ERR_INVALID_ARG,
                        "magvlt_tokenize: '%s' (U+%04X) is not in the model's vocabulary, even "
                        "after removing the non-ASCII characters (the first unknown character "
                        "was U+%04X)",
                        u, enc.oov, first_oov);
        }
    }
  free (enc.cps);
  free (enc.sym);
  free (enc.bpe_work);
  free (ascii);
  if (st != MAGVLT_OK)
    return st;

  /* end of text, which also pads (spec §5.2 steps 5-6) */
  for (int32_t i = n; i < t; i++)
    ids[i] = tok->eot_id;
  int32_t first_eot = t;
  for (int32_t i = 0; i < t; i++)
    if (ids[i] == tok->eot_id)
      {
        first_eot = i;
        break;
      }
  *result = (magvlt_tokenize_result){
    .n_tokens = n,
    .n_txt = first_eot + 1,
    .n_mask = first_eot + 1 < t ? first_eot + 1 : t,
    .fallback = fallback,
    .truncated = more,
  };
  return MAGVLT_OK;
}

/* ---- decoding ------------------------------------------------------------------ */

/* HuggingFace decode(ids, skip_special_tokens=True) with BPEDecoder(suffix):
 * ids outside the vocabulary are skipped; in every token each occurrence of
 * the suffix becomes " ", or "" in the last token. */
static void
decode_ids (const mv_tokenizer *tok, const int32_t *ids, int32_t n, strbuf *out)
{
  int32_t last = -1;
  for (int32_t i = 0; i < n; i++)
    if (ids[i] >= 0 && ids[i] < tok->n_vocab)
      last = i;
  for (int32_t i = 0; i <= last; i++)
    {
      if (ids[i] < 0 || ids[i] >= tok->n_vocab)
        continue;
      size_t len, done = 0;
      const char *s = entry (tok, ids[i], &len);
      for (size_t k = 0; k + tok->suffix_len <= len;)
        if (memcmp (s + k, tok->suffix, tok->suffix_len) == 0)
          {
            sb_add (out, s + done, k - done);
            if (i != last)
              sb_add (out, " ", 1);
            k += tok->suffix_len;
            done = k;
          }
        else
          k++;
      sb_add (out, s + done, len - done);
    }
}

static bool
in_ascii_set (uint32_t c, const char *set)
{
  return c > 0 && c < 0x80 && strchr (set, (int) c) != NULL;
}

/* Replaces every non-overlapping `from` (ASCII) by the shorter `to`, left
 * to right, as Python's str.replace. */
static size_t
replace_ascii (uint32_t *a, size_t n, const char *from, const char *to)
{
  size_t nf = strlen (from), nt = strlen (to), w = 0;
  for (size_t i = 0; i < n;)
    {
      size_t k = 0;
      while (k < nf && i + k < n && a[i + k] == (uint8_t) from[k])
        k++;
      if (k == nf)
        {
          for (size_t j = 0; j < nt; j++)
            a[w++] = (uint8_t) to[j];
          i += nf;
        }
      else
        a[w++] = a[i++];
    }
  return w;
}

/* The official post_caption (branch main, spec §5.4 step 3), made safe:
 * a caption with no words gives "" where the official code raises
 * IndexError. */
static magvlt_status
post_caption (const char *s, size_t len, strbuf *out)
{
  uint32_t *a = malloc ((len + 1) * sizeof *a);
  if (!a)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  size_t n = 0, i = 0;

  /* pre_caption: lower() (each byte gives at most one code point), */
  while (i < len)
    {
      uint32_t c = 0;
      utf8_next (s, len, &i, &c);
      n += lower_char (c, a + n);
    }
  /* .lstrip(",.!?*#:;~"), */
  size_t skip = 0;
  while (skip < n && in_ascii_set (a[skip], ",.!?*#:;~"))
    skip++;
  memmove (a, a + skip, (n - skip) * sizeof *a);
  n -= skip;
  /* .replace("-", " ").replace("/", " ").replace("<person>", "person")
   * .replace("< person >", "person"), */
  for (i = 0; i < n; i++)
    if (a[i] == '-' || a[i] == '/')
      a[i] = ' ';
  n = replace_ascii (a, n, "<person>", "person");
  n = replace_ascii (a, n, "< person >", "person");
  /* re.sub(r"\s{2,}", " ", caption), .rstrip("\n"); */
  size_t w = 0;
  for (i = 0; i < n;)
    {
      size_t run = 0;
      while (i + run < n && is_py_space (a[i + run]))
        run++;
      if (run >= 2)
        {
          a[w++] = ' ';
          i += run;
        }
      else
        a[w++] = a[i++];
    }
  n = w;
  while (n > 0 && a[n - 1] == '\n')
    n--;
  /* then delete "<" and ">", cut at the first ".", */
  w = 0;
  for (i = 0; i < n && a[i] != '.'; i++)
    if (a[i] != '<' && a[i] != '>')
      a[w++] = a[i];
  n = w;
  /* split(), drop a word equal to the one before it, join with " ", " ." */
  size_t prev_start = 0, prev_len = 0;
  bool any = false;
  for (i = 0; i < n;)
    {
      while (i < n && is_py_space (a[i]))
        i++;
      size_t start = i;
      while (i < n && !is_py_space (a[i]))
        i++;
      size_t wl = i - start;
      if (wl == 0)
        break;
      if (any && wl == prev_len && memcmp (a + start, a + prev_start, wl * sizeof *a) == 0)
        continue;
      if (any)
        sb_add (out, " ", 1);
      for (size_t k = start; k < i; k++)
        sb_add_char (out, a[k]);
      prev_start = start;
      prev_len = wl;
      any = true;
    }
  if (any)
    sb_add (out, " .", 2);
  free (a);
  return MAGVLT_OK;
}

magvlt_status
magvlt_detokenize (const magvlt_model *model, const int32_t *ids, int32_t n_ids, uint32_t flags,
                   char *buf, size_t buf_size, size_t *len)
{
  const uint32_t known = MAGVLT_DETOKENIZE_CAPTION | MAGVLT_DETOKENIZE_KEEP_EOT;
  if (!model || (!ids && n_ids > 0) || (!buf && buf_size > 0))
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_detokenize: %s is NULL",
                    !model                 ? "model"
                    : !buf && buf_size > 0 ? "buf"
                                           : "ids");
  if (n_ids < 0)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_detokenize: n_ids is %d", n_ids);
  if (flags & ~known)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_detokenize: unknown flags 0x%x",
                    flags & ~known);
  const mv_tokenizer *tok = model->tokenizer;
  if (!tok)
    return no_tokenizer (model, "magvlt_detokenize");

  /* token2txt: cut at the first end-of-text id */
  int32_t n = n_ids;
  if (!(flags & MAGVLT_DETOKENIZE_KEEP_EOT))
    for (int32_t i = 0; i < n_ids; i++)
      if (ids[i] == tok->eot_id)
        {
          n = i;
          break;
        }
  strbuf text = { 0 }, caption = { 0 };
  magvlt_status st = MAGVLT_OK;
  decode_ids (tok, ids, n, &text);
  sb_add (&text, "", 0);
  if (!text.failed && (flags & MAGVLT_DETOKENIZE_CAPTION))
    {
      st = post_caption (text.p, text.len, &caption);
      sb_add (&caption, "", 0);
    }
  strbuf *res = flags & MAGVLT_DETOKENIZE_CAPTION ? &caption : &text;
  if (st == MAGVLT_OK && (text.failed || caption.failed))
    st = mv_fail (MAGVLT_ERR_NOMEM, "magvlt_detokenize: out of memory");
  if (st == MAGVLT_OK)
    {
      if (len)
        *len = res->len;
      if (buf_size > 0)
        {
          /* like snprintf, but never cutting a UTF-8 sequence in two */
          size_t m = res->len < buf_size ? res->len : buf_size - 1;
          while (m < res->len && m > 0 && ((uint8_t) res->p[m] & 0xC0) == 0x80)
            m--;
          memcpy (buf, res->p, m);
          buf[m] = '\0';
        }
    }
  free (text.p);
  free (caption.p);
  return st;
}

const char *
magvlt_token_get_text (const magvlt_model *model, int32_t id)
{
  if (!model || !model->tokenizer || id < 0 || id >= model->tokenizer->n_vocab)
    return NULL;
  return model->tokenizer->pool + model->tokenizer->offset[id];
}

magvlt_status
magvlt_tokenizer_get_info (const magvlt_model *model, magvlt_tokenizer_info *info)
{
  if (!model || !info)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_tokenizer_get_info: NULL argument");
  const mv_tokenizer *tok = model->tokenizer;
  if (!tok)
    return no_tokenizer (model, "magvlt_tokenizer_get_info");
  *info = (magvlt_tokenizer_info){
    .model = "char_bpe",
    .vocab_size = tok->n_vocab,
    .n_merges = tok->n_merges,
    .text_len = tok->text_len,
    .eot_id = tok->eot_id,
    .end_of_word_suffix = tok->suffix,
    .lowercase = tok->lowercase,
  };
  return MAGVLT_OK;
}
