/* random_model.c — magvlt_random_model_write: a model file of a preset
 * geometry (MAGVLT-base, -large, or the shipped default model's) with random
 * weights, for `magvlt bench --preset` and tests.
 *
 * The layout is the converter's (convert_layout.c: the same metadata keys and
 * tensor tables, so the same loader path runs); the weights follow the
 * scales of make_parity_cases.py's draw_tensor, not its values (NumPy's
 * generator is not reproduced: a normal here is a scaled sum of four 16-bit
 * uniforms, Irwin–Hall, from a splitmix64 stream seeded by the seed and the
 * tensor name). The tokenizer is a synthetic CLIP-style BPE vocabulary of the
 * preset's size.
 * SPDX-License-Identifier: MIT
 *
 * Legend: C width, M MLP width, I image codes, T text slots, Vi/Vt the image
 * and text vocabularies. */
#include "convert.h"
#include "gguf_write.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RM_HAVE_F16C_DISPATCH 1
#endif

#define RM_CHUNK (1u << 20) /* elements drawn and written at a time */
#define RM_N_SPECIAL 10     /* the official "hnh" special-token table */
#define RM_FORMAT_VERSION 1 /* magvlt.format_version */
#define RM_BPE_FIXED 514    /* 2 × 256 byte characters + 2 special tokens */

typedef struct {
  const char *name;
  cv_stage2 s2;
  cv_vqgan vq;
} rm_preset;

/* base and large come from cv_official_geometry; default is the geometry
 * of data/models/default.gguf (`magvlt info` and its magvlt.vqgan.* keys).
 * The MLP is 4C in all three. */
static const rm_preset presets[] = {
  { "default",
    { .embed_dim = 256,
      .n_layers = 8,
      .n_heads = 4,
      .ctx_len_img = 64,
      .ctx_len_txt = 32,
      .vocab_size_img = 1024,
      .vocab_size_txt = 3072 },
    { .resolution = 64,
      .in_channels = 3,
      .out_ch = 3,
      .ch = 32,
      .n_levels = 4,
      .ch_mult = { 1, 2, 2, 4 },
      .num_res_blocks = 1,
      .n_attn = 1,
      .attn_res = { 8 },
      .z_channels = 64,
      .embed_dim = 32,
      .n_embed = 1024 } },
};

magvlt_random_model_params
magvlt_random_model_default_params (void)
{
  magvlt_random_model_params p = { .preset = "default",
                                   .weight_type = MAGVLT_WEIGHTS_F16,
                                   .seed = 1 };
  return p;
}

/* One override: 0 keeps the preset's value. */
static magvlt_status
override (const char *what, int32_t v, int32_t lo, int32_t hi, int32_t *out)
{
  if (v == 0)
    return MAGVLT_OK;
  if (v < lo || v > hi)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "%s is %d; use %d to %d (or 0 for the preset's)", what,
                    v, lo, hi);
  *out = v;
  return MAGVLT_OK;
}

