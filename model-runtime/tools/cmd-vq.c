/* cmd-vq.c — `magvlt vq encode` and `magvlt vq decode`: images to VQGAN code
 * grids and back. Image files are read and written through GdkPixbuf.
 * SPDX-License-Identifier: MIT */
#include "image-io.h"
#include "magvlt-cli.h"
#include "npy.h"

#include <errno.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Code files larger than this are refused before they are parsed. */
#define VQ_MAX_CODES_FILE (16 << 20)

static const char vq_usage[] =
  "Usage: magvlt vq COMMAND [OPTIONS]\n"
  "\n"
  "Commands:\n"
  "  encode     image file -> VQGAN code grid\n"
  "  decode     VQGAN code grid -> PNG image\n"
  "\n"
  "Run `magvlt vq encode --help` or `magvlt vq decode --help` for the options.\n";

static const char encode_description[] =
  "IMAGE is any file GdkPixbuf reads (PNG, JPEG, GIF, BMP, TIFF, ...; the first frame\n"
  "of an animation). It becomes 8-bit RGB: grey images are expanded to RGB, and a\n"
  "transparent image is composited over white. EXIF orientation is ignored, as in the\n"
  "official scripts. Images over 16384 pixels a side or 64 megapixels are refused.\n"
  "\n"
  "An image of exactly the model resolution R x R (see `magvlt info`) is used as is.\n"
  "Any other image is resized and cropped as the official preprocessing does (spec\n"
  "section 4.1), and a note says so on stderr: the shorter side is scaled to R and\n"
  "the longer to floor(R * long / short) with GdkPixbuf's bilinear filter (which\n"
  "averages over the covered area when shrinking; PIL's antialiased bilinear filter,\n"
  "used by the official code, gives slightly different pixels), then the centre\n"
  "R x R is cut out at top = round((h - R) / 2), left = round((w - R) / 2), rounding\n"
  "halves to even as Python does.\n"
  "\n"
  "Output (stdout): the s x s code grid as s lines of s numbers, row-major;\n"
  "with --json one object {\"grid\": [s, s], \"codes\": [s*s numbers, row-major]},\n"
  "which `magvlt vq decode --codes` reads back. --raw writes the encoder output after\n"
  "quant_conv, before the code search: float32 [embed_dim, s, s], NumPy format.\n"
  "Timings go to stderr. Exit status: 0 done, 1 failed (bad file, bad image, a model\n"
  "without a VQGAN), 2 bad command line.\n"
  "\n"
  "Example: magvlt vq encode -i photo.png --json > codes.json";

static const char decode_description[] =
  "CODES.json holds one of\n"
  "  {\"grid\": [s, s], \"codes\": [s*s integers, row-major]}   (what encode --json writes;\n"
  "                                                         \"grid\" is optional)\n"
  "  [s*s integers]                                         (row-major)\n"
  "  [[s integers], ... s rows]\n"
  "where s x s is the model's code grid and every code is in 0..(codebook size - 1).\n"
  "\n"
  "OUT.png receives the R x R RGB image, always in PNG format, with the official\n"
  "conversion trunc(clamp(0.5 * y + 0.5, 0, 1) * 255). --raw writes the decoder's\n"
  "float output y before that conversion: float32 [3, R, R], NumPy format.\n"
  "Timings go to stderr. Exit status: 0 done, 1 failed (bad code file, unwritable\n"
  "output, a model without a VQGAN), 2 bad command line.\n"
  "\n"
  "Example: magvlt vq decode --codes codes.json -o round-trip.png";

/* ---- shared --------------------------------------------------------------- */

typedef struct {
  magvlt_model *model;
  magvlt_context *ctx;
  magvlt_model_info info;
} vq_session;

static void
vq_session_clear (vq_session *vs)
{
  magvlt_context_free (vs->ctx);
  magvlt_model_free (vs->model);
  vs->ctx = NULL;
  vs->model = NULL;
}

