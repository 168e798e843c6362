/* fuzz-tmpfile.h — for fuzz targets whose code under test reads a path:
 * one temporary file per process, rewritten with each input and removed at
 * exit.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes the input to this process's temporary file (made on the first call,
 * named after `tag`) and returns its path, or NULL when the file cannot be
 * made or written (the target then skips the input). */
const char *fuzz_tmpfile_write (const char *tag, const uint8_t *data, size_t size);
