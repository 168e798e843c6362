/* convert_bpe.c — CLIP's BPE vocabulary for the converter, rebuilt from the
 * merges exactly as CLIP's simple_tokenizer.py (and
 * model-runtime/training/clip_vocab.py) do: the 256 characters of
 * bytes_to_unicode(), the same with "</w>", the merges joined, then
 * <|startoftext|> and <|endoftext|>. The merges file may be gzip-compressed
 * (bpe_simple_vocab_16e6.txt.gz; zlib reads it) or plain text.
 * SPDX-License-Identifier: MIT */
#include "convert.h"

#include "status.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BPE_MAX_TEXT (256u << 20)
#define BPE_FIXED 514 /* 2 × 256 byte characters + 2 special tokens */

/* SHA-256 of the 48,894 merge lines CLIP uses, joined with "\n". */
#define CLIP_MERGES_SHA256 "f61f2adf497e6f5357c347aeb4646fabe82f341e946de5bdec5d2858e41bef4a"

void
cv_vocab_free (cv_vocab *v)
{
  if (!v)
    return;
  if (v->vocab)
    for (size_t i = 0; i < v->n_vocab; i++)
      g_free (v->vocab[i]);
  free (v->vocab);
  free (v->merges);
  free (v->storage);
  memset (v, 0, sizeof *v);
}

