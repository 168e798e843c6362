/* refine.c — MAGVLT's iterative masked refinement (spec §3): the image
 * loop (cosine schedule, annealed temperatures, confidence re-masking with
 * Gumbel noise), the caption length pass, and the text loop (linear
 * mask-predict with top-k sampling). One candidate at a time; the job
 * functions in jobs.c run them per candidate and rank the results.
 *
 * Beyond the official sampling: text guidance of the image loop
 * (magvlt_sampling_params.image_guidance, off by default), see
 * guide_image_logits.
 * SPDX-License-Identifier: MIT
 *
 * Legend: I image slots, T text slots, Vi / Vt vocabularies, S steps. */
#include "refine.h"

#include "status.h"
#include "vqgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The fp16 machine epsilon the official code floors confidences at. */
#define MV_CONFIDENCE_FLOOR 0.0009765625

magvlt_status
mv_job_init (magvlt_context *ctx, const magvlt_sampling_params *params, mv_job *job)
{
  const mv_hparams *hp = &ctx->model->hp;
  size_t ni = (size_t) hp->ctx_len_img, nt = (size_t) hp->ctx_len_txt;
  size_t vmax =
    (size_t) (hp->vocab_size_img > hp->vocab_size_txt ? hp->vocab_size_img : hp->vocab_size_txt);
  memset (job, 0, sizeof *job);
  job->ctx = ctx;
  job->params = *params;
  job->img_logits = malloc (ni * (size_t) hp->vocab_size_img * sizeof (float));
  job->txt_logits = malloc (nt * (size_t) hp->vocab_size_txt * sizeof (float));
  job->scratch = malloc (vmax * sizeof (float));
  job->sample = malloc ((ni > nt ? ni : nt) * sizeof (int32_t));
  job->score = malloc ((ni > nt ? ni : nt) * sizeof (double));
  job->ll = malloc ((ni > nt ? ni : nt) * sizeof (double));
  job->rows = malloc (ni > nt ? ni : nt);
  job->len_logits = malloc (nt * sizeof (float));
  job->thumb = malloc ((ni ? ni : 1) * 3);
  if (!job->img_logits || !job->txt_logits || !job->scratch || !job->sample || !job->score
      || !job->ll || !job->rows || !job->len_logits || !job->thumb)
    {
      mv_job_clear (job);
      return mv_ctx_fail (ctx, MAGVLT_ERR_NOMEM, "out of memory for the job's logits");
    }
  return MAGVLT_OK;
}

void
mv_job_clear (mv_job *job)
{
  free (job->img_logits);
  free (job->img_unguided);
  free (job->txt_logits);
  free (job->scratch);
  free (job->sample);
  free (job->score);
  free (job->ll);
  free (job->rows);
  free (job->len_logits);
  free (job->thumb);
  free (job->preview_rgb);
  memset (job, 0, sizeof *job);
}

static float
lerp_steps (float a, float b, int s, int n)
{
  /* torch.linspace(a, b, n)[s] */
  return n <= 1 ? a : a + (b - a) * (float) s / (float) (n - 1);
}

void
mv_job_progress (mv_job *job, magvlt_stage stage, int step, int n_steps)
{
  const magvlt_callbacks *cb = &job->ctx->callbacks;
  if (cb->progress)
    cb->progress (stage, step, n_steps, job->candidate, job->n_candidates, cb->user_data);
}

/* Preview tiers: the code grid and its mask (free), the palette thumbnail
 * (microseconds), and a full decode on every preview_decode_every-th step. */
