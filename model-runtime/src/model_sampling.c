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

#include "status.h"

#include <math.h>

static magvlt_status
read_steps (const gguf_file *f, const char *key, int32_t *out)
{
  uint32_t v;
  if (!gguf_find_kv (f, key))
    return MAGVLT_OK; /* every key is optional */
  magvlt_status st = gguf_get_u32 (f, key, &v);
  if (st != MAGVLT_OK)
    return st;
  if (v < 1 || v > 1000)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; refinement steps must be 1 to 1000", key, v);
  *out = (int32_t) v;
  return MAGVLT_OK;
}

/* lo_open: a temperature must be > 0 (it divides the logits); a choice
 * temperature may be 0 (no noise on the re-masking scores) */
static magvlt_status
read_temperature (const gguf_file *f, const char *key, bool lo_open, float *out)
{
  float v;
  if (!gguf_find_kv (f, key))
    return MAGVLT_OK;
  magvlt_status st = gguf_get_f32 (f, key, &v);
  if (st != MAGVLT_OK)
    return st;
  if (!isfinite (v) || v > 100.0f || (lo_open ? !(v > 0.0f) : !(v >= 0.0f)))
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %g; it must be in %s0, 100]", key, (double) v,
                    lo_open ? "(" : "[");
  *out = v;
  return MAGVLT_OK;
}

magvlt_status
mv_model_read_sampling (const gguf_file *f, magvlt_sampling_params *sp)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  uint32_t top_k = (uint32_t) p.text_top_k;
  magvlt_status st;
  const char *k_top = "magvlt.sampling.txt_top_k";

  if ((st = read_steps (f, "magvlt.sampling.img_num_steps", &p.image_steps))
      || (st = read_steps (f, "magvlt.sampling.txt_num_steps", &p.text_steps))
      || (st = read_temperature (f, "magvlt.sampling.img_temperature_start", true,
                                 &p.image_temperature_start))
      || (st = read_temperature (f, "magvlt.sampling.img_temperature_end", true,
                                 &p.image_temperature_end))
      || (st = read_temperature (f, "magvlt.sampling.img_mult_temperature_start", false,
                                 &p.image_choice_temperature_start))
      || (st = read_temperature (f, "magvlt.sampling.img_mult_temperature_end", false,
                                 &p.image_choice_temperature_end))
      || (st = read_temperature (f, "magvlt.sampling.txt_temperature", true, &p.text_temperature))
      || (gguf_find_kv (f, k_top) && (st = gguf_get_u32 (f, k_top, &top_k))))
    return st;
  if (top_k > (1u << 22))
    return mv_fail (MAGVLT_ERR_FORMAT, "%s is %u; it must be 0 (off) to %u", k_top, top_k,
                    1u << 22);
  p.text_top_k = (int32_t) top_k;
  *sp = p;
  return MAGVLT_OK;
}

magvlt_sampling_params
magvlt_model_sampling_params (const magvlt_model *model)
{
  return model ? model->sampling : magvlt_sampling_default_params ();
}
