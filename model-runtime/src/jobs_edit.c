/* jobs_edit.c — jobs that change part of an input: inpainting and
 * text-guided editing of images of any size (design.md data flow 6), and
 * text infilling.
 * SPDX-License-Identifier: MIT */
#include "image.h"
#include "jobs.h"
#include "refine.h"
#include "status.h"
#include "vqgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything an edit needs besides the candidates. */
typedef struct {
  int x0, y0, side; /* context square in image coordinates */
  int32_t *codes0;  /* [I] codes of the context square */
  uint8_t *region;  /* [I] 1 = code to regenerate */
  int n_region;
  float *alpha;     /* [w·h] paste weights */
  uint8_t *square;  /* [side, side, 3] a result resized back */
  uint8_t *decoded; /* [R, R, 3] */
} edit_plan;

static void
plan_clear (edit_plan *e)
{
  free (e->codes0);
  free (e->region);
  free (e->alpha);
  free (e->square);
  free (e->decoded);
}

static magvlt_status
plan_edit (mv_job *job, const magvlt_edit_params *ep, const magvlt_image *img, const uint8_t *mask,
           size_t mask_stride, edit_plan *e)
{
  magvlt_context *ctx = job->ctx;
  const mv_vqgan *vq = ctx->model->vq;
  int w = img->width, h = img->height, res = vq->resolution, ni = ctx->model->hp.ctx_len_img;
  int bx0 = 0, by0 = 0, bx1 = w, by1 = h;

  if (mask && !mv_mask_bbox (mask, w, h, mask_stride, &bx0, &by0, &bx1, &by1))
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "the mask is empty: paint the region to regenerate (mask values >= 128)");
  if (mask)
    mv_context_square (w, h, bx0, by0, bx1, by1, ep->padding, res, &e->x0, &e->y0, &e->side);
  else
    {
      /* the whole image: its bounding square, edges repeated if not square */
      e->side = w > h ? w : h;
      e->x0 = (w - e->side) / 2, e->y0 = (h - e->side) / 2;
    }
  e->codes0 = malloc ((size_t) ni * sizeof (int32_t));
  e->region = malloc ((size_t) ni);
  e->alpha = malloc ((size_t) w * h * sizeof (float));
  e->square = malloc ((size_t) e->side * e->side * 3);
  e->decoded = malloc ((size_t) res * res * 3);
  if (!e->codes0 || !e->region || !e->alpha || !e->square || !e->decoded)
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory for a %dx%d edit", w, h);

  if (mask)
    {
      mv_mask_to_tokens (mask, w, h, mask_stride, e->x0, e->y0, e->side, vq->grid, e->region);
      mv_feather_alpha (mask, w, h, mask_stride, ep->feather, e->alpha);
    }
  else
    {
      memset (e->region, 1, (size_t) ni);
      for (size_t i = 0; i < (size_t) w * h; i++)
        e->alpha[i] = 1.0f;
    }
  e->n_region = 0;
  for (int i = 0; i < ni; i++)
    e->n_region += e->region[i];

  mv_job_progress (job, MAGVLT_STAGE_ENCODE, 0, 1);
  if (!mv_image_crop_resize (img->rgb, w, h, img->stride, e->x0, e->y0, e->side, e->decoded, res))
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory resizing the image");
  magvlt_vq_encode_output out = { .codes = e->codes0 };
  magvlt_status st = magvlt_vq_encode (ctx, e->decoded, (size_t) res * 3, &out);
  mv_job_progress (job, MAGVLT_STAGE_ENCODE, 1, 1);
  return st;
}

/* Decodes the codes, resizes the square back and pastes it through alpha
 * into a copy of the input. */
static magvlt_status
compose (mv_job *job, const magvlt_image *img, edit_plan *e, const int32_t *codes,
         magvlt_candidate *c)
{
  magvlt_context *ctx = job->ctx;
  int res = ctx->model->vq->resolution, w = img->width, h = img->height;
  mv_job_progress (job, MAGVLT_STAGE_DECODE, 0, 1);
  magvlt_status st = magvlt_vq_decode (ctx, codes, e->decoded, (size_t) res * 3, NULL);
  if (st != MAGVLT_OK)
    return st;
  if (!(c->image = malloc ((size_t) w * h * 3)))
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
  c->width = w, c->height = h;
  for (int y = 0; y < h; y++)
    memcpy (c->image + (size_t) y * w * 3, img->rgb + (size_t) y * img->stride, (size_t) w * 3);
  if (!mv_image_resize (e->decoded, res, res, (size_t) res * 3, e->square, e->side, e->side,
                        (size_t) e->side * 3))
    return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory resizing the result");
  mv_paste (c->image, w, h, (size_t) w * 3, e->square, e->x0, e->y0, e->side, e->alpha);
  mv_job_progress (job, MAGVLT_STAGE_DECODE, 1, 1);
  return MAGVLT_OK;
}