static magvlt_status
preview_image (mv_job *job, int step, int n_steps, const int32_t *codes, const uint8_t *known)
{
  magvlt_context *ctx = job->ctx;
  const magvlt_callbacks *cb = &ctx->callbacks;
  if (!cb->preview)
    return MAGVLT_OK;
  magvlt_preview pv = {
    .stage = MAGVLT_STAGE_IMAGE,
    .step = step,
    .n_steps = n_steps,
    .candidate = job->candidate,
    .n_candidates = job->n_candidates,
    .image_codes = codes,
    .image_known = known,
  };
  if (ctx->model->vq && magvlt_vq_preview (ctx->model, codes, known, job->thumb) == MAGVLT_OK)
    {
      pv.thumbnail = job->thumb;
      pv.thumbnail_size = ctx->model->vq->grid;
    }
  if (ctx->model->vq && cb->preview_decode_every > 0
      && (step % cb->preview_decode_every == 0 || step == n_steps))
    {
      const mv_vqgan *vq = ctx->model->vq;
      size_t n = (size_t) vq->resolution * vq->resolution * 3;
      if (!job->preview_rgb)
        job->preview_rgb = malloc (n);
      /* still-masked codes decode as code 0; the preview shows the shape of
       * what is known so far */
      if (job->preview_rgb)
        {
          int32_t *tmp = job->sample; /* scratch [I], refilled by the next step */
          for (int i = 0; i < ctx->model->hp.ctx_len_img; i++)
            tmp[i] = known[i] ? codes[i] : 0;
          magvlt_status st =
            magvlt_vq_decode (ctx, tmp, job->preview_rgb, (size_t) vq->resolution * 3, NULL);
          if (st == MAGVLT_ABORTED)
            return st; /* the cancel request was meant for the whole job */
          if (st == MAGVLT_OK)
            {
              pv.image = job->preview_rgb;
              pv.image_size = vq->resolution;
            }
        }
    }
  cb->preview (&pv, cb->user_data);
  return MAGVLT_OK;
}

/* Text guidance (classifier-free guidance, Ho & Salimans 2022, as Muse and
 * MaskGIT-style samplers use it): the logits of the masked rows become
 * l + g · (l − u), u the same forward without the text. MAGVLT has no
 * guidance officially, and its training never drops the text, so there is
 * no learned "unconditional" token: we take the T2I sequence with no text
 * slots at all (text_valid_len 0: BOC, BOT, BOG, BOI and the image; the
 * keys of absent slots are left out exactly as padding is) as the null
 * condition. CHOICE, measured on the default model (validation split, 300
 * prompts, bf16): g = 1 raises generation top-5 from 33.7 % to 59.3 %
 * (top-1 15.0 → 34.7 %, Fréchet 32.7 → 24.7); g = 0.5 / 1.5 / 2 / 3 give
 * 47.7 / 54.3 / 58.0 / 56.7 %; all text slots [MASK] instead of none as the
 * null condition 51.0 %. The same guidance of captions (the image masked as
 * the null condition) named concepts less often, so text stays unguided.
 * A prompt without a token (only the end-of-text slot: a blank prompt, or
 * the joint job's image stage) has nothing to guide by: no guidance. */
float
mv_image_guidance (const mv_job *job, int n_txt)
{
  return n_txt > 1 ? job->params.image_guidance : 0.0f;
}

static magvlt_status
guide_image_logits (mv_job *job, const magvlt_forward_input *in, const uint8_t *masked, float g)
{
  const mv_hparams *hp = &job->ctx->model->hp;
  magvlt_forward_input bare = *in;
  bare.text_valid_len = 0;
  /* on the first guided step: text jobs never need it */
  if (!job->img_unguided
      && !(job->img_unguided =
             malloc ((size_t) hp->ctx_len_img * (size_t) hp->vocab_size_img * sizeof (float))))
    return mv_ctx_fail (job->ctx, MAGVLT_ERR_NOMEM, "out of memory for the guidance logits");
  magvlt_forward_output out = { .image_logits = job->img_unguided, .image_logit_rows = masked };
  magvlt_status st = magvlt_forward (job->ctx, &bare, &out);
  if (st != MAGVLT_OK)
    return st;
  size_t vi = (size_t) hp->vocab_size_img;
  for (int j = 0; j < hp->ctx_len_img; j++)
    if (masked[j])
      {
        float *l = job->img_logits + (size_t) j * vi;
        const float *u = job->img_unguided + (size_t) j * vi;
        for (size_t v = 0; v < vi; v++)
          l[v] += g * (l[v] - u[v]);
      }
  return MAGVLT_OK;
}

