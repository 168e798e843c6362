/* matmul_bf16.c — the "bf16" backend: bfloat16 weights packed into panels
 * at load, VDPBF16PS micro-kernels on the context's pool.
 * SPDX-License-Identifier: MIT
 *
 * Packed layout: the O output columns in panels of NR = 32 (two vectors of
 * 16 floats); inside a panel, for each pair of inputs kp (K rounded up to
 * even, the odd tail zero), the 32 columns' two weights side by side:
 * [panel][kp][column][2]. VDPBF16PS multiplies pairs of bfloat16 and adds
 * both products into one float lane, so one broadcast of an activation pair
 * (x[k], x[k+1]) against one vector of a panel advances 16 columns by two
 * inputs. The micro-kernel keeps MR = 12 rows × 32 columns of float
 * accumulators in 24 of the 32 vector registers.
 *
 * Blocking: a task owns a group of panels and walks every block of MR rows
 * across them, so its panels (≤ 512 KiB, within a Zen 4 / Sapphire Rapids
 * L2) are read from memory once and the MR rows of activations (≤ 96 KiB)
 * stay in L1/L2 across the group.
 *
 * Accuracy: weights and activations are rounded to bfloat16 (to nearest
 * even), products accumulate in float32 — what oneDNN's bf16 matmul and
 * PyTorch's bf16 autocast do. The bound the tests hold it to (BENCHMARKS.md,
 * test-backends): normalised error of the logits ≤ 1e-3 against float32 and
 * the same argmax wherever float32's top-2 margin exceeds 0.05. */
#include "matmul_bf16.h"

#include "ops.h"
#include "pool.h"
#include "status.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)                                                                            \
  && ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10)                                 \
      || (defined(__clang__) && __clang_major__ >= 9))
#define MV_HAVE_BF16_KERNEL 1
#include <immintrin.h>
#endif

#define NR 32
#define MR 12
/* Bytes of packed panels one task keeps hot. */
#define GROUP_BYTES (512 * 1024)
/* Rows of activations rounded per task. */
#define ROUND_ROWS 16

typedef struct {
  const void *key; /* the weight's data in the model file */
  int o, k, k2, panels;
  uint16_t *data; /* [panels][k2][NR][2] */
} packed_bf16;

struct mv_bf16_model {
  int n;
  packed_bf16 *w; /* sorted by key, then o */
  /* the tied embedding's two vocabularies (entries of w) */
  const packed_bf16 *emb_img, *emb_txt;
  int vocab_img;
};

static pthread_mutex_t pack_lock = PTHREAD_MUTEX_INITIALIZER;

bool
mv_bf16_available (void)
{
#ifdef MV_HAVE_BF16_KERNEL
  /* every CPU with AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4) has
   * AVX512-BW, which the packing uses; asked all the same */
  return __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
         && __builtin_cpu_supports ("avx512bf16");
#else
  return false;
#endif
}

size_t
mv_bf16_scratch_bytes (const mv_hparams *hp)
{
  size_t k = (size_t) (hp->mlp_hidden > hp->embed_dim ? hp->mlp_hidden : hp->embed_dim);
  return (size_t) hp->seq_len * ((k + 1) / 2) * 4;
}

/* Attention scratch (bytes), per context: q rounded, and every head's
 * keys and values packed; per thread: one task's scores and probabilities. */
static size_t
round_up (size_t n, size_t m)
{
  return (n + m - 1) / m * m;
}

size_t
mv_bf16_attention_bytes (const mv_hparams *hp, int n_threads)
{
  size_t l = (size_t) hp->seq_len, c = (size_t) hp->embed_dim, h = (size_t) hp->n_heads;
  size_t d = c / h, lp = round_up (l, NR), l2 = round_up (l, 2), dp = round_up (d, NR);
  size_t shared = l * round_up (c, 2) * 2 + h * lp * round_up (d, 2) * 2 + h * dp * l2 * 2;
  size_t per_thread = MV_ATT_ROWS * lp * 4 + MV_ATT_ROWS * l2 * 2;
  return round_up (shared, 64) + (size_t) n_threads * round_up (per_thread, 64);
}

static int
cmp_packed (const void *a, const void *b)
{
  const packed_bf16 *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return (x->o > y->o) - (x->o < y->o);
}

