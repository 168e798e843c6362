/* test-coalescer.c — progress from a fast thread reaches the main loop as
 * "latest value wins" with at most one pending source. */
#include "studio-coalescer.h"

typedef struct {
  guint last;
  guint calls;
  gboolean out_of_order;
} Seen;

static void
on_value (gpointer value, gpointer user_data)
{
  Seen *seen = user_data;
  guint v = GPOINTER_TO_UINT (value);

  if (v <= seen->last && seen->calls > 0)
    seen->out_of_order = TRUE;
  seen->last = v;
  seen->calls++;
}

#define N_POSTS 200000

static gpointer
poster (gpointer data)
{
  for (guint i = 1; i <= N_POSTS; i++)
    studio_coalescer_post (data, GUINT_TO_POINTER (i));
  return NULL;
}

static void
test_latest_wins (void)
{
  Seen seen = { 0 };
  StudioCoalescer *c = studio_coalescer_new (NULL, on_value, &seen, NULL);
  GThread *thread = g_thread_new ("poster", poster, c);
  guint max_pending_sources = 0;

  while (seen.last != N_POSTS)
    {
      /* the sources waiting in the default context: never more than one */
      guint pending = g_main_context_pending (NULL) ? 1 : 0;
      max_pending_sources = MAX (max_pending_sources, pending);
      g_main_context_iteration (NULL, FALSE);
    }
  g_thread_join (thread);
  g_assert_false (seen.out_of_order);
  g_assert_cmpuint (seen.last, ==, N_POSTS);
  g_assert_cmpuint (studio_coalescer_get_dispatched (c) + studio_coalescer_get_dropped (c), ==,
                    N_POSTS);
  g_assert_cmpuint (seen.calls, <, N_POSTS); /* most values were coalesced */
  g_test_message ("%u posts, %u dispatched, %u dropped", N_POSTS, seen.calls,
                  studio_coalescer_get_dropped (c));
  studio_coalescer_shutdown (c);
}

static void
free_counter (gpointer data)
{
  g_atomic_int_inc ((int *) data);
}

static int freed;

static void
on_counted (gpointer value, gpointer user_data)
{
}

static void
test_values_freed (void)
{
  StudioCoalescer *c = studio_coalescer_new (NULL, on_counted, NULL, free_counter);

  freed = 0;
  for (int i = 0; i < 10; i++)
    studio_coalescer_post (c, &freed);
  /* nine replaced values were freed at once; the tenth is pending */
  g_assert_cmpint (freed, ==, 9);
  studio_coalescer_shutdown (c);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (freed, ==, 10);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/coalescer/latest-wins", test_latest_wins);
  g_test_add_func ("/coalescer/values-freed", test_values_freed);
  return g_test_run ();
}
