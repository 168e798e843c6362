/* jobs.c — the public generation jobs: text → image, captioning, editing
 * and inpainting of images of any size, text infilling, joint generation.
 * Each runs the refinement loops of refine.c once per candidate, decodes,
 * and returns the candidates ranked by the model's mean log-likelihood.
 * SPDX-License-Identifier: MIT */
#include "jobs.h"
#include "image.h"
#include "refine.h"
#include "sampling_range.h"
#include "status.h"
#include "vqgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

magvlt_sampling_params
magvlt_sampling_default_params (void)
{
  /* configs/magvlt-it2it-*-sampling.yaml (spec §3.6), one candidate */
  magvlt_sampling_params p = {
    .seed = 0,
    .n_candidates = 1,
    .image_steps = 10,
    .image_temperature_start = 1.4f,
    .image_temperature_end = 0.6f,
    .image_choice_temperature_start = 2.0f,
    .image_choice_temperature_end = 0.2f,
    .text_steps = 12,
    .text_temperature = 0.1f,
    .text_top_k = 32,
    .text_length = 0,
    .caption_postprocess = true,
    .image_guidance = 0.0f, /* not in the official sampling */
  };
  return p;
}

magvlt_edit_params
magvlt_edit_default_params (void)
{
  magvlt_edit_params e = { .strength = 1.0f, .padding = 32, .feather = 8 };
  return e;
}

const char *
magvlt_stage_str (magvlt_stage stage)
{
  switch (stage)
    {
    case MAGVLT_STAGE_ENCODE: return "encoding";
    case MAGVLT_STAGE_LENGTH: return "predicting length";
    case MAGVLT_STAGE_IMAGE: return "generating image";
    case MAGVLT_STAGE_TEXT: return "generating text";
    case MAGVLT_STAGE_DECODE: return "decoding";
    }
  return "unknown";
}

void
magvlt_result_free (magvlt_result *r)
{
  if (!r)
    return;
  for (int i = 0; i < r->n_candidates && r->candidates; i++)
    {
      magvlt_candidate *c = &r->candidates[i];
      free (c->image_codes);
      free (c->image);
      free (c->text_ids);
      free (c->text);
    }
  free (r->candidates);
  memset (r, 0, sizeof *r);
}

magvlt_status
mv_jobs_check_params (magvlt_context *ctx, const magvlt_sampling_params *p)
{
  const mv_hparams *hp = &ctx->model->hp;
  if (p->n_candidates < 1 || p->n_candidates > 1024)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "n_candidates is %d; use 1 to 1024",
                        p->n_candidates);
  if (p->image_steps < 1 || p->image_steps > 1000 || p->text_steps < 1 || p->text_steps > 1000)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "steps must be between 1 and 1000 (image %d, text %d)", p->image_steps,
                        p->text_steps);
  float temps[] = { p->image_temperature_start, p->image_temperature_end, p->text_temperature };
  for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++)
    if (!(temps[i] > 0.0f) || !isfinite (temps[i]) || temps[i] > 100.0f)
      return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "temperature %g is not in (0, 100]",
                          (double) temps[i]);
  if (!(p->image_choice_temperature_start >= 0.0f) || !(p->image_choice_temperature_end >= 0.0f)
      || !isfinite (p->image_choice_temperature_start)
      || !isfinite (p->image_choice_temperature_end))
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "choice temperatures must be >= 0");
  const char *why = mv_sampling_range_error ("img_guidance_scale", p->image_guidance);
  if (why)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "image guidance %g: %s",
                        (double) p->image_guidance, why);
  if (p->text_top_k < 0 || p->text_length < 0 || p->text_length > hp->ctx_len_txt)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "text_top_k must be >= 0 and text_length 0..%d (got %d, %d)",
                        hp->ctx_len_txt, p->text_top_k, p->text_length);
  return MAGVLT_OK;
}

magvlt_status
mv_jobs_check_image (magvlt_context *ctx, const magvlt_image *img)
{
  if (!img || !img->rgb)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "no image given");
  if (img->width < 1 || img->height < 1 || img->width > 65536 || img->height > 65536
      || (int64_t) img->width * img->height > (1ll << 28))
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "image size %dx%d is not supported (1 to 65536 pixels a side, at most "
                        "2^28 pixels)",
                        img->width, img->height);
  if (img->stride < (size_t) img->width * 3)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "image stride %zu is less than %d bytes",
                        img->stride, img->width * 3);
  return MAGVLT_OK;
}

magvlt_status
mv_jobs_need_vqgan (magvlt_context *ctx)
{
  if (!ctx->model->vq)
    return mv_ctx_fail (ctx, MAGVLT_ERR_UNSUPPORTED,
                        "this model file has no VQGAN, so it cannot read or make images");
  return MAGVLT_OK;
}