static magvlt_status
pack_one (mv_weight w, packed_bf16 *out, float *row)
{
  out->key = w.data;
  out->o = w.o;
  out->k = w.k;
  out->k2 = (w.k + 1) / 2;
  out->panels = (w.o + NR - 1) / NR;
  size_t bytes = (size_t) out->panels * out->k2 * NR * 2 * sizeof (uint16_t);
  if (!(out->data = aligned_alloc (64, (bytes + 63) & ~(size_t) 63)))
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory packing a %d x %d weight as bfloat16", w.o,
                    w.k);
  memset (out->data, 0, bytes);
  size_t panel_stride = (size_t) out->k2 * NR * 2;
  for (int col = 0; col < w.o; col++)
    {
      mv_weight one = mv_weight_rows (w, col, 1);
      if (one.kind == MV_ROW_F32)
        memcpy (row, one.data, (size_t) w.k * sizeof (float));
      else
        mv_half_to_f32 (one.data, one.kind == MV_ROW_BF16, row, (size_t) w.k);
      uint16_t *dst = out->data + (size_t) (col / NR) * panel_stride + (size_t) (col % NR) * 2;
      for (int kk = 0; kk < w.k; kk++)
        dst[(size_t) (kk / 2) * NR * 2 + (kk & 1)] = mv_f32_to_bf16 (row[kk]);
    }
  return MAGVLT_OK;
}

/* dst ← the panels of W: [O, K] with W[o][k] = src[o·so + k·sk], in
 * bfloat16, zero beyond O and K (columns up to the next panel, K to the
 * next pair). */
static void
pack_panels (const float *src, int o, int k, size_t so, size_t sk, uint16_t *dst)
{
  int k2 = (k + 1) / 2, panels = (o + NR - 1) / NR;
  for (int p = 0; p < panels; p++)
    for (int kp = 0; kp < k2; kp++)
      {
        uint16_t *d = dst + ((size_t) p * k2 + kp) * NR * 2;
        for (int c = 0; c < NR; c++)
          {
            int oo = p * NR + c, k0 = 2 * kp;
            bool in = oo < o;
            d[2 * c] = in ? mv_f32_to_bf16 (src[(size_t) oo * so + (size_t) k0 * sk]) : 0;
            d[2 * c + 1] = in && k0 + 1 < k
                             ? mv_f32_to_bf16 (src[(size_t) oo * so + (size_t) (k0 + 1) * sk])
                             : 0;
          }
      }
}

bool
mv_bf16_embedding_row (const magvlt_model *model, int64_t row, int c, float *dst)
{
  const struct mv_bf16_model *p = model->bf16;
  if (!p || !p->emb_img || !p->emb_txt || row < 0)
    return false;
  const packed_bf16 *t = row < p->vocab_img ? p->emb_img : p->emb_txt;
  int o = (int) (row < p->vocab_img ? row : row - p->vocab_img);
  if (o >= t->o || t->k != c)
    return false;
  const uint16_t *base = t->data + (size_t) (o / NR) * t->k2 * NR * 2 + (size_t) (o % NR) * 2;
  for (int j = 0; j < c; j++)
    {
      uint32_t bits = (uint32_t) base[(size_t) (j / 2) * NR * 2 + (j & 1)] << 16;
      float f;
      memcpy (&f, &bits, 4);
      dst[j] += f;
    }
  return true;
}

void
mv_bf16_model_free (struct mv_bf16_model *p)
{
  if (!p)
    return;
  for (int i = 0; i < p->n; i++)
    free (p->w[i].data);
  free (p->w);
  free (p);
}

magvlt_status
mv_bf16_prepare (const magvlt_model *model)
{
  magvlt_model *m = (magvlt_model *) model; /* the packed cache only */
  const mv_hparams *hp = &model->hp;
  magvlt_status st = MAGVLT_OK;

  if (!mv_bf16_available ())
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "backend 'bf16' needs a CPU with AVX512-BF16 (and an x86-64 build)");
  if (!model->blocks)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "this model has no transformer");
  pthread_mutex_lock (&pack_lock);
  if (m->bf16)
    {
      pthread_mutex_unlock (&pack_lock);
      return MAGVLT_OK;
    }
  int max_n = 6 * hp->n_layers + 3;
  mv_weight *ws = NULL;
  struct mv_bf16_model *p = calloc (1, sizeof *p);
  float *row = malloc ((size_t) (hp->mlp_hidden > hp->embed_dim ? hp->mlp_hidden : hp->embed_dim)
                       * sizeof (float));
  if (!p || !row || !(p->w = calloc ((size_t) max_n, sizeof *p->w)))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory packing the weights");
      goto done;
    }
  int n = 0;
  if (!(ws = calloc ((size_t) max_n, sizeof *ws)))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory packing the weights");
      goto done;
    }
  for (int l = 0; l < hp->n_layers; l++)
    {
      const mv_block *bl = &model->blocks[l];
      const mv_tensor *ts[] = { &bl->q_w, &bl->k_w, &bl->v_w, &bl->proj_w, &bl->fc1_w, &bl->fc2_w };
      for (int j = 0; j < 6; j++)
        ws[n++] = mv_weight_of (ts[j]);
    }
  ws[n++] = mv_weight_of (&model->lm_w);
  /* the tied head's two vocabularies, as lm_head asks for them */
  mv_weight emb = mv_weight_of (&model->tok_emb);
  ws[n++] = mv_weight_rows (emb, 0, hp->vocab_size_img);
  ws[n++] = mv_weight_rows (emb, hp->vocab_size_img, hp->vocab_size_txt);
  /* each weight's file pages are released as soon as it is packed, so
   * the peak is the packed copy plus one weight, not both copies. The
   * embedding's too: under this backend the input embedding reads its rows
   * from the packed copy (mv_bf16_embedding_row), so its file pages are not
   * touched again (reading them would fault them back row by row, and the
   * resident size would creep up job after job) */
  for (int i = 0; i < n && st == MAGVLT_OK; i++)
    {
      st = pack_one (ws[i], &p->w[i], row);
      p->n += st == MAGVLT_OK;
      mv_model_release_pages (model, ws[i].data,
                              (size_t) ws[i].o * ws[i].k * (ws[i].kind == MV_ROW_F32 ? 4 : 2));
    }
  p->vocab_img = hp->vocab_size_img;
  qsort (p->w, (size_t) p->n, sizeof *p->w, cmp_packed);
  if (st == MAGVLT_OK)
    {
      packed_bf16 ki = { .key = ws[n - 2].data, .o = ws[n - 2].o };
      packed_bf16 kt = { .key = ws[n - 1].data, .o = ws[n - 1].o };
      p->emb_img = bsearch (&ki, p->w, (size_t) p->n, sizeof ki, cmp_packed);
      p->emb_txt = bsearch (&kt, p->w, (size_t) p->n, sizeof kt, cmp_packed);
    }
