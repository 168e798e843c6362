/* test-parity.c — runs every case of a case file through magvlt_forward and
 * compares the outputs with expected .npy files written by the official code
 * (tests/data/official) or by our PyTorch reference (make_parity_cases.py).
 *
 * Usage: test-parity MODEL CASES.json EXPECTED_DIR official|reference|f16|bf16
 *
 * official:  logits and length logits |diff| <= 1e-4, or <= 1e-5 x the
 *            array's largest magnitude; hidden, emb, block_out <= 5e-5
 *            (the tolerances stated by the fixtures' README).
 * reference: every array's max |diff| / max |expected| <= 1e-4.
 * f16, bf16: a model with 16-bit matrices (magvlt convert --type f16/bf16)
 *            against float32 expectations: every array's max |diff| /
 *            max |expected| <= 5e-3 (f16) or 4e-2 (bf16); the official tiny
 *            model shows 1.1e-3 and 1.3e-2.
 * Both:      identical argmax in every compared row of every logit array.
 * Rows of text slots >= n (text_padding_positions_global) are skipped: the
 * engine drops them, which the attention masks make exact for every other row.
 * On failure it prints the worst index and the values side by side. */
#include "cases.h"
#include "npy.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *what;
  const float *got;
  int rows, cols;       /* a vector is one row */
  int row_offset;       /* full-layout index of row 0, or -1: rows are not positions */
  int text_slot_offset; /* rows are text slots starting at this layout index, or -1 */
  gboolean logits;      /* compare argmax per row */
  double abs_tol, rel_tol;
} check;

static gboolean
row_skipped (const mv_case *c, const check *k, int row)
{
  int g = k->row_offset >= 0         ? k->row_offset + row
          : k->text_slot_offset >= 0 ? k->text_slot_offset + row
                                     : -1;
  for (int i = 0; g >= 0 && i < c->n_padding; i++)
    if (c->padding_rows[i] == g)
      return TRUE;
  return FALSE;
}

