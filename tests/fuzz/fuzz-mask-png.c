/* fuzz-mask-png.c — libFuzzer target for the app's mask import
 * (src/studio-mask.c, studio_mask_load_png, which reads a file through
 * GdkPixbuf): the input is written to a temporary file and loaded into a
 * 40 x 24 mask, which scales other sizes. GdkPixbuf and libpng are not
 * instrumented, so this covers the app's own code around them (size and
 * channel handling, alpha, scaling) with whatever the loaders return.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-mask-png` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-mask-png -max_total_time=600 CORPUS tests/fuzz/seeds-mask-png
 * SPDX-License-Identifier: MIT */
#include "fuzz-tmpfile.h"
#include "studio-mask.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_tmpfile_write ("mask-png", data, size);
  if (!path)
    return 0;
  StudioMask *mask = studio_mask_new (40, 24);
  gboolean resized = FALSE;
  GError *error = NULL;
  if (studio_mask_load_png (mask, path, &resized, &error))
    {
      volatile unsigned sum = 0;
      const guint8 *px = studio_mask_get_data (mask);
      for (int i = 0; i < 40 * 24; i++)
        sum += px[i];
      (void) sum;
    }
  g_clear_error (&error);
  g_object_unref (mask);
  return 0;
}