/* Loads the model, checks that it has a VQGAN, and makes a context. */
static gboolean
vq_session_open (vq_session *vs, const char *cmd, const char *model_path, int n_threads)
{
  memset (vs, 0, sizeof *vs);
  double t0 = cli_now_ms ();
  if (!(vs->model = cli_load_model (model_path)))
    return FALSE;
  magvlt_model_get_info (vs->model, &vs->info);
  if (!vs->info.has_vqgan || vs->info.image_resolution <= 0 || vs->info.image_grid <= 0)
    {
      fprintf (stderr,
               "magvlt %s: %s has no VQGAN (image tokenizer); use a model file that includes "
               "one\n",
               cmd, model_path);
      vq_session_clear (vs);
      return FALSE;
    }
  magvlt_context_params cp = magvlt_context_default_params ();
  cp.n_threads = n_threads;
  magvlt_status st = magvlt_context_init (vs->model, &cp, &vs->ctx);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt %s: %s: %s\n", cmd, magvlt_status_str (st), magvlt_last_error ());
      vq_session_clear (vs);
      return FALSE;
    }
  fprintf (stderr, "model: %.1f ms\n", cli_now_ms () - t0);
  return TRUE;
}

static gboolean
save_npy (const char *cmd, const char *path, const float *data, int64_t a, int64_t b, int64_t c)
{
  int64_t shape[3] = { a, b, c };
  g_autoptr (GError) error = NULL;
  if (!npy_write_f32 (path, data, 3, shape, &error))
    {
      fprintf (stderr, "magvlt %s: %s\n", cmd, error->message);
      return FALSE;
    }
  return TRUE;
}

/* Checks that path names a non-empty regular file; prints why not. */
static gboolean
check_input_file (const char *cmd, const char *path, const char *what, goffset max_size)
{
  g_autoptr (GError) error = NULL;
  if (cli_check_input_file (path, what, max_size, &error))
    return TRUE;
  fprintf (stderr, "magvlt %s: %s\n", cmd, error->message);
  return FALSE;
}

/* ---- encode --------------------------------------------------------------- */

static GdkPixbuf *
read_image (const char *path)
{
  g_autoptr (GError) error = NULL;
  GdkPixbuf *pb = cli_image_read (path, "the image", &error);
  if (!pb)
    fprintf (stderr, "magvlt vq encode: %s\n", error->message);
  return pb;
}

/* Python's round(d / 2) for an integer d >= 0: halves go to the even side. */
static int
half_round_even (int d)
{
  int k = d / 2;
  return (d % 2 != 0 && k % 2 != 0) ? k + 1 : k;
}

/* Scales the shorter side to res (as torchvision's Resize(res) does), cuts
 * out the centre res×res (CenterCrop(res)) and composites any alpha over
 * white, into rgb (res rows of res·3 bytes). */
static gboolean
prepare_image (GdkPixbuf *pb, const char *path, int res, uint8_t *rgb)
{
  int w = gdk_pixbuf_get_width (pb), h = gdk_pixbuf_get_height (pb);
  g_autoptr (GdkPixbuf) scaled = NULL;
  int sw = w, sh = h;

  /* torchvision leaves the image alone when the shorter side is already R */
  if (w <= h && w != res)
    sw = res, sh = (int) ((gint64) res * h / w);
  else if (h < w && h != res)
    sh = res, sw = (int) ((gint64) res * w / h);
  int top = half_round_even (sh - res), left = half_round_even (sw - res);
  if (sw != w || sh != h)
    {
      /* Only the cropped window of the resized image is rendered, so an
       * extreme aspect ratio needs no huge intermediate image. */
      scaled = gdk_pixbuf_new (GDK_COLORSPACE_RGB, gdk_pixbuf_get_has_alpha (pb), 8, res, res);
      if (!scaled)
        {
          fprintf (stderr, "magvlt vq encode: out of memory resizing %s\n", path);
          return FALSE;
        }
      gdk_pixbuf_scale (pb, scaled, 0, 0, res, res, -left, -top, (double) sw / w, (double) sh / h,
                        GDK_INTERP_BILINEAR);
      fprintf (stderr,
               "magvlt vq encode: note: %s is %d x %d, not %d x %d: resized to %d x %d "
               "(bilinear) and centre-cropped at left %d, top %d\n",
               path, w, h, res, res, sw, sh, left, top);
    }
  else if (w != res || h != res)
    fprintf (stderr,
             "magvlt vq encode: note: %s is %d x %d, not %d x %d: centre-cropped at left %d, "
             "top %d\n",
             path, w, h, res, res, left, top);

  GdkPixbuf *src = pb;
  if (scaled)
    src = scaled, top = left = 0;
  cli_image_to_rgb (src, left, top, res, res, rgb);
  return TRUE;
}

