/* convert_config.c — the converter's configuration: the official sampling
 * YAML (read with libyaml's document API) and the base / large presets. The
 * expected tensor tables derived from a geometry are in convert_layout.c.
 * SPDX-License-Identifier: MIT */
#include "convert.h"

#include "sampling_range.h"

#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define CV_MAX_YAML (1u << 20)

static const cv_sampling sampling_keys[CV_N_SAMPLING] = {
  { "img_num_cand_samples", CV_U32 },
  { "img_num_steps", CV_U32 },
  { "img_temperature_start", CV_F32 },
  { "img_temperature_end", CV_F32 },
  { "img_mult_temperature_start", CV_F32 },
  { "img_mult_temperature_end", CV_F32 },
  { "img_mask_sample_method", CV_STR },
  { "txt_num_cand_samples", CV_U32 },
  { "txt_sample_size", CV_U32 },
  { "txt_num_steps", CV_U32 },
  { "txt_temperature", CV_F32 },
  { "txt_top_k", CV_U32 },
  { "txt_top_p", CV_F32 },
  { "txt_max_len", CV_U32 },
  { "txt_sample_method", CV_STR },
  { "txt_mask_sample_method", CV_STR },
  /* not in the official YAMLs: our trainer's exporter writes it for the
   * default model (magvlt_sampling_params.image_guidance) */
  { "img_guidance_scale", CV_F32 },
};

static void
sampling_init (cv_config *c)
{
  memcpy (c->sampling, sampling_keys, sizeof sampling_keys);
}

static void
set_u (cv_config *c, const char *key, uint32_t u)
{
  for (int i = 0; i < CV_N_SAMPLING; i++)
    if (strcmp (c->sampling[i].key, key) == 0)
      c->sampling[i].u = u, c->sampling[i].f = (float) u, c->sampling[i].set = true;
}

static void
set_f (cv_config *c, const char *key, float f)
{
  for (int i = 0; i < CV_N_SAMPLING; i++)
    if (strcmp (c->sampling[i].key, key) == 0)
      c->sampling[i].f = f, c->sampling[i].set = true;
}

static void
set_s (cv_config *c, const char *key, const char *s)
{
  for (int i = 0; i < CV_N_SAMPLING; i++)
    if (strcmp (c->sampling[i].key, key) == 0)
      {
        snprintf (c->sampling[i].s, sizeof c->sampling[i].s, "%s", s);
        c->sampling[i].set = true;
      }
}

magvlt_status
cv_config_preset (const char *name, cv_config *c)
{
  memset (c, 0, sizeof *c);
  sampling_init (c);
  if (!cv_official_geometry (name, &c->s2, &c->s1))
    return mv_fail (MAGVLT_ERR_INVALID_ARG, "unknown preset '%s' (use base or large)", name);
  c->preset = strcmp (name, "large") == 0 ? "large" : "base";
  c->has_stage2 = c->has_stage1 = true;
  /* configs/magvlt-it2it-{base,large}-sampling.yaml (spec §3.6) */
  set_u (c, "img_num_cand_samples", 32);
  set_u (c, "img_num_steps", 10);
  set_f (c, "img_temperature_start", 1.4f);
  set_f (c, "img_temperature_end", 0.6f);
  set_f (c, "img_mult_temperature_start", 2.0f);
  set_f (c, "img_mult_temperature_end", 0.2f);
  set_s (c, "img_mask_sample_method", "multinomial-maskgit");
  set_u (c, "txt_num_cand_samples", 64);
  set_u (c, "txt_sample_size", 32);
  set_u (c, "txt_num_steps", 12);
  set_f (c, "txt_temperature", 0.1f);
  set_u (c, "txt_top_k", 32);
  set_f (c, "txt_top_p", 0.0f);
  set_u (c, "txt_max_len", 64);
  set_s (c, "txt_sample_method", "sample_rerank");
  set_s (c, "txt_mask_sample_method", "sample");
  return MAGVLT_OK;
}

/* ---- YAML ---------------------------------------------------------------- */

