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
  const char *weight_type; /* "f32", "f16", "bf16" or "mixed" (stage-2 matrices);
                              "none" for a VQGAN-only model */
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

  /* false for a VQGAN-only model (`magvlt convert --vqgan` without --ckpt):
   * only the magvlt_vq_* functions work; the transformer fields above are 0
   * except ctx_len_img, image_grid and vocab_size_img, and magvlt_forward
   * and the generation jobs return MAGVLT_ERR_UNSUPPORTED. */
  bool has_transformer;
} magvlt_model_info;

/* Fills *info; its strings belong to the model. */
MAGVLT_API magvlt_status magvlt_model_get_info (const magvlt_model *model, magvlt_model_info *info);

/* Copies the string value of the file's metadata key `key` into buf, NUL-
 * terminated and cut to size - 1 bytes; e.g. the provenance a converted file
 * records (magvlt.source.ckpt_sha256 and the other magvlt.source.* keys,
 * model-runtime/FORMAT.md). MAGVLT_ERR_INVALID_ARG when the file has no such
 * key, or it does not hold a string (the message says which); buf is then "".
 * buf needs size >= 1. */
MAGVLT_API magvlt_status magvlt_model_get_meta_str (const magvlt_model *model, const char *key,
                                                    char *buf, size_t size);

/* ---- context ------------------------------------------------------------ */

typedef struct magvlt_context magvlt_context;

typedef struct magvlt_context_params {
  /* 0 = the number of physical cores; more than the CPUs this process may
   * run on are not started (they would only wait for each other). The
   * count never changes a result: every output element is summed in the
   * same order however the work is split. */
  int32_t n_threads;
  /* matrix-product backend: NULL or "auto" ($MAGVLT_BACKEND when set, else
   * "bf16" on CPUs with AVX512-BF16, else "openblas"), "openblas" (float32,
   * the reference), "bf16" (the engine's own kernels: bfloat16 weights and
   * activations, float32 accumulation; needs AVX512-BF16), "onednn-f32",
   * "onednn-bf16" (builds with oneDNN). Forcing one the build or CPU lacks
   * fails with MAGVLT_ERR_UNSUPPORTED. */
  const char *backend;
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

/* Whether name is a backend name this library knows ("auto" included),
 * whether or not this build and CPU have that backend: for checking a
 * command line before any work. false for NULL. */
MAGVLT_API bool magvlt_backend_name_known (const char *name);

/* The resolved backend name ("openblas", "bf16", "onednn-f32", "onednn-bf16"). */
MAGVLT_API const char *magvlt_context_get_backend (const magvlt_context *ctx);

/* Withdraws a pending cancel request (one that arrived after the job it was
 * meant for had finished), so it does not cancel the next job. */
MAGVLT_API void magvlt_context_reset_cancel (magvlt_context *ctx);

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
 * decodes). Used by the exporters; slow at the official size (about 270 CPU-seconds).
 * Before each decode it calls the context's progress callback (stage
 * MAGVLT_STAGE_DECODE, step = decodes done, n_steps = decodes in all), and a
 * cancel request stops it with MAGVLT_ABORTED. */
MAGVLT_API magvlt_status magvlt_vq_compute_palette (magvlt_context *ctx, float *palette);

/* ---- text tokenizer ----------------------------------------------------- */

/* MAGVLT's text tokenizer (spec §5), byte-exact with the official code:
 * HuggingFace's CharBPETokenizer (BERT-style cleaning, spaces around CJK
 * ideographs, full per-character lowercasing, whitespace and punctuation
 * splitting, BPE with an end-of-word suffix), MAGVLT's fallback for text
 * with characters outside the vocabulary, truncation to the model's text
 * length T and end-of-text padding. The vocabulary and merges are stored in
 * the model file (FORMAT.md, "Text tokenizer"); a model without them gives
 * MAGVLT_ERR_UNSUPPORTED. These functions only read the model and keep no
 * state: any number of threads may call them at once. */