static int
vq_encode (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *image_path = NULL, *raw_path = NULL;
  gboolean json = FALSE;
  int n_threads = 0;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF) with a VQGAN (default $MAGVLT_MODEL, else the installed default model)",
      "MODEL" },
    { "image", 'i', 0, G_OPTION_ARG_FILENAME, &image_path, "Image file", "IMAGE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the codes as one JSON object", NULL },
    { "raw", 0, 0, G_OPTION_ARG_FILENAME, &raw_path,
      "Also save the pre-quantisation latents [embed_dim, s, s]", "OUT.npy" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Threads (default: physical cores)", "N" },
    { NULL },
  };
  if (!cli_parse ("vq encode", "Encode an image into a grid of VQGAN codes.", encode_description,
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || !image_path || argc > 1)
    {
      fprintf (stderr, "magvlt vq encode: -m MODEL and -i IMAGE are required\n"
                       "Run `magvlt vq encode --help` for usage.\n");
      return CLI_EXIT_USAGE;
    }
  if (n_threads < 0 || n_threads > 1024)
    {
      fprintf (stderr, "magvlt vq encode: --threads must be 0..1024\n");
      return CLI_EXIT_USAGE;
    }

  double t0 = cli_now_ms ();
  g_autoptr (GdkPixbuf) pb = read_image (image_path);
  if (!pb)
    return CLI_EXIT_FAILED;
  double t_read = cli_now_ms () - t0;

  vq_session vs;
  if (!vq_session_open (&vs, "vq encode", model_path, n_threads))
    return CLI_EXIT_FAILED;
  int res = vs.info.image_resolution, s = vs.info.image_grid, d = vs.info.vq_embed_dim;
  g_autofree uint8_t *rgb = g_new (uint8_t, (size_t) res * res * 3);
  g_autofree int32_t *codes = g_new (int32_t, (size_t) s * s);
  g_autofree float *pre_quant = raw_path ? g_new (float, (size_t) d *s *s) : NULL;
  int rc = CLI_EXIT_FAILED;

  t0 = cli_now_ms ();
  if (!prepare_image (pb, image_path, res, rgb))
    goto out;
  fprintf (stderr, "image: %.1f ms (read %.1f ms)\n", t_read + cli_now_ms () - t0, t_read);

  magvlt_vq_encode_output eo = { .codes = codes, .pre_quant = pre_quant };
  t0 = cli_now_ms ();
  magvlt_status st = magvlt_vq_encode (vs.ctx, rgb, (size_t) res * 3, &eo);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt vq encode: %s: %s\n", magvlt_status_str (st),
               magvlt_context_last_error (vs.ctx));
      goto out;
    }
  fprintf (stderr, "encode: %.1f ms\n", cli_now_ms () - t0);

  if (raw_path && !save_npy ("vq encode", raw_path, pre_quant, d, s, s))
    goto out;
  if (json)
    {
      printf ("{\"grid\": [%d, %d], \"codes\": [", s, s);
      for (int i = 0; i < s * s; i++)
        printf ("%s%d", i ? ", " : "", codes[i]);
      printf ("]}\n");
    }
  else
    {
      int width = snprintf (NULL, 0, "%d", vs.info.vocab_size_img - 1);
      for (int r = 0; r < s; r++)
        for (int c = 0; c < s; c++)
          printf ("%*d%c", width, codes[r * s + c], c + 1 < s ? ' ' : '\n');
    }
  if (fflush (stdout) != 0 || ferror (stdout))
    {
      fprintf (stderr, "magvlt vq encode: cannot write the codes: %s\n", g_strerror (errno));
      goto out;
    }
  rc = CLI_EXIT_OK;
