/* test-ops.c — every kernel of ops.c against its naive reference in
 * ops_naive.c on random inputs: normalised error ‖a−b‖²/‖b‖², NaN/Inf
 * checks, and guard values around every output buffer (a kernel that writes
 * one float too far fails). */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 16
static const uint32_t guard_bits = 0x7fc0beefu; /* a NaN no kernel produces */

static int n_passed, n_failed;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float
frand (void)
{
  /* xorshift64*, uniform in [-1, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
  return (float) ((double) (r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* n floats with GUARD guard values on each side. */
static float *
guarded (size_t n)
{
  float *p = malloc ((n + 2 * GUARD) * sizeof (float));
  for (size_t i = 0; i < n + 2 * GUARD; i++)
    memcpy (&p[i], &guard_bits, 4);
  return p + GUARD;
}

static bool
guards_intact (const float *p, size_t n)
{
  for (int i = 1; i <= GUARD; i++)
    if (memcmp (&p[-i], &guard_bits, 4) != 0
        || memcmp (&p[n + (size_t) i - 1], &guard_bits, 4) != 0)
      return false;
  return true;
}

static void
guarded_free (float *p)
{
  free (p - GUARD);
}

static float *
random_buf (size_t n, float scale)
{
  float *p = guarded (n);
  for (size_t i = 0; i < n; i++)
    p[i] = frand () * scale;
  return p;
}

/* Reports one comparison: normalised error below tol, all finite, guards
 * intact around `got`. */
static void
expect_close (const char *what, const float *got, const float *want, size_t n, double tol)
{
  double num = 0.0, den = 0.0;
  bool finite = true;
  for (size_t i = 0; i < n; i++)
    {
      finite = finite && isfinite (got[i]);
      num += ((double) got[i] - want[i]) * ((double) got[i] - want[i]);
      den += (double) want[i] * want[i];
    }
  double err = den > 0 ? num / den : num;
  bool guards = guards_intact (got, n);
  bool ok = finite && guards && err <= tol;
  printf ("%s %-44s err %.2e (tol %.0e)%s%s\n", ok ? "ok  " : "FAIL", what, err, tol,
          finite ? "" : " NON-FINITE", guards ? "" : " GUARD OVERWRITTEN");
  ok ? n_passed++ : n_failed++;
}

static void
test_gemm (void)
{
  const int m = 37, n = 29, k = 53, pad = 3;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int bi = 0; bi < 2; bi++)
        {
          float beta = bi ? 0.5f : 0.0f;
          int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
          float *a = random_buf ((size_t) (ta ? k : m) * lda, 1.0f);
          float *b = random_buf ((size_t) (tb ? n : k) * ldb, 1.0f);
          float *c1 = random_buf ((size_t) m * ldc, 1.0f);
          float *c2 = guarded ((size_t) m * ldc);
          memcpy (c2, c1, (size_t) m * ldc * sizeof (float));
          mv_gemm (ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c1, ldc);
          mv_gemm_naive (ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c2, ldc);
          char what[64];
          snprintf (what, sizeof what, "gemm ta=%d tb=%d beta=%.1f strided", ta, tb, beta);
          expect_close (what, c1, c2, (size_t) m * ldc, 1e-10);
          guarded_free (a), guarded_free (b), guarded_free (c1), guarded_free (c2);
        }
}

static void
test_linear (void)
{
  const int n = 19, k = 70, o = 45;
  for (int acc = 0; acc < 2; acc++)
    for (int bias = 0; bias < 2; bias++)
      {
        float *x = random_buf ((size_t) n * k, 2.0f), *w = random_buf ((size_t) o * k, 0.2f);
        float *b = random_buf ((size_t) o, 0.5f);
        float *y1 = random_buf ((size_t) n * o, 1.0f), *y2 = guarded ((size_t) n * o);
        memcpy (y2, y1, (size_t) n * o * sizeof (float));
        mv_linear (x, n, k, w, bias ? b : NULL, o, y1, acc);
        mv_linear_naive (x, n, k, w, bias ? b : NULL, o, y2, acc);
        char what[64];
        snprintf (what, sizeof what, "linear bias=%d accumulate=%d", bias, acc);
        expect_close (what, y1, y2, (size_t) n * o, 1e-10);
        guarded_free (x), guarded_free (w), guarded_free (b), guarded_free (y1), guarded_free (y2);
      }
}

