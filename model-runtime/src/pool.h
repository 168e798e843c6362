/* pool.h — a context's worker threads: one parallel loop at a time.
 * SPDX-License-Identifier: MIT
 *
 * Why our own threads rather than OpenBLAS's: between two matrix products
 * the transformer runs layer norms, GELUs, softmaxes and weight conversions;
 * on OpenBLAS's threads those ran on the calling thread alone while the
 * other core spun in sched_yield (perf on the base geometry, 2 threads: 15 %
 * of the cycles in sched_yield, 20 % in the element-wise ops). With one pool
 * every stage of a block is split the same way, OpenBLAS is called on one
 * thread per task, and nothing spins on a core another thread needs.
 *
 * Tasks are claimed one at a time from a shared counter, so a thread that
 * the OS takes off its core for a while leaves its share to the others
 * instead of making everyone wait at the end (these machines are shared). */
#ifndef MAGVLT_POOL_H
#define MAGVLT_POOL_H

typedef struct mv_pool mv_pool;

/* fn runs once for every task in [0, n_tasks); `thread` is the index of the
 * thread running it, in [0, mv_pool_threads): per-thread scratch. */
typedef void (*mv_pool_fn) (void *arg, int task, int thread);

/* n_threads in all, the calling thread included (so n_threads - 1 workers
 * are started). NULL when the threads cannot be created. */
mv_pool *mv_pool_new (int n_threads);
void mv_pool_free (mv_pool *pool);
int mv_pool_threads (const mv_pool *pool);

/* Runs the n_tasks tasks on the pool and the calling thread and returns
 * when all are done. One caller at a time (a context is used by one thread
 * at a time). A NULL pool or a single task runs inline. */
void mv_pool_run (mv_pool *pool, int n_tasks, mv_pool_fn fn, void *arg);

#endif