done:
  free (ws);
  free (row);
  if (st == MAGVLT_OK)
    m->bf16 = p;
  else
    mv_bf16_model_free (p);
  pthread_mutex_unlock (&pack_lock);
  return st;
}

#ifdef MV_HAVE_BF16_KERNEL

#define BF16_TARGET __attribute__ ((target ("avx512f,avx512bw,avx512bf16")))

/* y[0..mr) × [0..nc) (+)= x rows · panel + b. x: mr rows of k2 activation
 * pairs (row stride ldx pairs); w: one panel. */
static inline __attribute__ ((always_inline)) BF16_TARGET void
micro (const int mr, const uint32_t *x, int ldx, const uint16_t *w, int k2, float *y, int ldy,
       int nc, const float *b, bool accumulate)
{
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++)
    c0[r] = c1[r] = _mm512_setzero_ps ();
  for (int kp = 0; kp < k2; kp++)
    {
      __m512bh w0 = (__m512bh) _mm512_load_si512 ((const void *) (w + (size_t) kp * 2 * NR));
      __m512bh w1 = (__m512bh) _mm512_load_si512 ((const void *) (w + (size_t) kp * 2 * NR + NR));
#pragma GCC unroll 12
      for (int r = 0; r < mr; r++)
        {
          __m512bh xv = (__m512bh) _mm512_set1_epi32 ((int) x[(size_t) r * ldx + kp]);
          c0[r] = _mm512_dpbf16_ps (c0[r], xv, w0);
          c1[r] = _mm512_dpbf16_ps (c1[r], xv, w1);
        }
    }
  __mmask16 m0 = nc >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << nc) - 1);
  __mmask16 m1 = nc >= 32   ? (__mmask16) 0xffff
                 : nc <= 16 ? (__mmask16) 0
                            : (__mmask16) ((1u << (nc - 16)) - 1);
  __m512 b0 = b ? _mm512_maskz_loadu_ps (m0, b) : _mm512_setzero_ps ();
  __m512 b1 = b ? _mm512_maskz_loadu_ps (m1, b + 16) : _mm512_setzero_ps ();
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++)
    {
      float *yr = y + (size_t) r * ldy;
      __m512 v0 = _mm512_add_ps (c0[r], b0), v1 = _mm512_add_ps (c1[r], b1);
      if (accumulate)
        {
          v0 = _mm512_add_ps (v0, _mm512_maskz_loadu_ps (m0, yr));
          v1 = _mm512_add_ps (v1, _mm512_maskz_loadu_ps (m1, yr + 16));
        }
      _mm512_mask_storeu_ps (yr, m0, v0);
      _mm512_mask_storeu_ps (yr + 16, m1, v1);
    }
}

#define MICRO_CASE(n)                                                                              \
  case n: micro (n, x, ldx, w, k2, y, ldy, nc, b, accumulate); break;

