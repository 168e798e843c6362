/* test-jobs.c — the public generation jobs end to end on a tiny random
 * model with CLIP's vocabulary and a VQGAN (make_parity_cases.py --geometry
 * jobs): results, ranking, determinism, previews, the edit guarantees (the
 * output has the input's size and only masked pixels change), infilling
 * keeps the known words, and clear errors for bad input.
 *
 * Usage: test-jobs MODEL.gguf [MODEL_WITHOUT_VQGAN.gguf] */
#include "magvlt.h"

#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_passed, n_failed;

static void
expect (bool ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s ", ok ? "ok  " : "FAIL");
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  ok ? n_passed++ : n_failed++;
}

typedef struct {
  int progress_calls, last_step, previews, thumbnails, decodes;
  bool monotonic;
} tracker;

static void
on_progress (magvlt_stage stage, int32_t step, int32_t n_steps, int32_t cand, int32_t n_cand,
             void *ud)
{
  tracker *t = ud;
  if (stage == MAGVLT_STAGE_IMAGE)
    {
      if (step < t->last_step && step != 0)
        t->monotonic = false;
      t->last_step = step;
    }
  t->progress_calls++;
}

static void
on_preview (const magvlt_preview *pv, void *ud)
{
  tracker *t = ud;
  t->previews++;
  t->thumbnails += pv->thumbnail != NULL;
  t->decodes += pv->image != NULL;
}

/* a smooth test image of any size */
static uint8_t *
make_image (int w, int h)
{
  uint8_t *p = g_malloc ((size_t) w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        p[(y * w + x) * 3 + 0] = (uint8_t) (x * 255 / (w > 1 ? w - 1 : 1));
        p[(y * w + x) * 3 + 1] = (uint8_t) (y * 255 / (h > 1 ? h - 1 : 1));
        p[(y * w + x) * 3 + 2] = (uint8_t) ((x * y) % 256);
      }
  return p;
}

static void
test_generate (magvlt_context *ctx, const magvlt_model_info *in)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  magvlt_result r1, r2, r3;
  tracker t = { .monotonic = true };
  magvlt_callbacks cb = { on_progress, on_preview, 5, &t };
  magvlt_context_set_callbacks (ctx, &cb);
  p.n_candidates = 3;
  p.seed = 11;
  magvlt_status st = magvlt_generate_image (ctx, &p, "a red apple on a white table", &r1);
  expect (st == MAGVLT_OK && r1.n_candidates == 3, "generate: 3 candidates (%s)",
          magvlt_last_error ());
  if (st != MAGVLT_OK)
    return;
  bool ranked = true, sized = true, seeds = true;
  for (int k = 0; k < 3; k++)
    {
      magvlt_candidate *c = &r1.candidates[k];
      ranked = ranked && (k == 0 || r1.candidates[k - 1].score >= c->score);
      sized = sized && c->image && c->width == in->image_resolution
              && c->height == in->image_resolution && c->image_codes;
      seeds = seeds && c->seed >= 11 && c->seed < 14;
    }
  expect (ranked && sized && seeds, "generate: ranked by score, R×R images, seeds 11..13");
  expect (t.monotonic && t.previews == 3 * p.image_steps && t.thumbnails == t.previews
            && t.decodes == 3 * 2,
          "generate: progress in order, %d previews with thumbnails, %d full decodes", t.previews,
          t.decodes);
  magvlt_context_set_callbacks (ctx, NULL);

  st = magvlt_generate_image (ctx, &p, "a red apple on a white table", &r2);
  size_t n = (size_t) in->image_resolution * in->image_resolution * 3;
  bool same = st == MAGVLT_OK;
  for (int k = 0; same && k < 3; k++)
    same = memcmp (r1.candidates[k].image, r2.candidates[k].image, n) == 0;
  expect (same, "generate: same seed ⇒ byte-identical images");

  /* the second-ranked candidate alone, from its own seed */
  magvlt_sampling_params one = p;
  one.n_candidates = 1;
  one.seed = r1.candidates[1].seed;
  st = magvlt_generate_image (ctx, &one, "a red apple on a white table", &r3);
  expect (st == MAGVLT_OK && memcmp (r3.candidates[0].image, r1.candidates[1].image, n) == 0,
          "generate: a candidate's seed reproduces it alone");
  magvlt_result_free (&r3);
  one.seed = 999;
  st = magvlt_generate_image (ctx, &one, "a red apple on a white table", &r3);
  expect (st == MAGVLT_OK
            && memcmp (r3.candidates[0].image_codes, r1.candidates[0].image_codes,
                       (size_t) in->ctx_len_img * 4)
                 != 0,
          "generate: another seed ⇒ other codes");
  magvlt_result_free (&r1);
  magvlt_result_free (&r2);
  magvlt_result_free (&r3);

  p.n_candidates = 0;
  expect (magvlt_generate_image (ctx, &p, "x", &r1) == MAGVLT_ERR_INVALID_ARG,
          "generate: 0 candidates refused (%s)", magvlt_last_error ());
  p = magvlt_sampling_default_params ();
  p.image_steps = 0;
  expect (magvlt_generate_image (ctx, &p, "x", &r1) == MAGVLT_ERR_INVALID_ARG,
          "generate: 0 steps refused");
  p = magvlt_sampling_default_params ();
  p.image_temperature_start = -1.0f;
  expect (magvlt_generate_image (ctx, &p, "x", &r1) == MAGVLT_ERR_INVALID_ARG,
          "generate: negative temperature refused");
  p = magvlt_sampling_default_params ();
  char *longp = g_strnfill (5000, 'a');
  for (int i = 1; i < 5000; i += 2)
    longp[i] = ' ';
  expect (magvlt_generate_image (ctx, &p, longp, &r1) == MAGVLT_OK,
          "generate: a prompt longer than the text length is truncated, not refused");
  magvlt_result_free (&r1);
  g_free (longp);
}