/* The geometry params ask for, checked against what the loader accepts. */
static magvlt_status
resolve (const magvlt_random_model_params *p, cv_stage2 *g, cv_vqgan *v)
{
  const rm_preset *pr = NULL;
  for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
    if (p->preset && strcmp (p->preset, presets[i].name) == 0)
      pr = &presets[i];
  if (!pr && !cv_official_geometry (p->preset, g, v))
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "unknown preset '%s' (use base, large or default)",
                    p->preset ? p->preset : "(null)");
  if (p->weight_type != MAGVLT_WEIGHTS_F16 && p->weight_type != MAGVLT_WEIGHTS_F32
      && p->weight_type != MAGVLT_WEIGHTS_BF16)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "unknown weight type %d", (int) p->weight_type);
  if (pr)
    *g = pr->s2, *v = pr->vq;
  int32_t grid = (int32_t) lround (sqrt ((double) g->ctx_len_img));
  magvlt_status st;
  /* the VQGAN's resolution is grid × 2^(levels − 1), at most 8192 */
  int32_t max_grid = 8192 >> (v->n_levels - 1);
  if ((st = override ("n_layers", p->n_layers, 1, 1024, &g->n_layers))
      || (st = override ("embed_dim", p->embed_dim, 1, 1 << 16, &g->embed_dim))
      || (st = override ("n_heads", p->n_heads, 1, 1024, &g->n_heads))
      || (st = override ("image_grid", p->image_grid, 1, max_grid < 256 ? max_grid : 256, &grid))
      || (st = override ("ctx_len_txt", p->ctx_len_txt, 1, 4096, &g->ctx_len_txt)))
    return st;
  if (g->embed_dim % g->n_heads != 0)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "embed_dim %d is not divisible by n_heads %d",
                    g->embed_dim, g->n_heads);
  if (4 * g->embed_dim > 1 << 18)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "embed_dim %d: the MLP (4 × embed_dim) is too wide",
                    g->embed_dim);
  g->ctx_len_img = grid * grid;
  v->resolution = grid << (v->n_levels - 1);
  v->attn_res[0] = grid; /* attention at the code grid, as in all three presets */
  return MAGVLT_OK;
}

/* ---- the synthetic tokenizer ----------------------------------------------- */

typedef struct {
  const char **vocab, **merges;
  size_t n_vocab, n_merges;
  char *storage;
} rm_vocab;

static void
rm_vocab_free (rm_vocab *t)
{
  free (t->vocab);
  free (t->merges);
  free (t->storage);
}

/* CLIP's layout (convert_bpe.c) for n_vocab ids: the 256 byte characters,
 * the same with "</w>", one entry per merge, <|startoftext|>,
 * <|endoftext|>. The merges build every lowercase word of two letters, then
 * of three, then of four, from the word one letter shorter and a letter
 * (with or without "</w>"), until there are n_vocab − 514: a real BPE that
 * turns short English words into one token and longer ones into a few. */
static magvlt_status
make_vocab (int32_t n_vocab, rm_vocab *t)
{
  memset (t, 0, sizeof *t);
  if (n_vocab < RM_BPE_FIXED)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "a text vocabulary of %d ids is below the %d fixed ids",
                    n_vocab, RM_BPE_FIXED);
  size_t need = (size_t) n_vocab - RM_BPE_FIXED;
  /* words of k letters from (k−1)-letter words: 26^(k−1) × 52 merges */
  size_t cap = 26 * 52 + 26 * 26 * 52 + 26 * 26 * 26 * 52;
  if (need > cap)
    return mv_fail (MAGVLT_ERR_INVALID_ARG,
                    "a text vocabulary of %d ids is over the %zu this "
                    "synthetic tokenizer makes",
                    n_vocab, cap + RM_BPE_FIXED);
  t->n_vocab = (size_t) n_vocab;
  t->n_merges = need;
  t->vocab = malloc (t->n_vocab * sizeof *t->vocab);
  t->merges = malloc ((need ? need : 1) * sizeof *t->merges);
  /* at most 4 letters + "</w>" per entry, "abc d</w>" per merge */
  size_t per = 16, used = 0;
  t->storage = malloc ((t->n_vocab + need) * per + 64);
  if (!t->vocab || !t->merges || !t->storage)
    {
      rm_vocab_free (t);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for the tokenizer");
    }