magvlt_status
magvlt_edit_image (magvlt_context *ctx, const magvlt_sampling_params *params,
                   const magvlt_edit_params *edit, const magvlt_image *image, const uint8_t *mask,
                   size_t mask_stride, const char *prompt, magvlt_result *result)
{
  if (!ctx || !params || !result)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_edit_image: NULL argument");
  memset (result, 0, sizeof *result);
  if (!ctx->model->has_stage2) /* before any array sized by the transformer */
    return mv_jobs_need_transformer (ctx);
  magvlt_edit_params ep = edit ? *edit : magvlt_edit_default_params ();
  const mv_hparams *hp = &ctx->model->hp;
  int ni = hp->ctx_len_img;
  int32_t ids[hp->ctx_len_txt], codes[ni];
  uint8_t known[ni];
  int n_txt = 0;
  edit_plan e = { 0 };
  magvlt_status st;
  mv_job job;

  if (!(ep.strength > 0.0f && ep.strength <= 1.0f) || ep.padding < 0 || ep.padding > 65536
      || ep.feather < 0 || ep.feather > 4096)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "strength must be in (0, 1], padding 0..65536 and feather 0..4096 "
                        "(got %g, %d, %d)",
                        (double) ep.strength, ep.padding, ep.feather);
  if ((st = mv_jobs_check_params (ctx, params)) || (st = mv_jobs_need_vqgan (ctx))
      || (st = mv_jobs_check_image (ctx, image)))
    return st;
  if (mask && mask_stride < (size_t) image->width)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "mask stride %zu is less than %d bytes",
                        mask_stride, image->width);
  if ((st = mv_jobs_tokenize (ctx, prompt, ids, &n_txt)) || (st = mv_job_init (ctx, params, &job)))
    return st;
  job.n_candidates = params->n_candidates;
  if ((st = mv_jobs_result_alloc (ctx, params, result))
      || (st = plan_edit (&job, &ep, image, mask, mask_stride, &e)))
    {
      plan_clear (&e);
      return mv_jobs_finish (ctx, st, &job, result);
    }

  /* An edit with strength σ re-masks round(σ·G) of the G region tokens (at
   * random) and starts the cosine schedule where γ(r0) = σ, so it refines
   * from that point as a generation would; σ = 1 is plain inpainting. */
  int n_remask = (int) lroundf (ep.strength * (float) e.n_region);
  n_remask = n_remask < 1 ? 1 : n_remask;
  float r0 = ep.strength >= 1.0f ? 0.0f : (float) (acos (ep.strength) * 2.0 / M_PI);
  for (int k = 0; st == MAGVLT_OK && k < params->n_candidates; k++)
    {
      mv_rng rng;
      magvlt_candidate *c = mv_jobs_begin_candidate (&job, result, k, 3, &rng);
      double ll = 0.0;
      int n_ll = 0;
      memcpy (codes, e.codes0, sizeof codes);
      for (int i = 0; i < ni; i++)
        known[i] = !e.region[i];
      if (n_remask < e.n_region)
        {
          /* keep a random n_region − n_remask of the region's codes */
          double key[ni];
          uint8_t pick[ni];
          for (int i = 0; i < ni; i++)
            key[i] = e.region[i] ? mv_rng_uniform (&rng) : -1.0, pick[i] = 0;
          for (int m = 0; m < e.n_region - n_remask; m++)
            {
              int best = -1;
              for (int i = 0; i < ni; i++)
                if (e.region[i] && !pick[i] && (best < 0 || key[i] > key[best]))
                  best = i;
              pick[best] = 1;
              known[best] = 1;
            }
        }
      if ((st = mv_refine_image (&job, ids, n_txt, codes, known, r0, &rng, &ll, &n_ll)))
        break;
      c->image_guidance = mv_image_guidance (&job, n_txt);
      if (!(c->image_codes = malloc ((size_t) ni * sizeof (int32_t))))
        st = mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory");
      else
        memcpy (c->image_codes, codes, (size_t) ni * sizeof (int32_t));
      if (st == MAGVLT_OK)
        st = compose (&job, image, &e, codes, c);
      c->score = n_ll > 0 ? ll / n_ll : 0.0;
    }
  plan_clear (&e);
  return mv_jobs_finish (ctx, st, &job, result);
}

magvlt_status
magvlt_feather_alpha (const uint8_t *mask, int32_t width, int32_t height, size_t stride,
                      int32_t feather, float *alpha)
{
  if (!mask || !alpha || width < 1 || height < 1 || stride < (size_t) width || feather < 0
      || feather > 4096)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "magvlt_feather_alpha: bad arguments (%dx%d, stride %zu, feather %d)", width,
                    height, stride, feather);
  mv_feather_alpha (mask, width, height, stride, feather, alpha);
  return MAGVLT_OK;
}