static magvlt_status
read_all (const char *path, char **out, size_t *len)
{
  gzFile gz = gzopen (path, "rb"); /* reads plain files as they are */
  if (!gz)
    return mv_fail (MAGVLT_ERR_IO, "%s: cannot open: %s", path,
                    errno ? strerror (errno) : "out of memory");
  size_t cap = 1u << 20, n = 0;
  char *buf = malloc (cap + 1);
  if (!buf)
    {
      gzclose (gz);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  for (;;)
    {
      if (n == cap)
        {
          if (cap >= BPE_MAX_TEXT)
            {
              free (buf);
              gzclose (gz);
              return mv_fail (MAGVLT_ERR_FORMAT, "%s: over 256 MiB of text; not a merges file",
                              path);
            }
          cap *= 2;
          char *nb = realloc (buf, cap + 1);
          if (!nb)
            {
              free (buf);
              gzclose (gz);
              return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
            }
          buf = nb;
        }
      int r = gzread (gz, buf + n, (unsigned) (cap - n));
      if (r < 0)
        {
          int zerr;
          const char *msg = gzerror (gz, &zerr);
          magvlt_status st = mv_fail (MAGVLT_ERR_FORMAT, "%s: cannot decompress: %s", path, msg);
          free (buf);
          gzclose (gz);
          return st;
        }
      if (r == 0)
        break;
      n += (size_t) r;
    }
  gzclose (gz);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return MAGVLT_OK;
}

magvlt_status
cv_vocab_load (const char *path, int32_t vocab_size, cv_vocab *v)
{
  memset (v, 0, sizeof *v);
  if (vocab_size < BPE_FIXED)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: the model's text vocabulary has %d entries, fewer than the %d fixed "
                    "entries of a CLIP vocabulary (256 byte characters twice, two special "
                    "tokens); these merges do not belong to this model",
                    path, vocab_size, BPE_FIXED);
  size_t need = (size_t) vocab_size - BPE_FIXED;
  char *text = NULL;
  size_t len = 0;
  magvlt_status st = read_all (path, &text, &len);
  if (st != MAGVLT_OK)
    return st;
  v->storage = text;
  if (!g_utf8_validate (text, (gssize) len, NULL))
    {
      cv_vocab_free (v);
      return mv_fail (MAGVLT_ERR_FORMAT, "%s: not UTF-8 text (is it a merges file?)", path);
    }
  if (memchr (text, '\0', len))
    {
      cv_vocab_free (v);
      return mv_fail (MAGVLT_ERR_FORMAT, "%s: holds NUL bytes; not a merges file", path);
    }

  /* lines; the first is a header when it says "#version" (CLIP's file and
   * HuggingFace's merges.txt both start with one) */
  v->merges = malloc ((need ? need : 1) * sizeof *v->merges);
  if (!v->merges)
    {
      cv_vocab_free (v);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  char *p = text, *end = text + len;
  size_t line_no = 0;
  while (p < end && v->n_merges < need)
    {
      char *nl = memchr (p, '\n', (size_t) (end - p));
      char *e = nl ? nl : end;
      if (e > p && e[-1] == '\r')
        e[-1] = '\0';
      *e = '\0';
      line_no++;
      if (line_no == 1 && strstr (p, "#version"))
        {
          p = e + 1;
          continue;
        }
      char *sp = strchr (p, ' ');
      if (!sp || sp == p || !sp[1] || strchr (sp + 1, ' ') || strpbrk (p, "\t\v\f"))
        {
          char q[120];
          snprintf (q, sizeof q, "%.80s", p);
          cv_vocab_free (v);
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "%s: line %zu '%s' is not a merge (two symbols separated by one "
                          "space)",
                          path, line_no, q);
        }
      v->merges[v->n_merges++] = p;
      p = e + 1;
    }
  if (v->n_merges < need)
    {
      size_t got = v->n_merges;
      cv_vocab_free (v);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "%s has %zu merges, but the model's text vocabulary of %d entries needs "
                      "%zu (vocabulary size − 514): the vocabulary size differs from the "
                      "checkpoint's",
                      path, got, vocab_size, need);
    }

  /* the vocabulary */
  v->n_vocab = (size_t) vocab_size;
  v->vocab = calloc (v->n_vocab, sizeof *v->vocab);
  if (!v->vocab)
    {
      cv_vocab_free (v);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  char chars[256][5];
  cv_bytes_to_unicode (chars);
  size_t k = 0;
  for (int i = 0; i < 256; i++)
    v->vocab[k++] = g_strdup (chars[i]);
  for (int i = 0; i < 256; i++)
    v->vocab[k++] = g_strconcat (chars[i], "</w>", NULL);
  for (size_t i = 0; i < need; i++)
    {
      const char *m = v->merges[i], *sp = strchr (m, ' ');
      v->vocab[k++] = g_strdup_printf ("%.*s%s", (int) (sp - m), m, sp + 1);
    }
  v->vocab[k++] = g_strdup ("<|startoftext|>");
  v->vocab[k++] = g_strdup ("<|endoftext|>");

  /* the rules the engine's loader enforces, checked here with the file's
   * line numbers: unique entries, merge parts and results in the vocabulary */
  GHashTable *ids = g_hash_table_new (g_str_hash, g_str_equal);
  st = MAGVLT_OK;
  for (size_t i = 0; i < k && st == MAGVLT_OK; i++)
    {
      gpointer prev = g_hash_table_lookup (ids, v->vocab[i]);
      if (prev)
        st = mv_fail (MAGVLT_ERR_FORMAT, "%s: vocabulary entry %zu '%.80s' repeats entry %zu", path,
                      i, v->vocab[i], GPOINTER_TO_SIZE (prev) - 1);
      else
        g_hash_table_insert (ids, v->vocab[i], GSIZE_TO_POINTER (i + 1));
    }
  for (size_t i = 0; i < need && st == MAGVLT_OK; i++)
    {
      char *m = v->merges[i], *sp = strchr (m, ' ');
      *sp = '\0';
      bool ok = g_hash_table_contains (ids, m) && g_hash_table_contains (ids, sp + 1);
      *sp = ' ';
      if (!ok)
        st = mv_fail (MAGVLT_ERR_FORMAT,
                      "%s: merge %zu '%.80s' uses a symbol that is not in the vocabulary "
                      "(not a BPE merges file, or its lines are out of order)",
                      path, i, m);
    }
  g_hash_table_destroy (ids);
  if (st != MAGVLT_OK)
    {
      cv_vocab_free (v);
      return st;
    }

  /* recognise CLIP's merges */
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  for (size_t i = 0; i < need; i++)
    {
      if (i)
        g_checksum_update (sum, (const guchar *) "\n", 1);
      g_checksum_update (sum, (const guchar *) v->merges[i], (gssize) strlen (v->merges[i]));
    }
  v->is_clip = strcmp (g_checksum_get_string (sum), CLIP_MERGES_SHA256) == 0;
  g_checksum_free (sum);
  return MAGVLT_OK;
}