typedef struct magvlt_tokenize_result {
  int32_t n_tokens; /* text ids before the end-of-text id, after truncation (<= T) */
  int32_t n_txt;    /* the reference's n_txt: index of the first end-of-text id + 1,
                       or T + 1 when no end-of-text id fits */
  int32_t n_mask;   /* ones in the text mask: min(n_txt, T) */
  bool fallback;    /* a character outside the vocabulary made the text fail to
                       encode, so it was encoded again without its non-ASCII
                       characters (the official TokenizerUtils.get_input) */
  bool truncated;   /* the text had more than T tokens; the rest was dropped */
} magvlt_tokenize_result;

/* Encodes text[0..len) — UTF-8, not necessarily NUL-terminated — into
 * ids[0..T): the tokens, then the end-of-text id, which also pads the rest.
 * n_ids_max is the room in ids (at least T = magvlt_model_info.ctx_len_txt).
 * Like the reference, control and format characters are deleted (so are NUL
 * bytes: U+0000), and text that is empty, only whitespace, or only
 * characters deleted by the fallback (emoji, CJK) gives zero tokens and
 * n_txt 1. Invalid UTF-8 gives MAGVLT_ERR_INVALID_ARG naming the byte
 * offset, as does text over 4 MiB; a character outside the vocabulary even
 * after the fallback (impossible with CLIP's vocabulary) gives
 * MAGVLT_ERR_INVALID_ARG naming it. */
MAGVLT_API magvlt_status magvlt_tokenize (const magvlt_model *model, const char *text, size_t len,
                                          int32_t *ids, int32_t n_ids_max,
                                          magvlt_tokenize_result *result);

typedef enum magvlt_detokenize_flags {
  /* the official caption post-processing (spec §5.4 step 3, branch main):
   * "a dog dog in a cat. the" → "a dog in a cat ."; a caption left with no
   * word gives "" (the official code raises IndexError there) */
  MAGVLT_DETOKENIZE_CAPTION = 1 << 0,
  /* decode every id, like HuggingFace's decode(), instead of stopping at the
   * first end-of-text id as the official token2txt does */
  MAGVLT_DETOKENIZE_KEEP_EOT = 1 << 1,
} magvlt_detokenize_flags;

/* Decodes ids[0..n_ids) into UTF-8 text: up to the first end-of-text id,
 * vocabulary entries concatenated with each end-of-word suffix replaced by a
 * space (by nothing in the last token); ids outside the vocabulary are
 * skipped. flags: magvlt_detokenize_flags. Writes the text NUL-terminated
 * into buf like snprintf: *len (may be NULL) receives its full length in
 * bytes without the NUL, and the text is complete when *len < buf_size,
 * otherwise cut at a character boundary. buf may be NULL when buf_size is 0,
 * to ask for the length. */
MAGVLT_API magvlt_status magvlt_detokenize (const magvlt_model *model, const int32_t *ids,
                                            int32_t n_ids, uint32_t flags, char *buf,
                                            size_t buf_size, size_t *len);

/* The vocabulary entry of a text id ("photo</w>"), NUL-terminated, owned by
 * the model; NULL for an id outside the vocabulary or a model without a
 * tokenizer. */
MAGVLT_API const char *magvlt_token_get_text (const magvlt_model *model, int32_t id);

typedef struct magvlt_tokenizer_info {
  const char *model;  /* "char_bpe" */
  int32_t vocab_size; /* = magvlt_model_info.vocab_size_txt */
  int32_t n_merges;
  int32_t text_len;               /* T */
  int32_t eot_id;                 /* end of text, also the padding id */
  const char *end_of_word_suffix; /* "</w>" */
  bool lowercase;
} magvlt_tokenizer_info;

/* Fills *info (strings owned by the model); MAGVLT_ERR_UNSUPPORTED when the
 * model has no tokenizer. */
MAGVLT_API magvlt_status magvlt_tokenizer_get_info (const magvlt_model *model,
                                                    magvlt_tokenizer_info *info);

/* ---- generation jobs ---------------------------------------------------- */

/* Each job takes sampling parameters (magvlt_sampling_default_params),
 * inputs, and fills a library-owned magvlt_result (free it with
 * magvlt_result_free). Jobs report progress and previews through the
 * context's callbacks and stop with MAGVLT_ABORTED on magvlt_context_cancel,
 * leaving the context usable. Same seed + same inputs + same thread count ⇒
 * byte-identical results. */

