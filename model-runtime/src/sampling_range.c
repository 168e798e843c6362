/* sampling_range.c — the values the engine accepts for the magvlt.sampling.*
 * keys it reads (FORMAT.md), in one table for the model loader
 * (model_sampling.c) and `magvlt convert` (convert_config.c). No
 * dependencies, so the converter's fuzz targets link it alone.
 * SPDX-License-Identifier: MIT */
#include "sampling_range.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* `magvlt convert` refuses a YAML value the engine would refuse, rather than
 * write a file nothing loads. A temperature must be > 0 (it divides the
 * logits); a choice temperature may be 0 (no noise on the re-masking
 * scores). */
typedef struct {
  const char *key; /* without "magvlt.sampling." */
  double lo, hi;
  bool lo_open, integer;
  const char *range; /* in words, for the messages */
} sampling_range;

static const sampling_range ranges[] = {
  { "img_num_steps", 1, 1000, false, true, "refinement steps must be 1 to 1000" },
  { "txt_num_steps", 1, 1000, false, true, "refinement steps must be 1 to 1000" },
  { "img_temperature_start", 0, 100, true, false, "it must be in (0, 100]" },
  { "img_temperature_end", 0, 100, true, false, "it must be in (0, 100]" },
  { "img_mult_temperature_start", 0, 100, false, false, "it must be in [0, 100]" },
  { "img_mult_temperature_end", 0, 100, false, false, "it must be in [0, 100]" },
  { "txt_temperature", 0, 100, true, false, "it must be in (0, 100]" },
  { "txt_top_k", 0, 1 << 22, false, true, "it must be 0 (off) to 4194304" },
  { "img_guidance_scale", 0, 100, false, false, "it must be in [0, 100] (0 = off)" },
};

const char *
mv_sampling_range_error (const char *key, double v)
{
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
    if (strcmp (ranges[i].key, key) == 0)
      {
        const sampling_range *r = &ranges[i];
        bool ok = isfinite (v) && v <= r->hi && (r->lo_open ? v > r->lo : v >= r->lo)
                  && (!r->integer || v == floor (v));
        return ok ? NULL : r->range;
      }
  return NULL; /* recorded only: any value */
}
