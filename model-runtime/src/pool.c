/* pool.c — the worker threads of a context (see pool.h).
 * SPDX-License-Identifier: MIT
 *
 * One 64-bit word, the ticket, describes the loop in progress: a
 * generation (24 bits, +1 per mv_pool_run), the task count (20 bits) and the
 * next unclaimed task (20 bits). A thread claims a task with a
 * compare-and-swap on the whole word, so it can never claim a task of a loop
 * other than the one whose generation it read, and it reads fn and arg only
 * after a successful claim: the caller cannot have moved on to another loop
 * while a claimed task is unfinished. Workers spin briefly for the next loop
 * (the transformer starts one every few tens of microseconds), then sleep
 * on a condition variable. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause ()
#else
#define CPU_RELAX() ((void) 0)
#endif

#define TASK_BITS 20
#define TASK_MASK ((UINT64_C (1) << TASK_BITS) - 1)
#define MAX_TASKS ((int) TASK_MASK)
/* How long an idle worker spins before it sleeps: a few block stages. */
#define SPIN_NS 200000

#define TICKET(gen, n, next)                                                                       \
  (((uint64_t) (gen) << (2 * TASK_BITS)) | ((uint64_t) (n) << TASK_BITS) | (uint64_t) (next))
#define TICKET_GEN(t) ((t) >> (2 * TASK_BITS))
#define TICKET_N(t) ((int) (((t) >> TASK_BITS) & TASK_MASK))
#define TICKET_NEXT(t) ((int) ((t) &TASK_MASK))

typedef struct {
  mv_pool *pool;
  int index;
} worker_arg;

struct mv_pool {
  int n_threads;
  pthread_t *threads;
  worker_arg *args;
  _Atomic uint64_t ticket;
  atomic_int done; /* tasks finished in the current loop */
  atomic_int sleepers;
  atomic_bool stop;
  mv_pool_fn fn; /* of the current loop: read only after claiming a task */
  void *arg;
  pthread_mutex_t lock;
  pthread_cond_t wake;
};

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs tasks of generation gen until none is left. */
static void
work (mv_pool *pool, uint64_t gen, int index)
{
  uint64_t t = atomic_load (&pool->ticket);
  while (TICKET_GEN (t) == gen && TICKET_NEXT (t) < TICKET_N (t))
    {
      if (!atomic_compare_exchange_weak (&pool->ticket, &t, t + 1))
        continue; /* t now holds the current value */
      pool->fn (pool->arg, TICKET_NEXT (t), index);
      atomic_fetch_add (&pool->done, 1);
      t = atomic_load (&pool->ticket);
    }
}

/* Waits until the ticket's generation differs from seen; returns the new
 * ticket. */
static uint64_t
wait_for_loop (mv_pool *pool, uint64_t seen)
{
  int64_t start = now_ns ();
  for (int i = 0;; i++)
    {
      uint64_t t = atomic_load (&pool->ticket);
      if (TICKET_GEN (t) != seen)
        return t;
      CPU_RELAX ();
      if ((i & 63) == 63 && now_ns () - start > SPIN_NS)
        break;
    }
  pthread_mutex_lock (&pool->lock);
  atomic_fetch_add (&pool->sleepers, 1);
  uint64_t t;
  while (TICKET_GEN (t = atomic_load (&pool->ticket)) == seen)
    pthread_cond_wait (&pool->wake, &pool->lock);
  atomic_fetch_sub (&pool->sleepers, 1);
  pthread_mutex_unlock (&pool->lock);
  return t;
}

static void *
worker_main (void *p)
{
  worker_arg *wa = p;
  mv_pool *pool = wa->pool;
  /* generation 0 is the one the pool was created with, not the one read
   * here: loops (or mv_pool_free) may have come before this thread ran */
  uint64_t seen = 0;

  for (;;)
    {
      uint64_t t = wait_for_loop (pool, seen);
      seen = TICKET_GEN (t);
      if (atomic_load (&pool->stop))
        return NULL;
      work (pool, seen, wa->index);
    }
}

/* Publishes a new generation with n tasks and wakes sleeping workers. */
static uint64_t
publish (mv_pool *pool, int n)
{
  uint64_t gen = (TICKET_GEN (atomic_load (&pool->ticket)) + 1) & ((UINT64_C (1) << 24) - 1);
  atomic_store (&pool->done, 0);
  atomic_store (&pool->ticket, TICKET (gen, n, 0));
  if (atomic_load (&pool->sleepers) > 0)
    {
      pthread_mutex_lock (&pool->lock);
      pthread_cond_broadcast (&pool->wake);
      pthread_mutex_unlock (&pool->lock);
    }
  return gen;
}

mv_pool *
mv_pool_new (int n_threads)
{
  mv_pool *pool = calloc (1, sizeof *pool);
  if (!pool)
    return NULL;
  pool->n_threads = n_threads > 1 ? n_threads : 1;
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  atomic_init (&pool->ticket, 0);
  if (pool->n_threads == 1)
    return pool;
  pool->threads = calloc ((size_t) pool->n_threads, sizeof *pool->threads);
  pool->args = calloc ((size_t) pool->n_threads, sizeof *pool->args);
  if (!pool->threads || !pool->args)
    {
      pool->n_threads = 1;
      mv_pool_free (pool);
      return NULL;
    }
  for (int i = 1; i < pool->n_threads; i++)
    {
      pool->args[i] = (worker_arg){ pool, i };
      if (pthread_create (&pool->threads[i], NULL, worker_main, &pool->args[i]) != 0)
        {
          pool->n_threads = i; /* join the ones that started */
          mv_pool_free (pool);
          return NULL;
        }
    }
  return pool;
}

void
mv_pool_free (mv_pool *pool)
{
  if (!pool)
    return;
  if (pool->n_threads > 1)
    {
      atomic_store (&pool->stop, true);
      publish (pool, 0);
      for (int i = 1; i < pool->n_threads; i++)
        pthread_join (pool->threads[i], NULL);
    }
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->wake);
  free (pool->threads);
  free (pool->args);
  free (pool);
}

int
mv_pool_threads (const mv_pool *pool)
{
  return pool ? pool->n_threads : 1;
}

void
mv_pool_run (mv_pool *pool, int n_tasks, mv_pool_fn fn, void *arg)
{
  if (n_tasks <= 0)
    return;
  if (!pool || pool->n_threads == 1 || n_tasks == 1)
    {
      for (int t = 0; t < n_tasks; t++)
        fn (arg, t, 0);
      return;
    }
  if (n_tasks > MAX_TASKS)
    {
      /* more than a ticket holds (a million): never asked for */
      for (int t = 0; t < n_tasks; t++)
        fn (arg, t, 0);
      return;
    }
  pool->fn = fn;
  pool->arg = arg;
  uint64_t gen = publish (pool, n_tasks);
  work (pool, gen, 0);
  /* the last tasks are another thread's: spin a little, then give the core
   * away (that thread may be waiting for it on a busy machine) */
  for (int i = 0; atomic_load (&pool->done) < n_tasks; i++)
    if (i < 4096)
      CPU_RELAX ();
    else
      sched_yield ();
}
