/* test-convert-api.c — the converter's library side: float → f16/bf16
 * rounding, the GGUF writer against the strict reader, the pickle VM on
 * every truncation of a real data.pkl, the ZIP reader on truncated archives,
 * magvlt_convert's argument checks, progress and cancellation (nothing left
 * behind), and a VQGAN-only model refusing transformer work.
 *
 * Usage: test-convert-api OFFICIAL_DIR WORK_DIR
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"
#include "gguf.h"
#include "gguf_write.h"
#include "magvlt.h"

#include <dirent.h>
#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_passed, n_failed;

static void report (bool ok, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
static void
report (bool ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s ", ok ? "ok  " : "FAIL");
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  ok ? n_passed++ : n_failed++;
}

static float
f16_value (uint16_t h)
{
  int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v = e == 0    ? ldexpf ((float) m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf ((float) (m | 0x400), e - 25);
  return s ? -v : v;
}

static float
bf16_value (uint16_t h)
{
  uint32_t bits = (uint32_t) h << 16;
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

static float
next_up (float f)
{
  return nextafterf (f, INFINITY);
}

static float
next_down (float f)
{
  return nextafterf (f, -INFINITY);
}

/* Exhaustive round-to-nearest-even checks: every finite 16-bit value comes
 * back exactly, the midpoint between neighbours goes to the even one, and
 * one float step either side of it goes to the nearer one. */
static void
test_rounding (const char *what, uint16_t (*to16) (float), float (*from16) (uint16_t),
               uint16_t max_finite)
{
  int bad = 0;
  for (uint32_t h = 0; h <= max_finite; h++)
    {
      for (int sign = 0; sign < 2; sign++)
        {
          uint16_t a = (uint16_t) (h | (sign << 15));
          float fa = from16 (a);
          if (to16 (fa) != a && !(h == 0 && sign))
            bad++;
          if (h == max_finite)
            continue;
          uint16_t b = (uint16_t) (a + 1);
          float fb = from16 (b);
          float mid = (float) (((double) fa + (double) fb) / 2.0); /* exact in float */
          uint16_t even = (a & 1) ? b : a;
          if (to16 (mid) != even)
            bad++;
          float lo = sign ? next_up (mid) : next_down (mid);
          float hi = sign ? next_down (mid) : next_up (mid);
          if (to16 (lo) != a || to16 (hi) != b)
            bad++;
        }
    }
  /* beyond the largest finite value: ties and above round to infinity */
  float top = from16 (max_finite),
        inf_edge = (float) ((double) top + ((double) top - from16 (max_finite - 1)) / 2.0);
  if (to16 (inf_edge) != (uint16_t) (max_finite + 1) || to16 (next_down (inf_edge)) != max_finite
      || to16 (INFINITY) != (uint16_t) (max_finite + 1) || !isnan (from16 (to16 (NAN))))
    bad++;
  report (bad == 0, "%s: round to nearest even over every value, midpoint and neighbour (%d wrong)",
          what, bad);
}

