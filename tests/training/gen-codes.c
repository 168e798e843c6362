/* gen-codes MODEL PROMPT SEED: a seeded text-to-image job on one thread (the library API, one
 * candidate, the model file's own sampling values otherwise, as `magvlt generate` uses them),
 * printing the generated image codes as one JSON array. Used by the regression test of the
 * shipped default model (MODEL_CARD.md). */
#include <magvlt.h>

#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char **argv)
{
  if (argc != 4 && argc != 5)
    {
      fprintf (stderr, "usage: gen-codes MODEL PROMPT SEED [BACKEND]\n");
      return 2;
    }
  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  magvlt_result res = { 0 };
  magvlt_model_info info;
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = 1;
  /* the float32 reference unless asked: the recorded codes are OpenBLAS's */
  cp.backend = argc > 4 ? argv[4] : "openblas";
  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK
      || magvlt_model_get_info (model, &info) != MAGVLT_OK
      || magvlt_context_init (model, &cp, &ctx) != MAGVLT_OK)
    {
      fprintf (stderr, "gen-codes: %s\n", magvlt_last_error ());
      return 1;
    }
  magvlt_sampling_params p = magvlt_model_sampling_params (model);
  p.seed = strtoull (argv[3], NULL, 10);
  p.n_candidates = 1;
  if (magvlt_generate_image (ctx, &p, argv[2], &res) != MAGVLT_OK || res.n_candidates < 1
      || !res.candidates[0].image_codes)
    {
      fprintf (stderr, "gen-codes: %s\n", magvlt_context_last_error (ctx));
      return 1;
    }
  printf ("[");
  for (int i = 0; i < info.ctx_len_img; i++)
    printf ("%s%d", i ? ", " : "", (int) res.candidates[0].image_codes[i]);
  printf ("]\n");
  magvlt_result_free (&res);
  magvlt_context_free (ctx);
  magvlt_model_free (model);
  return 0;
}