#define RM_PUT(...)                                                                                \
  (snprintf (t->storage + used, per, __VA_ARGS__), used += per, t->storage + used - per)
  char chars[256][5];
  cv_bytes_to_unicode (chars);
  size_t k = 0;
  for (int i = 0; i < 256; i++)
    t->vocab[k++] = RM_PUT ("%.4s", chars[i]);
  for (int i = 0; i < 256; i++)
    t->vocab[k++] = RM_PUT ("%.4s</w>", chars[i]);
  size_t m = 0;
  for (int len = 2; len <= 4 && m < need; len++)
    {
      size_t n_left = 1;
      for (int j = 1; j < len; j++)
        n_left *= 26;
      for (size_t i = 0; i < n_left * 52 && m < need; i++)
        {
          char left[8];
          size_t w = i / 52;
          for (int j = len - 2; j >= 0; j--, w /= 26)
            left[j] = (char) ('a' + w % 26);
          left[len - 1] = '\0';
          char c = (char) ('a' + (i % 52) / 2);
          const char *suffix = i % 2 ? "</w>" : "";
          t->merges[m++] = RM_PUT ("%s %c%s", left, c, suffix);
          t->vocab[k++] = RM_PUT ("%s%c%s", left, c, suffix);
        }
    }
#undef RM_PUT
  t->vocab[k++] = "<|startoftext|>";
  t->vocab[k++] = "<|endoftext|>";
  return MAGVLT_OK;
}

/* ---- the weights ------------------------------------------------------------- */