typedef struct {
  yaml_document_t doc;
  const char *path;
} ydoc;

static yaml_node_t *
ymap_get (ydoc *d, yaml_node_t *map, const char *key)
{
  if (!map || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
    {
      yaml_node_t *k = yaml_document_get_node (&d->doc, p->key);
      if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen (key)
          && memcmp (k->data.scalar.value, key, k->data.scalar.length) == 0)
        return yaml_document_get_node (&d->doc, p->value);
    }
  return NULL;
}

static const char *
scalar (yaml_node_t *n)
{
  if (!n || n->type != YAML_SCALAR_NODE
      || strlen ((const char *) n->data.scalar.value) != n->data.scalar.length)
    return NULL;
  return (const char *) n->data.scalar.value;
}

static magvlt_status
get_int (ydoc *d, yaml_node_t *map, const char *section, const char *key, int64_t lo, int64_t hi,
         int32_t *out)
{
  yaml_node_t *n = ymap_get (d, map, key);
  if (!n)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "%s: %s.%s is missing (the official magvlt-it2it-*-sampling.yaml schema has "
                    "it)",
                    d->path, section, key);
  const char *s = scalar (n);
  char *end;
  errno = 0;
  long long v = s ? strtoll (s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: %s.%s is %s%s%s; expected an integer in %lld .. %lld",
                    d->path, section, key, s ? "'" : "not a scalar", s ? s : "", s ? "'" : "",
                    (long long) lo, (long long) hi);
  *out = (int32_t) v;
  return MAGVLT_OK;
}

static magvlt_status
get_int_list (ydoc *d, yaml_node_t *map, const char *section, const char *key, int32_t *out,
              int32_t *n)
{
  yaml_node_t *l = ymap_get (d, map, key);
  if (!l || l->type != YAML_SEQUENCE_NODE)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: %s.%s is %s; expected a list of integers", d->path,
                    section, key, l ? "not a list" : "missing");
  *n = 0;
  for (yaml_node_item_t *it = l->data.sequence.items.start; it < l->data.sequence.items.top; it++)
    {
      const char *s = scalar (yaml_document_get_node (&d->doc, *it));
      char *end;
      errno = 0;
      long long v = s ? strtoll (s, &end, 10) : 0;
      if (!s || !*s || *end || errno || v < 1 || v > 65536)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: %s.%s holds '%s', not an integer in 1 .. 65536",
                        d->path, section, key, s ? s : "(not a scalar)");
      if (*n >= CV_MAX_LEVELS)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: %s.%s has more than %d entries", d->path, section,
                        key, CV_MAX_LEVELS);
      out[(*n)++] = (int32_t) v;
    }
  if (*n == 0)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: %s.%s is empty", d->path, section, key);
  return MAGVLT_OK;
}

static bool
parse_bool (const char *s, bool *out)
{
  static const char *yes[] = { "true", "True", "TRUE", "yes", "Yes", "on" };
  static const char *no[] = { "false", "False", "FALSE", "no", "No", "off" };
  for (size_t i = 0; i < 6; i++)
    {
      if (strcmp (s, yes[i]) == 0)
        return *out = true, true;
      if (strcmp (s, no[i]) == 0)
        return *out = false, true;
    }
  return false;
}