/* The writer's output through the strict reader. */
static void
test_writer (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "writer.gguf", NULL);
  gguf_writer *w = gw_new ();
  uint32_t arr[3] = { 1, 2, 4 };
  const char *strs[3] = { "a", "", "γ</w>" };
  int64_t s1[1] = { 5 }, s2[2] = { 3, 7 }, s4[4] = { 2, 3, 1, 1 };
  size_t i2;
  bool ok = gw_add_str (w, "general.architecture", "magvlt") == MAGVLT_OK
            && gw_add_u32 (w, "k.u32", 123456) == MAGVLT_OK
            && gw_add_f32 (w, "k.f32", 1e-5f) == MAGVLT_OK
            && gw_add_bool (w, "k.bool", true) == MAGVLT_OK
            && gw_add_arr_u32 (w, "k.arr", arr, 3) == MAGVLT_OK
            && gw_add_arr_str (w, "k.strs", strs, 3) == MAGVLT_OK
            && gw_add_u32 (w, "k.u32", 1) != MAGVLT_OK /* duplicate key */
            && gw_add_tensor (w, "t.a", 1, s1, GGUF_TENSOR_F32, NULL) == MAGVLT_OK
            && gw_add_tensor (w, "t.b", 2, s2, GGUF_TENSOR_F16, &i2) == MAGVLT_OK
            && gw_add_tensor (w, "t.c", 4, s4, GGUF_TENSOR_BF16, NULL) == MAGVLT_OK
            && gw_add_tensor (w, "t.a", 1, s1, GGUF_TENSOR_F32, NULL) != MAGVLT_OK;
  FILE *fp = fopen (path, "wb");
  float a[5] = { 1, 2, 3, 4, 5 };
  uint16_t b[21], c[6];
  for (int i = 0; i < 21; i++)
    b[i] = gw_f32_to_f16 ((float) i / 4.0f);
  for (int i = 0; i < 6; i++)
    c[i] = gw_f32_to_bf16 (-(float) i);
  ok = ok && fp && gw_begin (w, fp, path) == MAGVLT_OK && gw_write (w, a, sizeof a) == MAGVLT_OK
       && gw_end_tensor (w) == MAGVLT_OK && gw_write (w, b, 10) == MAGVLT_OK
       && gw_end_tensor (w) != MAGVLT_OK /* incomplete */
       && gw_write (w, (uint8_t *) b + 10, sizeof b - 10) == MAGVLT_OK
       && gw_end_tensor (w) == MAGVLT_OK && gw_write (w, c, sizeof c) == MAGVLT_OK
       && gw_write (w, c, 2) != MAGVLT_OK /* too much */
       && gw_end_tensor (w) == MAGVLT_OK && gw_finish (w) == MAGVLT_OK;
  uint64_t off_b = gw_tensor_file_offset (w, i2);
  if (fp)
    fclose (fp);
  gw_free (w);
  gguf_file f;
  ok = ok && gguf_open (path, true, NULL, NULL, &f) == MAGVLT_OK;
  if (ok)
    {
      uint32_t u;
      float fl;
      char s[16];
      const gguf_tensor *tb = gguf_find_tensor (&f, "t.b"), *tc = gguf_find_tensor (&f, "t.c");
      const gguf_kv *kv = gguf_find_kv (&f, "k.strs");
      ok = gguf_get_u32 (&f, "k.u32", &u) == MAGVLT_OK && u == 123456
           && gguf_get_f32 (&f, "k.f32", &fl) == MAGVLT_OK && fl == 1e-5f
           && gguf_get_str (&f, "general.architecture", s, sizeof s) == MAGVLT_OK
           && strcmp (s, "magvlt") == 0 && kv && kv->v.arr.n == 3 && tb && tb->ne[0] == 7
           && tb->ne[1] == 3 && tb->type == GGUF_TENSOR_F16 && memcmp (tb->data, b, sizeof b) == 0
           && (uint64_t) ((const uint8_t *) tb->data - f.buf) == off_b && tc
           && tc->type == GGUF_TENSOR_BF16 && tc->n_dims == 4
           && memcmp (tc->data, c, sizeof c) == 0;
      gguf_clear (&f);
    }
  report (ok, "GGUF writer: every value type and F32/F16/BF16 tensors read back by the strict "
              "reader; duplicates, short and long tensors refused");
  unlink (path);
}

static bool
read_file (const char *path, uint8_t **buf, size_t *n)
{
  gchar *c;
  gsize len;
  if (!g_file_get_contents (path, &c, &len, NULL))
    return false;
  *buf = (uint8_t *) c;
  *n = len;
  return true;
}

/* Every prefix of a real data.pkl fails with a message, never crashes. */
static void
test_pickle_truncations (const char *ckpt_path)
{
  uint8_t *buf;
  size_t n;
  if (!read_file (ckpt_path, &buf, &n))
    {
      report (false, "cannot read %s", ckpt_path);
      return;
    }
  ck_zip z;
  ck_zip_entry *e;
  const uint8_t *pkl;
  if (ck_zip_open (buf, n, &z) != MAGVLT_OK || ck_zip_find_suffix (&z, "data.pkl", &e) != MAGVLT_OK
      || ck_zip_entry_data (&z, e, &pkl) != MAGVLT_OK)
    {
      report (false, "%s: %s", ckpt_path, magvlt_last_error ());
      g_free (buf);
      return;
    }
  int bad = 0, n_cases = 0;
  char first_bad[300] = "";
  for (size_t len = 0; len < e->size; len++, n_cases++)
    {
      pk_vm *vm;
      const pv *root;
      magvlt_status st = pk_load (pkl, len, NULL, &vm, &root);
      if (st == MAGVLT_OK || !strstr (magvlt_last_error (), "pickle offset"))
        {
          if (!bad++)
            snprintf (first_bad, sizeof first_bad, "length %zu: status %d, '%s'", len, st,
                      magvlt_last_error ());
          pk_free (vm);
        }
    }
  pk_vm *vm;
  const pv *root;
  bool full = pk_load (pkl, (size_t) e->size, NULL, &vm, &root) == MAGVLT_OK
              && root->kind == PV_DICT && pk_dict_get (root, "state_dict");
  pk_free (vm);
  report (bad == 0 && full,
          "pickle: all %d truncations of %s's data.pkl (every opcode boundary and every byte "
          "between) fail with an offset, the whole one loads%s%s",
          n_cases, strrchr (ckpt_path, '/') + 1, bad ? "; first bad: " : "", first_bad);
  ck_zip_clear (&z);

  /* the whole archive cut short: every 997th length */
  bad = 0;
  n_cases = 0;
  for (size_t len = 0; len < n; len += 997, n_cases++)
    {
      ck_file f;
      magvlt_status st = ck_file_open_buffer (buf, len, "cut.ckpt", NULL, &f);
      if (st == MAGVLT_OK)
        {
          bad++;
          ck_file_close (&f);
        }
    }
  ck_file f;
  bool whole = ck_file_open_buffer (buf, n, "whole.ckpt", NULL, &f) == MAGVLT_OK && f.n_tensors > 0;
  if (whole)
    ck_file_close (&f);
  report (bad == 0 && whole,
          "ZIP: %d truncated copies of the archive are refused, the whole one "
          "opens",
          n_cases);
  g_free (buf);
}

