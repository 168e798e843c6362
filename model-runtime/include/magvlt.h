/* magvlt.h — the public API of libmagvlt, a C inference engine for MAGVLT
 * (Masked Generative Vision-and-Language Transformer, Kim et al., CVPR 2023).
 *
 * SPDX-License-Identifier: MIT
 *
 * Basic usage:
 *
 *   magvlt_model_params mp = magvlt_model_default_params ();
 *   magvlt_model *model = NULL;
 *   if (magvlt_model_load ("model.gguf", &mp, &model) != MAGVLT_OK)
 *     fprintf (stderr, "%s\n", magvlt_last_error ());
 *
 *   magvlt_context_params cp = magvlt_context_default_params ();
 *   magvlt_context *ctx = NULL;
 *   magvlt_context_init (model, &cp, &ctx);
 *
 *   magvlt_forward_input in = { .layout = MAGVLT_LAYOUT_T2I, ... };
 *   magvlt_forward_output out = { .image_logits = logits };
 *   magvlt_status st = magvlt_forward (ctx, &in, &out);
 *
 *   magvlt_context_free (ctx);
 *   magvlt_model_free (model);
 *
 * Thread safety: a model is immutable after loading and may be shared by any
 * number of contexts on any threads. A context is used by one thread at a
 * time; only magvlt_context_cancel() may be called on it from another thread.
 * The library never aborts or exits the process and never prints unless no
 * log callback is set (then warnings and errors go to stderr).
 */
#ifndef MAGVLT_H
#define MAGVLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MAGVLT_API
#else
#define MAGVLT_API __attribute__ ((visibility ("default")))
#endif

#define MAGVLT_VERSION_MAJOR 0
#define MAGVLT_VERSION_MINOR 1
#define MAGVLT_VERSION_MICRO 0

/* ---- status codes and errors ------------------------------------------- */

typedef enum magvlt_status {
  MAGVLT_OK = 0,
  MAGVLT_ERR_INVALID_ARG, /* a caller-supplied argument is out of range */
  MAGVLT_ERR_IO,          /* a file could not be opened, read or written */
  MAGVLT_ERR_FORMAT,      /* a file is malformed, truncated or not a MAGVLT model */
  MAGVLT_ERR_UNSUPPORTED, /* valid, but uses a feature this build lacks */
  MAGVLT_ERR_NOMEM,       /* an allocation failed */
  MAGVLT_ABORTED,         /* cancelled through magvlt_context_cancel() or a callback */
  MAGVLT_ERR_INTERNAL,    /* a bug in libmagvlt; please report it */
} magvlt_status;

/* A short constant English description of a status ("file format error"). */
MAGVLT_API const char *magvlt_status_str (magvlt_status status);

/* The message of the last failing call made on this thread, naming the file,
 * tensor, offset or argument at fault. Never NULL; "" before any failure.
 * Valid until the next failing call on the same thread. */
MAGVLT_API const char *magvlt_last_error (void);

/* ---- logging ------------------------------------------------------------ */

typedef enum magvlt_log_level {
  MAGVLT_LOG_DEBUG = 0,
  MAGVLT_LOG_INFO,
  MAGVLT_LOG_WARN,
  MAGVLT_LOG_ERROR,
} magvlt_log_level;

typedef void (*magvlt_log_callback) (magvlt_log_level level, const char *message, void *user_data);

/* ---- model -------------------------------------------------------------- */

typedef struct magvlt_model magvlt_model;

/* Called while loading; return false to cancel (the load returns
 * MAGVLT_ABORTED). fraction is in [0, 1]. */
typedef bool (*magvlt_load_progress_callback) (float fraction, void *user_data);

typedef struct magvlt_model_params {
  bool use_mmap; /* map the file (default); false reads it into memory */
  magvlt_log_callback log_callback;
  void *log_user_data;
  magvlt_load_progress_callback progress_callback;
  void *progress_user_data;
} magvlt_model_params;

MAGVLT_API magvlt_model_params magvlt_model_default_params (void);