magvlt_status
mv_refine_image (mv_job *job, const int32_t *text_ids, int n_txt, int32_t *codes, uint8_t *known,
                 float r0, mv_rng *rng, double *ll_sum, int *ll_n)
{
  magvlt_context *ctx = job->ctx;
  const mv_hparams *hp = &ctx->model->hp;
  const magvlt_sampling_params *p = &job->params;
  int ni = hp->ctx_len_img, vi = hp->vocab_size_img, n_steps = p->image_steps;
  int n_generate = 0;
  float guidance = mv_image_guidance (job, n_txt);
  magvlt_status st;

  for (int j = 0; j < ni; j++)
    n_generate += !known[j];
  uint8_t *masked = job->rows;
  for (int s = 0; s < n_steps; s++)
    {
      int n_masked = 0;
      for (int j = 0; j < ni; j++)
        n_masked += (masked[j] = !known[j]);
      mv_job_progress (job, MAGVLT_STAGE_IMAGE, s, n_steps);
      if (n_masked == 0)
        break; /* more steps than tokens: the official code crashes here */

      magvlt_forward_input in = {
        .layout = MAGVLT_LAYOUT_T2I,
        .image_ids = codes,
        .image_masked = masked,
        .text_ids = text_ids,
        .text_masked = NULL,
        .text_valid_len = n_txt,
      };
      magvlt_forward_output out = { .image_logits = job->img_logits, .image_logit_rows = masked };
      if ((st = magvlt_forward (ctx, &in, &out)) != MAGVLT_OK)
        return st;
      if (guidance > 0.0f && (st = guide_image_logits (job, &in, masked, guidance)) != MAGVLT_OK)
        return st;

      float tau = lerp_steps (p->image_temperature_start, p->image_temperature_end, s, n_steps);
      float mu =
        lerp_steps (p->image_choice_temperature_start, p->image_choice_temperature_end, s, n_steps);
      for (int j = 0; j < ni; j++)
        {
          if (!masked[j])
            continue;
          const float *row = job->img_logits + (size_t) j * vi;
          double lp;
          job->sample[j] = mv_sample_categorical (row, vi, tau, 0, rng, job->scratch, &lp);
          double conf = exp (lp);
          conf = conf < MV_CONFIDENCE_FLOOR ? MV_CONFIDENCE_FLOOR : conf > 1.0 ? 1.0 : conf;
          job->score[j] = log (conf) + mu * mv_rng_gumbel (rng);
          job->ll[j] = mv_log_softmax_at (row, vi, job->sample[j]);
        }
      int k = mv_image_unmask_count (s, n_steps, n_generate, n_masked, r0);
      if (s == n_steps - 1)
        k = n_masked; /* the last step keeps every remaining sample */
      /* fix the k masked tokens with the highest scores (selection by
       * repeated maximum: k·I is small next to one forward pass) */
      for (int c = 0; c < k; c++)
        {
          int best = -1;
          for (int j = 0; j < ni; j++)
            if (masked[j] && !known[j] && (best < 0 || job->score[j] > job->score[best]))
              best = j;
          codes[best] = job->sample[best];
          known[best] = 1;
          *ll_sum += job->ll[best];
          (*ll_n)++;
        }
      if ((st = preview_image (job, s + 1, n_steps, codes, known)) != MAGVLT_OK)
        return st;
    }
  mv_job_progress (job, MAGVLT_STAGE_IMAGE, n_steps, n_steps);
  return MAGVLT_OK;
}

int
mv_length_pass_slots (const magvlt_model *model)
{
  /* The official sampling script passes a dummy text mask of 16 ones out of
   * 64 slots to the length pass, and the released checkpoints' length head
   * was only ever read that way at sampling time, so we reproduce it: n = 16
   * for T = 64. Models with another text length use T/4, and our own trainer
   * trains the length head under exactly this condition (all n slots masked,
   * text all end-of-text) so inference meets what training saw. */
  int t = model->hp.ctx_len_txt;
  return t >= 4 ? t / 4 : 1;
}