static int
count_leftovers (const char *dir, const char *stem)
{
  int n = 0;
  DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    if (strncmp (de->d_name, stem, strlen (stem)) == 0)
      n++;
  if (d)
    closedir (d);
  return n;
}

typedef struct {
  int calls[3];
  float last[3];
  bool monotonic;
  int cancel_stage; /* cancel on the first report of this stage; -1 = never */
  bool cancel_now;
  int n_warn;
} cb_state;

static void
on_progress (magvlt_convert_stage stage, float fraction, void *ud)
{
  cb_state *s = ud;
  if (stage > 2)
    return;
  if (s->calls[stage] && fraction < s->last[stage])
    s->monotonic = false;
  s->calls[stage]++;
  s->last[stage] = fraction;
  if ((int) stage == s->cancel_stage)
    s->cancel_now = true;
}

static bool
on_cancel (void *ud)
{
  return ((cb_state *) ud)->cancel_now;
}

static void
on_log (magvlt_log_level level, const char *msg, void *ud)
{
  if (level >= MAGVLT_LOG_WARN)
    ((cb_state *) ud)->n_warn++;
  (void) msg;
}

static magvlt_convert_params
tiny_params (const char *data, cb_state *s, char **paths)
{
  magvlt_convert_params p = magvlt_convert_default_params ();
  paths[0] = g_build_filename (data, "tiny-magvlt.ckpt", NULL);
  paths[1] = g_build_filename (data, "tiny-vqgan.ckpt", NULL);
  paths[2] = g_build_filename (data, "config.yaml", NULL);
  p.ckpt = paths[0];
  p.vqgan = paths[1];
  p.config = paths[2];
  p.progress = on_progress;
  p.cancel = on_cancel;
  p.user_data = s;
  p.log_callback = on_log;
  p.log_user_data = s;
  p.n_threads = 1;
  return p;
}

/* The provenance keys of a converted file through the public reader
 * (magvlt_model_get_meta_str): each input's SHA-256, computed here with
 * GLib's own SHA-256 rather than the converter's, and the reader's refusals. */
static void
test_provenance (const char *model_path, const char *ckpt_path, const char *vqgan_path)
{
  magvlt_model *m = NULL;
  if (magvlt_model_load (model_path, NULL, &m) != MAGVLT_OK)
    {
      report (false, "provenance: load %s: %s", model_path, magvlt_last_error ());
      return;
    }
  const char *files[2] = { ckpt_path, vqgan_path };
  const char *keys[2] = { "magvlt.source.ckpt_sha256", "magvlt.source.vqgan_sha256" };
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *bytes = NULL;
      gsize len = 0;
      char got[80];
      g_file_get_contents (files[i], &bytes, &len, NULL);
      g_autofree char *want =
        g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) bytes, len);
      magvlt_status st = magvlt_model_get_meta_str (m, keys[i], got, sizeof got);
      report (st == MAGVLT_OK && want && strcmp (got, want) == 0, "provenance: %s = %s (%s)",
              keys[i], st == MAGVLT_OK ? got : magvlt_last_error (), want ? want : "unreadable");
    }
  char buf[16] = "x";
  magvlt_status st = magvlt_model_get_meta_str (m, "magvlt.source.ckpt", buf, sizeof buf);
  report (st == MAGVLT_OK && strcmp (buf, "tiny-magvlt.ckp") == 0,
          "provenance: a short buffer gets the value cut and terminated ('%s')", buf);
  st = magvlt_model_get_meta_str (m, "magvlt.source.nothing", buf, sizeof buf);
  report (st == MAGVLT_ERR_INVALID_ARG && buf[0] == '\0'
            && strstr (magvlt_last_error (), "no metadata key 'magvlt.source.nothing'"),
          "provenance: a missing key is refused: %s", magvlt_last_error ());
  st = magvlt_model_get_meta_str (m, "magvlt.format_version", buf, sizeof buf);
  report (st == MAGVLT_ERR_INVALID_ARG && buf[0] == '\0'
            && strstr (magvlt_last_error (), "holds a u32, not a string"),
          "provenance: a key that is no string is refused: %s", magvlt_last_error ());
  report (magvlt_model_get_meta_str (NULL, "general.name", buf, sizeof buf)
              == MAGVLT_ERR_INVALID_ARG
            && magvlt_model_get_meta_str (m, NULL, buf, sizeof buf) == MAGVLT_ERR_INVALID_ARG
            && magvlt_model_get_meta_str (m, "general.name", NULL, 4) == MAGVLT_ERR_INVALID_ARG
            && magvlt_model_get_meta_str (m, "general.name", buf, 0) == MAGVLT_ERR_INVALID_ARG,
          "provenance: NULL arguments and size 0 are refused");
  magvlt_model_free (m);
}

