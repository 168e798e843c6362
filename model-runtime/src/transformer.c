/* transformer.c — one forward pass of the MAGVLT stage-2 transformer
 * (spec §2): embedding composition, the bidirectional pre-LN blocks, the
 * tied LM head and the length head.
 * SPDX-License-Identifier: MIT
 *
 * Legend: L full sequence length (4 + I + T), P positions actually computed
 * (text slots >= n dropped), C width, M MLP width, H heads, V vocabulary.
 *
 * Dropping the padding text slots is exact, not an approximation: in the T2I
 * mask they are blocked as keys and as queries, in the I2T mask as keys, so no
 * other position ever reads them (spec §2.5). What is left of the attention
 * mask is one prefix length per query row: every row sees all P positions,
 * except the BOT row of the I2T layout, which sees only indices 0..I+3. */
#include "context.h"
#include "jobs.h"
#include "matmul.h"
#include "matmul_bf16.h"
#include "ops.h"
#include "parallel.h"
#include "status.h"
#include "threads.h"

#include <string.h>

/* The mv_add_row storage kind of a table. */
#define ROW_KIND(t) ((t)->bf16 ? MV_ROW_BF16 : (t)->f16 ? MV_ROW_F16 : MV_ROW_F32)

/* y: [N, O] (+)= x: [N, K] · Wᵀ + b through the context's backend: oneDNN
 * when it has a packed copy of this weight, else OpenBLAS on the pool. */
static void
linear (magvlt_context *ctx, const float *x, int n, const mv_tensor *w, const float *b, float *y,
        bool accumulate)
{
  if (ctx->dnnl && mv_dnnl_linear (ctx->dnnl, w, x, n, b, y, accumulate))
    return;
  mv_par_linear (ctx, x, n, mv_weight_of (w), b, y, (int) w->rows, accumulate);
}

static magvlt_status
check_input (magvlt_context *ctx, const magvlt_forward_input *in)
{
  const mv_hparams *hp = &ctx->model->hp;

  if (in->layout != MAGVLT_LAYOUT_T2I && in->layout != MAGVLT_LAYOUT_I2T)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "layout %d is neither T2I (0) nor I2T (1)",
                        (int) in->layout);
  if (!in->image_ids || !in->text_ids)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG, "image_ids and text_ids are required");
  if (in->text_valid_len < 0 || in->text_valid_len > hp->ctx_len_txt)
    return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                        "text_valid_len is %d; it must be between 0 and %d", in->text_valid_len,
                        hp->ctx_len_txt);
  for (int j = 0; j < hp->ctx_len_img; j++)
    if (!(in->image_masked && in->image_masked[j])
        && (in->image_ids[j] < 0 || in->image_ids[j] >= hp->vocab_size_img))
      return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                          "image_ids[%d] = %d is outside the image vocabulary (0..%d)", j,
                          in->image_ids[j], hp->vocab_size_img - 1);
  for (int j = 0; j < in->text_valid_len; j++)
    if (!(in->text_masked && in->text_masked[j])
        && (in->text_ids[j] < 0 || in->text_ids[j] >= hp->vocab_size_txt))
      return mv_ctx_fail (ctx, MAGVLT_ERR_INVALID_ARG,
                          "text_ids[%d] = %d is outside the text vocabulary (0..%d)", j,
                          in->text_ids[j], hp->vocab_size_txt - 1);
  return MAGVLT_OK;
}

/* Appends full-layout position g to the compact sequence. */
static void
push (magvlt_context *ctx, int *p, int g, mv_segment seg, int32_t row, int32_t pos, bool masked)
{
  ctx->seq_global[*p] = g;
  ctx->seq_compact[g] = *p;
  ctx->seq_seg[*p] = (uint8_t) seg;
  ctx->seq_row[*p] = row;
  ctx->seq_pos[*p] = pos;
  ctx->seq_masked[*p] = masked;
  (*p)++;
}

