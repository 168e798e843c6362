/* convert_stub.c — magvlt_convert when libmagvlt is built without its
 * converter (meson -Dconverter=disabled, or libyaml / zlib / cJSON missing).
 * SPDX-License-Identifier: MIT */
#include "magvlt.h"
#include "status.h"

magvlt_convert_params
magvlt_convert_default_params (void)
{
  magvlt_convert_params p = { .weight_type = MAGVLT_WEIGHTS_F16, .palette = true };
  return p;
}

magvlt_status
magvlt_convert (const magvlt_convert_params *params, const char *out_path,
                magvlt_convert_stats *stats)
{
  (void) params, (void) out_path, (void) stats;
  return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                  "this libmagvlt was built without the checkpoint converter (it needs libyaml, "
                  "zlib and cJSON: meson -Dconverter=enabled)");
}
