/* status.c — status strings, the per-thread last-error message, logging.
 * SPDX-License-Identifier: MIT */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Thread-local so that two threads loading models never see each other's
 * messages; model loading has no context to hold it. */
static _Thread_local char last_error[1024];

const char *
magvlt_status_str (magvlt_status status)
{
  switch (status)
    {
    case MAGVLT_OK: return "success";
    case MAGVLT_ERR_INVALID_ARG: return "invalid argument";
    case MAGVLT_ERR_IO: return "input/output error";
    case MAGVLT_ERR_FORMAT: return "file format error";
    case MAGVLT_ERR_UNSUPPORTED: return "unsupported feature";
    case MAGVLT_ERR_NOMEM: return "out of memory";
    case MAGVLT_ABORTED: return "cancelled";
    case MAGVLT_ERR_INTERNAL: return "internal error";
    }
  return "unknown status";
}

const char *
magvlt_last_error (void)
{
  return last_error;
}

magvlt_status
mv_fail (magvlt_status status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  return status;
}

void
mv_error_prefix (const char *fmt, ...)
{
  char prefix[512];
  char old[sizeof last_error];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  memcpy (old, last_error, sizeof old);
  /* Truncation of an over-long message is intended; copy by hand so the
   * compiler does not warn about it. */
  size_t np = strlen (prefix), no = strlen (old);
  if (np > sizeof last_error - 1)
    np = sizeof last_error - 1;
  if (no > sizeof last_error - 1 - np)
    no = sizeof last_error - 1 - np;
  memcpy (last_error, prefix, np);
  memcpy (last_error + np, old, no);
  last_error[np + no] = '\0';
}

void
mv_error_clear (void)
{
  last_error[0] = '\0';
}

void
mv_log (magvlt_log_callback callback, void *user_data, magvlt_log_level level, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  if (!callback && level < MAGVLT_LOG_WARN)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (callback)
    callback (level, msg, user_data);
  else
    fprintf (stderr, "magvlt: %s\n", msg);
}