static void
test_convert_api (const char *data, const char *dir)
{
  char *paths[3];
  cb_state s = { .monotonic = true, .cancel_stage = -1 };
  magvlt_convert_params p = tiny_params (data, &s, paths);
  g_autofree char *out = g_build_filename (dir, "api.gguf", NULL);
  magvlt_convert_stats stats;

  /* argument checks */
  magvlt_convert_params q = p;
  q.ckpt = q.vqgan = NULL;
  bool ok = magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG
            && magvlt_convert (NULL, out, NULL) == MAGVLT_ERR_INVALID_ARG
            && magvlt_convert (&p, NULL, NULL) == MAGVLT_ERR_INVALID_ARG;
  q = p;
  q.preset = "base";
  ok = ok && magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG
       && strstr (magvlt_last_error (), "not both");
  q = p;
  q.config = NULL;
  q.preset = "huge";
  ok = ok && magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG;
  q = p;
  q.weight_type = (magvlt_weight_type) 7;
  ok = ok && magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG;
  q = p;
  q.ckpt = NULL;
  q.bpe = "merges.txt";
  ok = ok && magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG;
  q = p;
  ok = ok && magvlt_convert (&q, paths[2], NULL) == MAGVLT_ERR_INVALID_ARG; /* out = input */
  q = p;
  q.config = NULL; /* a 2-layer width-64 model is no preset: the YAML is needed */
  ok = ok && magvlt_convert (&q, out, NULL) == MAGVLT_ERR_INVALID_ARG
       && strstr (magvlt_last_error (), "--config");
  report (ok && access (out, F_OK) != 0,
          "magvlt_convert refuses bad arguments (no input, NULL, config and preset, unknown "
          "preset and type, --bpe without --ckpt, output = input, no config for a non-official "
          "geometry): %s",
          magvlt_last_error ());

  /* a full conversion: progress per stage, monotonic, ending at 1 */
  magvlt_status st = magvlt_convert (&p, out, &stats);
  report (st == MAGVLT_OK && s.monotonic && s.calls[0] && s.calls[1] && s.calls[2]
            && s.last[0] == 1.0f && s.last[1] == 1.0f && s.last[2] == 1.0f && stats.n_tensors == 201
            && stats.n_params == 532151 && stats.file_size > 0 && stats.n_warnings == 0
            && s.n_warn == 0,
          "conversion with progress: %s (%d/%d/%d reports, %d tensors, %lld parameters, %llu "
          "bytes, %d warnings)",
          st == MAGVLT_OK ? "ok" : magvlt_last_error (), s.calls[0], s.calls[1], s.calls[2],
          stats.n_tensors, (long long) stats.n_params, (unsigned long long) stats.file_size,
          stats.n_warnings);
  if (st == MAGVLT_OK)
    test_provenance (out, paths[0], paths[1]);

  /* cancelling in each stage: MAGVLT_ABORTED, the old output untouched,
   * no temporary file left */
  g_autofree char *before = NULL;
  gsize before_len = 0;
  g_file_get_contents (out, &before, &before_len, NULL);
  for (int stage = 0; stage < 3; stage++)
    {
      cb_state c = { .monotonic = true, .cancel_stage = stage };
      magvlt_convert_params pc = p;
      pc.user_data = &c;
      pc.log_user_data = &c;
      st = magvlt_convert (&pc, out, NULL);
      g_autofree char *after = NULL;
      gsize after_len = 0;
      g_file_get_contents (out, &after, &after_len, NULL);
      report (st == MAGVLT_ABORTED && count_leftovers (dir, "api.gguf.tmp") == 0
                && after_len == before_len && memcmp (after, before, before_len) == 0,
              "cancel during stage %d: %s, nothing left behind, the previous output intact", stage,
              magvlt_last_error ());
    }

  /* VQGAN only: the model loads, vq works, transformer work is refused */
  q = p;
  q.ckpt = NULL;
  g_autofree char *vq_out = g_build_filename (dir, "api-vq.gguf", NULL);
  st = magvlt_convert (&q, vq_out, &stats);
  magvlt_model *m = NULL;
  magvlt_context *ctx = NULL;
  magvlt_model_info mi;
  ok = st == MAGVLT_OK && magvlt_model_load (vq_out, NULL, &m) == MAGVLT_OK
       && magvlt_model_get_info (m, &mi) == MAGVLT_OK && !mi.has_transformer && mi.has_vqgan
       && mi.has_palette && mi.image_grid == 4 && mi.vocab_size_img == 64
       && magvlt_context_init (m, NULL, &ctx) == MAGVLT_OK;
  report (ok, "VQGAN-only model: %lld VQGAN parameters, grid %d, palette %d, transformer %d",
          ok ? (long long) mi.n_params_vqgan : 0ll, ok ? mi.image_grid : 0, ok ? mi.has_palette : 0,
          ok ? mi.has_transformer : 1);
  if (ok)
    {
      int32_t codes[16] = { 0 }, ids[8] = { 0 };
      uint8_t rgb[8 * 8 * 3];
      magvlt_forward_input in = { .image_ids = codes, .text_ids = ids };
      magvlt_forward_output fo = { 0 };
      magvlt_sampling_params sp = magvlt_sampling_default_params ();
      magvlt_result r;
      st = magvlt_forward (ctx, &in, &fo);
      report (st == MAGVLT_ERR_UNSUPPORTED && strstr (magvlt_last_error (), "only a VQGAN"),
              "VQGAN-only: magvlt_forward refuses: %s", magvlt_last_error ());
      st = magvlt_generate_image (ctx, &sp, "a cat", &r);
      report (st == MAGVLT_ERR_UNSUPPORTED && r.n_candidates == 0,
              "VQGAN-only: magvlt_generate_image refuses");
      magvlt_image img = { 8, 8, 24, rgb };
      memset (rgb, 100, sizeof rgb);
      report (magvlt_caption (ctx, &sp, &img, &r) == MAGVLT_ERR_UNSUPPORTED
                && magvlt_generate_joint (ctx, &sp, &r) == MAGVLT_ERR_UNSUPPORTED
                && magvlt_infill_text (ctx, &sp, &img, "a [MASK]", 0, &r) == MAGVLT_ERR_UNSUPPORTED
                && magvlt_edit_image (ctx, &sp, NULL, &img, NULL, 0, "x", &r)
                     == MAGVLT_ERR_UNSUPPORTED,
              "VQGAN-only: caption, joint, infill and edit refuse");
      magvlt_vq_encode_output eo = { codes, NULL, NULL };
      report (magvlt_vq_encode (ctx, rgb, 24, &eo) == MAGVLT_OK
                && magvlt_vq_decode (ctx, codes, rgb, 24, NULL) == MAGVLT_OK,
              "VQGAN-only: encode and decode work");
    }
  magvlt_context_free (ctx);
  magvlt_model_free (m);
  unlink (out);
  unlink (vq_out);
  for (int i = 0; i < 3; i++)
    g_free (paths[i]);
}

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: test-convert-api OFFICIAL_DIR WORK_DIR\n");
      return 2;
    }
  g_mkdir_with_parents (argv[2], 0755);
  test_rounding ("f32 -> f16", gw_f32_to_f16, f16_value, 0x7bff);
  test_rounding ("f32 -> bf16", gw_f32_to_bf16, bf16_value, 0x7f7f);
  test_writer (argv[2]);
  g_autofree char *magvlt_ckpt = g_build_filename (argv[1], "tiny-magvlt.ckpt", NULL);
  g_autofree char *vqgan_ckpt = g_build_filename (argv[1], "tiny-vqgan.ckpt", NULL);
  test_pickle_truncations (magvlt_ckpt);
  test_pickle_truncations (vqgan_ckpt);
  test_convert_api (argv[1], argv[2]);
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed != 0;
}
