/* test-gguf-corrupt.c — hand-made bad model files through the strict GGUF
 * reader and the model loader.
 * SPDX-License-Identifier: MIT
 *
 * A valid tiny MAGVLT model is written by gguf-builder.c and must load (so
 * every later failure is caused by the one thing each case breaks). Then each
 * case corrupts one field and checks the exact status, that *out is NULL,
 * and that magvlt_last_error() names the file and the fault. Container-level
 * faults also go through gguf_parse() on an exactly-sized heap copy, so a
 * read past the end shows up under valgrind or ASan; model-level faults must
 * pass gguf_parse() (the container is fine) and fail in model.c. Every file
 * is loaded both mapped and read into memory.
 *
 * Sweeps: every truncation of the valid file, and every byte of its header
 * and tensor infos flipped.
 *
 * Prints "ok   <case>: <message>" or "FAIL <case>: <why>" per case and
 * "N passed, N failed"; exits 1 on any failure. */
#include "gguf-builder.h"
#include "gguf.h"
#include "model.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  FAULT_CONTAINER, /* gguf_parse must fail with the same status and message */
  FAULT_MODEL,     /* gguf_parse must succeed; the model loader must fail */
  FAULT_FILE,      /* no bytes to parse: a missing path, a directory */
} fault_level;

static int n_passed, n_failed;
static char *tmp_dir;
static int file_serial;

/* Log messages the library sends while loading. */
typedef struct {
  int n_errors;
  char last[1024];
} log_sink;

static void
log_to_sink (magvlt_log_level level, const char *message, void *user_data)
{
  log_sink *s = user_data;
  if (level == MAGVLT_LOG_ERROR)
    {
      s->n_errors++;
      g_strlcpy (s->last, message, sizeof s->last);
    }
}

static void G_GNUC_PRINTF (2, 3) fail (const char *name, const char *fmt, ...)
{
  va_list ap;
  printf ("FAIL %s: ", name);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
}

static const char *
status_name (magvlt_status st)
{
  switch (st)
    {
    case MAGVLT_OK: return "MAGVLT_OK";
    case MAGVLT_ERR_INVALID_ARG: return "MAGVLT_ERR_INVALID_ARG";
    case MAGVLT_ERR_IO: return "MAGVLT_ERR_IO";
    case MAGVLT_ERR_FORMAT: return "MAGVLT_ERR_FORMAT";
    case MAGVLT_ERR_UNSUPPORTED: return "MAGVLT_ERR_UNSUPPORTED";
    case MAGVLT_ERR_NOMEM: return "MAGVLT_ERR_NOMEM";
    case MAGVLT_ABORTED: return "MAGVLT_ABORTED";
    case MAGVLT_ERR_INTERNAL: return "MAGVLT_ERR_INTERNAL";
    }
  return "(unknown status)";
}

static char *
temp_path (void)
{
  char file[64];
  g_snprintf (file, sizeof file, "case-%04d.gguf", file_serial++);
  return g_build_filename (tmp_dir, file, NULL);
}

static char *
write_temp (const uint8_t *buf, size_t size)
{
  char *path = temp_path ();
  GError *error = NULL;
  if (!g_file_set_contents (path, (const char *) buf, (gssize) size, &error))
    {
      fprintf (stderr, "cannot write %s: %s\n", path, error->message);
      exit (2);
    }
  return path;
}

/* gguf_parse on an exactly-sized copy of buf. The status and message are
 * returned; *msg is a copy of magvlt_last_error(). */
static magvlt_status
parse_copy (const uint8_t *buf, size_t size, char **msg)
{
  uint8_t *copy = size ? g_memdup2 (buf, size) : NULL;
  gguf_file gf;
  magvlt_status st = gguf_parse (copy, size, &gf);
  *msg = g_strdup (magvlt_last_error ());
  if (st != MAGVLT_OK && (gf.kv || gf.tensors || gf.n_kv || gf.n_tensors))
    {
      g_free (*msg);
      *msg = g_strdup ("gguf_parse failed but left key/values or tensors in *out");
      st = MAGVLT_ERR_INTERNAL;
    }
  gguf_clear (&gf);
  g_free (copy);
  return st;
}

/* The heart of every bad-file case. buf == NULL: load `path` as it is. On a
 * pass, the message (without the path prefix) is copied into passed_msg. */
static gboolean
check_bad (const char *name, const uint8_t *buf, size_t size, const char *path_in,
           fault_level level, magvlt_status want, const char *needle, char **passed_msg)
{
  gboolean ok = TRUE;
  char *msg = NULL;

  if (level != FAULT_FILE)
    {
      magvlt_status st = parse_copy (buf, size, &msg);
      magvlt_status parse_want = level == FAULT_CONTAINER ? want : MAGVLT_OK;
      if (st != parse_want)
        {
          fail (name, "gguf_parse returned %s, expected %s (message: %s)", status_name (st),
                status_name (parse_want), msg);
          ok = FALSE;
        }
      else if (level == FAULT_CONTAINER && !strstr (msg, needle))
        {
          fail (name, "gguf_parse message \"%s\" lacks \"%s\"", msg, needle);
          ok = FALSE;
        }
      g_free (msg);
      msg = NULL;
    }

  char *path = path_in ? g_strdup (path_in) : write_temp (buf, size);
  for (int mapped = 1; ok && mapped >= 0; mapped--)
    {
      magvlt_model_params mp = magvlt_model_default_params ();
      log_sink sink = { 0 };
      magvlt_model *sentinel = (magvlt_model *) &sink; /* any non-NULL pointer */
      magvlt_model *model = sentinel;
      const char *how = mapped ? "mapped" : "read";

      mp.use_mmap = mapped;
      mp.log_callback = log_to_sink;
      mp.log_user_data = &sink;
      magvlt_status st = magvlt_model_load (path, &mp, &model);
      const char *err = magvlt_last_error ();
      size_t plen = strlen (path);
      gboolean prefixed = strncmp (err, path, plen) == 0 && strncmp (err + plen, ": ", 2) == 0;

      if (st != want)
        fail (name, "magvlt_model_load (%s) returned %s, expected %s (message: %s)", how,
              status_name (st), status_name (want), err);
      else if (model != NULL)
        fail (name, "magvlt_model_load (%s) failed but *out is %s", how,
              model == sentinel ? "unchanged" : "not NULL");
      else if (!strstr (err, needle))
        fail (name, "message (%s) \"%s\" lacks \"%s\"", how, err, needle);
      else if (want != MAGVLT_ERR_INVALID_ARG && !prefixed)
        fail (name, "message (%s) \"%s\" does not start with the path", how, err);
      else if (want != MAGVLT_ERR_INVALID_ARG && (sink.n_errors != 1 || strcmp (sink.last, err)))
        fail (name, "%s: %d error logs, last \"%s\"; expected one equal to the message", how,
              sink.n_errors, sink.last);
      else
        {
          if (!msg)
            msg = g_strdup (prefixed ? err + plen + 2 : err);
          continue;
        }
      ok = FALSE;
      if (model && model != sentinel)
        magvlt_model_free (model);
    }
  if (!path_in)
    g_unlink (path);
  g_free (path);
  if (ok && passed_msg)
    *passed_msg = msg;
  else
    g_free (msg);
  return ok;
}

