/* refine.h — one candidate's refinement loops and the job scratch they use.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_REFINE_H
#define MAGVLT_REFINE_H

#include "sampler.h"

/* Scratch of one job, allocated once before its refinement loops. */
typedef struct {
  magvlt_context *ctx;
  magvlt_sampling_params params;
  int candidate, n_candidates;
  float *img_logits;    /* [I, Vi] */
  float *img_unguided;  /* [I, Vi] without the text, from the first guided step */
  float *txt_logits;    /* [T, Vt] */
  float *len_logits;    /* [T] */
  float *scratch;       /* [max(Vi, Vt)] */
  int32_t *sample;      /* [max(I, T)] */
  double *score;        /* [max(I, T)] */
  double *ll;           /* [max(I, T)] */
  uint8_t *rows;        /* [max(I, T)] */
  uint8_t *thumb;       /* [I, 3] palette thumbnail */
  uint8_t *preview_rgb; /* [R, R, 3], on the first full-decode preview */
} mv_job;

magvlt_status mv_job_init (magvlt_context *ctx, const magvlt_sampling_params *params, mv_job *job);
void mv_job_clear (mv_job *job);
void mv_job_progress (mv_job *job, magvlt_stage stage, int step, int n_steps);

/* Refines the image tokens where known[j] is 0 (T2I layout, prompt
 * text_ids with n_txt visible slots) until all are known; codes and known
 * are updated in place. r0: schedule start (0 = generation, see
 * mv_image_unmask_count). Adds the model's log-likelihood of every token it
 * fixes to *ll_sum / *ll_n. */
magvlt_status mv_refine_image (mv_job *job, const int32_t *text_ids, int n_txt, int32_t *codes,
                               uint8_t *known, float r0, mv_rng *rng, double *ll_sum, int *ll_n);

/* The text guidance mv_refine_image applies for a prompt of n_txt visible
 * slots: the job's, or 0 when the prompt has no token (n_txt <= 1). */
float mv_image_guidance (const mv_job *job, int n_txt);

/* Dummy text slots of the caption length pass (spec §3.3: 16 of 64). */
int mv_length_pass_slots (const magvlt_model *model);

/* One I2T forward; *length = argmax of the length head + 1 (1..T). */
magvlt_status mv_predict_length (mv_job *job, const int32_t *codes, const int32_t *text_ids,
                                 const uint8_t *text_masked, int n_visible, int *length);

/* Mask-predict over the first n text slots of txt (I2T layout, image codes
 * fixed). editable (NULL = all): only these slots are ever re-masked
 * (text infilling). Adds the log-probabilities of the final tokens. */
magvlt_status mv_refine_text (mv_job *job, const int32_t *codes, int32_t *txt, int n,
                              const uint8_t *editable, mv_rng *rng, double *ll_sum, int *ll_n);

#endif