static void
push_specials (magvlt_context *ctx, int *p, int g, int id_a, int id_b, int first_pos)
{
  push (ctx, p, g, MV_SEG_SPC, id_a, first_pos, false);
  push (ctx, p, g + 1, MV_SEG_SPC, id_b, first_pos + 1, false);
}

static void
push_image (magvlt_context *ctx, int *p, int g0, const magvlt_forward_input *in)
{
  for (int j = 0; j < ctx->model->hp.ctx_len_img; j++)
    {
      bool m = in->image_masked && in->image_masked[j];
      push (ctx, p, g0 + j, MV_SEG_IMG, m ? MV_SPC_MASK_IMG : in->image_ids[j], j, m);
    }
}

static void
push_text (magvlt_context *ctx, int *p, int g0, const magvlt_forward_input *in)
{
  int vi = ctx->model->hp.vocab_size_img;
  for (int j = 0; j < in->text_valid_len; j++)
    {
      bool m = in->text_masked && in->text_masked[j];
      push (ctx, p, g0 + j, MV_SEG_TXT, m ? MV_SPC_MASK_TXT : vi + in->text_ids[j], j, m);
    }
}

/* Builds the compact sequence and the per-row key prefixes (spec §2.3,
 * §2.5); returns P. The four markers get spc positions 0..3 by slot order. */
static int
build_sequence (magvlt_context *ctx, const magvlt_forward_input *in)
{
  const mv_hparams *hp = &ctx->model->hp;
  int i = hp->ctx_len_img, t = hp->ctx_len_txt, p = 0;

  for (int g = 0; g < hp->seq_len; g++)
    ctx->seq_compact[g] = -1;
  if (in->layout == MAGVLT_LAYOUT_T2I)
    {
      push_specials (ctx, &p, 0, MV_SPC_BOC, MV_SPC_BOT, 0);
      push_text (ctx, &p, 2, in);
      push_specials (ctx, &p, 2 + t, MV_SPC_BOG, MV_SPC_BOI, 2);
      push_image (ctx, &p, 4 + t, in);
    }
  else
    {
      push_specials (ctx, &p, 0, MV_SPC_BOC, MV_SPC_BOI, 0);
      push_image (ctx, &p, 2, in);
      push_specials (ctx, &p, 2 + i, MV_SPC_BOG, MV_SPC_BOT, 2);
      push_text (ctx, &p, 4 + i, in);
    }
  for (int r = 0; r < p; r++)
    ctx->kv_len[r] = p;
  if (in->layout == MAGVLT_LAYOUT_I2T)
    ctx->kv_len[3 + i] = 4 + i; /* BOT sees BOC, BOI, the image, BOG and itself */
  return p;
}

/* x: [P, C] ← the input embedding of every position (spec §2.4, including
 * the quirk that a masked slot also gets the spc positional row at its
 * within-modality index). */
static void
embed (magvlt_context *ctx, int p)
{
  const magvlt_model *m = ctx->model;
  int c = m->hp.embed_dim;

  memset (ctx->x, 0, (size_t) p * c * sizeof (float));
  for (int r = 0; r < p; r++)
    {
      float *x = ctx->x + (size_t) r * c;
      int pos = ctx->seq_pos[r];
      bool special_row = ctx->seq_seg[r] == MV_SEG_SPC || ctx->seq_masked[r];
      const mv_tensor *table = special_row ? &m->tok_emb_spc : &m->tok_emb;

      /* the bf16 backend reads the tied embedding from its packed copy */
      if (special_row || ctx->backend != MV_BACKEND_BF16
          || !mv_bf16_embedding_row (m, ctx->seq_row[r], c, x))
        mv_add_row (table->data, ROW_KIND (table), ctx->seq_row[r], c, x);
      if (special_row)
        mv_add_row (m->pos_spc.data, ROW_KIND (&m->pos_spc), pos, c, x);
      if (ctx->seq_seg[r] == MV_SEG_IMG)
        mv_add_row (m->pos_img.data, ROW_KIND (&m->pos_img), pos, c, x);
      else if (ctx->seq_seg[r] == MV_SEG_TXT)
        mv_add_row (m->pos_txt.data, ROW_KIND (&m->pos_txt), pos, c, x);
    }
}