/* Text guidance, checked against the public forward: with one image step
 * and a temperature near 0 every code is the argmax of its row, so the
 * guided job must pick argmax (l + g·(l − u)) where l is the forward with
 * the prompt and u the forward with no text slots (refine.c). The rows
 * whose two best guided logits are closer than the sampling could tell
 * apart are not judged. */
static void
test_guidance (magvlt_context *ctx, const magvlt_model *model, const magvlt_model_info *in)
{
  const char *prompt = "a red apple on a white table";
  int ni = in->ctx_len_img, vi = in->vocab_size_img, nt = in->ctx_len_txt;
  const float g = 3.0f;
  int32_t ids[nt], codes[ni];
  uint8_t masked[ni];
  magvlt_tokenize_result tr;
  float *l = g_new (float, (size_t) ni *vi), *u = g_new (float, (size_t) ni *vi);
  memset (masked, 1, sizeof masked);
  memset (codes, 0, sizeof codes);
  magvlt_forward_input fin = {
    .layout = MAGVLT_LAYOUT_T2I, .image_ids = codes, .image_masked = masked, .text_ids = ids
  };
  magvlt_forward_output lo = { .image_logits = l }, uo = { .image_logits = u };
  magvlt_status st = magvlt_tokenize (model, prompt, strlen (prompt), ids, nt, &tr);
  fin.text_valid_len = tr.n_mask;
  if (st == MAGVLT_OK)
    st = magvlt_forward (ctx, &fin, &lo);
  fin.text_valid_len = 0;
  if (st == MAGVLT_OK)
    st = magvlt_forward (ctx, &fin, &uo);
  expect (st == MAGVLT_OK, "guidance: the two reference forwards (%s)", magvlt_last_error ());

  magvlt_sampling_params p = magvlt_sampling_default_params ();
  magvlt_result plain, guided;
  p.image_steps = 1;
  p.image_temperature_start = p.image_temperature_end = 1e-4f;
  p.seed = 5;
  st = magvlt_generate_image (ctx, &p, prompt, &plain);
  p.image_guidance = g;
  if (st == MAGVLT_OK)
    st = magvlt_generate_image (ctx, &p, prompt, &guided);
  else
    guided.n_candidates = 0;
  expect (st == MAGVLT_OK, "guidance: the jobs run (%s)", magvlt_last_error ());
  if (st == MAGVLT_OK)
    {
      int judged = 0, guided_ok = 0, plain_ok = 0, moved = 0;
      for (int j = 0; j < ni; j++)
        {
          const float *lr = l + (size_t) j * vi, *ur = u + (size_t) j * vi;
          int best = 0, second = -1, lbest = 0;
          float top = -INFINITY, next = -INFINITY;
          for (int v = 0; v < vi; v++)
            {
              float x = lr[v] + g * (lr[v] - ur[v]);
              if (x > top)
                next = top, second = best, top = x, best = v;
              else if (x > next)
                next = x, second = v;
              if (lr[v] > lr[lbest])
                lbest = v;
            }
          if (second < 0 || top - next < 0.05f)
            continue;
          judged++;
          guided_ok += guided.candidates[0].image_codes[j] == best;
          plain_ok += plain.candidates[0].image_codes[j] == lbest;
          moved += best != lbest;
        }
      expect (judged >= ni / 2 && guided_ok == judged && moved > 0,
              "guidance: every code is the argmax of l + %g (l - u) (%d of %d rows judged, "
              "%d right, %d where guidance changes the argmax)",
              (double) g, judged, ni, guided_ok, moved);
      expect (plain_ok >= judged - 1, "guidance 0: the codes follow l alone (%d of %d)", plain_ok,
              judged);
      expect (
        guided.candidates[0].image_guidance == g && plain.candidates[0].image_guidance == 0.0f,
        "guidance: each candidate says the guidance it ran with (%g, %g)",
        (double) guided.candidates[0].image_guidance, (double) plain.candidates[0].image_guidance);
      magvlt_result_free (&plain);
      magvlt_result_free (&guided);
    }
  /* a blank prompt has nothing to guide by: the same codes as unguided */
  p.image_steps = 4;
  p.image_temperature_start = 1.4f, p.image_temperature_end = 0.6f;
  p.image_guidance = 0.0f;
  magvlt_status s1 = magvlt_generate_image (ctx, &p, "  ", &plain);
  p.image_guidance = g;
  magvlt_status s2 = magvlt_generate_image (ctx, &p, "  ", &guided);
  expect (s1 == MAGVLT_OK && s2 == MAGVLT_OK
            && memcmp (plain.candidates[0].image_codes, guided.candidates[0].image_codes,
                       (size_t) ni * sizeof (int32_t))
                 == 0,
          "guidance: a blank prompt is not guided (same codes as guidance 0)");
  expect (s2 == MAGVLT_OK && guided.candidates[0].image_guidance == 0.0f,
          "guidance: a blank prompt's candidate says 0");
  if (s1 == MAGVLT_OK)
    magvlt_result_free (&plain);
  if (s2 == MAGVLT_OK)
    magvlt_result_free (&guided);
  p.image_guidance = -1.0f;
  expect (magvlt_generate_image (ctx, &p, prompt, &plain) == MAGVLT_ERR_INVALID_ARG,
          "guidance: a negative guidance is refused (%s)", magvlt_last_error ());
  p.image_guidance = NAN;
  expect (magvlt_generate_image (ctx, &p, prompt, &plain) == MAGVLT_ERR_INVALID_ARG,
          "guidance: NaN is refused");
  expect (magvlt_sampling_default_params ().image_guidance == 0.0f,
          "guidance: off in the official defaults");
  g_free (l);
  g_free (u);
}