static uint64_t
splitmix64 (uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* The stream of one tensor: FNV-1a of its name, mixed with the seed. */
static uint64_t
stream_seed (uint64_t seed, const char *name)
{
  uint64_t h = 0xcbf29ce484222325u;
  for (const char *c = name; *c; c++)
    h = (h ^ (uint8_t) *c) * 0x100000001b3u;
  uint64_t s = seed ^ (h * 0x9e3779b97f4a7c15u);
  splitmix64 (&s);
  return s;
}

/* make_parity_cases.py draw_tensor's scales, by the full name. */
static void
tensor_scale (const char *name, int n_dims, const int64_t *shape, float *std, float *mean)
{
  size_t len = strlen (name);
  *mean = 0.0f;
#define ENDS(s) (len >= strlen (s) && strcmp (name + len - strlen (s), s) == 0)
  if (ENDS ("output_bias"))
    *std = 0.1f;
  else if (n_dims == 1)
    {
      bool weight = ENDS (".weight");
      *std = weight ? 0.1f : 0.05f;
      *mean = weight ? 1.0f : 0.0f;
    }
  else if (strstr (name, "tok_emb"))
    *std = 0.4f;
  else if (strstr (name, "pos_emb"))
    *std = 0.2f;
  else if (strcmp (name, "vqgan.quantize.embedding.weight") == 0)
    *std = 1.0f;
  else
    {
      double fan_in = 1;
      for (int d = 1; d < n_dims; d++)
        fan_in *= (double) shape[d];
      *std = (float) (1.0 / sqrt (fan_in));
      /* the module: the name's second-to-last part ("...attn.query.weight") */
      const char *end = strrchr (name, '.'), *start = end;
      while (start > name && start[-1] != '.')
        start--;
      size_t n = (size_t) (end - start);
      static const char *qk[] = { "query", "key", "q", "k" };
      for (int i = 0; i < 4; i++)
        if (strlen (qk[i]) == n && strncmp (start, qk[i], n) == 0)
          *std *= 1.3f;
      if (strcmp (name, "vqgan.decoder.conv_out.weight") == 0)
        *std *= 0.9f;
    }
#undef ENDS
}

/* n values ~ N(mean, std²): Irwin–Hall of four 16-bit uniforms (their sum
 * has mean 131070 and standard deviation 65536/√3 within 1e-9), which stays
 * within ±3.5 std. */
static void
draw (uint64_t *s, float std, float mean, float *out, size_t n)
{
  const float scale = std * (float) (1.7320508075688772 / 65536.0);
  for (size_t i = 0; i < n; i++)
    {
      uint64_t r = splitmix64 (s);
      int32_t sum = (int32_t) (r & 0xffff) + (int32_t) ((r >> 16) & 0xffff)
                    + (int32_t) ((r >> 32) & 0xffff) + (int32_t) (r >> 48);
      out[i] = mean + scale * (float) (sum - 131070);
    }
}

/* float → IEEE half, round to nearest even: gw_f32_to_f16, or F16C's
 * conversion where the CPU has it (the same bits for every finite value; it
 * halves the time of writing the base model). */
#ifdef RM_HAVE_F16C_DISPATCH
__attribute__ ((target ("avx,f16c"))) static void
to_f16_f16c (const float *f, uint16_t *h, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128 ((__m128i *) (h + i),
                      _mm256_cvtps_ph (_mm256_loadu_ps (f + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    h[i] = gw_f32_to_f16 (f[i]);
}
#endif

static void
to_f16 (const float *f, uint16_t *h, size_t n)
{
#ifdef RM_HAVE_F16C_DISPATCH
  if (__builtin_cpu_supports ("f16c") && __builtin_cpu_supports ("avx"))
    {
      to_f16_f16c (f, h, n);
      return;
    }
#endif
  for (size_t i = 0; i < n; i++)
    h[i] = gw_f32_to_f16 (f[i]);
}

/* The stored type of a tensor: the converter's rule (matrices in the chosen
 * type; vectors and the codebook float32). */
static uint32_t
tensor_type (magvlt_weight_type wt, const char *name, int n_dims)
{
  if (wt == MAGVLT_WEIGHTS_F32 || n_dims < 2
      || strcmp (name, "vqgan.quantize.embedding.weight") == 0)
    return GGUF_TENSOR_F32;
  return wt == MAGVLT_WEIGHTS_BF16 ? GGUF_TENSOR_BF16 : GGUF_TENSOR_F16;
}

typedef struct {
  char name[256];
  int n_dims;
  int64_t shape[4];
  uint32_t type;
} rm_tensor;

static magvlt_status
write_tensor (gguf_writer *w, const rm_tensor *x, uint64_t seed, float *f, uint16_t *h)
{
  magvlt_status st = MAGVLT_OK;
  uint64_t numel = 1, s = stream_seed (seed, x->name);
  float std, mean;
  for (int d = 0; d < x->n_dims; d++)
    numel *= (uint64_t) x->shape[d];
  tensor_scale (x->name, x->n_dims, x->shape, &std, &mean);
  for (uint64_t i = 0; i < numel && st == MAGVLT_OK; i += RM_CHUNK)
    {
      size_t k = (size_t) (numel - i < RM_CHUNK ? numel - i : RM_CHUNK);
      draw (&s, std, mean, f, k);
      if (x->type == GGUF_TENSOR_F32)
        st = gw_write (w, f, k * 4);
      else
        {
          if (x->type == GGUF_TENSOR_F16)
            to_f16 (f, h, k);
          else
            for (size_t j = 0; j < k; j++)
              h[j] = gw_f32_to_bf16 (f[j]);
          st = gw_write (w, h, k * 2);
        }
    }
  return st == MAGVLT_OK ? gw_end_tensor (w) : st;
}

/* ---- the entry point ------------------------------------------------------- */

static const char *
type_name (magvlt_weight_type wt)
{
  return wt == MAGVLT_WEIGHTS_F32 ? "f32" : wt == MAGVLT_WEIGHTS_BF16 ? "bf16" : "f16";
}

/* Appends the tensors of one table, with prefix, to list. */
static magvlt_status
add_tensors (gguf_writer *w, const char *prefix, const cv_expect *e, size_t n,
             magvlt_weight_type wt, rm_tensor *list, size_t *n_list)
{
  for (size_t i = 0; i < n; i++)
    {
      rm_tensor *x = &list[(*n_list)++];
      snprintf (x->name, sizeof x->name, "%s%s", prefix, e[i].name);
      x->n_dims = e[i].n_dims;
      memcpy (x->shape, e[i].shape, sizeof x->shape);
      x->type = tensor_type (wt, x->name, x->n_dims);
      magvlt_status st = gw_add_tensor (w, x->name, x->n_dims, x->shape, x->type, NULL);
      if (st != MAGVLT_OK)
        return st;
    }
  return MAGVLT_OK;
}

magvlt_status
magvlt_random_model_write (const magvlt_random_model_params *params, const char *path,
                           magvlt_convert_stats *stats)
{
  if (!params || !path || !*path)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_random_model_write: params and path are "
                                            "required");
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  cv_stage2 g;
  cv_vqgan v;
  magvlt_status st = resolve (params, &g, &v);
  if (st != MAGVLT_OK)
    return st;
  int32_t mlp = 4 * g.embed_dim;

  cv_expect *e2 = NULL, *ev = NULL;
  size_t n2 = 0, nv = 0, n_list = 0;
  rm_vocab voc = { 0 };
  rm_tensor *list = NULL;
  gguf_writer *w = NULL;
  float *f = malloc (RM_CHUNK * sizeof *f);
  uint16_t *h = malloc (RM_CHUNK * sizeof *h);
  FILE *fp = NULL;
  if (!f || !h || !(w = gw_new ()))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
      goto out;
    }
  if ((st = cv_stage2_table (&g, mlp, RM_N_SPECIAL, &e2, &n2))
      || (st = cv_vqgan_table (&v, &ev, &nv)) || (st = make_vocab (g.vocab_size_txt, &voc)))
    goto out;
  if (!(list = malloc ((n2 + nv) * sizeof *list)))
    {
      st = mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
      goto out;
    }

  /* metadata, in the converter's order */
  char name[128];
  bool custom = params->n_layers || params->embed_dim || params->n_heads || params->image_grid
                || params->ctx_len_txt;
  snprintf (name, sizeof name, "random-%s%s-%s-seed%llu", params->preset, custom ? "-custom" : "",
            type_name (params->weight_type), (unsigned long long) params->seed);
  if ((st = gw_add_str (w, "general.architecture", "magvlt"))
      || (st = gw_add_str (w, "general.name", name))
      || (st = gw_add_u32 (w, "magvlt.format_version", RM_FORMAT_VERSION))
      || (st = cv_add_geometry_keys (w, &g, mlp, RM_N_SPECIAL, &v))
      || (st = cv_add_tokenizer_keys (w, voc.vocab, voc.n_vocab, voc.merges, voc.n_merges))
      || (st = add_tensors (w, "stage2.", e2, n2, params->weight_type, list, &n_list))
      || (st = add_tensors (w, "vqgan.", ev, nv, params->weight_type, list, &n_list)))
    goto out;

  if (!(fp = fopen (path, "wb")))
    {
      st = mv_fail (MAGVLT_ERR_IO, "%s: cannot create: %s", path, strerror (errno));
      goto out;
    }
  setvbuf (fp, NULL, _IOFBF, 1u << 20);
  if ((st = gw_begin (w, fp, path)))
    goto out;
  uint64_t n_params = 0;
  for (size_t i = 0; i < n_list && st == MAGVLT_OK; i++)
    {
      st = write_tensor (w, &list[i], params->seed, f, h);
      uint64_t numel = 1;
      for (int d = 0; d < list[i].n_dims; d++)
        numel *= (uint64_t) list[i].shape[d];
      n_params += numel;
    }
  if (st == MAGVLT_OK)
    st = gw_finish (w);
  if (st == MAGVLT_OK && stats)
    {
      clock_gettime (CLOCK_MONOTONIC, &t1);
      long size = ftell (fp);
      stats->n_tensors = (int32_t) n_list;
      stats->n_params = (int64_t) n_params;
      stats->file_size = size > 0 ? (uint64_t) size : 0;
      stats->n_warnings = 0;
      stats->seconds = (double) (t1.tv_sec - t0.tv_sec) + 1e-9 * (double) (t1.tv_nsec - t0.tv_nsec);
    }
out:
  if (fp && fclose (fp) != 0 && st == MAGVLT_OK)
    st = mv_fail (MAGVLT_ERR_IO, "%s: %s", path, strerror (errno));
  free (f);
  free (h);
  free (e2);
  free (ev);
  free (list);
  rm_vocab_free (&voc);
  gw_free (w);
  return st;
}