/* x: [P, C] → x: [P, C], one pre-LN block (spec §2.6). */
static void
block_forward (magvlt_context *ctx, const mv_block *b, int p)
{
  const mv_hparams *hp = &ctx->model->hp;
  int c = hp->embed_dim, mh = hp->mlp_hidden;
  float eps = hp->layer_norm_eps;

  mv_par_layernorm (ctx, ctx->x, p, c, b->ln1_w.data, b->ln1_b.data, eps, ctx->h);
  /* q, k and v share their input: the bf16 backend rounds it once and
   * runs the three products as one loop */
  mv_weight qkv[3] = { mv_weight_of (&b->q_w), mv_weight_of (&b->k_w), mv_weight_of (&b->v_w) };
  const float *qkv_b[3] = { b->q_b.data, b->k_b.data, b->v_b.data };
  float *qkv_y[3] = { ctx->q, ctx->k, ctx->v };
  int qkv_ld[3] = { c, c, c };
  if (ctx->backend != MV_BACKEND_BF16
      || !mv_bf16_linear_many (ctx, 3, qkv, ctx->h, p, qkv_b, qkv_y, qkv_ld, false))
    {
      linear (ctx, ctx->h, p, &b->q_w, b->q_b.data, ctx->q, false);
      linear (ctx, ctx->h, p, &b->k_w, b->k_b.data, ctx->k, false);
      linear (ctx, ctx->h, p, &b->v_w, b->v_b.data, ctx->v, false);
    }
  mv_par_attention (ctx, ctx->q, ctx->k, ctx->v, p, c, hp->n_heads, ctx->kv_len, ctx->att);
  linear (ctx, ctx->att, p, &b->proj_w, b->proj_b.data, ctx->x, true);

  mv_par_layernorm (ctx, ctx->x, p, c, b->ln2_w.data, b->ln2_b.data, eps, ctx->h);
  linear (ctx, ctx->h, p, &b->fc1_w, b->fc1_b.data, ctx->mlp, false);
  mv_par_gelu (ctx, ctx->mlp, (size_t) p * mh);
  linear (ctx, ctx->mlp, p, &b->fc2_w, b->fc2_b.data, ctx->x, true);
}

/* src: [P, C] compact rows → dst: [L, C] full layout, zeros where dropped. */
static void
scatter (magvlt_context *ctx, const float *src, int p, float *dst)
{
  int c = ctx->model->hp.embed_dim;
  memset (dst, 0, (size_t) ctx->model->hp.seq_len * c * sizeof (float));
  for (int r = 0; r < p; r++)
    memcpy (dst + (size_t) ctx->seq_global[r] * c, src + (size_t) r * c,
            (size_t) c * sizeof (float));
}

/* The tied LM head (spec §2.7) for n_slots slots of one modality whose first
 * slot sits at full-layout index g0, restricted to vocabulary rows
 * [voff, voff + V). out: [n_slots, V]; rows not asked for (or not in the
 * sequence) become zeros. Computes G = LN(GELU(X·Wᵀ + b)) for the R wanted
 * rows, writes their logits packed into out's first R rows, then moves each
 * to its slot from the last to the first, which never overwrites a packed
 * row that is still to be moved. */