magvlt_status
mv_jobs_need_transformer (magvlt_context *ctx)
{
  if (!ctx->model->has_stage2)
    return mv_ctx_fail (ctx, MAGVLT_ERR_UNSUPPORTED,
                        "this model file holds only a VQGAN (converted from a VQGAN checkpoint "
                        "alone), so it can encode and decode images (`magvlt vq`) but has no "
                        "transformer for generation, captioning or forward passes; convert the "
                        "MAGVLT checkpoint with `magvlt convert --ckpt`");
  return MAGVLT_OK;
}

/* prompt → ids[T] and the number of visible slots (tokens + end token) */
magvlt_status
mv_jobs_tokenize (magvlt_context *ctx, const char *prompt, int32_t *ids, int *n_visible)
{
  magvlt_tokenize_result tr;
  int t = ctx->model->hp.ctx_len_txt;
  magvlt_status st =
    magvlt_tokenize (ctx->model, prompt ? prompt : "", prompt ? strlen (prompt) : 0, ids, t, &tr);
  if (st != MAGVLT_OK)
    return mv_ctx_keep_error (ctx, st);
  if (tr.truncated)
    mv_log (ctx->params.log_callback, ctx->params.log_user_data, MAGVLT_LOG_WARN,
            "the prompt has more than %d tokens; the rest was dropped", t);
  *n_visible = tr.n_mask;
  return MAGVLT_OK;
}

static int
compare_candidates (const void *a, const void *b)
{
  const magvlt_candidate *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return (x->seed > y->seed) - (x->seed < y->seed);
}

/* Candidate k of a job: its seed (the job's seed + k, so it can be re-run
 * alone), its random stream (one per job kind), and the progress counters. */
magvlt_candidate *
mv_jobs_begin_candidate (mv_job *job, magvlt_result *r, int k, uint64_t stream, mv_rng *rng)
{
  magvlt_candidate *c = &r->candidates[k];
  c->seed = job->params.seed + (uint64_t) k;
  mv_rng_seed (rng, c->seed, stream);
  job->candidate = k;
  r->n_candidates = k + 1;
  return c;
}

magvlt_status
mv_jobs_result_alloc (magvlt_context *ctx, const magvlt_sampling_params *p, magvlt_result *r)
{
  memset (r, 0, sizeof *r);
  r->candidates = calloc ((size_t) p->n_candidates, sizeof *r->candidates);
  if (!r->candidates)
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
  return MAGVLT_OK;
}

magvlt_status
mv_jobs_finish (magvlt_context *ctx, magvlt_status st, mv_job *job, magvlt_result *r)
{
  mv_job_clear (job);
  if (st != MAGVLT_OK)
    {
      magvlt_result_free (r);
      return st;
    }
  qsort (r->candidates, (size_t) r->n_candidates, sizeof *r->candidates, compare_candidates);
  return MAGVLT_OK;
}

/* Decodes codes into a new R×R image of candidate c. */
static magvlt_status
decode_candidate (mv_job *job, const int32_t *codes, magvlt_candidate *c)
{
  const mv_vqgan *vq = job->ctx->model->vq;
  size_t n = (size_t) vq->resolution * vq->resolution * 3;
  mv_job_progress (job, MAGVLT_STAGE_DECODE, 0, 1);
  if (!(c->image = malloc (n)))
    return mv_ctx_fail (job->ctx, MAGVLT_ERR_NOMEM, "out of memory");
  c->width = c->height = vq->resolution;
  magvlt_status st =
    magvlt_vq_decode (job->ctx, codes, c->image, (size_t) vq->resolution * 3, NULL);
  mv_job_progress (job, MAGVLT_STAGE_DECODE, 1, 1);
  return st;
}

static magvlt_status
keep_codes (magvlt_context *ctx, magvlt_candidate *c, const int32_t *codes)
{
  size_t n = (size_t) ctx->model->hp.ctx_len_img;
  if (!(c->image_codes = malloc (n * sizeof (int32_t))))
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
  memcpy (c->image_codes, codes, n * sizeof (int32_t));
  return MAGVLT_OK;
}

