/* model_sampling.c — the sampling settings a model file recommends: its
 * magvlt.sampling.* keys (FORMAT.md), over the official defaults.
 *
 * `magvlt convert` copies them from the official sampling YAML (so an
 * official checkpoint gets the official values, the engine's defaults
 * anyway), and the training exporter writes the values chosen for the
 * default model on its validation split. Read: the refinement steps, the
 * temperatures, top-k and the image guidance (a key of ours that no
 * official file has, so official checkpoints sample as officially). Not
 * read: the candidate counts (the official
 * scripts sample 32 or 64 candidates and rerank them with CLIP; jobs here
 * default to one for speed and the caller chooses), the sample methods (the
 * engine implements the official ones, FORMAT.md) and txt_top_p (0, off, in
 * every official file; the engine has no top-p filter).
 * SPDX-License-Identifier: MIT */
#include "model.h"
#include "sampling_range.h"

#include "status.h"

#include <stdio.h>

magvlt_status
mv_model_read_sampling (const gguf_file *f, magvlt_sampling_params *sp)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  /* the keys the engine reads, and the field each sets (an integer or a float) */
  const struct {
    const char *key; /* without the prefix */
    int32_t *i;
    float *f;
  } keys[] = {
    { "img_num_steps", &p.image_steps, NULL },
    { "txt_num_steps", &p.text_steps, NULL },
    { "img_temperature_start", NULL, &p.image_temperature_start },
    { "img_temperature_end", NULL, &p.image_temperature_end },
    { "img_mult_temperature_start", NULL, &p.image_choice_temperature_start },
    { "img_mult_temperature_end", NULL, &p.image_choice_temperature_end },
    { "txt_temperature", NULL, &p.text_temperature },
    { "txt_top_k", &p.text_top_k, NULL },
    { "img_guidance_scale", NULL, &p.image_guidance }, /* ours, not official */
  };

  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    {
      char full[96];
      snprintf (full, sizeof full, "magvlt.sampling.%s", keys[i].key);
      if (!gguf_find_kv (f, full))
        continue; /* every key is optional */
      uint32_t u = 0;
      float x = 0.0f;
      magvlt_status st = keys[i].i ? gguf_get_u32 (f, full, &u) : gguf_get_f32 (f, full, &x);
      if (st != MAGVLT_OK)
        return st;
      double v = keys[i].i ? (double) u : (double) x;
      const char *why = mv_sampling_range_error (keys[i].key, v);
      if (why)
        return keys[i].i ? mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; %s", full, u, why)
                         : mv_fail (MAGVLT_ERR_FORMAT, "%s is %g; %s", full, v, why);
      if (keys[i].i)
        *keys[i].i = (int32_t) u;
      else
        *keys[i].f = x;
    }
  *sp = p;
  return MAGVLT_OK;
}

magvlt_sampling_params
magvlt_model_sampling_params (const magvlt_model *model)
{
  return model ? model->sampling : magvlt_sampling_default_params ();
}