static int
argmax (const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

static gboolean
compare (const mv_case *c, const char *dir, const check *k, int n_layers)
{
  g_autofree char *file = g_strdup_printf ("%s.%s.npy", c->name, k->what);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr (GError) error = NULL;
  npy_array e;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE; /* a case file may omit arrays */
  if (!npy_read (path, &e, &error))
    {
      printf ("FAIL %s %s: %s\n", c->name, k->what, error->message);
      return FALSE;
    }
  int64_t n = (int64_t) k->rows * k->cols * n_layers;
  if (e.dtype != NPY_F32 || e.n_elements != n)
    {
      printf ("FAIL %s %s: expected file has %lld elements, engine gives %lld\n", c->name, k->what,
              (long long) e.n_elements, (long long) n);
      npy_array_clear (&e);
      return FALSE;
    }
  const float *x = e.data;
  double max_abs = 0.0, worst = 0.0;
  int64_t worst_i = -1;
  int n_argmax_bad = 0, first_bad_row = -1;
  for (int layer = 0; layer < n_layers; layer++)
    for (int r = 0; r < k->rows; r++)
      {
        if (row_skipped (c, k, r))
          continue;
        int64_t base = ((int64_t) layer * k->rows + r) * k->cols;
        for (int j = 0; j < k->cols; j++)
          {
            double d = fabs ((double) k->got[base + j] - x[base + j]);
            if (!(d <= worst) || isnan (k->got[base + j]))
              {
                worst = isnan (d) ? INFINITY : d;
                worst_i = base + j;
              }
            if (fabs (x[base + j]) > max_abs)
              max_abs = fabs (x[base + j]);
          }
        if (k->logits && argmax (k->got + base, k->cols) != argmax (x + base, k->cols))
          {
            if (first_bad_row < 0)
              first_bad_row = r;
            n_argmax_bad++;
          }
      }
  gboolean ok = (worst <= k->abs_tol || worst <= k->rel_tol * max_abs) && n_argmax_bad == 0;
  printf ("%s %-18s %-10s max|diff| %.3g (%.3g of max|x| %.3g)%s\n", ok ? "ok  " : "FAIL", c->name,
          k->what, worst, max_abs > 0 ? worst / max_abs : 0.0, max_abs,
          k->logits ? (n_argmax_bad ? "" : ", argmax identical") : "");
  if (!ok && worst_i >= 0)
    {
      printf ("     worst at flat index %lld (row %lld, col %lld): engine %.7g, expected %.7g\n",
              (long long) worst_i, (long long) (worst_i / k->cols), (long long) (worst_i % k->cols),
              (double) k->got[worst_i], (double) x[worst_i]);
      int64_t r0 = worst_i / k->cols * k->cols;
      printf ("     first values of that row: engine");
      for (int j = 0; j < 4 && j < k->cols; j++)
        printf (" %.6g", (double) k->got[r0 + j]);
      printf (" | expected");
      for (int j = 0; j < 4 && j < k->cols; j++)
        printf (" %.6g", (double) x[r0 + j]);
      printf ("\n");
    }
  if (n_argmax_bad)
    printf ("     argmax differs in %d rows (first: row %d)\n", n_argmax_bad, first_bad_row);
  npy_array_clear (&e);
  return ok;
}

int
main (int argc, char **argv)
{
  if (argc != 5
      || (strcmp (argv[4], "official") && strcmp (argv[4], "reference") && strcmp (argv[4], "f16")
          && strcmp (argv[4], "bf16")))
    {
      fprintf (stderr,
               "usage: test-parity MODEL CASES.json EXPECTED_DIR official|reference|f16|bf16\n");
      return 2;
    }
  gboolean official = strcmp (argv[4], "official") == 0;
  double half_tol = strcmp (argv[4], "f16") == 0    ? 5e-3
                    : strcmp (argv[4], "bf16") == 0 ? 4e-2
                                                    : 0.0;
  g_autoptr (GError) error = NULL;
  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  mv_case_file cf;

  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK)
    {
      printf ("FAIL loading %s: %s\n", argv[1], magvlt_last_error ());
      return 1;
    }
  if (!mv_case_file_load (argv[2], &cf, &error))
    {
      printf ("FAIL %s\n", error->message);
      return 1;
    }
  /* the float32 reference path: auto would pick bf16 on CPUs that have it
   * (its own test, test-backends, holds it to bf16 tolerances) */
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.backend = "openblas";
  magvlt_context_init (model, &cp, &ctx);
  magvlt_model_info in;
  magvlt_model_get_info (model, &in);

  size_t lc = (size_t) in.seq_len * in.embed_dim;
  float *img = g_new (float, (size_t) in.ctx_len_img *in.vocab_size_img);
  float *txt = g_new (float, (size_t) in.ctx_len_txt *in.vocab_size_txt);
  float *len = g_new (float, (size_t) in.ctx_len_txt);
  float *hidden = g_new (float, lc), *emb = g_new (float, lc);
  float *blocks = g_new (float, lc *in.n_layers);
  int failures = 0, n_checks = 0;

  double l_abs = official ? 1e-4 : 0.0, l_rel = official ? 1e-5 : 1e-4;
  double h_abs = official ? 5e-5 : 0.0, h_rel = official ? 0.0 : 1e-4;
  if (half_tol > 0.0)
    l_rel = h_rel = half_tol;
  for (int i = 0; i < cf.n_cases; i++)
    {
      const mv_case *c = &cf.cases[i];
      if (!mv_case_check (c, &in, &error))
        {
          printf ("FAIL %s\n", error->message);
          return 1;
        }
      magvlt_forward_input input = mv_case_input (c);
      magvlt_forward_output output = {
        .image_logits = img,
        .text_logits = txt,
        .length_logits = len,
        .hidden = hidden,
        .emb = emb,
        .block_out = blocks,
      };
      magvlt_status st = magvlt_forward (ctx, &input, &output);
      if (st != MAGVLT_OK)
        {
          printf ("FAIL %s: %s\n", c->name, magvlt_last_error ());
          failures++;
          continue;
        }
      int txt0 = c->layout == MAGVLT_LAYOUT_T2I ? 2 : 4 + in.ctx_len_img;
      check checks[] = {
        { "img_logits", img, in.ctx_len_img, in.vocab_size_img, -1, -1, TRUE, l_abs, l_rel },
        { "txt_logits", txt, in.ctx_len_txt, in.vocab_size_txt, -1, txt0, TRUE, l_abs, l_rel },
        { "len_logits", len, 1, in.ctx_len_txt, -1, -1, TRUE, l_abs, l_rel },
        { "hidden", hidden, in.seq_len, in.embed_dim, 0, -1, FALSE, h_abs, h_rel },
        { "emb", emb, in.seq_len, in.embed_dim, 0, -1, FALSE, h_abs, h_rel },
        { "block_out", blocks, in.seq_len, in.embed_dim, 0, -1, FALSE, h_abs, h_rel },
      };
      for (size_t j = 0; j < G_N_ELEMENTS (checks); j++)
        {
          n_checks++;
          if (!compare (c, argv[3], &checks[j],
                        g_str_equal (checks[j].what, "block_out") ? in.n_layers : 1))
            failures++;
        }
    }
  int n_cases = cf.n_cases;
  printf ("%d cases, %d checks, %d failed\n", n_cases, n_checks, failures);
  g_free (img);
  g_free (txt);
  g_free (len);
  g_free (hidden);
  g_free (emb);
  g_free (blocks);
  mv_case_file_clear (&cf);
  magvlt_context_free (ctx);
  magvlt_model_free (model);
  return failures > 0 || n_cases == 0;
}
