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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char tmp_path[64];
static int tmp_fd = -1;

static void
remove_tmp (void)
{
  if (tmp_fd >= 0)
    unlink (tmp_path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (tmp_fd < 0)
    {
      snprintf (tmp_path, sizeof tmp_path, "/tmp/fuzz-yaml-XXXXXX");
      tmp_fd = mkstemp (tmp_path);
      if (tmp_fd < 0)
        return 0;
      atexit (remove_tmp);
    }
  if (ftruncate (tmp_fd, 0) != 0 || pwrite (tmp_fd, data, size, 0) != (ssize_t) size)
    return 0;
  cv_config c;
  if (cv_config_read_yaml (tmp_path, &c) != MAGVLT_OK)
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
