/* model_sampling.c — the sampling settings a model file recommends: its
 * magvlt.sampling.* keys (FORMAT.md), over the official defaults.
 *
 * `magvlt convert` copies them from the official sampling YAML (so an
 * official checkpoint gets the official values, the engine's defaults
 * anyway), and the training exporter writes the values chosen for the
 * default model on its validation split. Read: the refinement steps, the
 * temperatures and top-k. Not read: the candidate counts (the official
 * scripts sample 32 or 64 candidates and rerank them with CLIP; jobs here
 * default to one for speed and the caller chooses), the sample methods (the
 * engine implements the official ones, FORMAT.md) and txt_top_p (0, off, in
 * every official file; the engine has no top-p filter).
 * SPDX-License-Identifier: MIT */
#include "model.h"
#include "sampling_range.h"

#include "status.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* key: the name without the prefix; *out is set when the file has it */
static magvlt_status
read_u32 (const gguf_file *f, const char *key, int32_t *out)
{
  char full[96];
  uint32_t v;
  snprintf (full, sizeof full, "magvlt.sampling.%s", key);
  if (!gguf_find_kv (f, full))
    return MAGVLT_OK; /* every key is optional */
  magvlt_status st = gguf_get_u32 (f, full, &v);
  if (st != MAGVLT_OK)
    return st;
  const char *why = mv_sampling_range_error (key, v);
  if (why)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; %s", full, v, why);
  *out = (int32_t) v;
  return MAGVLT_OK;
}

static magvlt_status
read_f32 (const gguf_file *f, const char *key, float *out)
{
  char full[96];
  float v;
  snprintf (full, sizeof full, "magvlt.sampling.%s", key);
  if (!gguf_find_kv (f, full))
    return MAGVLT_OK;
  magvlt_status st = gguf_get_f32 (f, full, &v);
  if (st != MAGVLT_OK)
    return st;
  const char *why = mv_sampling_range_error (key, v);
  if (why)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %g; %s", full, (double) v, why);
  *out = v;
  return MAGVLT_OK;
}

magvlt_status
mv_model_read_sampling (const gguf_file *f, magvlt_sampling_params *sp)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  magvlt_status st;

  if ((st = read_u32 (f, "img_num_steps", &p.image_steps))
      || (st = read_u32 (f, "txt_num_steps", &p.text_steps))
      || (st = read_f32 (f, "img_temperature_start", &p.image_temperature_start))
      || (st = read_f32 (f, "img_temperature_end", &p.image_temperature_end))
      || (st = read_f32 (f, "img_mult_temperature_start", &p.image_choice_temperature_start))
      || (st = read_f32 (f, "img_mult_temperature_end", &p.image_choice_temperature_end))
      || (st = read_f32 (f, "txt_temperature", &p.text_temperature))
      || (st = read_u32 (f, "txt_top_k", &p.text_top_k)))
    return st;
  *sp = p;
  return MAGVLT_OK;
}

magvlt_sampling_params
magvlt_model_sampling_params (const magvlt_model *model)
{
  return model ? model->sampling : magvlt_sampling_default_params ();
}
