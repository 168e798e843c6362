/* cases.c — reading forward-pass case files with json-glib.
 * SPDX-License-Identifier: MIT */
#include "cases.h"

#include <json-glib/json-glib.h>
#include <string.h>

static gboolean
bad (GError **error, const char *path, const char *name, const char *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: case '%s': %s", path, name, what);
  return FALSE;
}

/* An array of integers as int32 (NULL + error when the member is missing or
 * holds anything else). */
static int32_t *
int_array (JsonObject *o, const char *member, int *n_out)
{
  if (!json_object_has_member (o, member))
    return NULL;
  JsonNode *node = json_object_get_member (o, member);
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  JsonArray *a = json_node_get_array (node);
  int n = (int) json_array_get_length (a);
  int32_t *v = g_new0 (int32_t, n > 0 ? n : 1);
  for (int i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (a, (guint) i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
        {
          g_free (v);
          return NULL;
        }
      gint64 x = json_node_get_int (e);
      if (x < G_MININT32 || x > G_MAXINT32)
        {
          g_free (v);
          return NULL;
        }
      v[i] = (int32_t) x;
    }
  *n_out = n;
  return v;
}

/* Turns a list of masked positions into per-slot flags. */
static uint8_t *
mask_from_positions (JsonObject *o, const char *member, int n_slots, gboolean *ok)
{
  int n = 0;
  g_autofree int32_t *pos = int_array (o, member, &n);
  uint8_t *m = g_new0 (uint8_t, n_slots > 0 ? n_slots : 1);
  *ok = pos != NULL;
  for (int i = 0; *ok && i < n; i++)
    {
      if (pos[i] < 0 || pos[i] >= n_slots)
        *ok = FALSE;
      else
        m[pos[i]] = 1;
    }
  return m;
}

static gboolean
parse_case (const char *path, const char *name, JsonObject *o, mv_case *c, GError **error)
{
  gboolean ok;
  c->name = g_strdup (name);
  const char *layout = json_object_get_string_member_with_default (o, "layout", "");
  if (g_str_equal (layout, "T2I"))
    c->layout = MAGVLT_LAYOUT_T2I;
  else if (g_str_equal (layout, "I2T"))
    c->layout = MAGVLT_LAYOUT_I2T;
  else
    return bad (error, path, name, "layout must be \"T2I\" or \"I2T\"");
  if (!(c->image_ids = int_array (o, "image_ids", &c->n_img)))
    return bad (error, path, name, "image_ids must be an array of integers");
  if (!(c->text_ids = int_array (o, "text_ids", &c->n_txt)))
    return bad (error, path, name, "text_ids must be an array of integers");
  c->image_masked = mask_from_positions (o, "image_masked_positions", c->n_img, &ok);
  if (!ok)
    return bad (error, path, name, "image_masked_positions must list image slots");
  c->text_masked = mask_from_positions (o, "text_masked_positions", c->n_txt, &ok);
  if (!ok)
    return bad (error, path, name, "text_masked_positions must list text slots");
  JsonNode *n = json_object_get_member (o, "text_valid_len");
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return bad (error, path, name, "text_valid_len must be an integer");
  gint64 tv = json_node_get_int (n);
  if (tv < 0 || tv > c->n_txt)
    return bad (error, path, name, "text_valid_len must be between 0 and the number of text ids");
  c->text_valid_len = (int32_t) tv;
  if (json_object_has_member (o, "text_padding_positions_global")
      && !(c->padding_rows = int_array (o, "text_padding_positions_global", &c->n_padding)))
    return bad (error, path, name, "text_padding_positions_global must be an array of integers");
  return TRUE;
}

gboolean
mv_case_file_load (const char *path, mv_case_file *out, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();

  memset (out, 0, sizeof *out);
  if (!json_parser_load_from_file (parser, path, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *cases = NULL;
  if (root && JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *ro = json_node_get_object (root);
      if (json_object_has_member (ro, "stage2_cases")
          && JSON_NODE_HOLDS_OBJECT (json_object_get_member (ro, "stage2_cases")))
        cases = json_object_get_object_member (ro, "stage2_cases");
    }
  if (!cases)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: no \"stage2_cases\" object (see `magvlt forward --help`)", path);
      return FALSE;
    }
  GList *names = json_object_get_members (cases);
  out->n_cases = (int) g_list_length (names);
  out->cases = g_new0 (mv_case, out->n_cases > 0 ? out->n_cases : 1);
  int i = 0;
  for (GList *l = names; l; l = l->next, i++)
    {
      JsonNode *cn = json_object_get_member (cases, l->data);
      if (!JSON_NODE_HOLDS_OBJECT (cn))
        {
          bad (error, path, l->data, "not an object");
          g_list_free (names);
          mv_case_file_clear (out);
          return FALSE;
        }
      if (!parse_case (path, l->data, json_node_get_object (cn), &out->cases[i], error))
        {
          g_list_free (names);
          mv_case_file_clear (out);
          return FALSE;
        }
    }
  g_list_free (names);
  return TRUE;
}

void
mv_case_file_clear (mv_case_file *f)
{
  for (int i = 0; i < f->n_cases; i++)
    {
      mv_case *c = &f->cases[i];
      g_free (c->name);
      g_free (c->image_ids);
      g_free (c->image_masked);
      g_free (c->text_ids);
      g_free (c->text_masked);
      g_free (c->padding_rows);
    }
  g_free (f->cases);
  memset (f, 0, sizeof *f);
}

gboolean
mv_case_check (const mv_case *c, const magvlt_model_info *info, GError **error)
{
  if (c->n_img != info->ctx_len_img || c->n_txt != info->ctx_len_txt)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "case '%s' has %d image and %d text ids, but the model takes %d and %d", c->name,
                   c->n_img, c->n_txt, info->ctx_len_img, info->ctx_len_txt);
      return FALSE;
    }
  return TRUE;
}

magvlt_forward_input
mv_case_input (const mv_case *c)
{
  magvlt_forward_input in = {
    .layout = c->layout,
    .image_ids = c->image_ids,
    .image_masked = c->image_masked,
    .text_ids = c->text_ids,
    .text_masked = c->text_masked,
    .text_valid_len = c->text_valid_len,
  };
  return in;
}