/* Loads a GGUF model file (model-runtime/FORMAT.md). Every header field,
 * length, count, offset and shape is checked; a bad file gives
 * MAGVLT_ERR_FORMAT and a message naming what is wrong. params may be NULL
 * for the defaults. On failure *out is NULL. */
MAGVLT_API magvlt_status magvlt_model_load (const char *path, const magvlt_model_params *params,
                                            magvlt_model **out);

MAGVLT_API void magvlt_model_free (magvlt_model *model);

typedef struct magvlt_model_info {
  const char *architecture; /* "magvlt" */
  const char *name;         /* general.name, or "" */
  const char *path;
  uint64_t file_size; /* bytes */
  int32_t gguf_version;
  int64_t n_tensors;       /* all tensors in the file */
  int64_t n_params_stage2; /* parameters of the transformer (incl. length head) */
  int64_t n_params_vqgan;  /* parameters of the VQGAN tensors in the file */
  const char *weight_type; /* "f32", "f16" or "mixed" (stage-2 matrices) */
  bool mmapped;

  int32_t embed_dim; /* C */
  int32_t n_layers;
  int32_t n_heads;
  int32_t mlp_hidden;
  int32_t ctx_len_img;    /* I, image tokens */
  int32_t ctx_len_txt;    /* T, text slots */
  int32_t image_grid;     /* sqrt(I) */
  int32_t seq_len;        /* L = 4 + I + T */
  int32_t vocab_size_img; /* Vi */
  int32_t vocab_size_txt; /* Vt */
  int32_t n_special;
  int32_t text_eot_id;

  bool has_vqgan;           /* the file holds the image tokenizer */
  bool has_palette;         /* per-code preview colours (magvlt_vq_preview) */
  int32_t image_resolution; /* R: images are R×R pixels (0 without a VQGAN) */
  int32_t vq_z_channels;
  int32_t vq_embed_dim; /* codebook vector size */
} magvlt_model_info;

/* Fills *info; its strings belong to the model. */
MAGVLT_API magvlt_status magvlt_model_get_info (const magvlt_model *model, magvlt_model_info *info);

/* ---- context ------------------------------------------------------------ */

typedef struct magvlt_context magvlt_context;

typedef struct magvlt_context_params {
  int32_t n_threads; /* 0 = the number of physical cores */
  magvlt_log_callback log_callback;
  void *log_user_data;
} magvlt_context_params;

MAGVLT_API magvlt_context_params magvlt_context_default_params (void);

/* Allocates all scratch memory a job needs up front (nothing is allocated
 * inside the refinement loop). The model must outlive the context. */
MAGVLT_API magvlt_status magvlt_context_init (const magvlt_model *model,
                                              const magvlt_context_params *params,
                                              magvlt_context **out);

MAGVLT_API void magvlt_context_free (magvlt_context *ctx);

/* Asks the running job to stop; safe from any thread. The flag is polled
 * after every transformer block; the job returns MAGVLT_ABORTED, clears the
 * flag, and the context stays usable. A request made while no job runs
 * cancels the next job. */
MAGVLT_API void magvlt_context_cancel (magvlt_context *ctx);

/* The message of the last failing call on this context (or ""). */
MAGVLT_API const char *magvlt_context_last_error (const magvlt_context *ctx);

/* Scratch memory the context holds, in bytes. */
MAGVLT_API size_t magvlt_context_memory_size (const magvlt_context *ctx);

/* ---- one transformer forward pass --------------------------------------- */

/* Sequence layouts (spec §2.3). T2I: BOC BOT text BOG BOI image (text→image,
 * inpainting, editing). I2T: BOC BOI image BOG BOT text (captioning, text
 * infilling, joint image+text masking, length prediction). */
typedef enum magvlt_layout {
  MAGVLT_LAYOUT_T2I = 0,
  MAGVLT_LAYOUT_I2T = 1,
} magvlt_layout;