static void
test_caption (magvlt_context *ctx)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  uint8_t *px = make_image (37, 23);
  magvlt_image img = { 37, 23, 37 * 3, px };
  magvlt_result r1, r2;
  p.n_candidates = 2;
  magvlt_status st = magvlt_caption (ctx, &p, &img, &r1);
  expect (st == MAGVLT_OK && r1.n_candidates == 2 && r1.candidates[0].text
            && r1.candidates[0].text_ids,
          "caption of a 37x23 image: \"%s\" (%s)", st == MAGVLT_OK ? r1.candidates[0].text : "",
          magvlt_last_error ());
  st = magvlt_caption (ctx, &p, &img, &r2);
  expect (st == MAGVLT_OK && strcmp (r1.candidates[0].text, r2.candidates[0].text) == 0,
          "caption: same seed ⇒ same caption");
  magvlt_result_free (&r1);
  magvlt_result_free (&r2);
  p.text_length = 5;
  st = magvlt_caption (ctx, &p, &img, &r1);
  int n = 0;
  while (st == MAGVLT_OK && n < 16 && r1.candidates[0].text_ids[n] != 49407)
    n++;
  expect (st == MAGVLT_OK && n <= 5, "caption: a given length of 5 slots gives at most 5 tokens");
  magvlt_result_free (&r1);
  img.width = 0;
  expect (magvlt_caption (ctx, &p, &img, &r1) == MAGVLT_ERR_INVALID_ARG,
          "caption: a 0x23 image is refused (%s)", magvlt_last_error ());
  g_free (px);
}

