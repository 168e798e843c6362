/* cmd-forward.c — `magvlt forward`: one transformer forward pass per case,
 * outputs saved as NumPy files under the names of the official fixtures.
 * SPDX-License-Identifier: MIT */
#include "cases.h"
#include "magvlt-cli.h"
#include "npy.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

static const char forward_description[] =
  "CASES.json holds an object \"stage2_cases\" whose members are cases:\n"
  "  \"NAME\": {\n"
  "    \"layout\": \"T2I\" | \"I2T\",          sequence layout (spec section 2.3)\n"
  "    \"image_ids\": [I integers],         VQGAN codes, one per image slot\n"
  "    \"image_masked_positions\": [...],   image slots replaced by the mask token\n"
  "    \"text_ids\": [T integers],          text ids, end-of-text padded\n"
  "    \"text_masked_positions\": [...],    text slots replaced by the mask token\n"
  "    \"text_valid_len\": n                visible text slots incl. the first end-of-text\n"
  "  }\n"
  "Other members are ignored, so the official fixtures' cases.json runs unchanged.\n"
  "\n"
  "For each case, DIR receives (float32, NumPy format):\n"
  "  NAME.img_logits.npy [I, Vi]   NAME.txt_logits.npy [T, Vt]   NAME.len_logits.npy [T]\n"
  "  NAME.hidden.npy [L, C]        NAME.emb.npy [L, C]           NAME.block_out.npy [layers, L, "
  "C]\n"
  "Rows of text slots >= n are not computed and hold zeros. The wall time of each\n"
  "forward pass (median of --repeat runs) is printed.\n"
  "\n"
  "Example: magvlt forward -m model.gguf --cases cases.json --out logits/";

typedef struct {
  const magvlt_model_info *info;
  float *img, *txt, *len, *hidden, *emb, *block_out;
} forward_buffers;