out:
  vq_session_clear (&vs);
  return rc;
}

/* ---- decode --------------------------------------------------------------- */

/* The codes of a code file, before they are checked against a model. */
typedef struct {
  GArray *codes;         /* gint64 */
  int rows, cols;        /* from "grid" or the nesting; 0 when not given */
  const char *rows_from; /* "grid" or "nesting" */
} code_file;

static gboolean code_fail (GError **error, const char *path, const char *fmt, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
code_fail (GError **error, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", path, msg);
  return FALSE;
}

/* Appends one integer element; what names it in messages. */
static gboolean
take_int (JsonNode *e, GArray *codes, const char *path, const char *what, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
    {
      g_autofree char *text = json_to_string (e, FALSE);
      if (strlen (text) > 40)
        strcpy (text + 36, " ...");
      return code_fail (error, path, "%s is %s, not an integer code", what, text);
    }
  gint64 v = json_node_get_int (e);
  g_array_append_val (codes, v);
  return TRUE;
}

/* A flat array of integers or an array of equally long arrays of integers. */
static gboolean
take_codes (JsonArray *a, code_file *cf, const char *path, const char *name, GError **error)
{
  guint n = json_array_get_length (a);
  if (n == 0)
    return code_fail (error, path, "%s is empty", name);
  gboolean nested = JSON_NODE_HOLDS_ARRAY (json_array_get_element (a, 0));
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!nested)
        {
          g_autofree char *what = g_strdup_printf ("%s[%u]", name, i);
          if (!take_int (e, cf->codes, path, what, error))
            return FALSE;
          continue;
        }
      if (!JSON_NODE_HOLDS_ARRAY (e))
        return code_fail (error, path,
                          "%s[%u] is not an array, but %s[0] is (give either integers or rows "
                          "of integers)",
                          name, i, name);
      JsonArray *row = json_node_get_array (e);
      guint m = json_array_get_length (row);
      if (i > 0 && (int) m != cf->cols)
        return code_fail (error, path, "%s[%u] has %u codes, but %s[0] has %d", name, i, m, name,
                          cf->cols);
      cf->cols = (int) m;
      for (guint j = 0; j < m; j++)
        {
          g_autofree char *what = g_strdup_printf ("%s[%u][%u]", name, i, j);
          if (!take_int (json_array_get_element (row, j), cf->codes, path, what, error))
            return FALSE;
        }
    }
  if (nested)
    {
      cf->rows = (int) n;
      cf->rows_from = "nesting";
    }
  return TRUE;
}