typedef struct magvlt_forward_input {
  magvlt_layout layout;
  const int32_t *image_ids;    /* [I] VQGAN codes, 0..Vi-1 (ignored where masked) */
  const uint8_t *image_masked; /* [I] nonzero = masked; NULL = none masked */
  const int32_t *text_ids;     /* [T] text ids, 0..Vt-1 (ignored where masked or >= n) */
  const uint8_t *text_masked;  /* [T] nonzero = masked; NULL = none masked */
  int32_t text_valid_len;      /* n, 0..T: visible text slots incl. the first end-of-text */
} magvlt_forward_input;

/* Every pointer is optional (NULL = not wanted). Rows of text slots >= n are
 * not computed (the attention masks make them irrelevant to every other
 * position) and are written as zeros. */
typedef struct magvlt_forward_output {
  float *image_logits;             /* [I, Vi] */
  const uint8_t *image_logit_rows; /* [I] which rows to compute; NULL = all */
  float *text_logits;              /* [T, Vt], column = text id */
  const uint8_t *text_logit_rows;  /* [T]; NULL = all */
  float *length_logits;            /* [T], length head at sequence index I+3
                                       (the BOT token of the I2T layout) */
  float *hidden;                   /* [L, C] output of the last block */
  float *emb;                      /* [L, C] input of the first block */
  float *block_out;                /* [n_layers, L, C] output of every block */
} magvlt_forward_output;

/* Runs the stage-2 transformer once on one sequence (spec §2). */
MAGVLT_API magvlt_status magvlt_forward (magvlt_context *ctx, const magvlt_forward_input *input,
                                         magvlt_forward_output *output);

/* ---- image tokenizer (VQGAN) -------------------------------------------- */

/* Images are R×R RGB (R = magvlt_model_info.image_resolution); codes form
 * an s×s grid (s = image_grid), row-major. Resizing and cropping to R×R is
 * the caller's business (the CLI and the app do it). The first image job of
 * a context allocates its VQGAN scratch (3 activations of the largest
 * layer + an im2col band of at most 32 MB + attention scratch); cancellation
 * is polled for every band of every convolution. */

typedef struct magvlt_vq_encode_output {
  int32_t *codes;     /* [s·s], required */
  float *encoder_out; /* [z_channels, s, s] the encoder's output, optional */
  float *pre_quant;   /* [embed_dim, s, s] after quant_conv, before the code
                          search, optional */
} magvlt_vq_encode_output;

/* rgb: R rows of `stride` bytes, 3 bytes (R, G, B) per pixel. Normalised as
 * the official code does: x = (v/255 − 0.5)/0.5. */
MAGVLT_API magvlt_status magvlt_vq_encode (magvlt_context *ctx, const uint8_t *rgb, size_t stride,
                                           magvlt_vq_encode_output *out);

/* image: [3, R, R] already normalised to about [−1, 1]. */
MAGVLT_API magvlt_status magvlt_vq_encode_float (magvlt_context *ctx, const float *image,
                                                 magvlt_vq_encode_output *out);

/* codes: [s·s] → rgb (R rows of `stride` bytes, optional) with the official
 * conversion trunc(clamp(0.5·y + 0.5, 0, 1)·255), and raw (optional): the
 * decoder's float output [3, R, R]. */
MAGVLT_API magvlt_status magvlt_vq_decode (magvlt_context *ctx, const int32_t *codes, uint8_t *rgb,
                                           size_t stride, float *raw);

/* Paints an s×s RGB thumbnail (3 bytes per code, no padding) from the
 * per-code palette in microseconds; codes where known[i] is 0 (or every
 * code when the model has no palette) are mid grey. known may be NULL. */
MAGVLT_API magvlt_status magvlt_vq_preview (const magvlt_model *model, const int32_t *codes,
                                            const uint8_t *known, uint8_t *rgb);

/* Computes the palette: palette[k·3 + c] = mean colour (0..1) of code k's
 * patch in decodes of grids that each hold s·s different codes (N/(s·s)
 * decodes). Used by the exporters; slow at the official size (~1 minute). */
MAGVLT_API magvlt_status magvlt_vq_compute_palette (magvlt_context *ctx, float *palette);

#ifdef __cplusplus
}
#endif

#endif /* MAGVLT_H */