/* ---- text infilling ------------------------------------------------------ */

static magvlt_status
tokenize_part (magvlt_context *ctx, const char *s, size_t len, int32_t *ids, int *n)
{
  magvlt_tokenize_result tr;
  int t = ctx->model->hp.ctx_len_txt;
  int32_t tmp[t];
  magvlt_status st = magvlt_tokenize (ctx->model, s, len, tmp, t, &tr);
  if (st != MAGVLT_OK)
    return mv_ctx_keep_error (ctx, st);
  memcpy (ids, tmp, (size_t) tr.n_tokens * sizeof (int32_t));
  *n = tr.n_tokens;
  return MAGVLT_OK;
}

magvlt_status
magvlt_infill_text (magvlt_context *ctx, const magvlt_sampling_params *params,
                    const magvlt_image *image, const char *text, int32_t span_length,
                    magvlt_result *result)
{
  if (!ctx || !params || !result || !text)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_infill_text: NULL argument");
  memset (result, 0, sizeof *result);
  if (!ctx->model->has_stage2) /* before any array sized by the transformer */
    return mv_jobs_need_transformer (ctx);
  const mv_hparams *hp = &ctx->model->hp;
  int t = hp->ctx_len_txt;
  const char *mark = strstr (text, "[MASK]");
  if (!mark)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "the text has no [MASK]: mark where words are to be generated, e.g. "
                        "\"a [MASK] on a blue background\"");
  if (strstr (mark + 6, "[MASK]"))
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "the text has more than one [MASK]");
  if (span_length < 0 || span_length > t)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "span length %d is not in 0..%d", span_length,
                        t);

  int32_t before[t], after[t], codes[hp->ctx_len_img], txt[t];
  uint8_t editable[t];
  int nb = 0, na = 0, n;
  magvlt_status st;
  mv_job job;
  if ((st = mv_jobs_check_params (ctx, params)) || (st = mv_jobs_need_vqgan (ctx))
      || (st = mv_jobs_check_image (ctx, image))
      || (st = tokenize_part (ctx, text, (size_t) (mark - text), before, &nb))
      || (st = tokenize_part (ctx, mark + 6, strlen (mark + 6), after, &na)))
    return st;
  int room = t - 1 - nb - na;
  if (room < 1)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "the known words take %d of the model's %d text slots: no room for the "
                        "span",
                        nb + na, t);
  if ((st = mv_job_init (ctx, params, &job)))
    return st;
  job.n_candidates = params->n_candidates;
  if ((st = mv_jobs_result_alloc (ctx, params, result))
      || (st = mv_jobs_encode_fitted (&job, image, codes)))
    return mv_jobs_finish (ctx, st, &job, result);

  int span = span_length;
  if (span == 0)
    {
      /* predict the caption's length from the image (the official length
       * pass); the span gets what the known words leave of it */
      int32_t eot[t];
      uint8_t m[t];
      int slots = mv_length_pass_slots (ctx->model), len;
      for (int j = 0; j < t; j++)
        eot[j] = hp->text_eot_id, m[j] = j < slots;
      if ((st = mv_predict_length (&job, codes, eot, m, slots, &len)))
        return mv_jobs_finish (ctx, st, &job, result);
      span = len - 1 - nb - na;
    }
  span = span < 1 ? 1 : span > room ? room : span;
  /* DEVIATION from feat/eval's sample_i2t(input_text=True), which used the
   * predicted length as the attention window and so could hide the known
   * words after the span: here the window is exactly the known words, the
   * span and the end token. */
  n = nb + span + na + 1;
  for (int j = 0; j < t; j++)
    {
      txt[j] = j < nb               ? before[j]
               : j < nb + span      ? hp->text_eot_id
               : j < nb + span + na ? after[j - nb - span]
                                    : hp->text_eot_id;
      editable[j] = j >= nb && j < nb + span;
    }
  int32_t work[t];
  for (int k = 0; st == MAGVLT_OK && k < params->n_candidates; k++)
    {
      mv_rng rng;
      magvlt_candidate *c = mv_jobs_begin_candidate (&job, result, k, 4, &rng);
      double ll = 0.0;
      int n_ll = 0;
      memcpy (work, txt, sizeof work);
      if ((st = mv_refine_text (&job, codes, work, n, editable, &rng, &ll, &n_ll)))
        break;
      /* an end token sampled inside the span would cut the text short */
      int kept = 0;
      for (int j = 0; j < n; j++)
        if (!editable[j] || work[j] != hp->text_eot_id || j == n - 1)
          work[kept++] = work[j];
      if ((st = mv_jobs_keep_text (ctx, c, work, kept, false)))
        break;
      c->score = n_ll > 0 ? ll / n_ll : 0.0;
    }
  return mv_jobs_finish (ctx, st, &job, result);
}