/* Reads and parses a code file; the checks against the model come later. */
static gboolean
read_code_file (const char *path, code_file *cf, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  memset (cf, 0, sizeof *cf);
  cf->codes = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (!g_file_get_contents (path, &text, &len, error))
    return FALSE;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &parse_error))
    {
      /* json-glib names the input "<data>"; name the file instead */
      const char *m = parse_error->message;
      if (g_str_has_prefix (m, "<data>:"))
        m += strlen ("<data>:");
      return code_fail (error, path, "not valid JSON: %s", m);
    }
  JsonNode *root = json_parser_get_root (parser);
  if (!root)
    return code_fail (error, path, "holds no JSON value");
  if (JSON_NODE_HOLDS_ARRAY (root))
    return take_codes (json_node_get_array (root), cf, path, "codes", error);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return code_fail (error, path,
                      "must hold an object {\"grid\": [s, s], \"codes\": [...]} or an array "
                      "of codes");
  JsonObject *o = json_node_get_object (root);
  JsonNode *cn = json_object_get_member (o, "codes");
  if (!cn || !JSON_NODE_HOLDS_ARRAY (cn))
    return code_fail (error, path, "the object has no array member \"codes\"");
  if (!take_codes (json_node_get_array (cn), cf, path, "codes", error))
    return FALSE;
  JsonNode *gn = json_object_get_member (o, "grid");
  if (gn)
    {
      JsonArray *g = JSON_NODE_HOLDS_ARRAY (gn) ? json_node_get_array (gn) : NULL;
      gint64 gv[2] = { 0, 0 };
      for (guint i = 0; g && i < 2 && json_array_get_length (g) == 2; i++)
        {
          JsonNode *e = json_array_get_element (g, i);
          if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64)
            gv[i] = json_node_get_int (e);
        }
      if (gv[0] <= 0 || gv[1] <= 0 || gv[0] > G_MAXINT / 2 || gv[1] > G_MAXINT / 2)
        return code_fail (error, path, "\"grid\" must be [rows, columns], two positive integers");
      if (cf->rows && (cf->rows != gv[0] || cf->cols != gv[1]))
        return code_fail (error, path, "\"grid\" is [%d, %d] but \"codes\" has %d rows of %d",
                          (int) gv[0], (int) gv[1], cf->rows, cf->cols);
      cf->rows = (int) gv[0];
      cf->cols = (int) gv[1];
      cf->rows_from = "grid";
    }
  return TRUE;
}

/* Checks the codes against the model's grid and codebook into out [s·s]. */
static gboolean
check_codes (const code_file *cf, const char *path, const magvlt_model_info *in, int32_t *out,
             GError **error)
{
  int s = in->image_grid, n = (int) cf->codes->len;
  if (cf->rows && (cf->rows != s || cf->cols != s))
    return code_fail (error, path,
                      "the code grid is %d x %d (from its %s); this model's is %d x %d", cf->rows,
                      cf->cols, cf->rows_from, s, s);
  if (n != s * s)
    return code_fail (error, path, "holds %d codes; this model needs %d (a %d x %d grid)", n, s * s,
                      s, s);
  for (int i = 0; i < n; i++)
    {
      gint64 v = g_array_index (cf->codes, gint64, i);
      if (v < 0 || v >= in->vocab_size_img)
        return code_fail (error, path,
                          "code %" G_GINT64_FORMAT " at row %d, column %d (index %d) is outside "
                          "the codebook (0..%d)",
                          v, i / s, i % s, i, in->vocab_size_img - 1);
      out[i] = (int32_t) v;
    }
  return TRUE;
}

/* As the jobs write theirs: atomically, so a failure leaves no partial PNG. */
static gboolean
write_png (const char *path, const uint8_t *rgb, int res, GError **error)
{
  g_autofree char *software = g_strdup_printf ("magvlt vq decode %d.%d.%d", MAGVLT_VERSION_MAJOR,
                                               MAGVLT_VERSION_MINOR, MAGVLT_VERSION_MICRO);
  char *keys[] = { "Software", NULL }, *values[] = { software, NULL };

  return cli_png_write_atomic (path, rgb, res, res, (size_t) res * 3, keys, values, error);
}

