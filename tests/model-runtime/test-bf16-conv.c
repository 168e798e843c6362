/* test-bf16-conv.c — the bf16 backend's VQGAN convolutions pack pixel panels
 * straight from the image where whole panels fit an output row (widths that
 * are multiples of 32), and through an im2col band elsewhere. Both paths
 * must give the same bits: decodes of the shipped default model (64 px, so
 * its 32- and 64-wide levels take the direct path) with the direct packing
 * on and off, on 1 and 2 threads. Skipped (77) where the CPU lacks
 * AVX512-BF16.
 *
 * Usage: test-bf16-conv MODEL.gguf
 * SPDX-License-Identifier: MIT */
#include "matmul_bf16.h"

#include "../lib/expect.h"

#include <magvlt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
decode (magvlt_context *ctx, const int32_t *codes, float *raw)
{
  return magvlt_vq_decode (ctx, codes, NULL, 0, raw) == MAGVLT_OK;
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: test-bf16-conv MODEL.gguf\n");
      return 2;
    }
  if (!mv_bf16_available ())
    {
      printf ("SKIP: this CPU has no AVX512-BF16\n");
      return 77;
    }
  magvlt_model *model = NULL;
  magvlt_model_info info;
  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK
      || magvlt_model_get_info (model, &info) != MAGVLT_OK)
    {
      fprintf (stderr, "test-bf16-conv: %s\n", magvlt_last_error ());
      return 2;
    }
  expect (info.has_vqgan && info.image_resolution >= 64,
          "the model's decoder has levels 32 and 64 pixels wide (the direct path)");
  int p = info.image_grid * info.image_grid, r = info.image_resolution;
  size_t n = 3 * (size_t) r * r;
  int32_t *codes = malloc ((size_t) p * sizeof *codes);
  float *direct = malloc (n * sizeof *direct), *band = malloc (n * sizeof *band);
  uint64_t s = 12345;
  for (int threads = 1; threads <= 2 && codes && direct && band; threads++)
    {
      magvlt_context_params cp = magvlt_context_default_params ();
      magvlt_context *ctx = NULL;
      cp.n_threads = threads;
      cp.backend = "bf16";
      if (magvlt_context_init (model, &cp, &ctx) != MAGVLT_OK)
        {
          expect (false, magvlt_last_error ());
          break;
        }
      int same = 0, runs = 6;
      for (int i = 0; i < runs; i++)
        {
          for (int j = 0; j < p; j++)
            {
              s = s * 6364136223846793005ull + 1442695040888963407ull;
              codes[j] = (int32_t) ((s >> 33) % (uint64_t) info.vocab_size_img);
            }
          mv_bf16_conv_set_direct_pack (true);
          bool ok = decode (ctx, codes, direct);
          mv_bf16_conv_set_direct_pack (false);
          ok = ok && decode (ctx, codes, band);
          same += ok && memcmp (direct, band, n * sizeof *direct) == 0;
        }
      mv_bf16_conv_set_direct_pack (true);
      char what[128];
      snprintf (what, sizeof what,
                "%d threads: %d of %d decodes bit-identical with and without "
                "the direct packing",
                threads, same, runs);
      expect (same == runs, what);
      magvlt_context_free (ctx);
    }
  free (codes);
  free (direct);
  free (band);
  magvlt_model_free (model);
  return expect_finish ();
}
