/* threads.h — thread-count helpers.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_THREADS_H
#define MAGVLT_THREADS_H

/* Physical cores (not hyper-threads) available to this process; ≥ 1. */
int mv_physical_cores (void);

/* Sets the thread count of the BLAS library (process-wide in OpenBLAS, so
 * it is set again at the start of every job). */
void mv_blas_set_threads (int n);

#endif