typedef enum magvlt_stage {
  MAGVLT_STAGE_ENCODE = 0, /* VQGAN encoding of the input image */
  MAGVLT_STAGE_LENGTH,     /* caption length prediction */
  MAGVLT_STAGE_IMAGE,      /* image token refinement */
  MAGVLT_STAGE_TEXT,       /* text token refinement */
  MAGVLT_STAGE_DECODE,     /* VQGAN decoding of the result */
} magvlt_stage;

MAGVLT_API const char *magvlt_stage_str (magvlt_stage stage);

/* What a job has so far, after each refinement step. Pointers are valid
 * during the callback only. */
typedef struct magvlt_preview {
  magvlt_stage stage;
  int32_t step, n_steps; /* step n of N done */
  int32_t candidate, n_candidates;
  const int32_t *image_codes; /* [I] (image stage) */
  const uint8_t *image_known; /* [I] 1 = fixed, 0 = still masked */
  const uint8_t *thumbnail;   /* [s, s, 3] palette colours, masked codes grey */
  int32_t thumbnail_size;     /* s */
  const uint8_t *image;       /* [R, R, 3] full decode on the steps asked for, else NULL */
  int32_t image_size;         /* R */
  const int32_t *text_ids;    /* [n_text] (text stage) */
  int32_t n_text;
} magvlt_preview;

typedef void (*magvlt_progress_callback) (magvlt_stage stage, int32_t step, int32_t n_steps,
                                          int32_t candidate, int32_t n_candidates, void *user_data);
typedef void (*magvlt_preview_callback) (const magvlt_preview *preview, void *user_data);

typedef struct magvlt_callbacks {
  magvlt_progress_callback progress; /* before each step and at each stage's end */
  magvlt_preview_callback preview;   /* after each refinement step */
  int32_t preview_decode_every;      /* full VQGAN decode every N image steps; 0 = never */
  void *user_data;
} magvlt_callbacks;

/* Sets (callbacks NULL: clears) the context's callbacks; they are called on
 * the thread running the job. */
MAGVLT_API void magvlt_context_set_callbacks (magvlt_context *ctx,
                                              const magvlt_callbacks *callbacks);

typedef struct magvlt_sampling_params {
  uint64_t seed;        /* candidate k uses seed + k, so it can be re-run alone */
  int32_t n_candidates; /* independent samples, ranked by the model's (guided) mean
                           log-likelihood of the tokens it chose */
  int32_t image_steps;  /* S (10); cosine schedule */
  float image_temperature_start, image_temperature_end;               /* 1.4 → 0.6 */
  float image_choice_temperature_start, image_choice_temperature_end; /* 2.0 → 0.2 */
  int32_t text_steps;                                                 /* 12; linear mask-predict */
  float text_temperature;                                             /* 0.1 */
  int32_t text_top_k;                                                 /* 32; 0 = no top-k filter */
  int32_t text_length;      /* caption slots incl. the end token; 0 = predict */
  bool caption_postprocess; /* the official post-processing of captions (true) */
  /* Text guidance of the image jobs (generate, edit), not in the official
   * sampling: each image step also runs the model without the text, and
   * samples from logits + image_guidance · (logits − logits without text),
   * as classifier-free guidance does. 0 = off (the official sampling, and
   * half the work); the default model recommends 1.0 (FORMAT.md). Prompts
   * without a token (blank, or the joint job's) are never guided. */
  float image_guidance;
} magvlt_sampling_params;

/* The official sampling configuration's values for one candidate. */
MAGVLT_API magvlt_sampling_params magvlt_sampling_default_params (void);

/* The values the model file recommends for one candidate: its
 * magvlt.sampling.* keys (steps, temperatures, top-k; FORMAT.md) over
 * magvlt_sampling_default_params for those it lacks. An official
 * checkpoint's are the official values; the default model's were chosen on
 * its validation split. NULL or a VQGAN-only model: the defaults. */
MAGVLT_API magvlt_sampling_params magvlt_model_sampling_params (const magvlt_model *model);