static void
test_layernorm (void)
{
  const int n = 9, c = 131;
  for (int offset = 0; offset < 2; offset++)
    {
      float *x = random_buf ((size_t) n * c, 3.0f);
      if (offset) /* rows with a large mean lose digits in a one-pass variance */
        for (int i = 0; i < n * c; i++)
          x[i] += 300.0f;
      float *g = random_buf ((size_t) c, 1.0f), *b = random_buf ((size_t) c, 1.0f);
      float *y1 = guarded ((size_t) n * c), *y2 = guarded ((size_t) n * c);
      mv_layernorm (x, n, c, g, b, 1e-5f, y1);
      mv_layernorm_naive (x, n, c, g, b, 1e-5f, y2);
      expect_close (offset ? "layernorm, rows with mean 300" : "layernorm", y1, y2, (size_t) n * c,
                    1e-10);
      /* in place, as the LM head uses it */
      float *y3 = guarded ((size_t) n * c);
      memcpy (y3, x, (size_t) n * c * sizeof (float));
      mv_layernorm (y3, n, c, g, b, 1e-5f, y3);
      expect_close ("layernorm in place", y3, y2, (size_t) n * c, 1e-10);
      guarded_free (x), guarded_free (g), guarded_free (b);
      guarded_free (y1), guarded_free (y2), guarded_free (y3);
    }
}

/* The fast erf behind mv_gelu against erf in double, point by point: the
 * normalised error above would hide a bad tail. Also every blocked length
 * (the vector body and the scalar tail must agree bit for bit). */
static void
test_gelu_pointwise (void)
{
  const int n = 200001;
  float *x = guarded ((size_t) n);
  for (int i = 0; i < n; i++)
    x[i] = -8.0f + 16.0f * (float) i / (float) (n - 1);
  float *y = guarded ((size_t) n);
  memcpy (y, x, (size_t) n * sizeof (float));
  mv_gelu (y, (size_t) n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      double ref = 0.5 * x[i] * (1.0 + erf (x[i] / sqrt (2.0)));
      worst = fmax (worst, fabs (y[i] - ref));
    }
  bool ok = worst <= 1e-6 && guards_intact (y, (size_t) n);
  printf ("%s gelu within 1e-6 of the erf form in double (max |diff| %.2e)\n", ok ? "ok  " : "FAIL",
          worst);
  ok ? n_passed++ : n_failed++;

  bool same = true;
  for (int len = 1; len <= 40 && same; len++)
    {
      float a[40], b[40];
      for (int i = 0; i < len; i++)
        a[i] = b[i] = x[(size_t) i * 4999];
      mv_gelu (a, (size_t) len);
      for (int i = 0; i < len; i++)
        {
          float one = b[i];
          mv_gelu (&one, 1);
          same = same && memcmp (&one, &a[i], 4) == 0;
        }
    }
  printf ("%s gelu: vector body and scalar tail agree bit for bit\n", same ? "ok  " : "FAIL");
  same ? n_passed++ : n_failed++;
  guarded_free (x), guarded_free (y);
}

static void
test_exp_shifted (void)
{
  const int n = 100003;
  float *x = guarded ((size_t) n);
  for (int i = 0; i < n; i++)
    x[i] = -100.0f + 100.0f * (float) i / (float) (n - 1);
  float *y = guarded ((size_t) n);
  memcpy (y, x, (size_t) n * sizeof (float));
  float sum = mv_exp_shifted (y, (size_t) n, 2.0f);
  double worst_rel = 0, ref_sum = 0;
  for (int i = 0; i < n; i++)
    {
      /* below -87.3 the argument is clamped (a softmax tail gets ~1e-38) */
      float arg = x[i] - 2.0f; /* as the kernel rounds it */
      double ref = exp ((double) (arg < -87.3f ? -87.3f : arg));
      ref_sum += ref;
      worst_rel = fmax (worst_rel, fabs (y[i] - ref) / ref);
    }
  bool ok =
    worst_rel <= 4e-7 && fabs (sum - ref_sum) <= 1e-5 * ref_sum && guards_intact (y, (size_t) n);
  printf ("%s exp within 4e-7 relative (max %.2e), sum %.6g vs %.6g\n", ok ? "ok  " : "FAIL",
          worst_rel, sum, ref_sum);
  ok ? n_passed++ : n_failed++;
  guarded_free (x), guarded_free (y);
}