static void
case_bytes (const char *name, const uint8_t *buf, size_t size, fault_level level,
            magvlt_status want, const char *needle)
{
  char *msg = NULL;
  if (check_bad (name, buf, size, NULL, level, want, needle, &msg))
    {
      printf ("ok   %s: %s\n", name, msg);
      n_passed++;
    }
  else
    n_failed++;
  g_free (msg);
}

/* Writes f, runs the case, frees f. */
static void
case_file (const char *name, gb_file *f, fault_level level, magvlt_status want, const char *needle)
{
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  case_bytes (name, buf, size, level, want, needle);
  free (buf);
  gb_free (f);
}

/* The first `len` bytes of f. */
static void
case_cut (const char *name, gb_file *f, uint64_t len, const char *needle)
{
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  if (len >= size)
    {
      fail (name, "cut at %llu is not inside the %zu-byte file", (unsigned long long) len, size);
      n_failed++;
    }
  else
    case_bytes (name, buf, (size_t) len, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, needle);
  free (buf);
  gb_free (f);
}

/* Writes f and overwrites the u64 at byte `at` (a length or count field). */
static void
case_patch_u64 (const char *name, gb_file *f, uint64_t at, uint64_t value, const char *needle)
{
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  for (int i = 0; i < 8; i++)
    buf[at + (uint64_t) i] = (uint8_t) (value >> (8 * i));
  case_bytes (name, buf, size, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, needle);
  free (buf);
  gb_free (f);
}

static gb_file *
tiny (void)
{
  gb_magvlt_params p = gb_magvlt_default_params ();
  return gb_magvlt_new (&p);
}

/* Fills the offsets of f (gb_kv.at, gb_tensor.info_at ...) without keeping
 * the bytes. */
static void
layout (gb_file *f)
{
  size_t size;
  free (gb_write (f, &size));
}

/* ---- valid files ------------------------------------------------------------ */

static gboolean
check_tensor_data (const char *name, gb_file *f, const gguf_file *gf)
{
  for (size_t i = 0; i < f->n_tens; i++)
    {
      const gb_tensor *t = f->tensors[i];
      const gguf_tensor *g = gguf_find_tensor (gf, (const char *) t->name);
      if (!g)
        {
          fail (name, "gguf_parse lost tensor '%s'", t->name);
          return FALSE;
        }
      if (g->n_bytes != t->data_len || g->offset != t->data_off
          || memcmp (g->data, t->data, t->data_len) != 0)
        {
          fail (name,
                "tensor '%s': %llu bytes at data offset %llu, expected %zu at %llu with "
                "the written values",
                t->name, (unsigned long long) g->n_bytes, (unsigned long long) g->offset,
                t->data_len, (unsigned long long) t->data_off);
          return FALSE;
        }
    }
  return TRUE;
}

/* A loaded vector must hold the file's values as f32 (converted from f16
 * where the file has f16). */
static gboolean
check_vector (const char *name, gb_file *f, const mv_tensor *mt)
{
  const gb_tensor *t = gb_find_tensor (f, mt->name);
  const float *got = mt->data;
  if (!t || mt->f16 || mt->rows != 1)
    {
      fail (name, "vector '%s' is not bound as a row of f32", mt->name);
      return FALSE;
    }
  for (int64_t i = 0; i < mt->cols; i++)
    {
      float want;
      if (t->type == GB_TENSOR_F16)
        want = gb_f16_to_f32 ((uint16_t) (t->data[2 * i] | t->data[2 * i + 1] << 8));
      else
        memcpy (&want, t->data + 4 * i, 4);
      if (got[i] != want)
        {
          fail (name, "vector '%s'[%lld] is %g, the file says %g", mt->name, (long long) i,
                (double) got[i], (double) want);
          return FALSE;
        }
    }
  return TRUE;
}

/* Loads a file that must be accepted, by gguf_parse and by the model loader
 * (mapped and read), and checks what it reports. */