typedef struct magvlt_candidate {
  int32_t *image_codes; /* [I], or NULL for text-only jobs */
  uint8_t *image;       /* width × height × 3 RGB, or NULL */
  int32_t width, height;
  int32_t *text_ids;    /* [T] incl. end-of-text padding, or NULL */
  char *text;           /* the caption (UTF-8), or NULL */
  double score;         /* mean log-likelihood per generated token (higher is better) */
  uint64_t seed;        /* re-run with this seed and 1 candidate to get it again */
  float image_guidance; /* the text guidance its image steps ran with: 0 for
                           text jobs, joint, a blank prompt, or guidance off */
} magvlt_candidate;

typedef struct magvlt_result {
  int32_t n_candidates;
  magvlt_candidate *candidates; /* best first */
} magvlt_result;

MAGVLT_API void magvlt_result_free (magvlt_result *result);

/* An RGB image: height rows of `stride` bytes, 3 bytes per pixel. */
typedef struct magvlt_image {
  int32_t width, height;
  size_t stride;
  const uint8_t *rgb;
} magvlt_image;

/* Text → image (spec §3.1). The prompt is tokenized with the model's
 * tokenizer; longer prompts are truncated (result->... reports nothing:
 * call magvlt_tokenize first to warn). */
MAGVLT_API magvlt_status magvlt_generate_image (magvlt_context *ctx,
                                                const magvlt_sampling_params *params,
                                                const char *prompt, magvlt_result *result);

/* Image → caption (spec §3.3): the image is resized (shorter side to R,
 * antialiased bilinear) and centre-cropped to R×R as the official scripts do. */
MAGVLT_API magvlt_status magvlt_caption (magvlt_context *ctx, const magvlt_sampling_params *params,
                                         const magvlt_image *image, magvlt_result *result);

typedef struct magvlt_edit_params {
  float strength;  /* (0, 1]: fraction of the region's tokens regenerated; 1 = inpaint */
  int32_t padding; /* pixels of context around the mask's bounding box (32) */
  int32_t feather; /* width in pixels of the soft edge inside the mask (8) */
} magvlt_edit_params;

MAGVLT_API magvlt_edit_params magvlt_edit_default_params (void);

/* Inpainting and text-guided editing of an image of any size: a square
 * context area around the mask's bounding box (plus padding; at least R
 * pixels when the image allows, so small regions are not blurred by
 * up-scaling) is resized to R×R and encoded; a code is regenerated when any
 * pixel of its cell is masked; the result is decoded, resized back, and
 * pasted through the mask with its edge feathered inwards, so every pixel
 * outside the mask keeps its exact value. mask: width × height bytes
 * (stride mask_stride), >= 128 = regenerate; NULL = the whole image. An
 * empty mask is MAGVLT_ERR_INVALID_ARG. Candidates have the input's size. */
MAGVLT_API magvlt_status magvlt_edit_image (magvlt_context *ctx,
                                            const magvlt_sampling_params *params,
                                            const magvlt_edit_params *edit,
                                            const magvlt_image *image, const uint8_t *mask,
                                            size_t mask_stride, const char *prompt,
                                            magvlt_result *result);

/* The paste-back weights magvlt_edit_image blends with: alpha[width·height]
 * is 0 outside the mask (mask >= 128 is inside), rising to 1 over `feather`
 * pixels inside it (distance to the nearest unmasked pixel or the image
 * edge). Editors draw it as the soft-edge preview. */
MAGVLT_API magvlt_status magvlt_feather_alpha (const uint8_t *mask, int32_t width, int32_t height,
                                               size_t stride, int32_t feather, float *alpha);

/* Text infilling: text holds one "[MASK]" where words are to be generated,
 * given the image (resized and cropped as for captioning). span_length: text
 * tokens for the span, 0 = predicted from the image and the known words. */
MAGVLT_API magvlt_status magvlt_infill_text (magvlt_context *ctx,
                                             const magvlt_sampling_params *params,
                                             const magvlt_image *image, const char *text,
                                             int32_t span_length, magvlt_result *result);

