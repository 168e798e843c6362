/* jobs.h — helpers the job files share (jobs.c).
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_JOBS_H
#define MAGVLT_JOBS_H

#include "refine.h"

magvlt_status mv_jobs_check_params (magvlt_context *ctx, const magvlt_sampling_params *p);
magvlt_status mv_jobs_check_image (magvlt_context *ctx, const magvlt_image *img);
magvlt_status mv_jobs_need_vqgan (magvlt_context *ctx);
/* MAGVLT_ERR_UNSUPPORTED with a message for a VQGAN-only model. */
magvlt_status mv_jobs_need_transformer (magvlt_context *ctx);
/* prompt → ids[T] (end-token padded) and the visible slots (tokens + end) */
magvlt_status mv_jobs_tokenize (magvlt_context *ctx, const char *prompt, int32_t *ids,
                                int *n_visible);
magvlt_candidate *mv_jobs_begin_candidate (mv_job *job, magvlt_result *r, int k, uint64_t stream,
                                           mv_rng *rng);
magvlt_status mv_jobs_result_alloc (magvlt_context *ctx, const magvlt_sampling_params *p,
                                    magvlt_result *r);
/* Frees the job; on failure also the result; on success ranks the candidates. */
magvlt_status mv_jobs_finish (magvlt_context *ctx, magvlt_status st, mv_job *job, magvlt_result *r);
/* The official preprocessing (centred square, resized to R) and encoding. */
magvlt_status mv_jobs_encode_fitted (mv_job *job, const magvlt_image *img, int32_t *codes);
/* Keeps txt[0..n) (end-token padded) and its text in the candidate. */
magvlt_status mv_jobs_keep_text (magvlt_context *ctx, magvlt_candidate *c, const int32_t *txt,
                                 int n, bool caption);

#endif
