/* expect.h — what the C tests print: an "ok  " or "FAIL" line per check and
 * "N passed, N failed" at the end (the line .ci/run and meson read), with
 * the exit status that goes with it. Header only: include it once, from the
 * test's own file.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_TESTS_EXPECT_H
#define MAGVLT_TESTS_EXPECT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int n_passed, n_failed;

static inline void
expect (bool ok, const char *what)
{
  printf ("%s %s\n", ok ? "ok  " : "FAIL", what);
  ok ? n_passed++ : n_failed++;
}

static inline bool
contains (const char *s, const char *part)
{
  return strstr (s, part) != NULL;
}

/* Prints the summary; the test's exit status. */
static inline int
expect_finish (void)
{
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}

#endif