magvlt_status
mv_predict_length (mv_job *job, const int32_t *codes, const int32_t *text_ids,
                   const uint8_t *text_masked, int n_visible, int *length)
{
  magvlt_context *ctx = job->ctx;
  const mv_hparams *hp = &ctx->model->hp;
  mv_job_progress (job, MAGVLT_STAGE_LENGTH, 0, 1);
  magvlt_forward_input in = {
    .layout = MAGVLT_LAYOUT_I2T,
    .image_ids = codes,
    .image_masked = NULL,
    .text_ids = text_ids,
    .text_masked = text_masked,
    .text_valid_len = n_visible,
  };
  magvlt_forward_output out = { .length_logits = job->len_logits };
  magvlt_status st = magvlt_forward (ctx, &in, &out);
  if (st != MAGVLT_OK)
    return st;
  int best = 0;
  for (int i = 1; i < hp->ctx_len_txt; i++)
    if (job->len_logits[i] > job->len_logits[best])
      best = i;
  *length = best + 1;
  mv_job_progress (job, MAGVLT_STAGE_LENGTH, 1, 1);
  return MAGVLT_OK;
}

magvlt_status
mv_refine_text (mv_job *job, const int32_t *codes, int32_t *txt, int n, const uint8_t *editable,
                mv_rng *rng, double *ll_sum, int *ll_n)
{
  magvlt_context *ctx = job->ctx;
  const mv_hparams *hp = &ctx->model->hp;
  const magvlt_sampling_params *p = &job->params;
  int nt = hp->ctx_len_txt, vt = hp->vocab_size_txt, n_iter = p->text_steps;
  uint8_t *m = job->rows;
  double *logp = job->ll, *key = job->score;
  magvlt_status st;

  for (int j = 0; j < nt; j++)
    logp[j] = 0.0;
  for (int t = 0; t < n_iter; t++)
    {
      mv_job_progress (job, MAGVLT_STAGE_TEXT, t, n_iter);
      /* choose m_t of the n slots without replacement, weights softmax(−logp):
       * Gumbel-top-k on −logp, so unlikely tokens are re-masked first */
      int m_t = mv_text_mask_count (t, n_iter, n);
      for (int j = 0; j < nt; j++)
        {
          m[j] = 0;
          key[j] = j < n ? -logp[j] + mv_rng_gumbel (rng) : -INFINITY;
        }
      for (int c = 0; c < m_t && c < n; c++)
        {
          int best = -1;
          for (int j = 0; j < n; j++)
            if (!m[j] && (best < 0 || key[j] > key[best]))
              best = j;
          m[best] = 1;
        }
      int n_masked = 0;
      for (int j = 0; j < n; j++)
        {
          if (editable && !editable[j])
            m[j] = 0;
          n_masked += m[j];
        }
      if (n_masked == 0)
        continue;

      magvlt_forward_input in = {
        .layout = MAGVLT_LAYOUT_I2T,
        .image_ids = codes,
        .image_masked = NULL,
        .text_ids = txt,
        .text_masked = m,
        .text_valid_len = n,
      };
      magvlt_forward_output out = { .text_logits = job->txt_logits, .text_logit_rows = m };
      if ((st = magvlt_forward (ctx, &in, &out)) != MAGVLT_OK)
        return st;
      for (int j = 0; j < n; j++)
        if (m[j])
          txt[j] =
            mv_sample_categorical (job->txt_logits + (size_t) j * vt, vt, p->text_temperature,
                                   p->text_top_k, rng, job->scratch, &logp[j]);
      if (ctx->callbacks.preview)
        {
          magvlt_preview pv = {
            .stage = MAGVLT_STAGE_TEXT,
            .step = t + 1,
            .n_steps = n_iter,
            .candidate = job->candidate,
            .n_candidates = job->n_candidates,
            .text_ids = txt,
            .n_text = n,
          };
          ctx->callbacks.preview (&pv, ctx->callbacks.user_data);
        }
    }
  for (int j = 0; j < n; j++)
    if (!editable || editable[j])
      {
        *ll_sum += logp[j];
        (*ll_n)++;
      }
  mv_job_progress (job, MAGVLT_STAGE_TEXT, n_iter, n_iter);
  return MAGVLT_OK;
}
