/* sampler.h — the pieces of MAGVLT's iterative masked refinement (spec §3):
 * a portable PRNG, the float32 mask schedules, categorical sampling with
 * temperature and top-k, and the image and text refinement loops.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_SAMPLER_H
#define MAGVLT_SAMPLER_H

#include "context.h"

/* xoshiro256** seeded through splitmix64: the same seed gives the same
 * numbers on every platform (determinism across machines). */
typedef struct {
  uint64_t s[4];
} mv_rng;

void mv_rng_seed (mv_rng *r, uint64_t seed, uint64_t stream);
uint64_t mv_rng_next (mv_rng *r);
/* uniform in the open interval (0, 1) */
double mv_rng_uniform (mv_rng *r);
/* standard Gumbel noise −log(−log U) */
double mv_rng_gumbel (mv_rng *r);

/* Image schedule (spec §3.1, §3.2): how many of the n_masked tokens still
 * masked to fix at step `step` (0-based) of n_steps when n_generate tokens
 * are generated in all. The cosine γ(r) = cos(π/2·r) is evaluated in
 * float32 exactly as the official code does (γ(1) = −4.4e−8 < 0), so the
 * counts equal the official tables; every non-final step fixes at least one
 * token. r_s = r0 + (1 − r0)·(s + 1)/S, r0 = 0 for generation; an edit with
 * strength σ starts at γ(r0) = σ. Returns 0 once nothing is masked (where
 * the official code crashes). */
int mv_image_unmask_count (int step, int n_steps, int n_generate, int n_masked, float r0);

/* Text schedule (spec §3.3): slots to (re)mask at step t of n_iter for a
 * caption of n slots: max(1, trunc(float32(n·(n_iter − t)) / n_iter)). */
int mv_text_mask_count (int t, int n_iter, int n);

/* Draws one index from softmax(logits / temperature) restricted to the
 * top_k largest logits (top_k <= 0: no restriction; ties at the threshold
 * are kept). scratch: n floats. *logprob receives the log-probability of the
 * drawn index under that tempered, filtered distribution. */
int mv_sample_categorical (const float *logits, int n, float temperature, int top_k, mv_rng *r,
                           float *scratch, double *logprob);

/* log softmax(logits)[k] at temperature 1 (the model's own likelihood) */
double mv_log_softmax_at (const float *logits, int n, int k);

#endif
