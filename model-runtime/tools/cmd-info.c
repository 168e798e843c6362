/* cmd-info.c — `magvlt info -m MODEL`.
 * SPDX-License-Identifier: MIT */
#include "magvlt-cli.h"

#include <stdio.h>

/* The provenance a converted file records (FORMAT.md, magvlt.source.*): which
 * checkpoint files it came from, with their SHA-256, so two files of the same
 * name (say, two training runs) can be told apart. Files written otherwise
 * (the tests' random models) have none; nothing is printed then. */
static void
print_provenance (const magvlt_model *model)
{
  char v[256], sha[80];
  if (magvlt_model_get_meta_str (model, "magvlt.source.converter", v, sizeof v) != MAGVLT_OK)
    return;
  printf ("converted by:   %s\n", v);
  static const char *const inputs[][2] = {
    { "ckpt", "checkpoint:" }, { "vqgan", "VQGAN:" }, { "config", "config:" }, { "bpe", "merges:" }
  };
  for (size_t i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autofree char *name_key = g_strdup_printf ("magvlt.source.%s", inputs[i][0]);
      g_autofree char *sha_key = g_strdup_printf ("magvlt.source.%s_sha256", inputs[i][0]);
      if (magvlt_model_get_meta_str (model, name_key, v, sizeof v) != MAGVLT_OK)
        continue;
      if (magvlt_model_get_meta_str (model, sha_key, sha, sizeof sha) != MAGVLT_OK)
        g_strlcpy (sha, "?", sizeof sha);
      printf ("  %-14s%s (sha256 %s)\n", inputs[i][1], v, sha);
    }
  if (magvlt_model_get_meta_str (model, "magvlt.source.preset", v, sizeof v) == MAGVLT_OK)
    printf ("  %-14s%s\n", "preset:", v);
  if (magvlt_model_get_meta_str (model, "magvlt.source.vqgan_weights", v, sizeof v) == MAGVLT_OK)
    printf ("  %-14s%s\n", "VQGAN from:", v);
}

int
cli_info (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF; default $MAGVLT_MODEL, else the installed default model)", "MODEL" },
    { NULL },
  };
  if (!cli_parse ("info", "Print a MAGVLT model file's architecture, geometry and size.",
                  "Also the tokenizer, the model's own sampling values, and for a converted file\n"
                  "where it came from (each source file's name and SHA-256).\n"
                  "\n"
                  "Example: magvlt info -m magvlt-it2it-base.gguf",
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || argc > 1)
    {
      fprintf (stderr, "magvlt info: give exactly one model with -m MODEL (no default model is "
                       "installed)\n");
      return CLI_EXIT_USAGE;
    }

  magvlt_model *model = cli_load_model (model_path);
  if (!model)
    return CLI_EXIT_FAILED;
  magvlt_model_info in;
  magvlt_model_get_info (model, &in);
  printf ("file:           %s\n", in.path);
  printf ("file size:      %llu bytes (%.1f MiB), GGUF v%d, %s\n",
          (unsigned long long) in.file_size, (double) in.file_size / (1 << 20), in.gguf_version,
          in.mmapped ? "memory-mapped" : "read into memory");
  printf ("architecture:   %s\n", in.architecture);
  if (in.name[0])
    printf ("name:           %s\n", in.name);
  printf ("tensors:        %lld\n", (long long) in.n_tensors);
  printf ("parameters:     %lld transformer, %lld VQGAN\n", (long long) in.n_params_stage2,
          (long long) in.n_params_vqgan);
  printf ("weights:        %s\n", in.weight_type);
  if (!in.has_transformer)
    {
      printf ("transformer:    none (a VQGAN-only model: `magvlt vq` works, text and generation "
              "commands do not)\n");
      printf ("image codes:    %dx%d grid, %d-entry codebook, %dx%d pixels\n", in.image_grid,
              in.image_grid, in.vocab_size_img, in.image_resolution, in.image_resolution);
      print_provenance (model);
      magvlt_model_free (model);
      return CLI_EXIT_OK;
    }
  printf ("transformer:    %d layers, width %d, %d heads (head dim %d), MLP %d\n", in.n_layers,
          in.embed_dim, in.n_heads, in.embed_dim / in.n_heads, in.mlp_hidden);
  printf ("sequence:       %d = 4 + %d image tokens (%dx%d grid) + %d text slots\n", in.seq_len,
          in.ctx_len_img, in.image_grid, in.image_grid, in.ctx_len_txt);
  printf ("vocabularies:   %d image codes, %d text ids (end/pad id %d), %d special tokens\n",
          in.vocab_size_img, in.vocab_size_txt, in.text_eot_id, in.n_special);
  magvlt_tokenizer_info ti;
  if (magvlt_tokenizer_get_info (model, &ti) == MAGVLT_OK)
    printf ("tokenizer:      %s, %d entries, %d merges, end-of-word suffix '%s'%s\n", ti.model,
            ti.vocab_size, ti.n_merges, ti.end_of_word_suffix, ti.lowercase ? ", lowercase" : "");
  else
    printf ("tokenizer:      none (`magvlt tokenize` needs a model exported with one)\n");
  magvlt_sampling_params sp = magvlt_model_sampling_params (model);
  printf ("sampling:       image %d steps, temperature %g -> %g, choice temperature %g -> %g, "
          "guidance %g; text %d steps, temperature %g, top-k %d\n",
          sp.image_steps, (double) sp.image_temperature_start, (double) sp.image_temperature_end,
          (double) sp.image_choice_temperature_start, (double) sp.image_choice_temperature_end,
          (double) sp.image_guidance, sp.text_steps, (double) sp.text_temperature, sp.text_top_k);
  print_provenance (model);
  magvlt_model_free (model);
  return CLI_EXIT_OK;
}