static BF16_TARGET void
micro_rows (int mr, const uint32_t *x, int ldx, const uint16_t *w, int k2, float *y, int ldy,
            int nc, const float *b, bool accumulate)
{
  switch (mr)
    {
      MICRO_CASE (1)
      MICRO_CASE (2)
      MICRO_CASE (3)
      MICRO_CASE (4)
      MICRO_CASE (5)
      MICRO_CASE (6)
      MICRO_CASE (7)
      MICRO_CASE (8)
      MICRO_CASE (9)
      MICRO_CASE (10)
      MICRO_CASE (11)
      MICRO_CASE (12)
    default: break;
    }
}

/* Rows [r0, r1) of x: [N, K] → bfloat16 pairs (K rounded up to even with a
 * zero), round to nearest even. */
static BF16_TARGET void
round_rows (const float *x, int k, int k2, uint16_t *xb, int r0, int r1)
{
  for (int r = r0; r < r1; r++)
    {
      const float *src = x + (size_t) r * k;
      uint16_t *dst = xb + (size_t) r * k2 * 2;
      int j = 0;
      for (; j + 32 <= k; j += 32)
        {
          __m512bh v =
            _mm512_cvtne2ps_pbh (_mm512_loadu_ps (src + j + 16), _mm512_loadu_ps (src + j));
          _mm512_storeu_si512 ((void *) (dst + j), (__m512i) v);
        }
      for (; j < k; j++)
        dst[j] = mv_f32_to_bf16 (src[j]);
      if (k & 1)
        dst[k] = 0;
    }
}

#define MAX_MANY 4

/* One product loop over up to MAX_MANY weights that share the input x:
 * task t belongs to weight i when first[i] <= t < first[i + 1]. */
typedef struct {
  int count;
  const packed_bf16 *pw[MAX_MANY];
  const float *b[MAX_MANY];
  float *y[MAX_MANY];
  int ldy[MAX_MANY], group[MAX_MANY], first[MAX_MANY + 1];
  const float *x;
  uint16_t *xb;
  int n, k, k2;
  bool accumulate;
} bf16_job;

static void
round_task (void *arg, int task, int thread)
{
  const bf16_job *j = arg;
  int r0 = task * ROUND_ROWS, r1 = r0 + ROUND_ROWS < j->n ? r0 + ROUND_ROWS : j->n;
  round_rows (j->x, j->k, j->k2, j->xb, r0, r1);
}

static void
product_task (void *arg, int task, int thread)
{
  const bf16_job *j = arg;
  int i = 0;
  while (task >= j->first[i + 1])
    i++;
  const packed_bf16 *pw = j->pw[i];
  int p0 = (task - j->first[i]) * j->group[i];
  int p1 = p0 + j->group[i] < pw->panels ? p0 + j->group[i] : pw->panels;
  const uint32_t *xb = (const uint32_t *) j->xb;
  float *y = j->y[i];
  const float *b = j->b[i];

  for (int r = 0; r < j->n; r += MR)
    {
      int mr = j->n - r < MR ? j->n - r : MR;
      for (int p = p0; p < p1; p++)
        {
          int nc = pw->o - p * NR < NR ? pw->o - p * NR : NR;
          micro_rows (mr, xb + (size_t) r * pw->k2, pw->k2, pw->data + (size_t) p * pw->k2 * NR * 2,
                      pw->k2, y + (size_t) r * j->ldy[i] + p * NR, j->ldy[i], nc,
                      b ? b + p * NR : NULL, j->accumulate);
        }
    }
}

bool
mv_bf16_linear_many (magvlt_context *ctx, int count, const mv_weight *w, const float *x, int n,
                     const float *const *b, float *const *y, const int *ldy, bool accumulate)
{
  const struct mv_bf16_model *pm = ctx->model->bf16;
  if (!pm || !ctx->xb || n <= 0 || count < 1 || count > MAX_MANY)
    return false;
  bf16_job j = { .count = count, .x = x, .xb = ctx->xb, .n = n, .accumulate = accumulate };
  int threads = mv_pool_threads (ctx->pool), total_panels = 0;
  for (int i = 0; i < count; i++)
    {
      packed_bf16 key = { .key = w[i].data, .o = w[i].o };
      j.pw[i] = bsearch (&key, pm->w, (size_t) pm->n, sizeof key, cmp_packed);
      if (!j.pw[i] || j.pw[i]->k != w[0].k)
        return false;
      total_panels += j.pw[i]->panels;
    }
  j.k = w[0].k, j.k2 = j.pw[0]->k2;
  if ((size_t) n * j.k2 * 4 > ctx->xb_bytes)
    return false;
  /* groups of panels that stay in L2, and about two tasks per thread over
   * all the weights together */
  int fair = (total_panels + 2 * threads - 1) / (2 * threads);
  int group = (int) (GROUP_BYTES / ((size_t) j.k2 * NR * 4));
  group = group < 1 ? 1 : group > fair ? (fair > 0 ? fair : 1) : group;
  j.first[0] = 0;
  for (int i = 0; i < count; i++)
    {
      j.b[i] = b[i], j.y[i] = y[i], j.ldy[i] = ldy[i], j.group[i] = group;
      j.first[i + 1] = j.first[i] + (j.pw[i]->panels + group - 1) / group;
    }
  mv_pool_run (ctx->pool, (n + ROUND_ROWS - 1) / ROUND_ROWS, round_task, &j);
  mv_pool_run (ctx->pool, j.first[count], product_task, &j);
  return true;
}

