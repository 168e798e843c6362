/* test-api.c — the public API on a real (random-weight) model: determinism,
 * cancellation and reuse, logit-row selection, padding independence, mmap
 * versus read, load cancellation, and argument checking with clear messages.
 * Usage: test-api MODEL.gguf */
#include "magvlt.h"

#include "../lib/expect.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  magvlt_model_info in;
  int32_t *img_ids, *txt_ids;
  uint8_t *img_mask, *txt_mask;
  float *img, *txt, *len, *hidden;
} fixture;

static magvlt_forward_input
input_of (fixture *f, magvlt_layout layout, int n)
{
  magvlt_forward_input in = {
    .layout = layout,
    .image_ids = f->img_ids,
    .image_masked = f->img_mask,
    .text_ids = f->txt_ids,
    .text_masked = f->txt_mask,
    .text_valid_len = n,
  };
  return in;
}

static magvlt_forward_output
output_of (fixture *f)
{
  magvlt_forward_output out = {
    .image_logits = f->img,
    .text_logits = f->txt,
    .length_logits = f->len,
    .hidden = f->hidden,
  };
  return out;
}

static bool
load_cancel_cb (float fraction, void *ud)
{
  (*(int *) ud)++;
  return false;
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: test-api MODEL.gguf\n");
      return 2;
    }
  magvlt_model *model = NULL, *model_read = NULL;
  magvlt_context *ctx = NULL, *ctx_read = NULL;
  fixture f;

  expect (magvlt_model_load (argv[1], NULL, &model) == MAGVLT_OK, "load (mmap)");
  magvlt_model_params mp = magvlt_model_default_params ();
  mp.use_mmap = false;
  expect (magvlt_model_load (argv[1], &mp, &model_read) == MAGVLT_OK, "load (read into memory)");
  if (!model || !model_read)
    return 1;
  magvlt_model_get_info (model, &f.in);
  expect (magvlt_context_init (model, NULL, &ctx) == MAGVLT_OK, "context init");
  expect (magvlt_context_init (model_read, NULL, &ctx_read) == MAGVLT_OK, "second context");
  expect (magvlt_context_memory_size (ctx) > 0, "context reports its memory");

  int ni = f.in.ctx_len_img, nt = f.in.ctx_len_txt, vi = f.in.vocab_size_img,
      vt = f.in.vocab_size_txt, n = nt - 3;
  size_t n_img = (size_t) ni * vi, n_txt = (size_t) nt * vt,
         n_hid = (size_t) f.in.seq_len * f.in.embed_dim;
  f.img_ids = g_new (int32_t, ni);
  f.txt_ids = g_new (int32_t, nt);
  f.img_mask = g_new0 (uint8_t, ni);
  f.txt_mask = g_new0 (uint8_t, nt);
  for (int j = 0; j < ni; j++)
    f.img_ids[j] = (j * 37 + 5) % vi, f.img_mask[j] = j % 3 == 0;
  for (int j = 0; j < nt; j++)
    f.txt_ids[j] = j < n - 1 ? (j * 53 + 2) % vt : f.in.text_eot_id, f.txt_mask[j] = j == 1;
  f.img = g_new (float, n_img);
  f.txt = g_new (float, n_txt);
  f.len = g_new (float, nt);
  f.hidden = g_new (float, n_hid);
  float *img0 = g_new (float, n_img), *txt0 = g_new (float, n_txt), *hid0 = g_new (float, n_hid);

  /* determinism and reuse */
  magvlt_forward_input in = input_of (&f, MAGVLT_LAYOUT_I2T, n);
  magvlt_forward_output out = output_of (&f);
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK, "I2T forward");
  memcpy (img0, f.img, n_img * 4), memcpy (txt0, f.txt, n_txt * 4),
    memcpy (hid0, f.hidden, n_hid * 4);
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK && memcmp (img0, f.img, n_img * 4) == 0
            && memcmp (txt0, f.txt, n_txt * 4) == 0,
          "same inputs give bit-identical outputs");
  expect (magvlt_forward (ctx_read, &in, &out) == MAGVLT_OK
            && memcmp (hid0, f.hidden, n_hid * 4) == 0,
          "read-into-memory model gives the same hidden states as the mapped one");

  /* text slots >= n are irrelevant to every computed output */
  for (int j = n; j < nt; j++)
    f.txt_ids[j] = (j * 11) % vt, f.txt_mask[j] = 1;
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK && memcmp (img0, f.img, n_img * 4) == 0
            && memcmp (hid0, f.hidden, n_hid * 4) == 0,
          "ids and masks of padding slots (>= n) change nothing");
  bool zero = true;
  for (size_t j = (size_t) n * vt; j < n_txt; j++)
    zero = zero && f.txt[j] == 0.0f;
  expect (zero, "text logit rows of padding slots are zeros");

  /* the mask matters: unmasking a slot changes the outputs */
  f.img_mask[0] = 0;
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK && memcmp (hid0, f.hidden, n_hid * 4) != 0,
          "unmasking an image slot changes the hidden states");
  f.img_mask[0] = 1;

  /* logit rows on request: selected rows equal the full computation */
  uint8_t *rows = g_new0 (uint8_t, ni);
  for (int j = 0; j < ni; j++)
    rows[j] = f.img_mask[j];
  out.image_logit_rows = rows;
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK, "forward with selected image rows");
  bool same = true, zeros = true;
  for (int j = 0; j < ni; j++)
    for (int v = 0; v < vi; v++)
      {
        float got = f.img[(size_t) j * vi + v];
        if (rows[j])
          same = same && fabsf (got - img0[(size_t) j * vi + v]) <= 1e-5f * (1 + fabsf (got));
        else
          zeros = zeros && got == 0.0f;
      }
  expect (same, "selected image logit rows equal the all-rows result");
  expect (zeros, "unselected image logit rows are zeros");
  out.image_logit_rows = NULL;

  /* cancellation: a pending request aborts the next job, the context stays usable */
  magvlt_context_cancel (ctx);
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_ABORTED, "cancelled forward returns ABORTED");
  expect (contains (magvlt_context_last_error (ctx), "cancelled"), "cancel message on the context");
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK && memcmp (img0, f.img, n_img * 4) == 0,
          "the context works again after a cancel, with the same results");

  /* argument checking */
  magvlt_forward_input bad = in;
  bad.text_valid_len = nt + 1;
  expect (magvlt_forward (ctx, &bad, &out) == MAGVLT_ERR_INVALID_ARG
            && contains (magvlt_last_error (), "text_valid_len"),
          "text_valid_len > T is refused");
  bad = in;
  f.img_ids[2] = vi;
  f.img_mask[2] = 0;
  expect (magvlt_forward (ctx, &bad, &out) == MAGVLT_ERR_INVALID_ARG
            && contains (magvlt_last_error (), "image_ids[2]"),
          "an image id >= Vi is refused");
  f.img_mask[2] = 1;
  expect (magvlt_forward (ctx, &bad, &out) == MAGVLT_OK, "the id of a masked slot is ignored");
  f.img_ids[2] = 0;
  bad.layout = (magvlt_layout) 7;
  expect (magvlt_forward (ctx, &bad, &out) == MAGVLT_ERR_INVALID_ARG,
          "an unknown layout is refused");
  bad = in;
  bad.text_ids = NULL;
  expect (magvlt_forward (ctx, &bad, &out) == MAGVLT_ERR_INVALID_ARG,
          "missing text ids are refused");
  f.txt_ids[0] = -1;
  f.txt_mask[0] = 0;
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_ERR_INVALID_ARG
            && contains (magvlt_last_error (), "text_ids[0]"),
          "a negative text id is refused");
  f.txt_ids[0] = 0;

  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = -1;
  magvlt_context *c2 = (magvlt_context *) 1;
  expect (magvlt_context_init (model, &cp, &c2) == MAGVLT_ERR_INVALID_ARG && c2 == NULL,
          "n_threads -1 is refused");

  /* loading can be cancelled */
  int calls = 0;
  magvlt_model *m3 = (magvlt_model *) 1;
  mp.progress_callback = load_cancel_cb;
  mp.progress_user_data = &calls;
  expect (magvlt_model_load (argv[1], &mp, &m3) == MAGVLT_ABORTED && m3 == NULL && calls == 1,
          "a progress callback returning false cancels loading");

  /* T2I layout runs too, with n = 0 (no text visible) */
  in = input_of (&f, MAGVLT_LAYOUT_T2I, 0);
  expect (magvlt_forward (ctx, &in, &out) == MAGVLT_OK, "T2I forward with no visible text");

  g_free (rows);
  g_free (img0), g_free (txt0), g_free (hid0);
  g_free (f.img_ids), g_free (f.txt_ids), g_free (f.img_mask), g_free (f.txt_mask);
  g_free (f.img), g_free (f.txt), g_free (f.len), g_free (f.hidden);
  magvlt_context_free (ctx);
  magvlt_context_free (ctx_read);
  magvlt_model_free (model);
  magvlt_model_free (model_read);
  return expect_finish ();
}
