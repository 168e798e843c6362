/* threads.c — how many threads to use.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "threads.h"

#include <cblas.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Counts distinct (package, core) pairs among the CPUs this process may run
 * on; matrix products gain nothing from a core's second hyper-thread. */
int
mv_physical_cores (void)
{
  cpu_set_t set;
  int seen[256][2];
  int n_seen = 0, n_cpus = 0;

  if (sched_getaffinity (0, sizeof set, &set) != 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      return n > 0 ? (int) n : 1;
    }
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    {
      if (!CPU_ISSET (cpu, &set))
        continue;
      n_cpus++;
      char path[128];
      int pkg = -1, core = -1;
      FILE *f;
      snprintf (path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                cpu);
      if ((f = fopen (path, "r")))
        {
          if (fscanf (f, "%d", &pkg) != 1)
            pkg = -1;
          fclose (f);
        }
      snprintf (path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
      if ((f = fopen (path, "r")))
        {
          if (fscanf (f, "%d", &core) != 1)
            core = -1;
          fclose (f);
        }
      if (pkg < 0 || core < 0)
        return CPU_COUNT (&set); /* no topology information: count CPUs */
      int dup = 0;
      for (int i = 0; i < n_seen && !dup; i++)
        dup = seen[i][0] == pkg && seen[i][1] == core;
      if (!dup && n_seen < 256)
        {
          seen[n_seen][0] = pkg;
          seen[n_seen][1] = core;
          n_seen++;
        }
    }
  return n_seen > 0 ? n_seen : (n_cpus > 0 ? n_cpus : 1);
}

int
mv_available_cpus (void)
{
  cpu_set_t set;
  if (sched_getaffinity (0, sizeof set, &set) == 0 && CPU_COUNT (&set) > 0)
    return CPU_COUNT (&set);
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int) n : 1;
}

/* OpenBLAS's thread count is one process-wide setting: what jobs asked for,
 * and what OpenBLAS was last told (0: unknown, tell it again). */
static atomic_int blas_wanted = 1, blas_current = 0;

void
mv_blas_set_threads (int n)
{
  atomic_store (&blas_wanted, n > 0 ? n : 1);
  atomic_store (&blas_current, 0);
}

static double
split_flop (void)
{
  static _Atomic double threshold = -1.0;
  double t = atomic_load (&threshold);
  if (t < 0)
    {
      const char *env = getenv ("MAGVLT_BLAS_SPLIT_MFLOP");
      char *end;
      double v = env && *env ? strtod (env, &end) : -1.0;
      t = env && *env && *end == '\0' && v >= 0 ? v * 1e6 : MV_BLAS_SPLIT_FLOP;
      atomic_store (&threshold, t);
    }
  return t;
}

void
mv_blas_threads_for_flop (double flop)
{
  int want = flop < split_flop () ? 1 : atomic_load (&blas_wanted);
  if (atomic_exchange (&blas_current, want) != want)
    openblas_set_num_threads (want);
}

void
mv_blas_one_thread (void)
{
  if (atomic_exchange (&blas_current, 1) != 1)
    openblas_set_num_threads (1);
}