static magvlt_status
read_stage2 (ydoc *d, yaml_node_t *root, cv_config *c)
{
  yaml_node_t *s2 = ymap_get (d, root, "stage2"), *hp = ymap_get (d, s2, "hparams");
  magvlt_status st;
  if (!s2 || !hp)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: no stage2%s section (the official schema has one)",
                    d->path, s2 ? ".hparams" : "");
  cv_stage2 *g = &c->s2;
  if ((st = get_int (d, hp, "stage2.hparams", "embed_dim", 1, 65536, &g->embed_dim))
      || (st = get_int (d, hp, "stage2.hparams", "n_layers", 1, 1024, &g->n_layers))
      || (st = get_int (d, hp, "stage2.hparams", "n_heads", 1, 1024, &g->n_heads))
      || (st = get_int (d, hp, "stage2.hparams", "ctx_len_img", 1, 65536, &g->ctx_len_img))
      || (st = get_int (d, hp, "stage2.hparams", "ctx_len_txt", 1, 4096, &g->ctx_len_txt))
      || (st = get_int (d, s2, "stage2", "vocab_size_img", 1, 1 << 22, &g->vocab_size_img))
      || (st = get_int (d, s2, "stage2", "vocab_size_txt", 1, 1 << 22, &g->vocab_size_txt)))
    return st;
  /* what the engine implements; other values would need another forward pass */
  static const struct {
    const char *key, *want;
  } fixed[] = {
    { "gelu_use_approx", "False" }, { "use_spc_pos", "True" },      { "pos_emb_img_mode", "la1d" },
    { "pos_emb_txt_mode", "la1d" }, { "pos_emb_spc_mode", "la1d" }, { "mlp_bias", "True" },
    { "attn_bias", "True" },
  };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    {
      const char *s = scalar (ymap_get (d, hp, fixed[i].key));
      bool b, w;
      if (!s)
        continue;
      if (parse_bool (fixed[i].want, &w) ? !parse_bool (s, &b) || b != w
                                         : strcmp (s, fixed[i].want) != 0)
        return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                        "%s: stage2.hparams.%s is '%s'; the engine implements the official "
                        "'%s' only",
                        d->path, fixed[i].key, s, fixed[i].want);
    }
  c->has_stage2 = true;
  return MAGVLT_OK;
}

static magvlt_status
read_stage1 (ydoc *d, yaml_node_t *root, cv_config *c)
{
  yaml_node_t *s1 = ymap_get (d, root, "stage1"), *dd = ymap_get (d, s1, "hparams");
  magvlt_status st;
  if (!s1 || !dd)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: no stage1%s section (the official schema has one)",
                    d->path, s1 ? ".hparams" : "");
  cv_vqgan *v = &c->s1;
  if ((st = get_int (d, s1, "stage1", "embed_dim", 1, 4096, &v->embed_dim))
      || (st = get_int (d, s1, "stage1", "n_embed", 1, 1 << 22, &v->n_embed))
      || (st = get_int (d, dd, "stage1.hparams", "resolution", 1, 8192, &v->resolution))
      || (st = get_int (d, dd, "stage1.hparams", "in_channels", 1, 64, &v->in_channels))
      || (st = get_int (d, dd, "stage1.hparams", "out_ch", 1, 64, &v->out_ch))
      || (st = get_int (d, dd, "stage1.hparams", "ch", 1, 4096, &v->ch))
      || (st = get_int_list (d, dd, "stage1.hparams", "ch_mult", v->ch_mult, &v->n_levels))
      || (st = get_int (d, dd, "stage1.hparams", "num_res_blocks", 1, 16, &v->num_res_blocks))
      || (st = get_int_list (d, dd, "stage1.hparams", "attn_resolutions", v->attn_res, &v->n_attn))
      || (st = get_int (d, dd, "stage1.hparams", "z_channels", 1, 4096, &v->z_channels)))
    return st;
  const char *dz = scalar (ymap_get (d, dd, "double_z"));
  if (dz && !parse_bool (dz, &v->double_z))
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: stage1.hparams.double_z is '%s', not a boolean",
                    d->path, dz);
  if (v->double_z)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "%s: stage1.hparams.double_z is True; MAGVLT's VQGAN (and the engine) has "
                    "double_z False",
                    d->path);
  if (v->in_channels != 3 || v->out_ch != 3)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "%s: stage1.hparams in_channels/out_ch are %d/%d; the engine reads RGB (3/3)",
                    d->path, v->in_channels, v->out_ch);
  c->has_stage1 = true;
  return MAGVLT_OK;
}