/* Unconditional joint generation (not released officially; spec §3.5): the
 * image from an empty prompt (only the end token visible), then its caption. */
MAGVLT_API magvlt_status magvlt_generate_joint (magvlt_context *ctx,
                                                const magvlt_sampling_params *params,
                                                magvlt_result *result);

/* ---- converting official checkpoints ------------------------------------ */

/* magvlt_convert() turns the official PyTorch checkpoints (a PyTorch-
 * Lightning MAGVLT .ckpt, a taming VQGAN .ckpt, or safetensors with the same
 * key names), the official sampling YAML and CLIP's BPE merges into a model
 * file (model-runtime/FORMAT.md), without Python. Checkpoints are read by a
 * restricted pickle reader that never imports or runs anything they name.
 * Every required tensor must be present with the shape the configuration
 * implies; tensors the model does not use are reported as warnings through
 * the log callback. The output is written to a temporary file beside
 * out_path and renamed into place only when complete, so a failed or
 * cancelled conversion leaves nothing behind. Built only when libmagvlt is
 * configured with its converter (meson option `converter`, on by default;
 * it needs libyaml, zlib and cJSON); otherwise it returns
 * MAGVLT_ERR_UNSUPPORTED. */

typedef enum magvlt_weight_type {
  MAGVLT_WEIGHTS_F16 = 0, /* matrices IEEE half; norms, biases, codebook f32 (default) */
  MAGVLT_WEIGHTS_F32,     /* everything float32 */
  MAGVLT_WEIGHTS_BF16,    /* matrices bfloat16; norms, biases, codebook f32 */
} magvlt_weight_type;

typedef enum magvlt_convert_stage {
  MAGVLT_CONVERT_READ = 0, /* reading, checking and hashing the inputs */
  MAGVLT_CONVERT_WRITE,    /* converting and writing the tensors */
  MAGVLT_CONVERT_PALETTE,  /* decoding every code for the preview palette */
} magvlt_convert_stage;

/* fraction of the stage done, in [0, 1]. */
typedef void (*magvlt_convert_progress_callback) (magvlt_convert_stage stage, float fraction,
                                                  void *user_data);
/* Polled between chunks of work (every 16 MiB hashed, every million
 * elements written, every palette decode: a second or two at the official
 * size); return true to stop: magvlt_convert then returns MAGVLT_ABORTED. */
typedef bool (*magvlt_convert_cancel_callback) (void *user_data);

typedef struct magvlt_convert_params {
  const char *ckpt;   /* MAGVLT checkpoint (model.* [+ model_vqvae.*]), or NULL for a
                         VQGAN-only model from `vqgan` */
  const char *vqgan;  /* taming VQGAN checkpoint (its loss.* is dropped); its weights
                         replace the MAGVLT file's model_vqvae.*, as in the official
                         sampling scripts; NULL: use model_vqvae.* */
  const char *config; /* the official YAML (stage1, stage2, sampling), or NULL */
  const char *preset; /* without config: "base" or "large"; NULL recognises the two
                         official geometries from the tensor shapes */
  const char *bpe;    /* CLIP's merges: bpe_simple_vocab_16e6.txt.gz or a merges text;
                         NULL: no tokenizer (text jobs refuse) */
  const char *name;   /* general.name; NULL: the checkpoint's file name without suffix */
  magvlt_weight_type weight_type;
  bool palette;      /* compute the preview palette (default true) */
  int32_t n_threads; /* for the palette; 0 = physical cores */
  magvlt_convert_progress_callback progress;
  magvlt_convert_cancel_callback cancel;
  void *user_data; /* for progress and cancel */
  magvlt_log_callback log_callback;
  void *log_user_data;
} magvlt_convert_params;

typedef struct magvlt_convert_stats {
  int32_t n_tensors;  /* written */
  int64_t n_params;   /* elements of all written tensors */
  uint64_t file_size; /* bytes */
  int32_t n_warnings; /* e.g. tensors the model does not use */
  double seconds;
} magvlt_convert_stats;

MAGVLT_API magvlt_convert_params magvlt_convert_default_params (void);

