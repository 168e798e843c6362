/* threads.h — thread-count helpers.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_THREADS_H
#define MAGVLT_THREADS_H

/* Physical cores (not hyper-threads) available to this process; ≥ 1. */
int mv_physical_cores (void);

/* CPUs (hardware threads) this process may run on; ≥ 1. */
int mv_available_cpus (void);

/* Sets the thread count the BLAS library may use for large products
 * (process-wide in OpenBLAS, so it is set again at the start of every job).
 * The setting reaches OpenBLAS at the next mv_blas_threads_for_flop. */
void mv_blas_set_threads (int n);

/* Called before each BLAS product of `flop` floating-point operations made
 * outside the context's pool (the VQGAN's attention and nearest-code
 * search, and the serial fallbacks; the transformer and the convolutions
 * run OpenBLAS on one thread inside pool tasks, pool.h):
 * products below MV_BLAS_SPLIT_FLOP run on one thread, larger ones on the
 * count of mv_blas_set_threads. Splitting a small product costs more than
 * it saves: its threads meet at a barrier every few microseconds of work,
 * and on a busy machine one of them is often waiting for its core (the
 * default model's forward took 40 ms on one thread and 125 ms on two).
 * $MAGVLT_BLAS_SPLIT_MFLOP (read once; 0 = always split, as before)
 * overrides the threshold, for measuring. */
void mv_blas_threads_for_flop (double flop);

/* OpenBLAS on one thread for the products that follow (the pool's tasks,
 * which are the parallelism themselves). */
void mv_blas_one_thread (void);

/* 2·M·N·K below which a product stays on one thread: 100 MFLOP, about a
 * millisecond of one core's sgemm; the largest product of the default
 * model is 52 MFLOP, the smallest linear layer of MAGVLT-base 680 MFLOP. */
#define MV_BLAS_SPLIT_FLOP 1e8

#endif