static void
case_valid (const char *name, gb_file *f, const gb_magvlt_params *p, const char *weight_type)
{
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  uint8_t *copy = g_memdup2 (buf, size);
  gguf_file gf;
  gboolean ok = TRUE;
  magvlt_status st = gguf_parse (copy, size, &gf);

  if (st != MAGVLT_OK)
    {
      fail (name, "gguf_parse returned %s: %s", status_name (st), magvlt_last_error ());
      ok = FALSE;
    }
  else if (gf.n_kv != f->n_kvs || gf.n_tensors != f->n_tens || gf.version != f->version
           || gf.data_offset != f->data_at || gf.size != size)
    {
      fail (name,
            "gguf_parse: %llu kvs, %llu tensors, version %u, data at %llu; expected %zu, "
            "%zu, %u, %llu",
            (unsigned long long) gf.n_kv, (unsigned long long) gf.n_tensors, gf.version,
            (unsigned long long) gf.data_offset, f->n_kvs, f->n_tens, f->version,
            (unsigned long long) f->data_at);
      ok = FALSE;
    }
  else
    ok = check_tensor_data (name, f, &gf);
  gguf_clear (&gf);
  g_free (copy);

  char *path = write_temp (buf, size);
  for (int mapped = 1; ok && mapped >= 0; mapped--)
    {
      magvlt_model_params mp = magvlt_model_default_params ();
      log_sink sink = { 0 };
      magvlt_model *model = NULL;
      magvlt_model_info info;
      const char *how = mapped ? "mapped" : "read";

      mp.use_mmap = mapped;
      mp.log_callback = log_to_sink;
      mp.log_user_data = &sink;
      st = magvlt_model_load (path, &mp, &model);
      if (st != MAGVLT_OK || !model)
        {
          fail (name, "magvlt_model_load (%s) returned %s: %s", how, status_name (st),
                magvlt_last_error ());
          ok = FALSE;
          break;
        }
      magvlt_model_get_info (model, &info);
      if (sink.n_errors != 0)
        fail (name, "%s: a successful load logged an error: %s", how, sink.last);
      else if (info.embed_dim != (int32_t) p->embed_dim || info.n_layers != (int32_t) p->n_layers
               || info.n_heads != (int32_t) p->n_heads || info.mlp_hidden != (int32_t) p->mlp_hidden
               || info.ctx_len_img != (int32_t) p->ctx_len_img
               || info.ctx_len_txt != (int32_t) p->ctx_len_txt
               || info.vocab_size_img != (int32_t) p->vocab_size_img
               || info.vocab_size_txt != (int32_t) p->vocab_size_txt
               || info.n_special != (int32_t) p->n_special
               || info.text_eot_id != (int32_t) p->text_eot_id
               || info.seq_len != (int32_t) (4 + p->ctx_len_img + p->ctx_len_txt)
               || info.image_grid * info.image_grid != info.ctx_len_img
               || model->hp.layer_norm_eps != p->layer_norm_eps)
        fail (name, "%s: the hyper-parameters differ from the file's", how);
      else if (strcmp (info.weight_type, weight_type) != 0 || info.mmapped != (bool) mapped
               || info.n_tensors != (int64_t) f->n_tens || info.file_size != size)
        fail (name, "%s: info says weights %s, mmapped %d, %lld tensors, %llu bytes", how,
              info.weight_type, info.mmapped, (long long) info.n_tensors,
              (unsigned long long) info.file_size);
      else if (!check_vector (name, f, &model->lm_ln_w) || !check_vector (name, f, &model->out_bias)
               || !check_vector (name, f, &model->blocks[p->n_layers - 1].fc1_b))
        ;
      else
        {
          magvlt_model_free (model);
          continue;
        }
      ok = FALSE;
      magvlt_model_free (model);
    }
  g_unlink (path);
  g_free (path);
  if (ok)
    {
      printf ("ok   %s: loads (%zu bytes, %zu tensors, %s weights)\n", name, size, f->n_tens,
              weight_type);
      n_passed++;
    }
  else
    n_failed++;
  free (buf);
  gb_free (f);
}

static void
valid_cases (void)
{
  gb_magvlt_params p = gb_magvlt_default_params ();
  gb_file *f;

  case_valid ("valid tiny model (f32)", gb_magvlt_new (&p), &p, "f32");

  p.f16_matrices = TRUE;
  case_valid ("valid tiny model (f16 matrices)", gb_magvlt_new (&p), &p, "f16");
  p.f16_vectors = TRUE;
  p.n_layers = 2;
  case_valid ("valid 2-layer model (all f16)", gb_magvlt_new (&p), &p, "f16");

  p = gb_magvlt_default_params ();
  f = gb_magvlt_new (&p);
  gb_remove_tensor (f, "stage2.tok_emb.weight"); /* back, as f16, at the end */
  gb_add_matrix (f, "stage2.tok_emb.weight", p.vocab_size_img + p.vocab_size_txt, p.embed_dim,
                 GB_TENSOR_F16);
  case_valid ("valid model, one f16 matrix (mixed)", f, &p, "mixed");

  p = gb_magvlt_default_params ();
  f = gb_magvlt_new (&p);
  f->version = 2;
  case_valid ("valid model, GGUF version 2", f, &p, "f32");

  /* FORMAT.md: any integer type that fits, floats as f32 or f64. */
  f = gb_magvlt_new (&p);
  gb_set_u8 (f, "magvlt.embed_dim", 8);
  gb_set_u16 (f, "magvlt.mlp_hidden", 16);
  gb_set_i32 (f, "magvlt.n_heads", 2);
  gb_set_i64 (f, "magvlt.vocab_size_txt", 7);
  gb_set_u64 (f, "magvlt.text_eot_id", 6);
  gb_set_f64 (f, "magvlt.layer_norm_eps", 1e-5);
  case_valid ("valid model, integer keys as u8/u16/i32/i64/u64, eps as f64", f, &p, "f32");

  f = gb_magvlt_new (&p);
  gb_set_u32 (f, "general.alignment", 64);
  f->alignment = 64;
  case_valid ("valid model, general.alignment 64", f, &p, "f32");
  f = gb_magvlt_new (&p);
  gb_set_u32 (f, "general.alignment", 8);
  f->alignment = 8;
  case_valid ("valid model, general.alignment 8", f, &p, "f32");

  /* Unknown keys and tensors are ignored; limits are inclusive. */
  f = gb_magvlt_new (&p);
  {
    static const char *const words[] = { "a", "", "ccc" };
    static const uint32_t mult[] = { 1, 1, 2, 2, 4 };
    char name256[257];
    uint64_t ne4[4] = { 2, 1, 3, 1 };

    memset (name256, 'x', 256);
    name256[256] = '\0';
    gb_set_str_array (f, "tokenizer.words", words, 3);
    gb_set_u32_array (f, "magvlt.vqgan.ch_mult", mult, 5);
    gb_set_array_raw (f, "test.empty_array", GB_F64, 0, NULL, 0);
    gb_set_bool_raw (f, "test.flag", 1);
    gb_set_str (f, "test.empty_string", "");
    gb_set_u32 (f, name256, 1);
    gb_add_vector (f, "vqgan.quantize.embedding.weight", 5, GB_TENSOR_F16);
    gb_add_tensor (f, "future.tensor.with.4.dims", 4, ne4, GB_TENSOR_F32);
    gb_add_vector (f, name256, 1, GB_TENSOR_F32);
  }
  case_valid ("valid model with unknown keys, arrays and tensors, 256-byte names", f, &p, "f32");
}

/* ---- bad files ----------------------------------------------------------------- */

