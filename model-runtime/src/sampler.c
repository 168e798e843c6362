/* sampler.c — PRNG, schedules and categorical sampling (spec §3.0–§3.3).
 * SPDX-License-Identifier: MIT */
#include "sampler.h"

#include <math.h>
#include <string.h>

static uint64_t
splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
mv_rng_seed (mv_rng *r, uint64_t seed, uint64_t stream)
{
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64 (&x);
}

static uint64_t
rotl (uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

uint64_t
mv_rng_next (mv_rng *r)
{
  uint64_t *s = r->s, result = rotl (s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

double
mv_rng_uniform (mv_rng *r)
{
  /* 53 random bits, shifted by half a step so 0 and 1 never occur */
  return ((double) (mv_rng_next (r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double
mv_rng_gumbel (mv_rng *r)
{
  return -log (-log (mv_rng_uniform (r)));
}

int
mv_image_unmask_count (int step, int n_steps, int n_generate, int n_masked, float r0)
{
  if (n_masked <= 0)
    return 0;
  /* float32 throughout, as the official _mask_schedule: r is a float32
   * tensor, 0.5·π is rounded to float32 (1.5707964 > π/2), cos in float32 */
  float r = r0 <= 0.0f ? (float) (step + 1) / (float) n_steps
                       : r0 + (1.0f - r0) * ((float) (step + 1) / (float) n_steps);
  float half_pi = (float) (0.5 * 3.14159265358979323846);
  float gamma = cosf (half_pi * r);
  float target_f = ceilf (gamma * (float) n_generate);
  int target = target_f < 0.0f ? 0 : target_f > (float) n_masked ? n_masked : (int) target_f;
  int k = n_masked - target;
  if (step < n_steps - 1 && k < 1)
    k = 1;
  return k > n_masked ? n_masked : k;
}

int
mv_text_mask_count (int t, int n_iter, int n)
{
  /* the integer product n·(n_iter − t) is exact in float32; the division is
   * float32 and truncated toward zero, as in the official code */
  int m = (int) ((float) (n * (n_iter - t)) / (float) n_iter);
  return m < 1 ? 1 : m;
}

int
mv_sample_categorical (const float *logits, int n, float temperature, int top_k, mv_rng *r,
                       float *scratch, double *logprob)
{
  float inv_t = 1.0f / temperature;
  float threshold = -INFINITY;

  if (top_k > 0 && top_k < n)
    {
      /* the k-th largest logit: partial selection on a copy */
      memcpy (scratch, logits, (size_t) n * sizeof (float));
      int lo = 0, hi = n - 1, want = top_k - 1;
      while (lo < hi)
        {
          float pivot = scratch[(lo + hi) / 2];
          int i = lo, j = hi;
          while (i <= j)
            {
              while (scratch[i] > pivot)
                i++;
              while (scratch[j] < pivot)
                j--;
              if (i <= j)
                {
                  float t = scratch[i];
                  scratch[i++] = scratch[j];
                  scratch[j--] = t;
                }
            }
          if (want <= j)
            hi = j;
          else if (want >= i)
            lo = i;
          else
            break;
        }
      threshold = scratch[want];
    }
  double mx = -INFINITY, sum = 0.0;
  for (int i = 0; i < n; i++)
    if (logits[i] >= threshold && logits[i] * inv_t > mx)
      mx = logits[i] * inv_t;
  for (int i = 0; i < n; i++)
    {
      double e = logits[i] >= threshold ? exp (logits[i] * inv_t - mx) : 0.0;
      scratch[i] = (float) e;
      sum += e;
    }
  /* inverse CDF with one uniform draw */
  double u = mv_rng_uniform (r) * sum, acc = 0.0;
  int pick = -1;
  for (int i = 0; i < n; i++)
    {
      if (scratch[i] <= 0.0f)
        continue;
      acc += scratch[i];
      pick = i;
      if (acc >= u)
        break;
    }
  if (pick < 0)
    pick = 0;
  if (logprob)
    *logprob = (double) logits[pick] * inv_t - mx - log (sum);
  return pick;
}

double
mv_log_softmax_at (const float *logits, int n, int k)
{
  double mx = -INFINITY, sum = 0.0;
  for (int i = 0; i < n; i++)
    mx = logits[i] > mx ? logits[i] : mx;
  for (int i = 0; i < n; i++)
    sum += exp (logits[i] - mx);
  return logits[k] - mx - log (sum);
}