static void
lm_head (magvlt_context *ctx, int g0, int n_slots, const uint8_t *want, int voff, int v, float *out)
{
  const magvlt_model *m = ctx->model;
  int c = m->hp.embed_dim, r = 0;

  for (int j = 0; j < n_slots; j++)
    {
      int cr = ctx->seq_compact[g0 + j];
      if (cr >= 0 && (!want || want[j]))
        {
          memcpy (ctx->h + (size_t) r * c, ctx->x + (size_t) cr * c, (size_t) c * sizeof (float));
          ctx->rows[r++] = j;
        }
    }
  if (r > 0)
    {
      linear (ctx, ctx->h, r, &m->lm_w, m->lm_b.data, ctx->q, false);
      mv_par_gelu (ctx, ctx->q, (size_t) r * c);
      mv_par_layernorm (ctx, ctx->q, r, c, m->lm_ln_w.data, m->lm_ln_b.data, m->hp.layer_norm_eps,
                        ctx->att);
      /* logits against the tied embedding rows of this vocabulary */
      mv_par_linear (ctx, ctx->att, r, mv_weight_rows (mv_weight_of (&m->tok_emb), voff, v),
                     (const float *) m->out_bias.data + voff, out, v, false);
    }
  for (int k = r - 1; k >= 0; k--)
    if (ctx->rows[k] != k)
      memmove (out + (size_t) ctx->rows[k] * v, out + (size_t) k * v, (size_t) v * sizeof (float));
  for (int j = 0, k = 0; j < n_slots; j++)
    {
      if (k < r && ctx->rows[k] == j)
        k++;
      else
        memset (out + (size_t) j * v, 0, (size_t) v * sizeof (float));
    }
}

/* out: [T] = X[I+3] · W_lenᵀ (spec §2.8), zeros if that row was dropped. */
static void
length_head (magvlt_context *ctx, float *out)
{
  const magvlt_model *m = ctx->model;
  int c = m->hp.embed_dim, t = m->hp.ctx_len_txt;
  int cr = ctx->seq_compact[m->hp.ctx_len_img + 3];

  if (cr < 0)
    {
      memset (out, 0, (size_t) t * sizeof (float));
      return;
    }
  mv_par_linear (ctx, ctx->x + (size_t) cr * c, 1, mv_weight_of (&m->len_w), NULL, out, t, false);
}

magvlt_status
magvlt_forward (magvlt_context *ctx, const magvlt_forward_input *in, magvlt_forward_output *out)
{
  if (!ctx || !in || !out)
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "magvlt_forward: NULL argument");
  if (!ctx->model->has_stage2)
    return mv_jobs_need_transformer (ctx);
  magvlt_status st = check_input (ctx, in);
  if (st != MAGVLT_OK)
    return st;

  const mv_hparams *hp = &ctx->model->hp;
  size_t lc = (size_t) hp->seq_len * hp->embed_dim;

  if (mv_ctx_take_cancel (ctx))
    return mv_ctx_fail (ctx, MAGVLT_ABORTED, "cancelled before the forward pass started");
  mv_blas_set_threads (ctx->n_threads);

  int p = build_sequence (ctx, in);
  embed (ctx, p);
  if (out->emb)
    scatter (ctx, ctx->x, p, out->emb);
  for (int l = 0; l < hp->n_layers; l++)
    {
      block_forward (ctx, &ctx->model->blocks[l], p);
      if (out->block_out)
        scatter (ctx, ctx->x, p, out->block_out + (size_t) l * lc);
      if (mv_ctx_take_cancel (ctx))
        return mv_ctx_fail (ctx, MAGVLT_ABORTED, "cancelled after block %d of %d", l + 1,
                            hp->n_layers);
    }
  if (out->hidden)
    scatter (ctx, ctx->x, p, out->hidden);
  if (out->length_logits)
    length_head (ctx, out->length_logits);

  int img0 = in->layout == MAGVLT_LAYOUT_T2I ? 4 + hp->ctx_len_txt : 2;
  int txt0 = in->layout == MAGVLT_LAYOUT_T2I ? 2 : 4 + hp->ctx_len_img;
  if (out->image_logits)
    lm_head (ctx, img0, hp->ctx_len_img, out->image_logit_rows, 0, hp->vocab_size_img,
             out->image_logits);
  if (out->text_logits)
    lm_head (ctx, txt0, hp->ctx_len_txt, out->text_logit_rows, hp->vocab_size_img,
             hp->vocab_size_txt, out->text_logits);
  return MAGVLT_OK;
}