/* Stores the text of a candidate: ids up to the end token, and the string. */
magvlt_status
mv_jobs_keep_text (magvlt_context *ctx, magvlt_candidate *c, const int32_t *txt, int n,
                   bool caption)
{
  const mv_hparams *hp = &ctx->model->hp;
  size_t len = 0;
  if (!(c->text_ids = malloc ((size_t) hp->ctx_len_txt * sizeof (int32_t))))
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
  for (int j = 0; j < hp->ctx_len_txt; j++)
    c->text_ids[j] = j < n ? txt[j] : hp->text_eot_id;
  uint32_t flags = caption ? MAGVLT_DETOKENIZE_CAPTION : 0;
  magvlt_status st =
    magvlt_detokenize (ctx->model, c->text_ids, hp->ctx_len_txt, flags, NULL, 0, &len);
  if (st == MAGVLT_OK && !(c->text = malloc (len + 1)))
    st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  if (st == MAGVLT_OK)
    st =
      magvlt_detokenize (ctx->model, c->text_ids, hp->ctx_len_txt, flags, c->text, len + 1, NULL);
  return st == MAGVLT_OK ? st : mv_ctx_keep_error (ctx, st);
}

static double
mean (double sum, int n)
{
  return n > 0 ? sum / n : 0.0;
}

magvlt_status
magvlt_generate_image (magvlt_context *ctx, const magvlt_sampling_params *params,
                       const char *prompt, magvlt_result *result)
{
  if (!ctx || !params || !result)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_generate_image: NULL argument");
  memset (result, 0, sizeof *result);
  if (!ctx->model->has_stage2) /* before any array sized by the transformer */
    return mv_jobs_need_transformer (ctx);
  const mv_hparams *hp = &ctx->model->hp;
  int32_t ids[hp->ctx_len_txt], codes[hp->ctx_len_img];
  uint8_t known[hp->ctx_len_img];
  int n_txt = 0;
  magvlt_status st;
  mv_job job;

  if ((st = mv_jobs_check_params (ctx, params)) || (st = mv_jobs_need_vqgan (ctx))
      || (st = mv_jobs_tokenize (ctx, prompt, ids, &n_txt))
      || (st = mv_job_init (ctx, params, &job)))
    return st;
  if ((st = mv_jobs_result_alloc (ctx, params, result)) != MAGVLT_OK)
    return mv_jobs_finish (ctx, st, &job, result);
  job.n_candidates = params->n_candidates;
  for (int k = 0; st == MAGVLT_OK && k < params->n_candidates; k++)
    {
      mv_rng rng;
      magvlt_candidate *c = mv_jobs_begin_candidate (&job, result, k, 0, &rng);
      double ll = 0.0;
      int n_ll = 0;
      memset (codes, 0, sizeof codes);
      memset (known, 0, sizeof known);
      if ((st = mv_refine_image (&job, ids, n_txt, codes, known, 0.0f, &rng, &ll, &n_ll))
          || (st = keep_codes (ctx, c, codes)) || (st = decode_candidate (&job, codes, c)))
        break;
      c->score = mean (ll, n_ll);
      c->image_guidance = mv_image_guidance (&job, n_txt);
    }
  return mv_jobs_finish (ctx, st, &job, result);
}

/* The official preprocessing: centred square, resized to R (antialiased),
 * then encoded. */
magvlt_status
mv_jobs_encode_fitted (mv_job *job, const magvlt_image *img, int32_t *codes)
{
  magvlt_context *ctx = job->ctx;
  const mv_vqgan *vq = ctx->model->vq;
  int x0, y0, side, res = vq->resolution;
  uint8_t *rgb = malloc ((size_t) res * res * 3);
  if (!rgb)
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
  mv_job_progress (job, MAGVLT_STAGE_ENCODE, 0, 1);
  mv_center_crop_box (img->width, img->height, &x0, &y0, &side);
  magvlt_status st = MAGVLT_OK;
  if (!mv_image_crop_resize (img->rgb, img->width, img->height, img->stride, x0, y0, side, rgb,
                             res))
    st = mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory resizing the image");
  magvlt_vq_encode_output out = { .codes = codes };
  if (st == MAGVLT_OK)
    st = magvlt_vq_encode (ctx, rgb, (size_t) res * 3, &out);
  free (rgb);
  mv_job_progress (job, MAGVLT_STAGE_ENCODE, 1, 1);
  return st;
}

/* The caption length: given, or predicted by the official length pass
 * (text all end tokens, the first T/4 slots visible and masked). */
static magvlt_status
caption_length (mv_job *job, const int32_t *codes, int *n)
{
  const mv_hparams *hp = &job->ctx->model->hp;
  if (job->params.text_length > 0)
    {
      *n = job->params.text_length;
      return MAGVLT_OK;
    }
  int32_t txt[hp->ctx_len_txt];
  uint8_t m[hp->ctx_len_txt];
  int slots = mv_length_pass_slots (job->ctx->model);
  for (int j = 0; j < hp->ctx_len_txt; j++)
    txt[j] = hp->text_eot_id, m[j] = j < slots;
  return mv_predict_length (job, codes, txt, m, slots, n);
}

