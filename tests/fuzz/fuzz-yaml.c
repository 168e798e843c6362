/* fuzz-yaml.c — libFuzzer target for the converter's YAML configuration
 * reader (model-runtime/src/convert_config.c, cv_config_read_yaml, which
 * reads a path): the input is written to a temporary file and read; a
 * configuration that reads is also turned into the expected-tensor tables.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-yaml` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-yaml -max_total_time=600 CORPUS tests/fuzz/seeds-yaml
 * SPDX-License-Identifier: MIT */
#include "convert.h"
#include "fuzz-tmpfile.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_tmpfile_write ("yaml", data, size);
  if (!path)
    return 0;
  cv_config c;
  if (cv_config_read_yaml (path, &c) != MAGVLT_OK)
    return 0;
  cv_expect *t = NULL;
  size_t n = 0;
  if (c.has_stage1 && cv_vqgan_table (&c.s1, &t, &n) == MAGVLT_OK)
    free (t);
  t = NULL;
  if (c.has_stage2 && cv_stage2_table (&c.s2, 4 * 64, 8, &t, &n) == MAGVLT_OK)
    free (t);
  return 0;
}