/* Converts into out_path. stats may be NULL. Errors name the file, tensor,
 * key or offset: MAGVLT_ERR_IO (files), MAGVLT_ERR_FORMAT (malformed or
 * mismatching inputs), MAGVLT_ERR_UNSUPPORTED (legacy torch files,
 * compressed archives, non-contiguous tensors), MAGVLT_ABORTED (cancel). */
MAGVLT_API magvlt_status magvlt_convert (const magvlt_convert_params *params, const char *out_path,
                                         magvlt_convert_stats *stats);

/* ---- benchmarking: random-weight models, matrix-product speed ------------ */

/* magvlt_random_model_write() writes a model file (model-runtime/FORMAT.md,
 * with the converter's keys and tensor tables) of a preset geometry with
 * random weights at trained-looking scales (those of
 * model-runtime/training/make_parity_cases.py: embeddings N(0, 0.4²),
 * positional tables N(0, 0.2²), norm weights 1 + N(0, 0.1²), biases
 * N(0, 0.05²), matrices N(0, 1/fan_in), attention query/key ×1.3; each
 * normal drawn as a scaled sum of four uniforms from a per-tensor stream of
 * (seed, tensor name)), and a synthetic text tokenizer of the preset's size:
 * CLIP's 256 byte characters, the same with "</w>", merges that build
 * lowercase two-, three- and then four-letter words, <|startoftext|> and
 * <|endoftext|>. No palette. Same parameters, same bytes. It exists so
 * benchmarks (`magvlt bench --preset`) and tests measure the real load path
 * at a real geometry without shipping weights. */

typedef struct magvlt_random_model_params {
  /* "base" (MAGVLT-base: 24 layers, width 1024, 8 heads, MLP 4096, 16×16
   * image codes from a 256×256 VQGAN with 16,384 codes, 64 text slots,
   * 49,408 text ids), "large" (36 layers, width 1280, 10 heads, MLP 5120,
   * otherwise as base) or "default" (the geometry of the shipped
   * data/models/default.gguf: 8 layers, width 256, 4 heads, 8×8 codes from a
   * 64×64 VQGAN with 1,024 codes, 32 text slots, 3,072 text ids) */
  const char *preset;
  /* 0 keeps the preset's value; the MLP is 4 × embed_dim, and the VQGAN's
   * resolution and attention follow image_grid (codes per side). */
  int32_t n_layers, embed_dim, n_heads, image_grid, ctx_len_txt;
  magvlt_weight_type weight_type; /* as magvlt_convert's (default F16) */
  uint64_t seed;
} magvlt_random_model_params;

MAGVLT_API magvlt_random_model_params magvlt_random_model_default_params (void);

/* Writes the model to path (created or truncated; "/proc/self/fd/N" of a
 * memfd works). stats may be NULL. MAGVLT_ERR_INVALID_ARG for an unknown
 * preset or a geometry the engine cannot load (width not divisible by the
 * heads, values out of range), MAGVLT_ERR_IO when the file cannot be
 * written. */
MAGVLT_API magvlt_status magvlt_random_model_write (const magvlt_random_model_params *params,
                                                    const char *path, magvlt_convert_stats *stats);

/* The speed of ctx's matrix-product backend: y: [M, N] = x: [M, K] · Wᵀ
 * with W: [N, K] (a linear layer) on random data, the library's best:
 * OpenBLAS's sgemm threaded by OpenBLAS on ctx's threads, or oneDNN's matmul
 * on weights packed once, float32 or bfloat16 (oneDNN runs on OpenMP's
 * threads, which $OMP_NUM_THREADS sets, as it does in the jobs). The bf16
 * backend multiplies only the model's packed weights: there W is the
 * model's own [N, K] weight (its MLP's M × C, C × M, or C × C), and another
 * shape gives MAGVLT_ERR_UNSUPPORTED. One warm-up product, then `repeat`
 * timed ones; *gflops = 2·M·N·K / the median time / 1e9. */
MAGVLT_API magvlt_status magvlt_context_bench_matmul (magvlt_context *ctx, int32_t m, int32_t n,
                                                      int32_t k, int32_t repeat, double *gflops);

#ifdef __cplusplus
}
#endif

#endif /* MAGVLT_H */
