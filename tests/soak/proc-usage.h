/* proc-usage.h — what a soak samples after every job: resident set size,
 * open file descriptors and threads of this process, from /proc/self.
 * Shared by soak.c (the engine) and soak-worker.c (the app's worker). */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Under AddressSanitizer freed memory waits in a quarantine (256 MB) before
 * reuse, so the RSS grows with every job by design; ThreadSanitizer has its
 * own allocator and shadow memory too. The RSS check is off under either
 * (LeakSanitizer checks for leaks instead); descriptors and threads are
 * still counted. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_SANITIZER 1
#endif
#endif
#ifndef SOAK_SANITIZER
#define SOAK_SANITIZER 0
#endif

typedef struct {
  long rss_kb;
  int fds, threads;
} proc_usage;

static inline int
proc_count_dir (const char *path)
{
  DIR *d = opendir (path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n - (strcmp (path, "/proc/self/fd") == 0); /* opendir's own descriptor */
}

static inline proc_usage
proc_usage_sample (void)
{
  proc_usage u = { -1, proc_count_dir ("/proc/self/fd"), proc_count_dir ("/proc/self/task") };
  FILE *f = fopen ("/proc/self/statm", "r");
  long size, resident;
  if (f && fscanf (f, "%ld %ld", &size, &resident) == 2)
    u.rss_kb = resident * (sysconf (_SC_PAGESIZE) / 1024);
  if (f)
    fclose (f);
  return u;
}

/* Prints the names of this process's threads (/proc/self/task/N/comm). */
static inline void
proc_print_threads (FILE *out)
{
  DIR *d = opendir ("/proc/self/task");
  struct dirent *e;
  if (!d)
    return;
  fprintf (out, "threads:");
  while ((e = readdir (d)))
    {
      char path[300], name[64] = "?";
      if (e->d_name[0] == '.')
        continue;
      snprintf (path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
      FILE *f = fopen (path, "r");
      if (f && fgets (name, sizeof name, f))
        name[strcspn (name, "\n")] = 0;
      if (f)
        fclose (f);
      fprintf (out, " %s", name);
    }
  closedir (d);
  fprintf (out, "\n");
}
