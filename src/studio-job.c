/* studio-job.c — one request to the engine and its result, GTK-free
 *
 * studio_job_run() runs on the worker thread: it calls the engine job for
 * the request and turns the library's result into GdkPixbufs and strings.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "studio-job.h"

#include <glib/gi18n.h>
#include <string.h>

G_DEFINE_QUARK (studio - engine - error - quark, studio_engine_error)

StudioJob *
studio_job_new (StudioJobKind kind)
{
  StudioJob *job = g_new0 (StudioJob, 1);

  job->kind = kind;
  job->params = magvlt_sampling_default_params ();
  job->temperature_scale = 1.0;
  job->guidance_scale = 1.0;
  job->edit = magvlt_edit_default_params ();
  return job;
}

void
studio_job_use_model (StudioJob *job, const magvlt_model *model)
{
  magvlt_sampling_params p = magvlt_model_sampling_params (model);
  float scale = (float) job->temperature_scale;

  p.seed = job->params.seed;
  p.n_candidates = job->params.n_candidates;
  p.image_steps = job->params.image_steps;
  /* the schedule keeps the model's shape; only its level moves */
  p.image_temperature_start *= scale;
  p.image_temperature_end *= scale;
  /* official checkpoints have none: any scale of 0 is 0; held to the
   * engine's range whatever the file's value */
  p.image_guidance = MIN (p.image_guidance * (float) job->guidance_scale, 100.0f);
  job->params = p;
}

void
studio_job_free (StudioJob *job)
{
  if (!job)
    return;
  g_free (job->prompt);
  g_clear_object (&job->image);
  g_clear_pointer (&job->mask, g_bytes_unref);
  g_free (job);
}

static void
candidate_clear (gpointer data)
{
  StudioCandidate *c = data;

  g_clear_object (&c->image);
  g_clear_pointer (&c->text, g_free);
}

void
studio_job_result_free (StudioJobResult *result)
{
  if (!result)
    return;
  g_clear_pointer (&result->candidates, g_array_unref);
  g_free (result->prompt);
  g_free (result->model);
  g_free (result);
}

void
studio_progress_free (StudioProgress *progress)
{
  if (!progress)
    return;
  g_clear_pointer (&progress->thumbnail, g_bytes_unref);
  g_free (progress);
}

const char *
studio_job_kind_name (StudioJobKind kind)
{
  switch (kind)
    {
    case STUDIO_JOB_CAPTION: return _ ("Caption");
    case STUDIO_JOB_GENERATE: return _ ("Generate");
    case STUDIO_JOB_INPAINT: return _ ("Inpaint");
    case STUDIO_JOB_EDIT: return _ ("Edit");
    case STUDIO_JOB_INFILL: return _ ("Infill");
    case STUDIO_JOB_JOINT: return _ ("Joint generation");
    }
  return "";
}

const char *
studio_job_kind_id (StudioJobKind kind)
{
  switch (kind)
    {
    case STUDIO_JOB_CAPTION: return "caption";
    case STUDIO_JOB_GENERATE: return "generate";
    case STUDIO_JOB_INPAINT: return "inpaint";
    case STUDIO_JOB_EDIT: return "edit";
    case STUDIO_JOB_INFILL: return "infill";
    case STUDIO_JOB_JOINT: return "joint";
    }
  return "";
}

static void
free_pixels (guchar *pixels, gpointer data)
{
  free (pixels);
}

StudioJobResult *
studio_job_run (StudioJob *job, magvlt_context *ctx, GError **error)
{
  magvlt_result r = { 0 };
  magvlt_status st;
  magvlt_image img = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  StudioJobResult *result;

  if (job->image)
    {
      img.width = gdk_pixbuf_get_width (job->image);
      img.height = gdk_pixbuf_get_height (job->image);
      img.stride = (size_t) gdk_pixbuf_get_rowstride (job->image);
      img.rgb = gdk_pixbuf_read_pixels (job->image);
    }
  switch (job->kind)
    {
    case STUDIO_JOB_CAPTION: st = magvlt_caption (ctx, &job->params, &img, &r); break;
    case STUDIO_JOB_GENERATE:
      st = magvlt_generate_image (ctx, &job->params, job->prompt, &r);
      break;
    case STUDIO_JOB_INPAINT:
    case STUDIO_JOB_EDIT:
      st = magvlt_edit_image (ctx, &job->params, &job->edit, &img,
                              job->mask ? g_bytes_get_data (job->mask, NULL) : NULL,
                              (size_t) img.width, job->prompt, &r);
      break;
    case STUDIO_JOB_INFILL:
      st = magvlt_infill_text (ctx, &job->params, &img, job->prompt, 0, &r);
      break;
    case STUDIO_JOB_JOINT: st = magvlt_generate_joint (ctx, &job->params, &r); break;
    default: st = MAGVLT_ERR_INVALID_ARG;
    }
  if (st != MAGVLT_OK)
    {
      if (st == MAGVLT_ABORTED)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Cancelled"));
      else
        g_set_error_literal (error, studio_engine_error_quark (), st,
                             magvlt_context_last_error (ctx));
      return NULL;
    }

  result = g_new0 (StudioJobResult, 1);
  result->kind = job->kind;
  result->prompt = g_strdup (job->prompt);
  result->steps = job->params.image_steps;
  result->strength = job->edit.strength;
  result->temperature_scale = job->temperature_scale;
  /* what the engine ran with (none for text jobs, joint or a blank prompt) */
  result->guidance = r.n_candidates > 0 ? r.candidates[0].image_guidance : 0.0;
  result->candidates = g_array_new (FALSE, TRUE, sizeof (StudioCandidate));
  g_array_set_clear_func (result->candidates, candidate_clear);
  for (int i = 0; i < r.n_candidates; i++)
    {
      magvlt_candidate *c = &r.candidates[i];
      StudioCandidate sc = { .seed = c->seed, .score = c->score };

      if (c->image)
        {
          /* hand the library's buffer over instead of copying it */
          sc.image = gdk_pixbuf_new_from_data (c->image, GDK_COLORSPACE_RGB, FALSE, 8, c->width,
                                               c->height, c->width * 3, free_pixels, NULL);
          c->image = NULL;
        }
      sc.text = c->text ? g_strdup (c->text) : NULL;
      g_array_append_val (result->candidates, sc);
    }
  magvlt_result_free (&r);
  result->ms = (g_get_monotonic_time () - t0) / 1000.0;
  return result;
}
