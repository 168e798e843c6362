/* cases.h — forward-pass case files (the schema of the official fixtures'
 * cases.json: stage2_cases.<name> with layout, image/text ids, masked
 * positions and text_valid_len).
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_CASES_H
#define MAGVLT_CASES_H

#include "magvlt.h"

#include <glib.h>

typedef struct {
  char *name;
  magvlt_layout layout;
  int n_img, n_txt;
  int32_t *image_ids;
  uint8_t *image_masked;
  int32_t *text_ids;
  uint8_t *text_masked;
  int32_t text_valid_len;
  int n_padding;
  int32_t *padding_rows; /* text_padding_positions_global */
} mv_case;

typedef struct {
  int n_cases;
  mv_case *cases;
} mv_case_file;

gboolean mv_case_file_load (const char *path, mv_case_file *out, GError **error);
void mv_case_file_clear (mv_case_file *f);

/* Checks a case against a model's geometry. */
gboolean mv_case_check (const mv_case *c, const magvlt_model_info *info, GError **error);

/* The magvlt_forward_input of a case (pointers into the case). */
magvlt_forward_input mv_case_input (const mv_case *c);

#endif
