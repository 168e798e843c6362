/* fuzz-tmpfile.c — see fuzz-tmpfile.h.
 * SPDX-License-Identifier: MIT */
#include "fuzz-tmpfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_path[64];
static int tmp_fd = -1;

static void
remove_tmp (void)
{
  if (tmp_fd >= 0)
    unlink (tmp_path);
}

const char *
fuzz_tmpfile_write (const char *tag, const uint8_t *data, size_t size)
{
  if (tmp_fd < 0)
    {
      snprintf (tmp_path, sizeof tmp_path, "/tmp/fuzz-%.16s-XXXXXX", tag);
      tmp_fd = mkstemp (tmp_path);
      if (tmp_fd < 0)
        return NULL;
      atexit (remove_tmp);
    }
  if (ftruncate (tmp_fd, 0) != 0 || pwrite (tmp_fd, data, size, 0) != (ssize_t) size)
    return NULL;
  return tmp_path;
}