bool
mv_bf16_linear (magvlt_context *ctx, mv_weight w, const float *x, int n, const float *b, float *y,
                int ldy, bool accumulate)
{
  return mv_bf16_linear_many (ctx, 1, &w, x, n, &b, &y, &ldy, accumulate);
}

/* ---- attention: the same micro-kernel, keys and values packed per call */

typedef struct {
  const float *q, *k, *v;
  int l, c, h, d, blocks;
  size_t lp, l2; /* keys rounded up to a panel, to a pair */
  const int32_t *kv_len;
  float *out;
  uint16_t *qb, *kpack, *vpack;
  char *per_thread;
  size_t thread_bytes;
} attention_job;

/* Head `head`: its keys as panels over D, its values transposed (panels of
 * D outputs over key pairs), and its columns of q rounded. The panels are
 * packed for the P positions of this pass: a value panel spans (P + 1) / 2
 * key pairs (the scratch is sized for L). */
/* 32 floats → 32 bfloat16, rounded as round_rows rounds. */
static inline __attribute__ ((always_inline)) BF16_TARGET __m512i
round32 (const float *p)
{
  return (__m512i) _mm512_cvtne2ps_pbh (_mm512_loadu_ps (p + 16), _mm512_loadu_ps (p));
}

/* Keys of one head as panels over D (D a multiple of 32): each key row
 * is rounded 32 dims at a time, and its 16 pairs go to their k-pair rows. */
static BF16_TARGET void
pack_keys (const float *k, int l, int d, int c, uint16_t *dst)
{
  int d2 = d / 2;
  uint32_t pairs[16];
  for (int key = 0; key < l; key++)
    {
      uint32_t *base = (uint32_t *) (dst + (size_t) (key / NR) * d2 * NR * 2) + key % NR;
      for (int j = 0; j < d; j += 32)
        {
          _mm512_storeu_si512 ((void *) pairs, round32 (k + (size_t) key * c + j));
          for (int i = 0; i < 16; i++)
            base[(size_t) (j / 2 + i) * NR] = pairs[i];
        }
    }
  for (int key = l; key < (l + NR - 1) / NR * NR; key++) /* the last panel's padding */
    {
      uint32_t *base = (uint32_t *) (dst + (size_t) (key / NR) * d2 * NR * 2) + key % NR;
      for (int kp = 0; kp < d2; kp++)
        base[(size_t) kp * NR] = 0;
    }
}

/* One k-pair row of a panel (64 bfloat16) from the 32 rounded values of
 * input 2kp (a) and of input 2kp + 1 (b), interleaved 16 bits at a time. */
