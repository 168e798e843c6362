/* test-random-model.c — magvlt_random_model_write and
 * magvlt_context_bench_matmul (`magvlt bench --preset` and its peak): the
 * default preset has the shipped default model's geometry, the file loads
 * with the ordinary loader, the same seed gives the same bytes and another
 * seed other bytes, the synthetic tokenizer encodes and decodes a prompt,
 * size overrides reach the file, the weights have the documented scales,
 * and bad arguments are refused with messages naming them.
 * Usage: test-random-model DEFAULT_MODEL.gguf (data/models/default.gguf) */
#include "magvlt.h"

#include "../lib/expect.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static magvlt_model *
load (const char *path)
{
  magvlt_model *m = NULL;
  if (magvlt_model_load (path, NULL, &m) != MAGVLT_OK)
    printf ("     load %s: %s\n", path, magvlt_last_error ());
  return m;
}

static bool
same_geometry (const magvlt_model_info *a, const magvlt_model_info *b)
{
  return a->embed_dim == b->embed_dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads
         && a->mlp_hidden == b->mlp_hidden && a->ctx_len_img == b->ctx_len_img
         && a->ctx_len_txt == b->ctx_len_txt && a->vocab_size_img == b->vocab_size_img
         && a->vocab_size_txt == b->vocab_size_txt && a->n_special == b->n_special
         && a->text_eot_id == b->text_eot_id && a->image_resolution == b->image_resolution
         && a->vq_z_channels == b->vq_z_channels && a->vq_embed_dim == b->vq_embed_dim
         && a->n_params_stage2 == b->n_params_stage2
         /* the shipped model also has a preview palette: Vi × 3 values */
         && a->n_params_vqgan + (a->has_palette ? 0 : 3 * a->vocab_size_img)
              == b->n_params_vqgan + (b->has_palette ? 0 : 3 * b->vocab_size_img);
}