static magvlt_status
caption_candidates (mv_job *job, const int32_t *codes, int n, magvlt_result *result,
                    bool with_image)
{
  magvlt_context *ctx = job->ctx;
  const mv_hparams *hp = &ctx->model->hp;
  int32_t txt[hp->ctx_len_txt];
  magvlt_status st = MAGVLT_OK;
  for (int k = 0; st == MAGVLT_OK && k < job->params.n_candidates; k++)
    {
      mv_rng rng;
      magvlt_candidate *c = mv_jobs_begin_candidate (job, result, k, 1, &rng);
      double ll = 0.0;
      int n_ll = 0;
      for (int j = 0; j < hp->ctx_len_txt; j++)
        txt[j] = hp->text_eot_id;
      if ((st = mv_refine_text (job, codes, txt, n, NULL, &rng, &ll, &n_ll))
          || (st = mv_jobs_keep_text (ctx, c, txt, n, job->params.caption_postprocess)))
        break;
      c->score = mean (ll, n_ll);
      if (with_image)
        st = keep_codes (ctx, c, codes);
    }
  return st;
}

magvlt_status
magvlt_caption (magvlt_context *ctx, const magvlt_sampling_params *params,
                const magvlt_image *image, magvlt_result *result)
{
  if (!ctx || !params || !result)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_caption: NULL argument");
  memset (result, 0, sizeof *result);
  if (!ctx->model->has_stage2) /* before any array sized by the transformer */
    return mv_jobs_need_transformer (ctx);
  int32_t codes[ctx->model->hp.ctx_len_img];
  int n;
  magvlt_status st;
  mv_job job;
  if ((st = mv_jobs_check_params (ctx, params)) || (st = mv_jobs_need_vqgan (ctx))
      || (st = mv_jobs_check_image (ctx, image)) || (st = mv_job_init (ctx, params, &job)))
    return st;
  job.n_candidates = params->n_candidates;
  if ((st = mv_jobs_result_alloc (ctx, params, result))
      || (st = mv_jobs_encode_fitted (&job, image, codes))
      || (st = caption_length (&job, codes, &n)))
    return mv_jobs_finish (ctx, st, &job, result);
  st = caption_candidates (&job, codes, n, result, false);
  return mv_jobs_finish (ctx, st, &job, result);
}

magvlt_status
magvlt_generate_joint (magvlt_context *ctx, const magvlt_sampling_params *params,
                       magvlt_result *result)
{
  if (!ctx || !params || !result)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_generate_joint: NULL argument");
  memset (result, 0, sizeof *result);
  if (!ctx->model->has_stage2) /* before any array sized by the transformer */
    return mv_jobs_need_transformer (ctx);
  const mv_hparams *hp = &ctx->model->hp;
  int32_t empty[hp->ctx_len_txt], codes[hp->ctx_len_img], txt[hp->ctx_len_txt];
  uint8_t known[hp->ctx_len_img];
  magvlt_status st;
  mv_job job;
  if ((st = mv_jobs_check_params (ctx, params)) || (st = mv_jobs_need_vqgan (ctx))
      || (st = mv_job_init (ctx, params, &job)))
    return st;
  if ((st = mv_jobs_result_alloc (ctx, params, result)) != MAGVLT_OK)
    return mv_jobs_finish (ctx, st, &job, result);
  job.n_candidates = params->n_candidates;
  /* GUESS (spec §3.5, no released procedure): the image from an empty
   * prompt — only the end token visible, as the T2I training data's empty
   * captions look — then the caption of that image exactly as captioning
   * does. Each stage is a procedure the model was trained for. */
  for (int j = 0; j < hp->ctx_len_txt; j++)
    empty[j] = hp->text_eot_id;
  for (int k = 0; st == MAGVLT_OK && k < params->n_candidates; k++)
    {
      mv_rng rng;
      magvlt_candidate *c = mv_jobs_begin_candidate (&job, result, k, 2, &rng);
      double ll = 0.0;
      int n_ll = 0, n;
      memset (codes, 0, sizeof codes);
      memset (known, 0, sizeof known);
      for (int j = 0; j < hp->ctx_len_txt; j++)
        txt[j] = hp->text_eot_id;
      if ((st = mv_refine_image (&job, empty, 1, codes, known, 0.0f, &rng, &ll, &n_ll))
          || (st = caption_length (&job, codes, &n))
          || (st = mv_refine_text (&job, codes, txt, n, NULL, &rng, &ll, &n_ll))
          || (st = mv_jobs_keep_text (ctx, c, txt, n, params->caption_postprocess))
          || (st = keep_codes (ctx, c, codes)) || (st = decode_candidate (&job, codes, c)))
        break;
      c->score = mean (ll, n_ll);
    }
  return mv_jobs_finish (ctx, st, &job, result);
}