static magvlt_status
read_sampling (ydoc *d, yaml_node_t *root, cv_config *c)
{
  yaml_node_t *s = ymap_get (d, root, "sampling");
  if (!s)
    return MAGVLT_OK;
  if (s->type != YAML_MAPPING_NODE)
    return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling is not a mapping", d->path);
  for (yaml_node_pair_t *p = s->data.mapping.pairs.start; p < s->data.mapping.pairs.top; p++)
    {
      const char *k = scalar (yaml_document_get_node (&d->doc, p->key));
      const char *v = scalar (yaml_document_get_node (&d->doc, p->value));
      cv_sampling *e = NULL;
      for (int i = 0; k && i < CV_N_SAMPLING; i++)
        if (strcmp (c->sampling[i].key, k) == 0)
          e = &c->sampling[i];
      if (!k)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: the sampling section has a key that is not text",
                        d->path);
      if (!e)
        {
          if (c->n_unknown_sampling < 8)
            snprintf (c->unknown_sampling[c->n_unknown_sampling], 64, "%s", k);
          c->n_unknown_sampling++;
          continue;
        }
      char *end;
      errno = 0;
      if (!v)
        return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling.%s is not a scalar", d->path, k);
      if (e->kind == CV_U32)
        {
          long long x = strtoll (v, &end, 10);
          if (!*v || *end || errno || x < 0 || x > 1000000)
            return mv_fail (MAGVLT_ERR_FORMAT,
                            "%s: sampling.%s is '%s'; expected an integer in 0 .. 1000000", d->path,
                            k, v);
          const char *why = mv_sampling_range_error (k, (double) x);
          if (why) /* the engine would refuse the file */
            return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling.%s is %lld; %s", d->path, k, x, why);
          e->u = (uint32_t) x;
        }
      else if (e->kind == CV_F32)
        {
          double x = strtod (v, &end);
          if (!*v || *end || errno || !isfinite (x) || x < 0.0 || x > 1e6)
            return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling.%s is '%s'; expected a number >= 0",
                            d->path, k, v);
          const char *why = mv_sampling_range_error (k, (double) (float) x);
          if (why)
            return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling.%s is %s; %s", d->path, k, v, why);
          e->f = (float) x;
        }
      else
        {
          if (strlen (v) >= sizeof e->s)
            return mv_fail (MAGVLT_ERR_FORMAT, "%s: sampling.%s is longer than %zu bytes", d->path,
                            k, sizeof e->s - 1);
          snprintf (e->s, sizeof e->s, "%s", v);
        }
      e->set = true;
    }
  return MAGVLT_OK;
}

magvlt_status
cv_config_read_yaml (const char *path, cv_config *c)
{
  memset (c, 0, sizeof *c);
  sampling_init (c);
  FILE *fp = fopen (path, "rb");
  if (!fp)
    return mv_fail (MAGVLT_ERR_IO, "%s: cannot open: %s", path, strerror (errno));
  struct stat sb;
  if (fstat (fileno (fp), &sb) != 0 || sb.st_size > CV_MAX_YAML)
    {
      fclose (fp);
      return mv_fail (MAGVLT_ERR_FORMAT, "%s: not a configuration (over 1 MiB)", path);
    }
  yaml_parser_t parser;
  ydoc d = { .path = path };
  if (!yaml_parser_initialize (&parser))
    {
      fclose (fp);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
    }
  yaml_parser_set_input_file (&parser, fp);
  if (!yaml_parser_load (&parser, &d.doc))
    {
      magvlt_status st = mv_fail (MAGVLT_ERR_FORMAT, "%s:%zu:%zu: YAML error: %s", path,
                                  parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                  parser.problem ? parser.problem : "unknown");
      yaml_parser_delete (&parser);
      fclose (fp);
      return st;
    }
  yaml_parser_delete (&parser);
  fclose (fp);
  yaml_node_t *root = yaml_document_get_root_node (&d.doc);
  magvlt_status st;
  if (!root || root->type != YAML_MAPPING_NODE)
    st = mv_fail (MAGVLT_ERR_FORMAT, "%s: not a YAML mapping (the official config is one)", path);
  else if ((st = read_stage1 (&d, root, c)) == MAGVLT_OK
           && (st = read_stage2 (&d, root, c)) == MAGVLT_OK)
    st = read_sampling (&d, root, c);
  yaml_document_delete (&d.doc);
  return st;
}