static void
test_gelu (void)
{
  const size_t n = 4099;
  float *x1 = random_buf (n, 8.0f), *x2 = guarded (n);
  memcpy (x2, x1, n * sizeof (float));
  mv_gelu (x1, n);
  mv_gelu_naive (x2, n);
  expect_close ("gelu (exact erf) on [-8, 8]", x1, x2, n, 1e-12);
  /* tanh-approximate GELU differs by ~1e-3: make sure the test would see it */
  float *x3 = random_buf (n, 8.0f), *x4 = guarded (n);
  memcpy (x4, x3, n * sizeof (float));
  mv_gelu (x3, n);
  for (size_t i = 0; i < n; i++)
    x4[i] =
      0.5f * x4[i] * (1.0f + tanhf (0.7978845608f * (x4[i] + 0.044715f * x4[i] * x4[i] * x4[i])));
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = fmax (worst, fabs (x3[i] - x4[i]));
  bool ok = worst > 1e-4;
  printf ("%s gelu is not the tanh approximation (max diff %.2e)\n", ok ? "ok  " : "FAIL", worst);
  ok ? n_passed++ : n_failed++;
  guarded_free (x1), guarded_free (x2), guarded_free (x3), guarded_free (x4);
}

static void
test_softmax (void)
{
  const int n = 57;
  const int valid[] = { 1, 2, 30, 57 };
  for (size_t t = 0; t < sizeof valid / sizeof valid[0]; t++)
    for (int big = 0; big < 2; big++)
      {
        float *r1 = random_buf ((size_t) n, big ? 1000.0f : 4.0f), *r2 = guarded ((size_t) n);
        uint8_t allow[57];
        memcpy (r2, r1, n * sizeof (float));
        for (int j = 0; j < n; j++)
          allow[j] = j < valid[t];
        mv_softmax_prefix (r1, valid[t], n);
        mv_softmax_naive (r2, allow, n);
        char what[64];
        snprintf (what, sizeof what, "softmax prefix %d of %d, scale %s", valid[t], n,
                  big ? "1000" : "4");
        expect_close (what, r1, r2, (size_t) n, 1e-12);
        guarded_free (r1), guarded_free (r2);
      }
}

static void
test_attention (void)
{
  const int l = 23, c = 24, h = 3;
  float *q = random_buf ((size_t) l * c, 2.0f), *k = random_buf ((size_t) l * c, 2.0f);
  float *v = random_buf ((size_t) l * c, 1.0f);
  float *scores = guarded ((size_t) l * l);
  float *o1 = guarded ((size_t) l * c), *o2 = guarded ((size_t) l * c);
  int32_t kv_len[23];
  uint8_t allow[23 * 23];
  for (int i = 0; i < l; i++)
    {
      /* full rows, a one-key row and short prefixes, like the BOT row */
      kv_len[i] = i % 4 == 0 ? l : i % 4 == 1 ? 1 : 1 + (i * 7) % l;
      for (int j = 0; j < l; j++)
        allow[i * l + j] = j < kv_len[i];
    }
  mv_attention (q, k, v, l, c, h, kv_len, scores, o1);
  mv_attention_naive (q, k, v, l, c, h, allow, o2);
  expect_close ("attention, 3 heads, per-row key prefixes", o1, o2, (size_t) l * c, 1e-10);
  bool ok = guards_intact (scores, (size_t) l * l);
  printf ("%s attention scratch stays within L*L floats\n", ok ? "ok  " : "FAIL");
  ok ? n_passed++ : n_failed++;
  guarded_free (q), guarded_free (k), guarded_free (v), guarded_free (scores);
  guarded_free (o1), guarded_free (o2);
}