static void
test_edit (magvlt_context *ctx)
{
  const int w = 45, h = 30;
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  magvlt_edit_params ep = magvlt_edit_default_params ();
  uint8_t *px = make_image (w, h), *mask = g_malloc0 ((size_t) w * h);
  magvlt_image img = { w, h, (size_t) w * 3, px };
  magvlt_result r;
  for (int y = 8; y < 20; y++)
    for (int x = 20; x < 33; x++)
      mask[y * w + x] = 255;
  ep.padding = 4;
  ep.feather = 3;
  for (int pass = 0; pass < 2; pass++)
    {
      ep.strength = pass ? 0.5f : 1.0f;
      magvlt_status st = magvlt_edit_image (ctx, &p, &ep, &img, mask, (size_t) w, "a cat", &r);
      bool ok = st == MAGVLT_OK && r.n_candidates == 1 && r.candidates[0].width == w
                && r.candidates[0].height == h;
      int outside_changed = 0, inside_changed = 0;
      for (int i = 0; ok && i < w * h; i++)
        for (int c = 0; c < 3; c++)
          {
            bool diff = r.candidates[0].image[i * 3 + c] != px[i * 3 + c];
            if (mask[i] >= 128)
              inside_changed += diff;
            else
              outside_changed += diff;
          }
      expect (ok, "%s: result has the input's size %dx%d (%s)", pass ? "edit 0.5" : "inpaint", w, h,
              magvlt_last_error ());
      expect (ok && outside_changed == 0,
              "%s: no pixel outside the mask changed (%d values differ)",
              pass ? "edit 0.5" : "inpaint", outside_changed);
      expect (ok && inside_changed > 0, "%s: the masked region changed (%d values)",
              pass ? "edit 0.5" : "inpaint", inside_changed);
      if (st == MAGVLT_OK)
        magvlt_result_free (&r);
    }
  /* guided inpainting (the edit path into the image loop): the pixels
   * outside the mask still keep their values, and the result differs from
   * the unguided one of the same seed */
  {
    magvlt_result plain, guided;
    magvlt_sampling_params gp = p;
    ep.strength = 1.0f;
    gp.seed = 21;
    magvlt_status s1 = magvlt_edit_image (ctx, &gp, &ep, &img, mask, (size_t) w, "a cat", &plain);
    gp.image_guidance = 3.0f;
    magvlt_status s2 = magvlt_edit_image (ctx, &gp, &ep, &img, mask, (size_t) w, "a cat", &guided);
    int outside = 0, differ = 0;
    for (int i = 0; s1 == MAGVLT_OK && s2 == MAGVLT_OK && i < w * h * 3; i++)
      {
        outside += mask[i / 3] < 128 && guided.candidates[0].image[i] != px[i];
        differ += guided.candidates[0].image[i] != plain.candidates[0].image[i];
      }
    expect (s1 == MAGVLT_OK && s2 == MAGVLT_OK && outside == 0 && differ > 0
              && guided.candidates[0].image_guidance == 3.0f,
            "guided inpaint: outside the mask unchanged (%d), result differs from unguided (%d "
            "values) (%s)",
            outside, differ, magvlt_last_error ());
    if (s1 == MAGVLT_OK)
      magvlt_result_free (&plain);
    if (s2 == MAGVLT_OK)
      magvlt_result_free (&guided);
  }
  ep.strength = 0.7f;
  magvlt_status st = magvlt_edit_image (ctx, &p, &ep, &img, NULL, 0, "a dog", &r);
  expect (st == MAGVLT_OK && r.candidates[0].width == w,
          "edit without a mask works on the whole image");
  if (st == MAGVLT_OK)
    magvlt_result_free (&r);
  memset (mask, 0, (size_t) w * h);
  st = magvlt_edit_image (ctx, &p, &ep, &img, mask, (size_t) w, "a dog", &r);
  expect (st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "empty"),
          "an empty mask is refused: %s", magvlt_last_error ());
  ep.strength = 0.0f;
  st = magvlt_edit_image (ctx, &p, &ep, &img, NULL, 0, "a dog", &r);
  expect (st == MAGVLT_ERR_INVALID_ARG, "strength 0 is refused");
  g_free (px);
  g_free (mask);
}