static void
header_cases (void)
{
  gb_file *f;
  static const uint8_t zip[] = { 'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0 };

  case_bytes ("empty file", (const uint8_t *) "", 0, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
              "the file is empty");
  case_bytes ("3 bytes 'GGU'", (const uint8_t *) "GGU", 3, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
              "truncated: the magic number");
  case_bytes ("ZIP magic (PyTorch checkpoint)", zip, sizeof zip, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
              "ZIP archive (a PyTorch checkpoint?)");
  case_bytes ("ZIP magic only", zip, 4, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
              "HINT: convert it with `magvlt convert`");

  f = tiny ();
  memcpy (f->magic, "GGUX", 4);
  case_file ("bad magic", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, "bad magic number 47 47 55 58");
  f = tiny ();
  memcpy (f->magic, "gguf", 4);
  case_file ("lower-case magic", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, "bad magic number");

  f = tiny ();
  f->version = 4;
  case_file ("GGUF version 4", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, "GGUF version 4 is not");
  f = tiny ();
  f->version = 1;
  case_file ("GGUF version 1", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, "GGUF version 1 is not");
  f = tiny ();
  f->version = 0x03000000; /* a big-endian writer */
  case_file ("big-endian version", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "GGUF version 50331648 is not supported");

  case_cut ("truncated in the version", tiny (), 6, "truncated: the version");
  case_cut ("truncated in the tensor count", tiny (), 12, "truncated: the tensor count");
  case_cut ("truncated in the key/value count", tiny (), 20, "truncated: the key/value count");

  f = tiny ();
  f->n_tensors_set = TRUE;
  f->n_tensors = 1ull << 32;
  case_file ("huge tensor count", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor count 4294967296 exceeds the limit of 65536");
  f = tiny ();
  f->n_tensors_set = TRUE;
  f->n_tensors = GGUF_MAX_TENSORS + 1;
  case_file ("tensor count 65537", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor count 65537 exceeds");
  /* At the limit the count is accepted; tensor info 28 is then read from the
   * padding and data, and fails one way or another. */
  f = tiny ();
  f->n_tensors_set = TRUE;
  f->n_tensors = GGUF_MAX_TENSORS;
  {
    char needle[64];
    g_snprintf (needle, sizeof needle, "tensor info %zu", f->n_tens);
    case_file ("tensor count 65536, more than the file holds", f, FAULT_CONTAINER,
               MAGVLT_ERR_FORMAT, needle);
  }
  f = tiny ();
  f->n_kv_set = TRUE;
  f->n_kv = UINT64_MAX;
  case_file ("huge key/value count", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "key/value count 18446744073709551615 exceeds the limit of 65536");
  f = tiny ();
  f->n_kv_set = TRUE;
  f->n_kv = GGUF_MAX_KV + 1;
  case_file ("key/value count 65537", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "key/value count 65537 exceeds");
}

static void
kv_cases (void)
{
  gb_file *f;
  gb_kv *kv;
  char needle[256];

  /* Cut inside a key name, inside a value, inside a string value. */
  f = tiny ();
  layout (f);
  kv = gb_find_kv (f, "magvlt.embed_dim");
  case_cut ("truncated in a key name", f, kv->at + 8 + 3, "truncated: key 3 needs 16 bytes");
  f = tiny ();
  layout (f);
  kv = gb_find_kv (f, "magvlt.embed_dim");
  case_cut ("truncated in a u32 value", f, kv->at + 8 + kv->key_len + 4 + 2,
            "truncated: value of key 'magvlt.embed_dim' needs 4 bytes");
  f = tiny ();
  layout (f);
  kv = gb_find_kv (f, "magvlt.embed_dim");
  case_cut ("truncated in a value type", f, kv->at + 8 + kv->key_len + 1,
            "truncated: value of key 'magvlt.embed_dim' needs 4 bytes");
  f = tiny ();
  layout (f);
  kv = gb_find_kv (f, "general.name");
  case_cut ("truncated in a string value", f, kv->at + 8 + kv->key_len + 4 + 8 + 5,
            "truncated: value of key 'general.name' needs 15 bytes");

  /* Lengths and counts. */
  f = tiny ();
  layout (f);
  case_patch_u64 ("huge key length", f, f->kvs[0]->at, UINT64_MAX,
                  "key 0 at byte 24 has length 18446744073709551615 (limit 256)");
  f = tiny ();
  gb_set_str_raw (f, "general.name", "x", 1, 1ull << 40);
  case_file ("huge string length", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "value of key 'general.name'");
  f = tiny ();
  gb_set_str_raw (f, "general.name", "x", 1, GGUF_MAX_STRING + 1);
  case_file ("string length 1 MiB + 1", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "has length 1048577 (limit 1048576)");
  f = tiny ();
  gb_set_str_raw (f, "general.name", "x", 1, GGUF_MAX_STRING);
  case_file ("string of 1 MiB past the end of the file", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "truncated: value of key 'general.name' needs 1048576 bytes");
  f = tiny ();
  gb_set_array_raw (f, "test.array", GB_U32, 1ull << 40, NULL, 0);
  case_file ("huge array count", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "array of 1099511627776 elements (limit 268435456)");
  f = tiny ();
  gb_set_array_raw (f, "test.array", GB_U64, GGUF_MAX_ARRAY, NULL, 0);
  case_file ("array of 2^28 u64 past the end of the file", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "truncated: value of key 'test.array' needs 2147483648 bytes");
  f = tiny ();
  gb_set_array_raw (f, "test.strings", GB_STRING, 100000, NULL, 0);
  case_file ("array of 100000 strings past the end of the file", f, FAULT_CONTAINER,
             MAGVLT_ERR_FORMAT, "value of key 'test.strings'");
  f = tiny ();
  {
    uint8_t elem[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    gb_set_array_raw (f, "test.strings", GB_STRING, 1, elem, sizeof elem);
  }
  case_file ("string array element with a huge length", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "value of key 'test.strings' at byte");

  /* Types. */
  f = tiny ();
  gb_find_kv (f, "general.name")->type = 13;
  case_file ("unknown value type 13", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "value of key 'general.name' at byte");
  f = tiny ();
  gb_find_kv (f, "general.name")->type = 0x80000000u;
  case_file ("unknown value type 2^31", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "has unknown type 2147483648");
  f = tiny ();
  {
    uint8_t inner[12] = { GB_U32, 0, 0, 0, 0 }; /* an empty array of u32 */
    gb_set_array_raw (f, "test.nested", GB_ARRAY, 1, inner, sizeof inner);
  }
  case_file ("nested array", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "array element type 9 is a nested array");
  f = tiny ();
  gb_set_array_raw (f, "test.array", 13, 0, NULL, 0);
  case_file ("array of unknown element type", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "array element type 13 is unknown");
  f = tiny ();
  gb_set_bool_raw (f, "test.flag", 2);
  case_file ("bool value 2", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "value of key 'test.flag': bool value 2 is neither 0 nor 1");

  /* Names. */
  f = tiny ();
  gb_duplicate_kv (f, "magvlt.n_heads");
  case_file ("duplicate key", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "duplicate key 'magvlt.n_heads'");
  f = tiny ();
  {
    uint32_t one = 1;
    kv = gb_append_raw (f, "magvlt.n_heads\0evil", 19, GB_U32, &one, 4);
    layout (f);
    g_snprintf (needle, sizeof needle, "key %zu at byte %llu is empty or contains a NUL byte",
                f->n_kvs - 1, (unsigned long long) kv->at);
  }
  case_file ("key name with a NUL byte", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, needle);
  f = tiny ();
  kv = gb_find_kv (f, "general.name");
  gb_kv_set_key (kv, "", 0);
  layout (f);
  g_snprintf (needle, sizeof needle, "key 1 at byte %llu is empty", (unsigned long long) kv->at);
  case_file ("empty key name", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, needle);
  f = tiny ();
  {
    char key[258];
    memset (key, 'k', 257);
    key[257] = '\0';
    gb_set_u32 (f, key, 1);
  }
  case_file ("key name of 257 bytes", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "has length 257 (limit 256)");

  /* Alignment. */
  f = tiny ();
  gb_set_u32 (f, "general.alignment", 3);
  case_file ("general.alignment 3", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "general.alignment is 3; it must be a power of two from 8 to 65536");
  f = tiny ();
  gb_set_u32 (f, "general.alignment", 0);
  case_file ("general.alignment 0", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "general.alignment is 0;");
  f = tiny ();
  gb_set_u32 (f, "general.alignment", 4);
  case_file ("general.alignment 4", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "general.alignment is 4;");
  f = tiny ();
  gb_set_u32 (f, "general.alignment", 1u << 17);
  case_file ("general.alignment 131072", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "general.alignment is 131072;");
  f = tiny ();
  gb_set_u64 (f, "general.alignment", 32);
  case_file ("general.alignment as u64", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "general.alignment has type u64, expected u32");
  f = tiny ();
  gb_set_u32 (f, "general.alignment", 64); /* but the data is laid out at 32 */
  case_file ("general.alignment 64, data aligned to 32", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "is not a multiple of the alignment 64");
}

static void
tensor_cases (void)
{
  gb_file *f;
  gb_tensor *t;
  char needle[512];
  const char *last = "stage2.length_predictor.weight";

  /* Cuts inside the tensor infos and the data. */
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, "stage2.tok_emb_spc.weight");
  case_cut ("truncated in a tensor name", f, t->info_at + 8 + 4,
            "truncated: tensor info 1 needs 25 bytes");
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, "stage2.tok_emb_spc.weight");
  case_cut ("truncated in tensor dims", f, t->info_at + 8 + t->name_len + 4 + 8 + 3,
            "truncated: tensor 'stage2.tok_emb_spc.weight' needs 8 bytes");
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, last);
  case_cut ("truncated in the last tensor's offset", f, f->infos_end - 1,
            "truncated: tensor 'stage2.length_predictor.weight' needs 8 bytes");
  f = tiny ();
  layout (f);
  if (f->infos_end < f->data_at)
    case_cut ("truncated in the padding before the data", f, f->infos_end + 1,
              "truncated: the tensor data section should start at byte");
  else
    gb_free (f);
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, last);
  g_snprintf (needle, sizeof needle,
              "tensor '%s': %zu bytes at data offset %llu run past the "
              "end of the file",
              last, t->data_len, (unsigned long long) t->data_off);
  case_cut ("truncated in tensor data", f, t->data_at + t->data_len / 2, needle);

  /* Types and dims. */
  f = tiny ();
  gb_find_tensor (f, "stage2.tok_emb.weight")->type = 2;
  case_file ("tensor type 2 (Q4_0)", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.tok_emb.weight' has tensor type 2; this engine reads F32 (0), "
             "F16 (1) and BF16 (30) only");
  f = tiny ();
  gb_find_tensor (f, "stage2.lm_layer.ln.bias")->type = 8; /* Q8_0 */
  case_file ("tensor type 8 (Q8_0)", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.lm_layer.ln.bias' has tensor type 8");
  f = tiny ();
  gb_find_tensor (f, "stage2.pos_emb_img.pos_embed")->ne[1] = 0;
  case_file ("zero dim", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.pos_emb_img.pos_embed': dimension 1 is 0");
  f = tiny ();
  gb_find_tensor (f, "stage2.pos_emb_img.pos_embed")->n_dims = 0;
  case_file ("n_dims 0", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.pos_emb_img.pos_embed' has 0 dimensions (1 to 4 allowed)");
  f = tiny ();
  {
    uint64_t ne[5] = { 8, 4, 1, 1, 1 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.pos_emb_img.pos_embed"), 5, ne);
  }
  case_file ("n_dims 5", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.pos_emb_img.pos_embed' has 5 dimensions");
  f = tiny ();
  gb_find_tensor (f, "stage2.pos_emb_img.pos_embed")->n_dims = UINT32_MAX;
  case_file ("n_dims 2^32-1", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, "has 4294967295 dimensions");
  f = tiny ();
  {
    uint64_t ne[2] = { 1ull << 32, 1ull << 32 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.tok_emb.weight"), 2, ne);
  }
  case_file ("element count overflow (2^32 x 2^32)", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.tok_emb.weight': dimension 1 is 4294967296");
  f = tiny ();
  {
    uint64_t ne[4] = { 1ull << 63, 1, 1, 1 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.tok_emb.weight"), 4, ne);
  }
  case_file ("dim 2^63", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "dimension 0 is 9223372036854775808");
  f = tiny ();
  {
    uint64_t ne[4] = { 1u << 10, 1u << 10, 1u << 10, (1u << 10) + 1 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.tok_emb.weight"), 4, ne);
  }
  case_file ("element count 2^40 + 2^30", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "dimension 3 is 1025");
  f = tiny ();
  {
    uint64_t ne[4] = { 1u << 10, 1u << 10, 1u << 10, 1u << 10 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.tok_emb.weight"), 4, ne);
  }
  case_file ("element count exactly 2^40 (allowed, but past the end)", f, FAULT_CONTAINER,
             MAGVLT_ERR_FORMAT, "tensor 'stage2.tok_emb.weight': 4398046511104 bytes");

  /* Names. */
  f = tiny ();
  gb_duplicate_tensor (f, "stage2.lm_layer.ln.bias");
  case_file ("duplicate tensor name", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "duplicate tensor name 'stage2.lm_layer.ln.bias'");
  f = tiny ();
  gb_tensor_set_name (gb_find_tensor (f, "stage2.pos_emb_txt.pos_embed"),
                      "stage2.pos_emb_txt\0.pos_embed", 29);
  case_file ("tensor name with a NUL byte", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor info 3 at byte");
  f = tiny ();
  {
    char name[258];
    memset (name, 'n', 257);
    gb_tensor_set_name (gb_find_tensor (f, "stage2.pos_emb_txt.pos_embed"), name, 257);
  }
  case_file ("tensor name of 257 bytes", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor info 3 at byte");

  /* Offsets. */
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, "stage2.pos_emb_spc.pos_embed");
  t->offset_set = TRUE;
  t->offset = t->data_off + 4;
  g_snprintf (needle, sizeof needle,
              "tensor 'stage2.pos_emb_spc.pos_embed': offset %llu is "
              "not a multiple of the alignment 32",
              (unsigned long long) t->offset);
  case_file ("misaligned tensor offset", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT, needle);
  f = tiny ();
  layout (f);
  t = gb_find_tensor (f, last);
  t->offset_set = TRUE;
  t->offset = t->data_off + 32;
  case_file ("tensor extending past the end of the file", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.length_predictor.weight': 96 bytes at data "
             "offset");
  f = tiny ();
  t = gb_find_tensor (f, "stage2.tok_emb.weight");
  t->offset_set = TRUE;
  t->offset = UINT64_MAX - 31;
  case_file ("tensor offset 2^64-32", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "at data offset 18446744073709551584 run past the end");
  f = tiny ();
  t = gb_find_tensor (f, "stage2.tok_emb.weight");
  t->offset_set = TRUE;
  t->offset = 1ull << 62;
  case_file ("tensor offset 2^62", f, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
             "run past the end of the file");
}

static void
model_cases (void)
{
  gb_file *f;
  gb_magvlt_params p;

  /* Architecture and format version. */
  f = tiny ();
  gb_set_str (f, "general.architecture", "llama");
  case_file ("general.architecture 'llama'", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "general.architecture is 'llama', not 'magvlt'");
  f = tiny ();
  gb_remove_kv (f, "general.architecture");
  case_file ("general.architecture missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "general.architecture is missing");
  f = tiny ();
  gb_set_u32 (f, "general.architecture", 1);
  case_file ("general.architecture as u32", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'general.architecture' has type u32, expected string");
  f = tiny ();
  gb_set_u32 (f, "magvlt.format_version", 2);
  case_file ("newer magvlt.format_version", f, FAULT_MODEL, MAGVLT_ERR_UNSUPPORTED,
             "magvlt.format_version is 2; this engine reads version 1 (HINT: update");
  f = tiny ();
  gb_set_u32 (f, "magvlt.format_version", 0);
  case_file ("magvlt.format_version 0", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.format_version is 0");
  f = tiny ();
  gb_remove_kv (f, "magvlt.format_version");
  case_file ("magvlt.format_version missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required key 'magvlt.format_version' is missing");

  /* Hyper-parameters. */
  f = tiny ();
  gb_remove_kv (f, "magvlt.n_layers");
  case_file ("required hparam missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required key 'magvlt.n_layers' is missing");
  f = tiny ();
  gb_remove_kv (f, "magvlt.layer_norm_eps");
  case_file ("layer_norm_eps missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required key 'magvlt.layer_norm_eps' is missing");
  f = tiny ();
  gb_set_str (f, "magvlt.embed_dim", "8");
  case_file ("hparam as a string", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'magvlt.embed_dim' has type string, expected an integer");
  f = tiny ();
  gb_find_kv (f, "magvlt.mlp_hidden")->type = GB_F32; /* same 4 bytes, now a float */
  case_file ("hparam as f32", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'magvlt.mlp_hidden' has type f32, expected an integer");
  f = tiny ();
  gb_set_i32 (f, "magvlt.n_layers", -1);
  case_file ("hparam -1 (i32)", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'magvlt.n_layers' is out of range");
  f = tiny ();
  gb_set_u64 (f, "magvlt.ctx_len_txt", (1ull << 32) + 3);
  case_file ("hparam 2^32+3 (u64)", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'magvlt.ctx_len_txt' is out of range");
  f = tiny ();
  gb_set_u32 (f, "magvlt.n_layers", 0);
  case_file ("n_layers 0", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.n_layers is 0; it must be between 1 and 1024");
  f = tiny ();
  gb_set_u32 (f, "magvlt.n_special", 5);
  case_file ("n_special 5", f, FAULT_MODEL, MAGVLT_ERR_FORMAT, "magvlt.n_special is 5");
  f = tiny ();
  gb_set_u32 (f, "magvlt.n_heads", 3);
  case_file ("embed_dim not divisible by n_heads", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.embed_dim 8 is not divisible by magvlt.n_heads 3");
  f = tiny ();
  gb_set_u32 (f, "magvlt.ctx_len_img", 5);
  case_file ("ctx_len_img not a perfect square", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.ctx_len_img 5 is not a perfect square");
  f = tiny ();
  gb_set_u32 (f, "magvlt.text_eot_id", 7);
  case_file ("text_eot_id == vocab_size_txt", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.text_eot_id 7 is outside the text vocabulary (7)");
  f = tiny ();
  gb_set_f32 (f, "magvlt.layer_norm_eps", 0.0f);
  case_file ("layer_norm_eps 0", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.layer_norm_eps 0 is not in (0, 1]");
  f = tiny ();
  gb_set_f32 (f, "magvlt.layer_norm_eps", NAN);
  case_file ("layer_norm_eps NaN", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "magvlt.layer_norm_eps nan is not in (0, 1]");
  f = tiny ();
  gb_set_u32 (f, "magvlt.layer_norm_eps", 1);
  case_file ("layer_norm_eps as u32", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "key 'magvlt.layer_norm_eps' has type u32, expected f32");

  /* Tensors. */
  f = tiny ();
  gb_remove_tensor (f, "stage2.blocks.0.attn.value.bias");
  case_file ("required tensor missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required tensor 'stage2.blocks.0.attn.value.bias' is missing");
  f = tiny ();
  gb_remove_tensor (f, "stage2.length_predictor.weight");
  case_file ("length predictor missing", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required tensor 'stage2.length_predictor.weight' is missing");
  f = tiny ();
  gb_set_u32 (f, "magvlt.n_layers", 2); /* the file has one block */
  case_file ("n_layers 2, one block in the file", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "required tensor 'stage2.blocks.1.ln1.weight' is missing");
  f = tiny ();
  {
    uint64_t ne[2] = { 8, 15 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.blocks.0.mlp.0.weight"), 2, ne);
  }
  case_file ("tensor shape mismatch", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.blocks.0.mlp.0.weight' has shape [15, 8] but the metadata says "
             "[16, 8]");
  f = tiny ();
  {
    uint64_t ne[2] = { 8, 16 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.blocks.0.mlp.2.weight"), 2, ne);
  }
  case_file ("transposed matrix", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.blocks.0.mlp.2.weight' has shape [16, 8] but the metadata says "
             "[8, 16]");
  f = tiny ();
  {
    uint64_t ne[2] = { 8, 1 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.lm_layer.ln.weight"), 2, ne);
  }
  case_file ("vector stored as [1, C]", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.lm_layer.ln.weight' has shape [1, 8] but the metadata says [8]");
  f = tiny ();
  {
    uint64_t ne[1] = { 96 };
    gb_tensor_set_dims (gb_find_tensor (f, "stage2.tok_emb.weight"), 1, ne);
  }
  case_file ("matrix stored flat", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.tok_emb.weight' has shape [96] but the metadata says [12, 8]");
  /* The file's tensors fit another vocabulary than the metadata's. */
  p = gb_magvlt_default_params ();
  f = gb_magvlt_new (&p);
  gb_set_u32 (f, "magvlt.vocab_size_txt", 8);
  case_file ("vocab_size_txt disagrees with tok_emb", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.tok_emb.weight' has shape [12, 8] but the metadata says [13, 8]");
  f = gb_magvlt_new (&p);
  gb_set_u32 (f, "magvlt.ctx_len_txt", 4);
  case_file ("ctx_len_txt disagrees with pos_emb_txt", f, FAULT_MODEL, MAGVLT_ERR_FORMAT,
             "tensor 'stage2.pos_emb_txt.pos_embed' has shape [3, 8] but the metadata says "
             "[4, 8]");
}

static void
path_cases (void)
{
  char *missing = g_build_filename (tmp_dir, "does-not-exist.gguf", NULL);
  char *msg = NULL;

  if (check_bad ("missing file", NULL, 0, missing, FAULT_FILE, MAGVLT_ERR_IO,
                 "cannot open: No such file", &msg))
    {
      printf ("ok   missing file: %s\n", msg);
      n_passed++;
    }
  else
    n_failed++;
  g_clear_pointer (&msg, g_free);
  if (check_bad ("a directory", NULL, 0, tmp_dir, FAULT_FILE, MAGVLT_ERR_IO, "not a regular file",
                 &msg))
    {
      printf ("ok   a directory: %s\n", msg);
      n_passed++;
    }
  else
    n_failed++;
  g_clear_pointer (&msg, g_free);

  magvlt_model *model = (magvlt_model *) &msg;
  magvlt_status st = magvlt_model_load ("", NULL, &model);
  if (st == MAGVLT_ERR_INVALID_ARG && model == NULL && strstr (magvlt_last_error (), "no path"))
    {
      printf ("ok   empty path: %s\n", magvlt_last_error ());
      n_passed++;
    }
  else
    {
      fail ("empty path", "got %s, *out %p: %s", status_name (st), (void *) model,
            magvlt_last_error ());
      n_failed++;
    }
  g_free (missing);
}

/* ---- sweeps ---------------------------------------------------------------------- */

/* Every prefix of the valid file must be refused as FORMAT, quietly. */
static void
truncation_sweep (void)
{
  gb_file *f = tiny ();
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  int bad = 0;

  for (size_t len = 0; len < size; len++)
    {
      char name[64];
      g_snprintf (name, sizeof name, "truncated to %zu of %zu bytes", len, size);
      if (!check_bad (name, buf, len, NULL, FAULT_CONTAINER, MAGVLT_ERR_FORMAT,
                      len == 0 ? "the file is empty" : "truncated", NULL))
        {
          if (++bad >= 10)
            {
              printf ("     (stopping the sweep after 10 failures)\n");
              break;
            }
        }
    }
  if (bad == 0)
    {
      printf ("ok   truncation sweep: all %zu prefixes (0 .. %zu bytes) fail with "
              "MAGVLT_ERR_FORMAT and a message saying so\n",
              size, size - 1);
      n_passed++;
    }
  else
    n_failed++;
  free (buf);
  gb_free (f);
}

/* Every byte of the header, key/values and tensor infos flipped in turn:
 * the loader may accept the file (a flipped value can stay valid) or refuse
 * it with FORMAT / UNSUPPORTED, but nothing else, and never crash. */
static void
flip_sweep (void)
{
  gb_file *f = tiny ();
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  char *path = temp_path ();
  int bad = 0, n_ok = 0, n_refused = 0;

  for (size_t i = 0; i < f->infos_end && bad < 10; i++)
    {
      buf[i] ^= 0xff;
      char *msg = NULL;
      magvlt_status pst = parse_copy (buf, size, &msg);
      g_free (msg);
      if (!g_file_set_contents (path, (const char *) buf, (gssize) size, NULL))
        exit (2);
      magvlt_model_params mp = magvlt_model_default_params ();
      log_sink sink = { 0 };
      magvlt_model *model = (magvlt_model *) &sink;
      mp.use_mmap = i % 2 == 0;
      mp.log_callback = log_to_sink;
      mp.log_user_data = &sink;
      magvlt_status st = magvlt_model_load (path, &mp, &model);
      buf[i] ^= 0xff;

      if (pst != MAGVLT_OK && pst != MAGVLT_ERR_FORMAT)
        fail ("flip sweep", "byte %zu: gguf_parse returned %s", i, status_name (pst));
      else if (st == MAGVLT_OK && model)
        {
          n_ok++;
          magvlt_model_free (model);
          continue;
        }
      else if ((st == MAGVLT_ERR_FORMAT || st == MAGVLT_ERR_UNSUPPORTED) && !model
               && magvlt_last_error ()[0] != '\0')
        {
          n_refused++;
          continue;
        }
      else
        fail ("flip sweep", "byte %zu: magvlt_model_load returned %s, *out %p: %s", i,
              status_name (st), (void *) model, magvlt_last_error ());
      bad++;
    }
  if (bad == 0)
    {
      printf ("ok   byte-flip sweep: %llu header/info bytes flipped, %d refused cleanly, %d "
              "still valid\n",
              (unsigned long long) f->infos_end, n_refused, n_ok);
      n_passed++;
    }
  else
    n_failed++;
  g_unlink (path);
  g_free (path);
  free (buf);
  gb_free (f);
}

/* The sampling settings a file recommends (magvlt.sampling.*, all
 * optional): read over the defaults, out-of-range values refused. */
static gboolean
same_sampling (const magvlt_sampling_params *a, const magvlt_sampling_params *b)
{
  return a->n_candidates == b->n_candidates && a->image_steps == b->image_steps
         && a->image_temperature_start == b->image_temperature_start
         && a->image_temperature_end == b->image_temperature_end
         && a->image_choice_temperature_start == b->image_choice_temperature_start
         && a->image_choice_temperature_end == b->image_choice_temperature_end
         && a->text_steps == b->text_steps && a->text_temperature == b->text_temperature
         && a->text_top_k == b->text_top_k && a->text_length == b->text_length
         && a->caption_postprocess == b->caption_postprocess && a->seed == b->seed
         && a->image_guidance == b->image_guidance;
}

static void
case_sampling (const char *name, gb_file *f, const magvlt_sampling_params *want)
{
  size_t size;
  uint8_t *buf = gb_write (f, &size);
  char *path = write_temp (buf, size);
  magvlt_model_params mp = magvlt_model_default_params ();
  magvlt_model *model = NULL;
  magvlt_status st = magvlt_model_load (path, &mp, &model);
  gboolean ok = FALSE;
  if (st != MAGVLT_OK)
    fail (name, "magvlt_model_load returned %s: %s", status_name (st), magvlt_last_error ());
  else
    {
      magvlt_sampling_params got = magvlt_model_sampling_params (model);
      ok = same_sampling (&got, want);
      if (!ok)
        fail (name,
              "got image %d steps %g->%g choice %g->%g guidance %g, text %d steps %g top-k %d, "
              "%d candidates",
              got.image_steps, (double) got.image_temperature_start,
              (double) got.image_temperature_end, (double) got.image_choice_temperature_start,
              (double) got.image_choice_temperature_end, (double) got.image_guidance,
              got.text_steps, (double) got.text_temperature, got.text_top_k, got.n_candidates);
    }
  if (ok)
    printf ("ok   %s\n", name), n_passed++;
  else
    n_failed++;
  magvlt_model_free (model);
  g_unlink (path);
  g_free (path);
  free (buf);
  gb_free (f);
}

static void
sampling_cases (void)
{
  magvlt_sampling_params want = magvlt_sampling_default_params ();
  magvlt_sampling_params none = magvlt_model_sampling_params (NULL);
  if (same_sampling (&none, &want))
    printf ("ok   sampling of no model: the defaults\n"), n_passed++;
  else
    fail ("sampling of no model", "not the defaults"), n_failed++;
  case_sampling ("no magvlt.sampling keys: the defaults", tiny (), &want);

  gb_file *f = tiny ();
  gb_set_u32 (f, "magvlt.sampling.img_num_steps", 7);
  gb_set_f32 (f, "magvlt.sampling.img_temperature_start", 1.0f);
  gb_set_f32 (f, "magvlt.sampling.img_temperature_end", 0.25f);
  gb_set_f32 (f, "magvlt.sampling.img_mult_temperature_start", 0.5f);
  gb_set_f32 (f, "magvlt.sampling.img_mult_temperature_end", 0.0f);
  gb_set_u32 (f, "magvlt.sampling.txt_num_steps", 9);
  gb_set_f32 (f, "magvlt.sampling.txt_temperature", 0.5f);
  gb_set_u32 (f, "magvlt.sampling.txt_top_k", 0);
  gb_set_f32 (f, "magvlt.sampling.img_guidance_scale", 1.25f);
  /* read by nobody: candidates stay 1, the methods are the official ones */
  gb_set_u32 (f, "magvlt.sampling.img_num_cand_samples", 32);
  gb_set_str (f, "magvlt.sampling.txt_sample_method", "sample_rerank");
  want.image_steps = 7, want.image_temperature_start = 1.0f, want.image_temperature_end = 0.25f;
  want.image_choice_temperature_start = 0.5f, want.image_choice_temperature_end = 0.0f;
  want.text_steps = 9, want.text_temperature = 0.5f, want.text_top_k = 0;
  want.image_guidance = 1.25f;
  case_sampling ("every magvlt.sampling key the engine reads", f, &want);

  f = tiny ();
  gb_set_f32 (f, "magvlt.sampling.txt_temperature", 0.2f);
  want = magvlt_sampling_default_params ();
  want.text_temperature = 0.2f;
  case_sampling ("one magvlt.sampling key, the rest default", f, &want);

  /* values out of range or of the wrong type fail the load with the key named */
  static const struct {
    const char *name, *key;
    char type; /* 'u' u32, 'f' f32, 's' string */
    double v;
    const char *needle;
  } bad[] = {
    { "0 image steps", "img_num_steps", 'u', 0,
      "magvlt.sampling.img_num_steps is 0; refinement steps must be 1 to 1000" },
    { "1001 text steps", "txt_num_steps", 'u', 1001, "magvlt.sampling.txt_num_steps is 1001" },
    { "temperature 0", "img_temperature_start", 'f', 0,
      "magvlt.sampling.img_temperature_start is 0; it must be in (0, 100]" },
    { "temperature NaN", "txt_temperature", 'f', NAN, "magvlt.sampling.txt_temperature is nan" },
    { "temperature 1e30", "img_temperature_end", 'f', 1e30,
      "magvlt.sampling.img_temperature_end is 1e+30" },
    { "negative choice temperature", "img_mult_temperature_end", 'f', -0.5,
      "magvlt.sampling.img_mult_temperature_end is -0.5; it must be in [0, 100]" },
    { "top-k as f32", "txt_top_k", 'f', 32,
      "key 'magvlt.sampling.txt_top_k' has type f32, expected an integer" },
    { "huge top-k", "txt_top_k", 'u', 1u << 30,
      "magvlt.sampling.txt_top_k is 1073741824; it must be 0 (off) to 4194304" },
    { "negative guidance", "img_guidance_scale", 'f', -1,
      "magvlt.sampling.img_guidance_scale is -1; it must be in [0, 100] (0 = off)" },
    { "temperature as a string", "img_temperature_start", 's', 0,
      "key 'magvlt.sampling.img_temperature_start' has type string, expected f32" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char key[96], name[128];
      snprintf (key, sizeof key, "magvlt.sampling.%s", bad[i].key);
      snprintf (name, sizeof name, "sampling: %s", bad[i].name);
      f = tiny ();
      if (bad[i].type == 'u')
        gb_set_u32 (f, key, (uint32_t) bad[i].v);
      else if (bad[i].type == 'f')
        gb_set_f32 (f, key, (float) bad[i].v);
      else
        gb_set_str (f, key, "1.4");
      case_file (name, f, FAULT_MODEL, MAGVLT_ERR_FORMAT, bad[i].needle);
    }
}

int
main (void)
{
  GError *error = NULL;

  tmp_dir = g_dir_make_tmp ("magvlt-gguf-corrupt-XXXXXX", &error);
  if (!tmp_dir)
    {
      fprintf (stderr, "cannot make a temporary directory: %s\n", error->message);
      return 2;
    }

  valid_cases ();
  header_cases ();
  kv_cases ();
  tensor_cases ();
  model_cases ();
  sampling_cases ();
  path_cases ();
  truncation_sweep ();
  flip_sweep ();

  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed == 0 ? 0 : 1;
}