static gboolean
save (const char *dir, const char *name, const char *what, const float *data, int n_dims, int64_t a,
      int64_t b, int64_t c)
{
  int64_t shape[3] = { a, b, c };
  g_autofree char *file = g_strdup_printf ("%s.%s.npy", name, what);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr (GError) error = NULL;
  if (!npy_write_f32 (path, data, n_dims, shape, &error))
    {
      fprintf (stderr, "magvlt forward: %s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static int
run_case (magvlt_context *ctx, const mv_case *c, forward_buffers *fb, const char *out_dir,
          int repeat, gboolean extras)
{
  const magvlt_model_info *in = fb->info;
  magvlt_forward_input input = mv_case_input (c);
  magvlt_forward_output output = {
    .image_logits = fb->img,
    .text_logits = fb->txt,
    .length_logits = fb->len,
    .hidden = fb->hidden,
    .emb = extras ? fb->emb : NULL,
    .block_out = extras ? fb->block_out : NULL,
  };
  g_autofree double *ms = g_new (double, repeat);

  for (int r = 0; r < repeat; r++)
    {
      double t0 = cli_now_ms ();
      magvlt_status st = magvlt_forward (ctx, &input, &output);
      ms[r] = cli_now_ms () - t0;
      if (st != MAGVLT_OK)
        {
          fprintf (stderr, "magvlt forward: case '%s': %s: %s\n", c->name, magvlt_status_str (st),
                   magvlt_context_last_error (ctx));
          return CLI_EXIT_FAILED;
        }
    }
  qsort (ms, (size_t) repeat, sizeof *ms, compare_double);
  printf ("%-24s %s  forward %.1f ms (median of %d, min %.1f)\n", c->name,
          c->layout == MAGVLT_LAYOUT_T2I ? "T2I" : "I2T", ms[repeat / 2], repeat, ms[0]);

  gboolean ok =
    save (out_dir, c->name, "img_logits", fb->img, 2, in->ctx_len_img, in->vocab_size_img, 0)
    && save (out_dir, c->name, "txt_logits", fb->txt, 2, in->ctx_len_txt, in->vocab_size_txt, 0)
    && save (out_dir, c->name, "len_logits", fb->len, 1, in->ctx_len_txt, 0, 0)
    && save (out_dir, c->name, "hidden", fb->hidden, 2, in->seq_len, in->embed_dim, 0);
  if (ok && extras)
    ok = save (out_dir, c->name, "emb", fb->emb, 2, in->seq_len, in->embed_dim, 0)
         && save (out_dir, c->name, "block_out", fb->block_out, 3, in->n_layers, in->seq_len,
                  in->embed_dim);
  return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int
cli_forward (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *cases_path = NULL, *case_name = NULL, *out_dir = NULL;
  int n_threads = 0, repeat = 1;
  gboolean no_extras = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF; default $MAGVLT_MODEL, else the installed default model)", "MODEL" },
    { "cases", 0, 0, G_OPTION_ARG_FILENAME, &cases_path, "Case file (JSON, see below)",
      "CASES.json" },
    { "case", 0, 0, G_OPTION_ARG_STRING, &case_name, "Run only this case", "NAME" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Output folder (created if missing)", "DIR" },
    { "output", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &out_dir, NULL, NULL },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Threads (default: physical cores)", "N" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "Run each case N times and report the median",
      "N" },
    { "no-extras", 0, 0, G_OPTION_ARG_NONE, &no_extras, "Skip emb.npy and block_out.npy", NULL },
    { NULL },
  };
  if (!cli_parse ("forward",
                  "Run one MAGVLT transformer forward pass per case and save "
                  "its logits, length logits and hidden states.",
                  forward_description, entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || !cases_path || !out_dir || argc > 1)
    {
      fprintf (stderr, "magvlt forward: --cases CASES.json and --out DIR are required (and -m "
                       "MODEL where no default model is installed)\n");
      return CLI_EXIT_USAGE;
    }
  if (repeat < 1 || repeat > 1000 || n_threads < 0 || n_threads > 1024)
    {
      fprintf (stderr, "magvlt forward: --repeat must be 1..1000 and --threads 0..1024\n");
      return CLI_EXIT_USAGE;
    }

  g_autoptr (GError) error = NULL;
  mv_case_file cf;
  if (!mv_case_file_load (cases_path, &cf, &error))
    {
      fprintf (stderr, "magvlt forward: %s\n", error->message);
      return CLI_EXIT_FAILED;
    }
  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      fprintf (stderr, "magvlt forward: cannot create %s: %s\n", out_dir, g_strerror (errno));
      mv_case_file_clear (&cf);
      return CLI_EXIT_FAILED;
    }
  magvlt_model *model = cli_load_model (model_path);
  if (!model)
    {
      mv_case_file_clear (&cf);
      return CLI_EXIT_FAILED;
    }
  magvlt_model_info info;
  magvlt_model_get_info (model, &info);
  if (!cli_need_transformer ("forward", model_path, &info))
    {
      magvlt_model_free (model);
      mv_case_file_clear (&cf);
      return CLI_EXIT_FAILED;
    }
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = n_threads;
  magvlt_context *ctx = NULL;
  int rc = CLI_EXIT_OK, ran = 0;
  if (magvlt_context_init (model, &cp, &ctx) != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt forward: %s\n", magvlt_last_error ());
      rc = CLI_EXIT_FAILED;
    }

  size_t lc = (size_t) info.seq_len * info.embed_dim;
  forward_buffers fb = {
    .info = &info,
    .img = g_new (float, (size_t) info.ctx_len_img *info.vocab_size_img),
    .txt = g_new (float, (size_t) info.ctx_len_txt *info.vocab_size_txt),
    .len = g_new (float, (size_t) info.ctx_len_txt),
    .hidden = g_new (float, lc),
    .emb = no_extras ? NULL : g_new (float, lc),
    .block_out = no_extras ? NULL : g_new (float, lc *info.n_layers),
  };
  for (int i = 0; rc == CLI_EXIT_OK && i < cf.n_cases; i++)
    {
      const mv_case *c = &cf.cases[i];
      if (case_name && !g_str_equal (case_name, c->name))
        continue;
      ran++;
      if (!mv_case_check (c, &info, &error))
        {
          fprintf (stderr, "magvlt forward: %s\n", error->message);
          rc = CLI_EXIT_FAILED;
          break;
        }
      rc = run_case (ctx, c, &fb, out_dir, repeat, !no_extras);
    }
  if (rc == CLI_EXIT_OK && ran == 0)
    {
      fprintf (stderr, "magvlt forward: %s has no case%s%s\n", cases_path,
               case_name ? " named " : "", case_name ? case_name : "");
      rc = CLI_EXIT_FAILED;
    }
  g_free (fb.img);
  g_free (fb.txt);
  g_free (fb.len);
  g_free (fb.hidden);
  g_free (fb.emb);
  g_free (fb.block_out);
  magvlt_context_free (ctx);
  magvlt_model_free (model);
  mv_case_file_clear (&cf);
  return rc;
}