static int
vq_decode (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *codes_path = NULL, *out_path = NULL, *raw_path = NULL;
  int n_threads = 0;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (GGUF) with a VQGAN (default $MAGVLT_MODEL, else the installed default model)",
      "MODEL" },
    { "codes", 0, 0, G_OPTION_ARG_FILENAME, &codes_path, "Code grid (JSON, see below)",
      "CODES.json" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_path, "Output image (PNG)", "OUT.png" },
    { "output", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &out_path, NULL, NULL },
    { "raw", 0, 0, G_OPTION_ARG_FILENAME, &raw_path,
      "Also save the decoder's float output [3, R, R]", "OUT.npy" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Threads (default: physical cores)", "N" },
    { NULL },
  };
  if (!cli_parse ("vq decode", "Decode a grid of VQGAN codes into an image.", decode_description,
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (!model_path)
    model_path = cli_default_model ();
  if (!model_path || !codes_path || !out_path || argc > 1)
    {
      fprintf (stderr, "magvlt vq decode: -m MODEL, --codes CODES.json and -o OUT.png are "
                       "required\nRun `magvlt vq decode --help` for usage.\n");
      return CLI_EXIT_USAGE;
    }
  if (n_threads < 0 || n_threads > 1024)
    {
      fprintf (stderr, "magvlt vq decode: --threads must be 0..1024\n");
      return CLI_EXIT_USAGE;
    }

  g_autoptr (GError) error = NULL;
  code_file cf;
  if (!check_input_file ("vq decode", codes_path, "the code file", VQ_MAX_CODES_FILE))
    return CLI_EXIT_FAILED;
  if (!read_code_file (codes_path, &cf, &error))
    {
      fprintf (stderr, "magvlt vq decode: %s\n", error->message);
      g_array_unref (cf.codes);
      return CLI_EXIT_FAILED;
    }

  vq_session vs;
  if (!vq_session_open (&vs, "vq decode", model_path, n_threads))
    {
      g_array_unref (cf.codes);
      return CLI_EXIT_FAILED;
    }
  int res = vs.info.image_resolution, s = vs.info.image_grid;
  g_autofree int32_t *codes = g_new (int32_t, (size_t) s * s);
  g_autofree uint8_t *rgb = g_new (uint8_t, (size_t) res * res * 3);
  g_autofree float *raw = raw_path ? g_new (float, (size_t) 3 * res * res) : NULL;
  int rc = CLI_EXIT_FAILED;
  if (!check_codes (&cf, codes_path, &vs.info, codes, &error))
    {
      fprintf (stderr, "magvlt vq decode: %s\n", error->message);
      goto out;
    }

  double t0 = cli_now_ms ();
  magvlt_status st = magvlt_vq_decode (vs.ctx, codes, rgb, (size_t) res * 3, raw);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt vq decode: %s: %s\n", magvlt_status_str (st),
               magvlt_context_last_error (vs.ctx));
      goto out;
    }
  fprintf (stderr, "decode: %.1f ms\n", cli_now_ms () - t0);

  t0 = cli_now_ms ();
  if (!write_png (out_path, rgb, res, &error))
    {
      fprintf (stderr, "magvlt vq decode: cannot write %s: %s\n", out_path,
               error ? error->message : "out of memory");
      goto out;
    }
  fprintf (stderr, "png: %.1f ms\n", cli_now_ms () - t0);
  if (raw_path && !save_npy ("vq decode", raw_path, raw, 3, res, res))
    goto out;
  rc = CLI_EXIT_OK;
out:
  g_array_unref (cf.codes);
  vq_session_clear (&vs);
  return rc;
}

/* ---- dispatch ------------------------------------------------------------- */

int
cli_vq (int argc, char **argv)
{
  if (argc < 2)
    {
      fputs (vq_usage, stderr);
      return CLI_EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      fputs (vq_usage, stdout);
      return CLI_EXIT_OK;
    }
  if (strcmp (argv[1], "encode") == 0)
    return vq_encode (argc - 1, argv + 1);
  if (strcmp (argv[1], "decode") == 0)
    return vq_decode (argc - 1, argv + 1);
  fprintf (stderr, "magvlt vq: unknown command '%s'\n\n%s", argv[1], vq_usage);
  return CLI_EXIT_USAGE;
}
