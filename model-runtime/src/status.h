/* status.h — error reporting and logging inside libmagvlt.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_STATUS_H
#define MAGVLT_STATUS_H

#include "magvlt.h"

#if defined(__GNUC__)
#define MV_PRINTF(a, b) __attribute__ ((format (printf, a, b)))
#else
#define MV_PRINTF(a, b)
#endif

/* Records a message as this thread's last error and returns status, so a
 * failure reads `return mv_fail (MAGVLT_ERR_FORMAT, "...", ...);`. */
magvlt_status mv_fail (magvlt_status status, const char *fmt, ...) MV_PRINTF (2, 3);

/* Prefixes the current last-error message ("model.gguf: <old message>"). */
void mv_error_prefix (const char *fmt, ...) MV_PRINTF (1, 2);

void mv_error_clear (void);

/* Sends a message to callback, or to stderr (warnings and errors only) when
 * callback is NULL. */
void mv_log (magvlt_log_callback callback, void *user_data, magvlt_log_level level, const char *fmt,
             ...) MV_PRINTF (4, 5);

#endif
