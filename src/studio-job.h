/* studio-job.h — one request to the engine and its result, GTK-free
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <magvlt.h>

G_BEGIN_DECLS

typedef enum {
  STUDIO_JOB_CAPTION,
  STUDIO_JOB_GENERATE,
  STUDIO_JOB_INPAINT,
  STUDIO_JOB_EDIT,
  STUDIO_JOB_INFILL,
  STUDIO_JOB_JOINT,
} StudioJobKind;

typedef struct {
  StudioJobKind kind;
  char *prompt;     /* caption / prompt / infill text */
  GdkPixbuf *image; /* RGB, no alpha; never modified after submission */
  GBytes *mask;     /* width × height bytes, or NULL */
  /* The window chooses the seed, the candidates, the image steps and the
   * temperature and guidance scales; everything else is the loaded model's
   * own (magvlt_model_sampling_params), merged in by studio_job_use_model(). */
  magvlt_sampling_params params;
  double temperature_scale; /* × the model's image temperatures (1 = as is) */
  double guidance_scale;    /* × the model's text guidance (1 = as is) */
  magvlt_edit_params edit;
} StudioJob;

typedef struct {
  GdkPixbuf *image; /* NULL for text jobs */
  char *text;       /* NULL for image jobs */
  guint64 seed;
  double score;
} StudioCandidate;

typedef struct {
  StudioJobKind kind;
  GArray *candidates; /* StudioCandidate, best first */
  double ms;
  /* what produced them, for the text chunks of saved images */
  char *prompt;
  char *model; /* the model's display name, set by the worker */
  int steps;
  double strength;
  double temperature_scale;
  double guidance; /* the text guidance the image steps ran with (0 = none) */
  /* how the model read the prompt (generate, inpaint, edit; set by the
   * worker): its tokens, whether it was cut to the model's text length, and
   * whether characters outside the vocabulary were dropped */
  gboolean prompt_checked;
  int prompt_tokens;
  int prompt_max_tokens;
  gboolean prompt_truncated;
  gboolean prompt_fallback;
} StudioJobResult;

/* What the worker reports while a job runs (immutable once posted). */
typedef struct {
  magvlt_stage stage;
  int step;
  int n_steps;
  int candidate;
  int n_candidates;
  double fraction;    /* of the whole job, 0..1 */
  double eta_seconds; /* < 0 while unknown */
  GBytes *thumbnail;  /* size × size × 3 RGB, or NULL */
  int thumbnail_size;
} StudioProgress;

#define STUDIO_ENGINE_ERROR (studio_engine_error_quark ())
GQuark studio_engine_error_quark (void);

StudioJob *studio_job_new (StudioJobKind kind);
void studio_job_free (StudioJob *job);
void studio_job_result_free (StudioJobResult *result);
void studio_progress_free (StudioProgress *progress);
/* The kind as shown to the user (translated). */
const char *studio_job_kind_name (StudioJobKind kind);
/* The kind as the `magvlt` command names it ("inpaint", …), never
 * translated: what saved files record. */
const char *studio_job_kind_id (StudioJobKind kind);
/* job->params ← the model's sampling values with the job's seed,
 * candidates, image steps and temperature and guidance scales over them. */
void studio_job_use_model (StudioJob *job, const magvlt_model *model);
StudioJobResult *studio_job_run (StudioJob *job, magvlt_context *ctx, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StudioJob, studio_job_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StudioJobResult, studio_job_result_free)

G_END_DECLS