static uint16_t
f32_to_f16_round (float f)
{
  /* test helper only: round-to-nearest for normal values in range */
  uint32_t x;
  memcpy (&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int e = (int) ((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffff;
  if (e <= 0)
    return (uint16_t) sign;
  uint32_t h = sign | ((uint32_t) e << 10) | (man >> 13);
  if (man & 0x1000)
    h++;
  return (uint16_t) h;
}

static void
test_f16 (void)
{
  /* all 65,536 half values, including subnormals, infinities and NaNs */
  int bad = 0;
  static float got[65536];
  static uint16_t all[65536];
  for (int i = 0; i < 65536; i++)
    all[i] = (uint16_t) i;
  mv_f16_to_f32 (all, got, 65536);
  for (int i = 0; i < 65536; i++)
    {
      float want = mv_f16_to_f32_naive ((uint16_t) i);
      if (isnan (want) ? !isnan (got[i]) : memcmp (&want, &got[i], 4) != 0)
        bad++;
    }
  printf ("%s f16 -> f32 for all 65536 bit patterns (%d wrong)\n", bad ? "FAIL" : "ok  ", bad);
  bad ? n_failed++ : n_passed++;

  /* embedding gather, f32 and f16 tables */
  const int rows = 11, c = 300;
  float *tab = random_buf ((size_t) rows * c, 1.0f);
  uint16_t *tab16 = malloc ((size_t) rows * c * 2);
  for (int i = 0; i < rows * c; i++)
    tab16[i] = f32_to_f16_round (tab[i]);
  float *d1 = random_buf ((size_t) c, 1.0f), *d2 = guarded ((size_t) c);
  float *d3 = guarded ((size_t) c), *d4 = guarded ((size_t) c);
  memcpy (d2, d1, c * sizeof (float));
  memcpy (d3, d1, c * sizeof (float));
  memcpy (d4, d1, c * sizeof (float));
  mv_add_row (tab, false, 7, c, d1);
  mv_add_row (tab16, true, 7, c, d3);
  for (int j = 0; j < c; j++)
    {
      d2[j] += tab[7 * c + j];
      d4[j] += mv_f16_to_f32_naive (tab16[7 * c + j]);
    }
  expect_close ("embedding row gather, f32 table", d1, d2, (size_t) c, 1e-14);
  expect_close ("embedding row gather, f16 table", d3, d4, (size_t) c, 1e-14);
  guarded_free (tab), guarded_free (d1), guarded_free (d2), guarded_free (d3), guarded_free (d4);
  free (tab16);
}

/* bfloat16 from its fields (sign, 8-bit exponent, 7-bit mantissa), written
 * independently of the engine's bit shift. */
static float
bf16_naive (uint16_t h)
{
  int sign = h >> 15, e = (h >> 7) & 0xff, m = h & 0x7f;
  float v;
  if (e == 0xff)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = ldexpf ((float) m, -126 - 7);
  else
    v = ldexpf ((float) (m + 128), e - 127 - 7);
  return sign ? -v : v;
}

static void
test_bf16 (void)
{
  /* all 65,536 bfloat16 values, including subnormals, infinities and NaNs,
   * through mv_bf16_to_f32 and through mv_half_to_f32's dispatch */
  static float got[65536], got2[65536];
  static uint16_t all[65536];
  int bad = 0;
  for (int i = 0; i < 65536; i++)
    all[i] = (uint16_t) i;
  mv_bf16_to_f32 (all, got, 65536);
  mv_half_to_f32 (all, true, got2, 65536);
  for (int i = 0; i < 65536; i++)
    {
      float want = bf16_naive ((uint16_t) i);
      if (isnan (want) ? !isnan (got[i]) || !isnan (got2[i])
                       : memcmp (&want, &got[i], 4) != 0 || memcmp (&want, &got2[i], 4) != 0)
        bad++;
    }
  printf ("%s bf16 -> f32 for all 65536 bit patterns (%d wrong)\n", bad ? "FAIL" : "ok  ", bad);
  bad ? n_failed++ : n_passed++;

  /* mv_half_to_f32 without bf16 is the IEEE half conversion */
  mv_half_to_f32 (all, false, got2, 65536);
  bad = 0;
  for (int i = 0; i < 65536; i++)
    {
      float want = mv_f16_to_f32_naive ((uint16_t) i);
      if (isnan (want) ? !isnan (got2[i]) : memcmp (&want, &got2[i], 4) != 0)
        bad++;
    }
  printf ("%s mv_half_to_f32 (f16) for all 65536 bit patterns (%d wrong)\n", bad ? "FAIL" : "ok  ",
          bad);
  bad ? n_failed++ : n_passed++;

  /* embedding gather from a bfloat16 table (truncated floats) */
  const int rows = 9, c = 300;
  float *tab = random_buf ((size_t) rows * c, 1.0f);
  uint16_t *tab16 = malloc ((size_t) rows * c * 2);
  for (int i = 0; i < rows * c; i++)
    {
      uint32_t bits;
      memcpy (&bits, &tab[i], 4);
      tab16[i] = (uint16_t) (bits >> 16);
    }
  float *d1 = random_buf ((size_t) c, 1.0f), *d2 = guarded ((size_t) c);
  memcpy (d2, d1, c * sizeof (float));
  mv_add_row (tab16, MV_ROW_BF16, 5, c, d1);
  for (int j = 0; j < c; j++)
    d2[j] += bf16_naive (tab16[5 * c + j]);
  expect_close ("embedding row gather, bf16 table", d1, d2, (size_t) c, 1e-14);
  guarded_free (tab), guarded_free (d1), guarded_free (d2);
  free (tab16);
}

static void
test_conv2d (void)
{
  /* every geometry the VQGAN uses: 3×3 same, the asymmetric stride-2
   * downsample, the fused nearest-×2 upsample, 1×1; a non-square input; and
   * a col buffer so small that each band is one output row */
  const struct {
    const char *name;
    mv_conv_geom g;
  } cases[] = {
    { "conv2d 3x3 pad 1", { 3, 1, 1, 1, 1, 1, 1 } },
    { "conv2d 3x3 stride 2, pad right/bottom", { 3, 2, 0, 0, 1, 1, 1 } },
    { "conv2d 3x3 on nearest-x2 upsampled input", { 3, 1, 1, 1, 1, 1, 2 } },
    { "conv2d 1x1", { 1, 1, 0, 0, 0, 0, 1 } },
  };
  const int ci = 5, co = 7, h = 9, w = 12;
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
    for (int small = 0; small < 2; small++)
      {
        const mv_conv_geom *g = &cases[t].g;
        int ho, wo;
        mv_conv2d_out_size (g, h, w, &ho, &wo);
        size_t kdim = (size_t) ci * g->k * g->k, col_n = small ? kdim * wo : kdim * ho * wo;
        float *x = random_buf ((size_t) ci * h * w, 1.0f);
        float *wt = random_buf ((size_t) co * kdim, 0.3f), *b = random_buf ((size_t) co, 0.5f);
        float *col = guarded (col_n);
        float *y1 = guarded ((size_t) co * ho * wo), *y2 = guarded ((size_t) co * ho * wo);
        bool ran = mv_conv2d (x, ci, h, w, wt, b, co, g, col, col_n, y1, NULL);
        mv_conv2d_naive (x, ci, h, w, wt, b, co, g, y2);
        char what[96];
        snprintf (what, sizeof what, "%s%s (%dx%d -> %dx%d)", cases[t].name,
                  small ? ", 1-row bands" : "", h, w, ho, wo);
        expect_close (what, y1, y2, (size_t) co * ho * wo, ran ? 1e-10 : -1.0);
        bool col_ok = guards_intact (col, col_n);
        if (!col_ok)
          {
            printf ("FAIL %s: im2col wrote outside its buffer\n", what);
            n_failed++;
          }
        guarded_free (x), guarded_free (wt), guarded_free (b), guarded_free (col);
        guarded_free (y1), guarded_free (y2);
      }

  /* a pending cancel request stops the convolution at the first band */
  atomic_int cancel;
  atomic_init (&cancel, 1);
  float *x = random_buf (4 * 8 * 8, 1.0f), *wt = random_buf (4 * 4 * 9, 1.0f);
  float *col = guarded (36 * 8), *y = guarded (4 * 8 * 8);
  bool ran = mv_conv2d (x, 4, 8, 8, wt, NULL, 4, &cases[0].g, col, 36 * 8, y, &cancel);
  printf ("%s conv2d stops when cancelled\n", ran ? "FAIL" : "ok  ");
  ran ? n_failed++ : n_passed++;
  guarded_free (x), guarded_free (wt), guarded_free (col), guarded_free (y);
}

static void
test_group_norm (void)
{
  const int c = 64, hw = 37;
  for (int swish = 0; swish < 2; swish++)
    {
      float *x = random_buf ((size_t) c * hw, 4.0f);
      for (int i = 0; i < c * hw; i++)
        x[i] += 50.0f * (float) ((i / hw) % 3); /* groups with large means */
      float *g = random_buf ((size_t) c, 1.0f), *b = random_buf ((size_t) c, 1.0f);
      float *y1 = guarded ((size_t) c * hw), *y2 = guarded ((size_t) c * hw);
      mv_group_norm (x, c, hw, 32, g, b, 1e-6f, swish, y1);
      mv_group_norm_naive (x, c, hw, 32, g, b, 1e-6f, swish, y2);
      expect_close (swish ? "group norm (32 groups) + swish" : "group norm (32 groups)", y1, y2,
                    (size_t) c * hw, 1e-10);
      mv_group_norm (x, c, hw, 32, g, b, 1e-6f, swish, x);
      expect_close ("group norm in place", x, y2, (size_t) c * hw, 1e-10);
      guarded_free (x), guarded_free (g), guarded_free (b), guarded_free (y1), guarded_free (y2);
    }
}

static void
test_spatial_attention (void)
{
  const int c = 32, p = 25;
  float *q = random_buf ((size_t) c * p, 1.5f), *k = random_buf ((size_t) c * p, 1.5f);
  float *v = random_buf ((size_t) c * p, 1.0f), *s = guarded ((size_t) p * p);
  float *o1 = guarded ((size_t) c * p), *o2 = guarded ((size_t) c * p);
  mv_spatial_attention (q, k, v, c, p, s, o1);
  mv_spatial_attention_naive (q, k, v, c, p, o2);
  expect_close ("VQGAN attention block core (single head)", o1, o2, (size_t) c * p, 1e-10);
  bool ok = guards_intact (s, (size_t) p * p);
  printf ("%s VQGAN attention scratch stays within P*P floats\n", ok ? "ok  " : "FAIL");
  ok ? n_passed++ : n_failed++;
  guarded_free (q), guarded_free (k), guarded_free (v), guarded_free (s);
  guarded_free (o1), guarded_free (o2);
}

static void
test_nearest_codes (void)
{
  const int d = 16, p = 49, n = 300;
  for (int small = 0; small < 2; small++)
    {
      float *z = random_buf ((size_t) d * p, 1.0f), *cb = random_buf ((size_t) n * d, 1.0f);
      float sq[300];
      for (int k = 0; k < n; k++)
        {
          sq[k] = 0.0f;
          for (int j = 0; j < d; j++)
            sq[k] += cb[k * d + j] * cb[k * d + j];
        }
      /* plant exact copies of codebook rows: their code must win */
      for (int j = 0; j < d; j++)
        z[(size_t) j * p + 3] = cb[(size_t) 123 * d + j],
                           z[(size_t) j * p + 40] = cb[(size_t) (n - 1) * d + j];
      size_t scratch_n = small ? 3 * (size_t) p + 7 * (size_t) p : 3 * (size_t) p + (size_t) n * p;
      float *scratch = guarded (scratch_n);
      int32_t c1[49], c2[49];
      mv_nearest_codes (z, d, p, cb, sq, n, scratch, scratch_n, c1);
      mv_nearest_codes_naive (z, d, p, cb, n, c2);
      int same = 0;
      for (int i = 0; i < p; i++)
        same += c1[i] == c2[i];
      bool ok = same == p && c1[3] == 123 && c1[40] == n - 1 && guards_intact (scratch, scratch_n);
      printf ("%s nearest codes%s: %d of %d as the exact search\n", ok ? "ok  " : "FAIL",
              small ? " (7 codes per sgemm)" : "", same, p);
      ok ? n_passed++ : n_failed++;
      guarded_free (z), guarded_free (cb), guarded_free (scratch);
    }
}

int
main (void)
{
  test_gemm ();
  test_linear ();
  test_layernorm ();
  test_gelu ();
  test_gelu_pointwise ();
  test_exp_shifted ();
  test_softmax ();
  test_attention ();
  test_f16 ();
  test_bf16 ();
  test_conv2d ();
  test_group_norm ();
  test_spatial_attention ();
  test_nearest_codes ();
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed != 0;
}