static void
test_feather (void)
{
  /* a 12x12 mask in a 20x20 image, feather 4: 0 outside, 1 from 4 px in */
  uint8_t mask[20 * 20] = { 0 };
  float alpha[20 * 20];
  for (int y = 4; y < 16; y++)
    for (int x = 4; x < 16; x++)
      mask[y * 20 + x] = 255;
  bool ok = magvlt_feather_alpha (mask, 20, 20, 20, 4, alpha) == MAGVLT_OK;
  bool outside = true, ramp = true;
  for (int i = 0; i < 400; i++)
    outside = outside && (mask[i] || alpha[i] == 0.0f);
  /* along the middle row: 0.25, 0.5, 0.75, 1 from the edge inwards */
  const float want[] = { 0.25f, 0.5f, 0.75f, 1.0f, 1.0f };
  for (int k = 0; k < 5; k++)
    ramp = ramp && fabsf (alpha[10 * 20 + 4 + k] - want[k]) < 1e-6f;
  expect (ok && outside && ramp, "feather alpha: 0 outside the mask, %.2f %.2f %.2f %.2f inside",
          (double) alpha[10 * 20 + 4], (double) alpha[10 * 20 + 5], (double) alpha[10 * 20 + 6],
          (double) alpha[10 * 20 + 7]);
  expect (magvlt_feather_alpha (mask, 20, 20, 10, 4, alpha) == MAGVLT_ERR_INVALID_ARG,
          "feather alpha: a stride shorter than the width is refused");
}

static void
test_infill_joint (magvlt_context *ctx)
{
  magvlt_sampling_params p = magvlt_sampling_default_params ();
  uint8_t *px = make_image (16, 16);
  magvlt_image img = { 16, 16, 16 * 3, px };
  magvlt_result r;
  magvlt_status st = magvlt_infill_text (ctx, &p, &img, "a [MASK] on a blue background", 2, &r);
  expect (st == MAGVLT_OK && g_str_has_prefix (r.candidates[0].text, "a ")
            && g_str_has_suffix (r.candidates[0].text, "on a blue background"),
          "infill keeps the known words: \"%s\"", st == MAGVLT_OK ? r.candidates[0].text : "");
  if (st == MAGVLT_OK)
    magvlt_result_free (&r);
  st = magvlt_infill_text (ctx, &p, &img, "a cat on a mat", 0, &r);
  expect (st == MAGVLT_ERR_INVALID_ARG && strstr (magvlt_last_error (), "[MASK]"),
          "infill without [MASK] is refused: %s", magvlt_last_error ());
  st = magvlt_generate_joint (ctx, &p, &r);
  expect (st == MAGVLT_OK && r.candidates[0].image && r.candidates[0].text,
          "joint generation gives an image and a caption (\"%s\")",
          st == MAGVLT_OK ? r.candidates[0].text : "");
  if (st == MAGVLT_OK)
    magvlt_result_free (&r);
  g_free (px);
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: test-jobs MODEL.gguf [MODEL_WITHOUT_VQGAN.gguf]\n");
      return 2;
    }
  magvlt_model *model = NULL;
  magvlt_context *ctx = NULL;
  magvlt_model_info in;
  if (magvlt_model_load (argv[1], NULL, &model) != MAGVLT_OK
      || magvlt_context_init (model, NULL, &ctx) != MAGVLT_OK)
    {
      printf ("FAIL %s\n", magvlt_last_error ());
      return 1;
    }
  magvlt_model_get_info (model, &in);
  test_generate (ctx, &in);
  test_guidance (ctx, model, &in);
  test_caption (ctx);
  test_edit (ctx);
  test_infill_joint (ctx);
  test_feather ();
  magvlt_context_free (ctx);
  magvlt_model_free (model);

  if (argc > 2 && magvlt_model_load (argv[2], NULL, &model) == MAGVLT_OK)
    {
      magvlt_sampling_params p = magvlt_sampling_default_params ();
      magvlt_result r;
      magvlt_context_init (model, NULL, &ctx);
      magvlt_status st = magvlt_generate_image (ctx, &p, "a cat", &r);
      expect (st == MAGVLT_ERR_UNSUPPORTED && strstr (magvlt_last_error (), "VQGAN"),
              "a model without a VQGAN: %s", magvlt_last_error ());
      magvlt_context_free (ctx);
      magvlt_model_free (model);
    }
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed != 0;
}
