/* test-pool.c — the context thread pool (pool.c): every task of every loop
 * runs exactly once, on a thread index in range; loops follow each other
 * without a gap (many tiny loops, loops after the workers fell asleep);
 * pools are freed right after creation (the workers may not have run yet:
 * that once hung), after use, and with one thread. */
#include "pool.h"

#include "../lib/expect.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  atomic_int *runs; /* per task */
  int n_threads;
  atomic_int bad_thread;
  atomic_int per_thread[8];
} count_job;

static void
count_task (void *arg, int task, int thread)
{
  count_job *j = arg;
  atomic_fetch_add (&j->runs[task], 1);
  if (thread < 0 || thread >= j->n_threads)
    atomic_store (&j->bad_thread, 1);
  else
    atomic_fetch_add (&j->per_thread[thread], 1);
}

/* Runs `loops` loops of n_tasks tasks; true when each task ran once per loop. */
static bool
run_loops (mv_pool *pool, int loops, int n_tasks, int *threads_used)
{
  count_job j = { calloc ((size_t) n_tasks, sizeof (atomic_int)), mv_pool_threads (pool) };
  bool ok = j.runs != NULL;
  for (int l = 0; l < loops && ok; l++)
    {
      mv_pool_run (pool, n_tasks, count_task, &j);
      for (int t = 0; t < n_tasks; t++)
        ok = ok && atomic_load (&j.runs[t]) == l + 1;
    }
  ok = ok && !atomic_load (&j.bad_thread);
  if (threads_used)
    {
      *threads_used = 0;
      for (int t = 0; t < 8; t++)
        *threads_used += atomic_load (&j.per_thread[t]) > 0;
    }
  free (j.runs);
  return ok;
}

static void
slow_task (void *arg, int task, int thread)
{
  struct timespec ts = { 0, 200000 }; /* 0.2 ms: long enough for both threads to take some */
  nanosleep (&ts, NULL);
  count_task (arg, task, thread);
}

int
main (void)
{
  /* freed before its workers ever ran */
  bool ok = true;
  for (int i = 0; i < 200 && ok; i++)
    {
      mv_pool *p = mv_pool_new (3);
      ok = p != NULL;
      mv_pool_free (p);
    }
  expect (ok, "200 pools of 3 threads created and freed at once");

  mv_pool *pool = mv_pool_new (3);
  expect (pool && mv_pool_threads (pool) == 3, "pool of 3 threads");
  expect (run_loops (pool, 20000, 7, NULL) && run_loops (pool, 3000, 1, NULL)
            && run_loops (pool, 3000, 2, NULL),
          "20,000 loops of 1..7 tasks, each task once per loop");
  expect (run_loops (pool, 1, 100000, NULL), "one loop of 100,000 tasks");

  /* after the workers have gone to sleep (they spin 0.2 ms) */
  struct timespec ts = { 0, 20000000 };
  nanosleep (&ts, NULL);
  count_job j = { calloc (64, sizeof (atomic_int)), 3 };
  mv_pool_run (pool, 64, slow_task, &j);
  int used = 0, all_once = 1;
  for (int t = 0; t < 64; t++)
    all_once &= atomic_load (&j.runs[t]) == 1;
  for (int t = 0; t < 3; t++)
    used += atomic_load (&j.per_thread[t]) > 0;
  expect (all_once && !j.bad_thread, "after the workers slept: 64 slow tasks, each once");
  printf ("     (threads that took a task: %d of 3)\n", used);
  expect (used >= 2, "the workers woke and took tasks");
  free (j.runs);
  count_job none = { calloc (1, sizeof (atomic_int)), 3 };
  mv_pool_run (pool, 0, count_task, &none);
  mv_pool_run (pool, -1, count_task, &none);
  expect (atomic_load (&none.runs[0]) == 0 && atomic_load (&none.per_thread[0]) == 0,
          "zero or negative task counts run nothing");
  free (none.runs);
  mv_pool_free (pool);

  mv_pool *one = mv_pool_new (1);
  expect (one && run_loops (one, 100, 5, NULL), "a one-thread pool runs inline");
  mv_pool_free (one);
  expect (run_loops (NULL, 10, 5, NULL), "a NULL pool runs inline");

  return expect_finish ();
}