static inline __attribute__ ((always_inline)) BF16_TARGET void
store_pair_row (uint16_t *row, __m512i a, __m512i b)
{
  __m512i lo_idx = _mm512_set_epi16 (47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                     39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  __m512i hi_idx =
    _mm512_set_epi16 (63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24, 55, 23, 54,
                      22, 53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
  _mm512_store_si512 ((void *) row, _mm512_permutex2var_epi16 (a, lo_idx, b));
  _mm512_store_si512 ((void *) (row + NR), _mm512_permutex2var_epi16 (a, hi_idx, b));
}

/* Values of one head transposed into panels of 32 dims over key pairs (D a
 * multiple of 32): rows 2kp and 2kp + 1, rounded and interleaved, are
 * exactly one k-pair row of a panel. */
static BF16_TARGET void
pack_values (const float *v, int l, int d, int c, uint16_t *dst)
{
  int l2 = (l + 1) / 2;
  for (int kp = 0; kp < l2; kp++)
    for (int p = 0; p < d / NR; p++)
      {
        __m512i a = round32 (v + (size_t) (2 * kp) * c + p * NR);
        __m512i b = 2 * kp + 1 < l ? round32 (v + (size_t) (2 * kp + 1) * c + p * NR)
                                   : _mm512_setzero_si512 ();
        store_pair_row (dst + ((size_t) p * l2 + kp) * NR * 2, a, b);
      }
}

static void
attention_pack_task (void *arg, int head, int thread)
{
  const attention_job *j = arg;
  size_t hd = (size_t) head * j->d;
  uint16_t *kp = j->kpack + (size_t) head * j->lp * j->d;
  uint16_t *vp = j->vpack + (size_t) head * round_up ((size_t) j->d, NR) * j->l2;
  if (j->d % 32 == 0)
    {
      pack_keys (j->k + hd, j->l, j->d, j->c, kp);
      pack_values (j->v + hd, j->l, j->d, j->c, vp);
    }
  else
    {
      pack_panels (j->k + hd, j->l, j->d, (size_t) j->c, 1, kp);
      pack_panels (j->v + hd, j->d, j->l, 1, (size_t) j->c, vp);
    }
}

static void
attention_round_q_task (void *arg, int task, int thread)
{
  const attention_job *j = arg;
  int r0 = task * ROUND_ROWS, r1 = r0 + ROUND_ROWS < j->l ? r0 + ROUND_ROWS : j->l;
  round_rows (j->q, j->c, j->c / 2, j->qb, r0, r1);
}

static void
attention_rows_task (void *arg, int task, int thread)
{
  const attention_job *j = arg;
  int head = task / j->blocks, r0 = task % j->blocks * MV_ATT_ROWS;
  int r1 = r0 + MV_ATT_ROWS < j->l ? r0 + MV_ATT_ROWS : j->l, nk = 0, d2 = j->d / 2;
  float *scores = (float *) (j->per_thread + (size_t) thread * j->thread_bytes);
  uint16_t *pb = (uint16_t *) (scores + MV_ATT_ROWS * j->lp);
  const uint16_t *kp = j->kpack + (size_t) head * j->lp * j->d;
  const uint16_t *vp = j->vpack + (size_t) head * round_up ((size_t) j->d, NR) * j->l2;
  float scale = 1.0f / sqrtf ((float) j->d);

  for (int i = r0; i < r1; i++)
    nk = j->kv_len[i] > nk ? j->kv_len[i] : nk;
  int nk2 = (nk + 1) / 2, key_panels = (nk + NR - 1) / NR, dim_panels = (j->d + NR - 1) / NR;
  const uint32_t *xq = (const uint32_t *) j->qb + ((size_t) r0 * j->c + (size_t) head * j->d) / 2;

  /* S = q_h · k_hᵀ for keys [0, nk) */
  for (int r = r0; r < r1; r += MR)
    {
      int mr = r1 - r < MR ? r1 - r : MR;
      for (int p = 0; p < key_panels; p++)
        micro_rows (mr, xq + (size_t) (r - r0) * (j->c / 2), j->c / 2,
                    kp + (size_t) p * d2 * NR * 2, d2, scores + (size_t) (r - r0) * j->lp + p * NR,
                    (int) j->lp, nk - p * NR < NR ? nk - p * NR : NR, NULL, false);
    }
  /* softmax over each row's prefix, probabilities rounded for S · v_h */
  for (int i = 0; i < r1 - r0; i++)
    {
      float *row = scores + (size_t) i * j->lp;
      for (int jj = 0; jj < nk; jj++)
        row[jj] *= scale;
      mv_softmax_prefix (row, j->kv_len[r0 + i], nk);
      uint16_t *prow = pb + (size_t) i * j->l2;
      for (int jj = 0; jj < 2 * nk2; jj++)
        prow[jj] = jj < nk ? mv_f32_to_bf16 (row[jj]) : 0;
    }
  /* out_h = P · v_h */
  for (int r = r0; r < r1; r += MR)
    {
      int mr = r1 - r < MR ? r1 - r : MR;
      for (int p = 0; p < dim_panels; p++)
        micro_rows (mr, (const uint32_t *) pb + (size_t) (r - r0) * (j->l2 / 2), (int) (j->l2 / 2),
                    vp + (size_t) p * ((j->l + 1) / 2) * NR * 2, nk2,
                    j->out + (size_t) r * j->c + (size_t) head * j->d + p * NR, j->c,
                    j->d - p * NR < NR ? j->d - p * NR : NR, NULL, false);
    }
}

bool
mv_bf16_attention (magvlt_context *ctx, const float *q, const float *k, const float *v, int l,
                   int c, int h, const int32_t *kv_len, float *out)
{
  int d = c / h;
  if (!ctx->attb || d % 2 != 0 || c % 2 != 0)
    return false;
  const mv_hparams *hp = &ctx->model->hp;
  size_t lp = round_up ((size_t) hp->seq_len, NR), l2 = round_up ((size_t) hp->seq_len, 2);
  size_t dp = round_up ((size_t) d, NR);
  attention_job j = {
    q, k, v, l, c, h, d, (l + MV_ATT_ROWS - 1) / MV_ATT_ROWS, lp, l2, kv_len, out
  };
  char *base = ctx->attb;
  j.qb = (uint16_t *) base;
  base += round_up ((size_t) hp->seq_len * c * 2, 64);
  j.kpack = (uint16_t *) base;
  base += round_up ((size_t) h * lp * d * 2, 64);
  j.vpack = (uint16_t *) base;
  base += round_up ((size_t) h * dp * l2 * 2, 64);
  j.per_thread = base;
  j.thread_bytes = round_up (MV_ATT_ROWS * lp * 4 + MV_ATT_ROWS * l2 * 2, 64);
  mv_pool_run (ctx->pool, h, attention_pack_task, &j);
  mv_pool_run (ctx->pool, (l + ROUND_ROWS - 1) / ROUND_ROWS, attention_round_q_task, &j);
  mv_pool_run (ctx->pool, h * j.blocks, attention_rows_task, &j);
  return true;
}

/* ---- VQGAN convolutions: y[co, pixels] = W · im2col(x) ------------------
 * The weight's rows are the micro-kernel's rows (rounded to bfloat16 per
 * call: co·K values, nothing next to the co·K·pixels products), the im2col
 * band's pixels its panels, so the output lands planar, as the VQGAN keeps
 * activations. */

typedef struct {
  const float *x;
  int ci, h, w, co, ho, wo, band, k, k2;
  const mv_conv_geom *g;
  const uint16_t *wb; /* [co][k2] pairs */
  const float *b;
  float *y;
  float *col;
  size_t col_floats; /* per thread */
  uint16_t *panels;
  size_t panel_entries; /* per thread */
  const atomic_int *cancel;
} conv_job;

static atomic_bool direct_pack = true;

void
mv_bf16_conv_set_direct_pack (bool on)
{
  atomic_store (&direct_pack, on);
}

/* The im2col row of tap kk = (channel c, ky, kx). */
typedef struct {
  int c, ky, kx;
} conv_tap;

static inline conv_tap
tap_of (const mv_conv_geom *g, int kk)
{
  conv_tap t = { kk / (g->k * g->k), kk / g->k % g->k, kk % g->k };
  return t;
}

/* 32 values of one im2col row for the output pixels [n0, n0 + 32) of a
 * band starting at output row r0, straight from the image: the values
 * mv_im2col would write there. The 32 pixels lie in one output row (wo is
 * a multiple of 32). */
static inline __attribute__ ((always_inline)) BF16_TARGET __m512i
im2col_round32 (const conv_job *j, conv_tap t, int r0, int n0)
{
  const mv_conv_geom *g = j->g;
  int c = t.c, ky = t.ky, kx = t.kx;
  int oy = r0 + n0 / j->wo, ox0 = n0 % j->wo;
  int iy = oy * g->stride - g->pad_top + ky, hu = j->h * g->up, wu = j->w * g->up;
  if (iy < 0 || iy >= hu)
    return _mm512_setzero_si512 ();
  const float *src = j->x + ((size_t) c * j->h + iy / g->up) * j->w;
  int ix0 = ox0 * g->stride - g->pad_left + kx;
  if (g->stride == 1 && g->up == 1)
    {
      /* one span of the row; the lanes outside it (padding) load as zero and
       * are never read (masked loads do not fault) */
      __mmask16 m[2];
      for (int h = 0; h < 2; h++)
        {
          int lo = -(ix0 + 16 * h), hi = j->w - (ix0 + 16 * h); /* lanes [lo, hi) are inside */
          lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
          hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
          m[h] = hi > lo ? (__mmask16) (((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
        }
      /* the address in integers: src + ix0 may lie before the row (padding) */
      uintptr_t at = (uintptr_t) src + (uintptr_t) ((intptr_t) ix0 * (intptr_t) sizeof (float));
      __m512 a = _mm512_maskz_loadu_ps (m[0], (const void *) at);
      __m512 b = _mm512_maskz_loadu_ps (m[1], (const void *) (at + 16 * sizeof (float)));
      return (__m512i) _mm512_cvtne2ps_pbh (b, a);
    }
  float v[32];
  for (int i = 0; i < 32; i++)
    {
      int ix = (ox0 + i) * g->stride - g->pad_left + kx;
      v[i] = ix < 0 || ix >= wu ? 0.0f : src[ix / g->up];
    }
  return round32 (v);
}

/* The band's pixel panels packed straight from the image (what im2col and
 * pack_values make in two passes, one float copy of the band fewer): each
 * k-pair row of a panel interleaves taps 2kp and 2kp + 1. */
static BF16_TARGET void
pack_im2col_panels (const conv_job *j, int r0, int n, uint16_t *pan)
{
  for (int kp = 0; kp < j->k2; kp++)
    {
      conv_tap t0 = tap_of (j->g, 2 * kp), t1 = tap_of (j->g, 2 * kp + 1);
      bool odd_tail = 2 * kp + 1 == j->k; /* K odd: the last pair's second row is zero */
      for (int p = 0; p < n / NR; p++)
        store_pair_row (pan + ((size_t) p * j->k2 + kp) * NR * 2,
                        im2col_round32 (j, t0, r0, p * NR),
                        odd_tail ? _mm512_setzero_si512 () : im2col_round32 (j, t1, r0, p * NR));
    }
}

static void
conv_band_bf16_task (void *arg, int task, int thread)
{
  const conv_job *j = arg;
  if (atomic_load (j->cancel))
    return;
  int r0 = task * j->band, rows = j->ho - r0 < j->band ? j->ho - r0 : j->band;
  int n = rows * j->wo, npix = j->ho * j->wo;
  uint16_t *pan = j->panels + (size_t) thread * j->panel_entries;
  bool pointwise = mv_conv_is_pointwise (j->g);
  if (!pointwise && j->wo % NR == 0 && atomic_load (&direct_pack))
    pack_im2col_panels (j, r0, n, pan); /* whole panels within output rows */
  else
    {
      /* the 1×1 convolution's input is its own im2col */
      const float *src = j->x + (size_t) r0 * j->wo;
      size_t stride = (size_t) npix;
      if (!pointwise)
        {
          float *col = j->col + (size_t) thread * j->col_floats;
          mv_im2col (j->x, j->ci, j->h, j->w, j->g, r0, rows, j->wo, col);
          src = col, stride = (size_t) n;
        }
      int full = n / NR * NR;
      if (full > 0) /* pixels play the values' dims, kernel taps their keys */
        pack_values (src, j->k, full, (int) stride, pan);
      if (full < n) /* the last, partial panel of pixels */
        pack_panels (src + full, n - full, j->k, 1, stride, pan + (size_t) full * j->k2 * 2);
    }
  float *y = j->y + (size_t) r0 * j->wo;
  for (int p = 0; p * NR < n; p++)
    for (int r = 0; r < j->co; r += MR)
      micro_rows (j->co - r < MR ? j->co - r : MR, (const uint32_t *) j->wb + (size_t) r * j->k2,
                  j->k2, pan + (size_t) p * j->k2 * NR * 2, j->k2, y + (size_t) r * npix + p * NR,
                  npix, n - p * NR < NR ? n - p * NR : NR, NULL, false);
  if (j->b)
    for (int c = 0; c < j->co; c++)
      {
        float *row = y + (size_t) c * npix, bc = j->b[c];
        for (int i = 0; i < n; i++)
          row[i] += bc;
      }
}

bool
mv_bf16_conv2d (magvlt_context *ctx, const float *x, int ci, int h, int w, const float *wt,
                const float *b, int co, const mv_conv_geom *g, float *y)
{
  int threads = mv_pool_threads (ctx->pool), ho, wo;
  mv_conv2d_out_size (g, h, w, &ho, &wo);
  int k = ci * g->k * g->k, k2 = (k + 1) / 2;
  if (!ctx->vq_wb || !ctx->vq_panels || (size_t) co * k2 * 2 > ctx->vq_wb_entries)
    return false;
  size_t per_thread = ctx->vq_col_floats / (size_t) threads;
  size_t row_floats = (size_t) k * (size_t) wo;
  if (per_thread < row_floats)
    return false;
  int band = (int) (per_thread / row_floats), fair = (ho + 2 * threads - 1) / (2 * threads);
  band = band > fair ? fair : band;
  band = band < 1 ? 1 : band;
  size_t panel_entries = ctx->vq_panel_entries / (size_t) threads;
  if ((size_t) k2 * 2 * (((size_t) band * wo + NR - 1) / NR * NR) > panel_entries)
    return false;
  conv_job j = {
    x,           ci, h,          w, co, ho,          wo,         band,           k,
    k2,          g,  ctx->vq_wb, b, y,  ctx->vq_col, per_thread, ctx->vq_panels, panel_entries,
    &ctx->cancel
  };
  round_rows (wt, k, k2, ctx->vq_wb, 0, co); /* the weight as bfloat16 pairs */
  mv_pool_run (ctx->pool, (ho + band - 1) / band, conv_band_bf16_task, &j);
  return !atomic_load (&ctx->cancel);
}

#else /* !MV_HAVE_BF16_KERNEL */

void
mv_bf16_conv_set_direct_pack (bool on)
{
}

bool
mv_bf16_attention (magvlt_context *ctx, const float *q, const float *k, const float *v, int l,
                   int c, int h, const int32_t *kv_len, float *out)
{
  return false;
}

bool
mv_bf16_linear (magvlt_context *ctx, mv_weight w, const float *x, int n, const float *b, float *y,
                int ldy, bool accumulate)
{
  return false;
}

bool
mv_bf16_linear_many (magvlt_context *ctx, int count, const mv_weight *w, const float *x, int n,
                     const float *const *b, float *const *y, const int *ldy, bool accumulate)
{
  return false;
}

#endif