static bool
same_bytes (const char *a, const char *b)
{
  g_autofree char *x = NULL, *y = NULL;
  gsize nx = 0, ny = 0;
  return g_file_get_contents (a, &x, &nx, NULL) && g_file_get_contents (b, &y, &ny, NULL)
         && nx == ny && memcmp (x, y, nx) == 0;
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: test-random-model DEFAULT_MODEL.gguf\n");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("test-random-model-XXXXXX", NULL);
  g_autofree char *p1 = g_build_filename (dir, "a.gguf", NULL);
  g_autofree char *p2 = g_build_filename (dir, "b.gguf", NULL);
  g_autofree char *p3 = g_build_filename (dir, "c.gguf", NULL);
  g_autofree char *p4 = g_build_filename (dir, "d.gguf", NULL);

  /* the default preset: the shipped model's geometry, loadable */
  magvlt_random_model_params rp = magvlt_random_model_default_params ();
  expect (rp.preset && strcmp (rp.preset, "default") == 0 && rp.weight_type == MAGVLT_WEIGHTS_F16,
          "default params: the default preset, f16");
  magvlt_convert_stats stats = { 0 };
  magvlt_status st = magvlt_random_model_write (&rp, p1, &stats);
  expect (st == MAGVLT_OK && stats.n_tensors > 0 && stats.file_size > 0,
          "default preset: written, with stats");
  magvlt_model *shipped = load (argv[1]), *m = load (p1);
  magvlt_model_info si = { 0 }, mi = { 0 };
  if (shipped && m)
    {
      magvlt_model_get_info (shipped, &si);
      magvlt_model_get_info (m, &mi);
    }
  printf ("     shipped: %lld + %lld parameters; random: %lld + %lld\n",
          (long long) si.n_params_stage2, (long long) si.n_params_vqgan,
          (long long) mi.n_params_stage2, (long long) mi.n_params_vqgan);
  expect (m && shipped && same_geometry (&mi, &si) && mi.has_vqgan && !mi.has_palette,
          "default preset: the shipped default model's geometry and parameter counts");
  expect (m && strcmp (mi.weight_type, "f16") == 0
            && stats.n_params == mi.n_params_stage2 + mi.n_params_vqgan,
          "default preset: f16 matrices; stats count every parameter");

  /* the synthetic tokenizer: a prompt round-trips */
  int32_t ids[64];
  const char *prompt = "A red apple on a wooden table!";
  magvlt_tokenizer_info ti = { 0 };
  magvlt_tokenize_result tr = { 0 };
  bool tok = m && magvlt_tokenizer_get_info (m, &ti) == MAGVLT_OK
             && magvlt_tokenize (m, prompt, strlen (prompt), ids, 64, &tr) == MAGVLT_OK;
  char text[256] = "";
  if (tok)
    tok = magvlt_detokenize (m, ids, mi.ctx_len_txt, 0, text, sizeof text, NULL) == MAGVLT_OK;
  printf ("     %d tokens, %d merges, decoded '%s'\n", tr.n_tokens, ti.n_merges, text);
  /* 26 characters: one token each without merges */
  expect (tok && ti.n_merges == 3072 - 514 && strcmp (text, "a red apple on a wooden table !") == 0
            && tr.n_tokens >= 8 && tr.n_tokens < 20 && !tr.fallback,
          "tokenizer: 2,558 merges that apply; the prompt decodes back");

  /* determinism, and the seed matters */
  expect (magvlt_random_model_write (&rp, p2, NULL) == MAGVLT_OK && same_bytes (p1, p2),
          "same parameters, same bytes");
  rp.seed = 2;
  expect (magvlt_random_model_write (&rp, p3, NULL) == MAGVLT_OK && !same_bytes (p1, p3),
          "another seed, other bytes");

  /* overrides and f32: the scales of make_parity_cases.py */
  rp = magvlt_random_model_default_params ();
  rp.n_layers = 2, rp.embed_dim = 64, rp.n_heads = 2, rp.image_grid = 4, rp.ctx_len_txt = 8;
  rp.weight_type = MAGVLT_WEIGHTS_F32;
  magvlt_model *o = NULL;
  magvlt_model_info oi = { 0 };
  if (magvlt_random_model_write (&rp, p4, NULL) == MAGVLT_OK && (o = load (p4)))
    magvlt_model_get_info (o, &oi);
  expect (o && oi.n_layers == 2 && oi.embed_dim == 64 && oi.n_heads == 2 && oi.mlp_hidden == 256
            && oi.image_grid == 4 && oi.ctx_len_txt == 8 && oi.image_resolution == 32
            && strcmp (oi.weight_type, "f32") == 0,
          "overrides: layers, width (MLP 4x), heads, image grid (VQGAN 32 px), text slots, f32");
  if (o)
    {
      /* the hidden state after the embedding of an all-masked T2I input is
       * a sum of rows of N(0, 0.4²) and N(0, 0.2²) tables: its spread tells
       * the scales were applied (1 would mean unscaled normals) */
      int32_t img[16] = { 0 }, txt[8] = { 0 };
      uint8_t all[16];
      memset (all, 1, sizeof all);
      float emb[28 * 64];
      magvlt_context *ctx = NULL;
      magvlt_forward_input in = { MAGVLT_LAYOUT_T2I, img, all, txt, NULL, 8 };
      magvlt_forward_output out = { .emb = emb };
      double s = 0, s2 = 0;
      int n = 28 * 64;
      bool ok = magvlt_context_init (o, NULL, &ctx) == MAGVLT_OK
                && magvlt_forward (ctx, &in, &out) == MAGVLT_OK;
      for (int i = 0; ok && i < n; i++)
        s += emb[i], s2 += (double) emb[i] * emb[i];
      double sd = ok ? sqrt (s2 / n - (s / n) * (s / n)) : 0;
      printf ("     embedding spread %.3f\n", sd);
      expect (ok && sd > 0.3 && sd < 0.7, "weights: embeddings at the trained-like scales");

      /* the matrix-product speed of every backend this build and CPU have */
      static const char *backends[] = { "openblas", "bf16", "onednn-f32", "onednn-bf16" };
      for (int i = 0; i < 4; i++)
        {
          magvlt_context_params cp = magvlt_context_default_params ();
          magvlt_context *bc = NULL;
          cp.backend = backends[i];
          if (magvlt_context_init (o, &cp, &bc) != MAGVLT_OK)
            {
              printf ("     %s: not available (%s)\n", backends[i], magvlt_last_error ());
              continue;
            }
          double gf = 0;
          char what[96];
          /* 40 rows × the MLP's 256 × 64 weight: a shape every backend
           * multiplies (bf16 only the model's own weights) */
          st = magvlt_context_bench_matmul (bc, 40, 256, 64, 3, &gf);
          printf ("     %s: %.1f GFLOP/s at 40x256x64\n", backends[i], gf);
          snprintf (what, sizeof what, "bench_matmul %s: a positive GFLOP/s", backends[i]);
          expect (st == MAGVLT_OK && gf > 0, what);
          if (strcmp (backends[i], "bf16") == 0)
            {
              st = magvlt_context_bench_matmul (bc, 40, 128, 96, 3, &gf);
              expect (st == MAGVLT_ERR_UNSUPPORTED && contains (magvlt_last_error (), "128×96"),
                      "bench_matmul bf16: a shape the model has no weight of is refused, named");
            }
          magvlt_context_free (bc);
        }
      double gf = 0;
      st = magvlt_context_bench_matmul (ctx, 0, 128, 96, 3, &gf);
      expect (st == MAGVLT_ERR_INVALID_ARG && contains (magvlt_last_error (), "0×128×96"),
              "bench_matmul: an empty shape is refused, named");
      st = magvlt_context_bench_matmul (ctx, 4, 4, 4, 0, &gf);
      expect (st == MAGVLT_ERR_INVALID_ARG && contains (magvlt_last_error (), "repeat"),
              "bench_matmul: repeat 0 is refused");
      magvlt_context_free (ctx);
    }

  /* bad parameters */
  rp = magvlt_random_model_default_params ();
  rp.preset = "huge";
  st = magvlt_random_model_write (&rp, p3, NULL);
  expect (st == MAGVLT_ERR_INVALID_ARG && contains (magvlt_last_error (), "'huge'")
            && contains (magvlt_last_error (), "base, large or default"),
          "unknown preset: refused, with the names");
  rp = magvlt_random_model_default_params ();
  rp.embed_dim = 100, rp.n_heads = 3;
  st = magvlt_random_model_write (&rp, p3, NULL);
  expect (st == MAGVLT_ERR_INVALID_ARG && contains (magvlt_last_error (), "not divisible"),
          "width not divisible by the heads: refused");
  rp = magvlt_random_model_default_params ();
  rp.n_layers = -1;
  st = magvlt_random_model_write (&rp, p3, NULL);
  expect (st == MAGVLT_ERR_INVALID_ARG && contains (magvlt_last_error (), "n_layers"),
          "negative layer count: refused, named");
  rp = magvlt_random_model_default_params ();
  g_autofree char *nodir = g_build_filename (dir, "no", "such", "x.gguf", NULL);
  st = magvlt_random_model_write (&rp, nodir, NULL);
  expect (st == MAGVLT_ERR_IO && contains (magvlt_last_error (), "x.gguf"),
          "unwritable path: I/O error naming it");

  magvlt_model_free (o);
  magvlt_model_free (m);
  magvlt_model_free (shipped);
  const char *paths[] = { p1, p2, p3, p4 };
  for (int i = 0; i < 4; i++)
    g_unlink (paths[i]);
  g_rmdir (dir);
  return expect_finish ();
}
